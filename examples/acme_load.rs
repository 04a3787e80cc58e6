//! The ACME load generator of `bench/acme.sh`: N orders by C concurrent clients, each through
//! full http-01 validation, against any RFC 8555 server (the same program drives `pkictl serve`
//! and Pebble, so the two numbers compare).
//!
//! ```text
//! cargo run --release --example acme_load -- --directory https://127.0.0.1:8443/acme/web/directory \
//!     --root root.pem --responder 127.0.0.1:5002 --suffix bench.example [--orders 1000] [--clients 20]
//! ```
//!
//! Each client has its own ES256 account key (a new account every `--orders-per-account`
//! orders, so per-account order limits are not what is measured) and one keep-alive HTTPS
//! connection. Per order: newOrder for `o<i>.<suffix>` → authorization → the key authorization
//! put on the shared http-01 responder → POST to the challenge → authorization polled until valid
//! (unless the challenge answer already says valid) → finalize with a fresh P-256 CSR → order
//! polled until valid → certificate downloaded. An order's latency runs from newOrder to the
//! certificate. The server must resolve `o<i>.<suffix>` to the responder's address.
//!
//! Prints one JSON object: certificates, failed, seconds, certs_per_s, p50_ms, p90_ms, p99_ms,
//! max_ms, hung (no certificate for `--stall` seconds: the run was abandoned, and the rate is
//! that of the certificates before) and the first errors. Keys here are throwaway load-test keys, never stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use base64ct::{Base64UrlUnpadded, Encoding};
use hyper::client::conn::http1;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;

const MAX_BODY: usize = 1024 * 1024;
const NONCE_RETRIES: usize = 5;

#[derive(Clone)]
struct Options {
    directory: String,
    root: String,
    responder: String,
    suffix: String,
    orders: usize,
    clients: usize,
    orders_per_account: usize,
    poll: Duration,
    timeout: Duration,
    stall: Duration,
}

fn options() -> Result<Options> {
    let mut o = Options {
        directory: String::new(),
        root: String::new(),
        responder: "127.0.0.1:5002".into(),
        suffix: String::new(),
        orders: 1000,
        clients: 20,
        orders_per_account: 100,
        poll: Duration::from_millis(20),
        timeout: Duration::from_secs(30),
        stall: Duration::from_secs(60),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--directory" => o.directory = value,
            "--root" => o.root = value,
            "--responder" => o.responder = value,
            "--suffix" => o.suffix = value,
            "--orders" => o.orders = value.parse()?,
            "--clients" => o.clients = value.parse()?,
            "--orders-per-account" => o.orders_per_account = value.parse::<usize>()?.max(1),
            "--poll-ms" => o.poll = Duration::from_millis(value.parse()?),
            "--timeout" => o.timeout = Duration::from_secs(value.parse()?),
            "--stall" => o.stall = Duration::from_secs(value.parse()?),
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    if o.directory.is_empty() || o.root.is_empty() || o.suffix.is_empty() {
        return Err("--directory, --root and --suffix are required".into());
    }
    Ok(o)
}

/// ring's errors (without its `std` feature) are not `std::error::Error`.
fn ring_ok<T, E: std::fmt::Debug>(result: std::result::Result<T, E>) -> Result<T> {
    result.map_err(|e| format!("ring: {e:?}").into())
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    Base64UrlUnpadded::encode_string(bytes.as_ref())
}

/// `https://HOST[:PORT]/PATH` → (host, port, path).
fn split_url(url: &str) -> Result<(String, u16, String)> {
    let rest = url.strip_prefix("https://").ok_or_else(|| format!("not an https URL: {url}"))?;
    let (authority, path) = rest.find('/').map(|i| (&rest[..i], &rest[i..])).unwrap_or((rest, "/"));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, p.parse()?),
        _ => (authority, 443),
    };
    Ok((host.trim_matches(|c| c == '[' || c == ']').to_string(), port, path.to_string()))
}

struct Reply {
    status: u16,
    location: Option<String>,
    nonce: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body).map_err(|e| self.failure(&format!("not JSON ({e})")))
    }

    fn failure(&self, what: &str) -> Error {
        let body = String::from_utf8_lossy(&self.body);
        format!("{what}: HTTP {} {}", self.status, body.chars().take(300).collect::<String>()).into()
    }
}

/// One keep-alive HTTP/1.1 connection over TLS, reopened when the server closes it.
struct Connection {
    host: String,
    port: u16,
    name: ServerName<'static>,
    tls: TlsConnector,
    timeout: Duration,
    sender: Option<http1::SendRequest<Body>>,
}

impl Connection {
    fn new(url: &str, tls: TlsConnector, timeout: Duration) -> Result<Connection> {
        let (host, port, _) = split_url(url)?;
        let name = ServerName::try_from(host.clone())?;
        Ok(Connection { host, port, name, tls, timeout, sender: None })
    }

    async fn open(&self) -> Result<http1::SendRequest<Body>> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
        tcp.set_nodelay(true)?;
        let stream = self.tls.connect(self.name.clone(), tcp).await?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    async fn send(&mut self, method: Method, url: &str, body: Option<Vec<u8>>) -> Result<Reply> {
        match tokio::time::timeout(self.timeout, self.send_once(method.clone(), url, body.clone())).await {
            Ok(Ok(reply)) => Ok(reply),
            // A keep-alive connection the server closed: once more on a new one.
            Ok(Err(_)) => {
                self.sender = None;
                match tokio::time::timeout(self.timeout, self.send_once(method, url, body)).await {
                    Ok(reply) => reply,
                    Err(_) => Err(format!("{url}: no answer within {:?}", self.timeout).into()),
                }
            }
            Err(_) => {
                self.sender = None;
                Err(format!("{url}: no answer within {:?}", self.timeout).into())
            }
        }
    }

    async fn send_once(&mut self, method: Method, url: &str, body: Option<Vec<u8>>) -> Result<Reply> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.sender = Some(self.open().await?);
        }
        let sender = self.sender.as_mut().ok_or("no connection")?;
        sender.ready().await?;
        let (_, _, path) = split_url(url)?;
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("{}:{}", self.host, self.port));
        if body.is_some() {
            request = request.header("content-type", "application/jose+json");
        }
        let request = request.body(body.map(Body::from).unwrap_or_else(Body::empty))?;
        let response = sender.send_request(request).await?;
        let header =
            |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (status, location, nonce) =
            (response.status().as_u16(), header("location"), header("replay-nonce"));
        let body = axum::body::to_bytes(Body::new(response.into_body()), MAX_BODY).await?.to_vec();
        Ok(Reply { status, location, nonce, body })
    }
}

/// An ES256 account key, its JWK and RFC 7638 thumbprint, and its account URL once registered.
struct AccountKey {
    key: EcdsaKeyPair,
    jwk: Value,
    thumbprint: String,
    kid: Option<String>,
}

impl AccountKey {
    fn new(rng: &SystemRandom) -> Result<AccountKey> {
        let pkcs8 = ring_ok(EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng))?;
        let key = ring_ok(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), rng))?;
        let point = key.public_key().as_ref();
        let (x, y) = (b64(&point[1..33]), b64(&point[33..65]));
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let thumbprint = b64(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()));
        Ok(AccountKey {
            key,
            jwk: json!({"crv": "P-256", "kty": "EC", "x": x, "y": y}),
            thumbprint,
            kid: None,
        })
    }

    fn jws(&self, rng: &SystemRandom, url: &str, nonce: &str, payload: Option<&Value>) -> Result<Vec<u8>> {
        let mut protected = json!({"alg": "ES256", "nonce": nonce, "url": url});
        match &self.kid {
            Some(kid) => protected["kid"] = json!(kid),
            None => protected["jwk"] = self.jwk.clone(),
        }
        let protected = b64(protected.to_string());
        let payload = payload.map(|p| b64(p.to_string())).unwrap_or_default();
        let signature = ring_ok(self.key.sign(rng, format!("{protected}.{payload}").as_bytes()))?;
        let body = json!({"protected": protected, "payload": payload, "signature": b64(signature)});
        Ok(body.to_string().into_bytes())
    }
}

/// A fresh P-256 key for one CSR, seen through rcgen's traits.
struct CsrKey {
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl rcgen::PublicKeyData for CsrKey {
    fn der_bytes(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for CsrKey {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        self.key.sign(&self.rng, msg).map(|s| s.as_ref().to_vec()).map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

fn csr_for(name: &str) -> Result<Vec<u8>> {
    let rng = SystemRandom::new();
    let pkcs8 = ring_ok(EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng))?;
    let key = ring_ok(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng))?;
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()])?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    Ok(params.serialize_request(&CsrKey { key, rng })?.der().to_vec())
}

/// Tokens → key authorizations, answered on `/.well-known/acme-challenge/TOKEN`.
type Answers = Arc<Mutex<HashMap<String, String>>>;

async fn responder(listener: TcpListener, answers: Answers) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let answers = answers.clone();
        tokio::spawn(async move {
            let _ = answer(stream, answers).await;
        });
    }
}

async fn answer(mut stream: TcpStream, answers: Answers) -> Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head).lines().next().unwrap_or("").to_string();
    let token = line.split_whitespace().nth(1).and_then(|p| p.strip_prefix("/.well-known/acme-challenge/"));
    let found = token.and_then(|t| answers.lock().ok()?.get(t).cloned());
    let reply = match found {
        Some(body) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
    };
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}

struct Directory {
    new_nonce: String,
    new_account: String,
    new_order: String,
}

/// One ACME client: a connection, the last nonce it was given, and its current account.
struct Client {
    conn: Connection,
    rng: SystemRandom,
    directory: Directory,
    nonce: Option<String>,
    account: AccountKey,
    options: Options,
    answers: Answers,
}

impl Client {
    async fn new(options: &Options, tls: TlsConnector, answers: Answers) -> Result<Client> {
        let mut conn = Connection::new(&options.directory, tls, options.timeout)?;
        let reply = conn.send(Method::GET, &options.directory, None).await?;
        let dir = reply.json()?;
        let member = |name: &str| dir[name].as_str().map(str::to_string).ok_or_else(|| reply.failure(name));
        let directory = Directory {
            new_nonce: member("newNonce")?,
            new_account: member("newAccount")?,
            new_order: member("newOrder")?,
        };
        let rng = SystemRandom::new();
        let account = AccountKey::new(&rng)?;
        let options = options.clone();
        Ok(Client { conn, rng, directory, nonce: reply.nonce, account, options, answers })
    }

    async fn nonce(&mut self) -> Result<String> {
        if let Some(nonce) = self.nonce.take() {
            return Ok(nonce);
        }
        let url = self.directory.new_nonce.clone();
        let reply = self.conn.send(Method::HEAD, &url, None).await?;
        reply.nonce.clone().ok_or_else(|| reply.failure("no Replay-Nonce from newNonce"))
    }

    /// A signed POST (`payload` None: POST-as-GET), retried on badNonce with the fresh nonce.
    async fn post(&mut self, url: &str, payload: Option<&Value>) -> Result<Reply> {
        for _ in 0..NONCE_RETRIES {
            let nonce = self.nonce().await?;
            let body = self.account.jws(&self.rng, url, &nonce, payload)?;
            let reply = self.conn.send(Method::POST, url, Some(body)).await?;
            self.nonce = reply.nonce.clone();
            let bad_nonce = reply.status == 400
                && String::from_utf8_lossy(&reply.body).contains("urn:ietf:params:acme:error:badNonce");
            if !bad_nonce {
                return Ok(reply);
            }
        }
        Err(format!("{url}: badNonce {NONCE_RETRIES} times").into())
    }

    async fn post_json(&mut self, url: &str, payload: Option<&Value>, what: &str) -> Result<(Reply, Value)> {
        let reply = self.post(url, payload).await?;
        if !(200..300).contains(&reply.status) {
            return Err(reply.failure(what));
        }
        let value = reply.json()?;
        Ok((reply, value))
    }

    async fn register(&mut self) -> Result<()> {
        self.account = AccountKey::new(&self.rng)?;
        let url = self.directory.new_account.clone();
        let (reply, _) =
            self.post_json(&url, Some(&json!({"termsOfServiceAgreed": true})), "newAccount").await?;
        self.account.kid =
            Some(reply.location.clone().ok_or_else(|| reply.failure("newAccount without Location"))?);
        Ok(())
    }

    /// Polls `url` (POST-as-GET) until its status is `done`; `invalid` is an error.
    async fn poll_until(&mut self, url: &str, mut value: Value, done: &str, what: &str) -> Result<Value> {
        loop {
            match value["status"].as_str() {
                Some(s) if s == done => return Ok(value),
                Some("invalid") => return Err(format!("{what} invalid: {value}").into()),
                _ => {}
            }
            tokio::time::sleep(self.options.poll).await;
            value = self.post_json(url, None, what).await?.1;
        }
    }

    async fn order(&mut self, name: &str) -> Result<()> {
        let new_order = self.directory.new_order.clone();
        let payload = json!({"identifiers": [{"type": "dns", "value": name}]});
        let (reply, order) = self.post_json(&new_order, Some(&payload), "newOrder").await?;
        let order_url = reply.location.clone().ok_or_else(|| reply.failure("newOrder without Location"))?;
        let authorizations: Vec<String> = order["authorizations"]
            .as_array()
            .map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        for authz_url in authorizations {
            self.authorize(&authz_url).await?;
        }
        let finalize = order["finalize"].as_str().ok_or_else(|| reply.failure("no finalize"))?.to_string();
        let csr = json!({"csr": b64(csr_for(name)?)});
        let order = self.post_json(&finalize, Some(&csr), "finalize").await?.1;
        let order = self.poll_until(&order_url, order, "valid", "order").await?;
        let certificate =
            order["certificate"].as_str().ok_or("a valid order without certificate")?.to_string();
        let reply = self.post(&certificate, None).await?;
        if reply.status != 200 || !reply.body.starts_with(b"-----BEGIN CERTIFICATE-----") {
            return Err(reply.failure("certificate"));
        }
        Ok(())
    }

    async fn authorize(&mut self, authz_url: &str) -> Result<()> {
        let authz = self.post_json(authz_url, None, "authorization").await?.1;
        if authz["status"] == "valid" {
            return Ok(());
        }
        let challenge = authz["challenges"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "http-01"))
            .ok_or_else(|| format!("no http-01 challenge in {authz}"))?;
        let (url, token) = (
            challenge["url"].as_str().ok_or("a challenge without url")?.to_string(),
            challenge["token"].as_str().ok_or("a challenge without token")?.to_string(),
        );
        let key_authorization = format!("{token}.{}", self.account.thumbprint);
        self.answers.lock().map_err(|_| "poisoned")?.insert(token.clone(), key_authorization);
        let result = async {
            let answered = self.post_json(&url, Some(&json!({})), "challenge").await?.1;
            if answered["status"] != "valid" {
                let authz = self.post_json(authz_url, None, "authorization").await?.1;
                self.poll_until(authz_url, authz, "valid", "authorization").await?;
            }
            Ok::<(), Error>(())
        }
        .await;
        self.answers.lock().map_err(|_| "poisoned")?.remove(&token);
        result
    }
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    failed: usize,
    errors: Vec<String>,
    /// When the last certificate came (failures are no progress: a hung server fails by timeouts).
    last_done: Option<Instant>,
}

async fn run_client(
    options: Options,
    tls: TlsConnector,
    answers: Answers,
    next: Arc<AtomicUsize>,
    tally: Arc<Mutex<Tally>>,
) {
    let mut client = match Client::new(&options, tls, answers).await {
        Ok(c) => c,
        Err(e) => return record(&tally, Err(format!("directory: {e}"))),
    };
    let mut done_with_account = options.orders_per_account;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= options.orders {
            return;
        }
        if done_with_account >= options.orders_per_account {
            if let Err(e) = client.register().await {
                record(&tally, Err(format!("newAccount: {e}")));
                continue;
            }
            done_with_account = 0;
        }
        done_with_account += 1;
        let started = Instant::now();
        let outcome = client.order(&format!("o{i}.{}", options.suffix)).await;
        record(&tally, outcome.map(|()| started.elapsed()).map_err(|e| e.to_string()));
    }
}

fn record(tally: &Arc<Mutex<Tally>>, outcome: std::result::Result<Duration, String>) {
    let Ok(mut t) = tally.lock() else { return };
    match outcome {
        Ok(latency) => {
            t.latencies.push(latency);
            t.last_done = Some(Instant::now());
        }
        Err(e) => {
            t.failed += 1;
            if t.errors.len() < 5 {
                t.errors.push(e);
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn tls_connector(root: &str) -> Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(root)? {
        roots.add(cert?)?;
    }
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

#[tokio::main]
async fn main() -> Result<()> {
    let options = options()?;
    let tls = tls_connector(&options.root)?;
    let answers: Answers = Arc::default();
    let listener = TcpListener::bind(&options.responder).await?;
    tokio::spawn(responder(listener, answers.clone()));

    let (next, tally) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Tally::default())));
    let started = Instant::now();
    let workers: Vec<_> = (0..options.clients)
        .map(|_| {
            tokio::spawn(run_client(
                options.clone(),
                tls.clone(),
                answers.clone(),
                next.clone(),
                tally.clone(),
            ))
        })
        .collect();
    let hung = AtomicBool::new(false);
    while workers.iter().any(|w| !w.is_finished()) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let last = tally.lock().ok().and_then(|t| t.last_done).unwrap_or(started);
        if last.elapsed() > options.stall {
            hung.store(true, Ordering::Relaxed);
            workers.iter().for_each(|w| w.abort());
            break;
        }
    }
    let t = tally.lock().map_err(|_| "poisoned")?;
    let seconds = t.last_done.unwrap_or(started).duration_since(started).as_secs_f64();
    let mut sorted = t.latencies.clone();
    sorted.sort();
    let summary = json!({
        "orders": options.orders,
        "clients": options.clients,
        "certificates": sorted.len(),
        "failed": t.failed,
        "unfinished": options.orders.saturating_sub(sorted.len() + t.failed),
        "seconds": seconds,
        "certs_per_s": if seconds > 0.0 { sorted.len() as f64 / seconds } else { 0.0 },
        "p50_ms": percentile(&sorted, 50.0),
        "p90_ms": percentile(&sorted, 90.0),
        "p99_ms": percentile(&sorted, 99.0),
        "max_ms": sorted.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0),
        "hung": hung.load(Ordering::Relaxed),
        "errors": t.errors,
    });
    println!("{summary}");
    Ok(())
}
