//! What `verify` was handed: a certificate (PEM, a PEM bundle, or one DER certificate) and
//! nothing else. Anything that is not a well-formed certificate is bad input, told apart here
//! from the "no" verdict about a certificate a peer would refuse.

use der::{Decode, Reader, SliceReader};
use x509_cert::Certificate;

use crate::x509::CertInfo;

const BEGIN: &str = "-----BEGIN ";
const DASHES: &str = "-----";

/// Every certificate in `bytes`, DER, in order; or why `bytes` is not a certificate, as a
/// clause ("it is a CRL, not a certificate").
pub fn certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("the file is empty".into());
    }
    match std::str::from_utf8(bytes) {
        Ok(text) if text.contains(BEGIN) => pem_certificates(text),
        Ok(text) if !text.chars().any(|c| c.is_control() && !c.is_whitespace()) => {
            Err("it is text without a PEM block (-----BEGIN CERTIFICATE-----)".into())
        }
        _ => single_der(bytes).map(|der| vec![der]),
    }
}

/// The CERTIFICATE blocks of a PEM text. Text before and between blocks is allowed (bundles
/// carry comments), anything but whitespace after the last one is not; other blocks (a key
/// next to its certificate) are skipped, but a file of only other blocks is not a certificate.
fn pem_certificates(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut certificates = Vec::new();
    let mut other_label = None;
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let block = &rest[start..];
        let (label, end) = pem_block_bounds(block)?;
        if label == "CERTIFICATE" {
            let number = certificates.len() + 1;
            let (_, der) = der::pem::decode_vec(&block.as_bytes()[..end])
                .map_err(|e| format!("PEM certificate #{number} does not decode ({e})"))?;
            let der = single_der(&der).map_err(|why| format!("PEM certificate #{number}: {why}"))?;
            certificates.push(der);
        } else if other_label.is_none() {
            other_label = Some(label);
        }
        rest = &block[end..];
    }
    if !rest.trim().is_empty() {
        return Err("it has data after its last PEM block".into());
    }
    match (certificates.is_empty(), other_label) {
        (false, _) => Ok(certificates),
        (true, Some(label)) => Err(pem_label_words(label)),
        (true, None) => Err("it holds no PEM block".into()),
    }
}

/// The label of the PEM block `block` starts with, and where its END line ends.
fn pem_block_bounds(block: &str) -> Result<(&str, usize), String> {
    let after_begin = &block[BEGIN.len()..];
    let label_len =
        after_begin.find(DASHES).ok_or_else(|| "its PEM BEGIN line is not closed with -----".to_string())?;
    let label = &after_begin[..label_len];
    if label.contains('\n') {
        return Err("its PEM BEGIN line is not closed with -----".into());
    }
    let end_line = format!("-----END {label}-----");
    let end = block.find(&end_line).ok_or_else(|| {
        format!("its PEM block \"{}\" has no END line (the file is truncated)", crate::error::excerpt(label))
    })?;
    Ok((label, end + end_line.len()))
}

fn pem_label_words(label: &str) -> String {
    let what = match label {
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => "a certificate signing request (CSR)",
        "X509 CRL" => "a CRL",
        "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY" => "a private key",
        "PUBLIC KEY" | "RSA PUBLIC KEY" => "a public key",
        "PKCS7" | "CMS" => "a PKCS#7/CMS structure",
        _ => return format!("it holds PEM of type \"{}\", not a CERTIFICATE", crate::error::excerpt(label)),
    };
    format!("it is {what}, not a certificate")
}

/// One DER certificate, exactly: no byte before or after it. Whether its extensions make sense
/// is for the verifier to judge (a verdict, not bad input).
fn single_der(der: &[u8]) -> Result<Vec<u8>, String> {
    match Certificate::from_der(der) {
        Ok(_) => Ok(der.to_vec()),
        Err(e) => Err(der_words(der, &e.to_string())),
    }
}

/// What a DER blob that is no certificate is instead, or what is wrong with it.
fn der_words(der: &[u8], error: &str) -> String {
    use x509_cert::crl::CertificateList;
    use x509_cert::request::CertReq;
    if CertReq::from_der(der).is_ok() {
        return "it is a certificate signing request (CSR), not a certificate".into();
    }
    if CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der).is_ok() {
        return "it is a CRL, not a certificate".into();
    }
    if pkcs8::PrivateKeyInfoRef::from_der(der).is_ok()
        || pkcs8::EncryptedPrivateKeyInfoRef::from_der(der).is_ok()
    {
        return "it is a private key, not a certificate".into();
    }
    if let Some(extra) = bytes_after_certificate(der) {
        return format!("it has {extra} bytes of other data after the certificate");
    }
    if Certificate::from_der(der).is_ok() {
        return format!("it is a malformed certificate ({error})");
    }
    format!("it is neither PEM nor a DER certificate ({error})")
}

/// When `der` starts with a whole certificate followed by something else: how many bytes.
fn bytes_after_certificate(der: &[u8]) -> Option<usize> {
    let mut reader = SliceReader::new(der).ok()?;
    Certificate::decode(&mut reader).ok()?;
    let remaining = reader.remaining_len();
    let extra = u32::from(remaining) as usize;
    (extra > 0).then_some(extra)
}

/// Every CRL in `bytes`: PEM blocks "X509 CRL", or one DER CRL. Anything else is refused with
/// what it is instead (a certificate, text without a PEM block, a truncated PEM).
pub fn crls(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let ders = match std::str::from_utf8(bytes) {
        Ok(text) if text.contains("-----BEGIN") => pem_crls(text)?,
        Ok(_) => return Err("it is text without a PEM block (-----BEGIN X509 CRL-----)".into()),
        Err(_) => vec![bytes.to_vec()],
    };
    for der in &ders {
        if crate::x509::CrlInfo::from_der(der).is_err() {
            return Err(match CertInfo::from_der(der) {
                Ok(_) => "it is a certificate, not a CRL".to_string(),
                Err(_) => "it is neither PEM nor a DER CRL".to_string(),
            });
        }
    }
    Ok(ders)
}

fn pem_crls(text: &str) -> Result<Vec<Vec<u8>>, String> {
    const BEGIN: &str = "-----BEGIN X509 CRL-----";
    const END: &str = "-----END X509 CRL-----";
    let mut ders = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let block = &rest[start..];
        let end = block.find(END).ok_or("its PEM CRL has no END line (the file is truncated)")? + END.len();
        let (_, der) =
            der::pem::decode_vec(&block.as_bytes()[..end]).map_err(|e| format!("bad PEM ({e})"))?;
        ders.push(der);
        rest = &block[end..];
    }
    if ders.is_empty() {
        return Err("it holds no X509 CRL PEM block".into());
    }
    Ok(ders)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_a_certificate_says_what_it_is() {
        let cases: [(&[u8], &str); 6] = [
            (b"", "empty"),
            (b"  \n", "empty"),
            (b"hello\n", "text without a PEM block"),
            (b"-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n", "a CRL"),
            (b"-----BEGIN CERTIFICATE-----\nMAA=\n", "no END line"),
            (b"\x30\x84\x80\x00\x00\x00\x01", "neither PEM nor a DER certificate"),
        ];
        for (bytes, says) in cases {
            let why = certificates(bytes).unwrap_err();
            assert!(why.contains(says), "{bytes:?}: {why}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let mut der = vec![0x05, 0x00];
        for _ in 0..100_000 {
            let n = der.len();
            let mut header = vec![0x30, 0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8];
            header.extend_from_slice(&der);
            der = header;
        }
        assert!(certificates(&der).is_err());
    }
}
