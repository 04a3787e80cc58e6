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
        }
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
        if key_type.is_rsa() {
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
        }
    }

    /// Whether the profile must carry a subjectAltName. Every leaf gets one (strict
    /// verifiers want it on clients too); server and peer must have a DNS or IP name.
    pub fn requires_san(self) -> bool {
        !self.is_ca()
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
        [Profile::Root, Profile::Intermediate, Profile::Server, Profile::Client, Profile::Peer]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown profile \"{}\"", crate::error::excerpt(s)))
    }
}
