//! OCSP (RFC 6960, RFC 5019 profile): which CA of the home a request is about, what the
//! ledger says of each certificate, and the signed answer. Pure steps the online CA composes
//! with its cache; nothing here keeps state between requests.

use std::sync::Arc;

use der::{Decode, Encode};
use x509_cert::Certificate;

use crate::engine::crl::Reason;
use crate::engine::ocsp::{
    self, CertId, CertStatus as OcspCertStatus, ErrorStatus, OcspError, ResponseParams, SingleResponse,
};
use crate::engine::serial::Serial;
use crate::error::{Error, Result};
use crate::keys::CaSigner;
use crate::ledger::{CaRecord, CertSelector, CertStatus, Ledger};

/// What a responder needs to know of one CA to recognise requests about its certificates.
#[derive(Clone, Debug)]
pub struct OcspIssuer {
    /// The CA's ledger id.
    pub ca_id: i64,
    /// The CA's subject Name, DER (hashed into CertID.issuerNameHash).
    name_der: Vec<u8>,
    /// The CA's subjectPublicKey BIT STRING value (hashed into CertID.issuerKeyHash).
    key_bits: Vec<u8>,
}

impl OcspIssuer {
    /// Reads the name and key a CertID is matched against from the CA's certificate.
    pub fn of(ca: &CaRecord) -> Result<OcspIssuer> {
        let cert = Certificate::from_der(&ca.cert_der).map_err(|e| {
            Error::Internal(format!("the certificate of CA {} does not decode: {e}", ca.name))
        })?;
        let tbs = cert.tbs_certificate();
        let name_der = tbs
            .subject()
            .to_der()
            .map_err(|e| Error::Internal(format!("the subject of CA {} does not encode: {e}", ca.name)))?;
        let key_bits = tbs.subject_public_key_info().subject_public_key.raw_bytes().to_vec();
        Ok(OcspIssuer { ca_id: ca.id, name_der, key_bits })
    }

    fn issued(&self, cert_id: &CertId) -> bool {
        cert_id.matches_issuer(&self.name_der, &self.key_bits)
    }
}

/// The one CA every CertID of a request names, or `None` when a CertID names a CA that is not
/// ours or two CertIDs name different CAs (one responder cannot answer for both).
pub fn issuer_of<'a>(issuers: &'a [OcspIssuer], cert_ids: &[CertId]) -> Option<&'a OcspIssuer> {
    let first = cert_ids.first()?;
    let issuer = issuers.iter().find(|i| i.issued(first))?;
    cert_ids.iter().all(|id| issuer.issued(id)).then_some(issuer)
}

/// What the ledger says of one certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcspStatus {
    /// Issued by this CA and not revoked.
    Good,
    /// Revoked at this time, for this reason.
    Revoked {
        /// Unix seconds.
        at: i64,
        /// The RFC 5280 reason.
        reason: Reason,
    },
    /// This CA never issued a certificate with that serial.
    Unknown,
}

impl OcspStatus {
    /// `good`, `revoked` or `unknown`, as metrics and logs say it.
    pub fn as_str(self) -> &'static str {
        match self {
            OcspStatus::Good => "good",
            OcspStatus::Revoked { .. } => "revoked",
            OcspStatus::Unknown => "unknown",
        }
    }
}

/// What the ledger says of the certificate with this serial from this CA. Any connection to
/// the home's ledger will do: the online CA reads through one of its own, so that a lookup
/// never waits for a CRL being signed.
pub fn ocsp_status(ledger: &dyn Ledger, ca_id: i64, serial: &[u8]) -> Result<OcspStatus> {
    let serial = Serial::from_be_bytes(serial);
    let found = ledger.find_certificates(CertSelector::Serial(&serial), Some(ca_id))?;
    let Some(record) = found.into_iter().next() else { return Ok(OcspStatus::Unknown) };
    Ok(match (record.status, record.revoked_at, record.revocation_reason) {
        (CertStatus::Revoked, Some(at), reason) => {
            OcspStatus::Revoked { at, reason: reason.unwrap_or(Reason::Unspecified) }
        }
        (CertStatus::Revoked, None, _) => {
            return Err(Error::Internal(format!("certificate {} is revoked without a time", serial.hex())));
        }
        (CertStatus::Valid, _, _) => OcspStatus::Good,
    })
}

/// Who signs a CA's OCSP responses: its delegated responder, a certificate the CA issued with
/// EKU OCSPSigning and id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2), sent in every response.
pub struct OcspSigner {
    /// The CA it answers for.
    pub ca_id: i64,
    signer: Arc<dyn CaSigner>,
    /// The delegated responder's certificate, sent in every response.
    cert_der: Vec<u8>,
    /// Responses never reach past this (the responder certificate's notAfter), Unix seconds.
    pub not_after: i64,
    /// When it was made (for renewal at two thirds of its lifetime), Unix seconds.
    pub issued_at: i64,
}

impl OcspSigner {
    /// A delegated responder: its key, its certificate and its validity.
    pub fn delegated(
        ca_id: i64,
        signer: Arc<dyn CaSigner>,
        cert_der: Vec<u8>,
        issued_at: i64,
        not_after: i64,
    ) -> Self {
        OcspSigner { ca_id, signer, cert_der, not_after, issued_at }
    }

    /// Past two thirds of its lifetime: time to make the next one.
    pub fn renewal_due(&self, now: i64) -> bool {
        now >= self.issued_at + (self.not_after - self.issued_at) * 2 / 3
    }
}

/// A signed OCSP response and what it says, for the HTTP layer's caching headers and metrics.
#[derive(Clone, Debug)]
pub struct OcspReply {
    /// The OCSPResponse, DER.
    pub der: Vec<u8>,
    /// `good`, `revoked`, `unknown` (the least favourable of several), or the error status
    /// (`malformedRequest`, `unauthorized`, `tryLater`, `internalError`).
    pub outcome: &'static str,
    /// For a successful response: thisUpdate and nextUpdate, Unix seconds.
    pub validity: Option<(i64, i64)>,
}

impl OcspReply {
    /// An unsigned error response (RFC 6960 2.3).
    pub fn error(status: ErrorStatus) -> OcspReply {
        let der = ocsp::error_response(status).unwrap_or_else(|_| INTERNAL_ERROR_RESPONSE.to_vec());
        OcspReply { der, outcome: error_name(status), validity: None }
    }

    /// The reply to a request that does not decode, or asks what RFC 6960 does not allow.
    pub fn refused(error: &OcspError) -> OcspReply {
        OcspReply::error(error.status())
    }
}

/// `OCSPResponse { responseStatus internalError }`: the reply when even an error reply fails.
const INTERNAL_ERROR_RESPONSE: [u8; 5] = [0x30, 0x03, 0x0a, 0x01, 0x02];

fn error_name(status: ErrorStatus) -> &'static str {
    match status {
        ErrorStatus::MalformedRequest => "malformedRequest",
        ErrorStatus::InternalError => "internalError",
        ErrorStatus::TryLater => "tryLater",
        ErrorStatus::SigRequired => "sigRequired",
        ErrorStatus::Unauthorized => "unauthorized",
    }
}

/// Signs the answer to `cert_ids` (one status each, in order), valid from `now` for `validity`
/// seconds but never past the signer's own notAfter; the nonce is echoed when given.
pub fn sign_reply(
    signer: &OcspSigner,
    cert_ids: &[CertId],
    statuses: &[OcspStatus],
    nonce: Option<&[u8]>,
    now: i64,
    validity: i64,
) -> Result<OcspReply> {
    let next_update = (now + validity).min(signer.not_after);
    let this = ocsp::generalized_time(now).map_err(ocsp_error)?;
    let next = ocsp::generalized_time(next_update).map_err(ocsp_error)?;
    let mut responses = Vec::with_capacity(cert_ids.len());
    for (cert_id, status) in cert_ids.iter().zip(statuses) {
        responses.push(SingleResponse::new(cert_id.clone(), cert_status(*status)?, this, Some(next)));
    }
    let key_bits = spki_key_bits(signer.signer.public_key().spki_der())?;
    let algorithm = crate::signature::algorithm_identifier(signer.signer.key_type())
        .map_err(|e| Error::Internal(format!("OCSP signature algorithm: {e}")))?;
    let params = ResponseParams {
        responder_public_key_bits: &key_bits,
        responder_cert_der: Some(&signer.cert_der),
        produced_at: this,
        responses: &responses,
        nonce,
        signature_algorithm: &algorithm,
    };
    let mut sign = |tbs: &[u8]| signer.signer.sign(tbs).map_err(|e| e.to_string());
    let der = ocsp::build_response(&params, &mut sign).map_err(ocsp_error)?;
    Ok(OcspReply { der, outcome: least_favourable(statuses), validity: Some((now, next_update)) })
}

fn cert_status(status: OcspStatus) -> Result<OcspCertStatus> {
    Ok(match status {
        OcspStatus::Good => OcspCertStatus::good(),
        OcspStatus::Unknown => OcspCertStatus::unknown(),
        OcspStatus::Revoked { at, reason } => {
            OcspCertStatus::revoked(ocsp::generalized_time(at).map_err(ocsp_error)?, reason.crl_reason())
        }
    })
}

fn least_favourable(statuses: &[OcspStatus]) -> &'static str {
    let rank = |s: &OcspStatus| match s {
        OcspStatus::Revoked { .. } => 2,
        OcspStatus::Unknown => 1,
        OcspStatus::Good => 0,
    };
    statuses.iter().max_by_key(|s| rank(s)).map_or("good", |s| s.as_str())
}

fn spki_key_bits(spki_der: &[u8]) -> Result<Vec<u8>> {
    let spki = spki::SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| Error::Internal(format!("the responder's public key does not decode: {e}")))?;
    Ok(spki.subject_public_key.raw_bytes().to_vec())
}

fn ocsp_error(e: OcspError) -> Error {
    Error::Internal(format!("OCSP response: {e}"))
}
