//! Signing through a trait: the engine asks a [`CaSigner`] for signatures and never sees
//! where the key lives (a file unlocked in memory today; a PKCS#11 token later).

use super::{KeyError, KeyPair, KeyType, PublicKey};

/// A key that signs for a CA.
pub trait CaSigner: Send + Sync {
    /// The key's type, which fixes the signature algorithm.
    fn key_type(&self) -> KeyType;
    /// The public half, as certified.
    fn public_key(&self) -> &PublicKey;
    /// Signs `message` (hashing it as the key type's algorithm prescribes). ECDSA signatures
    /// are DER-encoded; RSA ones are PKCS#1 v1.5.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
}

/// A key held in memory: a file key once unlocked, or a key just generated.
pub struct MemorySigner {
    key: KeyPair,
    public: PublicKey,
}

impl MemorySigner {
    /// Wraps a key pair.
    pub fn new(key: KeyPair) -> MemorySigner {
        let public = key.public_key();
        MemorySigner { key, public }
    }

    /// The key itself, for the key store to write it.
    pub(crate) fn key_pair(&self) -> &KeyPair {
        &self.key
    }
}

impl CaSigner for MemorySigner {
    fn key_type(&self) -> KeyType {
        self.key.key_type()
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        rcgen::SigningKey::sign(&self.key, message).map_err(|e| KeyError::Sign(e.to_string()))
    }
}
