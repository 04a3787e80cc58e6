//! Key types: generate, encode, and encrypt/decrypt PKCS#8 at rest.
//!
//! One crypto stack (RustCrypto's p256, p384 and rsa) does all the work; rcgen signs through
//! the `SigningKey`/`PublicKeyData` traits implemented here.

use std::fmt;
use std::str::FromStr;

use getrandom::SysRng;
use p256::elliptic_curve::Generate;
use pkcs8::der::Decode;
use pkcs8::der::pem::LineEnding;
use pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, PrivateKeyInfoRef};
use sha2::{Digest, Sha256};
use spki::SubjectPublicKeyInfoRef;
use zeroize::Zeroizing;

mod pkcs12;
mod process;
mod signer;
mod store;

pub use pkcs12::{Pkcs12Contents, Pkcs12Encryption, encode_pkcs12};
pub use process::forbid_core_dumps;
pub use signer::{CaSigner, FastSigner, MemorySigner};
pub use store::{FileKeyStore, FixedPassphrase, Unlock, UnlockedKey, read_plain_key};

/// PEM label of an encrypted PKCS#8 key; anything else is read as plain PKCS#8.
const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// The key algorithms pkictl makes and certifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA on P-256 (the default).
    P256,
    /// ECDSA on P-384.
    P384,
    /// RSA, 2048-bit modulus.
    Rsa2048,
    /// RSA, 3072-bit modulus.
    Rsa3072,
    /// RSA, 4096-bit modulus.
    Rsa4096,
}

impl KeyType {
    /// Every type, in the order help lists them.
    pub const ALL: [KeyType; 5] =
        [KeyType::P256, KeyType::P384, KeyType::Rsa2048, KeyType::Rsa3072, KeyType::Rsa4096];

    /// The name operators type (`p256`, `rsa3072`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::P256 => "p256",
            KeyType::P384 => "p384",
            KeyType::Rsa2048 => "rsa2048",
            KeyType::Rsa3072 => "rsa3072",
            KeyType::Rsa4096 => "rsa4096",
        }
    }

    /// Whether it is an RSA type.
    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }

    fn rsa_bits(self) -> Option<usize> {
        match self {
            KeyType::Rsa2048 => Some(2048),
            KeyType::Rsa3072 => Some(3072),
            KeyType::Rsa4096 => Some(4096),
            KeyType::P256 | KeyType::P384 => None,
        }
    }

    fn from_rsa_bits(bits: usize) -> Option<KeyType> {
        match bits {
            2048 => Some(KeyType::Rsa2048),
            3072 => Some(KeyType::Rsa3072),
            4096 => Some(KeyType::Rsa4096),
            _ => None,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyType::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            format!(
                "unknown key type \"{}\"; use one of p256, p384, rsa2048, rsa3072, rsa4096",
                crate::error::excerpt(s)
            )
        })
    }
}

/// Why a key could not be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Generation failed (the system RNG, or prime search).
    #[error("the key could not be generated: {0}")]
    Generate(String),
    /// Encoding failed.
    #[error("the key could not be encoded: {0}")]
    Encode(String),
    /// The passphrase does not decrypt the key.
    #[error("the passphrase does not decrypt the key")]
    WrongPassphrase,
    /// The key is encrypted and no passphrase was given.
    #[error("the key is encrypted and no passphrase was given")]
    PassphraseRequired,
    /// The bytes are not PKCS#8 PEM.
    #[error("the file is not a PKCS#8 private key in PEM form")]
    NotPkcs8,
    /// An algorithm or size pkictl does not accept.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// The signer failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

enum Signer {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Rsa(Box<rsa::pkcs1v15::SigningKey<Sha256>>),
}

/// A private key together with its encoded public half. The signing keys zeroize
/// themselves on drop (ZeroizeOnDrop in p256, p384 and rsa).
pub struct KeyPair {
    key_type: KeyType,
    signer: Signer,
    spki_der: Vec<u8>,
    /// The subjectPublicKey BIT STRING contents: what rcgen's `der_bytes` wants.
    public_key_bits: Vec<u8>,
}

impl KeyPair {
    /// A fresh key of this type from the system RNG.
    pub fn generate(key_type: KeyType) -> Result<KeyPair, KeyError> {
        let rng_failed = |e: getrandom::Error| KeyError::Generate(e.to_string());
        let signer = match key_type.rsa_bits() {
            None if key_type == KeyType::P256 => {
                Signer::P256(p256::ecdsa::SigningKey::try_generate_from_rng(&mut SysRng).map_err(rng_failed)?)
            }
            None => {
                Signer::P384(p384::ecdsa::SigningKey::try_generate_from_rng(&mut SysRng).map_err(rng_failed)?)
            }
            Some(bits) => {
                let key =
                    rsa::PrivateKey::new(&mut SysRng, bits).map_err(|e| KeyError::Generate(e.to_string()))?;
                Signer::Rsa(Box::new(rsa::pkcs1v15::SigningKey::new(key)))
            }
        };
        KeyPair::from_signer(key_type, signer)
    }

    fn from_signer(key_type: KeyType, signer: Signer) -> Result<KeyPair, KeyError> {
        let spki_der = match &signer {
            Signer::P256(k) => k.verifying_key().to_public_key_der(),
            Signer::P384(k) => k.verifying_key().to_public_key_der(),
            Signer::Rsa(k) => k.as_ref().as_ref().to_public_key().to_public_key_der(),
        }
        .map_err(|e| KeyError::Encode(e.to_string()))?
        .into_vec();
        let public_key_bits = SubjectPublicKeyInfoRef::from_der(&spki_der)
            .map_err(|e| KeyError::Encode(e.to_string()))?
            .subject_public_key
            .raw_bytes()
            .to_vec();
        Ok(KeyPair { key_type, signer, spki_der, public_key_bits })
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The SubjectPublicKeyInfo, DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key_type: self.key_type,
            spki_der: self.spki_der.clone(),
            public_key_bits: self.public_key_bits.clone(),
        }
    }

    /// RFC 7093 method 1: the leftmost 160 bits of SHA-256 over the subjectPublicKey bits.
    pub fn key_id(&self) -> Vec<u8> {
        key_id_of(&self.public_key_bits)
    }

    /// Plain (unencrypted) PKCS#8 PEM.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let doc = self.pkcs8_der()?;
        doc.to_pem("PRIVATE KEY", LineEnding::LF).map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// PKCS#8 encrypted with PBES2 (scrypt, log2 N = 14, r = 8, p = 1, AES-256-CBC): the
    /// parameters OpenSSL 3 accepts within its default scrypt memory limit.
    pub fn to_encrypted_pkcs8_pem(&self, passphrase: &[u8]) -> Result<Zeroizing<String>, KeyError> {
        let doc = self.pkcs8_der()?;
        let info =
            PrivateKeyInfoRef::from_der(doc.as_bytes()).map_err(|e| KeyError::Encode(e.to_string()))?;
        let params = pkcs8::pkcs5::pbes2::Parameters::generate_scrypt(&mut SysRng)
            .map_err(|e| KeyError::Encode(e.to_string()))?;
        let encrypted =
            info.encrypt_with_params(params, passphrase).map_err(|e| KeyError::Encode(e.to_string()))?;
        encrypted.to_pem(ENCRYPTED_LABEL, LineEnding::LF).map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// Plain PKCS#8 DER, zeroized on drop.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        Ok(Zeroizing::new(self.pkcs8_der()?.as_bytes().to_vec()))
    }

    fn pkcs8_der(&self) -> Result<pkcs8::SecretDocument, KeyError> {
        match &self.signer {
            Signer::P256(k) => {
                ec_pkcs8_der(&Zeroizing::new(k.to_bytes().to_vec()), oids::SECP256R1, &self.public_key_bits)
            }
            Signer::P384(k) => {
                ec_pkcs8_der(&Zeroizing::new(k.to_bytes().to_vec()), oids::SECP384R1, &self.public_key_bits)
            }
            Signer::Rsa(k) => k.as_ref().as_ref().to_pkcs8_der().map_err(|e| KeyError::Encode(e.to_string())),
        }
    }

    /// Reads a PKCS#8 PEM key, decrypting it when it is encrypted.
    pub fn from_pkcs8_pem(pem: &str, passphrase: Option<&[u8]>) -> Result<KeyPair, KeyError> {
        let (label, der) = pkcs8::der::pem::decode_vec(pem.as_bytes()).map_err(|_| KeyError::NotPkcs8)?;
        let der = Zeroizing::new(der);
        if label == ENCRYPTED_LABEL {
            let passphrase = passphrase.ok_or(KeyError::PassphraseRequired)?;
            let encrypted =
                pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der).map_err(|_| KeyError::NotPkcs8)?;
            let plain = encrypted.decrypt(passphrase).map_err(|_| KeyError::WrongPassphrase)?;
            // A wrong passphrase can still yield valid padding by chance; then the
            // plaintext is not DER, which is the same failure to the user.
            KeyPair::from_pkcs8_der(plain.as_bytes()).map_err(|e| match e {
                KeyError::NotPkcs8 => KeyError::WrongPassphrase,
                other => other,
            })
        } else if label == "PRIVATE KEY" {
            KeyPair::from_pkcs8_der(&der)
        } else {
            Err(KeyError::NotPkcs8)
        }
    }

    /// Whether a PEM key is encrypted PKCS#8.
    pub fn is_encrypted_pem(pem: &str) -> bool {
        pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    }

    /// Reads plain PKCS#8 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<KeyPair, KeyError> {
        let info = PrivateKeyInfoRef::from_der(der).map_err(|_| KeyError::NotPkcs8)?;
        let oid = info.algorithm.oid;
        if oid == rsa::pkcs1::ALGORITHM_OID {
            let key =
                rsa::PrivateKey::from_pkcs8_der(der).map_err(|e| KeyError::Unsupported(e.to_string()))?;
            let bits = rsa_modulus_bits(&key);
            let key_type = KeyType::from_rsa_bits(bits).ok_or_else(|| {
                KeyError::Unsupported(format!("RSA keys of {bits} bits (use 2048, 3072 or 4096)"))
            })?;
            return KeyPair::from_signer(key_type, Signer::Rsa(Box::new(key.into())));
        }
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            return KeyPair::from_signer(KeyType::P256, Signer::P256(k));
        }
        if let Ok(k) = p384::ecdsa::SigningKey::from_pkcs8_der(der) {
            return KeyPair::from_signer(KeyType::P384, Signer::P384(k));
        }
        Err(KeyError::Unsupported(format!(
            "key algorithm {} (use P-256, P-384 or RSA)",
            algorithm_name(&oid.to_string())
        )))
    }
}

/// A public key the CA certifies: generated here or taken from a CSR.
#[derive(Debug, Clone)]
pub struct PublicKey {
    key_type: KeyType,
    spki_der: Vec<u8>,
    public_key_bits: Vec<u8>,
}

/// Object identifiers of the key algorithms pkictl certifies.
pub mod oids {
    pub const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
    pub const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
    pub const SECP256R1: &str = "1.2.840.10045.3.1.7";
    pub const SECP384R1: &str = "1.3.132.0.34";
}

/// A readable name for an algorithm or curve OID pkictl refuses ("P-521", "Ed25519"), with
/// the OID itself for anything unknown.
pub fn algorithm_name(oid: &str) -> String {
    let name = match oid {
        "1.3.132.0.35" => "P-521",
        "1.3.132.0.10" => "secp256k1",
        "1.2.840.10045.3.1.1" => "P-192",
        "1.3.132.0.33" => "P-224",
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        "1.3.101.110" => "X25519",
        "1.2.840.10040.4.1" => "DSA",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.113549.1.1.5" => "SHA-1 with RSA",
        "1.2.840.113549.1.1.4" => "MD5 with RSA",
        "1.2.840.10045.4.1" => "ECDSA with SHA-1",
        "1.2.840.10045.4.3.1" => "ECDSA with SHA-224",
        "1.2.840.113549.1.1.14" => "SHA-224 with RSA",
        _ => return format!("OID {oid}"),
    };
    format!("{name} ({oid})")
}

/// The modulus' real bit length. Not `n_bits_precision()`: that is the big integer's storage
/// precision, whole 64-bit limbs, so an RSA-2047 (or RSA-2000) key would pass as rsa2048.
fn rsa_modulus_bits(key: &impl rsa::traits::PublicKeyParts) -> usize {
    key.n().bit_width() as usize
}

impl PublicKey {
    /// Reads a SubjectPublicKeyInfo and refuses what pkictl will not certify: RSA keys under
    /// 2048 bits, curves other than P-256 and P-384, other algorithms.
    pub fn from_spki_der(spki_der: &[u8]) -> Result<PublicKey, KeyError> {
        let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
            .map_err(|e| KeyError::Unsupported(format!("unreadable public key ({e})")))?;
        let algorithm = spki.algorithm.oid.to_string();
        let key_type = match algorithm.as_str() {
            oids::RSA_ENCRYPTION => {
                let key = rsa::PublicKey::from_public_key_der(spki_der)
                    .map_err(|e| KeyError::Unsupported(format!("unreadable RSA public key ({e})")))?;
                let bits = rsa_modulus_bits(&key);
                KeyType::from_rsa_bits(bits).ok_or_else(|| {
                    KeyError::Unsupported(if bits < 2048 {
                        format!("RSA-{bits} is too weak; use at least 2048 bits")
                    } else {
                        format!("RSA-{bits} (use 2048, 3072 or 4096 bits)")
                    })
                })?
            }
            oids::EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .and_then(|p| p.decode_as::<spki::ObjectIdentifier>().ok())
                    .map(|oid| oid.to_string())
                    .unwrap_or_default();
                match curve.as_str() {
                    oids::SECP256R1 => {
                        p256::ecdsa::VerifyingKey::from_public_key_der(spki_der)
                            .map_err(|_| KeyError::Unsupported("invalid P-256 point".into()))?;
                        KeyType::P256
                    }
                    oids::SECP384R1 => {
                        p384::ecdsa::VerifyingKey::from_public_key_der(spki_der)
                            .map_err(|_| KeyError::Unsupported("invalid P-384 point".into()))?;
                        KeyType::P384
                    }
                    other => {
                        return Err(KeyError::Unsupported(format!(
                            "elliptic curve {} (use P-256 or P-384)",
                            algorithm_name(other)
                        )));
                    }
                }
            }
            other => {
                return Err(KeyError::Unsupported(format!(
                    "key algorithm {} (use P-256, P-384 or RSA)",
                    algorithm_name(other)
                )));
            }
        };
        Ok(PublicKey {
            key_type,
            spki_der: spki_der.to_vec(),
            public_key_bits: spki.subject_public_key.raw_bytes().to_vec(),
        })
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The SubjectPublicKeyInfo, DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The subjectPublicKey BIT STRING contents.
    pub fn bits(&self) -> &[u8] {
        &self.public_key_bits
    }

    /// RFC 7093 method 1 key identifier (SKI/AKI value).
    pub fn key_id(&self) -> Vec<u8> {
        key_id_of(&self.public_key_bits)
    }
}

impl rcgen::PublicKeyData for PublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key_bits
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        signature_algorithm(self.key_type)
    }
}

/// PKCS#8 (RFC 5958) around an RFC 5915 ECPrivateKey, with the public key we already hold: the
/// curve crates' own encoder recomputes it, a scalar multiplication per key written.
fn ec_pkcs8_der(
    scalar: &[u8],
    curve: &str,
    public_key_bits: &[u8],
) -> Result<pkcs8::SecretDocument, KeyError> {
    use pkcs8::der::Encode;
    let encode = |e: pkcs8::der::Error| KeyError::Encode(e.to_string());
    let curve: spki::ObjectIdentifier =
        curve.parse().map_err(|e: pkcs8::der::oid::Error| KeyError::Encode(e.to_string()))?;
    let ec_key =
        sec1::EcPrivateKey { private_key: scalar, parameters: None, public_key: Some(public_key_bits) };
    let ec_der = Zeroizing::new(ec_key.to_der().map_err(encode)?);
    let algorithm = spki::AlgorithmIdentifierRef {
        oid: oids::EC_PUBLIC_KEY
            .parse()
            .map_err(|e: pkcs8::der::oid::Error| KeyError::Encode(e.to_string()))?,
        parameters: Some(pkcs8::der::asn1::AnyRef::from(&curve)),
    };
    let info =
        PrivateKeyInfoRef::new(algorithm, pkcs8::der::asn1::OctetStringRef::new(&ec_der).map_err(encode)?);
    pkcs8::SecretDocument::try_from(&info).map_err(|e| KeyError::Encode(e.to_string()))
}

/// RFC 7093 method 1 key identifier of a subjectPublicKey BIT STRING's contents.
pub fn key_id_of(public_key_bits: &[u8]) -> Vec<u8> {
    Sha256::digest(public_key_bits)[..20].to_vec()
}

impl rcgen::PublicKeyData for KeyPair {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key_bits
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        signature_algorithm(self.key_type)
    }
}

impl rcgen::SigningKey for KeyPair {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        use rsa::signature::{SignatureEncoding, Signer as _};
        let failed = |_| rcgen::Error::RemoteKeyError;
        Ok(match &self.signer {
            Signer::P256(k) => {
                let sig: p256::ecdsa::Signature = k.try_sign(msg).map_err(failed)?;
                sig.to_der().as_bytes().to_vec()
            }
            Signer::P384(k) => {
                let sig: p384::ecdsa::Signature = k.try_sign(msg).map_err(failed)?;
                sig.to_der().as_bytes().to_vec()
            }
            Signer::Rsa(k) => k.try_sign(msg).map_err(failed)?.to_vec(),
        })
    }
}

/// The signature algorithm a key of this type signs with (and the SPKI algorithm rcgen
/// writes for it).
pub fn signature_algorithm(key_type: KeyType) -> &'static rcgen::SignatureAlgorithm {
    match key_type {
        KeyType::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyType::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_round_trip_and_wrong_passphrase() {
        let key = KeyPair::generate(KeyType::P256).unwrap();
        let pem = key.to_encrypted_pkcs8_pem(b"correct horse").unwrap();
        assert!(KeyPair::is_encrypted_pem(&pem));
        let back = KeyPair::from_pkcs8_pem(&pem, Some(b"correct horse")).unwrap();
        assert_eq!(back.spki_der(), key.spki_der());
        assert!(matches!(KeyPair::from_pkcs8_pem(&pem, Some(b"wrong")), Err(KeyError::WrongPassphrase)));
        assert!(matches!(KeyPair::from_pkcs8_pem(&pem, None), Err(KeyError::PassphraseRequired)));
    }

    #[test]
    fn plain_round_trip_every_ec_type() {
        for t in [KeyType::P256, KeyType::P384, KeyType::Rsa2048] {
            let key = KeyPair::generate(t).unwrap();
            let back = KeyPair::from_pkcs8_pem(&key.to_pkcs8_pem().unwrap(), None).unwrap();
            assert_eq!(back.key_type(), t);
            assert_eq!(back.key_id(), key.key_id());
        }
    }
}

/// `N` bytes from the system CSPRNG, zeroized when dropped: secrets that are not keys of a
/// certificate (an ACME EAB HMAC key, challenge tokens).
pub fn random_secret<const N: usize>() -> Result<Zeroizing<[u8; N]>, KeyError> {
    use rand_core::TryRng;
    let mut bytes = Zeroizing::new([0u8; N]);
    SysRng.try_fill_bytes(bytes.as_mut()).map_err(|e| KeyError::Generate(e.to_string()))?;
    Ok(bytes)
}
