//! `pkictl revoke SERIAL --reason R` and `revoke --from-file`: the revocation and its CRL,
//! through `Authority`.

use std::path::Path;

use serde_json::json;

use super::crl::{published_json, summary};
use super::words::skipped_line;
use super::{Context, Outcome, list_lines, print_json, read_text_input};
use crate::authority::{RevokeManyRequest, RevokeRequest, Warning};
use crate::engine::crl::Reason;
use crate::engine::format_time;
use crate::error::{Error, Result};

pub fn run(ctx: &Context, serial: &str, reason: &str, ca: Option<&str>) -> Result<Outcome> {
    let reason: Reason = reason.parse().map_err(Error::Invalid)?;
    let revoked = ctx.authority()?.revoke(&RevokeRequest {
        certificate: serial.to_string(),
        reason,
        ca: ca.map(str::to_string),
    })?;
    print_warnings(&revoked.warnings, &revoked.crl.warnings);
    let target = &revoked.certificate;
    if ctx.json {
        print_json(&json!({
            "serial": target.serial.hex(),
            "subject": target.subject,
            "ca": target.issuer_name,
            "reason": reason.as_str(),
            "revoked_at": format_time(revoked.at),
            "crl": published_json(&revoked.crl, None),
        }));
    } else {
        outln!("Revoked {} ({}) as {}", target.serial.hex(), target.subject, reason);
        outln!("{}", summary(&revoked.crl));
    }
    Ok(Outcome::Success)
}

/// `revoke --from-file`: every listed certificate in one transaction (all or nothing unless
/// `--skip-unknown`), then one CRL per CA concerned.
pub fn run_many(
    ctx: &Context,
    source: &Path,
    reason: &str,
    ca: Option<&str>,
    skip_unknown: bool,
) -> Result<Outcome> {
    let reason: Reason = reason.parse().map_err(Error::Invalid)?;
    let text = read_text_input(source)?;
    let mut authority = ctx.authority()?;
    let certificates: Vec<(usize, String)> = list_lines(&text).map(|(n, l)| (n, l.to_string())).collect();
    if certificates.is_empty() {
        return Err(Error::invalid(format!("{} lists no serial", source.display())));
    }
    let request = RevokeManyRequest { certificates, reason, ca: ca.map(str::to_string), skip_unknown };
    let outcome = authority.revoke_many(&request)?;
    let skipped: Vec<String> = outcome.skipped.iter().map(skipped_line).collect();
    for problem in &skipped {
        eprintln!("warning: skipped {}", crate::error::one_line(problem));
    }
    for (_, crl) in &outcome.crls {
        print_warnings(&[], &crl.warnings);
    }
    if ctx.json {
        print_json(&json!({
            "revoked": outcome.revoked,
            "reason": reason.as_str(),
            "revoked_at": format_time(outcome.at),
            "skipped": skipped,
            "crls": outcome.crls.iter().map(|(_, crl)| published_json(crl, None)).collect::<Vec<_>>(),
        }));
    } else {
        outln!("Revoked {} as {reason}", super::words::count(outcome.revoked, "certificate", "certificates"));
        for (_, crl) in &outcome.crls {
            outln!("{}", summary(crl));
        }
    }
    Ok(Outcome::Success)
}

/// The revocation's warnings, then its CRL's.
pub fn print_warnings(revocation: &[Warning], crl: &[Warning]) {
    for warning in revocation.iter().chain(crl) {
        eprintln!("warning: {}", crate::error::one_line(&warning.to_string()));
    }
}
