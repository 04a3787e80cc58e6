//! The front-end against a fake backend, over real loopback sockets and raw HTTP bytes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64ct::Encoding as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::*;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A backend with one CA, `root`; `slow` answers its CRL after `delay`; `broken` fails.
struct Fake {
    delay: Duration,
    healthy: AtomicBool,
    ocsp_seen: Mutex<Vec<Vec<u8>>>,
}

impl Fake {
    fn new() -> Arc<Self> {
        Self::slow(Duration::from_millis(0))
    }

    fn slow(delay: Duration) -> Arc<Self> {
        Arc::new(Fake { delay, healthy: AtomicBool::new(true), ocsp_seen: Mutex::default() })
    }

    fn blob(&self) -> CrlBlob {
        CrlBlob {
            der: b"CRL-DER".to_vec(),
            number: "7".into(),
            this_update: now() - 60,
            next_update: now() + 3600,
        }
    }
}

impl OnlineCa for Fake {
    fn crl(&self, slug: &str) -> Result<Option<CrlBlob>, BackendError> {
        match slug {
            "root" => Ok(Some(self.blob())),
            "slow" => {
                std::thread::sleep(self.delay);
                Ok(Some(self.blob()))
            }
            "broken" => Err(BackendError::new("disk on fire")),
            _ => Ok(None),
        }
    }

    fn ca_certificate(&self, slug: &str) -> Result<Option<Vec<u8>>, BackendError> {
        Ok((slug == "root").then(|| b"CA-DER".to_vec()))
    }

    fn ocsp(&self, request_der: &[u8]) -> Result<OcspAnswer, BackendError> {
        self.ocsp_seen.lock().unwrap().push(request_der.to_vec());
        if request_der.starts_with(b"good") {
            let caching = OcspCaching { this_update: now() - 10, next_update: now() + 600, max_age: 300 };
            return Ok(OcspAnswer { der: b"OCSP-GOOD".to_vec(), caching: Some(caching), outcome: "good" });
        }
        Ok(OcspAnswer { der: b"OCSP-MALFORMED".to_vec(), caching: None, outcome: "malformedRequest" })
    }

    fn health(&self) -> Health {
        let ok = self.healthy.load(Ordering::Relaxed);
        let ca = CaHealth {
            slug: "root".into(),
            can_sign: ok,
            crl_this_update: Some(1),
            crl_next_update: Some(2),
        };
        Health { ok, cas: vec![ca], problems: if ok { vec![] } else { vec!["root cannot sign".into()] } }
    }

    fn gauges(&self) -> Vec<Gauge> {
        let gauge = |name: &str, value| Gauge {
            name: name.into(),
            help: "certificates by status".into(),
            labels: vec![("status".into(), "va\"lid".into())],
            value,
        };
        vec![gauge("pkictl_certificates", 3.0), gauge("bad name", 1.0)]
    }
}

/// A running server and the handles a test needs.
struct Running {
    http: SocketAddr,
    https: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task).await.unwrap().unwrap();
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn config() -> ServeConfig {
    ServeConfig {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        header_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(2),
        drain_timeout: Duration::from_secs(3),
        ..ServeConfig::default()
    }
}

async fn start(mut config: ServeConfig, backend: Arc<dyn OnlineCa>) -> Running {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    config.log_sink = Some(Arc::new(move |line: &str| sink.lock().unwrap().push(line.to_string())));
    let server = Server::bind(config, backend).await.unwrap();
    let (http, https) = (server.http_addr(), server.https_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    Running { http, https, stop: Some(stop), task, log }
}

/// A parsed HTTP response.
#[derive(Debug)]
struct Reply {
    status_line: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn parse(raw: &[u8]) -> Reply {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("no end of head");
        let head = String::from_utf8(raw[..end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap().to_string();
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        Reply { status_line, status, headers, body: raw[end + 4..].to_vec() }
    }
}

/// Sends raw bytes and reads until the server closes.
async fn exchange_on<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, request: &[u8]) -> Reply {
    stream.write_all(request).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    Reply::parse(&raw)
}

async fn exchange(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    exchange_on(&mut stream, request).await
}

async fn get(addr: SocketAddr, path: &str, extra_headers: &str) -> Reply {
    let request = format!("GET {path} HTTP/1.1\r\nHost: ca\r\n{extra_headers}Connection: close\r\n\r\n");
    exchange(addr, request.as_bytes()).await
}

async fn post_ocsp(addr: SocketAddr, content_type: &str, body: &[u8]) -> Reply {
    let head = format!(
        "POST /ocsp HTTP/1.1\r\nHost: ca\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    exchange(addr, &[head.as_bytes(), body].concat()).await
}

#[tokio::test]
async fn crl_has_caching_headers_and_answers_304_to_its_etag() {
    let s = start(config(), Fake::new()).await;
    let r = get(s.http, "/crl/root.crl", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/pkix-crl"));
    assert_eq!(r.body, b"CRL-DER");
    let etag = r.header("etag").unwrap().to_string();
    assert!(etag.starts_with("\"7-") && etag.ends_with('"'), "{etag}");
    let last_modified = httpdate::parse_http_date(r.header("last-modified").unwrap()).unwrap();
    assert_eq!(last_modified.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64, now() - 60);
    let cache = r.header("cache-control").unwrap();
    let max_age: i64 = cache.split("max-age=").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert!((3590..=3600).contains(&max_age), "{cache}");
    assert!(r.header("expires").is_some());

    let again = get(s.http, "/crl/root.crl", &format!("If-None-Match: W/\"x\", {etag}\r\n")).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let other = get(s.http, "/crl/root.crl", "If-None-Match: \"other\"\r\n").await;
    assert_eq!(other.status, 200);
    let since = get(
        s.http,
        "/crl/root.crl",
        &format!("If-Modified-Since: {}\r\n", httpdate::fmt_http_date(SystemTime::now())),
    )
    .await;
    assert_eq!(since.status, 304);
    s.stop().await;
}

#[tokio::test]
async fn unknown_cas_bad_slugs_and_paths_are_404_and_backend_failures_500() {
    let s = start(config(), Fake::new()).await;
    for path in
        ["/crl/nope.crl", "/crl/root.pem", "/crl/.x.crl", "/crl/a%2Fb.crl", "/ca/nope.crt", "/nothing", "/"]
    {
        assert_eq!(get(s.http, path, "").await.status, 404, "{path}");
    }
    let r = get(s.http, "/crl/broken.crl", "").await;
    assert_eq!(r.status, 500);
    assert!(!String::from_utf8_lossy(&r.body).contains("fire"), "backend errors stay in the log");
    assert!(s.log().iter().any(|l| l.contains("disk on fire")));
    let r = exchange(s.http, b"DELETE /crl/root.crl HTTP/1.1\r\nHost: ca\r\nConnection: close\r\n\r\n").await;
    assert_eq!(r.status, 405);
    s.stop().await;
}

#[tokio::test]
async fn ca_certificate_get_and_head() {
    let s = start(config(), Fake::new()).await;
    let r = get(s.http, "/ca/root.crt", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/pkix-cert"));
    assert_eq!(r.body, b"CA-DER");
    let head = exchange(s.http, b"HEAD /ca/root.crt HTTP/1.1\r\nHost: ca\r\nConnection: close\r\n\r\n").await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("6"));
    assert!(head.body.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn ocsp_post_passes_the_body_and_checks_the_type() {
    let fake = Fake::new();
    let s = start(config(), fake.clone()).await;
    let r = post_ocsp(s.http, "application/ocsp-request", b"good-request").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/ocsp-response"));
    assert_eq!(r.body, b"OCSP-GOOD");
    assert_eq!(fake.ocsp_seen.lock().unwrap().as_slice(), [b"good-request".to_vec()]);
    let r = post_ocsp(s.http, "text/plain", b"good").await;
    assert_eq!(r.status, 415);
    let r = post_ocsp(s.http, "application/ocsp-request", b"").await;
    assert_eq!((r.status, r.body.as_slice()), (200, b"OCSP-MALFORMED".as_slice()));
    s.stop().await;
}

/// Bytes whose standard base64 has '+', '/' and '=' in it.
fn awkward_request() -> (Vec<u8>, String) {
    let der = [b"good".as_slice(), &[b'x'; 30], &[0xf8, 0x3e, 0xff, 0xfe]].concat();
    let b64 = base64ct::Base64::encode_string(&der);
    assert!(b64.contains('+') && b64.contains('/') && b64.ends_with('='), "{b64}");
    (der, b64)
}

#[tokio::test]
async fn ocsp_get_decodes_raw_escaped_and_url_safe_paths() {
    let fake = Fake::new();
    let s = start(config(), fake.clone()).await;
    let (der, b64) = awkward_request();
    let escaped = b64.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    let url_safe = b64.replace('+', "-").replace('/', "_").trim_end_matches('=').to_string();
    for path in [&b64, &escaped, &url_safe] {
        let r = get(s.http, &format!("/ocsp/{path}"), "").await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("application/ocsp-response"));
        assert_eq!(r.body, b"OCSP-GOOD");
        assert_eq!(r.header("cache-control"), Some("max-age=300, public, no-transform, must-revalidate"));
        assert!(r.header("last-modified").is_some() && r.header("expires").is_some());
        assert!(r.header("etag").is_some());
    }
    assert_eq!(fake.ocsp_seen.lock().unwrap().as_slice(), [der.clone(), der.clone(), der]);
    // A request whose base64 starts with '/' leaves an empty segment in the path.
    assert_eq!(get(s.http, "/ocsp//w==", "").await.status, 200);
    assert_eq!(fake.ocsp_seen.lock().unwrap().last().unwrap(), &[0xff]);

    assert!(s.log().iter().all(|l| !l.contains(&b64)), "OCSP GET paths are cut in the log");
    assert_eq!(get(s.http, "/ocsp/not*base64", "").await.status, 400);
    let malformed = get(s.http, "/ocsp/AAAA", "").await;
    assert_eq!(malformed.header("cache-control"), Some("no-store"));
    s.stop().await;
}

#[tokio::test]
async fn healthz_is_json_and_503_when_unhealthy() {
    let fake = Fake::new();
    let s = start(config(), fake.clone()).await;
    let r = get(s.http, "/healthz", "").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["cas"][0]["slug"], "root");
    fake.healthy.store(false, Ordering::Relaxed);
    let r = get(s.http, "/healthz", "").await;
    assert_eq!(r.status, 503);
    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json["problems"][0], "root cannot sign");
    s.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_and_ocsp_and_export_gauges() {
    let s = start(config(), Fake::new()).await;
    get(s.http, "/crl/root.crl", "").await;
    get(s.http, "/nothing", "").await;
    post_ocsp(s.http, "application/ocsp-request", b"good").await;
    let r = get(s.http, "/metrics", "").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(r.body).unwrap();
    assert!(
        text.contains("pkictl_http_requests_total{listener=\"http\",route=\"crl\",status=\"200\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("pkictl_http_requests_total{listener=\"http\",route=\"other\",status=\"404\"} 1\n")
    );
    assert!(text.contains("pkictl_ocsp_responses_total{method=\"POST\",status=\"good\"} 1\n"), "{text}");
    assert!(
        text.contains("# TYPE pkictl_certificates gauge\npkictl_certificates{status=\"va\\\"lid\"} 3\n"),
        "{text}"
    );
    assert!(!text.contains("bad name"));
    s.stop().await;
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_unread_and_a_streamed_one_too() {
    let s = start(config(), Fake::new()).await;
    let started = Instant::now();
    let head = "POST /ocsp HTTP/1.1\r\nHost: ca\r\nContent-Type: application/ocsp-request\r\nContent-Length: 100000\r\n\r\n";
    let r = exchange(s.http, head.as_bytes()).await;
    assert_eq!(r.status, 413);
    assert!(started.elapsed() < Duration::from_millis(400), "answered without waiting for the body");
    let chunk = vec![b'A'; 70 * 1024];
    let chunked = [
        b"POST /ocsp HTTP/1.1\r\nHost: ca\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .as_slice(),
        format!("{:x}\r\n", chunk.len()).as_bytes(),
        &chunk,
        b"\r\n0\r\n\r\n",
    ]
    .concat();
    assert_eq!(exchange(s.http, &chunked).await.status, 413);
    s.stop().await;
}

#[tokio::test]
async fn http_1_0_without_host_works_like_nginx_sends_it() {
    let s = start(config(), Fake::new()).await;
    let r = exchange(s.http, b"GET /healthz HTTP/1.0\r\n\r\n").await;
    assert_eq!(r.status, 200);
    assert!(r.status_line.starts_with("HTTP/1."), "{}", r.status_line);
    let (_, b64) = awkward_request();
    let escaped = b64.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    let r = exchange(s.http, format!("GET /ocsp/{escaped} HTTP/1.0\r\n\r\n").as_bytes()).await;
    assert_eq!((r.status, r.body.as_slice()), (200, b"OCSP-GOOD".as_slice()));
    s.stop().await;
}

#[tokio::test]
async fn half_a_header_is_cut_off_after_the_header_timeout() {
    let s = start(config(), Fake::new()).await;
    let mut stream = TcpStream::connect(s.http).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: ca\r\n").await.unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was not closed");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(400) && waited < Duration::from_secs(3), "{waited:?}");
    // A connection that sends nothing at all is closed too.
    let mut silent = TcpStream::connect(s.http).await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the silent connection was not closed");
    s.stop().await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let config = ServeConfig {
        header_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_millis(300),
        ..config()
    };
    let s = start(config, Fake::new()).await;
    let mut stream = TcpStream::connect(s.http).await.unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the idle connection was not closed");
    assert!(started.elapsed() >= Duration::from_millis(250), "{:?}", started.elapsed());
    s.stop().await;
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let s = start(config(), Fake::new()).await;
    let two = b"GET /healthz HTTP/1.1\r\nHost: ca\r\n\r\nGET /ca/root.crt HTTP/1.1\r\nHost: ca\r\nConnection: close\r\n\r\n";
    let mut stream = TcpStream::connect(s.http).await.unwrap();
    stream.write_all(two).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert!(text.ends_with("CA-DER"));
    s.stop().await;
}

#[tokio::test]
async fn a_request_slower_than_the_request_timeout_gets_503() {
    let config = ServeConfig { request_timeout: Duration::from_millis(200), ..config() };
    let s = start(config, Fake::slow(Duration::from_millis(600))).await;
    assert_eq!(get(s.http, "/crl/slow.crl", "").await.status, 503);
    s.stop().await;
}

#[tokio::test]
async fn connections_over_the_limit_wait_for_a_slot() {
    let s = start(
        ServeConfig { max_connections: 1, header_timeout: Duration::from_secs(5), ..config() },
        Fake::new(),
    )
    .await;
    let holder = TcpStream::connect(s.http).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut waiting = TcpStream::connect(s.http).await.unwrap();
    waiting.write_all(b"GET /healthz HTTP/1.1\r\nHost: ca\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), waiting.read(&mut buf)).await;
    assert!(early.is_err(), "the second connection was served while the first held the only slot");
    drop(holder);
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), waiting.read_to_end(&mut raw)).await.unwrap().unwrap();
    assert_eq!(Reply::parse(&raw).status, 200);
    s.stop().await;
}

#[tokio::test]
async fn shutdown_drains_an_in_flight_request_and_stops_accepting() {
    let s = start(config(), Fake::slow(Duration::from_millis(700))).await;
    let addr = s.http;
    let in_flight = tokio::spawn(async move { get(addr, "/crl/slow.crl", "").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopped_at = Instant::now();
    s.stop().await;
    assert!(stopped_at.elapsed() >= Duration::from_millis(300), "returned before the request finished");
    let r = in_flight.await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, b"CRL-DER".as_slice()));
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting after shutdown");
}

#[tokio::test]
async fn shutdown_gives_up_on_a_request_after_the_drain_timeout() {
    let config = ServeConfig { drain_timeout: Duration::from_millis(200), ..config() };
    let s = start(config, Fake::slow(Duration::from_millis(1500))).await;
    let mut stream = TcpStream::connect(s.http).await.unwrap();
    stream.write_all(b"GET /crl/slow.crl HTTP/1.1\r\nHost: ca\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopped_at = Instant::now();
    s.stop().await;
    assert!(stopped_at.elapsed() < Duration::from_millis(1000), "{:?}", stopped_at.elapsed());
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw)).await.unwrap();
    assert!(raw.is_empty(), "no answer after the drain timeout");
}

#[tokio::test]
async fn json_log_lines_name_method_path_status_peer_and_duration() {
    let s = start(ServeConfig { log_format: LogFormat::Json, ..config() }, Fake::new()).await;
    post_ocsp(s.http, "application/ocsp-request", b"good-secret-body").await;
    let lines = s.log();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let json: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        (json["method"].as_str(), json["path"].as_str(), json["status"].as_u64()),
        (Some("POST"), Some("/ocsp"), Some(200))
    );
    assert!(json["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(json["duration_ms"].is_number());
    assert!(!lines[0].contains("secret"), "a body never reaches the log");
    s.stop().await;
}

mod https {
    use std::path::Path;
    use std::process::Command;

    use axum::Extension;
    use axum::routing::get;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio_rustls::TlsConnector;

    use super::*;

    /// A self-signed P-256 certificate and its PKCS#8 key, both DER, made by the openssl CLI.
    fn openssl_identity(dir: &Path, name: &str) -> (Vec<u8>, Vec<u8>) {
        let run = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(dir).output();
            let out = out.expect("these tests need the openssl command-line tool: install openssl");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let (key_pem, cert_pem) = (format!("{name}.key.pem"), format!("{name}.crt.pem"));
        let subject = format!("/CN={name}");
        run(&["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
            .into_iter()
            .chain(["-keyout", &key_pem, "-out", &cert_pem, "-subj", &subject, "-days", "2"])
            .collect::<Vec<_>>());
        run(&["pkcs8", "-topk8", "-nocrypt", "-in", &key_pem, "-outform", "DER", "-out", "key.der"]);
        run(&["x509", "-in", &cert_pem, "-outform", "DER", "-out", "cert.der"]);
        (std::fs::read(dir.join("cert.der")).unwrap(), std::fs::read(dir.join("key.der")).unwrap())
    }

    fn connector(client: Option<&(Vec<u8>, Vec<u8>)>) -> TlsConnector {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::tls::AnyServerCertificate(
                provider.signature_verification_algorithms,
            )));
        let config = match client {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from(cert.clone())],
                    PrivateKeyDer::try_from(key.clone()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        TlsConnector::from(Arc::new(config))
    }

    /// GETs a path over TLS; returns the server's leaf certificate and the reply.
    async fn tls_get(addr: SocketAddr, path: &str, client: Option<&(Vec<u8>, Vec<u8>)>) -> (Vec<u8>, Reply) {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector(client).connect(name, tcp).await.unwrap();
        let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        (leaf, exchange_on(&mut tls, request.as_bytes()).await)
    }

    async fn client_certificates(Extension(chain): Extension<ClientChain>) -> String {
        chain.certificates.len().to_string()
    }

    #[tokio::test]
    async fn https_serves_healthz_swaps_its_certificate_and_sees_client_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let [first, second, client] = ["first", "second", "client"].map(|n| {
            let sub = dir.path().join(n);
            std::fs::create_dir(&sub).unwrap();
            openssl_identity(&sub, n)
        });
        let slot = Arc::new(CertSlot::from_der(vec![first.0.clone()], first.1.clone()).unwrap());
        let mut https = HttpsConfig::new(slot.clone());
        https.addr = "127.0.0.1:0".parse().unwrap();
        https.routes = axum::Router::new().route("/v1/whoami", get(client_certificates));
        let s = start(ServeConfig { https: Some(https), ..config() }, Fake::new()).await;
        let addr = s.https.unwrap();

        let (leaf, r) = tls_get(addr, "/healthz", None).await;
        assert_eq!((leaf == first.0, r.status), (true, 200));
        assert_eq!(tls_get(addr, "/crl/root.crl", None).await.1.status, 404, "CRLs are plain HTTP only");

        slot.replace_der(vec![second.0.clone()], second.1.clone()).unwrap();
        let (leaf, r) = tls_get(addr, "/healthz", None).await;
        assert!(leaf == second.0, "the second connection did not see the new certificate");
        assert_eq!(r.status, 200);

        assert_eq!(tls_get(addr, "/v1/whoami", None).await.1.body, b"0");
        assert_eq!(tls_get(addr, "/v1/whoami", Some(&client)).await.1.body, b"1");
        assert!(
            slot.replace_der(vec![second.0.clone()], first.1.clone()).is_err(),
            "a key that does not match is refused"
        );
        assert!(s.log().iter().any(|l| l.starts_with("https 127.0.0.1:") && l.contains("/v1/whoami 200")));
        s.stop().await;
    }
}
