//! The pre-issuance check: every certificate the engine signs is parsed back with x509-cert
//! and compared with its profile before anyone sees it (in the spirit of Boulder's lints).
//! A violation means no ledger row and no file.

use super::profile::Profile;
use super::urls::IssuerUrls;
use super::{EngineError, SigningCa};
use crate::keys::KeyType;
use crate::x509::{AccessUrls, CertInfo, OID_CLIENT_AUTH, OID_OCSP_SIGNING, OID_SERVER_AUTH};

/// RFC 5280: at most 20 octets. Ours carry at least 64 bits of CSPRNG output.
const MAX_SERIAL_OCTETS: usize = 20;
const MIN_SERIAL_OCTETS: usize = 8;

pub struct Expected<'a> {
    pub profile: Profile,
    pub key_type: KeyType,
    /// The subject key's identifier (SKI).
    pub ski: Vec<u8>,
    /// The subjectPublicKey bits the certificate must carry.
    pub public_key_bits: &'a [u8],
    /// The subjectAltNames, in order, in the "DNS:x" form.
    pub sans: Vec<String>,
    /// CAs only: the pathLenConstraint asked for.
    pub path_len: Option<u8>,
    /// None for a self-signed root.
    pub issuer: Option<&'a SigningCa>,
    /// Verify the new signature with the issuer's key (a batch checks one per chunk: the
    /// rest come from the same key and code, and an ECDSA verify costs more than the signing).
    pub verify_signature: bool,
}

/// Parses `der` and checks it against `expected`; returns what was read back.
pub fn check(der: &[u8], expected: &Expected<'_>) -> Result<CertInfo, EngineError> {
    let info = CertInfo::from_der(der).map_err(|e| EngineError::Lint(e.to_string()))?;
    let violations = violations(&info, expected);
    if violations.is_empty() { Ok(info) } else { Err(EngineError::Lint(violations.join("; "))) }
}

fn violations(info: &CertInfo, expected: &Expected<'_>) -> Vec<String> {
    let mut found = Vec::new();
    let mut require = |ok: bool, what: String| {
        if !ok {
            found.push(what);
        }
    };
    require(info.version == 3, format!("version is v{}, not v3", info.version));
    require(
        !info.serial_negative && (MIN_SERIAL_OCTETS..=MAX_SERIAL_OCTETS).contains(&info.serial_der_len),
        format!("serial {} is not a positive 8-20 octet integer", info.serial.hex()),
    );
    require(info.not_before < info.not_after, "notBefore is not before notAfter".into());
    require(
        info.subject_key_id.as_deref() == Some(expected.ski.as_slice()),
        "subjectKeyIdentifier is missing or not the key's identifier".into(),
    );
    require(
        info.public_key_bits == expected.public_key_bits,
        "the certified public key is not the requested one".into(),
    );
    check_issuer(info, expected, &mut require);
    check_basic_constraints(info, expected, &mut require);
    check_key_usage(info, expected, &mut require);
    check_extended_key_usage(info, expected.profile, &mut require);
    check_subject_alt_names(info, expected, &mut require);
    check_ocsp_nocheck(info, expected.profile, &mut require);
    found
}

fn check_issuer(info: &CertInfo, expected: &Expected<'_>, require: &mut impl FnMut(bool, String)) {
    let signer_spki = match expected.issuer {
        Some(ca) => ca.cert.spki_der.as_slice(),
        None => info.spki_der.as_slice(),
    };
    if expected.verify_signature
        && let Err(e) = info.signed.verify(signer_spki)
    {
        require(false, format!("the signature does not verify with the issuer's key ({e})"));
    }
    match expected.issuer {
        None => {
            require(info.is_self_issued(), "a root must be self-issued".into());
            // As OpenSSL writes it: verifiers that build paths by key id find the root itself.
            require(
                info.authority_key_id.as_deref() == Some(expected.ski.as_slice()),
                "a root's authorityKeyIdentifier must be its own SKI".into(),
            );
            check_issuer_urls(info, &IssuerUrls::default(), require);
        }
        Some(ca) => {
            require(
                info.issuer_der == ca.cert.subject_der,
                format!("issuer name is not {}'s subject", ca.name),
            );
            require(
                info.authority_key_id.as_deref() == Some(ca.ski.as_slice()),
                format!("authorityKeyIdentifier is not {}'s SKI", ca.name),
            );
            require(info.not_after <= ca.cert.not_after, format!("notAfter is past {}'s notAfter", ca.name));
            require(
                info.not_before >= ca.cert.not_before,
                format!("notBefore is before {}'s notBefore", ca.name),
            );
            let none = IssuerUrls::default();
            check_issuer_urls(
                info,
                if expected.profile.carries_issuer_urls() { &ca.urls } else { &none },
                require,
            );
        }
    }
}

/// cRLDistributionPoints and authorityInfoAccess say exactly what the issuer publishes.
fn check_issuer_urls(info: &CertInfo, urls: &IssuerUrls, require: &mut impl FnMut(bool, String)) {
    require(
        info.crl_distribution_points == urls.crl,
        format!("CRL distribution points are {:?}, not {:?}", info.crl_distribution_points, urls.crl),
    );
    let want = AccessUrls { ocsp: urls.ocsp.clone(), ca_issuers: urls.ca_issuers.clone(), other: 0 };
    match &info.authority_info_access {
        None => require(want == AccessUrls::default(), "authorityInfoAccess is missing".into()),
        Some(aia) => {
            require(!aia.critical, "authorityInfoAccess is critical".into());
            require(aia.value == want, format!("authorityInfoAccess is {:?}, not {want:?}", aia.value));
        }
    }
}

/// A responder certificate carries id-pkix-ocsp-nocheck (non-critical, NULL); nothing else does.
fn check_ocsp_nocheck(info: &CertInfo, profile: Profile, require: &mut impl FnMut(bool, String)) {
    match (&info.ocsp_nocheck, profile == Profile::OcspResponder) {
        (None, false) => {}
        (None, true) => require(false, "id-pkix-ocsp-nocheck is missing".into()),
        (Some(_), false) => require(false, format!("id-pkix-ocsp-nocheck on a {profile} certificate")),
        (Some(ext), true) => {
            require(!ext.critical, "id-pkix-ocsp-nocheck is critical".into());
            require(ext.value, "id-pkix-ocsp-nocheck does not hold a NULL".into());
        }
    }
}

fn check_basic_constraints(info: &CertInfo, expected: &Expected<'_>, require: &mut impl FnMut(bool, String)) {
    let Some(bc) = &info.basic_constraints else {
        require(false, "basicConstraints is missing".into());
        return;
    };
    require(bc.critical, "basicConstraints is not critical".into());
    require(
        bc.value.ca == expected.profile.is_ca(),
        format!("basicConstraints CA:{} on a {} certificate", bc.value.ca, expected.profile),
    );
    let path_len = if expected.profile.is_ca() { expected.path_len } else { None };
    require(bc.value.path_len == path_len, "pathLenConstraint differs from the request".into());
}

fn check_key_usage(info: &CertInfo, expected: &Expected<'_>, require: &mut impl FnMut(bool, String)) {
    let want: Vec<&str> = if expected.profile.is_ca() {
        vec!["keyCertSign", "cRLSign"]
    } else if expected.key_type.is_rsa() && expected.profile != Profile::OcspResponder {
        vec!["digitalSignature", "keyEncipherment"]
    } else {
        vec!["digitalSignature"]
    };
    match &info.key_usage {
        Some(ku) => {
            require(ku.critical, "keyUsage is not critical".into());
            require(ku.value == want, format!("keyUsage is {:?}, not {:?}", ku.value, want));
        }
        None => require(false, "keyUsage is missing".into()),
    }
}

fn check_extended_key_usage(info: &CertInfo, profile: Profile, require: &mut impl FnMut(bool, String)) {
    let want: Vec<&str> = match profile {
        Profile::Root | Profile::Intermediate => vec![],
        Profile::Server => vec![OID_SERVER_AUTH],
        Profile::Client => vec![OID_CLIENT_AUTH],
        Profile::Peer => vec![OID_SERVER_AUTH, OID_CLIENT_AUTH],
        Profile::OcspResponder => vec![OID_OCSP_SIGNING],
    };
    let have: Vec<&str> = info
        .extended_key_usage
        .as_ref()
        .map(|eku| eku.value.iter().map(String::as_str).collect())
        .unwrap_or_default();
    require(have == want, format!("extKeyUsage is {have:?}, not {want:?}"));
}

fn check_subject_alt_names(info: &CertInfo, expected: &Expected<'_>, require: &mut impl FnMut(bool, String)) {
    let profile = expected.profile;
    let sans = info.subject_alt_names.as_ref().map(|s| s.value.as_slice()).unwrap_or_default();
    require(sans == expected.sans.as_slice(), format!("subjectAltName is {sans:?}, not {:?}", expected.sans));
    if profile.requires_san() {
        require(!sans.is_empty(), "a leaf certificate needs a subjectAltName".into());
    }
    if matches!(profile, Profile::Server | Profile::Peer) {
        require(
            sans.iter().any(|s| s.starts_with("DNS:") || s.starts_with("IP:")),
            "a server certificate needs a DNS or IP subjectAltName".into(),
        );
    }
}
