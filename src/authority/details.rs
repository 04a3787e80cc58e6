//! One certificate with everything the ledger knows about it, for `show` (and any front-end
//! that explains a certificate).

use super::Authority;
use crate::error::{Error, Result};
use crate::ledger::CertificateRecord;
use crate::ledger::acme::AcmeCertificateLink;
use crate::x509::CertInfo;

/// A certificate as the ledger records it, parsed, with its lineage and ACME origin.
pub struct CertificateDetails {
    /// Its ledger record.
    pub record: CertificateRecord,
    /// Its DER, as issued.
    pub der: Vec<u8>,
    /// The DER parsed.
    pub info: CertInfo,
    /// The certificate it renewed, if any.
    pub renewed_from: Option<CertificateRecord>,
    /// The certificates that renewed it.
    pub renewals: Vec<CertificateRecord>,
    /// The ACME account and order it was issued for, if any.
    pub acme: Option<AcmeCertificateLink>,
}

impl Authority {
    /// The certificate a serial, fingerprint or name designates, with its details.
    pub fn certificate_details(&self, text: &str) -> Result<CertificateDetails> {
        let record = self.find_one(text)?;
        let der = self.ledger.certificate_der(record.id)?;
        let info = CertInfo::from_der(&der)
            .map_err(|e| Error::Internal(format!("the ledger's copy of {text} is damaged: {e}")))?;
        let renewed_from =
            record.renewed_from.map(|id| self.ledger.certificate_by_id(id)).transpose()?.flatten();
        let renewals = self.ledger.renewals_of(record.id)?;
        let acme = self.ledger.acme_certificate_link(record.id)?;
        Ok(CertificateDetails { record, der, info, renewed_from, renewals, acme })
    }
}
