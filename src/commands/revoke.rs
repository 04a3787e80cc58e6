//! `pkictl revoke SERIAL --reason R`: record the revocation, then refresh the issuer's CRL.

use serde_json::json;

use super::crl::{Published, check_can_sign, publish, published_json, summary};
use super::{Context, CertRef, find_authority, load_signing_ca, parse_cert_ref, print_json};
use crate::engine::crl::Reason;
use crate::engine::{self, format_time};
use crate::error::{Error, Result};
use crate::home::Home;
use crate::ledger::{Authority, CertSelector, CertificateRecord, Ledger};

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
        println!("Revoked {} ({}) as {}", display_serial(&target), target.subject, reason);
        println!("{}", summary(&revoked.issuer, &revoked.crl));
    }
    Ok(0)
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
    let issuer = ledger
        .authority_by_id(target.issuer_id)?
        .ok_or_else(|| Error::Internal(format!("the issuer of {} is missing from the ledger", display_serial(target))))?;
    let now = engine::now().unix_timestamp();
    // Refuse before changing anything when no fresh CRL could follow the revocation.
    check_can_sign(&issuer, now).map_err(|_| {
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
        eprintln!("warning: {warning}");
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
