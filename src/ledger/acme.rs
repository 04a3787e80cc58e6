//! What the ledger holds about ACME (RFC 8555): provisioners, EAB keys, accounts, orders,
//! authorizations, challenges and the link from a certificate to its account and order.
//! Statuses are enums with the RFC 8555 §7.1.6 state machines as typed transitions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::engine::profile::Profile;
use crate::patterns::{DnsPattern, IpCidr};

/// Which kind of ACME object a transition was asked of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeObject {
    /// An account.
    Account,
    /// An order.
    Order,
    /// An authorization.
    Authorization,
    /// A challenge.
    Challenge,
}

impl AcmeObject {
    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            AcmeObject::Account => "account",
            AcmeObject::Order => "order",
            AcmeObject::Authorization => "authorization",
            AcmeObject::Challenge => "challenge",
        }
    }
}

/// A status change RFC 8555 §7.1.6 does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an ACME {} cannot go from {from} to {to}", object.as_str())]
pub struct IllegalTransition {
    /// What it was asked of.
    pub object: AcmeObject,
    /// Its status.
    pub from: &'static str,
    /// The status asked for.
    pub to: &'static str,
}

/// An ACME status with its state machine.
pub trait AcmeStatus: Copy + PartialEq + fmt::Debug {
    /// The object it belongs to.
    const OBJECT: AcmeObject;
    /// The RFC 8555 word.
    fn as_str(self) -> &'static str;
    /// Whether RFC 8555 §7.1.6 allows going from `self` to `next`.
    fn can_become(self, next: Self) -> bool;
    /// `next`, when the move is allowed.
    fn transition(self, next: Self) -> Result<Self, IllegalTransition> {
        if self.can_become(next) {
            Ok(next)
        } else {
            Err(IllegalTransition { object: Self::OBJECT, from: self.as_str(), to: next.as_str() })
        }
    }
}

macro_rules! status_words {
    ($ty:ident { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $ty {
            /// Every status.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            fn word(self) -> &'static str {
                match self { $($ty::$variant => $word),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.word())
            }
        }

        impl FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok($ty::$variant),)+
                    other => Err(format!("unknown {} status \"{}\"", <$ty as AcmeStatus>::OBJECT.as_str(), crate::error::excerpt(other))),
                }
            }
        }
    };
}

/// An account's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    /// In use.
    Valid,
    /// Deactivated by its holder.
    Deactivated,
    /// Revoked by the server (the operator).
    Revoked,
}
status_words!(AccountStatus { Valid => "valid", Deactivated => "deactivated", Revoked => "revoked" });

impl AcmeStatus for AccountStatus {
    const OBJECT: AcmeObject = AcmeObject::Account;
    fn as_str(self) -> &'static str {
        self.word()
    }
    fn can_become(self, next: Self) -> bool {
        use AccountStatus::*;
        matches!((self, next), (Valid, Deactivated) | (Valid, Revoked))
    }
}

/// An order's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Waiting for its authorizations.
    Pending,
    /// Every authorization is valid: it may be finalized.
    Ready,
    /// Finalized; the certificate is being issued.
    Processing,
    /// The certificate is issued.
    Valid,
    /// Failed or expired.
    Invalid,
}
status_words!(OrderStatus {
    Pending => "pending", Ready => "ready", Processing => "processing", Valid => "valid", Invalid => "invalid",
});

impl AcmeStatus for OrderStatus {
    const OBJECT: AcmeObject = AcmeObject::Order;
    fn as_str(self) -> &'static str {
        self.word()
    }
    fn can_become(self, next: Self) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (Pending, Ready)
                | (Pending, Invalid)
                | (Ready, Processing)
                | (Ready, Invalid)
                | (Processing, Valid)
                | (Processing, Invalid)
        )
    }
}

impl OrderStatus {
    /// What the status is at `now`: a pending or ready order past `expires_at` is invalid
    /// (§7.1.6: it can no longer be finalized).
    pub fn at(self, expires_at: i64, now: i64) -> OrderStatus {
        match self {
            OrderStatus::Pending | OrderStatus::Ready if expires_at <= now => OrderStatus::Invalid,
            other => other,
        }
    }

    /// The status a pending order takes from its authorizations: invalid when one failed (or
    /// can no longer become valid), ready when all are valid, else still pending.
    pub fn from_authorizations(authorizations: &[AuthorizationStatus]) -> OrderStatus {
        use AuthorizationStatus as A;
        if authorizations.iter().any(|a| matches!(a, A::Invalid | A::Deactivated | A::Expired | A::Revoked)) {
            OrderStatus::Invalid
        } else if !authorizations.is_empty() && authorizations.iter().all(|a| *a == A::Valid) {
            OrderStatus::Ready
        } else {
            OrderStatus::Pending
        }
    }
}

/// An authorization's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationStatus {
    /// Waiting for a challenge.
    Pending,
    /// A challenge succeeded.
    Valid,
    /// A challenge failed.
    Invalid,
    /// Deactivated by the client.
    Deactivated,
    /// Past its expiry.
    Expired,
    /// Revoked by the server.
    Revoked,
}
status_words!(AuthorizationStatus {
    Pending => "pending", Valid => "valid", Invalid => "invalid", Deactivated => "deactivated",
    Expired => "expired", Revoked => "revoked",
});

impl AcmeStatus for AuthorizationStatus {
    const OBJECT: AcmeObject = AcmeObject::Authorization;
    fn as_str(self) -> &'static str {
        self.word()
    }
    fn can_become(self, next: Self) -> bool {
        use AuthorizationStatus::*;
        matches!(
            (self, next),
            (Pending, Valid)
                | (Pending, Invalid)
                | (Pending, Deactivated)
                | (Pending, Expired)
                | (Valid, Deactivated)
                | (Valid, Expired)
                | (Valid, Revoked)
        )
    }
}

impl AuthorizationStatus {
    /// What the status is at `now`: pending or valid past `expires_at` is expired.
    pub fn at(self, expires_at: i64, now: i64) -> AuthorizationStatus {
        match self {
            AuthorizationStatus::Pending | AuthorizationStatus::Valid if expires_at <= now => {
                AuthorizationStatus::Expired
            }
            other => other,
        }
    }
}

/// A challenge's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeStatus {
    /// Not yet asked for.
    Pending,
    /// The client asked; the server is validating.
    Processing,
    /// Validated.
    Valid,
    /// Validation failed.
    Invalid,
}
status_words!(ChallengeStatus {
    Pending => "pending", Processing => "processing", Valid => "valid", Invalid => "invalid",
});

impl AcmeStatus for ChallengeStatus {
    const OBJECT: AcmeObject = AcmeObject::Challenge;
    fn as_str(self) -> &'static str {
        self.word()
    }
    fn can_become(self, next: Self) -> bool {
        use ChallengeStatus::*;
        // processing → processing: a validation attempt is retried (§8.2).
        matches!(
            (self, next),
            (Pending, Processing)
                | (Pending, Invalid)
                | (Processing, Processing)
                | (Processing, Valid)
                | (Processing, Invalid)
        )
    }
}

/// The kind of an ACME identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentifierType {
    /// A DNS name (RFC 8555).
    Dns,
    /// An IP address (RFC 8738).
    Ip,
}

impl IdentifierType {
    /// The RFC word.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentifierType::Dns => "dns",
            IdentifierType::Ip => "ip",
        }
    }
}

impl FromStr for IdentifierType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dns" => Ok(IdentifierType::Dns),
            "ip" => Ok(IdentifierType::Ip),
            other => Err(format!("unknown identifier type \"{}\"", crate::error::excerpt(other))),
        }
    }
}

/// An ACME identifier as RFC 8555 §7.1.4 writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AcmeIdentifier {
    /// dns or ip.
    #[serde(rename = "type")]
    pub kind: IdentifierType,
    /// The name (`*.x` for a wildcard) or the address in text form.
    pub value: String,
}

impl AcmeIdentifier {
    /// A DNS identifier.
    pub fn dns(value: &str) -> AcmeIdentifier {
        AcmeIdentifier { kind: IdentifierType::Dns, value: value.to_string() }
    }

    /// An IP identifier.
    pub fn ip(value: &str) -> AcmeIdentifier {
        AcmeIdentifier { kind: IdentifierType::Ip, value: value.to_string() }
    }
}

/// A challenge type pkictl validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChallengeType {
    /// RFC 8555 §8.3.
    Http01,
    /// RFC 8555 §8.4.
    Dns01,
    /// RFC 8737.
    TlsAlpn01,
}

impl ChallengeType {
    /// The RFC word.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeType::Http01 => "http-01",
            ChallengeType::Dns01 => "dns-01",
            ChallengeType::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

impl fmt::Display for ChallengeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChallengeType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "http-01" => Ok(ChallengeType::Http01),
            "dns-01" => Ok(ChallengeType::Dns01),
            "tls-alpn-01" => Ok(ChallengeType::TlsAlpn01),
            other => Err(format!("unknown challenge type \"{}\"", crate::error::excerpt(other))),
        }
    }
}

/// A provisioner about to be recorded.
pub struct NewAcmeProvisioner<'a> {
    /// Its name (the directory is `/acme/<name>/directory`).
    pub name: &'a str,
    /// The CA that signs its certificates.
    pub authority_id: i64,
    /// server, client or peer.
    pub profile: Profile,
    /// DNS patterns.
    pub allowed_dns: &'a [DnsPattern],
    /// IP ranges.
    pub allowed_ips: &'a [IpCidr],
    /// The longest validity it issues; None: the profile's default.
    pub max_validity_secs: Option<i64>,
    /// Whether new accounts need External Account Binding.
    pub require_eab: bool,
    /// When it is recorded.
    pub now: i64,
}

/// A provisioner as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeProvisionerRecord {
    /// Ledger id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The signing CA's id.
    pub authority_id: i64,
    /// The signing CA's name.
    pub ca_name: String,
    /// server, client or peer.
    pub profile: Profile,
    /// DNS patterns.
    pub allowed_dns: Vec<DnsPattern>,
    /// IP ranges.
    pub allowed_ips: Vec<IpCidr>,
    /// The longest validity it issues.
    pub max_validity_secs: Option<i64>,
    /// Whether new accounts need External Account Binding.
    pub require_eab: bool,
    /// When it was recorded.
    pub created_at: i64,
    /// When it was removed (it serves no more; its history stays).
    pub removed_at: Option<i64>,
    /// How many accounts it has (any status).
    pub accounts: i64,
    /// How many EAB keys it has, and how many are not bound to an account yet.
    pub eab_keys: (i64, i64),
}

/// An EAB key as recorded, without its HMAC key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeEabKeyRecord {
    /// Ledger id.
    pub id: i64,
    /// The provisioner's id.
    pub provisioner_id: i64,
    /// The key id a client sends (`kid` of the EAB JWS).
    pub key_id: String,
    /// When it was made.
    pub created_at: i64,
    /// When an account was bound to it.
    pub used_at: Option<i64>,
    /// The account bound to it.
    pub account_id: Option<i64>,
}

/// An account about to be recorded.
pub struct NewAcmeAccount<'a> {
    /// The provisioner.
    pub provisioner_id: i64,
    /// RFC 7638 thumbprint of its key, base64url.
    pub jwk_thumbprint: &'a str,
    /// Its public key, JWK JSON.
    pub jwk: &'a str,
    /// Contact URLs.
    pub contacts: &'a [String],
    /// The EAB key it was bound with.
    pub eab_key_id: Option<&'a str>,
    /// When it is recorded.
    pub now: i64,
}

/// An account as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeAccountRecord {
    /// Ledger id.
    pub id: i64,
    /// The provisioner.
    pub provisioner_id: i64,
    /// RFC 7638 thumbprint of its key, base64url.
    pub jwk_thumbprint: String,
    /// Its public key, JWK JSON.
    pub jwk: String,
    /// Its status.
    pub status: AccountStatus,
    /// Contact URLs.
    pub contacts: Vec<String>,
    /// The EAB key it was bound with.
    pub eab_key_id: Option<String>,
    /// When it was recorded.
    pub created_at: i64,
}

/// An order about to be recorded (pending).
pub struct NewAcmeOrder<'a> {
    /// The account.
    pub account_id: i64,
    /// When it expires.
    pub expires_at: i64,
    /// What it asks for.
    pub identifiers: &'a [AcmeIdentifier],
    /// notBefore asked for.
    pub not_before: Option<i64>,
    /// notAfter asked for.
    pub not_after: Option<i64>,
    /// When it is recorded.
    pub now: i64,
}

/// An order as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct AcmeOrderRecord {
    /// Ledger id.
    pub id: i64,
    /// The account.
    pub account_id: i64,
    /// Its recorded status (see [`OrderStatus::at`] for expiry).
    pub status: OrderStatus,
    /// When it expires.
    pub expires_at: i64,
    /// What it asks for.
    pub identifiers: Vec<AcmeIdentifier>,
    /// notBefore asked for.
    pub not_before: Option<i64>,
    /// notAfter asked for.
    pub not_after: Option<i64>,
    /// The problem document of a failed order.
    pub error: Option<serde_json::Value>,
    /// The certificate issued for it.
    pub certificate_id: Option<i64>,
    /// When it was recorded.
    pub created_at: i64,
}

/// An authorization about to be recorded (pending).
pub struct NewAcmeAuthorization<'a> {
    /// The order.
    pub order_id: i64,
    /// What it authorizes (for a wildcard, the base name, as RFC 8555 §7.1.4 says).
    pub identifier: &'a AcmeIdentifier,
    /// Whether the order asked for `*.<identifier>`.
    pub wildcard: bool,
    /// When it expires.
    pub expires_at: i64,
    /// When it is recorded.
    pub now: i64,
}

/// An authorization as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeAuthorizationRecord {
    /// Ledger id.
    pub id: i64,
    /// The order.
    pub order_id: i64,
    /// What it authorizes.
    pub identifier: AcmeIdentifier,
    /// Whether it is for a wildcard.
    pub wildcard: bool,
    /// Its recorded status (see [`AuthorizationStatus::at`] for expiry).
    pub status: AuthorizationStatus,
    /// When it expires.
    pub expires_at: i64,
    /// When it was recorded.
    pub created_at: i64,
}

/// A challenge about to be recorded (pending).
pub struct NewAcmeChallenge<'a> {
    /// The authorization.
    pub authorization_id: i64,
    /// Its type.
    pub kind: ChallengeType,
    /// Its token (unique in the ledger), base64url.
    pub token: &'a str,
    /// When it is recorded.
    pub now: i64,
}

/// A challenge as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct AcmeChallengeRecord {
    /// Ledger id.
    pub id: i64,
    /// The authorization.
    pub authorization_id: i64,
    /// Its type.
    pub kind: ChallengeType,
    /// Its token.
    pub token: String,
    /// Its status.
    pub status: ChallengeStatus,
    /// When it was validated.
    pub validated_at: Option<i64>,
    /// The problem document of a failed validation.
    pub error: Option<serde_json::Value>,
    /// What the validation fetched or resolved.
    pub validation_record: Option<serde_json::Value>,
    /// When it was recorded.
    pub created_at: i64,
}

/// A challenge's new state.
#[derive(Debug, Clone, PartialEq)]
pub struct ChallengeUpdate<'a> {
    /// The status it must have now (the update is refused otherwise: a racing validator).
    pub from: ChallengeStatus,
    /// Its new status.
    pub to: ChallengeStatus,
    /// When it was validated.
    pub validated_at: Option<i64>,
    /// The problem document.
    pub error: Option<&'a serde_json::Value>,
    /// What the validation saw.
    pub validation_record: Option<&'a serde_json::Value>,
}

/// An account's orders created after some time (the rate limits' window): how many, how many
/// of them are invalid, and when the oldest of each was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AcmeOrderWindow {
    /// Orders created in the window.
    pub orders: i64,
    /// When the oldest of them was created.
    pub oldest: Option<i64>,
    /// Those that are invalid.
    pub failed: i64,
    /// When the oldest invalid one was created.
    pub oldest_failed: Option<i64>,
}

/// Which ACME account and order a certificate was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeCertificateLink {
    /// The certificate.
    pub certificate_id: i64,
    /// The account.
    pub account_id: i64,
    /// The order.
    pub order_id: i64,
    /// The account's provisioner.
    pub provisioner_id: i64,
    /// Its name.
    pub provisioner_name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed<S: AcmeStatus>(all: &[S]) -> Vec<(&'static str, &'static str)> {
        let mut out = Vec::new();
        for from in all {
            for to in all {
                if from.transition(*to).is_ok() {
                    out.push((from.as_str(), to.as_str()));
                }
            }
        }
        out
    }

    #[test]
    fn order_state_machine_is_rfc_8555() {
        assert_eq!(
            allowed(OrderStatus::ALL),
            [
                ("pending", "ready"),
                ("pending", "invalid"),
                ("ready", "processing"),
                ("ready", "invalid"),
                ("processing", "valid"),
                ("processing", "invalid"),
            ]
        );
        let refused = OrderStatus::Valid.transition(OrderStatus::Pending).unwrap_err();
        assert_eq!(refused, IllegalTransition { object: AcmeObject::Order, from: "valid", to: "pending" });
        assert_eq!(refused.to_string(), "an ACME order cannot go from valid to pending");
        assert!(OrderStatus::Pending.transition(OrderStatus::Processing).is_err(), "finalize needs ready");
        assert!(OrderStatus::Invalid.transition(OrderStatus::Ready).is_err());
    }

    #[test]
    fn orders_expire_and_follow_their_authorizations() {
        assert_eq!(OrderStatus::Pending.at(100, 100), OrderStatus::Invalid);
        assert_eq!(OrderStatus::Ready.at(100, 101), OrderStatus::Invalid);
        assert_eq!(OrderStatus::Pending.at(100, 99), OrderStatus::Pending);
        assert_eq!(OrderStatus::Valid.at(100, 200), OrderStatus::Valid, "an issued order stays valid");
        use AuthorizationStatus as A;
        assert_eq!(OrderStatus::from_authorizations(&[A::Valid, A::Valid]), OrderStatus::Ready);
        assert_eq!(OrderStatus::from_authorizations(&[A::Valid, A::Pending]), OrderStatus::Pending);
        assert_eq!(OrderStatus::from_authorizations(&[A::Valid, A::Invalid]), OrderStatus::Invalid);
        assert_eq!(OrderStatus::from_authorizations(&[A::Expired]), OrderStatus::Invalid);
        assert_eq!(OrderStatus::from_authorizations(&[]), OrderStatus::Pending);
    }

    #[test]
    fn authorization_challenge_and_account_machines() {
        assert_eq!(
            allowed(AuthorizationStatus::ALL),
            [
                ("pending", "valid"),
                ("pending", "invalid"),
                ("pending", "deactivated"),
                ("pending", "expired"),
                ("valid", "deactivated"),
                ("valid", "expired"),
                ("valid", "revoked"),
            ]
        );
        assert_eq!(AuthorizationStatus::Valid.at(10, 10), AuthorizationStatus::Expired);
        assert_eq!(AuthorizationStatus::Invalid.at(10, 20), AuthorizationStatus::Invalid);
        assert_eq!(
            allowed(ChallengeStatus::ALL),
            [
                ("pending", "processing"),
                ("pending", "invalid"),
                ("processing", "processing"),
                ("processing", "valid"),
                ("processing", "invalid"),
            ]
        );
        assert!(ChallengeStatus::Valid.transition(ChallengeStatus::Processing).is_err());
        assert_eq!(allowed(AccountStatus::ALL), [("valid", "deactivated"), ("valid", "revoked")]);
        let e = AccountStatus::Deactivated.transition(AccountStatus::Valid).unwrap_err();
        assert_eq!(e.object, AcmeObject::Account);
    }

    #[test]
    fn statuses_and_types_round_trip_their_words() {
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>().unwrap(), *s);
        }
        for s in AuthorizationStatus::ALL {
            assert_eq!(s.as_str().parse::<AuthorizationStatus>().unwrap(), *s);
        }
        for s in ChallengeStatus::ALL {
            assert_eq!(s.as_str().parse::<ChallengeStatus>().unwrap(), *s);
        }
        for s in AccountStatus::ALL {
            assert_eq!(s.as_str().parse::<AccountStatus>().unwrap(), *s);
        }
        for t in [ChallengeType::Http01, ChallengeType::Dns01, ChallengeType::TlsAlpn01] {
            assert_eq!(t.as_str().parse::<ChallengeType>().unwrap(), t);
        }
        assert!("Valid".parse::<OrderStatus>().is_err());
        let id: AcmeIdentifier = serde_json::from_str(r#"{"type":"ip","value":"10.0.0.1"}"#).unwrap();
        assert_eq!(id, AcmeIdentifier::ip("10.0.0.1"));
        assert!(serde_json::from_str::<AcmeIdentifier>(r#"{"type":"email","value":"a"}"#).is_err());
    }
}
