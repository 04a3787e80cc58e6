//! The ACME challenges dns-01 and tls-alpn-01 (RFC 8555 §8.4, RFC 8737, RFC 8738 §6) of
//! `pkictl serve`, on loopback only: lego (Debian's package) gets certificates through both,
//! against a real DNS server (pebble-challtestsrv, from Debian's pebble package) for dns-01;
//! hand-driven orders (tests/common/acme.rs) meet wrong TXT records and tls-alpn-01 responders
//! (Python `cryptography` and `ssl`) whose certificate is wrong in one way each.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use common::acme::{AcmeClient, PROBLEM, Pending};
use common::interop::{
    ChildGuard, free_port, port_accepts, python, require_program, run_bounded, wait_until,
};
use common::serve::Serve;
use common::*;
use serde_json::{Value, json};

const ROOT: &str = "Acme Challenges Root";

struct Ca {
    pki: Pki,
    root_pem: PathBuf,
    serve: Serve,
}

/// A home with provisioner `web` for example.test, its subtree and 127.0.0.1, served on
/// loopback with `serve_args` (the validation knobs).
fn ca(serve_args: &[&str]) -> Ca {
    let pki = Pki::init_unencrypted(ROOT);
    let root_pem = pki.path("root.pem");
    fs::write(&root_pem, pki.ok(&["ca", "cert", ROOT]).stdout).expect("write the root");
    pki.ok(&[
        "acme",
        "add",
        "web",
        "--profile",
        "server",
        "--allow",
        "example.test",
        "--allow",
        "*.example.test",
        "--allow-ip",
        "127.0.0.1/32",
    ]);
    let serve = Serve::start(&pki, &[&["--name", "localhost"], serve_args].concat());
    Ca { pki, root_pem, serve }
}

impl Ca {
    fn client(&self) -> AcmeClient<'_> {
        AcmeClient {
            pki: &self.pki,
            root_pem: self.root_pem.clone(),
            https: self.serve.https.clone().expect("HTTPS is on"),
            provisioner: "web".to_string(),
        }
    }

    fn directory(&self) -> String {
        self.client().url("directory")
    }

    /// Certificates in the ledger for example.test names or 127.0.0.1, other than serve's own
    /// HTTPS certificate (localhost and its listen address).
    fn issued(&self) -> usize {
        ledger_testing::certificates(&self.pki.home)
            .iter()
            .filter(|c| !c.sans.contains("localhost"))
            .filter(|c| c.sans.contains("example.test") || c.sans.contains("127.0.0.1"))
            .count()
    }

    /// lego with `args` before `run`, trusting the root; asserts it succeeded.
    fn lego(&self, env: &[(&str, &str)], args: &[&str]) -> PathBuf {
        let finished = self.lego_run(env, args);
        assert!(finished.status.success(), "lego failed:\n{}\n{}", finished.stdout, finished.stderr);
        self.pki.path("lego")
    }

    fn lego_run(&self, env: &[(&str, &str)], args: &[&str]) -> common::interop::Finished {
        let lego = require_program("lego", &[], "lego");
        let mut cmd = Command::new(lego);
        cmd.env("LEGO_CA_CERTIFICATES", &self.root_pem)
            .envs(env.iter().copied())
            .args(["--server", &self.directory(), "--accept-tos", "--email", "ops@example.com"])
            .args(args)
            .arg("--path")
            .arg(self.pki.path("lego"))
            .arg("run");
        run_bounded("lego", &mut cmd, b"", &self.pki.path("lego-logs"), Duration::from_secs(180))
    }
}

/// `openssl verify` accepts the certificate lego saved, for serverAuth, with exactly `sans`.
fn assert_verified_with_sans(ca: &Ca, leaf: &Path, sans: &str) {
    let verified = openssl_ok([
        "verify",
        "-purpose",
        "sslserver",
        "-CAfile",
        arg(&ca.root_pem),
        "-untrusted",
        arg(leaf),
        arg(leaf),
    ]);
    assert!(verified.contains(": OK"), "{verified}");
    let text = x509_text(leaf);
    let (_, san) = extension(&text, "X509v3 Subject Alternative Name").expect("a SAN");
    assert_eq!(san, sans, "{text}");
    let (_, eku) = extension(&text, "X509v3 Extended Key Usage").expect("an EKU");
    assert_eq!(eku, "TLS Web Server Authentication", "{text}");
}

// ---------------------------------------------------------------------------------------------
// A real DNS server: pebble-challtestsrv, its records set over its management API

/// pebble-challtestsrv serving DNS (UDP and TCP) on one loopback port, managed over HTTP on
/// another; every name it does not know has the address 127.0.0.1.
struct DnsServer {
    dns_port: u16,
    management_port: u16,
    _process: ChildGuard,
}

impl DnsServer {
    fn start(scratch: &Path) -> DnsServer {
        let program = require_program("pebble-challtestsrv", &[], "pebble");
        let (dns_port, management_port) = (free_port(), free_port());
        fs::create_dir_all(scratch).expect("create the scratch directory");
        let log = fs::File::create(scratch.join("challtestsrv.log")).expect("create the log");
        let mut cmd = Command::new(program);
        cmd.args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-management", &format!("127.0.0.1:{management_port}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv6", ""])
            .stdout(log.try_clone().expect("clone the log"))
            .stderr(log);
        let process = ChildGuard::spawn("pebble-challtestsrv", &mut cmd);
        let log_path = scratch.join("challtestsrv.log");
        wait_until(
            "pebble-challtestsrv to listen",
            Duration::from_secs(30),
            || port_accepts(management_port) && port_accepts(dns_port),
            || fs::read_to_string(&log_path).unwrap_or_default(),
        );
        DnsServer { dns_port, management_port, _process: process }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.dns_port)
    }

    fn manage(&self, path: &str, body: &Value) {
        let output = Command::new(common::interop::curl_binary())
            .args(["-sS", "--fail", "--max-time", "30", "-X", "POST", "--data-binary", &body.to_string()])
            .arg(format!("http://127.0.0.1:{}/{path}", self.management_port))
            .output()
            .expect("run curl");
        assert!(output.status.success(), "{path}: {}", String::from_utf8_lossy(&output.stderr));
    }

    /// Publishes a TXT record (`name` without the final dot).
    fn set_txt(&self, name: &str, value: &str) {
        self.manage("set-txt", &json!({"host": format!("{name}."), "value": value}));
    }

    /// Makes `name` a CNAME of `target` (both without the final dot).
    fn set_cname(&self, name: &str, target: &str) {
        self.manage("set-cname", &json!({"host": format!("{name}."), "target": format!("{target}.")}));
    }

    /// A script for lego's `exec` DNS provider that publishes and removes its records here.
    fn lego_exec_script(&self, dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let curl = common::interop::curl_binary();
        let base = format!("http://127.0.0.1:{}", self.management_port);
        let script = format!(
            "#!/bin/sh\nset -e\ncase \"$1\" in\n\
             present) exec {curl} -sS --fail -X POST --data-binary \"{{\\\"host\\\":\\\"$2\\\",\\\"value\\\":\\\"$3\\\"}}\" {base}/set-txt ;;\n\
             cleanup) exec {curl} -sS --fail -X POST --data-binary \"{{\\\"host\\\":\\\"$2\\\"}}\" {base}/clear-txt ;;\n\
             esac\n",
            curl = curl.display()
        );
        let path = dir.join("lego-dns.sh");
        fs::write(&path, script).expect("write the script");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod the script");
        path
    }
}

#[test]
fn lego_gets_a_wildcard_and_apex_certificate_over_dns01_from_a_real_dns_server() {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let dns = DnsServer::start(scratch.path());
    let ca = ca(&["--acme-dns", &dns.address()]);
    let script = dns.lego_exec_script(scratch.path());
    let dir = ca.lego(
        &[
            ("EXEC_PATH", arg(&script)),
            ("EXEC_POLLING_INTERVAL", "1"),
            ("EXEC_PROPAGATION_TIMEOUT", "60"),
            ("EXEC_SEQUENCE_INTERVAL", "1"),
        ],
        &[
            "--dns",
            "exec",
            "--dns.resolvers",
            &dns.address(),
            "--dns.disable-cp",
            "--domains",
            "*.example.test",
            "--domains",
            "example.test",
        ],
    );
    let leaf = dir.join("certificates/_.example.test.crt");
    assert_verified_with_sans(&ca, &leaf, "DNS:*.example.test, DNS:example.test");
    assert_eq!(ca.issued(), 1);
    assert!(ca.serve.log().contains("/chall/"), "{}", ca.serve.log());
}

/// What a test publishes on the DNS server before the challenge is validated, given the
/// identifier's base name and the key authorization.
type Publish<'a> = &'a dyn Fn(&DnsServer, &str, &str);

/// An order of `identifier` whose dns-01 challenge is answered from a DNS server that the CA
/// asks (`--acme-dns`), with the records `publish` set: the challenge as answered.
fn dns01_outcome(identifier: Value, publish: Publish<'_>) -> (Ca, Pending, Value) {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let dns = DnsServer::start(scratch.path());
    let ca = ca(&["--acme-dns", &dns.address()]);
    let client = ca.client();
    let pending = client.pending_order("a.pem", identifier.clone(), "dns-01");
    let base = identifier["value"].as_str().expect("a value").trim_start_matches("*.");
    publish(&dns, base, &client.key_authorization("a.pem", &pending.token));
    let challenge = client.respond(&pending);
    drop(client);
    (ca, pending, challenge)
}

/// base64url(SHA-256(text)), as dns-01 wants it, computed by Python.
fn dns01_digest(text: &str) -> String {
    let code = "import base64,hashlib,sys; \
                print(base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest()).rstrip(b'=').decode())";
    let output = Command::new(python()).args(["-c", code, text]).output().expect("run python");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn a_dns01_txt_record_with_the_digest_makes_a_wildcard_authorization_valid() {
    let digest = |dns: &DnsServer, base: &str, ka: &str| {
        dns.set_txt(&format!("_acme-challenge.{base}"), "some other record");
        dns.set_txt(&format!("_acme-challenge.{base}"), &dns01_digest(ka));
    };
    let (ca, pending, challenge) = dns01_outcome(json!({"type": "dns", "value": "*.example.test"}), &digest);
    assert_eq!(challenge["status"], "valid", "{challenge}");
    let client = ca.client();
    let authz = client.read(&pending, &pending.authz_url);
    assert_eq!(authz["status"], "valid", "{authz}");
    assert_eq!(authz["identifier"], json!({"type": "dns", "value": "example.test"}), "{authz}");
    assert_eq!(client.read(&pending, &pending.order_url)["status"], "ready");
}

#[test]
fn a_dns01_txt_record_behind_a_cname_is_found() {
    // The usual delegation: _acme-challenge points into a zone the client may update.
    let delegated = |dns: &DnsServer, base: &str, ka: &str| {
        dns.set_cname(&format!("_acme-challenge.{base}"), "app.acme-delegated.example.test");
        dns.set_txt("app.acme-delegated.example.test", &dns01_digest(ka));
    };
    let (_ca, _pending, challenge) =
        dns01_outcome(json!({"type": "dns", "value": "app.example.test"}), &delegated);
    assert_eq!(challenge["status"], "valid", "{challenge}");
}

/// The challenge, its authorization and its order are invalid with problem `kind`, and nothing
/// was issued.
fn assert_invalid(ca: &Ca, pending: &Pending, challenge: &Value, kind: &str) {
    assert_eq!(challenge["status"], "invalid", "{challenge}");
    assert_eq!(challenge["error"]["type"], format!("{PROBLEM}{kind}"), "{challenge}");
    assert!(challenge["error"]["detail"].as_str().is_some_and(|d| !d.is_empty()), "{challenge}");
    let client = ca.client();
    assert_eq!(client.read(pending, &pending.authz_url)["status"], "invalid");
    let order = client.read(pending, &pending.order_url);
    assert_eq!(order["status"], "invalid", "{order}");
    assert_eq!(order["error"]["type"], format!("{PROBLEM}{kind}"), "{order}");
    assert_eq!(ca.issued(), 0, "no certificate for a failed validation");
}

#[test]
fn a_dns01_txt_record_with_another_value_is_an_incorrect_response() {
    // The key authorization itself, not its digest: a classic client mistake.
    let raw = |dns: &DnsServer, base: &str, ka: &str| dns.set_txt(&format!("_acme-challenge.{base}"), ka);
    let (ca, pending, challenge) = dns01_outcome(json!({"type": "dns", "value": "app.example.test"}), &raw);
    assert_invalid(&ca, &pending, &challenge, "incorrectResponse");
    let detail = challenge["error"]["detail"].as_str().unwrap_or("");
    assert!(detail.contains("_acme-challenge.app.example.test"), "{detail}");
}

#[test]
fn a_dns01_challenge_without_a_txt_record_is_a_dns_problem() {
    let nothing = |_: &DnsServer, _: &str, _: &str| {};
    let (ca, pending, challenge) =
        dns01_outcome(json!({"type": "dns", "value": "app.example.test"}), &nothing);
    assert_invalid(&ca, &pending, &challenge, "dns");
    let detail = challenge["error"]["detail"].as_str().unwrap_or("");
    assert!(detail.contains("_acme-challenge.app.example.test"), "{detail}");
}

#[test]
fn a_dns01_challenge_whose_dns_server_does_not_answer_is_a_dns_problem() {
    // A UDP port nobody reads: queries are dropped or refused, never answered.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let address = silent.local_addr().expect("address").to_string();
    let ca = ca(&["--acme-dns", &address]);
    let client = ca.client();
    let pending =
        client.pending_order("a.pem", json!({"type": "dns", "value": "app.example.test"}), "dns-01");
    let challenge = client.respond(&pending);
    assert_invalid(&ca, &pending, &challenge, "dns");
    let detail = challenge["error"]["detail"].as_str().unwrap_or("");
    assert!(detail.contains("_acme-challenge.app.example.test"), "{detail}");
}

// ---------------------------------------------------------------------------------------------
// tls-alpn-01

/// lego answers tls-alpn-01 itself on `--tls.port`; the CA resolves the name with --acme-dns
/// (challtestsrv's default address, 127.0.0.1) and connects there.
#[test]
fn lego_gets_a_certificate_over_tls_alpn01() {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let dns = DnsServer::start(scratch.path());
    let port = free_port();
    let ca = ca(&["--acme-tls-alpn01-port", &port.to_string(), "--acme-dns", &dns.address()]);
    let dir =
        ca.lego(&[], &["--tls", "--tls.port", &format!("127.0.0.1:{port}"), "--domains", "app.example.test"]);
    assert_verified_with_sans(&ca, &dir.join("certificates/app.example.test.crt"), "DNS:app.example.test");
    assert_eq!(ca.issued(), 1);
}

/// A Python tls-alpn-01 responder on loopback, waiting for its key authorization.
struct Responder {
    port: u16,
    stdin: Option<ChildStdin>,
    stdout: BufReader<std::process::ChildStdout>,
    child: Child,
}

impl Responder {
    fn start(mode: &str, identifier: &str) -> Responder {
        let mut child = Command::new(python())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/acme/tls_alpn01_responder.py"))
            .args([mode, identifier])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the responder");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the port");
        let port = line.trim().parse().unwrap_or_else(|_| panic!("the responder did not start: {line:?}"));
        Responder { port, stdin, stdout, child }
    }

    fn answer(&mut self, key_authorization: &str) {
        let mut stdin = self.stdin.take().expect("answered once");
        writeln!(stdin, "{key_authorization}").expect("send the key authorization");
    }

    /// What the responder saw of the handshake: `sni=… alpn=…`.
    fn seen(mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read what the responder saw");
        let _ = self.child.wait();
        line.trim().to_string()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An order of `identifier` whose tls-alpn-01 challenge a responder in `mode` answers, the CA
/// started with `extra` too: the challenge as answered, and what the responder saw.
fn tls_alpn01_outcome(mode: &str, identifier: Value, extra: &[&str]) -> (Ca, Pending, Value, String) {
    let value = identifier["value"].as_str().expect("a value").to_string();
    let mut responder = Responder::start(mode, &value);
    let port = responder.port.to_string();
    let pin = format!("{value}=127.0.0.1");
    let ca = ca(&[&["--acme-tls-alpn01-port", &port, "--acme-resolve", &pin], extra].concat());
    let client = ca.client();
    let pending = client.pending_order("a.pem", identifier, "tls-alpn-01");
    responder.answer(&client.key_authorization("a.pem", &pending.token));
    let challenge = client.respond(&pending);
    drop(client);
    (ca, pending, challenge, responder.seen())
}

#[test]
fn a_tls_alpn01_certificate_for_an_ip_address_is_checked_under_its_reverse_dns_name() {
    let (ca, pending, challenge, seen) =
        tls_alpn01_outcome("good", json!({"type": "ip", "value": "127.0.0.1"}), &[]);
    assert_eq!(challenge["status"], "valid", "{challenge}");
    assert_eq!(seen, "sni=1.0.0.127.in-addr.arpa alpn=acme-tls/1", "RFC 8738 §6");
    assert_eq!(ca.client().read(&pending, &pending.order_url)["status"], "ready");
}

#[test]
fn a_tls_alpn01_certificate_with_the_digest_for_a_dns_name_is_valid_over_tls_1_3_and_1_2() {
    // A DNS server that never answers: the --acme-resolve pin wins over --acme-dns, so the
    // name is not looked up at all.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let dns = silent.local_addr().expect("address").to_string();
    for mode in ["good", "good-tls12"] {
        let (_ca, _pending, challenge, seen) = tls_alpn01_outcome(
            mode,
            json!({"type": "dns", "value": "app.example.test"}),
            &["--acme-dns", &dns],
        );
        assert_eq!(challenge["status"], "valid", "{mode}: {challenge}");
        assert_eq!(seen, "sni=app.example.test alpn=acme-tls/1", "{mode}");
    }
}

#[test]
fn a_tls_alpn01_certificate_without_a_critical_acme_identifier_of_the_digest_is_refused() {
    for (mode, expected) in [
        ("missing", "without exactly one acmeIdentifier"),
        ("noncritical", "not critical"),
        ("wrong-digest", "not the key authorization's digest"),
        ("no-alpn", "did not negotiate ALPN acme-tls/1"),
    ] {
        let (ca, pending, challenge, _) =
            tls_alpn01_outcome(mode, json!({"type": "dns", "value": "app.example.test"}), &[]);
        assert_invalid(&ca, &pending, &challenge, "incorrectResponse");
        let detail = challenge["error"]["detail"].as_str().unwrap_or("");
        assert!(detail.contains(expected), "{mode}: {detail}");
    }
}

#[test]
fn a_tls_alpn01_challenge_nobody_answers_is_a_connection_problem() {
    let port = free_port().to_string();
    let ca = ca(&["--acme-tls-alpn01-port", &port, "--acme-resolve", "app.example.test=127.0.0.1"]);
    let client = ca.client();
    let pending =
        client.pending_order("a.pem", json!({"type": "dns", "value": "app.example.test"}), "tls-alpn-01");
    let challenge = client.respond(&pending);
    assert_invalid(&ca, &pending, &challenge, "connection");
}

#[test]
fn a_validation_knob_that_does_not_parse_is_bad_usage() {
    let pki = Pki::init_unencrypted(ROOT);
    for (flag, value) in [("--acme-dns", "localhost"), ("--acme-tls-alpn01-port", "70000")] {
        let output = pkictl(&pki.home).args(["serve", flag, value]).output().expect("run pkictl");
        let stderr = assert_error(&output, 2);
        assert!(stderr.contains(flag), "{stderr}");
    }
}
