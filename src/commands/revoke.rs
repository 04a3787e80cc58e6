//! `pkictl revoke SERIAL --reason R`: record the revocation, then refresh the issuer's CRL.

use serde_json::json;

use super::crl::{Published, publish, published_json, summary};
use super::{
    CertRef, Context, check_ca_usable, find_authority, list_lines, load_signing_ca, parse_cert_ref,
    print_json, read_text_input,
};
use crate::engine::crl::Reason;
use crate::engine::{self, format_time};
use crate::error::{Error, Result};
use crate::home::Home;
use std::path::Path;

use crate::engine::SigningCa;
use crate::ledger::{Authority, CertSelector, CertificateRecord, Ledger, LedgerError};

pub fn run(ctx: &Context, serial: &str, reason: &str, ca: Option<&str>) -> Result<i32> {
    let reason: Reason = reason.parse().map_err(Error::Usage)?;
    let (home, mut ledger) = ctx.open()?;
    let issuer_filter = ca.map(|name| find_authority(&ledger, Some(name))).transpose()?;
    let target = find_target(&ledger, serial, issuer_filter.as_ref().map(|a| a.id))?;
    let revoked = revoke_and_publish(ctx, &home, &mut ledger, &target, reason)?;
    if ctx.json {
        print_json(&json!({
            "serial": display_serial(&target),
            "subject": target.subject,
            "ca": target.issuer_name,
            "reason": reason.as_str(),
            "revoked_at": format_time(revoked.at),
            "crl": published_json(&revoked.issuer, &revoked.crl, None),
        }));
    } else {
        outln!("Revoked {} ({}) as {}", display_serial(&target), target.subject, reason);
        outln!("{}", summary(&revoked.issuer, &revoked.crl));
    }
    Ok(0)
}

/// `revoke --from-file`: every listed certificate in one transaction (all or nothing unless
/// `--skip-unknown`), then one CRL per CA concerned.
pub fn run_many(
    ctx: &Context,
    source: &Path,
    reason: &str,
    ca: Option<&str>,
    skip_unknown: bool,
) -> Result<i32> {
    let reason: Reason = reason.parse().map_err(Error::Usage)?;
    let text = read_text_input(source)?;
    let (home, mut ledger) = ctx.open()?;
    let issuer_filter = ca.map(|name| find_authority(&ledger, Some(name))).transpose()?;
    let (targets, problems) = resolve_all(&ledger, &text, issuer_filter.as_ref().map(|a| a.id));
    if targets.is_empty() && problems.is_empty() {
        return Err(Error::usage(format!("{} lists no serial", source.display())));
    }
    if !problems.is_empty() && !skip_unknown {
        return Err(Error::usage(format!(
            "nothing was revoked: {} of the listed certificates cannot be revoked ({}); fix the list or pass --skip-unknown",
            problems.len(),
            summarize(&problems)
        )));
    }
    for problem in &problems {
        eprintln!("warning: skipped {}", crate::error::one_line(problem));
    }
    let mut issuers: Vec<Authority> = Vec::new();
    for target in &targets {
        if issuers.iter().all(|a| a.id != target.issuer_id) {
            let issuer = ledger
                .authority_by_id(target.issuer_id)?
                .ok_or_else(|| Error::Internal("an issuer is missing from the ledger".into()))?;
            issuers.push(issuer);
        }
    }
    let now = engine::now().unix_timestamp();
    for issuer in &issuers {
        check_ca_usable(issuer, now, "sign CRLs").map_err(|_| {
            Error::usage(format!(
                "nothing was revoked: CA {} is revoked or expired, so no fresh CRL could follow; leave its certificates out",
                issuer.name
            ))
        })?;
    }
    let signing: Vec<SigningCa> =
        issuers.iter().map(|issuer| load_signing_ca(ctx, &home, &ledger, issuer)).collect::<Result<_>>()?;
    ledger.write(|tx| {
        for target in &targets {
            if !tx.revoke_certificate(target.id, now, reason.as_str())? {
                return Err(LedgerError::Aborted(format!(
                    "nothing was revoked: certificate {} was revoked by another process just now",
                    display_serial(target)
                )));
            }
            tx.record_event(
                now,
                "certificate.revoke",
                &display_serial(target),
                &json!({ "ca": target.issuer_name, "subject": target.subject, "reason": reason.as_str(), "batch": true }),
            )?;
        }
        Ok(())
    })?;
    let mut crls = Vec::new();
    for (issuer, signing_ca) in issuers.iter().zip(&signing) {
        let crl = publish(&home, &mut ledger, issuer, signing_ca, None)?;
        for warning in &crl.warnings {
            eprintln!("warning: {}", crate::error::one_line(warning));
        }
        crls.push((issuer, crl));
    }
    if ctx.json {
        print_json(&json!({
            "revoked": targets.len(),
            "reason": reason.as_str(),
            "revoked_at": format_time(now),
            "skipped": problems,
            "crls": crls.iter().map(|(issuer, crl)| published_json(issuer, crl, None)).collect::<Vec<_>>(),
        }));
    } else {
        outln!("Revoked {} certificates as {reason}", targets.len());
        for (issuer, crl) in &crls {
            outln!("{}", summary(issuer, crl));
        }
    }
    Ok(0)
}

/// Each listed certificate, or why it cannot be revoked ("line 7: …"); duplicates count once.
fn resolve_all(ledger: &Ledger, text: &str, issuer_id: Option<i64>) -> (Vec<CertificateRecord>, Vec<String>) {
    let mut targets: Vec<CertificateRecord> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut problems = Vec::new();
    for (number, line) in list_lines(text) {
        match find_target(ledger, line, issuer_id).and_then(|t| check_revocable(&t).map(|()| t)) {
            Ok(target) => {
                if seen.insert(target.id) {
                    targets.push(target);
                }
            }
            Err(e) => problems.push(format!("line {number} ({line}): {}", usage_message(e))),
        }
    }
    (targets, problems)
}

fn usage_message(e: Error) -> String {
    match e {
        Error::Usage(m) => m,
        other => other.to_string(),
    }
}

/// The first few problems, and how many more.
fn summarize(problems: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = problems.iter().take(SHOWN).cloned().collect::<Vec<_>>().join("; ");
    if problems.len() > SHOWN {
        text.push_str(&format!("; and {} more", problems.len() - SHOWN));
    }
    text
}

/// A recorded revocation and the CRL published after it.
pub struct Revoked {
    pub at: i64,
    pub issuer: Authority,
    pub crl: Published,
}

/// Revokes `target` (one transaction with its audit event), then publishes the issuer's CRL.
/// The issuer's key is unlocked first: a wrong passphrase leaves no trace.
pub fn revoke_and_publish(
    ctx: &Context,
    home: &Home,
    ledger: &mut Ledger,
    target: &CertificateRecord,
    reason: Reason,
) -> Result<Revoked> {
    check_revocable(target)?;
    let issuer = ledger.authority_by_id(target.issuer_id)?.ok_or_else(|| {
        Error::Internal(format!("the issuer of {} is missing from the ledger", display_serial(target)))
    })?;
    let now = engine::now().unix_timestamp();
    // Refuse before changing anything when no fresh CRL could follow the revocation.
    check_ca_usable(&issuer, now, "sign CRLs").map_err(|_| {
        Error::usage(format!(
            "{} was issued by {}, which is revoked or expired: every certificate it issued is already invalid and it can sign no new CRL",
            display_serial(target),
            issuer.name
        ))
    })?;
    let signing_ca = load_signing_ca(ctx, home, ledger, &issuer)?;
    if target.not_after <= now {
        eprintln!(
            "warning: {} expired {}; it is recorded as revoked, but CRLs only list certificates that have not expired",
            display_serial(target),
            format_time(target.not_after)
        );
    }
    ledger.write(|tx| {
        if !tx.revoke_certificate(target.id, now, reason.as_str())? {
            return Err(crate::ledger::LedgerError::Aborted(format!(
                "certificate {} was revoked by another process just now",
                display_serial(target)
            )));
        }
        tx.record_event(
            now,
            "certificate.revoke",
            &display_serial(target),
            &json!({
                "ca": target.issuer_name,
                "subject": target.subject,
                "reason": reason.as_str(),
                "fingerprint_sha256": target.fingerprint_sha256,
            }),
        )
    })?;
    let crl = publish(home, ledger, &issuer, &signing_ca, None)?;
    for warning in &crl.warnings {
        eprintln!("warning: {}", crate::error::one_line(warning));
    }
    Ok(Revoked { at: now, issuer, crl })
}

fn display_serial(record: &CertificateRecord) -> String {
    crate::engine::serial::Serial::from_ledger_hex(&record.serial)
        .map(|s| s.hex())
        .unwrap_or_else(|| record.serial.clone())
}

/// The one certificate SERIAL (or a SHA-256 fingerprint) names; ambiguity is an error.
fn find_target(ledger: &Ledger, text: &str, issuer_id: Option<i64>) -> Result<CertificateRecord> {
    let selector = match parse_cert_ref(text)? {
        CertRef::Serial(s) => s,
        CertRef::Fingerprint(f) => f,
        CertRef::NameOnly => {
            return Err(Error::usage(format!(
                "\"{text}\" is not a serial number or SHA-256 fingerprint in hex; `pkictl list` shows serials"
            )));
        }
    };
    let selector_ref = if selector.len() == 64 {
        CertSelector::Fingerprint(&selector)
    } else {
        CertSelector::Serial(&selector)
    };
    let mut matches = ledger.find_certificates(selector_ref, issuer_id)?;
    match matches.len() {
        0 => Err(Error::usage(format!(
            "no certificate with serial or fingerprint {text} in this home{}; `pkictl list --status all` shows them",
            if issuer_id.is_some() { " from that CA" } else { "" }
        ))),
        1 => Ok(matches.remove(0)),
        _ => {
            let cas: Vec<String> = matches.iter().map(|m| format!("\"{}\"", m.issuer_name)).collect();
            Err(Error::usage(format!(
                "serial {text} was issued by more than one CA ({}); choose one with --ca",
                cas.join(", ")
            )))
        }
    }
}

fn check_revocable(target: &CertificateRecord) -> Result<()> {
    if target.status == "revoked" {
        return Err(Error::usage(format!(
            "certificate {} is already revoked ({} on {})",
            display_serial(target),
            target.revocation_reason.as_deref().unwrap_or("unspecified"),
            target.revoked_at.map(format_time).unwrap_or_default()
        )));
    }
    if target.profile == "root" {
        return Err(Error::usage(
            "a root CA cannot be revoked by a CRL it signs itself; remove it from every trust store instead",
        ));
    }
    Ok(())
}
