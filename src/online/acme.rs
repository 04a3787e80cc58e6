//! The ACME server (RFC 8555) on the HTTPS listener, at `/acme/{provisioner}/…`: thin handlers
//! over [`Authority`]'s ACME calls: directory, newNonce, newAccount, the account URL (update,
//! deactivation, POST-as-GET) and its orders list, keyChange, newOrder, orders and
//! authorizations (read, and deactivated) by the account that owns them, challenge
//! validation, finalize, certificate download and revokeCert. Nonces live in memory
//! ([`NonceStore`]): after a restart a client's next request gets `badNonce` with a fresh one,
//! which RFC 8555 clients retry; every other state is in the ledger.
//!
//! Every answer carries a fresh `Replay-Nonce` and `Link: <directory>;rel="index"`; every
//! refusal is `application/problem+json` with an `urn:ietf:params:acme:error:…` type.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};

use super::{OnlineAuthority, sentence};
use crate::acme::{
    AccountStatus, AcmeAccountRecord, AcmeAuthorizationRecord, AcmeChallengeRecord, AcmeIdentifier,
    AcmeObject, AcmeOrderRecord, AcmeStatus, ExternalAccountBinding, IdentifierType, Jwk, Jws, KeyRef,
    NonceStore,
};
use crate::authority::{
    AcmeLimits, AcmeRevocationRefusal, AcmeRevokeRequest, AcmeRevoker, Authority, NewAccountRequest,
    NewOrderRequest, Provisioner, Refusal,
};
use crate::error::Error;
use crate::error::excerpt;

const PROBLEM_MEDIA_TYPE: &str = "application/problem+json";
/// At most this many contact URLs on an account.
const MAX_CONTACTS: usize = 10;
/// At most this many identifiers in one order.
const MAX_IDENTIFIERS: usize = 100;
/// How long a new order and its authorizations stay pending.
const ORDER_LIFETIME: time::Duration = time::Duration::days(7);

/// What the ACME handlers share.
struct Acme {
    online: Arc<OnlineAuthority>,
    nonces: NonceStore,
    validation: Validation,
    limits: AcmeLimits,
    /// Provisioners by name and accounts by id, as read lately: every request names both, and
    /// reading them through the writer's lock would queue each request twice.
    provisioners: Recent<String, Provisioner>,
    accounts: Recent<i64, AcmeAccountRecord>,
}

/// How long a provisioner or account read from the ledger is used again: what another process
/// changes (`acme remove`, an account deactivated through another instance) takes effect
/// within this, what this process changes at once.
const RECENT: std::time::Duration = std::time::Duration::from_secs(1);

/// Records read less than [`RECENT`] ago.
struct Recent<K, V> {
    entries: std::sync::Mutex<std::collections::HashMap<K, (std::time::Instant, V)>>,
}

impl<K: std::hash::Hash + Eq, V: Clone> Recent<K, V> {
    fn new() -> Recent<K, V> {
        Recent { entries: std::sync::Mutex::new(std::collections::HashMap::new()) }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<K, (std::time::Instant, V)>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries();
        entries.get(key).filter(|(at, _)| at.elapsed() < RECENT).map(|(_, value)| value.clone())
    }

    fn put(&self, key: K, value: V) {
        let mut entries = self.entries();
        // Bounded: stale entries go whenever the map has grown.
        if entries.len() >= 10_000 {
            entries.retain(|_, (at, _)| at.elapsed() < RECENT);
        }
        entries.insert(key, (std::time::Instant::now(), value));
    }

    fn forget(&self, key: &K) {
        self.entries().remove(key);
    }
}

/// Where challenge validation connects: test knobs of `serve`, defaults for production.
#[derive(Debug, Clone)]
pub struct Validation {
    /// The port http-01 fetches from (80).
    pub http01_port: u16,
    /// The port tls-alpn-01 connects to (443).
    pub tls_alpn01_port: u16,
    /// Names pinned to an address instead of resolved.
    pub resolve: Vec<(String, std::net::IpAddr)>,
    /// Where dns-01 TXT records and the addresses of the other challenges are looked up.
    pub dns: super::dns01::Dns,
}

impl Default for Validation {
    fn default() -> Validation {
        Validation { http01_port: 80, tls_alpn01_port: 443, resolve: Vec::new(), dns: Default::default() }
    }
}

type Shared = State<Arc<Acme>>;

/// The ACME routes under `/acme/`, for [`crate::server::HttpsConfig::routes`].
pub fn acme_routes(online: Arc<OnlineAuthority>, validation: Validation, limits: AcmeLimits) -> Router {
    let state = Arc::new(Acme {
        online,
        nonces: NonceStore::new(),
        validation,
        limits,
        provisioners: Recent::new(),
        accounts: Recent::new(),
    });
    Router::new()
        .route("/acme/{provisioner}/directory", get(directory))
        .route("/acme/{provisioner}/new-nonce", get(new_nonce).head(new_nonce))
        .route("/acme/{provisioner}/new-account", post(new_account))
        .route("/acme/{provisioner}/acct/{id}", post(account))
        .route("/acme/{provisioner}/acct/{id}/orders", post(account_orders))
        .route("/acme/{provisioner}/key-change", post(key_change))
        .route("/acme/{provisioner}/revoke-cert", post(revoke_cert))
        .route("/acme/{provisioner}/new-order", post(new_order))
        .route("/acme/{provisioner}/order/{id}", post(order))
        .route("/acme/{provisioner}/authz/{id}", post(authorization))
        .route("/acme/{provisioner}/chall/{id}", post(challenge))
        .route("/acme/{provisioner}/order/{id}/finalize", post(finalize))
        .route("/acme/{provisioner}/cert/{id}", post(certificate))
        .route("/acme/{provisioner}/{*rest}", any(not_served))
        .with_state(state)
}

/// An ACME problem: its type's last word, HTTP status and a sentence for the client.
#[derive(Debug)]
struct Problem {
    kind: &'static str,
    status: StatusCode,
    detail: String,
    /// For badSignatureAlgorithm: what the server accepts (RFC 8555 §6.2).
    algorithms: Option<&'static [&'static str]>,
    /// For rateLimited: seconds until a retry can succeed (the `Retry-After` header).
    retry_after: Option<i64>,
}

impl Problem {
    fn new(kind: &'static str, status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem { kind, status, detail: detail.into(), algorithms: None, retry_after: None }
    }

    fn malformed(detail: impl Into<String>) -> Problem {
        Problem::new("malformed", StatusCode::BAD_REQUEST, detail)
    }

    fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new("unauthorized", StatusCode::UNAUTHORIZED, detail)
    }

    /// From a full problem type URN (as the JOSE layer names them).
    fn from_type(urn: &'static str, detail: String) -> Problem {
        let kind = urn.rsplit(':').next().unwrap_or("malformed");
        let status = match kind {
            "unauthorized" => StatusCode::UNAUTHORIZED,
            "serverInternal" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        Problem { kind, status, detail: sentence(&detail), algorithms: None, retry_after: None }
    }

    fn response(&self) -> Response {
        let mut body = json!({
            "type": format!("urn:ietf:params:acme:error:{}", self.kind),
            "detail": self.detail,
            "status": self.status.as_u16(),
        });
        if let Some(algorithms) = self.algorithms {
            body["algorithms"] = json!(algorithms);
        }
        let mut response =
            (self.status, [(header::CONTENT_TYPE, PROBLEM_MEDIA_TYPE)], body.to_string()).into_response();
        if let Some(seconds) = self.retry_after {
            set_retry_after(&mut response, seconds);
        }
        response
    }
}

impl From<crate::acme::JwsError> for Problem {
    fn from(e: crate::acme::JwsError) -> Problem {
        Problem { algorithms: e.algorithms(), ..Problem::from_type(e.problem_type(), e.to_string()) }
    }
}

impl From<crate::acme::RequestError> for Problem {
    fn from(e: crate::acme::RequestError) -> Problem {
        match e {
            crate::acme::RequestError::Jws(e) => e.into(),
            other => Problem::from_type(other.problem_type(), other.to_string()),
        }
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Problem {
        let detail = sentence(&crate::error::one_line(&e.to_string()));
        match &e {
            Error::UnknownAcmeProvisioner { .. } => Problem::new("malformed", StatusCode::NOT_FOUND, detail),
            Error::AcmeEabRequired { .. } => {
                Problem::new("externalAccountRequired", StatusCode::UNAUTHORIZED, detail)
            }
            Error::AcmeEabKeyUnusable { .. } | Error::AcmeAccountUnusable { .. } => {
                Problem::unauthorized(detail)
            }
            Error::AcmeNotFound { object: AcmeObject::Account, .. } => {
                Problem::new("accountDoesNotExist", StatusCode::BAD_REQUEST, detail)
            }
            Error::AcmeNotFound { .. } => Problem::new("malformed", StatusCode::NOT_FOUND, detail),
            Error::AcmeIdentifierRefused(Refusal::Malformed { .. }) => Problem::malformed(detail),
            Error::AcmeIdentifierRefused(_) => {
                Problem::new("rejectedIdentifier", StatusCode::FORBIDDEN, detail)
            }
            Error::AcmeStale { .. } => Problem::new("malformed", StatusCode::CONFLICT, detail),
            Error::AcmeRateLimited { retry_after, .. } => Problem {
                retry_after: Some(*retry_after),
                ..Problem::new("rateLimited", StatusCode::TOO_MANY_REQUESTS, detail)
            },
            Error::AcmeRevocation(AcmeRevocationRefusal::Reason { .. }) => {
                Problem::new("badRevocationReason", StatusCode::BAD_REQUEST, detail)
            }
            Error::AcmeRevocation(AcmeRevocationRefusal::NotIssuedHere) => {
                Problem::new("malformed", StatusCode::NOT_FOUND, detail)
            }
            Error::AcmeRevocation(_) => Problem::new("unauthorized", StatusCode::FORBIDDEN, detail),
            Error::AlreadyRevoked { .. } => Problem::new("alreadyRevoked", StatusCode::BAD_REQUEST, detail),
            Error::AcmeTransition(_) => Problem::malformed(detail),
            _ => {
                eprintln!("pkictl serve: ACME request failed: {}", crate::error::one_line(&e.to_string()));
                Problem::new(
                    "serverInternal",
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The CA could not complete the request; its log says why.",
                )
            }
        }
    }
}

type Answer = std::result::Result<Response, Problem>;

fn set_retry_after(response: &mut Response, seconds: i64) {
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
}

/// The request's origin, `https://HOST[:PORT]`, from its Host header (only characters a host
/// name or address may hold, so that nothing else is echoed into URLs).
fn origin(headers: &HeaderMap) -> std::result::Result<String, Problem> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if host.is_empty() || host.len() > 255 || !host.chars().all(fits) {
        return Err(Problem::malformed("The request has no usable Host header."));
    }
    Ok(format!("https://{host}"))
}

/// The URLs of one provisioner's directory.
struct Urls {
    base: String,
}

impl Urls {
    fn new(headers: &HeaderMap, provisioner: &str) -> std::result::Result<Urls, Problem> {
        Ok(Urls { base: format!("{}/acme/{provisioner}", origin(headers)?) })
    }

    fn of(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }
}

/// Adds what every ACME answer carries: a fresh nonce, the index link, no caching.
fn finish(acme: &Acme, urls: Option<&Urls>, answer: Answer) -> Response {
    let mut response = answer.unwrap_or_else(|p| p.response());
    let headers = response.headers_mut();
    if let Ok(nonce) = acme.nonces.issue()
        && let Ok(value) = HeaderValue::from_str(&nonce)
    {
        headers.insert("replay-nonce", value);
    }
    if let Some(urls) = urls
        && let Ok(link) = HeaderValue::from_str(&format!("<{}>;rel=\"index\"", urls.of("directory")))
    {
        headers.append(header::LINK, link);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Runs a handler's work with the directory URLs of its request's Host, and adds what every
/// ACME answer carries ([`finish`]). A request without a usable Host gets a problem at once.
async fn respond(
    acme: &Acme,
    headers: &HeaderMap,
    provisioner: &str,
    work: impl AsyncFnOnce(&Urls) -> Answer,
) -> Response {
    match Urls::new(headers, provisioner) {
        Ok(urls) => {
            let answer = work(&urls).await;
            finish(acme, Some(&urls), answer)
        }
        Err(problem) => finish(acme, None, Err(problem)),
    }
}

/// Runs an Authority call on the blocking pool (it reads and writes the ledger).
async fn with_authority<T, F>(acme: &Arc<Acme>, call: F) -> std::result::Result<T, Problem>
where
    T: Send + 'static,
    F: FnOnce(&mut Authority) -> std::result::Result<T, Problem> + Send + 'static,
{
    let online = acme.online.clone();
    tokio::task::spawn_blocking(move || call(&mut online.authority()))
        .await
        .unwrap_or_else(|e| Err(Error::Internal(format!("the ACME task failed: {e}")).into()))
}

async fn serving_provisioner(acme: &Arc<Acme>, name: &str) -> std::result::Result<Provisioner, Problem> {
    if let Some(provisioner) = acme.provisioners.get(&name.to_string()) {
        return Ok(provisioner);
    }
    let owned = name.to_string();
    let provisioner = with_authority(acme, move |authority| Ok(authority.acme_provisioner(&owned)?)).await?;
    acme.provisioners.put(name.to_string(), provisioner.clone());
    Ok(provisioner)
}

async fn directory(State(acme): Shared, Path(name): Path<String>, headers: HeaderMap) -> Response {
    respond(&acme, &headers, &name, async |urls| {
        let provisioner = serving_provisioner(&acme, &name).await?;
        let body = json!({
            "newNonce": urls.of("new-nonce"),
            "newAccount": urls.of("new-account"),
            "newOrder": urls.of("new-order"),
            "revokeCert": urls.of("revoke-cert"),
            "keyChange": urls.of("key-change"),
            "meta": { "externalAccountRequired": provisioner.record.require_eab },
        });
        Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response())
    })
    .await
}

async fn new_nonce(
    State(acme): Shared,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    respond(&acme, &headers, &name, async |_| {
        serving_provisioner(&acme, &name).await?;
        // RFC 8555 §7.2: 200 to HEAD, 204 to GET.
        let status = if method == Method::HEAD { StatusCode::OK } else { StatusCode::NO_CONTENT };
        Ok(status.into_response())
    })
    .await
}

async fn not_served(
    State(acme): Shared,
    Path((name, _rest)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(&acme, &headers, &name, async |_| {
        Err(Problem::new(
            "malformed",
            StatusCode::NOT_FOUND,
            "No such ACME resource; the directory lists them.",
        ))
    })
    .await
}

/// The body as bytes, and checked as `application/jose+json`.
fn jose_body(
    headers: &HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> std::result::Result<Bytes, Problem> {
    let body = body
        .map_err(|r| Problem::malformed(format!("The request body could not be read ({}).", r.status())))?;
    let media = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = media.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media != "application/jose+json" {
        return Err(Problem::new(
            "malformed",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the JWS with Content-Type: application/jose+json.",
        ));
    }
    Ok(body)
}

async fn new_account(
    State(acme): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    respond(&acme, &headers, &name, async |urls| {
        let body = jose_body(&headers, body)?;
        let url = urls.of("new-account");
        let jws = acme.nonces.check_request(&body, &url)?;
        let provisioner = serving_provisioner(&acme, &name).await?;
        let key = jws.verify_embedded()?.clone();
        let payload = jws.payload_json()?;
        let request = AccountPayload::from_json(&payload)?;
        let eab = match payload.get("externalAccountBinding") {
            Some(value) => Some(ExternalAccountBinding::from_value(value)?),
            None => None,
        };
        let provisioner_id = provisioner.record.id;
        let account_urls = urls.base.clone();
        with_authority(&acme, move |authority| {
            let thumbprint = key.thumbprint();
            if let Some(existing) = authority.acme_account_by_key(provisioner_id, &thumbprint)? {
                usable(&existing)?;
                return Ok(account_response(StatusCode::OK, &existing, &account_urls));
            }
            if request.only_return_existing {
                return Err(Problem::new(
                    "accountDoesNotExist",
                    StatusCode::BAD_REQUEST,
                    "No account is registered with this key.",
                ));
            }
            let eab_key_id = match &eab {
                Some(eab) => Some(verified_eab(authority, provisioner_id, eab, &url, &key)?),
                None => None,
            };
            let contacts = request.contacts.unwrap_or_default();
            let new = NewAccountRequest {
                provisioner_id,
                jwk_thumbprint: thumbprint,
                jwk: key.to_json().to_string(),
                contacts,
                eab_key_id,
            };
            let account = authority.create_acme_account(&new)?;
            Ok(account_response(StatusCode::CREATED, &account, &account_urls))
        })
        .await
    })
    .await
}

/// The EAB key id, once its MAC is verified with that key and the key is this provisioner's
/// and unbound.
fn verified_eab(
    authority: &Authority,
    provisioner_id: i64,
    eab: &ExternalAccountBinding,
    url: &str,
    key: &Jwk,
) -> std::result::Result<String, Problem> {
    let refused = || Problem::unauthorized("The external account binding names an unknown or used key.");
    let (record, hmac) = authority.acme_eab_hmac_key(eab.key_id())?.ok_or_else(refused)?;
    if record.provisioner_id != provisioner_id || record.account_id.is_some() {
        return Err(refused());
    }
    eab.verify(&hmac, url, key)?;
    Ok(eab.key_id().to_string())
}

/// What newAccount and an account update may say.
struct AccountPayload {
    contacts: Option<Vec<String>>,
    only_return_existing: bool,
    status: Option<String>,
}

impl AccountPayload {
    fn from_json(payload: &Value) -> std::result::Result<AccountPayload, Problem> {
        let contacts = match payload.get("contact") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(contacts(items)?),
            Some(_) => return Err(Problem::malformed("The contact member must be an array of URLs.")),
        };
        let flag = |member: &str| match payload.get(member) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(Problem::malformed(format!("The {member} member must be true or false."))),
        };
        flag("termsOfServiceAgreed")?;
        let status = match payload.get("status") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(Problem::malformed("The status member must be a string.")),
        };
        Ok(AccountPayload { contacts, only_return_existing: flag("onlyReturnExisting")?, status })
    }
}

/// `mailto:` URLs with one valid address each (RFC 8555 §7.3).
fn contacts(items: &[Value]) -> std::result::Result<Vec<String>, Problem> {
    if items.len() > MAX_CONTACTS {
        return Err(Problem::new(
            "invalidContact",
            StatusCode::BAD_REQUEST,
            format!("An account has at most {MAX_CONTACTS} contacts."),
        ));
    }
    items
        .iter()
        .map(|item| {
            let url = item.as_str().ok_or_else(|| Problem::malformed("Each contact must be a string."))?;
            let Some(address) = url.strip_prefix("mailto:") else {
                return Err(Problem::new(
                    "unsupportedContact",
                    StatusCode::BAD_REQUEST,
                    format!("Contact \"{}\" is not a mailto: URL; only mailto: is supported.", excerpt(url)),
                ));
            };
            if address.contains(['?', ',', '%']) {
                return Err(Problem::new(
                    "invalidContact",
                    StatusCode::BAD_REQUEST,
                    format!("Contact \"{}\" must hold one address and no header fields.", excerpt(url)),
                ));
            }
            let address = crate::names::parse_email(address).map_err(|e| {
                Problem::new("invalidContact", StatusCode::BAD_REQUEST, sentence(&e.to_string()))
            })?;
            Ok(format!("mailto:{address}"))
        })
        .collect()
}

fn usable(account: &AcmeAccountRecord) -> std::result::Result<(), Problem> {
    if account.status == AccountStatus::Valid {
        Ok(())
    } else {
        Err(Problem::unauthorized(format!("Account #{} is {}.", account.id, account.status.as_str())))
    }
}

fn account_response(status: StatusCode, account: &AcmeAccountRecord, base: &str) -> Response {
    let url = format!("{base}/acct/{}", account.id);
    let body = json!({
        "status": account.status.as_str(),
        "contact": account.contacts,
        "orders": format!("{url}/orders"),
    });
    let mut response =
        (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    if let Ok(location) = HeaderValue::from_str(&url) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn account(
    State(acme): Shared,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    respond(&acme, &headers, &name, async |urls| {
        let url = urls.of(&format!("acct/{id}"));
        let request = kid_request(&acme, &name, &headers, body, urls, &url).await?;
        let account = request.account(&acme).await?;
        let account_id = account.id;
        let base = urls.base.clone();
        let jws = request.jws;
        let changed = with_authority(&acme, move |authority| {
            if account.id.to_string() != id {
                return Err(Problem::unauthorized(
                    "The request is signed by another account than the URL names.",
                ));
            }
            if jws.is_post_as_get() {
                return Ok(account_response(StatusCode::OK, &account, &base));
            }
            let update = AccountPayload::from_json(&jws.payload_json()?)?;
            let mut account = account;
            if let Some(contacts) = &update.contacts {
                account = authority.set_acme_account_contacts(account.id, contacts)?;
            }
            match update.status.as_deref() {
                None => {}
                Some("deactivated") => {
                    account = authority.set_acme_account_status(account.id, AccountStatus::Deactivated)?;
                }
                Some(other) => {
                    return Err(Problem::malformed(format!(
                        "An account's status can only be set to \"deactivated\", not \"{}\".",
                        excerpt(other)
                    )));
                }
            }
            Ok(account_response(StatusCode::OK, &account, &base))
        })
        .await;
        // An update is seen at once by this process's next request.
        acme.accounts.forget(&account_id);
        changed
    })
    .await
}

/// The account id a `kid` request names: an account URL of this directory.
fn kid_account_id(jws: &Jws, kid_prefix: &str) -> std::result::Result<i64, Problem> {
    let KeyRef::Kid(kid) = &jws.header().key else {
        return Err(crate::acme::JwsError::KidRequired.into());
    };
    kid.strip_prefix(kid_prefix).and_then(|id| id.parse().ok()).ok_or_else(unknown_account)
}

fn unknown_account() -> Problem {
    Problem::new(
        "accountDoesNotExist",
        StatusCode::BAD_REQUEST,
        "The kid names no account of this directory.",
    )
}

/// Whether `account` is a valid account of this provisioner and the request is signed with its
/// key.
fn signed_by(
    account: &AcmeAccountRecord,
    jws: &Jws,
    provisioner_id: i64,
) -> std::result::Result<(), Problem> {
    if account.provisioner_id != provisioner_id {
        return Err(unknown_account());
    }
    let key = Jwk::from_json(account.jwk.as_bytes())?;
    jws.verify(&key).map_err(|e| match e {
        crate::acme::JwsError::BadSignature { .. } => {
            Problem::unauthorized("The request is not signed by the key of the account its kid names.")
        }
        other => other.into(),
    })?;
    usable(account)
}

/// Orders listed per page of an account's orders.
const ORDERS_PER_PAGE: usize = 100;

/// `POST …/acct/ID/orders[?cursor=N]` (POST-as-GET, RFC 8555 §7.1.2.1): the account's orders
/// that are not invalid, newest first, a page at a time with a `Link rel="next"`.
async fn account_orders(
    State(acme): Shared,
    Path((name, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    respond(&acme, &headers, &name, async |urls| {
        let list_url = urls.of(&format!("acct/{id}/orders"));
        let cursor = match query
            .as_deref()
            .map(|q| q.strip_prefix("cursor=").and_then(|n| n.parse::<i64>().ok()))
        {
            None => None,
            Some(Some(n)) => Some(n),
            Some(None) => return Err(Problem::malformed("The only query an orders list takes is cursor=N.")),
        };
        let url = match cursor {
            Some(n) => format!("{list_url}?cursor={n}"),
            None => list_url.clone(),
        };
        let request = kid_request(&acme, &name, &headers, body, urls, &url).await?;
        let base = urls.base.clone();
        let account = request.account(&acme).await?;
        with_authority(&acme, move |authority| {
            if account.id.to_string() != id {
                return Err(Problem::unauthorized("An account lists only its own orders."));
            }
            post_as_get(&request.jws)?;
            let now = crate::engine::now().unix_timestamp();
            let mut orders: Vec<AcmeOrderRecord> = authority
                .acme_orders_of_account(account.id)?
                .into_iter()
                .filter(|o| o.status.at(o.expires_at, now) != crate::acme::OrderStatus::Invalid)
                .filter(|o| cursor.is_none_or(|c| o.id < c))
                .collect();
            orders.sort_by_key(|o| std::cmp::Reverse(o.id));
            let more = orders.len() > ORDERS_PER_PAGE;
            orders.truncate(ORDERS_PER_PAGE);
            let listed: Vec<String> = orders.iter().map(|o| format!("{base}/order/{}", o.id)).collect();
            let mut response = json_response(StatusCode::OK, &json!({ "orders": listed }), None);
            if more && let Some(last) = orders.last() {
                add_link(&mut response, &format!("{list_url}?cursor={}", last.id), "next");
            }
            Ok(response)
        })
        .await
    })
    .await
}

fn add_link(response: &mut Response, url: &str, rel: &str) {
    if let Ok(link) = HeaderValue::from_str(&format!("<{url}>;rel=\"{rel}\"")) {
        response.headers_mut().append(header::LINK, link);
    }
}

/// `POST …/key-change` (RFC 8555 §7.3.5): the outer JWS is signed by the account, the inner
/// one by the new key and names the account and its old key.
async fn key_change(
    State(acme): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    respond(&acme, &headers, &name, async |urls| {
        let url = urls.of("key-change");
        let request = kid_request(&acme, &name, &headers, body, urls, &url).await?;
        let base = urls.base.clone();
        let account = request.account(&acme).await?;
        let account_id = account.id;
        let changed = with_authority(&acme, move |authority| {
            let inner = crate::acme::parse_key_change_inner(request.jws.payload())?;
            inner.check_url(&url)?;
            let new_key = inner.verify_embedded()?.clone();
            let payload = inner.payload_json()?;
            if payload.get("account").and_then(Value::as_str) != Some(request.jws.kid()?) {
                return Err(Problem::unauthorized(
                    "The inner JWS's account is not the account that signed the outer JWS.",
                ));
            }
            let old =
                payload.get("oldKey").ok_or_else(|| Problem::malformed("keyChange needs an oldKey."))?;
            if Jwk::from_value(old)? != Jwk::from_json(account.jwk.as_bytes())? {
                return Err(Problem::unauthorized("The oldKey is not the account's current key."));
            }
            let thumbprint = new_key.thumbprint();
            if let Some(holder) = authority.acme_account_by_key(request.provisioner_id, &thumbprint)? {
                let mut response = Problem::new(
                    "malformed",
                    StatusCode::CONFLICT,
                    format!("The new key is already account #{}'s key.", holder.id),
                )
                .response();
                if let Ok(location) = HeaderValue::from_str(&format!("{base}/acct/{}", holder.id)) {
                    response.headers_mut().insert(header::LOCATION, location);
                }
                return Ok(response);
            }
            let account = authority.change_acme_account_key(account.id, &thumbprint, new_key.to_json())?;
            Ok(account_response(StatusCode::OK, &account, &base))
        })
        .await;
        // The old key stops working at once for this process's next request.
        acme.accounts.forget(&account_id);
        changed
    })
    .await
}

/// `POST …/revoke-cert` (RFC 8555 §7.6): signed by the ordering account (`kid`) or by the
/// certificate's key (`jwk`); revoked exactly like `pkictl revoke`, CRL included.
async fn revoke_cert(
    State(acme): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    use base64ct::{Base64UrlUnpadded, Encoding};
    respond(&acme, &headers, &name, async |urls| {
        let request = kid_request(&acme, &name, &headers, body, urls, &urls.of("revoke-cert")).await?;
        let payload = request.jws.payload_json()?;
        let certificate_der = payload
            .get("certificate")
            .and_then(Value::as_str)
            .and_then(|text| Base64UrlUnpadded::decode_vec(text).ok())
            .ok_or_else(|| Problem::malformed("revokeCert needs a certificate member: base64url DER."))?;
        let reason_code = match payload.get("reason") {
            None => 0,
            Some(value) => value.as_u64().and_then(|n| u8::try_from(n).ok()).ok_or_else(|| {
                Problem::new(
                    "badRevocationReason",
                    StatusCode::BAD_REQUEST,
                    "The reason must be an RFC 5280 code.",
                )
            })?,
        };
        let revoker = match &request.jws.header().key {
            KeyRef::Kid(_) => AcmeRevoker::Account(request.account(&acme).await?.id),
            KeyRef::Jwk(_) => AcmeRevoker::CertificateKey(Box::new(request.jws.verify_embedded()?.clone())),
        };
        with_authority(&acme, move |authority| {
            authority.revoke_acme_certificate(&AcmeRevokeRequest {
                provisioner_id: request.provisioner_id,
                certificate_der,
                reason_code,
                revoker,
            })?;
            Ok(StatusCode::OK.into_response())
        })
        .await
    })
    .await
}

/// RFC 3339, as ACME writes times.
fn rfc3339(unix: i64) -> String {
    crate::engine::format_time(unix)
}

fn json_response(status: StatusCode, body: &Value, location: Option<&str>) -> Response {
    let mut response =
        (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    if let Some(location) = location
        && let Ok(value) = HeaderValue::from_str(location)
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// What newOrder asks for.
struct OrderPayload {
    identifiers: Vec<AcmeIdentifier>,
    not_before: Option<i64>,
    not_after: Option<i64>,
}

impl OrderPayload {
    fn from_json(payload: &Value) -> std::result::Result<OrderPayload, Problem> {
        let Some(items) = payload.get("identifiers").and_then(Value::as_array) else {
            return Err(Problem::malformed("A new order needs an identifiers array."));
        };
        if items.is_empty() || items.len() > MAX_IDENTIFIERS {
            return Err(Problem::malformed(format!(
                "An order names 1 to {MAX_IDENTIFIERS} identifiers, not {}.",
                items.len()
            )));
        }
        let mut identifiers: Vec<AcmeIdentifier> = Vec::new();
        for item in items {
            let identifier = identifier(item)?;
            if !identifiers.contains(&identifier) {
                identifiers.push(identifier);
            }
        }
        let (not_before, not_after) = (time_member(payload, "notBefore")?, time_member(payload, "notAfter")?);
        if let (Some(from), Some(to)) = (not_before, not_after)
            && from >= to
        {
            return Err(Problem::malformed("The order's notBefore must be before its notAfter."));
        }
        Ok(OrderPayload { identifiers, not_before, not_after })
    }
}

/// One `{"type": …, "value": …}` identifier; DNS names lower-cased.
fn identifier(item: &Value) -> std::result::Result<AcmeIdentifier, Problem> {
    let kind = item.get("type").and_then(Value::as_str);
    let value = item.get("value").and_then(Value::as_str);
    let (Some(kind), Some(value)) = (kind, value) else {
        return Err(Problem::malformed("Each identifier needs a type and a value, both strings."));
    };
    match kind {
        "dns" => Ok(AcmeIdentifier { kind: IdentifierType::Dns, value: value.to_ascii_lowercase() }),
        "ip" => Ok(AcmeIdentifier { kind: IdentifierType::Ip, value: value.to_string() }),
        other => Err(Problem::new(
            "unsupportedIdentifier",
            StatusCode::BAD_REQUEST,
            format!("Identifier type \"{}\" is not supported; use dns or ip.", excerpt(other)),
        )),
    }
}

/// An optional RFC 3339 time member, as Unix seconds.
fn time_member(payload: &Value, member: &str) -> std::result::Result<Option<i64>, Problem> {
    use time::format_description::well_known::Rfc3339;
    match payload.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => time::OffsetDateTime::parse(text, &Rfc3339)
            .map(|t| Some(t.unix_timestamp()))
            .map_err(|_| Problem::malformed(format!("The {member} member must be an RFC 3339 time."))),
        Some(_) => Err(Problem::malformed(format!("The {member} member must be an RFC 3339 time."))),
    }
}

fn order_json(order: &AcmeOrderRecord, authz_ids: &[i64], base: &str) -> Value {
    let now = crate::engine::now().unix_timestamp();
    let mut body = json!({
        "status": order.status.at(order.expires_at, now).as_str(),
        "expires": rfc3339(order.expires_at),
        "identifiers": order.identifiers,
        "authorizations": authz_ids.iter().map(|id| format!("{base}/authz/{id}")).collect::<Vec<_>>(),
        "finalize": format!("{base}/order/{}/finalize", order.id),
    });
    if let Some(t) = order.not_before {
        body["notBefore"] = json!(rfc3339(t));
    }
    if let Some(t) = order.not_after {
        body["notAfter"] = json!(rfc3339(t));
    }
    if let Some(error) = &order.error {
        body["error"] = error.clone();
    }
    if let Some(id) = order.certificate_id {
        body["certificate"] = json!(format!("{base}/cert/{id}"));
    }
    body
}

fn challenge_json(challenge: &AcmeChallengeRecord, base: &str) -> Value {
    let mut body = json!({
        "type": challenge.kind.as_str(),
        "url": format!("{base}/chall/{}", challenge.id),
        "token": challenge.token,
        "status": challenge.status.as_str(),
    });
    if let Some(t) = challenge.validated_at {
        body["validated"] = json!(rfc3339(t));
    }
    if let Some(error) = &challenge.error {
        body["error"] = error.clone();
    }
    body
}

fn authorization_json(
    authz: &AcmeAuthorizationRecord,
    challenges: &[AcmeChallengeRecord],
    base: &str,
) -> Value {
    let now = crate::engine::now().unix_timestamp();
    let mut body = json!({
        "identifier": authz.identifier,
        "status": authz.status.at(authz.expires_at, now).as_str(),
        "expires": rfc3339(authz.expires_at),
        "challenges": challenges.iter().map(|c| challenge_json(c, base)).collect::<Vec<_>>(),
    });
    if authz.wildcard {
        body["wildcard"] = json!(true);
    }
    body
}

/// A kid-signed request to an order resource: its JWS checked against its URL and nonce, for
/// a provisioner that is serving.
struct KidRequest {
    jws: Jws,
    provisioner_id: i64,
    /// `…/acme/NAME/acct/`: the kid of every account of this directory starts with it.
    kid_prefix: String,
}

impl KidRequest {
    /// The valid account of this provisioner that signed the request (its signature checked
    /// here, outside the writer's lock).
    async fn account(&self, acme: &Arc<Acme>) -> std::result::Result<AcmeAccountRecord, Problem> {
        let id = kid_account_id(&self.jws, &self.kid_prefix)?;
        let account = match acme.accounts.get(&id) {
            Some(account) => account,
            None => {
                let account = with_authority(acme, move |authority| {
                    authority.acme_account(id).map_err(|_| unknown_account())
                })
                .await?;
                acme.accounts.put(id, account.clone());
                account
            }
        };
        signed_by(&account, &self.jws, self.provisioner_id)?;
        Ok(account)
    }
}

/// What every kid-signed request to an order resource starts with.
async fn kid_request(
    acme: &Arc<Acme>,
    name: &str,
    headers: &HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
    urls: &Urls,
    url: &str,
) -> std::result::Result<KidRequest, Problem> {
    let body = jose_body(headers, body)?;
    let jws = acme.nonces.check_request(&body, url)?;
    let provisioner = serving_provisioner(acme, name).await?;
    Ok(KidRequest { jws, provisioner_id: provisioner.record.id, kid_prefix: urls.of("acct/") })
}

fn not_yours(object: AcmeObject) -> Problem {
    Problem::unauthorized(format!("This {} belongs to another account.", object.as_str()))
}

async fn new_order(
    State(acme): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    respond(&acme, &headers, &name, async |urls| {
        let request = kid_request(&acme, &name, &headers, body, urls, &urls.of("new-order")).await?;
        let base = urls.base.clone();
        let acme_limits = acme.limits;
        let account = request.account(&acme).await?;
        with_authority(&acme, move |authority| {
            let payload = OrderPayload::from_json(&request.jws.payload_json()?)?;
            let view = authority.create_acme_order(&NewOrderRequest {
                account_id: account.id,
                identifiers: payload.identifiers,
                not_before: payload.not_before,
                not_after: payload.not_after,
                lifetime: ORDER_LIFETIME,
                limits: acme_limits,
            })?;
            let ids: Vec<i64> = view.authorizations.iter().map(|(a, _)| a.id).collect();
            let location = format!("{base}/order/{}", view.order.id);
            Ok(json_response(StatusCode::CREATED, &order_json(&view.order, &ids, &base), Some(&location)))
        })
        .await
    })
    .await
}

fn parse_id(id: &str, object: AcmeObject) -> std::result::Result<i64, Problem> {
    id.parse().map_err(|_| {
        Problem::new("malformed", StatusCode::NOT_FOUND, format!("No such {}.", object.as_str()))
    })
}

async fn order(
    State(acme): Shared,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    respond(&acme, &headers, &name, async |urls| {
        let url = urls.of(&format!("order/{id}"));
        let request = kid_request(&acme, &name, &headers, body, urls, &url).await?;
        let id = parse_id(&id, AcmeObject::Order)?;
        let base = urls.base.clone();
        let account = request.account(&acme).await?;
        with_authority(&acme, move |authority| {
            post_as_get(&request.jws)?;
            let view = authority.acme_order_view(id)?;
            if view.order.account_id != account.id {
                return Err(not_yours(AcmeObject::Order));
            }
            let ids: Vec<i64> = view.authorizations.iter().map(|(a, _)| a.id).collect();
            let mut response = json_response(StatusCode::OK, &order_json(&view.order, &ids, &base), None);
            if view.order.status == crate::acme::OrderStatus::Processing {
                set_retry_after(&mut response, 1);
            }
            Ok(response)
        })
        .await
    })
    .await
}

async fn authorization(
    State(acme): Shared,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    respond(&acme, &headers, &name, async |urls| {
        let url = urls.of(&format!("authz/{id}"));
        let request = kid_request(&acme, &name, &headers, body, urls, &url).await?;
        let id = parse_id(&id, AcmeObject::Authorization)?;
        let base = urls.base.clone();
        let account = request.account(&acme).await?;
        with_authority(&acme, move |authority| {
            let authz = authority.acme_authorization(id)?;
            if authority.acme_order(authz.order_id)?.account_id != account.id {
                return Err(not_yours(AcmeObject::Authorization));
            }
            if !request.jws.is_post_as_get() {
                deactivate_authorization(authority, &authz, &request.jws.payload_json()?)?;
            }
            let view = authority.acme_order_view(authz.order_id)?;
            let Some((authz, challenges)) = view.authorizations.iter().find(|(a, _)| a.id == id) else {
                return Err(Error::AcmeNotFound { object: AcmeObject::Authorization, id }.into());
            };
            let mut response =
                json_response(StatusCode::OK, &authorization_json(authz, challenges, &base), None);
            if challenges.iter().any(|c| c.status == crate::acme::ChallengeStatus::Processing) {
                set_retry_after(&mut response, 1);
            }
            Ok(response)
        })
        .await
    })
    .await
}

/// An authorization update (RFC 8555 §7.5.2): only `{"status": "deactivated"}`, of a pending
/// or valid authorization; its order, if not yet issued, becomes invalid.
fn deactivate_authorization(
    authority: &mut Authority,
    authz: &AcmeAuthorizationRecord,
    payload: &Value,
) -> std::result::Result<(), Problem> {
    use crate::acme::{AuthorizationStatus, OrderStatus};
    if payload.get("status").and_then(Value::as_str) != Some("deactivated") {
        return Err(Problem::malformed(
            "An authorization can only be updated with {\"status\": \"deactivated\"}.",
        ));
    }
    authority.set_acme_authorization_status(authz.id, AuthorizationStatus::Deactivated)?;
    let order = authority.acme_order(authz.order_id)?;
    if matches!(order.status, OrderStatus::Pending | OrderStatus::Ready) {
        let error = json!({
            "type": "urn:ietf:params:acme:error:unauthorized",
            "detail": format!("Authorization #{} was deactivated.", authz.id),
        });
        authority.set_acme_order_status(order.id, OrderStatus::Invalid, Some(&error))?;
    }
    Ok(())
}

/// Orders and certificates are only read: their requests are POST-as-GET.
fn post_as_get(jws: &Jws) -> std::result::Result<(), Problem> {
    if jws.is_post_as_get() {
        Ok(())
    } else {
        Err(Problem::malformed("Read this resource with POST-as-GET (an empty payload)."))
    }
}

/// A challenge, the account key and where its identifier is, as read before validating.
struct ChallengeTarget {
    challenge: AcmeChallengeRecord,
    authz: AcmeAuthorizationRecord,
    /// Set when this request starts validation.
    key_authorization: Option<String>,
}

/// `POST …/chall/ID`: `{}` validates the challenge (http-01, dns-01 or tls-alpn-01)
/// synchronously and answers its final state; POST-as-GET reads it.
async fn challenge(
    State(acme): Shared,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    respond(&acme, &headers, &name, async |urls| {
        let url = urls.of(&format!("chall/{id}"));
        let request = kid_request(&acme, &name, &headers, body, urls, &url).await?;
        let id = parse_id(&id, AcmeObject::Challenge)?;
        let account = request.account(&acme).await?;
        let target = with_authority(&acme, move |authority| {
            let challenge = authority.acme_challenge(id)?;
            let authz = authority.acme_authorization(challenge.authorization_id)?;
            if authority.acme_order(authz.order_id)?.account_id != account.id {
                return Err(not_yours(AcmeObject::Challenge));
            }
            let respond = !request.jws.is_post_as_get();
            if respond && challenge.status == crate::acme::ChallengeStatus::Pending {
                let now = crate::engine::now().unix_timestamp();
                let authz_status = authz.status.at(authz.expires_at, now);
                if authz_status != crate::acme::AuthorizationStatus::Pending {
                    return Err(Problem::malformed(format!(
                        "Authorization #{} is {}: its challenges can no longer be validated.",
                        authz.id,
                        authz_status.as_str()
                    )));
                }
                let key = Jwk::from_json(account.jwk.as_bytes())?;
                let key_authorization = crate::acme::key_authorization(&challenge.token, &key);
                let challenge = authority.update_acme_challenge(
                    challenge.id,
                    crate::acme::ChallengeStatus::Processing,
                    None,
                    None,
                )?;
                return Ok(ChallengeTarget { challenge, authz, key_authorization: Some(key_authorization) });
            }
            Ok(ChallengeTarget { challenge, authz, key_authorization: None })
        })
        .await?;
        let challenge = match target.key_authorization.clone() {
            Some(key_authorization) => {
                let outcome = validate(&acme.validation, &target, &key_authorization).await;
                with_authority(&acme, move |authority| record_validation(authority, &target, outcome)).await?
            }
            None => target.challenge,
        };
        let mut response = json_response(StatusCode::OK, &challenge_json(&challenge, &urls.base), None);
        let up = format!("<{}>;rel=\"up\"", urls.of(&format!("authz/{}", challenge.authorization_id)));
        if let Ok(link) = HeaderValue::from_str(&up) {
            response.headers_mut().append(header::LINK, link);
        }
        Ok(response)
    })
    .await
}

/// Validates the challenge as its type says: the validation record, or why it failed.
async fn validate(
    validation: &Validation,
    target: &ChallengeTarget,
    key_authorization: &str,
) -> std::result::Result<Value, super::http01::Failure> {
    use crate::acme::ChallengeType;
    let identifier = &target.authz.identifier;
    let address =
        |port| super::dns01::address_of(&identifier.value, port, &validation.resolve, validation.dns);
    match target.challenge.kind {
        ChallengeType::Http01 => {
            let address = address(validation.http01_port).await?;
            super::http01::validate(&identifier.value, address, &target.challenge.token, key_authorization)
                .await
        }
        ChallengeType::Dns01 => {
            super::dns01::validate(validation.dns, &identifier.value, key_authorization).await
        }
        ChallengeType::TlsAlpn01 => {
            let address = address(validation.tls_alpn01_port).await?;
            super::tls_alpn01::validate(identifier, address, key_authorization).await
        }
    }
}

/// Records the outcome on the challenge, its authorization and its order.
fn record_validation(
    authority: &mut Authority,
    target: &ChallengeTarget,
    outcome: std::result::Result<Value, super::http01::Failure>,
) -> std::result::Result<AcmeChallengeRecord, Problem> {
    let outcome = outcome.map(|record| json!([record])).map_err(|failure| {
        json!({
            "type": format!("urn:ietf:params:acme:error:{}", failure.kind),
            "detail": failure.detail,
            "status": 403,
        })
    });
    Ok(authority.record_acme_validation(target.challenge.id, &outcome)?)
}

fn bad_csr(detail: impl Into<String>) -> Problem {
    Problem::new("badCSR", StatusCode::BAD_REQUEST, detail)
}

/// The CSR of a finalize request, its signature verified.
fn finalize_csr(payload: &Value) -> std::result::Result<crate::engine::csr::VerifiedCsr, Problem> {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let text = payload
        .get("csr")
        .and_then(Value::as_str)
        .ok_or_else(|| Problem::malformed("Finalize needs a csr member."))?;
    let der = Base64UrlUnpadded::decode_vec(text).map_err(|_| bad_csr("The csr is not base64url DER."))?;
    crate::engine::csr::parse_and_verify(&der, "the ACME CSR").map_err(|e| bad_csr(sentence(&e.to_string())))
}

/// The CSR's names (CN and SANs) as identifiers; only DNS names and IP addresses.
fn csr_identifiers(
    csr: &crate::engine::csr::VerifiedCsr,
) -> std::result::Result<Vec<AcmeIdentifier>, Problem> {
    use crate::engine::csr::RequestedSan;
    let mut out: Vec<AcmeIdentifier> = Vec::new();
    let mut add = |identifier: AcmeIdentifier| {
        if !out.contains(&identifier) {
            out.push(identifier);
        }
    };
    if let Some(cn) = &csr.common_name {
        match cn.parse::<std::net::IpAddr>() {
            Ok(ip) => add(AcmeIdentifier { kind: IdentifierType::Ip, value: ip.to_string() }),
            Err(_) => add(AcmeIdentifier { kind: IdentifierType::Dns, value: cn.to_ascii_lowercase() }),
        }
    }
    for san in &csr.requested_sans {
        match san {
            RequestedSan::Dns(name) => {
                add(AcmeIdentifier { kind: IdentifierType::Dns, value: name.to_ascii_lowercase() })
            }
            RequestedSan::Ip(ip) => add(AcmeIdentifier { kind: IdentifierType::Ip, value: ip.to_string() }),
            _ => return Err(bad_csr("The CSR may only name DNS names and IP addresses.")),
        }
    }
    Ok(out)
}

fn same_names(a: &[AcmeIdentifier], b: &[AcmeIdentifier]) -> bool {
    let canonical = |i: &AcmeIdentifier| match i.kind {
        IdentifierType::Ip => {
            i.value.parse::<std::net::IpAddr>().map(|ip| ip.to_string()).unwrap_or_default()
        }
        IdentifierType::Dns => i.value.to_ascii_lowercase(),
    };
    let set = |list: &[AcmeIdentifier]| -> std::collections::BTreeSet<(&'static str, String)> {
        list.iter().map(|i| (i.kind.as_str(), canonical(i))).collect()
    };
    set(a) == set(b)
}

/// `POST …/order/ID/finalize`: a CSR for exactly the order's identifiers becomes its certificate.
async fn finalize(
    State(acme): Shared,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    respond(&acme, &headers, &name, async |urls| {
        let url = urls.of(&format!("order/{id}/finalize"));
        let request = kid_request(&acme, &name, &headers, body, urls, &url).await?;
        let id = parse_id(&id, AcmeObject::Order)?;
        let base = urls.base.clone();
        let account = request.account(&acme).await?;
        with_authority(&acme, move |authority| {
            let view = authority.acme_order_view(id)?;
            if view.order.account_id != account.id {
                return Err(not_yours(AcmeObject::Order));
            }
            let now = crate::engine::now().unix_timestamp();
            if view.order.status.at(view.order.expires_at, now) != crate::acme::OrderStatus::Ready {
                return Err(Problem::new(
                    "orderNotReady",
                    StatusCode::FORBIDDEN,
                    format!("Order #{id} is {}, not ready.", view.order.status.as_str()),
                ));
            }
            let csr = finalize_csr(&request.jws.payload_json()?)?;
            if !same_names(&csr_identifiers(&csr)?, &view.order.identifiers) {
                return Err(bad_csr(
                    "The CSR's names (CN and SANs) must be exactly the order's identifiers.",
                ));
            }
            let order = issue_for_order(authority, &view.order, csr)?;
            let ids: Vec<i64> = view.authorizations.iter().map(|(a, _)| a.id).collect();
            let location = format!("{base}/order/{id}");
            Ok(json_response(StatusCode::OK, &order_json(&order, &ids, &base), Some(&location)))
        })
        .await
    })
    .await
}

/// Issues the order's certificate; when the CA refuses, the order becomes invalid with the
/// problem the client is also answered with.
fn issue_for_order(
    authority: &mut Authority,
    order: &AcmeOrderRecord,
    csr: crate::engine::csr::VerifiedCsr,
) -> std::result::Result<AcmeOrderRecord, Problem> {
    match authority.finalize_acme_order(order.id, csr) {
        Ok(order) => Ok(order),
        Err(e @ (Error::AcmeStale { .. } | Error::AcmeTransition(_))) => Err(e.into()),
        Err(e) => {
            let problem = Problem::from(e);
            let error = json!({ "type": format!("urn:ietf:params:acme:error:{}", problem.kind), "detail": problem.detail });
            authority.set_acme_order_status(order.id, crate::acme::OrderStatus::Invalid, Some(&error))?;
            Err(problem)
        }
    }
}

/// `POST …/cert/ID` (POST-as-GET): the order's certificate and the CAs above it, PEM.
async fn certificate(
    State(acme): Shared,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    respond(&acme, &headers, &name, async |urls| {
        let url = urls.of(&format!("cert/{id}"));
        let request = kid_request(&acme, &name, &headers, body, urls, &url).await?;
        let not_found = || Problem::new("malformed", StatusCode::NOT_FOUND, "No such certificate.");
        let id: i64 = id.parse().map_err(|_| not_found())?;
        let account = request.account(&acme).await?;
        with_authority(&acme, move |authority| {
            post_as_get(&request.jws)?;
            let link = authority.acme_certificate_link(id)?.ok_or_else(not_found)?;
            if link.account_id != account.id {
                return Err(Problem::unauthorized("This certificate belongs to another account."));
            }
            let (der, chain) = authority.acme_certificate_chain(id)?;
            let mut pem = crate::x509::certificate_pem(&der);
            for ca in &chain {
                pem.push_str(&crate::x509::certificate_pem(ca));
            }
            Ok((StatusCode::OK, [(header::CONTENT_TYPE, super::CHAIN_MEDIA_TYPE)], pem).into_response())
        })
        .await
    })
    .await
}
