//! Revocation reasons and CRL building (RFC 5280 §5): v2, CRL number, AKI = the CA's SKI,
//! one entry per revoked certificate in serial order, reasonCode unless unspecified.

use std::fmt;
use std::str::FromStr;

use der::asn1::{BitString, GeneralizedTime, OctetString, Uint, UintRef, UtcTime};
use der::oid::AssociatedOid;
use der::{Encode, Header, Length, Tag, TagNumber};
use time::OffsetDateTime;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::AuthorityKeyIdentifier;
use x509_cert::ext::pkix::crl::{CrlNumber, CrlReason};
use x509_cert::time::Time;

use super::{EngineError, SigningCa};

/// RFC 5280 reason codes an operator may give (removeFromCRL only exists in delta CRLs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No reason given (RFC 5280 advises omitting the reasonCode).
    Unspecified,
    /// The subject key may be known to others.
    KeyCompromise,
    /// The CA key may be known to others.
    CaCompromise,
    /// The subject's name or affiliation changed.
    AffiliationChanged,
    /// A newer certificate replaces it.
    Superseded,
    /// It is no longer needed.
    CessationOfOperation,
    /// Suspended (it may be released again).
    CertificateHold,
    /// A privilege it conveyed was withdrawn.
    PrivilegeWithdrawn,
    /// The attribute authority was compromised.
    AaCompromise,
}

impl Reason {
    /// Every reason, in RFC 5280 code order.
    pub const ALL: [Reason; 9] = [
        Reason::Unspecified,
        Reason::KeyCompromise,
        Reason::CaCompromise,
        Reason::AffiliationChanged,
        Reason::Superseded,
        Reason::CessationOfOperation,
        Reason::CertificateHold,
        Reason::PrivilegeWithdrawn,
        Reason::AaCompromise,
    ];

    /// The kebab-case spelling operators type and the ledger keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unspecified => "unspecified",
            Reason::KeyCompromise => "key-compromise",
            Reason::CaCompromise => "ca-compromise",
            Reason::AffiliationChanged => "affiliation-changed",
            Reason::Superseded => "superseded",
            Reason::CessationOfOperation => "cessation-of-operation",
            Reason::CertificateHold => "certificate-hold",
            Reason::PrivilegeWithdrawn => "privilege-withdrawn",
            Reason::AaCompromise => "aa-compromise",
        }
    }

    /// The reasonCode to put in a CRL entry or an OCSP answer; none for `unspecified`, as
    /// RFC 5280 advises.
    pub(crate) fn crl_reason(self) -> Option<CrlReason> {
        Some(match self {
            Reason::Unspecified => return None,
            Reason::KeyCompromise => CrlReason::KeyCompromise,
            Reason::CaCompromise => CrlReason::CaCompromise,
            Reason::AffiliationChanged => CrlReason::AffiliationChanged,
            Reason::Superseded => CrlReason::Superseded,
            Reason::CessationOfOperation => CrlReason::CessationOfOperation,
            Reason::CertificateHold => CrlReason::CertificateHold,
            Reason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
            Reason::AaCompromise => CrlReason::AaCompromise,
        })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reason {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The ledger's own spelling first: CRLs parse one reason per entry.
        if let Some(exact) = Reason::ALL.into_iter().find(|r| r.as_str() == s) {
            return Ok(exact);
        }
        // Case and '_' for '-' are forgiven; whitespace is not trimmed away: "key-compromise\n"
        // is not what anyone typed on purpose, and a reason is part of the permanent record.
        let wanted = s.to_ascii_lowercase().replace('_', "-");
        Reason::ALL.into_iter().find(|r| r.as_str() == wanted).ok_or_else(|| {
            let names: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
            format!(
                "unknown revocation reason \"{}\"; use one of {}",
                crate::error::excerpt(s),
                names.join(", ")
            )
        })
    }
}

/// One CRL entry.
pub struct RevokedEntry<'a> {
    /// The serial's big-endian magnitude bytes.
    pub serial: &'a [u8],
    pub revoked_at: i64,
    pub reason: Reason,
}

pub struct CrlRequest {
    pub number: u64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
}

/// Produces the entries of a CRL, in serial order, by calling `emit` for each. It is called
/// twice (once to size the CRL, once to write it) and must yield the same entries both times,
/// so that a CRL of a million entries is encoded into one buffer of its own size instead of
/// being held as a list first.
pub trait EntrySource {
    fn for_each(
        &mut self,
        emit: &mut dyn FnMut(&RevokedEntry<'_>) -> Result<(), EngineError>,
    ) -> Result<(), EngineError>;
}

/// A signed CRL and the number of entries in it.
pub struct SignedCrl {
    pub der: Vec<u8>,
    pub entries: u64,
}

/// Room left in front of the TBS for the outer SEQUENCE header (tag + up to 5 length octets).
const OUTER_HEADER_ROOM: usize = 6;

/// Signs a v2 CRL for `ca` (RFC 5280 §5): version, signature algorithm, the CA's subject as
/// issuer (its exact bytes), thisUpdate, nextUpdate, the entries, and the AKI (the CA's SKI)
/// and CRL number extensions. A CRL whose nextUpdate is not after thisUpdate is never made.
pub fn build_crl(
    request: &CrlRequest,
    ca: &SigningCa,
    source: &mut dyn EntrySource,
) -> Result<SignedCrl, EngineError> {
    if request.next_update <= request.this_update {
        return Err(EngineError::BadRequest("a CRL's nextUpdate must be after its thisUpdate".into()));
    }
    let algorithm = signature_algorithm_der(ca.signer.key_type())?;
    let mut encoder = EntryEncoder::default();
    let mut entry = Vec::with_capacity(64);
    let (mut entries_len, mut count) = (0usize, 0u64);
    source.for_each(&mut |e| {
        entry.clear();
        encoder.encode(e, &mut entry)?;
        entries_len += entry.len();
        count += 1;
        Ok(())
    })?;
    let prefix = tbs_prefix(request, ca, &algorithm)?;
    let revoked_header = if count > 0 { header(Tag::Sequence, entries_len)? } else { Vec::new() };
    let extensions = crl_extensions(request.number, &ca.ski)?;
    let tbs_content_len = prefix.len() + revoked_header.len() + entries_len + extensions.len();
    let tbs_header = header(Tag::Sequence, tbs_content_len)?;
    let tbs_len = tbs_header.len() + tbs_content_len;

    let mut out = Vec::with_capacity(OUTER_HEADER_ROOM + tbs_len + algorithm.len() + 600);
    out.resize(OUTER_HEADER_ROOM, 0);
    out.extend_from_slice(&tbs_header);
    out.extend_from_slice(&prefix);
    out.extend_from_slice(&revoked_header);
    let mut written = 0u64;
    source.for_each(&mut |e| {
        encoder.encode(e, &mut out)?;
        written += 1;
        Ok(())
    })?;
    if written != count {
        return Err(EngineError::Sign("the revoked certificates changed while the CRL was built".into()));
    }
    out.extend_from_slice(&extensions);
    let signature =
        ca.signer.sign(&out[OUTER_HEADER_ROOM..]).map_err(|e| EngineError::Sign(e.to_string()))?;
    out.extend_from_slice(&algorithm);
    let bit_string = BitString::from_bytes(&signature).and_then(|b| b.to_der()).map_err(der_error)?;
    out.extend_from_slice(&bit_string);
    let outer = header(Tag::Sequence, out.len() - OUTER_HEADER_ROOM)?;
    let start = OUTER_HEADER_ROOM - outer.len();
    out[start..OUTER_HEADER_ROOM].copy_from_slice(&outer);
    out.drain(..start);
    Ok(SignedCrl { der: out, entries: count })
}

/// version v2, signature, issuer, thisUpdate, nextUpdate.
fn tbs_prefix(request: &CrlRequest, ca: &SigningCa, algorithm: &[u8]) -> Result<Vec<u8>, EngineError> {
    let mut prefix = Vec::with_capacity(256);
    prefix.extend_from_slice(&Uint::new(&[1]).and_then(|v| v.to_der()).map_err(der_error)?);
    prefix.extend_from_slice(algorithm);
    prefix.extend_from_slice(&ca.cert.subject_der);
    prefix.extend_from_slice(&time_der(request.this_update.unix_timestamp())?);
    prefix.extend_from_slice(&time_der(request.next_update.unix_timestamp())?);
    Ok(prefix)
}

/// [0] EXPLICIT Extensions: authorityKeyIdentifier (the CA's own SKI) and cRLNumber.
fn crl_extensions(number: u64, ski: &[u8]) -> Result<Vec<u8>, EngineError> {
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(ski).map_err(der_error)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let number = CrlNumber(Uint::new(&number.to_be_bytes()).map_err(der_error)?);
    let extensions = vec![
        Extension { extn_id: AuthorityKeyIdentifier::OID, critical: false, extn_value: octets(&aki)? },
        Extension { extn_id: CrlNumber::OID, critical: false, extn_value: octets(&number)? },
    ];
    let sequence = extensions.to_der().map_err(der_error)?;
    let mut explicit =
        header(Tag::ContextSpecific { constructed: true, number: TagNumber(0) }, sequence.len())?;
    explicit.extend_from_slice(&sequence);
    Ok(explicit)
}

/// Encodes CRL entries without allocating per entry: the revocation date of a mass revocation
/// repeats, and a reasonCode extension is the same bytes for every entry with that reason.
#[derive(Default)]
struct EntryEncoder {
    last_time: Option<(i64, Vec<u8>)>,
    reason_extensions: Vec<(Reason, Vec<u8>)>,
}

impl EntryEncoder {
    /// Appends SEQUENCE { userCertificate, revocationDate, crlEntryExtensions } to `out`.
    fn encode(&mut self, e: &RevokedEntry<'_>, out: &mut Vec<u8>) -> Result<(), EngineError> {
        let mut serial_buf = [0u8; 32];
        let serial =
            UintRef::new(e.serial).and_then(|s| s.encode_to_slice(&mut serial_buf)).map_err(der_error)?;
        let serial_len = serial.len();
        self.cache_time(e.revoked_at)?;
        self.cache_reason(e.reason)?;
        let time = self.last_time.as_ref().map(|(_, der)| der.as_slice()).unwrap_or_default();
        let extension = self
            .reason_extensions
            .iter()
            .find(|(r, _)| *r == e.reason)
            .map(|(_, der)| der.as_slice())
            .unwrap_or_default();
        let mut header_buf = [0u8; 8];
        let content_len = Length::try_from(serial_len + time.len() + extension.len()).map_err(der_error)?;
        let header =
            Header::new(Tag::Sequence, content_len).encode_to_slice(&mut header_buf).map_err(der_error)?;
        out.extend_from_slice(header);
        out.extend_from_slice(&serial_buf[..serial_len]);
        out.extend_from_slice(time);
        out.extend_from_slice(extension);
        Ok(())
    }

    fn cache_time(&mut self, unix: i64) -> Result<(), EngineError> {
        if self.last_time.as_ref().is_none_or(|(t, _)| *t != unix) {
            self.last_time = Some((unix, time_der(unix)?));
        }
        Ok(())
    }

    /// crlEntryExtensions with the reasonCode; empty for `unspecified` (RFC 5280 advises
    /// leaving the code out).
    fn cache_reason(&mut self, reason: Reason) -> Result<(), EngineError> {
        if self.reason_extensions.iter().any(|(r, _)| *r == reason) {
            return Ok(());
        }
        let der = match reason.crl_reason() {
            Some(code) => {
                let ext = Extension { extn_id: CrlReason::OID, critical: false, extn_value: octets(&code)? };
                vec![ext].to_der().map_err(der_error)?
            }
            None => Vec::new(),
        };
        self.reason_extensions.push((reason, der));
        Ok(())
    }
}

/// UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §5.1.2.4).
fn time_der(unix: i64) -> Result<Vec<u8>, EngineError> {
    let duration = std::time::Duration::from_secs(
        u64::try_from(unix).map_err(|_| EngineError::BadRequest("a time before 1970".into()))?,
    );
    let time = match UtcTime::from_unix_duration(duration) {
        Ok(utc) => Time::UtcTime(utc),
        Err(_) => Time::GeneralTime(GeneralizedTime::from_unix_duration(duration).map_err(der_error)?),
    };
    time.to_der().map_err(der_error)
}

fn header(tag: Tag, len: usize) -> Result<Vec<u8>, EngineError> {
    let length = Length::try_from(len).map_err(der_error)?;
    Header::new(tag, length).to_der().map_err(der_error)
}

fn octets(value: &impl Encode) -> Result<OctetString, EngineError> {
    OctetString::new(value.to_der().map_err(der_error)?).map_err(der_error)
}

/// The AlgorithmIdentifier this CA key signs with (what rcgen writes in certificates).
fn signature_algorithm_der(key_type: crate::keys::KeyType) -> Result<Vec<u8>, EngineError> {
    let algorithm =
        crate::signature::algorithm_identifier(key_type).map_err(|e| EngineError::Sign(e.to_string()))?;
    algorithm.to_der().map_err(der_error)
}

fn der_error(e: der::Error) -> EngineError {
    EngineError::Sign(format!("CRL encoding: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_parse_in_kebab_case() {
        assert_eq!("key-compromise".parse::<Reason>().unwrap(), Reason::KeyCompromise);
        assert_eq!("Superseded".parse::<Reason>().unwrap(), Reason::Superseded);
        assert_eq!("cessation_of_operation".parse::<Reason>().unwrap(), Reason::CessationOfOperation);
        assert!("remove-from-crl".parse::<Reason>().is_err());
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>().unwrap(), r);
        }
    }

    #[test]
    fn times_switch_to_generalized_in_2050() {
        assert_eq!(time_der(2_524_607_999).unwrap()[0], 0x17); // 2049-12-31T23:59:59Z: UTCTime
        assert_eq!(time_der(2_524_608_000).unwrap()[0], 0x18); // 2050-01-01: GeneralizedTime
    }
}
