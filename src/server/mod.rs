//! `pkictl serve`: the HTTP and HTTPS front-ends of the online CA.
//!
//! This module knows nothing of the CA's internals. The CA reaches it through one trait,
//! [`OnlineCa`], whose calls may block (SQLite, signing): the server always runs them on
//! tokio's blocking pool. What is here:
//!
//! - [`Server`]: binds a plain HTTP listener (CRLs, CA certificates, OCSP, health, metrics) and
//!   optionally an HTTPS listener (health now; ACME, `/v1/enroll`, `/v1/renew` are routes the
//!   caller adds through [`HttpsConfig::routes`]), then serves until a shutdown future resolves.
//! - [`CertSlot`]: the HTTPS certificate, swappable at run time (renewal in place).
//! - [`ClientChain`]: the client certificate chain a TLS peer presented, if any, attached to
//!   every HTTPS request. It is NOT verified against any CA: a handler that relies on it
//!   must verify it itself (only possession of the leaf's key is proven by the handshake).
//!
//! Robustness: bodies over [`MAX_BODY_BYTES`] are refused (413), header reads and idle
//! connections time out, connections are capped, and shutdown drains in-flight requests for a
//! bounded time. Each request logs one line (never its body) through [`LogFormat`].

mod config;
mod listen;
mod observe;
mod routes;
mod tls;

#[cfg(test)]
mod tests;

use serde::Serialize;

pub use config::{HttpsConfig, LogFormat, LogSink, ServeConfig};
pub use listen::{Server, ServerError, shutdown_signal};
pub use tls::{CertSlot, ClientChain, TlsSetupError};

/// The largest request body the server accepts, in bytes; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The CA as the online front-ends see it. Every call may block; the server runs them on the
/// blocking pool, never on the async workers.
pub trait OnlineCa: Send + Sync + 'static {
    /// The newest CRL of the CA with this slug, or `None` when there is no such CA or CRL.
    fn crl(&self, slug: &str) -> Result<Option<CrlBlob>, BackendError>;
    /// The DER certificate of the CA with this slug, or `None` when there is no such CA.
    fn ca_certificate(&self, slug: &str) -> Result<Option<Vec<u8>>, BackendError>;
    /// An OCSP response for a DER request. A malformed or unauthorised request is not an
    /// error: the backend answers it with a `malformedRequest`/`unauthorized` response.
    fn ocsp(&self, request_der: &[u8]) -> Result<OcspAnswer, BackendError>;
    /// A pre-signed answer to this request, if the backend holds one: called on the async
    /// worker itself, so it must not block (no I/O, no signing). `None` sends the request on
    /// to [`OnlineCa::ocsp`].
    fn ocsp_cached(&self, _request_der: &[u8]) -> Option<OcspAnswer> {
        None
    }
    /// The health of every CA and of the whole.
    fn health(&self) -> Health;
    /// Gauges the backend knows, exported as they are on `/metrics`.
    fn gauges(&self) -> Vec<Gauge>;
}

/// A signed CRL and the facts the HTTP caching headers are made from.
#[derive(Clone, Debug)]
pub struct CrlBlob {
    /// The CRL, DER.
    pub der: Vec<u8>,
    /// The CRL number (its `cRLNumber` extension), decimal or hex digits as the CA prints it.
    pub number: String,
    /// thisUpdate, unix seconds.
    pub this_update: i64,
    /// nextUpdate, unix seconds.
    pub next_update: i64,
}

/// An OCSP response and, for a definitive (successful) one, how long it may be cached.
#[derive(Clone, Debug)]
pub struct OcspAnswer {
    /// The OCSPResponse, DER.
    pub der: Vec<u8>,
    /// `None` for an error response (malformedRequest, unauthorized, …): sent uncached.
    pub caching: Option<OcspCaching>,
    /// What it says (`good`, `revoked`, `unknown`, `malformedRequest` …), counted on `/metrics`.
    pub outcome: &'static str,
}

/// RFC 5019 caching facts of a successful OCSP response.
#[derive(Clone, Copy, Debug)]
pub struct OcspCaching {
    /// thisUpdate of the single response, unix seconds (becomes Last-Modified).
    pub this_update: i64,
    /// nextUpdate, unix seconds (becomes Expires; max-age never reaches past it).
    pub next_update: i64,
    /// The longest a cache may keep the response, in seconds.
    pub max_age: u64,
}

/// The answer of `/healthz`, serialised as JSON.
#[derive(Clone, Debug, Serialize)]
pub struct Health {
    /// False makes `/healthz` answer 503.
    pub ok: bool,
    /// One entry per CA.
    pub cas: Vec<CaHealth>,
    /// Problems in plain words, empty when all is well.
    pub problems: Vec<String>,
}

/// The health of one CA.
#[derive(Clone, Debug, Serialize)]
pub struct CaHealth {
    /// The CA's slug, as in `/crl/<slug>.crl`.
    pub slug: String,
    /// Whether its key is loaded and usable for signing now.
    pub can_sign: bool,
    /// thisUpdate of its newest CRL, unix seconds.
    pub crl_this_update: Option<i64>,
    /// nextUpdate of its newest CRL, unix seconds.
    pub crl_next_update: Option<i64>,
}

/// One Prometheus gauge sample from the backend.
#[derive(Clone, Debug)]
pub struct Gauge {
    /// Metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`; samples with another name are dropped.
    pub name: String,
    /// One line of help text.
    pub help: String,
    /// Label pairs; names `[a-zA-Z_][a-zA-Z0-9_]*`, values escaped by the server.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

/// A backend failure: the server answers 500 and logs the message (never to the peer).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    /// What went wrong, for the operator's log.
    pub message: String,
}

impl BackendError {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> Self {
        BackendError { message: message.into() }
    }
}
