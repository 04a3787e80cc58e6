//! A hand-driven ACME client for tests that need to see each step: curl for HTTPS (trusting the
//! home's root), request bodies signed by Python `cryptography` (testdata/acme/sign.py, ES256).

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use super::interop::{curl_binary, python};
use super::{Pki, arg};

/// The prefix of every ACME problem type.
pub const PROBLEM: &str = "urn:ietf:params:acme:error:";

/// An HTTP answer: status, headers and body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn nonce(&self) -> String {
        self.header("replay-nonce")
            .unwrap_or_else(|| panic!("no Replay-Nonce: {:?}", self.headers))
            .to_string()
    }

    /// A problem document of this type and status, with the problem media type.
    pub fn assert_problem(&self, kind: &str, status: u16) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{:?}", self.headers);
        let doc = self.json();
        assert_eq!(doc["type"], format!("{PROBLEM}{kind}"), "{doc}");
        assert!(doc["detail"].as_str().is_some_and(|d| !d.is_empty()), "{doc}");
    }
}

/// curl `url` trusting `root_pem`, with `extra` arguments; status, headers and body (kept in
/// numbered files of the test's work directory).
pub fn curl(pki: &Pki, root_pem: &std::path::Path, extra: &[&str], url: &str) -> Reply {
    let n = fs::read_dir(pki.work()).map(|d| d.count()).unwrap_or(0);
    let (head_file, body_file) = (pki.path(&format!("h{n}.txt")), pki.path(&format!("b{n}.txt")));
    let output = Command::new(curl_binary())
        .args(["-sS", "--max-time", "60", "--cacert"])
        .arg(root_pem)
        .args(extra)
        .args(["-D", arg(&head_file), "-o", arg(&body_file), "-w", "%{http_code}"])
        .arg(url)
        .output()
        .expect("run curl");
    assert!(output.status.success(), "curl failed: {}", String::from_utf8_lossy(&output.stderr));
    let status = String::from_utf8_lossy(&output.stdout).trim().parse().expect("an HTTP status");
    let headers = fs::read_to_string(&head_file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_string(), v.trim().to_string())))
        .collect();
    Reply { status, headers, body: fs::read_to_string(&body_file).unwrap_or_default() }
}

/// A client of one provisioner's directory at `https` (`https://127.0.0.1:PORT`).
pub struct AcmeClient<'a> {
    pub pki: &'a Pki,
    pub root_pem: PathBuf,
    pub https: String,
    pub provisioner: String,
}

/// An order of one identifier, and the challenge of the type asked for.
pub struct Pending {
    pub kid: String,
    pub key: String,
    pub order_url: String,
    pub authz_url: String,
    pub challenge_url: String,
    pub token: String,
}

impl AcmeClient<'_> {
    /// `https://127.0.0.1:PORT/acme/NAME/PATH`
    pub fn url(&self, path: &str) -> String {
        format!("{}/acme/{}/{path}", self.https, self.provisioner)
    }

    fn curl(&self, extra: &[&str], url: &str) -> Reply {
        curl(self.pki, &self.root_pem, extra, url)
    }

    fn nonce(&self) -> String {
        self.curl(&["-I"], &self.url("new-nonce")).nonce()
    }

    /// `sign.py` with `args` after the key file.
    fn sign_py(&self, key: &str, args: &[&str]) -> String {
        let output = Command::new(python())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/acme/sign.py"))
            .arg(self.pki.path(key))
            .args(args)
            .output()
            .expect("run sign.py");
        assert!(output.status.success(), "sign.py failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("UTF-8")
    }

    /// POSTs `payload` (Null: POST-as-GET) to `url`, signed by `key` with a fresh nonce, as
    /// account `kid` (or with the key embedded when `kid` is None).
    pub fn signed(&self, key: &str, kid: Option<&str>, url: &str, payload: &Value) -> Reply {
        let payload = if payload.is_null() { String::new() } else { payload.to_string() };
        let nonce = self.nonce();
        let mut args = vec![url, nonce.as_str(), payload.as_str()];
        if let Some(kid) = kid {
            args.extend(["--kid", kid]);
        }
        let body = self.sign_py(key, &args);
        let file = self.pki.path("request.json");
        fs::write(&file, body).expect("write the request");
        let data = format!("@{}", file.display());
        self.curl(&["-H", "Content-Type: application/jose+json", "--data-binary", &data], url)
    }

    /// A new account for `key`: its kid (account URL).
    pub fn account(&self, key: &str) -> String {
        let created =
            self.signed(key, None, &self.url("new-account"), &json!({"termsOfServiceAgreed": true}));
        assert_eq!(created.status, 201, "{}", created.body);
        created.header("location").expect("Location").to_string()
    }

    /// The key authorization of `token` for account key `key` (RFC 8555 §8.1).
    pub fn key_authorization(&self, key: &str, token: &str) -> String {
        format!("{token}.{}", self.sign_py(key, &["--thumbprint"]).trim())
    }

    /// A new account with key `key` and an order for `identifier` (`{"type", "value"}`), with
    /// its challenge of type `kind`.
    pub fn pending_order(&self, key: &str, identifier: Value, kind: &str) -> Pending {
        let kid = self.account(key);
        let payload = json!({ "identifiers": [identifier] });
        let created = self.signed(key, Some(&kid), &self.url("new-order"), &payload);
        assert_eq!(created.status, 201, "{}", created.body);
        let order_url = created.header("location").expect("Location").to_string();
        let authz_url = created.json()["authorizations"][0].as_str().expect("authz").to_string();
        let authz = self.signed(key, Some(&kid), &authz_url, &Value::Null).json();
        let challenge =
            authz["challenges"].as_array().and_then(|c| c.iter().find(|c| c["type"] == kind).cloned());
        let challenge = challenge.unwrap_or_else(|| panic!("no {kind} challenge: {authz}"));
        Pending {
            kid,
            key: key.to_string(),
            order_url,
            authz_url,
            challenge_url: challenge["url"].as_str().expect("url").to_string(),
            token: challenge["token"].as_str().expect("token").to_string(),
        }
    }

    /// Asks for the challenge to be validated (`{}`); the challenge as answered.
    pub fn respond(&self, pending: &Pending) -> Value {
        let reply = self.signed(&pending.key, Some(&pending.kid), &pending.challenge_url, &json!({}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    }

    /// The order or authorization at `url`, read with POST-as-GET.
    pub fn read(&self, pending: &Pending, url: &str) -> Value {
        let reply = self.signed(&pending.key, Some(&pending.kid), url, &Value::Null);
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    }
}
