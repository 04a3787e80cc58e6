//! `pkictl ca list | show | cert`.

use serde_json::{Value, json};

use super::{Context, Outcome, print_json};
use crate::authority::{issued_urls, validate_public_url};
use crate::engine::format_time;
use crate::error::Result;
use crate::ledger::CaRecord;
use crate::x509::{CertInfo, certificate_pem, colon_hex};

fn role(a: &CaRecord) -> &'static str {
    if a.parent_id.is_none() { "root" } else { "intermediate" }
}

fn display_serial(a: &CaRecord) -> String {
    a.serial.hex()
}

fn authority_json(a: &CaRecord) -> Value {
    let info = CertInfo::from_der(&a.cert_der).ok();
    json!({
        "name": a.name,
        "slug": a.slug,
        "role": role(a),
        "parent": a.parent_name,
        "default": a.is_default,
        "subject": a.subject,
        "serial": display_serial(a),
        "status": a.status.as_str(),
        "key_type": a.key_type.as_str(),
        "key_file": a.key_file,
        "key_encrypted": a.key_encrypted,
        "path_len": a.path_len,
        "crl_url": a.crl_url,
        "public_url": a.public_url,
        "issued_urls": issued_urls_json(a),
        "next_crl_number": a.next_crl_number,
        "crl_next_update": crate::duration::format_duration(time::Duration::seconds(a.crl_validity_secs)),
        "not_before": format_time(a.not_before),
        "not_after": format_time(a.not_after),
        "subject_key_id": colon_hex(&a.ski),
        "fingerprint_sha256": info.map(|i| i.fingerprint_sha256),
    })
}

/// The pointers the certificates this CA signs carry.
fn issued_urls_json(a: &CaRecord) -> Value {
    let urls = issued_urls(a);
    json!({ "crl": urls.crl, "ocsp": urls.ocsp, "ca_issuers": urls.ca_issuers })
}

pub fn list(ctx: &Context) -> Result<Outcome> {
    let (_, ledger) = ctx.open()?;
    let authorities = ledger.authorities()?;
    if ctx.json {
        let list: Vec<Value> = authorities.iter().map(authority_json).collect();
        print_json(&json!({ "authorities": list }));
        return Ok(Outcome::Success);
    }
    outln!("{:<1} {:<32} {:<13} {:<8} {:<8} {:<20}", "", "NAME", "ROLE", "KEY", "STATUS", "NOT AFTER");
    for a in &authorities {
        outln!(
            "{:<1} {:<32} {:<13} {:<8} {:<8} {:<20}",
            if a.is_default { "*" } else { "" },
            a.name,
            role(a),
            a.key_type,
            a.status.as_str(),
            format_time(a.not_after)
        );
    }
    outln!("(* = default issuing CA)");
    Ok(Outcome::Success)
}

pub fn show(ctx: &Context, name: &str) -> Result<Outcome> {
    let (home, ledger) = ctx.open()?;
    let a = crate::authority::find_ca_in(ledger.as_ref(), Some(name))?;
    if ctx.json {
        print_json(&authority_json(&a));
        return Ok(Outcome::Success);
    }
    let fingerprint = CertInfo::from_der(&a.cert_der).map(|i| i.fingerprint_sha256).unwrap_or_default();
    let rows: Vec<(&str, String)> = vec![
        ("Name", a.name.clone()),
        ("Role", format!("{}{}", role(&a), if a.is_default { " (default issuing CA)" } else { "" })),
        ("Parent", a.parent_name.clone().unwrap_or_else(|| "-".into())),
        ("Subject", a.subject.clone()),
        ("Serial", display_serial(&a)),
        ("Status", a.status.as_str().to_string()),
        ("Not before", format_time(a.not_before)),
        ("Not after", format_time(a.not_after)),
        ("Key", format!("{} ({})", a.key_type, if a.key_encrypted { "encrypted" } else { "NOT encrypted" })),
        ("Key file", home.resolve(&a.key_file).display().to_string()),
        ("Path length", a.path_len.map(|n| n.to_string()).unwrap_or_else(|| "unconstrained".into())),
        ("CRL URL", a.crl_url.clone().unwrap_or_else(|| "-".into())),
        ("Public URL", a.public_url.clone().unwrap_or_else(|| "-".into())),
        ("Next CRL number", a.next_crl_number.to_string()),
        ("CRL lifetime", crate::duration::format_duration(time::Duration::seconds(a.crl_validity_secs))),
        ("Subject key ID", colon_hex(&a.ski)),
        ("SHA-256", fingerprint),
    ];
    for (label, value) in rows {
        outln!("{:<16} {}", format!("{label}:"), value);
    }
    let urls = issued_urls(&a);
    for (label, list) in
        [("Issued CDP", &urls.crl), ("Issued OCSP", &urls.ocsp), ("Issued CA cert", &urls.ca_issuers)]
    {
        if !list.is_empty() {
            outln!("{:<16} {}", format!("{label}:"), list.join(" "));
        }
    }
    Ok(Outcome::Success)
}

pub fn cert(ctx: &Context, name: Option<&str>) -> Result<Outcome> {
    let (_, ledger) = ctx.open()?;
    let a = crate::authority::find_ca_in(ledger.as_ref(), name)?;
    let pem = certificate_pem(&a.cert_der);
    if ctx.json {
        print_json(&json!({ "name": a.name, "pem": pem }));
    } else {
        out!("{pem}");
    }
    Ok(Outcome::Success)
}

/// `ca configure NAME [--crl-next-update D] [--public-url URL | --no-public-url]`: per-CA
/// settings kept in the ledger. `public_url`: None leaves it, Some(None) removes it.
pub fn configure(
    ctx: &Context,
    name: &str,
    crl_next_update: Option<&str>,
    public_url: Option<Option<String>>,
) -> Result<Outcome> {
    let validity = crl_next_update
        .map(|text| {
            crate::duration::parse_duration(text)
                .map_err(|e| crate::error::Error::invalid(format!("--crl-next-update: {e}")))
        })
        .transpose()?;
    // Both settings are checked before either is changed.
    let public_url = public_url.map(|url| url.as_deref().map(validate_public_url).transpose()).transpose()?;
    let mut authority = ctx.authority()?;
    let mut report = serde_json::Map::new();
    let mut lines = Vec::new();
    if let Some(validity) = validity {
        let ca = authority.configure_crl_validity(name, validity)?;
        let lifetime = crate::duration::format_duration(validity);
        lines.push(format!("CRLs of {} now stay valid for {lifetime} (from the next `pkictl crl`)", ca.name));
        report.insert("name".into(), json!(ca.name));
        report.insert("crl_next_update".into(), json!(lifetime));
    }
    if let Some(url) = public_url {
        let (ca, warnings) = authority.configure_public_url(name, url.as_deref())?;
        for warning in &warnings {
            eprintln!("warning: {}", crate::error::one_line(&warning.to_string()));
        }
        lines.push(match &ca.public_url {
            Some(url) => format!(
                "certificates {} signs from now on point at {url} (CRL, OCSP, CA certificate); issued ones are unchanged",
                ca.name
            ),
            None => format!("certificates {} signs from now on name no online CA", ca.name),
        });
        report.insert("name".into(), json!(ca.name));
        report.insert("public_url".into(), json!(ca.public_url));
        report.insert("issued_urls".into(), issued_urls_json(&ca));
    }
    if ctx.json {
        print_json(&Value::Object(report));
    } else {
        for line in lines {
            outln!("{line}");
        }
    }
    Ok(Outcome::Success)
}
