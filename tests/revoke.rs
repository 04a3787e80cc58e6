//! End-to-end tests of `pkictl revoke`, `crl`, `list` and `show`, through the binary only.
//! The CRLs are judged by software we did not write: the `openssl` binary (`crl`, `verify
//! -crl_check[_all]`) and rustls/webpki in an in-memory mutual-TLS handshake. The ledger is
//! checked through `pkictl::ledger_testing`.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::tls::{mtls_handshake, mtls_handshake_with_versions};
use common::*;
use rustls::{CertificateError, Error as TlsError};
use serde_json::Value;

const ROOT: &str = "Revoke Root CA";
const ROOT_SLUG: &str = "revoke-root-ca";
const INTER: &str = "Revoke Root CA Issuing CA";
const INTER_SLUG: &str = "revoke-root-ca-issuing-ca";
const CRL_URL: &str = "http://crl.example.test/crl";
const SERVER_NAME: &str = "api.example.test";
const WRONG_PASSPHRASE: &str = "definitely not the passphrase";

/// Every reason pkictl accepts, with the name `openssl crl -text` prints for it
/// (None: no reasonCode extension, as RFC 5280 advises for unspecified).
const REASONS: [(&str, Option<&str>); 9] = [
    ("unspecified", None),
    ("key-compromise", Some("Key Compromise")),
    ("ca-compromise", Some("CA Compromise")),
    ("affiliation-changed", Some("Affiliation Changed")),
    ("superseded", Some("Superseded")),
    ("cessation-of-operation", Some("Cessation Of Operation")),
    ("certificate-hold", Some("Certificate Hold")),
    ("privilege-withdrawn", Some("Privilege Withdrawn")),
    ("aa-compromise", Some("AA Compromise")),
];

// ---------------------------------------------------------------------------------------------
// A home with a server and two clients.

impl Issued {
    /// (chain, key) for `mtls_handshake`'s client side.
    fn client(&self) -> Option<(&Path, &Path)> {
        Some((self.fullchain.as_path(), self.key()))
    }
}

/// What only these tests ask of the shared home fixture.
impl Pki {
    /// `init` with a passphrase (from PKICTL_PASSPHRASE) and a CRL URL.
    fn new() -> Pki {
        Pki::with_root(ROOT)
    }

    fn with_root(root_name: &str) -> Pki {
        Pki::init(&["--name", root_name, "--crl-url", CRL_URL])
    }

    /// root + intermediate in one PEM file, for `openssl verify -CAfile`.
    fn ca_bundle(&self) -> PathBuf {
        let path = self.work().join("ca-bundle.pem");
        let mut pem = fs::read(self.ca_cert(ROOT_SLUG)).unwrap();
        pem.extend(fs::read(self.ca_cert(INTER_SLUG)).unwrap());
        fs::write(&path, pem).unwrap();
        path
    }
}

/// A home with a server (`api.example.test`) and two clients (alice, bob).
struct Fixture {
    pki: Pki,
    server: Issued,
    alice: Issued,
    bob: Issued,
}

fn fixture() -> Fixture {
    let pki = Pki::new();
    let server = pki.issue("server", SERVER_NAME, &[], "out");
    let alice = pki.issue("client", "alice@example.test", &[], "out");
    let bob = pki.issue("client", "bob@example.test", &[], "out");
    Fixture { pki, server, alice, bob }
}

/// "4f1a09" → "4F:1A:09".
fn colon_upper(serial: &str) -> String {
    let upper = serial.to_ascii_uppercase();
    let bytes: Vec<&str> = (0..upper.len()).step_by(2).map(|i| &upper[i..i + 2]).collect();
    bytes.join(":")
}

// ---------------------------------------------------------------------------------------------
// OpenSSL's view of a CRL.

/// `openssl crl -in CRL [-inform DER] -noout -text` → stdout.
fn crl_text(crl: &Path) -> String {
    let mut args = vec![os("crl"), os("-in"), crl.as_os_str()];
    if !fs::read(crl).unwrap().starts_with(b"-----BEGIN") {
        args.extend([os("-inform"), os("DER")]);
    }
    args.extend([os("-noout"), os("-text")]);
    openssl_ok(args)
}

/// The CRL number (`openssl crl -crlnumber`).
fn crl_number(crl: &Path) -> u64 {
    let mut args = vec![os("crl"), os("-in"), crl.as_os_str()];
    if !fs::read(crl).unwrap().starts_with(b"-----BEGIN") {
        args.extend([os("-inform"), os("DER")]);
    }
    args.extend([os("-noout"), os("-crlnumber")]);
    let out = openssl_ok(args);
    let hex = out
        .trim()
        .strip_prefix("crlNumber=0x")
        .unwrap_or_else(|| panic!("unexpected -crlnumber output {out:?}"));
    u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("CRL number {hex:?} is not hex"))
}

/// lastUpdate and nextUpdate as Unix seconds (`openssl crl -lastupdate -nextupdate`).
fn crl_times(crl: &Path) -> (i64, i64) {
    let fields = openssl_fields([
        os("crl"),
        os("-in"),
        crl.as_os_str(),
        os("-noout"),
        os("-lastupdate"),
        os("-nextupdate"),
    ]);
    (
        openssl_date_unix(fields.get("lastUpdate").expect("lastUpdate")),
        openssl_date_unix(fields.get("nextUpdate").expect("nextUpdate")),
    )
}

/// The entries of `openssl crl -text`: upper-case serial → reason name (None: no reasonCode),
/// in the order the CRL lists them.
fn crl_entries(text: &str) -> Vec<(String, Option<String>)> {
    let mut entries: Vec<(String, Option<String>)> = Vec::new();
    let Some(start) = text.find("Revoked Certificates:") else {
        return entries;
    };
    let lines: Vec<&str> = text[start..].lines().skip(1).collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if let Some(serial) = line.strip_prefix("Serial Number: ") {
            entries.push((serial.trim().to_string(), None));
        } else if line.starts_with("X509v3 CRL Reason Code:") {
            let reason = lines.get(i + 1).expect("a reason after its header").trim().to_string();
            entries.last_mut().expect("a reason belongs to an entry").1 = Some(reason);
            i += 1;
        } else if line.starts_with("Signature Algorithm:") {
            break;
        }
        i += 1;
    }
    entries
}

fn crl_has_no_entries(text: &str) -> bool {
    text.contains("No Revoked Certificates.")
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Numeric order of hex serials without leading zeros.
fn serial_key(hex: &str) -> (usize, String) {
    let t = hex.trim_start_matches('0').to_ascii_uppercase();
    (t.len(), t)
}

/// `openssl crl -in PEM -outform DER`: the DER inside a PEM CRL, as OpenSSL re-encodes it.
fn pem_crl_der(pem: &Path) -> Vec<u8> {
    let out = openssl([os("crl"), os("-in"), pem.as_os_str(), os("-outform"), os("DER")]);
    assert!(out.status.success(), "openssl crl -outform DER: {}", stderr_of(&out));
    out.stdout
}

/// `openssl verify [-crl_check|-crl_check_all] -CAfile … -CRLfile …  -purpose sslclient CERT`:
/// (success, stdout + stderr).
fn verify_with_crls<P: AsRef<Path>>(
    flag: &str,
    ca_bundle: &Path,
    crls: &[P],
    cert: &Path,
    purpose: &str,
) -> (bool, String) {
    let mut args =
        vec![os("verify"), os(flag), os("-purpose"), os(purpose), os("-CAfile"), ca_bundle.as_os_str()];
    for crl in crls {
        args.extend([os("-CRLfile"), crl.as_ref().as_os_str()]);
    }
    args.push(cert.as_os_str());
    let out = openssl(&args);
    (out.status.success(), format!("{}{}", stdout_of(&out), stderr_of(&out)))
}

fn assert_verify_ok<P: AsRef<Path>>(flag: &str, ca_bundle: &Path, crls: &[P], cert: &Path, purpose: &str) {
    let (ok, text) = verify_with_crls(flag, ca_bundle, crls, cert, purpose);
    assert!(ok && text.contains(": OK"), "openssl verify {flag} rejected {}:\n{text}", cert.display());
}

fn assert_verify_revoked<P: AsRef<Path>>(
    flag: &str,
    ca_bundle: &Path,
    crls: &[P],
    cert: &Path,
    purpose: &str,
) {
    let (ok, text) = verify_with_crls(flag, ca_bundle, crls, cert, purpose);
    assert!(!ok, "openssl verify {flag} accepted the revoked {}:\n{text}", cert.display());
    assert!(
        text.contains("certificate revoked"),
        "openssl verify {flag} failed, but not as revoked:\n{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// The ledger, through pkictl::ledger_testing.

/// id, serial, status, revoked_at, revocation_reason.
type CertificateRow = (i64, String, String, Option<i64>, Option<String>);

/// Everything a failed command must leave as it was: every certificate's revocation state,
/// every CRL, every audit event, every CA's next CRL number, and the published CRL files.
#[derive(Debug, PartialEq, Eq)]
struct LedgerState {
    revoked: i64,
    crls: i64,
    events: i64,
    certificates: Vec<CertificateRow>,
    crl_rows: Vec<(i64, i64, i64)>,
    event_rows: Vec<(i64, String, String)>,
    next_crl_numbers: Vec<(String, i64)>,
    /// File → SHA-256 of its bytes (readable in a failure report, unlike the bytes).
    crl_files: BTreeMap<PathBuf, String>,
}

fn ledger_state(home: &Path) -> LedgerState {
    let counts = ledger_testing::row_counts(home);
    let certificates = ledger_testing::certificates(home)
        .into_iter()
        .map(|c| (c.id, c.serial, c.status, c.revoked_at, c.revocation_reason))
        .collect();
    let crl_rows = ledger_testing::crls(home).into_iter().map(|k| (k.id, k.issuer_id, k.number)).collect();
    let event_rows = ledger_testing::events(home).into_iter().map(|e| (e.id, e.action, e.target)).collect();
    let next_crl_numbers =
        ledger_testing::authorities(home).into_iter().map(|a| (a.name, a.next_crl_number)).collect();
    let crl_dir = home.join("crl");
    LedgerState {
        revoked: counts.revoked,
        crls: counts.crls,
        events: counts.events,
        certificates,
        crl_rows,
        event_rows,
        next_crl_numbers,
        crl_files: if crl_dir.exists() {
            snapshot_dir(&crl_dir).into_iter().map(|(path, bytes)| (path, sha256_hex(&bytes))).collect()
        } else {
            BTreeMap::new()
        },
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// (status, revoked_at, revocation_reason) of the certificate with this serial.
fn certificate_row(home: &Path, serial: &str) -> (String, Option<i64>, Option<String>) {
    let row = ledger_testing::certificate(home, serial)
        .unwrap_or_else(|| panic!("no ledger row for serial {serial}: no such certificate"));
    (row.status, row.revoked_at, row.revocation_reason)
}

/// Runs a command that must be refused: exit 2, one "pkictl:" line (or clap's usage report),
/// nothing on stdout, and the ledger and CRL files exactly as before. Returns stderr.
fn assert_refused(pki: &Pki, cmd: &mut assert_cmd::Command, what: &str) -> String {
    let before = ledger_state(&pki.home);
    let out = cmd.output().expect("run pkictl");
    let stderr = assert_error(&out, 2);
    assert!(out.stdout.is_empty(), "{what}: stdout is not empty:\n{}", stdout_of(&out));
    let after = ledger_state(&pki.home);
    assert_eq!(before, after, "{what} changed the ledger or the CRL files (stderr: {stderr})");
    stderr
}

fn refused(pki: &Pki, args: &[&str]) -> String {
    let stderr = assert_refused(pki, pkictl_with_passphrase(&pki.home).args(args), &format!("{args:?}"));
    assert!(stderr.starts_with("pkictl: "), "{args:?}: not pkictl's own error:\n{stderr}");
    stderr
}

// ---------------------------------------------------------------------------------------------
// revoke → CRL

#[test]
fn revoke_by_colon_serial_publishes_a_signed_crl() {
    let f = fixture();
    let pki = &f.pki;
    let serial_arg = colon_upper(&f.alice.serial);
    assert!(serial_arg.contains(':') && serial_arg.chars().any(|c| c.is_ascii_uppercase()), "{serial_arg}");

    let report = pki.json(&["revoke", &serial_arg, "--reason", "key-compromise"]);
    assert_eq!(report["serial"], f.alice.serial.as_str(), "revoke --json: {report}");
    assert_eq!(report["reason"], "key-compromise");
    assert_eq!(report["ca"], INTER);
    assert!(report["revoked_at"].as_str().is_some_and(|s| s.ends_with('Z')), "{report}");
    assert_eq!(report["crl"]["ca"], INTER);
    assert_eq!(report["crl"]["entries"], 1);
    let number = report["crl"]["number"].as_i64().expect("crl.number");

    // The ledger.
    let (status, revoked_at, reason) = certificate_row(&pki.home, &f.alice.serial);
    assert_eq!(status, "revoked");
    assert!(revoked_at.is_some_and(|t| (t - now_unix()).abs() < 120), "revoked_at {revoked_at:?}");
    assert_eq!(reason.as_deref(), Some("key-compromise"));
    for other in [&f.bob, &f.server] {
        assert_eq!(certificate_row(&pki.home, &other.serial).0, "valid", "{} was revoked too", other.name);
    }
    let events = ledger_testing::events(&pki.home)
        .into_iter()
        .filter(|e| e.action == "certificate.revoke" && e.target == f.alice.serial)
        .count();
    assert_eq!(events, 1, "one audit event for the revocation");

    // The published CRL, judged by OpenSSL against the issuing CA.
    let inter = pki.ca_cert(INTER_SLUG);
    let crl = pki.crl_pem(INTER_SLUG);
    let text = crl_verified_text(&crl, &inter);
    assert!(text.contains("Version 2 (0x1)"), "not a v2 CRL:\n{text}");
    assert!(text.contains(&format!("Issuer: CN = {INTER}")), "wrong issuer:\n{text}");
    let (_, crl_number_text) = extension(&text, "X509v3 CRL Number").expect("the CRL has a CRL Number");
    assert_eq!(crl_number_text.trim(), number.to_string(), "CRL number in the CRL vs the report");
    assert_eq!(crl_number(&crl), number as u64);
    let (_, aki) = extension(&text, "X509v3 Authority Key Identifier").expect("the CRL has an AKI");
    let (_, ski) = extension(&x509_text(&inter), "X509v3 Subject Key Identifier").expect("the CA has a SKI");
    assert_eq!(key_id(&aki), key_id(&ski), "the CRL's AKI is not the issuing CA's SKI");
    let entries = crl_entries(&text);
    assert_eq!(
        entries,
        vec![(f.alice.serial.to_ascii_uppercase(), Some("Key Compromise".to_string()))],
        "CRL entries:\n{text}"
    );
    let (this_update, next_update) = crl_times(&crl);
    assert!((this_update - now_unix()).abs() < 120, "thisUpdate is not now:\n{text}");
    assert!(
        ((next_update - this_update) - 7 * 86_400).abs() <= 1,
        "nextUpdate is not thisUpdate + 7 days:\n{text}"
    );

    // The .der is the same CRL as the .pem.
    let der = fs::read(pki.crl_der(INTER_SLUG)).unwrap();
    assert_eq!(der, pem_crl_der(&crl), "crl.der is not the DER of crl.pem");
    assert_eq!(crl_text(&pki.crl_der(INTER_SLUG)), text);

    // The certificates point at the URL where that file is to be served.
    let (_, dp) = extension(&x509_text(&f.alice.crt), "X509v3 CRL Distribution Points").expect("CRL DP");
    assert!(dp.contains(&format!("URI:{CRL_URL}/{INTER_SLUG}.crl")), "CRL DP:\n{dp}");
}

#[test]
fn openssl_verify_rejects_the_revoked_client_only() {
    let f = fixture();
    let pki = &f.pki;
    pki.revoke(&f.alice.serial, "key-compromise");
    let bundle = pki.ca_bundle();
    let inter_crl = pki.crl_pem(INTER_SLUG);

    // -crl_check: the leaf against the issuing CA's CRL.
    assert_verify_revoked("-crl_check", &bundle, &[&inter_crl], &f.alice.crt, "sslclient");
    assert_verify_ok("-crl_check", &bundle, &[&inter_crl], &f.bob.crt, "sslclient");
    assert_verify_ok("-crl_check", &bundle, &[&inter_crl], &f.server.crt, "sslserver");

    // -crl_check_all checks the intermediate too: without the root's CRL nothing verifies.
    let (ok, text) = verify_with_crls("-crl_check_all", &bundle, &[&inter_crl], &f.bob.crt, "sslclient");
    assert!(!ok && text.contains("unable to get certificate CRL"), "without the root CRL:\n{text}");

    let root_crl = pki.work().join("root.crl.pem");
    pki.ok(&["crl", "--ca", ROOT, "--out", root_crl.to_str().unwrap()]);
    let root_text = crl_verified_text(&root_crl, &pki.ca_cert(ROOT_SLUG));
    assert!(crl_has_no_entries(&root_text), "the root's CRL has entries:\n{root_text}");
    assert_eq!(
        fs::read(&root_crl).unwrap(),
        fs::read(pki.crl_pem(ROOT_SLUG)).unwrap(),
        "--out and the home copy differ"
    );
    assert_verify_revoked("-crl_check_all", &bundle, &[&inter_crl, &root_crl], &f.alice.crt, "sslclient");
    assert_verify_ok("-crl_check_all", &bundle, &[&inter_crl, &root_crl], &f.bob.crt, "sslclient");
    assert_verify_ok("-crl_check_all", &bundle, &[&inter_crl, &root_crl], &f.server.crt, "sslserver");

    // The DER copies say the same to OpenSSL.
    let inter_der = pki.crl_der(INTER_SLUG);
    let root_der = pki.crl_der(ROOT_SLUG);
    // `-CRLfile` reads PEM only in some OpenSSL versions; compare the parsed text instead.
    assert_eq!(crl_text(&inter_der), crl_text(&inter_crl));
    assert_eq!(crl_text(&root_der), crl_text(&root_crl));
}

#[test]
fn rustls_mtls_honours_the_crls() {
    let f = fixture();
    let pki = &f.pki;
    pki.revoke(&f.alice.serial, "key-compromise");
    pki.ok(&["crl", "--ca", ROOT]);
    let root = pki.ca_cert(ROOT_SLUG);
    let inter_crl = pki.crl_pem(INTER_SLUG);
    let root_crl = pki.crl_der(ROOT_SLUG); // DER and PEM both work for rustls
    let crls = [inter_crl.as_path(), root_crl.as_path()];
    let server = (&f.server.fullchain, f.server.key());
    let handshake = |client: Option<(&Path, &Path)>, crls: &[&Path]| {
        mtls_handshake(server.0, server.1, client, &root, crls, SERVER_NAME)
    };

    // The valid client gets in, and so does the server's own chain.
    handshake(f.bob.client(), &crls).expect("the valid client is accepted");

    // The revoked client is refused as revoked, in TLS 1.3 and 1.2.
    let err = handshake(f.alice.client(), &crls).expect_err("the revoked client is accepted");
    assert_eq!(err, TlsError::InvalidCertificate(CertificateError::Revoked), "revoked client: {err}");
    let err = mtls_handshake_with_versions(
        server.0,
        server.1,
        f.alice.client(),
        &root,
        &crls,
        SERVER_NAME,
        &[&rustls::version::TLS12],
    )
    .expect_err("the revoked client is accepted over TLS 1.2");
    assert_eq!(
        err,
        TlsError::InvalidCertificate(CertificateError::Revoked),
        "revoked client, TLS 1.2: {err}"
    );

    // No client certificate: client authentication is required.
    let err = handshake(None, &crls).expect_err("a client without a certificate is accepted");
    assert_eq!(err, TlsError::NoCertificatesPresented, "no client certificate: {err}");

    // A client from another, unrelated pkictl home.
    let other = Pki::with_root("Elsewhere Root CA");
    let stranger = other.issue("client", "mallory@example.test", &[], "out");
    let err = handshake(stranger.client(), &crls).expect_err("a stranger is accepted");
    assert_eq!(err, TlsError::InvalidCertificate(CertificateError::UnknownIssuer), "foreign client: {err}");
    // Another home whose CAs have the very same names as ours: webpki builds the path by name,
    // finds our CA and rejects the signature.
    let twin = Pki::new();
    let impostor = twin.issue("client", "mallory@example.test", &[], "out");
    let err = handshake(impostor.client(), &crls).expect_err("a same-named foreign CA's client is accepted");
    assert_eq!(
        err,
        TlsError::InvalidCertificate(CertificateError::BadSignature),
        "same-named foreign CA: {err}"
    );

    // webpki checks the whole chain: without the root's CRL the intermediate's status is unknown
    // (the same lesson as nginx's `ssl_crl`).
    let err = handshake(f.bob.client(), &[inter_crl.as_path()]).expect_err("unknown status accepted");
    assert_eq!(
        err,
        TlsError::InvalidCertificate(CertificateError::UnknownRevocationStatus),
        "no root CRL: {err}"
    );
}

#[test]
fn crl_numbers_increase_and_out_formats() {
    let f = fixture();
    let pki = &f.pki;
    let inter = pki.ca_cert(INTER_SLUG);
    let out_pem = pki.work().join("f.pem");
    let out_der = pki.work().join("f.der");
    let out_pem_s = out_pem.to_str().unwrap();

    // Three CRLs of a CA that had none: numbers 1, 2, 3.
    for expected in 1..=3u64 {
        let out = pki.ok(&["crl", "--out", out_pem_s]);
        assert!(out.stdout.is_empty(), "crl --out wrote to stdout:\n{}", stdout_of(&out));
        let text = crl_verified_text(&out_pem, &inter);
        assert!(crl_has_no_entries(&text), "entries in a CRL of a CA that revoked nothing:\n{text}");
        assert_eq!(crl_number(&out_pem), expected, "CRL number");
        assert_eq!(
            fs::read(&out_pem).unwrap(),
            fs::read(pki.crl_pem(INTER_SLUG)).unwrap(),
            "--out vs the home copy"
        );
    }

    // Without --out the PEM goes to stdout; the number goes on.
    let out = pki.ok(&["crl"]);
    let stdout_pem = pki.work().join("stdout.pem");
    fs::write(&stdout_pem, &out.stdout).unwrap();
    assert!(stdout_of(&out).starts_with("-----BEGIN X509 CRL-----"), "stdout:\n{}", stdout_of(&out));
    assert_eq!(crl_number(&stdout_pem), 4);
    crl_verified_text(&stdout_pem, &inter);

    // --der --out: DER that OpenSSL reads with -inform DER, the same bytes as the home's .der.
    let report = pki.json(&["crl", "--der", "--out", out_der.to_str().unwrap()]);
    assert_eq!(report["number"], 5, "crl --json: {report}");
    let der = fs::read(&out_der).unwrap();
    assert_eq!(der.first(), Some(&0x30), "--der output does not start with a DER SEQUENCE");
    assert_eq!(crl_number(&out_der), 5);
    let text = openssl_ok([
        os("crl"),
        os("-inform"),
        os("DER"),
        os("-in"),
        out_der.as_os_str(),
        os("-noout"),
        os("-text"),
    ]);
    assert!(text.contains("Version 2 (0x1)"), "{text}");
    assert_eq!(der, fs::read(pki.crl_der(INTER_SLUG)).unwrap(), "--der --out vs the home's .der");
    assert_eq!(pem_crl_der(&pki.crl_pem(INTER_SLUG)), der, "the home's .pem and .der hold different CRLs");

    // Numbers are per CA: the root starts at 1.
    let root_out = pki.work().join("root.pem");
    pki.ok(&["crl", "--ca", ROOT, "--out", root_out.to_str().unwrap()]);
    assert_eq!(crl_number(&root_out), 1, "the root's first CRL");
    pki.ok(&["crl", "--ca", ROOT_SLUG, "--out", root_out.to_str().unwrap()]);
    assert_eq!(crl_number(&root_out), 2, "the root's second CRL (named by slug)");

    // --next-update 24h.
    let before = now_unix();
    pki.ok(&["crl", "--next-update", "24h", "--out", out_pem_s]);
    let (this_update, next_update) = crl_times(&out_pem);
    assert!(
        this_update >= before - 2 && this_update <= now_unix() + 2,
        "thisUpdate {this_update} is not now"
    );
    assert_eq!(next_update - this_update, 86_400, "nextUpdate is not thisUpdate + 24h");
    assert_eq!(crl_number(&out_pem), 6);

    // The ledger keeps every CRL, numbered 1..=6 and 1..=2.
    let rows: Vec<(String, i64)> =
        ledger_testing::crls(&pki.home).into_iter().map(|k| (k.issuer_name, k.number)).collect();
    let inter_numbers: Vec<i64> = rows.iter().filter(|(n, _)| n == INTER).map(|(_, k)| *k).collect();
    let root_numbers: Vec<i64> = rows.iter().filter(|(n, _)| n == ROOT).map(|(_, k)| *k).collect();
    assert_eq!(inter_numbers, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(root_numbers, vec![1, 2]);

    // Bad usage: exit 2, no CRL number used up, no file written.
    let stray = pki.work().join("stray.der");
    refused(pki, &["crl", "--der"]);
    assert_refused(
        pki,
        pkictl_with_passphrase(&pki.home).args(["crl", "--next-update", "-1d"]),
        "--next-update -1d",
    );
    for bad in [
        "--next-update=-1d",
        "--next-update=0s",
        "--next-update=0d",
        "--next-update=1x",
        "--next-update=101y",
    ] {
        let stderr = refused(pki, &["crl", bad, "--der", "--out", stray.to_str().unwrap()]);
        assert!(stderr.contains("--next-update"), "{bad}: the error does not name the flag: {stderr}");
    }
    let stderr = refused(pki, &["crl", "--ca", "Nope CA"]);
    assert!(stderr.contains("Nope CA"), "{stderr}");
    assert!(!stray.exists(), "a refused crl wrote {}", stray.display());
    pki.ok(&["crl", "--out", out_pem_s]);
    assert_eq!(crl_number(&out_pem), 7, "a refused crl used up a number");
}

#[test]
fn crl_numbers_stay_unique_under_concurrent_publishers() {
    let pki = Pki::new();
    let children: Vec<(PathBuf, std::process::Child)> = (0..6)
        .map(|i| {
            let out = pki.work().join(format!("c{i}.pem"));
            let child = spawn_pkictl(&pki.home, &["crl", "--out", out.to_str().unwrap()]);
            (out, child)
        })
        .collect();
    let mut numbers = Vec::new();
    for (out, child) in children {
        let result = child.wait_with_output().unwrap();
        assert!(result.status.success(), "concurrent crl failed: {}", stderr_of(&result));
        numbers.push(crl_number(&out));
    }
    numbers.sort();
    assert_eq!(numbers, vec![1, 2, 3, 4, 5, 6], "CRL numbers of six concurrent publishers");
    // The home's copies are whole, signed CRLs (which one: see the ignored test below).
    crl_verified_text(&pki.crl_pem(INTER_SLUG), &pki.ca_cert(INTER_SLUG));
    assert!(crl_number(&pki.crl_der(INTER_SLUG)) >= 1);
}

/// `pkictl --home HOME ARGS…` as a child process (std Command, so that several can run at once).
fn spawn_pkictl(home: &Path, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_pkictl"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("PKICTL_HOME")
        .env("PKICTL_PASSPHRASE", PASSPHRASE)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn pkictl")
}

/// The latest CRL of each CA is kept at <home>/crl/<slug>.crl.pem and .der (README). With a
/// revocation and CRL publishers running at once (an operator revoking while cron publishes),
/// the files must end up holding the newest CRL, which lists the revoked certificate.
#[test]
fn concurrent_publishers_leave_the_newest_crl_in_the_home() {
    let pki = Pki::new();
    for round in 0..100 {
        let victim = pki.issue("client", &format!("victim-{round}.example.test"), &[], "out");
        let mut children =
            vec![spawn_pkictl(&pki.home, &["revoke", &victim.serial, "--reason", "superseded"])];
        children.extend((0..7).map(|_| spawn_pkictl(&pki.home, &["crl"])));
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}: {}", stderr_of(&out));
        }
        let (newest, newest_der): (i64, Vec<u8>) = ledger_testing::crls(&pki.home)
            .into_iter()
            .filter(|k| k.issuer_name == INTER)
            .max_by_key(|k| k.number)
            .map(|k| (k.number, k.der))
            .expect("a CRL of the issuing CA in the ledger");
        let listed: Vec<String> =
            crl_entries(&crl_text(&pki.crl_pem(INTER_SLUG))).into_iter().map(|(s, _)| s).collect();
        let victim_serial = victim.serial.to_ascii_uppercase();
        assert!(listed.contains(&victim_serial), "round {round}: the published CRL misses a revocation");
        let der_number = crl_number(&pki.crl_der(INTER_SLUG));
        let pem_number = crl_number(&pki.crl_pem(INTER_SLUG));
        assert_eq!(
            (pem_number, der_number),
            (newest as u64, newest as u64),
            "round {round}: the home's .crl.pem and .crl.der are not the ledger's newest CRL"
        );
        assert_eq!(fs::read(pki.crl_der(INTER_SLUG)).unwrap(), newest_der, "round {round}");
    }
}

#[test]
fn next_update_never_passes_the_ca_not_after() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("pki");
    init_home(&home, &["--name", ROOT, "--validity", "30d"]);
    let out = dir.path().join("c.pem");
    let result = pkictl_with_passphrase(&home)
        .args(["crl", "--next-update", "60d", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", stderr_of(&result));
    assert!(
        stderr_of(&result).contains("warning: nextUpdate shortened"),
        "no warning: {}",
        stderr_of(&result)
    );
    let (_, next_update) = crl_times(&out);
    let ca = home.join("ca").join(format!("{INTER_SLUG}.pem"));
    let not_after = date_tuple_to_unix(x509_not_after(&ca));
    assert_eq!(next_update, not_after, "nextUpdate is not the CA's notAfter");
    crl_verified_text(&out, &ca);
}

#[test]
fn expired_revoked_certificates_leave_the_crl() {
    let pki = Pki::new();
    let out: &str = &pki.out("out");
    let short = pki.json(&["issue", "client", "short.example.test", "--validity", "3s", "--out", out]);
    let short_serial = short["serial"].as_str().unwrap().to_string();
    let not_after =
        date_tuple_to_unix(x509_not_after(Path::new(short["files"]["certificate"].as_str().unwrap())));
    let long = pki.issue("client", "long.example.test", &[], "out");
    pki.revoke(&short_serial, "superseded");
    pki.revoke(&long.serial, "superseded");
    if now_unix() < not_after {
        let text = crl_text(&pki.crl_pem(INTER_SLUG));
        assert_eq!(crl_entries(&text).len(), 2, "both are listed while not expired:\n{text}");
    }
    while now_unix() <= not_after {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    pki.ok(&["crl"]);
    let text = crl_text(&pki.crl_pem(INTER_SLUG));
    assert_eq!(
        crl_entries(&text),
        vec![(long.serial.to_ascii_uppercase(), Some("Superseded".to_string()))],
        "the expired certificate is still listed:\n{text}"
    );
    // It stays revoked in the ledger and in `show`.
    assert_eq!(certificate_row(&pki.home, &short_serial).0, "revoked");
    assert_eq!(pki.json(&["show", &short_serial])["status"], "revoked");
}

#[test]
fn every_reason_and_serial_order() {
    let pki = Pki::new();
    let mut issued: Vec<(Issued, &str, Option<&str>)> = Vec::new();
    for (i, (reason, openssl_name)) in REASONS.iter().enumerate() {
        let client = pki.issue("client", &format!("client-{i}.example.test"), &[], "out");
        issued.push((client, reason, *openssl_name));
    }
    let keep = pki.issue("client", "kept.example.test", &[], "out");
    for (client, reason, _) in &issued {
        let report = pki.revoke(&client.serial, reason);
        assert_eq!(report["reason"], *reason);
    }
    let text = crl_verified_text(&pki.crl_pem(INTER_SLUG), &pki.ca_cert(INTER_SLUG));
    let entries = crl_entries(&text);
    assert_eq!(entries.len(), REASONS.len(), "CRL entries:\n{text}");
    let by_serial: BTreeMap<String, Option<String>> = entries.iter().cloned().collect();
    for (client, reason, openssl_name) in &issued {
        let got = by_serial
            .get(&client.serial.to_ascii_uppercase())
            .unwrap_or_else(|| panic!("{} ({reason}) is not on the CRL:\n{text}", client.serial));
        assert_eq!(got.as_deref(), *openssl_name, "{reason}: reason code in the CRL:\n{text}");
        assert_eq!(certificate_row(&pki.home, &client.serial).2.as_deref(), Some(*reason), "ledger reason");
    }
    assert!(!by_serial.contains_key(&keep.serial.to_ascii_uppercase()), "a valid certificate is on the CRL");
    // unspecified: an entry without any entry extension at all.
    let unspecified = issued[0].0.serial.to_ascii_uppercase();
    let block: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim() != format!("Serial Number: {unspecified}"))
        .skip(1)
        .take_while(|l| {
            !l.trim().starts_with("Serial Number:") && !l.trim().starts_with("Signature Algorithm:")
        })
        .collect();
    assert_eq!(block.len(), 1, "the unspecified entry has more than a revocation date: {block:?}");
    assert!(block[0].trim().starts_with("Revocation Date:"), "{block:?}");

    // Entries are in ascending serial order (numeric, which is what the ledger's padding gives).
    let serials: Vec<(usize, String)> = entries.iter().map(|(s, _)| serial_key(s)).collect();
    let mut sorted = serials.clone();
    sorted.sort();
    assert_eq!(serials, sorted, "CRL entries are not in ascending serial order:\n{text}");

    // Revocation dates are the ledger's revoked_at (second precision).
    for (client, _, _) in &issued {
        let (_, revoked_at, _) = certificate_row(&pki.home, &client.serial);
        let line = text
            .lines()
            .skip_while(|l| l.trim() != format!("Serial Number: {}", client.serial.to_ascii_uppercase()))
            .nth(1)
            .expect("a revocation date line");
        let date = line.trim().strip_prefix("Revocation Date: ").expect("Revocation Date");
        assert_eq!(Some(openssl_date_unix(date)), revoked_at, "revocation date of {}", client.serial);
    }
}

#[test]
fn revoke_by_fingerprint_and_plain_serials() {
    let f = fixture();
    let pki = &f.pki;
    let shown = pki.json(&["show", &f.bob.name]);
    let fingerprint = shown["fingerprint_sha256"].as_str().expect("fingerprint_sha256").to_string();
    assert_eq!(fingerprint.len(), 64);
    assert_eq!(fingerprint, f.bob.fingerprint);
    assert_eq!(fingerprint, x509_sha256(&f.bob.crt), "pkictl's fingerprint is not OpenSSL's");
    let report = pki.revoke(&fingerprint.to_ascii_uppercase(), "superseded");
    assert_eq!(
        report["serial"],
        f.bob.serial.as_str(),
        "revoking by fingerprint revoked another certificate"
    );
    assert_eq!(certificate_row(&pki.home, &f.bob.serial).0, "revoked");

    // Plain lower-case serial with leading zeros and --ca naming the issuer.
    pki.ok(&["revoke", &format!("00{}", f.alice.serial), "--reason", "affiliation-changed", "--ca", INTER]);
    assert_eq!(certificate_row(&pki.home, &f.alice.serial).0, "revoked");

    let text = crl_verified_text(&pki.crl_pem(INTER_SLUG), &pki.ca_cert(INTER_SLUG));
    let serials: Vec<String> = crl_entries(&text).into_iter().map(|(s, _)| s).collect();
    let mut expected = vec![f.alice.serial.to_ascii_uppercase(), f.bob.serial.to_ascii_uppercase()];
    expected.sort_by_key(|s| serial_key(s));
    assert_eq!(serials, expected, "CRL:\n{text}");
    assert_eq!(certificate_row(&pki.home, &f.server.serial).0, "valid");
}

#[test]
fn bad_revocations_are_refused_and_change_nothing() {
    let f = fixture();
    let pki = &f.pki;
    pki.revoke(&f.alice.serial, "key-compromise");
    let bob = f.bob.serial.as_str();

    // Unknown serial (and an unknown fingerprint).
    let stderr = refused(pki, &["revoke", "4f1a09c3deadbeef4f1a09c3deadbeef", "--reason", "superseded"]);
    assert!(stderr.contains("4f1a09c3deadbeef4f1a09c3deadbeef"), "{stderr}");
    refused(pki, &["revoke", &"ab".repeat(32), "--reason", "superseded"]);

    // Already revoked: says when and why.
    let (_, revoked_at, _) = certificate_row(&pki.home, &f.alice.serial);
    let when = time::OffsetDateTime::from_unix_timestamp(revoked_at.unwrap()).unwrap();
    let date = format!("{:04}-{:02}-{:02}", when.year(), u8::from(when.month()), when.day());
    for serial in [f.alice.serial.clone(), colon_upper(&f.alice.serial)] {
        let stderr = refused(pki, &["revoke", &serial, "--reason", "superseded"]);
        assert!(stderr.contains("already revoked"), "{stderr}");
        assert!(stderr.contains("key-compromise"), "the error does not say why: {stderr}");
        assert!(stderr.contains(&date), "the error does not say when ({date}): {stderr}");
    }

    // Serials that cannot be serials.
    let too_long = "1".repeat(41);
    for (serial, needle) in [
        ("00", "zero"),
        ("0", "zero"),
        ("00:00", "zero"),
        ("-5", "negative"),
        ("zz", "zz"),
        ("4f:1a:zz", "4f:1a:zz"),
        (too_long.as_str(), "20 octets"),
    ] {
        let stderr = refused(pki, &["revoke", "--reason", "superseded", "--", serial]);
        assert!(stderr.contains(needle), "{serial}: {stderr}");
    }
    // As clap sees "-5" without "--": a usage error too.
    let stderr = assert_refused(
        pki,
        pkictl_with_passphrase(&pki.home).args(["revoke", "-5", "--reason", "superseded"]),
        "revoke -5",
    );
    assert!(stderr.starts_with("error: "), "{stderr}");

    // Unknown reason: the message lists the valid ones.
    let stderr = refused(pki, &["revoke", bob, "--reason", "compromised"]);
    assert!(stderr.contains("compromised"), "{stderr}");
    for (reason, _) in REASONS {
        assert!(stderr.contains(reason), "the error does not list {reason}: {stderr}");
    }
    refused(pki, &["revoke", bob, "--reason", "remove-from-crl"]);
    refused(pki, &["revoke", bob, "--reason", ""]);
    // A missing --reason is clap's usage error.
    assert_refused(pki, pkictl_with_passphrase(&pki.home).args(["revoke", bob]), "no --reason");

    // --ca: unknown, and a CA that did not issue it.
    let stderr = refused(pki, &["revoke", bob, "--reason", "superseded", "--ca", "Nope CA"]);
    assert!(stderr.contains("Nope CA"), "{stderr}");
    let stderr = refused(pki, &["revoke", bob, "--reason", "superseded", "--ca", ROOT]);
    assert!(stderr.contains("from that CA"), "{stderr}");

    // Wrong passphrase: nothing revoked.
    let stderr = assert_refused(
        pki,
        pkictl(&pki.home).env("PKICTL_PASSPHRASE", WRONG_PASSPHRASE).args([
            "revoke",
            bob,
            "--reason",
            "superseded",
        ]),
        "wrong passphrase",
    );
    assert!(stderr.contains(&format!("wrong passphrase for {INTER}")), "{stderr}");
    // No passphrase at all, no terminal.
    let stderr = assert_refused(
        pki,
        pkictl(&pki.home).args(["revoke", bob, "--reason", "superseded"]),
        "no passphrase",
    );
    assert!(stderr.contains("no passphrase"), "{stderr}");
    // A wrong passphrase for `crl` changes nothing either.
    let stderr = assert_refused(
        pki,
        pkictl(&pki.home).env("PKICTL_PASSPHRASE", WRONG_PASSPHRASE).args(["crl"]),
        "crl with a wrong passphrase",
    );
    assert!(stderr.contains("wrong passphrase"), "{stderr}");

    assert_eq!(certificate_row(&pki.home, bob).0, "valid", "bob was revoked by a refused command");
    // And a home that does not exist.
    let missing = pki.work().join("no-such-home");
    let out =
        pkictl_with_passphrase(&missing).args(["revoke", bob, "--reason", "superseded"]).output().unwrap();
    assert_error(&out, 2);
    assert!(!missing.exists(), "revoke created a home");
}

// ---------------------------------------------------------------------------------------------
// Revoking a CA

#[test]
fn revoking_the_intermediate_puts_it_on_the_root_crl() {
    let f = fixture();
    let pki = &f.pki;
    // The intermediate's CRL, signed while it still could.
    pki.ok(&["crl"]);
    pki.ok(&["crl", "--ca", ROOT]);
    let bundle = pki.ca_bundle();
    let inter_crl = pki.work().join("inter.crl.pem");
    fs::copy(pki.crl_pem(INTER_SLUG), &inter_crl).unwrap();
    let root_crl = pki.crl_pem(ROOT_SLUG);
    assert_verify_ok("-crl_check_all", &bundle, &[&inter_crl, &root_crl], &f.server.crt, "sslserver");
    let root_number = crl_number(&root_crl);

    let inter_serial = pki.ca_serial(INTER);
    assert_eq!(inter_serial.to_ascii_uppercase(), x509_serial(&pki.ca_cert(INTER_SLUG)), "ca show serial");
    let report = pki.revoke(&inter_serial, "ca-compromise");
    assert_eq!(report["ca"], ROOT, "the intermediate's issuer is the root: {report}");

    // On the root's CRL (freshly published), with its reason.
    let text = crl_verified_text(&root_crl, &pki.ca_cert(ROOT_SLUG));
    assert_eq!(
        crl_entries(&text),
        vec![(inter_serial.to_ascii_uppercase(), Some("CA Compromise".to_string()))],
        "root CRL:\n{text}"
    );
    assert_eq!(crl_number(&root_crl), root_number + 1);
    assert_eq!(pki.json(&["ca", "show", INTER])["status"], "revoked");

    // OpenSSL now rejects a leaf the intermediate issued before.
    assert_verify_revoked("-crl_check_all", &bundle, &[&inter_crl, &root_crl], &f.server.crt, "sslserver");
    assert_verify_revoked("-crl_check_all", &bundle, &[&inter_crl, &root_crl], &f.bob.crt, "sslclient");
    // So does rustls, for a client whose own certificate was never revoked.
    let err = mtls_handshake(
        &f.server.fullchain,
        f.server.key(),
        f.bob.client(),
        &pki.ca_cert(ROOT_SLUG),
        &[inter_crl.as_path(), root_crl.as_path()],
        SERVER_NAME,
    )
    .expect_err("a client under a revoked intermediate is accepted");
    assert_eq!(err, TlsError::InvalidCertificate(CertificateError::Revoked), "{err}");

    // A revoked CA issues nothing and signs no CRL.
    let out_dir: &str = &pki.out("out");
    let files_before = dir_entries(&pki.path("out"));
    for args in [
        vec!["issue", "client", "carol@example.test", "--out", out_dir],
        vec!["issue", "server", "new.example.test", "--ca", INTER, "--out", out_dir],
    ] {
        let stderr = refused(pki, &args);
        assert!(stderr.contains("revoked"), "{args:?}: {stderr}");
    }
    assert_eq!(dir_entries(&pki.path("out")), files_before, "a refused issue wrote files");
    let stray = pki.work().join("stray.pem").to_str().unwrap().to_string();
    for args in
        [vec!["crl"], vec!["crl", "--ca", INTER], vec!["crl", "--ca", INTER_SLUG, "--out", stray.as_str()]]
    {
        let stderr = refused(pki, &args);
        assert!(stderr.contains("revoked"), "{args:?}: {stderr}");
    }
    // Revoking it twice is refused; the root still signs.
    let stderr = refused(pki, &["revoke", &inter_serial, "--reason", "superseded"]);
    assert!(stderr.contains("already revoked"), "{stderr}");
    pki.ok(&["crl", "--ca", ROOT]);
}

#[test]
fn a_root_cannot_be_revoked() {
    let f = fixture();
    let pki = &f.pki;
    let root_serial = pki.ca_serial(ROOT);
    for reason in ["ca-compromise", "superseded"] {
        let stderr = refused(pki, &["revoke", &root_serial, "--reason", reason]);
        assert!(stderr.contains("root"), "{stderr}");
    }
    assert_eq!(pki.json(&["ca", "show", ROOT])["status"], "valid");
}

/// The leaves of a revoked intermediate: its CRL can no longer be signed. Whatever pkictl
/// decides (record the revocation and say the CRL could not be refreshed, or refuse), an exit 2
/// must mean that nothing changed.
#[test]
fn revoking_a_leaf_of_a_revoked_intermediate_is_all_or_nothing() {
    let f = fixture();
    let pki = &f.pki;
    pki.revoke(&pki.ca_serial(INTER), "ca-compromise");
    let before = ledger_state(&pki.home);
    let out = pki.run(&["revoke", &f.bob.serial, "--reason", "superseded"]);
    if out.status.success() {
        assert_eq!(certificate_row(&pki.home, &f.bob.serial).0, "revoked");
    } else {
        let stderr = assert_error(&out, 2);
        assert_eq!(ledger_state(&pki.home), before, "exit 2, yet the ledger changed (stderr: {stderr})");
    }
}

// ---------------------------------------------------------------------------------------------
// list and show

#[test]
fn list_and_show_tell_revoked_from_valid() {
    let f = fixture();
    let pki = &f.pki;
    pki.revoke(&f.alice.serial, "key-compromise");
    pki.revoke(&f.server.serial, "cessation-of-operation");

    let serials = |v: &Value| -> Vec<String> {
        let mut s: Vec<String> = v["certificates"]
            .as_array()
            .expect("certificates")
            .iter()
            .map(|c| c["serial"].as_str().unwrap().to_string())
            .collect();
        s.sort();
        s
    };

    // --status revoked: exactly the two.
    let revoked = pki.json(&["list", "--status", "revoked"]);
    assert_eq!(serials(&revoked), sorted(vec![f.alice.serial.clone(), f.server.serial.clone()]), "{revoked}");
    for c in revoked["certificates"].as_array().unwrap() {
        assert_eq!(c["status"], "revoked", "{c}");
        assert!(c["revoked_at"].as_str().is_some_and(|s| s.ends_with('Z')), "{c}");
        let expected =
            if c["serial"] == f.alice.serial.as_str() { "key-compromise" } else { "cessation-of-operation" };
        assert_eq!(c["revocation_reason"], expected, "{c}");
    }
    assert_eq!(revoked["crls"], Value::Array(vec![]), "{revoked}");
    let text = stdout_of(&pki.ok(&["list", "--status", "revoked"]));
    for issued in [&f.alice, &f.server] {
        let line = text.lines().find(|l| l.starts_with(&issued.serial)).unwrap_or_else(|| panic!("{text}"));
        assert!(line.contains("revoked"), "{line}");
    }
    assert!(!text.contains(&f.bob.serial), "bob in list --status revoked:\n{text}");

    // --status valid and the default: not them (the CAs' own certificates are valid).
    for args in [vec!["list", "--status", "valid"], vec!["list"]] {
        let valid = pki.json(&args);
        let got = serials(&valid);
        assert!(got.contains(&f.bob.serial), "{args:?}: {valid}");
        assert!(!got.contains(&f.alice.serial) && !got.contains(&f.server.serial), "{args:?}: {valid}");
        for c in valid["certificates"].as_array().unwrap() {
            assert_eq!(c["status"], "valid", "{c}");
            assert_eq!(c["revoked_at"], Value::Null, "{c}");
            assert_eq!(c["revocation_reason"], Value::Null, "{c}");
        }
    }
    let all = pki.json(&["list", "--status", "all", "--profile", "client"]);
    assert_eq!(serials(&all), sorted(vec![f.alice.serial.clone(), f.bob.serial.clone()]), "{all}");
    let expired = pki.json(&["list", "--status", "expired"]);
    assert_eq!(serials(&expired), Vec::<String>::new(), "{expired}");
    let stderr = refused(pki, &["list", "--status", "gone"]);
    assert!(stderr.contains("gone"), "{stderr}");

    // show SERIAL: status, date and reason.
    let (_, revoked_at, _) = certificate_row(&pki.home, &f.alice.serial);
    let when = time::OffsetDateTime::from_unix_timestamp(revoked_at.unwrap()).unwrap();
    let date = format!("{:04}-{:02}-{:02}", when.year(), u8::from(when.month()), when.day());
    for query in [f.alice.serial.clone(), colon_upper(&f.alice.serial), f.alice.name.clone()] {
        let text = stdout_of(&pki.ok(&["show", &query]));
        let status =
            text.lines().find(|l| l.starts_with("Status:")).unwrap_or_else(|| panic!("no Status:\n{text}"));
        assert!(status.contains("revoked"), "{status}");
        let line =
            text.lines().find(|l| l.starts_with("Revoked:")).unwrap_or_else(|| panic!("no Revoked:\n{text}"));
        assert!(line.contains(&date) && line.contains("key-compromise"), "{line}");
    }
    let shown = pki.json(&["show", &f.alice.serial]);
    assert_eq!(shown["status"], "revoked", "{shown}");
    assert_eq!(shown["revocation_reason"], "key-compromise", "{shown}");
    let at = shown["revoked_at"].as_str().expect("revoked_at");
    assert!(at.starts_with(&date) && at.ends_with('Z'), "{at}");

    let shown = pki.json(&["show", &f.bob.serial]);
    assert_eq!(shown["status"], "valid", "{shown}");
    assert_eq!(shown["revoked_at"], Value::Null);
    assert_eq!(shown["revocation_reason"], Value::Null);
    let text = stdout_of(&pki.ok(&["show", &f.bob.serial]));
    assert!(
        !text.lines().any(|l| l.starts_with("Revoked:")),
        "a valid certificate shows a revocation:\n{text}"
    );
}

#[test]
fn expiring_within_reports_certificates_and_crls() {
    let pki = Pki::new();
    let server = pki.issue("server", SERVER_NAME, &[], "out");
    let alice = pki.issue("client", "alice@example.test", &[], "out");
    let bob = pki.issue("client", "bob@example.test", &[], "out");
    let leaves = sorted(vec![server.serial.clone(), alice.serial.clone(), bob.serial.clone()]);
    let list = |args: &[&str]| -> (i32, Value) {
        let mut all = vec!["--json", "list"];
        all.extend_from_slice(args);
        let out = pki.run(&all);
        (out.status.code().expect("an exit code"), json_object(&out))
    };
    let serials = |v: &Value| -> Vec<String> {
        let mut s: Vec<String> = v["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["serial"].as_str().unwrap().to_string())
            .collect();
        s.sort();
        s
    };

    // Nothing within 30 days (leaves have 90, no CRL yet): exit 0.
    let out = pki.run(&["list", "--expiring-within", "30d"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout_of(&out), stderr_of(&out));
    assert!(stdout_of(&out).contains("Nothing needs attention"), "{}", stdout_of(&out));
    let (code, v) = list(&["--expiring-within", "30d"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["certificates"], Value::Array(vec![]), "{v}");
    assert_eq!(v["crls"], Value::Array(vec![]), "{v}");

    // Within 100 days: the three leaves (not the CAs), exit 1.
    let (code, v) = list(&["--expiring-within", "100d"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(serials(&v), leaves, "{v}");
    for c in v["certificates"].as_array().unwrap() {
        let days = c["days_left"].as_i64().expect("days_left");
        assert!((89..=90).contains(&days), "days_left {days}: {c}");
    }
    let out = pki.run(&["list", "--expiring-within", "100d"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout_of(&out);
    for s in &leaves {
        assert!(text.contains(s.as_str()), "{s} not in:\n{text}");
    }
    assert!(stderr_of(&out).is_empty(), "exit 1 is a verdict, not an error: {}", stderr_of(&out));
    let (code, v) = list(&["--expiring-within", "100d", "--profile", "client"]);
    assert_eq!((code, serials(&v)), (1, sorted(vec![alice.serial.clone(), bob.serial.clone()])), "{v}");
    let (code, v) = list(&["--expiring-within", "100d", "--ca", ROOT]);
    assert_eq!((code, serials(&v)), (0, vec![]), "the root issued no leaf: {v}");

    // A CRL past half its lifetime (4 s, 3 s later): exit 1 with any window, and the report
    // names its CA.
    pki.ok(&["crl", "--next-update", "4s"]);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (code, v) = list(&["--expiring-within", "2h"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["certificates"], Value::Array(vec![]), "{v}");
    let crls = v["crls"].as_array().expect("crls");
    assert_eq!(crls.len(), 1, "{v}");
    assert_eq!(crls[0]["ca"], INTER, "{v}");
    assert_eq!(crls[0]["number"], 1, "{v}");
    let out = pki.run(&["list", "--expiring-within", "2h"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout_of(&out).contains(INTER), "the text report does not name the CA:\n{}", stdout_of(&out));
    let (code, v) = list(&["--expiring-within", "30d"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["crls"].as_array().unwrap().len(), 1, "{v}");
    let (code, v) = list(&["--expiring-within", "2h", "--ca", ROOT]);
    assert_eq!(code, 0, "--ca ROOT reports the intermediate's CRL: {v}");

    // A fresh CRL (by a revocation, 7 days) replaces the short one; revoked leaves are not
    // "expiring".
    pki.revoke(&alice.serial, "superseded");
    let (code, v) = list(&["--expiring-within", "2h"]);
    assert_eq!(code, 0, "the superseded 1h CRL still counts: {v}");
    let (code, v) = list(&["--expiring-within", "100d"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(serials(&v), sorted(vec![server.serial.clone(), bob.serial.clone()]), "{v}");
    assert_eq!(v["crls"], Value::Array(vec![]), "a fresh 7-day CRL needs no attention: {v}");

    // Bad windows are usage errors.
    for bad in ["--expiring-within=0d", "--expiring-within=-1d", "--expiring-within=soon"] {
        let stderr = refused(&pki, &["list", bad]);
        assert!(stderr.contains("--expiring-within"), "{stderr}");
    }
}
