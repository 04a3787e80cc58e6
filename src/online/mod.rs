//! The online CA: an [`Authority`] kept fresh while `serve` runs, seen by the HTTP front-ends
//! through [`OnlineCa`].
//!
//! What it keeps in memory, and why it is never stale:
//! - a [`View`] of the CAs, their newest CRLs and OCSP signers, rebuilt whenever the ledger's
//!   revision moves (a commit by `serve` or by any `pkictl` process on the same home), which
//!   [`OnlineAuthority::tick`] checks several times a second;
//! - pre-signed OCSP responses, cached inside the view they were answered from, so a new view
//!   (after a revocation) starts with an empty cache: a cached answer never outlives a
//!   revocation by more than one tick.
//!
//! The same tick re-signs a CRL past half of its lifetime, renews OCSP responder certificates
//! and the HTTPS certificate at two thirds of theirs.

mod acme;
mod dns01;
mod enrol;
mod http01;
mod tls_alpn01;

pub use acme::{Validation as AcmeValidation, acme_routes};
pub use dns01::Dns as AcmeDns;
pub use enrol::{CHAIN_MEDIA_TYPE, CSR_MEDIA_TYPE, PROBLEM_MEDIA_TYPE, enrolment_routes};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use der::Encode;
use time::Duration;

use crate::authority::{
    Authority, CrlRequest, IssueRequest, KeySource, OcspIssuer, OcspReply, OcspSigner, OcspStatus, issuer_of,
    ocsp_status, sign_reply,
};
use crate::engine::ocsp::{self, ErrorStatus};
use crate::engine::profile::Profile;
use crate::error::{CaAction, Error, Result};
use crate::keys::{FastSigner, KeyType};
use crate::ledger::{CaRecord, CrlRecord, Ledger, OpenMode};
use crate::names::San;
use crate::server::{
    BackendError, CaHealth, CertSlot, CrlBlob, Gauge, Health, OcspAnswer, OcspCaching, OnlineCa,
};

/// A library message as a sentence for an HTTP client: capitalised, with a full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// Cached OCSP responses per view; past this many the cache is emptied and refills.
const MAX_CACHED_RESPONSES: usize = 200_000;

/// How `serve` keeps the CA fresh.
#[derive(Clone, Debug)]
pub struct OnlineSettings {
    /// How long an OCSP response is valid (its nextUpdate − thisUpdate).
    pub ocsp_validity: Duration,
    /// How long a delegated OCSP responder certificate is valid; renewed at two thirds.
    pub responder_validity: Duration,
    /// The lifetime of CRLs `serve` signs; each CA's own setting when None.
    pub crl_next_update: Option<Duration>,
    /// The HTTPS listener's certificate, when there is one.
    pub https: Option<HttpsIdentity>,
    /// How long after its notAfter a certificate may still be renewed over `/v1/renew`; an
    /// expired one is refused when None.
    pub renewal_grace: Option<Duration>,
}

impl Default for OnlineSettings {
    fn default() -> Self {
        OnlineSettings {
            ocsp_validity: Duration::hours(1),
            responder_validity: Duration::days(1),
            crl_next_update: None,
            https: None,
            renewal_grace: None,
        }
    }
}

/// The names and lifetime of the HTTPS listener's own certificate.
#[derive(Clone, Debug)]
pub struct HttpsIdentity {
    /// Its commonName (also a SAN).
    pub name: String,
    /// Further SANs: the other host names and the listen address.
    pub sans: Vec<San>,
    /// Its validity; renewed in place at two thirds.
    pub validity: Duration,
    /// The CA that issues it; the default issuing CA when None.
    pub ca: Option<String>,
}

/// What a tick did, for the operator's log.
#[derive(Debug, Default)]
pub struct TickReport {
    /// Things done: "signed CRL #5 of Acme Issuing CA".
    pub done: Vec<String>,
    /// Things that failed; the next tick tries again.
    pub failed: Vec<String>,
}

/// The online CA.
pub struct OnlineAuthority {
    /// Signs and writes (CRLs, responder and HTTPS certificates).
    authority: Mutex<Authority>,
    /// A second connection to the same ledger for the request paths and the revision poll:
    /// with SQLite's WAL it reads while the authority's connection writes, so an OCSP lookup or
    /// a view refresh never waits for a big CRL being signed.
    reader: Mutex<Box<dyn Ledger>>,
    settings: OnlineSettings,
    view: RwLock<Arc<View>>,
    /// OCSP signers by CA id; they survive view rebuilds.
    signers: RwLock<HashMap<i64, Arc<OcspSigner>>>,
    https: Option<HttpsState>,
}

struct HttpsState {
    identity: HttpsIdentity,
    slot: Arc<CertSlot>,
    /// When the current certificate was issued and its notAfter, Unix seconds.
    lifetime: Mutex<(i64, i64)>,
}

/// A freshly issued HTTPS certificate: leaf then chain, its key (PKCS#8 DER, in memory only).
struct HttpsCert {
    chain: Vec<Vec<u8>>,
    key: zeroize::Zeroizing<Vec<u8>>,
    lifetime: (i64, i64),
}

/// Everything the request paths read, as of one ledger revision.
struct View {
    revision: u64,
    cas: Vec<CaView>,
    issuers: Vec<OcspIssuer>,
    cache: RwLock<HashMap<Vec<u8>, OcspReply>>,
}

struct CaView {
    record: CaRecord,
    crl: Option<CrlRecord>,
    crl_der: Option<Vec<u8>>,
}

impl OnlineAuthority {
    /// Takes over an opened authority: loads the view, makes every CA's OCSP signer, signs any
    /// CRL that is missing or past half of its lifetime, and issues the HTTPS certificate.
    pub fn start(
        mut authority: Authority,
        settings: OnlineSettings,
    ) -> Result<(Arc<OnlineAuthority>, TickReport)> {
        let reader = authority.home().open_ledger(OpenMode::ReadOnly)?;
        let view = Arc::new(load_view(reader.as_ref())?);
        let https = match &settings.https {
            Some(identity) => {
                let cert = issue_https(&mut authority, identity)?;
                let slot = CertSlot::from_der(cert.chain, cert.key.to_vec())
                    .map_err(|e| Error::Internal(format!("the HTTPS certificate: {e}")))?;
                Some(HttpsState {
                    identity: identity.clone(),
                    slot: Arc::new(slot),
                    lifetime: Mutex::new(cert.lifetime),
                })
            }
            None => None,
        };
        let online = Arc::new(OnlineAuthority {
            authority: Mutex::new(authority),
            reader: Mutex::new(reader),
            settings,
            view: RwLock::new(view),
            signers: RwLock::new(HashMap::new()),
            https,
        });
        online.make_all_signers()?;
        let report = online.tick();
        if let Some(problem) = report.failed.first() {
            return Err(Error::Serve(problem.clone()));
        }
        Ok((online, report))
    }

    /// The OCSP signer of every CA that can sign; the first failure (a wrong passphrase) stops
    /// the start with its own error.
    fn make_all_signers(&self) -> Result<()> {
        let now = now();
        for ca in &self.view().cas {
            if can_sign(&ca.record, now) {
                let signer = self.make_signer(&ca.record, now)?;
                self.signers
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(ca.record.id, Arc::new(signer));
            }
        }
        Ok(())
    }

    /// The HTTPS certificate slot, when there is an HTTPS listener.
    pub fn https_slot(&self) -> Option<Arc<CertSlot>> {
        self.https.as_ref().map(|h| h.slot.clone())
    }

    /// Brings the view up to the ledger and keeps everything fresh; call it a few times a
    /// second. Failures are reported, never fatal: the next tick tries again.
    pub fn tick(&self) -> TickReport {
        let mut report = TickReport::default();
        let now = now();
        if let Err(e) = self.refresh_view() {
            report.failed.push(format!("reading the ledger: {e}"));
            return report;
        }
        self.refresh_crls(now, &mut report);
        self.refresh_signers(now, &mut report);
        self.refresh_https(now, &mut report);
        if !report.done.is_empty() {
            if let Err(e) = self.refresh_view() {
                report.failed.push(format!("reading the ledger: {e}"));
            }
        }
        report
    }

    fn authority(&self) -> MutexGuard<'_, Authority> {
        self.authority.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn reader(&self) -> MutexGuard<'_, Box<dyn Ledger>> {
        self.reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn view(&self) -> Arc<View> {
        self.view.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn signer(&self, ca_id: i64) -> Option<Arc<OcspSigner>> {
        self.signers.read().unwrap_or_else(|p| p.into_inner()).get(&ca_id).cloned()
    }

    /// A new view when the ledger's revision moved since the current one was read.
    fn refresh_view(&self) -> Result<()> {
        let reader = self.reader();
        let revision = reader.revision()?;
        if revision == self.view().revision {
            return Ok(());
        }
        let view = Arc::new(load_view(reader.as_ref())?);
        drop(reader);
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = view;
        Ok(())
    }

    /// Signs the CRL of every CA that can sign and whose newest CRL is missing or past half of
    /// its lifetime.
    fn refresh_crls(&self, now: i64, report: &mut TickReport) {
        for ca in &self.view().cas {
            if !can_sign(&ca.record, now) || !crl_due(ca.crl.as_ref(), now) {
                continue;
            }
            let request =
                CrlRequest { ca: Some(ca.record.name.clone()), next_update: self.settings.crl_next_update };
            match self.authority().publish_crl(&request) {
                Ok(crl) => report.done.push(format!("signed CRL #{} of {}", crl.number, ca.record.name)),
                Err(e) => report.failed.push(format!("signing the CRL of {}: {e}", ca.record.name)),
            }
        }
    }

    /// Makes the OCSP signer of every CA that can sign and has none, or whose signer is past
    /// two thirds of its lifetime; drops those of CAs that can no longer sign.
    fn refresh_signers(&self, now: i64, report: &mut TickReport) {
        for ca in &self.view().cas {
            let current = self.signer(ca.record.id);
            if !can_sign(&ca.record, now) {
                if current.is_some() {
                    self.signers.write().unwrap_or_else(|p| p.into_inner()).remove(&ca.record.id);
                    report
                        .done
                        .push(format!("stopped answering OCSP for {}: it cannot sign", ca.record.name));
                }
                continue;
            }
            if current.as_ref().is_some_and(|s| !s.renewal_due(now)) {
                continue;
            }
            match self.make_signer(&ca.record, now) {
                Ok(signer) => {
                    self.signers
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(ca.record.id, Arc::new(signer));
                    report.done.push(format!("made the OCSP signer of {}", ca.record.name));
                }
                Err(e) => report.failed.push(format!("making the OCSP signer of {}: {e}", ca.record.name)),
            }
        }
    }

    /// A delegated responder for the CA: a fresh key (in memory only) and a certificate the
    /// CA issues for it, recorded in the ledger.
    fn make_signer(&self, ca: &CaRecord, now: i64) -> Result<OcspSigner> {
        let responder = self.authority().issue_ocsp_responder(ca, self.settings.responder_validity)?;
        let not_after = responder.not_after();
        let der = responder.der().to_vec();
        let signer = FastSigner::fastest(responder.key)
            .map_err(|source| Error::Key { what: format!("the OCSP responder of {}", ca.name), source })?;
        Ok(OcspSigner::delegated(ca.id, signer, der, now, not_after))
    }

    /// Renews the HTTPS certificate in place at two thirds of its lifetime.
    fn refresh_https(&self, now: i64, report: &mut TickReport) {
        let Some(https) = &self.https else { return };
        let (issued_at, not_after) = *https.lifetime.lock().unwrap_or_else(|p| p.into_inner());
        if now < issued_at + (not_after - issued_at) * 2 / 3 {
            return;
        }
        let renewed = issue_https(&mut self.authority(), &https.identity).and_then(|cert| {
            https
                .slot
                .replace_der(cert.chain, cert.key.to_vec())
                .map_err(|e| Error::Internal(format!("the HTTPS certificate: {e}")))?;
            Ok(cert.lifetime)
        });
        match renewed {
            Ok(lifetime) => {
                *https.lifetime.lock().unwrap_or_else(|p| p.into_inner()) = lifetime;
                report.done.push(format!("renewed the HTTPS certificate of {}", https.identity.name));
            }
            Err(e) => report.failed.push(format!("renewing the HTTPS certificate: {e}")),
        }
    }

    /// A pre-signed answer to this request, without touching the ledger or a key.
    pub fn cached_ocsp(&self, request_der: &[u8]) -> Option<OcspReply> {
        let request = ocsp::parse_request(request_der).ok()?;
        self.view().cached(&cache_key(&request)?, now())
    }

    /// The answer to one DER OCSP request.
    pub fn answer_ocsp(&self, request_der: &[u8]) -> OcspReply {
        let request = match ocsp::parse_request(request_der) {
            Ok(request) => request,
            Err(e) => return OcspReply::refused(&e),
        };
        let view = self.view();
        let cache_key = cache_key(&request);
        let now = now();
        if let Some(hit) = cache_key.as_ref().and_then(|key| view.cached(key, now)) {
            return hit;
        }
        let Some(issuer) = issuer_of(&view.issuers, &request.cert_ids) else {
            return OcspReply::error(ErrorStatus::Unauthorized);
        };
        let Some(signer) = self.signer(issuer.ca_id) else {
            return OcspReply::error(ErrorStatus::TryLater);
        };
        let statuses = {
            let reader = self.reader();
            let status = |id: &ocsp::CertId| ocsp_status(reader.as_ref(), issuer.ca_id, id.serial());
            request.cert_ids.iter().map(status).collect::<Result<Vec<_>>>()
        };
        let Ok(statuses) = statuses else { return OcspReply::error(ErrorStatus::InternalError) };
        let validity = self.settings.ocsp_validity.whole_seconds();
        let reply = match sign_reply(
            &signer,
            &request.cert_ids,
            &statuses,
            request.nonce.as_deref(),
            now,
            validity,
        ) {
            Ok(reply) => reply,
            Err(_) => return OcspReply::error(ErrorStatus::InternalError),
        };
        if let Some(key) = cache_key {
            if statuses.iter().all(|s| *s != OcspStatus::Unknown) {
                view.remember(key, &reply);
            }
        }
        reply
    }
}

/// Only a request for one certificate without a nonce (RFC 5019) may get a pre-signed answer:
/// the key is its CertID, which the answer echoes.
fn cache_key(request: &ocsp::ParsedRequest) -> Option<Vec<u8>> {
    match (&request.cert_ids[..], &request.nonce) {
        ([only], None) => only.to_der().ok(),
        _ => None,
    }
}

impl View {
    /// A cached reply still in the first half of its validity.
    fn cached(&self, key: &[u8], now: i64) -> Option<OcspReply> {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let reply = cache.get(key)?;
        let (this_update, next_update) = reply.validity?;
        (now < this_update + (next_update - this_update) / 2).then(|| reply.clone())
    }

    fn remember(&self, key: Vec<u8>, reply: &OcspReply) {
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED_RESPONSES {
            cache.clear();
        }
        cache.insert(key, reply.clone());
    }
}

fn load_view(ledger: &dyn Ledger) -> Result<View> {
    let revision = ledger.revision()?;
    let crls = ledger.latest_crls()?;
    let mut cas = Vec::new();
    let mut issuers = Vec::new();
    for record in ledger.authorities()? {
        let crl = crls.iter().find(|c| c.issuer_id == record.id).cloned();
        let crl_der = match crl {
            Some(_) => ledger.latest_crl_der(record.id)?,
            None => None,
        };
        issuers.push(OcspIssuer::of(&record)?);
        cas.push(CaView { record, crl, crl_der });
    }
    Ok(View { revision, cas, issuers, cache: RwLock::new(HashMap::new()) })
}

/// Issues the HTTPS certificate: a fresh key, held only in memory.
fn issue_https(authority: &mut Authority, identity: &HttpsIdentity) -> Result<HttpsCert> {
    let issued_at = now();
    let mut request = IssueRequest::new(Profile::Server, &identity.name, KeySource::Generate(KeyType::P256));
    request.sans = identity.sans.clone();
    request.validity = identity.validity;
    request.ca = identity.ca.clone();
    let issued = authority.issue(request)?;
    let key = issued
        .private_key
        .as_ref()
        .ok_or_else(|| Error::Internal("the HTTPS key was not handed back".into()))?;
    let key = key.to_pkcs8_der().map_err(|e| Error::Internal(format!("the HTTPS key: {e}")))?;
    let mut chain = vec![issued.der().to_vec()];
    chain.extend(issued.chain.iter().cloned());
    Ok(HttpsCert { chain, key, lifetime: (issued_at, issued.not_after()) })
}

/// A CA whose key may sign: not revoked, not expired.
fn can_sign(ca: &CaRecord, now: i64) -> bool {
    crate::authority::check_ca_usable(ca, now, CaAction::SignCrl).is_ok()
}

/// A CRL is re-signed once past half of its lifetime, so that a peer that fetched it at any
/// time holds one valid for at least half a lifetime more.
fn crl_due(crl: Option<&CrlRecord>, now: i64) -> bool {
    match crl {
        None => true,
        Some(crl) => now >= crl.this_update + (crl.next_update - crl.this_update) / 2,
    }
}

fn now() -> i64 {
    crate::engine::now().unix_timestamp()
}

impl OnlineCa for OnlineAuthority {
    fn crl(&self, slug: &str) -> std::result::Result<Option<CrlBlob>, BackendError> {
        let view = self.view();
        let Some(ca) = view.cas.iter().find(|c| c.record.slug == slug) else { return Ok(None) };
        Ok(match (&ca.crl, &ca.crl_der) {
            (Some(crl), Some(der)) => Some(CrlBlob {
                der: der.clone(),
                number: crl.number.to_string(),
                this_update: crl.this_update,
                next_update: crl.next_update,
            }),
            _ => None,
        })
    }

    fn ca_certificate(&self, slug: &str) -> std::result::Result<Option<Vec<u8>>, BackendError> {
        Ok(self.view().cas.iter().find(|c| c.record.slug == slug).map(|c| c.record.cert_der.clone()))
    }

    fn ocsp(&self, request_der: &[u8]) -> std::result::Result<OcspAnswer, BackendError> {
        Ok(ocsp_answer(self.answer_ocsp(request_der)))
    }

    fn ocsp_cached(&self, request_der: &[u8]) -> Option<OcspAnswer> {
        self.cached_ocsp(request_der).map(ocsp_answer)
    }

    fn health(&self) -> Health {
        let now = now();
        let view = self.view();
        let mut problems = Vec::new();
        let cas = view
            .cas
            .iter()
            .map(|ca| {
                let can_sign = can_sign(&ca.record, now) && self.signer(ca.record.id).is_some();
                if !can_sign {
                    problems.push(format!("{} cannot sign", ca.record.name));
                }
                match &ca.crl {
                    None => problems.push(format!("{} has no CRL", ca.record.name)),
                    Some(crl) if crl.next_update <= now => {
                        problems.push(format!("the CRL of {} is past its nextUpdate", ca.record.name))
                    }
                    Some(_) => {}
                }
                CaHealth {
                    slug: ca.record.slug.clone(),
                    can_sign,
                    crl_this_update: ca.crl.as_ref().map(|c| c.this_update),
                    crl_next_update: ca.crl.as_ref().map(|c| c.next_update),
                }
            })
            .collect();
        Health { ok: problems.is_empty(), cas, problems }
    }

    fn gauges(&self) -> Vec<Gauge> {
        let now = now();
        let mut gauges = Vec::new();
        for ca in &self.view().cas {
            if let Some(crl) = &ca.crl {
                gauges.push(gauge(
                    "pkictl_crl_age_seconds",
                    "Seconds since the thisUpdate of the CA's newest CRL.",
                    vec![("ca".into(), ca.record.slug.clone())],
                    (now - crl.this_update) as f64,
                ));
                gauges.push(gauge(
                    "pkictl_crl_next_update_seconds",
                    "Seconds until the nextUpdate of the CA's newest CRL.",
                    vec![("ca".into(), ca.record.slug.clone())],
                    (crl.next_update - now) as f64,
                ));
            }
        }
        if let Ok(summary) = self.reader().certificate_summary(now) {
            for (status, count) in
                [("valid", summary.valid), ("revoked", summary.revoked), ("expired", summary.expired)]
            {
                gauges.push(gauge(
                    "pkictl_certificates",
                    "Certificates in the ledger, by status.",
                    vec![("status".into(), status.into())],
                    count as f64,
                ));
            }
            if let Some(next) = summary.next_expiry {
                gauges.push(gauge(
                    "pkictl_next_expiry_seconds",
                    "Seconds until the soonest notAfter of a valid certificate.",
                    vec![],
                    (next - now) as f64,
                ));
            }
        }
        gauges
    }
}

/// RFC 5019 caching: a cache may keep the answer for the first half of its validity, while
/// `serve` itself would still hand out the same one.
fn ocsp_answer(reply: OcspReply) -> OcspAnswer {
    let caching = reply.validity.map(|(this_update, next_update)| OcspCaching {
        this_update,
        next_update,
        max_age: u64::try_from(next_update - this_update).unwrap_or(0) / 2,
    });
    OcspAnswer { der: reply.der, caching, outcome: reply.outcome }
}

fn gauge(name: &str, help: &str, labels: Vec<(String, String)>, value: f64) -> Gauge {
    Gauge { name: name.into(), help: help.into(), labels, value }
}
