//! The public keys and signatures a path validator meets: which keys are strong enough to
//! trust (RSA of 2048 bits or more, P-256, P-384, P-521 for end entities, Ed25519), and
//! checking a certificate's or CRL's signature with its issuer's key.

use der::asn1::UintRef;
use der::{Decode, Sequence};
use sha2::{Sha256, Sha384, Sha512};
use spki::SubjectPublicKeyInfoRef;

use crate::signature::{ECDSA_SHA256, ECDSA_SHA384, ECDSA_SHA512, RSA_SHA256, RSA_SHA384, RSA_SHA512};

const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const ED25519: &str = "1.3.101.112";
const ED25519_SIGNATURE: &str = "1.3.101.112";
const SECP256R1: &str = "1.2.840.10045.3.1.7";
const SECP384R1: &str = "1.3.132.0.34";
const SECP521R1: &str = "1.3.132.0.35";

/// Smallest RSA modulus accepted (NIST SP 800-131A, CA/Browser Forum).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus checked: a bigger one only costs time.
const MAX_RSA_BITS: usize = 8192;

/// A subject public key, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    Rsa(usize),
    P256,
    P384,
    P521,
    Ed25519,
}

impl KeyKind {
    pub fn describe(&self) -> String {
        match self {
            KeyKind::Rsa(bits) => format!("RSA-{bits}"),
            KeyKind::P256 => "ECDSA P-256".into(),
            KeyKind::P384 => "ECDSA P-384".into(),
            KeyKind::P521 => "ECDSA P-521".into(),
            KeyKind::Ed25519 => "Ed25519".into(),
        }
    }

    pub fn is_rsa(&self) -> bool {
        matches!(self, KeyKind::Rsa(_))
    }
}

#[derive(Sequence)]
struct RsaPublicKeyRef<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

/// The key of a SubjectPublicKeyInfo, or why no verifier should trust it (a weak or unknown
/// key, explicit curve parameters, a malformed point).
pub fn classify(spki_der: &[u8]) -> Result<KeyKind, String> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| format!("its public key is unreadable ({e})"))?;
    let algorithm = spki.algorithm.oid.to_string();
    match algorithm.as_str() {
        RSA_ENCRYPTION => {
            let bytes =
                spki.subject_public_key.as_bytes().ok_or("its RSA key is not a whole number of bytes")?;
            let key =
                RsaPublicKeyRef::from_der(bytes).map_err(|e| format!("its RSA key is unreadable ({e})"))?;
            let modulus = key.modulus.as_bytes();
            let bits =
                (modulus.len() * 8).saturating_sub(modulus.first().map_or(8, |b| b.leading_zeros() as usize));
            if key.public_exponent.as_bytes() == [1] || key.public_exponent.as_bytes().is_empty() {
                return Err("its RSA key has a public exponent of 1".into());
            }
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "its RSA-{bits} key is too weak (at least {MIN_RSA_BITS} bits are required)"
                ));
            }
            if bits % 8 != 0 {
                return Err(format!(
                    "its RSA modulus is {bits} bits, not a whole number of bytes (CA/Browser Forum BR 6.1.5)"
                ));
            }
            if bits > MAX_RSA_BITS {
                return Err(format!("its RSA-{bits} key is larger than {MAX_RSA_BITS} bits"));
            }
            Ok(KeyKind::Rsa(bits))
        }
        EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<spki::ObjectIdentifier>().ok())
                .map(|oid| oid.to_string())
                .ok_or("its EC key has explicit curve parameters instead of a named curve")?;
            let point = spki.subject_public_key.raw_bytes();
            match curve.as_str() {
                SECP256R1 => p256::PublicKey::from_sec1_bytes(point)
                    .map(|_| KeyKind::P256)
                    .map_err(|_| "its P-256 key is not a point on the curve".to_string()),
                SECP384R1 => p384::PublicKey::from_sec1_bytes(point)
                    .map(|_| KeyKind::P384)
                    .map_err(|_| "its P-384 key is not a point on the curve".to_string()),
                SECP521R1 if (point.len() == 133 && point[0] == 4) || point.len() == 67 => Ok(KeyKind::P521),
                other => Err(format!(
                    "its key is on the curve {}, which is not accepted",
                    crate::keys::algorithm_name(other)
                )),
            }
        }
        ED25519 => {
            let bytes: [u8; 32] = spki
                .subject_public_key
                .raw_bytes()
                .try_into()
                .map_err(|_| "its Ed25519 key is not 32 bytes".to_string())?;
            ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map(|_| KeyKind::Ed25519)
                .map_err(|_| "its Ed25519 key is not a valid point".to_string())
        }
        other => Err(format!("its key algorithm {} is not accepted", crate::keys::algorithm_name(other))),
    }
}

/// Why a signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureFailure {
    /// The signature is wrong for this key.
    Invalid,
    /// The signer's key cannot be used at all (weak, unknown).
    Key(String),
    /// The algorithm is not one a verifier accepts (SHA-1, MD5, RSA-PSS …) or does not fit the key.
    Algorithm(String),
}

impl std::fmt::Display for SignatureFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureFailure::Invalid => f.write_str("the signature does not verify"),
            SignatureFailure::Key(why) => write!(f, "the signer's key is refused: {why}"),
            SignatureFailure::Algorithm(why) => f.write_str(why),
        }
    }
}

const RSA_PSS: &str = "1.2.840.113549.1.1.10";
const MGF1: &str = "1.2.840.113549.1.1.8";
const SHA256: &str = "2.16.840.1.101.3.4.2.1";
const SHA384: &str = "2.16.840.1.101.3.4.2.2";
const SHA512: &str = "2.16.840.1.101.3.4.2.3";

/// RSASSA-PSS-params (RFC 4055 3.1); absent fields mean SHA-1, which is refused.
#[derive(Sequence)]
struct PssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<spki::AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen: Option<spki::AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u32>,
}

/// Checks `signature` over `message`, signed with `algorithm_oid` (whose parameters, DER, are
/// `parameters`), with the key `spki_der`.
pub fn verify(
    spki_der: &[u8],
    algorithm_oid: &str,
    parameters: Option<&[u8]>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureFailure> {
    if algorithm_oid == RSA_PSS {
        return verify_pss(spki_der, parameters, message, signature);
    }
    let kind = classify(spki_der).map_err(SignatureFailure::Key)?;
    let mismatch = || {
        SignatureFailure::Algorithm(format!(
            "the signature algorithm {} does not fit the signer's {} key",
            crate::keys::algorithm_name(algorithm_oid),
            kind.describe()
        ))
    };
    match (algorithm_oid, &kind) {
        (ECDSA_SHA256 | ECDSA_SHA384 | ECDSA_SHA512, KeyKind::P256 | KeyKind::P384) => {
            crate::signature::verify(spki_der, algorithm_oid, message, signature)
                .map_err(|_| SignatureFailure::Invalid)
        }
        (ECDSA_SHA256 | ECDSA_SHA384 | ECDSA_SHA512, KeyKind::P521) => {
            Err(SignatureFailure::Algorithm("signatures by P-521 keys cannot be checked here".into()))
        }
        (RSA_SHA256 | RSA_SHA384 | RSA_SHA512, KeyKind::Rsa(_)) => {
            verify_rsa(spki_der, algorithm_oid, message, signature)
        }
        (ED25519_SIGNATURE, KeyKind::Ed25519) => verify_ed25519(spki_der, message, signature),
        (
            ECDSA_SHA256 | ECDSA_SHA384 | ECDSA_SHA512 | RSA_SHA256 | RSA_SHA384 | RSA_SHA512
            | ED25519_SIGNATURE,
            _,
        ) => Err(mismatch()),
        (other, _) => Err(SignatureFailure::Algorithm(format!(
            "its signature algorithm {} is not accepted (ECDSA, RSA PKCS#1 v1.5 with SHA-256/384/512, or Ed25519)",
            crate::keys::algorithm_name(other)
        ))),
    }
}

fn verify_rsa(
    spki_der: &[u8],
    algorithm_oid: &str,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureFailure> {
    use pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    let key = rsa::PublicKey::from_public_key_der(spki_der)
        .map_err(|e| SignatureFailure::Key(format!("its RSA key is unusable ({e})")))?;
    let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| SignatureFailure::Invalid)?;
    let checked = match algorithm_oid {
        RSA_SHA256 => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key).verify(message, &sig),
        RSA_SHA384 => rsa::pkcs1v15::VerifyingKey::<Sha384>::new(key).verify(message, &sig),
        _ => rsa::pkcs1v15::VerifyingKey::<Sha512>::new(key).verify(message, &sig),
    };
    checked.map_err(|_| SignatureFailure::Invalid)
}

fn verify_pss(
    spki_der: &[u8],
    parameters: Option<&[u8]>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureFailure> {
    use pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    let refused = |why: &str| SignatureFailure::Algorithm(format!("its RSASSA-PSS signature {why}"));
    let kind = classify(spki_der).map_err(SignatureFailure::Key)?;
    if !kind.is_rsa() {
        return Err(refused(&format!("does not fit the signer's {} key", kind.describe())));
    }
    let params = parameters
        .and_then(|der| PssParams::from_der(der).ok())
        .ok_or_else(|| refused("has unreadable parameters"))?;
    let hash = params.hash.as_ref().map(|h| h.oid.to_string()).ok_or_else(|| refused("uses SHA-1"))?;
    let mgf_hash = params
        .mask_gen
        .as_ref()
        .filter(|m| m.oid.to_string() == MGF1)
        .and_then(|m| m.parameters.as_ref())
        .and_then(|p| p.decode_as::<spki::AlgorithmIdentifierOwned>().ok())
        .map(|h| h.oid.to_string());
    if mgf_hash.as_deref() != Some(hash.as_str()) {
        return Err(refused("has a mask generation function other than MGF1 with its own hash"));
    }
    if params.trailer_field.is_some_and(|t| t != 1) {
        return Err(refused("has a trailer field other than 1"));
    }
    let salt = params.salt_length.unwrap_or(20) as usize;
    let key = rsa::PublicKey::from_public_key_der(spki_der)
        .map_err(|e| SignatureFailure::Key(format!("its RSA key is unusable ({e})")))?;
    let sig = rsa::pss::Signature::try_from(signature).map_err(|_| SignatureFailure::Invalid)?;
    let checked = match hash.as_str() {
        SHA256 => rsa::pss::VerifyingKey::<Sha256>::new_with_salt_len(key, salt).verify(message, &sig),
        SHA384 => rsa::pss::VerifyingKey::<Sha384>::new_with_salt_len(key, salt).verify(message, &sig),
        SHA512 => rsa::pss::VerifyingKey::<Sha512>::new_with_salt_len(key, salt).verify(message, &sig),
        _ => return Err(refused("uses a hash other than SHA-256/384/512")),
    };
    checked.map_err(|_| SignatureFailure::Invalid)
}

fn verify_ed25519(spki_der: &[u8], message: &[u8], signature: &[u8]) -> Result<(), SignatureFailure> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|_| SignatureFailure::Invalid)?;
    let bytes: [u8; 32] =
        spki.subject_public_key.raw_bytes().try_into().map_err(|_| SignatureFailure::Invalid)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| SignatureFailure::Invalid)?;
    let signature = ed25519_dalek::Signature::from_slice(signature).map_err(|_| SignatureFailure::Invalid)?;
    key.verify_strict(message, &signature).map_err(|_| SignatureFailure::Invalid)
}
