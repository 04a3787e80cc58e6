//! Real ACME clients from Debian against `pkictl serve`'s ACME server, on loopback only:
//! certbot (standalone http-01: a certificate, a forced renewal, a refused name, a revocation
//! that OCSP then reports) and Caddy (an ACME client that then serves HTTPS with the
//! certificate it got). `serve` validates http-01 on the client's port (`--acme-http01-port`)
//! and resolves the test names to 127.0.0.1 (`--acme-resolve`). What they got is checked with
//! openssl and against the ledger.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::interop::{ChildGuard, curl_binary, free_port, require_program, run_bounded, wait_until};
use common::serve::{Serve, terminate};
use common::*;

const ROOT: &str = "Acme Clients Root";
const APP: &str = "app.example.com";
const WWW: &str = "www.example.com";
const CLIENT_TIMEOUT: Duration = Duration::from_secs(180);

struct Ca {
    pki: Pki,
    root_pem: PathBuf,
    serve: Serve,
}

impl Ca {
    /// A home with provisioner `web` (server profile, `*.example.com`), served on loopback;
    /// http-01 is validated on `http01_port` of 127.0.0.1 for the test names.
    fn validating_on(http01_port: u16) -> Ca {
        let pki = Pki::init_unencrypted(ROOT);
        let root_pem = pki.path("root.pem");
        fs::write(&root_pem, pki.ok(&["ca", "cert", ROOT]).stdout).expect("write the root");
        pki.ok(&["acme", "add", "web", "--profile", "server", "--allow", "*.example.com"]);
        let (port, app, www) =
            (http01_port.to_string(), format!("{APP}=127.0.0.1"), format!("{WWW}=127.0.0.1"));
        let args = [
            "--name",
            "localhost",
            "--acme-http01-port",
            &port,
            "--acme-resolve",
            &app,
            "--acme-resolve",
            &www,
        ];
        let serve = Serve::start(&pki, &args);
        Ca { pki, root_pem, serve }
    }

    fn directory(&self) -> String {
        format!("{}/acme/web/directory", self.serve.https.as_deref().expect("HTTPS is on"))
    }

    /// Serials (lower-case hex, no leading zeros) of every certificate issued through `web`.
    fn acme_serials(&self) -> Vec<String> {
        listed_certificates(&self.pki.home, &["--acme", "web"])
            .iter()
            .map(|c| normal_serial(c["serial"].as_str().unwrap_or_else(|| panic!("no serial in {c}"))))
            .collect()
    }
}

fn normal_serial(hex: &str) -> String {
    let lower = hex.trim().to_ascii_lowercase();
    let trimmed = lower.trim_start_matches('0');
    if trimmed.is_empty() { "0".to_string() } else { trimmed.to_string() }
}

/// `openssl x509 -serial` of a PEM certificate (the first one of a file or of `pem`).
fn serial_of_pem(pem: &[u8]) -> String {
    let out = openssl_with_stdin(["x509", "-noout", "-serial"], pem);
    assert!(out.status.success(), "openssl x509 -serial failed: {}", stderr_of(&out));
    let line = stdout_of(&out);
    normal_serial(line.trim().strip_prefix("serial=").unwrap_or_else(|| panic!("no serial= in {line}")))
}

/// A certbot run with its own config, work and logs directories under `dir`, trusting the root
/// through REQUESTS_CA_BUNDLE, never interactive.
struct Certbot {
    bin: PathBuf,
    dir: PathBuf,
    root_pem: PathBuf,
}

impl Certbot {
    fn new(ca: &Ca, name: &str) -> Certbot {
        let bin = require_program("certbot", &[], "certbot");
        Certbot { bin, dir: ca.pki.path(name), root_pem: ca.root_pem.clone() }
    }

    fn run(&self, args: &[&str]) -> common::interop::Finished {
        let mut cmd = Command::new(&self.bin);
        cmd.env("REQUESTS_CA_BUNDLE", &self.root_pem)
            .env("HOME", &self.dir)
            .args(args)
            .args(["--non-interactive", "--config-dir"])
            .arg(self.dir.join("config"))
            .arg("--work-dir")
            .arg(self.dir.join("work"))
            .arg("--logs-dir")
            .arg(self.dir.join("logs"));
        run_bounded("certbot", &mut cmd, b"", &self.dir.join("runs"), CLIENT_TIMEOUT)
    }

    /// `certbot certonly --standalone` for `names` from `directory`, answering http-01 on `port`.
    fn certonly(&self, directory: &str, port: u16, names: &[&str]) -> common::interop::Finished {
        let port = port.to_string();
        let mut args =
            vec!["certonly", "--standalone", "--http-01-address", "127.0.0.1", "--http-01-port", &port];
        args.extend(["--server", directory, "--agree-tos", "--register-unsafely-without-email"]);
        for name in names {
            args.extend(["-d", name]);
        }
        self.run(&args)
    }

    fn live(&self, name: &str, file: &str) -> PathBuf {
        self.dir.join("config/live").join(name).join(file)
    }

    /// certbot's debug log, where it writes the server's problem documents.
    fn debug_log(&self) -> String {
        fs::read_to_string(self.dir.join("logs/letsencrypt.log")).unwrap_or_default()
    }
}

/// `openssl verify` with the chain certbot saved accepts the leaf for TLS servers, and the
/// leaf has the serverAuth EKU and exactly `sans`.
fn assert_server_certificate(root: &Path, leaf: &Path, chain: &Path, sans: &str) {
    let verified = openssl_ok([
        "verify",
        "-CAfile",
        arg(root),
        "-untrusted",
        arg(chain),
        "-purpose",
        "sslserver",
        arg(leaf),
    ]);
    assert!(verified.contains(": OK"), "{verified}");
    let text = x509_text(leaf);
    let (_, eku) = extension(&text, "X509v3 Extended Key Usage").expect("an EKU");
    assert!(eku.contains("TLS Web Server Authentication"), "{eku}");
    let (_, san) = extension(&text, "X509v3 Subject Alternative Name").expect("a SAN");
    assert_eq!(san, sans);
}

/// certbot (Debian's package) gets a certificate for two names over http-01, and a forced
/// renewal gets another one; the ledger has both under the provisioner.
#[test]
fn certbot_gets_and_renews_a_certificate_over_http01() {
    let port = free_port();
    let ca = Ca::validating_on(port);
    let certbot = Certbot::new(&ca, "certbot");
    let got = certbot.certonly(&ca.directory(), port, &[APP, WWW]);
    assert!(got.status.success(), "certbot certonly failed:\n{}\n{}", got.all(), certbot.debug_log());
    let (leaf, chain) = (certbot.live(APP, "cert.pem"), certbot.live(APP, "chain.pem"));
    assert_server_certificate(&ca.root_pem, &leaf, &chain, "DNS:app.example.com, DNS:www.example.com");
    let first = serial_of_pem(&fs::read(&leaf).expect("read the certificate"));

    // Not from a terminal, certbot renew first sleeps up to 8 minutes unless told not to.
    let renewed = certbot.run(&["renew", "--force-renewal", "--no-random-sleep-on-renew"]);
    assert!(renewed.status.success(), "certbot renew failed:\n{}\n{}", renewed.all(), certbot.debug_log());
    assert_server_certificate(&ca.root_pem, &leaf, &chain, "DNS:app.example.com, DNS:www.example.com");
    let second = serial_of_pem(&fs::read(&leaf).expect("read the renewed certificate"));
    assert_ne!(first, second, "the renewal got the same certificate");

    let mut ledger = ca.acme_serials();
    ledger.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(ledger, expected, "the ledger's certificates of provisioner web");
    assert!(ca.serve.stop().success());
}

/// A name outside the provisioner's patterns is refused at newOrder with rejectedIdentifier:
/// certbot fails, and nothing is issued.
#[test]
fn certbot_asking_for_a_name_outside_the_patterns_is_refused() {
    let port = free_port();
    let ca = Ca::validating_on(port);
    let certbot = Certbot::new(&ca, "certbot-refused");
    let refused = certbot.certonly(&ca.directory(), port, &["app.example.org"]);
    assert!(!refused.status.success(), "certbot got a certificate for app.example.org:\n{}", refused.all());
    // certbot 2.1 prints a traceback of its own instead of the problem (josepy on Python
    // 3.11), so the problem document is read from its debug log, which records the answer.
    let said = format!("{}\n{}", refused.all(), certbot.debug_log());
    assert!(said.contains("urn:ietf:params:acme:error:rejectedIdentifier"), "{said}");
    assert!(said.contains("app.example.org"), "{said}");
    assert!(!certbot.live("app.example.org", "cert.pem").exists());
    assert_eq!(ca.acme_serials(), Vec::<String>::new());
    assert!(ca.serve.stop().success());
}

/// Caddy (Debian's package), configured with `acme_ca` and `acme_ca_root`, gets its
/// certificate from `serve` over http-01 on its HTTP port and serves HTTPS with it.
#[test]
fn caddy_gets_its_certificate_and_serves_https_with_it() {
    let caddy = require_program("caddy", &[], "caddy");
    let (http_port, https_port) = (free_port(), free_port());
    let ca = Ca::validating_on(http_port);
    let dir = ca.pki.path("caddy");
    fs::create_dir_all(&dir).expect("create Caddy's directory");
    let caddyfile = dir.join("Caddyfile");
    fs::write(&caddyfile, caddyfile_text(&ca, &dir, http_port, https_port)).expect("write the Caddyfile");
    let log = dir.join("caddy.log");
    let mut cmd = Command::new(caddy);
    cmd.args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&caddyfile)
        .env("HOME", &dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(fs::File::create(&log).expect("create Caddy's log"));
    let mut process = ChildGuard::spawn("caddy", &mut cmd);
    let read_log = || fs::read_to_string(&log).unwrap_or_default();
    let mut exited = None;
    wait_until(
        "Caddy to obtain its certificate",
        CLIENT_TIMEOUT,
        || {
            exited = process.try_status();
            exited.is_some() || read_log().contains("certificate obtained successfully")
        },
        || format!("{}\n{}", read_log(), ca.serve.log()),
    );
    assert!(exited.is_none(), "Caddy exited with {exited:?}:\n{}", read_log());

    let resolve = format!("{APP}:{https_port}:127.0.0.1");
    let url = format!("https://{APP}:{https_port}/");
    let page = Command::new(curl_binary())
        .args(["-sS", "--max-time", "30", "--cacert", arg(&ca.root_pem), "--resolve", &resolve, &url])
        .output()
        .expect("run curl");
    assert!(page.status.success(), "curl {url} failed: {}\n{}", stderr_of(&page), read_log());
    assert_eq!(stdout_of(&page), "served by Caddy with a pkictl certificate");

    let served = served_certificate(https_port, APP, &ca.root_pem);
    assert_eq!(
        ca.acme_serials(),
        vec![serial_of_pem(&served)],
        "the ledger's certificates of provisioner web"
    );
    terminate(process.id());
    let status = process.wait_timeout(Duration::from_secs(20));
    assert!(status.is_some(), "Caddy did not stop within 20 s of SIGTERM:\n{}", read_log());
    assert!(ca.serve.stop().success());
}

/// Loopback only, storage in the test's directory, no admin endpoint, no local CA, and the
/// tls-alpn-01 challenge off (the server validates http-01).
fn caddyfile_text(ca: &Ca, dir: &Path, http_port: u16, https_port: u16) -> String {
    format!(
        "{{
\tadmin off
\tdefault_bind 127.0.0.1
\thttp_port {http_port}
\thttps_port {https_port}
\tstorage file_system {storage}
\tacme_ca {directory}
\tacme_ca_root {root}
\tskip_install_trust
}}

{APP} {{
\ttls {{
\t\tissuer acme {{
\t\t\tdisable_tlsalpn_challenge
\t\t}}
\t}}
\trespond \"served by Caddy with a pkictl certificate\" 200
}}
",
        storage = dir.join("storage").display(),
        directory = ca.directory(),
        root = ca.root_pem.display(),
    )
}

/// The leaf certificate (PEM) a TLS server on 127.0.0.1:`port` presents for `name`, verified
/// against `root` by openssl s_client.
fn served_certificate(port: u16, name: &str, root: &Path) -> Vec<u8> {
    let connect = format!("127.0.0.1:{port}");
    let out = openssl_with_stdin(
        ["s_client", "-connect", &connect, "-servername", name, "-CAfile", arg(root), "-verify_return_error"],
        b"",
    );
    let text = stdout_of(&out);
    assert!(out.status.success(), "openssl s_client failed:\n{text}\n{}", stderr_of(&out));
    let begin = text.find("-----BEGIN CERTIFICATE-----").unwrap_or_else(|| panic!("no certificate:\n{text}"));
    let end_marker = "-----END CERTIFICATE-----";
    let end = text[begin..].find(end_marker).map(|e| begin + e + end_marker.len()).expect("a PEM end");
    text.as_bytes()[begin..end].to_vec()
}

/// `certbot revoke` (RFC 8555 revokeCert, signed by certbot's account) revokes the
/// certificate with its reason: the ledger says so, and serve's OCSP answers revoked.
#[test]
fn certbot_revoke_makes_ocsp_say_revoked() {
    let port = free_port();
    let ca = Ca::validating_on(port);
    let certbot = Certbot::new(&ca, "certbot-revoke");
    let got = certbot.certonly(&ca.directory(), port, &[APP]);
    assert!(got.status.success(), "certbot certonly failed:\n{}\n{}", got.all(), certbot.debug_log());
    let (leaf, chain) = (certbot.live(APP, "cert.pem"), certbot.live(APP, "chain.pem"));
    let ocsp = || common::serve::ocsp_status(&ca.serve, &chain, &leaf, &ca.root_pem);
    assert_eq!(ocsp(), "good");

    let leaf_path = leaf.to_str().expect("a UTF-8 path");
    let revoked = certbot.run(&[
        "revoke",
        "--cert-path",
        leaf_path,
        "--reason",
        "keycompromise",
        "--server",
        &ca.directory(),
        "--no-delete-after-revoke",
    ]);
    assert!(revoked.status.success(), "certbot revoke failed:\n{}\n{}", revoked.all(), certbot.debug_log());
    wait_until(
        "OCSP to say revoked",
        Duration::from_secs(5),
        || ocsp().starts_with("revoked"),
        || ca.serve.log(),
    );
    let serial = serial_of_pem(&fs::read(&leaf).expect("read the certificate"));
    let listed = listed_certificates(&ca.pki.home, &["--acme", "web"]);
    let entry = listed.iter().find(|c| c["serial"].as_str().map(normal_serial) == Some(serial.clone()));
    let entry = entry.unwrap_or_else(|| panic!("{serial} not in {listed:?}"));
    assert_eq!(entry["status"], "revoked", "{entry}");
    assert_eq!(entry["revocation_reason"], "key-compromise", "{entry}");
    assert!(ca.serve.stop().success());
}
