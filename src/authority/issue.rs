//! Issuing leaves: validate the names against the profile, sign, commit to the ledger with
//! the audit event, then hand over (and optionally write) the files. One path for a new key,
//! a CSR, a renewal and a batch.

use std::path::{Path, PathBuf};

use serde_json::json;
use time::Duration;

use super::output::{OutputDir, OutputFiles, PendingFile, write_pending};
use super::revoke::Revoked;
use super::{Authority, Warning, check_ca_usable};
use crate::engine::crl::Reason;
use crate::engine::csr::{self, RequestedSan, VerifiedCsr};
use crate::engine::leaf::{LeafRequest, build_leaf};
use crate::engine::profile::Profile;
use crate::engine::{self, BACKDATE, Signed, SigningCa, format_time};
use crate::error::{CaAction, Error, Result};
use crate::home;
use crate::keys::{KeyPair, KeyType, PublicKey, read_plain_key};
use crate::ledger::{
    CaRecord, CertStatus, CertificateRecord, Event, EventKind, KeyOrigin, LedgerError, LedgerResult,
    LedgerTx, NewCertificate,
};
use crate::names::{self, MAX_SANS, San};
use crate::x509::CertInfo;

/// X.520 upper bound for a commonName.
pub const MAX_CN_LEN: usize = 64;
/// A serial collision is astronomically rare; retrying a few times makes it harmless.
const SERIAL_ATTEMPTS: usize = 3;
/// Certificates per ledger transaction (and per directory fsync) in a batch.
const CHUNK: usize = 512;

/// Where the certified key comes from.
pub enum KeySource {
    /// A new key of this type, made here.
    Generate(KeyType),
    /// The key of a CSR whose signature verified.
    Csr(Box<VerifiedCsr>),
    /// A key certified before (renewal without rekey), with how it first came in.
    Existing {
        /// The public key.
        key: PublicKey,
        /// How it first came in.
        origin: KeyOrigin,
    },
}

/// A request for one leaf certificate.
pub struct IssueRequest {
    /// server, client or peer.
    pub profile: Profile,
    /// The common name; a CSR's CN when None.
    pub name: Option<String>,
    /// Names given explicitly; when empty and the key is a CSR's, the CSR's SANs are used.
    pub sans: Vec<San>,
    /// The key to certify.
    pub key: KeySource,
    /// How long the certificate is valid from now.
    pub validity: Duration,
    /// The issuing CA; the default issuing CA when None.
    pub ca: Option<String>,
    /// Where to write the four files; None hands everything back in [`Issued`].
    pub out: Option<OutputDir>,
}

impl IssueRequest {
    /// A leaf named `name` from the default issuing CA, valid 90 days; nothing is written
    /// (the outcome carries the certificate, its chain and any generated key).
    pub fn new(profile: Profile, name: &str, key: KeySource) -> IssueRequest {
        IssueRequest {
            profile,
            name: Some(name.to_string()),
            sans: Vec::new(),
            key,
            validity: Duration::days(90),
            ca: None,
            out: None,
        }
    }
}

/// A leaf that is signed and committed (and written, when asked).
pub struct Issued {
    /// Its profile.
    pub profile: Profile,
    /// Its commonName.
    pub common_name: String,
    /// Its subjectAltNames.
    pub sans: Vec<San>,
    /// The certificate and what it says.
    pub certificate: Signed,
    /// The CA that signed it.
    pub issuer: CaRecord,
    /// The CA certificates between it and the root (the root excluded).
    pub chain: Vec<Vec<u8>>,
    /// The certified key.
    pub public_key: PublicKey,
    /// A generated key that was not written to files: the caller's to keep.
    pub private_key: Option<KeyPair>,
    /// The files written.
    pub files: Option<OutputFiles>,
    /// What the caller should hear about.
    pub warnings: Vec<Warning>,
}

impl Issued {
    /// The certificate, DER.
    pub fn der(&self) -> &[u8] {
        &self.certificate.der
    }

    /// Its serial number.
    pub fn serial(&self) -> &crate::engine::serial::Serial {
        &self.certificate.info.serial
    }

    /// notAfter, Unix seconds.
    pub fn not_after(&self) -> i64 {
        self.certificate.info.not_after
    }
}

/// A validated leaf request.
pub(super) struct LeafPlan {
    pub(super) profile: Profile,
    pub(super) common_name: String,
    pub(super) sans: Vec<San>,
    pub(super) key: KeySource,
    pub(super) validity: Duration,
    pub(super) ca: Option<String>,
    pub(super) out: Option<OutputDir>,
    pub(super) warnings: Vec<Warning>,
    pub(super) renewed_from: Option<i64>,
    /// What the transaction that records the certificate must also do.
    pub(super) binding: Option<Binding>,
}

/// Something the certificate is issued for, settled in the transaction that records it, so
/// that no crash can leave one without the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Binding {
    /// An enrolment token, used up.
    Token(i64),
    /// A ready ACME order, completed with the certificate.
    AcmeOrder(i64),
}

/// Reads and verifies a CSR file; every failure names the file.
pub fn read_csr(path: &Path) -> Result<VerifiedCsr> {
    let bytes = home::read_input(path, home::limits::CSR)?;
    csr::parse_and_verify(&bytes, &path.display().to_string())
        .map_err(|e| Error::invalid(format!("CSR {} is refused: {e}", path.display())))
}

/// A common name as given: trimmed, not empty, no control characters, at most 64 characters.
pub fn validate_common_name(name: &str) -> Result<String> {
    if name.trim().is_empty() {
        return Err(Error::invalid("NAME must not be empty"));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "NAME \"{}\" contains control characters",
            crate::error::excerpt(name)
        )));
    }
    if name.chars().count() > MAX_CN_LEN {
        return Err(Error::CommonNameTooLong { name: name.to_string(), max: MAX_CN_LEN });
    }
    names::check_idn_labels(name.trim())?;
    Ok(name.trim().to_string())
}

/// The names of a leaf: what NAME itself is (a host, an address, an email, a URI), then
/// `extra`; each must fit the profile, and the profile's SAN rules must hold.
pub fn leaf_names(profile: Profile, common_name: &str, extra: Vec<San>) -> Result<Vec<San>> {
    let mut sans = names_of(profile, common_name);
    for san in extra {
        if !allowed_in(profile, &san) {
            return Err(Error::invalid(format!("a {profile} certificate cannot carry {san}")));
        }
        names::push_unique(&mut sans, san);
    }
    check_sans(profile, common_name, &sans)?;
    Ok(sans)
}

/// The SAN that NAME itself is, if any.
fn names_of(profile: Profile, common_name: &str) -> Vec<San> {
    names::san_from_name(common_name, profile == Profile::Client).into_iter().collect()
}

fn allowed_in(profile: Profile, san: &San) -> bool {
    match profile {
        Profile::Server => san.is_dns_or_ip(),
        Profile::Peer => !matches!(san, San::Email(_)),
        _ => true,
    }
}

fn check_sans(profile: Profile, name: &str, sans: &[San]) -> Result<()> {
    if sans.len() > MAX_SANS {
        return Err(Error::invalid(format!(
            "{} subjectAltNames requested; the limit is {MAX_SANS}",
            sans.len()
        )));
    }
    let needs_host = matches!(profile, Profile::Server | Profile::Peer);
    if needs_host && !sans.iter().any(San::is_dns_or_ip) {
        return Err(Error::NeedsHostName { profile, name: name.to_string() });
    }
    if sans.is_empty() {
        return Err(Error::NeedsSan { profile, name: name.to_string() });
    }
    Ok(())
}

/// Only the TLS leaf profiles can be asked for; CAs and responder certificates have their own paths.
pub(super) fn check_requestable(profile: Profile) -> Result<()> {
    if profile.is_requestable() {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "a {profile} certificate cannot be requested; ask for a server, client or peer certificate"
    )))
}

/// The CSR's SANs, validated like given names; kinds the profile does not carry are dropped
/// with a warning.
pub(super) fn sans_from_csr(
    c: &VerifiedCsr,
    profile: Profile,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<San>> {
    let mut sans = Vec::new();
    for requested in &c.requested_sans {
        let refused = |e: names::NameError| {
            Error::invalid(format!("CSR {} is refused: it requests a bad name: {e}", c.origin))
        };
        let san = match requested {
            RequestedSan::Dns(d) => San::Dns(names::parse_dns(d).map_err(refused)?),
            RequestedSan::Ip(ip) => San::Ip(*ip),
            RequestedSan::Email(e) => San::Email(names::parse_email(e).map_err(refused)?),
            RequestedSan::Uri(u) => San::Uri(names::parse_uri(u).map_err(refused)?),
            RequestedSan::Other(text) => {
                warnings.push(Warning::CsrSanUnsupported { san: text.clone() });
                continue;
            }
        };
        if allowed_in(profile, &san) {
            names::push_unique(&mut sans, san);
        } else {
            warnings.push(Warning::CsrSanNotInProfile { san, profile });
        }
    }
    Ok(sans)
}

impl LeafPlan {
    /// Validates everything about a leaf request before any key is touched.
    pub(super) fn new(request: IssueRequest) -> Result<LeafPlan> {
        check_requestable(request.profile)?;
        let mut warnings = Vec::new();
        let csr = match &request.key {
            KeySource::Csr(c) => Some(c.as_ref()),
            _ => None,
        };
        let name = match (request.name, csr) {
            (Some(n), _) => n,
            (None, Some(c)) => c.common_name.clone().ok_or(Error::CsrWithoutName)?,
            (None, None) => return Err(Error::invalid("a NAME is required")),
        };
        let common_name = validate_common_name(&name)?;
        let mut sans = names_of(request.profile, &common_name);
        let extra = match csr {
            Some(c) if request.sans.is_empty() => sans_from_csr(c, request.profile, &mut warnings)?,
            _ => request.sans,
        };
        for san in extra {
            names::push_unique(&mut sans, san);
        }
        check_sans(request.profile, &common_name, &sans).map_err(|e| match csr {
            Some(c) => Error::InCsr { origin: c.origin.clone(), problem: Box::new(e) },
            None => e,
        })?;
        if let Some(c) = csr {
            warnings.extend(
                c.ignored.iter().map(|what| Warning::CsrExtensionIgnored {
                    what: what.clone(),
                    profile: request.profile,
                }),
            );
        }
        Ok(LeafPlan {
            profile: request.profile,
            common_name,
            sans,
            key: request.key,
            validity: request.validity,
            ca: request.ca,
            out: request.out,
            warnings,
            renewed_from: None,
            binding: None,
        })
    }

    /// A plan whose names are already decided (by a token or an old certificate) for a CSR's
    /// key; the CSR's own names have been checked against them.
    pub(super) fn for_csr(
        profile: Profile,
        common_name: String,
        sans: Vec<San>,
        csr: VerifiedCsr,
        validity: Duration,
        ca: String,
    ) -> LeafPlan {
        LeafPlan {
            profile,
            common_name,
            sans,
            key: KeySource::Csr(Box::new(csr)),
            validity,
            ca: Some(ca),
            out: None,
            warnings: Vec::new(),
            renewed_from: None,
            binding: None,
        }
    }

    /// The successor of `old`: its subject, SANs, profile and issuer, linked to it; no files.
    pub(super) fn renewal(old: &CertificateRecord, key: KeySource, validity: Duration) -> LeafPlan {
        LeafPlan {
            profile: old.profile,
            common_name: old.common_name.clone().unwrap_or_default(),
            sans: old.sans.clone(),
            key,
            validity,
            ca: Some(old.issuer_name.clone()),
            out: None,
            warnings: Vec::new(),
            renewed_from: Some(old.id),
            binding: None,
        }
    }

    fn files(&self) -> Result<Option<OutputFiles>> {
        let Some(out) = self.out.as_ref() else { return Ok(None) };
        let mut files =
            OutputFiles::new(&out.dir, &self.common_name, matches!(self.key, KeySource::Generate(_)));
        match &self.key {
            KeySource::Csr(c) => files.keep_matching_key(&c.public_key)?,
            KeySource::Existing { key, .. } => files.keep_matching_key(key)?,
            KeySource::Generate(_) => {}
        }
        Ok(Some(files))
    }
}

impl Authority {
    /// Issues one leaf: check, sign, commit to the ledger, then write the files.
    pub fn issue(&mut self, request: IssueRequest) -> Result<Issued> {
        self.issue_plan(LeafPlan::new(request)?)
    }

    pub(super) fn issue_plan(&mut self, plan: LeafPlan) -> Result<Issued> {
        let issuer = self.find_ca(plan.ca.as_deref())?;
        let now = engine::now();
        check_ca_usable(&issuer, now.unix_timestamp(), CaAction::Issue)?;
        if let Some(out) = &plan.out {
            self.home.refuse_inside(&out.dir)?;
            home::check_output_dir(&out.dir)?;
        }
        let files = plan.files()?;
        if let (Some(out), Some(files)) = (&plan.out, &files) {
            files.check_free(out.force)?;
        }
        let signing_ca = self.signing_ca(&issuer)?;
        let (generated, public_key, origin) = match &plan.key {
            KeySource::Generate(t) => {
                let key = KeyPair::generate(*t)
                    .map_err(|source| Error::Key { what: plan.common_name.clone(), source })?;
                let public = key.public_key();
                (Some(key), public, KeyOrigin::Generated)
            }
            KeySource::Csr(c) => (None, c.public_key.clone(), KeyOrigin::Csr),
            KeySource::Existing { key, origin } => (None, key.clone(), *origin),
        };
        let request = LeafRequest {
            profile: plan.profile,
            common_name: &plan.common_name,
            sans: &plan.sans,
            public_key: &public_key,
            validity: plan.validity,
            now,
            verify_signature: true,
        };
        let chain = self.chain_der(&issuer)?;
        // The last check before signing: the files can be created, with room for them.
        let staged = files.as_ref().map(OutputFiles::stage).transpose()?;
        let signed =
            self.sign_and_record(&request, &signing_ca, &issuer, origin, plan.renewed_from, plan.binding)?;
        if let (Some(files), Some(staged)) = (&files, staged) {
            files.land(staged, &signed.der, generated.as_ref(), &chain).map_err(|(problem, keys_lost)| {
                Error::Undelivered {
                    serials: vec![signed.info.serial.hex()],
                    dir: files.dir().to_path_buf(),
                    keys_lost,
                    problem: Box::new(problem),
                }
            })?;
        }
        Ok(Issued {
            profile: plan.profile,
            common_name: plan.common_name,
            sans: plan.sans,
            certificate: signed,
            issuer,
            chain,
            public_key,
            private_key: if files.is_some() { None } else { generated },
            files,
            warnings: plan.warnings,
        })
    }

    /// Signs and commits in one transaction with its audit event; a serial that collides in
    /// the ledger is never issued: the certificate is signed again with a fresh serial.
    pub(super) fn sign_and_record(
        &mut self,
        request: &LeafRequest<'_>,
        signing_ca: &SigningCa,
        issuer: &CaRecord,
        origin: KeyOrigin,
        renewed_from: Option<i64>,
        binding: Option<Binding>,
    ) -> Result<Signed> {
        for _ in 0..SERIAL_ATTEMPTS {
            let signed = build_leaf(request, signing_ca)?;
            let now = engine::now().unix_timestamp();
            let leaf = Leaf { signed: &signed, request, issuer, origin, renewed_from, binding };
            match self.ledger.write(|tx| leaf.record(tx, now)) {
                Ok(()) => return Ok(signed),
                Err(LedgerError::DuplicateSerial { .. }) => continue,
                // Another request used the token, or finalized the order, between our check
                // and our commit.
                Err(LedgerError::Aborted(why)) if why == BINDING_GONE => return Err(binding_gone(binding)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Internal("could not draw a unique serial number".into()))
    }
}

/// Why a transaction that would use a token up, or complete an order, was abandoned.
const BINDING_GONE: &str = "the enrolment token or ACME order was used meanwhile";

fn binding_gone(binding: Option<Binding>) -> Error {
    match binding {
        Some(Binding::AcmeOrder(id)) => {
            Error::AcmeStale { object: crate::ledger::acme::AcmeObject::Order, id }
        }
        Some(Binding::Token(id)) => super::EnrolmentRefusal::TokenUsed { id }.into(),
        None => Error::Internal("a certificate transaction was abandoned".into()),
    }
}

/// One signed leaf on its way into the ledger.
struct Leaf<'a> {
    signed: &'a Signed,
    request: &'a LeafRequest<'a>,
    issuer: &'a CaRecord,
    origin: KeyOrigin,
    renewed_from: Option<i64>,
    binding: Option<Binding>,
}

impl Leaf<'_> {
    /// Records the certificate and its audit event in the caller's transaction.
    fn record(&self, tx: &dyn LedgerTx, now: i64) -> std::result::Result<(), LedgerError> {
        let info = &self.signed.info;
        let id = tx.insert_certificate(&NewCertificate {
            issuer_id: self.issuer.id,
            serial: &info.serial,
            profile: self.request.profile,
            subject: &info.subject,
            common_name: Some(self.request.common_name),
            sans: self.request.sans,
            key_type: self.request.public_key.key_type(),
            key_origin: self.origin,
            not_before: info.not_before,
            not_after: info.not_after,
            fingerprint_sha256: &info.fingerprint_sha256,
            der: &self.signed.der,
            renewed_from: self.renewed_from,
            authority_id: None,
            now,
        })?;
        let sans: Vec<String> = self.request.sans.iter().map(San::to_string).collect();
        tx.record_event(&Event {
            at: now,
            kind: EventKind::CertificateIssue,
            target: &info.serial.hex(),
            detail: json!({
                "ca": self.issuer.name,
                "renewed_from": self.renewed_from,
                "profile": self.request.profile.as_str(),
                "subject": info.subject,
                "sans": sans,
                "key_source": self.origin.as_str(),
                "not_after": format_time(info.not_after),
                "fingerprint_sha256": info.fingerprint_sha256,
                "token": match self.binding {
                    Some(Binding::Token(id)) => Some(id),
                    _ => None,
                },
            }),
        })?;
        match self.binding {
            Some(Binding::Token(token)) => self.use_token(tx, token, id, now),
            Some(Binding::AcmeOrder(order)) => self.complete_order(tx, order, id, now),
            None => Ok(()),
        }
    }

    fn use_token(&self, tx: &dyn LedgerTx, token: i64, certificate: i64, now: i64) -> LedgerResult<()> {
        if !tx.use_token(token, now, certificate)? {
            return Err(LedgerError::Aborted(BINDING_GONE.into()));
        }
        tx.record_event(&Event {
            at: now,
            kind: EventKind::TokenUse,
            target: &token.to_string(),
            detail: json!({ "serial": self.signed.info.serial.hex(), "name": self.request.common_name }),
        })
    }

    /// A ready order becomes valid with this certificate (processing only inside this
    /// transaction: issuance is synchronous).
    fn complete_order(&self, tx: &dyn LedgerTx, order: i64, certificate: i64, now: i64) -> LedgerResult<()> {
        use crate::ledger::acme::OrderStatus;
        if !tx.set_acme_order_status(order, OrderStatus::Ready, OrderStatus::Processing, None)?
            || !tx.link_acme_certificate(order, certificate)?
        {
            return Err(LedgerError::Aborted(BINDING_GONE.into()));
        }
        tx.record_event(&Event {
            at: now,
            kind: EventKind::AcmeOrderUpdate,
            target: &order.to_string(),
            detail: json!({ "status": "valid", "certificate": certificate, "serial": self.signed.info.serial.hex() }),
        })
    }
}

/// How a renewal gets its key.
#[derive(Debug, Clone)]
pub enum RenewKey {
    /// A new key: of this type, or the old certificate's type.
    Rekey(Option<KeyType>),
    /// The old key, given back from this file (it must match the old certificate).
    KeyFile(PathBuf),
    /// The old key as the ledger knows it: possible only for keys that came from a CSR.
    Keep,
}

/// A request to renew one certificate.
pub struct RenewRequest {
    /// The certificate, as a serial, fingerprint or name.
    pub certificate: String,
    /// Where the key comes from.
    pub key: RenewKey,
    /// The new lifetime; the old one when None.
    pub validity: Option<Duration>,
    /// Revoke the old certificate as superseded once the new one is issued.
    pub revoke_old: bool,
    /// Where to write the files.
    pub out: OutputDir,
}

/// A renewal's outcome.
pub struct Renewed {
    /// The new certificate.
    pub issued: Issued,
    /// The certificate it renews.
    pub old: CertificateRecord,
    /// The old certificate's revocation, when asked for.
    pub revoked: Option<Revoked>,
}

impl Authority {
    /// Renews a leaf: same subject, SANs, profile and issuer, linked to the old one.
    pub fn renew(&mut self, request: RenewRequest) -> Result<Renewed> {
        let old = self.find_one(&request.certificate)?;
        if old.profile.is_ca() {
            return Err(Error::RenewCa { serial: old.serial.hex() });
        }
        if old.profile == Profile::OcspResponder {
            return Err(Error::invalid(format!(
                "certificate {} is an OCSP responder certificate; the online CA issues a new one for itself instead of renewing",
                old.serial.hex()
            )));
        }
        let old_der = self.ledger.certificate_der(old.id)?;
        let old_info = CertInfo::from_der(&old_der).map_err(|e| Error::Internal(e.to_string()))?;
        let key = renewal_key(&request.key, &old, &old_info)?;
        let validity = request
            .validity
            .unwrap_or_else(|| Duration::seconds(old_info.not_after - old_info.not_before) - BACKDATE);
        let plan = LeafPlan { out: Some(request.out), ..LeafPlan::renewal(&old, key, validity) };
        let issued = self.issue_plan(plan)?;
        let revoked = if request.revoke_old && old.status == CertStatus::Valid {
            Some(self.revoke_record(&old, Reason::Superseded)?)
        } else {
            None
        };
        Ok(Renewed { issued, old, revoked })
    }
}

/// Which key the renewal certifies.
fn renewal_key(how: &RenewKey, old: &CertificateRecord, old_info: &CertInfo) -> Result<KeySource> {
    let old_key = || {
        PublicKey::from_spki_der(&old_info.spki_der)
            .map_err(|source| Error::Key { what: "the old certificate".into(), source })
    };
    match how {
        RenewKey::Rekey(key_type) => Ok(KeySource::Generate(key_type.unwrap_or(old.key_type))),
        RenewKey::KeyFile(path) => {
            let old_key = old_key()?;
            let key = read_plain_key(path)?;
            if key.public_key().bits() != old_key.bits() {
                return Err(Error::NotTheCertifiedKey { path: path.clone(), serial: old.serial.hex() });
            }
            Ok(KeySource::Existing { key: old_key, origin: KeyOrigin::Generated })
        }
        RenewKey::Keep if old.key_origin == KeyOrigin::Csr => {
            Ok(KeySource::Existing { key: old_key()?, origin: KeyOrigin::Csr })
        }
        RenewKey::Keep => Err(Error::OldKeyNotKept { serial: old.serial.hex() }),
    }
}

/// One validated line of a batch.
#[derive(Debug, Clone)]
pub struct BatchItem {
    /// Its commonName.
    pub common_name: String,
    /// Its names, validated with [`leaf_names`].
    pub sans: Vec<San>,
}

/// Many certificates of one profile, each with a new key, written into one directory.
pub struct BatchRequest {
    /// The profile of every certificate.
    pub profile: Profile,
    /// What to issue.
    pub items: Vec<BatchItem>,
    /// The type of every new key.
    pub key_type: KeyType,
    /// The lifetime of every certificate.
    pub validity: Duration,
    /// The issuing CA; the default when None.
    pub ca: Option<String>,
    /// Where the files go.
    pub out: OutputDir,
}

/// What one certificate of a batch became.
pub struct BatchIssued<'a> {
    /// The line it came from.
    pub item: &'a BatchItem,
    /// The certificate.
    pub certificate: &'a Signed,
    /// Its files.
    pub files: &'a OutputFiles,
}

/// One issued certificate of the batch, before it is recorded and written.
struct Made {
    key: KeyPair,
    signed: Signed,
}

impl Authority {
    /// Issues a batch: every output checked first, the CA unlocked once, keys made and signed
    /// on every core while the previous chunk is recorded (one transaction per chunk, committed
    /// before its files are written). `on_chunk` hears of each chunk once it is on disk.
    pub fn issue_batch(
        &mut self,
        request: &BatchRequest,
        on_chunk: &mut dyn FnMut(&CaRecord, &[BatchIssued<'_>]),
    ) -> Result<CaRecord> {
        self.home.refuse_inside(&request.out.dir)?;
        let files: Vec<OutputFiles> =
            request.items.iter().map(|i| OutputFiles::new(&request.out.dir, &i.common_name, true)).collect();
        for (number, f) in files.iter().enumerate() {
            f.check_free(request.out.force)
                .and_then(|()| f.check_not_in_the_way())
                .map_err(|e| Error::AtLine { line: number + 1, problem: Box::new(e) })?;
        }
        let issuer = self.find_ca(request.ca.as_deref())?;
        let now = engine::now();
        check_ca_usable(&issuer, now.unix_timestamp(), CaAction::Issue)?;
        let ca = self.signing_ca(&issuer)?;
        let chain = self.chain_der(&issuer)?;
        if let Some(first) = files.first() {
            drop(first.stage()?); // the directory takes files, with room for one certificate's
        }
        let batch = Batch { request, now, ca: &ca, issuer: &issuer, chain: &chain };
        let items = &request.items;
        // Signing the next chunk overlaps recording and writing this one.
        std::thread::scope(|scope| -> Result<()> {
            let (sender, receiver) = std::sync::mpsc::sync_channel::<Result<Vec<Made>>>(1);
            let batch = &batch;
            scope.spawn(move || {
                for chunk in items.chunks(CHUNK) {
                    if sender.send(batch.make(chunk)).is_err() {
                        break; // the consumer stopped on an error
                    }
                }
            });
            for (chunk, chunk_files) in items.chunks(CHUNK).zip(files.chunks(CHUNK)) {
                let mut made =
                    receiver.recv().map_err(|_| Error::Internal("the signing thread stopped".into()))??;
                batch.record(self.ledger.as_mut(), chunk, &mut made)?;
                batch.write(chunk_files, &made).map_err(|problem| Error::Undelivered {
                    serials: made.iter().map(|m| m.signed.info.serial.hex()).collect(),
                    dir: request.out.dir.clone(),
                    keys_lost: true,
                    problem: Box::new(problem),
                })?;
                let issued: Vec<BatchIssued<'_>> = chunk
                    .iter()
                    .zip(&made)
                    .zip(chunk_files)
                    .map(|((item, m), files)| BatchIssued { item, certificate: &m.signed, files })
                    .collect();
                on_chunk(&issuer, &issued);
            }
            Ok(())
        })?;
        Ok(issuer)
    }
}

struct Batch<'a> {
    request: &'a BatchRequest,
    now: time::OffsetDateTime,
    ca: &'a SigningCa,
    issuer: &'a CaRecord,
    chain: &'a [Vec<u8>],
}

impl Batch<'_> {
    /// Keys and signatures for a chunk, on every core.
    fn make(&self, chunk: &[BatchItem]) -> Result<Vec<Made>> {
        let workers =
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(chunk.len()).max(1);
        let per_worker = chunk.len().div_ceil(workers);
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .chunks(per_worker)
                .enumerate()
                .map(|(part_index, part)| {
                    scope.spawn(move || {
                        let verify_first = |i: usize| part_index == 0 && i == 0;
                        part.iter()
                            .enumerate()
                            .map(|(i, item)| self.make_one(item, verify_first(i)))
                            .collect::<Result<Vec<_>>>()
                    })
                })
                .collect();
            let mut made = Vec::with_capacity(chunk.len());
            for handle in handles {
                let part =
                    handle.join().map_err(|_| Error::Internal("a signing thread panicked".into()))??;
                made.extend(part);
            }
            Ok(made)
        })
    }

    /// One key and certificate; `verify` also checks the new signature (once per chunk).
    fn make_one(&self, item: &BatchItem, verify: bool) -> Result<Made> {
        let key = KeyPair::generate(self.request.key_type)
            .map_err(|source| Error::Key { what: item.common_name.clone(), source })?;
        let signed = build_leaf(&self.leaf_request(item, &key.public_key(), verify), self.ca)?;
        Ok(Made { key, signed })
    }

    fn leaf_request<'r>(
        &self,
        item: &'r BatchItem,
        public_key: &'r PublicKey,
        verify: bool,
    ) -> LeafRequest<'r> {
        LeafRequest {
            profile: self.request.profile,
            common_name: &item.common_name,
            sans: &item.sans,
            public_key,
            validity: self.request.validity,
            now: self.now,
            verify_signature: verify,
        }
    }

    /// One transaction for the chunk. A serial collision (never seen, but possible) re-signs
    /// that certificate and retries the chunk, so no serial is ever issued twice.
    fn record(
        &self,
        ledger: &mut dyn crate::ledger::Ledger,
        chunk: &[BatchItem],
        made: &mut [Made],
    ) -> Result<()> {
        for _ in 0..SERIAL_ATTEMPTS {
            let now = engine::now().unix_timestamp();
            let outcome = ledger.write(|tx| {
                for (item, m) in chunk.iter().zip(made.iter()) {
                    let public_key = m.key.public_key();
                    let request = self.leaf_request(item, &public_key, false);
                    let leaf = Leaf {
                        signed: &m.signed,
                        request: &request,
                        issuer: self.issuer,
                        origin: KeyOrigin::Generated,
                        renewed_from: None,
                        binding: None,
                    };
                    leaf.record(tx, now)?;
                }
                Ok(())
            });
            match outcome {
                Ok(()) => return Ok(()),
                Err(LedgerError::DuplicateSerial { serial }) => {
                    let index = made.iter().position(|m| m.signed.info.serial.ledger_hex() == serial);
                    let Some(index) = index else {
                        return Err(LedgerError::DuplicateSerial { serial }.into());
                    };
                    let public_key = made[index].key.public_key();
                    made[index].signed =
                        build_leaf(&self.leaf_request(&chunk[index], &public_key, true), self.ca)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Internal("could not draw unique serial numbers".into()))
    }

    fn write(&self, files: &[OutputFiles], made: &[Made]) -> Result<()> {
        let Some(dir) = files.first().map(|f| f.dir().to_path_buf()) else { return Ok(()) };
        let mut pending: Vec<PendingFile> = Vec::with_capacity(files.len() * 4);
        for (f, m) in files.iter().zip(made) {
            pending.extend(f.contents(&m.signed.der, Some(&m.key), self.chain)?);
        }
        write_pending(&dir, &pending, std::iter::empty())
    }
}
