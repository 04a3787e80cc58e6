//! OCSP messages (RFC 6960, RFC 5019 profile) for the `pkictl serve` responder.
//!
//! Pure functions: decode a request, match its CertIDs against an issuer, build a signed
//! response (the signature comes from a callback, so no key is touched here), build an error
//! response, and decode the GET form of a request. The RFC 6960 ASN.1 structures are defined
//! once below with der's derive macros, on the same der/x509-cert stack as the rest of pkictl.

use base64ct::{Base64Unpadded, Encoding};
use der::asn1::{Any, BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der::{Choice, Decode, Encode, Enumerated, Sequence};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::Certificate;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::{Extension, Extensions};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;

/// id-pkix-ocsp-basic (1.3.6.1.5.5.7.48.1.1): the responseType of a BasicOCSPResponse.
pub const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// id-pkix-ocsp-nonce (1.3.6.1.5.5.7.48.1.2): the nonce extension of RFC 6960 4.4.1 / RFC 8954.
pub const ID_PKIX_OCSP_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// id-sha1 (1.3.14.3.2.26).
pub const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
/// id-sha256 (2.16.840.1.101.3.4.2.1).
pub const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// id-sha384 (2.16.840.1.101.3.4.2.2).
pub const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
/// id-sha512 (2.16.840.1.101.3.4.2.3).
pub const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// Most CertIDs answered in one request; more is refused as malformedRequest.
pub const MAX_CERT_IDS: usize = 16;
/// Longest nonce accepted (RFC 8954 2.1: 1 to 32 octets).
pub const MAX_NONCE_LEN: usize = 32;
/// Largest request accepted, in DER bytes (room for a signed request with a few certificates).
pub const MAX_REQUEST_LEN: usize = 16 * 1024;
/// Longest GET path segment accepted, in characters.
pub const MAX_GET_PATH_LEN: usize = 4 * MAX_REQUEST_LEN / 3 + 64;

/// What can go wrong decoding a request or building a response.
#[derive(Debug, thiserror::Error)]
pub enum OcspError {
    /// The request is not a well-formed OCSPRequest (or GET encoding of one).
    #[error("malformed OCSP request: {0}")]
    Malformed(String),
    /// The request lists more CertIDs than [`MAX_CERT_IDS`].
    #[error("the OCSP request asks about {0} certificates; at most {MAX_CERT_IDS} are answered")]
    TooManyCertIds(usize),
    /// The nonce is empty or longer than [`MAX_NONCE_LEN`].
    #[error("OCSP nonce of {0} bytes; RFC 8954 allows 1 to {MAX_NONCE_LEN}")]
    NonceLength(usize),
    /// The request carries a critical extension this responder does not implement.
    #[error("the OCSP request has critical extension {0}, which this responder does not understand")]
    UnknownCriticalExtension(String),
    /// The response could not be assembled from the given parameters.
    #[error("cannot build the OCSP response: {0}")]
    Build(String),
    /// The signing callback failed.
    #[error("signing the OCSP response failed: {0}")]
    Sign(String),
}

impl OcspError {
    /// The error response status a responder should answer with for this error.
    pub fn status(&self) -> ErrorStatus {
        match self {
            Self::Build(_) | Self::Sign(_) => ErrorStatus::InternalError,
            _ => ErrorStatus::MalformedRequest,
        }
    }
}

fn malformed(e: der::Error) -> OcspError {
    OcspError::Malformed(e.to_string())
}

fn build_error(e: der::Error) -> OcspError {
    OcspError::Build(e.to_string())
}

// ---------------------------------------------------------------------------------------------
// ASN.1 structures (RFC 6960 section 4 and appendix B; the module is EXPLICIT TAGS).
// ---------------------------------------------------------------------------------------------

/// `Version ::= INTEGER { v1(0) }`, the only version of requests and responses.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Enumerated)]
#[asn1(type = "INTEGER")]
#[repr(u8)]
pub enum Version {
    /// v1, the default (and so never written in DER).
    #[default]
    V1 = 0,
}

/// `OCSPRequest ::= SEQUENCE { tbsRequest, optionalSignature [0] EXPLICIT Signature OPTIONAL }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct OcspRequest {
    /// The signed part of the request.
    pub tbs_request: TbsRequest,
    /// A requestor signature; accepted and ignored (RFC 5019 2.1.1).
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    pub optional_signature: Option<RequestSignature>,
}

/// `TBSRequest` (RFC 6960 4.1.1).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TbsRequest {
    /// `[0] EXPLICIT Version DEFAULT v1`.
    #[asn1(context_specific = "0", default = "Default::default", tag_mode = "EXPLICIT")]
    pub version: Version,
    /// `[1] EXPLICIT GeneralName OPTIONAL`.
    #[asn1(context_specific = "1", optional = "true", tag_mode = "EXPLICIT")]
    pub requestor_name: Option<GeneralName>,
    /// `SEQUENCE OF Request`.
    pub request_list: Vec<Request>,
    /// `[2] EXPLICIT Extensions OPTIONAL`: where the nonce is.
    #[asn1(context_specific = "2", optional = "true", tag_mode = "EXPLICIT")]
    pub request_extensions: Option<Extensions>,
}

/// `Signature` of a signed request; its certificates are kept undecoded since it is ignored.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct RequestSignature {
    /// The requestor's signature algorithm.
    pub signature_algorithm: AlgorithmIdentifierOwned,
    /// The requestor's signature.
    pub signature: BitString,
    /// `[0] EXPLICIT SEQUENCE OF Certificate OPTIONAL`, not decoded further.
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    pub certs: Option<Vec<Any>>,
}

/// `Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct Request {
    /// The certificate asked about.
    pub req_cert: CertId,
    /// Per-certificate extensions (none is understood).
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    pub single_request_extensions: Option<Extensions>,
}

/// `CertID` (RFC 6960 4.1.1): which certificate, by issuer hashes and serial number.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct CertId {
    /// The hash algorithm of both issuer hashes.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// Hash of the DER of the issuer's subject Name.
    pub issuer_name_hash: OctetString,
    /// Hash of the issuer's subjectPublicKey BIT STRING value (without the unused-bits byte).
    pub issuer_key_hash: OctetString,
    /// The certificate's serial number.
    pub serial_number: SerialNumber,
}

/// `OCSPResponseStatus ::= ENUMERATED` (RFC 6960 4.2.1).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Enumerated)]
#[asn1(type = "ENUMERATED")]
#[repr(u8)]
pub enum ResponseStatus {
    /// Response has valid confirmations.
    Successful = 0,
    /// Illegal confirmation request.
    MalformedRequest = 1,
    /// Internal error in issuer.
    InternalError = 2,
    /// Try again later.
    TryLater = 3,
    /// Must sign the request.
    SigRequired = 5,
    /// Request unauthorized.
    Unauthorized = 6,
}

/// The statuses of an error response: every [`ResponseStatus`] but successful.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ErrorStatus {
    /// malformedRequest (1).
    MalformedRequest,
    /// internalError (2).
    InternalError,
    /// tryLater (3).
    TryLater,
    /// sigRequired (5).
    SigRequired,
    /// unauthorized (6).
    Unauthorized,
}

impl From<ErrorStatus> for ResponseStatus {
    fn from(status: ErrorStatus) -> Self {
        match status {
            ErrorStatus::MalformedRequest => Self::MalformedRequest,
            ErrorStatus::InternalError => Self::InternalError,
            ErrorStatus::TryLater => Self::TryLater,
            ErrorStatus::SigRequired => Self::SigRequired,
            ErrorStatus::Unauthorized => Self::Unauthorized,
        }
    }
}

/// `OCSPResponse ::= SEQUENCE { responseStatus, responseBytes [0] EXPLICIT ResponseBytes OPTIONAL }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct OcspResponse {
    /// The status; only successful responses carry responseBytes.
    pub response_status: ResponseStatus,
    /// The typed response.
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    pub response_bytes: Option<ResponseBytes>,
}

/// `ResponseBytes ::= SEQUENCE { responseType OBJECT IDENTIFIER, response OCTET STRING }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct ResponseBytes {
    /// Always [`ID_PKIX_OCSP_BASIC`] here.
    pub response_type: ObjectIdentifier,
    /// The DER of a [`BasicOcspResponse`].
    pub response: OctetString,
}

/// `BasicOCSPResponse` (RFC 6960 4.2.1).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct BasicOcspResponse {
    /// The signed part.
    pub tbs_response_data: ResponseData,
    /// The responder's signature algorithm.
    pub signature_algorithm: AlgorithmIdentifierOwned,
    /// Signature over the DER of `tbs_response_data`.
    pub signature: BitString,
    /// `[0] EXPLICIT SEQUENCE OF Certificate OPTIONAL`: the delegated responder certificate.
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    pub certs: Option<Vec<Certificate>>,
}

/// `ResponseData` (RFC 6960 4.2.1).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct ResponseData {
    /// `[0] EXPLICIT Version DEFAULT v1`.
    #[asn1(context_specific = "0", default = "Default::default", tag_mode = "EXPLICIT")]
    pub version: Version,
    /// Who signed.
    pub responder_id: ResponderId,
    /// When the response was signed.
    pub produced_at: GeneralizedTime,
    /// One answer per CertID.
    pub responses: Vec<SingleResponse>,
    /// `[1] EXPLICIT Extensions OPTIONAL`: the echoed nonce.
    #[asn1(context_specific = "1", optional = "true", tag_mode = "EXPLICIT")]
    pub response_extensions: Option<Extensions>,
}

/// `ResponderID ::= CHOICE { byName [1] Name, byKey [2] KeyHash }` (explicit tags).
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
pub enum ResponderId {
    /// The responder's subject name.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    ByName(Name),
    /// SHA-1 of the responder's subjectPublicKey BIT STRING value.
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    ByKey(OctetString),
}

/// `SingleResponse` (RFC 6960 4.2.1): the status of one certificate.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SingleResponse {
    /// The CertID exactly as the request gave it.
    pub cert_id: CertId,
    /// good, revoked or unknown.
    pub cert_status: CertStatus,
    /// When this status was known to be correct.
    pub this_update: GeneralizedTime,
    /// `[0] EXPLICIT GeneralizedTime OPTIONAL`: when newer information will be available.
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    pub next_update: Option<GeneralizedTime>,
    /// `[1] EXPLICIT Extensions OPTIONAL`.
    #[asn1(context_specific = "1", optional = "true", tag_mode = "EXPLICIT")]
    pub single_extensions: Option<Extensions>,
}

impl SingleResponse {
    /// The answer for one CertID, without extensions.
    pub fn new(
        cert_id: CertId,
        cert_status: CertStatus,
        this_update: GeneralizedTime,
        next_update: Option<GeneralizedTime>,
    ) -> Self {
        Self { cert_id, cert_status, this_update, next_update, single_extensions: None }
    }
}

/// `CertStatus ::= CHOICE { good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo,
/// unknown [2] IMPLICIT UnknownInfo }`.
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
pub enum CertStatus {
    /// Not revoked (RFC 5019: the certificate was issued and is not revoked).
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Good(Null),
    /// Revoked, when and why.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Revoked(RevokedInfo),
    /// The responder does not know the certificate.
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT")]
    Unknown(Null),
}

impl CertStatus {
    /// `good`.
    pub fn good() -> Self {
        Self::Good(Null)
    }

    /// `revoked` at `time`, with an optional CRLReason.
    pub fn revoked(time: GeneralizedTime, reason: Option<CrlReason>) -> Self {
        Self::Revoked(RevokedInfo { revocation_time: time, revocation_reason: reason })
    }

    /// `unknown`.
    pub fn unknown() -> Self {
        Self::Unknown(Null)
    }
}

/// `RevokedInfo ::= SEQUENCE { revocationTime, revocationReason [0] EXPLICIT CRLReason OPTIONAL }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct RevokedInfo {
    /// When the certificate was revoked.
    pub revocation_time: GeneralizedTime,
    /// Why, if recorded.
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    pub revocation_reason: Option<CrlReason>,
}

// ---------------------------------------------------------------------------------------------
// Hash algorithms and CertID matching.
// ---------------------------------------------------------------------------------------------

/// A hash algorithm of a CertID.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum HashAlg {
    /// SHA-1: what openssl, nginx and most clients send.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// The algorithm's OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => ID_SHA1,
            Self::Sha256 => ID_SHA256,
            Self::Sha384 => ID_SHA384,
            Self::Sha512 => ID_SHA512,
        }
    }

    /// The algorithm an AlgorithmIdentifier names, if supported; parameters must be absent
    /// or NULL.
    pub fn from_algorithm(alg: &AlgorithmIdentifierOwned) -> Option<Self> {
        if alg.parameters.as_ref().is_some_and(|p| !p.is_null()) {
            return None;
        }
        [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512].into_iter().find(|h| h.oid() == alg.oid)
    }

    /// The AlgorithmIdentifier to write for this algorithm (parameters absent, RFC 5754).
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned { oid: self.oid(), parameters: None }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => Sha1::digest(data).to_vec(),
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha384 => Sha384::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

impl CertId {
    /// The CertID of serial `serial` (big-endian magnitude bytes) under the issuer whose
    /// subject Name DER and subjectPublicKey bits are given.
    pub fn new(
        alg: HashAlg,
        issuer_name_der: &[u8],
        issuer_public_key_bits: &[u8],
        serial: &[u8],
    ) -> Result<Self, OcspError> {
        Ok(Self {
            hash_algorithm: alg.algorithm_identifier(),
            issuer_name_hash: OctetString::new(alg.digest(issuer_name_der)).map_err(build_error)?,
            issuer_key_hash: OctetString::new(alg.digest(issuer_public_key_bits)).map_err(build_error)?,
            serial_number: SerialNumber::new(serial).map_err(build_error)?,
        })
    }

    /// The hash algorithm of this CertID, if supported.
    pub fn hash_alg(&self) -> Option<HashAlg> {
        HashAlg::from_algorithm(&self.hash_algorithm)
    }

    /// The serial number's DER INTEGER content bytes (big-endian, two's complement).
    pub fn serial(&self) -> &[u8] {
        self.serial_number.as_bytes()
    }

    /// True when this CertID names the issuer whose subject Name DER and subjectPublicKey
    /// BIT STRING value are given, hashed with the CertID's own algorithm. False for an
    /// unsupported algorithm.
    pub fn matches_issuer(&self, issuer_name_der: &[u8], issuer_spki_public_key_bits: &[u8]) -> bool {
        let Some(alg) = self.hash_alg() else { return false };
        alg.digest(issuer_name_der) == self.issuer_name_hash.as_bytes()
            && alg.digest(issuer_spki_public_key_bits) == self.issuer_key_hash.as_bytes()
    }
}

// ---------------------------------------------------------------------------------------------
// Requests.
// ---------------------------------------------------------------------------------------------

/// An unsigned OCSPRequest for these CertIDs, without a nonce (RFC 5019's form): what a
/// client sends, e.g. `pkictl demo` asking `serve`.
pub fn build_request(cert_ids: Vec<CertId>) -> Result<Vec<u8>, OcspError> {
    let request_list =
        cert_ids.into_iter().map(|req_cert| Request { req_cert, single_request_extensions: None });
    let request = OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: request_list.collect(),
            request_extensions: None,
        },
        optional_signature: None,
    };
    request.to_der().map_err(build_error)
}

/// What a responder needs from a request.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ParsedRequest {
    /// The CertIDs asked about, in request order (1 to [`MAX_CERT_IDS`]).
    pub cert_ids: Vec<CertId>,
    /// The nonce (the value inside the extension's OCTET STRING), to echo in the response.
    pub nonce: Option<Vec<u8>>,
    /// Whether the request was signed (the signature is not checked).
    pub signed: bool,
}

/// Decodes a DER OCSPRequest: 1 to [`MAX_CERT_IDS`] CertIDs, an optional nonce of 1 to 32
/// bytes; trailing data, unknown critical extensions and anything not DER are refused.
pub fn parse_request(der: &[u8]) -> Result<ParsedRequest, OcspError> {
    if der.is_empty() {
        return Err(OcspError::Malformed("empty request".into()));
    }
    if der.len() > MAX_REQUEST_LEN {
        return Err(OcspError::Malformed(format!("request of {} bytes, over {MAX_REQUEST_LEN}", der.len())));
    }
    let request = OcspRequest::from_der(der).map_err(malformed)?;
    let signed = request.optional_signature.is_some();
    let tbs = request.tbs_request;
    match tbs.request_list.len() {
        0 => return Err(OcspError::Malformed("the requestList is empty".into())),
        n if n > MAX_CERT_IDS => return Err(OcspError::TooManyCertIds(n)),
        _ => {}
    }
    let nonce = request_nonce(tbs.request_extensions.as_deref().unwrap_or_default())?;
    let mut cert_ids = Vec::with_capacity(tbs.request_list.len());
    for single in tbs.request_list {
        reject_unknown_critical(single.single_request_extensions.as_deref().unwrap_or_default())?;
        cert_ids.push(single.req_cert);
    }
    Ok(ParsedRequest { cert_ids, nonce, signed })
}

/// The nonce of the requestExtensions, if any; refuses two nonces, a bad length, and unknown
/// critical extensions.
fn request_nonce(extensions: &[Extension]) -> Result<Option<Vec<u8>>, OcspError> {
    reject_unknown_critical(extensions)?;
    let mut nonces = extensions.iter().filter(|e| e.extn_id == ID_PKIX_OCSP_NONCE);
    let Some(first) = nonces.next() else { return Ok(None) };
    if nonces.next().is_some() {
        return Err(OcspError::Malformed("two nonce extensions".into()));
    }
    let nonce = OctetString::from_der(first.extn_value.as_bytes()).map_err(malformed)?;
    check_nonce_len(nonce.as_bytes())?;
    Ok(Some(nonce.as_bytes().to_vec()))
}

fn check_nonce_len(nonce: &[u8]) -> Result<(), OcspError> {
    if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
        return Err(OcspError::NonceLength(nonce.len()));
    }
    Ok(())
}

/// RFC 6960 4.4: unrecognised extensions are ignored unless critical.
fn reject_unknown_critical(extensions: &[Extension]) -> Result<(), OcspError> {
    match extensions.iter().find(|e| e.critical && e.extn_id != ID_PKIX_OCSP_NONCE) {
        Some(e) => Err(OcspError::UnknownCriticalExtension(e.extn_id.to_string())),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Responses.
// ---------------------------------------------------------------------------------------------

/// The signing callback of [`build_response`]: gets the DER of tbsResponseData, returns the
/// signature bytes or a message saying why it could not sign.
pub type SignFn<'a> = dyn FnMut(&[u8]) -> Result<Vec<u8>, String> + 'a;

/// Everything a successful response says, except the signature.
#[derive(Clone, Debug)]
pub struct ResponseParams<'a> {
    /// The responder certificate's subjectPublicKey BIT STRING value; its SHA-1 is the
    /// responderID byKey (RFC 6960 4.2.2.3).
    pub responder_public_key_bits: &'a [u8],
    /// The DER of the delegated responder certificate, sent in `certs`; None when the CA
    /// signs its own responses.
    pub responder_cert_der: Option<&'a [u8]>,
    /// producedAt.
    pub produced_at: GeneralizedTime,
    /// One answer per CertID (at least one), each echoing the request's CertID.
    pub responses: &'a [SingleResponse],
    /// The request's nonce, echoed in responseExtensions.
    pub nonce: Option<&'a [u8]>,
    /// The signature algorithm the callback signs with, e.g. ecdsa-with-SHA256.
    pub signature_algorithm: &'a AlgorithmIdentifierOwned,
}

/// Builds a successful OCSPResponse holding a BasicOCSPResponse. `sign` gets the DER of
/// tbsResponseData and returns the signature (DER ECDSA or PKCS#1 v1.5) for
/// `signature_algorithm`. The result is decoded again and checked before it is returned.
pub fn build_response(req: &ResponseParams, sign: &mut SignFn<'_>) -> Result<Vec<u8>, OcspError> {
    let tbs = response_data(req)?;
    let tbs_der = tbs.to_der().map_err(build_error)?;
    let signature = sign(&tbs_der).map_err(OcspError::Sign)?;
    let basic = BasicOcspResponse {
        tbs_response_data: tbs,
        signature_algorithm: req.signature_algorithm.clone(),
        signature: BitString::from_bytes(&signature).map_err(build_error)?,
        certs: responder_certs(req.responder_cert_der)?,
    };
    let der = wrap_basic(&basic)?;
    check_read_back(&der, &tbs_der)?;
    Ok(der)
}

fn response_data(req: &ResponseParams) -> Result<ResponseData, OcspError> {
    if req.responses.is_empty() {
        return Err(OcspError::Build("a response needs at least one SingleResponse".into()));
    }
    let key_hash = HashAlg::Sha1.digest(req.responder_public_key_bits);
    Ok(ResponseData {
        version: Version::V1,
        responder_id: ResponderId::ByKey(OctetString::new(key_hash).map_err(build_error)?),
        produced_at: req.produced_at,
        responses: req.responses.to_vec(),
        response_extensions: req.nonce.map(nonce_extension).transpose()?.map(|e| vec![e]),
    })
}

/// The nonce extension echoing `nonce`: extnValue is the DER of `Nonce ::= OCTET STRING`.
fn nonce_extension(nonce: &[u8]) -> Result<Extension, OcspError> {
    check_nonce_len(nonce)?;
    let inner = OctetString::new(nonce).map_err(build_error)?.to_der().map_err(build_error)?;
    Ok(Extension {
        extn_id: ID_PKIX_OCSP_NONCE,
        critical: false,
        extn_value: OctetString::new(inner).map_err(build_error)?,
    })
}

fn responder_certs(cert_der: Option<&[u8]>) -> Result<Option<Vec<Certificate>>, OcspError> {
    let Some(der) = cert_der else { return Ok(None) };
    let cert = Certificate::from_der(der)
        .map_err(|e| OcspError::Build(format!("the responder certificate does not decode: {e}")))?;
    Ok(Some(vec![cert]))
}

fn wrap_basic(basic: &BasicOcspResponse) -> Result<Vec<u8>, OcspError> {
    let response = OcspResponse {
        response_status: ResponseStatus::Successful,
        response_bytes: Some(ResponseBytes {
            response_type: ID_PKIX_OCSP_BASIC,
            response: OctetString::new(basic.to_der().map_err(build_error)?).map_err(build_error)?,
        }),
    };
    response.to_der().map_err(build_error)
}

/// The response decodes and its tbsResponseData is the byte string that was signed.
fn check_read_back(der: &[u8], tbs_der: &[u8]) -> Result<(), OcspError> {
    let basic = parse_basic_response(der).map_err(|e| OcspError::Build(format!("read back: {e}")))?;
    if basic.tbs_response_data.to_der().map_err(build_error)? != tbs_der {
        return Err(OcspError::Build("read back: tbsResponseData differs from what was signed".into()));
    }
    Ok(())
}

/// Decodes a successful OCSPResponse and the BasicOCSPResponse inside it (for checks, tests
/// and clients); refuses other statuses and response types.
pub fn parse_basic_response(der: &[u8]) -> Result<BasicOcspResponse, OcspError> {
    let response = OcspResponse::from_der(der).map_err(malformed)?;
    let bytes = match (response.response_status, response.response_bytes) {
        (ResponseStatus::Successful, Some(bytes)) => bytes,
        (status, _) => return Err(OcspError::Malformed(format!("response status {status:?}"))),
    };
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(OcspError::Malformed(format!("response type {}", bytes.response_type)));
    }
    BasicOcspResponse::from_der(bytes.response.as_bytes()).map_err(malformed)
}

/// An OCSPResponse with only a responseStatus (RFC 6960 2.3): malformedRequest,
/// internalError, tryLater, sigRequired or unauthorized.
pub fn error_response(status: ErrorStatus) -> Result<Vec<u8>, OcspError> {
    OcspResponse { response_status: status.into(), response_bytes: None }.to_der().map_err(build_error)
}

/// A GeneralizedTime from Unix seconds (must be at or after 1970).
pub fn generalized_time(unix: i64) -> Result<GeneralizedTime, OcspError> {
    let secs = u64::try_from(unix).map_err(|_| OcspError::Build(format!("time {unix} is before 1970")))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs)).map_err(build_error)
}

// ---------------------------------------------------------------------------------------------
// The GET form (RFC 6960 appendix A.1, RFC 5019 5).
// ---------------------------------------------------------------------------------------------

/// Decodes the GET form of a request, everything after the responder's base path (it may
/// hold literal `/` from unescaped base64): percent-escapes are undone, then standard or URL
/// base64, padded or not, is decoded into the request DER.
pub fn decode_get_path(path: &str) -> Result<Vec<u8>, OcspError> {
    if path.is_empty() {
        return Err(OcspError::Malformed("empty GET path".into()));
    }
    if path.len() > MAX_GET_PATH_LEN {
        return Err(OcspError::Malformed(format!(
            "GET path of {} bytes, over {MAX_GET_PATH_LEN}",
            path.len()
        )));
    }
    let text = percent_decode(path)?;
    let unpadded = strip_padding(&text)?;
    let standard: String = unpadded
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    Base64Unpadded::decode_vec(&standard).map_err(|e| OcspError::Malformed(format!("GET path: {e}")))
}

/// Undoes `%XX` escapes; the result must be ASCII base64 (either alphabet) or `=`.
fn percent_decode(path: &str) -> Result<String, OcspError> {
    let bad = |what: &str| OcspError::Malformed(format!("GET path: {what}"));
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let c = if b == b'%' {
            let (Some(hi), Some(lo)) = (bytes.get(i + 1).and_then(hex), bytes.get(i + 2).and_then(hex))
            else {
                return Err(bad("broken percent-escape"));
            };
            i += 3;
            hi << 4 | lo
        } else {
            i += 1;
            b
        };
        if !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_' | b'=')) {
            return Err(bad("character outside base64"));
        }
        out.push(char::from(c));
    }
    Ok(out)
}

fn hex(b: &u8) -> Option<u8> {
    char::from(*b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Removes up to two trailing `=`; refuses `=` anywhere else.
fn strip_padding(text: &str) -> Result<&str, OcspError> {
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 || trimmed.contains('=') {
        return Err(OcspError::Malformed("GET path: misplaced base64 padding".into()));
    }
    Ok(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIME: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn time(offset: i64) -> GeneralizedTime {
        generalized_time(TIME + offset).unwrap()
    }

    fn sample_cert_id(serial: &[u8]) -> CertId {
        CertId::new(HashAlg::Sha1, b"issuer name", b"issuer key", serial).unwrap()
    }

    fn nonce_ext(nonce: &[u8], critical: bool) -> Extension {
        let inner = OctetString::new(nonce).unwrap().to_der().unwrap();
        Extension { extn_id: ID_PKIX_OCSP_NONCE, critical, extn_value: OctetString::new(inner).unwrap() }
    }

    fn request_der(cert_ids: Vec<CertId>, extensions: Option<Extensions>) -> Vec<u8> {
        let request_list = cert_ids
            .into_iter()
            .map(|req_cert| Request { req_cert, single_request_extensions: None })
            .collect();
        let tbs_request = TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list,
            request_extensions: extensions,
        };
        OcspRequest { tbs_request, optional_signature: None }.to_der().unwrap()
    }

    fn sample_request() -> Vec<u8> {
        request_der(vec![sample_cert_id(&[0x01, 0x23])], Some(vec![nonce_ext(&[7; 16], false)]))
    }

    fn ecdsa_sha256() -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"),
            parameters: None,
        }
    }

    #[test]
    fn request_round_trip() {
        let ids = vec![sample_cert_id(&[0x01, 0x23]), sample_cert_id(&[0x7f; 20])];
        let der = request_der(ids.clone(), Some(vec![nonce_ext(b"0123456789abcdef", false)]));
        let parsed = parse_request(&der).unwrap();
        assert_eq!(parsed.cert_ids, ids);
        assert_eq!(parsed.nonce.as_deref(), Some(&b"0123456789abcdef"[..]));
        assert!(!parsed.signed);
        assert_eq!(parsed.cert_ids[0].serial(), [0x01, 0x23]);
        assert_eq!(parsed.cert_ids[0].hash_alg(), Some(HashAlg::Sha1));
        assert!(parsed.cert_ids[0].matches_issuer(b"issuer name", b"issuer key"));
        assert!(!parsed.cert_ids[0].matches_issuer(b"issuer name", b"other key"));
        assert!(!parsed.cert_ids[0].matches_issuer(b"other name", b"issuer key"));
        let without_nonce = parse_request(&request_der(ids, None)).unwrap();
        assert_eq!(without_nonce.nonce, None);
    }

    #[test]
    fn signed_request_is_accepted_and_its_signature_ignored() {
        let mut request = OcspRequest::from_der(&sample_request()).unwrap();
        request.optional_signature = Some(RequestSignature {
            signature_algorithm: ecdsa_sha256(),
            signature: BitString::from_bytes(b"not a real signature").unwrap(),
            certs: None,
        });
        let parsed = parse_request(&request.to_der().unwrap()).unwrap();
        assert!(parsed.signed);
        assert_eq!(parsed.cert_ids.len(), 1);
    }

    #[test]
    fn sha256_and_unsupported_hash_algorithms() {
        let id = CertId::new(HashAlg::Sha256, b"n", b"k", &[5]).unwrap();
        assert_eq!(id.issuer_name_hash.as_bytes().len(), 32);
        assert!(id.matches_issuer(b"n", b"k"));
        let mut with_null = id.clone();
        with_null.hash_algorithm.parameters = Some(Any::null());
        assert!(with_null.matches_issuer(b"n", b"k"), "NULL parameters are accepted");
        let mut md5 = id.clone();
        md5.hash_algorithm.oid = ObjectIdentifier::new_unwrap("1.2.840.113549.2.5");
        assert_eq!(md5.hash_alg(), None);
        assert!(!md5.matches_issuer(b"n", b"k"));
        // An unsupported algorithm still parses: the responder answers "unknown" for it.
        assert_eq!(parse_request(&request_der(vec![md5.clone()], None)).unwrap().cert_ids, vec![md5]);
    }

    #[test]
    fn malformed_requests_are_errors() {
        let good = sample_request();
        assert!(matches!(parse_request(&[]), Err(OcspError::Malformed(_))));
        for len in 0..good.len() {
            assert!(parse_request(&good[..len]).is_err(), "truncated to {len}");
        }
        let mut trailing = good.clone();
        trailing.extend_from_slice(&[0, 0]);
        assert!(parse_request(&trailing).is_err(), "trailing data");
        let mut wrong_tag = good.clone();
        wrong_tag[0] = 0x31;
        assert!(parse_request(&wrong_tag).is_err(), "SET instead of SEQUENCE");
        // A SEQUENCE header claiming 4 GiB, then a few bytes.
        assert!(parse_request(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30, 0x00]).is_err());
        assert!(parse_request(&vec![0x30; MAX_REQUEST_LEN + 1]).is_err(), "oversized input");
        assert!(parse_request(&error_response(ErrorStatus::TryLater).unwrap()).is_err(), "a response");
        let empty_list = request_der(vec![], None);
        assert!(matches!(parse_request(&empty_list), Err(OcspError::Malformed(_))));
        let too_many = request_der(vec![sample_cert_id(&[1]); MAX_CERT_IDS + 1], None);
        assert!(matches!(parse_request(&too_many), Err(OcspError::TooManyCertIds(17))));
        let max = request_der(vec![sample_cert_id(&[1]); MAX_CERT_IDS], None);
        assert_eq!(parse_request(&max).unwrap().cert_ids.len(), MAX_CERT_IDS);
    }

    #[test]
    fn every_corrupted_byte_is_an_error_or_a_request_never_a_panic() {
        let good = sample_request();
        for i in 0..good.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] ^= flip;
                let _ = parse_request(&bad);
            }
        }
    }

    #[test]
    fn nonce_and_extension_rules() {
        let id = || vec![sample_cert_id(&[1])];
        let with = |exts: Vec<Extension>| parse_request(&request_der(id(), Some(exts)));
        assert!(matches!(with(vec![nonce_ext(&[], false)]), Err(OcspError::NonceLength(0))));
        assert!(matches!(with(vec![nonce_ext(&[1; 33], false)]), Err(OcspError::NonceLength(33))));
        assert_eq!(with(vec![nonce_ext(&[1; 32], false)]).unwrap().nonce, Some(vec![1; 32]));
        assert_eq!(with(vec![nonce_ext(&[9], true)]).unwrap().nonce, Some(vec![9]));
        assert!(with(vec![nonce_ext(&[1], false), nonce_ext(&[2], false)]).is_err(), "two nonces");
        let raw = Extension {
            extn_id: ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(vec![1, 2, 3]).unwrap(),
        };
        assert!(with(vec![raw]).is_err(), "nonce not wrapped in an OCTET STRING");
        let other = |critical| Extension {
            extn_id: ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.4"),
            critical,
            extn_value: OctetString::new(vec![0x05, 0x00]).unwrap(),
        };
        assert_eq!(with(vec![other(false)]).unwrap().nonce, None, "unknown non-critical ignored");
        assert!(matches!(with(vec![other(true)]), Err(OcspError::UnknownCriticalExtension(_))));
    }

    fn sample_response(nonce: Option<&[u8]>, cert: Option<&[u8]>) -> (Vec<u8>, Vec<u8>) {
        let responses = [
            SingleResponse::new(sample_cert_id(&[1]), CertStatus::good(), time(0), Some(time(3600))),
            SingleResponse::new(
                sample_cert_id(&[2]),
                CertStatus::revoked(time(-60), Some(CrlReason::KeyCompromise)),
                time(0),
                None,
            ),
            SingleResponse::new(sample_cert_id(&[3]), CertStatus::unknown(), time(0), None),
        ];
        let alg = ecdsa_sha256();
        let params = ResponseParams {
            responder_public_key_bits: b"responder key",
            responder_cert_der: cert,
            produced_at: time(0),
            responses: &responses,
            nonce,
            signature_algorithm: &alg,
        };
        let mut signed = Vec::new();
        let der = build_response(&params, &mut |tbs| {
            signed = tbs.to_vec();
            Ok(b"signature".to_vec())
        })
        .unwrap();
        (der, signed)
    }

    #[test]
    fn response_round_trip() {
        let (der, signed) = sample_response(Some(&[4; 16]), None);
        let basic = parse_basic_response(&der).unwrap();
        assert_eq!(basic.tbs_response_data.to_der().unwrap(), signed, "the callback signed the tbs DER");
        assert_eq!(basic.signature.raw_bytes(), b"signature");
        assert_eq!(basic.signature_algorithm, ecdsa_sha256());
        assert_eq!(basic.certs, None);
        let data = &basic.tbs_response_data;
        assert_eq!(data.version, Version::V1);
        let key_hash = OctetString::new(HashAlg::Sha1.digest(b"responder key")).unwrap();
        assert_eq!(data.responder_id, ResponderId::ByKey(key_hash));
        assert_eq!(data.produced_at, time(0));
        assert_eq!(data.responses.len(), 3);
        assert_eq!(data.responses[0].cert_id, sample_cert_id(&[1]));
        assert_eq!(data.responses[0].cert_status, CertStatus::good());
        assert_eq!(data.responses[0].next_update, Some(time(3600)));
        assert_eq!(
            data.responses[1].cert_status,
            CertStatus::revoked(time(-60), Some(CrlReason::KeyCompromise))
        );
        assert_eq!(data.responses[2].cert_status, CertStatus::unknown());
        assert_eq!(data.response_extensions, Some(vec![nonce_ext(&[4; 16], false)]));
        let (no_nonce, _) = sample_response(None, None);
        assert_eq!(parse_basic_response(&no_nonce).unwrap().tbs_response_data.response_extensions, None);
    }

    #[test]
    fn build_response_refuses_bad_parameters() {
        let alg = ecdsa_sha256();
        let one = [SingleResponse::new(sample_cert_id(&[1]), CertStatus::good(), time(0), None)];
        let params = |responses, nonce, cert| ResponseParams {
            responder_public_key_bits: b"k",
            responder_cert_der: cert,
            produced_at: time(0),
            responses,
            nonce,
            signature_algorithm: &alg,
        };
        let mut sign = |_: &[u8]| Ok(vec![1]);
        assert!(matches!(build_response(&params(&[], None, None), &mut sign), Err(OcspError::Build(_))));
        assert!(build_response(&params(&one, Some(&[]), None), &mut sign).is_err());
        assert!(build_response(&params(&one, Some(&[0; 33]), None), &mut sign).is_err());
        assert!(build_response(&params(&one, None, Some(b"not a cert")), &mut sign).is_err());
        let mut failing = |_: &[u8]| Err("token removed".to_string());
        let err = build_response(&params(&one, None, None), &mut failing).unwrap_err();
        assert!(matches!(err, OcspError::Sign(ref m) if m == "token removed"));
        assert_eq!(err.status(), ErrorStatus::InternalError);
    }

    #[test]
    fn error_responses_hold_only_a_status() {
        for (status, value) in [
            (ErrorStatus::MalformedRequest, ResponseStatus::MalformedRequest),
            (ErrorStatus::InternalError, ResponseStatus::InternalError),
            (ErrorStatus::TryLater, ResponseStatus::TryLater),
            (ErrorStatus::SigRequired, ResponseStatus::SigRequired),
            (ErrorStatus::Unauthorized, ResponseStatus::Unauthorized),
        ] {
            let der = error_response(status).unwrap();
            let decoded = OcspResponse::from_der(&der).unwrap();
            assert_eq!(decoded, OcspResponse { response_status: value, response_bytes: None });
            assert_eq!(der.len(), 5, "SEQUENCE {{ ENUMERATED }}");
            assert_eq!(der[4], value as u8);
            assert!(parse_basic_response(&der).is_err());
        }
        assert_eq!(OcspError::Malformed("x".into()).status(), ErrorStatus::MalformedRequest);
        assert_eq!(OcspError::TooManyCertIds(20).status(), ErrorStatus::MalformedRequest);
    }

    #[test]
    fn get_path_forms() {
        let der = sample_request();
        let standard = base64ct::Base64::encode_string(&der);
        let url = base64ct::Base64UrlUnpadded::encode_string(&der);
        assert!(
            standard.contains(['+', '/', '=']) || url.contains(['-', '_']),
            "sample exercises the alphabets"
        );
        let escaped = standard.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
        let lower = standard.replace('+', "%2b").replace('/', "%2f").replace('=', "%3d");
        for form in [&standard, &escaped, &lower, &url, &standard.trim_end_matches('=').to_string()] {
            assert_eq!(decode_get_path(form).unwrap(), der, "{form}");
        }
        for bad in ["", "%", "%2", "%zz", "%20", "ab=c", "abc===", "a b", "é", "!!!!", "A"] {
            assert!(decode_get_path(bad).is_err(), "{bad}");
        }
        assert!(decode_get_path(&"A".repeat(MAX_GET_PATH_LEN + 4)).is_err());
    }

    /// der 0.8 accepts a DEFAULT field written out (not DER, but harmless): a request with an
    /// explicit `version v1` parses.
    #[test]
    fn explicit_default_version_is_accepted() {
        #[derive(Sequence)]
        struct ExplicitVersionTbs {
            #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
            version: Version,
            request_list: Vec<Request>,
        }
        #[derive(Sequence)]
        struct ExplicitVersionRequest {
            tbs_request: ExplicitVersionTbs,
        }
        let request_list = vec![Request { req_cert: sample_cert_id(&[1]), single_request_extensions: None }];
        let tbs_request = ExplicitVersionTbs { version: Version::V1, request_list };
        let der = ExplicitVersionRequest { tbs_request }.to_der().unwrap();
        assert_eq!(parse_request(&der).unwrap().cert_ids, vec![sample_cert_id(&[1])]);
    }

    /// The openssl interop: a CA, a leaf and a delegated responder made by the `openssl` CLI,
    /// requests from `openssl ocsp`, responses from this module judged by `openssl ocsp`.
    mod openssl {
        use std::path::{Path, PathBuf};
        use std::process::Command;

        use der::DecodePem;
        use p256::ecdsa::signature::Signer;
        use p256::pkcs8::DecodePrivateKey;

        use super::*;

        /// Runs openssl in `dir`: whether it succeeded, and stdout and stderr. Panics (never
        /// skips) when openssl is missing.
        fn run(dir: &Path, args: &[&str]) -> (bool, String) {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("the openssl CLI is required by the OCSP interop tests: install openssl");
            let text =
                format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            (out.status.success(), text)
        }

        /// Runs openssl in `dir` and returns its output; panics when it fails.
        fn openssl(dir: &Path, args: &[&str]) -> String {
            let (ok, text) = run(dir, args);
            assert!(ok, "openssl {args:?} failed:\n{text}");
            text
        }

        fn write(dir: &Path, name: &str, text: &str) {
            std::fs::write(dir.join(name), text).unwrap();
        }

        /// An EC P-256 key and certificate `name` signed by the CA, with extensions `ext`.
        fn issue(dir: &Path, name: &str, serial: &str, ext: &str) {
            issue_with(dir, name, serial, ext, &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
        }

        /// A certificate `name` signed by the CA, with a key made by `newkey` (openssl req options).
        fn issue_with(dir: &Path, name: &str, serial: &str, ext: &str, newkey: &[&str]) {
            let (key, csr, pem, extfile) =
                (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("{name}.ext"));
            write(dir, &extfile, ext);
            let subj = format!("/CN={name}");
            openssl(
                dir,
                &["req", "-new", "-nodes"]
                    .iter()
                    .chain(newkey)
                    .copied()
                    .chain(["-keyout", &key, "-out", &csr, "-subj", &subj])
                    .collect::<Vec<_>>(),
            );
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-set_serial",
                    serial,
                    "-days",
                    "2",
                    "-extfile",
                    &extfile,
                    "-out",
                    &pem,
                ],
            );
        }

        struct Pki {
            dir: tempfile::TempDir,
            ca: Certificate,
            leaf: Certificate,
            responder_der: Vec<u8>,
            responder_key: p256::ecdsa::SigningKey,
        }

        impl Pki {
            fn new() -> Self {
                let dir = tempfile::tempdir().unwrap();
                let d = dir.path();
                openssl(
                    d,
                    &[
                        "req",
                        "-x509",
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:P-256",
                        "-nodes",
                        "-keyout",
                        "ca.key",
                        "-out",
                        "ca.pem",
                        "-subj",
                        "/O=pkictl tests/CN=OCSP Test CA",
                        "-days",
                        "3",
                        "-addext",
                        "basicConstraints=critical,CA:TRUE",
                        "-addext",
                        "keyUsage=critical,keyCertSign,cRLSign",
                    ],
                );
                issue(
                    d,
                    "leaf",
                    "0x00c0ffee0123456789",
                    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectAltName=DNS:leaf.test\n",
                );
                issue(
                    d,
                    "responder",
                    "0x42",
                    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\n",
                );
                let pem = |name: &str| std::fs::read_to_string(d.join(name)).unwrap();
                let responder = Certificate::from_pem(pem("responder.pem")).unwrap();
                Pki {
                    ca: Certificate::from_pem(pem("ca.pem")).unwrap(),
                    leaf: Certificate::from_pem(pem("leaf.pem")).unwrap(),
                    responder_der: responder.to_der().unwrap(),
                    responder_key: p256::ecdsa::SigningKey::from_pkcs8_pem(&pem("responder.key")).unwrap(),
                    dir,
                }
            }

            fn path(&self, name: &str) -> PathBuf {
                self.dir.path().join(name)
            }

            fn request(&self, extra: &[&str]) -> Vec<u8> {
                let mut args = vec!["ocsp", "-issuer", "ca.pem"];
                args.extend_from_slice(extra);
                args.extend_from_slice(&["-cert", "leaf.pem", "-reqout", "req.der"]);
                openssl(self.dir.path(), &args);
                std::fs::read(self.path("req.der")).unwrap()
            }

            fn ca_name_der(&self) -> Vec<u8> {
                self.ca.tbs_certificate().subject().to_der().unwrap()
            }

            fn ca_key_bits(&self) -> &[u8] {
                self.ca.tbs_certificate().subject_public_key_info().subject_public_key.raw_bytes()
            }

            /// A response to `parsed` with `status` for every CertID, signed by `key`.
            fn respond(
                &self,
                parsed: &ParsedRequest,
                status: CertStatus,
                nonce: Option<&[u8]>,
                key: &p256::ecdsa::SigningKey,
            ) -> Vec<u8> {
                let mut sign = |tbs: &[u8]| {
                    let sig: p256::ecdsa::Signature = key.sign(tbs);
                    Ok(sig.to_der().as_bytes().to_vec())
                };
                self.respond_as(parsed, status, nonce, &self.responder_der, &ecdsa_sha256(), &mut sign)
            }

            /// A response to `parsed` with `status` for every CertID, from the responder
            /// certificate `responder_der`, signed by `sign` with `alg`; written to resp.der.
            fn respond_as(
                &self,
                parsed: &ParsedRequest,
                status: CertStatus,
                nonce: Option<&[u8]>,
                responder_der: &[u8],
                alg: &AlgorithmIdentifierOwned,
                sign: &mut SignFn<'_>,
            ) -> Vec<u8> {
                let responses: Vec<_> = parsed
                    .cert_ids
                    .iter()
                    .map(|id| {
                        SingleResponse::new(id.clone(), status.clone(), time_now(-60), Some(time_now(3600)))
                    })
                    .collect();
                let responder = Certificate::from_der(responder_der).unwrap();
                let params = ResponseParams {
                    responder_public_key_bits: responder
                        .tbs_certificate()
                        .subject_public_key_info()
                        .subject_public_key
                        .raw_bytes(),
                    responder_cert_der: Some(responder_der),
                    produced_at: time_now(0),
                    responses: &responses,
                    nonce,
                    signature_algorithm: alg,
                };
                let der = build_response(&params, sign).unwrap();
                std::fs::write(self.path("resp.der"), &der).unwrap();
                der
            }

            /// `openssl ocsp` checking resp.der's signature and its nonce against req.der.
            fn verify_nonce(&self, va_file: bool) -> (bool, String) {
                let mut args = vec![
                    "ocsp",
                    "-reqin",
                    "req.der",
                    "-respin",
                    "resp.der",
                    "-CAfile",
                    "ca.pem",
                    "-resp_text",
                ];
                if va_file {
                    args.extend_from_slice(&["-VAfile", "responder.pem"]);
                }
                run(self.dir.path(), &args)
            }

            /// `openssl ocsp` checking resp.der's signature and the status of leaf.pem (openssl
            /// builds its own request for -cert, so the nonce is not checked here). `extra` are the
            /// request's options (-sha256: look for a SHA-256 CertID).
            fn verify_status(&self, extra: &[&str], va_file: bool) -> String {
                let mut args = vec!["ocsp", "-issuer", "ca.pem"];
                args.extend_from_slice(extra);
                args.extend_from_slice(&[
                    "-cert",
                    "leaf.pem",
                    "-no_nonce",
                    "-respin",
                    "resp.der",
                    "-CAfile",
                    "ca.pem",
                    "-resp_text",
                ]);
                if va_file {
                    args.extend_from_slice(&["-VAfile", "responder.pem"]);
                }
                openssl(self.dir.path(), &args)
            }
        }

        fn time_now(offset: i64) -> GeneralizedTime {
            generalized_time(crate::engine::now().unix_timestamp() + offset).unwrap()
        }

        fn hex(bytes: &[u8]) -> String {
            bytes.iter().map(|b| format!("{b:02X}")).collect()
        }

        #[test]
        fn openssl_requests_parse_and_match_the_issuer() {
            let pki = Pki::new();
            let leaf_name = pki.leaf.tbs_certificate().subject().to_der().unwrap();
            for (extra, alg, with_nonce) in [
                (&[][..], HashAlg::Sha1, true),
                (&["-no_nonce"][..], HashAlg::Sha1, false),
                (&["-sha256"][..], HashAlg::Sha256, true),
            ] {
                let req = pki.request(extra);
                let parsed = parse_request(&req).unwrap();
                assert_eq!(parsed.cert_ids.len(), 1, "{extra:?}");
                let id = &parsed.cert_ids[0];
                assert_eq!(id.hash_alg(), Some(alg), "{extra:?}");
                assert!(id.matches_issuer(&pki.ca_name_der(), pki.ca_key_bits()), "{extra:?}");
                assert!(!id.matches_issuer(&leaf_name, pki.ca_key_bits()), "{extra:?}");
                assert!(!id.matches_issuer(&pki.ca_name_der(), b"another key"), "{extra:?}");
                assert_eq!(id.serial(), pki.leaf.tbs_certificate().serial_number().as_bytes());
                assert_eq!(parsed.nonce.as_ref().map(Vec::len), with_nonce.then_some(16), "{extra:?}");
                assert!(!parsed.signed);
                // The decoded request encodes back to the same bytes: CertIDs are echoed exactly.
                assert_eq!(OcspRequest::from_der(&req).unwrap().to_der().unwrap(), req);
                let get = base64ct::Base64::encode_string(&req).replace('/', "%2F").replace('+', "%2B");
                assert_eq!(decode_get_path(&get).unwrap(), req);
            }
            let two = pki.request(&["-cert", "responder.pem"]);
            let parsed = parse_request(&two).unwrap();
            assert_eq!(parsed.cert_ids.len(), 2);
            assert!(
                parsed.cert_ids.iter().all(|id| id.matches_issuer(&pki.ca_name_der(), pki.ca_key_bits()))
            );
            assert_eq!(parsed.cert_ids[0].serial(), [0x42], "responder.pem's CertID comes first");
        }

        #[test]
        fn openssl_accepts_good_revoked_and_unknown_responses() {
            let pki = Pki::new();
            let revoked_at = time_now(-86_400);
            let cases: [(CertStatus, &[&str], &[&str]); 4] = [
                (CertStatus::good(), &["leaf.pem: good"], &["revoked"]),
                (
                    CertStatus::revoked(revoked_at, Some(CrlReason::KeyCompromise)),
                    &["leaf.pem: revoked", "Reason: keyCompromise", "Revocation Time:"],
                    &[],
                ),
                (
                    CertStatus::revoked(revoked_at, None),
                    &["leaf.pem: revoked", "Revocation Time:"],
                    &["Reason:"],
                ),
                (CertStatus::unknown(), &["leaf.pem: unknown"], &["revoked"]),
            ];
            for extra in [&[][..], &["-sha256"][..], &["-no_nonce"][..]] {
                let parsed = parse_request(&pki.request(extra)).unwrap();
                for (status, present, absent) in &cases {
                    pki.respond(&parsed, status.clone(), parsed.nonce.as_deref(), &pki.responder_key);
                    for va_file in [true, false] {
                        let what = format!("{extra:?} {status:?} -VAfile {va_file}");
                        let (ok, out) = pki.verify_nonce(va_file);
                        assert!(ok && out.contains("Response verify OK"), "{what}:\n{out}");
                        assert!(
                            !out.contains("Nonce Verify error") && !out.contains("WARNING"),
                            "{what}:\n{out}"
                        );
                        if let Some(nonce) = &parsed.nonce {
                            assert!(out.contains("OCSP Nonce"), "{what}:\n{out}");
                            assert!(out.contains(&hex(nonce)), "{what}: nonce echoed:\n{out}");
                        }
                        let out = pki.verify_status(extra, va_file);
                        assert!(out.contains("Response verify OK"), "{what}:\n{out}");
                        for text in *present {
                            assert!(out.contains(text), "{what}: {text:?} missing:\n{out}");
                        }
                        for text in *absent {
                            assert!(!out.contains(text), "{what}: {text:?} present:\n{out}");
                        }
                    }
                }
            }
        }

        #[test]
        fn openssl_refuses_a_wrong_nonce_notes_a_missing_one_and_refuses_a_wrong_key() {
            let pki = Pki::new();
            let parsed = parse_request(&pki.request(&[])).unwrap();
            pki.respond(&parsed, CertStatus::good(), Some(b"not the nonce"), &pki.responder_key);
            let (ok, out) = pki.verify_nonce(true);
            assert!(!ok && out.contains("Nonce Verify error"), "a wrong nonce:\n{out}");
            pki.respond(&parsed, CertStatus::good(), None, &pki.responder_key);
            let (_, out) = pki.verify_nonce(true);
            assert!(out.contains("WARNING: no nonce in response"), "no nonce:\n{out}");
            let leaf_key = p256::ecdsa::SigningKey::from_pkcs8_pem(
                &std::fs::read_to_string(pki.path("leaf.key")).unwrap(),
            )
            .unwrap();
            pki.respond(&parsed, CertStatus::good(), parsed.nonce.as_deref(), &leaf_key);
            for va_file in [true, false] {
                let (ok, out) = pki.verify_nonce(va_file);
                assert!(!ok && out.contains("Response Verify Failure"), "a wrong key:\n{out}");
            }
        }

        /// The signature algorithm is the caller's: an RSA responder (sha256WithRSAEncryption,
        /// NULL parameters) signing with the rsa crate passes openssl too.
        #[test]
        fn openssl_accepts_an_rsa_responder() {
            use rsa::pkcs8::DecodePrivateKey as _;
            use rsa::signature::{SignatureEncoding, Signer as _};
            let pki = Pki::new();
            let ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\n";
            issue_with(pki.dir.path(), "rsa", "0x43", ext, &["-newkey", "rsa:2048"]);
            let pem = std::fs::read_to_string(pki.path("rsa.pem")).unwrap();
            let responder_der = Certificate::from_pem(pem).unwrap().to_der().unwrap();
            let key = rsa::PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(pki.path("rsa.key")).unwrap())
                .unwrap();
            let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key);
            let alg = AlgorithmIdentifierOwned {
                oid: ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11"),
                parameters: Some(Any::null()),
            };
            let parsed = parse_request(&pki.request(&[])).unwrap();
            let status = CertStatus::revoked(time_now(-600), Some(CrlReason::CessationOfOperation));
            let mut sign = |tbs: &[u8]| Ok(signer.sign(tbs).to_vec());
            pki.respond_as(&parsed, status, parsed.nonce.as_deref(), &responder_der, &alg, &mut sign);
            for va in [&["-VAfile", "rsa.pem"][..], &[][..]] {
                let mut args = vec!["ocsp", "-reqin", "req.der", "-respin", "resp.der", "-CAfile", "ca.pem"];
                args.extend_from_slice(va);
                let out = openssl(pki.dir.path(), &args);
                assert!(out.contains("Response verify OK") && !out.contains("WARNING"), "{va:?}:\n{out}");
            }
            let out = pki.verify_status(&[], false);
            assert!(
                out.contains("leaf.pem: revoked") && out.contains("Reason: cessationOfOperation"),
                "{out}"
            );
        }

        /// `$PKICTL_INTEROP_PYTHON` (set by tests/run.sh), else target/interop-venv's Python.
        fn interop_python() -> Option<PathBuf> {
            if let Some(python) = std::env::var_os("PKICTL_INTEROP_PYTHON") {
                return Some(PathBuf::from(python));
            }
            Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/interop-venv/bin/python"))
                .filter(|p| p.exists())
        }

        const PYTHON_CHECK: &str = r#"
import sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
step, d = sys.argv[1], sys.argv[2] + "/"
load = lambda name: x509.load_pem_x509_certificate(open(d + name, "rb").read())
ca, leaf, responder = load("ca.pem"), load("leaf.pem"), load("responder.pem")
if step == "request":
    req = (ocsp.OCSPRequestBuilder().add_certificate(leaf, ca, hashes.SHA256())
           .add_extension(x509.OCSPNonce(b"python nonce 123"), critical=False).build())
    open(d + "req.der", "wb").write(req.public_bytes(Encoding.DER))
    sys.exit(0)
r = ocsp.load_der_ocsp_response(open(d + "resp.der", "rb").read())
assert r.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
responder.public_key().verify(r.signature, r.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
assert r.certificates == [responder], r.certificates
assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED, r.certificate_status
assert r.revocation_reason == x509.ReasonFlags.key_compromise, r.revocation_reason
assert r.serial_number == leaf.serial_number
assert isinstance(r.hash_algorithm, hashes.SHA256)
assert r.responder_name is None
assert r.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"python nonce 123"
print("python cryptography: OK", r.responder_key_hash.hex())
"#;

        #[test]
        fn python_cryptography_requests_and_reads_responses() {
            let Some(python) = interop_python() else {
                eprintln!(
                    "SKIPPED: no $PKICTL_INTEROP_PYTHON and no target/interop-venv (made by tests/run.sh)"
                );
                return;
            };
            let pki = Pki::new();
            let py = |step: &str| {
                let out = Command::new(&python)
                    .args(["-c", PYTHON_CHECK, step])
                    .arg(pki.dir.path())
                    .output()
                    .expect("the interop Python does not run");
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(out.status.success(), "python {step}:\n{text}");
                text
            };
            py("request");
            let parsed = parse_request(&std::fs::read(pki.path("req.der")).unwrap()).unwrap();
            assert_eq!(parsed.cert_ids[0].hash_alg(), Some(HashAlg::Sha256));
            assert!(parsed.cert_ids[0].matches_issuer(&pki.ca_name_der(), pki.ca_key_bits()));
            assert_eq!(parsed.nonce.as_deref(), Some(&b"python nonce 123"[..]));
            let status = CertStatus::revoked(time_now(-3600), Some(CrlReason::KeyCompromise));
            pki.respond(&parsed, status, parsed.nonce.as_deref(), &pki.responder_key);
            let out = py("response");
            let responder = Certificate::from_der(&pki.responder_der).unwrap();
            let key_bits =
                responder.tbs_certificate().subject_public_key_info().subject_public_key.raw_bytes();
            assert!(out.contains(&hex(&HashAlg::Sha1.digest(key_bits)).to_lowercase()), "{out}");
        }
    }
}
