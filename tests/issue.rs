//! End-to-end tests of `pkictl issue server|client|peer` and `pkictl sign`, through the binary
//! only. Certificates, keys and chains are judged with the `openssl` binary (never with
//! pkictl's own parser), the ledger through pkictl's `--json` output and `pkictl::ledger_testing`.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

const ROOT_SLUG: &str = "test-root-ca";
const INTER: &str = "Test Root CA Issuing CA";
const INTER_SLUG: &str = "test-root-ca-issuing-ca";
const CRL_BASE: &str = "http://pki.example.com/crl";
const WRONG_PASSPHRASE: &str = "definitely not the passphrase";
const DAY: i64 = 86_400;
const BACKDATE: i64 = 300;

// ---------------------------------------------------------------------------------------------
// Helpers local to this file (the shared fixture is tests/common).
// ---------------------------------------------------------------------------------------------

fn csr_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join("csr").join(name)
}

fn csr_arg(name: &str) -> String {
    csr_file(name).to_str().expect("UTF-8 path").to_string()
}

/// What only these tests ask of the shared home fixture.
impl Pki {
    fn root_pem(&self) -> PathBuf {
        self.ca_cert(ROOT_SLUG)
    }

    fn inter_pem(&self) -> PathBuf {
        self.ca_cert(INTER_SLUG)
    }

    fn inter_key(&self) -> PathBuf {
        self.ca_key(INTER_SLUG)
    }

    /// (certificate rows, event rows).
    fn rows(&self) -> (i64, i64) {
        let counts = self.counts();
        (counts.certificates, counts.events)
    }

    /// Runs a command that must be refused as bad input: exit 2, one "pkictl: …" line on
    /// stderr, nothing on stdout, no ledger row or event added, and `out` not created.
    fn refused(&self, args: &[&str], out: &str) -> String {
        let before = self.rows();
        let output = self.run(args);
        let stderr = assert_error(&output, 2);
        assert!(stderr.starts_with("pkictl: "), "{args:?}: not pkictl's own error:\n{stderr}");
        assert!(output.stdout.is_empty(), "{args:?}: stdout {}", stdout_of(&output));
        assert_eq!(self.rows(), before, "{args:?} changed the ledger ({stderr})");
        assert!(!Path::new(out).exists(), "{args:?} created {out} ({stderr})");
        stderr
    }

    /// Like `refused`, for failures that happen once the CA is being loaded: the output
    /// directory may exist but must hold no file.
    fn refused_late(&self, args: &[&str], out: &str) -> String {
        let before = self.rows();
        let output = self.run(args);
        let stderr = assert_error(&output, 2);
        assert!(stderr.starts_with("pkictl: "), "{args:?}: not pkictl's own error:\n{stderr}");
        assert!(output.stdout.is_empty(), "{args:?}: stdout {}", stdout_of(&output));
        assert_eq!(self.rows(), before, "{args:?} changed the ledger ({stderr})");
        if Path::new(out).exists() {
            assert_eq!(dir_entries(Path::new(out)), Vec::<String>::new(), "{args:?} wrote files ({stderr})");
        }
        stderr
    }
}

/// The four files of one issuance, named after NAME's file stem.
struct Files {
    crt: PathBuf,
    key: PathBuf,
    chain: PathBuf,
    fullchain: PathBuf,
}

fn files(out: &str, stem: &str) -> Files {
    let out = Path::new(out);
    Files {
        crt: out.join(format!("{stem}.crt")),
        key: out.join(format!("{stem}.key")),
        chain: out.join(format!("{stem}.chain.pem")),
        fullchain: out.join(format!("{stem}.fullchain.pem")),
    }
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn date_of(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

fn rfc3339(unix: i64) -> String {
    let secs = unix.rem_euclid(DAY);
    format!("{}T{:02}:{:02}:{:02}Z", date_of(unix), secs / 3600, secs % 3600 / 60, secs % 60)
}

/// (notBefore, notAfter) of a certificate as Unix seconds, read by openssl.
fn validity_of(cert: &Path) -> (i64, i64) {
    let fields = openssl_fields([
        os("x509"),
        os("-in"),
        cert.as_os_str(),
        os("-noout"),
        os("-startdate"),
        os("-enddate"),
    ]);
    (
        openssl_date_unix(fields.get("notBefore").expect("notBefore")),
        openssl_date_unix(fields.get("notAfter").expect("notAfter")),
    )
}

fn subject_of(cert: &Path) -> String {
    x509_field(cert, "-subject")
}

fn issuer_of(cert: &Path) -> String {
    x509_field(cert, "-issuer")
}

fn csr_public(csr: &Path) -> String {
    let mut args = vec![os("req"), os("-in"), csr.as_os_str(), os("-pubkey"), os("-noout")];
    if csr.extension() == Some(os("der")) {
        args.extend([os("-inform"), os("DER")]);
    }
    openssl_ok(args)
}

/// The names of the X.509v3 extensions `openssl x509 -text` prints, in order.
fn extension_names(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let Some(start) = lines.iter().position(|l| l.trim() == "X509v3 extensions:") else {
        return Vec::new();
    };
    let base = indent(lines[start]);
    let mut names = Vec::new();
    let mut header_indent = None;
    for line in &lines[start + 1..] {
        if line.trim().is_empty() || indent(line) <= base {
            break;
        }
        let level = *header_indent.get_or_insert(indent(line));
        if indent(line) == level {
            let name = line.trim().split(':').next().unwrap_or("").to_string();
            names.push(name);
        }
    }
    names
}

/// The subjectAltNames as OpenSSL prints them ("DNS:x", "IP Address:y", "email:z", "URI:u").
fn sans_of(text: &str) -> Vec<String> {
    match extension(text, "X509v3 Subject Alternative Name") {
        Some((_, value)) => value.split(", ").map(|s| s.trim().to_string()).collect(),
        None => Vec::new(),
    }
}

fn sorted<S: AsRef<str>>(v: &[S]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.as_ref().to_string()).collect();
    v.sort();
    v
}

fn sorted_owned(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// `openssl verify -x509_strict -CAfile root -untrusted chain -purpose P cert`.
fn verify_purpose(pki: &Pki, chain: &Path, cert: &Path, purpose: &str) -> (bool, String) {
    let out = openssl([
        os("verify"),
        os("-x509_strict"),
        os("-CAfile"),
        pki.root_pem().as_os_str(),
        os("-untrusted"),
        chain.as_os_str(),
        os("-purpose"),
        os(purpose),
        cert.as_os_str(),
    ]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let ok = out.status.success() && String::from_utf8_lossy(&out.stdout).trim_end().ends_with(": OK");
    (ok, text)
}

fn assert_purposes(pki: &Pki, f: &Files, profile: &str) {
    let (server_ok, client_ok) = match profile {
        "server" => (true, false),
        "client" => (false, true),
        "peer" => (true, true),
        other => panic!("unknown profile {other}"),
    };
    for (purpose, expected) in [("sslserver", server_ok), ("sslclient", client_ok)] {
        let (ok, text) = verify_purpose(pki, &f.chain, &f.crt, purpose);
        assert_eq!(
            ok,
            expected,
            "{profile} certificate {}: openssl verify -purpose {purpose} {}:\n{text}",
            f.crt.display(),
            if expected { "failed" } else { "passed, but must fail" }
        );
    }
}

/// What a leaf must look like.
struct Want<'a> {
    profile: &'a str,
    /// p256, p384, rsa2048, rsa3072, rsa4096.
    key_type: &'a str,
    common_name: &'a str,
    /// In OpenSSL's print form.
    sans: Vec<String>,
    crl: bool,
    validity: i64,
    /// Unix time just before and just after the command ran.
    window: (i64, i64),
    /// Whether pkictl generated the key (then NAME.key exists and matches).
    generated_key: bool,
}

/// Checks everything about one issued leaf with OpenSSL.
fn check_leaf(pki: &Pki, f: &Files, want: &Want<'_>) {
    let what = format!("{} {} {}", want.profile, want.key_type, f.crt.display());
    let text = x509_text(&f.crt);
    assert!(text.contains("Version: 3 (0x2)"), "{what}: not v3:\n{text}");

    // Chain and purposes.
    assert_purposes(pki, f, want.profile);
    let chain = fs::read(&f.chain).unwrap();
    assert_eq!(
        chain,
        fs::read(pki.inter_pem()).unwrap(),
        "{what}: the chain is not exactly the intermediate"
    );
    let mut full = fs::read(&f.crt).unwrap();
    full.extend_from_slice(&chain);
    assert_eq!(fs::read(&f.fullchain).unwrap(), full, "{what}: fullchain is not leaf + chain");
    assert_eq!(openssl_ok([os("x509"), os("-in"), f.crt.as_os_str()]).as_bytes(), fs::read(&f.crt).unwrap());

    // Names.
    assert_eq!(subject_of(&f.crt), format!("CN = {}", want.common_name), "{what}: subject");
    assert_eq!(issuer_of(&f.crt), format!("CN = {INTER}"), "{what}: issuer");
    let sans = sans_of(&text);
    assert_eq!(sorted_owned(sans.clone()), sorted_owned(want.sans.clone()), "{what}: SANs");
    assert_eq!(sans.iter().collect::<BTreeSet<_>>().len(), sans.len(), "{what}: duplicate SANs {sans:?}");

    // Extensions: exactly these, with exactly these values.
    let mut expected_exts = vec![
        "X509v3 Authority Key Identifier",
        "X509v3 Basic Constraints",
        "X509v3 Extended Key Usage",
        "X509v3 Key Usage",
        "X509v3 Subject Alternative Name",
        "X509v3 Subject Key Identifier",
    ];
    if want.crl {
        expected_exts.push("X509v3 CRL Distribution Points");
    }
    assert_eq!(sorted_owned(extension_names(&text)), sorted(&expected_exts), "{what}: extensions:\n{text}");
    let rsa = want.key_type.starts_with("rsa");
    let ku = if rsa { "Digital Signature, Key Encipherment" } else { "Digital Signature" };
    assert_eq!(extension(&text, "X509v3 Key Usage"), Some((true, ku.to_string())), "{what}: keyUsage");
    let eku = match want.profile {
        "server" => "TLS Web Server Authentication",
        "client" => "TLS Web Client Authentication",
        _ => "TLS Web Server Authentication, TLS Web Client Authentication",
    };
    let (_, got_eku) = extension(&text, "X509v3 Extended Key Usage").expect("EKU");
    assert_eq!(got_eku, eku, "{what}: extKeyUsage");
    assert_eq!(
        extension(&text, "X509v3 Basic Constraints"),
        Some((true, "CA:FALSE".to_string())),
        "{what}: basicConstraints"
    );
    let (_, ski) = extension(&text, "X509v3 Subject Key Identifier").expect("SKI");
    assert!(!key_id(&ski).is_empty(), "{what}: empty SKI");
    let (_, aki) = extension(&text, "X509v3 Authority Key Identifier").expect("AKI");
    let (_, inter_ski) =
        extension(&x509_text(&pki.inter_pem()), "X509v3 Subject Key Identifier").expect("CA SKI");
    assert_eq!(key_id(&aki), key_id(&inter_ski), "{what}: AKI is not the intermediate's SKI");
    assert_ne!(key_id(&ski), key_id(&inter_ski), "{what}: the leaf's SKI is the CA's");
    if want.crl {
        let (_, dp) = extension(&text, "X509v3 CRL Distribution Points").expect("CRL DP");
        let uris: Vec<&str> = dp.lines().filter_map(|l| l.strip_prefix("URI:")).collect();
        assert_eq!(uris, vec![format!("{CRL_BASE}/{INTER_SLUG}.crl")], "{what}: CRL DP:\n{dp}");
    }

    // Key.
    let (bits, curve) = key_size_and_curve(want.key_type);
    let marker = curve.map_or("rsaEncryption".to_string(), |c| format!("NIST CURVE: {c}"));
    assert!(
        text.contains(&format!("Public-Key: ({bits} bit)")) && text.contains(&marker),
        "{what}: key:\n{text}"
    );
    if want.generated_key {
        assert_mode(&f.key, 0o600);
        let pem = fs::read_to_string(&f.key).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{what}: key is not PKCS#8 PEM");
        assert_eq!(key_public(&f.key), cert_public(&f.crt), "{what}: NAME.key does not match NAME.crt");
    } else {
        assert!(!f.key.exists(), "{what}: a key file was written for a CSR");
    }

    // Validity and serial.
    let (not_before, not_after) = validity_of(&f.crt);
    let (start, end) = want.window;
    assert!(
        (start - BACKDATE..=end - BACKDATE).contains(&not_before),
        "{what}: notBefore {} is not 5 minutes before issuance ({}..{})",
        rfc3339(not_before),
        rfc3339(start),
        rfc3339(end)
    );
    assert!(
        (start + want.validity..=end + want.validity).contains(&not_after),
        "{what}: notAfter {} is not issuance + {}s",
        rfc3339(not_after),
        want.validity
    );
    assert_good_serial(&f.crt, &text);
}

/// Issues one leaf with a generated key and checks it.
#[allow(clippy::too_many_arguments)]
fn issue_and_check(
    pki: &Pki,
    profile: &str,
    key_type: &str,
    name: &str,
    extra: &[&str],
    sans: &[&str],
    crl: bool,
) {
    let out = pki.out(&format!("out-{profile}-{key_type}"));
    let mut args = vec!["issue", profile, name, "--key-type", key_type, "--out", &out];
    args.extend(extra);
    let validity = match extra.iter().position(|a| *a == "--validity") {
        Some(i) => match extra[i + 1] {
            "30d" => 30 * DAY,
            other => panic!("unexpected --validity {other}"),
        },
        None => 90 * DAY,
    };
    let start = now_unix();
    pki.ok(&args);
    let end = now_unix();
    let f = files(&out, name);
    assert_eq!(
        dir_entries(Path::new(&out)),
        sorted(&[
            &format!("{name}.chain.pem"),
            &format!("{name}.crt"),
            &format!("{name}.fullchain.pem"),
            &format!("{name}.key")
        ]),
        "files written"
    );
    check_leaf(
        pki,
        &f,
        &Want {
            profile,
            key_type,
            common_name: name,
            sans: sans.iter().map(|s| s.to_string()).collect(),
            crl,
            validity,
            window: (start, end),
            generated_key: true,
        },
    );
}

// ---------------------------------------------------------------------------------------------
// 1. Profiles × key types
// ---------------------------------------------------------------------------------------------

#[test]
fn server_certificates_for_each_key_type() {
    let pki = Pki::init(&["--crl-url", CRL_BASE]);
    for key_type in ["p256", "p384", "rsa2048", "rsa3072"] {
        let name = format!("{key_type}.example.com");
        issue_and_check(
            &pki,
            "server",
            key_type,
            &name,
            &["--dns", "www.example.com", "--ip", "10.0.0.7"],
            &[&format!("DNS:{name}"), "DNS:www.example.com", "IP Address:10.0.0.7"],
            true,
        );
    }
}

#[test]
fn client_certificates_for_each_key_type() {
    let pki = Pki::init(&[]);
    for key_type in ["p256", "p384", "rsa2048", "rsa4096"] {
        let name = format!("{key_type}@example.com");
        issue_and_check(
            &pki,
            "client",
            key_type,
            &name,
            &["--validity", "30d", "--uri", "spiffe://example.org/ns/a/sa/b"],
            &[&format!("email:{name}"), "URI:spiffe://example.org/ns/a/sa/b"],
            false,
        );
    }
}

#[test]
fn peer_certificates_for_each_key_type() {
    let pki = Pki::init(&["--crl-url", CRL_BASE]);
    for key_type in ["p256", "p384", "rsa2048"] {
        let name = format!("node-{key_type}.cluster.local");
        issue_and_check(
            &pki,
            "peer",
            key_type,
            &name,
            &["--ip", "fd00::7", "--uri", "spiffe://example.org/ns/a/sa/b"],
            &[&format!("DNS:{name}"), "IP Address:FD00:0:0:0:0:0:0:7", "URI:spiffe://example.org/ns/a/sa/b"],
            true,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. NAME handling
// ---------------------------------------------------------------------------------------------

/// Issues and returns the certificate's SANs as OpenSSL prints them, and its subject.
fn issued_sans(pki: &Pki, args: &[&str], out: &str, stem: &str) -> (Vec<String>, String) {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--out", out]);
    pki.ok(&full);
    let crt = files(out, stem).crt;
    (sans_of(&x509_text(&crt)), subject_of(&crt))
}

#[test]
fn name_becomes_the_right_kind_of_san() {
    let pki = Pki::init_unencrypted(ROOT_NAME);
    let cases: Vec<(Vec<&str>, &str, Vec<&str>)> = vec![
        (vec!["issue", "server", "api.example.com"], "api.example.com", vec!["DNS:api.example.com"]),
        (vec!["issue", "server", "10.0.0.7"], "10.0.0.7", vec!["IP Address:10.0.0.7"]),
        (vec!["issue", "server", "fd00::7"], "fd00--7", vec!["IP Address:FD00:0:0:0:0:0:0:7"]),
        (
            vec!["issue", "server", "*.apps.example.com"],
            "wildcard.apps.example.com",
            vec!["DNS:*.apps.example.com"],
        ),
        (
            vec!["issue", "peer", "node1.cluster.local"],
            "node1.cluster.local",
            vec!["DNS:node1.cluster.local"],
        ),
        (vec!["issue", "peer", "10.0.0.11"], "10.0.0.11", vec!["IP Address:10.0.0.11"]),
        (vec!["issue", "client", "alice@example.com"], "alice@example.com", vec!["email:alice@example.com"]),
        (
            vec!["issue", "client", "spiffe://example.org/ns/a/sa/b"],
            "spiffe---example.org-ns-a-sa-b",
            vec!["URI:spiffe://example.org/ns/a/sa/b"],
        ),
        (
            vec!["issue", "client", "device-42.fleet.example.com"],
            "device-42.fleet.example.com",
            vec!["DNS:device-42.fleet.example.com"],
        ),
    ];
    for (i, (args, stem, want)) in cases.into_iter().enumerate() {
        let out = pki.out(&format!("names-{i}"));
        let (sans, subject) = issued_sans(&pki, &args, &out, stem);
        assert_eq!(sans, want, "{args:?}");
        assert_eq!(subject, format!("CN = {}", args[2]), "{args:?}");
    }
}

#[test]
fn plain_words_need_an_explicit_san() {
    let pki = Pki::init_unencrypted(ROOT_NAME);
    for profile in ["client", "server", "peer"] {
        let out = pki.out(&format!("words-{profile}"));
        let stderr = pki.refused(&["issue", profile, "Billing Service", "--out", &out], &out);
        assert!(stderr.contains("Billing Service"), "{profile}: {stderr}");
        let hint = if profile == "client" { "--email" } else { "--dns" };
        assert!(stderr.contains(hint), "{profile}: the message does not suggest {hint}: {stderr}");
    }
    // A client may take any kind of SAN; server and peer need a DNS name or IP address.
    let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        ("client", vec!["--dns", "billing.example.com"], vec!["DNS:billing.example.com"]),
        ("client", vec!["--email", "billing@example.com"], vec!["email:billing@example.com"]),
        (
            "client",
            vec!["--uri", "spiffe://example.org/ns/billing/sa/api"],
            vec!["URI:spiffe://example.org/ns/billing/sa/api"],
        ),
        ("server", vec!["--dns", "billing.example.com"], vec!["DNS:billing.example.com"]),
        ("server", vec!["--ip", "10.9.8.7"], vec!["IP Address:10.9.8.7"]),
        ("peer", vec!["--dns", "billing.svc"], vec!["DNS:billing.svc"]),
    ];
    for (i, (profile, flags, want)) in cases.into_iter().enumerate() {
        let out = pki.out(&format!("words-ok-{i}"));
        let mut args = vec!["issue", profile, "Billing Service"];
        args.extend(&flags);
        let (sans, subject) = issued_sans(&pki, &args, &out, "Billing-Service");
        assert_eq!(sans, want, "{args:?}");
        assert_eq!(subject, "CN = Billing Service", "{args:?}");
    }
    // A URI alone does not make a server or peer certificate.
    let out = pki.out("uri-only-peer");
    pki.refused(
        &["issue", "peer", "Billing Service", "--uri", "spiffe://example.org/x", "--out", &out],
        &out,
    );
}

#[test]
fn duplicate_and_upper_case_names_are_normalised() {
    let pki = Pki::init_unencrypted(ROOT_NAME);
    let out = pki.out("dups");
    let (sans, subject) = issued_sans(
        &pki,
        &[
            "issue",
            "server",
            "Api.Example.COM",
            "--dns",
            "API.EXAMPLE.COM",
            "--dns",
            "api.example.com",
            "--dns",
            "Www.Example.Com",
            "--dns",
            "www.example.com",
            "--ip",
            "10.0.0.1",
            "--ip",
            "10.0.0.1",
            "--ip",
            "FD00:0::1",
            "--ip",
            "fd00::1",
        ],
        &out,
        "Api.Example.COM",
    );
    assert_eq!(
        sans,
        vec![
            "DNS:api.example.com",
            "DNS:www.example.com",
            "IP Address:10.0.0.1",
            "IP Address:FD00:0:0:0:0:0:0:1"
        ]
    );
    // The CN keeps what the operator typed; only the SAN is normalised.
    assert_eq!(subject, "CN = Api.Example.COM");

    let out = pki.out("dups-client");
    let (sans, _) = issued_sans(
        &pki,
        &[
            "issue",
            "client",
            "alice@example.com",
            "--email",
            "alice@EXAMPLE.com",
            "--uri",
            "spiffe://example.org/a",
            "--uri",
            "spiffe://example.org/a",
        ],
        &out,
        "alice@example.com",
    );
    assert_eq!(sans, vec!["email:alice@example.com", "URI:spiffe://example.org/a"]);
}

// ---------------------------------------------------------------------------------------------
// 3. Validation refusals
// ---------------------------------------------------------------------------------------------

const BAD_DNS: [&str; 9] = [
    "a..b",
    "-a.com",
    "a-.com",
    "*.*.x",
    "*.com",
    "bücher.example",
    "foo_bar.example",
    "example.com.",
    "a b.example.com",
];

#[test]
fn bad_dns_names_are_refused() {
    let pki = Pki::init(&[]);
    let long_label = format!("{}.example.com", "a".repeat(64));
    let too_long = vec!["a".repeat(63); 4].join(".");
    let mut names: Vec<&str> = BAD_DNS.to_vec();
    names.push(&long_label);
    names.push(&too_long);
    let mut i = 0;
    for name in &names {
        for profile in ["server", "client", "peer"] {
            i += 1;
            let out = pki.out(&format!("bad-dns-{i}"));
            let flag = format!("--dns={name}");
            let stderr = pki.refused(&["issue", profile, "ok.example.com", &flag, "--out", &out], &out);
            // Quoted by at most a 40-character prefix (long input is never echoed whole).
            let quoted: String = name.chars().take(40).collect();
            assert!(
                stderr.contains(&format!("\"{quoted}")),
                "{profile} --dns {name}: the message does not name it: {stderr}"
            );
            assert!(stderr.contains("invalid DNS name"), "{profile} --dns {name}: {stderr}");
        }
    }
    // As the server's NAME (with no other SAN) they are not host names, so no DNS SAN: refused.
    // The 253+ character name is refused as too long a common name.
    for name in &names {
        i += 1;
        let out = pki.out(&format!("bad-dns-{i}"));
        let stderr = pki.refused(&["issue", "server", "--out", &out, "--", name], &out);
        assert!(stderr.contains(&name[..name.len().min(20)]), "server NAME {name}: {stderr}");
    }
    // Punycode is the accepted form of the same name.
    let out = pki.out("punycode");
    let (sans, _) =
        issued_sans(&pki, &["issue", "server", "xn--bcher-kva.example"], &out, "xn--bcher-kva.example");
    assert_eq!(sans, vec!["DNS:xn--bcher-kva.example"]);
}

#[test]
fn bad_ip_addresses_are_refused() {
    let pki = Pki::init(&[]);
    for (i, ip) in
        ["10.0.0.256", "1.2.3", "fd00:::7", "10.0.0.1/24", "host.example.com", ""].iter().enumerate()
    {
        for profile in ["server", "peer"] {
            let out = pki.out(&format!("bad-ip-{profile}-{i}"));
            let flag = format!("--ip={ip}");
            let stderr = pki.refused(&["issue", profile, "ok.example.com", &flag, "--out", &out], &out);
            assert!(
                stderr.contains(&format!("\"{ip}\"")),
                "{profile} --ip {ip}: the message does not name it: {stderr}"
            );
            assert!(stderr.contains("invalid IP address"), "{profile} --ip {ip}: {stderr}");
        }
    }
    // A NAME that is a malformed IPv6 address is no host name either.
    let out = pki.out("bad-ip-name");
    pki.refused(&["issue", "server", "fd00:::7", "--out", &out], &out);
}

/// A server NAME that looks like a dotted IPv4 address but is not one must not become a DNS
/// SAN: a name whose last label is all digits is not a host name (RFC 1123 §2.1), and rustls
/// (rustls-pki-types `DnsName`) and the WHATWG URL parser refuse such names, so the
/// certificate could never match. It is almost certainly a mistyped IP address.
#[test]
fn dotted_numbers_are_not_dns_names() {
    let pki = Pki::init_unencrypted(ROOT_NAME);
    for (i, name) in ["10.0.0.256", "1.2.3", "192.168.1"].iter().enumerate() {
        let out = pki.out(&format!("numeric-name-{i}"));
        let stderr = pki.refused(&["issue", "server", name, "--out", &out], &out);
        assert!(stderr.contains(name), "{stderr}");
        let out = pki.out(&format!("numeric-dns-{i}"));
        let flag = format!("--dns={name}");
        pki.refused(&["issue", "server", "ok.example.com", &flag, "--out", &out], &out);
    }
}

#[test]
fn bad_emails_and_uris_are_refused() {
    let pki = Pki::init(&[]);
    let cases = [
        ("--email", "alice"),
        ("--email", "@example.com"),
        ("--email", "a b@example.com"),
        ("--email", "alice@ex..com"),
        ("--email", "alice@*.example.com"),
        ("--uri", "no-scheme"),
        ("--uri", "spiffe://Example.org/x"),
        ("--uri", "spiffe://example.org"),
        ("--uri", "spiffe://example.org/a//b"),
        ("--uri", "http://a b"),
    ];
    for (i, (flag, value)) in cases.iter().enumerate() {
        let out = pki.out(&format!("bad-name-{i}"));
        let arg = format!("{flag}={value}");
        let stderr = pki.refused(&["issue", "client", "Billing Service", &arg, "--out", &out], &out);
        assert!(stderr.contains(value), "{flag} {value}: the message does not name it: {stderr}");
    }
}

#[test]
fn bad_durations_are_refused() {
    let pki = Pki::init(&[]);
    for (i, d) in ["-1d", "0d", "99999y", "10", "1.5d", "1D", "", "d", "36501d"].iter().enumerate() {
        for profile in ["server", "client"] {
            let out = pki.out(&format!("bad-validity-{profile}-{i}"));
            let flag = format!("--validity={d}");
            let stderr = pki.refused(&["issue", profile, "ok.example.com", &flag, "--out", &out], &out);
            assert!(stderr.contains("--validity"), "{d}: {stderr}");
            assert!(
                stderr.contains(&format!("\"{d}\"")),
                "{d}: the message does not quote the input: {stderr}"
            );
        }
        let out = pki.out(&format!("bad-validity-sign-{i}"));
        let flag = format!("--validity={d}");
        pki.refused(&["sign", &csr_arg("p256.csr"), "--profile", "server", &flag, "--out", &out], &out);
    }
}

#[test]
fn long_names_and_too_many_sans_are_refused() {
    let pki = Pki::init_unencrypted(ROOT_NAME);
    // The CN limit is 64 characters.
    let name65 = "n".repeat(65);
    let out = pki.out("cn-65");
    let stderr = pki.refused(&["issue", "client", &name65, "--email", "a@example.com", "--out", &out], &out);
    assert!(stderr.contains("64"), "{stderr}");
    let out = pki.out("cn-65-server");
    pki.refused(&["issue", "server", &name65, "--dns", "ok.example.com", "--out", &out], &out);
    let name64 = "n".repeat(64);
    let out = pki.out("cn-64");
    let (sans, subject) =
        issued_sans(&pki, &["issue", "client", &name64, "--email", "a@example.com"], &out, &name64);
    assert_eq!(sans, vec!["email:a@example.com"]);
    assert_eq!(subject, format!("CN = {name64}"));
    // A long host name goes in --dns under a short NAME.
    let long_host = format!("{}.example.com", vec!["a".repeat(60); 3].join("."));
    let out = pki.out("long-host");
    let (sans, _) = issued_sans(&pki, &["issue", "server", "short", "--dns", &long_host], &out, "short");
    assert_eq!(sans, vec!["DNS:short".to_string(), format!("DNS:{long_host}")]);

    // At most 100 SANs: NAME + 99 flags is fine, NAME + 100 is not.
    let dns: Vec<String> = (0..100).map(|i| format!("--dns=h{i}.example.com")).collect();
    let out = pki.out("sans-101");
    let mut args = vec!["issue", "server", "api.example.com", "--out", &out];
    args.extend(dns.iter().map(String::as_str));
    let stderr = pki.refused(&args, &out);
    assert!(stderr.contains("100"), "{stderr}");
    let out = pki.out("sans-100");
    let mut args = vec!["issue", "server", "api.example.com", "--out", &out];
    args.extend(dns[..99].iter().map(String::as_str));
    pki.ok(&args);
    assert_eq!(sans_of(&x509_text(&files(&out, "api.example.com").crt)).len(), 100);
}

#[test]
fn unknown_ca_is_refused() {
    let pki = Pki::init(&[]);
    let out = pki.out("unknown-ca");
    let stderr = pki.refused(&["issue", "server", "api.example.com", "--ca", "Nope CA", "--out", &out], &out);
    assert!(stderr.contains("Nope CA"), "{stderr}");
    let out = pki.out("unknown-ca-sign");
    let stderr = pki.refused(
        &["sign", &csr_arg("p256.csr"), "--profile", "server", "--ca", "Nope CA", "--out", &out],
        &out,
    );
    assert!(stderr.contains("Nope CA"), "{stderr}");
    // The issuing CA by name, and by slug, works.
    for (i, ca) in [INTER, INTER_SLUG].iter().enumerate() {
        let out = pki.out(&format!("known-ca-{i}"));
        pki.ok(&["issue", "server", "api.example.com", "--ca", ca, "--out", &out]);
        assert_eq!(issuer_of(&files(&out, "api.example.com").crt), format!("CN = {INTER}"));
    }
}

#[test]
fn validity_past_the_intermediate_is_refused_with_both_dates() {
    let pki = Pki::init(&["--intermediate-validity", "30d"]);
    let (_, inter_not_after) = validity_of(&pki.inter_pem());
    for (i, validity) in ["60d", "90d", "31d"].iter().enumerate() {
        let out = pki.out(&format!("too-long-{i}"));
        let days: i64 = validity.trim_end_matches('d').parse().unwrap();
        let start = now_unix();
        let stderr = pki.refused_late(
            &["issue", "server", "api.example.com", "--validity", validity, "--out", &out],
            &out,
        );
        let end = now_unix();
        assert!(
            stderr.contains(&date_of(inter_not_after)),
            "--validity {validity}: the message does not give the CA's notAfter {}: {stderr}",
            date_of(inter_not_after)
        );
        let requested = [date_of(start + days * DAY), date_of(end + days * DAY)];
        assert!(
            requested.iter().any(|d| stderr.contains(d.as_str())),
            "--validity {validity}: the message does not give the requested end {requested:?}: {stderr}"
        );
        assert!(stderr.contains(INTER), "{stderr}");
    }
    // Same for sign.
    let out = pki.out("too-long-sign");
    pki.refused_late(
        &["sign", &csr_arg("p256.csr"), "--profile", "server", "--validity", "60d", "--out", &out],
        &out,
    );
    // Within the CA's lifetime it works, and ends before the CA.
    let out = pki.out("fits");
    pki.ok(&["issue", "server", "api.example.com", "--validity", "29d", "--out", &out]);
    let (_, not_after) = validity_of(&files(&out, "api.example.com").crt);
    assert!(not_after <= inter_not_after);
}

// ---------------------------------------------------------------------------------------------
// 4. CSRs
// ---------------------------------------------------------------------------------------------

#[test]
fn sign_csrs_of_each_supported_key_type() {
    let pki = Pki::init(&["--crl-url", CRL_BASE]);
    for (file, key_type, stem) in [
        ("p256.csr", "p256", "p256"),
        ("p384.csr", "p384", "p384"),
        ("rsa2048.csr", "rsa2048", "rsa2048"),
        ("rsa4096.csr", "rsa4096", "rsa4096"),
        ("p256.der", "p256", "p256"),
    ] {
        let out = pki.out(&format!("sign-{file}"));
        let start = now_unix();
        let output = pki.ok(&["sign", &csr_arg(file), "--profile", "server", "--out", &out]);
        let end = now_unix();
        assert!(!stderr_of(&output).contains("warning"), "{file}: {}", stderr_of(&output));
        let name = format!("{stem}.example.com");
        let f = files(&out, &name);
        assert_eq!(
            dir_entries(Path::new(&out)),
            sorted(&[&format!("{name}.chain.pem"), &format!("{name}.crt"), &format!("{name}.fullchain.pem")]),
            "{file}: files written (no key for a CSR)"
        );
        assert_eq!(
            cert_public(&f.crt),
            csr_public(&csr_file(file)),
            "{file}: the certified key is not the CSR's"
        );
        // Only the CN of the CSR's subject (not O=Acme); SANs from the CSR.
        check_leaf(
            &pki,
            &f,
            &Want {
                profile: "server",
                key_type,
                common_name: &name,
                sans: vec![
                    format!("DNS:{name}"),
                    format!("DNS:alt-{name}"),
                    "IP Address:10.1.1.1".to_string(),
                ],
                crl: true,
                validity: 90 * DAY,
                window: (start, end),
                generated_key: false,
            },
        );
    }
}

#[test]
fn sign_with_each_profile_and_issue_with_csr() {
    let pki = Pki::init(&[]);
    let p256 = csr_arg("p256.csr");
    let want_sans = ["DNS:p256.example.com", "DNS:alt-p256.example.com", "IP Address:10.1.1.1"];
    for profile in ["client", "peer"] {
        let out = pki.out(&format!("sign-{profile}"));
        let start = now_unix();
        pki.ok(&["sign", &p256, "--profile", profile, "--validity", "30d", "--out", &out]);
        let end = now_unix();
        let f = files(&out, "p256.example.com");
        assert_eq!(cert_public(&f.crt), csr_public(&csr_file("p256.csr")));
        check_leaf(
            &pki,
            &f,
            &Want {
                profile,
                key_type: "p256",
                common_name: "p256.example.com",
                sans: want_sans.iter().map(|s| s.to_string()).collect(),
                crl: false,
                validity: 30 * DAY,
                window: (start, end),
                generated_key: false,
            },
        );
    }

    // issue … --csr: NAME is the CN (and a SAN), the CSR's SANs are added, the key is the
    // CSR's; --key-type (which would make a new key) is refused next to --csr.
    let out = pki.out("issue-csr-key-type");
    let stderr = pki.refused(
        &[
            "issue",
            "server",
            "api.example.com",
            "--csr",
            &csr_arg("p384.csr"),
            "--key-type",
            "rsa4096",
            "--out",
            &out,
        ],
        &out,
    );
    assert!(stderr.contains("--key-type"), "{stderr}");
    for (i, (file, key_type)) in
        [("p384.csr", "p384"), ("rsa2048.csr", "rsa2048"), ("p256.der", "p256")].iter().enumerate()
    {
        let out = pki.out(&format!("issue-csr-{i}"));
        let start = now_unix();
        pki.ok(&["issue", "server", "api.example.com", "--csr", &csr_arg(file), "--out", &out]);
        let end = now_unix();
        let f = files(&out, "api.example.com");
        assert_eq!(cert_public(&f.crt), csr_public(&csr_file(file)), "{file}");
        let stem = file.split('.').next().unwrap();
        check_leaf(
            &pki,
            &f,
            &Want {
                profile: "server",
                key_type,
                common_name: "api.example.com",
                sans: vec![
                    "DNS:api.example.com".to_string(),
                    format!("DNS:{stem}.example.com"),
                    format!("DNS:alt-{stem}.example.com"),
                    "IP Address:10.1.1.1".to_string(),
                ],
                crl: false,
                validity: 90 * DAY,
                window: (start, end),
                generated_key: false,
            },
        );
    }
    // issue client with a CSR and explicit SAN flags: the flags replace the CSR's SANs.
    let out = pki.out("issue-csr-flags");
    pki.ok(&[
        "issue",
        "client",
        "Billing Service",
        "--csr",
        &p256,
        "--email",
        "billing@example.com",
        "--out",
        &out,
    ]);
    let crt = files(&out, "Billing-Service").crt;
    assert_eq!(sans_of(&x509_text(&crt)), vec!["email:billing@example.com"]);
    assert_eq!(subject_of(&crt), "CN = Billing Service");
    assert_eq!(cert_public(&crt), csr_public(&csr_file("p256.csr")));
}

#[test]
fn sign_name_and_san_flags_override_the_csr() {
    let pki = Pki::init(&[]);
    let p256 = csr_arg("p256.csr");
    // --name replaces the CN (and file name); the CSR's SANs stay.
    let out = pki.out("override-name");
    let (sans, subject) = issued_sans(
        &pki,
        &["sign", &p256, "--profile", "server", "--name", "svc.example.com"],
        &out,
        "svc.example.com",
    );
    assert_eq!(subject, "CN = svc.example.com");
    assert_eq!(
        sorted_owned(sans),
        sorted(&[
            "DNS:svc.example.com",
            "DNS:p256.example.com",
            "DNS:alt-p256.example.com",
            "IP Address:10.1.1.1"
        ])
    );
    // --dns replaces the CSR's SANs; the CSR's CN stays (and, being a host name, is a SAN).
    let out = pki.out("override-dns");
    let (sans, subject) = issued_sans(
        &pki,
        &["sign", &p256, "--profile", "server", "--dns", "x.example.com"],
        &out,
        "p256.example.com",
    );
    assert_eq!(subject, "CN = p256.example.com");
    assert_eq!(sorted_owned(sans), sorted(&["DNS:p256.example.com", "DNS:x.example.com"]));
    // Both.
    let out = pki.out("override-both");
    let (sans, subject) = issued_sans(
        &pki,
        &[
            "sign",
            &p256,
            "--profile",
            "peer",
            "--name",
            "Orders",
            "--dns",
            "orders.svc",
            "--uri",
            "spiffe://example.org/ns/o/sa/orders",
        ],
        &out,
        "Orders",
    );
    assert_eq!(subject, "CN = Orders");
    // "Orders" is a (one-label) host name, so it is a DNS SAN too.
    assert_eq!(
        sorted_owned(sans),
        sorted(&["DNS:orders", "DNS:orders.svc", "URI:spiffe://example.org/ns/o/sa/orders"])
    );
    // Flags are validated like on `issue`.
    let out = pki.out("override-bad");
    pki.refused(&["sign", &p256, "--profile", "server", "--dns", "a..b", "--out", &out], &out);
    let out = pki.out("override-bad-name");
    pki.refused(&["sign", &p256, "--profile", "client", "--name", &"n".repeat(65), "--out", &out], &out);
}

#[test]
fn a_csr_asking_for_ca_gets_a_leaf_and_a_warning() {
    let pki = Pki::init(&[]);
    let out = pki.out("wants-ca");
    let output = pki.ok(&["sign", &csr_arg("wants-ca.csr"), "--profile", "server", "--out", &out]);
    let stderr = stderr_of(&output);
    assert!(stderr.contains("warning"), "no warning: {stderr:?}");
    assert!(stderr.contains("CA:TRUE"), "the warning does not say CA:TRUE was ignored: {stderr:?}");
    assert!(stderr.contains("keyCertSign"), "the warning does not say keyCertSign was ignored: {stderr:?}");
    let f = files(&out, "wants-ca.example.com");
    let text = x509_text(&f.crt);
    assert_eq!(extension(&text, "X509v3 Basic Constraints"), Some((true, "CA:FALSE".to_string())));
    assert_eq!(extension(&text, "X509v3 Key Usage"), Some((true, "Digital Signature".to_string())));
    assert!(!text.contains("Certificate Sign"), "{text}");
    assert_purposes(&pki, &f, "server");
    // OpenSSL agrees it is no CA.
    let purpose = openssl_ok([os("x509"), os("-in"), f.crt.as_os_str(), os("-noout"), os("-purpose")]);
    assert!(purpose.contains("SSL server CA : No"), "{purpose}");

    // With --json the warnings are in the object, and stdout is still one object.
    let out = pki.out("wants-ca-json");
    let output = pki.ok(&["--json", "sign", &csr_arg("wants-ca.csr"), "--profile", "client", "--out", &out]);
    let report = json_object(&output);
    let warnings = report["warnings"].as_array().expect("warnings array");
    assert_eq!(warnings.len(), 2, "{report}");
}

#[test]
fn a_csr_without_san_needs_one_for_server() {
    let pki = Pki::init(&[]);
    let no_san = csr_arg("no-san.csr");
    for profile in ["server", "peer", "client"] {
        let out = pki.out(&format!("no-san-{profile}"));
        let stderr = pki.refused(&["sign", &no_san, "--profile", profile, "--out", &out], &out);
        assert!(stderr.contains("Billing Service"), "{stderr}");
    }
    let out = pki.out("no-san-issue");
    pki.refused(&["issue", "server", "Billing Service", "--csr", &no_san, "--out", &out], &out);
    let out = pki.out("no-san-dns");
    let (sans, subject) = issued_sans(
        &pki,
        &["sign", &no_san, "--profile", "server", "--dns", "x.example.com"],
        &out,
        "Billing-Service",
    );
    assert_eq!(sans, vec!["DNS:x.example.com"]);
    assert_eq!(subject, "CN = Billing Service");
    let f = files(&out, "Billing-Service");
    assert_purposes(&pki, &f, "server");
    assert_eq!(cert_public(&f.crt), csr_public(&csr_file("no-san.csr")));
}

#[test]
fn csr_sans_are_validated_and_filtered_by_profile() {
    let pki = Pki::init(&[]);
    // A bad DNS name inside the CSR is refused like on the command line.
    let out = pki.out("bad-san");
    let stderr = pki.refused(&["sign", &csr_arg("bad-san.csr"), "--profile", "server", "--out", &out], &out);
    assert!(stderr.contains("foo_bar.example"), "{stderr}");
    // Upper case and duplicates are normalised.
    let out = pki.out("mixed");
    let (sans, subject) = issued_sans(
        &pki,
        &["sign", &csr_arg("mixed-case.csr"), "--profile", "server"],
        &out,
        "Mixed.Example.COM",
    );
    assert_eq!(sorted_owned(sans), sorted(&["DNS:mixed.example.com", "DNS:api.example.com"]));
    assert_eq!(subject, "CN = Mixed.Example.COM");
    // A client request: email and URI kept on a client certificate …
    let client = csr_arg("client-names.csr");
    let out = pki.out("client-names");
    let (sans, _) = issued_sans(&pki, &["sign", &client, "--profile", "client"], &out, "Billing-Service");
    assert_eq!(sans, vec!["email:billing@example.com", "URI:spiffe://example.org/ns/billing/sa/api"]);
    // … but a server certificate carries neither, so nothing is left: refused.
    let out = pki.out("client-names-server");
    pki.refused(&["sign", &client, "--profile", "server", "--out", &out], &out);
    // Given a DNS name, the server certificate is issued and drops the email/URI.
    let out = pki.out("client-names-server-dns");
    pki.ok(&["sign", &client, "--profile", "server", "--dns", "billing.example.com", "--out", &out]);
    assert_eq!(sans_of(&x509_text(&files(&out, "Billing-Service").crt)), vec!["DNS:billing.example.com"]);
}

/// Every refused CSR: (file, fragments of which at least one must appear in the message).
const BAD_CSRS: [(&str, &[&str]); 11] = [
    ("rsa1024.csr", &["1024"]),
    ("p521.csr", &["P-521", "secp521r1", "1.3.132.0.35"]),
    ("ed25519.csr", &["Ed25519", "1.3.101.112"]),
    ("rsa-pss.csr", &["PSS", "1.2.840.113549.1.1.10"]),
    ("sha1.csr", &["SHA-1", "SHA1", "1.2.840.113549.1.1.5"]),
    ("bad-signature.der", &["signature"]),
    ("garbage.csr", &["not a PKCS#10", "not a CSR", "not a certificate signing request"]),
    ("empty.csr", &["empty"]),
    ("truncated.csr", &["not a PKCS#10", "truncated"]),
    ("certificate.pem", &["is a certificate"]),
    ("no-such-file.csr", &["no-such-file.csr"]),
];

#[test]
fn bad_csrs_are_refused_with_a_message_naming_the_file() {
    let pki = Pki::init(&[]);
    for (file, fragments) in BAD_CSRS {
        let path = csr_arg(file);
        for (n, (how, args)) in [
            ("sign", vec!["sign", path.as_str(), "--profile", "server"]),
            ("issue --csr", vec!["issue", "server", "api.example.com", "--csr", path.as_str()]),
        ]
        .into_iter()
        .enumerate()
        {
            let out = pki.out(&format!("bad-csr-{file}-{n}"));
            let mut args = args.clone();
            args.extend(["--out", out.as_str()]);
            let stderr = pki.refused(&args, &out);
            assert!(stderr.contains(&path), "{how} {file}: the message does not name the file: {stderr}");
            let lower = stderr.to_ascii_lowercase();
            assert!(
                fragments.iter().any(|f| lower.contains(&f.to_ascii_lowercase())),
                "{how} {file}: the message has none of {fragments:?}: {stderr}"
            );
        }
    }
    let out = pki.out("rsa1024-client");
    let stderr = pki.refused(&["sign", &csr_arg("rsa1024.csr"), "--profile", "client", "--out", &out], &out);
    assert!(stderr.contains("weak"), "rsa1024: {stderr}");
}

/// README: "RSA keys under 2048 bits, other curves and other algorithms are refused with a
/// message naming them". Operators know curves and algorithms by name, not by OID.
#[test]
fn refused_csr_algorithms_are_named_in_words() {
    let pki = Pki::init(&[]);
    for (file, name) in
        [("p521.csr", "P-521"), ("ed25519.csr", "Ed25519"), ("rsa-pss.csr", "PSS"), ("sha1.csr", "SHA-1")]
    {
        let out = pki.out(&format!("named-{file}"));
        let stderr = pki.refused(&["sign", &csr_arg(file), "--profile", "server", "--out", &out], &out);
        assert!(stderr.to_ascii_lowercase().contains(&name.to_ascii_lowercase()), "{file}: {stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Ledger and uniqueness
// ---------------------------------------------------------------------------------------------

#[test]
fn the_ledger_records_each_issuance_with_an_event() {
    let pki = Pki::init(&[]);
    let (certs_before, events_before) = pki.rows();
    let inter_id: i64 = ledger_testing::authorities(&pki.home)
        .into_iter()
        .find(|a| a.name == INTER)
        .map(|a| a.id)
        .expect("the intermediate is in the ledger");
    let out = pki.out("ledger");
    /// (arguments, CN, profile, key_source, key_type, ledger SANs)
    type Case<'a> = (Vec<String>, &'a str, &'a str, &'a str, &'a str, Vec<&'a str>);
    let cases: Vec<Case<'_>> = vec![
        (
            vec!["issue".into(), "server".into(), "api.example.com".into(), "--ip".into(), "10.0.0.7".into()],
            "api.example.com",
            "server",
            "generated",
            "p256",
            vec!["DNS:api.example.com", "IP:10.0.0.7"],
        ),
        (
            vec![
                "issue".into(),
                "client".into(),
                "Billing Service".into(),
                "--email".into(),
                "billing@example.com".into(),
            ],
            "Billing Service",
            "client",
            "generated",
            "p256",
            vec!["email:billing@example.com"],
        ),
        (
            vec![
                "issue".into(),
                "peer".into(),
                "node1.cluster.local".into(),
                "--key-type".into(),
                "rsa2048".into(),
            ],
            "node1.cluster.local",
            "peer",
            "generated",
            "rsa2048",
            vec!["DNS:node1.cluster.local"],
        ),
        (
            vec!["sign".into(), csr_arg("p384.csr"), "--profile".into(), "server".into()],
            "p384.example.com",
            "server",
            "csr",
            "p384",
            vec!["DNS:p384.example.com", "DNS:alt-p384.example.com", "IP:10.1.1.1"],
        ),
        (
            vec![
                "issue".into(),
                "client".into(),
                "billing-api".into(),
                "--csr".into(),
                csr_arg("client-names.csr"),
            ],
            "billing-api",
            "client",
            "csr",
            "p256",
            // A one-word client NAME is a service name, not a host: it stays the CN only.
            vec!["email:billing@example.com", "URI:spiffe://example.org/ns/billing/sa/api"],
        ),
    ];
    for (n, (args, cn, profile, source, key_type, sans)) in cases.iter().enumerate() {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(["--out", &out]);
        pki.ok(&args);
        let crt = files(&out, &cn.replace(' ', "-")).crt;
        let serial = x509_serial(&crt).to_ascii_lowercase();
        let fingerprint = x509_sha256(&crt);
        assert_eq!(pki.rows(), (certs_before + n as i64 + 1, events_before + n as i64 + 1), "{args:?}");

        let row = ledger_testing::newest_certificate(&pki.home).expect("a certificate row");
        let (
            l_serial,
            l_profile,
            l_subject,
            l_cn,
            l_sans,
            l_key_type,
            l_source,
            l_der,
            l_fp,
            l_issuer,
            nb,
            na,
            auth,
        ) = (
            row.serial,
            row.profile,
            row.subject,
            row.common_name,
            row.sans,
            row.key_type,
            row.key_source,
            row.der,
            row.fingerprint_sha256,
            row.issuer_id,
            row.not_before,
            row.not_after,
            row.authority_id,
        );
        assert_eq!(l_serial, format!("{serial:0>40}"), "{args:?}: serial");
        assert_eq!(l_profile, *profile, "{args:?}");
        assert_eq!(l_subject, format!("CN={cn}"), "{args:?}");
        assert_eq!(l_cn.as_deref(), Some(*cn), "{args:?}");
        let l_sans: Vec<String> = serde_json::from_str(&l_sans).expect("sans is a JSON array of strings");
        assert_eq!(l_sans, *sans, "{args:?}: sans");
        assert_eq!(l_key_type, *key_type, "{args:?}");
        assert_eq!(l_source, *source, "{args:?}");
        assert_eq!(l_der, cert_der(&crt), "{args:?}: the ledger's DER is not the file's");
        assert_eq!(l_fp, fingerprint, "{args:?}");
        assert_eq!(l_issuer, inter_id, "{args:?}");
        assert_eq!((nb, na), validity_of(&crt), "{args:?}: validity");
        assert_eq!(auth, None, "{args:?}: a leaf is no authority");

        let event = ledger_testing::events(&pki.home).pop().expect("an event row");
        let (action, target, detail) = (event.action, event.target, event.detail);
        assert_eq!(action, "certificate.issue");
        assert_eq!(format!("{target:0>40}"), l_serial, "{args:?}: event target");
        let detail: Value = serde_json::from_str(&detail).expect("event detail is JSON");
        assert_eq!(detail["profile"], *profile, "{detail}");
        assert_eq!(detail["key_source"], *source, "{detail}");
        assert_eq!(detail["ca"], INTER, "{detail}");
        assert_eq!(detail["fingerprint_sha256"], fingerprint, "{detail}");
        assert_eq!(detail["sans"], serde_json::json!(sans), "{detail}");
    }
    assert_eq!(ledger_testing::event_count(&pki.home, "certificate.issue"), cases.len() as i64);
    // The ledger never holds a private key (neither the database nor its write-ahead log; on
    // PostgreSQL, no certificate or event row).
    let ledger: Vec<u8> = match fs::read(pki.home.join("ledger.db")) {
        Ok(mut file) => {
            file.extend(fs::read(pki.home.join("ledger.db-wal")).unwrap_or_default());
            file
        }
        Err(_) => {
            let certificates = ledger_testing::certificates(&pki.home);
            let events = ledger_testing::events(&pki.home);
            let rows = certificates.iter().flat_map(|c| [c.der.clone(), c.sans.as_bytes().to_vec()]);
            rows.chain(events.iter().map(|e| e.detail.as_bytes().to_vec())).flatten().collect()
        }
    };
    for stem in ["api.example.com", "Billing-Service", "node1.cluster.local"] {
        let key = Path::new(&out).join(format!("{stem}.key"));
        let der = openssl([os("pkey"), os("-in"), key.as_os_str(), os("-outform"), os("DER")]).stdout;
        assert!(der.len() > 32);
        assert!(!ledger.windows(der.len()).any(|w| w == der.as_slice()), "the ledger holds {stem}'s key");
    }
}

#[test]
fn many_client_certificates_have_distinct_serials() {
    const N: usize = 200;
    let pki = Pki::init_unencrypted(ROOT_NAME);
    let (before, _) = pki.rows();
    let out = pki.out("many");
    let started = std::time::Instant::now();
    for i in 0..N {
        pki.ok(&["issue", "client", &format!("c{i}.example.com"), "--out", &out]);
    }
    let elapsed = started.elapsed();
    eprintln!("{N} client certificates issued in {elapsed:?}");
    assert_eq!(pki.rows().0, before + N as i64);
    // One openssl run reads all N certificates (400 runs of `openssl x509` take seconds).
    let mut bundle = Vec::new();
    for i in 0..N {
        bundle.extend(fs::read(files(&out, &format!("c{i}.example.com")).crt).unwrap());
    }
    let bundle_path = pki.dir.path().join("all.pem");
    fs::write(&bundle_path, &bundle).unwrap();
    let text = openssl_ok([os("storeutl"), os("-noout"), os("-text"), os("-certs"), bundle_path.as_os_str()]);
    assert!(!text.contains("(Negative)"), "a negative serial");
    let lines: Vec<&str> = text.lines().collect();
    let mut serials = BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim().strip_prefix("Serial Number:") else { continue };
        // Serials of more than 8 octets are printed as colon-separated octets on the next line.
        assert!(rest.trim().is_empty(), "serial {rest:?} fits in 64 bits");
        let serial = lines[i + 1].trim().to_string();
        let octets: Vec<&str> = serial.split(':').collect();
        assert!(octets.iter().all(|o| o.len() == 2 && o.chars().all(|c| c.is_ascii_hexdigit())), "{serial}");
        assert!((8..=20).contains(&octets.len()), "serial {serial} has {} octets", octets.len());
        assert!(
            u8::from_str_radix(octets[0], 16).unwrap() < 0x80,
            "serial {serial} is not 16 unpadded octets"
        );
        assert!(octets.iter().any(|o| *o != "00"), "serial {serial} is zero");
        assert!(serials.insert(serial.clone()), "serial {serial} issued twice");
    }
    assert_eq!(serials.len(), N, "openssl read {} serials from {N} certificates", serials.len());
    let ledger_serials = listed_certificates(&pki.home, &["--profile", "client"])
        .iter()
        .map(|c| c["serial"].as_str().expect("serial").to_string())
        .collect::<BTreeSet<_>>()
        .len() as i64;
    assert_eq!(ledger_serials, N as i64);
}

#[test]
fn existing_files_are_kept_unless_forced() {
    let pki = Pki::init(&[]);
    let out = pki.out("force");
    pki.ok(&["issue", "server", "api.example.com", "--out", &out]);
    let f = files(&out, "api.example.com");
    let snapshot = snapshot_dir(Path::new(&out));
    let serial = x509_serial(&f.crt);
    let csr = csr_arg("p256.csr");

    // Without --force: refused before anything is signed, files and ledger untouched.
    for args in [
        vec!["issue", "server", "api.example.com", "--out", &out],
        vec!["issue", "client", "api.example.com", "--key-type", "rsa2048", "--out", &out],
        vec!["sign", "--name", "api.example.com", "--profile", "server", "--out", &out],
    ] {
        let mut args = args.clone();
        if args[0] == "sign" {
            args.insert(1, &csr);
        }
        let before = pki.rows();
        let output = pki.run(&args);
        let stderr = assert_error(&output, 2);
        assert!(stderr.contains("already exists"), "{args:?}: {stderr}");
        assert!(stderr.contains("--force"), "{args:?}: {stderr}");
        assert_eq!(pki.rows(), before, "{args:?} changed the ledger");
        assert_eq!(snapshot_dir(Path::new(&out)), snapshot, "{args:?} changed the files");
    }
    // Any one of the four files is enough to refuse.
    let lone = pki.out("lone");
    fs::create_dir(&lone).unwrap();
    fs::write(Path::new(&lone).join("web.example.com.chain.pem"), "mine\n").unwrap();
    let before = pki.rows();
    let stderr = assert_error(&pki.run(&["issue", "server", "web.example.com", "--out", &lone]), 2);
    assert!(stderr.contains("web.example.com.chain.pem"), "{stderr}");
    assert_eq!(pki.rows(), before);
    assert_eq!(fs::read_to_string(Path::new(&lone).join("web.example.com.chain.pem")).unwrap(), "mine\n");
    assert_eq!(dir_entries(Path::new(&lone)), vec!["web.example.com.chain.pem".to_string()]);

    // With --force: replaced by a new certificate and key, recorded in the ledger.
    let before = pki.rows();
    let start = now_unix();
    pki.ok(&["issue", "server", "api.example.com", "--force", "--key-type", "p384", "--out", &out]);
    let end = now_unix();
    assert_eq!(pki.rows(), (before.0 + 1, before.1 + 1));
    assert_ne!(x509_serial(&f.crt), serial, "the certificate was not replaced");
    assert_ne!(
        fs::read(&f.key).unwrap(),
        snapshot[Path::new("api.example.com.key")],
        "the key was not replaced"
    );
    check_leaf(
        &pki,
        &f,
        &Want {
            profile: "server",
            key_type: "p384",
            common_name: "api.example.com",
            sans: vec!["DNS:api.example.com".into()],
            crl: false,
            validity: 90 * DAY,
            window: (start, end),
            generated_key: true,
        },
    );
    let tmp_files: Vec<String> =
        dir_entries(Path::new(&out)).into_iter().filter(|n| n.starts_with('.')).collect();
    assert!(tmp_files.is_empty(), "temporary files left behind: {tmp_files:?}");
    pki.ok(&["issue", "server", "web.example.com", "--force", "--out", &lone]);
    assert_purposes(&pki, &files(&lone, "web.example.com"), "server");
}

// ---------------------------------------------------------------------------------------------
// 6. --json
// ---------------------------------------------------------------------------------------------

#[test]
fn json_output_is_one_object_matching_the_certificate() {
    let pki = Pki::init(&[]);
    for (i, args) in [
        vec!["--json", "issue", "client", "alice@example.com", "--uri", "spiffe://example.org/ns/a/sa/alice"],
        vec!["issue", "server", "api.example.com", "--ip", "10.0.0.7", "--json"],
        vec!["--json", "sign", "CSR", "--profile", "peer"],
    ]
    .into_iter()
    .enumerate()
    {
        let out = pki.out(&format!("json-{i}"));
        let csr = csr_arg("p256.csr");
        let mut args: Vec<&str> =
            args.into_iter().map(|a| if a == "CSR" { csr.as_str() } else { a }).collect();
        args.extend(["--out", &out]);
        let output = pki.ok(&args);
        let text = stdout_of(&output);
        assert_eq!(text.trim_end().lines().count(), 1, "{args:?}: stdout is not one line:\n{text}");
        let report = json_object(&output);
        let (stem, subject, sans, has_key): (&str, &str, Vec<&str>, bool) = match i {
            0 => (
                "alice@example.com",
                "CN=alice@example.com",
                vec!["email:alice@example.com", "URI:spiffe://example.org/ns/a/sa/alice"],
                true,
            ),
            1 => ("api.example.com", "CN=api.example.com", vec!["DNS:api.example.com", "IP:10.0.0.7"], true),
            _ => (
                "p256.example.com",
                "CN=p256.example.com",
                vec!["DNS:p256.example.com", "DNS:alt-p256.example.com", "IP:10.1.1.1"],
                false,
            ),
        };
        let f = files(&out, stem);
        assert_eq!(
            report["serial"].as_str().map(str::to_ascii_lowercase),
            Some(x509_serial(&f.crt).to_ascii_lowercase()),
            "{report}"
        );
        assert_eq!(report["subject"], subject, "{report}");
        assert_eq!(report["sans"], serde_json::json!(sans), "{report}");
        let (not_before, not_after) = validity_of(&f.crt);
        assert_eq!(report["not_after"], rfc3339(not_after), "{report}");
        assert_eq!(report["not_before"], rfc3339(not_before), "{report}");
        assert_eq!(report["fingerprint_sha256"], x509_sha256(&f.crt), "{report}");
        let fp = report["fingerprint_sha256"].as_str().unwrap();
        assert!(
            fp.len() == 64 && fp.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{fp}"
        );
        let files_obj = &report["files"];
        assert_eq!(files_obj["certificate"], f.crt.to_str().unwrap(), "{report}");
        assert_eq!(files_obj["chain"], f.chain.to_str().unwrap(), "{report}");
        assert_eq!(files_obj["fullchain"], f.fullchain.to_str().unwrap(), "{report}");
        if has_key {
            assert_eq!(files_obj["key"], f.key.to_str().unwrap(), "{report}");
        } else {
            assert_eq!(files_obj["key"], Value::Null, "{report}");
        }
        for path in [&f.crt, &f.chain, &f.fullchain] {
            assert!(path.is_file(), "{} missing", path.display());
        }
    }
    // Errors with --json: nothing on stdout.
    let out = pki.out("json-error");
    pki.refused(&["--json", "issue", "server", "Billing Service", "--out", &out], &out);
}

// ---------------------------------------------------------------------------------------------
// 7. Passphrases, 8. CA key permissions
// ---------------------------------------------------------------------------------------------

#[test]
fn a_wrong_passphrase_is_refused_and_changes_nothing() {
    let pki = Pki::init(&[]);
    let out = pki.out("wrong-pass");
    let before = pki.rows();
    let output = pkictl(&pki.home)
        .env("PKICTL_PASSPHRASE", WRONG_PASSPHRASE)
        .args(["issue", "server", "api.example.com", "--out", &out])
        .output()
        .unwrap();
    let stderr = assert_error(&output, 2);
    assert!(stderr.contains("wrong passphrase for"), "{stderr}");
    assert!(stderr.contains(INTER), "{stderr}");
    assert_eq!(pki.rows(), before);
    assert!(!Path::new(&out).exists() || dir_entries(Path::new(&out)).is_empty(), "files were written");

    // A wrong --passphrase-file is refused alike (and wins over a right $PKICTL_PASSPHRASE).
    let pass_file = pki.dir.path().join("wrong.pass");
    fs::write(&pass_file, format!("{WRONG_PASSPHRASE}\n")).unwrap();
    fs::set_permissions(&pass_file, <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600))
        .unwrap();
    let output = pki
        .cmd()
        .arg("--passphrase-file")
        .arg(&pass_file)
        .args(["sign", &csr_arg("p256.csr"), "--profile", "server", "--out", &out])
        .output()
        .unwrap();
    let stderr = assert_error(&output, 2);
    assert!(stderr.contains("wrong passphrase for"), "{stderr}");
    assert_eq!(pki.rows(), before);
    assert!(!Path::new(&out).exists() || dir_entries(Path::new(&out)).is_empty(), "files were written");

    // The right passphrase, from a file, works.
    let pass_file = pki.dir.path().join("right.pass");
    fs::write(&pass_file, format!("{PASSPHRASE}\n")).unwrap();
    fs::set_permissions(&pass_file, <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600))
        .unwrap();
    let output = pkictl(&pki.home)
        .arg("--passphrase-file")
        .arg(&pass_file)
        .args(["issue", "server", "api.example.com", "--out", &out])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(pki.rows(), (before.0 + 1, before.1 + 1));
}

#[test]
fn no_passphrase_source_is_refused_and_changes_nothing() {
    let pki = Pki::init(&[]);
    let before = pki.rows();
    for (i, args) in
        [vec!["issue", "client", "alice@example.com"], vec!["sign", "CSR", "--profile", "server"]]
            .into_iter()
            .enumerate()
    {
        let out = pki.out(&format!("no-pass-{i}"));
        let csr = csr_arg("p256.csr");
        let mut args: Vec<&str> =
            args.into_iter().map(|a| if a == "CSR" { csr.as_str() } else { a }).collect();
        args.extend(["--out", &out]);
        // pkictl(): no PKICTL_PASSPHRASE and an empty, non-terminal stdin.
        let output = pkictl(&pki.home).args(&args).output().unwrap();
        let stderr = assert_error(&output, 2);
        assert!(stderr.contains("--passphrase-file"), "{stderr}");
        assert!(stderr.contains("PKICTL_PASSPHRASE"), "{stderr}");
        assert!(output.stdout.is_empty());
        assert_eq!(pki.rows(), before);
        assert!(!Path::new(&out).exists() || dir_entries(Path::new(&out)).is_empty(), "files were written");
    }
}

#[test]
fn a_group_readable_ca_key_is_refused() {
    let pki = Pki::init(&[]);
    let key = pki.inter_key();
    for mode in [0o640, 0o604, 0o644] {
        fs::set_permissions(&key, fs::Permissions::from_mode(mode)).unwrap();
        let out = pki.out(&format!("exposed-{mode:o}"));
        let stderr = pki.refused_late(&["issue", "server", "api.example.com", "--out", &out], &out);
        assert!(stderr.contains("chmod 600"), "mode {mode:o}: {stderr}");
        assert!(
            stderr.contains(key.to_str().unwrap()),
            "mode {mode:o}: the message does not name the key: {stderr}"
        );
        let out = pki.out(&format!("exposed-sign-{mode:o}"));
        pki.refused_late(&["sign", &csr_arg("p256.csr"), "--profile", "server", "--out", &out], &out);
        // pkictl does not "fix" the mode behind the operator's back.
        assert_mode(&key, mode);
    }
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let out = pki.out("fixed");
    pki.ok(&["issue", "server", "api.example.com", "--out", &out]);
}

/// README: exit 2 means "nothing was changed". A request refused once the CA is being
/// loaded (wrong passphrase, exposed key, validity past the CA) still creates `--out`.
#[test]
fn a_refused_issue_does_not_create_the_out_directory() {
    let pki = Pki::init(&["--intermediate-validity", "30d"]);
    let out = pki.out("late-1");
    let output = pkictl(&pki.home)
        .env("PKICTL_PASSPHRASE", WRONG_PASSPHRASE)
        .args(["issue", "server", "api.example.com", "--out", &out])
        .output()
        .unwrap();
    assert_error(&output, 2);
    assert!(!Path::new(&out).exists(), "wrong passphrase: {out} was created");
    let out = pki.out("late-2");
    pki.refused(&["issue", "server", "api.example.com", "--validity", "60d", "--out", &out], &out);
}

/// `sign --force` over an earlier `issue` of the same NAME replaces NAME.crt, NAME.chain.pem
/// and NAME.fullchain.pem but leaves the old NAME.key, which no longer matches NAME.crt: a
/// server configured with the directory's pair then fails at start-up ("key values mismatch").
#[test]
fn sign_with_force_leaves_no_mismatched_key() {
    let pki = Pki::init_unencrypted(ROOT_NAME);
    let out = pki.out("stale-key");
    pki.ok(&["issue", "server", "p256.example.com", "--out", &out]);
    let output = pki.run(&["sign", &csr_arg("p256.csr"), "--profile", "server", "--force", "--out", &out]);
    let f = files(&out, "p256.example.com");
    if output.status.success() {
        assert!(
            !f.key.exists() || key_public(&f.key) == cert_public(&f.crt),
            "{} is left behind and does not match the new {}",
            f.key.display(),
            f.crt.display()
        );
    } else {
        // Refusing is fine too, as long as nothing changed.
        assert_error(&output, 2);
        assert_eq!(key_public(&f.key), cert_public(&f.crt));
    }
}
