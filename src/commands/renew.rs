//! `pkictl renew SERIAL`: a new certificate with the same subject, SANs, profile and issuer,
//! linked to the old one in the ledger; optionally a new key, optionally revoking the old.

use std::path::PathBuf;

use serde_json::json;

use super::issue::{files_json, report};
use super::{Context, Outcome, print_json};
use crate::authority::{OutputDir, RenewKey, RenewRequest};
use crate::duration::parse_duration;
use crate::engine::format_time;
use crate::error::{Error, Result};
use crate::keys::KeyType;

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

pub fn run(ctx: &Context, args: &RenewArgs<'_>) -> Result<Outcome> {
    let key = renew_key(args)?;
    let validity = args
        .validity
        .map(|text| parse_duration(text).map_err(|e| Error::invalid(format!("--validity: {e}"))))
        .transpose()?;
    let renewed = ctx.authority()?.renew(RenewRequest {
        certificate: args.certificate.to_string(),
        key,
        validity,
        revoke_old: args.revoke_old,
        out: OutputDir { dir: args.out.clone(), force: args.force },
    })?;
    let (issued, old_serial) = (&renewed.issued, renewed.old.serial.hex());
    if let Some(r) = &renewed.revoked {
        super::revoke::print_warnings(&r.warnings, &r.crl.warnings);
    }
    if ctx.json {
        print_json(&json!({
            "renewed_from": old_serial,
            "serial": issued.certificate.info.serial.hex(),
            "not_after": format_time(issued.certificate.info.not_after),
            "fingerprint_sha256": issued.certificate.info.fingerprint_sha256,
            "rekeyed": args.rekey,
            "old_revoked": renewed.revoked.as_ref().map(|r| json!({ "reason": "superseded", "crl_number": r.crl.number })),
            "files": files_json(issued.files.as_ref()),
        }));
    } else {
        report(ctx, issued);
        outln!("  renews      {old_serial}");
        if let Some(r) = &renewed.revoked {
            outln!("  revoked old {old_serial} as superseded (CRL #{} of {})", r.crl.number, r.issuer.name);
        }
    }
    Ok(Outcome::Success)
}

/// --rekey, --key FILE or neither; the combinations that make no sense are refused here.
fn renew_key(args: &RenewArgs<'_>) -> Result<RenewKey> {
    if args.rekey && args.key.is_some() {
        return Err(Error::invalid("--rekey makes a new key; it cannot be combined with --key"));
    }
    if args.rekey {
        return Ok(RenewKey::Rekey(args.key_type));
    }
    if args.key_type.is_some() {
        return Err(Error::invalid("--key-type only applies with --rekey"));
    }
    Ok(args.key.map_or(RenewKey::Keep, |path| RenewKey::KeyFile(path.clone())))
}
