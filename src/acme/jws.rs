//! The JOSE layer of ACME (RFC 8555 §6.2): flattened JWS requests, their protected header,
//! account keys as JWKs (RFC 7517/7518/8037), RFC 7638 thumbprints, key authorizations and
//! external account binding (RFC 8555 §7.3.4). Every check that can be done without the
//! server's state (nonces, accounts, EAB keys) is done here; nothing here panics on input.

use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::strict_json::{self, StrictJsonError};

/// The largest request body [`parse_flattened`] reads (RFC 8555 leaves the limit to the server;
/// a CSR inside a finalize request is the largest thing a client sends).
pub const MAX_JWS_BYTES: usize = 64 * 1024;

const PROBLEM_MALFORMED: &str = "urn:ietf:params:acme:error:malformed";
const PROBLEM_BAD_SIGNATURE_ALGORITHM: &str = "urn:ietf:params:acme:error:badSignatureAlgorithm";
const PROBLEM_BAD_PUBLIC_KEY: &str = "urn:ietf:params:acme:error:badPublicKey";
const PROBLEM_BAD_NONCE: &str = "urn:ietf:params:acme:error:badNonce";
const PROBLEM_UNAUTHORIZED: &str = "urn:ietf:params:acme:error:unauthorized";

/// The smallest RSA account key accepted, by the modulus's real bit length.
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA account key accepted (bounds the cost of a verification).
pub const MAX_RSA_BITS: usize = 4096;

/// Members that only a private or symmetric JWK carries (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A signature algorithm accepted on ACME requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// ECDSA P-256 with SHA-256, signature R‖S (64 bytes).
    Es256,
    /// ECDSA P-384 with SHA-384, signature R‖S (96 bytes).
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// Ed25519 (RFC 8037).
    EdDsa,
}

impl Alg {
    /// The `alg` values accepted, as a badSignatureAlgorithm problem lists them.
    pub const ALLOWED: &'static [&'static str] = &["ES256", "ES384", "RS256", "EdDSA"];

    /// The JOSE name (`ES256` …).
    pub fn name(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Rs256 => "RS256",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// The algorithm a JOSE name stands for, if it is one accepted (names are case-sensitive).
    pub fn from_name(name: &str) -> Option<Alg> {
        [Alg::Es256, Alg::Es384, Alg::Rs256, Alg::EdDsa].into_iter().find(|alg| alg.name() == name)
    }

    /// The only key type that signs with this algorithm.
    pub fn key_type(self) -> JwkType {
        match self {
            Alg::Es256 => JwkType::P256,
            Alg::Es384 => JwkType::P384,
            Alg::Rs256 => JwkType::Rsa,
            Alg::EdDsa => JwkType::Ed25519,
        }
    }
}

impl std::fmt::Display for Alg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A MAC algorithm accepted on an external account binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MacAlg {
    /// HMAC with SHA-256.
    Hs256,
    /// HMAC with SHA-384.
    Hs384,
    /// HMAC with SHA-512.
    Hs512,
}

impl MacAlg {
    /// The `alg` values accepted on an external account binding.
    pub const ALLOWED: &'static [&'static str] = &["HS256", "HS384", "HS512"];

    /// The JOSE name (`HS256` …).
    pub fn name(self) -> &'static str {
        match self {
            MacAlg::Hs256 => "HS256",
            MacAlg::Hs384 => "HS384",
            MacAlg::Hs512 => "HS512",
        }
    }

    fn from_name(name: &str) -> Option<MacAlg> {
        [MacAlg::Hs256, MacAlg::Hs384, MacAlg::Hs512].into_iter().find(|alg| alg.name() == name)
    }
}

/// The kind of an account key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwkType {
    /// EC on P-256 (`kty` EC, `crv` P-256).
    P256,
    /// EC on P-384 (`kty` EC, `crv` P-384).
    P384,
    /// RSA (`kty` RSA).
    Rsa,
    /// Ed25519 (`kty` OKP, `crv` Ed25519).
    Ed25519,
}

impl JwkType {
    /// How the key type reads in a message (`EC P-256` …).
    pub fn name(self) -> &'static str {
        match self {
            JwkType::P256 => "EC P-256",
            JwkType::P384 => "EC P-384",
            JwkType::Rsa => "RSA",
            JwkType::Ed25519 => "OKP Ed25519",
        }
    }
}

impl std::fmt::Display for JwkType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which object of a request a member belongs to, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoseObject {
    /// The flattened JWS itself (`protected`, `payload`, `signature`).
    Jws,
    /// The JWS protected header.
    Header,
    /// A JWK.
    Jwk,
    /// The external account binding's JWS.
    EabJws,
    /// The external account binding's protected header.
    EabHeader,
}

impl std::fmt::Display for JoseObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JoseObject::Jws => "JWS",
            JoseObject::Header => "JWS protected header",
            JoseObject::Jwk => "JWK",
            JoseObject::EabJws => "externalAccountBinding JWS",
            JoseObject::EabHeader => "externalAccountBinding protected header",
        })
    }
}

/// Why a JWS, a JWK or an external account binding is refused. Each maps to an RFC 8555
/// problem type with [`JwsError::problem_type`]; the message is the problem's detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwsError {
    /// The body is larger than [`MAX_JWS_BYTES`].
    #[error("the request body is {size} bytes; a JWS may be at most {limit} bytes")]
    TooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The body is the compact serialization (`header.payload.signature`).
    #[error("the request body is a compact JWS; ACME takes the flattened JSON serialization (RFC 8555 §6.2)")]
    CompactSerialization,
    /// The body is the general JSON serialization (`signatures` array).
    #[error(
        "the request body is a general JWS with a signatures array; ACME takes the flattened JSON serialization with one signature (RFC 8555 §6.2)"
    )]
    GeneralSerialization,
    /// Bytes that should be JSON are not.
    #[error("the {object} is not valid JSON ({detail}); send one JSON object")]
    NotJson {
        /// Which object.
        object: JoseObject,
        /// The parser's complaint.
        detail: String,
    },
    /// JSON that should be an object is another value.
    #[error("the {object} is not a JSON object; send one JSON object")]
    NotAnObject {
        /// Which object.
        object: JoseObject,
    },
    /// An object holds the same member twice.
    #[error("the {object} has the member {member:?} twice; send each member once")]
    DuplicateMember {
        /// Which object.
        object: JoseObject,
        /// The repeated member (a short prefix of it).
        member: String,
    },
    /// The JWS has an unprotected `header` member.
    #[error(
        "the JWS has an unprotected header member, which ACME forbids (RFC 8555 §6.2); put every header parameter in protected"
    )]
    UnprotectedHeader,
    /// The JWS has a member other than `protected`, `payload` and `signature`.
    #[error(
        "the JWS has the unknown member {member:?}; a flattened JWS has only protected, payload and signature"
    )]
    UnknownMember {
        /// The member (a short prefix of it).
        member: String,
    },
    /// A required member is absent.
    #[error("the {object} has no {member} member; add it")]
    MissingMember {
        /// Which object.
        object: JoseObject,
        /// The member.
        member: &'static str,
    },
    /// A member has the wrong JSON type or is empty.
    #[error("the {object} member {member} must be {expected}")]
    WrongType {
        /// Which object.
        object: JoseObject,
        /// The member.
        member: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A base64url member is not strict unpadded base64url.
    #[error(
        "the {object} member {member} is not unpadded base64url (RFC 7515 §2); encode it with the URL-safe alphabet, without '=' padding"
    )]
    Base64 {
        /// Which object.
        object: JoseObject,
        /// The member.
        member: &'static str,
    },
    /// The header has a `crit` member; no extension is understood here.
    #[error(
        "the JWS protected header has a crit member; no JWS extension is supported, send the header without it"
    )]
    CriticalHeader,
    /// The `alg` is not one accepted (this includes `none` and the HMAC algorithms).
    #[error("the JWS algorithm {alg:?} is not accepted; sign with one of {}", allowed.join(", "))]
    UnsupportedAlgorithm {
        /// The `alg` sent (a short prefix of it).
        alg: String,
        /// The accepted values (the problem document's `algorithms` member).
        allowed: &'static [&'static str],
    },
    /// The `alg` does not go with the key type.
    #[error("the JWS algorithm {alg} does not go with the {key} key that signed it; use {} for this key", expected_alg(*key))]
    AlgorithmKeyMismatch {
        /// The `alg` of the header.
        alg: Alg,
        /// The key's type.
        key: JwkType,
    },
    /// The header has both `jwk` and `kid`.
    #[error(
        "the JWS protected header has both jwk and kid; send exactly one (jwk for newAccount and revocation by certificate key, kid otherwise)"
    )]
    BothJwkAndKid,
    /// The header has neither `jwk` nor `kid`.
    #[error(
        "the JWS protected header has neither jwk nor kid; send exactly one (jwk for newAccount and revocation by certificate key, kid otherwise)"
    )]
    NoKey,
    /// A request that must carry `jwk` carries `kid`.
    #[error("this request must be signed with the key in a jwk header parameter, not a kid")]
    JwkRequired,
    /// A request that must carry `kid` carries `jwk`.
    #[error("this request must name its account in a kid header parameter, not carry a jwk")]
    KidRequired,
    /// The header has no `nonce`.
    #[error("the JWS protected header has no nonce; get one from newNonce and sign it into the header")]
    MissingNonce,
    /// The `nonce` is not a base64url octet string.
    #[error("the JWS nonce is not unpadded base64url; send the Replay-Nonce value exactly as received")]
    MalformedNonce,
    /// The header's `url` is not the URL the request was sent to.
    #[error(
        "the JWS url {got:?} is not the URL the request was sent to, {expected:?}; sign the exact request URL"
    )]
    UrlMismatch {
        /// The request URL (a short prefix of it).
        expected: String,
        /// The header's `url` (a short prefix of it).
        got: String,
    },
    /// The JWK's `kty` is not EC, RSA or OKP.
    #[error("the JWK key type {kty:?} is not accepted; use an EC P-256 or P-384, RSA or Ed25519 key")]
    UnsupportedKeyType {
        /// The `kty` sent (a short prefix of it).
        kty: String,
    },
    /// The JWK's `crv` is not P-256, P-384 or Ed25519.
    #[error("the JWK curve {crv:?} is not accepted; use P-256, P-384 or Ed25519")]
    UnsupportedCurve {
        /// The `crv` sent (a short prefix of it).
        crv: String,
    },
    /// The JWK carries a private key member.
    #[error(
        "the JWK carries the private member {member}; send only the public key (and replace this key: it has been disclosed)"
    )]
    PrivateKeyMember {
        /// The member's name.
        member: &'static str,
    },
    /// An EC or OKP coordinate has the wrong length.
    #[error(
        "the {jwk_type} JWK member {member} is {got} bytes; it must be exactly {expected} (RFC 7518 §6.2.1, RFC 8037 §2)"
    )]
    CoordinateLength {
        /// The key type.
        jwk_type: JwkType,
        /// The member (`x`, `y`).
        member: &'static str,
        /// The length required.
        expected: usize,
        /// The length sent.
        got: usize,
    },
    /// The EC point is not on the curve, or the Ed25519 key is not a valid point.
    #[error("the {jwk_type} JWK is not a valid point on its curve; send the key your client signs with")]
    InvalidPoint {
        /// The key type.
        jwk_type: JwkType,
    },
    /// The Ed25519 key is of small order (it would verify forged signatures).
    #[error("the Ed25519 JWK is a weak (small-order) point; generate a new key")]
    WeakKey,
    /// A certificate's public key is not an EC P-256/P-384, RSA or Ed25519 key.
    #[error("the certificate's public key is not an EC P-256 or P-384, RSA or Ed25519 key")]
    UnsupportedSpki,
    /// The RSA modulus is too short or too long.
    #[error("the RSA JWK modulus is {bits} bits; it must be {MIN_RSA_BITS} to {MAX_RSA_BITS} bits")]
    RsaModulusSize {
        /// The modulus's bit length.
        bits: usize,
    },
    /// The RSA modulus or exponent is not a sane RSA public key.
    #[error("the RSA JWK is not a usable public key: {reason}")]
    RsaKey {
        /// What is wrong.
        reason: &'static str,
    },
    /// The signature has the wrong length for its algorithm (a DER ECDSA signature, say).
    #[error("the {alg} signature is {got} bytes; it must be {expected}{}", length_hint(*alg))]
    SignatureLength {
        /// The algorithm.
        alg: Alg,
        /// The length required.
        expected: usize,
        /// The length sent.
        got: usize,
    },
    /// The signature does not verify with the key.
    #[error(
        "the {alg} signature does not verify with the request's key; sign protected || '.' || payload with that key"
    )]
    BadSignature {
        /// The algorithm.
        alg: Alg,
    },
    /// The external account binding uses an `alg` that is not an HMAC algorithm accepted.
    #[error("the externalAccountBinding algorithm {alg:?} is not accepted; MAC it with one of {}", MacAlg::ALLOWED.join(", "))]
    UnsupportedMacAlgorithm {
        /// The `alg` sent (a short prefix of it).
        alg: String,
    },
    /// The external account binding's header carries a member it must not (`nonce`, `jwk`).
    #[error("the externalAccountBinding protected header must not have a {member} member (RFC 8555 §7.3.4)")]
    EabForbiddenMember {
        /// The member.
        member: &'static str,
    },
    /// The external account binding's MAC does not verify with the key named by its `kid`.
    #[error(
        "the externalAccountBinding MAC does not verify with the key of key id {key_id:?}; use the HMAC key issued with that key id"
    )]
    EabBadMac {
        /// The EAB key id (a short prefix of it).
        key_id: String,
    },
    /// The external account binding's `url` is not the outer JWS's `url`.
    #[error(
        "the externalAccountBinding url {got:?} is not the newAccount URL {expected:?}; sign the same URL in both"
    )]
    EabUrlMismatch {
        /// The outer url (a short prefix of it).
        expected: String,
        /// The EAB's url (a short prefix of it).
        got: String,
    },
    /// The external account binding's payload is not the account key.
    #[error(
        "the externalAccountBinding payload is not the account key of the newAccount request; MAC the account's jwk"
    )]
    EabKeyMismatch,
}

impl JwsError {
    /// The RFC 8555 problem type (`urn:ietf:params:acme:error:…`) to answer with.
    pub fn problem_type(&self) -> &'static str {
        use JwsError::*;
        match self {
            UnsupportedAlgorithm { .. } | AlgorithmKeyMismatch { .. } | UnsupportedMacAlgorithm { .. } => {
                PROBLEM_BAD_SIGNATURE_ALGORITHM
            }
            UnsupportedKeyType { .. }
            | UnsupportedCurve { .. }
            | PrivateKeyMember { .. }
            | CoordinateLength { .. }
            | InvalidPoint { .. }
            | WeakKey
            | UnsupportedSpki
            | RsaModulusSize { .. }
            | RsaKey { .. } => PROBLEM_BAD_PUBLIC_KEY,
            MissingNonce | MalformedNonce => PROBLEM_BAD_NONCE,
            UrlMismatch { .. } | EabBadMac { .. } | EabUrlMismatch { .. } | EabKeyMismatch => {
                PROBLEM_UNAUTHORIZED
            }
            TooLarge { .. }
            | CompactSerialization
            | GeneralSerialization
            | NotJson { .. }
            | NotAnObject { .. }
            | DuplicateMember { .. }
            | UnprotectedHeader
            | UnknownMember { .. }
            | MissingMember { .. }
            | WrongType { .. }
            | Base64 { .. }
            | CriticalHeader
            | BothJwkAndKid
            | NoKey
            | JwkRequired
            | KidRequired
            | SignatureLength { .. }
            | BadSignature { .. }
            | EabForbiddenMember { .. } => PROBLEM_MALFORMED,
        }
    }

    /// For a badSignatureAlgorithm problem, the `algorithms` the server accepts (RFC 8555 §6.2
    /// requires the problem document to list them).
    pub fn algorithms(&self) -> Option<&'static [&'static str]> {
        match self {
            JwsError::UnsupportedAlgorithm { allowed, .. } => Some(allowed),
            JwsError::AlgorithmKeyMismatch { .. } => Some(Alg::ALLOWED),
            JwsError::UnsupportedMacAlgorithm { .. } => Some(MacAlg::ALLOWED),
            _ => None,
        }
    }
}

fn length_hint(alg: Alg) -> &'static str {
    match alg {
        Alg::Es256 | Alg::Es384 => " (ECDSA signatures are R||S, not DER: RFC 7518 §3.4)",
        Alg::Rs256 => ", the modulus's length",
        Alg::EdDsa => "",
    }
}

fn expected_alg(key: JwkType) -> &'static str {
    match key {
        JwkType::P256 => "ES256",
        JwkType::P384 => "ES384",
        JwkType::Rsa => "RS256",
        JwkType::Ed25519 => "EdDSA",
    }
}

/// At most 40 characters of a value from the request, for messages.
pub(crate) fn short(value: &str) -> String {
    const LIMIT: usize = 40;
    match value.char_indices().nth(LIMIT) {
        None => value.to_owned(),
        Some((cut, _)) => format!("{}…", &value[..cut]),
    }
}

/// Strict unpadded base64url: the URL-safe alphabet, no padding, no line breaks, and only the
/// canonical encoding (unused trailing bits zero), so that one value has one spelling.
fn decode_b64url(text: &str, object: JoseObject, member: &'static str) -> Result<Vec<u8>, JwsError> {
    let bytes = Base64UrlUnpadded::decode_vec(text).map_err(|_| JwsError::Base64 { object, member })?;
    if Base64UrlUnpadded::encode_string(&bytes) != text {
        return Err(JwsError::Base64 { object, member });
    }
    Ok(bytes)
}

fn b64url(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

fn parse_json(bytes: &[u8], object: JoseObject) -> Result<Value, JwsError> {
    strict_json::parse(bytes).map_err(|e| match e {
        StrictJsonError::Duplicate(member) => JwsError::DuplicateMember { object, member: short(&member) },
        StrictJsonError::Syntax(detail) => JwsError::NotJson { object, detail },
    })
}

fn as_object(value: &Value, object: JoseObject) -> Result<&Map<String, Value>, JwsError> {
    value.as_object().ok_or(JwsError::NotAnObject { object })
}

/// A required string member (non-empty).
fn string_member<'a>(
    members: &'a Map<String, Value>,
    object: JoseObject,
    member: &'static str,
) -> Result<&'a str, JwsError> {
    match optional_string_member(members, object, member)? {
        Some(value) => Ok(value),
        None => Err(JwsError::MissingMember { object, member }),
    }
}

fn optional_string_member<'a>(
    members: &'a Map<String, Value>,
    object: JoseObject,
    member: &'static str,
) -> Result<Option<&'a str>, JwsError> {
    match members.get(member) {
        None => Ok(None),
        Some(Value::String(text)) if !text.is_empty() => Ok(Some(text)),
        Some(_) => Err(JwsError::WrongType { object, member, expected: "a non-empty string" }),
    }
}

/// A string member that may be empty (the payload of a POST-as-GET).
fn string_member_maybe_empty<'a>(
    members: &'a Map<String, Value>,
    object: JoseObject,
    member: &'static str,
) -> Result<&'a str, JwsError> {
    match members.get(member) {
        None => Err(JwsError::MissingMember { object, member }),
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(JwsError::WrongType { object, member, expected: "a string" }),
    }
}

// ---------------------------------------------------------------------------------------------
// JWK

/// A validated public account key from a JWK: an EC P-256 or P-384 point on its curve, an RSA
/// key of 2048 to 4096 bits, or an Ed25519 point. Two `Jwk`s are equal when they are the same
/// key (whatever optional members or member order the JSON had).
#[derive(Clone)]
pub struct Jwk {
    key: VerifyKey,
    /// The RFC 7638 members in lexicographic order, no whitespace: the thumbprint's input
    /// and the form to store.
    canonical: String,
}

#[derive(Clone)]
enum VerifyKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Rsa(rsa::pkcs1v15::VerifyingKey<Sha256>, usize),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PartialEq for Jwk {
    fn eq(&self, other: &Jwk) -> bool {
        self.canonical == other.canonical
    }
}

impl Eq for Jwk {}

impl std::hash::Hash for Jwk {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.canonical.hash(state);
    }
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk").field("type", &self.key_type()).field("thumbprint", &self.thumbprint()).finish()
    }
}

impl Jwk {
    /// Parses and checks a JWK from JSON text (as stored with [`Jwk::to_json`], or as a client
    /// sent it). Duplicate members, private members and unusable keys are refused.
    pub fn from_json(json: &[u8]) -> Result<Jwk, JwsError> {
        Jwk::from_value(&parse_json(json, JoseObject::Jwk)?)
    }

    /// Parses and checks a JWK that is already a JSON value (parsed without duplicates).
    pub fn from_value(value: &Value) -> Result<Jwk, JwsError> {
        let members = as_object(value, JoseObject::Jwk)?;
        if let Some(member) = PRIVATE_MEMBERS.into_iter().find(|m| members.contains_key(*m)) {
            return Err(JwsError::PrivateKeyMember { member });
        }
        match string_member(members, JoseObject::Jwk, "kty")? {
            "EC" => ec_jwk(members),
            "RSA" => rsa_jwk(members),
            "OKP" => okp_jwk(members),
            other => Err(JwsError::UnsupportedKeyType { kty: short(other) }),
        }
    }

    /// The JWK of a certificate's SubjectPublicKeyInfo (DER), held to the same rules as a JWK
    /// from a request: for revocation signed by the certificate's key (RFC 8555 §7.6), compare
    /// it with the request's `jwk`.
    pub fn from_spki_der(spki_der: &[u8]) -> Result<Jwk, JwsError> {
        use pkcs8::DecodePublicKey;
        use rsa::traits::PublicKeyParts;
        let ec = |crv: &str, point: &[u8]| {
            let coordinates = point.get(1..).unwrap_or_default();
            let (x, y) = coordinates.split_at(coordinates.len() / 2);
            serde_json::json!({"kty": "EC", "crv": crv, "x": b64url(x), "y": b64url(y)})
        };
        let jwk = if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(spki_der) {
            ec("P-256", key.to_sec1_point(false).as_bytes())
        } else if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_der(spki_der) {
            ec("P-384", key.to_sec1_point(false).as_bytes())
        } else if let Ok(key) = rsa::PublicKey::from_public_key_der(spki_der) {
            let n = key.n().as_ref().to_be_bytes_trimmed_vartime();
            let e = key.e().to_be_bytes_trimmed_vartime();
            serde_json::json!({"kty": "RSA", "n": b64url(&n), "e": b64url(&e)})
        } else {
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(ed25519_spki_key(spki_der)?)})
        };
        Jwk::from_value(&jwk)
    }

    /// The key's type.
    pub fn key_type(&self) -> JwkType {
        match self.key {
            VerifyKey::P256(_) => JwkType::P256,
            VerifyKey::P384(_) => JwkType::P384,
            VerifyKey::Rsa(..) => JwkType::Rsa,
            VerifyKey::Ed25519(_) => JwkType::Ed25519,
        }
    }

    /// The RFC 7638 thumbprint: base64url(SHA-256(canonical JWK)).
    pub fn thumbprint(&self) -> String {
        b64url(&Sha256::digest(self.canonical.as_bytes()))
    }

    /// The key as canonical JSON (the RFC 7638 required members, sorted, no whitespace): the
    /// form to store, which [`Jwk::from_json`] reads back.
    pub fn to_json(&self) -> &str {
        &self.canonical
    }

    /// Checks that `signature` is `alg`'s signature of `message` by this key.
    pub fn verify(&self, alg: Alg, message: &[u8], signature: &[u8]) -> Result<(), JwsError> {
        use p256::ecdsa::signature::Verifier as _;
        let bad = JwsError::BadSignature { alg };
        match (&self.key, alg) {
            // The point was checked on its curve by p256/p384 when the JWK was read; ring does
            // the arithmetic, about ten times faster, and every ACME request needs it.
            (VerifyKey::P256(key), Alg::Es256) => {
                check_signature_length(alg, 64, signature)?;
                let point = key.to_sec1_point(false);
                ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P256_SHA256_FIXED,
                    point.as_bytes(),
                )
                .verify(message, signature)
                .map_err(|_| bad)
            }
            (VerifyKey::P384(key), Alg::Es384) => {
                check_signature_length(alg, 96, signature)?;
                let point = key.to_sec1_point(false);
                ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P384_SHA384_FIXED,
                    point.as_bytes(),
                )
                .verify(message, signature)
                .map_err(|_| bad)
            }
            (VerifyKey::Rsa(key, modulus_bytes), Alg::Rs256) => {
                check_signature_length(alg, *modulus_bytes, signature)?;
                let signature = rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| bad.clone())?;
                key.verify(message, &signature).map_err(|_| bad)
            }
            (VerifyKey::Ed25519(key), Alg::EdDsa) => {
                check_signature_length(alg, 64, signature)?;
                let signature = ed25519_dalek::Signature::from_slice(signature).map_err(|_| bad.clone())?;
                key.verify_strict(message, &signature).map_err(|_| bad)
            }
            _ => Err(JwsError::AlgorithmKeyMismatch { alg, key: self.key_type() }),
        }
    }

    fn check_alg(&self, alg: Alg) -> Result<(), JwsError> {
        if alg.key_type() == self.key_type() {
            Ok(())
        } else {
            Err(JwsError::AlgorithmKeyMismatch { alg, key: self.key_type() })
        }
    }
}

fn check_signature_length(alg: Alg, expected: usize, signature: &[u8]) -> Result<(), JwsError> {
    if signature.len() == expected {
        Ok(())
    } else {
        Err(JwsError::SignatureLength { alg, expected, got: signature.len() })
    }
}

fn coordinate(
    members: &Map<String, Value>,
    member: &'static str,
    jwk_type: JwkType,
    expected: usize,
) -> Result<Vec<u8>, JwsError> {
    let bytes = decode_b64url(string_member(members, JoseObject::Jwk, member)?, JoseObject::Jwk, member)?;
    if bytes.len() != expected {
        return Err(JwsError::CoordinateLength { jwk_type, member, expected, got: bytes.len() });
    }
    Ok(bytes)
}

fn ec_jwk(members: &Map<String, Value>) -> Result<Jwk, JwsError> {
    let crv = string_member(members, JoseObject::Jwk, "crv")?;
    let (jwk_type, size) = match crv {
        "P-256" => (JwkType::P256, 32),
        "P-384" => (JwkType::P384, 48),
        other => return Err(JwsError::UnsupportedCurve { crv: short(other) }),
    };
    let x = coordinate(members, "x", jwk_type, size)?;
    let y = coordinate(members, "y", jwk_type, size)?;
    let sec1 = [&[0x04][..], &x, &y].concat();
    let invalid = JwsError::InvalidPoint { jwk_type };
    let key = match jwk_type {
        JwkType::P256 => {
            VerifyKey::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| invalid)?)
        }
        _ => VerifyKey::P384(p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| invalid)?),
    };
    let canonical = format!(r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#, b64url(&x), b64url(&y));
    Ok(Jwk { key, canonical })
}

fn rsa_jwk(members: &Map<String, Value>) -> Result<Jwk, JwsError> {
    let n = decode_b64url(string_member(members, JoseObject::Jwk, "n")?, JoseObject::Jwk, "n")?;
    let e = decode_b64url(string_member(members, JoseObject::Jwk, "e")?, JoseObject::Jwk, "e")?;
    // RFC 7518 §6.3.1: the minimum number of octets. A leading zero would also give the key a
    // second thumbprint.
    if n.first() == Some(&0) || e.first() == Some(&0) {
        return Err(JwsError::RsaKey {
            reason: "n and e must not start with a zero octet (RFC 7518 §6.3.1)",
        });
    }
    let bits = bit_length(&n);
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(JwsError::RsaModulusSize { bits });
    }
    if n.last().is_some_and(|byte| byte % 2 == 0) {
        return Err(JwsError::RsaKey { reason: "the modulus n is even" });
    }
    check_exponent(&e)?;
    let n_uint = rsa::BoxedUint::from_be_slice(&n, precision(n.len())?)
        .map_err(|_| JwsError::RsaKey { reason: "the modulus n cannot be read" })?;
    let e_uint = rsa::BoxedUint::from_be_slice(&e, precision(e.len())?)
        .map_err(|_| JwsError::RsaKey { reason: "the exponent e cannot be read" })?;
    let public = rsa::PublicKey::new(n_uint, e_uint)
        .map_err(|_| JwsError::RsaKey { reason: "the rsa crate refuses n and e as a public key" })?;
    let canonical = format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64url(&e), b64url(&n));
    Ok(Jwk { key: VerifyKey::Rsa(rsa::pkcs1v15::VerifyingKey::new(public), n.len()), canonical })
}

fn precision(bytes: usize) -> Result<u32, JwsError> {
    u32::try_from(bytes * 8).map_err(|_| JwsError::RsaKey { reason: "the modulus is too long" })
}

/// Bit length of a big-endian integer with no leading zero octet.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.first() {
        None => 0,
        Some(first) => (bytes.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

/// An odd exponent from 3 to 2^31 − 1: what every RSA implementation that ACME clients use
/// produces, and small enough that verification stays cheap.
fn check_exponent(e: &[u8]) -> Result<(), JwsError> {
    let refused = JwsError::RsaKey { reason: "the exponent e must be odd, at least 3 and below 2^31" };
    if e.len() > 4 {
        return Err(refused);
    }
    let value = e.iter().fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
    if value < 3 || value % 2 == 0 || value >= 1 << 31 {
        return Err(refused);
    }
    Ok(())
}

fn okp_jwk(members: &Map<String, Value>) -> Result<Jwk, JwsError> {
    let crv = string_member(members, JoseObject::Jwk, "crv")?;
    if crv != "Ed25519" {
        return Err(JwsError::UnsupportedCurve { crv: short(crv) });
    }
    let x = coordinate(members, "x", JwkType::Ed25519, 32)?;
    let bytes: [u8; 32] =
        x.as_slice().try_into().map_err(|_| JwsError::InvalidPoint { jwk_type: JwkType::Ed25519 })?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
        .map_err(|_| JwsError::InvalidPoint { jwk_type: JwkType::Ed25519 })?;
    if key.is_weak() {
        return Err(JwsError::WeakKey);
    }
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64url(&x));
    Ok(Jwk { key: VerifyKey::Ed25519(key), canonical })
}

/// The raw key of an Ed25519 SubjectPublicKeyInfo (RFC 8410).
fn ed25519_spki_key(spki_der: &[u8]) -> Result<&[u8], JwsError> {
    use der::Decode;
    const ID_ED25519: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.3.101.112");
    let info = spki::SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|_| JwsError::UnsupportedSpki)?;
    match (info.algorithm.oid == ID_ED25519, info.subject_public_key.as_bytes()) {
        (true, Some(key)) => Ok(key),
        _ => Err(JwsError::UnsupportedSpki),
    }
}

/// The RFC 8555 §8.1 key authorization of a challenge token: `token.thumbprint`.
pub fn key_authorization(token: &str, account_key: &Jwk) -> String {
    format!("{token}.{}", account_key.thumbprint())
}

/// The TXT record value a dns-01 challenge expects (RFC 8555 §8.4): base64url(SHA-256(key
/// authorization)).
pub fn dns01_txt_value(key_authorization: &str) -> String {
    b64url(&Sha256::digest(key_authorization.as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// Flattened JWS

/// How the request names its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// The key itself (newAccount, revokeCert signed by the certificate's key, keyChange's
    /// inner JWS).
    Jwk(Jwk),
    /// An account URL (every other request).
    Kid(String),
}

/// The checked protected header of an ACME request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedHeader {
    /// The signature algorithm (matches the key's type when the key is a `jwk`).
    pub alg: Alg,
    /// The anti-replay nonce (base64url); always present on a request from
    /// [`parse_flattened`], optional on keyChange's inner JWS.
    pub nonce: Option<String>,
    /// The URL the client signed; compare with [`Jws::check_url`].
    pub url: String,
    /// The key, or the account that holds it.
    pub key: KeyRef,
}

/// A parsed flattened JWS whose structure and header are checked. Its signature is checked by
/// [`Jws::verify`] (kid requests, with the account's key) or [`Jws::verify_embedded`] (jwk).
#[derive(Debug, Clone)]
pub struct Jws {
    header: ProtectedHeader,
    payload: Vec<u8>,
    post_as_get: bool,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum NonceRule {
    Required,
    /// keyChange's inner JWS: "MAY omit the nonce", and the server ignores any value.
    Ignored,
}

/// Parses an ACME request body: a flattened JWS JSON object with `protected`, `payload`
/// (empty for POST-as-GET) and `signature`, nothing else, at most [`MAX_JWS_BYTES`]. The
/// protected header must have an accepted `alg`, a `nonce`, a `url` and exactly one of `jwk`
/// or `kid`. The signature is not checked yet.
pub fn parse_flattened(body: &[u8]) -> Result<Jws, JwsError> {
    parse_body(body, NonceRule::Required)
}

/// Parses keyChange's inner JWS (RFC 8555 §7.3.5), the outer request's payload: like
/// [`parse_flattened`] but the `nonce` may be absent (and is then `None`), and the key must be
/// a `jwk`.
pub fn parse_key_change_inner(payload: &[u8]) -> Result<Jws, JwsError> {
    let jws = parse_body(payload, NonceRule::Ignored)?;
    jws.embedded_key()?;
    Ok(jws)
}

fn parse_body(body: &[u8], nonce: NonceRule) -> Result<Jws, JwsError> {
    if body.len() > MAX_JWS_BYTES {
        return Err(JwsError::TooLarge { size: body.len(), limit: MAX_JWS_BYTES });
    }
    // Bare or as a JSON string, a compact JWS gets its own message rather than "not JSON".
    if looks_compact(body) {
        return Err(JwsError::CompactSerialization);
    }
    Jws::from_value(&parse_json(body, JoseObject::Jws)?, nonce)
}

/// `xxx.yyy.zzz` in base64url characters: a compact JWS (perhaps in quotes).
fn looks_compact(body: &[u8]) -> bool {
    let text = body.trim_ascii();
    let text = text.strip_prefix(b"\"").and_then(|t| t.strip_suffix(b"\"")).unwrap_or(text);
    let parts = text.split(|byte| *byte == b'.').collect::<Vec<_>>();
    parts.len() == 3
        && parts.iter().all(|part| {
            part.iter().all(|byte| byte.is_ascii_alphanumeric() || *byte == b'-' || *byte == b'_')
        })
}

/// The three members of a flattened JWS, checked for shape.
struct Flattened<'a> {
    protected: &'a str,
    payload: &'a str,
    signature: Vec<u8>,
    header: Map<String, Value>,
}

fn flattened_members(value: &Value, object: JoseObject) -> Result<Flattened<'_>, JwsError> {
    let members = as_object(value, object)?;
    for name in members.keys() {
        match name.as_str() {
            "protected" | "payload" | "signature" => {}
            "signatures" => return Err(JwsError::GeneralSerialization),
            "header" => return Err(JwsError::UnprotectedHeader),
            other => return Err(JwsError::UnknownMember { member: short(other) }),
        }
    }
    let protected = string_member(members, object, "protected")?;
    let payload = string_member_maybe_empty(members, object, "payload")?;
    // An empty signature is a shape `alg: none` has: refused by its alg, not as a missing member.
    let signature =
        decode_b64url(string_member_maybe_empty(members, object, "signature")?, object, "signature")?;
    let header_object = if object == JoseObject::Jws { JoseObject::Header } else { JoseObject::EabHeader };
    let header_bytes = decode_b64url(protected, object, "protected")?;
    let header = match parse_json(&header_bytes, header_object)? {
        Value::Object(header) => header,
        _ => return Err(JwsError::NotAnObject { object: header_object }),
    };
    if header.contains_key("crit") {
        return Err(JwsError::CriticalHeader);
    }
    Ok(Flattened { protected, payload, signature, header })
}

impl Jws {
    fn from_value(value: &Value, nonce_rule: NonceRule) -> Result<Jws, JwsError> {
        let flat = flattened_members(value, JoseObject::Jws)?;
        let header = protected_header(&flat.header, nonce_rule)?;
        let payload = decode_b64url(flat.payload, JoseObject::Jws, "payload")?;
        Ok(Jws {
            header,
            payload,
            post_as_get: flat.payload.is_empty(),
            signing_input: format!("{}.{}", flat.protected, flat.payload).into_bytes(),
            signature: flat.signature,
        })
    }

    /// The checked protected header.
    pub fn header(&self) -> &ProtectedHeader {
        &self.header
    }

    /// The decoded payload (empty for POST-as-GET).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Whether this is a POST-as-GET (the payload is the empty string, RFC 8555 §6.3).
    pub fn is_post_as_get(&self) -> bool {
        self.post_as_get
    }

    /// The payload as a JSON object, parsed without duplicate members. A POST-as-GET has none.
    pub fn payload_json(&self) -> Result<Value, JwsError> {
        let value = parse_json(&self.payload, JoseObject::Jws).map_err(|e| match e {
            JwsError::NotJson { detail, .. } => {
                JwsError::NotJson { object: JoseObject::Jws, detail: format!("payload: {detail}") }
            }
            other => other,
        })?;
        if !value.is_object() {
            return Err(JwsError::WrongType {
                object: JoseObject::Jws,
                member: "payload",
                expected: "a JSON object",
            });
        }
        Ok(value)
    }

    /// Refuses the request unless the header's `url` is exactly `request_url` (RFC 8555 §6.4).
    pub fn check_url(&self, request_url: &str) -> Result<(), JwsError> {
        if self.header.url == request_url {
            Ok(())
        } else {
            Err(JwsError::UrlMismatch { expected: short(request_url), got: short(&self.header.url) })
        }
    }

    /// The `kid` (account URL) of a request that must name its account.
    pub fn kid(&self) -> Result<&str, JwsError> {
        match &self.header.key {
            KeyRef::Kid(kid) => Ok(kid),
            KeyRef::Jwk(_) => Err(JwsError::KidRequired),
        }
    }

    fn embedded_key(&self) -> Result<&Jwk, JwsError> {
        match &self.header.key {
            KeyRef::Jwk(jwk) => Ok(jwk),
            KeyRef::Kid(_) => Err(JwsError::JwkRequired),
        }
    }

    /// Checks the signature with `key` (the account key a `kid` names): the header's `alg`
    /// must go with the key's type.
    pub fn verify(&self, key: &Jwk) -> Result<(), JwsError> {
        key.check_alg(self.header.alg)?;
        key.verify(self.header.alg, &self.signing_input, &self.signature)
    }

    /// Checks the signature with the header's own `jwk` and returns that key; refuses a `kid`
    /// request.
    pub fn verify_embedded(&self) -> Result<&Jwk, JwsError> {
        let key = self.embedded_key()?;
        self.verify(key)?;
        Ok(key)
    }
}

fn protected_header(header: &Map<String, Value>, nonce_rule: NonceRule) -> Result<ProtectedHeader, JwsError> {
    let object = JoseObject::Header;
    let alg_name = string_member(header, object, "alg")?;
    let alg = Alg::from_name(alg_name)
        .ok_or_else(|| JwsError::UnsupportedAlgorithm { alg: short(alg_name), allowed: Alg::ALLOWED })?;
    let key = match (header.get("jwk"), optional_string_member(header, object, "kid")?) {
        (Some(_), Some(_)) => return Err(JwsError::BothJwkAndKid),
        (None, None) => return Err(JwsError::NoKey),
        (Some(jwk), None) => {
            let jwk = Jwk::from_value(jwk)?;
            jwk.check_alg(alg)?;
            KeyRef::Jwk(jwk)
        }
        (None, Some(kid)) => KeyRef::Kid(kid.to_owned()),
    };
    let nonce = match nonce_rule {
        NonceRule::Required => Some(checked_nonce(header)?),
        NonceRule::Ignored => {
            optional_string_member(header, object, "nonce").ok().flatten().map(str::to_owned)
        }
    };
    let url = string_member(header, object, "url")?.to_owned();
    Ok(ProtectedHeader { alg, nonce, url, key })
}

fn checked_nonce(header: &Map<String, Value>) -> Result<String, JwsError> {
    let nonce = match header.get("nonce") {
        None => return Err(JwsError::MissingNonce),
        Some(Value::String(nonce)) => nonce,
        Some(_) => return Err(JwsError::MalformedNonce),
    };
    // RFC 8555 §6.5.1: a base64url octet string. Bounded so that a nonce store never keys on
    // something large.
    if nonce.is_empty() || nonce.len() > 256 || decode_b64url(nonce, JoseObject::Header, "nonce").is_err() {
        return Err(JwsError::MalformedNonce);
    }
    Ok(nonce.clone())
}

// ---------------------------------------------------------------------------------------------
// External account binding

/// A parsed external account binding (RFC 8555 §7.3.4): a flattened JWS, MACed with an HMAC
/// key the CA issued, over the new account's key. Look up the HMAC key by [`key_id`], then
/// [`verify`].
///
/// [`key_id`]: ExternalAccountBinding::key_id
/// [`verify`]: ExternalAccountBinding::verify
#[derive(Debug, Clone)]
pub struct ExternalAccountBinding {
    alg: MacAlg,
    key_id: String,
    url: String,
    payload: Vec<u8>,
    signing_input: Vec<u8>,
    mac: Vec<u8>,
}

impl ExternalAccountBinding {
    /// Reads the `externalAccountBinding` member of a newAccount payload (from
    /// [`Jws::payload_json`]). Its header must have an HMAC `alg`, a `kid` and a `url`, and no
    /// `nonce` or `jwk`.
    pub fn from_value(value: &Value) -> Result<ExternalAccountBinding, JwsError> {
        let object = JoseObject::EabHeader;
        let flat = flattened_members(value, JoseObject::EabJws)?;
        let alg_name = string_member(&flat.header, object, "alg")?;
        let alg = MacAlg::from_name(alg_name)
            .ok_or_else(|| JwsError::UnsupportedMacAlgorithm { alg: short(alg_name) })?;
        for member in ["nonce", "jwk"] {
            if flat.header.contains_key(member) {
                return Err(JwsError::EabForbiddenMember { member });
            }
        }
        let key_id = string_member(&flat.header, object, "kid")?.to_owned();
        let url = string_member(&flat.header, object, "url")?.to_owned();
        Ok(ExternalAccountBinding {
            alg,
            key_id,
            url,
            payload: decode_b64url(flat.payload, JoseObject::EabJws, "payload")?,
            signing_input: format!("{}.{}", flat.protected, flat.payload).into_bytes(),
            mac: flat.signature,
        })
    }

    /// The EAB key id the client claims (the `kid`), to look the HMAC key up by.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The MAC algorithm.
    pub fn alg(&self) -> MacAlg {
        self.alg
    }

    /// Checks, in constant time, the MAC with `hmac_key` (the key issued with [`key_id`]), then
    /// that the binding's `url` is `outer_url` and its payload is `account_key`, the outer
    /// JWS's `jwk` (compared as keys, not as bytes).
    ///
    /// [`key_id`]: ExternalAccountBinding::key_id
    pub fn verify(&self, hmac_key: &[u8], outer_url: &str, account_key: &Jwk) -> Result<(), JwsError> {
        let verified = match self.alg {
            MacAlg::Hs256 => verify_mac::<hmac::Hmac<Sha256>>(hmac_key, &self.signing_input, &self.mac),
            MacAlg::Hs384 => verify_mac::<hmac::Hmac<sha2::Sha384>>(hmac_key, &self.signing_input, &self.mac),
            MacAlg::Hs512 => verify_mac::<hmac::Hmac<sha2::Sha512>>(hmac_key, &self.signing_input, &self.mac),
        };
        if !verified {
            return Err(JwsError::EabBadMac { key_id: short(&self.key_id) });
        }
        if self.url != outer_url {
            return Err(JwsError::EabUrlMismatch { expected: short(outer_url), got: short(&self.url) });
        }
        match Jwk::from_json(&self.payload) {
            Ok(bound) if bound == *account_key => Ok(()),
            _ => Err(JwsError::EabKeyMismatch),
        }
    }
}

fn verify_mac<M: hmac::Mac + hmac::KeyInit>(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    match <M as hmac::KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.verify_slice(tag).is_ok()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
#[path = "jws_tests.rs"]
mod tests;
