//! The ACME server (RFC 8555) of `pkictl serve`, run as a process: directory, newNonce,
//! newAccount and the account URL, driven by curl with request bodies signed by Python
//! `cryptography` (testdata/acme/sign.py, ES256).

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use base64ct::Encoding;
use common::acme::{PROBLEM, Reply};
use common::interop::{curl_binary, python};
use common::serve::Serve;
use common::*;
use serde_json::{Value, json};

const ROOT: &str = "Acme Server Root";

struct Ca {
    pki: Pki,
    root_pem: PathBuf,
    serve: Serve,
}

/// A home with provisioners `web` (no EAB) and `partners` (EAB required), served on loopback.
fn ca() -> Ca {
    let pki = Pki::init_unencrypted(ROOT);
    let root_pem = pki.path("root.pem");
    fs::write(&root_pem, pki.ok(&["ca", "cert", ROOT]).stdout).expect("write the root");
    pki.ok(&["acme", "add", "web", "--profile", "server", "--allow", "*.example.com"]);
    pki.ok(&["acme", "add", "partners", "--profile", "server", "--allow", "*.example.net", "--require-eab"]);
    let serve = Serve::start(&pki, &["--name", "localhost"]);
    Ca { pki, root_pem, serve }
}

impl Ca {
    /// `https://127.0.0.1:PORT/acme/NAME/PATH`
    fn url(&self, name: &str, path: &str) -> String {
        format!("{}/acme/{name}/{path}", self.serve.https.as_deref().expect("HTTPS is on"))
    }

    fn curl(&self, extra: &[&str], url: &str) -> Reply {
        common::acme::curl(&self.pki, &self.root_pem, extra, url)
    }

    fn get(&self, url: &str) -> Reply {
        self.curl(&[], url)
    }

    fn nonce(&self, name: &str) -> String {
        self.curl(&["-I"], &self.url(name, "new-nonce")).nonce()
    }

    fn post(&self, url: &str, body: &str) -> Reply {
        let file = self.pki.path("request.json");
        fs::write(&file, body).expect("write the request");
        let data = format!("@{}", file.display());
        self.curl(&["-H", "Content-Type: application/jose+json", "--data-binary", &data], url)
    }

    /// A JWS signed by `key` (created on first use) over `payload` ("" for POST-as-GET).
    fn sign(&self, key: &str, url: &str, nonce: &str, payload: &str, extra: &[&str]) -> String {
        let output = Command::new(python())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/acme/sign.py"))
            .arg(self.pki.path(key))
            .args([url, nonce, payload])
            .args(extra)
            .output()
            .expect("run sign.py");
        assert!(output.status.success(), "sign.py failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("UTF-8")
    }

    /// Signs with a fresh nonce and POSTs to `url`.
    fn signed(&self, name: &str, key: &str, url: &str, payload: &Value, extra: &[&str]) -> Reply {
        let payload = if payload.is_null() { String::new() } else { payload.to_string() };
        let body = self.sign(key, url, &self.nonce(name), &payload, extra);
        self.post(url, &body)
    }

    fn new_account(&self, name: &str, key: &str, payload: Value) -> Reply {
        self.signed(name, key, &self.url(name, "new-account"), &payload, &[])
    }
}

/// The leaves in the CA's ledger of any status, but for serve's own (its HTTPS certificate for
/// localhost and its OCSP responders): refused requests leave none.
fn ledger_leaves(ca: &Ca) -> usize {
    let all = listed_certificates(&ca.pki.home, &[]);
    let leaf = |c: &&Value| ["server", "client", "peer"].iter().any(|p| c["profile"] == *p);
    all.iter().filter(leaf).filter(|c| c["common_name"] != "localhost").count()
}

fn assert_index_link(reply: &Reply, ca: &Ca, name: &str) {
    let link = reply.header("link").unwrap_or_else(|| panic!("no Link: {:?}", reply.headers));
    assert_eq!(link, format!("<{}>;rel=\"index\"", ca.url(name, "directory")));
}

#[test]
fn the_directory_names_absolute_urls_and_eab_requirement() {
    let ca = ca();
    let reply = ca.get(&ca.url("web", "directory"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let dir = reply.json();
    for (member, path) in [
        ("newNonce", "new-nonce"),
        ("newAccount", "new-account"),
        ("newOrder", "new-order"),
        ("revokeCert", "revoke-cert"),
        ("keyChange", "key-change"),
    ] {
        assert_eq!(dir[member], ca.url("web", path), "{dir}");
    }
    assert_eq!(dir["meta"]["externalAccountRequired"], false, "{dir}");
    assert_index_link(&reply, &ca, "web");
    reply.nonce();
    let eab = ca.get(&ca.url("partners", "directory")).json();
    assert_eq!(eab["meta"]["externalAccountRequired"], true, "{eab}");

    // A Host header that is no host name is not echoed into URLs.
    let hostile = ca.curl(&["-H", "Host: evil.example/x?"], &ca.url("web", "directory"));
    hostile.assert_problem("malformed", 400);
    assert!(!hostile.body.contains("evil"), "{}", hostile.body);
    assert_eq!(hostile.header("link"), None);

    ca.get(&ca.url("nope", "directory")).assert_problem("malformed", 404);
    // `acme remove` is another process: serve stops serving the provisioner within a second.
    ca.pki.ok(&["acme", "remove", "web"]);
    common::interop::wait_until(
        "serve to stop serving a removed provisioner",
        std::time::Duration::from_secs(2),
        || ca.get(&ca.url("web", "directory")).status == 404,
        String::new,
    );
    ca.get(&ca.url("web", "directory")).assert_problem("malformed", 404);
    ca.get(&ca.url("web", "new-nonce")).assert_problem("malformed", 404);
}

#[test]
fn new_nonce_answers_head_and_get_with_a_fresh_nonce_each_time() {
    let ca = ca();
    let head = ca.curl(&["-I"], &ca.url("web", "new-nonce"));
    assert_eq!(head.status, 200);
    assert_eq!(head.header("cache-control"), Some("no-store"));
    assert_index_link(&head, &ca, "web");
    let get = ca.get(&ca.url("web", "new-nonce"));
    assert_eq!(get.status, 204);
    assert_eq!(get.header("cache-control"), Some("no-store"));
    let (a, b) = (head.nonce(), get.nonce());
    assert_ne!(a, b);
    for nonce in [a, b] {
        assert_eq!(nonce.len(), 22, "128 bits, base64url: {nonce}");
        assert!(nonce.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{nonce}");
    }
}

#[test]
fn a_nonce_is_good_once_and_the_url_must_match() {
    let ca = ca();
    let url = ca.url("web", "new-account");
    let nonce = ca.nonce("web");
    let body = ca.sign("k.pem", &url, &nonce, r#"{"termsOfServiceAgreed":true}"#, &[]);
    let first = ca.post(&url, &body);
    assert_eq!(first.status, 201, "{}", first.body);
    let replay = ca.post(&url, &body);
    replay.assert_problem("badNonce", 400);
    let fresh = replay.nonce();
    assert_ne!(fresh, nonce);
    // The fresh nonce works (the key has an account now: 200).
    let retry = ca.post(&url, &ca.sign("k.pem", &url, &fresh, "{}", &[]));
    assert_eq!(retry.status, 200, "{}", retry.body);

    let made_up = ca.sign("k.pem", &url, "bm90LWlzc3VlZC1oZXJl", "{}", &[]);
    ca.post(&url, &made_up).assert_problem("badNonce", 400);

    let elsewhere = ca.sign("k.pem", &ca.url("partners", "new-account"), &ca.nonce("web"), "{}", &[]);
    let wrong = ca.post(&url, &elsewhere);
    wrong.assert_problem("unauthorized", 401);
    wrong.nonce();
    assert_index_link(&wrong, &ca, "web");
}

#[test]
fn new_account_is_created_once_per_key() {
    let ca = ca();
    let missing = ca.new_account("web", "a.pem", json!({"onlyReturnExisting": true}));
    missing.assert_problem("accountDoesNotExist", 400);

    let created = ca.new_account(
        "web",
        "a.pem",
        json!({"termsOfServiceAgreed": true, "contact": ["mailto:ops@example.com"]}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let location = created.header("location").expect("Location").to_string();
    assert!(location.starts_with(&ca.url("web", "acct/")), "{location}");
    let account = created.json();
    assert_eq!(account["status"], "valid");
    assert_eq!(account["contact"], json!(["mailto:ops@example.com"]));
    assert_index_link(&created, &ca, "web");

    let again = ca.new_account("web", "a.pem", json!({"termsOfServiceAgreed": true}));
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.header("location"), Some(location.as_str()));
    let existing = ca.new_account("web", "a.pem", json!({"onlyReturnExisting": true}));
    assert_eq!(existing.status, 200, "{}", existing.body);
    assert_eq!(existing.header("location"), Some(location.as_str()));

    let other = ca.new_account("web", "b.pem", json!({}));
    assert_eq!(other.status, 201, "{}", other.body);
    assert_ne!(other.header("location"), Some(location.as_str()));

    ca.new_account("web", "c.pem", json!({"contact": ["tel:+1555"]}))
        .assert_problem("unsupportedContact", 400);
    ca.new_account("web", "c.pem", json!({"contact": ["mailto:not an address"]}))
        .assert_problem("invalidContact", 400);
    ca.new_account("web", "c.pem", json!({"onlyReturnExisting": true}))
        .assert_problem("accountDoesNotExist", 400);
    assert_eq!(ca.pki.json(&["acme", "list"])["provisioners"][1]["accounts"], 2, "web has two accounts");
}

#[test]
fn external_account_binding_is_required_and_accepted() {
    let ca = ca();
    let url = ca.url("partners", "new-account");
    let none = ca.new_account("partners", "e.pem", json!({"termsOfServiceAgreed": true}));
    none.assert_problem("externalAccountRequired", 401);

    let eab = ca.pki.json(&["acme", "eab", "partners"]);
    let (kid, hmac) = (eab["key_id"].as_str().unwrap(), eab["hmac_key"].as_str().unwrap());
    let wrong_hmac = "A".repeat(43);
    let forged = ca.signed("partners", "e.pem", &url, &json!({}), &["--eab", kid, &wrong_hmac, &url]);
    forged.assert_problem("unauthorized", 401);
    let unknown = ca.signed("partners", "e.pem", &url, &json!({}), &["--eab", "no-such-key", hmac, &url]);
    unknown.assert_problem("unauthorized", 401);

    let bound = ca.signed(
        "partners",
        "e.pem",
        &url,
        &json!({"termsOfServiceAgreed": true}),
        &["--eab", kid, hmac, &url],
    );
    assert_eq!(bound.status, 201, "{}", bound.body);
    // The key is used: another account cannot bind it.
    let reused = ca.signed("partners", "f.pem", &url, &json!({}), &["--eab", kid, hmac, &url]);
    reused.assert_problem("unauthorized", 401);
}

#[test]
fn an_account_is_read_updated_and_deactivated_by_its_key_only() {
    let ca = ca();
    let created = ca.new_account("web", "a.pem", json!({"contact": ["mailto:a@example.com"]}));
    assert_eq!(created.status, 201, "{}", created.body);
    let kid = created.header("location").expect("Location").to_string();
    let as_kid = ["--kid", kid.as_str()];

    let read = ca.signed("web", "a.pem", &kid, &Value::Null, &as_kid);
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.json()["contact"], json!(["mailto:a@example.com"]));
    assert_index_link(&read, &ca, "web");

    let updated = ca.signed("web", "a.pem", &kid, &json!({"contact": ["mailto:b@example.com"]}), &as_kid);
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.json()["contact"], json!(["mailto:b@example.com"]));

    // Another key naming this account is refused.
    ca.signed("web", "intruder.pem", &kid, &Value::Null, &as_kid).assert_problem("unauthorized", 401);
    let stranger = ca.url("web", "acct/9999");
    ca.signed("web", "a.pem", &stranger, &Value::Null, &["--kid", &stranger])
        .assert_problem("accountDoesNotExist", 400);

    let gone = ca.signed("web", "a.pem", &kid, &json!({"status": "deactivated"}), &as_kid);
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(gone.json()["status"], "deactivated");
    ca.signed("web", "a.pem", &kid, &Value::Null, &as_kid).assert_problem("unauthorized", 401);
    ca.new_account("web", "a.pem", json!({"onlyReturnExisting": true})).assert_problem("unauthorized", 401);
}

#[test]
fn a_malformed_jws_is_a_malformed_problem() {
    let ca = ca();
    let url = ca.url("web", "new-account");
    for body in ["not json", "{}", r#"{"protected":"e30","payload":"","signature":""}"#, "a.b.c"] {
        let reply = ca.post(&url, body);
        reply.assert_problem("malformed", 400);
        reply.nonce();
        assert_index_link(&reply, &ca, "web");
    }
    // A kid where newAccount needs a jwk.
    let kid_body = ca.sign("k.pem", &url, &ca.nonce("web"), "{}", &["--kid", &ca.url("web", "acct/1")]);
    ca.post(&url, &kid_body).assert_problem("malformed", 400);
    // A payload that is not an object.
    let list = ca.sign("k.pem", &url, &ca.nonce("web"), "[1]", &[]);
    ca.post(&url, &list).assert_problem("malformed", 400);
    // alg "none": badSignatureAlgorithm, listing what is accepted.
    let header = json!({"alg": "none", "nonce": ca.nonce("web"), "url": url, "jwk": {}}).to_string();
    let protected = base64ct::Base64UrlUnpadded::encode_string(header.as_bytes());
    let unsigned = json!({"protected": protected, "payload": "e30", "signature": ""}).to_string();
    let none = ca.post(&url, &unsigned);
    none.assert_problem("badSignatureAlgorithm", 400);
    assert_eq!(none.json()["algorithms"], json!(["ES256", "ES384", "RS256", "EdDSA"]), "{}", none.body);
    // Not declared as a JWS.
    let plain = ca.curl(&["-H", "Content-Type: application/json", "--data-binary", "{}"], &url);
    plain.assert_problem("malformed", 415);
    assert!(ca.serve.log().contains("pkictl serve"), "serve is still up");
    assert_eq!(ca.get(&ca.url("web", "directory")).status, 200);
}

impl Ca {
    /// A new account for `key` on `name`: its kid (account URL).
    fn account(&self, name: &str, key: &str) -> String {
        let created = self.new_account(name, key, json!({"termsOfServiceAgreed": true}));
        assert_eq!(created.status, 201, "{}", created.body);
        created.header("location").expect("Location").to_string()
    }

    /// POSTs `payload` (Null: POST-as-GET) to `url`, signed by `key` as account `kid`.
    fn as_account(&self, name: &str, key: &str, kid: &str, url: &str, payload: &Value) -> Reply {
        self.signed(name, key, url, payload, &["--kid", kid])
    }
}

#[test]
fn an_order_names_its_authorizations_and_they_hold_an_http01_challenge() {
    let ca = ca();
    let kid = ca.account("web", "a.pem");
    let payload = json!({"identifiers": [{"type": "dns", "value": "App.example.com"}]});
    let created = ca.as_account("web", "a.pem", &kid, &ca.url("web", "new-order"), &payload);
    assert_eq!(created.status, 201, "{}", created.body);
    assert_index_link(&created, &ca, "web");
    let location = created.header("location").expect("Location").to_string();
    assert!(location.starts_with(&ca.url("web", "order/")), "{location}");
    let order = created.json();
    assert_eq!(order["status"], "pending", "{order}");
    assert_eq!(order["identifiers"], json!([{"type": "dns", "value": "app.example.com"}]), "{order}");
    assert!(order["expires"].as_str().is_some_and(|t| t.ends_with('Z')), "{order}");
    assert_eq!(order["finalize"], format!("{location}/finalize"), "{order}");
    let authz_url = order["authorizations"][0].as_str().expect("an authorization URL").to_string();
    assert!(authz_url.starts_with(&ca.url("web", "authz/")), "{order}");

    let read = ca.as_account("web", "a.pem", &kid, &location, &Value::Null);
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.json()["authorizations"], order["authorizations"]);

    let authz = ca.as_account("web", "a.pem", &kid, &authz_url, &Value::Null);
    assert_eq!(authz.status, 200, "{}", authz.body);
    let authz = authz.json();
    assert_eq!(authz["status"], "pending", "{authz}");
    assert_eq!(authz["identifier"], json!({"type": "dns", "value": "app.example.com"}), "{authz}");
    let challenges = authz["challenges"].as_array().expect("challenges");
    let http = challenges.iter().find(|c| c["type"] == "http-01").expect("an http-01 challenge");
    assert_eq!(http["status"], "pending", "{http}");
    assert!(http["url"].as_str().is_some_and(|u| u.starts_with(&ca.url("web", "chall/"))), "{http}");
    let token = http["token"].as_str().expect("a token");
    assert_eq!(base64ct::Base64UrlUnpadded::decode_vec(token).expect("base64url").len(), 32, "{token}");

    // Another account of the same directory reads neither.
    let other = ca.account("web", "b.pem");
    ca.as_account("web", "b.pem", &other, &location, &Value::Null).assert_problem("unauthorized", 401);
    ca.as_account("web", "b.pem", &other, &authz_url, &Value::Null).assert_problem("unauthorized", 401);
    // An order that does not exist.
    let missing = ca.url("web", "order/99999");
    ca.as_account("web", "a.pem", &kid, &missing, &Value::Null).assert_problem("malformed", 404);
}

#[test]
fn an_order_for_names_the_provisioner_does_not_allow_is_refused() {
    let ca = ca();
    let kid = ca.account("web", "a.pem");
    let url = ca.url("web", "new-order");
    let refused = json!({"identifiers": [{"type": "dns", "value": "a.example.com"}, {"type": "dns", "value": "evil.example.org"}]});
    let reply = ca.as_account("web", "a.pem", &kid, &url, &refused);
    reply.assert_problem("rejectedIdentifier", 403);
    assert!(
        reply.json()["detail"].as_str().is_some_and(|d| d.contains("evil.example.org")),
        "{}",
        reply.body
    );
    let email = json!({"identifiers": [{"type": "email", "value": "a@example.com"}]});
    ca.as_account("web", "a.pem", &kid, &url, &email).assert_problem("unsupportedIdentifier", 400);
    ca.as_account("web", "a.pem", &kid, &url, &json!({"identifiers": []})).assert_problem("malformed", 400);
    let ip = json!({"identifiers": [{"type": "ip", "value": "10.0.0.1"}]});
    ca.as_account("web", "a.pem", &kid, &url, &ip).assert_problem("rejectedIdentifier", 403);
    // newOrder needs an account: a jwk-signed request is refused.
    let allowed = json!({"identifiers": [{"type": "dns", "value": "a.example.com"}]});
    ca.signed("web", "c.pem", &url, &allowed, &[]).assert_problem("malformed", 400);
    assert_eq!(ledger_leaves(&ca), 0);
}

impl Ca {
    /// The key authorization of `token` for account key `key` (RFC 8555 §8.1).
    fn key_authorization(&self, key: &str, token: &str) -> String {
        let output = Command::new(python())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/acme/sign.py"))
            .arg(self.pki.path(key))
            .arg("--thumbprint")
            .output()
            .expect("run sign.py");
        assert!(output.status.success(), "sign.py failed: {}", String::from_utf8_lossy(&output.stderr));
        format!("{token}.{}", String::from_utf8_lossy(&output.stdout).trim())
    }
}

/// A one-request HTTP server on loopback answering `body` with 200; its port, and the request
/// line and Host header it received.
fn http01_server(body: String) -> (u16, std::thread::JoinHandle<String>) {
    http01_server_with(move || body)
}

/// Like [`http01_server`], the body made once the request arrived.
fn http01_server_with(
    body: impl FnOnce() -> String + Send + 'static,
) -> (u16, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let body = body();
        let reply =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        reader.get_mut().write_all(reply.as_bytes()).expect("answer");
        head
    });
    (port, handle)
}

struct Pending {
    kid: String,
    order_url: String,
    authz_url: String,
    challenge_url: String,
    token: String,
}

/// An account with key `key` and an order for `host`, with its http-01 challenge.
fn pending_order(ca: &Ca, key: &str, host: &str) -> Pending {
    let kid = ca.account("web", key);
    let payload = json!({"identifiers": [{"type": "dns", "value": host}]});
    let created = ca.as_account("web", key, &kid, &ca.url("web", "new-order"), &payload);
    assert_eq!(created.status, 201, "{}", created.body);
    let order_url = created.header("location").expect("Location").to_string();
    let authz_url = created.json()["authorizations"][0].as_str().expect("authz").to_string();
    let authz = ca.as_account("web", key, &kid, &authz_url, &Value::Null).json();
    let http =
        authz["challenges"].as_array().and_then(|c| c.iter().find(|c| c["type"] == "http-01").cloned());
    let http = http.expect("an http-01 challenge");
    Pending {
        kid,
        order_url,
        authz_url,
        challenge_url: http["url"].as_str().expect("url").to_string(),
        token: http["token"].as_str().expect("token").to_string(),
    }
}

/// A CA whose `serve` validates http-01 on `port` and resolves app.example.com to loopback.
fn ca_validating_on(port: u16) -> Ca {
    let pki = Pki::init_unencrypted(ROOT);
    let root_pem = pki.path("root.pem");
    fs::write(&root_pem, pki.ok(&["ca", "cert", ROOT]).stdout).expect("write the root");
    pki.ok(&["acme", "add", "web", "--profile", "server", "--allow", "*.example.com"]);
    let port = port.to_string();
    let serve = Serve::start(
        &pki,
        &["--name", "localhost", "--acme-http01-port", &port, "--acme-resolve", "app.example.com=127.0.0.1"],
    );
    Ca { pki, root_pem, serve }
}

#[test]
fn an_http01_challenge_answered_with_the_key_authorization_makes_the_order_ready() {
    // The test server is bound before the CA starts; it learns what to answer afterwards.
    let (body_tx, body_rx) = std::sync::mpsc::channel::<String>();
    let (port, server) = http01_server_with(move || body_rx.recv().expect("the body"));
    let ca = ca_validating_on(port);
    let pending = pending_order(&ca, "a.pem", "app.example.com");
    body_tx.send(format!("{}\n", ca.key_authorization("a.pem", &pending.token))).expect("send");
    let reply = ca.as_account("web", "a.pem", &pending.kid, &pending.challenge_url, &json!({}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let challenge = reply.json();
    assert_eq!(challenge["status"], "valid", "{challenge}");
    assert!(challenge["validated"].as_str().is_some(), "{challenge}");
    let up = format!("<{}>;rel=\"up\"", pending.authz_url);
    assert!(
        reply.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("link") && *v == up),
        "{:?}",
        reply.headers
    );
    let head = server.join().expect("the test server");
    assert!(
        head.starts_with(&format!("GET /.well-known/acme-challenge/{} HTTP/1.1\r\n", pending.token)),
        "{head}"
    );
    assert!(head.to_ascii_lowercase().contains(&format!("host: app.example.com:{port}\r\n")), "{head}");

    let authz = ca.as_account("web", "a.pem", &pending.kid, &pending.authz_url, &Value::Null).json();
    assert_eq!(authz["status"], "valid", "{authz}");
    let order = ca.as_account("web", "a.pem", &pending.kid, &pending.order_url, &Value::Null).json();
    assert_eq!(order["status"], "ready", "{order}");
}

#[test]
fn an_http01_challenge_answered_wrongly_makes_the_order_invalid() {
    let (port, server) = http01_server("not-the-key-authorization".to_string());
    let ca = ca_validating_on(port);
    let pending = pending_order(&ca, "a.pem", "app.example.com");
    let reply = ca.as_account("web", "a.pem", &pending.kid, &pending.challenge_url, &json!({}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let challenge = reply.json();
    assert_eq!(challenge["status"], "invalid", "{challenge}");
    assert_eq!(challenge["error"]["type"], format!("{PROBLEM}incorrectResponse"), "{challenge}");
    server.join().expect("the test server");
    let authz = ca.as_account("web", "a.pem", &pending.kid, &pending.authz_url, &Value::Null).json();
    assert_eq!(authz["status"], "invalid", "{authz}");
    let order = ca.as_account("web", "a.pem", &pending.kid, &pending.order_url, &Value::Null).json();
    assert_eq!(order["status"], "invalid", "{order}");
    assert_eq!(order["error"]["type"], format!("{PROBLEM}incorrectResponse"), "{order}");
    // The order cannot be finalized: nothing is signed.
    let csr = ca.csr("csr", "app.example.com", "DNS:app.example.com");
    ca.as_account(
        "web",
        "a.pem",
        &pending.kid,
        &format!("{}/finalize", pending.order_url),
        &json!({"csr": csr}),
    )
    .assert_problem("orderNotReady", 403);
    assert_eq!(ledger_leaves(&ca), 0);
}

#[test]
fn an_http01_challenge_nobody_answers_is_a_connection_problem() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let ca = ca_validating_on(port);
    let pending = pending_order(&ca, "a.pem", "app.example.com");
    let challenge = ca.as_account("web", "a.pem", &pending.kid, &pending.challenge_url, &json!({})).json();
    assert_eq!(challenge["status"], "invalid", "{challenge}");
    assert_eq!(challenge["error"]["type"], format!("{PROBLEM}connection"), "{challenge}");
    // Another account cannot start or read it.
    let other = ca.account("web", "b.pem");
    ca.as_account("web", "b.pem", &other, &pending.challenge_url, &json!({}))
        .assert_problem("unauthorized", 401);
}

impl Ca {
    /// A CSR made by openssl for CN `cn` and `sans` (openssl's subjectAltName syntax), as the
    /// base64url DER finalize takes.
    fn csr(&self, file: &str, cn: &str, sans: &str) -> String {
        let (key, der) = (self.pki.path(&format!("{file}.key")), self.pki.path(&format!("{file}.der")));
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
            &format!("/CN={cn}"),
            "-addext",
            &format!("subjectAltName={sans}"),
            "-outform",
            "DER",
            "-out",
            arg(&der),
        ]);
        base64ct::Base64UrlUnpadded::encode_string(&fs::read(&der).expect("read the CSR"))
    }
}

/// A CA validating on a test server, and an order of account key `a.pem` for
/// app.example.com made ready by the right http-01 answer.
fn ready_order() -> (Ca, Pending) {
    let (body_tx, body_rx) = std::sync::mpsc::channel::<String>();
    let (port, server) = http01_server_with(move || body_rx.recv().expect("the body"));
    let ca = ca_validating_on(port);
    let pending = pending_order(&ca, "a.pem", "app.example.com");
    body_tx.send(ca.key_authorization("a.pem", &pending.token)).expect("send");
    let challenge = ca.as_account("web", "a.pem", &pending.kid, &pending.challenge_url, &json!({})).json();
    assert_eq!(challenge["status"], "valid", "{challenge}");
    server.join().expect("the test server");
    (ca, pending)
}

#[test]
fn finalize_with_a_csr_for_the_order_names_issues_a_certificate_openssl_verifies() {
    let (ca, pending) = ready_order();
    let order = ca.as_account("web", "a.pem", &pending.kid, &pending.order_url, &Value::Null).json();
    let finalize_url = order["finalize"].as_str().expect("finalize").to_string();

    // Names other than the order's are badCSR, and the order stays ready.
    let other = ca.csr("other", "app.example.com", "DNS:app.example.com,DNS:b.example.com");
    ca.as_account("web", "a.pem", &pending.kid, &finalize_url, &json!({"csr": other}))
        .assert_problem("badCSR", 400);
    let fewer = ca.csr("fewer", "b.example.com", "DNS:b.example.com");
    ca.as_account("web", "a.pem", &pending.kid, &finalize_url, &json!({"csr": fewer}))
        .assert_problem("badCSR", 400);
    ca.as_account("web", "a.pem", &pending.kid, &finalize_url, &json!({"csr": "!!"}))
        .assert_problem("badCSR", 400);
    let still = ca.as_account("web", "a.pem", &pending.kid, &pending.order_url, &Value::Null).json();
    assert_eq!(still["status"], "ready", "{still}");
    assert_eq!(ledger_leaves(&ca), 0, "a refused CSR leaves no certificate");
    // Another account cannot finalize it.
    let stranger = ca.account("web", "b.pem");
    let right = ca.csr("right", "app.example.com", "DNS:app.example.com");
    ca.as_account("web", "b.pem", &stranger, &finalize_url, &json!({"csr": right}))
        .assert_problem("unauthorized", 401);

    let done = ca.as_account("web", "a.pem", &pending.kid, &finalize_url, &json!({"csr": right}));
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.header("location"), Some(pending.order_url.as_str()));
    let order = done.json();
    assert_eq!(order["status"], "valid", "{order}");
    let cert_url = order["certificate"].as_str().expect("a certificate URL").to_string();
    assert!(cert_url.starts_with(&ca.url("web", "cert/")), "{order}");
    // Finalizing again is refused: the order is no longer ready.
    ca.as_account("web", "a.pem", &pending.kid, &finalize_url, &json!({"csr": right}))
        .assert_problem("orderNotReady", 403);

    let pem = ca.as_account("web", "a.pem", &pending.kid, &cert_url, &Value::Null);
    assert_eq!(pem.status, 200, "{}", pem.body);
    assert_eq!(pem.header("content-type"), Some("application/pem-certificate-chain"));
    assert_eq!(
        pem.body.matches("-----BEGIN CERTIFICATE-----").count(),
        2,
        "leaf and issuing CA: {}",
        pem.body
    );
    let chain = ca.pki.path("chain.pem");
    fs::write(&chain, &pem.body).expect("write the chain");
    let leaf = ca.pki.path("leaf.pem");
    let leaf_pem = pem.body.split_inclusive("-----END CERTIFICATE-----\n").next().expect("the leaf");
    fs::write(&leaf, leaf_pem).expect("write the leaf");
    let verified =
        openssl_ok(["verify", "-CAfile", arg(&ca.root_pem), "-untrusted", arg(&chain), arg(&leaf)]);
    assert!(verified.contains(": OK"), "{verified}");
    let text = x509_text(&leaf);
    let (_, san) = extension(&text, "X509v3 Subject Alternative Name").expect("a SAN");
    assert_eq!(san, "DNS:app.example.com", "{text}");
    // Only the owning account downloads it.
    ca.as_account("web", "b.pem", &stranger, &cert_url, &Value::Null).assert_problem("unauthorized", 401);
}

/// The ACME client lego (Debian's package) gets a certificate over http-01, end to end.
#[test]
fn lego_gets_a_certificate_over_http01() {
    let lego = common::interop::require_program("lego", &[], "lego");
    let port = common::interop::free_port();
    let ca = ca_validating_on(port);
    let dir = ca.pki.path("lego");
    let finished = common::interop::run_bounded(
        "lego",
        Command::new(lego)
            .env("LEGO_CA_CERTIFICATES", &ca.root_pem)
            .args(["--server", &ca.url("web", "directory"), "--accept-tos", "--email", "ops@example.com"])
            .args(["--http", "--http.port", &format!("127.0.0.1:{port}"), "--domains", "app.example.com"])
            .arg("--path")
            .arg(&dir)
            .arg("run"),
        b"",
        &ca.pki.path("lego-logs"),
        std::time::Duration::from_secs(120),
    );
    assert!(finished.status.success(), "lego failed:\n{}\n{}", finished.stdout, finished.stderr);
    let leaf = dir.join("certificates/app.example.com.crt");
    let verified = openssl_ok(["verify", "-CAfile", arg(&ca.root_pem), "-untrusted", arg(&leaf), arg(&leaf)]);
    assert!(verified.contains(": OK"), "{verified}");
    let (_, san) = extension(&x509_text(&leaf), "X509v3 Subject Alternative Name").expect("a SAN");
    assert_eq!(san, "DNS:app.example.com");
}

#[test]
fn finalize_with_a_key_the_ca_does_not_certify_is_bad_csr() {
    let (ca, pending) = ready_order();
    let finalize_url = format!("{}/finalize", pending.order_url);
    let (key, der) = (ca.pki.path("weak.key"), ca.pki.path("weak.der"));
    openssl_ok([
        "req",
        "-new",
        "-newkey",
        "rsa:1024",
        "-nodes",
        "-keyout",
        arg(&key),
        "-subj",
        "/CN=app.example.com",
        "-addext",
        "subjectAltName=DNS:app.example.com",
        "-outform",
        "DER",
        "-out",
        arg(&der),
    ]);
    let weak = base64ct::Base64UrlUnpadded::encode_string(&fs::read(&der).expect("read the CSR"));
    let refused = ca.as_account("web", "a.pem", &pending.kid, &finalize_url, &json!({"csr": weak}));
    refused.assert_problem("badCSR", 400);
    assert!(!refused.body.contains("log says"), "{}", refused.body);
}

impl Ca {
    /// The public JWK of `key` (created on first use).
    fn jwk(&self, key: &str) -> Value {
        let output = Command::new(python())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/acme/sign.py"))
            .arg(self.pki.path(key))
            .arg("--jwk")
            .output()
            .expect("run sign.py");
        assert!(output.status.success(), "sign.py failed: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("a JWK")
    }

    /// keyChange from account `kid`'s key `old` to `new`: the inner JWS by `new` (no nonce),
    /// inside the outer one by `old`.
    fn key_change(&self, old: &str, new: &str, kid: &str, inner_payload: &Value) -> Reply {
        let url = self.url("web", "key-change");
        let inner = self.sign(new, &url, "-", &inner_payload.to_string(), &[]);
        let inner: Value = serde_json::from_str(&inner).expect("the inner JWS");
        self.as_account("web", old, kid, &url, &inner)
    }
}

/// Finalizes a ready order with a CSR made with key file `csr`; the leaf and its issuer.
fn issued(ca: &Ca, pending: &Pending, csr: &str) -> (PathBuf, PathBuf) {
    let right = ca.csr(csr, "app.example.com", "DNS:app.example.com");
    let finalize_url = format!("{}/finalize", pending.order_url);
    let done = ca.as_account("web", "a.pem", &pending.kid, &finalize_url, &json!({"csr": right})).json();
    let cert_url = done["certificate"].as_str().unwrap_or_else(|| panic!("no certificate: {done}"));
    let pem = ca.as_account("web", "a.pem", &pending.kid, cert_url, &Value::Null).body;
    let mut parts = pem.split_inclusive("-----END CERTIFICATE-----\n");
    let (leaf, issuer) = (ca.pki.path(&format!("{csr}.crt")), ca.pki.path(&format!("{csr}.issuer.pem")));
    fs::write(&leaf, parts.next().expect("the leaf")).expect("write the leaf");
    fs::write(&issuer, parts.next().expect("the issuer")).expect("write the issuer");
    (leaf, issuer)
}

/// What serve's OCSP responder says of `leaf`: "good", "revoked" or "unknown".
fn ocsp_status(ca: &Ca, leaf: &std::path::Path, issuer: &std::path::Path) -> String {
    common::serve::ocsp_status(&ca.serve, issuer, leaf, &ca.root_pem)
}

#[test]
fn revoke_cert_by_the_certificate_key_revokes_it_in_the_ledger_crl_and_ocsp() {
    let (ca, pending) = ready_order();
    let (leaf, issuer) = issued(&ca, &pending, "right");
    assert_eq!(ocsp_status(&ca, &leaf, &issuer), "good");
    let der = base64ct::Base64UrlUnpadded::encode_string(&cert_der(&leaf));
    let url = ca.url("web", "revoke-cert");

    // Another account's key, a key that is not the certificate's, a reason a subscriber may
    // not give, and a certificate this CA did not issue: each refused, nothing revoked.
    let stranger = ca.account("web", "b.pem");
    ca.as_account("web", "b.pem", &stranger, &url, &json!({"certificate": der}))
        .assert_problem("unauthorized", 403);
    ca.signed("web", "c.pem", &url, &json!({"certificate": der}), &[]).assert_problem("unauthorized", 403);
    ca.signed("web", "right.key", &url, &json!({"certificate": der, "reason": 2}), &[])
        .assert_problem("badRevocationReason", 400);
    let foreign = base64ct::Base64UrlUnpadded::encode_string(&cert_der(&ca.root_pem));
    ca.signed("web", "right.key", &url, &json!({"certificate": foreign}), &[])
        .assert_problem("malformed", 404);
    ca.signed("web", "right.key", &url, &json!({"certificate": "!"}), &[]).assert_problem("malformed", 400);
    assert_eq!(ocsp_status(&ca, &leaf, &issuer), "good");

    let done = ca.signed("web", "right.key", &url, &json!({"certificate": der, "reason": 1}), &[]);
    assert_eq!(done.status, 200, "{}", done.body);
    ca.signed("web", "right.key", &url, &json!({"certificate": der}), &[])
        .assert_problem("alreadyRevoked", 400);

    let shown: Value = serde_json::from_slice(&ca.pki.ok(&["--json", "show", "app.example.com"]).stdout)
        .expect("show --json");
    let text = shown.to_string();
    assert!(text.contains("\"revoked\"") && text.contains("key-compromise"), "{text}");
    // The CRL committed with the revocation lists it, and OCSP says so within a tick.
    let cas = ca.pki.json(&["ca", "list"]);
    let slug = cas["authorities"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["default"] == true))
        .and_then(|c| c["slug"].as_str())
        .unwrap_or_else(|| panic!("no intermediate in {cas}"));
    let crl_url = format!("{}/crl/{slug}.crl", ca.serve.http);
    let crl = ca.pki.path("issuer.crl");
    let serial = openssl_ok(["x509", "-in", arg(&leaf), "-noout", "-serial"]);
    let serial = serial.trim().trim_start_matches("serial=").to_ascii_uppercase();
    let served_crl = || {
        let fetched =
            Command::new(curl_binary()).args(["-sS", "-o", arg(&crl), &crl_url]).status().expect("curl");
        assert!(fetched.success());
        openssl_ok(["crl", "-inform", "DER", "-in", arg(&crl), "-noout", "-text"])
    };
    common::interop::wait_until(
        "the served CRL to list it",
        std::time::Duration::from_secs(2),
        || served_crl().to_ascii_uppercase().contains(&serial),
        || ca.serve.log(),
    );
    let listed = served_crl();
    assert!(listed.contains("Key Compromise"), "{listed}");
    common::interop::wait_until(
        "OCSP to say revoked",
        std::time::Duration::from_secs(5),
        || ocsp_status(&ca, &leaf, &issuer).starts_with("revoked"),
        || ca.serve.log(),
    );
}

#[test]
fn revoke_cert_by_the_ordering_account() {
    let (ca, pending) = ready_order();
    let (leaf, issuer) = issued(&ca, &pending, "right");
    let der = base64ct::Base64UrlUnpadded::encode_string(&cert_der(&leaf));
    let url = ca.url("web", "revoke-cert");
    let done = ca.as_account("web", "a.pem", &pending.kid, &url, &json!({"certificate": der, "reason": 4}));
    assert_eq!(done.status, 200, "{}", done.body);
    common::interop::wait_until(
        "OCSP to say revoked",
        std::time::Duration::from_secs(5),
        || ocsp_status(&ca, &leaf, &issuer).starts_with("revoked"),
        || ca.serve.log(),
    );
    // Another provisioner's directory does not know the certificate.
    let other = ca.url("partners", "revoke-cert");
    let body =
        ca.sign("right.key", &other, &ca.nonce("partners"), &json!({"certificate": der}).to_string(), &[]);
    ca.post(&other, &body).assert_problem("malformed", 404);
}

#[test]
fn key_change_moves_the_account_to_a_new_key() {
    let ca = ca();
    let kid = ca.account("web", "old.pem");
    let other = ca.account("web", "taken.pem");
    let url = ca.url("web", "key-change");
    let old_jwk = ca.jwk("old.pem");

    // The inner JWS must name this account and its current key, and use the same URL.
    ca.key_change("old.pem", "new.pem", &kid, &json!({"account": other, "oldKey": old_jwk}))
        .assert_problem("unauthorized", 401);
    ca.key_change("old.pem", "new.pem", &kid, &json!({"account": kid, "oldKey": ca.jwk("x.pem")}))
        .assert_problem("unauthorized", 401);
    let elsewhere = ca.sign(
        "new.pem",
        &ca.url("web", "new-order"),
        "-",
        &json!({"account": kid, "oldKey": old_jwk}).to_string(),
        &[],
    );
    let elsewhere: Value = serde_json::from_str(&elsewhere).expect("JWS");
    ca.as_account("web", "old.pem", &kid, &url, &elsewhere).assert_problem("unauthorized", 401);
    // A key another account holds is a conflict naming that account.
    let conflict = ca.key_change("old.pem", "taken.pem", &kid, &json!({"account": kid, "oldKey": old_jwk}));
    assert_eq!(conflict.status, 409, "{}", conflict.body);
    assert_eq!(conflict.header("location"), Some(other.as_str()));

    let moved = ca.key_change("old.pem", "new.pem", &kid, &json!({"account": kid, "oldKey": old_jwk}));
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.header("location"), Some(kid.as_str()));
    ca.as_account("web", "old.pem", &kid, &kid, &Value::Null).assert_problem("unauthorized", 401);
    assert_eq!(ca.as_account("web", "new.pem", &kid, &kid, &Value::Null).status, 200);
    let found = ca.new_account("web", "new.pem", json!({"onlyReturnExisting": true}));
    assert_eq!(found.header("location"), Some(kid.as_str()), "{}", found.body);
}

#[test]
fn a_deactivated_authorization_invalidates_its_order_and_the_orders_list_drops_it() {
    let ca = ca();
    let pending = pending_order(&ca, "a.pem", "app.example.com");
    let second = ca.as_account(
        "web",
        "a.pem",
        &pending.kid,
        &ca.url("web", "new-order"),
        &json!({"identifiers": [{"type": "dns", "value": "b.example.com"}]}),
    );
    let second_url = second.header("location").expect("Location").to_string();
    let list_url = format!("{}/orders", pending.kid);
    let account = ca.as_account("web", "a.pem", &pending.kid, &pending.kid, &Value::Null).json();
    assert_eq!(account["orders"], list_url);
    let listed = ca.as_account("web", "a.pem", &pending.kid, &list_url, &Value::Null).json();
    assert_eq!(listed["orders"], json!([second_url, pending.order_url]), "newest first");

    ca.as_account("web", "a.pem", &pending.kid, &pending.authz_url, &json!({"status": "valid"}))
        .assert_problem("malformed", 400);
    let stranger = ca.account("web", "b.pem");
    ca.as_account("web", "b.pem", &stranger, &pending.authz_url, &json!({"status": "deactivated"}))
        .assert_problem("unauthorized", 401);
    ca.as_account("web", "b.pem", &stranger, &list_url, &Value::Null).assert_problem("unauthorized", 401);
    let gone =
        ca.as_account("web", "a.pem", &pending.kid, &pending.authz_url, &json!({"status": "deactivated"}));
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(gone.json()["status"], "deactivated");
    let order = ca.as_account("web", "a.pem", &pending.kid, &pending.order_url, &Value::Null).json();
    assert_eq!(order["status"], "invalid", "{order}");
    let listed = ca.as_account("web", "a.pem", &pending.kid, &list_url, &Value::Null).json();
    assert_eq!(listed["orders"], json!([second_url]));
    // Its challenge can no longer be started.
    let refused = ca.as_account("web", "a.pem", &pending.kid, &pending.challenge_url, &json!({}));
    refused.assert_problem("malformed", 400);
    assert!(refused.body.contains("deactivated"), "{}", refused.body);
}

#[test]
fn an_account_over_its_hourly_order_limit_is_rate_limited_with_retry_after() {
    let pki = Pki::init_unencrypted(ROOT);
    let root_pem = pki.path("root.pem");
    fs::write(&root_pem, pki.ok(&["ca", "cert", ROOT]).stdout).expect("write the root");
    pki.ok(&["acme", "add", "web", "--profile", "server", "--allow", "*.example.com"]);
    let serve = Serve::start(&pki, &["--name", "localhost", "--acme-max-orders-per-hour", "2"]);
    let ca = Ca { pki, root_pem, serve };
    let kid = ca.account("web", "a.pem");
    let url = ca.url("web", "new-order");
    for name in ["a.example.com", "b.example.com"] {
        let ok = ca.as_account(
            "web",
            "a.pem",
            &kid,
            &url,
            &json!({"identifiers": [{"type": "dns", "value": name}]}),
        );
        assert_eq!(ok.status, 201, "{}", ok.body);
    }
    let limited = ca.as_account(
        "web",
        "a.pem",
        &kid,
        &url,
        &json!({"identifiers": [{"type": "dns", "value": "c.example.com"}]}),
    );
    limited.assert_problem("rateLimited", 429);
    let retry: i64 = limited.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=3600).contains(&retry), "{retry}");
    // Another account has its own quota.
    let other = ca.account("web", "b.pem");
    let ok = ca.as_account(
        "web",
        "b.pem",
        &other,
        &url,
        &json!({"identifiers": [{"type": "dns", "value": "c.example.com"}]}),
    );
    assert_eq!(ok.status, 201, "{}", ok.body);
}

/// RFC 8738: an order for an IP address, validated over http-01 at that address, gives a
/// certificate with an IP SAN that OpenSSL verifies for the address. (Debian's lego 4.9 sends an
/// address as a `dns` identifier, which RFC 8738 §3 forbids and serve refuses; so the client
/// here is curl with sign.py.)
#[test]
fn an_ip_address_order_is_validated_at_the_address_and_certified() {
    let (body_tx, body_rx) = std::sync::mpsc::channel::<String>();
    let (port, server) = http01_server_with(move || body_rx.recv().expect("the body"));
    let pki = Pki::init_unencrypted(ROOT);
    let root_pem = pki.path("root.pem");
    fs::write(&root_pem, pki.ok(&["ca", "cert", ROOT]).stdout).expect("write the root");
    pki.ok(&["acme", "add", "ips", "--profile", "server", "--allow-ip", "127.0.0.0/8"]);
    let serve = Serve::start(&pki, &["--name", "localhost", "--acme-http01-port", &port.to_string()]);
    let ca = Ca { pki, root_pem, serve };
    let kid = ca.account("ips", "a.pem");
    let new_order = ca.url("ips", "new-order");
    let as_dns = json!({"identifiers": [{"type": "dns", "value": "127.0.0.1"}]});
    ca.as_account("ips", "a.pem", &kid, &new_order, &as_dns).assert_problem("malformed", 400);
    let outside = json!({"identifiers": [{"type": "ip", "value": "10.1.2.3"}]});
    ca.as_account("ips", "a.pem", &kid, &new_order, &outside).assert_problem("rejectedIdentifier", 403);

    let created = ca.as_account(
        "ips",
        "a.pem",
        &kid,
        &new_order,
        &json!({"identifiers": [{"type": "ip", "value": "127.0.0.1"}]}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let order_url = created.header("location").expect("Location").to_string();
    let authz_url = created.json()["authorizations"][0].as_str().expect("authz").to_string();
    let authz = ca.as_account("ips", "a.pem", &kid, &authz_url, &Value::Null).json();
    let kinds: Vec<&str> = authz["challenges"]
        .as_array()
        .expect("challenges")
        .iter()
        .filter_map(|c| c["type"].as_str())
        .collect();
    assert_eq!(kinds, ["http-01", "tls-alpn-01"], "no dns-01 for an address: {authz}");
    let http = &authz["challenges"][0];
    body_tx.send(ca.key_authorization("a.pem", http["token"].as_str().expect("token"))).expect("send");
    let challenge =
        ca.as_account("ips", "a.pem", &kid, http["url"].as_str().expect("url"), &json!({})).json();
    assert_eq!(challenge["status"], "valid", "{challenge}");
    let head = server.join().expect("the test server");
    assert!(head.to_ascii_lowercase().contains(&format!("host: 127.0.0.1:{port}\r\n")), "{head}");

    let csr = ca.csr("ip", "127.0.0.1", "IP:127.0.0.1");
    let done =
        ca.as_account("ips", "a.pem", &kid, &format!("{order_url}/finalize"), &json!({"csr": csr})).json();
    let cert_url = done["certificate"].as_str().unwrap_or_else(|| panic!("no certificate: {done}"));
    let pem = ca.as_account("ips", "a.pem", &kid, cert_url, &Value::Null).body;
    let chain = ca.pki.path("ip-chain.pem");
    fs::write(&chain, &pem).expect("write the chain");
    let verified = openssl_ok([
        "verify",
        "-CAfile",
        arg(&ca.root_pem),
        "-untrusted",
        arg(&chain),
        "-purpose",
        "sslserver",
        "-verify_ip",
        "127.0.0.1",
        arg(&chain),
    ]);
    assert!(verified.contains(": OK"), "{verified}");
    let (_, san) = extension(&x509_text(&chain), "X509v3 Subject Alternative Name").expect("a SAN");
    assert_eq!(san, "IP Address:127.0.0.1");
}

#[test]
fn an_account_whose_orders_keep_failing_is_rate_limited() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port().to_string();
    drop(listener);
    let pki = Pki::init_unencrypted(ROOT);
    let root_pem = pki.path("root.pem");
    fs::write(&root_pem, pki.ok(&["ca", "cert", ROOT]).stdout).expect("write the root");
    pki.ok(&["acme", "add", "web", "--profile", "server", "--allow", "*.example.com"]);
    let serve = Serve::start(
        &pki,
        &[
            "--name",
            "localhost",
            "--acme-http01-port",
            &port,
            "--acme-resolve",
            "app.example.com=127.0.0.1",
            "--acme-max-failed-orders-per-hour",
            "1",
        ],
    );
    let ca = Ca { pki, root_pem, serve };
    let pending = pending_order(&ca, "a.pem", "app.example.com");
    let challenge = ca.as_account("web", "a.pem", &pending.kid, &pending.challenge_url, &json!({})).json();
    assert_eq!(challenge["status"], "invalid", "{challenge}");
    let again = json!({"identifiers": [{"type": "dns", "value": "app.example.com"}]});
    let limited = ca.as_account("web", "a.pem", &pending.kid, &ca.url("web", "new-order"), &again);
    limited.assert_problem("rateLimited", 429);
    assert!(
        limited.json()["detail"].as_str().is_some_and(|d| d.contains("failed orders")),
        "{}",
        limited.body
    );
}
