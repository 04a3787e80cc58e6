//! `pkictl doctor`: renders [`Authority::check`] (or [`Authority::repair`] with `--repair`):
//! the ledger is sound and explained by its audit chain, every file of the home agrees with
//! it, keys are private and belong to their CA, and certificate files elsewhere are known.

use std::path::PathBuf;

use serde_json::json;

use super::{Context, Outcome, print_json};
use crate::authority::{CheckRequest, Finding, HomeFile, Report, Severity};
use crate::error::Result;

pub fn run(ctx: &Context, scan: &[PathBuf], repair: bool) -> Result<Outcome> {
    // Without --repair doctor only reads: it works on a read-only home (a mounted backup).
    let authority = if repair { ctx.authority()? } else { ctx.read_only_authority()? };
    // Encrypted CA keys are opened only when a passphrase is at hand without a prompt.
    let unlock_keys = ctx.passphrase.file.is_some()
        || std::env::var_os(ctx.passphrase.env_var).is_some_and(|v| !v.is_empty());
    let request = CheckRequest { scan: scan.to_vec(), unlock_keys };
    let report = if repair { authority.repair(&request)? } else { authority.check(&request)? };
    render(ctx, &report);
    Ok(if report.is_ok() { Outcome::Success } else { Outcome::Negative })
}

/// The finding with what to type next, in the CLI's words.
fn line(finding: &Finding) -> String {
    let hint = match finding {
        Finding::HomeMode { path, .. } => format!("; run `chmod 700 {}`", path.display()),
        Finding::KeyExposed { path, .. } => format!(" (`chmod 600 {}`)", path.display()),
        Finding::KeyNotChecked { .. } => {
            "; give --passphrase-file (or PKICTL_PASSPHRASE) to compare it".into()
        }
        Finding::FileDiffers { .. } => "; `pkictl doctor --repair` rewrites it".into(),
        Finding::CrlExpired { ca, ca_can_sign: true, .. } | Finding::CrlFromFuture { ca, .. } => {
            format!(" (`pkictl crl --ca \"{ca}\"`)")
        }
        Finding::InterruptedWrite { .. } => "; `pkictl doctor --repair` removes it".into(),
        Finding::ChainBroken { .. } | Finding::Unexplained { .. } | Finding::MoreUnexplained { .. } => {
            "; the ledger was changed outside pkictl: restore it from a backup".into()
        }
        _ => String::new(),
    };
    crate::error::one_line(&format!("{finding}{hint}"))
}

fn render(ctx: &Context, report: &Report) {
    let (repaired, rest): (Vec<&Finding>, Vec<&Finding>) =
        report.findings.iter().partition(|f| f.is_repair());
    let warnings: Vec<String> =
        rest.iter().filter(|f| f.severity() == Severity::Warning).map(|f| line(f)).collect();
    let problems: Vec<String> =
        rest.iter().filter(|f| f.severity() == Severity::Problem).map(|f| line(f)).collect();
    let repaired: Vec<String> = repaired.iter().map(|f| line(f)).collect();
    if ctx.json {
        print_json(&json!({
            "ok": problems.is_empty(),
            "authorities": report.authorities,
            "certificates": report.certificates,
            "chain": {
                "head": report.chain.head,
                "events": report.chain.events,
                "legacy_events": report.chain.legacy_events,
            },
            "problems": problems,
            "warnings": warnings,
            "repaired": repaired,
            "stale_crl_files": report.findings.iter().filter(|f| matches!(f, Finding::FileDiffers { file: HomeFile::CrlDer | HomeFile::CrlPem, .. })).count(),
        }));
        return;
    }
    for text in &repaired {
        outln!("repaired: {text}");
    }
    for text in &warnings {
        outln!("warning:  {text}");
    }
    for text in &problems {
        outln!("PROBLEM:  {text}");
    }
    outln!(
        "audit chain: {} events, head {} (record it elsewhere: a rewritten chain has another head)",
        report.chain.events,
        report.chain.head
    );
    outln!(
        "{}: {} CAs and {} certificates checked, {} problem(s), {} warning(s)",
        if problems.is_empty() { "ok" } else { "NOT OK" },
        report.authorities,
        report.certificates,
        problems.len(),
        warnings.len()
    );
}
