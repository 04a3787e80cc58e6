//! Revocation: find the certificate, record the revocation with its audit event, then sign
//! and publish the issuer's CRL. Also the lookups every front-end shares (serial, fingerprint
//! or name).

use serde_json::json;

use super::crl::{PublishedCrl, plan_crl, sign_crl_in};
use super::{Authority, Warning, check_ca_usable};
use crate::engine::crl::Reason;
use crate::engine::profile::Profile;
use crate::engine::serial::{LEDGER_HEX_WIDTH, Serial};
use crate::engine::{self, format_time};
use crate::error::{CaAction, Error, Result};
use crate::ledger::{
    CaRecord, CertSelector, CertStatus, CertificateRecord, Event, EventKind, LedgerError, LedgerTx,
};

/// What a user typed to name a certificate, after normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertRef {
    /// A serial number.
    Serial(Serial),
    /// A SHA-256 fingerprint: 64 lower-case hex digits.
    Fingerprint(String),
    /// Not hex: can only be a name.
    NameOnly,
}

/// Reads a serial (hex, colons allowed, any case) or a SHA-256 fingerprint. Text that is not
/// hex is `NameOnly`; hex that cannot be a serial (zero, over 20 octets) is an error.
pub fn parse_cert_ref(text: &str) -> Result<CertRef> {
    let quoted = crate::error::excerpt(text);
    // A newline or tab in a serial is a pasting accident, not something to trim away.
    if text.chars().any(char::is_control) {
        return Err(Error::NotASerial { text: text.to_string() });
    }
    let cleaned: String = text.trim().chars().filter(|c| *c != ':').collect::<String>().to_ascii_lowercase();
    let cleaned = cleaned.strip_prefix("0x").unwrap_or(&cleaned).to_string();
    if cleaned.starts_with('-') {
        return Err(Error::invalid(format!("serial {quoted} is negative; serials are positive hex numbers")));
    }
    if cleaned.is_empty() || !cleaned.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(CertRef::NameOnly);
    }
    if cleaned.len() == 64 {
        return Ok(CertRef::Fingerprint(cleaned));
    }
    let significant = cleaned.trim_start_matches('0');
    if significant.is_empty() {
        return Err(Error::invalid(format!("serial {quoted} is zero; serials are positive")));
    }
    if significant.len() > LEDGER_HEX_WIDTH {
        return Err(Error::invalid(format!(
            "serial {quoted} is longer than 20 octets (40 hex digits), the RFC 5280 limit"
        )));
    }
    Serial::from_ledger_hex(significant)
        .map(CertRef::Serial)
        .ok_or_else(|| Error::Internal(format!("serial {quoted} did not decode")))
}

/// A request to revoke one certificate.
pub struct RevokeRequest {
    /// Its serial or SHA-256 fingerprint.
    pub certificate: String,
    /// Why.
    pub reason: Reason,
    /// Only consider certificates of this CA.
    pub ca: Option<String>,
}

/// A recorded revocation and the CRL published after it.
pub struct Revoked {
    /// The certificate as it was before.
    pub certificate: CertificateRecord,
    /// When, Unix seconds.
    pub at: i64,
    /// Why.
    pub reason: Reason,
    /// Its issuer.
    pub issuer: CaRecord,
    /// The CRL that lists it.
    pub crl: PublishedCrl,
    /// What the caller should hear about.
    pub warnings: Vec<Warning>,
}

/// A listed certificate that cannot be revoked.
#[derive(Debug)]
pub struct Skipped {
    /// Its 1-based line number.
    pub line: usize,
    /// The line as given.
    pub text: String,
    /// Why it cannot be revoked.
    pub problem: Error,
}

/// A request to revoke many certificates in one transaction.
pub struct RevokeManyRequest {
    /// Serials or fingerprints with their 1-based line numbers.
    pub certificates: Vec<(usize, String)>,
    /// Why.
    pub reason: Reason,
    /// Only consider certificates of this CA.
    pub ca: Option<String>,
    /// Leave out what cannot be revoked (with a warning) instead of revoking nothing.
    pub skip_unknown: bool,
}

/// What a bulk revocation did.
pub struct RevokedMany {
    /// How many were revoked.
    pub revoked: usize,
    /// When, Unix seconds.
    pub at: i64,
    /// Why.
    pub reason: Reason,
    /// What was left out.
    pub skipped: Vec<Skipped>,
    /// One fresh CRL per CA concerned.
    pub crls: Vec<(CaRecord, PublishedCrl)>,
}

impl Authority {
    /// Revokes one certificate, then publishes its issuer's CRL.
    pub fn revoke(&mut self, request: &RevokeRequest) -> Result<Revoked> {
        let issuer_filter = request.ca.as_deref().map(|name| self.find_ca(Some(name))).transpose()?;
        let target = self.find_target(&request.certificate, issuer_filter.as_ref().map(|a| a.id))?;
        self.revoke_record(&target, request.reason)
    }

    /// Revokes `target` (one transaction with its audit event), then publishes the issuer's
    /// CRL. The issuer's key is unlocked first: a wrong passphrase leaves no trace.
    pub(super) fn revoke_record(&mut self, target: &CertificateRecord, reason: Reason) -> Result<Revoked> {
        check_revocable(target)?;
        let issuer = self.ca_by_id(target.issuer_id)?;
        let now = engine::now().unix_timestamp();
        // Refuse before changing anything when no fresh CRL could follow the revocation.
        check_ca_usable(&issuer, now, CaAction::SignCrl).map_err(|_| Error::IssuerCannotRevoke {
            serial: target.serial.hex(),
            ca: issuer.name.clone(),
        })?;
        let signing_ca = self.signing_ca(&issuer)?;
        let mut warnings = Vec::new();
        if target.not_after <= now {
            warnings
                .push(Warning::RevokedExpired { serial: target.serial.hex(), not_after: target.not_after });
        }
        let detail = json!({
            "ca": target.issuer_name,
            "subject": target.subject,
            "reason": reason.as_str(),
            "fingerprint_sha256": target.fingerprint_sha256,
        });
        let plan = plan_crl(&issuer, None)?;
        // The revocation and the CRL that lists it commit together: no crash or failed write
        // can leave a revocation that no committed CRL publishes.
        let mut refused = None;
        let signed = self
            .ledger
            .write(|tx| {
                record_revocation(tx, target, now, reason, "", detail.clone())?;
                sign_crl_in(tx, &issuer, &signing_ca, plan.clone(), &mut refused)
            })
            .map_err(|e| refused.take().unwrap_or_else(|| e.into()))?;
        let crl = self.publish_files(&issuer, signed, &[target.serial.hex()])?;
        Ok(Revoked { certificate: target.clone(), at: now, reason, issuer, crl, warnings })
    }

    /// Revokes every listed certificate in one transaction (all or nothing unless
    /// `skip_unknown`), then publishes one CRL per CA concerned.
    pub fn revoke_many(&mut self, request: &RevokeManyRequest) -> Result<RevokedMany> {
        let issuer_filter = request.ca.as_deref().map(|name| self.find_ca(Some(name))).transpose()?;
        let (targets, problems) =
            self.resolve_all(&request.certificates, issuer_filter.as_ref().map(|a| a.id));
        if targets.is_empty() && problems.is_empty() {
            return Err(Error::invalid("the list holds no serial"));
        }
        if !problems.is_empty() && !request.skip_unknown {
            return Err(Error::NotAllRevocable { problems });
        }
        let mut issuers: Vec<CaRecord> = Vec::new();
        for target in &targets {
            if issuers.iter().all(|a| a.id != target.issuer_id) {
                issuers.push(self.ca_by_id(target.issuer_id)?);
            }
        }
        let now = engine::now().unix_timestamp();
        for issuer in &issuers {
            check_ca_usable(issuer, now, CaAction::SignCrl).map_err(|_| Error::invalid(format!(
                "nothing was revoked: CA {} is revoked or expired, so no fresh CRL could follow; leave its certificates out",
                issuer.name
            )))?;
        }
        let signing: Vec<_> = issuers.iter().map(|issuer| self.signing_ca(issuer)).collect::<Result<_>>()?;
        let reason = request.reason;
        let plans: Vec<_> = issuers.iter().map(|issuer| plan_crl(issuer, None)).collect::<Result<_>>()?;
        let mut refused = None;
        let signed = self
            .ledger
            .write(|tx| {
                for target in &targets {
                    let detail = json!({ "ca": target.issuer_name, "subject": target.subject, "reason": reason.as_str(), "batch": true });
                    record_revocation(tx, target, now, reason, "nothing was revoked: ", detail)?;
                }
                let mut signed = Vec::new();
                for ((issuer, signing_ca), plan) in issuers.iter().zip(&signing).zip(plans.iter().cloned()) {
                    signed.push(sign_crl_in(tx, issuer, signing_ca, plan, &mut refused)?);
                }
                Ok(signed)
            })
            .map_err(|e| refused.take().unwrap_or_else(|| e.into()))?;
        let mut crls = Vec::new();
        for (issuer, signed) in issuers.into_iter().zip(signed) {
            let listed: Vec<String> =
                targets.iter().filter(|t| t.issuer_id == issuer.id).map(|t| t.serial.hex()).collect();
            let crl = self.publish_files(&issuer, signed, &listed)?;
            crls.push((issuer, crl));
        }
        Ok(RevokedMany { revoked: targets.len(), at: now, reason, skipped: problems, crls })
    }

    /// Each listed certificate, or why it cannot be revoked ("line 7: …"); duplicates count once.
    fn resolve_all(
        &self,
        lines: &[(usize, String)],
        issuer_id: Option<i64>,
    ) -> (Vec<CertificateRecord>, Vec<Skipped>) {
        let mut targets: Vec<CertificateRecord> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut problems = Vec::new();
        for (number, line) in lines {
            match self.find_target(line, issuer_id).and_then(|t| check_revocable(&t).map(|()| t)) {
                Ok(target) => {
                    if seen.insert(target.id) {
                        targets.push(target);
                    }
                }
                Err(problem) => problems.push(Skipped { line: *number, text: line.clone(), problem }),
            }
        }
        (targets, problems)
    }

    /// The one certificate a serial (or SHA-256 fingerprint) names; ambiguity is an error.
    pub fn find_target(&self, text: &str, issuer_id: Option<i64>) -> Result<CertificateRecord> {
        let reference = parse_cert_ref(text)?;
        let selector = match &reference {
            CertRef::Serial(s) => CertSelector::Serial(s),
            CertRef::Fingerprint(f) => CertSelector::Fingerprint(f),
            CertRef::NameOnly => return Err(Error::NotASerial { text: text.to_string() }),
        };
        let mut matches = self.ledger.find_certificates(selector, issuer_id)?;
        match matches.len() {
            0 => {
                Err(Error::CertificateNotFound { reference: text.to_string(), from_ca: issuer_id.is_some() })
            }
            1 => Ok(matches.remove(0)),
            _ => Err(Error::AmbiguousSerial {
                reference: text.to_string(),
                issuers: matches.iter().map(|m| m.issuer_name.clone()).collect(),
            }),
        }
    }

    /// The certificate a serial, fingerprint or name designates; a name shared by several
    /// certificates lists them and asks for a serial.
    pub fn find_one(&self, text: &str) -> Result<CertificateRecord> {
        let mut found = match parse_cert_ref(text)? {
            CertRef::Serial(s) => self.ledger.find_certificates(CertSelector::Serial(&s), None)?,
            CertRef::Fingerprint(f) => self.ledger.find_certificates(CertSelector::Fingerprint(&f), None)?,
            CertRef::NameOnly => Vec::new(),
        };
        if found.is_empty() {
            found = self.ledger.find_certificates(CertSelector::Name(text.trim()), None)?;
        }
        match found.len() {
            0 => Err(Error::NoSuchCertificate { reference: text.to_string() }),
            1 => Ok(found.remove(0)),
            _ => {
                let now = engine::now().unix_timestamp();
                let lines: Vec<String> = found
                    .iter()
                    .map(|c| {
                        format!(
                            "{} ({}, {}, not after {})",
                            c.serial.hex(),
                            c.issuer_name,
                            c.state_at(now).as_str(),
                            format_time(c.not_after)
                        )
                    })
                    .collect();
                Err(Error::invalid(format!(
                    "\"{}\" matches {} certificates; give one serial: {}",
                    crate::error::excerpt(text),
                    found.len(),
                    lines.join("; ")
                )))
            }
        }
    }
}

/// Marks `target` revoked with its audit event; losing a race to another revoker aborts the
/// transaction (`prefix` starts the message).
fn record_revocation(
    tx: &dyn LedgerTx,
    target: &CertificateRecord,
    now: i64,
    reason: Reason,
    prefix: &str,
    detail: serde_json::Value,
) -> Result<(), LedgerError> {
    if !tx.revoke_certificate(target.id, now, reason)? {
        return Err(LedgerError::Aborted(format!(
            "{prefix}certificate {} was revoked by another process just now",
            target.serial.hex()
        )));
    }
    tx.record_event(&Event {
        at: now,
        kind: EventKind::CertificateRevoke,
        target: &target.serial.hex(),
        detail,
    })
}

fn check_revocable(target: &CertificateRecord) -> Result<()> {
    if target.status == CertStatus::Revoked {
        return Err(Error::AlreadyRevoked {
            serial: target.serial.hex(),
            reason: target.revocation_reason.unwrap_or(Reason::Unspecified),
            at: target.revoked_at.map(format_time).unwrap_or_default(),
        });
    }
    if target.profile == Profile::Root {
        return Err(Error::RootNotRevocable);
    }
    Ok(())
}
