//! Verifying X.509 signatures (certificates, CRLs, CSRs): ECDSA on P-256 and P-384 with ring
//! (already in the build for TLS; it verifies about ten times faster than the p256 crate,
//! which a CA verifying every CSR and every certificate it signs notices), other ECDSA hash
//! pairings with p256 and p384, RSA with rsa. The bytes that were signed are taken from the
//! DER as received, never from a re-encoding.

use der::{Decode, Header, Reader, SliceReader};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::keys::{KeyError, PublicKey};

pub const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
pub const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
pub const ECDSA_SHA512: &str = "1.2.840.10045.4.3.4";
pub const RSA_SHA256: &str = "1.2.840.113549.1.1.11";
pub const RSA_SHA384: &str = "1.2.840.113549.1.1.12";
pub const RSA_SHA512: &str = "1.2.840.113549.1.1.13";

/// The AlgorithmIdentifier a key of this type signs with, as rcgen writes it in
/// certificates (RSA keys sign with SHA-256 and carry NULL parameters).
pub fn algorithm_identifier(
    key_type: crate::keys::KeyType,
) -> Result<spki::AlgorithmIdentifierOwned, der::oid::Error> {
    let (oid, null_parameters) = match key_type {
        crate::keys::KeyType::P256 => (ECDSA_SHA256, false),
        crate::keys::KeyType::P384 => (ECDSA_SHA384, false),
        _ => (RSA_SHA256, true),
    };
    Ok(spki::AlgorithmIdentifierOwned {
        oid: oid.parse()?,
        parameters: null_parameters.then(der::asn1::Any::null),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature does not verify")]
    Invalid,
    #[error("signature algorithm {0} is not supported (ECDSA or RSA PKCS#1 v1.5 with SHA-256/384/512)")]
    UnsupportedAlgorithm(String),
    #[error("the signer's key is not usable: {0}")]
    Key(KeyError),
    #[error("malformed: {0}")]
    Malformed(String),
}

/// What any signed X.509 structure (certificate, CRL) carries to be checked: the algorithm,
/// the signature value, and the signed bytes exactly as received.
#[derive(Debug, Clone)]
pub struct SignedData {
    pub algorithm: String,
    pub value: Vec<u8>,
    pub message: Vec<u8>,
}

impl SignedData {
    /// From the DER of the whole structure and its signatureAlgorithm and signature fields.
    pub fn from_der(der: &[u8], algorithm: String, value: &[u8]) -> Result<SignedData, SignatureError> {
        Ok(SignedData { algorithm, value: value.to_vec(), message: signed_part(der)?.to_vec() })
    }

    /// Whether the signer's key (SPKI DER) verifies the signature.
    pub fn verify(&self, signer_spki_der: &[u8]) -> Result<(), SignatureError> {
        verify(signer_spki_der, &self.algorithm, &self.message, &self.value)
    }
}

/// The first element inside the outer SEQUENCE of a signed structure (tbsCertificate,
/// tbsCertList, certificationRequestInfo), exactly as it appears in `der`.
pub fn signed_part(der: &[u8]) -> Result<&[u8], SignatureError> {
    let malformed = |e: der::Error| SignatureError::Malformed(e.to_string());
    let mut outer = SliceReader::new(der).map_err(malformed)?;
    Header::decode(&mut outer).map_err(malformed)?;
    let start = u32::from(outer.position()) as usize;
    let content = der.get(start..).ok_or_else(|| SignatureError::Malformed("truncated".into()))?;
    let mut inner = SliceReader::new(content).map_err(malformed)?;
    let header = Header::decode(&mut inner).map_err(malformed)?;
    let length = u32::from(inner.position()) as usize + u32::from(header.length()) as usize;
    content.get(..length).ok_or_else(|| SignatureError::Malformed("truncated".into()))
}

/// Checks `signature` over `message` with the key in `spki_der`, for the algorithm `oid`.
pub fn verify(
    spki_der: &[u8],
    algorithm_oid: &str,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    match algorithm_oid {
        ECDSA_SHA256 | ECDSA_SHA384
            if let Some(verified) = verify_ecdsa_with_ring(spki_der, algorithm_oid, message, signature) =>
        {
            verified
        }
        ECDSA_SHA256 => verify_ecdsa(spki_der, &Sha256::digest(message), signature),
        ECDSA_SHA384 => verify_ecdsa(spki_der, &Sha384::digest(message), signature),
        ECDSA_SHA512 => verify_ecdsa(spki_der, &Sha512::digest(message), signature),
        RSA_SHA256 => verify_rsa::<Sha256>(spki_der, message, signature),
        RSA_SHA384 => verify_rsa::<Sha384>(spki_der, message, signature),
        RSA_SHA512 => verify_rsa::<Sha512>(spki_der, message, signature),
        other => Err(SignatureError::UnsupportedAlgorithm(crate::keys::algorithm_name(other))),
    }
}

const P256_CURVE: &str = "1.2.840.10045.3.1.7";
const P384_CURVE: &str = "1.3.132.0.34";

/// ECDSA with ring, for the curve and hash pairings it has: Some(Ok) when the signature
/// verifies, None otherwise.
fn verify_ecdsa_with_ring(
    spki_der: &[u8],
    algorithm_oid: &str,
    message: &[u8],
    signature: &[u8],
) -> Option<Result<(), SignatureError>> {
    use ring::signature as ring_sig;
    let spki = spki::SubjectPublicKeyInfoRef::from_der(spki_der).ok()?;
    if spki.algorithm.oid.to_string() != "1.2.840.10045.2.1" {
        return None;
    }
    let curve = spki.algorithm.parameters?.decode_as::<der::asn1::ObjectIdentifier>().ok()?.to_string();
    let algorithm: &dyn ring_sig::VerificationAlgorithm = match (curve.as_str(), algorithm_oid) {
        (P256_CURVE, ECDSA_SHA256) => &ring_sig::ECDSA_P256_SHA256_ASN1,
        (P256_CURVE, ECDSA_SHA384) => &ring_sig::ECDSA_P256_SHA384_ASN1,
        (P384_CURVE, ECDSA_SHA256) => &ring_sig::ECDSA_P384_SHA256_ASN1,
        (P384_CURVE, ECDSA_SHA384) => &ring_sig::ECDSA_P384_SHA384_ASN1,
        _ => return None,
    };
    let point = spki.subject_public_key.as_bytes()?;
    // A refusal goes the slower way too, which tells a bad key from a bad signature.
    ring_sig::UnparsedPublicKey::new(algorithm, point).verify(message, signature).ok().map(Ok)
}

fn verify_ecdsa(spki_der: &[u8], prehash: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use pkcs8::DecodePublicKey;
    if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(spki_der) {
        let sig = p256::ecdsa::Signature::from_der(signature).map_err(|_| SignatureError::Invalid)?;
        return key.verify_prehash(prehash, &sig).map_err(|_| SignatureError::Invalid);
    }
    if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_der(spki_der) {
        let sig = p384::ecdsa::Signature::from_der(signature).map_err(|_| SignatureError::Invalid)?;
        return key.verify_prehash(prehash, &sig).map_err(|_| SignatureError::Invalid);
    }
    // Not an ECDSA key we can use: the key's own problem is the more useful message.
    match PublicKey::from_spki_der(spki_der) {
        Err(e) => Err(SignatureError::Key(e)),
        Ok(_) => Err(SignatureError::Invalid),
    }
}

fn verify_rsa<D>(spki_der: &[u8], message: &[u8], signature: &[u8]) -> Result<(), SignatureError>
where
    D: Digest + pkcs8::AssociatedOid,
{
    use pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    // Size first: a 1024-bit key is refused as weak, not reported as a bad signature.
    PublicKey::from_spki_der(spki_der).map_err(SignatureError::Key)?;
    let key = rsa::PublicKey::from_public_key_der(spki_der)
        .map_err(|e| SignatureError::Key(KeyError::Unsupported(e.to_string())))?;
    let verifier = rsa::pkcs1v15::VerifyingKey::<D>::new(key);
    let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| SignatureError::Invalid)?;
    verifier.verify(message, &sig).map_err(|_| SignatureError::Invalid)
}
