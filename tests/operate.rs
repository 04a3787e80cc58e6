//! End-to-end tests of the operating commands — `verify`, `renew`, `export`, `list`,
//! `completions`/`man`, `doctor` and `demo` — through the binary only. What pkictl says and
//! writes is judged by software we did not write: `openssl` (verify, x509, crl, pkcs12,
//! s_server), curl and bash; the ledger is only counted (`pkictl::ledger_testing`).

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const ROOT: &str = "Operate Root CA";
const ROOT_SLUG: &str = "operate-root-ca";
const INTER: &str = "Operate Root CA Issuing CA";
const INTER_SLUG: &str = "operate-root-ca-issuing-ca";
const SERVER: &str = "api.operate.test";
const CLIENT: &str = "alice@operate.test";
/// The PKCS#12 password (PKICTL_P12_PASSPHRASE), kept apart from the CA passphrase.
const P12_PASS: &str = "p12 export password";
/// The layers of `verify`, in the order a peer checks them.
const LAYERS: [&str; 7] = ["parse", "chain", "validity", "constraints", "usage", "host", "revocation"];
/// 2040-01-01T00:00:00Z and 2020-01-01T00:00:00Z as Unix seconds, for `openssl verify -attime`.
const FAR_FUTURE: (&str, i64) = ("2040-01-01", 2_208_988_800);
const LONG_AGO: (&str, i64) = ("2020-01-01", 1_577_836_800);

/// A serial in a comparable form: no colons, lower case, no leading zeros.
fn norm_serial(s: &str) -> String {
    let s: String = s.trim().chars().filter(|c| *c != ':').collect::<String>().to_ascii_lowercase();
    s.trim_start_matches('0').to_string()
}

// ---------------------------------------------------------------------------------------------
// A home and what was issued from it.

/// What only these tests ask of the shared home fixture.
impl Pki {
    /// A home whose CA keys are encrypted with `PASSPHRASE` (common::init_home).
    fn new() -> Pki {
        Pki::init(&["--name", ROOT])
    }

    /// A home with unencrypted CA keys: fast, for tests that sign a lot.
    fn fast() -> Pki {
        Pki::init_unencrypted(ROOT)
    }

    fn root_pem(&self) -> PathBuf {
        self.ca_cert(ROOT_SLUG)
    }

    fn inter_pem(&self) -> PathBuf {
        self.ca_cert(INTER_SLUG)
    }

    /// A command that must be refused as bad input: exit 2, pkictl's one-line error, the ledger
    /// rows as they were, and `untouched` not created. Returns stderr.
    fn refused(&self, cmd: &mut assert_cmd::Command, untouched: &Path, what: &str) -> String {
        let before = self.counts();
        let out = cmd.output().expect("run pkictl");
        let stderr = assert_error(&out, 2);
        assert!(stderr.starts_with("pkictl: "), "{what}: not pkictl's own error:\n{stderr}");
        assert_eq!(self.counts(), before, "{what} changed the ledger ({stderr})");
        assert!(!untouched.exists(), "{what} created {} ({stderr})", untouched.display());
        stderr
    }
}

// ---------------------------------------------------------------------------------------------
// OpenSSL's view.

/// notAfter − notBefore in seconds, read by openssl.
fn lifetime(cert: &Path) -> i64 {
    openssl_date_unix(&x509_field(cert, "-enddate")) - openssl_date_unix(&x509_field(cert, "-startdate"))
}

/// The entries of `openssl crl -text`: normalised serial → the lines of its entry.
fn crl_entries(text: &str) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = Vec::new();
    let Some(start) = text.find("Revoked Certificates:") else { return entries };
    for line in text[start..].lines().skip(1) {
        let line = line.trim();
        if line.starts_with("Signature Algorithm:") {
            break;
        }
        match line.strip_prefix("Serial Number: ") {
            Some(serial) => entries.push((norm_serial(serial), String::new())),
            None => {
                if let Some(last) = entries.last_mut() {
                    last.1.push_str(line);
                    last.1.push('\n');
                }
            }
        }
    }
    entries
}

// ---------------------------------------------------------------------------------------------
// 1. verify: the layer pkictl names, and the verdict next to `openssl verify`'s.

/// One question for `pkictl verify` and `openssl verify`.
struct Case<'a> {
    what: &'a str,
    /// CERT as pkictl gets it (PEM, PEM bundle or DER).
    cert: PathBuf,
    chain: Option<PathBuf>,
    purpose: Option<&'a str>,
    host: Option<&'a str>,
    at: Option<(&'a str, i64)>,
    /// Give openssl `-crl_check_all` with both CRLs of the home.
    crl_check: bool,
    /// The layer pkictl must fail; None: it must accept.
    fails_at: Option<&'a str>,
    /// What `openssl verify` must say when it refuses.
    openssl_says: Option<&'a str>,
}

impl<'a> Case<'a> {
    fn new(what: &'a str, cert: &Path) -> Case<'a> {
        Case {
            what,
            cert: cert.to_path_buf(),
            chain: None,
            purpose: None,
            host: None,
            at: None,
            crl_check: false,
            fails_at: None,
            openssl_says: None,
        }
    }
}

/// `pkictl verify` as JSON and as text; both must give the same exit code.
fn pkictl_verify(pki: &Pki, case: &Case<'_>) -> (i32, Value, String) {
    let mut args: Vec<&str> = vec!["verify", arg(&case.cert)];
    if let Some(chain) = &case.chain {
        args.extend(["--chain", arg(chain)]);
    }
    if let Some(p) = case.purpose {
        args.extend(["--purpose", p]);
    }
    if let Some(h) = case.host {
        args.extend(["--host", h]);
    }
    if let Some((at, _)) = case.at {
        args.extend(["--at", at]);
    }
    let text = pki.run(&args);
    let mut json_args = vec!["--json"];
    json_args.extend(&args);
    let json = pki.run(&json_args);
    assert_eq!(text.status.code(), json.status.code(), "{}: --json changes the exit code", case.what);
    (json.status.code().expect("exit code"), json_object(&json), stdout_of(&text))
}

/// `openssl verify -CAfile root [-untrusted …] [-purpose …] [-verify_hostname …] [-attime …]
/// [-crl_check_all -CRLfile …] CERT`: (accepted, everything it printed).
fn openssl_verify(pki: &Pki, case: &Case<'_>) -> (bool, String) {
    let bytes = fs::read(&case.cert).unwrap_or_default();
    let converted = pki.path("openssl-input.pem");
    let pem = if bytes.starts_with(b"-----BEGIN") {
        case.cert.clone()
    } else if openssl([
        os("x509"),
        os("-inform"),
        os("DER"),
        os("-in"),
        case.cert.as_os_str(),
        os("-out"),
        converted.as_os_str(),
    ])
    .status
    .success()
    {
        // DER: OpenSSL re-encodes it as PEM without looking at the signature.
        converted
    } else {
        case.cert.clone() // not a certificate at all: openssl verify says so itself
    };
    let root = pki.root_pem();
    let mut args: Vec<&OsStr> = vec![os("verify"), os("-CAfile"), root.as_os_str()];
    let untrusted = match &case.chain {
        Some(chain) => Some(chain.clone()),
        None if String::from_utf8_lossy(&bytes).matches("BEGIN CERTIFICATE").count() > 1 => {
            Some(case.cert.clone())
        }
        None => None,
    };
    if let Some(u) = &untrusted {
        args.extend([os("-untrusted"), u.as_os_str()]);
    }
    match case.purpose {
        Some("server") => args.extend([os("-purpose"), os("sslserver")]),
        Some("client") => args.extend([os("-purpose"), os("sslclient")]),
        Some(other) => panic!("purpose {other}"),
        None => {}
    }
    if let Some(h) = case.host {
        let flag = if h.parse::<std::net::IpAddr>().is_ok() { "-verify_ip" } else { "-verify_hostname" };
        args.extend([os(flag), os(h)]);
    }
    let attime = case.at.map(|(_, t)| t.to_string());
    if let Some(t) = &attime {
        args.extend([os("-attime"), os(t)]);
    }
    let crls = [pki.crl_pem(INTER_SLUG), pki.crl_pem(ROOT_SLUG)];
    if case.crl_check {
        args.push(os("-crl_check_all"));
        for crl in &crls {
            assert!(crl.exists(), "{}: {} is not published", case.what, crl.display());
            args.extend([os("-CRLfile"), crl.as_os_str()]);
        }
    }
    args.push(pem.as_os_str());
    let out = openssl(&args);
    let accepted = out.status.success() && stdout_of(&out).trim_end().ends_with(": OK");
    (accepted, format!("{}{}", stdout_of(&out), stderr_of(&out)))
}

fn check_verify(pki: &Pki, case: &Case<'_>) {
    let what = case.what;
    let (code, report, text) = pkictl_verify(pki, case);
    let (openssl_accepts, openssl_text) = openssl_verify(pki, case);
    let layers = report["layers"].as_array().unwrap_or_else(|| panic!("{what}: no layers in {report}"));
    let names: Vec<&str> = layers.iter().map(|l| l["layer"].as_str().expect("layer name")).collect();
    let status = |l: &Value| l["status"].as_str().expect("layer status").to_string();
    // Every layer that was reached and did not fail: ok, or skipped exactly when its flag is missing.
    let check_passed = |l: &Value| {
        let name = l["layer"].as_str().unwrap();
        let skipped = (name == "usage" && case.purpose.is_none()) || (name == "host" && case.host.is_none());
        let want = if skipped { "skipped" } else { "ok" };
        assert_eq!(status(l), want, "{what}: layer {name} should be {want}: {report}");
    };
    match case.fails_at {
        Some(layer) => {
            let index = LAYERS.iter().position(|l| *l == layer).expect("a known layer");
            assert_eq!(names, LAYERS[..=index], "{what}: pkictl should stop at {layer}: {report}");
            for l in &layers[..index] {
                check_passed(l);
            }
            let failed = &layers[index];
            assert_eq!(status(failed), "failed", "{what}: {report}");
            assert!(!failed["detail"].as_str().unwrap_or("").is_empty(), "{what}: no detail: {report}");
            assert!(!failed["fix"].as_str().unwrap_or("").is_empty(), "{what}: no fix: {report}");
            assert_eq!(report["accepted"], Value::Bool(false), "{what}: {report}");
            assert_eq!(code, 1, "{what}: a refusal is exit 1: {report}");
            assert!(
                text.contains(&format!("REFUSE this certificate ({layer})")),
                "{what}: the text report does not name {layer}:\n{text}"
            );
            assert!(
                !openssl_accepts,
                "{what}: pkictl refuses at {layer} but openssl verify accepts:\n{openssl_text}"
            );
            if let Some(says) = case.openssl_says {
                assert!(
                    openssl_text.contains(says),
                    "{what}: openssl refuses, but not with {says:?}:\n{openssl_text}"
                );
            }
        }
        None => {
            assert_eq!(names, LAYERS, "{what}: {report}");
            for l in layers {
                check_passed(l);
            }
            assert_eq!(report["accepted"], Value::Bool(true), "{what}: {report}");
            assert_eq!(code, 0, "{what}: {report}");
            assert!(text.contains("would accept this certificate"), "{what}:\n{text}");
            assert!(openssl_accepts, "{what}: pkictl accepts but openssl verify refuses:\n{openssl_text}");
        }
    }
}

/// A home with a server, a client and a revoked client, and both CRLs published.
struct VerifyHome {
    pki: Pki,
    server: Issued,
    client: Issued,
    revoked: Issued,
}

fn verify_home() -> VerifyHome {
    let pki = Pki::fast();
    let server = pki.issue("server", SERVER, &["--ip", "10.20.30.40"], "out");
    let client = pki.issue("client", CLIENT, &[], "out");
    let revoked = pki.issue("client", "mallory@operate.test", &[], "out");
    pki.ok(&["crl", "--ca", ROOT]);
    pki.ok(&["revoke", &revoked.serial, "--reason", "key-compromise"]);
    VerifyHome { pki, server, client, revoked }
}

#[test]
fn verify_accepts_a_good_server_certificate_as_openssl_does() {
    let v = verify_home();
    let case = Case {
        purpose: Some("server"),
        host: Some(SERVER),
        crl_check: true,
        ..Case::new("good server certificate (fullchain)", &v.server.fullchain)
    };
    check_verify(&v.pki, &case);
    // The same with the leaf and --chain, by IP address, and a client for its purpose.
    let case = Case {
        chain: Some(v.server.chain.clone()),
        purpose: Some("server"),
        host: Some("10.20.30.40"),
        crl_check: true,
        ..Case::new("good server certificate (--chain, IP)", &v.server.crt)
    };
    check_verify(&v.pki, &case);
    let case = Case {
        purpose: Some("client"),
        crl_check: true,
        ..Case::new("good client certificate", &v.client.fullchain)
    };
    check_verify(&v.pki, &case);
    let case = Case { crl_check: true, ..Case::new("no --purpose, no --host", &v.server.fullchain) };
    check_verify(&v.pki, &case);
}

#[test]
fn verify_refuses_an_expired_certificate_at_validity() {
    let v = verify_home();
    let case = Case {
        purpose: Some("server"),
        host: Some(SERVER),
        at: Some(FAR_FUTURE),
        fails_at: Some("validity"),
        openssl_says: Some("certificate has expired"),
        ..Case::new("expired (--at far in the future)", &v.server.fullchain)
    };
    check_verify(&v.pki, &case);
}

#[test]
fn verify_refuses_a_not_yet_valid_certificate_at_validity() {
    let v = verify_home();
    let case = Case {
        purpose: Some("server"),
        at: Some(LONG_AGO),
        fails_at: Some("validity"),
        openssl_says: Some("certificate is not yet valid"),
        ..Case::new("not yet valid (--at in the past)", &v.server.fullchain)
    };
    check_verify(&v.pki, &case);
}

#[test]
fn verify_refuses_a_certificate_from_an_unknown_ca_at_chain() {
    let v = verify_home();
    let stranger = Pki::init_unencrypted("Stranger Root CA");
    let foreign = stranger.issue("server", SERVER, &[], "out");
    let case = Case {
        purpose: Some("server"),
        host: Some(SERVER),
        crl_check: true,
        fails_at: Some("chain"),
        openssl_says: Some("unable to get local issuer certificate"),
        ..Case::new("certificate of another home", &foreign.fullchain)
    };
    check_verify(&v.pki, &case);
    // Its own home accepts it: the refusal is about trust, not the certificate.
    let (code, report, _) =
        pkictl_verify(&stranger, &Case { purpose: Some("server"), ..Case::new("home", &foreign.fullchain) });
    assert_eq!((code, &report["accepted"]), (0, &Value::Bool(true)), "{report}");
}

#[test]
fn verify_refuses_a_revoked_certificate_at_revocation() {
    let v = verify_home();
    let case = Case {
        purpose: Some("client"),
        crl_check: true,
        fails_at: Some("revocation"),
        openssl_says: Some("certificate revoked"),
        ..Case::new("revoked client", &v.revoked.fullchain)
    };
    check_verify(&v.pki, &case);
}

#[test]
fn verify_refuses_a_client_certificate_for_a_server_at_usage() {
    let v = verify_home();
    let case = Case {
        purpose: Some("server"),
        crl_check: true,
        fails_at: Some("usage"),
        openssl_says: Some("certificate purpose"),
        ..Case::new("client certificate with --purpose server", &v.client.fullchain)
    };
    check_verify(&v.pki, &case);
    let case = Case {
        purpose: Some("client"),
        crl_check: true,
        fails_at: Some("usage"),
        openssl_says: Some("certificate purpose"),
        ..Case::new("server certificate with --purpose client", &v.server.fullchain)
    };
    check_verify(&v.pki, &case);
}

#[test]
fn verify_refuses_the_wrong_host_at_host() {
    let v = verify_home();
    let case = Case {
        purpose: Some("server"),
        host: Some("www.operate.test"),
        crl_check: true,
        fails_at: Some("host"),
        openssl_says: Some("hostname mismatch"),
        ..Case::new("server certificate for another host", &v.server.fullchain)
    };
    check_verify(&v.pki, &case);
}

#[test]
fn verify_refuses_a_bare_leaf_at_chain() {
    let v = verify_home();
    let case = Case {
        purpose: Some("server"),
        host: Some(SERVER),
        crl_check: true,
        fails_at: Some("chain"),
        openssl_says: Some("unable to get local issuer certificate"),
        ..Case::new("bare leaf, intermediate missing", &v.server.crt)
    };
    check_verify(&v.pki, &case);
    let (_, report, _) = pkictl_verify(&v.pki, &case);
    let detail = report["layers"][1]["detail"].as_str().unwrap();
    assert!(
        detail.contains("intermediate") && detail.contains(INTER),
        "not named as a missing intermediate: {detail}"
    );
}

#[test]
fn verify_refuses_a_tampered_signature_at_chain() {
    let v = verify_home();
    let der = openssl([os("x509"), os("-in"), v.server.crt.as_os_str(), os("-outform"), os("DER")]).stdout;
    let mut tampered = der.clone();
    *tampered.last_mut().expect("DER") ^= 0x01; // inside the signature BIT STRING
    let path = v.pki.path("tampered.der");
    fs::write(&path, &tampered).unwrap();
    let case = Case {
        chain: Some(v.server.chain.clone()),
        purpose: Some("server"),
        host: Some(SERVER),
        crl_check: true,
        fails_at: Some("chain"),
        openssl_says: Some("certificate signature failure"),
        ..Case::new("signature byte flipped (DER)", &path)
    };
    check_verify(&v.pki, &case);
    // The untouched DER passes, so it is the flipped byte that is refused.
    fs::write(&path, &der).unwrap();
    check_verify(&v.pki, &Case { fails_at: None, openssl_says: None, ..case });
}

#[test]
fn verify_refuses_a_file_that_is_not_a_certificate_and_a_missing_file() {
    let v = verify_home();
    let junk = v.pki.path("junk.pem");
    fs::write(&junk, "this is not a certificate\n").unwrap();
    // A CSR is not a certificate either. Neither gets a verdict: bad input is exit 2, with one
    // sentence on stderr and nothing on stdout (openssl refuses them too).
    let csr = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/csr/p256.csr");
    for (file, says) in
        [(junk.as_path(), "text without a PEM block"), (csr.as_path(), "a certificate signing request")]
    {
        let (openssl_accepts, _) = openssl_verify(&v.pki, &Case::new("not a certificate", file));
        assert!(!openssl_accepts);
        for json in [false, true] {
            let mut args = if json { vec!["--json"] } else { Vec::new() };
            args.extend(["verify", arg(file), "--purpose", "server"]);
            let out = v.pki.run(&args);
            let stderr = assert_error(&out, 2);
            assert!(stderr.contains(says) && stderr.contains(arg(file)), "{stderr}");
            assert!(out.stdout.is_empty(), "stdout: {}", stdout_of(&out));
        }
    }

    let missing = v.pki.path("missing.pem");
    let out = v.pki.run(&["verify", arg(&missing), "--purpose", "server"]);
    let stderr = assert_error(&out, 2);
    assert!(stderr.contains(arg(&missing)), "the error does not name the file: {stderr}");
    assert!(out.stdout.is_empty(), "stdout: {}", stdout_of(&out));
}

/// `--trust FILE` (a partner's CA) and `--crl FILE` verify outside any home, with the verdicts
/// of `openssl verify -CAfile -untrusted [-crl_check -CRLfile]`.
#[test]
fn verify_with_trust_and_crl_files_outside_a_home() {
    let v = verify_home();
    let nowhere = v.pki.path("no-home");
    let root = v.pki.root_pem();
    let crl = v.pki.crl_pem(INTER_SLUG);
    let pkictl_says = |who: &Issued, crl: Option<&Path>| -> (i32, Value) {
        let mut args =
            vec!["--json", "verify", arg(&who.fullchain), "--purpose", "client", "--trust", arg(&root)];
        if let Some(crl) = crl {
            args.extend(["--crl", arg(crl)]);
        }
        let out = pkictl(&nowhere).args(&args).output().unwrap();
        (out.status.code().unwrap(), json_object(&out))
    };
    let openssl_accepts = |who: &Issued, crl: Option<&Path>| -> bool {
        let mut args: Vec<&OsStr> = vec![os("verify"), os("-CAfile"), root.as_os_str(), os("-untrusted")];
        args.extend([who.chain.as_os_str(), os("-purpose"), os("sslclient")]);
        if let Some(crl) = crl {
            args.extend([os("-crl_check"), os("-CRLfile"), crl.as_os_str()]);
        }
        args.push(who.crt.as_os_str());
        openssl(&args).status.success()
    };
    for (who, with_crl, accepted) in [
        (&v.client, false, true),
        (&v.client, true, true),
        (&v.revoked, false, true), // no CRL given, nothing to say it is revoked
        (&v.revoked, true, false),
    ] {
        let crl = with_crl.then_some(crl.as_path());
        let (code, report) = pkictl_says(who, crl);
        let what = format!("{} with_crl={with_crl}", who.name);
        assert_eq!(code, if accepted { 0 } else { 1 }, "{what}: {report}");
        assert_eq!(openssl_accepts(who, crl), accepted, "{what}: openssl disagrees");
        let revocation = report["layers"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(revocation["layer"], "revocation", "{what}: {report}");
        if !with_crl {
            assert!(revocation["notes"].to_string().contains("not a CA of this home"), "{what}: {report}");
        }
    }
    assert!(!nowhere.exists(), "verify created a home");
    // A --crl or --trust that is not one is bad input.
    for (flag, file) in [("--crl", &v.client.crt), ("--trust", &crl)] {
        let out =
            pkictl(&nowhere).args(["verify", arg(&v.client.fullchain), flag, arg(file)]).output().unwrap();
        let stderr = assert_error(&out, 2);
        assert!(stderr.contains("is not a"), "{flag}: {stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. renew

#[test]
fn renew_rekey_revoke_old_supersedes_and_links() {
    let pki = Pki::new();
    let old = pki.issue("server", SERVER, &["--dns", "www.operate.test", "--ip", "10.0.0.7"], "out1");
    pki.ok(&["crl", "--ca", ROOT]);
    let out2 = pki.path("out2");
    let report = pki.json(&["renew", SERVER, "--rekey", "--revoke-old", "--out", arg(&out2)]);
    let new = Issued::from_report(&old.name, &report);
    assert_eq!(norm_serial(report["renewed_from"].as_str().unwrap()), norm_serial(&old.serial), "{report}");
    assert_eq!(report["rekeyed"], Value::Bool(true), "{report}");
    assert_eq!(report["old_revoked"]["reason"], "superseded", "{report}");
    assert_ne!(norm_serial(&new.serial), norm_serial(&old.serial));

    // The next CRL lists the old serial as superseded, and not the new one.
    let crl = crl_verified_text(&pki.crl_pem(INTER_SLUG), &pki.inter_pem());
    let entries = crl_entries(&crl);
    let entry = entries.iter().find(|(s, _)| *s == norm_serial(&old.serial));
    let (_, lines) = entry.unwrap_or_else(|| panic!("old serial {} not on the CRL:\n{crl}", old.serial));
    assert!(lines.contains("Superseded"), "the old serial is not listed as Superseded:\n{crl}");
    assert!(
        !entries.iter().any(|(s, _)| *s == norm_serial(&new.serial)),
        "the new serial is on the CRL:\n{crl}"
    );

    // Same subject, issuer, SANs and profile; a new key and serial; the same lifetime.
    let (old_text, new_text) = (x509_text(&old.crt), x509_text(&new.crt));
    assert_eq!(x509_field(&new.crt, "-subject"), x509_field(&old.crt, "-subject"));
    assert_eq!(x509_field(&new.crt, "-issuer"), x509_field(&old.crt, "-issuer"));
    for ext in [
        "X509v3 Subject Alternative Name",
        "X509v3 Key Usage",
        "X509v3 Extended Key Usage",
        "X509v3 Basic Constraints",
        "X509v3 Authority Key Identifier",
    ] {
        let old_ext = extension(&old_text, ext).unwrap_or_else(|| panic!("old certificate lacks {ext}"));
        assert_eq!(
            extension(&new_text, ext),
            Some(old_ext),
            "{ext} differs:\nold:\n{old_text}\nnew:\n{new_text}"
        );
    }
    let sans = extension(&new_text, "X509v3 Subject Alternative Name").unwrap().1;
    for want in ["DNS:api.operate.test", "DNS:www.operate.test", "IP Address:10.0.0.7"] {
        assert!(sans.contains(want), "SANs {sans:?} lack {want}");
    }
    assert_ne!(cert_public(&new.crt), cert_public(&old.crt), "--rekey kept the old key");
    assert_eq!(
        cert_public(&new.crt),
        key_public(new.key()),
        "the new key file does not match the new certificate"
    );
    assert_mode(new.key(), 0o600);
    assert!(
        (lifetime(&new.crt) - lifetime(&old.crt)).abs() <= 2,
        "the renewal's lifetime differs from the old one's"
    );

    // openssl: the new certificate verifies with CRL checks, the old one is revoked.
    let crls = [pki.crl_pem(INTER_SLUG), pki.crl_pem(ROOT_SLUG)];
    let verify = |cert: &Path| {
        let root = pki.root_pem();
        let mut args = vec![os("verify"), os("-crl_check_all"), os("-CAfile"), root.as_os_str()];
        args.extend([os("-untrusted"), new.chain.as_os_str(), os("-purpose"), os("sslserver")]);
        for crl in &crls {
            args.extend([os("-CRLfile"), crl.as_os_str()]);
        }
        args.push(cert.as_os_str());
        let out = openssl(&args);
        (out.status.success(), format!("{}{}", stdout_of(&out), stderr_of(&out)))
    };
    let (ok, text) = verify(&new.crt);
    assert!(ok, "openssl refuses the renewed certificate:\n{text}");
    let (ok, text) = verify(&old.crt);
    assert!(
        !ok && text.contains("certificate revoked"),
        "openssl does not see the old certificate revoked:\n{text}"
    );

    // show links both ways, in JSON and in text.
    let shown_new = pki.json(&["show", &new.serial]);
    let shown_old = pki.json(&["show", &old.serial]);
    assert_eq!(
        norm_serial(shown_new["renewed_from"].as_str().unwrap_or("")),
        norm_serial(&old.serial),
        "{shown_new}"
    );
    assert_eq!(shown_new["renewed_by"], Value::Array(vec![]), "{shown_new}");
    let renewed_by: Vec<String> = shown_old["renewed_by"]
        .as_array()
        .expect("renewed_by")
        .iter()
        .map(|s| norm_serial(s.as_str().unwrap()))
        .collect();
    assert_eq!(renewed_by, vec![norm_serial(&new.serial)], "{shown_old}");
    assert_eq!(shown_old["renewed_from"], Value::Null, "{shown_old}");
    assert_eq!(
        (&shown_old["status"], &shown_old["revocation_reason"]),
        (&Value::from("revoked"), &Value::from("superseded"))
    );
    assert_eq!(shown_new["status"], "valid");
    assert_eq!(shown_new["profile"], "server");
    let text_new = stdout_of(&pki.ok(&["show", &new.serial]));
    let text_old = stdout_of(&pki.ok(&["show", &old.serial]));
    let line_with = |text: &str, label: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(label))
            .map(|l| norm_serial(l[label.len()..].trim()))
            .unwrap_or_default()
    };
    assert_eq!(line_with(&text_new, "Renewed from:"), norm_serial(&old.serial), "{text_new}");
    assert_eq!(line_with(&text_old, "Renewed by:"), norm_serial(&new.serial), "{text_old}");

    // The name now designates two certificates: show by name asks for a serial.
    let out = pki.run(&["show", SERVER]);
    let stderr = assert_error(&out, 2);
    assert!(stderr.contains(&old.serial) && stderr.contains(&new.serial), "{stderr}");
}

#[test]
fn renew_refusals_change_nothing() {
    let pki = Pki::fast();
    let a = pki.issue("server", SERVER, &[], "out");
    let b = pki.issue("client", CLIENT, &[], "out");
    let dest = pki.path("renewed");

    // A generated key is not kept: without --rekey or --key there is nothing to certify.
    let stderr =
        pki.refused(pki.cmd().args(["renew", &a.serial, "--out", arg(&dest)]), &dest, "renew without a key");
    assert!(
        stderr.contains("--key") && stderr.contains("--rekey"),
        "the error does not say what to do: {stderr}"
    );
    pki.refused(
        pki.cmd().args(["renew", &a.serial, "--revoke-old", "--out", arg(&dest)]),
        &dest,
        "renew --revoke-old without a key",
    );
    // Another certificate's key.
    let stderr = pki.refused(
        pki.cmd().args(["renew", &a.serial, "--key", arg(b.key()), "--out", arg(&dest)]),
        &dest,
        "renew --key <another certificate's key>",
    );
    assert!(stderr.contains(arg(b.key())), "the error does not name the key file: {stderr}");
    // A CA certificate.
    for ca in [INTER, ROOT] {
        let serial = pki.ca_serial(ca);
        pki.refused(
            pki.cmd().args(["renew", &serial, "--rekey", "--out", arg(&dest)]),
            &dest,
            &format!("renew {ca}"),
        );
    }
    // --rekey with --key, --key-type without --rekey.
    pki.refused(
        pki.cmd().args(["renew", &a.serial, "--rekey", "--key", arg(a.key()), "--out", arg(&dest)]),
        &dest,
        "--rekey --key",
    );
    pki.refused(
        pki.cmd().args([
            "renew",
            &a.serial,
            "--key",
            arg(a.key()),
            "--key-type",
            "p384",
            "--out",
            arg(&dest),
        ]),
        &dest,
        "--key-type without --rekey",
    );
    // Still valid, not revoked.
    assert_eq!(pki.json(&["show", &a.serial])["status"], "valid");
}

#[test]
fn renew_with_the_old_key_keeps_the_public_key() {
    let pki = Pki::fast();
    let old = pki.issue("client", CLIENT, &[], "out");
    let dest = pki.path("renewed");
    let report =
        pki.json(&["renew", &old.serial, "--key", arg(old.key()), "--validity", "30d", "--out", arg(&dest)]);
    let new = Issued::from_report(&old.name, &report);
    assert_eq!(report["rekeyed"], Value::Bool(false));
    assert_eq!(cert_public(&new.crt), cert_public(&old.crt), "the renewal does not certify the old key");
    assert_eq!(cert_public(&new.crt), key_public(old.key()));
    assert_eq!(new.key, None, "a key file is reported although pkictl did not make one");
    assert!(!dest.join(format!("{CLIENT}.key")).exists(), "a key file was written");
    let days = lifetime(&new.crt) as f64 / 86_400.0;
    assert!((29.9..30.1).contains(&days), "--validity 30d gave {days} days");
    assert_eq!(x509_field(&new.crt, "-subject"), x509_field(&old.crt, "-subject"));
    // Without --revoke-old the old one stays valid.
    assert_eq!(pki.json(&["show", &old.serial])["status"], "valid");
}

#[test]
fn renew_of_a_csr_certificate_keeps_the_csr_key_without_key() {
    let pki = Pki::fast();
    let key = pki.path("csr.key");
    let csr = pki.path("csr.pem");
    openssl_ok([
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        arg(&key),
        "-subj",
        "/CN=csr.operate.test",
        "-addext",
        "subjectAltName=DNS:csr.operate.test",
        "-out",
        arg(&csr),
    ]);
    let old = pki.issue("server", "csr.operate.test", &["--csr", arg(&csr)], "out");
    let dest = pki.path("renewed");
    let new = Issued::from_report(&old.name, &pki.json(&["renew", &old.serial, "--out", arg(&dest)]));
    assert_eq!(cert_public(&new.crt), key_public(&key), "the renewal does not certify the CSR's key");
    assert_eq!(new.key, None);
    assert_eq!(x509_field(&new.crt, "-subject"), x509_field(&old.crt, "-subject"));
    assert_eq!(pki.json(&["show", &new.serial])["key_source"], "csr");
}

#[test]
fn renew_with_key_and_force_in_the_same_directory_keeps_the_key() {
    let pki = Pki::fast();
    let old = pki.issue("server", SERVER, &[], "tls");
    let key = old.key().to_path_buf();
    let before = fs::read(&key).unwrap();
    let dir = key.parent().unwrap().to_path_buf();
    let new = Issued::from_report(
        &old.name,
        &pki.json(&["renew", &old.serial, "--key", arg(&key), "--out", arg(&dir), "--force"]),
    );
    assert!(
        key.exists(),
        "renew --force removed {}, the key of the certificate it just issued",
        key.display()
    );
    assert_eq!(fs::read(&key).unwrap(), before);
    assert_eq!(cert_public(&new.crt), key_public(&key));
}

// ---------------------------------------------------------------------------------------------
// 3. export

#[test]
fn export_pem_der_chain_fullchain_equal_the_issued_files() {
    let pki = Pki::fast();
    let cert = pki.issue("client", CLIENT, &["--uri", "spiffe://operate.test/ns/a/sa/alice"], "out");
    let der = openssl([os("x509"), os("-in"), cert.crt.as_os_str(), os("-outform"), os("DER")]).stdout;
    let cases: [(&str, Vec<u8>); 4] = [
        ("pem", fs::read(&cert.crt).unwrap()),
        ("der", der),
        ("chain", fs::read(&cert.chain).unwrap()),
        ("fullchain", fs::read(&cert.fullchain).unwrap()),
    ];
    for (format, want) in &cases {
        let file = pki.path(&format!("export.{format}"));
        pki.ok(&["export", &cert.serial, "--format", format, "--out", arg(&file)]);
        assert!(fs::read(&file).unwrap() == *want, "export --format {format} differs from what issue wrote");
        // To stdout (not a terminal here), by fingerprint and by name: the same bytes.
        for by in [cert.fingerprint.as_str(), CLIENT] {
            let out = pki.ok(&["export", by, "--format", format]);
            assert!(out.stdout == *want, "export {by} --format {format} to stdout differs");
        }
    }
    // The chain is the intermediate alone, not the root.
    let chain = fs::read_to_string(&cert.chain).unwrap();
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 1);
    assert_eq!(chain, fs::read_to_string(pki.inter_pem()).unwrap());
    // --json needs --out; --key/--legacy only with p12.
    pki.refused(
        pki.cmd().args(["--json", "export", &cert.serial, "--format", "pem"]),
        &pki.path("none"),
        "--json without --out",
    );
    let none = pki.path("x.pem");
    pki.refused(
        pki.cmd().args([
            "export",
            &cert.serial,
            "--format",
            "pem",
            "--key",
            arg(cert.key()),
            "--out",
            arg(&none),
        ]),
        &none,
        "--key with pem",
    );
}

/// `openssl pkcs12 ARGS -in P12 -passin pass:P12_PASS` → stdout + stderr, asserting success.
fn pkcs12(p12: &Path, args: &[&str]) -> String {
    let pass = format!("pass:{P12_PASS}");
    let mut all = vec![os("pkcs12"), os("-in"), p12.as_os_str(), os("-passin"), os(&pass)];
    all.extend(args.iter().map(|a| os(a)));
    let out = openssl(&all);
    let text = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(out.status.success(), "openssl pkcs12 {args:?} -in {} failed:\n{text}", p12.display());
    text
}

fn export_p12(pki: &Pki, cert: &Issued, out: &Path, extra: &[&str]) {
    let mut args =
        vec!["export", cert.serial.as_str(), "--format", "p12", "--key", arg(cert.key()), "--out", arg(out)];
    args.extend_from_slice(extra);
    let output = pki.cmd().env("PKICTL_P12_PASSPHRASE", P12_PASS).args(&args).output().unwrap();
    assert!(output.status.success(), "export p12 {extra:?} failed: {}", stderr_of(&output));
}

/// The key and certificates inside a PKCS#12, read by openssl, checked against the originals.
fn check_p12_contents(pki: &Pki, p12: &Path, cert: &Issued, legacy: &[&str]) {
    let key = pki.path("from-p12.key");
    let leaf = pki.path("from-p12.crt");
    let cas = pki.path("from-p12-ca.pem");
    let mut a = legacy.to_vec();
    a.extend(["-nocerts", "-nodes", "-out", arg(&key)]);
    pkcs12(p12, &a);
    let mut a = legacy.to_vec();
    a.extend(["-nokeys", "-clcerts", "-out", arg(&leaf)]);
    pkcs12(p12, &a);
    let mut a = legacy.to_vec();
    a.extend(["-nokeys", "-cacerts", "-out", arg(&cas)]);
    pkcs12(p12, &a);
    assert_eq!(key_public(&key), cert_public(&leaf), "the p12's key does not match its certificate");
    assert_eq!(key_public(&key), key_public(cert.key()), "the p12 holds another key");
    assert_eq!(x509_sha256(&leaf), cert.fingerprint, "the p12 holds another certificate");
    let ca_text = fs::read_to_string(&cas).unwrap();
    assert_eq!(
        ca_text.matches("BEGIN CERTIFICATE").count(),
        1,
        "the p12 should hold the intermediate only:\n{ca_text}"
    );
    assert_eq!(x509_field(&cas, "-subject"), x509_field(&pki.inter_pem(), "-subject"));
}

#[test]
fn export_p12_is_read_by_openssl_modern_and_legacy() {
    let pki = Pki::fast();
    let cert = pki.issue("client", CLIENT, &[], "out");

    let p12 = pki.path("alice.p12");
    export_p12(&pki, &cert, &p12, &[]);
    assert_mode(&p12, 0o600);
    let info = pkcs12(&p12, &["-info", "-noout"]);
    assert!(info.contains("PBES2, PBKDF2, AES-256-CBC"), "not AES-256-CBC with PBKDF2:\n{info}");
    assert!(info.contains("MAC: sha256"), "not an HMAC-SHA256 MAC:\n{info}");
    check_p12_contents(&pki, &p12, &cert, &[]);
    let wrong = openssl([
        os("pkcs12"),
        os("-in"),
        p12.as_os_str(),
        os("-passin"),
        os("pass:not the password"),
        os("-info"),
        os("-noout"),
    ]);
    assert!(!wrong.status.success(), "openssl reads the p12 with a wrong password");

    let legacy = pki.path("alice-legacy.p12");
    export_p12(&pki, &cert, &legacy, &["--legacy"]);
    assert_mode(&legacy, 0o600);
    let info = pkcs12(&legacy, &["-legacy", "-info", "-noout"]);
    assert!(info.contains("pbeWithSHA1And3-KeyTripleDES-CBC"), "--legacy is not 3DES:\n{info}");
    assert!(info.contains("MAC: sha1"), "--legacy has no SHA-1 MAC:\n{info}");
    assert!(!info.contains("AES-256"), "--legacy still uses AES:\n{info}");
    check_p12_contents(&pki, &legacy, &cert, &["-legacy"]);
}

#[test]
fn export_p12_refusals() {
    let pki = Pki::fast();
    let alice = pki.issue("client", CLIENT, &[], "out");
    let bob = pki.issue("client", "bob@operate.test", &[], "out");
    let p12 = pki.path("x.p12");
    let with_pass = || {
        let mut c = pki.cmd();
        c.env("PKICTL_P12_PASSPHRASE", P12_PASS);
        c
    };
    let stderr = pki.refused(
        with_pass().args([
            "export",
            &alice.serial,
            "--format",
            "p12",
            "--key",
            arg(bob.key()),
            "--out",
            arg(&p12),
        ]),
        &p12,
        "p12 with another certificate's key",
    );
    assert!(stderr.contains(arg(bob.key())), "{stderr}");
    let garbage = pki.path("garbage.key");
    fs::write(&garbage, "not a key\n").unwrap();
    fs::set_permissions(&garbage, fs::Permissions::from_mode(0o600)).unwrap();
    pki.refused(
        with_pass().args([
            "export",
            &alice.serial,
            "--format",
            "p12",
            "--key",
            arg(&garbage),
            "--out",
            arg(&p12),
        ]),
        &p12,
        "p12 with a file that is not a key",
    );
    pki.refused(
        with_pass().args(["export", &alice.serial, "--format", "p12", "--out", arg(&p12)]),
        &p12,
        "p12 without --key",
    );
    let stderr = pki.refused(
        pki.cmd().env_remove("PKICTL_P12_PASSPHRASE").args([
            "export",
            &alice.serial,
            "--format",
            "p12",
            "--key",
            arg(alice.key()),
            "--out",
            arg(&p12),
        ]),
        &p12,
        "p12 without a password source",
    );
    assert!(
        stderr.contains("PKICTL_P12_PASSPHRASE"),
        "the error does not say where a password comes from: {stderr}"
    );
    pki.refused(
        pki.cmd().env("PKICTL_P12_PASSPHRASE", "short").args([
            "export",
            &alice.serial,
            "--format",
            "p12",
            "--key",
            arg(alice.key()),
            "--out",
            arg(&p12),
        ]),
        &p12,
        "p12 with a 5-character password",
    );
}

/// An `openssl s_server`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    stderr: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `openssl s_server -Verify 1 -verify_return_error -www` on a free loopback port, once it
/// prints ACCEPT.
fn s_server(pki: &Pki, cert: &Issued) -> Server {
    for attempt in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let stderr = pki.path(&format!("s_server-{attempt}.err"));
        let mut child = StdCommand::new("openssl")
            .args([
                "s_server",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-www",
                "-Verify",
                "1",
                "-verify_return_error",
            ])
            .args(["-cert", arg(&cert.crt), "-key", arg(cert.key()), "-cert_chain", arg(&cert.chain)])
            .args(["-CAfile", arg(&pki.root_pem())])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run openssl s_server: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let server = Server { child, port, stderr };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.trim() == "ACCEPT" {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(10)).is_ok() {
            return server;
        }
    }
    panic!("openssl s_server did not start on a loopback port");
}

fn curl(args: &[&str]) -> Output {
    StdCommand::new("curl").args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("cannot run curl ({e}); the p12 interop test needs curl on PATH (apt-get install curl)")
    })
}

#[test]
fn curl_authenticates_with_the_p12_against_openssl_s_server() {
    let pki = Pki::fast();
    let server_cert = pki.issue("server", SERVER, &[], "out");
    let client = pki.issue("client", CLIENT, &[], "out");
    let p12 = pki.path("alice.p12");
    export_p12(&pki, &client, &p12, &[]);
    let legacy = pki.path("alice-legacy.p12");
    export_p12(&pki, &client, &legacy, &["--legacy"]);

    let server = s_server(&pki, &server_cert);
    let url = format!("https://{SERVER}:{}/", server.port);
    let resolve = format!("{SERVER}:{}:127.0.0.1", server.port);
    let root = pki.root_pem();
    let base = ["-sS", "--max-time", "20", "--cacert", arg(&root), "--resolve", &resolve];

    for file in [&p12, &legacy] {
        let cert_arg = format!("{}:{P12_PASS}", arg(file));
        let mut args = base.to_vec();
        args.extend(["--cert-type", "P12", "--cert", &cert_arg, &url]);
        let out = curl(&args);
        let err = stderr_of(&out);
        if !out.status.success() && err.contains("not supported") {
            panic!("this curl build cannot use a PKCS#12 client certificate (--cert-type P12): {err}");
        }
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "curl with {} failed ({}): {err}\ns_server: {}",
            file.display(),
            out.status,
            fs::read_to_string(&server.stderr).unwrap_or_default()
        );
        assert!(
            body.contains("Client certificate") && body.contains(&format!("CN={CLIENT}")),
            "the server did not see the client certificate:\n{body}"
        );
    }
    // The server really requires a client certificate: without one, curl fails.
    let mut args = base.to_vec();
    args.push(&url);
    let out = curl(&args);
    assert!(!out.status.success(), "s_server accepted a client without a certificate");
    drop(server);
}

// ---------------------------------------------------------------------------------------------
// 4. list

fn list(pki: &Pki, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json", "list"];
    all.extend_from_slice(args);
    let out = pki.run(&all);
    let code = out.status.code().expect("exit code");
    assert!(code == 0 || code == 1, "list {args:?}: exit {code}: {}", stderr_of(&out));
    let value = json_object(&out);
    assert!(value["certificates"].is_array() && value["crls"].is_array(), "list {args:?}: shape {value}");
    for c in value["certificates"].as_array().unwrap() {
        assert!(
            c["serial"].is_string() && c["status"].is_string() && c["days_left"].is_i64(),
            "list {args:?}: entry {c}"
        );
    }
    (code, value)
}

fn serials(value: &Value) -> BTreeSet<String> {
    value["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| norm_serial(c["serial"].as_str().unwrap()))
        .collect()
}

#[test]
fn list_expiring_within_exit_codes_and_json() {
    let pki = Pki::fast();
    let server = pki.issue("server", SERVER, &[], "out");

    let (code, value) = list(&pki, &["--expiring-within", "30d"]);
    assert_eq!(code, 0, "nothing expires within 30 days: {value}");
    assert_eq!(value["certificates"], Value::Array(vec![]));
    assert_eq!(value["crls"], Value::Array(vec![]));
    let text = pki.run(&["list", "--expiring-within", "30d"]);
    assert_eq!(text.status.code(), Some(0), "text mode: {}", stdout_of(&text));

    let (code, value) = list(&pki, &["--expiring-within", "100d"]);
    assert_eq!(code, 1, "a 90-day certificate expires within 100 days: {value}");
    assert_eq!(serials(&value), BTreeSet::from([norm_serial(&server.serial)]), "{value}");
    let entry = &value["certificates"][0];
    assert_eq!(entry["status"], "valid");
    let not_after = openssl_date_unix(&x509_field(&server.crt, "-enddate"));
    let days = (not_after - now_unix()).div_euclid(86_400);
    assert!(
        (entry["days_left"].as_i64().unwrap() - days).abs() <= 1,
        "days_left {} vs openssl's {days}",
        entry["days_left"]
    );
    let text = pki.run(&["list", "--expiring-within", "100d"]);
    assert_eq!(text.status.code(), Some(1));
    assert!(stdout_of(&text).contains(&server.serial), "{}", stdout_of(&text));

    // A fresh CRL (nextUpdate in 7 days) is not due before half its lifetime, whatever the
    // window (tests/ops.rs checks one that is).
    pki.ok(&["crl"]);
    for window in ["8d", "30d", "6d"] {
        let (code, value) = list(&pki, &["--expiring-within", window]);
        assert_eq!(code, 0, "{window}: {value}");
        assert_eq!(value["crls"], Value::Array(vec![]), "{window}: {value}");
    }

    // Without --expiring-within, list is a query: exit 0 even when it prints something.
    let (code, value) = list(&pki, &[]);
    assert_eq!(code, 0);
    assert!(serials(&value).contains(&norm_serial(&server.serial)));
}

#[test]
fn list_filters_by_profile_ca_and_status() {
    let pki = Pki::fast();
    // Issued first so that it has expired once the rest is done.
    let short = pki.issue("client", "short.operate.test", &["--validity", "2s"], "out");
    let started = Instant::now();
    let server = pki.issue("server", SERVER, &[], "out");
    let client = pki.issue("client", CLIENT, &[], "out");
    let peer = pki.issue("peer", "node1.operate.test", &[], "out");
    pki.ok(&["ca", "add-intermediate", "--name", "Second Issuing CA"]);
    let second = pki.issue("client", "device.operate.test", &["--ca", "Second Issuing CA"], "out");
    let (root, inter, second_ca) =
        (pki.ca_serial(ROOT), pki.ca_serial(INTER), pki.ca_serial("Second Issuing CA"));
    let set = |v: &[&str]| -> BTreeSet<String> { v.iter().map(|s| norm_serial(s)).collect() };

    let (_, v) = list(&pki, &["--profile", "client", "--status", "all"]);
    assert_eq!(serials(&v), set(&[&short.serial, &client.serial, &second.serial]), "{v}");
    let (_, v) = list(&pki, &["--profile", "server"]);
    assert_eq!(serials(&v), set(&[&server.serial]), "{v}");
    let (_, v) = list(&pki, &["--ca", "Second Issuing CA"]);
    assert_eq!(serials(&v), set(&[&second.serial]), "{v}");
    let (_, v) = list(&pki, &["--ca", INTER, "--profile", "peer"]);
    assert_eq!(serials(&v), set(&[&peer.serial]), "{v}");
    let (_, v) = list(&pki, &["--ca", ROOT, "--status", "all"]);
    assert_eq!(serials(&v), set(&[&root, &inter, &second_ca]), "{v}");
    // openssl agrees on who issued the second CA's client.
    assert_eq!(x509_field(&second.crt, "-issuer"), "CN = Second Issuing CA");

    let sleep = Duration::from_secs(3).saturating_sub(started.elapsed());
    std::thread::sleep(sleep);
    let check =
        openssl([os("x509"), os("-in"), short.crt.as_os_str(), os("-noout"), os("-checkend"), os("0")]);
    assert!(!check.status.success(), "openssl says the 2-second certificate has not expired");
    let (_, v) = list(&pki, &["--status", "expired"]);
    assert_eq!(serials(&v), set(&[&short.serial]), "{v}");
    assert_eq!(v["certificates"][0]["status"], "expired");
    let (_, v) = list(&pki, &[]);
    assert!(
        !serials(&v).contains(&norm_serial(&short.serial)),
        "an expired certificate is listed as valid: {v}"
    );
    let (code, v) = list(&pki, &["--expiring-within", "1d"]);
    assert_eq!((code, serials(&v)), (0, BTreeSet::new()), "an expired certificate counts as expiring: {v}");

    let none = pki.path("none");
    pki.refused(pki.cmd().args(["list", "--profile", "admin"]), &none, "list --profile admin");
    pki.refused(pki.cmd().args(["list", "--status", "dead"]), &none, "list --status dead");
    pki.refused(pki.cmd().args(["list", "--ca", "No Such CA"]), &none, "list --ca <unknown>");
}

// ---------------------------------------------------------------------------------------------
// 5. completions, man, --help

/// The subcommands a `--help` lists under "Commands:", without `help`.
fn subcommands(help: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line.trim_end() == "Commands:" {
            inside = true;
            continue;
        }
        if inside {
            if line.trim().is_empty() {
                break;
            }
            // A name sits two spaces in; wrapped descriptions are indented further.
            if line.starts_with("  ") && !line.starts_with("   ") {
                let name = line.split_whitespace().next().unwrap().to_string();
                if name != "help" {
                    names.push(name);
                }
            }
        }
    }
    names
}

fn help_of(path: &[&str]) -> String {
    let out = pkictl(Path::new("unused-home")).args(path).arg("--help").output().unwrap();
    assert!(out.status.success(), "pkictl {path:?} --help: {}", stderr_of(&out));
    stdout_of(&out)
}

fn top_level_commands() -> Vec<String> {
    let names = subcommands(&help_of(&[]));
    for want in [
        "init",
        "ca",
        "issue",
        "renew",
        "export",
        "verify",
        "list",
        "show",
        "doctor",
        "demo",
        "completions",
        "man",
    ] {
        assert!(names.iter().any(|n| n == want), "pkictl --help does not list {want}: {names:?}");
    }
    names
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    let commands = top_level_commands();
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in
        [("bash", "complete -F"), ("zsh", "#compdef pkictl"), ("fish", "complete -c pkictl")]
    {
        let out = pkictl(dir.path()).args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "completions {shell}: {}", stderr_of(&out));
        let script = stdout_of(&out);
        assert!(script.len() > 1000, "completions {shell} is nearly empty:\n{script}");
        assert!(script.contains(marker), "completions {shell} lacks {marker:?}");
        for command in &commands {
            assert!(script.contains(command.as_str()), "completions {shell} does not mention {command}");
        }
        for flag in ["expiring-within", "revoke-old", "legacy", "purpose"] {
            assert!(script.contains(flag), "completions {shell} does not mention --{flag}");
        }
        if shell == "bash" {
            let file = dir.path().join("pkictl.bash");
            fs::write(&file, &script).unwrap();
            let check = StdCommand::new("bash").arg("-n").arg(&file).output().expect("run bash -n");
            assert!(check.status.success(), "bash -n rejects the completion script: {}", stderr_of(&check));
        }
    }
}

fn assert_roff(page: &str, title: &str) {
    let head: Vec<&str> = page.lines().take(5).collect();
    assert!(head.first().is_some_and(|l| l.starts_with('.')), "not a roff page: {head:?}");
    assert!(
        head.iter().any(|l| l.starts_with(&format!(".TH {title} 1"))),
        "no .TH {title} 1 header in the first lines: {head:?}"
    );
    assert!(page.contains(".SH NAME") && page.contains(".SH SYNOPSIS"), "no NAME/SYNOPSIS sections");
}

#[test]
fn man_page_on_stdout_and_pages_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = pkictl(dir.path()).arg("man").output().unwrap();
    assert!(out.status.success(), "man: {}", stderr_of(&out));
    let page = stdout_of(&out);
    assert_roff(&page, "pkictl");
    assert!(page.contains("renew") && page.contains("verify"), "the page does not list the commands");

    let mandir = dir.path().join("man1");
    let out = pkictl(dir.path()).args(["man", "--out", arg(&mandir)]).output().unwrap();
    assert!(out.status.success(), "man --out: {}", stderr_of(&out));
    assert_roff(&fs::read_to_string(mandir.join("pkictl.1")).expect("pkictl.1"), "pkictl");
    let issue_server =
        fs::read_to_string(mandir.join("pkictl-issue-server.1")).expect("pkictl-issue-server.1");
    assert_roff(&issue_server, "pkictl-issue-server");
    assert!(issue_server.contains("dns"), "pkictl-issue-server.1 does not document --dns");
    for command in top_level_commands() {
        assert!(mandir.join(format!("pkictl-{command}.1")).exists(), "no pkictl-{command}.1");
    }
    assert!(!mandir.join("pkictl-help.1").exists(), "a page for the help pseudo-command");
}

#[test]
fn every_command_help_has_examples() {
    let mut leaves: Vec<Vec<String>> = Vec::new();
    for command in top_level_commands() {
        let children = subcommands(&help_of(&[&command]));
        if children.is_empty() {
            leaves.push(vec![command]);
        } else {
            for child in children {
                leaves.push(vec![command.clone(), child]);
            }
        }
    }
    for want in [["ca", "add-intermediate"], ["issue", "server"], ["issue", "client"], ["issue", "peer"]] {
        assert!(leaves.iter().any(|l| l == &want), "{want:?} not found among {leaves:?}");
    }
    let missing: Vec<String> = leaves
        .iter()
        .filter(|path| !help_of(&path.iter().map(String::as_str).collect::<Vec<_>>()).contains("Examples:"))
        .map(|path| path.join(" "))
        .collect();
    assert!(missing.is_empty(), "--help without \"Examples:\": {missing:?}");
    assert!(help_of(&[]).contains("Examples:"), "pkictl --help has no examples");
}

#[test]
fn command_group_help_has_examples() {
    for group in ["ca", "issue"] {
        assert!(help_of(&[group]).contains("Examples:"), "pkictl {group} --help has no \"Examples:\"");
    }
}

#[test]
fn a_closed_stdout_is_an_error_not_a_panic() {
    let pki = Pki::fast();
    for args in [&["completions", "bash"][..], &["list", "--status", "all"][..]] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader); // every write now fails with EPIPE
        let out = StdCommand::new(env!("CARGO_BIN_EXE_pkictl"))
            .arg("--home")
            .arg(&pki.home)
            .args(args)
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = stderr_of(&out);
        assert!(!stderr.contains("panicked"), "pkictl {args:?} panics on a closed stdout:\n{stderr}");
        assert_ne!(out.status.code(), Some(101), "pkictl {args:?}: exit 101");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. doctor

fn doctor(pki: &Pki, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json", "doctor"];
    all.extend_from_slice(args);
    let out = pki.run(&all);
    (out.status.code().expect("exit code"), json_object(&out))
}

fn problems(v: &Value) -> Vec<String> {
    v["problems"].as_array().expect("problems").iter().map(|p| p.as_str().unwrap().to_string()).collect()
}

#[test]
fn doctor_finds_and_repairs_problems() {
    let pki = Pki::new();
    let server = pki.issue("server", SERVER, &[], "out");
    let client = pki.issue("client", CLIENT, &[], "out");
    pki.ok(&["revoke", &client.serial, "--reason", "superseded"]);
    pki.ok(&["crl", "--ca", ROOT]);

    let (code, v) = doctor(&pki, &[]);
    assert_eq!(code, 0, "a fresh home: {v}");
    assert_eq!(v["ok"], Value::Bool(true));
    let text = pki.run(&["doctor"]);
    assert_eq!(text.status.code(), Some(0), "{}", stdout_of(&text));

    // A deleted CRL file: named, then rewritten by --repair.
    let crl = pki.crl_pem(INTER_SLUG);
    let original = fs::read(&crl).unwrap();
    fs::remove_file(&crl).unwrap();
    let (code, v) = doctor(&pki, &[]);
    assert_eq!(code, 1, "{v}");
    assert!(problems(&v).iter().any(|p| p.contains(arg(&crl))), "the missing CRL is not named: {v}");
    let text = pki.run(&["doctor"]);
    assert_eq!(text.status.code(), Some(1));
    assert!(stdout_of(&text).contains(arg(&crl)), "{}", stdout_of(&text));
    let (code, v) = doctor(&pki, &["--repair"]);
    assert_eq!(code, 0, "--repair: {v}");
    assert!(v["repaired"].as_array().unwrap().iter().any(|r| r.as_str().unwrap().contains(arg(&crl))), "{v}");
    assert_eq!(fs::read(&crl).unwrap(), original, "the repaired CRL differs from the one published");
    let listed = crl_entries(&crl_verified_text(&crl, &pki.inter_pem()));
    assert!(
        listed.iter().any(|(s, _)| *s == norm_serial(&client.serial)),
        "the repaired CRL lost the revocation"
    );
    let (code, v) = doctor(&pki, &[]);
    assert_eq!(code, 0, "after --repair: {v}");

    // A CA key others can read.
    let key = pki.home.join("private").join(format!("{INTER_SLUG}.key"));
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let (code, v) = doctor(&pki, &[]);
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(code, 1, "a 0644 CA key: {v}");
    assert!(problems(&v).iter().any(|p| p.contains(arg(&key))), "the key is not named: {v}");
    assert_eq!(doctor(&pki, &[]).0, 0);

    // --scan: our own files pass, a certificate of another home does not.
    let (code, v) = doctor(&pki, &["--scan", arg(server.crt.parent().unwrap())]);
    assert_eq!(code, 0, "--scan of our own files: {v}");
    let stranger = Pki::init_unencrypted("Stranger Root CA");
    let foreign = stranger.issue("server", "foreign.operate.test", &[], "out");
    let scan = pki.path("scan");
    fs::create_dir(&scan).unwrap();
    let planted = scan.join("foreign.operate.test.crt");
    fs::copy(&foreign.crt, &planted).unwrap();
    fs::copy(&server.crt, scan.join(format!("{SERVER}.crt"))).unwrap();
    let (code, v) = doctor(&pki, &["--scan", arg(&scan)]);
    assert_eq!(code, 1, "a foreign certificate in --scan: {v}");
    let p = problems(&v);
    assert_eq!(p.len(), 1, "{v}");
    assert!(p[0].contains(arg(&planted)), "the foreign file is not named: {v}");
    let text = pki.run(&["doctor", "--scan", arg(&scan)]);
    assert_eq!(text.status.code(), Some(1));
    assert!(stdout_of(&text).contains(arg(&planted)));
}

// ---------------------------------------------------------------------------------------------
// 7. demo

#[test]
fn demo_accepts_three_clients_and_refuses_three() {
    let dir = tempfile::tempdir().unwrap();
    let out = pkictl(&dir.path().join("unused")).arg("demo").output().unwrap();
    assert!(out.status.success(), "demo failed: {}\n{}", stderr_of(&out), stdout_of(&out));
    let text = stdout_of(&out);
    // A valid client, then one enrolled by token and the same renewed by the agent.
    assert_eq!(text.matches("ACCEPTED").count(), 3, "{text}");
    // Revoked, none, and the renewed one after its revocation.
    assert_eq!(text.matches("REFUSED").count(), 3, "{text}");
    // The throwaway directory is gone.
    let first = text.lines().next().unwrap_or("");
    let temp = first.rsplit(" in ").next().unwrap_or("").trim();
    assert!(!temp.is_empty() && !Path::new(temp).exists(), "the demo left {temp:?} behind ({first})");
}

#[test]
fn demo_dir_keeps_the_home_and_refuses_a_non_empty_dir() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("demo");
    let out = pkictl(&dir.path().join("unused")).args(["demo", "--dir", arg(&d)]).output().unwrap();
    assert!(out.status.success(), "demo --dir failed: {}", stderr_of(&out));
    let home = d.join("pki");
    assert!(home.join("ledger.db").is_file(), "{} was not kept", home.join("ledger.db").display());
    // What it kept is a working home, and openssl accepts its server certificate.
    let doctor = pkictl(&home).arg("doctor").output().unwrap();
    assert_eq!(doctor.status.code(), Some(0), "doctor on the demo home: {}", stdout_of(&doctor));
    let root = home.join("ca").join("demo-root-ca.pem");
    let certs = d.join("certs");
    let verified = openssl_ok([
        os("verify"),
        os("-CAfile"),
        root.as_os_str(),
        os("-untrusted"),
        certs.join("localhost.chain.pem").as_os_str(),
        os("-purpose"),
        os("sslserver"),
        certs.join("localhost.crt").as_os_str(),
    ]);
    assert!(verified.trim_end().ends_with(": OK"), "{verified}");

    // Non-empty: exit 2 and nothing touched.
    let before = snapshot_dir(&d);
    let out = pkictl(&dir.path().join("unused")).args(["demo", "--dir", arg(&d)]).output().unwrap();
    let stderr = assert_error(&out, 2);
    assert!(stderr.contains(arg(&d)), "{stderr}");
    assert!(snapshot_dir(&d) == before, "a refused demo changed {}", d.display());
    let other = dir.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("notes.txt"), "keep me\n").unwrap();
    let out = pkictl(&dir.path().join("unused")).args(["demo", "--dir", arg(&other)]).output().unwrap();
    assert_error(&out, 2);
    assert_eq!(dir_entries(&other), vec!["notes.txt".to_string()]);
}
