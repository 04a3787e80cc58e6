//! Why a TLS peer would refuse a certificate: one variant per reason, each with the fix.

use crate::engine::format_time;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("not a certificate: {reason}")]
    Unparseable { reason: String },

    #[error(
        "no path to a trusted CA: the issuer \"{issuer}\" is neither a trust anchor nor among the certificates sent"
    )]
    UnknownIssuer { issuer: String },

    #[error(
        "the intermediate \"{issuer}\" is missing: the peer only trusts the root and needs the intermediate sent with the certificate"
    )]
    IntermediateMissing { issuer: String },

    #[error("the signature of \"{subject}\" does not verify with the key of \"{issuer}\": {reason}")]
    BadSignature { subject: String, issuer: String, reason: String },

    #[error("the path would need more than {max} intermediate CA(s) (the depth limit)")]
    TooDeep { max: usize },

    #[error("path building gave up after {what}: the certificates sent form too many candidate paths")]
    SearchBudget { what: String },

    #[error("\"{subject}\" is refused: {reason}")]
    Defect { subject: String, reason: String },

    #[error(
        "\"{subject}\" is a version {version} certificate and cannot act as a CA (RFC 5280 6.1.4 (k): only a v3 certificate with basicConstraints CA:TRUE can)"
    )]
    NotV3Ca { subject: String, version: u8 },

    #[error("\"{subject}\" signs certificates but its keyUsage lacks keyCertSign (RFC 5280 6.1.4 (n))")]
    NoKeyCertSign { subject: String },

    #[error(
        "\"{subject}\" has no authorityKeyIdentifier keyIdentifier (RFC 5280 4.2.1.1: every certificate but a self-signed one MUST carry it)"
    )]
    MissingAki { subject: String },

    #[error("\"{ca}\" may not certify \"{subject}\": {reason} (RFC 5280 4.2.1.10)")]
    NameConstraint { ca: String, subject: String, reason: String },

    #[error("certificate policies: {reason}")]
    Policy { reason: String },

    #[error("the name constraints of \"{ca}\" are unusable: {reason}")]
    UnusableConstraints { ca: String, reason: String },

    #[error("\"{subject}\" is not valid before {}, and the time is {}", format_time(*not_before), format_time(*now))]
    NotYetValid { subject: String, not_before: i64, now: i64 },

    #[error("\"{subject}\" expired {}, and the time is {}", format_time(*not_after), format_time(*now))]
    Expired { subject: String, not_after: i64, now: i64 },

    #[error(
        "\"{subject}\" signs other certificates but is not a CA (RFC 5280 6.1.4 (k): basicConstraints CA:TRUE is required)"
    )]
    IssuerNotCa { subject: String },

    #[error("\"{ca}\" allows {path_len} CA(s) below it (pathLenConstraint) but the chain has {below}")]
    PathLength { ca: String, path_len: u8, below: usize },

    #[error("\"{subject}\" is a CA certificate; TLS peers refuse CA certificates as end entities")]
    CaAsEndEntity { subject: String },

    #[error("\"{subject}\" has extKeyUsage {have}; a TLS {purpose} needs {need}")]
    WrongExtendedKeyUsage { subject: String, have: String, need: &'static str, purpose: &'static str },

    #[error("the keyUsage of \"{subject}\" ({have}) lacks {need}")]
    WrongKeyUsage { subject: String, have: String, need: &'static str },

    #[error("{host} is not among the names of the certificate ({names})")]
    HostMismatch { host: String, names: String },

    #[error("\"{subject}\" (serial {serial}) was revoked {} as {reason} ({origin})", format_time(*revoked_at))]
    Revoked { subject: String, serial: String, revoked_at: i64, reason: String, origin: String },

    #[error("the latest CRL of {ca} (#{number}) expired {}, and the time is {}: peers that check CRLs refuse every certificate of that CA", format_time(*next_update), format_time(*now))]
    CrlExpired { ca: String, number: String, next_update: i64, now: i64 },

    #[error("the latest CRL of {ca} (#{number}) is not valid before {} (its thisUpdate), and the time is {}: it was signed by a clock that runs ahead, and peers that check CRLs refuse every certificate of that CA until then", format_time(*this_update), format_time(*now))]
    CrlNotYetValid { ca: String, number: String, this_update: i64, now: i64 },

    #[error("the latest CRL of {ca} is unusable: {reason}")]
    CrlUnusable { ca: String, reason: String },
}

impl Problem {
    /// What the operator should do about it.
    pub fn fix(&self) -> String {
        match self {
            Problem::Unparseable { .. } => {
                "give a PEM or DER certificate (`pkictl show NAME --pem` prints one from the ledger)".into()
            }
            Problem::UnknownIssuer { .. } => {
                "send the issuing intermediate along (--chain), or trust the CA that issued it (--trust FILE for another CA, --ca or --home for pkictl's)".into()
            }
            Problem::IntermediateMissing { .. } => {
                "pass --chain NAME.chain.pem here, and configure the peer to send NAME.fullchain.pem, not the bare certificate".into()
            }
            Problem::BadSignature { .. } => {
                "the certificate was altered, was not signed by that CA, or uses a refused algorithm or key: re-issue it".into()
            }
            Problem::TooDeep { .. } => "send a shorter chain, or allow a deeper one if the peer does".into(),
            Problem::SearchBudget { .. } => "send only the intermediates of this certificate's own chain".into(),
            Problem::Defect { .. } | Problem::NotV3Ca { .. } | Problem::NoKeyCertSign { .. } | Problem::MissingAki { .. } => {
                "re-issue that certificate with a conforming profile (pkictl's profiles are)".into()
            }
            Problem::Policy { .. } => {
                "issue the certificates below that CA with a policy it accepts (certificatePolicies)".into()
            }
            Problem::UnusableConstraints { ca, .. } => format!("re-issue \"{ca}\" with well-formed nameConstraints"),
            Problem::NotYetValid { .. } => {
                "check the clocks of both machines (pkictl backdates notBefore by 5 minutes), or wait".into()
            }
            Problem::Expired { .. } => {
                "have it renewed and deploy the new files (from a pkictl home: `pkictl renew SERIAL --rekey`; `pkictl list --expiring-within 30d` warns in time)".into()
            }
            Problem::IssuerNotCa { .. } | Problem::PathLength { .. } => {
                "issue it from a proper CA of the path's trust anchor (for a pkictl home: `pkictl ca list`)".into()
            }
            Problem::NameConstraint { ca, .. } => {
                format!("issue it from a CA whose name constraints cover the name, not from \"{ca}\"")
            }
            Problem::CaAsEndEntity { .. } => "use a server, client or peer certificate: `pkictl issue …`".into(),
            Problem::WrongExtendedKeyUsage { purpose, .. } => format!(
                "issue a certificate for this purpose: `pkictl issue {} NAME` (or `issue peer` for both)",
                if *purpose == "server" { "server" } else { "client" }
            ),
            Problem::WrongKeyUsage { .. } => "re-issue it with pkictl, whose profiles set keyUsage correctly".into(),
            Problem::HostMismatch { host, .. } => {
                format!("issue a certificate that names it: `pkictl issue server {host}` (or add --dns/--ip)")
            }
            Problem::Revoked { .. } => {
                "a revoked certificate never becomes valid again: have its CA issue a new one (from a pkictl home: `pkictl renew SERIAL --rekey`)".into()
            }
            Problem::CrlExpired { ca, .. } => {
                format!("publish a fresh CRL now: `pkictl crl --ca \"{ca}\"`, and schedule it well inside nextUpdate")
            }
            Problem::CrlNotYetValid { ca, .. } => format!(
                "set the CA machine's clock right, then publish a fresh CRL: `pkictl crl --ca \"{ca}\"`"
            ),
            Problem::CrlUnusable { ca, .. } => format!("publish a fresh CRL: `pkictl crl --ca \"{ca}\"`"),
        }
    }
}
