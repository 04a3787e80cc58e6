//! `pkictl crl`: sign a fresh CRL for a CA, record it, publish it under the home, and print
//! or write it.

use std::path::PathBuf;

use serde_json::json;

use super::{Context, Outcome, print_json};
use crate::authority::{CrlRequest, PublishedCrl, crl_pem, write_crl_pem};
use crate::duration::parse_duration;
use crate::engine::format_time;
use crate::error::{Error, Result};
use crate::home::{self, PUBLIC_MODE};

pub struct CrlArgs<'a> {
    pub ca: Option<&'a str>,
    pub out: Option<&'a PathBuf>,
    pub der: bool,
    pub next_update: Option<&'a str>,
}

pub fn run(ctx: &Context, args: &CrlArgs<'_>) -> Result<Outcome> {
    if args.der && args.out.is_none() {
        return Err(Error::invalid("--der writes binary: give --out FILE as well"));
    }
    let next_update = args
        .next_update
        .map(|d| parse_duration(d).map_err(|e| Error::invalid(format!("--next-update: {e}"))))
        .transpose()?;
    let mut authority = ctx.authority()?;
    if let Some(out) = args.out {
        home::check_output_file(out)?;
        authority.home().refuse_inside(out)?;
    }
    let request = CrlRequest { ca: args.ca.map(str::to_string), next_update };
    let published = authority.publish_crl(&request)?;
    if let Some(out) = args.out {
        if args.der {
            home::write_atomic(out, &published.der, PUBLIC_MODE)?;
        } else {
            home::write_atomic_streamed(out, PUBLIC_MODE, |w| write_crl_pem(&published.der, w))?;
        }
    }
    super::revoke::print_warnings(&[], &published.warnings);
    if ctx.json {
        print_json(&published_json(&published, args.out));
    } else {
        if args.out.is_none() {
            out!("{}", crl_pem(&published.der));
        }
        eprintln!("{}", summary_with_copy(&published, args.out));
    }
    Ok(Outcome::Success)
}

/// One line about a published CRL: its number, entries and files.
pub fn summary(p: &PublishedCrl) -> String {
    summary_with_copy(p, None)
}

fn summary_with_copy(p: &PublishedCrl, out: Option<&PathBuf>) -> String {
    let also = out.map(|o| format!(" and {}", o.display())).unwrap_or_default();
    format!(
        "CRL #{} of {}: {}, next update {}; written to {} (and .crl.der){also}",
        p.number,
        p.issuer.name,
        entries_words(p.entries),
        format_time(p.next_update),
        p.pem_path.display()
    )
}

/// "no entries", "1 entry", "12 entries".
pub fn entries_words(count: usize) -> String {
    match count {
        0 => "no entries".into(),
        n => super::words::count(n, "entry", "entries"),
    }
}

pub fn published_json(p: &PublishedCrl, out: Option<&PathBuf>) -> serde_json::Value {
    json!({
        "ca": p.issuer.name,
        "number": p.number,
        "this_update": format_time(p.this_update),
        "next_update": format_time(p.next_update),
        "entries": p.entries,
        "files": { "pem": p.pem_path, "der": p.der_path, "out": out },
    })
}
