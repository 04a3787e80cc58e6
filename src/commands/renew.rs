//! `pkictl renew SERIAL`: a new certificate with the same subject, SANs, profile and issuer,
//! linked to the old one in the ledger; optionally a new key, optionally revoking the old.

use std::path::PathBuf;

use serde_json::json;

use super::issue::{KeySource, LeafPlan, issue_leaf, report};
use super::revoke::revoke_and_publish;
use super::show::find_one;
use super::{Context, ledger_serial_hex, print_json};
use crate::duration::parse_duration;
use crate::engine::crl::Reason;
use crate::engine::profile::Profile;
use crate::engine::{BACKDATE, format_time};
use crate::error::{Error, Result};
use crate::keys::{KeyPair, KeyType, PublicKey};
use crate::ledger::CertificateRecord;
use crate::names::San;
use crate::x509::CertInfo;

pub struct RenewArgs<'a> {
    pub certificate: &'a str,
    pub rekey: bool,
    pub key_type: Option<KeyType>,
    pub key: Option<&'a PathBuf>,
    pub validity: Option<&'a str>,
    pub revoke_old: bool,
    pub out: &'a PathBuf,
    pub force: bool,
}

pub fn run(ctx: &Context, args: &RenewArgs<'_>) -> Result<i32> {
    if args.rekey && args.key.is_some() {
        return Err(Error::usage("--rekey makes a new key; it cannot be combined with --key"));
    }
    let (home, mut ledger) = ctx.open()?;
    let old = find_one(&ledger, args.certificate)?;
    let profile: Profile = old.profile.parse().map_err(Error::Internal)?;
    if profile.is_ca() {
        return Err(Error::usage(format!(
            "{} is a CA certificate; renew CAs by adding a new one with `pkictl ca add-intermediate`",
            ledger_serial_hex(&old.serial)
        )));
    }
    let old_der = ledger.certificate_der(old.id)?;
    let old_info = CertInfo::from_der(&old_der).map_err(|e| Error::Internal(e.to_string()))?;
    let key = key_source(args, &old, &old_info)?;
    let validity = match args.validity {
        Some(text) => parse_duration(text).map_err(|e| Error::usage(format!("--validity: {e}")))?,
        None => time::Duration::seconds(old_info.not_after - old_info.not_before) - BACKDATE,
    };
    let plan = LeafPlan {
        profile,
        common_name: old.common_name.clone().unwrap_or_default(),
        sans: old.sans.iter().map(|s| parse_san(s)).collect::<Result<_>>()?,
        key,
        validity,
        ca: Some(old.issuer_name.clone()),
        out: args.out.clone(),
        force: args.force,
        warnings: Vec::new(),
        renewed_from: Some(old.id),
    };
    let issued = issue_leaf(ctx, &home, &mut ledger, &plan)?;
    let revoked = if args.revoke_old && old.status == "valid" {
        Some(revoke_and_publish(ctx, &home, &mut ledger, &old, Reason::Superseded)?)
    } else {
        None
    };
    if ctx.json {
        print_json(&json!({
            "renewed_from": ledger_serial_hex(&old.serial),
            "serial": issued.signed.info.serial.hex(),
            "not_after": format_time(issued.signed.info.not_after),
            "fingerprint_sha256": issued.signed.info.fingerprint_sha256,
            "rekeyed": args.rekey,
            "old_revoked": revoked.as_ref().map(|r| json!({ "reason": "superseded", "crl_number": r.crl.number })),
            "files": issued.files.to_json(),
        }));
    } else {
        report(ctx, &plan, &issued);
        outln!("  renews      {}", ledger_serial_hex(&old.serial));
        if let Some(r) = revoked {
            outln!(
                "  revoked old {} as superseded (CRL #{} of {})",
                ledger_serial_hex(&old.serial),
                r.crl.number,
                r.issuer.name
            );
        }
    }
    Ok(0)
}

/// Which key the renewal certifies: a new one (--rekey), the one in --key (which must match
/// the old certificate), or — for keys that came from a CSR — the old certificate's key.
fn key_source(args: &RenewArgs<'_>, old: &CertificateRecord, old_info: &CertInfo) -> Result<KeySource> {
    if args.rekey {
        let key_type = match args.key_type {
            Some(t) => t,
            None => old.key_type.parse().map_err(Error::Internal)?,
        };
        return Ok(KeySource::Generate(key_type));
    }
    if args.key_type.is_some() {
        return Err(Error::usage("--key-type only applies with --rekey"));
    }
    let old_key = PublicKey::from_spki_der(&old_info.spki_der)
        .map_err(|source| Error::Key { what: "the old certificate".into(), source })?;
    if let Some(path) = args.key {
        let pem = zeroize::Zeroizing::new(crate::home::read_private_file(path)?);
        let text = std::str::from_utf8(&pem)
            .map_err(|_| Error::usage(format!("{} is not a PEM key file", path.display())))?;
        let key = KeyPair::from_pkcs8_pem(text, None)
            .map_err(|source| Error::Key { what: path.display().to_string(), source })?;
        if key.public_key().bits() != old_key.bits() {
            return Err(Error::usage(format!(
                "{} is not the key of certificate {}; pass its own key, or --rekey",
                path.display(),
                ledger_serial_hex(&old.serial)
            )));
        }
        return Ok(KeySource::Existing { key: old_key, origin: "generated" });
    }
    if old.key_source == "csr" {
        return Ok(KeySource::Existing { key: old_key, origin: "csr" });
    }
    Err(Error::usage(format!(
        "pkictl generated the key of {} and does not keep it; pass it with --key FILE to keep it, or --rekey for a new one",
        ledger_serial_hex(&old.serial)
    )))
}

/// The ledger's SAN text back into a name ("DNS:x", "IP:y", "email:z", "URI:u").
fn parse_san(text: &str) -> Result<San> {
    let bad = || Error::Internal(format!("the ledger holds an unreadable SAN \"{text}\""));
    let (kind, value) = text.split_once(':').ok_or_else(bad)?;
    Ok(match kind {
        "DNS" => San::Dns(value.to_string()),
        "IP" => San::Ip(value.parse().map_err(|_| bad())?),
        "email" => San::Email(value.to_string()),
        "URI" => San::Uri(value.to_string()),
        _ => return Err(bad()),
    })
}
