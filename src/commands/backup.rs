//! `pkictl backup DIR`: a complete, consistent copy of the home — the ledger through SQLite's
//! online backup (never a raw copy of a database that may be mid-transaction, with its WAL),
//! then the CA keys (kept 0600), the CA certificates and the CRL files.

use std::path::Path;

use serde_json::json;

use super::{Context, Outcome, print_json};
use crate::error::{Error, Result};
use crate::home::{self, Home, KEY_MODE, PUBLIC_MODE};
use crate::keys::FileKeyStore;

pub fn run(ctx: &Context, dest: &Path) -> Result<Outcome> {
    if !home::is_missing_or_empty(dest)? {
        return Err(Error::invalid(format!(
            "{} is not empty; back up into a new or empty directory",
            dest.display()
        )));
    }
    let (home, ledger) = ctx.open()?;
    if let crate::ledger::LedgerLocation::Postgres(_) = home.ledger_location()? {
        // The database is backed up with its own tools; the error says which.
        ledger.backup_to(dest)?;
    }
    home.refuse_inside(dest)?;
    let copy = Home::at(dest);
    home::create_private_dir(dest)?;
    copy.create_layout()?;
    ledger.backup_to(&copy.ledger_path())?;
    // The files are copied from what the copied ledger names, so both describe one moment.
    let copied = crate::ledger::open(&copy.ledger_path())?;
    let authorities = copied.authorities()?;
    let keys = FileKeyStore::new(home.root());
    for a in &authorities {
        let key = keys.read_raw(&a.key_file)?;
        home::write_atomic_new(&copy.resolve(&a.key_file), &key, KEY_MODE)?;
        let certificate = Home::ca_cert_relative(&a.slug);
        home::write_atomic_new(
            &copy.resolve(&certificate),
            crate::x509::certificate_pem(&a.cert_der).as_bytes(),
            PUBLIC_MODE,
        )?;
        if let Some(crl) = copied.latest_crl_der(a.id)? {
            home::write_atomic_new(&copy.crl_path(&a.slug, true), &crl, PUBLIC_MODE)?;
            home::write_atomic_new(
                &copy.crl_path(&a.slug, false),
                crate::authority::crl_pem(&crl).as_bytes(),
                PUBLIC_MODE,
            )?;
        }
    }
    let problems = copied.integrity_problems()?;
    if !problems.is_empty() {
        return Err(Error::Internal(format!(
            "the copied ledger fails its integrity check: {}",
            problems.join("; ")
        )));
    }
    let certificates = copied.certificate_count()?;
    if ctx.json {
        print_json(
            &json!({ "backup": dest, "authorities": authorities.len(), "certificates": certificates }),
        );
    } else {
        outln!(
            "Backed up {} to {}: {} CAs (keys included, still {}), {certificates} certificates",
            home.root().display(),
            dest.display(),
            authorities.len(),
            if authorities.iter().all(|a| a.key_encrypted) { "encrypted" } else { "as they were" }
        );
        outln!(
            "Restore by using {} as --home (check it first with `pkictl --home {} doctor`).",
            dest.display(),
            dest.display()
        );
    }
    Ok(Outcome::Success)
}
