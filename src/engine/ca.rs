//! Building CA certificates: the self-signed root and the intermediates under it.

use rcgen::{
    BasicConstraints, CertificateParams, GeneralSubtree, IsCa, KeyIdMethod, NameConstraints, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::lint::{self, Expected};
use super::profile::Profile;
use super::serial::Serial;
use super::signer::RcgenSigner;
use super::{BACKDATE, EngineError, Signed, SigningCa, ca_distinguished_name, sign_error};
use std::sync::Arc;

use crate::keys::CaSigner;
use crate::x509::CertInfo;

/// What a new CA certificate should say.
pub struct CaRequest<'a> {
    pub name: &'a str,
    /// The new CA's own key (it signs only a root: itself).
    pub key: &'a dyn CaSigner,
    pub validity: Duration,
    /// None: no pathLenConstraint.
    pub path_len: Option<u8>,
    /// Permitted DNS subtrees (name constraints); empty for none.
    pub permitted_dns: &'a [String],
    pub now: OffsetDateTime,
}

fn ca_params(req: &CaRequest<'_>) -> Result<CertificateParams, EngineError> {
    let serial = Serial::random().map_err(EngineError::Rng)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = ca_distinguished_name(req.name);
    params.serial_number = Some(SerialNumber::from_slice(serial.as_bytes()));
    params.not_before = req.now - BACKDATE;
    params.not_after = req.now + req.validity;
    params.is_ca = IsCa::Ca(match req.path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    params.key_usages = Profile::Root.key_usages(req.key.key_type());
    params.key_identifier_method = KeyIdMethod::PreSpecified(req.key.public_key().key_id());
    if !req.permitted_dns.is_empty() {
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: req
                .permitted_dns
                .iter()
                .map(|d| GeneralSubtree::DnsName(d.clone()))
                .collect(),
            excluded_subtrees: Vec::new(),
        });
    }
    Ok(params)
}

/// A self-signed root: AKI = its own SKI (as OpenSSL makes roots), no CRL distribution point
/// (a root is trusted directly).
pub fn build_root(req: &CaRequest<'_>) -> Result<Signed, EngineError> {
    let mut params = ca_params(req)?;
    params.use_authority_key_identifier_extension = true;
    let cert = params.self_signed(&RcgenSigner::new(req.key)).map_err(sign_error)?;
    let der = cert.der().to_vec();
    let info = lint::check(
        &der,
        &Expected {
            profile: Profile::Root,
            key_type: req.key.key_type(),
            ski: req.key.public_key().key_id(),
            public_key_bits: req.key.public_key().bits(),
            sans: vec![],
            path_len: req.path_len,
            issuer: None,
            verify_signature: true,
        },
    )?;
    Ok(Signed { der, info })
}

/// An intermediate signed by `issuer`, with AKI = the issuer's SKI and the issuer's URLs.
pub fn build_intermediate(req: &CaRequest<'_>, issuer: &SigningCa) -> Result<Signed, EngineError> {
    check_path_length(req, issuer)?;
    super::policy::check_subtrees(req.permitted_dns, &issuer.name_constraints)?;
    let mut params = ca_params(req)?;
    params.not_before = issuer.not_before_for(req.now, params.not_before)?;
    issuer.check_not_after(params.not_after)?;
    params.use_authority_key_identifier_extension = true;
    issuer.urls.apply(&mut params)?;
    let cert = params.signed_by(&RcgenSigner::new(req.key), &issuer.issuer()).map_err(sign_error)?;
    let der = cert.der().to_vec();
    let info = lint::check(
        &der,
        &Expected {
            profile: Profile::Intermediate,
            key_type: req.key.key_type(),
            ski: req.key.public_key().key_id(),
            public_key_bits: req.key.public_key().bits(),
            sans: vec![],
            path_len: req.path_len,
            issuer: Some(issuer),
            verify_signature: true,
        },
    )?;
    Ok(Signed { der, info })
}

/// Reads a CA certificate back for use as an issuer.
pub fn load_signing_ca(
    name: &str,
    signer: Arc<dyn CaSigner>,
    ski: Vec<u8>,
    cert_der: &[u8],
    urls: super::urls::IssuerUrls,
    name_constraints: Vec<super::policy::DnsConstraint>,
) -> Result<SigningCa, EngineError> {
    let cert = CertInfo::from_der(cert_der).map_err(|e| EngineError::Lint(e.to_string()))?;
    if cert.public_key_bits != signer.public_key().bits() {
        return Err(EngineError::KeyMismatch { ca: name.to_string() });
    }
    Ok(SigningCa { name: name.to_string(), signer, ski, cert, urls, name_constraints })
}

/// The issuer's pathLenConstraint bounds how many CAs may sit below it.
fn check_path_length(req: &CaRequest<'_>, issuer: &SigningCa) -> Result<(), EngineError> {
    let Some(limit) = issuer.cert.basic_constraints.as_ref().and_then(|bc| bc.value.path_len) else {
        return Ok(());
    };
    match req.path_len {
        Some(n) if limit > 0 && n < limit => Ok(()),
        requested => Err(EngineError::PathLength { ca: issuer.name.clone(), path_len: limit, requested }),
    }
}
