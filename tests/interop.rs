//! Interop: what pkictl issues, revokes and publishes, judged by software we did not write.
//!
//! One PKI is built through the binary (a passphrase-protected home, a server for `localhost`,
//! 127.0.0.1 and `server.pkictl.test`, and a matrix of clients: good, peer, revoked, expired,
//! a server-profile certificate, a client of an unrelated home, a bare leaf without its
//! intermediate, and no certificate at all), then every client is presented to:
//!
//! - nginx (`ssl_verify_client on`, root + intermediate CRLs) through curl;
//! - `openssl s_server -Verify 2 -verify_return_error -crl_check_all` through `s_client`;
//! - rustls/webpki in process (`pkictl::tls::mutual_tls`);
//! - Python `cryptography`'s X.509 verifier (server and client policies).
//!
//! Each refusal is asserted by its specific reason, never just "not accepted", and `pkictl
//! verify` must agree with them. The servers' certificate is checked by the clients (names,
//! IP, another root), a PKCS#12 export is used by curl, and P-256/P-384/RSA homes complete
//! rustls handshakes. pkilint then lints roots, intermediates, server, client and peer
//! certificates and CRLs for P-256, P-384, RSA-2048 (and an RSA-4096 leaf), and `pkictl demo`
//! is run. README's "Interoperability" section summarises what this proves.
//!
//! Tools come from tests/run.sh: nginx and curl on PATH, and a venv named by
//! `$PKICTL_INTEROP_PYTHON` / `$PKICTL_INTEROP_PKILINT_BIN`. A missing tool fails the test.
//! The certificates of the last run stay in target/tmp/interop-<pid>/ for debugging.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::interop::*;
use common::*;
use pkictl::tls::{Handshake, HandshakeError, Identity, mutual_tls};
use rustls::{CertificateError, Error as TlsError};
use serde_json::{Value, json};

const ROOT_NAME: &str = "Interop Root CA";
const OTHER_ROOT_NAME: &str = "Unrelated Root CA";
/// The multi-label name every server certificate carries next to `localhost` (pkilint and
/// some verifiers refuse single-label names).
const SERVER_DNS: &str = "server.pkictl.test";
const WRONG_HOST: &str = "wrong.pkictl.test";
const SPIFFE_ID: &str = "spiffe://pkictl.test/ns/prod/sa/billing";
const P12_PASSWORD: &str = "p12 export password";

/// pkilint WARNING codes that are known and explained in README ("Interoperability"). Any other
/// warning fails `pkilint_finds_no_error_in_any_certificate_or_crl`: document it there, then
/// add it here. Today pkictl's output draws no warning at all.
const KNOWN_PKILINT_WARNINGS: &[&str] = &[];

// ---------------------------------------------------------------------------------------------
// The PKI under test
// ---------------------------------------------------------------------------------------------

/// One issued certificate and its files (all absolute paths).
#[derive(Debug, Clone)]
struct Leaf {
    name: String,
    crt: PathBuf,
    key: PathBuf,
    chain: PathBuf,
    fullchain: PathBuf,
    serial: String,
    subject: String,
    /// RFC 3339, as pkictl reports it.
    not_after: String,
}

impl Leaf {
    /// What a correctly configured client or server sends: the leaf and its intermediate.
    fn identity(&self) -> Identity {
        Identity { chain: pem_certs(&self.fullchain), key_pkcs8: pem_pkcs8_key(&self.key) }
    }

    /// The leaf alone, without the intermediate (a common misconfiguration).
    fn bare_identity(&self) -> Identity {
        Identity { chain: pem_certs(&self.crt), key_pkcs8: pem_pkcs8_key(&self.key) }
    }
}

/// The main PKI: one home, its CRLs (both published), and a second, unrelated home.
struct Pki {
    dir: PathBuf,
    home: PathBuf,
    root: PathBuf,
    root_crl: PathBuf,
    issuing_crl: PathBuf,
    /// The root's CRL and the intermediate's CRL, PEM, concatenated (nginx `ssl_crl`).
    crl_bundle: PathBuf,
    /// The root certificate followed by both CRLs (`s_server -CAfile`: its `-CRL` option reads
    /// only the first CRL of a file).
    trust_bundle: PathBuf,
    other_root: PathBuf,
    server: Leaf,
    good: Leaf,
    peer: Leaf,
    revoked: Leaf,
    expired: Leaf,
    server_as_client: Leaf,
    stranger: Leaf,
    spiffe: Leaf,
}

/// The client side of each handshake in the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// A client certificate of this home, sent with its intermediate.
    Good,
    /// A peer (serverAuth + clientAuth) certificate used as a client.
    Peer,
    /// Revoked (key-compromise) and on the intermediate's CRL.
    Revoked,
    /// Issued with `--validity 1s`, now past its notAfter.
    Expired,
    /// A server-profile certificate (serverAuth only) presented as a client.
    ServerProfile,
    /// A client of another home whose root the server does not trust.
    Stranger,
    /// The good client's leaf without its intermediate.
    BareLeaf,
    /// No client certificate at all.
    NoCertificate,
}

const MATRIX: [Client; 8] = [
    Client::Good,
    Client::Peer,
    Client::Revoked,
    Client::Expired,
    Client::ServerProfile,
    Client::Stranger,
    Client::BareLeaf,
    Client::NoCertificate,
];

impl Client {
    fn label(self) -> &'static str {
        match self {
            Client::Good => "good",
            Client::Peer => "peer",
            Client::Revoked => "revoked",
            Client::Expired => "expired",
            Client::ServerProfile => "server-profile",
            Client::Stranger => "stranger",
            Client::BareLeaf => "bare-leaf",
            Client::NoCertificate => "no-certificate",
        }
    }

    /// The certificate presented, and whether its intermediate is sent along.
    fn leaf(self, pki: &Pki) -> Option<(&Leaf, bool)> {
        match self {
            Client::Good => Some((&pki.good, true)),
            Client::Peer => Some((&pki.peer, true)),
            Client::Revoked => Some((&pki.revoked, true)),
            Client::Expired => Some((&pki.expired, true)),
            Client::ServerProfile => Some((&pki.server_as_client, true)),
            Client::Stranger => Some((&pki.stranger, true)),
            Client::BareLeaf => Some((&pki.good, false)),
            Client::NoCertificate => None,
        }
    }
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(build_pki)
}

/// `pkictl --json issue PROFILE NAME --out OUT EXTRA…` in `home` (PASSPHRASE unlocks the CA).
fn issue(home: &Path, out: &Path, profile: &str, name: &str, extra: &[&str]) -> Leaf {
    let output = pkictl_with_passphrase(home)
        .args(["--json", "issue", profile, name, "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("run pkictl issue");
    assert!(
        output.status.success(),
        "pkictl issue {profile} {name} {extra:?} failed with {}:\n{}",
        output.status,
        stderr_of(&output)
    );
    let v = json_object(&output);
    let path =
        |k: &str| PathBuf::from(v["files"][k].as_str().unwrap_or_else(|| panic!("no files.{k} in {v}")));
    Leaf {
        name: name.to_string(),
        crt: path("certificate"),
        key: path("key"),
        chain: path("chain"),
        fullchain: path("fullchain"),
        serial: v["serial"].as_str().expect("serial").to_string(),
        subject: v["subject"].as_str().expect("subject").to_string(),
        not_after: v["not_after"].as_str().expect("not_after").to_string(),
    }
}

/// `pkictl init` with a passphrase; the root's and the intermediate's certificate paths.
fn init(home: &Path, name: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let mut args = vec!["--json", "--name", name];
    args.extend_from_slice(extra);
    let v = json_object(&init_home(home, &args));
    let cert = |role: &str| {
        let a = v["authorities"]
            .as_array()
            .expect("authorities")
            .iter()
            .find(|a| a["role"] == role)
            .unwrap_or_else(|| panic!("no {role} in {v}"));
        PathBuf::from(a["certificate"].as_str().expect("certificate path"))
    };
    (cert("root"), cert("intermediate"))
}

/// Publishes a CRL of `ca` (None: the issuing CA); the PEM file's path.
fn publish_crl(home: &Path, ca: Option<&str>) -> PathBuf {
    let mut args = vec!["crl"];
    if let Some(ca) = ca {
        args.extend(["--ca", ca]);
    }
    let v = pkictl_json(home, &args);
    PathBuf::from(v["files"]["pem"].as_str().unwrap_or_else(|| panic!("no files.pem in {v}")))
}

fn revoke(home: &Path, serial: &str, reason: &str) -> Value {
    pkictl_json(home, &["revoke", serial, "--reason", reason])
}

/// True once `openssl x509 -checkend 0` says the certificate has expired.
fn has_expired(cert: &Path) -> bool {
    !openssl([os("x509"), os("-noout"), os("-checkend"), os("0"), os("-in"), cert.as_os_str()])
        .status
        .success()
}

fn concat(out: &Path, parts: &[&Path]) {
    let mut bytes = Vec::new();
    for p in parts {
        let mut data = fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        if !data.ends_with(b"\n") {
            data.push(b'\n');
        }
        bytes.extend(data);
    }
    fs::write(out, bytes).unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
}

fn build_pki() -> Pki {
    let started = Instant::now();
    let dir = run_dir("interop");
    let home = dir.join("pki");
    let certs = dir.join("certs");
    let (root, _intermediate) = init(&home, ROOT_NAME, &[]);

    // Issued first so that it has expired by the time the rest is built.
    let expired = issue(&home, &certs, "client", "expired-client.pkictl.test", &["--validity", "1s"]);
    let server = issue(&home, &certs, "server", "localhost", &["--ip", "127.0.0.1", "--dns", SERVER_DNS]);
    let good = issue(&home, &certs, "client", "good-client.pkictl.test", &[]);
    let peer = issue(&home, &certs, "peer", "peer.pkictl.test", &[]);
    let revoked = issue(&home, &certs, "client", "revoked-client.pkictl.test", &[]);
    let server_as_client = issue(&home, &certs, "server", "server-as-client.pkictl.test", &[]);
    let spiffe = issue(&home, &certs, "client", "spiffe-client.pkictl.test", &["--uri", SPIFFE_ID]);

    let revocation = revoke(&home, &revoked.serial, "key-compromise");
    assert_eq!(
        revocation["crl"]["entries"], 1,
        "the intermediate's CRL lists the revoked client: {revocation}"
    );
    let issuing_crl = PathBuf::from(revocation["crl"]["files"]["pem"].as_str().expect("crl.files.pem"));
    let root_crl = publish_crl(&home, Some(ROOT_NAME));

    let crl_bundle = dir.join("crls.pem");
    concat(&crl_bundle, &[&root_crl, &issuing_crl]);
    let trust_bundle = dir.join("trust.pem");
    concat(&trust_bundle, &[&root, &root_crl, &issuing_crl]);

    let other_home = dir.join("other-pki");
    let (other_root, _) = init(&other_home, OTHER_ROOT_NAME, &[]);
    let stranger = issue(&other_home, &dir.join("other-certs"), "client", "stranger.pkictl.test", &[]);
    publish_crl(&other_home, None);
    publish_crl(&other_home, Some(OTHER_ROOT_NAME));

    // RFC 5280 validity includes the notAfter second itself: OpenSSL already counts it as
    // expired during that second, `pkictl verify` only after it. Wait until it is past.
    let not_after =
        time::OffsetDateTime::parse(&expired.not_after, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("not_after {:?}: {e}", expired.not_after));
    let past = not_after + time::Duration::milliseconds(1100);
    let remaining = past - time::OffsetDateTime::now_utc();
    if remaining.is_positive() {
        std::thread::sleep(remaining.unsigned_abs());
    }
    assert!(
        has_expired(&expired.crt),
        "openssl does not see {} as expired:\n{}",
        expired.crt.display(),
        x509_text(&expired.crt)
    );
    eprintln!("interop PKI built in {:.1?} in {}", started.elapsed(), dir.display());
    Pki {
        dir,
        home,
        root,
        root_crl,
        issuing_crl,
        crl_bundle,
        trust_bundle,
        other_root,
        server,
        good,
        peer,
        revoked,
        expired,
        server_as_client,
        stranger,
        spiffe,
    }
}

/// A home per key type, with `--crl-url` (so every certificate carries a CRL distribution
/// point), server, client and peer leaves, two revoked clients (reason `unspecified`, which
/// RFC 5280 says to leave out, and `superseded`) and both CRLs published.
struct KeyTypePki {
    key_type: &'static str,
    root: PathBuf,
    intermediate: PathBuf,
    root_crl: PathBuf,
    issuing_crl: PathBuf,
    server: Leaf,
    client: Leaf,
    peer: Leaf,
    /// More leaves (the RSA-4096 server in the RSA-2048 home).
    extra: Vec<Leaf>,
}

const KEY_TYPES: [&str; 3] = ["p256", "p384", "rsa2048"];

fn key_type_pkis() -> &'static [KeyTypePki] {
    static PKIS: OnceLock<Vec<KeyTypePki>> = OnceLock::new();
    PKIS.get_or_init(|| {
        let started = Instant::now();
        let dir = run_dir("interop-keytypes");
        let pkis = std::thread::scope(|s| {
            let handles: Vec<_> =
                KEY_TYPES.iter().map(|kt| s.spawn(|| build_key_type_pki(&dir, kt))).collect();
            handles.into_iter().map(|h| h.join().expect("a key-type PKI was built")).collect()
        });
        eprintln!("key-type PKIs built in {:.1?} in {}", started.elapsed(), dir.display());
        pkis
    })
}

fn build_key_type_pki(dir: &Path, key_type: &'static str) -> KeyTypePki {
    let home = dir.join(format!("pki-{key_type}"));
    let certs = dir.join(format!("certs-{key_type}"));
    let root_name = format!("Interop {key_type} Root CA");
    let (root, intermediate) =
        init(&home, &root_name, &["--key-type", key_type, "--crl-url", "http://pki.pkictl.test/crl"]);
    let kt = ["--key-type", key_type];
    let server = issue(&home, &certs, "server", SERVER_DNS, &[&kt[..], &["--ip", "127.0.0.1"]].concat());
    let client = issue(
        &home,
        &certs,
        "client",
        "client.pkictl.test",
        &[&kt[..], &["--email", "client@pkictl.test"]].concat(),
    );
    let peer = issue(
        &home,
        &certs,
        "peer",
        "peer.pkictl.test",
        &[&kt[..], &["--dns", "peer-alt.pkictl.test"]].concat(),
    );
    let mut extra = Vec::new();
    if key_type == "rsa2048" {
        extra.push(issue(&home, &certs, "server", "rsa4096.pkictl.test", &["--key-type", "rsa4096"]));
    }
    let gone1 = issue(&home, &certs, "client", "revoked-1.pkictl.test", &kt);
    let gone2 = issue(&home, &certs, "client", "revoked-2.pkictl.test", &kt);
    revoke(&home, &gone1.serial, "unspecified");
    let last = revoke(&home, &gone2.serial, "superseded");
    assert_eq!(last["crl"]["entries"], 2, "{last}");
    let issuing_crl = PathBuf::from(last["crl"]["files"]["pem"].as_str().expect("crl.files.pem"));
    let root_crl = publish_crl(&home, Some(&root_name));
    KeyTypePki { key_type, root, intermediate, root_crl, issuing_crl, server, client, peer, extra }
}

// ---------------------------------------------------------------------------------------------
// nginx + curl
// ---------------------------------------------------------------------------------------------

/// nginx as a child process (`daemon off`, `master_process off`: one process to stop), killed
/// when dropped.
struct Nginx {
    port: u16,
    dir: PathBuf,
    _process: ChildGuard,
}

impl Nginx {
    fn start(pki: &Pki) -> Nginx {
        let nginx = nginx_binary();
        let dir = pki.dir.join("nginx");
        fs::create_dir_all(&dir).expect("create the nginx directory");
        let mut last_error = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let conf = dir.join("nginx.conf");
            fs::write(&conf, nginx_conf(pki, &dir, port)).expect("write nginx.conf");
            let error_log = dir.join("error.log");
            let _ = fs::remove_file(&error_log);
            let mut cmd = Command::new(&nginx);
            cmd.arg("-p").arg(&dir).arg("-c").arg(&conf).arg("-e").arg(&error_log);
            cmd.stdin(std::process::Stdio::null());
            let mut process = ChildGuard::spawn("nginx", &mut cmd);
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if port_accepts(port) {
                    return Nginx { port, dir, _process: process };
                }
                if let Some(status) = process.try_status() {
                    last_error = format!(
                        "nginx exited with {status}:\n{}",
                        fs::read_to_string(&error_log).unwrap_or_default()
                    );
                    break;
                }
                if Instant::now() >= deadline {
                    panic!(
                        "nginx did not listen on 127.0.0.1:{port} within 10 s:\n{}",
                        fs::read_to_string(&error_log).unwrap_or_default()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if !last_error.contains("Address already in use") {
                break;
            }
        }
        panic!("nginx did not start: {last_error}");
    }

    /// The access-log line of the request for `/case/<label>`: (status, $ssl_client_verify,
    /// $ssl_client_s_dn). nginx logs after it has answered, so curl may be done first: wait.
    fn logged(&self, label: &str) -> (String, String, String) {
        let path = self.dir.join("access.log");
        let prefix = format!("/case/{label}|");
        let find = || {
            let log = fs::read_to_string(&path).unwrap_or_default();
            log.lines().rev().find(|l| l.starts_with(&prefix)).map(str::to_string)
        };
        wait_until(
            &format!("nginx to log /case/{label}"),
            Duration::from_secs(10),
            || find().is_some(),
            || fs::read_to_string(&path).unwrap_or_default(),
        );
        let line = find().expect("the line was logged");
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 4, "unexpected access-log line {line:?}");
        (fields[1].to_string(), fields[2].to_string(), fields[3].to_string())
    }
}

fn nginx_conf(pki: &Pki, dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        r#"# Generated by tests/interop.rs.
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    log_format mtls '$request_uri|$status|$ssl_client_verify|$ssl_client_s_dn';
    access_log {d}/access.log mtls;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost {SERVER_DNS};
        ssl_certificate {fullchain};
        ssl_certificate_key {key};
        ssl_client_certificate {root};
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_crl {crls};
        location / {{
            default_type text/plain;
            return 200 "subject=$ssl_client_s_dn\nverify=$ssl_client_verify\n";
        }}
    }}
}}
"#,
        fullchain = pki.server.fullchain.display(),
        key = pki.server.key.display(),
        root = pki.root.display(),
        crls = pki.crl_bundle.display(),
    )
}

/// What curl got: its exit status, the HTTP status code (None when there was no response)
/// and the body.
struct CurlResult {
    exit: Option<i32>,
    code: Option<u16>,
    body: String,
    stderr: String,
}

/// curl's arguments that present a client certificate: PEM certificate (or chain) + key.
fn curl_pem(cert: &Path, key: &Path) -> Vec<OsString> {
    vec!["--cert".into(), cert.into(), "--key".into(), key.into()]
}

/// `curl https://HOST:PORT/case/LABEL` trusting `ca`, with `client_args` (see `curl_pem`);
/// HOST resolves to 127.0.0.1.
fn curl(pki: &Pki, port: u16, host: &str, ca: &Path, client_args: &[OsString], label: &str) -> CurlResult {
    let mut cmd = Command::new(curl_binary());
    cmd.args(["-sS", "--max-time", "10", "--noproxy", "*", "-w", "\n%{http_code}"]).arg("--cacert").arg(ca);
    if host.parse::<std::net::IpAddr>().is_err() {
        cmd.arg("--resolve").arg(format!("{host}:{port}:127.0.0.1"));
    }
    cmd.args(client_args);
    cmd.arg(format!("https://{host}:{port}/case/{label}"));
    let done =
        run_bounded(&format!("curl-{label}"), &mut cmd, b"", &pki.dir.join("curl"), Duration::from_secs(20));
    let (body, code) = match done.stdout.rsplit_once('\n') {
        Some((body, code)) => (body.to_string(), code.trim().parse().ok().filter(|c| *c != 0)),
        None => (String::new(), done.stdout.trim().parse().ok().filter(|c| *c != 0)),
    };
    CurlResult { exit: done.status.code(), code, body, stderr: done.stderr }
}

#[test]
fn nginx_verifies_client_certificates_with_both_crls() {
    let pki = pki();
    let nginx = Nginx::start(pki);
    for client in MATRIX {
        let label = client.label();
        let args = match client.leaf(pki) {
            Some((leaf, true)) => curl_pem(&leaf.fullchain, &leaf.key),
            Some((leaf, false)) => curl_pem(&leaf.crt, &leaf.key),
            None => vec![],
        };
        let r = curl(pki, nginx.port, "localhost", &pki.root, &args, label);
        let (status, verify, dn) = nginx.logged(label);
        let context = format!(
            "client {label}: curl exit {:?}, HTTP {:?}, nginx logged status {status} verify {verify:?} dn {dn:?}\nbody: {}\ncurl stderr: {}",
            r.exit, r.code, r.body, r.stderr
        );
        assert_eq!(r.exit, Some(0), "curl itself failed; {context}");
        match client {
            Client::Good | Client::Peer => {
                let leaf = client.leaf(pki).expect("a certificate").0;
                let expected_dn = format!("CN={}", leaf.name);
                assert_eq!(r.code, Some(200), "{context}");
                assert!(r.body.contains(&format!("subject={expected_dn}\n")), "{context}");
                assert!(r.body.contains("verify=SUCCESS"), "{context}");
                assert_eq!(
                    (status.as_str(), verify.as_str(), dn.as_str()),
                    ("200", "SUCCESS", expected_dn.as_str()),
                    "{context}"
                );
                assert_eq!(leaf.subject, expected_dn, "pkictl reported the subject nginx sees");
            }
            Client::NoCertificate => {
                assert_eq!(r.code, Some(400), "{context}");
                assert!(r.body.contains("400 No required SSL certificate was sent"), "{context}");
                assert_eq!(verify, "NONE", "{context}");
            }
            _ => {
                assert_eq!(r.code, Some(400), "{context}");
                assert!(r.body.contains("400 The SSL certificate error"), "{context}");
                let allowed: &[&str] = match client {
                    Client::Revoked => &["FAILED:certificate revoked"],
                    Client::Expired => &["FAILED:certificate has expired"],
                    // nginx checks the clientAuth purpose of the leaf.
                    Client::ServerProfile => &["FAILED:unsuitable certificate purpose"],
                    // nginx lets OpenSSL go on after the first error and reports the last
                    // one: with CRL checks on, the unknown issuer's missing CRL comes last.
                    Client::Stranger => &[
                        "FAILED:unable to get local issuer certificate",
                        "FAILED:unable to get certificate CRL",
                    ],
                    Client::BareLeaf => &["FAILED:unable to verify the first certificate"],
                    _ => unreachable!(),
                };
                assert!(allowed.contains(&verify.as_str()), "expected one of {allowed:?}; {context}");
            }
        }
    }

    // The client side: curl checks nginx's certificate (sent with its intermediate) against
    // the root, for each name in its subjectAltName, and refuses another name.
    let good = &curl_pem(&pki.good.fullchain, &pki.good.key);
    for (i, host) in ["localhost", SERVER_DNS, "127.0.0.1"].into_iter().enumerate() {
        let r = curl(pki, nginx.port, host, &pki.root, good, &format!("host-{i}"));
        assert_eq!((r.exit, r.code), (Some(0), Some(200)), "curl to {host}: {}\n{}", r.body, r.stderr);
    }
    let r = curl(pki, nginx.port, WRONG_HOST, &pki.root, good, "wrong-host");
    assert_eq!(r.exit, Some(60), "curl must refuse the server for {WRONG_HOST}: {}\n{}", r.body, r.stderr);
    assert!(r.stderr.contains("no alternative certificate subject name matches"), "{}", r.stderr);
    let r = curl(pki, nginx.port, "localhost", &pki.other_root, good, "other-root");
    assert_eq!(
        r.exit,
        Some(60),
        "curl trusting another root must refuse the server: {}\n{}",
        r.body,
        r.stderr
    );
    assert!(r.stderr.contains("unable to get local issuer certificate"), "{}", r.stderr);

    // The good client as PKCS#12 from `pkictl export` (AES-256/PBKDF2, and --legacy 3DES/SHA-1):
    // curl (OpenSSL 3) reads the key and the chain from it.
    for legacy in [false, true] {
        let p12 = pki.dir.join(if legacy { "good-legacy.p12" } else { "good.p12" });
        let mut cmd = pkictl_with_passphrase(&pki.home);
        cmd.env("PKICTL_P12_PASSPHRASE", P12_PASSWORD)
            .args(["export", &pki.good.serial, "--format", "p12", "--key"])
            .arg(&pki.good.key)
            .arg("--out")
            .arg(&p12);
        if legacy {
            cmd.arg("--legacy");
        }
        let output = cmd.output().expect("run pkictl export");
        assert!(
            output.status.success(),
            "pkictl export --format p12 (legacy {legacy}): {}",
            stderr_of(&output)
        );
        let mut cert_arg = OsString::from(&p12);
        cert_arg.push(format!(":{P12_PASSWORD}"));
        let args: Vec<OsString> = vec!["--cert-type".into(), "P12".into(), "--cert".into(), cert_arg];
        let label = if legacy { "p12-legacy" } else { "p12" };
        let r = curl(pki, nginx.port, "localhost", &pki.root, &args, label);
        assert_eq!((r.exit, r.code), (Some(0), Some(200)), "{label}: {}\n{}", r.body, r.stderr);
        assert!(r.body.contains(&format!("subject={}\n", pki.good.subject)), "{label}: {}", r.body);
    }
}

// ---------------------------------------------------------------------------------------------
// openssl s_server + s_client
// ---------------------------------------------------------------------------------------------

/// One `s_server -naccept 1` (killed on drop) and one `s_client` connection to it.
fn openssl_handshake(pki: &Pki, client: Client, s_client_extra: &[&str], tag: &str) -> (Finished, Finished) {
    let openssl = openssl_binary();
    let scratch = pki.dir.join("openssl").join(tag);
    fs::create_dir_all(&scratch).expect("create the scratch directory");
    let port = free_port();
    let server_out = scratch.join("s_server.stdout");
    let server_err = scratch.join("s_server.stderr");
    let mut cmd = Command::new(&openssl);
    cmd.arg("s_server")
        .args(["-accept", &format!("127.0.0.1:{port}"), "-naccept", "1", "-www"])
        .arg("-cert")
        .arg(&pki.server.crt)
        .arg("-key")
        .arg(&pki.server.key)
        .arg("-cert_chain")
        .arg(&pki.server.chain)
        .arg("-CAfile")
        .arg(&pki.trust_bundle)
        .args(["-no-CApath", "-no-CAstore", "-Verify", "2", "-verify_return_error", "-crl_check_all"])
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(&server_out).expect("create s_server.stdout"))
        .stderr(fs::File::create(&server_err).expect("create s_server.stderr"));
    let mut server = ChildGuard::spawn("openssl s_server", &mut cmd);
    let read = |p: &Path| fs::read_to_string(p).unwrap_or_default();
    wait_until(
        "s_server to print ACCEPT",
        Duration::from_secs(10),
        || read(&server_out).contains("ACCEPT") || server.try_status().is_some(),
        || format!("{}{}", read(&server_out), read(&server_err)),
    );
    assert!(
        server.try_status().is_none(),
        "s_server exited early:\n{}{}",
        read(&server_out),
        read(&server_err)
    );

    let mut cmd = Command::new(&openssl);
    cmd.arg("s_client")
        .args(["-connect", &format!("127.0.0.1:{port}"), "-servername", "localhost"])
        .arg("-CAfile")
        .arg(&pki.root)
        .args(["-no-CApath", "-no-CAstore", "-verify_return_error", "-ign_eof"])
        .args(s_client_extra);
    if let Some((leaf, full)) = client.leaf(pki) {
        cmd.arg("-cert").arg(&leaf.crt).arg("-key").arg(&leaf.key);
        if full {
            cmd.arg("-cert_chain").arg(&leaf.chain);
        }
    }
    let client_done =
        run_bounded("s_client", &mut cmd, b"GET / HTTP/1.0\r\n\r\n", &scratch, Duration::from_secs(20));
    let status = server.wait_timeout(Duration::from_secs(10));
    let server_done = Finished {
        status: status.unwrap_or_else(|| {
            panic!(
                "s_server (-naccept 1) did not exit after the connection:\n{}{}",
                read(&server_out),
                read(&server_err)
            )
        }),
        stdout: read(&server_out),
        stderr: read(&server_err),
    };
    (server_done, client_done)
}

#[test]
fn openssl_s_server_verifies_client_certificates_with_both_crls() {
    let pki = pki();
    for client in MATRIX {
        let label = client.label();
        let (server, s_client) = openssl_handshake(pki, client, &["-verify_hostname", "localhost"], label);
        let context = format!(
            "client {label}: s_client exit {}\n--- s_server:\n{}\n--- s_client:\n{}",
            s_client.status,
            server.all(),
            s_client.all()
        );
        // The server was always accepted by s_client (root + intermediate, name, purpose).
        assert!(
            s_client.stdout.contains("Verify return code: 0 (ok)"),
            "s_client refused the server; {context}"
        );
        if matches!(client, Client::Good | Client::Peer) {
            assert!(s_client.status.success(), "{context}");
            assert!(s_client.stdout.contains("HTTP/1.0 200 ok"), "{context}");
            assert!(!server.all().contains("verify error"), "{context}");
            let leaf = client.leaf(pki).expect("a certificate").0;
            assert!(server.all().contains(&format!("depth=0 CN = {}", leaf.name)), "{context}");
            continue;
        }
        assert!(!s_client.status.success(), "s_client must fail; {context}");
        assert!(!s_client.stdout.contains("HTTP/1.0 200 ok"), "{context}");
        // What the server says, and the alert the client receives.
        let (server_says, alert) = match client {
            Client::Revoked => ("verify error:num=23:certificate revoked", "alert certificate revoked"),
            Client::Expired => ("verify error:num=10:certificate has expired", "alert certificate expired"),
            Client::ServerProfile => {
                ("verify error:num=26:unsuitable certificate purpose", "alert unsupported certificate")
            }
            Client::Stranger => {
                ("verify error:num=20:unable to get local issuer certificate", "alert unknown ca")
            }
            Client::BareLeaf => {
                ("verify error:num=20:unable to get local issuer certificate", "alert unknown ca")
            }
            Client::NoCertificate => ("peer did not return a certificate", "alert certificate required"),
            Client::Good | Client::Peer => unreachable!(),
        };
        assert!(server.all().contains(server_says), "s_server should say {server_says:?}; {context}");
        assert!(s_client.stderr.contains(alert), "s_client should get {alert:?}; {context}");
    }

    // s_client refuses the server for a name it does not carry, and accepts its IP address.
    let (_, s_client) = openssl_handshake(pki, Client::Good, &["-verify_hostname", WRONG_HOST], "wrong-host");
    assert!(!s_client.status.success(), "{}", s_client.all());
    assert!(s_client.all().contains("hostname mismatch"), "{}", s_client.all());
    let (_, s_client) = openssl_handshake(pki, Client::Good, &["-verify_ip", "127.0.0.1"], "ip");
    assert!(s_client.status.success(), "{}", s_client.all());
    assert!(s_client.stdout.contains("HTTP/1.0 200 ok"), "{}", s_client.all());
}

// ---------------------------------------------------------------------------------------------
// rustls / webpki in process
// ---------------------------------------------------------------------------------------------

fn rustls_handshake(pki: &Pki, client: Client, server_name: &str) -> Result<(), HandshakeError> {
    let root = pem_certs(&pki.root).remove(0);
    let crls = vec![pem_crl(&pki.root_crl), pem_crl(&pki.issuing_crl)];
    let server = pki.server.identity();
    let identity =
        client.leaf(pki).map(|(leaf, full)| if full { leaf.identity() } else { leaf.bare_identity() });
    mutual_tls(&Handshake {
        root: &root,
        crls: &crls,
        server: &server,
        client: identity.as_ref(),
        server_name,
    })
}

/// True when the server refused the client's certificate for a reason `expected` accepts.
fn server_refused_with(
    result: &Result<(), HandshakeError>,
    expected: impl Fn(&CertificateError) -> bool,
) -> bool {
    matches!(result, Err(HandshakeError::ServerRefused(TlsError::InvalidCertificate(e))) if expected(e))
}

#[test]
fn rustls_verifies_client_certificates_with_both_crls() {
    let pki = pki();
    for client in MATRIX {
        let result = rustls_handshake(pki, client, "localhost");
        let context = format!("client {}: {result:?}", client.label());
        let ok = match client {
            Client::Good | Client::Peer => result.is_ok(),
            Client::Revoked => server_refused_with(&result, |e| matches!(e, CertificateError::Revoked)),
            Client::Expired => server_refused_with(&result, |e| {
                matches!(e, CertificateError::Expired | CertificateError::ExpiredContext { .. })
            }),
            // webpki checks the clientAuth extended key usage.
            Client::ServerProfile => server_refused_with(&result, |e| {
                matches!(e, CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. })
            }),
            Client::Stranger | Client::BareLeaf => {
                server_refused_with(&result, |e| matches!(e, CertificateError::UnknownIssuer))
            }
            Client::NoCertificate => {
                matches!(result, Err(HandshakeError::ServerRefused(TlsError::NoCertificatesPresented)))
            }
        };
        assert!(ok, "unexpected outcome; {context}");
    }

    // A client identified by a SPIFFE ID (URI SAN) is accepted like any other.
    let spiffe = pki.spiffe.identity();
    let root = pem_certs(&pki.root).remove(0);
    let crls = vec![pem_crl(&pki.root_crl), pem_crl(&pki.issuing_crl)];
    let result = mutual_tls(&Handshake {
        root: &root,
        crls: &crls,
        server: &pki.server.identity(),
        client: Some(&spiffe),
        server_name: "localhost",
    });
    assert!(result.is_ok(), "SPIFFE client: {result:?}");

    // The client checks the server's name: every SAN is accepted, another name is not.
    for name in ["localhost", SERVER_DNS, "127.0.0.1"] {
        let result = rustls_handshake(pki, Client::Good, name);
        assert!(result.is_ok(), "server checked as {name}: {result:?}");
    }
    let result = rustls_handshake(pki, Client::Good, WRONG_HOST);
    assert!(
        matches!(
            &result,
            Err(HandshakeError::ClientRefused(TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )))
        ),
        "server checked as {WRONG_HOST}: {result:?}"
    );
}

#[test]
fn rustls_accepts_every_key_type_through_its_intermediate() {
    for k in key_type_pkis() {
        let root = pem_certs(&k.root).remove(0);
        let crls = vec![pem_crl(&k.root_crl), pem_crl(&k.issuing_crl)];
        let mut servers = vec![&k.server, &k.peer];
        servers.extend(k.extra.iter());
        for server in servers {
            for client in [&k.client, &k.peer] {
                let name = if server.name == "peer.pkictl.test" {
                    "peer-alt.pkictl.test"
                } else {
                    server.name.as_str()
                };
                let result = mutual_tls(&Handshake {
                    root: &root,
                    crls: &crls,
                    server: &server.identity(),
                    client: Some(&client.identity()),
                    server_name: name,
                });
                assert!(
                    result.is_ok(),
                    "{}: server {} as {name}, client {}: {result:?}",
                    k.key_type,
                    server.name,
                    client.name
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// pkictl verify agrees with the TLS stacks
// ---------------------------------------------------------------------------------------------

/// `pkictl --json verify CERT ARGS…` in the main home: (accepted, the first failed layer).
fn pkictl_verify(pki: &Pki, cert: &Path, args: &[&str]) -> (bool, Option<String>, Value) {
    let output = pkictl(&pki.home)
        .arg("--json")
        .arg("verify")
        .arg(cert)
        .args(args)
        .output()
        .expect("run pkictl verify");
    let v = json_object(&output);
    let accepted = v["accepted"].as_bool().unwrap_or_else(|| panic!("no accepted in {v}"));
    assert_eq!(output.status.code(), Some(if accepted { 0 } else { 1 }), "{v}");
    let failed = v["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["status"] == "failed")
        .map(|l| l["layer"].as_str().expect("layer").to_string());
    (accepted, failed, v)
}

/// `pkictl verify` is the operator's answer to "why does the handshake fail?": for every
/// client of the matrix it must reach the verdict nginx, OpenSSL and rustls reach, at the
/// layer that matches their reason.
#[test]
fn pkictl_verify_agrees_with_the_tls_stacks() {
    let pki = pki();
    for client in MATRIX {
        let Some((leaf, full)) = client.leaf(pki) else { continue };
        let cert = if full { &leaf.fullchain } else { &leaf.crt };
        let (accepted, failed, v) = pkictl_verify(pki, cert, &["--purpose", "client"]);
        let expected = match client {
            Client::Good | Client::Peer => None,
            Client::Revoked => Some("revocation"),
            Client::Expired => Some("validity"),
            Client::ServerProfile => Some("usage"),
            Client::Stranger | Client::BareLeaf => Some("chain"),
            Client::NoCertificate => unreachable!(),
        };
        assert_eq!(
            (accepted, failed.as_deref()),
            (expected.is_none(), expected),
            "client {}: {v}",
            client.label()
        );
    }
    for host in ["localhost", SERVER_DNS, "127.0.0.1"] {
        let (accepted, _, v) =
            pkictl_verify(pki, &pki.server.fullchain, &["--purpose", "server", "--host", host]);
        assert!(accepted, "server as {host}: {v}");
    }
    let (accepted, failed, v) =
        pkictl_verify(pki, &pki.server.fullchain, &["--purpose", "server", "--host", WRONG_HOST]);
    assert_eq!((accepted, failed.as_deref()), (false, Some("host")), "{v}");
}

// ---------------------------------------------------------------------------------------------
// Python cryptography's X.509 verifier
// ---------------------------------------------------------------------------------------------

const VERIFY_PY: &str = r#"
# Runs Python cryptography's RFC 5280 path validation on cases from a JSON file.
import ipaddress, json, sys
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

def load(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificates(f.read())

results = []
for case in json.load(open(sys.argv[1])):
    store = Store(load(case["root"]))
    certs = load(case["chain"])
    builder = PolicyBuilder().store(store)
    try:
        if case["kind"] == "server":
            name = case["name"]
            try:
                subject = x509.IPAddress(ipaddress.ip_address(name))
            except ValueError:
                subject = x509.DNSName(name)
            builder.build_server_verifier(subject).verify(certs[0], certs[1:])
        else:
            builder.build_client_verifier().verify(certs[0], certs[1:])
        results.append({"id": case["id"], "ok": True, "detail": ""})
    except VerificationError as e:
        results.append({"id": case["id"], "ok": False, "detail": str(e)})
json.dump(results, sys.stdout)
"#;

/// One path validation for the Python verifier.
struct PyCase {
    id: String,
    /// "server" (with `name`, a DNS name or an IP address) or "client".
    kind: &'static str,
    name: String,
    root: PathBuf,
    /// Leaf first, then what is sent along.
    chain: PathBuf,
    /// None: accepted; Some(text): refused with `text` in the reason.
    refused_for: Option<&'static str>,
}

fn server_case(id: &str, root: &Path, name: &str, chain: &Path, refused_for: Option<&'static str>) -> PyCase {
    PyCase {
        id: id.into(),
        kind: "server",
        name: name.into(),
        root: root.into(),
        chain: chain.into(),
        refused_for,
    }
}

fn client_case(id: &str, root: &Path, chain: &Path, refused_for: Option<&'static str>) -> PyCase {
    PyCase {
        id: id.into(),
        kind: "client",
        name: String::new(),
        root: root.into(),
        chain: chain.into(),
        refused_for,
    }
}

#[test]
fn python_cryptography_verifies_servers_and_clients() {
    let pki = pki();
    let root = &pki.root;
    let mut cases = vec![
        server_case("server as server.pkictl.test", root, SERVER_DNS, &pki.server.fullchain, None),
        server_case("server as localhost", root, "localhost", &pki.server.fullchain, None),
        server_case("server as 127.0.0.1", root, "127.0.0.1", &pki.server.fullchain, None),
        server_case(
            "server as a wrong name",
            root,
            WRONG_HOST,
            &pki.server.fullchain,
            Some("no matching subjectAltName"),
        ),
        server_case("peer as server", root, "peer.pkictl.test", &pki.peer.fullchain, None),
        server_case("client as server", root, "good-client.pkictl.test", &pki.good.fullchain, Some("EKU")),
        client_case("good client", root, &pki.good.fullchain, None),
        client_case("peer as client", root, &pki.peer.fullchain, None),
        client_case("SPIFFE client", root, &pki.spiffe.fullchain, None),
        client_case("expired client", root, &pki.expired.fullchain, Some("not valid at validation time")),
        client_case("server-profile client", root, &pki.server_as_client.fullchain, Some("EKU")),
        client_case("unrelated home's client", root, &pki.stranger.fullchain, Some("candidates exhausted")),
        client_case("client without its intermediate", root, &pki.good.crt, Some("candidates exhausted")),
    ];
    for k in key_type_pkis() {
        let kt = k.key_type;
        cases.push(server_case(&format!("{kt} server"), &k.root, SERVER_DNS, &k.server.fullchain, None));
        cases.push(server_case(
            &format!("{kt} peer as server"),
            &k.root,
            "peer-alt.pkictl.test",
            &k.peer.fullchain,
            None,
        ));
        cases.push(client_case(&format!("{kt} client"), &k.root, &k.client.fullchain, None));
        cases.push(client_case(&format!("{kt} peer as client"), &k.root, &k.peer.fullchain, None));
        for extra in &k.extra {
            cases.push(server_case(
                &format!("{kt} {}", extra.name),
                &k.root,
                &extra.name,
                &extra.fullchain,
                None,
            ));
        }
    }
    let dir = pki.dir.join("python");
    fs::create_dir_all(&dir).expect("create the python directory");
    let script = dir.join("verify.py");
    fs::write(&script, VERIFY_PY).expect("write verify.py");
    let input = dir.join("cases.json");
    let json_cases: Vec<Value> = cases
        .iter()
        .map(|c| json!({"id": c.id, "kind": c.kind, "name": c.name, "root": c.root, "chain": c.chain}))
        .collect();
    fs::write(&input, serde_json::to_vec_pretty(&json_cases).expect("JSON")).expect("write cases.json");

    let mut cmd = Command::new(python());
    cmd.arg(&script).arg(&input);
    let done = run_bounded("python-verify", &mut cmd, b"", &dir, Duration::from_secs(60));
    assert!(done.status.success(), "{script:?} failed with {}:\n{}", done.status, done.all());
    let results: Vec<Value> =
        serde_json::from_str(&done.stdout).unwrap_or_else(|e| panic!("bad output ({e}):\n{}", done.all()));
    assert_eq!(results.len(), cases.len(), "{}", done.stdout);
    for (case, result) in cases.iter().zip(&results) {
        let (id, chain) = (&case.id, case.chain.display());
        assert_eq!(result["id"], id.as_str());
        let (ok, detail) =
            (result["ok"].as_bool().expect("ok"), result["detail"].as_str().unwrap_or_default());
        match case.refused_for {
            None => assert!(ok, "{id} ({chain}) was refused: {detail}"),
            Some(why) => {
                assert!(!ok, "{id} ({chain}) was accepted");
                assert!(detail.contains(why), "{id}: refused for {detail:?}, expected {why:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// pkilint
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Finding {
    file: String,
    severity: String,
    code: String,
    message: String,
    node: String,
}

/// `TOOL lint ARGS… -s WARNING -f JSON FILES…`: every finding of WARNING or worse.
fn pkilint(tool: &str, args: &[&str], files: &[&Path]) -> Vec<Finding> {
    let mut cmd = Command::new(pkilint_tool(tool));
    cmd.arg("lint").args(args).args(["-s", "WARNING", "-f", "JSON"]).args(files);
    let dir = pki().dir.join("pkilint");
    let done = run_bounded(tool, &mut cmd, b"", &dir, Duration::from_secs(60));
    let v: Value = serde_json::from_str(&done.stdout).unwrap_or_else(|e| {
        panic!("{tool} {files:?} printed no JSON ({e}), exit {}:\n{}", done.status, done.all())
    });
    let file = files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(" <- ");
    let mut findings = Vec::new();
    for result in v["results"].as_array().unwrap_or_else(|| panic!("no results in {v}")) {
        for d in result["finding_descriptions"].as_array().expect("finding_descriptions") {
            findings.push(Finding {
                file: file.clone(),
                severity: d["severity"].as_str().unwrap_or_default().to_string(),
                code: d["code"].as_str().unwrap_or_default().to_string(),
                message: d["message"].as_str().unwrap_or_default().to_string(),
                node: result["node_path"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    // pkilint exits with the number of findings; a crash would exit non-zero with none.
    assert!(
        done.status.success() || !findings.is_empty(),
        "{tool} {files:?} exited {} without findings:\n{}",
        done.status,
        done.all()
    );
    findings
}

fn lint_cert(cert: &Path) -> Vec<Finding> {
    pkilint("lint_pkix_cert", &[], &[cert])
}

fn lint_crl(crl: &Path) -> Vec<Finding> {
    pkilint("lint_crl", &["-t", "CRL", "-p", "PKIX"], &[crl])
}

fn lint_pair(issuer: &Path, subject: &Path) -> Vec<Finding> {
    pkilint("lint_pkix_signer_signee_cert_chain", &[], &[issuer, subject])
}

fn crl_entries(crl: &Path) -> usize {
    let text = openssl_ok([os("crl"), os("-in"), crl.as_os_str(), os("-noout"), os("-text")]);
    text.matches("Serial Number:").count()
}

/// One pkilint run.
enum Lint<'a> {
    Cert(&'a Path),
    Crl(&'a Path),
    /// Issuer, subject.
    Pair(&'a Path, &'a Path),
}

impl Lint<'_> {
    fn run(&self) -> Vec<Finding> {
        match self {
            Lint::Cert(p) => lint_cert(p),
            Lint::Crl(p) => lint_crl(p),
            Lint::Pair(issuer, subject) => lint_pair(issuer, subject),
        }
    }
}

#[test]
fn pkilint_finds_no_error_in_any_certificate_or_crl() {
    let pki = pki();
    let mut jobs = Vec::new();
    for k in key_type_pkis() {
        jobs.extend([
            Lint::Cert(&k.root),
            Lint::Cert(&k.intermediate),
            // The root signs itself: pkilint wants its AKI there too.
            Lint::Pair(&k.root, &k.root),
            Lint::Pair(&k.root, &k.intermediate),
        ]);
        let mut leaves = vec![&k.server, &k.client, &k.peer];
        leaves.extend(k.extra.iter());
        for leaf in leaves {
            jobs.extend([Lint::Cert(&leaf.crt), Lint::Pair(&k.intermediate, &leaf.crt)]);
        }
        // The intermediate's CRL has entries (with and without a reason code); the root's is empty.
        assert_eq!(crl_entries(&k.issuing_crl), 2, "{}", k.issuing_crl.display());
        assert_eq!(crl_entries(&k.root_crl), 0, "{}", k.root_crl.display());
        jobs.extend([Lint::Crl(&k.issuing_crl), Lint::Crl(&k.root_crl)]);
    }
    // The main home (no --crl-url, encrypted keys): CAs, multi-label leaves, CRLs.
    let intermediate = pki.server.chain.as_path();
    jobs.extend([
        Lint::Cert(&pki.root),
        Lint::Cert(intermediate),
        Lint::Pair(&pki.root, &pki.root),
        Lint::Pair(&pki.root, intermediate),
    ]);
    for leaf in [&pki.good, &pki.peer, &pki.revoked, &pki.server_as_client] {
        jobs.push(Lint::Cert(&leaf.crt));
    }
    assert_eq!(crl_entries(&pki.issuing_crl), 1);
    jobs.extend([Lint::Crl(&pki.issuing_crl), Lint::Crl(&pki.root_crl)]);
    let documents = jobs.iter().filter(|j| !matches!(j, Lint::Pair(..))).count();
    assert_eq!(documents, 30, "certificates and CRLs linted");

    // Each run is a Python start-up: run a few at a time.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let findings: Vec<Finding> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let mut found = Vec::new();
                    while let Some(job) = jobs.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                        found.extend(job.run());
                    }
                    found
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("a pkilint worker")).collect()
    });

    let errors: Vec<&Finding> = findings.iter().filter(|f| f.severity != "WARNING").collect();
    assert!(errors.is_empty(), "pkilint ERROR/FATAL findings:\n{errors:#?}");
    for w in &findings {
        eprintln!("pkilint WARNING {} {} ({}) in {}", w.code, w.message, w.node, w.file);
    }
    let unknown: Vec<&Finding> =
        findings.iter().filter(|f| !KNOWN_PKILINT_WARNINGS.contains(&f.code.as_str())).collect();
    assert!(
        unknown.is_empty(),
        "new pkilint warnings: explain them in README (Interoperability) and add their codes to KNOWN_PKILINT_WARNINGS:\n{unknown:#?}"
    );
}

/// pkilint's known limitations, pinned so that we notice when they change: a single-label DNS
/// name (`localhost`) and a `spiffe://` URI are reported as ERRORs, and nothing else is.
#[test]
fn pkilint_known_limitations_are_the_only_findings() {
    let pki = pki();
    let summary = |fs: &[Finding]| {
        fs.iter().map(|f| (f.severity.clone(), f.code.clone(), f.message.clone())).collect::<BTreeSet<_>>()
    };

    // localhost + server.pkictl.test + 127.0.0.1: only `localhost` is reported.
    let findings = lint_cert(&pki.server.crt);
    assert_eq!(
        summary(&findings),
        BTreeSet::from([(
            "ERROR".to_string(),
            "pkix.invalid_domain_name_syntax".to_string(),
            "Invalid domain name syntax: \"localhost\"".to_string()
        )]),
        "{findings:#?}"
    );
    // A SPIFFE ID: pkilint's URI check accepts only web schemes.
    let findings = lint_cert(&pki.spiffe.crt);
    assert_eq!(
        summary(&findings),
        BTreeSet::from([(
            "ERROR".to_string(),
            "pkix.invalid_uri_syntax".to_string(),
            format!("Invalid URI syntax: \"{SPIFFE_ID}\"")
        )]),
        "{findings:#?}"
    );
    // The same certificates pass the chain checks (names and key identifiers, signatures).
    let intermediate = pki.server.chain.as_path();
    for leaf in [&pki.server, &pki.spiffe] {
        let findings = lint_pair(intermediate, &leaf.crt);
        assert!(findings.is_empty(), "{findings:#?}");
    }
}

// ---------------------------------------------------------------------------------------------
// pkictl demo
// ---------------------------------------------------------------------------------------------

#[test]
fn demo_shows_the_offline_and_online_handshakes_as_expected() {
    let output = assert_cmd::Command::cargo_bin("pkictl")
        .expect("the pkictl binary")
        .arg("demo")
        .env_remove("PKICTL_PASSPHRASE")
        .env_remove("PKICTL_HOME")
        .write_stdin(Vec::<u8>::new())
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run pkictl demo");
    let stdout = stdout_of(&output);
    assert!(
        output.status.success(),
        "pkictl demo failed with {}:\n{stdout}\n{}",
        output.status,
        stderr_of(&output)
    );
    let outcome = |label: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no line for {label:?}:\n{stdout}"))
            .to_string()
    };
    let valid = outcome("valid client certificate");
    assert!(valid.contains("ACCEPTED") && valid.contains("handshake complete"), "{valid}");
    let revoked = outcome("revoked client certificate");
    assert!(revoked.contains("REFUSED") && revoked.contains("Revoked"), "{revoked}");
    let none = outcome("no client certificate");
    assert!(none.contains("REFUSED") && none.contains("no certificates"), "{none}");
    // The online half: enrolled by token, renewed by the agent over mTLS, revoked (OCSP said so).
    assert!(outcome("enrolled by token").contains("ACCEPTED"), "{stdout}");
    assert!(outcome("renewed by the agent").contains("ACCEPTED"), "{stdout}");
    let after = outcome("renewed, then revoked");
    assert!(after.contains("REFUSED") && after.contains("Revoked"), "{after}");
    assert!(stdout.contains("serve's OCSP says revoked"), "{stdout}");
    // The throwaway directory is gone.
    let first = stdout.lines().next().unwrap_or_default();
    let dir =
        first.rsplit_once(" in ").map(|(_, d)| PathBuf::from(d.trim())).unwrap_or_else(|| panic!("{first}"));
    assert!(!dir.exists(), "the demo left {} behind", dir.display());

    // --json: the same three verdicts, as data.
    let output = assert_cmd::Command::cargo_bin("pkictl")
        .expect("the pkictl binary")
        .args(["--json", "demo"])
        .env_remove("PKICTL_PASSPHRASE")
        .env_remove("PKICTL_HOME")
        .write_stdin(Vec::<u8>::new())
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run pkictl demo --json");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let v = json_object(&output);
    let verdicts: Vec<(bool, bool)> = v["handshakes"]
        .as_array()
        .expect("handshakes")
        .iter()
        .map(|h| (h["accepted"].as_bool().expect("accepted"), h["expected"].as_bool().expect("expected")))
        .collect();
    assert_eq!(
        verdicts,
        [(true, true), (false, false), (false, false), (true, true), (true, true), (false, false)],
        "{v}"
    );
}
