//! The online CA's URLs in certificates (`init --public-url`, `ca configure --public-url`) and
//! the OCSP responder profile (`Authority::issue_ocsp_responder`, for `pkictl serve`).
//!
//! Through the binary where a command exists; the responder certificate has no command (only
//! `serve` makes them), so it is made through the library and then looked at with `list`,
//! `show` and `renew`. Every certificate is judged by openssl, Python `cryptography` and pkilint.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::interop::*;
use common::*;
use pkictl::{
    Authority, DEFAULT_OCSP_RESPONDER_VALIDITY, ErrorKind, FixedPassphrase, IssueRequest, KeySource, KeyType,
    OcspResponder, Profile,
};
use serde_json::Value;

const URL: &str = "http://127.0.0.1:8080";
const ROOT: &str = "Url Root CA";
const ROOT_SLUG: &str = "url-root-ca";
const INTER_SLUG: &str = "url-root-ca-issuing-ca";
/// A multi-label name (pkilint refuses single-label ones such as `localhost`).
const SERVER: &str = "api.pkictl.test";

fn pem_file(dir: &Path, name: &str, der: &[u8]) -> PathBuf {
    let path = dir.join(name);
    let pem = openssl_with_stdin(["x509", "-inform", "DER", "-outform", "PEM"], der);
    assert!(pem.status.success(), "openssl x509 -inform DER: {}", stderr_of(&pem));
    fs::write(&path, &pem.stdout).expect("write a PEM file");
    path
}

/// The three pointers `openssl x509 -text` prints: CDP URIs, OCSP URIs, CA Issuers URIs.
fn openssl_urls(cert: &Path) -> (Vec<String>, Vec<String>, Vec<String>) {
    let text = x509_text(cert);
    let uris = |value: Option<(bool, String)>, prefix: &str| -> Vec<String> {
        value
            .map(|(_, v)| {
                v.lines().filter_map(|l| l.strip_prefix(prefix)).map(|u| u.trim().to_string()).collect()
            })
            .unwrap_or_default()
    };
    let aia = extension(&text, "Authority Information Access");
    if let Some((critical, _)) = &aia {
        assert!(!critical, "AIA must not be critical:\n{text}");
    }
    (
        uris(extension(&text, "X509v3 CRL Distribution Points"), "URI:"),
        uris(aia.clone(), "OCSP - URI:"),
        uris(aia, "CA Issuers - URI:"),
    )
}

fn served(slug: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    (vec![format!("{URL}/crl/{slug}.crl")], vec![format!("{URL}/ocsp")], vec![format!("{URL}/ca/{slug}.crt")])
}

const EXTENSIONS_PY: &str = r#"
import json, sys
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID as AIA

out = []
for path in sys.argv[1:]:
    cert = x509.load_pem_x509_certificate(open(path, "rb").read())
    r = {"crl": [], "crl_points": 0, "ocsp": [], "ca_issuers": [], "nocheck": None, "eku": [],
         "san": None, "ku": None, "ca": None}
    for ext in cert.extensions:
        v = ext.value
        if isinstance(v, x509.CRLDistributionPoints):
            r["crl_points"] = len(v)
            r["crl"] = [n.value for dp in v for n in (dp.full_name or [])]
        elif isinstance(v, x509.AuthorityInformationAccess):
            for d in v:
                kind = {AIA.OCSP: "ocsp", AIA.CA_ISSUERS: "ca_issuers"}[d.access_method]
                r[kind].append(d.access_location.value)
        elif isinstance(v, x509.OCSPNoCheck):
            r["nocheck"] = {"critical": ext.critical}
        elif isinstance(v, x509.ExtendedKeyUsage):
            r["eku"] = [o.dotted_string for o in v]
        elif isinstance(v, x509.SubjectAlternativeName):
            r["san"] = [str(n.value) for n in v]
        elif isinstance(v, x509.KeyUsage):
            r["ku"] = {"critical": ext.critical, "digital_signature": v.digital_signature,
                       "key_encipherment": v.key_encipherment, "key_cert_sign": v.key_cert_sign}
        elif isinstance(v, x509.BasicConstraints):
            r["ca"] = v.ca
    out.append(r)
print(json.dumps(out))
"#;

/// What Python `cryptography` reads from each certificate (see `EXTENSIONS_PY`).
fn python_extensions(scratch: &Path, certs: &[&Path]) -> Vec<Value> {
    let script = scratch.join("extensions.py");
    fs::write(&script, EXTENSIONS_PY).expect("write extensions.py");
    let mut cmd = Command::new(python());
    cmd.arg(&script).args(certs);
    let done = run_bounded("python-extensions", &mut cmd, b"", scratch, Duration::from_secs(60));
    assert!(done.status.success(), "extensions.py failed with {}:\n{}", done.status, done.all());
    serde_json::from_str(&done.stdout).unwrap_or_else(|e| panic!("bad output ({e}):\n{}", done.all()))
}

/// `TOOL lint ARGS… -s WARNING -f JSON FILES…`: (severity, code, message) of every finding.
fn pkilint(scratch: &Path, tool: &str, args: &[&str], files: &[&Path]) -> Vec<(String, String, String)> {
    let mut cmd = Command::new(pkilint_tool(tool));
    cmd.arg("lint").args(args).args(["-s", "WARNING", "-f", "JSON"]).args(files);
    let done = run_bounded(tool, &mut cmd, b"", scratch, Duration::from_secs(60));
    let v: Value = serde_json::from_str(&done.stdout)
        .unwrap_or_else(|e| panic!("{tool} printed no JSON ({e}), exit {}:\n{}", done.status, done.all()));
    let mut findings = Vec::new();
    for result in v["results"].as_array().expect("results") {
        for d in result["finding_descriptions"].as_array().expect("finding_descriptions") {
            let text = |k: &str| d[k].as_str().unwrap_or_default().to_string();
            findings.push((text("severity"), text("code"), text("message")));
        }
    }
    assert!(done.status.success() || !findings.is_empty(), "{tool} exited {}:\n{}", done.status, done.all());
    findings
}

fn assert_pkilint_clean(scratch: &Path, issuer: &Path, cert: &Path) {
    for findings in [
        pkilint(scratch, "lint_pkix_cert", &[], &[cert]),
        pkilint(scratch, "lint_pkix_signer_signee_cert_chain", &[], &[issuer, cert]),
    ] {
        assert!(findings.is_empty(), "pkilint on {}: {findings:#?}", cert.display());
    }
}

// ---------------------------------------------------------------------------------------------
// --public-url
// ---------------------------------------------------------------------------------------------

#[test]
fn init_public_url_points_every_issued_certificate_at_the_online_ca() {
    let pki = Pki::init(&["--name", ROOT, "--public-url", &format!("{URL}/")]);
    let leaf = pki.issue("server", SERVER, &[], "out");
    let client = pki.issue("client", "alice@pkictl.test", &[], "out");
    let root = pki.ca_cert(ROOT_SLUG);
    let intermediate = pki.ca_cert(INTER_SLUG);

    // Leaves point at their issuer, the intermediate at the root; the root at nothing.
    assert_eq!(openssl_urls(&leaf.crt), served(INTER_SLUG));
    assert_eq!(openssl_urls(&client.crt), served(INTER_SLUG));
    assert_eq!(openssl_urls(&intermediate), served(ROOT_SLUG));
    assert_eq!(openssl_urls(&root), (vec![], vec![], vec![]));

    let seen = python_extensions(&pki.work(), &[&leaf.crt, &intermediate, &root]);
    for (r, slug) in [(&seen[0], INTER_SLUG), (&seen[1], ROOT_SLUG)] {
        let (crl, ocsp, ca_issuers) = served(slug);
        assert_eq!(r["crl_points"], 1, "{r}");
        assert_eq!(r["crl"], serde_json::json!(crl));
        assert_eq!(r["ocsp"], serde_json::json!(ocsp));
        assert_eq!(r["ca_issuers"], serde_json::json!(ca_issuers));
    }
    assert_eq!(seen[2]["ocsp"], serde_json::json!([]));

    // Both CAs keep the URL (trailing slash trimmed) and say what they put into certificates.
    for (name, slug) in [(ROOT, ROOT_SLUG), (INTER_SLUG, INTER_SLUG)] {
        let shown = pki.json(&["ca", "show", name]);
        assert_eq!(shown["public_url"], URL, "{shown}");
        assert_eq!(shown["issued_urls"]["ocsp"][0], format!("{URL}/ocsp"));
        assert_eq!(shown["issued_urls"]["ca_issuers"][0], format!("{URL}/ca/{slug}.crt"));
    }
    let text = stdout_of(&pki.ok(&["ca", "show", INTER_SLUG]));
    assert!(text.contains(&format!("Public URL:      {URL}\n")), "{text}");
    assert!(text.contains(&format!("Issued OCSP:     {URL}/ocsp\n")), "{text}");

    let scratch = pki.path("pkilint");
    assert_pkilint_clean(&scratch, &intermediate, &leaf.crt);
    assert_pkilint_clean(&scratch, &root, &intermediate);
}

#[test]
fn ca_configure_public_url_changes_only_later_issuances() {
    let pki = Pki::init(&["--name", ROOT]);
    let before = pki.issue("server", "before.pkictl.test", &[], "out");
    let configured = pki.json(&["ca", "configure", INTER_SLUG, "--public-url", URL]);
    assert_eq!(configured["public_url"], URL, "{configured}");
    let after = pki.issue("server", "after.pkictl.test", &[], "out");
    assert_eq!(openssl_urls(&before.crt), (vec![], vec![], vec![]), "already issued: unchanged");
    assert_eq!(openssl_urls(&after.crt), served(INTER_SLUG));
    // The root was not configured: what it signs next names nothing.
    assert_eq!(pki.json(&["ca", "show", ROOT])["public_url"], Value::Null);
    let added = pki.json(&["ca", "add-intermediate", "--name", "Second CA"]);
    assert_eq!(added["public_url"], Value::Null, "{added}");

    // --no-public-url stops it again; the CRL lifetime can be set in the same call.
    let cleared = pki.json(&["ca", "configure", INTER_SLUG, "--no-public-url", "--crl-next-update", "2d"]);
    assert_eq!(cleared["public_url"], Value::Null, "{cleared}");
    assert_eq!(cleared["crl_next_update"], "2d");
    let later = pki.issue("server", "later.pkictl.test", &[], "out");
    assert_eq!(openssl_urls(&later.crt), (vec![], vec![], vec![]));
    assert_eq!(pki.json(&["ca", "show", INTER_SLUG])["crl_next_update"], "2d");
}

#[test]
fn a_new_intermediate_is_served_where_its_parent_is() {
    let pki = Pki::init(&["--name", ROOT, "--public-url", URL]);
    let added = pki.json(&["ca", "add-intermediate", "--name", "Partners CA"]);
    assert_eq!(added["public_url"], URL, "{added}");
    assert_eq!(openssl_urls(&pki.ca_cert("partners-ca")), served(ROOT_SLUG));
    let leaf = pki.issue("server", SERVER, &["--ca", "Partners CA"], "out");
    assert_eq!(openssl_urls(&leaf.crt), served("partners-ca"));
}

#[test]
fn crl_url_and_public_url_are_two_places_of_one_distribution_point() {
    let pki = Pki::init(&["--name", ROOT, "--crl-url", "http://files.pkictl.test/crl", "--public-url", URL]);
    let leaf = pki.issue("server", SERVER, &[], "out");
    let (crl, ocsp, _) = openssl_urls(&leaf.crt);
    assert_eq!(
        crl,
        [format!("http://files.pkictl.test/crl/{INTER_SLUG}.crl"), format!("{URL}/crl/{INTER_SLUG}.crl")],
        "the explicit --crl-url first"
    );
    assert_eq!(ocsp, [format!("{URL}/ocsp")]);
    let seen = python_extensions(&pki.work(), &[&leaf.crt]);
    assert_eq!(seen[0]["crl_points"], 1, "one distribution point with two names: {}", seen[0]);
    assert_pkilint_clean(&pki.path("pkilint"), &pki.ca_cert(INTER_SLUG), &leaf.crt);
}

#[test]
fn bad_public_urls_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    for bad in [
        "ftp://pki.pkictl.test",
        "pki.pkictl.test",
        "http://",
        "http://pki.pkictl.test/?a=1",
        "http://pki.pkictl.test/#x",
        "http://user:secret@pki.pkictl.test",
        "http://pki.pkictl.test:99999",
        "http://pki pkictl.test",
    ] {
        let home = dir.path().join("never");
        let out = pkictl(&home)
            .args(["init", "--name", ROOT, "--no-passphrase", "--public-url", bad])
            .output()
            .expect("run pkictl");
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr_of(&out));
        let err = stderr_of(&out);
        assert!(err.contains("--public-url"), "{bad}: {err}");
        assert!(!err.contains("secret"), "the credentials are not echoed: {err}");
        assert!(!home.exists(), "{bad}: init left a home behind");
    }

    let pki = Pki::init(&["--name", ROOT]);
    let before = pki.counts();
    let out = pki.run(&["ca", "configure", INTER_SLUG, "--crl-next-update", "2d", "--public-url", "ftp://x"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("--public-url \"ftp://x\""), "{}", stderr_of(&out));
    assert_eq!(pki.counts(), before, "nothing recorded");
    assert_eq!(pki.json(&["ca", "show", INTER_SLUG])["crl_next_update"], "1w", "not half-configured");
    // No setting at all, or both ways at once, is a usage error.
    for args in [
        vec!["ca", "configure", INTER_SLUG],
        vec!["ca", "configure", INTER_SLUG, "--public-url", URL, "--no-public-url"],
    ] {
        assert_eq!(pki.run(&args).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn an_https_public_url_is_accepted_with_a_warning() {
    let pki = Pki::init(&["--name", ROOT]);
    let out = pki.ok(&["ca", "configure", INTER_SLUG, "--public-url", "https://pki.pkictl.test"]);
    assert!(stderr_of(&out).contains("warning:") && stderr_of(&out).contains("http"), "{}", stderr_of(&out));
    let leaf = pki.issue("server", SERVER, &[], "out");
    assert_eq!(openssl_urls(&leaf.crt).1, ["https://pki.pkictl.test/ocsp"]);
}

// ---------------------------------------------------------------------------------------------
// The OCSP responder profile
// ---------------------------------------------------------------------------------------------

fn responder(home: &Path, passphrase: Option<&str>, ca: &str) -> OcspResponder {
    let unlock = passphrase.map(FixedPassphrase::new).unwrap_or_else(FixedPassphrase::none);
    let mut authority = Authority::open(home, Box::new(unlock)).expect("open the home");
    let ca = authority.find_ca(Some(ca)).expect("the CA");
    authority.issue_ocsp_responder(&ca, DEFAULT_OCSP_RESPONDER_VALIDITY).expect("a responder certificate")
}

#[test]
fn an_ocsp_responder_certificate_is_what_rfc_6960_asks_for() {
    let pki = Pki::init(&["--name", ROOT, "--public-url", URL]);
    let made = responder(&pki.home, Some(PASSPHRASE), INTER_SLUG);
    let work = pki.work();
    let cert = pem_file(&work, "responder.crt", made.der());
    let intermediate = pki.ca_cert(INTER_SLUG);

    let purposes = openssl_ok(["x509", "-in", arg(&cert), "-noout", "-purpose"]);
    assert!(purposes.contains("OCSP helper : Yes"), "{purposes}");
    assert!(purposes.contains("SSL server : No") && purposes.contains("SSL client : No"), "{purposes}");
    let text = x509_text(&cert);
    assert_eq!(extension(&text, "X509v3 Basic Constraints"), Some((true, "CA:FALSE".into())), "{text}");
    assert_eq!(extension(&text, "X509v3 Key Usage"), Some((true, "Digital Signature".into())), "{text}");
    assert_eq!(extension(&text, "X509v3 Extended Key Usage"), Some((false, "OCSP Signing".into())), "{text}");
    assert_eq!(extension(&text, "OCSP No Check"), Some((false, String::new())), "{text}");
    for absent in
        ["X509v3 Subject Alternative Name", "X509v3 CRL Distribution Points", "Authority Information Access"]
    {
        assert!(extension(&text, absent).is_none(), "{absent} on a responder certificate:\n{text}");
    }
    assert!(x509_field(&cert, "-subject").contains("Url Root CA Issuing CA OCSP Responder"));
    let verified = openssl([
        "verify",
        "-CAfile",
        arg(&pki.ca_cert(ROOT_SLUG)),
        "-untrusted",
        arg(&intermediate),
        arg(&cert),
    ]);
    assert!(verified.status.success(), "{}", stdout_of(&verified));

    // Short-lived: seven days by default.
    let lifetime = made.not_after() - made.certificate.info.not_before;
    assert!((7 * 86_400..=7 * 86_400 + 600).contains(&lifetime), "{lifetime} s");

    // The key in memory is the certified one, of the CA's type.
    let key = work.join("responder.key");
    fs::write(&key, made.key.to_pkcs8_pem().expect("PEM").as_bytes()).expect("write the key");
    assert_eq!(key_public(&key), cert_public(&cert));
    assert_eq!(made.key.key_type(), KeyType::P256);

    let seen = &python_extensions(&work, &[&cert])[0];
    assert_eq!(seen["nocheck"], serde_json::json!({"critical": false}), "{seen}");
    assert_eq!(seen["eku"], serde_json::json!(["1.3.6.1.5.5.7.3.9"]), "{seen}");
    assert_eq!(seen["san"], Value::Null, "{seen}");
    assert_eq!(seen["ca"], false, "{seen}");
    assert_eq!(seen["ku"]["critical"], true);
    assert_eq!(seen["ku"]["digital_signature"], true);
    assert_eq!(seen["ku"]["key_encipherment"], false);
    assert_eq!((seen["crl_points"].clone(), seen["ocsp"].clone()), (0.into(), serde_json::json!([])));

    // pkilint's RFC 5280 checks have nothing to say about a leaf without a SAN that has a subject.
    assert_pkilint_clean(&pki.path("pkilint"), &intermediate, &cert);
}

#[test]
fn responder_certificates_are_recorded_but_listed_only_on_request() {
    let pki = Pki::init(&["--name", ROOT]);
    let leaf = pki.issue("server", SERVER, &[], "out");
    let made = responder(&pki.home, Some(PASSPHRASE), INTER_SLUG);
    let serial = made.serial().hex();

    let listed = pki.json(&["list", "--status", "all"]);
    let serials: Vec<&str> = listed["certificates"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["serial"].as_str())
        .collect();
    assert!(serials.contains(&leaf.serial.as_str()) && !serials.contains(&serial.as_str()), "{listed}");
    let quiet = pki.run(&["list", "--expiring-within", "30d"]);
    assert_eq!(
        quiet.status.code(),
        Some(0),
        "a 7-day responder certificate is no alarm: {}",
        stdout_of(&quiet)
    );

    let responders = pki.json(&["list", "--profile", "ocsp-responder"]);
    let found = &responders["certificates"][0];
    assert_eq!(found["serial"], serial.as_str(), "{responders}");
    assert_eq!(found["profile"], "ocsp-responder");
    assert_eq!(found["sans"], serde_json::json!([]));
    let shown = pki.json(&["show", &serial]);
    assert_eq!(shown["profile"], "ocsp-responder", "{shown}");
    assert_eq!(shown["extended_key_usage"], serde_json::json!(["OCSPSigning"]), "{shown}");

    // The library finds it again; `renew`, `issue` and `sign` have no way to make one.
    let mut authority = Authority::open(&pki.home, Box::new(FixedPassphrase::new(PASSPHRASE))).expect("open");
    let ca = authority.find_ca(Some(INTER_SLUG)).expect("CA");
    let asked =
        IssueRequest::new(Profile::OcspResponder, "x.pkictl.test", KeySource::Generate(KeyType::P256));
    let refused = authority.issue(asked).err().expect("the library's issue refuses the profile");
    assert_eq!(refused.kind(), ErrorKind::InvalidInput, "{refused}");
    let latest = authority.latest_ocsp_responder(&ca, made.certificate.info.not_before + 60).expect("query");
    assert_eq!(latest.map(|c| c.serial.hex()), Some(serial.clone()));
    let before = pki.counts();
    let renew = pki.run(&["renew", &serial, "--rekey", "--out", &pki.out("renewed")]);
    assert_eq!(renew.status.code(), Some(2), "{}", stderr_of(&renew));
    assert!(stderr_of(&renew).contains("OCSP responder"), "{}", stderr_of(&renew));
    assert_eq!(pki.counts(), before, "nothing recorded");
    for args in [vec!["issue", "ocsp-responder", "x"], vec!["sign", "x.csr", "--profile", "ocsp-responder"]] {
        assert_eq!(pki.run(&args).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn an_rsa_ca_gets_an_rsa_responder_that_only_signs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("pki");
    let out = pkictl(&home)
        .args(["init", "--name", ROOT, "--no-passphrase", "--key-type", "rsa2048", "--no-intermediate"])
        .output()
        .expect("run pkictl");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let made = responder(&home, None, ROOT);
    assert_eq!(made.key.key_type(), KeyType::Rsa2048);
    let cert = pem_file(dir.path(), "responder.crt", made.der());
    let text = x509_text(&cert);
    assert_eq!(extension(&text, "X509v3 Key Usage"), Some((true, "Digital Signature".into())), "{text}");
    assert!(openssl_ok(["x509", "-in", arg(&cert), "-noout", "-purpose"]).contains("OCSP helper : Yes"));
    assert_pkilint_clean(&dir.path().join("pkilint"), &ca_cert_path(&home, ROOT_SLUG), &cert);
}
