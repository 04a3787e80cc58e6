//! A workload renewing the certificate it holds: `pkictl agent --home` (and the online CA's
//! renewal endpoint) present the current certificate and a CSR for the new key. Unlike
//! `renew SERIAL`, an operator's command, this refuses what only an operator may decide: a
//! certificate that is revoked, expired, not this home's, or asked to change its names.

use time::Duration;

use super::Authority;
use super::issue::{KeySource, LeafPlan, Renewed};
use crate::engine::csr::VerifiedCsr;
use crate::engine::{self, BACKDATE};
use crate::error::{Error, RenewalRefusal, Result};
use crate::ledger::{CertSelector, CertStatus, CertificateRecord};
use crate::names::San;
use crate::x509::{CertInfo, fingerprint_sha256};

/// A workload's request to renew the certificate it holds.
pub struct WorkloadRenewal {
    /// The certificate the workload holds, DER.
    pub current_der: Vec<u8>,
    /// The request for its successor: a new key or the same one, its signature verified. It
    /// must ask for the certificate's names (or for none: then they are taken over).
    pub csr: VerifiedCsr,
    /// The new lifetime; the current certificate's when None.
    pub validity: Option<Duration>,
}

impl Authority {
    /// Renews the certificate a workload presents: it must be in this home's ledger, valid and
    /// not revoked, a server, client or peer certificate, and the CSR must not change its names.
    /// The new certificate has the same subject, SANs, profile and issuer, the CSR's key, and is
    /// linked to the old one, which stays valid (passive revocation: it simply expires).
    pub fn renew_workload(&mut self, request: WorkloadRenewal) -> Result<Renewed> {
        let old = self.presented(&request.current_der)?;
        let refuse = |reason| Error::RenewalRefused { serial: old.serial.hex(), reason };
        if !old.profile.is_requestable() {
            return Err(refuse(RenewalRefusal::NotALeaf { profile: old.profile }));
        }
        if old.status == CertStatus::Revoked {
            return Err(refuse(RenewalRefusal::Revoked { at: old.revoked_at.unwrap_or(old.not_after) }));
        }
        if old.not_after <= engine::now().unix_timestamp() {
            return Err(refuse(RenewalRefusal::Expired { at: old.not_after }));
        }
        check_same_names(&old, &request.csr).map_err(refuse)?;
        let info = CertInfo::from_der(&request.current_der).map_err(|e| Error::Internal(e.to_string()))?;
        let validity = request
            .validity
            .unwrap_or_else(|| Duration::seconds(info.not_after - info.not_before) - BACKDATE);
        let plan = LeafPlan::renewal(&old, KeySource::Csr(Box::new(request.csr)), validity);
        let issued = self.issue_plan(plan)?;
        Ok(Renewed { issued, old, revoked: None })
    }

    /// The ledger's record of a certificate given as DER (matched by its SHA-256 fingerprint,
    /// so a look-alike from another CA is not found).
    pub fn presented(&self, der: &[u8]) -> Result<CertificateRecord> {
        let fingerprint = fingerprint_sha256(der);
        let mut found = self.ledger.find_certificates(CertSelector::Fingerprint(&fingerprint), None)?;
        match found.len() {
            1 => Ok(found.remove(0)),
            _ => Err(Error::NotIssuedHere { fingerprint }),
        }
    }
}

/// The CSR's CN (when it has one) and SANs (when it asks for any) must be the certificate's.
fn check_same_names(old: &CertificateRecord, csr: &VerifiedCsr) -> std::result::Result<(), RenewalRefusal> {
    let carried = names_text(old.common_name.as_deref(), &old.sans);
    let mut warnings = Vec::new();
    let asked_sans = super::issue::sans_from_csr(csr, old.profile, &mut warnings)
        .map_err(|e| RenewalRefusal::NamesChanged { asked: e.to_string(), carried: carried.clone() })?;
    let cn_differs = csr.common_name.as_deref().is_some_and(|cn| Some(cn) != old.common_name.as_deref());
    let sans_differ = !csr.requested_sans.is_empty() && !same_set(&asked_sans, &old.sans);
    if cn_differs || sans_differ || !warnings.is_empty() {
        let asked = names_text(csr.common_name.as_deref(), &asked_sans);
        return Err(RenewalRefusal::NamesChanged { asked, carried });
    }
    Ok(())
}

fn same_set(a: &[San], b: &[San]) -> bool {
    a.len() == b.len() && a.iter().all(|s| b.contains(s))
}

fn names_text(cn: Option<&str>, sans: &[San]) -> String {
    let mut parts: Vec<String> = cn.map(|c| format!("CN={}", crate::error::excerpt(c))).into_iter().collect();
    parts.extend(sans.iter().take(5).map(|s| crate::error::excerpt(&s.to_string()).to_string()));
    if sans.len() > 5 {
        parts.push(format!("and {} more", sans.len() - 5));
    }
    parts.join(", ")
}
