//! A certificate as the path validator sees it: the facts of `x509::CertInfo`, plus what only
//! validation needs (comparable names, every asserted name, name constraints, the extensions
//! and their criticality, the key) and the defects that make any verifier refuse it.

use der::{Decode, Encode, Tagged};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{NameConstraints, SubjectAltName};

use super::crypto::{self, KeyKind};
use super::names::{Asserted, Constraints, Dn};
use super::problem::Problem;
use crate::x509::CertInfo;

const OID_COMMON_NAME: &str = "2.5.4.3";
const OID_EMAIL_ADDRESS: &str = "1.2.840.113549.1.9.1";

/// Extensions a verifier understands (or may ignore) when they are marked critical.
const UNDERSTOOD: &[&str] = &[
    "2.5.29.19", // basicConstraints
    "2.5.29.15", // keyUsage
    "2.5.29.37", // extKeyUsage
    "2.5.29.17", // subjectAltName
    "2.5.29.30", // nameConstraints
    "2.5.29.32", // certificatePolicies (no policy is required, RFC 5280 6.1.1 (c))
    "2.5.29.33", // policyMappings
    "2.5.29.36", // policyConstraints
    "2.5.29.54", // inhibitAnyPolicy
    "2.5.29.31", // cRLDistributionPoints
    "2.5.29.46", // freshestCRL
    "2.5.29.18", // issuerAltName
];
const SUBJECT_KEY_ID: &str = "2.5.29.14";
const AUTHORITY_KEY_ID: &str = "2.5.29.35";
const AUTHORITY_INFO_ACCESS: &str = "1.3.6.1.5.5.7.1.1";
const SUBJECT_INFO_ACCESS: &str = "1.3.6.1.5.5.7.1.11";

#[derive(Debug, Clone)]
pub struct Cert {
    pub der: Vec<u8>,
    pub info: CertInfo,
    pub subject_dn: Dn,
    pub issuer_dn: Dn,
    /// Every name asserted: the SANs, the subject DN (when not empty), emailAddress attributes
    /// (when there is no SAN), the CN as a DNS name (when there is no SAN).
    pub names: Vec<Asserted>,
    /// None: no nameConstraints extension; Some(Err): one that cannot be used.
    pub constraints: Option<Result<Constraints, String>>,
    pub key: Result<KeyKind, String>,
    /// Whatever makes this certificate unacceptable in any position of any path.
    pub defects: Vec<String>,
    /// The parameters of its signatureAlgorithm (DER), for RSASSA-PSS.
    pub signature_parameters: Option<Vec<u8>>,
}

impl Cert {
    pub fn from_der(der: Vec<u8>) -> Result<Cert, Problem> {
        let unparseable = |reason: String| Problem::Unparseable { reason };
        let cert = Certificate::from_der(&der).map_err(|e| unparseable(e.to_string()))?;
        let tbs = cert.tbs_certificate();
        let extensions: Vec<_> = tbs.extensions().map(|e| e.to_vec()).unwrap_or_default();
        if let Some(oid) = duplicate(&extensions) {
            return Err(unparseable(format!(
                "it carries the extension {} twice (RFC 5280 4.2: a certificate MUST NOT include more than one instance of an extension)",
                extension_name(&oid)
            )));
        }
        let info = CertInfo::from_der(&der).map_err(|e| unparseable(e.to_string()))?;
        let subject_dn = Dn::from_name(tbs.subject());
        let issuer_dn = Dn::from_name(tbs.issuer());
        let san = tbs.get_extension::<SubjectAltName>().map_err(|e| unparseable(e.to_string()))?;
        let constraints = tbs
            .get_extension::<NameConstraints>()
            .map_err(|e| unparseable(e.to_string()))?
            .map(|(_, nc)| Constraints::from_extension(&nc));
        let mut names: Vec<Asserted> = Vec::new();
        if let Some((_, san)) = &san {
            names.extend(san.0.iter().map(Asserted::from_general_name));
        }
        if !subject_dn.is_empty() {
            names.push(Asserted::Directory(subject_dn.clone(), info.subject.clone()));
        }
        if san.is_none() {
            for atv in tbs.subject().iter() {
                let text = || super::names::text_of(atv.value.tag(), atv.value.value());
                match atv.oid.to_string().as_str() {
                    OID_EMAIL_ADDRESS => names.extend(text().map(Asserted::Email)),
                    OID_COMMON_NAME => names.extend(
                        text().filter(|cn| super::names::looks_like_host_name(cn)).map(Asserted::CommonName),
                    ),
                    _ => {}
                }
            }
        }
        let key = crypto::classify(&info.spki_der);
        let mut defects = Vec::new();
        profile_defects(&cert, &info, &extensions, san.as_ref().map(|(c, s)| (*c, s.0.len())), &mut defects);
        if let Err(why) = &key {
            defects.push(why.clone());
        }
        let signature_parameters =
            cert.signature_algorithm().parameters.as_ref().and_then(|p| p.to_der().ok());
        Ok(Cert { der, info, subject_dn, issuer_dn, names, constraints, key, defects, signature_parameters })
    }

    /// Whether `issuer` could have signed this: its subject is our issuer name (RFC 5280 7.1
    /// comparison) and, when both carry key identifiers, its SKI is our AKI.
    pub fn named_by(&self, issuer: &Cert) -> bool {
        self.issuer_dn == issuer.subject_dn && self.key_id_matches(issuer.info.subject_key_id.as_deref())
    }

    pub fn key_id_matches(&self, issuer_ski: Option<&[u8]>) -> bool {
        match (self.info.authority_key_id.as_deref(), issuer_ski) {
            (Some(aki), Some(ski)) => aki == ski,
            _ => true,
        }
    }

    /// Whether the key identifiers positively agree (both present and equal).
    pub fn key_id_confirmed(&self, issuer: &Cert) -> bool {
        matches!((self.info.authority_key_id.as_deref(), issuer.info.subject_key_id.as_deref()), (Some(a), Some(s)) if a == s)
    }

    pub fn is_self_issued(&self) -> bool {
        self.subject_dn == self.issuer_dn
    }

    pub fn is_ca(&self) -> bool {
        self.info.basic_constraints.as_ref().is_some_and(|bc| bc.value.ca)
    }

    /// Same subject and key: the same CA, whatever else differs (a re-issued or cross-signed copy).
    pub fn same_entity(&self, other: &Cert) -> bool {
        self.subject_dn == other.subject_dn && self.info.spki_der == other.info.spki_der
    }

    pub fn has_key_usage(&self, usage: &str) -> bool {
        self.info.key_usage.as_ref().is_some_and(|ku| ku.value.contains(&usage))
    }
}

fn duplicate(extensions: &[x509_cert::ext::Extension]) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    extensions.iter().map(|e| e.extn_id.to_string()).find(|oid| !seen.insert(oid.clone()))
}

pub fn extension_name(oid: &str) -> String {
    let name = match oid {
        "2.5.29.19" => "basicConstraints",
        "2.5.29.15" => "keyUsage",
        "2.5.29.37" => "extKeyUsage",
        "2.5.29.17" => "subjectAltName",
        "2.5.29.30" => "nameConstraints",
        "2.5.29.32" => "certificatePolicies",
        "2.5.29.31" => "cRLDistributionPoints",
        SUBJECT_KEY_ID => "subjectKeyIdentifier",
        AUTHORITY_KEY_ID => "authorityKeyIdentifier",
        AUTHORITY_INFO_ACCESS => "authorityInfoAccess",
        SUBJECT_INFO_ACCESS => "subjectInfoAccess",
        _ => return oid.to_string(),
    };
    name.to_string()
}

/// What RFC 5280 forbids in any certificate a conforming CA issues, as `openssl verify
/// -x509_strict` checks it, plus unknown critical extensions (RFC 5280 4.2).
fn profile_defects(
    cert: &Certificate,
    info: &CertInfo,
    extensions: &[x509_cert::ext::Extension],
    san: Option<(bool, usize)>,
    defects: &mut Vec<String>,
) {
    let tbs = cert.tbs_certificate();
    for ext in extensions.iter().filter(|e| e.critical) {
        let oid = ext.extn_id.to_string();
        let rule = match oid.as_str() {
            AUTHORITY_KEY_ID => Some("RFC 5280 4.2.1.1: authorityKeyIdentifier MUST be non-critical"),
            SUBJECT_KEY_ID => Some("RFC 5280 4.2.1.2: subjectKeyIdentifier MUST be non-critical"),
            AUTHORITY_INFO_ACCESS => Some("RFC 5280 4.2.2.1: authorityInfoAccess MUST be non-critical"),
            SUBJECT_INFO_ACCESS => Some("RFC 5280 4.2.2.2: subjectInfoAccess MUST be non-critical"),
            o if UNDERSTOOD.contains(&o) => None,
            _ => {
                defects.push(format!(
                    "it has the critical extension {}, which no verifier here understands (RFC 5280 4.2: refuse it)",
                    extension_name(&oid)
                ));
                continue;
            }
        };
        if let Some(rule) = rule {
            defects.push(format!("its {} extension is marked critical ({rule})", extension_name(&oid)));
        }
    }
    for ext in extensions.iter().filter(|e| !e.critical) {
        match ext.extn_id.to_string().as_str() {
            "2.5.29.36" => defects.push(
                "its policyConstraints extension is not critical (RFC 5280 4.2.1.11: it MUST be)".into(),
            ),
            "2.5.29.54" => defects.push(
                "its inhibitAnyPolicy extension is not critical (RFC 5280 4.2.1.14: it MUST be)".into(),
            ),
            _ => {}
        }
    }
    if cert.signature_algorithm() != tbs.signature() {
        defects.push(
            "its signatureAlgorithm differs from the signature field inside it (RFC 5280 4.1.1.2: they MUST be the same)"
                .into(),
        );
    }
    if info.version != 3 && !extensions.is_empty() {
        defects.push(format!(
            "it is a version {} certificate with extensions (they require version 3)",
            info.version
        ));
    }
    if info.serial_negative {
        defects.push("its serial number is negative (RFC 5280 4.1.2.2: it MUST be positive)".into());
    }
    if info.serial_der_len > 20 {
        defects.push(format!(
            "its serial number is {} octets long (RFC 5280 4.1.2.2: at most 20)",
            info.serial_der_len
        ));
    }
    if tbs.issuer().is_empty() {
        defects.push("its issuer name is empty (RFC 5280 4.1.2.4)".into());
    }
    let subject_empty = tbs.subject().is_empty();
    match san {
        Some((_, 0)) => defects.push("its subjectAltName extension holds no name (RFC 5280 4.2.1.6)".into()),
        Some((false, _)) if subject_empty => defects.push(
            "its subject is empty and its subjectAltName is not critical (RFC 5280 4.2.1.6: it MUST be critical then)"
                .into(),
        ),
        None if subject_empty => defects.push("its subject is empty and it has no subjectAltName (RFC 5280 4.1.2.6)".into()),
        _ => {}
    }
    let ca = info.basic_constraints.as_ref().is_some_and(|bc| bc.value.ca);
    if subject_empty && ca {
        defects.push("it is a CA with an empty subject (RFC 5280 4.1.2.6)".into());
    }
    let has_ku = |u: &str| info.key_usage.as_ref().is_some_and(|ku| ku.value.contains(&u));
    if let Some(bc) = &info.basic_constraints {
        if bc.value.path_len.is_some() && !bc.value.ca {
            defects.push("it sets pathLenConstraint without CA:TRUE (RFC 5280 4.2.1.9)".into());
        }
        if bc.value.path_len.is_some() && bc.value.ca && !has_ku("keyCertSign") {
            defects.push("it sets pathLenConstraint without keyUsage keyCertSign (RFC 5280 4.2.1.9)".into());
        }
        if bc.value.ca && !bc.critical {
            defects.push(
                "it is a CA whose basicConstraints is not critical (RFC 5280 4.2.1.9: it MUST be)".into(),
            );
        }
    }
    if ca && info.key_usage.is_none() {
        defects
            .push("it is a CA without a keyUsage extension (RFC 5280 4.2.1.3: CAs MUST include it)".into());
    }
    if !ca && has_ku("keyCertSign") {
        defects.push("it asserts keyUsage keyCertSign but is not a CA (RFC 5280 4.2.1.3)".into());
    }
    if ca && info.subject_key_id.is_none() {
        defects
            .push("it is a CA without a subjectKeyIdentifier (RFC 5280 4.2.1.2: CAs MUST include it)".into());
    }
    if info.key_usage.as_ref().is_some_and(|ku| ku.value.is_empty()) {
        defects.push("its keyUsage extension asserts no usage (RFC 5280 4.2.1.3)".into());
    }
    if info.extended_key_usage.as_ref().is_some_and(|eku| eku.value.is_empty()) {
        defects.push("its extKeyUsage extension lists no purpose (RFC 5280 4.2.1.12)".into());
    }
}
