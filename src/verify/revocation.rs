//! Revocation: what the ledger says, and what a CRL of the issuer says — a given CRL or the
//! home's latest — once that CRL is shown to be usable: issued by that CA (name, key
//! identifier, signature, keyUsage cRLSign), in scope for the certificate (its
//! issuingDistributionPoint), current, and with no critical extension left unread.

use der::Decode;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlDistributionPoints};

use super::crypto;
use super::names::Dn;
use super::path::Cert;
use super::problem::Problem;
use crate::engine::serial::Serial;

const CRL_NUMBER: &str = "2.5.29.20";
const DELTA_CRL_INDICATOR: &str = "2.5.29.27";
const ISSUING_DISTRIBUTION_POINT: &str = "2.5.29.28";
const AUTHORITY_KEY_ID: &str = "2.5.29.35";
const REASON_CODE: &str = "2.5.29.21";
const INVALIDITY_DATE: &str = "2.5.29.24";
const REMOVE_FROM_CRL: u8 = 8;

/// What the home knows about a certificate issued by one of its CAs.
#[derive(Debug, Clone)]
pub struct Facts {
    pub ca_name: String,
    /// None when the ledger has no record of this serial.
    pub ledger: Option<LedgerState>,
    pub latest_crl: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub enum LedgerState {
    Valid,
    Revoked { at: i64, reason: String },
}

/// Where the verifier looks up revocation; the command layer implements it over the ledger.
pub trait RevocationSource {
    /// Facts about `serial` issued by the CA whose certificate is `issuer_der`; None when that
    /// CA is not one of this home's.
    fn lookup(&self, issuer_der: &[u8], serial: &Serial) -> Option<Facts>;
}

/// The outcome for one certificate, with notes that do not make a peer refuse it.
pub struct Checked {
    pub notes: Vec<String>,
    /// Whether any source (ledger or CRL) was consulted.
    pub checked: bool,
}

pub fn check(
    cert: &Cert,
    issuer: &Cert,
    source: &dyn RevocationSource,
    given: &[Vec<u8>],
    at: i64,
) -> Result<Checked, Problem> {
    let subject = cert.info.subject.clone();
    let serial = cert.info.serial.hex();
    let facts = source.lookup(&issuer.der, &cert.info.serial);
    let ca_name = facts.as_ref().map_or_else(|| issuer.info.subject.clone(), |f| f.ca_name.clone());
    let mut notes = Vec::new();
    let mut checked = false;
    if let Some(facts) = &facts {
        match &facts.ledger {
            Some(LedgerState::Revoked { at: revoked_at, reason }) => {
                return Err(Problem::Revoked {
                    subject,
                    serial,
                    revoked_at: *revoked_at,
                    reason: reason.clone(),
                    origin: "recorded in the ledger".into(),
                });
            }
            Some(LedgerState::Valid) => checked = true,
            None => notes.push(format!("{subject}: serial {serial} is not in this home's ledger")),
        }
    }
    let mut crls: Vec<&[u8]> =
        given.iter().map(Vec::as_slice).filter(|der| names_issuer(der, issuer)).collect();
    if crls.is_empty()
        && let Some(latest) = facts.as_ref().and_then(|f| f.latest_crl.as_deref())
    {
        crls.push(latest);
    }
    if crls.is_empty() {
        match &facts {
            Some(f) => notes.push(format!(
                "{} has published no CRL yet: peers that check CRLs refuse its certificates (run `pkictl crl --ca \"{}\"`)",
                f.ca_name, f.ca_name
            )),
            None => notes.push(format!(
                "{subject}: its issuer \"{}\" is not a CA of this home and no CRL of it was given; revocation not checked",
                issuer.info.subject
            )),
        }
        return Ok(Checked { notes, checked });
    }
    let note = check_crls(&crls, cert, issuer, &ca_name, at)?;
    notes.push(note);
    Ok(Checked { notes, checked: true })
}

/// Whether a CRL names `issuer` as its issuer (and, when both carry key identifiers, its key).
fn names_issuer(der: &[u8], issuer: &Cert) -> bool {
    let Ok(crl) = CertificateList::from_der(der) else { return false };
    if Dn::from_name(&crl.tbs_cert_list.issuer) != issuer.subject_dn {
        return false;
    }
    let aki = extension(&crl, AUTHORITY_KEY_ID)
        .and_then(|bytes| AuthorityKeyIdentifier::from_der(bytes).ok())
        .and_then(|aki| aki.key_identifier.map(|k| k.as_bytes().to_vec()));
    match (aki, &issuer.info.subject_key_id) {
        (Some(aki), Some(ski)) => aki == *ski,
        _ => true,
    }
}

fn extension<'c>(crl: &'c CertificateList, oid: &str) -> Option<&'c [u8]> {
    crl.tbs_cert_list
        .crl_extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id.to_string() == oid)
        .map(|e| e.extn_value.as_bytes())
}

/// A CRL shown to be usable for `cert`: its number, dates and entries.
struct Usable {
    number: u128,
    number_text: String,
    this_update: i64,
    next_update: Option<i64>,
    crl: CertificateList,
}

fn check_crls(crls: &[&[u8]], cert: &Cert, issuer: &Cert, ca: &str, at: i64) -> Result<String, Problem> {
    let unusable = |reason: String| Problem::CrlUnusable { ca: ca.to_string(), reason };
    let mut first_refusal = None;
    let mut out_of_scope = None;
    let mut best: Option<Usable> = None;
    for der in crls {
        match usable(der, cert, issuer) {
            Ok(Ok(candidate)) => {
                if best
                    .as_ref()
                    .is_none_or(|b| (candidate.number, candidate.this_update) > (b.number, b.this_update))
                {
                    best = Some(candidate);
                }
            }
            Ok(Err(scope)) => out_of_scope = out_of_scope.or(Some(scope)),
            Err(reason) => first_refusal = first_refusal.or(Some(reason)),
        }
    }
    let Some(crl) = best else {
        if let Some(reason) = first_refusal {
            return Err(unusable(reason));
        }
        return Ok(format!(
            "{}: the CRL of {ca} does not cover it ({}); revocation not checked",
            cert.info.subject,
            out_of_scope.unwrap_or_default()
        ));
    };
    if crl.this_update > at {
        return Err(Problem::CrlNotYetValid {
            ca: ca.to_string(),
            number: crl.number_text,
            this_update: crl.this_update,
            now: at,
        });
    }
    let next_update = crl.next_update.ok_or_else(|| unusable("it has no nextUpdate".into()))?;
    if next_update < at {
        return Err(Problem::CrlExpired {
            ca: ca.to_string(),
            number: crl.number_text,
            next_update,
            now: at,
        });
    }
    let serial = cert.info.serial.clone();
    for entry in crl.crl.tbs_cert_list.revoked_certificates.iter().flatten() {
        if Serial::from_be_bytes(entry.serial_number.as_bytes()) != serial {
            continue;
        }
        let mut reason = None;
        for ext in entry.crl_entry_extensions.iter().flatten() {
            match ext.extn_id.to_string().as_str() {
                REASON_CODE => reason = ext.extn_value.as_bytes().last().copied(),
                INVALIDITY_DATE => {}
                other if ext.critical => {
                    return Err(unusable(format!(
                        "its entry for serial {} has the critical extension {other}",
                        serial.hex()
                    )));
                }
                _ => {}
            }
        }
        if reason == Some(REMOVE_FROM_CRL) {
            continue;
        }
        return Err(Problem::Revoked {
            subject: cert.info.subject.clone(),
            serial: serial.hex(),
            revoked_at: entry.revocation_date.to_unix_duration().as_secs() as i64,
            reason: reason.map_or("unspecified".to_string(), reason_name),
            origin: format!("on CRL #{} of {ca}", crl.number_text),
        });
    }
    Ok(format!(
        "{}: not on CRL #{} of {ca}, current until {}",
        cert.info.subject,
        crl.number_text,
        crate::engine::format_time(next_update)
    ))
}

fn reason_name(code: u8) -> String {
    match code {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => "an unknown reason",
    }
    .to_string()
}

/// Err: the CRL cannot be used at all (refuse); Ok(Err): it is sound but does not cover this
/// certificate (a delta CRL, a partitioned CRL for other certificates).
fn usable(der: &[u8], cert: &Cert, issuer: &Cert) -> Result<Result<Usable, String>, String> {
    let crl = CertificateList::from_der(der).map_err(|e| format!("it does not parse ({e})"))?;
    let signed = crate::signature::signed_part(der).map_err(|e| e.to_string())?;
    let parameters = crl.signature_algorithm.parameters.as_ref().and_then(|p| der::Encode::to_der(p).ok());
    crypto::verify(
        &issuer.info.spki_der,
        &crl.signature_algorithm.oid.to_string(),
        parameters.as_deref(),
        signed,
        crl.signature.raw_bytes(),
    )
    .map_err(|why| format!("its signature: {why}"))?;
    if crl.signature_algorithm != crl.tbs_cert_list.signature {
        return Err("its signatureAlgorithm differs from the signature field inside it".into());
    }
    if issuer.info.key_usage.is_some() && !issuer.has_key_usage("cRLSign") {
        return Err(format!("its issuer \"{}\" lacks keyUsage cRLSign", issuer.info.subject));
    }
    let mut number = None;
    for ext in crl.tbs_cert_list.crl_extensions.iter().flatten() {
        match ext.extn_id.to_string().as_str() {
            CRL_NUMBER => {
                number = der::asn1::UintRef::from_der(ext.extn_value.as_bytes())
                    .ok()
                    .and_then(|n| u128::from_str_radix(&crate::x509::hex(n.as_bytes()), 16).ok());
            }
            DELTA_CRL_INDICATOR => return Ok(Err("it is a delta CRL".into())),
            ISSUING_DISTRIBUTION_POINT => {
                if let Err(scope) = in_scope(ext.extn_value.as_bytes(), cert)? {
                    return Ok(Err(scope));
                }
            }
            AUTHORITY_KEY_ID => {}
            other if ext.critical => {
                return Err(format!("it has the critical extension {other}, which is not understood"));
            }
            _ => {}
        }
    }
    let seconds = |t: &x509_cert::time::Time| t.to_unix_duration().as_secs() as i64;
    Ok(Ok(Usable {
        number: number.unwrap_or(0),
        number_text: number.map_or_else(|| "?".to_string(), |n| n.to_string()),
        this_update: seconds(&crl.tbs_cert_list.this_update),
        next_update: crl.tbs_cert_list.next_update.as_ref().map(seconds),
        crl,
    }))
}

/// RFC 5280 6.3.3 (b): whether a CRL with this issuingDistributionPoint covers `cert`.
fn in_scope(idp_der: &[u8], cert: &Cert) -> Result<Result<(), String>, String> {
    let idp = IssuingDistributionPoint::from_der(idp_der)
        .map_err(|e| format!("its issuingDistributionPoint does not parse ({e})"))?;
    if idp.indirect_crl {
        return Ok(Err("it is an indirect CRL".into()));
    }
    if idp.only_contains_attribute_certs {
        return Ok(Err("it only covers attribute certificates".into()));
    }
    if idp.only_contains_ca_certs && !cert.is_ca() {
        return Ok(Err("it only covers CA certificates".into()));
    }
    if idp.only_contains_user_certs && cert.is_ca() {
        return Ok(Err("it only covers end-entity certificates".into()));
    }
    if idp.only_some_reasons.is_some() {
        return Ok(Err("it only covers some revocation reasons".into()));
    }
    if let Some(DistributionPointName::FullName(names)) = &idp.distribution_point {
        let wanted: Vec<&GeneralName> = names.iter().collect();
        let points = cert_distribution_points(cert);
        if !points.iter().any(|p| wanted.contains(&p)) {
            return Ok(Err("its distribution point is not one the certificate names".into()));
        }
    }
    Ok(Ok(()))
}

fn cert_distribution_points(cert: &Cert) -> Vec<GeneralName> {
    let Ok(parsed) = x509_cert::Certificate::from_der(&cert.der) else { return Vec::new() };
    let Ok(Some((_, dps))) = parsed.tbs_certificate().get_extension::<CrlDistributionPoints>() else {
        return Vec::new();
    };
    dps.0
        .iter()
        .filter_map(|dp| match &dp.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(names.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}
