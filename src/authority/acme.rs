//! ACME (RFC 8555) in the library: provisioners (who may get which names from which CA, with
//! which profile), their EAB keys, and the accounts, orders, authorizations and challenges the
//! ACME server keeps in the ledger. Status changes go through the RFC 8555 §7.1.6 state
//! machines of [`crate::ledger::acme`]; every change is one transaction with its audit event.

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::json;
use zeroize::Zeroizing;

use super::{Authority, check_ca_usable};
use crate::engine::csr::VerifiedCsr;
use crate::engine::policy::{DnsConstraint, check_dns_sans};
use crate::engine::profile::Profile;
use crate::engine::{self};
use crate::error::{CaAction, Error, Field, Result, excerpt};
use crate::ledger::acme::*;
use crate::ledger::{Event, EventKind, LedgerError, LedgerTx};
use crate::names::{San, parse_dns, parse_ip};
use crate::patterns::{DnsPattern, IpCidr};

/// The longest certificate a provisioner without a maximum validity issues by ACME.
const DEFAULT_ACME_VALIDITY: time::Duration = time::Duration::days(90);

/// Longest provisioner name: it is a path segment of the directory URL.
const MAX_NAME_LEN: usize = 64;

/// A request to add an ACME provisioner.
#[derive(Debug, Clone)]
pub struct AcmeProvisionerRequest {
    /// Its name: letters, digits, '-', '_' and '.', starting with a letter or digit.
    pub name: String,
    /// server, client or peer.
    pub profile: Profile,
    /// The signing CA; None for the home's default issuing CA.
    pub ca: Option<String>,
    /// DNS patterns (`api.example.com`, `*.svc.example.com`).
    pub allow: Vec<String>,
    /// IP ranges (`10.0.0.0/8`, `fd00::/8`).
    pub allow_ip: Vec<String>,
    /// The longest validity it issues; None: the profile's default.
    pub max_validity: Option<time::Duration>,
    /// Whether new accounts need External Account Binding.
    pub require_eab: bool,
}

impl AcmeProvisionerRequest {
    /// A provisioner `name` issuing `profile` certificates from the default CA, no patterns yet.
    pub fn new(name: &str, profile: Profile) -> AcmeProvisionerRequest {
        AcmeProvisionerRequest {
            name: name.to_string(),
            profile,
            ca: None,
            allow: Vec::new(),
            allow_ip: Vec::new(),
            max_validity: None,
            require_eab: false,
        }
    }
}

/// An ACME provisioner with the name constraints of its CA chain: what it may certify.
#[derive(Debug, Clone)]
pub struct Provisioner {
    /// As recorded.
    pub record: AcmeProvisionerRecord,
    constraints: Vec<DnsConstraint>,
}

/// Why a provisioner does not certify an identifier (RFC 8555 `rejectedIdentifier`, or
/// `malformed` for [`Refusal::Malformed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The identifier is not a valid name or address.
    Malformed {
        /// The identifier's value.
        value: String,
        /// Why.
        reason: String,
    },
    /// No pattern or range of the provisioner matches it.
    NotAllowed {
        /// The identifier.
        identifier: AcmeIdentifier,
        /// The provisioner.
        provisioner: String,
    },
    /// A CA of the chain may not certify it.
    OutsideConstraints {
        /// The name.
        name: String,
        /// The constraining CA.
        ca: String,
        /// Its permitted subtrees.
        permitted: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Malformed { reason, .. } => f.write_str(reason),
            Refusal::NotAllowed { identifier, provisioner } => write!(
                f,
                "{} identifier \"{}\" is not allowed by ACME provisioner \"{}\"",
                identifier.kind.as_str(),
                excerpt(&identifier.value),
                excerpt(provisioner)
            ),
            Refusal::OutsideConstraints { name, ca, permitted } => {
                write!(f, "{} is outside the names CA {ca} may certify ({permitted})", excerpt(name))
            }
        }
    }
}

impl Provisioner {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.record.name
    }

    /// The path of its ACME directory on `serve`'s HTTPS listener.
    pub fn directory_path(&self) -> String {
        format!("/acme/{}/directory", self.record.name)
    }

    /// Whether it certifies `identifier`: a DNS name (a wildcard `*.x` only through a subtree
    /// pattern) matching one of its patterns and inside its CA chain's name constraints, or an
    /// IP address inside one of its ranges. Names are compared lower-cased; a trailing dot is
    /// malformed.
    pub fn allows(&self, identifier: &AcmeIdentifier) -> std::result::Result<(), Refusal> {
        let not_allowed =
            || Refusal::NotAllowed { identifier: identifier.clone(), provisioner: self.record.name.clone() };
        let malformed = |reason: String| Refusal::Malformed { value: identifier.value.clone(), reason };
        match identifier.kind {
            IdentifierType::Dns => {
                let name = parse_dns(&identifier.value).map_err(|e| malformed(e.to_string()))?;
                if !self.record.allowed_dns.iter().any(|p| p.matches(&name)) {
                    return Err(not_allowed());
                }
                check_dns_sans(&[San::Dns(name.clone())], &self.constraints).map_err(|e| match e {
                    crate::engine::EngineError::NameConstraint { name, ca, permitted } => {
                        Refusal::OutsideConstraints { name, ca, permitted }
                    }
                    other => malformed(other.to_string()),
                })
            }
            IdentifierType::Ip => {
                let address = parse_ip(&identifier.value).map_err(|e| malformed(e.to_string()))?;
                if self.record.allowed_ips.iter().any(|c| c.contains(address)) {
                    Ok(())
                } else {
                    Err(not_allowed())
                }
            }
        }
    }
}

/// A new EAB key: shown once, never again.
pub struct EabKey {
    /// The provisioner it belongs to.
    pub provisioner: String,
    /// The key id a client sends.
    pub key_id: String,
    /// The HMAC-SHA256 key, 256 random bits, base64url without padding.
    pub hmac_key: Zeroizing<String>,
}

impl fmt::Debug for EabKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EabKey")
            .field("provisioner", &self.provisioner)
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// What removing a provisioner did.
#[derive(Debug, Clone)]
pub struct RemovedProvisioner {
    /// As it was recorded (now removed).
    pub record: AcmeProvisionerRecord,
}

/// A request for a new ACME account.
#[derive(Debug, Clone)]
pub struct NewAccountRequest {
    /// The provisioner's id.
    pub provisioner_id: i64,
    /// RFC 7638 thumbprint of the account key, base64url.
    pub jwk_thumbprint: String,
    /// The account key, JWK JSON.
    pub jwk: String,
    /// Contact URLs.
    pub contacts: Vec<String>,
    /// The EAB key id the request was bound with (its HMAC already verified).
    pub eab_key_id: Option<String>,
}

/// A request for a new ACME order.
#[derive(Debug, Clone)]
pub struct NewOrderRequest {
    /// The account.
    pub account_id: i64,
    /// What it asks for.
    pub identifiers: Vec<AcmeIdentifier>,
    /// notBefore asked for.
    pub not_before: Option<i64>,
    /// notAfter asked for.
    pub not_after: Option<i64>,
    /// How long the order and its authorizations stay pending.
    pub lifetime: time::Duration,
    /// The account's hourly limits.
    pub limits: AcmeLimits,
}

/// What one ACME account may do in an hour (a client in a loop must not fill the ledger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcmeLimits {
    /// New orders per account per hour.
    pub orders_per_hour: u32,
    /// Orders per account per hour that may end invalid (failed validations, refused CSRs)
    /// before new orders are refused.
    pub failed_orders_per_hour: u32,
}

impl Default for AcmeLimits {
    fn default() -> AcmeLimits {
        AcmeLimits { orders_per_hour: 300, failed_orders_per_hour: 60 }
    }
}

/// Which of an account's [`AcmeLimits`] was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeLimit {
    /// New orders per hour.
    Orders,
    /// Failed orders per hour.
    FailedOrders,
}

impl AcmeLimit {
    /// Its name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            AcmeLimit::Orders => "new orders",
            AcmeLimit::FailedOrders => "failed orders",
        }
    }
}

const HOUR: i64 = 3600;

/// Refuses a new order when the account placed, or saw fail, its hourly quota of orders in
/// the last hour; the error says when the oldest of them leaves the window.
fn check_rate(window: &AcmeOrderWindow, account: i64, limits: AcmeLimits, now: i64) -> Result<()> {
    for (limit, max, count, oldest) in [
        (AcmeLimit::Orders, limits.orders_per_hour, window.orders, window.oldest),
        (AcmeLimit::FailedOrders, limits.failed_orders_per_hour, window.failed, window.oldest_failed),
    ] {
        if count >= i64::from(max) {
            let retry_after = (oldest.unwrap_or(now) + HOUR - now).max(1);
            return Err(Error::AcmeRateLimited { account, limit, max, retry_after });
        }
    }
    Ok(())
}

/// An order with its authorizations and their challenges.
#[derive(Debug, Clone)]
pub struct AcmeOrderView {
    /// The order.
    pub order: AcmeOrderRecord,
    /// Its authorizations, each with its challenges.
    pub authorizations: Vec<(AcmeAuthorizationRecord, Vec<AcmeChallengeRecord>)>,
}

fn now() -> i64 {
    engine::now().unix_timestamp()
}

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

fn random_token() -> Result<String> {
    let bytes = crate::keys::random_secret::<32>()
        .map_err(|source| Error::Key { what: "an ACME token".into(), source })?;
    Ok(b64(bytes.as_ref()))
}

/// Letters, digits, '-', '_' and '.', starting with a letter or digit: a safe URL path segment.
fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        return Ok(());
    }
    Err(Error::InvalidField {
        field: Field::AcmeProvisionerName,
        problem: format!(
            "\"{}\" is not a provisioner name: 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.', starting with a letter or digit (it is part of the directory URL)",
            excerpt(name)
        ),
    })
}

fn parse_patterns(texts: &[String]) -> Result<Vec<DnsPattern>> {
    let mut out: Vec<DnsPattern> = Vec::new();
    for text in texts {
        let pattern = DnsPattern::parse(text)
            .map_err(|problem| Error::InvalidField { field: Field::AcmePattern, problem })?;
        if !out.contains(&pattern) {
            out.push(pattern);
        }
    }
    Ok(out)
}

fn parse_ranges(texts: &[String]) -> Result<Vec<IpCidr>> {
    let mut out: Vec<IpCidr> = Vec::new();
    for text in texts {
        let cidr = IpCidr::parse(text)
            .map_err(|problem| Error::InvalidField { field: Field::AcmeIpRange, problem })?;
        if !out.contains(&cidr) {
            out.push(cidr);
        }
    }
    Ok(out)
}

/// A pattern that no constrained CA of the chain could ever certify a name of is refused.
fn check_pattern_constraints(patterns: &[DnsPattern], chain: &[DnsConstraint]) -> Result<()> {
    use crate::engine::policy::dns_name_within;
    for constraint in chain.iter().filter(|c| !c.permitted.is_empty()) {
        for pattern in patterns {
            let base = pattern.base();
            let overlaps = constraint.permitted.iter().any(|subtree| {
                let subtree = subtree.trim_start_matches('.');
                dns_name_within(base, subtree)
                    || matches!(pattern, DnsPattern::Below(_))
                        && dns_name_within(subtree, base)
                        && subtree != base
            });
            if !overlaps {
                return Err(Error::AcmePatternOutsideConstraints {
                    pattern: pattern.to_string(),
                    ca: constraint.ca.clone(),
                    permitted: constraint.permitted.join(", "),
                });
            }
        }
    }
    Ok(())
}

fn is_duplicate(e: &LedgerError) -> bool {
    matches!(e, LedgerError::Duplicate { .. })
}

/// Records an ACME event in the transaction.
fn event(
    tx: &dyn LedgerTx,
    kind: EventKind,
    target: &str,
    detail: serde_json::Value,
) -> crate::ledger::LedgerResult<()> {
    tx.record_event(&Event { at: now(), kind, target, detail })
}

fn stale(object: AcmeObject, id: i64) -> Error {
    Error::AcmeStale { object, id }
}

impl Authority {
    fn provisioner(&self, record: AcmeProvisionerRecord) -> Result<Provisioner> {
        let ca = self.ca_by_id(record.authority_id)?;
        Ok(Provisioner { constraints: self.name_constraints(&ca)?, record })
    }

    /// Adds an ACME provisioner: its patterns and ranges are parsed strictly, and a pattern
    /// wholly outside its CA's name constraints is refused.
    pub fn add_acme_provisioner(&mut self, request: &AcmeProvisionerRequest) -> Result<Provisioner> {
        validate_name(&request.name)?;
        if !matches!(request.profile, Profile::Server | Profile::Client | Profile::Peer) {
            return Err(Error::invalid(format!(
                "an ACME provisioner issues server, client or peer certificates, not {}",
                request.profile
            )));
        }
        let patterns = parse_patterns(&request.allow)?;
        let ranges = parse_ranges(&request.allow_ip)?;
        if patterns.is_empty() && ranges.is_empty() {
            return Err(Error::InvalidField {
                field: Field::AcmePattern,
                problem: "an ACME provisioner needs at least one DNS pattern or IP range to allow".into(),
            });
        }
        let max_validity_secs = request.max_validity.map(|d| d.whole_seconds());
        if max_validity_secs.is_some_and(|s| s <= 0) {
            return Err(Error::InvalidField {
                field: Field::MaxValidity,
                problem: "must be longer than zero".into(),
            });
        }
        let ca = self.find_ca(request.ca.as_deref())?;
        let at = now();
        check_ca_usable(&ca, at, CaAction::Issue)?;
        check_pattern_constraints(&patterns, &self.name_constraints(&ca)?)?;
        let new = NewAcmeProvisioner {
            name: &request.name,
            authority_id: ca.id,
            profile: request.profile,
            allowed_dns: &patterns,
            allowed_ips: &ranges,
            max_validity_secs,
            require_eab: request.require_eab,
            now: at,
        };
        let detail = json!({
            "ca": ca.name,
            "profile": request.profile.as_str(),
            "allow": patterns.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "allow_ip": ranges.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "max_validity_secs": max_validity_secs,
            "require_eab": request.require_eab,
        });
        let id = self
            .ledger
            .write(|tx| {
                let id = tx.insert_acme_provisioner(&new)?;
                event(tx, EventKind::AcmeProvisionerAdd, &request.name, detail.clone())?;
                Ok(id)
            })
            .map_err(|e| {
                if is_duplicate(&e) {
                    Error::AcmeProvisionerTaken { name: request.name.clone() }
                } else {
                    e.into()
                }
            })?;
        self.acme_provisioner_by_id(id)
    }

    /// The serving ACME provisioners, by name.
    pub fn acme_provisioners(&self) -> Result<Vec<Provisioner>> {
        self.ledger.acme_provisioners(false)?.into_iter().map(|r| self.provisioner(r)).collect()
    }

    /// The serving ACME provisioner of this name.
    pub fn acme_provisioner(&self, name: &str) -> Result<Provisioner> {
        let record = self
            .ledger
            .acme_provisioner_by_name(name)?
            .ok_or_else(|| Error::UnknownAcmeProvisioner { name: name.to_string() })?;
        self.provisioner(record)
    }

    /// An ACME provisioner by ledger id, removed or not.
    pub fn acme_provisioner_by_id(&self, id: i64) -> Result<Provisioner> {
        let record = self
            .ledger
            .acme_provisioner_by_id(id)?
            .ok_or_else(|| Error::Internal(format!("ACME provisioner #{id} is missing from the ledger")))?;
        self.provisioner(record)
    }

    /// Removes a provisioner: it serves no more, and its accounts, orders and certificates
    /// stay in the ledger (certificates stay valid). One with accounts is removed only with
    /// `force`, since their clients renew through it.
    pub fn remove_acme_provisioner(&mut self, name: &str, force: bool) -> Result<RemovedProvisioner> {
        let provisioner = self.acme_provisioner(name)?;
        let record = provisioner.record;
        if record.accounts > 0 && !force {
            return Err(Error::AcmeProvisionerInUse { name: record.name, accounts: record.accounts });
        }
        let at = now();
        let removed = self.ledger.write(|tx| {
            let removed = tx.remove_acme_provisioner(record.id, at)?;
            if removed {
                event(
                    tx,
                    EventKind::AcmeProvisionerRemove,
                    &record.name,
                    json!({ "accounts": record.accounts, "forced": force }),
                )?;
            }
            Ok(removed)
        })?;
        if !removed {
            return Err(Error::UnknownAcmeProvisioner { name: name.to_string() });
        }
        Ok(RemovedProvisioner { record: AcmeProvisionerRecord { removed_at: Some(at), ..record } })
    }

    /// Makes an EAB key for a provisioner: a random key id and a 256-bit HMAC-SHA256 key. The
    /// ledger holds the HMAC key (verifying EAB needs it); the caller shows it once.
    pub fn create_eab_key(&mut self, name: &str) -> Result<EabKey> {
        let provisioner = self.acme_provisioner(name)?.record;
        let secret = |what: &str| {
            let what = what.to_string();
            move |source| Error::Key { what, source }
        };
        let key_id = b64(crate::keys::random_secret::<16>().map_err(secret("an EAB key id"))?.as_ref());
        let hmac = crate::keys::random_secret::<32>().map_err(secret("an EAB key"))?;
        let at = now();
        self.ledger.write(|tx| {
            tx.insert_acme_eab_key(provisioner.id, &key_id, hmac.as_ref(), at)?;
            event(tx, EventKind::AcmeEabCreate, &provisioner.name, json!({ "key_id": key_id }))
        })?;
        Ok(EabKey { provisioner: provisioner.name, key_id, hmac_key: Zeroizing::new(b64(hmac.as_ref())) })
    }

    /// An EAB key and its HMAC key, for verifying a newAccount request's binding.
    pub fn acme_eab_hmac_key(&self, key_id: &str) -> Result<Option<(AcmeEabKeyRecord, Zeroizing<Vec<u8>>)>> {
        Ok(self.ledger.acme_eab_key(key_id)?)
    }

    /// Creates a valid account (bound to its EAB key, in the same transaction). A provisioner
    /// that requires EAB refuses an account without one.
    pub fn create_acme_account(&mut self, request: &NewAccountRequest) -> Result<AcmeAccountRecord> {
        let provisioner = self.acme_provisioner_by_id(request.provisioner_id)?.record;
        if provisioner.removed_at.is_some() {
            return Err(Error::UnknownAcmeProvisioner { name: provisioner.name });
        }
        if provisioner.require_eab && request.eab_key_id.is_none() {
            return Err(Error::AcmeEabRequired { provisioner: provisioner.name });
        }
        if let Some(kid) = &request.eab_key_id {
            let usable = self
                .ledger
                .acme_eab_key(kid)?
                .is_some_and(|(k, _)| k.provisioner_id == provisioner.id && k.account_id.is_none());
            if !usable {
                return Err(Error::AcmeEabKeyUnusable { key_id: kid.clone() });
            }
        }
        let at = now();
        let new = NewAcmeAccount {
            provisioner_id: provisioner.id,
            jwk_thumbprint: &request.jwk_thumbprint,
            jwk: &request.jwk,
            contacts: &request.contacts,
            eab_key_id: request.eab_key_id.as_deref(),
            now: at,
        };
        let id = self.ledger.write(|tx| {
            let id = tx.insert_acme_account(&new)?;
            if let Some(kid) = new.eab_key_id
                && !tx.bind_acme_eab_key(kid, id, at)?
            {
                return Err(LedgerError::Aborted(format!("EAB key {kid} was bound meanwhile")));
            }
            event(
                tx,
                EventKind::AcmeAccountCreate,
                &provisioner.name,
                json!({ "account": id, "eab_key_id": new.eab_key_id }),
            )?;
            Ok(id)
        });
        let id = match id {
            Ok(id) => id,
            Err(LedgerError::Aborted(_)) => {
                return Err(Error::AcmeEabKeyUnusable {
                    key_id: request.eab_key_id.clone().unwrap_or_default(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        self.acme_account(id)
    }

    /// An ACME account by id.
    pub fn acme_account(&self, id: i64) -> Result<AcmeAccountRecord> {
        self.ledger.acme_account_by_id(id)?.ok_or(Error::AcmeNotFound { object: AcmeObject::Account, id })
    }

    /// The account registered with this key at a provisioner (`onlyReturnExisting`).
    pub fn acme_account_by_key(
        &self,
        provisioner_id: i64,
        thumbprint: &str,
    ) -> Result<Option<AcmeAccountRecord>> {
        Ok(self.ledger.acme_account_by_thumbprint(provisioner_id, thumbprint)?)
    }

    /// Deactivates (client) or revokes (server) an account, as RFC 8555 allows.
    pub fn set_acme_account_status(&mut self, id: i64, to: AccountStatus) -> Result<AcmeAccountRecord> {
        let account = self.acme_account(id)?;
        account.status.transition(to)?;
        let changed = self.ledger.write(|tx| {
            let changed = tx.set_acme_account_status(id, account.status, to)?;
            if changed {
                event(tx, EventKind::AcmeAccountUpdate, &id.to_string(), json!({ "status": to.as_str() }))?;
            }
            Ok(changed)
        })?;
        if !changed {
            return Err(stale(AcmeObject::Account, id));
        }
        self.acme_account(id)
    }

    /// Replaces a valid account's contacts.
    pub fn set_acme_account_contacts(&mut self, id: i64, contacts: &[String]) -> Result<AcmeAccountRecord> {
        let changed = self.ledger.write(|tx| {
            let changed = tx.set_acme_account_contacts(id, contacts)?;
            if changed {
                event(tx, EventKind::AcmeAccountUpdate, &id.to_string(), json!({ "contacts": contacts }))?;
            }
            Ok(changed)
        })?;
        if !changed {
            return Err(stale(AcmeObject::Account, id));
        }
        self.acme_account(id)
    }

    /// Replaces a valid account's key (keyChange); a key another account of the provisioner
    /// holds is a conflict.
    pub fn change_acme_account_key(
        &mut self,
        id: i64,
        thumbprint: &str,
        jwk: &str,
    ) -> Result<AcmeAccountRecord> {
        let changed = self.ledger.write(|tx| {
            let changed = tx.set_acme_account_key(id, thumbprint, jwk)?;
            if changed {
                event(
                    tx,
                    EventKind::AcmeAccountUpdate,
                    &id.to_string(),
                    json!({ "jwk_thumbprint": thumbprint }),
                )?;
            }
            Ok(changed)
        })?;
        if !changed {
            return Err(stale(AcmeObject::Account, id));
        }
        self.acme_account(id)
    }

    /// Creates a pending order after checking every identifier against the account's
    /// provisioner (the first refusal is the error, before anything is recorded), with one
    /// pending authorization per identifier and its challenges: http-01, dns-01 and
    /// tls-alpn-01 for a DNS name, dns-01 only for a wildcard, http-01 and tls-alpn-01 for an
    /// IP address (RFC 8738).
    pub fn create_acme_order(&mut self, request: &NewOrderRequest) -> Result<AcmeOrderView> {
        let account = self.acme_account(request.account_id)?;
        if account.status != AccountStatus::Valid {
            return Err(Error::AcmeAccountUnusable { id: account.id, status: account.status });
        }
        let provisioner = self.acme_provisioner_by_id(account.provisioner_id)?;
        if provisioner.record.removed_at.is_some() {
            return Err(Error::UnknownAcmeProvisioner { name: provisioner.record.name });
        }
        if request.identifiers.is_empty() {
            return Err(Error::invalid("an ACME order needs at least one identifier"));
        }
        for identifier in &request.identifiers {
            provisioner.allows(identifier).map_err(Error::AcmeIdentifierRefused)?;
        }
        let at = now();
        check_rate(&self.ledger.acme_order_window(account.id, at - HOUR)?, account.id, request.limits, at)?;
        let plans = request.identifiers.iter().map(plan_authorization).collect::<Result<Vec<_>>>()?;
        let expires_at = at + request.lifetime.whole_seconds();
        let order = NewAcmeOrder {
            account_id: account.id,
            expires_at,
            identifiers: &request.identifiers,
            not_before: request.not_before,
            not_after: request.not_after,
            now: at,
        };
        let id = self.ledger.write(|tx| {
            let id = tx.insert_acme_order(&order)?;
            for plan in &plans {
                let authz = tx.insert_acme_authorization(&NewAcmeAuthorization {
                    order_id: id,
                    identifier: &plan.identifier,
                    wildcard: plan.wildcard,
                    expires_at,
                    now: at,
                })?;
                for (kind, token) in &plan.challenges {
                    tx.insert_acme_challenge(&NewAcmeChallenge {
                        authorization_id: authz,
                        kind: *kind,
                        token,
                        now: at,
                    })?;
                }
            }
            event(
                tx,
                EventKind::AcmeOrderCreate,
                &provisioner.record.name,
                json!({ "order": id, "account": account.id, "identifiers": request.identifiers }),
            )?;
            Ok(id)
        })?;
        self.acme_order_view(id)
    }

    /// An order with its authorizations and challenges.
    pub fn acme_order_view(&self, id: i64) -> Result<AcmeOrderView> {
        let order = self.acme_order(id)?;
        let mut authorizations = Vec::new();
        for authz in self.ledger.acme_authorizations_of_order(id)? {
            let challenges = self.ledger.acme_challenges_of_authorization(authz.id)?;
            authorizations.push((authz, challenges));
        }
        Ok(AcmeOrderView { order, authorizations })
    }

    /// An ACME order by id.
    pub fn acme_order(&self, id: i64) -> Result<AcmeOrderRecord> {
        self.ledger.acme_order_by_id(id)?.ok_or(Error::AcmeNotFound { object: AcmeObject::Order, id })
    }

    /// Every order of an ACME account, oldest first.
    pub fn acme_orders_of_account(&self, account_id: i64) -> Result<Vec<AcmeOrderRecord>> {
        Ok(self.ledger.acme_orders_of_account(account_id)?)
    }

    /// An ACME authorization by id.
    pub fn acme_authorization(&self, id: i64) -> Result<AcmeAuthorizationRecord> {
        self.ledger
            .acme_authorization_by_id(id)?
            .ok_or(Error::AcmeNotFound { object: AcmeObject::Authorization, id })
    }

    /// An ACME challenge by id.
    pub fn acme_challenge(&self, id: i64) -> Result<AcmeChallengeRecord> {
        self.ledger.acme_challenge_by_id(id)?.ok_or(Error::AcmeNotFound { object: AcmeObject::Challenge, id })
    }

    /// The challenge that holds a token (an http-01 answer is looked up by it).
    pub fn acme_challenge_by_token(&self, token: &str) -> Result<Option<AcmeChallengeRecord>> {
        Ok(self.ledger.acme_challenge_by_token(token)?)
    }

    /// Moves an order to `to` (with a problem document for `invalid`), as RFC 8555 allows.
    pub fn set_acme_order_status(
        &mut self,
        id: i64,
        to: OrderStatus,
        error: Option<&serde_json::Value>,
    ) -> Result<AcmeOrderRecord> {
        let order = self.acme_order(id)?;
        // An expired pending or ready order can only be marked invalid.
        order
            .status
            .at(order.expires_at, now())
            .transition(to)
            .or_else(|e| if to == OrderStatus::Invalid { Ok(to) } else { Err(e) })?;
        order.status.transition(to)?;
        let changed = self.ledger.write(|tx| {
            let changed = tx.set_acme_order_status(id, order.status, to, error)?;
            if changed {
                event(tx, EventKind::AcmeOrderUpdate, &id.to_string(), json!({ "status": to.as_str() }))?;
            }
            Ok(changed)
        })?;
        if !changed {
            return Err(stale(AcmeObject::Order, id));
        }
        self.acme_order(id)
    }

    /// Moves an authorization to `to`, as RFC 8555 allows.
    pub fn set_acme_authorization_status(
        &mut self,
        id: i64,
        to: AuthorizationStatus,
    ) -> Result<AcmeAuthorizationRecord> {
        let authz = self.acme_authorization(id)?;
        // An authorization past its expiry can only be marked expired.
        authz
            .status
            .at(authz.expires_at, now())
            .transition(to)
            .or_else(|e| if to == AuthorizationStatus::Expired { Ok(to) } else { Err(e) })?;
        authz.status.transition(to)?;
        let changed = self.ledger.write(|tx| {
            let changed = tx.set_acme_authorization_status(id, authz.status, to)?;
            if changed {
                event(
                    tx,
                    EventKind::AcmeAuthorizationUpdate,
                    &id.to_string(),
                    json!({ "status": to.as_str() }),
                )?;
            }
            Ok(changed)
        })?;
        if !changed {
            return Err(stale(AcmeObject::Authorization, id));
        }
        self.acme_authorization(id)
    }

    /// Records what validating a processing challenge found, in one transaction: `Ok(record)`
    /// makes the challenge valid (with its validation record), its authorization valid and
    /// its pending order ready once every authorization is valid; `Err(problem)` makes the
    /// challenge, its authorization and its pending order invalid with that problem document.
    pub fn record_acme_validation(
        &mut self,
        challenge_id: i64,
        outcome: &std::result::Result<serde_json::Value, serde_json::Value>,
    ) -> Result<AcmeChallengeRecord> {
        let challenge = self.acme_challenge(challenge_id)?;
        let authz = self.acme_authorization(challenge.authorization_id)?;
        let order = self.acme_order(authz.order_id)?;
        let siblings = self.ledger.acme_authorizations_of_order(order.id)?;
        let at = now();
        let (record, error) = match outcome {
            Ok(record) => (Some(record), None),
            Err(problem) => (None, Some(problem)),
        };
        let (challenge_to, authz_to) = match error {
            None => (ChallengeStatus::Valid, AuthorizationStatus::Valid),
            Some(_) => (ChallengeStatus::Invalid, AuthorizationStatus::Invalid),
        };
        challenge.status.transition(challenge_to)?;
        authz.status.at(authz.expires_at, at).transition(authz_to)?;
        let others_valid = siblings
            .iter()
            .filter(|a| a.id != authz.id)
            .all(|a| a.status.at(a.expires_at, at) == AuthorizationStatus::Valid);
        let order_to = match (order.status.at(order.expires_at, at), error) {
            (OrderStatus::Pending, None) if others_valid => Some(OrderStatus::Ready),
            (OrderStatus::Pending, Some(_)) => Some(OrderStatus::Invalid),
            _ => None,
        };
        let update = ChallengeUpdate {
            from: challenge.status,
            to: challenge_to,
            validated_at: record.is_some().then_some(at),
            error,
            validation_record: record,
        };
        let moved = "an ACME object changed while its validation was recorded";
        let recorded = self.ledger.write(|tx| {
            let id = challenge_id.to_string();
            if !tx.update_acme_challenge(challenge_id, &update)? {
                return Err(LedgerError::Aborted(moved.into()));
            }
            event(tx, EventKind::AcmeChallengeUpdate, &id, json!({ "status": challenge_to.as_str() }))?;
            if !tx.set_acme_authorization_status(authz.id, authz.status, authz_to)? {
                return Err(LedgerError::Aborted(moved.into()));
            }
            let target = authz.id.to_string();
            event(tx, EventKind::AcmeAuthorizationUpdate, &target, json!({ "status": authz_to.as_str() }))?;
            if let Some(to) = order_to {
                if !tx.set_acme_order_status(order.id, order.status, to, error)? {
                    return Err(LedgerError::Aborted(moved.into()));
                }
                event(
                    tx,
                    EventKind::AcmeOrderUpdate,
                    &order.id.to_string(),
                    json!({ "status": to.as_str() }),
                )?;
            }
            Ok(())
        });
        match recorded {
            Ok(()) => self.acme_challenge(challenge_id),
            Err(LedgerError::Aborted(why)) if why == moved => Err(stale(AcmeObject::Challenge, challenge_id)),
            Err(e) => Err(e.into()),
        }
    }

    /// Moves a challenge to `to` with what its validation saw, as RFC 8555 allows.
    pub fn update_acme_challenge(
        &mut self,
        id: i64,
        to: ChallengeStatus,
        error: Option<&serde_json::Value>,
        validation_record: Option<&serde_json::Value>,
    ) -> Result<AcmeChallengeRecord> {
        let challenge = self.acme_challenge(id)?;
        challenge.status.transition(to)?;
        let at = now();
        let update = ChallengeUpdate {
            from: challenge.status,
            to,
            validated_at: (to == ChallengeStatus::Valid).then_some(at),
            error,
            validation_record,
        };
        let changed = self.ledger.write(|tx| {
            let changed = tx.update_acme_challenge(id, &update)?;
            if changed {
                event(tx, EventKind::AcmeChallengeUpdate, &id.to_string(), json!({ "status": to.as_str() }))?;
            }
            Ok(changed)
        })?;
        if !changed {
            return Err(stale(AcmeObject::Challenge, id));
        }
        self.acme_challenge(id)
    }

    /// An ACME order's certificate, DER, and the CA certificates above it (not the root).
    pub fn acme_certificate_chain(&self, certificate_id: i64) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
        let record = self.ledger.certificate_by_id(certificate_id)?.ok_or_else(|| {
            Error::Internal(format!(
                "certificate #{certificate_id} of an ACME order is missing from the ledger"
            ))
        })?;
        Ok((self.ledger.certificate_der(certificate_id)?, self.certificate_chain(&record)?))
    }

    /// A processing order becomes valid with its certificate, linked to its account (`show`
    /// prints the link, `list --acme` filters by it).
    pub fn link_acme_certificate(&mut self, order_id: i64, certificate_id: i64) -> Result<AcmeOrderRecord> {
        let order = self.acme_order(order_id)?;
        order.status.transition(OrderStatus::Valid)?;
        let linked = self.ledger.write(|tx| {
            let linked = tx.link_acme_certificate(order_id, certificate_id)?;
            if linked {
                event(
                    tx,
                    EventKind::AcmeOrderUpdate,
                    &order_id.to_string(),
                    json!({ "status": "valid", "certificate": certificate_id }),
                )?;
            }
            Ok(linked)
        })?;
        if !linked {
            return Err(stale(AcmeObject::Order, order_id));
        }
        self.acme_order(order_id)
    }

    /// Issues a ready order's certificate for the CSR's key from its provisioner's CA and
    /// profile, named by the order's identifiers (the first is the CN), valid for the
    /// provisioner's maximum (90 days without one) or until the order's
    /// notAfter when that is sooner. The order becomes valid, linked to the certificate, in the
    /// transaction that records it; a concurrent finalize of the same order loses with
    /// [`Error::AcmeStale`] and nothing issued.
    pub fn finalize_acme_order(&mut self, order_id: i64, csr: VerifiedCsr) -> Result<AcmeOrderRecord> {
        let order = self.acme_order(order_id)?;
        let at = now();
        let current = order.status.at(order.expires_at, at);
        if current != OrderStatus::Ready {
            return Err(IllegalTransition {
                object: AcmeObject::Order,
                from: current.as_str(),
                to: OrderStatus::Processing.as_str(),
            }
            .into());
        }
        let account = self.acme_account(order.account_id)?;
        let provisioner = self.acme_provisioner_by_id(account.provisioner_id)?.record;
        let max = provisioner.max_validity_secs.map(time::Duration::seconds).unwrap_or(DEFAULT_ACME_VALIDITY);
        let asked = order.not_after.map(|t| time::Duration::seconds(t - at)).filter(|d| d.is_positive());
        let sans = order
            .identifiers
            .iter()
            .map(|i| match i.kind {
                IdentifierType::Dns => parse_dns(&i.value).map(San::Dns).map_err(Error::from),
                IdentifierType::Ip => parse_ip(&i.value).map(San::Ip).map_err(Error::from),
            })
            .collect::<Result<Vec<San>>>()?;
        let request = super::IssueRequest {
            profile: provisioner.profile,
            name: order.identifiers.first().map(|i| i.value.clone()),
            sans,
            key: super::KeySource::Csr(Box::new(csr)),
            validity: asked.map_or(max, |d| d.min(max)),
            ca: Some(provisioner.ca_name.clone()),
            out: None,
        };
        let plan = super::issue::LeafPlan {
            binding: Some(super::issue::Binding::AcmeOrder(order_id)),
            ..super::issue::LeafPlan::new(request)?
        };
        self.issue_plan(plan)?;
        self.acme_order(order_id)
    }

    /// The ACME account, order and provisioner a certificate was issued through.
    pub fn acme_certificate_link(&self, certificate_id: i64) -> Result<Option<AcmeCertificateLink>> {
        Ok(self.ledger.acme_certificate_link(certificate_id)?)
    }
}

/// One authorization to create: its identifier (a wildcard's base name), and its challenges.
struct AuthorizationPlan {
    identifier: AcmeIdentifier,
    wildcard: bool,
    challenges: Vec<(ChallengeType, String)>,
}

fn plan_authorization(identifier: &AcmeIdentifier) -> Result<AuthorizationPlan> {
    let (identifier, wildcard, kinds) = match (identifier.kind, identifier.value.strip_prefix("*.")) {
        (IdentifierType::Dns, Some(base)) => (AcmeIdentifier::dns(base), true, vec![ChallengeType::Dns01]),
        (IdentifierType::Dns, None) => (
            AcmeIdentifier::dns(&identifier.value.to_ascii_lowercase()),
            false,
            vec![ChallengeType::Http01, ChallengeType::Dns01, ChallengeType::TlsAlpn01],
        ),
        (IdentifierType::Ip, _) => {
            (identifier.clone(), false, vec![ChallengeType::Http01, ChallengeType::TlsAlpn01])
        }
    };
    let challenges = kinds.into_iter().map(|k| Ok((k, random_token()?))).collect::<Result<Vec<_>>>()?;
    Ok(AuthorizationPlan {
        identifier: AcmeIdentifier { value: identifier.value.to_ascii_lowercase(), ..identifier },
        wildcard,
        challenges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provisioner(dns: &[&str], ips: &[&str], permitted: &[&str]) -> Provisioner {
        Provisioner {
            record: AcmeProvisionerRecord {
                id: 1,
                name: "web".into(),
                authority_id: 1,
                ca_name: "Issuing".into(),
                profile: Profile::Server,
                allowed_dns: dns.iter().map(|p| DnsPattern::parse(p).unwrap()).collect(),
                allowed_ips: ips.iter().map(|c| IpCidr::parse(c).unwrap()).collect(),
                max_validity_secs: None,
                require_eab: false,
                created_at: 0,
                removed_at: None,
                accounts: 0,
                eab_keys: (0, 0),
            },
            constraints: vec![
                DnsConstraint {
                    ca: "Issuing".into(),
                    permitted: permitted.iter().map(|s| s.to_string()).collect(),
                },
                DnsConstraint { ca: "Root".into(), permitted: vec![] },
            ],
        }
    }

    fn allowed(p: &Provisioner, id: AcmeIdentifier) -> std::result::Result<(), Refusal> {
        p.allows(&id)
    }

    #[test]
    fn exact_subtree_depth_and_case() {
        let p = provisioner(&["api.example.com", "*.svc.example.com"], &[], &[]);
        assert_eq!(allowed(&p, AcmeIdentifier::dns("api.example.com")), Ok(()));
        assert_eq!(allowed(&p, AcmeIdentifier::dns("API.Example.COM")), Ok(()), "case does not matter");
        assert_eq!(allowed(&p, AcmeIdentifier::dns("a.svc.example.com")), Ok(()));
        assert_eq!(allowed(&p, AcmeIdentifier::dns("a.b.c.svc.example.com")), Ok(()), "any depth");
        for refused in ["svc.example.com", "www.example.com", "x.api.example.com", "evilsvc.example.com"] {
            assert!(
                matches!(allowed(&p, AcmeIdentifier::dns(refused)), Err(Refusal::NotAllowed { .. })),
                "{refused}"
            );
        }
    }

    #[test]
    fn trailing_dots_and_garbage_are_malformed() {
        let p = provisioner(&["*.example.com"], &[], &[]);
        for bad in ["a.example.com.", "a..example.com", "", "a_b.example.com", "*.*.example.com"] {
            assert!(
                matches!(allowed(&p, AcmeIdentifier::dns(bad)), Err(Refusal::Malformed { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(allowed(&p, AcmeIdentifier::ip("10.0.0.1 ")), Err(Refusal::Malformed { .. })));
    }

    #[test]
    fn wildcard_identifiers_need_a_subtree_pattern() {
        let exact = provisioner(&["example.com", "www.example.com"], &[], &[]);
        assert!(allowed(&exact, AcmeIdentifier::dns("*.example.com")).is_err());
        let subtree = provisioner(&["*.example.com"], &[], &[]);
        assert_eq!(allowed(&subtree, AcmeIdentifier::dns("*.example.com")), Ok(()));
        assert_eq!(allowed(&subtree, AcmeIdentifier::dns("*.a.example.com")), Ok(()));
        let narrow = provisioner(&["*.a.example.com"], &[], &[]);
        assert!(allowed(&narrow, AcmeIdentifier::dns("*.example.com")).is_err(), "a wider wildcard");
    }

    #[test]
    fn ip_identifiers_match_their_ranges_only() {
        let p = provisioner(&["*.example.com"], &["10.0.0.0/8", "fd00::/8"], &[]);
        assert_eq!(allowed(&p, AcmeIdentifier::ip("10.1.2.3")), Ok(()));
        assert_eq!(allowed(&p, AcmeIdentifier::ip("fd12::7")), Ok(()));
        assert!(matches!(allowed(&p, AcmeIdentifier::ip("192.168.0.1")), Err(Refusal::NotAllowed { .. })));
        assert!(matches!(allowed(&p, AcmeIdentifier::ip("fe80::1")), Err(Refusal::NotAllowed { .. })));
        assert!(allowed(&p, AcmeIdentifier::ip("::ffff:10.0.0.1")).is_err(), "other family");
        assert!(allowed(&p, AcmeIdentifier::dns("10.0.0.1")).is_err(), "an address is no DNS name");
        let none = provisioner(&["*.example.com"], &[], &[]);
        assert!(allowed(&none, AcmeIdentifier::ip("10.0.0.1")).is_err());
    }

    #[test]
    fn the_cas_name_constraints_apply_on_top() {
        let p = provisioner(&["*.example.com"], &[], &["prod.example.com"]);
        assert_eq!(allowed(&p, AcmeIdentifier::dns("api.prod.example.com")), Ok(()));
        let refused = allowed(&p, AcmeIdentifier::dns("api.dev.example.com")).unwrap_err();
        assert!(matches!(&refused, Refusal::OutsideConstraints { ca, .. } if ca == "Issuing"), "{refused:?}");
        assert!(refused.to_string().contains("prod.example.com"), "{refused}");
    }

    #[test]
    fn patterns_wholly_outside_the_constraints_are_refused() {
        let chain = [DnsConstraint { ca: "Mid".into(), permitted: vec!["prod.example.com".into()] }];
        let ok = |p: &str| check_pattern_constraints(&[DnsPattern::parse(p).unwrap()], &chain).is_ok();
        assert!(ok("api.prod.example.com"));
        assert!(ok("*.prod.example.com"));
        assert!(ok("*.example.com"), "overlaps: the CA's subtree lies below it");
        assert!(!ok("api.dev.example.com"));
        assert!(!ok("*.other.com"));
        assert!(!ok("example.com"));
    }

    #[test]
    fn provisioner_names_are_url_safe() {
        for good in ["web", "k8s-prod", "a.b_c", "X1"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-web", ".web", "a/b", "a b", "web?", "ü", &"a".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn wildcards_get_dns_01_only_and_ips_no_dns_01() {
        let plan = plan_authorization(&AcmeIdentifier::dns("*.Example.com")).unwrap();
        assert_eq!((plan.identifier.value.as_str(), plan.wildcard), ("example.com", true));
        assert_eq!(plan.challenges.iter().map(|c| c.0).collect::<Vec<_>>(), [ChallengeType::Dns01]);
        let ip = plan_authorization(&AcmeIdentifier::ip("10.0.0.1")).unwrap();
        assert_eq!(
            ip.challenges.iter().map(|c| c.0).collect::<Vec<_>>(),
            [ChallengeType::Http01, ChallengeType::TlsAlpn01]
        );
        let dns = plan_authorization(&AcmeIdentifier::dns("a.example.com")).unwrap();
        assert_eq!(dns.challenges.len(), 3);
        assert!(dns.challenges.iter().all(|(_, t)| t.len() == 43), "256-bit base64url tokens");
    }
}
