//! Building leaf certificates: server, client, peer and OCSP responder.

use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, KeyIdMethod, SerialNumber};
use time::{Duration, OffsetDateTime};

use super::lint::{self, Expected};
use super::profile::Profile;
use super::serial::Serial;
use super::{BACKDATE, EngineError, Signed, SigningCa, sign_error};
use crate::keys::PublicKey;
use crate::names::San;

pub struct LeafRequest<'a> {
    pub profile: Profile,
    pub common_name: &'a str,
    pub sans: &'a [San],
    pub public_key: &'a PublicKey,
    pub validity: Duration,
    pub now: OffsetDateTime,
    /// Verify the signature after signing (see `lint::Expected::verify_signature`).
    pub verify_signature: bool,
}

/// Signs a leaf for `req` with `issuer`, then checks it against its profile.
pub fn build_leaf(req: &LeafRequest<'_>, issuer: &SigningCa) -> Result<Signed, EngineError> {
    if req.profile.is_ca() {
        return Err(EngineError::BadRequest(
            "only `init` and `ca add-intermediate` make CA certificates".into(),
        ));
    }
    super::policy::check_dns_sans(req.sans, &issuer.name_constraints)?;
    let mut params = leaf_params(req)?;
    params.not_before = issuer.not_before_for(req.now, params.not_before)?;
    issuer.check_not_after(params.not_after)?;
    if req.profile.carries_issuer_urls() {
        issuer.urls.apply(&mut params)?;
    }
    if req.profile == Profile::OcspResponder {
        params.custom_extensions.push(super::urls::ocsp_nocheck());
    }
    let cert = params.signed_by(req.public_key, &issuer.issuer()).map_err(sign_error)?;
    let der = cert.der().to_vec();
    let info = lint::check(
        &der,
        &Expected {
            profile: req.profile,
            key_type: req.public_key.key_type(),
            ski: req.public_key.key_id(),
            public_key_bits: req.public_key.bits(),
            sans: req.sans.iter().map(San::to_string).collect(),
            path_len: None,
            issuer: Some(issuer),
            // RSA signatures are always checked: a fault in CRT signing would leak the key,
            // and RSA verification is cheap.
            verify_signature: req.verify_signature || issuer.signer.key_type().is_rsa(),
        },
    )?;
    Ok(Signed { der, info })
}

fn leaf_params(req: &LeafRequest<'_>) -> Result<CertificateParams, EngineError> {
    let serial = Serial::random().map_err(EngineError::Rng)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, req.common_name);
    params.distinguished_name = dn;
    params.serial_number = Some(SerialNumber::from_slice(serial.as_bytes()));
    params.not_before = req.now - BACKDATE;
    params.not_after = req.now + req.validity;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = req.profile.key_usages(req.public_key.key_type());
    params.extended_key_usages = req.profile.extended_key_usages();
    params.subject_alt_names =
        req.sans.iter().map(San::to_rcgen).collect::<Result<_, _>>().map_err(EngineError::BadRequest)?;
    params.key_identifier_method = KeyIdMethod::PreSpecified(req.public_key.key_id());
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}
