//! What `init` and `ca add-intermediate` share: CA names and recording a new CA.

use serde_json::json;

use crate::engine::Signed;
use crate::error::{Error, Result};
use crate::home::Home;
use crate::keys::KeyPair;
use crate::ledger::{LedgerResult, NewAuthority, NewCertificate, Tx};

/// X.520 upper bound for a commonName.
pub const MAX_CN_LEN: usize = 64;

/// A CA made by this run, ready to be recorded and written.
pub struct NewCa {
    pub name: String,
    pub slug: String,
    pub profile: &'static str,
    pub key: KeyPair,
    pub signed: Signed,
    pub path_len: Option<u8>,
    pub permitted_dns: Vec<String>,
    pub crl_url: Option<String>,
}

pub fn validate_ca_name(name: &str, flag: &str) -> Result<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(Error::usage(format!("{flag} must not be empty")));
    }
    if trimmed.chars().count() > MAX_CN_LEN {
        return Err(Error::usage(format!(
            "{flag} \"{trimmed}\" is longer than {MAX_CN_LEN} characters, the limit for a common name"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::usage(format!("{flag} contains control characters")));
    }
    Ok(trimmed.to_string())
}

/// Records a CA, its certificate row (issued by `parent_id`, or by itself for a root) and a
/// `ca.create` event; returns the new CA's id.
pub fn record_ca(
    tx: &Tx<'_>,
    ca: &NewCa,
    parent_id: Option<i64>,
    is_default: bool,
    encrypted: bool,
    now: i64,
) -> LedgerResult<i64> {
    let info = &ca.signed.info;
    let key_file = Home::ca_key_relative(&ca.slug);
    let ski = info.subject_key_id.clone().unwrap_or_default();
    let id = tx.insert_authority(&NewAuthority {
        name: &ca.name,
        slug: &ca.slug,
        parent_id,
        subject: &info.subject,
        cert_der: &ca.signed.der,
        ski: &ski,
        key_file: &key_file,
        key_type: ca.key.key_type().as_str(),
        key_encrypted: encrypted,
        path_len: ca.path_len,
        permitted_dns: &ca.permitted_dns,
        crl_url: ca.crl_url.as_deref(),
        is_default,
        not_before: info.not_before,
        not_after: info.not_after,
        now,
    })?;
    let serial = info.serial.ledger_hex();
    tx.insert_certificate(&NewCertificate {
        issuer_id: parent_id.unwrap_or(id),
        serial: &serial,
        profile: ca.profile,
        subject: &info.subject,
        common_name: info.common_name.as_deref(),
        sans: &[],
        key_type: ca.key.key_type().as_str(),
        key_source: "ca",
        not_before: info.not_before,
        not_after: info.not_after,
        fingerprint_sha256: &info.fingerprint_sha256,
        der: &ca.signed.der,
        renewed_from: None,
        authority_id: Some(id),
        now,
    })?;
    tx.record_event(
        now,
        "ca.create",
        &ca.name,
        &json!({
            "profile": ca.profile,
            "serial": info.serial.hex(),
            "fingerprint_sha256": info.fingerprint_sha256,
            "key_type": ca.key.key_type().as_str(),
            "key_encrypted": encrypted,
            "path_len": ca.path_len,
            "permitted_dns": ca.permitted_dns,
        }),
    )?;
    Ok(id)
}
