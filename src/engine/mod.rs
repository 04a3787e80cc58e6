//! The signing engine: profiles, serials and certificate building. The only code that uses
//! a CA private key; everything it signs is parsed back and checked before it is returned.

pub mod ca;
pub mod crl;
#[allow(missing_docs)]
pub mod csr;
pub mod leaf;
pub mod lint;
// The RFC 6960 message layer; `serve` (issue 13) answers with it.
#[allow(dead_code)]
pub mod ocsp;
pub mod policy;
pub mod profile;
pub mod serial;
mod signer;
pub mod urls;

use rcgen::{DistinguishedName, DnType, KeyIdMethod, KeyUsagePurpose};
use time::{Duration, OffsetDateTime};

use std::sync::Arc;

use crate::keys::CaSigner;
use crate::x509::CertInfo;

/// notBefore is set this far in the past so that peers whose clocks lag a little do not
/// reject a certificate in its first minutes ("certificate is not yet valid").
pub const BACKDATE: Duration = Duration::minutes(5);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "the requested validity ends {requested}, after {issuer}'s own certificate expires ({issuer_not_after})"
    )]
    ValidityBeyondIssuer { requested: String, issuer: String, issuer_not_after: String },
    #[error("the clock says {now}, before {issuer}'s own certificate starts ({issuer_not_before})")]
    ClockBeforeIssuer { now: String, issuer: String, issuer_not_before: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("the key file of CA {ca} does not hold the key of its certificate; restore the right key file")]
    KeyMismatch { ca: String },
    #[error("{name} is outside the names CA {ca} may certify ({permitted}); nothing was issued")]
    NameConstraint { name: String, ca: String, permitted: String },
    #[error("CA {ca} has pathLen {path_len}: it may not have a sub-CA")]
    PathLength { ca: String, path_len: u8, requested: Option<u8> },
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("the signed certificate fails its profile check ({0}); nothing was issued")]
    Lint(String),
    #[error("{0}")]
    Rng(String),
}

/// A signed certificate and what was read back from it.
pub struct Signed {
    pub der: Vec<u8>,
    pub info: CertInfo,
}

/// A CA able to sign: its name, key, and what its certificate says.
pub struct SigningCa {
    pub name: String,
    pub signer: Arc<dyn CaSigner>,
    /// The CA certificate's own subjectKeyIdentifier, as recorded in the ledger.
    pub ski: Vec<u8>,
    pub cert: CertInfo,
    /// Where this CA's CRL, OCSP responder and certificate are; goes into what it signs.
    pub urls: urls::IssuerUrls,
    /// Name constraints of this CA and its ancestors, enforced on everything it signs.
    pub name_constraints: Vec<policy::DnsConstraint>,
}

impl SigningCa {
    pub(crate) fn issuer(&self) -> rcgen::Issuer<'static, signer::RcgenSigner<'_>> {
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = ca_distinguished_name(&self.name);
        params.key_identifier_method = KeyIdMethod::PreSpecified(self.ski.clone());
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        rcgen::Issuer::new(params, signer::RcgenSigner::new(self.signer.as_ref()))
    }

    /// Refuses a notAfter past this CA's own: a chain is only as valid as its shortest link.
    /// The notBefore of something this CA signs at `now`: `wanted` (backdated), but never
    /// before the CA's own notBefore. A clock behind the CA's start is refused, since
    /// everything signed would start before its issuer.
    fn not_before_for(
        &self,
        now: OffsetDateTime,
        wanted: OffsetDateTime,
    ) -> Result<OffsetDateTime, EngineError> {
        let issuer_start = self.cert.not_before;
        if now.unix_timestamp() < issuer_start {
            return Err(EngineError::ClockBeforeIssuer {
                now: format_time(now.unix_timestamp()),
                issuer: self.name.clone(),
                issuer_not_before: format_time(issuer_start),
            });
        }
        if wanted.unix_timestamp() < issuer_start {
            return OffsetDateTime::from_unix_timestamp(issuer_start)
                .map_err(|e| EngineError::BadRequest(format!("the issuer's notBefore: {e}")));
        }
        Ok(wanted)
    }

    fn check_not_after(&self, not_after: OffsetDateTime) -> Result<(), EngineError> {
        if not_after.unix_timestamp() > self.cert.not_after {
            return Err(EngineError::ValidityBeyondIssuer {
                requested: format_time(not_after.unix_timestamp()),
                issuer: self.name.clone(),
                issuer_not_after: format_time(self.cert.not_after),
            });
        }
        Ok(())
    }
}

/// A CA's subject: CN=<name>. Built in one place so the subject written into a CA certificate
/// and the issuer written into everything it signs are the same bytes.
pub fn ca_distinguished_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

/// Now, truncated to whole seconds (X.509 times have no fractions).
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

pub fn format_time(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

fn sign_error(e: rcgen::Error) -> EngineError {
    EngineError::Sign(e.to_string())
}
