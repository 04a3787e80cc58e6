//! PKCS#10 requests: parse, prove possession (verify the self-signature on the bytes as
//! received), and extract only what a leaf may take from a CSR — the key, the CN and SANs.

use der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages, SubjectAltName};
use x509_cert::request::{CertReq, ExtensionReq};

use crate::keys::{KeyError, PublicKey};
use crate::signature::{self, SignatureError};

const EXTENSION_REQUEST: &str = "1.2.840.113549.1.9.14";
const SUBJECT_ALT_NAME: &str = "2.5.29.17";

/// A CSR can be large (many SANs) but never this large.
pub const MAX_CSR_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    #[error("it is empty")]
    Empty,
    #[error("it is larger than 256 KiB")]
    TooLarge,
    #[error("it is a certificate, not a certificate signing request")]
    IsCertificate,
    #[error("it is PEM of type \"{0}\", not a CERTIFICATE REQUEST")]
    WrongPemLabel(String),
    #[error("it is not a PKCS#10 request ({0})")]
    Malformed(String),
    #[error("its signature does not verify: the requester did not prove possession of the key")]
    BadSignature,
    #[error(
        "it is signed with {0}, which pkictl does not accept (use ECDSA or RSA PKCS#1 v1.5 with SHA-256/384/512)"
    )]
    UnsupportedSignature(String),
    /// Well-formed, but asks for something no certificate may carry.
    #[error("{0}")]
    Unacceptable(String),
    #[error("its key is not acceptable: {0}")]
    Key(KeyError),
}

/// A CSR whose signature verified.
#[derive(Debug)]
pub struct VerifiedCsr {
    /// Where the request came from (a file name), for messages.
    pub origin: String,
    pub public_key: PublicKey,
    pub common_name: Option<String>,
    /// SANs requested, as given (they are validated again like command-line names).
    pub requested_sans: Vec<RequestedSan>,
    /// What the CSR asked for and will not get.
    pub ignored: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedSan {
    Dns(String),
    Ip(std::net::IpAddr),
    Email(String),
    Uri(String),
    Other(String),
}

/// Reads a CSR in PEM or DER form and verifies its self-signature.
pub fn parse_and_verify(input: &[u8], origin: &str) -> Result<VerifiedCsr, CsrError> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(CsrError::Empty);
    }
    if input.len() > MAX_CSR_BYTES {
        return Err(CsrError::TooLarge);
    }
    let der = to_der(input)?;
    let req = CertReq::from_der(&der).map_err(|e| {
        if x509_cert::Certificate::from_der(&der).is_ok() {
            CsrError::IsCertificate
        } else {
            CsrError::Malformed(e.to_string())
        }
    })?;
    verify_signature(&der, &req)?;
    let spki_der = req.info.public_key.to_der().map_err(|e| CsrError::Malformed(e.to_string()))?;
    let public_key = PublicKey::from_spki_der(&spki_der).map_err(CsrError::Key)?;
    let common_name = req.info.subject.common_name().ok().flatten().map(|cn| cn.value().into_owned());
    let (requested_sans, ignored) = requested_extensions(&req)?;
    Ok(VerifiedCsr { origin: origin.to_string(), public_key, common_name, requested_sans, ignored })
}

fn to_der(input: &[u8]) -> Result<Vec<u8>, CsrError> {
    let text_start = input.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(0);
    if !input[text_start..].starts_with(b"-----BEGIN") {
        return Ok(input.to_vec());
    }
    let (label, der) = der::pem::decode_vec(&input[text_start..])
        .map_err(|e| CsrError::Malformed(format!("bad PEM: {e}")))?;
    match label {
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => Ok(der),
        "CERTIFICATE" => Err(CsrError::IsCertificate),
        other => Err(CsrError::WrongPemLabel(other.to_string())),
    }
}

fn verify_signature(der: &[u8], req: &CertReq) -> Result<(), CsrError> {
    let message = signature::signed_part(der).map_err(|e| CsrError::Malformed(e.to_string()))?;
    let sig = req
        .signature
        .as_bytes()
        .ok_or_else(|| CsrError::Malformed("the signature is not a whole number of bytes".into()))?;
    let spki_der = req.info.public_key.to_der().map_err(|e| CsrError::Malformed(e.to_string()))?;
    signature::verify(&spki_der, &req.algorithm.oid.to_string(), message, sig).map_err(|e| match e {
        SignatureError::Invalid => CsrError::BadSignature,
        SignatureError::UnsupportedAlgorithm(oid) => CsrError::UnsupportedSignature(oid),
        SignatureError::Key(k) => CsrError::Key(k),
        SignatureError::Malformed(m) => CsrError::Malformed(m),
    })
}

/// Splits the extensionRequest into the SANs we will consider and everything we ignore.
fn requested_extensions(req: &CertReq) -> Result<(Vec<RequestedSan>, Vec<String>), CsrError> {
    let mut sans = Vec::new();
    let mut ignored = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for attr in req.info.attributes.iter() {
        if attr.oid.to_string() != EXTENSION_REQUEST {
            ignored.push(format!("attribute {}", attr.oid));
            continue;
        }
        for value in attr.values.iter() {
            let bytes = value.to_der().map_err(|e| CsrError::Malformed(e.to_string()))?;
            let extensions =
                ExtensionReq::from_der(&bytes).map_err(|e| CsrError::Malformed(e.to_string()))?;
            for ext in extensions.0 {
                let raw = ext.extn_value.as_bytes();
                let oid = ext.extn_id.to_string();
                // Two subjectAltNames (or two of anything) are ambiguous: which one counts
                // differs between parsers. RFC 5280 4.2 allows each extension once.
                if !seen.insert(oid.clone()) {
                    return Err(CsrError::Unacceptable(format!(
                        "it requests extension {} more than once (RFC 5280 allows each extension once)",
                        extension_name(&oid)
                    )));
                }
                match oid.as_str() {
                    SUBJECT_ALT_NAME => {
                        let san =
                            SubjectAltName::from_der(raw).map_err(|e| CsrError::Malformed(e.to_string()))?;
                        for name in san.0.iter() {
                            sans.push(requested_san(name)?);
                        }
                    }
                    _ => ignored.push(describe_ignored(&ext.extn_id.to_string(), raw)),
                }
            }
        }
    }
    Ok((sans, ignored))
}

fn requested_san(name: &GeneralName) -> Result<RequestedSan, CsrError> {
    Ok(match name {
        GeneralName::DnsName(s) => RequestedSan::Dns(s.as_str().to_string()),
        GeneralName::Rfc822Name(s) => RequestedSan::Email(s.as_str().to_string()),
        GeneralName::UniformResourceIdentifier(s) => RequestedSan::Uri(s.as_str().to_string()),
        GeneralName::IpAddress(octets) => match octets.as_bytes().len() {
            4 | 16 => {
                let text = crate::x509::general_name_text(name);
                text.trim_start_matches("IP:")
                    .parse()
                    .map(RequestedSan::Ip)
                    .unwrap_or(RequestedSan::Other(text))
            }
            // 8 and 32 bytes are address + mask, for name constraints only.
            length => {
                return Err(CsrError::Unacceptable(format!(
                    "its subjectAltName has an IP address of {length} bytes; an IP address is 4 (IPv4) or 16 (IPv6) bytes"
                )));
            }
        },
        other => RequestedSan::Other(crate::x509::general_name_text(other)),
    })
}

fn extension_name(oid: &str) -> String {
    match oid {
        SUBJECT_ALT_NAME => "subjectAltName".into(),
        "2.5.29.15" => "keyUsage".into(),
        "2.5.29.37" => "extendedKeyUsage".into(),
        "2.5.29.19" => "basicConstraints".into(),
        other => other.to_string(),
    }
}

/// Names a requested extension the leaf will not carry, loudly for the dangerous ones.
fn describe_ignored(oid: &str, raw: &[u8]) -> String {
    if let Ok(bc) = BasicConstraints::from_der(raw)
        && oid == "2.5.29.19"
        && bc.ca
    {
        return "basicConstraints CA:TRUE (a leaf is never a CA)".to_string();
    }
    if let Ok(ku) = KeyUsage::from_der(raw)
        && oid == "2.5.29.15"
        && (ku.0.contains(KeyUsages::KeyCertSign) || ku.0.contains(KeyUsages::CRLSign))
    {
        return "keyUsage keyCertSign/cRLSign (the profile decides key usage)".to_string();
    }
    match oid {
        "2.5.29.15" => "keyUsage (the profile decides)".to_string(),
        "2.5.29.37" => "extendedKeyUsage (the profile decides)".to_string(),
        "2.5.29.19" => "basicConstraints (the profile decides)".to_string(),
        _ => format!("extension {oid}"),
    }
}
