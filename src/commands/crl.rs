//! `pkictl crl`: sign a fresh CRL for a CA, record it, and publish it under the home.

use std::path::PathBuf;

use serde_json::json;

use super::{Context, check_ca_usable, find_authority, load_signing_ca, print_json};
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
    if let Some(out) = args.out {
        home::check_output_file(out)?;
    }
    let (home, mut ledger) = ctx.open()?;
    let authority = find_authority(&ledger, args.ca)?;
    let signing_ca = load_signing_ca(ctx, &home, &ledger, &authority)?;
    let published = publish(&home, &mut ledger, &authority, &signing_ca, next_update)?;
    if let Some(out) = args.out {
        if args.der {
            home::write_atomic(out, &published.der, PUBLIC_MODE)?;
        } else {
            home::write_atomic_streamed(out, PUBLIC_MODE, |w| write_crl_pem(&published.der, w))?;
        }
    }
    for warning in &published.warnings {
        eprintln!("warning: {}", crate::error::one_line(warning));
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
    let mut pem = Vec::with_capacity(der.len() * 4 / 3 + 64);
    // Writing into a Vec cannot fail.
    let _ = write_crl_pem(der, &mut pem);
    String::from_utf8_lossy(&pem).into_owned()
}

/// PEM ("X509 CRL", 64-character lines) written out as it is encoded.
fn write_crl_pem(der: &[u8], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use base64ct::{Base64, Encoding};
    out.write_all(b"-----BEGIN X509 CRL-----\n")?;
    let mut line = [0u8; 64];
    for chunk in der.chunks(48) {
        let encoded = Base64::encode(chunk, &mut line).map_err(|e| std::io::Error::other(e.to_string()))?;
        out.write_all(encoded.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.write_all(b"-----END X509 CRL-----\n")
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
    check_ca_usable(authority, now.unix_timestamp(), "sign CRLs")?;
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
    let (pem_path, der_path) = write_latest_crl(home, ledger, authority, (number, &der))?;
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
        emit: &mut dyn FnMut(&RevokedEntry<'_>) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        let mut bytes = [0u8; 20];
        self.tx.for_each_revoked(
            self.issuer_id,
            self.now,
            |serial, revoked_at, reason| {
                let serial = Serial::decode_ledger_hex(serial, &mut bytes).ok_or_else(|| {
                    EngineError::Sign(format!("the ledger holds a malformed serial \"{serial}\""))
                })?;
                let reason = reason.parse().unwrap_or(Reason::Unspecified);
                emit(&RevokedEntry { serial, revoked_at, reason })
            },
            |e| EngineError::Sign(e.to_string()),
        )
    }
}

/// Writes the CA's newest CRL *from the ledger* into the home, under an exclusive lock: two
/// publishers that commit #29 and #30 may reach this point in either order, and the files
/// must end up holding #30 whatever that order.
fn write_latest_crl(
    home: &Home,
    ledger: &Ledger,
    authority: &Authority,
    ours: (i64, &[u8]),
) -> Result<(PathBuf, PathBuf)> {
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
    // Ours is usually still the newest; only when another publisher overtook us is the
    // newest read back (so a large CRL is not held twice).
    let newer;
    let latest: &[u8] = if ledger.latest_crl_number(authority.id)? == Some(ours.0) {
        ours.1
    } else {
        newer = ledger.latest_crl_der(authority.id)?.ok_or_else(|| {
            Error::Internal(format!("the CRL of {} just recorded is missing", authority.name))
        })?;
        &newer
    };
    home::write_atomic(&der_path, latest, PUBLIC_MODE)?;
    home::write_atomic_streamed(&pem_path, PUBLIC_MODE, |out| write_crl_pem(latest, out))?;
    drop(lock);
    Ok((pem_path, der_path))
}
