//! What the ledger holds, as types: statuses, origins and names are enums, serials a type.

use std::fmt;
use std::str::FromStr;

use crate::engine::crl::Reason;
use crate::engine::profile::Profile;
use crate::engine::serial::Serial;
use crate::keys::KeyType;
use crate::names::San;

/// The recorded status of a certificate. Expiry is not a status: it follows from the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    /// Not revoked (it may still have expired).
    Valid,
    /// Revoked; the record carries when and why.
    Revoked,
}

impl CertStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CertStatus::Valid => "valid",
            CertStatus::Revoked => "revoked",
        }
    }
}

impl FromStr for CertStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "valid" => Ok(CertStatus::Valid),
            "revoked" => Ok(CertStatus::Revoked),
            other => Err(format!("unknown certificate status \"{other}\"")),
        }
    }
}

/// Where the certified key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// pkictl generated it (and handed it out; it does not keep it).
    Generated,
    /// It came in a CSR: the requester holds it.
    Csr,
    /// A CA key, kept in the home's key store.
    Ca,
}

impl KeyOrigin {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyOrigin::Generated => "generated",
            KeyOrigin::Csr => "csr",
            KeyOrigin::Ca => "ca",
        }
    }
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyOrigin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "generated" => Ok(KeyOrigin::Generated),
            "csr" => Ok(KeyOrigin::Csr),
            "ca" => Ok(KeyOrigin::Ca),
            other => Err(format!("unknown key source \"{other}\"")),
        }
    }
}

/// A CA about to be recorded.
pub struct NewAuthority<'a> {
    /// Display name (the CN of its subject).
    pub name: &'a str,
    /// File-name form of the name.
    pub slug: &'a str,
    /// The issuing parent; None for a root.
    pub parent_id: Option<i64>,
    /// The subject as text.
    pub subject: &'a str,
    /// The CA certificate.
    pub cert_der: &'a [u8],
    /// The certificate's subjectKeyIdentifier.
    pub ski: &'a [u8],
    /// Where the key store keeps the key (relative to the home for files).
    pub key_file: &'a str,
    /// The CA key's type.
    pub key_type: KeyType,
    /// Whether the key is encrypted at rest.
    pub key_encrypted: bool,
    /// pathLenConstraint; None for none.
    pub path_len: Option<u8>,
    /// Permitted DNS subtrees.
    pub permitted_dns: &'a [String],
    /// CRL distribution point put into what this CA signs.
    pub crl_url: Option<&'a str>,
    /// Base URL of the online CA (`pkictl serve`) named in what this CA signs.
    pub public_url: Option<&'a str>,
    /// Whether this becomes the default issuing CA.
    pub is_default: bool,
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
    /// When it is recorded.
    pub now: i64,
}

/// A CA of the home, as recorded.
#[derive(Debug, Clone)]
pub struct CaRecord {
    /// Ledger id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// File-name form of the name.
    pub slug: String,
    /// The parent's id; None for a root.
    pub parent_id: Option<i64>,
    /// The parent's name.
    pub parent_name: Option<String>,
    /// Subject as text.
    pub subject: String,
    /// The CA certificate.
    pub cert_der: Vec<u8>,
    /// The CA certificate's subjectKeyIdentifier.
    pub ski: Vec<u8>,
    /// Where the key store keeps the key.
    pub key_file: String,
    /// The CA key's type.
    pub key_type: KeyType,
    /// Whether the key is encrypted at rest.
    pub key_encrypted: bool,
    /// pathLenConstraint.
    pub path_len: Option<u8>,
    /// Permitted DNS subtrees.
    pub permitted_dns: Vec<String>,
    /// CRL distribution point.
    pub crl_url: Option<String>,
    /// Base URL of the online CA (`pkictl serve`) named in what this CA signs: CDP
    /// `<URL>/crl/<slug>.crl`, AIA OCSP `<URL>/ocsp`, AIA caIssuers `<URL>/ca/<slug>.crt`.
    pub public_url: Option<String>,
    /// How long its CRLs stay valid, in seconds.
    pub crl_validity_secs: i64,
    /// The number its next CRL gets.
    pub next_crl_number: i64,
    /// Whether it is the default issuing CA.
    pub is_default: bool,
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
    /// When it was recorded.
    pub created_at: i64,
    /// The status of the CA's own certificate.
    pub status: CertStatus,
    /// The CA certificate's serial.
    pub serial: Serial,
}

impl CaRecord {
    /// A root signs itself.
    pub fn is_root(&self) -> bool {
        self.parent_id.is_none()
    }
}

/// A certificate about to be recorded.
pub struct NewCertificate<'a> {
    /// The issuing CA's id.
    pub issuer_id: i64,
    /// The serial.
    pub serial: &'a Serial,
    /// Its profile.
    pub profile: Profile,
    /// Subject as text.
    pub subject: &'a str,
    /// Its commonName.
    pub common_name: Option<&'a str>,
    /// Its subjectAltNames.
    pub sans: &'a [San],
    /// The certified key's type.
    pub key_type: KeyType,
    /// Where the certified key came from.
    pub key_origin: KeyOrigin,
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
    /// SHA-256 of the DER, lower-case hex.
    pub fingerprint_sha256: &'a str,
    /// The certificate.
    pub der: &'a [u8],
    /// The certificate this one renews.
    pub renewed_from: Option<i64>,
    /// Set when this is a CA's own certificate.
    pub authority_id: Option<i64>,
    /// When it is recorded.
    pub now: i64,
}

/// A certificate as recorded.
#[derive(Debug, Clone)]
pub struct CertificateRecord {
    /// Ledger id.
    pub id: i64,
    /// The issuing CA's id.
    pub issuer_id: i64,
    /// The issuing CA's name.
    pub issuer_name: String,
    /// The serial.
    pub serial: Serial,
    /// Its profile.
    pub profile: Profile,
    /// Subject as text.
    pub subject: String,
    /// Its commonName.
    pub common_name: Option<String>,
    /// Its subjectAltNames.
    pub sans: Vec<San>,
    /// The certified key's type.
    pub key_type: KeyType,
    /// Where the certified key came from.
    pub key_origin: KeyOrigin,
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
    /// SHA-256 of the DER, lower-case hex.
    pub fingerprint_sha256: String,
    /// Recorded status.
    pub status: CertStatus,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// Why it was revoked.
    pub revocation_reason: Option<Reason>,
    /// The certificate this one renews.
    pub renewed_from: Option<i64>,
    /// Set when this is a CA's own certificate.
    pub authority_id: Option<i64>,
    /// When it was recorded.
    pub created_at: i64,
}

impl CertificateRecord {
    /// valid, revoked or expired at `now` (revoked wins: a revoked certificate stays revoked).
    pub fn state_at(&self, now: i64) -> CertState {
        match self.status {
            CertStatus::Revoked => CertState::Revoked,
            CertStatus::Valid if self.not_after <= now => CertState::Expired,
            CertStatus::Valid => CertState::Valid,
        }
    }
}

/// How many certificates are in each state at a moment, and the soonest expiry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CertificateSummary {
    /// Not revoked, inside their validity.
    pub valid: i64,
    /// Revoked.
    pub revoked: i64,
    /// Not revoked, past notAfter.
    pub expired: i64,
    /// The soonest notAfter of a valid certificate, Unix seconds.
    pub next_expiry: Option<i64>,
}

/// What a certificate is at a moment: its status and the clock together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertState {
    /// Not revoked, inside its validity.
    Valid,
    /// Revoked.
    Revoked,
    /// Not revoked, past notAfter.
    Expired,
}

impl CertState {
    /// The word `list` and `show` print.
    pub fn as_str(self) -> &'static str {
        match self {
            CertState::Valid => "valid",
            CertState::Revoked => "revoked",
            CertState::Expired => "expired",
        }
    }
}

/// How a certificate is looked up.
#[derive(Debug, Clone, Copy)]
pub enum CertSelector<'a> {
    /// By serial.
    Serial(&'a Serial),
    /// By SHA-256 fingerprint, 64 lower-case hex digits.
    Fingerprint(&'a str),
    /// By commonName (NAME at issuance).
    Name(&'a str),
}

/// Which statuses `list` wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Not revoked and not expired.
    Valid,
    /// Revoked.
    Revoked,
    /// Not revoked, expired.
    Expired,
    /// Everything.
    All,
}

/// What `list` asks for. Every condition is served by an index.
#[derive(Debug, Clone)]
pub struct CertFilter {
    /// Which statuses.
    pub status: StatusFilter,
    /// Only valid certificates whose notAfter falls before this time.
    pub expiring_before: Option<i64>,
    /// Only from this issuer.
    pub issuer_id: Option<i64>,
    /// Only this profile.
    pub profile: Option<Profile>,
    /// The time statuses are judged at.
    pub now: i64,
}

/// One CRL as recorded (without its DER).
#[derive(Debug, Clone)]
pub struct CrlRecord {
    /// The signing CA's id.
    pub issuer_id: i64,
    /// The signing CA's name.
    pub issuer_name: String,
    /// cRLNumber.
    pub number: i64,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: i64,
    /// How many revoked certificates it lists.
    pub entries: i64,
}

/// A CRL about to be recorded.
pub struct NewCrl<'a> {
    /// The signing CA's id.
    pub issuer_id: i64,
    /// cRLNumber.
    pub number: i64,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: i64,
    /// How many revoked certificates it lists.
    pub entries: i64,
    /// The signed CRL.
    pub der: &'a [u8],
    /// Every revocation of the CA when it was signed (expired certificates included): the
    /// audit chain keeps it as a checkpoint, so the next CRL's check starts from here.
    pub revoked: crate::ledger::chain::EntrySet,
}

/// What an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A CA was created.
    CaCreate,
    /// A CA's settings changed.
    CaConfigure,
    /// A certificate was issued.
    CertificateIssue,
    /// A certificate was revoked.
    CertificateRevoke,
    /// A CRL was signed.
    CrlPublish,
    /// An enrolment token was created.
    TokenCreate,
    /// An enrolment token was used: the certificate it produced is recorded with it.
    TokenUse,
    /// An enrolment token was revoked before use.
    TokenRevoke,
    /// An ACME provisioner was added.
    AcmeProvisionerAdd,
    /// An ACME provisioner was removed (it serves no more; its history stays).
    AcmeProvisionerRemove,
    /// An EAB key was made for an ACME provisioner.
    AcmeEabCreate,
    /// An ACME account was created (and bound to an EAB key).
    AcmeAccountCreate,
    /// An ACME account's status, contacts or key changed.
    AcmeAccountUpdate,
    /// An ACME order was created, with its authorizations and challenges.
    AcmeOrderCreate,
    /// An ACME order's status changed, or its certificate was linked.
    AcmeOrderUpdate,
    /// An ACME authorization's status changed.
    AcmeAuthorizationUpdate,
    /// An ACME challenge's status or validation record changed.
    AcmeChallengeUpdate,
}

impl EventKind {
    /// The stored action name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CaCreate => "ca.create",
            EventKind::CaConfigure => "ca.configure",
            EventKind::CertificateIssue => "certificate.issue",
            EventKind::CertificateRevoke => "certificate.revoke",
            EventKind::CrlPublish => "crl.publish",
            EventKind::TokenCreate => "token.create",
            EventKind::TokenUse => "token.use",
            EventKind::TokenRevoke => "token.revoke",
            EventKind::AcmeProvisionerAdd => "acme.provisioner.add",
            EventKind::AcmeProvisionerRemove => "acme.provisioner.remove",
            EventKind::AcmeEabCreate => "acme.eab.create",
            EventKind::AcmeAccountCreate => "acme.account.create",
            EventKind::AcmeAccountUpdate => "acme.account.update",
            EventKind::AcmeOrderCreate => "acme.order.create",
            EventKind::AcmeOrderUpdate => "acme.order.update",
            EventKind::AcmeAuthorizationUpdate => "acme.authorization.update",
            EventKind::AcmeChallengeUpdate => "acme.challenge.update",
        }
    }
}

/// One entry of the audit trail.
pub struct Event<'a> {
    /// When, Unix seconds.
    pub at: i64,
    /// What happened.
    pub kind: EventKind,
    /// To what (a serial, a CA name).
    pub target: &'a str,
    /// Whatever explains it, as a JSON object. Never a secret.
    pub detail: serde_json::Value,
}

/// A one-time enrolment token about to be recorded: only the SHA-256 of the token's text.
pub struct NewTokenRecord<'a> {
    /// SHA-256 of the token's text, lower-case hex.
    pub token_sha256: &'a str,
    /// The commonName of the certificate it enrols.
    pub name: &'a str,
    /// The profile of that certificate.
    pub profile: Profile,
    /// Exactly the subjectAltNames of that certificate.
    pub sans: &'a [San],
    /// The CA that issues it.
    pub issuer_id: i64,
    /// The certificate's lifetime, seconds.
    pub validity_secs: i64,
    /// When the token stops being usable, Unix seconds.
    pub expires_at: i64,
    /// When it is recorded.
    pub now: i64,
}

/// A one-time enrolment token as recorded (never the token itself).
#[derive(Debug, Clone)]
pub struct TokenRecord {
    /// Ledger id: what `token revoke` takes.
    pub id: i64,
    /// SHA-256 of the token's text, lower-case hex.
    pub token_sha256: String,
    /// The commonName of the certificate it enrols.
    pub name: String,
    /// The profile of that certificate.
    pub profile: Profile,
    /// Exactly the subjectAltNames of that certificate.
    pub sans: Vec<San>,
    /// The CA that issues it.
    pub issuer_id: i64,
    /// That CA's name.
    pub issuer_name: String,
    /// The certificate's lifetime, seconds.
    pub validity_secs: i64,
    /// When the token stops being usable, Unix seconds.
    pub expires_at: i64,
    /// When it was created.
    pub created_at: i64,
    /// When it was used.
    pub used_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// The certificate it produced.
    pub certificate_id: Option<i64>,
}

/// Where a token stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// Not used, not revoked, not expired.
    Unused,
    /// Used once; it can never be used again.
    Used,
    /// Past its expiry without being used.
    Expired,
    /// Revoked before use.
    Revoked,
}

impl TokenStatus {
    /// The spelling in listings and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Unused => "unused",
            TokenStatus::Used => "used",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        }
    }
}

impl fmt::Display for TokenStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TokenRecord {
    /// Its status at `now` (Unix seconds): a token is usable while `now < expires_at`.
    pub fn status(&self, now: i64) -> TokenStatus {
        if self.used_at.is_some() {
            TokenStatus::Used
        } else if self.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if now >= self.expires_at {
            TokenStatus::Expired
        } else {
            TokenStatus::Unused
        }
    }
}
