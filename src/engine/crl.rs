//! Revocation reasons and CRL building (RFC 5280 §5): v2, CRL number, AKI = the CA's SKI,
//! one entry per revoked certificate in serial order, reasonCode unless unspecified.

use std::fmt;
use std::str::FromStr;

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevocationReason, RevokedCertParams, SerialNumber};
use time::OffsetDateTime;

use super::serial::Serial;
use super::{EngineError, SigningCa, sign_error};

/// RFC 5280 reason codes an operator may give (removeFromCRL only exists in delta CRLs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    PrivilegeWithdrawn,
    AaCompromise,
}

impl Reason {
    pub const ALL: [Reason; 9] = [
        Reason::Unspecified,
        Reason::KeyCompromise,
        Reason::CaCompromise,
        Reason::AffiliationChanged,
        Reason::Superseded,
        Reason::CessationOfOperation,
        Reason::CertificateHold,
        Reason::PrivilegeWithdrawn,
        Reason::AaCompromise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unspecified => "unspecified",
            Reason::KeyCompromise => "key-compromise",
            Reason::CaCompromise => "ca-compromise",
            Reason::AffiliationChanged => "affiliation-changed",
            Reason::Superseded => "superseded",
            Reason::CessationOfOperation => "cessation-of-operation",
            Reason::CertificateHold => "certificate-hold",
            Reason::PrivilegeWithdrawn => "privilege-withdrawn",
            Reason::AaCompromise => "aa-compromise",
        }
    }

    /// The reasonCode to put in a CRL entry; none for `unspecified`, as RFC 5280 advises.
    fn crl_reason(self) -> Option<RevocationReason> {
        Some(match self {
            Reason::Unspecified => return None,
            Reason::KeyCompromise => RevocationReason::KeyCompromise,
            Reason::CaCompromise => RevocationReason::CaCompromise,
            Reason::AffiliationChanged => RevocationReason::AffiliationChanged,
            Reason::Superseded => RevocationReason::Superseded,
            Reason::CessationOfOperation => RevocationReason::CessationOfOperation,
            Reason::CertificateHold => RevocationReason::CertificateHold,
            Reason::PrivilegeWithdrawn => RevocationReason::PrivilegeWithdrawn,
            Reason::AaCompromise => RevocationReason::AaCompromise,
        })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reason {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Reason::ALL.into_iter().find(|r| r.as_str() == wanted).ok_or_else(|| {
            let names: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
            format!("unknown revocation reason \"{s}\"; use one of {}", names.join(", "))
        })
    }
}

/// One CRL entry.
pub struct RevokedEntry {
    pub serial: Serial,
    pub revoked_at: i64,
    pub reason: Reason,
}

pub struct CrlRequest {
    pub number: u64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    /// In serial order.
    pub entries: Vec<RevokedEntry>,
}

/// Signs a CRL for `ca`. A CRL whose nextUpdate is not after thisUpdate is never made.
pub fn build_crl(request: CrlRequest, ca: &SigningCa) -> Result<Vec<u8>, EngineError> {
    if request.next_update <= request.this_update {
        return Err(EngineError::BadRequest("a CRL's nextUpdate must be after its thisUpdate".into()));
    }
    let revoked_certs = request
        .entries
        .into_iter()
        .map(|e| {
            Ok(RevokedCertParams {
                serial_number: SerialNumber::from_slice(e.serial.as_bytes()),
                revocation_time: OffsetDateTime::from_unix_timestamp(e.revoked_at)
                    .map_err(|err| EngineError::BadRequest(err.to_string()))?,
                reason_code: e.reason.crl_reason(),
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>, EngineError>>()?;
    let params = CertificateRevocationListParams {
        this_update: request.this_update,
        next_update: request.next_update,
        crl_number: SerialNumber::from_slice(&number_bytes(request.number)),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::PreSpecified(ca.ski.clone()),
    };
    let crl = params.signed_by(&ca.issuer()).map_err(sign_error)?;
    Ok(crl.der().to_vec())
}

/// Big-endian bytes of a positive number, without leading zeros.
fn number_bytes(n: u64) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len() - 1);
    bytes[start..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_parse_in_kebab_case() {
        assert_eq!("key-compromise".parse::<Reason>().unwrap(), Reason::KeyCompromise);
        assert_eq!("Superseded".parse::<Reason>().unwrap(), Reason::Superseded);
        assert_eq!("cessation_of_operation".parse::<Reason>().unwrap(), Reason::CessationOfOperation);
        assert!("remove-from-crl".parse::<Reason>().is_err());
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>().unwrap(), r);
        }
    }

    #[test]
    fn crl_numbers_encode_minimally() {
        assert_eq!(number_bytes(1), vec![1]);
        assert_eq!(number_bytes(256), vec![1, 0]);
        assert_eq!(number_bytes(0), vec![0]);
    }
}
