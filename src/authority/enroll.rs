//! Enrolment and renewal over the network: one-time tokens (`token create`), a workload's
//! first certificate for a token and a CSR (`POST /v1/enroll`), and a renewal authenticated by
//! the certificate being renewed (`POST /v1/renew`, mTLS).
//!
//! Names come from the token (or the old certificate), never from the CSR: the CSR may carry
//! no commonName and no SAN, or exactly those names; anything else is refused, so a token or a
//! certificate never yields a certificate for other names.

use base64ct::Encoding as _;
use getrandom::SysRng;
use rand_core::TryRng;
use serde_json::json;
use time::Duration;
use zeroize::Zeroizing;

use super::issue::{LeafPlan, check_requestable};
use super::{Authority, Issued, Renewed, check_ca_usable, leaf_names, validate_common_name};
use crate::engine::csr::{RequestedSan, VerifiedCsr};
use crate::engine::profile::Profile;
use crate::engine::{self, BACKDATE, format_time};
use crate::error::{CaAction, Error, Result};
use crate::ledger::chain::sha256_hex;
use crate::ledger::{CertSelector, CertStatus, Event, EventKind, NewTokenRecord, TokenRecord, TokenStatus};
use crate::names::{self, San};
use crate::x509::{CertInfo, fingerprint_sha256};

/// Random bytes in a token: 256 bits, well above the 128 a guess must beat.
const TOKEN_BYTES: usize = 32;
/// No token we make is longer; a longer one is refused without hashing it.
const MAX_TOKEN_CHARS: usize = 256;

/// Why an enrolment or a renewal was refused. Each has a stable [`EnrolmentRefusal::slug`]
/// (the `urn:pkictl:error:<slug>` of the HTTP API) and an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnrolmentRefusal {
    /// No token, or one this CA never issued: unknown and wrong tokens are told apart by nothing.
    #[error("the enrolment token is not valid; ask the CA operator for a new one")]
    TokenInvalid,
    /// The token was used before (each token enrols once).
    #[error("enrolment token #{id} was already used; ask the CA operator for a new one")]
    TokenUsed {
        /// The token's ledger id.
        id: i64,
    },
    /// The token expired before it was used.
    #[error("enrolment token #{id} expired {}; ask the CA operator for a new one", format_time(*at))]
    TokenExpired {
        /// The token's ledger id.
        id: i64,
        /// When it expired, Unix seconds.
        at: i64,
    },
    /// The token was revoked.
    #[error("enrolment token #{id} was revoked; ask the CA operator for a new one")]
    TokenRevoked {
        /// The token's ledger id.
        id: i64,
    },
    /// The CSR asks for names other than those the token or certificate is for.
    #[error(
        "the request asks for {requested}, but only {allowed} can be certified; send a CSR with exactly those names or none"
    )]
    NamesDiffer {
        /// What the CSR asked for.
        requested: String,
        /// What the token or certificate allows.
        allowed: String,
    },
    /// No client certificate was presented for a renewal.
    #[error("no client certificate was presented; connect with the certificate to renew and its key")]
    NoClientCertificate,
    /// The presented certificate is not one this CA issued.
    #[error("the certificate presented was not issued by this CA (this home), so it cannot be renewed here")]
    NotIssuedHere,
    /// The presented certificate is revoked.
    #[error("certificate {serial} is revoked; it cannot be renewed")]
    CertificateRevoked {
        /// Its serial, hex.
        serial: String,
    },
    /// The presented certificate has expired (beyond any allowed grace).
    #[error("certificate {serial} expired {}; it cannot be renewed", format_time(*at))]
    CertificateExpired {
        /// Its serial, hex.
        serial: String,
        /// Its notAfter, Unix seconds.
        at: i64,
    },
    /// The presented certificate is a CA or responder certificate.
    #[error("certificate {serial} is a {profile} certificate, which is not renewed this way")]
    NotRenewable {
        /// Its serial, hex.
        serial: String,
        /// Its profile.
        profile: Profile,
    },
    /// The CSR is malformed or its signature does not verify.
    #[error("the certificate signing request is refused: {0}")]
    BadCsr(String),
}

impl EnrolmentRefusal {
    /// The stable name of the refusal, as in `urn:pkictl:error:<slug>`.
    pub fn slug(&self) -> &'static str {
        match self {
            EnrolmentRefusal::TokenInvalid => "token-invalid",
            EnrolmentRefusal::TokenUsed { .. } => "token-used",
            EnrolmentRefusal::TokenExpired { .. } => "token-expired",
            EnrolmentRefusal::TokenRevoked { .. } => "token-revoked",
            EnrolmentRefusal::NamesDiffer { .. } => "names-differ",
            EnrolmentRefusal::NoClientCertificate => "no-client-certificate",
            EnrolmentRefusal::NotIssuedHere => "not-issued-here",
            EnrolmentRefusal::CertificateRevoked { .. } => "certificate-revoked",
            EnrolmentRefusal::CertificateExpired { .. } => "certificate-expired",
            EnrolmentRefusal::NotRenewable { .. } => "not-renewable",
            EnrolmentRefusal::BadCsr(_) => "bad-csr",
        }
    }

    /// The HTTP status the online CA answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            EnrolmentRefusal::TokenInvalid | EnrolmentRefusal::NoClientCertificate => 401,
            EnrolmentRefusal::TokenUsed { .. } => 409,
            EnrolmentRefusal::BadCsr(_) => 400,
            _ => 403,
        }
    }
}

/// A request for a one-time enrolment token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The commonName of the certificate it enrols (also a SAN when it is a host name, …).
    pub name: String,
    /// server, client or peer.
    pub profile: Profile,
    /// Further SANs; the certificate carries exactly NAME's SAN and these.
    pub sans: Vec<San>,
    /// How long the token can be used.
    pub ttl: Duration,
    /// The lifetime of the certificate it enrols.
    pub validity: Duration,
    /// The issuing CA; the default issuing CA when None.
    pub ca: Option<String>,
}

/// A token just made: its text, shown once and never stored, and its record.
pub struct NewToken {
    /// The token (base64url, 256 random bits). Only its SHA-256 is in the ledger.
    pub token: Zeroizing<String>,
    /// What the ledger holds about it.
    pub record: TokenRecord,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken").field("record", &self.record).finish_non_exhaustive()
    }
}

impl Authority {
    /// Makes a one-time enrolment token bound to these names, profile, lifetime and CA.
    pub fn create_token(&mut self, request: TokenRequest) -> Result<NewToken> {
        check_requestable(request.profile)?;
        let name = validate_common_name(&request.name)?;
        let sans = leaf_names(request.profile, &name, request.sans)?;
        if request.ttl <= Duration::ZERO || request.validity <= Duration::ZERO {
            return Err(Error::invalid("a token's lifetime and its certificate's validity must be positive"));
        }
        let issuer = self.find_ca(request.ca.as_deref())?;
        let now = engine::now().unix_timestamp();
        check_ca_usable(&issuer, now, CaAction::Issue)?;
        // The latest enrolment ends its certificate at ttl + validity: refuse now what would be
        // refused then, rather than hand out a token that cannot work.
        let latest_end =
            now.saturating_add(request.ttl.whole_seconds()).saturating_add(request.validity.whole_seconds());
        if latest_end > issuer.not_after {
            return Err(Error::ValidityBeyondIssuer {
                requested: format_time(latest_end),
                issuer: issuer.name.clone(),
                issuer_not_after: format_time(issuer.not_after),
            });
        }
        let token = new_token_text()?;
        let hash = sha256_hex(token.as_bytes());
        let expires_at = now.saturating_add(request.ttl.whole_seconds());
        let row = NewTokenRecord {
            token_sha256: &hash,
            name: &name,
            profile: request.profile,
            sans: &sans,
            issuer_id: issuer.id,
            validity_secs: request.validity.whole_seconds(),
            expires_at,
            now,
        };
        let san_text: Vec<String> = sans.iter().map(San::to_string).collect();
        let id = self.ledger.write(|tx| {
            let id = tx.insert_token(&row)?;
            tx.record_event(&Event {
                at: now,
                kind: EventKind::TokenCreate,
                target: &id.to_string(),
                detail: json!({
                    "ca": issuer.name,
                    "name": name,
                    "profile": request.profile.as_str(),
                    "sans": san_text,
                    "validity_secs": row.validity_secs,
                    "expires_at": format_time(expires_at),
                }),
            })?;
            Ok(id)
        })?;
        let record = self.token(id)?;
        Ok(NewToken { token, record })
    }

    /// Every enrolment token, newest first (never the tokens themselves).
    pub fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        Ok(self.ledger.tokens()?)
    }

    /// Revokes an unused token; a used or already revoked one is refused.
    pub fn revoke_token(&mut self, id: i64) -> Result<TokenRecord> {
        let before = self.token(id)?;
        let now = engine::now().unix_timestamp();
        let revoked = self.ledger.write(|tx| {
            if !tx.revoke_token(id, now)? {
                return Ok(false);
            }
            tx.record_event(&Event {
                at: now,
                kind: EventKind::TokenRevoke,
                target: &id.to_string(),
                detail: json!({ "name": before.name }),
            })?;
            Ok(true)
        })?;
        let after = self.token(id)?;
        if !revoked {
            return Err(Error::TokenNotRevocable { id, status: after.status(now).as_str() });
        }
        Ok(after)
    }

    fn token(&self, id: i64) -> Result<TokenRecord> {
        self.ledger.token_by_id(id)?.ok_or(Error::NoSuchToken { id })
    }

    /// Issues the certificate a one-time token is for, certifying the CSR's key. The token is
    /// marked used in the transaction that records the certificate; an unknown and a wrong
    /// token are the same refusal.
    pub fn enroll(&mut self, token: &str, csr: VerifiedCsr) -> Result<Issued> {
        let record = self.usable_token(token)?;
        check_names(&csr, &record.name, &record.sans)?;
        let plan = LeafPlan {
            binding: Some(super::issue::Binding::Token(record.id)),
            ..LeafPlan::for_csr(
                record.profile,
                record.name.clone(),
                record.sans.clone(),
                csr,
                Duration::seconds(record.validity_secs),
                record.issuer_name.clone(),
            )
        };
        self.issue_plan(plan)
    }

    fn usable_token(&self, token: &str) -> Result<TokenRecord> {
        if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
            return Err(EnrolmentRefusal::TokenInvalid.into());
        }
        let record = self
            .ledger
            .token_by_hash(&sha256_hex(token.as_bytes()))?
            .ok_or(EnrolmentRefusal::TokenInvalid)?;
        let now = engine::now().unix_timestamp();
        let id = record.id;
        match record.status(now) {
            TokenStatus::Unused => Ok(record),
            TokenStatus::Used => Err(EnrolmentRefusal::TokenUsed { id }.into()),
            TokenStatus::Revoked => Err(EnrolmentRefusal::TokenRevoked { id }.into()),
            TokenStatus::Expired => Err(EnrolmentRefusal::TokenExpired { id, at: record.expires_at }.into()),
        }
    }

    /// Renews the certificate a TLS client presented (leaf first, DER; the handshake proved
    /// possession of its key): it must be a leaf of this ledger, byte for byte, signed by its
    /// recorded issuer, not revoked, and not expired (or expired less than
    /// `allow_after_expiry` ago). The CSR's key is certified (a new key is allowed) for exactly
    /// the old names; the new certificate is linked to the old one, which stays valid.
    pub fn renew_by_certificate(
        &mut self,
        presented_chain_der: &[Vec<u8>],
        csr: VerifiedCsr,
        allow_after_expiry: Option<Duration>,
    ) -> Result<Renewed> {
        let leaf = presented_chain_der.first().ok_or(EnrolmentRefusal::NoClientCertificate)?;
        let old = self.presented(leaf)?;
        let serial = old.serial.hex();
        if old.profile.is_ca() || !old.profile.is_requestable() {
            return Err(EnrolmentRefusal::NotRenewable { serial, profile: old.profile }.into());
        }
        if old.status == CertStatus::Revoked {
            return Err(EnrolmentRefusal::CertificateRevoked { serial }.into());
        }
        let now = engine::now().unix_timestamp();
        let grace = allow_after_expiry.map_or(0, |d| d.whole_seconds().max(0));
        if now > old.not_after.saturating_add(grace) {
            return Err(EnrolmentRefusal::CertificateExpired { serial, at: old.not_after }.into());
        }
        let common_name = old.common_name.clone().unwrap_or_default();
        check_names(&csr, &common_name, &old.sans)?;
        let validity = Duration::seconds(old.not_after - old.not_before) - BACKDATE;
        let plan = LeafPlan {
            renewed_from: Some(old.id),
            ..LeafPlan::for_csr(
                old.profile,
                common_name,
                old.sans.clone(),
                csr,
                validity,
                old.issuer_name.clone(),
            )
        };
        let issued = self.issue_plan(plan)?;
        Ok(Renewed { issued, old, revoked: None })
    }

    /// The ledger's record of a presented certificate: found by fingerprint, the same DER, and
    /// its signature verified with the recorded issuer's key.
    pub fn presented(&self, leaf: &[u8]) -> Result<crate::ledger::CertificateRecord> {
        let fingerprint = fingerprint_sha256(leaf);
        let found = self.ledger.find_certificates(CertSelector::Fingerprint(&fingerprint), None)?;
        let record = found.into_iter().next().ok_or(EnrolmentRefusal::NotIssuedHere)?;
        if self.ledger.certificate_der(record.id)? != leaf {
            return Err(EnrolmentRefusal::NotIssuedHere.into());
        }
        let issuer = self.ca_by_id(record.issuer_id)?;
        let issuer_info = CertInfo::from_der(&issuer.cert_der).map_err(|e| Error::Internal(e.to_string()))?;
        let info = CertInfo::from_der(leaf).map_err(|_| EnrolmentRefusal::NotIssuedHere)?;
        info.signed.verify(&issuer_info.spki_der).map_err(|_| EnrolmentRefusal::NotIssuedHere)?;
        Ok(record)
    }
}

/// 256 bits from the OS CSPRNG, base64url without padding (43 characters).
fn new_token_text() -> Result<Zeroizing<String>> {
    let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
    SysRng
        .try_fill_bytes(bytes.as_mut())
        .map_err(|e| Error::Internal(format!("the system random number generator failed: {e}")))?;
    Ok(Zeroizing::new(base64ct::Base64UrlUnpadded::encode_string(bytes.as_ref())))
}

/// The CSR carries no name, or exactly `name` as its CN and exactly `sans` (in any order).
fn check_names(csr: &VerifiedCsr, name: &str, sans: &[San]) -> Result<(), EnrolmentRefusal> {
    let mut allowed: Vec<String> = sans.iter().map(San::to_string).collect();
    allowed.sort();
    let mut requested = Vec::new();
    for san in &csr.requested_sans {
        requested.push(requested_text(san));
    }
    requested.sort();
    requested.dedup();
    let cn_ok = csr.common_name.as_deref().is_none_or(|cn| cn.trim() == name);
    let sans_ok = requested.is_empty() || requested == allowed;
    if cn_ok && sans_ok {
        return Ok(());
    }
    let mut asked = Vec::new();
    if let Some(cn) = &csr.common_name {
        asked.push(format!("CN={}", crate::error::excerpt(cn)));
    }
    asked.extend(requested.iter().take(5).map(|s| crate::error::excerpt(s).to_string()));
    let mut allowed_words = vec![format!("CN={name}")];
    allowed_words.extend(allowed);
    Err(EnrolmentRefusal::NamesDiffer { requested: asked.join(", "), allowed: allowed_words.join(", ") })
}

/// A requested SAN in the ledger's spelling ("DNS:a.example"), normalised like given names.
fn requested_text(san: &RequestedSan) -> String {
    let parsed = match san {
        RequestedSan::Dns(d) => names::parse_dns(d).map(San::Dns).ok(),
        RequestedSan::Ip(ip) => Some(San::Ip(*ip)),
        RequestedSan::Email(e) => names::parse_email(e).map(San::Email).ok(),
        RequestedSan::Uri(u) => names::parse_uri(u).map(San::Uri).ok(),
        RequestedSan::Other(text) => return text.clone(),
    };
    match (parsed, san) {
        (Some(s), _) => s.to_string(),
        (None, RequestedSan::Dns(d)) => format!("DNS:{d}"),
        (None, RequestedSan::Email(e)) => format!("email:{e}"),
        (None, RequestedSan::Uri(u)) => format!("URI:{u}"),
        (None, other) => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyPair, KeyType};

    fn csr(cn: Option<&str>, sans: Vec<RequestedSan>) -> VerifiedCsr {
        VerifiedCsr {
            origin: "test".into(),
            public_key: KeyPair::generate(KeyType::P256).unwrap().public_key(),
            common_name: cn.map(str::to_string),
            requested_sans: sans,
            ignored: Vec::new(),
        }
    }

    fn names() -> Vec<San> {
        vec![San::Dns("a.example.com".into()), San::Ip([10, 0, 0, 1].into())]
    }

    #[test]
    fn a_csr_carries_no_names_or_exactly_the_allowed_ones() {
        let dns = |d: &str| RequestedSan::Dns(d.into());
        let ip = RequestedSan::Ip([10, 0, 0, 1].into());
        assert!(check_names(&csr(None, vec![]), "a.example.com", &names()).is_ok());
        assert!(check_names(&csr(Some("a.example.com"), vec![]), "a.example.com", &names()).is_ok());
        let reordered = csr(None, vec![ip.clone(), dns("A.Example.com")]);
        assert!(check_names(&reordered, "a.example.com", &names()).is_ok(), "order and case do not matter");
        let refused = [
            csr(Some("b.example.com"), vec![]),
            csr(None, vec![dns("a.example.com")]),
            csr(None, vec![dns("a.example.com"), ip.clone(), dns("b.example.com")]),
            csr(None, vec![dns("a.example.com"), RequestedSan::Ip([10, 0, 0, 2].into())]),
            csr(None, vec![dns("a.example.com"), ip, RequestedSan::Other("otherName".into())]),
        ];
        for c in &refused {
            assert!(
                matches!(
                    check_names(c, "a.example.com", &names()),
                    Err(EnrolmentRefusal::NamesDiffer { .. })
                ),
                "{c:?}"
            );
        }
    }

    #[test]
    fn tokens_are_256_random_bits_in_base64url() {
        let a = new_token_text().unwrap();
        let b = new_token_text().unwrap();
        assert_ne!(*a, *b);
        assert_eq!(a.len(), 43);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(base64ct::Base64UrlUnpadded::decode_vec(&a).unwrap().len(), TOKEN_BYTES);
    }

    #[test]
    fn refusals_map_to_the_documented_statuses() {
        let cases = [
            (EnrolmentRefusal::TokenInvalid, 401, "token-invalid"),
            (EnrolmentRefusal::NoClientCertificate, 401, "no-client-certificate"),
            (EnrolmentRefusal::TokenUsed { id: 1 }, 409, "token-used"),
            (EnrolmentRefusal::TokenExpired { id: 1, at: 0 }, 403, "token-expired"),
            (EnrolmentRefusal::NotIssuedHere, 403, "not-issued-here"),
            (EnrolmentRefusal::BadCsr("x".into()), 400, "bad-csr"),
        ];
        for (r, status, slug) in cases {
            assert_eq!((r.http_status(), r.slug()), (status, slug));
        }
    }
}
