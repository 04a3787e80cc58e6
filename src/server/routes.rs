//! The routes: CRLs, CA certificates, OCSP (POST and GET), health and metrics.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sha2::{Digest, Sha256};

use super::observe::Observer;
use super::{CrlBlob, MAX_BODY_BYTES, OcspAnswer, OnlineCa};

/// What every handler shares: the backend and the counters.
#[derive(Clone)]
pub(super) struct AppState {
    pub backend: Arc<dyn OnlineCa>,
    pub observer: Arc<Observer>,
}

/// The plain HTTP listener's routes.
pub(super) fn http_router(state: AppState) -> Router {
    Router::new()
        .route("/crl/{file}", get(crl))
        .route("/ca/{file}", get(ca_certificate))
        .route("/ocsp", post(ocsp_post))
        .route("/ocsp/{*request}", get(ocsp_get))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The HTTPS listener's routes: `/healthz` and whatever the caller adds (ACME, enrolment).
/// `extra` must not define `/healthz` nor a fallback of its own.
pub(super) fn https_router(state: AppState, extra: Router) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(state)
        .merge(extra)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "not found\n")
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// Runs a backend call on the blocking pool; a failure or a panic becomes a logged 500.
async fn blocking<T, F>(state: &AppState, call: F) -> Result<T, Response>
where
    T: Send + 'static,
    F: FnOnce(&dyn OnlineCa) -> Result<T, super::BackendError> + Send + 'static,
{
    let backend = state.backend.clone();
    let outcome = tokio::task::spawn_blocking(move || call(backend.as_ref())).await;
    let message = match outcome {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(e)) => format!("backend: {e}"),
        Err(e) => format!("backend task failed: {e}"),
    };
    state.observer.error(&message);
    Err(plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"))
}

/// A CA slug as it may appear in a URL: short, `[A-Za-z0-9._-]`, not starting with a dot.
fn slug_of<'a>(file: &'a str, suffix: &str) -> Option<&'a str> {
    let slug = file.strip_suffix(suffix)?;
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    (!slug.is_empty() && slug.len() <= 64 && !slug.starts_with('.') && slug.chars().all(ok)).then_some(slug)
}

async fn crl(State(state): State<AppState>, Path(file): Path<String>, req: HeaderMap) -> Response {
    let Some(slug) = slug_of(&file, ".crl").map(str::to_owned) else {
        return not_found().await;
    };
    match blocking(&state, move |b| b.crl(&slug)).await {
        Ok(Some(blob)) => crl_response(&req, blob),
        Ok(None) => not_found().await,
        Err(response) => response,
    }
}

fn crl_response(req: &HeaderMap, blob: CrlBlob) -> Response {
    let number: String = blob.number.chars().filter(char::is_ascii_alphanumeric).take(40).collect();
    let etag = format!("\"{number}-{}\"", short_hash(&blob.der));
    let max_age = (blob.next_update - unix_now()).max(0);
    let mut headers = HeaderMap::new();
    put(&mut headers, header::ETAG, &etag);
    put(&mut headers, header::CACHE_CONTROL, &format!("public, max-age={max_age}, no-transform"));
    put(&mut headers, header::LAST_MODIFIED, &http_date(blob.this_update));
    put(&mut headers, header::EXPIRES, &http_date(blob.next_update));
    cacheable(req, headers, &etag, Some(blob.this_update), "application/pkix-crl", blob.der)
}

async fn ca_certificate(State(state): State<AppState>, Path(file): Path<String>, req: HeaderMap) -> Response {
    let Some(slug) = slug_of(&file, ".crt").map(str::to_owned) else {
        return not_found().await;
    };
    match blocking(&state, move |b| b.ca_certificate(&slug)).await {
        Ok(Some(der)) => {
            let etag = format!("\"{}\"", short_hash(&der));
            let mut headers = HeaderMap::new();
            put(&mut headers, header::ETAG, &etag);
            put(&mut headers, header::CACHE_CONTROL, "public, max-age=3600");
            cacheable(&req, headers, &etag, None, "application/pkix-cert", der)
        }
        Ok(None) => not_found().await,
        Err(response) => response,
    }
}

/// 304 with the caching headers when the client's copy is current, else 200 with the body.
fn cacheable(
    req: &HeaderMap,
    mut headers: HeaderMap,
    etag: &str,
    modified: Option<i64>,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response {
    if not_modified(req, etag, modified) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    (StatusCode::OK, headers, body).into_response()
}

/// RFC 9110 §13.1: If-None-Match (weak comparison) decides when present, else
/// If-Modified-Since against Last-Modified.
fn not_modified(req: &HeaderMap, etag: &str, modified: Option<i64>) -> bool {
    if let Some(inm) = req.get(header::IF_NONE_MATCH) {
        let Ok(inm) = inm.to_str() else { return false };
        return inm.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag);
    }
    let since = req.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok());
    let since = since.and_then(|s| httpdate::parse_http_date(s).ok());
    match (since, modified) {
        (Some(since), Some(modified)) => unix_of(since) >= modified,
        _ => false,
    }
}

async fn ocsp_post(State(state): State<AppState>, req: HeaderMap, body: Bytes) -> Response {
    let content_type = req.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let base = content_type.map(|t| t.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    if base.is_some_and(|t| t != "application/ocsp-request") {
        return plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send application/ocsp-request\n");
    }
    match ocsp_answer(&state, body.to_vec()).await {
        Ok(answer) => {
            state.observer.ocsp_response("POST", answer.outcome);
            let mut headers = HeaderMap::new();
            put(&mut headers, header::CACHE_CONTROL, "no-store");
            ocsp_response(headers, answer.der)
        }
        Err(response) => response,
    }
}

/// `GET /ocsp/<request>`: the rest of the raw path, percent-decoded, then base64 (standard or
/// URL alphabet, padding optional) — RFC 6960 appendix A.1, RFC 5019 §5.
async fn ocsp_get(State(state): State<AppState>, uri: Uri, req: HeaderMap) -> Response {
    let raw = uri.path().strip_prefix("/ocsp/").unwrap_or("");
    let Some(der) = ocsp_request_of(raw) else {
        return plain(StatusCode::BAD_REQUEST, "the path is not a base64 OCSP request\n");
    };
    match ocsp_answer(&state, der).await {
        Ok(answer) => {
            state.observer.ocsp_response("GET", answer.outcome);
            ocsp_get_response(&req, answer)
        }
        Err(response) => response,
    }
}

/// A pre-signed answer straight from the backend's cache, else one from the blocking pool.
async fn ocsp_answer(state: &AppState, der: Vec<u8>) -> Result<OcspAnswer, Response> {
    if let Some(answer) = state.backend.ocsp_cached(&der) {
        return Ok(answer);
    }
    blocking(state, move |b| b.ocsp(&der)).await
}

fn ocsp_get_response(req: &HeaderMap, answer: OcspAnswer) -> Response {
    let mut headers = HeaderMap::new();
    let Some(c) = answer.caching else {
        put(&mut headers, header::CACHE_CONTROL, "no-store");
        return ocsp_response(headers, answer.der);
    };
    let max_age = (c.next_update - unix_now()).clamp(0, i64::try_from(c.max_age).unwrap_or(i64::MAX));
    let etag = format!("\"{}\"", short_hash(&answer.der));
    put(&mut headers, header::ETAG, &etag);
    let cache_control = format!("max-age={max_age}, public, no-transform, must-revalidate");
    put(&mut headers, header::CACHE_CONTROL, &cache_control);
    put(&mut headers, header::LAST_MODIFIED, &http_date(c.this_update));
    put(&mut headers, header::EXPIRES, &http_date(c.next_update));
    cacheable(req, headers, &etag, Some(c.this_update), "application/ocsp-response", answer.der)
}

fn ocsp_response(mut headers: HeaderMap, der: Vec<u8>) -> Response {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/ocsp-response"));
    (StatusCode::OK, headers, der).into_response()
}

/// The DER bytes of a GET request path segment, or `None` when it is not valid base64
/// (RFC 6960 appendix A; the one decoder is the OCSP module's).
pub(super) fn ocsp_request_of(raw: &str) -> Option<Vec<u8>> {
    crate::engine::ocsp::decode_get_path(raw).ok()
}

async fn healthz(State(state): State<AppState>) -> Response {
    match blocking(&state, |b| Ok(b.health())).await {
        Ok(health) => {
            let status = if health.ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            let cache = [(header::CACHE_CONTROL, "no-store")];
            (status, cache, axum::Json(health)).into_response()
        }
        Err(response) => response,
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    match blocking(&state, |b| Ok(b.gauges())).await {
        Ok(gauges) => {
            let body = state.observer.render(&gauges);
            let content_type = [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")];
            (StatusCode::OK, content_type, body).into_response()
        }
        Err(response) => response,
    }
}

/// Inserts a header whose value we made; a value that is not a valid header is left out.
fn put(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// The first 16 hex digits of SHA-256: enough to tell versions apart in an ETag.
fn short_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn unix_now() -> i64 {
    unix_of(SystemTime::now())
}

fn unix_of(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// An IMF-fixdate; times before 1970 are written as the epoch.
fn http_date(unix: i64) -> String {
    let secs = u64::try_from(unix).unwrap_or(0);
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}
