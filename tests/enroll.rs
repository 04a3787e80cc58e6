//! Enrolment by one-time token (`POST /v1/enroll`) and renewal over mTLS (`POST /v1/renew`)
//! against `pkictl serve` run as a process, driven by curl and judged by OpenSSL.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::interop::curl_binary;
use common::serve::Serve;
use common::*;
use serde_json::Value;

const ROOT: &str = "Enrol Root CA";

struct Ca {
    pki: Pki,
    root_pem: PathBuf,
    serve: Serve,
}

/// An unencrypted home, its root written out, and serve on loopback (HTTPS for localhost).
fn ca(extra: &[&str]) -> Ca {
    let pki = Pki::init_unencrypted(ROOT);
    let root_pem = pki.path("root.pem");
    fs::write(&root_pem, pki.ok(&["ca", "cert", ROOT]).stdout).expect("write the root");
    let mut args = vec!["--name", "localhost"];
    args.extend_from_slice(extra);
    let serve = Serve::start(&pki, &args);
    Ca { pki, root_pem, serve }
}

impl Ca {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.serve.https.as_deref().expect("HTTPS is on"))
    }

    fn token(&self, name: &str, extra: &[&str]) -> String {
        let mut args = vec!["token", "create", name];
        args.extend_from_slice(extra);
        let made = self.pki.json(&args);
        made["token"].as_str().expect("the token in --json").to_string()
    }

    /// POST a CSR to /v1/enroll with this bearer token (None: no Authorization header).
    fn enroll(&self, token: Option<&str>, csr: &Path, out: &str) -> Answer {
        let auth = token.map(|t| format!("Authorization: Bearer {t}"));
        let mut args: Vec<String> = Vec::new();
        if let Some(a) = auth {
            args.extend(["-H".into(), a]);
        }
        self.post("/v1/enroll", csr, &args, out)
    }

    /// POST a CSR to /v1/renew presenting `cert` (fullchain) and `key`.
    fn renew(&self, client: Option<(&Path, &Path)>, csr: &Path, out: &str) -> Answer {
        let mut args: Vec<String> = Vec::new();
        if let Some((cert, key)) = client {
            args.extend(["--cert".into(), arg(cert).into(), "--key".into(), arg(key).into()]);
        }
        self.post("/v1/renew", csr, &args, out)
    }

    fn post(&self, path: &str, csr: &Path, extra: &[String], out: &str) -> Answer {
        let body = self.pki.path(out);
        let output = Command::new(curl_binary())
            .args(["-sS", "--max-time", "30", "--cacert"])
            .arg(&self.root_pem)
            .args(["-H", "Content-Type: application/pkcs10", "--data-binary"])
            .arg(format!("@{}", csr.display()))
            .args(extra)
            .args(["-o", arg(&body), "-w", "%{http_code} %{content_type}"])
            .arg(self.url(path))
            .output()
            .expect("run curl");
        assert!(output.status.success(), "curl failed: {}", String::from_utf8_lossy(&output.stderr));
        let written = String::from_utf8_lossy(&output.stdout).to_string();
        let (status, content_type) = written.split_once(' ').unwrap_or((&written, ""));
        Answer {
            status: status.parse().expect("an HTTP status"),
            content_type: content_type.to_string(),
            body: fs::read_to_string(&body).unwrap_or_default(),
            file: body,
        }
    }
}

struct Answer {
    status: u16,
    content_type: String,
    body: String,
    file: PathBuf,
}

impl Answer {
    fn problem(&self) -> Value {
        assert_eq!(self.content_type, "application/problem+json", "{}", self.body);
        let value: Value = serde_json::from_str(&self.body).expect("problem+json");
        assert_eq!(value["status"].as_u64(), Some(u64::from(self.status)));
        assert!(value["title"].is_string() && value["detail"].is_string(), "{value}");
        value
    }

    fn refused(&self, status: u16, kind: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.problem()["type"], format!("urn:pkictl:error:{kind}"), "{}", self.body);
    }

    /// The PEM chain of a 200, split into leaf and chain files next to the body.
    fn certificates(&self) -> (PathBuf, PathBuf) {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.content_type, "application/pem-certificate-chain");
        let blocks: Vec<String> =
            self.body.split_inclusive("-----END CERTIFICATE-----\n").map(str::to_string).collect();
        assert!(blocks.len() >= 2, "leaf and issuing CA: {}", self.body);
        let leaf = self.file.with_extension("leaf.pem");
        let chain = self.file.with_extension("chain.pem");
        fs::write(&leaf, &blocks[0]).unwrap();
        fs::write(&chain, blocks[1..].concat()).unwrap();
        (leaf, chain)
    }
}

/// A CSR made by OpenSSL: a new P-256 key (KEY.key) and SUBJECT, with optional SANs.
fn csr(dir: &Path, name: &str, subject: &str, sans: Option<&str>) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr.der"));
    let mut args = vec![
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
        subject,
        "-outform",
        "DER",
        "-out",
        arg(&csr),
    ];
    let ext;
    if let Some(sans) = sans {
        ext = format!("subjectAltName={sans}");
        args.extend(["-addext", &ext]);
    }
    let out = openssl(&args);
    assert!(out.status.success(), "openssl req: {}", String::from_utf8_lossy(&out.stderr));
    (csr, key)
}

fn verify_against(root: &Path, leaf: &Path, chain: &Path) -> String {
    let out = openssl(["verify", "-CAfile", arg(root), "-untrusted", arg(chain), arg(leaf)]);
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

fn tokens(ca: &Ca) -> Value {
    ca.pki.json(&["token", "list"])["tokens"].clone()
}

#[test]
fn a_token_enrols_once_and_the_certificate_verifies() {
    let ca = ca(&[]);
    let token = ca.token("node1.example.com", &["--profile", "peer", "--ip", "10.0.0.7", "--validity", "1d"]);
    assert_eq!(token.len(), 43, "256 bits in base64url: {token}");
    assert!(
        !fs::read(ca.pki.home.join("ledger.db")).unwrap().windows(token.len()).any(|w| w == token.as_bytes())
    );
    let work = ca.pki.work();
    let (csr, key) = csr(&work, "node1", "/", None);
    let answer = ca.enroll(Some(&token), &csr, "enrolled.pem");
    let (leaf, chain) = answer.certificates();
    assert!(verify_against(&ca.root_pem, &leaf, &chain).contains(": OK"));
    assert_eq!(cert_public(&leaf), key_public(&key), "the CSR's key is certified");
    let text = openssl_ok([
        "x509",
        "-in",
        arg(&leaf),
        "-noout",
        "-subject",
        "-ext",
        "subjectAltName,extendedKeyUsage",
    ]);
    assert!(text.contains("CN=node1.example.com") || text.contains("CN = node1.example.com"), "{text}");
    assert!(text.contains("DNS:node1.example.com") && text.contains("IP Address:10.0.0.7"), "{text}");
    assert!(text.contains("TLS Web Server Authentication") && text.contains("TLS Web Client Authentication"));

    let again = ca.enroll(Some(&token), &csr, "again.pem");
    again.refused(409, "token-used");
    assert!(!again.body.contains(&token), "never echo a token");
    let listed = tokens(&ca);
    assert_eq!(listed[0]["status"], "used");
    assert!(listed[0]["certificate_id"].is_i64());
    assert!(!listed.to_string().contains(&token), "token list never shows the token");
    let plain = stdout_of(&ca.pki.ok(&["token", "list"]));
    assert!(plain.contains("used") && !plain.contains(&token), "{plain}");
    ca.pki.ok(&["doctor"]);
    assert!(!ca.serve.log().contains(&token), "the request log never holds a token");
}

#[test]
fn concurrent_requests_with_one_token_enrol_once() {
    let ca = ca(&[]);
    let token = ca.token("race.example.com", &["--profile", "server"]);
    let work = ca.pki.work();
    let csrs: Vec<PathBuf> = (0..6).map(|i| csr(&work, &format!("race{i}"), "/", None).0).collect();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = csrs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (ca, token) = (&ca, &token);
                scope.spawn(move || ca.enroll(Some(token), c, &format!("race{i}.out")).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
    let issued = ca.pki.json(&["list", "--profile", "server"]);
    let race = issued.to_string().matches("race.example.com").count();
    assert!(race >= 1, "{issued}");
    ca.pki.ok(&["doctor"]);
}

#[test]
fn unknown_and_wrong_tokens_get_the_same_answer() {
    let ca = ca(&[]);
    let token = ca.token("svc.example.com", &["--profile", "server"]);
    let work = ca.pki.work();
    let (csr, _) = csr(&work, "svc", "/CN=svc.example.com", None);
    let mut wrong = token.clone();
    let last = if wrong.ends_with('A') { 'B' } else { 'A' };
    wrong.pop();
    wrong.push(last);
    let unknown = ca.enroll(Some("aW52ZW50ZWQtdG9rZW4tdGhhdC1uZXZlci1leGlzdGVk"), &csr, "unknown.json");
    let near_miss = ca.enroll(Some(&wrong), &csr, "wrong.json");
    let missing = ca.enroll(None, &csr, "missing.json");
    unknown.refused(401, "token-invalid");
    assert_eq!(unknown.body, near_miss.body, "no oracle between an unknown and a wrong token");
    assert_eq!(unknown.body, missing.body);
    assert!(!near_miss.body.contains(&wrong));
    assert_eq!(tokens(&ca)[0]["status"], "unused");
    ca.enroll(Some(&token), &csr, "ok.pem").certificates();
}

#[test]
fn a_token_expires_after_its_ttl() {
    let ca = ca(&[]);
    let token = ca.token("late.example.com", &["--profile", "client", "--ttl", "2s"]);
    let work = ca.pki.work();
    let (csr, _) = csr(&work, "late", "/", None);
    std::thread::sleep(Duration::from_secs(3));
    ca.enroll(Some(&token), &csr, "late.json").refused(403, "token-expired");
    assert_eq!(tokens(&ca)[0]["status"], "expired");
}

#[test]
fn a_token_enrols_only_its_own_names() {
    let ca = ca(&[]);
    let token = ca.token("web.example.com", &["--profile", "server", "--dns", "www.example.com"]);
    let work = ca.pki.work();
    let cases = [
        ("other-cn", "/CN=other.example.com", None),
        ("subset", "/", Some("DNS:web.example.com")),
        ("superset", "/", Some("DNS:web.example.com,DNS:www.example.com,DNS:evil.example.com")),
        ("other-kind", "/", Some("DNS:web.example.com,DNS:www.example.com,IP:10.0.0.1")),
    ];
    for (name, subject, sans) in cases {
        let (csr, _) = csr(&work, name, subject, sans);
        ca.enroll(Some(&token), &csr, &format!("{name}.json")).refused(403, "names-differ");
    }
    assert_eq!(tokens(&ca)[0]["status"], "unused", "a refused request does not use the token");
    let (exact, _) =
        csr(&work, "exact", "/CN=web.example.com", Some("DNS:www.example.com,DNS:web.example.com"));
    ca.enroll(Some(&token), &exact, "exact.pem").certificates();

    let too_long =
        ca.pki.run(&["token", "create", "long.example.com", "--profile", "server", "--validity", "50y"]);
    assert_eq!(too_long.status.code(), Some(2), "{}", stderr_of(&too_long));
    assert!(stderr_of(&too_long).contains("expires"), "{}", stderr_of(&too_long));

    let garbage = work.join("garbage.der");
    fs::write(&garbage, b"not a CSR").unwrap();
    let other = ca.token("x.example.com", &["--profile", "server"]);
    ca.enroll(Some(&other), &garbage, "garbage.json").refused(400, "bad-csr");
}

#[test]
fn revoked_tokens_cannot_enrol() {
    let ca = ca(&[]);
    let token = ca.token("gone.example.com", &["--profile", "server"]);
    let id = tokens(&ca)[0]["id"].as_i64().unwrap().to_string();
    ca.pki.ok(&["token", "revoke", &id]);
    let again = ca.pki.run(&["token", "revoke", &id]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr_of(&again));
    let (csr, _) = csr(&ca.pki.work(), "gone", "/", None);
    ca.enroll(Some(&token), &csr, "gone.json").refused(403, "token-revoked");
}

#[test]
fn renewal_over_mtls_links_the_new_certificate_and_keeps_the_old() {
    let ca = ca(&[]);
    let old = ca.pki.issue("peer", "node2.example.com", &["--validity", "1d"], "tls");
    let work = ca.pki.work();
    let (csr, new_key) = csr(&work, "rekey", "/", None);
    let answer = ca.renew(Some((&old.fullchain, old.key())), &csr, "renewed.pem");
    let (leaf, chain) = answer.certificates();
    assert!(verify_against(&ca.root_pem, &leaf, &chain).contains(": OK"));
    assert_eq!(cert_public(&leaf), key_public(&new_key), "rekeyed");
    let new_fp = openssl_ok(["x509", "-in", arg(&leaf), "-noout", "-fingerprint", "-sha256"]);
    let new_fp: String = new_fp.split('=').nth(1).unwrap().trim().replace(':', "").to_lowercase();
    let shown = ca.pki.json(&["show", &new_fp]);
    assert_eq!(
        shown["renewed_from"].as_str().map(|s| s.replace(':', "").to_lowercase()),
        Some(old.serial.replace(':', "").to_lowercase()),
        "{shown}"
    );
    let old_shown = ca.pki.json(&["show", &old.serial]);
    assert_eq!(old_shown["status"], "valid", "passive revocation: the old one is not revoked");

    // Revoked: refused.
    ca.pki.revoke(&old.serial, "superseded");
    ca.renew(Some((&old.fullchain, old.key())), &csr, "revoked.json").refused(403, "certificate-revoked");
}

#[test]
fn renewal_is_refused_without_a_certificate_for_another_home_or_other_names() {
    let ca = ca(&[]);
    let work = ca.pki.work();
    let (csr_plain, _) = csr(&work, "plain", "/", None);
    ca.renew(None, &csr_plain, "none.json").refused(401, "no-client-certificate");

    let stranger = Pki::init_unencrypted("Other Root CA");
    let foreign = stranger.issue("client", "client.example.com", &[], "foreign");
    ca.renew(Some((&foreign.fullchain, foreign.key())), &csr_plain, "foreign.json")
        .refused(403, "not-issued-here");

    let mine = ca.pki.issue("client", "client.example.com", &[], "mine");
    let (changed, _) = csr(&work, "changed", "/", Some("DNS:admin.example.com"));
    ca.renew(Some((&mine.fullchain, mine.key())), &changed, "changed.json").refused(403, "names-differ");
    let (same, _) = csr(&work, "same", "/CN=client.example.com", Some("DNS:client.example.com"));
    ca.renew(Some((&mine.fullchain, mine.key())), &same, "same.pem").certificates();
}

#[test]
fn an_expired_certificate_renews_only_within_the_allowed_grace() {
    let strict = ca(&[]);
    let old = strict.pki.issue("client", "short.example.com", &["--validity", "2s"], "tls");
    let work = strict.pki.work();
    let (csr, _) = csr(&work, "short", "/", None);
    // openssl and rustls count the notAfter second as expired; wait until it has passed.
    std::thread::sleep(Duration::from_secs(4));
    strict.renew(Some((&old.fullchain, old.key())), &csr, "expired.json").refused(403, "certificate-expired");
    strict.serve.stop();

    let lenient = Serve::start(&strict.pki, &["--name", "localhost", "--allow-renewal-after-expiry", "1h"]);
    let ca = Ca { pki: strict.pki, root_pem: strict.root_pem, serve: lenient };
    ca.renew(Some((&old.fullchain, old.key())), &csr, "grace.pem").certificates();
}

/// `pkictl enroll` as a workload runs it: no home, the token from a file.
fn enroll_cmd(ca: &Ca, token_file: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut cmd = assert_cmd::Command::cargo_bin("pkictl").expect("the pkictl binary");
    cmd.env_remove("PKICTL_HOME").env_remove("PKICTL_PASSPHRASE").env_remove("PKICTL_TOKEN");
    cmd.args([
        "enroll",
        "--server",
        &ca.url(""),
        "--root",
        arg(&ca.root_pem),
        "--token-file",
        arg(token_file),
    ]);
    cmd.args(["--out", arg(out)]).args(extra);
    cmd.output().expect("run pkictl enroll")
}

#[test]
fn pkictl_enroll_writes_the_files_issue_writes() {
    let ca = ca(&[]);
    let token = ca.token("worker.example.com", &["--profile", "client", "--dns", "worker.example.com"]);
    let token_file = ca.pki.path("token.txt");
    fs::write(&token_file, format!("{token}\n")).unwrap();
    let out = ca.pki.path("tls");
    let done = enroll_cmd(&ca, &token_file, &out, &["--key-type", "p384"]);
    assert!(done.status.success(), "{}", stderr_of(&done));
    assert!(!stdout_of(&done).contains(&token) && !stderr_of(&done).contains(&token));
    let file = |suffix: &str| out.join(format!("worker.example.com.{suffix}"));
    assert!(verify_against(&ca.root_pem, &file("crt"), &file("chain.pem")).contains(": OK"));
    assert_eq!(cert_public(&file("crt")), key_public(&file("key")), "the key made here is certified");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::metadata(file("key")).unwrap().permissions().mode() & 0o777, 0o600);
    let full = fs::read_to_string(file("fullchain.pem")).unwrap();
    let crt = fs::read_to_string(file("crt")).unwrap();
    let chain = fs::read_to_string(file("chain.pem")).unwrap();
    assert_eq!(full, format!("{crt}{chain}"));
    let key_text = openssl_ok(["pkey", "-in", arg(&file("key")), "-noout", "-text"]);
    assert!(key_text.contains("P-384") || key_text.contains("secp384r1"), "{key_text}");
    let serial = openssl_ok(["x509", "-in", arg(&file("crt")), "-noout", "-serial"]);
    let serial = serial.trim().trim_start_matches("serial=").to_lowercase();
    let shown = ca.pki.json(&["show", &serial]);
    assert_eq!(shown["profile"], "client", "{shown}");

    let again = enroll_cmd(&ca, &token_file, &ca.pki.path("again"), &[]);
    assert!(!again.status.success());
    assert!(stderr_of(&again).contains("already used"), "{}", stderr_of(&again));
    assert!(!ca.pki.path("again").exists(), "a refused enrolment writes nothing");
}

#[test]
fn pkictl_enroll_checks_its_files_and_the_server_before_using_the_token() {
    let ca = ca(&[]);
    let token = ca.token("api.example.com", &["--profile", "server"]);
    let token_file = ca.pki.path("token.txt");
    fs::write(&token_file, &token).unwrap();
    let out = ca.pki.path("tls");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("api.crt"), "in the way").unwrap();
    let blocked = enroll_cmd(&ca, &token_file, &out, &["--name", "api"]);
    assert_eq!(blocked.status.code(), Some(2), "{}", stderr_of(&blocked));
    assert_eq!(tokens(&ca)[0]["status"], "unused");

    // The server is checked against --root: another home's root is refused in the handshake.
    let stranger = Pki::init_unencrypted("Stranger Root CA");
    let stranger_root = stranger.path("root.pem");
    fs::write(&stranger_root, stranger.ok(&["ca", "cert", "Stranger Root CA"]).stdout).unwrap();
    let mut cmd = assert_cmd::Command::cargo_bin("pkictl").unwrap();
    cmd.env_remove("PKICTL_HOME").env("PKICTL_TOKEN", &token);
    let wrong_root = cmd
        .args([
            "enroll",
            "--server",
            &ca.url(""),
            "--root",
            arg(&stranger_root),
            "--out",
            arg(&ca.pki.path("x")),
        ])
        .output()
        .unwrap();
    assert_eq!(wrong_root.status.code(), Some(1), "{}", stderr_of(&wrong_root));
    assert!(stderr_of(&wrong_root).contains("TLS"), "{}", stderr_of(&wrong_root));
    // …and so is a host name the server's certificate does not carry.
    let https = ca.url("");
    let port = https.rsplit(':').next().unwrap();
    let mut cmd = assert_cmd::Command::cargo_bin("pkictl").unwrap();
    cmd.env_remove("PKICTL_HOME").env("PKICTL_TOKEN", &token);
    let wrong_host = cmd
        .args(["enroll", "--server", &format!("https://127.0.0.2:{port}"), "--root", arg(&ca.root_pem)])
        .args(["--out", arg(&ca.pki.path("y"))])
        .output()
        .unwrap();
    assert!(!wrong_host.status.success());
    assert_eq!(tokens(&ca)[0]["status"], "unused", "nothing reached the CA");

    let forced = enroll_cmd(&ca, &token_file, &out, &["--name", "api", "--force"]);
    assert!(forced.status.success(), "{}", stderr_of(&forced));
    assert!(verify_against(&ca.root_pem, &out.join("api.crt"), &out.join("api.chain.pem")).contains(": OK"));
}

#[test]
fn the_library_client_renews_over_mtls_and_reports_refusals() {
    let ca = ca(&[]);
    let old = ca.pki.issue("peer", "node3.example.com", &[], "tls");
    let work = ca.pki.work();
    let key_der = openssl(["pkcs8", "-topk8", "-nocrypt", "-in", arg(old.key()), "-outform", "DER"]).stdout;
    let chain_pem = fs::read(&old.fullchain).unwrap();
    let (csr, new_key) = csr(&work, "node3", "/", None);
    let csr_der = fs::read(&csr).unwrap();
    let chain = pkictl::agent::client::renew(&ca.url(""), &ca.root_pem, &chain_pem, &key_der, &csr_der)
        .expect("renewed");
    assert!(chain.len() >= 2, "leaf and issuing CA");
    let leaf = work.join("renewed.der");
    fs::write(&leaf, &chain[0]).unwrap();
    let leaf_pub = openssl_ok(["x509", "-inform", "DER", "-in", arg(&leaf), "-noout", "-pubkey"]);
    assert_eq!(leaf_pub, key_public(&new_key));

    ca.pki.revoke(&old.serial, "key-compromise");
    let refused = pkictl::agent::client::renew(&ca.url(""), &ca.root_pem, &chain_pem, &key_der, &csr_der)
        .expect_err("a revoked certificate is not renewed");
    match refused {
        pkictl::agent::client::ClientError::Refused { status, kind, detail } => {
            assert_eq!((status, kind.as_str()), (403, "certificate-revoked"));
            assert!(detail.contains("revoked"), "{detail}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn oversized_requests_get_413_as_problem_json() {
    let ca = ca(&[]);
    let big = ca.pki.path("big.der");
    fs::write(&big, vec![0x30u8; 100 * 1024]).unwrap();
    // Expect: 100-continue keeps curl from sending a body the server refuses unread (a
    // server that closes with unread bytes resets the connection, racing its own answer).
    // A chunked body over the limit is refused the same way by the server layer (its tests).
    let expect = ["-H".to_string(), "Expect: 100-continue".to_string()];
    let auth = ["-H".to_string(), "Authorization: Bearer whatever".to_string()];
    let enroll = ca.post("/v1/enroll", &big, &[expect.clone(), auth].concat(), "declared.json");
    enroll.refused(413, "too-large");
    ca.post("/v1/renew", &big, &expect, "renew.json").refused(413, "too-large");
}

/// Runs SQL on the ledger with the sqlite3 binary, from outside pkictl.
fn sqlite3(home: &Path, sql: &str) {
    let out = Command::new("sqlite3").arg(home.join("ledger.db")).arg(sql).output().expect("run sqlite3");
    assert!(out.status.success(), "sqlite3 {sql}: {}", stderr_of(&out));
}

#[test]
fn doctor_finds_a_token_set_back_to_unused_or_forged() {
    let ca = ca(&[]);
    let token = ca.token("reuse.example.com", &["--profile", "server"]);
    let (csr, _) = csr(&ca.pki.work(), "reuse", "/", None);
    ca.enroll(Some(&token), &csr, "first.pem").certificates();
    ca.pki.ok(&["doctor"]);

    sqlite3(&ca.pki.home, "UPDATE tokens SET used_at = NULL, certificate_id = NULL");
    let doctor = ca.pki.run(&["doctor"]);
    assert_eq!(doctor.status.code(), Some(1), "{}", stdout_of(&doctor));
    assert!(
        stdout_of(&doctor).contains("enrolment token #1 was used, but the ledger no longer says so"),
        "{}",
        stdout_of(&doctor)
    );

    let forged = format!(
        "INSERT INTO tokens (token_sha256, name, profile, sans, issuer_id, validity_secs, expires_at, created_at) \
         SELECT '{}', 'evil.example.com', 'server', '[\"DNS:evil.example.com\"]', issuer_id, 3600, 4000000000, 0 FROM tokens LIMIT 1",
        "ab".repeat(32)
    );
    sqlite3(&ca.pki.home, &forged);
    let doctor = stdout_of(&ca.pki.run(&["doctor"]));
    assert!(
        doctor.contains("enrolment token #2 (for evil.example.com) was never recorded as created"),
        "{doctor}"
    );
}

/// A token is base64url and may start with '-': `--token -…` is the token, not a flag.
#[test]
fn a_token_that_starts_with_a_hyphen_is_taken_as_the_token() {
    let ca = ca(&[]);
    let mut cmd = assert_cmd::Command::cargo_bin("pkictl").expect("the pkictl binary");
    cmd.env_remove("PKICTL_HOME").env_remove("PKICTL_TOKEN");
    let out = cmd
        .args(["enroll", "--server", &ca.url(""), "--root", arg(&ca.root_pem)])
        .args(["--token", "-DR1rvJDoZ-GfUEBS_EPOj3immdaANyg5GQC-PNHAWk", "--out", arg(&ca.pki.path("tls"))])
        .output()
        .expect("run pkictl enroll");
    assert!(
        stderr_of(&out).contains("the CA refused (401 token-invalid)"),
        "reached the CA: {}",
        stderr_of(&out)
    );
}
