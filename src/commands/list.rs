//! `pkictl list`: query the ledger; with `--expiring-within`, a monitoring check that exits 1
//! when a certificate or a CRL is about to expire.

use serde_json::{Value, json};

use super::{Context, Outcome, print_json};
use crate::authority::{crl_attention_from, crl_needs_attention};
use crate::duration::{format_duration, parse_duration};
use crate::engine::profile::Profile;
use crate::engine::{self, format_time};
use crate::error::{Error, Result};
use crate::ledger::{CertFilter, CertStatus, CertificateRecord, CrlRecord, StatusFilter};

pub struct ListArgs<'a> {
    pub status: &'a str,
    pub expiring_within: Option<&'a str>,
    pub ca: Option<&'a str>,
    pub profile: Option<&'a str>,
    pub acme: Option<&'a str>,
}

pub fn run(ctx: &Context, args: &ListArgs<'_>) -> Result<Outcome> {
    let status = parse_status(args.status)?;
    let window = args
        .expiring_within
        .map(|w| parse_duration(w).map_err(|e| Error::invalid(format!("--expiring-within: {e}"))))
        .transpose()?;
    let profile = args
        .profile
        .map(|p| {
            p.parse::<Profile>().map_err(|e| {
                Error::invalid(format!(
                    "--profile: {e}; use root, intermediate, server, client, peer or ocsp-responder"
                ))
            })
        })
        .transpose()?;
    let (_, ledger) = ctx.open()?;
    let acme_ids = args.acme.map(|name| acme_certificates(ledger.as_ref(), name)).transpose()?;
    let issuer = args.ca.map(|name| crate::authority::find_ca_in(ledger.as_ref(), Some(name))).transpose()?;
    let now = engine::now().unix_timestamp();
    let expiring_before = window.map(|w| now + w.whole_seconds());
    let mut certificates = ledger.list_certificates(&CertFilter {
        status,
        expiring_before,
        issuer_id: issuer.as_ref().map(|a| a.id),
        profile,
        now,
    })?;
    // `serve` issues and renews its OCSP responder certificates itself, one per CA every few
    // days: they would crowd the listing and make every expiry check alarm. Shown on request.
    if profile.is_none() {
        certificates.retain(|c| c.profile != Profile::OcspResponder);
    }
    if let Some(ids) = &acme_ids {
        certificates.retain(|c| ids.binary_search(&c.id).is_ok());
    }
    // A CRL past its nextUpdate locks every client out, so the expiry report covers CRLs too.
    // A revoked CA's CRL cannot be refreshed and its certificates are invalid anyway.
    let revoked_cas: Vec<i64> =
        ledger.authorities()?.into_iter().filter(|a| a.status == CertStatus::Revoked).map(|a| a.id).collect();
    let window_seconds = window.map(|w| w.whole_seconds());
    let crls: Vec<CrlRecord> = match window_seconds {
        Some(w) => ledger
            .latest_crls()?
            .into_iter()
            .filter(|c| crl_needs_attention(c, now, w) && !revoked_cas.contains(&c.issuer_id))
            .filter(|c| issuer.as_ref().is_none_or(|a| a.id == c.issuer_id))
            .collect(),
        None => Vec::new(),
    };
    let rule =
        window.map(|w| Rule { window: format_duration(w), certificates_before: now + w.whole_seconds() });
    if ctx.json {
        let mut report = json!({
            "certificates": certificates.iter().map(|c| certificate_json(c, now)).collect::<Vec<_>>(),
            "crls": crls.iter().map(|c| crl_json(c, now, window_seconds.unwrap_or(0))).collect::<Vec<_>>(),
        });
        if let Some(rule) = &rule {
            report["rule"] = json!({ "certificates": rule.certificates(), "crls": rule.crls() });
        }
        print_json(&report);
    } else {
        print_table(&certificates, &crls, now, rule.as_ref(), window_seconds.unwrap_or(0));
    }
    let alert = expiring_before.is_some() && (!certificates.is_empty() || !crls.is_empty());
    Ok(if alert { Outcome::Negative } else { Outcome::Success })
}

/// The ids (sorted) of the certificates issued through a serving ACME provisioner.
fn acme_certificates(ledger: &dyn crate::ledger::Ledger, name: &str) -> Result<Vec<i64>> {
    let provisioner = ledger
        .acme_provisioner_by_name(name)?
        .ok_or_else(|| Error::UnknownAcmeProvisioner { name: name.to_string() })?;
    Ok(ledger.acme_certificates_of_provisioner(provisioner.id)?)
}

fn parse_status(text: &str) -> Result<StatusFilter> {
    match text {
        "valid" => Ok(StatusFilter::Valid),
        "revoked" => Ok(StatusFilter::Revoked),
        "expired" => Ok(StatusFilter::Expired),
        "all" => Ok(StatusFilter::All),
        other => Err(Error::invalid(format!(
            "--status \"{}\" is unknown; use valid, revoked, expired or all",
            crate::error::excerpt(other)
        ))),
    }
}

fn days_left(not_after: i64, now: i64) -> i64 {
    (not_after - now).div_euclid(86_400)
}

pub fn certificate_json(c: &CertificateRecord, now: i64) -> Value {
    json!({
        "serial": c.serial.hex(),
        "common_name": c.common_name,
        "subject": c.subject,
        "profile": c.profile.as_str(),
        "issuer": c.issuer_name,
        "sans": c.sans.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "key_type": c.key_type.as_str(),
        "not_before": format_time(c.not_before),
        "not_after": format_time(c.not_after),
        "days_left": days_left(c.not_after, now),
        "status": c.state_at(now).as_str(),
        "revoked_at": c.revoked_at.map(format_time),
        "revocation_reason": c.revocation_reason.map(|r| r.as_str()),
        "fingerprint_sha256": c.fingerprint_sha256,
    })
}

/// What `--expiring-within` reports, in words the report and README share.
struct Rule {
    window: String,
    certificates_before: i64,
}

impl Rule {
    fn certificates(&self) -> String {
        format!(
            "valid certificates whose notAfter is within {} (before {})",
            self.window,
            format_time(self.certificates_before)
        )
    }

    fn crls(&self) -> String {
        format!(
            "CRLs past half their lifetime, or with nextUpdate within {} when that is shorter",
            self.window
        )
    }
}

fn crl_json(c: &CrlRecord, now: i64, window: i64) -> Value {
    json!({
        "ca": c.issuer_name,
        "number": c.number,
        "this_update": format_time(c.this_update),
        "next_update": format_time(c.next_update),
        "attention_from": format_time(crl_attention_from(c, window)),
        "entries": c.entries,
        "status": if c.next_update <= now { "expired" } else { "expiring" },
    })
}

fn print_table(
    certificates: &[CertificateRecord],
    crls: &[CrlRecord],
    now: i64,
    rule: Option<&Rule>,
    window: i64,
) {
    if let Some(rule) = rule {
        outln!("Reported: {}; {}.", rule.certificates(), rule.crls());
    }
    if certificates.is_empty() && crls.is_empty() {
        match rule {
            Some(rule) => outln!(
                "Nothing needs attention: no valid certificate expires within {}, and no CRL is due for re-publication.",
                rule.window
            ),
            None => outln!("No certificates match."),
        }
        return;
    }
    outln!(
        "{:<32}  {:<30}  {:<12}  {:<20}  {:<8}  {:>9}",
        "SERIAL",
        "NAME",
        "PROFILE",
        "NOT AFTER",
        "STATUS",
        "DAYS LEFT"
    );
    for c in certificates {
        outln!(
            "{:<32}  {:<30}  {:<12}  {:<20}  {:<8}  {:>9}",
            c.serial.hex(),
            c.common_name.as_deref().unwrap_or("-"),
            c.profile.as_str(),
            format_time(c.not_after),
            c.state_at(now).as_str(),
            days_left(c.not_after, now)
        );
    }
    for c in crls {
        let (state, since) = if c.next_update <= now {
            ("EXPIRED", c.next_update)
        } else {
            ("due for re-publication", crl_attention_from(c, window))
        };
        outln!(
            "CRL #{} of {}: nextUpdate {} ({state} since {}); run `pkictl crl --ca \"{}\"`",
            c.number,
            c.issuer_name,
            format_time(c.next_update),
            format_time(since),
            c.issuer_name
        );
    }
}
