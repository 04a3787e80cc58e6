//! What `serve` is told: addresses, limits, timeouts, logging.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::tls::CertSlot;

/// Where a request log line goes; `None` in [`ServeConfig::log_sink`] means stderr.
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// The shape of the per-request log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `http 127.0.0.1:50000 GET /healthz 200 0.4ms`
    #[default]
    Text,
    /// One JSON object per line.
    Json,
    /// No request log.
    Off,
}

/// Everything [`super::Server::bind`] needs besides the backend.
#[derive(Clone)]
pub struct ServeConfig {
    /// The plain HTTP listener (CRL, CA certificates, OCSP, health, metrics).
    pub http_addr: SocketAddr,
    /// The HTTPS listener, if any.
    pub https: Option<HttpsConfig>,
    /// The most connections served at once, over both listeners; more wait in the backlog.
    pub max_connections: usize,
    /// A request head must arrive whole within this time of the server starting to read it
    /// (also bounds how long a keep-alive connection waits for its next request, and the TLS
    /// handshake).
    pub header_timeout: Duration,
    /// A connection with no bytes moving either way for this long, and no request being
    /// handled, is closed.
    pub idle_timeout: Duration,
    /// Reading the body and answering one request may take at most this long (503 after).
    pub request_timeout: Duration,
    /// On shutdown, in-flight requests get this long to finish; then connections are dropped.
    pub drain_timeout: Duration,
    /// The request log line format.
    pub log_format: LogFormat,
    /// Where log lines go; `None` writes them to stderr.
    pub log_sink: Option<LogSink>,
}

/// The HTTPS listener: its address, its certificate, and the routes added to it.
#[derive(Clone)]
pub struct HttpsConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The server certificate; swap it with [`CertSlot::replace_der`] while serving.
    pub cert: Arc<CertSlot>,
    /// Routes merged into the HTTPS router beside `/healthz` (ACME, `/v1/enroll`, `/v1/renew`).
    /// Their handlers can take `axum::Extension<ClientChain>` to see a client certificate.
    /// They must not define `/healthz` or a fallback (axum panics on the overlap at bind).
    pub routes: axum::Router,
}

impl HttpsConfig {
    /// HTTPS on the default address `127.0.0.1:8443` with this certificate and no extra routes.
    pub fn new(cert: Arc<CertSlot>) -> Self {
        HttpsConfig { addr: SocketAddr::from(([127, 0, 0, 1], 8443)), cert, routes: axum::Router::new() }
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            https: None,
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            log_format: LogFormat::Text,
            log_sink: None,
        }
    }
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("http_addr", &self.http_addr)
            .field("https_addr", &self.https.as_ref().map(|h| h.addr))
            .field("max_connections", &self.max_connections)
            .field("header_timeout", &self.header_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("drain_timeout", &self.drain_timeout)
            .field("log_format", &self.log_format)
            .finish_non_exhaustive()
    }
}
