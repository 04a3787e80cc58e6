//! `pkictl ca add-intermediate`: another issuing CA under a parent, optionally constrained
//! to DNS subtrees.

use std::fs;

use serde_json::json;

use super::authority::{NewCa, record_ca, validate_ca_name};
use super::{Context, find_authority, print_json, unlock_ca};
use crate::duration::parse_duration;
use crate::engine::ca::{CaRequest, build_intermediate};
use crate::engine::{self, format_time};
use crate::error::{Error, Result};
use crate::home::{self, Home, KEY_MODE, PUBLIC_MODE};
use crate::keys::{KeyPair, KeyType};
use crate::ledger::{Authority, Ledger};
use crate::names;
use crate::x509::certificate_pem;

/// Five years, or what is left of the parent's lifetime when that is shorter.
const DEFAULT_VALIDITY: time::Duration = time::Duration::days(5 * 365);

pub struct AddIntermediateArgs<'a> {
    pub name: &'a str,
    pub parent: Option<&'a str>,
    pub path_len: u8,
    pub permit_dns: &'a [String],
    pub key_type: Option<KeyType>,
    pub validity: Option<&'a str>,
    pub make_default: bool,
}

pub fn run(ctx: &Context, args: &AddIntermediateArgs<'_>) -> Result<i32> {
    let name = validate_ca_name(args.name, "--name")?;
    let permitted: Vec<String> =
        args.permit_dns.iter().map(|d| permitted_subtree(d)).collect::<Result<_>>()?;
    let (home, mut ledger) = ctx.open()?;
    check_name_is_free(&ledger, &name)?;
    let parent = match args.parent {
        Some(p) => find_authority(&ledger, Some(p))?,
        None => root_of(&ledger)?,
    };
    let now = engine::now();
    if parent.status == "revoked" || parent.not_after <= now.unix_timestamp() {
        return Err(Error::usage(format!(
            "CA {} is revoked or expired and cannot sign a sub-CA",
            parent.name
        )));
    }
    let validity = match args.validity {
        Some(text) => parse_duration(text).map_err(|e| Error::usage(format!("--validity: {e}")))?,
        None => DEFAULT_VALIDITY.min(time::Duration::seconds(parent.not_after - now.unix_timestamp())),
    };
    let (issuer, passphrase) = unlock_ca(ctx, &home, &ledger, &parent)?;
    let key_type = match args.key_type {
        Some(t) => t,
        None => parent.key_type.parse().map_err(Error::Usage)?,
    };
    let key = KeyPair::generate(key_type).map_err(|source| Error::Key { what: name.clone(), source })?;
    let request = CaRequest {
        name: &name,
        key: &key,
        validity,
        path_len: Some(args.path_len),
        permitted_dns: &permitted,
        now,
    };
    let signed = build_intermediate(&request, &issuer)?;
    let slug = home::slug(&name);
    let ca = NewCa {
        crl_url: sibling_crl_url(&parent, &slug),
        name,
        slug,
        profile: "intermediate",
        key,
        signed,
        path_len: Some(args.path_len),
        permitted_dns: permitted,
    };
    store(&home, &mut ledger, &ca, &parent, passphrase.as_deref().map(String::as_str), args.make_default)?;
    report(ctx, &home, &ca, &parent);
    Ok(0)
}

/// A permitted DNS subtree: a DNS name without wildcard (a leading dot is accepted and dropped).
fn permitted_subtree(text: &str) -> Result<String> {
    let name = names::parse_dns(text.trim_start_matches('.'))
        .map_err(|e| Error::usage(format!("--permit-dns: {e}")))?;
    if name.starts_with("*.") {
        return Err(Error::usage(format!(
            "--permit-dns \"{text}\": give the domain (example.com), which covers every name below it"
        )));
    }
    Ok(name)
}

fn check_name_is_free(ledger: &Ledger, name: &str) -> Result<()> {
    let slug = home::slug(name);
    let clash =
        ledger.authorities()?.into_iter().find(|a| a.name.eq_ignore_ascii_case(name) || a.slug == slug);
    match clash {
        Some(existing) => Err(Error::usage(format!(
            "a CA named \"{}\" already exists in this home; choose another --name",
            existing.name
        ))),
        None => Ok(()),
    }
}

fn root_of(ledger: &Ledger) -> Result<Authority> {
    ledger
        .authorities()?
        .into_iter()
        .find(|a| a.parent_id.is_none())
        .ok_or_else(|| Error::Internal("this home has no root CA".into()))
}

/// The new CA publishes its CRL next to its parent's, when the parent publishes one.
fn sibling_crl_url(parent: &Authority, slug: &str) -> Option<String> {
    let url = parent.crl_url.as_deref()?;
    let base = url.strip_suffix(&format!("/{}.crl", parent.slug))?;
    Some(format!("{base}/{slug}.crl"))
}

/// Key file first (removed again if the ledger refuses), then the ledger, then the certificate.
fn store(
    home: &Home,
    ledger: &mut Ledger,
    ca: &NewCa,
    parent: &Authority,
    passphrase: Option<&str>,
    make_default: bool,
) -> Result<()> {
    let key_pem = match passphrase {
        Some(p) => ca.key.to_encrypted_pkcs8_pem(p.as_bytes()),
        None => ca.key.to_pkcs8_pem(),
    }
    .map_err(|source| Error::Key { what: ca.name.clone(), source })?;
    let key_path = home.resolve(&Home::ca_key_relative(&ca.slug));
    home::write_atomic_new(&key_path, key_pem.as_bytes(), KEY_MODE)?;
    let now = engine::now().unix_timestamp();
    let recorded = ledger.write(|tx| {
        if make_default {
            tx.clear_default_authority()?;
        }
        record_ca(tx, ca, Some(parent.id), make_default, passphrase.is_some(), now)
    });
    if let Err(e) = recorded {
        let _ = fs::remove_file(&key_path);
        return Err(e.into());
    }
    let cert_path = home.resolve(&Home::ca_cert_relative(&ca.slug));
    home::write_atomic(&cert_path, certificate_pem(&ca.signed.der).as_bytes(), PUBLIC_MODE)
}

fn report(ctx: &Context, home: &Home, ca: &NewCa, parent: &Authority) {
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
