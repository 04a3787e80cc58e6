//! `pkictl ca add-intermediate`: another issuing CA under a parent, optionally constrained
//! to DNS subtrees.

use serde_json::json;

use super::{Context, Outcome, print_json};
use crate::authority::{AddIntermediateRequest, CaCreated};
use crate::duration::parse_duration;
use crate::engine::format_time;
use crate::error::{Error, Result};
use crate::home::Home;
use crate::keys::KeyType;
use crate::ledger::CaRecord;

pub struct AddIntermediateArgs<'a> {
    pub name: &'a str,
    pub parent: Option<&'a str>,
    pub path_len: u8,
    pub permit_dns: &'a [String],
    pub key_type: Option<KeyType>,
    pub validity: Option<&'a str>,
    pub make_default: bool,
}

pub fn run(ctx: &Context, args: &AddIntermediateArgs<'_>) -> Result<Outcome> {
    let validity = args
        .validity
        .map(|text| parse_duration(text).map_err(|e| Error::invalid(format!("--validity: {e}"))))
        .transpose()?;
    let mut authority = ctx.authority()?;
    let (ca, parent) = authority.add_intermediate(&AddIntermediateRequest {
        name: args.name.to_string(),
        parent: args.parent.map(str::to_string),
        path_len: args.path_len,
        permit_dns: args.permit_dns.to_vec(),
        key_type: args.key_type,
        validity,
        make_default: args.make_default,
    })?;
    report(ctx, authority.home(), &ca, &parent);
    Ok(Outcome::Success)
}

fn report(ctx: &Context, home: &Home, ca: &CaCreated, parent: &CaRecord) {
    let info = &ca.signed.info;
    if ctx.json {
        print_json(&json!({
            "name": ca.name,
            "parent": parent.name,
            "serial": info.serial.hex(),
            "path_len": ca.path_len,
            "permitted_dns": ca.permitted_dns,
            "not_after": format_time(info.not_after),
            "fingerprint_sha256": info.fingerprint_sha256,
            "certificate": home.resolve(&Home::ca_cert_relative(&ca.slug)),
            "key": home.resolve(&Home::ca_key_relative(&ca.slug)),
            "crl_url": ca.crl_url,
            "public_url": ca.public_url,
        }));
        return;
    }
    outln!("Created intermediate CA \"{}\" under \"{}\"", ca.name, parent.name);
    outln!("  serial       {}", info.serial.hex());
    outln!("  not after    {}", format_time(info.not_after));
    outln!("  path length  {}", ca.path_len.map(|n| n.to_string()).unwrap_or_default());
    if !ca.permitted_dns.is_empty() {
        outln!("  permitted    {}", ca.permitted_dns.join(", "));
    }
    outln!("  certificate  {}", home.resolve(&Home::ca_cert_relative(&ca.slug)).display());
}
