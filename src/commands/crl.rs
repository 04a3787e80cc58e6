//! `pkictl crl`: sign a fresh CRL for a CA, record it, and publish it under the home.

use std::path::PathBuf;

use serde_json::json;

use super::{Context, find_authority, load_signing_ca, print_json};
use crate::duration::parse_duration;
use crate::engine::crl::{CrlRequest, EntrySource, Reason, RevokedEntry, build_crl};
use crate::engine::serial::Serial;
use crate::engine::{self, EngineError, SigningCa, format_time};
use crate::error::{Error, Result};
use crate::home::{self, Home, PUBLIC_MODE};
use crate::ledger::{Authority, Ledger, LedgerError, NewCrl, Tx};

pub struct CrlArgs<'a> {
    pub ca: Option<&'a str>,
    pub out: Option<&'a PathBuf>,
    pub der: bool,
    pub next_update: Option<&'a str>,
}

/// A CRL that was signed, recorded and written.
pub struct Published {
    pub number: i64,
    pub this_update: i64,
    pub next_update: i64,
    pub entries: usize,
    pub der: Vec<u8>,
    pub pem_path: PathBuf,
    pub der_path: PathBuf,
    pub warnings: Vec<String>,
}

pub fn run(ctx: &Context, args: &CrlArgs<'_>) -> Result<i32> {
    if args.der && args.out.is_none() {
        return Err(Error::usage("--der writes binary: give --out FILE as well"));
    }
    let next_update = args
        .next_update
        .map(|d| parse_duration(d).map_err(|e| Error::usage(format!("--next-update: {e}"))))
        .transpose()?;
    let (home, mut ledger) = ctx.open()?;
    let authority = find_authority(&ledger, args.ca)?;
    let signing_ca = load_signing_ca(ctx, &home, &ledger, &authority)?;
    let published = publish(&home, &mut ledger, &authority, &signing_ca, next_update)?;
    if let Some(out) = args.out {
        let bytes = if args.der { published.der.clone() } else { crl_pem(&published.der).into_bytes() };
        home::write_atomic(out, &bytes, PUBLIC_MODE)?;
    }
    for warning in &published.warnings {
        eprintln!("warning: {warning}");
    }
    if ctx.json {
        print_json(&published_json(&authority, &published, args.out));
    } else if args.out.is_none() {
        out!("{}", crl_pem(&published.der));
    } else {
        eprintln!("{}", summary(&authority, &published));
    }
    Ok(0)
}

pub fn summary(authority: &Authority, p: &Published) -> String {
    format!(
        "CRL #{} of {}: {} entries, next update {}; written to {}",
        p.number,
        authority.name,
        p.entries,
        format_time(p.next_update),
        p.pem_path.display()
    )
}

pub fn published_json(authority: &Authority, p: &Published, out: Option<&PathBuf>) -> serde_json::Value {
    json!({
        "ca": authority.name,
        "number": p.number,
        "this_update": format_time(p.this_update),
        "next_update": format_time(p.next_update),
        "entries": p.entries,
        "files": { "pem": p.pem_path, "der": p.der_path, "out": out },
    })
}

pub fn crl_pem(der: &[u8]) -> String {
    der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, der).unwrap_or_default()
}

/// Signs the CA's next CRL in one ledger transaction (number, entries and record together),
/// then writes `<home>/crl/<slug>.crl.pem` and `.der`.
pub fn publish(
    home: &Home,
    ledger: &mut Ledger,
    authority: &Authority,
    ca: &SigningCa,
    next_update: Option<time::Duration>,
) -> Result<Published> {
    let now = engine::now();
    check_can_sign(authority, now.unix_timestamp())?;
    let validity = next_update.unwrap_or(time::Duration::seconds(authority.crl_validity_secs));
    let mut warnings = Vec::new();
    let mut next = now + validity;
    if next.unix_timestamp() > authority.not_after {
        next = time::OffsetDateTime::from_unix_timestamp(authority.not_after)
            .map_err(|e| Error::Internal(e.to_string()))?;
        warnings.push(format!(
            "nextUpdate shortened to {}, when {}'s certificate expires",
            format_time(authority.not_after),
            authority.name
        ));
    }
    let (number, entries, der) = ledger.write(|tx| {
        let number = tx.allocate_crl_number(authority.id)?;
        let request = CrlRequest { number: number as u64, this_update: now, next_update: next };
        let mut source = LedgerEntries { tx, issuer_id: authority.id, now: now.unix_timestamp() };
        let crl = build_crl(&request, ca, &mut source).map_err(|e| LedgerError::Aborted(e.to_string()))?;
        tx.insert_crl(&NewCrl {
            issuer_id: authority.id,
            number,
            this_update: now.unix_timestamp(),
            next_update: next.unix_timestamp(),
            entries: crl.entries as i64,
            der: &crl.der,
        })?;
        tx.record_event(
            now.unix_timestamp(),
            "crl.publish",
            &authority.name,
            &json!({ "number": number, "entries": crl.entries, "next_update": format_time(next.unix_timestamp()) }),
        )?;
        Ok((number, crl.entries as usize, crl.der))
    })?;
    let (pem_path, der_path) = write_latest_crl(home, ledger, authority)?;
    Ok(Published {
        number,
        this_update: now.unix_timestamp(),
        next_update: next.unix_timestamp(),
        entries,
        der,
        pem_path,
        der_path,
        warnings,
    })
}

/// The revoked certificates of one CA, read from the ledger inside the CRL's transaction.
struct LedgerEntries<'a, 'b> {
    tx: &'a Tx<'b>,
    issuer_id: i64,
    now: i64,
}

impl EntrySource for LedgerEntries<'_, '_> {
    fn for_each(
        &mut self,
        emit: &mut dyn FnMut(&RevokedEntry) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        self.tx.for_each_revoked(
            self.issuer_id,
            self.now,
            |serial, revoked_at, reason| {
                let serial = Serial::from_ledger_hex(serial).ok_or_else(|| {
                    EngineError::Sign(format!("the ledger holds a malformed serial \"{serial}\""))
                })?;
                emit(&RevokedEntry {
                    serial,
                    revoked_at,
                    reason: reason.parse().unwrap_or(Reason::Unspecified),
                })
            },
            |e| EngineError::Sign(e.to_string()),
        )
    }
}

/// Writes the CA's newest CRL *from the ledger* into the home, under an exclusive lock: two
/// publishers that commit #29 and #30 may reach this point in either order, and the files
/// must end up holding #30 whatever that order.
fn write_latest_crl(home: &Home, ledger: &Ledger, authority: &Authority) -> Result<(PathBuf, PathBuf)> {
    let pem_path = home.crl_path(&authority.slug, false);
    let der_path = home.crl_path(&authority.slug, true);
    let dir = pem_path.parent().unwrap_or(home.root()).to_path_buf();
    home::create_private_dir(&dir)?;
    let lock_path = dir.join(".publish.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| Error::Write { path: lock_path.clone(), source })?;
    lock.lock().map_err(|source| Error::Write { path: lock_path.clone(), source })?;
    let latest = ledger
        .latest_crl_der(authority.id)?
        .ok_or_else(|| Error::Internal(format!("the CRL of {} just recorded is missing", authority.name)))?;
    home::write_atomic(&der_path, &latest, PUBLIC_MODE)?;
    home::write_atomic(&pem_path, crl_pem(&latest).as_bytes(), PUBLIC_MODE)?;
    drop(lock);
    Ok((pem_path, der_path))
}

/// A revoked or expired CA's CRLs would not be trusted; refuse rather than mislead.
pub fn check_can_sign(authority: &Authority, now: i64) -> Result<()> {
    if authority.status == "revoked" {
        return Err(Error::usage(format!("CA {} is revoked and cannot sign CRLs", authority.name)));
    }
    if authority.not_after <= now {
        return Err(Error::usage(format!(
            "CA {} expired {} and cannot sign CRLs",
            authority.name,
            format_time(authority.not_after)
        )));
    }
    Ok(())
}
