//! Reading certificates back: the facts pkictl checks, records and shows, parsed with
//! x509-cert (never with the code that built them).

use std::net::IpAddr;

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, NameConstraints, SubjectAltName,
    SubjectKeyIdentifier,
};

use crate::engine::serial::Serial;
use crate::signature::SignedData;

pub const OID_SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
pub const OID_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
pub const OID_OCSP_SIGNING: &str = "1.3.6.1.5.5.7.3.9";
/// id-ad-ocsp (RFC 5280 4.2.2.1): where the OCSP responder for a certificate is.
pub const ID_AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
/// id-ad-caIssuers: where the issuer's certificate is.
pub const ID_AD_CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");
/// id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1): trust this responder certificate for its
/// lifetime without checking its revocation.
pub const ID_PKIX_OCSP_NOCHECK: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.5");
/// The DER of an ASN.1 NULL: the value of id-pkix-ocsp-nocheck.
pub const DER_NULL: [u8; 2] = [0x05, 0x00];

#[derive(Debug, thiserror::Error)]
#[error("not a valid X.509 certificate: {0}")]
pub struct ParseError(String);

/// Everything pkictl needs to know about a certificate, decoded once.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub version: u8,
    pub serial: Serial,
    pub serial_der_len: usize,
    pub serial_negative: bool,
    pub subject: String,
    pub subject_der: Vec<u8>,
    pub common_name: Option<String>,
    pub issuer: String,
    pub issuer_der: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
    pub spki_der: Vec<u8>,
    pub public_key_bits: Vec<u8>,
    pub basic_constraints: Option<Ext<BasicConstraintsInfo>>,
    pub key_usage: Option<Ext<Vec<&'static str>>>,
    pub extended_key_usage: Option<Ext<Vec<String>>>,
    pub subject_alt_names: Option<Ext<Vec<String>>>,
    pub subject_key_id: Option<Vec<u8>>,
    pub authority_key_id: Option<Vec<u8>>,
    pub crl_distribution_points: Vec<String>,
    /// authorityInfoAccess URIs (None: no such extension).
    pub authority_info_access: Option<Ext<AccessUrls>>,
    /// id-pkix-ocsp-nocheck; its value is whether the extension holds exactly a DER NULL.
    pub ocsp_nocheck: Option<Ext<bool>>,
    /// Permitted DNS subtrees from nameConstraints (None: no such extension).
    pub permitted_dns: Option<Vec<String>>,
    pub fingerprint_sha256: String,
    /// The signature and the signed tbsCertificate, as received.
    pub signed: SignedData,
}

/// An extension's decoded value and whether it was marked critical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ext<T> {
    pub critical: bool,
    pub value: T,
}

/// The URIs of an authorityInfoAccess extension, by access method, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessUrls {
    pub ocsp: Vec<String>,
    pub ca_issuers: Vec<String>,
    /// Access descriptions of any other method, or with a location that is not a URI.
    pub other: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicConstraintsInfo {
    pub ca: bool,
    pub path_len: Option<u8>,
}

impl CertInfo {
    pub fn from_der(der: &[u8]) -> Result<CertInfo, ParseError> {
        let cert = Certificate::from_der(der).map_err(|e| ParseError(e.to_string()))?;
        let tbs = cert.tbs_certificate();
        let bad = |e: der::Error| ParseError(e.to_string());
        let serial_bytes = tbs.serial_number().as_bytes();
        let spki_der = tbs.subject_public_key_info().to_der().map_err(bad)?;
        Ok(CertInfo {
            version: tbs.version() as u8 + 1,
            serial: Serial::from_be_bytes(serial_bytes),
            serial_der_len: serial_bytes.len(),
            serial_negative: serial_bytes.first().is_some_and(|b| b & 0x80 != 0),
            subject: tbs.subject().to_string(),
            subject_der: tbs.subject().to_der().map_err(bad)?,
            common_name: tbs.subject().common_name().ok().flatten().map(|cn| cn.value().into_owned()),
            issuer: tbs.issuer().to_string(),
            issuer_der: tbs.issuer().to_der().map_err(bad)?,
            not_before: unix_seconds(&tbs.validity().not_before),
            not_after: unix_seconds(&tbs.validity().not_after),
            public_key_bits: tbs.subject_public_key_info().subject_public_key.raw_bytes().to_vec(),
            spki_der,
            basic_constraints: tbs.get_extension::<BasicConstraints>().map_err(bad)?.map(|(critical, bc)| {
                Ext { critical, value: BasicConstraintsInfo { ca: bc.ca, path_len: bc.path_len_constraint } }
            }),
            key_usage: tbs
                .get_extension::<KeyUsage>()
                .map_err(bad)?
                .map(|(critical, ku)| Ext { critical, value: key_usage_names(&ku) }),
            extended_key_usage: tbs.get_extension::<ExtendedKeyUsage>().map_err(bad)?.map(
                |(critical, eku)| Ext { critical, value: eku.0.iter().map(|oid| oid.to_string()).collect() },
            ),
            subject_alt_names: tbs.get_extension::<SubjectAltName>().map_err(bad)?.map(|(critical, san)| {
                Ext { critical, value: san.0.iter().map(general_name_text).collect() }
            }),
            subject_key_id: tbs
                .get_extension::<SubjectKeyIdentifier>()
                .map_err(bad)?
                .map(|(_, ski)| ski.0.as_bytes().to_vec()),
            authority_key_id: tbs
                .get_extension::<AuthorityKeyIdentifier>()
                .map_err(bad)?
                .and_then(|(_, aki)| aki.key_identifier.map(|k| k.as_bytes().to_vec())),
            crl_distribution_points: tbs
                .get_extension::<CrlDistributionPoints>()
                .map_err(bad)?
                .map(|(_, dps)| distribution_point_uris(&dps))
                .unwrap_or_default(),
            authority_info_access: tbs
                .get_extension::<AuthorityInfoAccessSyntax>()
                .map_err(bad)?
                .map(|(critical, aia)| Ext { critical, value: access_urls(&aia.0) }),
            ocsp_nocheck: tbs
                .extensions()
                .into_iter()
                .flatten()
                .find(|e| e.extn_id == ID_PKIX_OCSP_NOCHECK)
                .map(|e| Ext { critical: e.critical, value: e.extn_value.as_bytes() == DER_NULL }),
            permitted_dns: tbs
                .get_extension::<NameConstraints>()
                .map_err(bad)?
                .map(|(_, nc)| permitted_dns_names(&nc)),
            fingerprint_sha256: fingerprint_sha256(der),
            signed: SignedData::from_der(
                der,
                cert.signature_algorithm().oid.to_string(),
                cert.signature().raw_bytes(),
            )
            .map_err(|e| ParseError(e.to_string()))?,
        })
    }

    pub fn is_self_issued(&self) -> bool {
        self.subject_der == self.issuer_der
    }
}

fn unix_seconds(t: &x509_cert::time::Time) -> i64 {
    t.to_unix_duration().as_secs() as i64
}

/// Lower-case hex SHA-256 of the DER, no separators (what `openssl x509 -fingerprint
/// -sha256` prints, without its colons).
pub fn fingerprint_sha256(der: &[u8]) -> String {
    hex(&Sha256::digest(der))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn colon_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn key_usage_names(ku: &KeyUsage) -> Vec<&'static str> {
    [
        (KeyUsages::DigitalSignature, "digitalSignature"),
        (KeyUsages::NonRepudiation, "nonRepudiation"),
        (KeyUsages::KeyEncipherment, "keyEncipherment"),
        (KeyUsages::DataEncipherment, "dataEncipherment"),
        (KeyUsages::KeyAgreement, "keyAgreement"),
        (KeyUsages::KeyCertSign, "keyCertSign"),
        (KeyUsages::CRLSign, "cRLSign"),
        (KeyUsages::EncipherOnly, "encipherOnly"),
        (KeyUsages::DecipherOnly, "decipherOnly"),
    ]
    .into_iter()
    .filter(|(flag, _)| ku.0.contains(*flag))
    .map(|(_, name)| name)
    .collect()
}

/// A SAN as text in the form the ledger and `show` use: "DNS:x", "IP:1.2.3.4", "email:a@b",
/// "URI:spiffe://…".
pub fn general_name_text(name: &GeneralName) -> String {
    match name {
        GeneralName::DnsName(s) => format!("DNS:{}", s.as_str()),
        GeneralName::Rfc822Name(s) => format!("email:{}", s.as_str()),
        GeneralName::UniformResourceIdentifier(s) => format!("URI:{}", s.as_str()),
        GeneralName::IpAddress(octets) => match ip_from_octets(octets.as_bytes()) {
            Some(ip) => format!("IP:{ip}"),
            None => format!("IP:<{} bytes>", octets.as_bytes().len()),
        },
        GeneralName::DirectoryName(n) => format!("DirName:{n}"),
        GeneralName::OtherName(o) => format!("othername:{}", o.type_id),
        GeneralName::RegisteredId(oid) => format!("RID:{oid}"),
        GeneralName::EdiPartyName(_) => "EdiPartyName".to_string(),
    }
}

fn ip_from_octets(octets: &[u8]) -> Option<IpAddr> {
    match octets.len() {
        4 => <[u8; 4]>::try_from(octets).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(octets).ok().map(IpAddr::from),
        _ => None,
    }
}

fn permitted_dns_names(nc: &NameConstraints) -> Vec<String> {
    nc.permitted_subtrees
        .iter()
        .flatten()
        .filter_map(|subtree| match &subtree.base {
            GeneralName::DnsName(d) => Some(d.as_str().to_string()),
            _ => None,
        })
        .collect()
}

fn distribution_point_uris(dps: &CrlDistributionPoints) -> Vec<String> {
    dps.0
        .iter()
        .filter_map(|dp| match &dp.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(names),
            _ => None,
        })
        .flatten()
        .filter_map(|n| match n {
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.as_str().to_string()),
            _ => None,
        })
        .collect()
}

fn access_urls(descriptions: &[AccessDescription]) -> AccessUrls {
    let mut urls = AccessUrls::default();
    for d in descriptions {
        let uri = match &d.access_location {
            GeneralName::UniformResourceIdentifier(uri) => uri.as_str().to_string(),
            _ => {
                urls.other += 1;
                continue;
            }
        };
        match d.access_method {
            m if m == ID_AD_OCSP => urls.ocsp.push(uri),
            m if m == ID_AD_CA_ISSUERS => urls.ca_issuers.push(uri),
            _ => urls.other += 1,
        }
    }
    urls
}

/// A CRL, decoded once: what `verify` and `doctor` check.
#[derive(Debug, Clone)]
pub struct CrlInfo {
    pub issuer_der: Vec<u8>,
    pub this_update: i64,
    pub next_update: Option<i64>,
    /// The CRL number in decimal ("?" when absent).
    pub number: String,
    /// (serial, revocation date) of each entry.
    pub entries: Vec<(Serial, i64)>,
    /// The signature and the signed tbsCertList, as received.
    pub signed: SignedData,
}

impl CrlInfo {
    pub fn from_der(der: &[u8]) -> Result<CrlInfo, ParseError> {
        use x509_cert::crl::CertificateList;
        use x509_cert::ext::pkix::crl::CrlNumber;
        let crl: CertificateList = CertificateList::from_der(der).map_err(|e| ParseError(e.to_string()))?;
        let tbs = &crl.tbs_cert_list;
        let seconds = |t: &x509_cert::time::Time| t.to_unix_duration().as_secs() as i64;
        let number = tbs
            .crl_extensions
            .iter()
            .flatten()
            .find(|ext| ext.extn_id == <CrlNumber as der::oid::AssociatedOid>::OID)
            .and_then(|ext| CrlNumber::from_der(ext.extn_value.as_bytes()).ok())
            .and_then(|n| u128::from_str_radix(&hex(n.0.as_bytes()), 16).ok())
            .map(|n| n.to_string())
            .unwrap_or_else(|| "?".into());
        Ok(CrlInfo {
            issuer_der: tbs.issuer.to_der().map_err(|e| ParseError(e.to_string()))?,
            this_update: seconds(&tbs.this_update),
            next_update: tbs.next_update.as_ref().map(seconds),
            number,
            entries: tbs
                .revoked_certificates
                .iter()
                .flatten()
                .map(|e| (Serial::from_be_bytes(e.serial_number.as_bytes()), seconds(&e.revocation_date)))
                .collect(),
            signed: SignedData::from_der(
                der,
                crl.signature_algorithm.oid.to_string(),
                crl.signature.raw_bytes(),
            )
            .map_err(|e| ParseError(e.to_string()))?,
        })
    }
}

/// PEM-encodes a certificate.
pub fn certificate_pem(der: &[u8]) -> String {
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).unwrap_or_default()
}
