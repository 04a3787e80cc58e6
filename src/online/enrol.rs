//! `POST /v1/enroll` and `POST /v1/renew` on the HTTPS listener: thin handlers over
//! [`Authority::enroll`] and [`Authority::renew_by_certificate`].
//!
//! Wire format: the request body is a PKCS#10 CSR in DER (`Content-Type: application/pkcs10`);
//! enrolment carries `Authorization: Bearer <token>`, renewal the current certificate (and its
//! chain) as the TLS client certificate. A 200 is `application/pem-certificate-chain`: the new
//! leaf, then the CA certificates up to, not including, the root. Refusals are RFC 9457
//! `application/problem+json` with `type` `urn:pkictl:error:<slug>`. A token is never echoed
//! or logged.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use zeroize::Zeroizing;

use super::{OnlineAuthority, sentence};
use crate::authority::{Authority, EnrolmentRefusal, Issued};
use crate::engine::csr;
use crate::error::{Error, ErrorKind, Result};
use crate::server::{ClientChain, MAX_BODY_BYTES};
use crate::x509::certificate_pem;

/// The media type of a request body.
pub const CSR_MEDIA_TYPE: &str = "application/pkcs10";
/// The media type of a successful answer.
pub const CHAIN_MEDIA_TYPE: &str = "application/pem-certificate-chain";
/// The media type of a refusal.
pub const PROBLEM_MEDIA_TYPE: &str = "application/problem+json";

/// The routes `/v1/enroll` and `/v1/renew`, for [`crate::server::HttpsConfig::routes`].
pub fn enrolment_routes(online: Arc<OnlineAuthority>) -> Router {
    Router::new().route("/v1/enroll", post(enroll)).route("/v1/renew", post(renew)).with_state(online)
}

async fn enroll(
    State(online): State<Arc<OnlineAuthority>>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let body = match checked_body(&headers, body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(token) = bearer_token(&headers) else {
        return refusal(&EnrolmentRefusal::TokenInvalid);
    };
    answer(online, move |authority, _| authority.enroll(&token, parse_csr(&body)?)).await
}

async fn renew(
    State(online): State<Arc<OnlineAuthority>>,
    chain: Option<Extension<ClientChain>>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let body = match checked_body(&headers, body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let presented: Vec<Vec<u8>> = chain.map(|Extension(c)| c.certificates.to_vec()).unwrap_or_default();
    if presented.is_empty() {
        return refusal(&EnrolmentRefusal::NoClientCertificate);
    }
    answer(online, move |authority, grace| {
        let csr = parse_csr(&body)?;
        authority.renew_by_certificate(&presented, csr, grace).map(|renewed| renewed.issued)
    })
    .await
}

/// The body, when it arrived whole and is declared as a CSR.
fn checked_body(
    headers: &HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> std::result::Result<Bytes, Response> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let detail =
                format!("The request body is larger than the {} KiB the CA accepts.", MAX_BODY_BYTES / 1024);
            problem(StatusCode::PAYLOAD_TOO_LARGE, "too-large", &detail)
        } else {
            problem(StatusCode::BAD_REQUEST, "bad-request", "The request body could not be read.")
        }
    })?;
    let media = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = media.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media != CSR_MEDIA_TYPE {
        let detail = format!("Send the CSR in DER with Content-Type: {CSR_MEDIA_TYPE}.");
        return Err(problem(StatusCode::BAD_REQUEST, "bad-request", &detail));
    }
    Ok(body)
}

/// `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 6750).
fn bearer_token(headers: &HeaderMap) -> Option<Zeroizing<String>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| Zeroizing::new(token.to_string()))
}

fn parse_csr(body: &[u8]) -> Result<csr::VerifiedCsr> {
    csr::parse_and_verify(body, "the request").map_err(|e| EnrolmentRefusal::BadCsr(e.to_string()).into())
}

/// Runs the CA call on the blocking pool (it signs and writes the ledger) and renders it.
async fn answer<F>(online: Arc<OnlineAuthority>, call: F) -> Response
where
    F: FnOnce(&mut Authority, Option<time::Duration>) -> Result<Issued> + Send + 'static,
{
    let outcome = tokio::task::spawn_blocking(move || {
        let grace = online.settings.renewal_grace;
        let mut authority = online.authority();
        call(&mut authority, grace)
    })
    .await;
    match outcome {
        Ok(Ok(issued)) => chain_response(&issued),
        Ok(Err(e)) => error_response(&e),
        Err(e) => internal(&format!("the enrolment task failed: {e}")),
    }
}

fn chain_response(issued: &Issued) -> Response {
    let mut pem = certificate_pem(issued.der());
    for ca in &issued.chain {
        pem.push_str(&certificate_pem(ca));
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, CHAIN_MEDIA_TYPE), (header::CACHE_CONTROL, "no-store")], pem)
        .into_response()
}

fn error_response(e: &Error) -> Response {
    if let Error::Enrolment(r) = e {
        return refusal(r);
    }
    let detail = sentence(&crate::error::one_line(&e.to_string()));
    match e.kind() {
        ErrorKind::InvalidInput => problem(StatusCode::BAD_REQUEST, "bad-request", &detail),
        ErrorKind::Refused | ErrorKind::NotFound => problem(StatusCode::FORBIDDEN, "refused", &detail),
        ErrorKind::Conflict => problem(StatusCode::CONFLICT, "conflict", &detail),
        _ => internal(&e.to_string()),
    }
}

fn refusal(r: &EnrolmentRefusal) -> Response {
    let status = StatusCode::from_u16(r.http_status()).unwrap_or(StatusCode::FORBIDDEN);
    let mut response = problem(status, r.slug(), &sentence(&r.to_string()));
    // RFC 9110 §15.5.2: a 401 names the scheme that would work.
    if *r == EnrolmentRefusal::TokenInvalid {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer realm=\"pkictl\""));
    }
    response
}

/// A 500: the peer learns nothing of the cause, the operator's log does.
fn internal(message: &str) -> Response {
    eprintln!("pkictl serve: enrolment failed: {}", crate::error::one_line(message));
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "The CA could not complete the request; its log says why.",
    )
}

fn problem(status: StatusCode, slug: &str, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": format!("urn:pkictl:error:{slug}"),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    (
        status,
        [(header::CONTENT_TYPE, PROBLEM_MEDIA_TYPE), (header::CACHE_CONTROL, "no-store")],
        body.to_string(),
    )
        .into_response()
}
