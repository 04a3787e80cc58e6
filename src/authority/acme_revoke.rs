//! revokeCert (RFC 8555 §7.6): who may revoke a certificate through ACME, and the revocation
//! itself, which is `pkictl revoke`'s (one transaction with the issuer's fresh CRL; OCSP
//! follows the ledger).

use super::Authority;
use super::revoke::Revoked;
use crate::acme::Jwk;
use crate::engine::crl::Reason;
use crate::error::{Error, Result};
use crate::x509::CertInfo;

/// Who signed a revocation request.
#[derive(Debug, Clone)]
pub enum AcmeRevoker {
    /// An account (a `kid` request): it must be the account that ordered the certificate.
    Account(i64),
    /// The certificate's own key (a `jwk` request): it must be the certificate's public key.
    CertificateKey(Box<Jwk>),
}

/// A revocation asked for through one provisioner's ACME directory.
#[derive(Debug, Clone)]
pub struct AcmeRevokeRequest {
    /// The provisioner whose directory received the request.
    pub provisioner_id: i64,
    /// The certificate, DER, as the client sent it.
    pub certificate_der: Vec<u8>,
    /// The RFC 5280 reason code the client gave (0 when it gave none).
    pub reason_code: u8,
    /// Who signed the request.
    pub revoker: AcmeRevoker,
}

/// Why an ACME revocation is refused before anything changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcmeRevocationRefusal {
    /// The certificate is not one this CA issued through this provisioner's directory.
    #[error("the certificate was not issued through this ACME directory")]
    NotIssuedHere,
    /// Another account ordered it.
    #[error("the certificate was ordered by another account")]
    OtherAccount,
    /// The request is signed by a key other than the certificate's.
    #[error("the request is not signed by the certificate's key")]
    NotCertificateKey,
    /// A reason code a subscriber may not give through ACME.
    #[error("revocation reason code {code} is not accepted; use 0, 1, 3, 4, 5 or 9")]
    Reason {
        /// The code given.
        code: u8,
    },
}

/// The reasons a subscriber may give: not caCompromise or aACompromise (about the CA), not
/// certificateHold (ACME cannot release a hold), and not the unused code 7 or removeFromCRL.
fn subscriber_reason(code: u8) -> Option<Reason> {
    match code {
        0 => Some(Reason::Unspecified),
        1 => Some(Reason::KeyCompromise),
        3 => Some(Reason::AffiliationChanged),
        4 => Some(Reason::Superseded),
        5 => Some(Reason::CessationOfOperation),
        9 => Some(Reason::PrivilegeWithdrawn),
        _ => None,
    }
}

impl Authority {
    /// Revokes a certificate for an ACME client after checking that the signer may: the
    /// ordering account, or the holder of the certificate's key. The certificate must be the
    /// ledger's byte for byte and linked to an order of this provisioner.
    pub fn revoke_acme_certificate(&mut self, request: &AcmeRevokeRequest) -> Result<Revoked> {
        let reason = subscriber_reason(request.reason_code)
            .ok_or(AcmeRevocationRefusal::Reason { code: request.reason_code })?;
        let record = self.presented(&request.certificate_der).map_err(|e| match e {
            Error::Enrolment(_) => AcmeRevocationRefusal::NotIssuedHere.into(),
            other => other,
        })?;
        let link = self.acme_certificate_link(record.id)?;
        let link = link
            .filter(|l| l.provisioner_id == request.provisioner_id)
            .ok_or(AcmeRevocationRefusal::NotIssuedHere)?;
        match &request.revoker {
            AcmeRevoker::Account(id) if *id == link.account_id => {}
            AcmeRevoker::Account(_) => return Err(AcmeRevocationRefusal::OtherAccount.into()),
            AcmeRevoker::CertificateKey(key) => {
                let info = CertInfo::from_der(&request.certificate_der)
                    .map_err(|_| AcmeRevocationRefusal::NotIssuedHere)?;
                let own = Jwk::from_spki_der(&info.spki_der)
                    .map_err(|_| AcmeRevocationRefusal::NotCertificateKey)?;
                if own != **key {
                    return Err(AcmeRevocationRefusal::NotCertificateKey.into());
                }
            }
        }
        self.revoke_record(&record, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_subscriber_reasons_are_accepted() {
        let accepted: Vec<u8> = (0..=12).filter(|c| subscriber_reason(*c).is_some()).collect();
        assert_eq!(accepted, [0, 1, 3, 4, 5, 9]);
        assert_eq!(subscriber_reason(1), Some(Reason::KeyCompromise));
        assert_eq!(subscriber_reason(9), Some(Reason::PrivilegeWithdrawn));
    }
}
