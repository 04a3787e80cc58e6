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

/// An ECDSA key held by ring, whose P-256 and P-384 signing is several times faster
/// than the RustCrypto crates': for keys that may sign every request (the OCSP responder's,
/// when a nonce forbids a pre-signed answer). Same DER signatures, same certified key.
pub struct FastSigner {
    key: ring::signature::EcdsaKeyPair,
    key_type: KeyType,
    public: PublicKey,
    rng: ring::rand::SystemRandom,
}

impl FastSigner {
    /// The key in ring, or `None` for a key type it does not sign here (RSA).
    pub fn new(key: &KeyPair) -> Result<Option<FastSigner>, KeyError> {
        let algorithm = match key.key_type() {
            KeyType::P256 => &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            KeyType::P384 => &ring::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            _ => return Ok(None),
        };
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = key.to_pkcs8_der()?;
        let ring_key = ring::signature::EcdsaKeyPair::from_pkcs8(algorithm, &pkcs8, &rng)
            .map_err(|e| KeyError::Unsupported(format!("ring refuses the key: {e}")))?;
        let public = key.public_key();
        Ok(Some(FastSigner { key: ring_key, key_type: key.key_type(), public, rng }))
    }

    /// The fastest signer for this key: ring for ECDSA keys, else [`MemorySigner`].
    pub fn fastest(key: KeyPair) -> Result<std::sync::Arc<dyn CaSigner>, KeyError> {
        Ok(match FastSigner::new(&key)? {
            Some(fast) => std::sync::Arc::new(fast),
            None => std::sync::Arc::new(MemorySigner::new(key)),
        })
    }
}

impl CaSigner for FastSigner {
    fn key_type(&self) -> KeyType {
        self.key_type
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.key
            .sign(&self.rng, message)
            .map(|signature| signature.as_ref().to_vec())
            .map_err(|_| KeyError::Sign("ring could not sign".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_signatures_verify_with_the_certified_key() {
        for key_type in [KeyType::P256, KeyType::P384] {
            let key = KeyPair::generate(key_type).unwrap();
            let fast = FastSigner::new(&key).unwrap().expect("ECDSA keys go to ring");
            let message = b"tbsResponseData";
            let signature = fast.sign(message).unwrap();
            assert_eq!(fast.public_key().spki_der(), key.public_key().spki_der());
            let algorithm = crate::signature::algorithm_identifier(key_type).unwrap().oid.to_string();
            crate::signature::verify(key.public_key().spki_der(), &algorithm, message, &signature).unwrap();
        }
        assert!(FastSigner::new(&KeyPair::generate(KeyType::Rsa2048).unwrap()).unwrap().is_none());
    }
}
