//! Certificate profiles: what "exactly the right key usages" means for each kind.

use std::fmt;
use std::str::FromStr;

use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};

use crate::keys::KeyType;

/// What kind of certificate: it fixes basicConstraints, keyUsage and extKeyUsage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A self-signed root CA.
    Root,
    /// A CA signed by another CA.
    Intermediate,
    /// A TLS server (serverAuth).
    Server,
    /// A TLS client (clientAuth).
    Client,
    /// Both ends of mutual TLS (serverAuth and clientAuth).
    Peer,
    /// A delegated OCSP responder (OCSPSigning, id-pkix-ocsp-nocheck, no SAN). Issued only by
    /// [`Authority::issue_ocsp_responder`](crate::Authority::issue_ocsp_responder), never on request.
    OcspResponder,
}

impl Profile {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Root => "root",
            Profile::Intermediate => "intermediate",
            Profile::Server => "server",
            Profile::Client => "client",
            Profile::Peer => "peer",
            Profile::OcspResponder => "ocsp-responder",
        }
    }

    /// Whether a certificate request (issue, sign, renew, batch) may ask for this profile:
    /// CAs come from `init`/add-intermediate, responder certificates from the online CA.
    pub fn is_requestable(self) -> bool {
        matches!(self, Profile::Server | Profile::Client | Profile::Peer)
    }

    /// Whether what this profile certifies points relying parties at the issuer's CRL, OCSP
    /// and certificate. An OCSP responder certificate does not: id-pkix-ocsp-nocheck says it is
    /// not checked for revocation (RFC 6960 4.2.2.2.1).
    pub fn carries_issuer_urls(self) -> bool {
        self != Profile::OcspResponder
    }

    /// Whether certificates of this profile are CAs.
    pub fn is_ca(self) -> bool {
        matches!(self, Profile::Root | Profile::Intermediate)
    }

    /// keyUsage bits (always marked critical). keyEncipherment only for RSA leaves: an EC
    /// key cannot encipher, and linters flag the bit on EC keys as an error.
    pub fn key_usages(self, key_type: KeyType) -> Vec<KeyUsagePurpose> {
        if self.is_ca() {
            return vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        }
        let mut usages = vec![KeyUsagePurpose::DigitalSignature];
        // An OCSP responder only signs responses.
        if key_type.is_rsa() && self != Profile::OcspResponder {
            usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        usages
    }

    /// extKeyUsage purposes (none for CAs).
    pub fn extended_key_usages(self) -> Vec<ExtendedKeyUsagePurpose> {
        match self {
            Profile::Root | Profile::Intermediate => vec![],
            Profile::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
            Profile::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
            Profile::Peer => {
                vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth]
            }
            Profile::OcspResponder => vec![ExtendedKeyUsagePurpose::OcspSigning],
        }
    }

    /// Whether the profile must carry a subjectAltName. Every TLS leaf gets one (strict
    /// verifiers want it on clients too); server and peer must have a DNS or IP name. An OCSP
    /// responder has none: it is named by its key or subject in the responses it signs.
    pub fn requires_san(self) -> bool {
        self.is_requestable()
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Profile::Root,
            Profile::Intermediate,
            Profile::Server,
            Profile::Client,
            Profile::Peer,
            Profile::OcspResponder,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
        .ok_or_else(|| format!("unknown profile \"{}\"", crate::error::excerpt(s)))
    }
}
