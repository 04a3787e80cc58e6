//! CRLs: sign a CA's next CRL in one ledger transaction (number, entries and record
//! together), then publish it under the home.

use std::path::PathBuf;

use serde_json::json;

use super::{Authority, Warning, check_ca_usable};
use crate::engine::crl::{CrlRequest as EngineCrlRequest, EntrySource, RevokedEntry, build_crl};
use crate::engine::serial::Serial;
use crate::engine::{self, EngineError, SigningCa, format_time};
use crate::error::{CaAction, Error, Result};
use crate::home::{self, Home, PUBLIC_MODE};
use crate::ledger::{CaRecord, Event, EventKind, Ledger, LedgerError, LedgerTx, NewCrl};

/// A request to sign a CA's next CRL.
#[derive(Debug, Clone, Default)]
pub struct CrlRequest {
    /// The CA; the default issuing CA when None.
    pub ca: Option<String>,
    /// How long it stays valid; the CA's own setting when None.
    pub next_update: Option<time::Duration>,
}

/// A CRL that was signed, recorded and written.
pub struct PublishedCrl {
    /// The CA that signed it.
    pub issuer: CaRecord,
    /// cRLNumber.
    pub number: i64,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: i64,
    /// How many certificates it lists.
    pub entries: usize,
    /// The signed CRL.
    pub der: Vec<u8>,
    /// `<home>/crl/<slug>.crl.pem`
    pub pem_path: PathBuf,
    /// `<home>/crl/<slug>.crl.der`
    pub der_path: PathBuf,
    /// What the caller should hear about.
    pub warnings: Vec<Warning>,
}

impl Authority {
    /// Signs, records and publishes the next CRL of a CA.
    pub fn publish_crl(&mut self, request: &CrlRequest) -> Result<PublishedCrl> {
        let ca = self.find_ca(request.ca.as_deref())?;
        let signing_ca = self.signing_ca(&ca)?;
        self.publish_with(&ca, &signing_ca, request.next_update)
    }

    /// Signs the CA's next CRL in one ledger transaction, then writes
    /// `<home>/crl/<slug>.crl.pem` and `.der`.
    pub(super) fn publish_with(
        &mut self,
        authority: &CaRecord,
        ca: &SigningCa,
        next_update: Option<time::Duration>,
    ) -> Result<PublishedCrl> {
        let now = engine::now();
        check_ca_usable(authority, now.unix_timestamp(), CaAction::SignCrl)?;
        let validity = next_update.unwrap_or(time::Duration::seconds(authority.crl_validity_secs));
        let mut warnings = Vec::new();
        let mut next = now + validity;
        if next.unix_timestamp() > authority.not_after {
            next = time::OffsetDateTime::from_unix_timestamp(authority.not_after)
                .map_err(|e| Error::Internal(e.to_string()))?;
            warnings.push(Warning::NextUpdateShortened {
                until: authority.not_after,
                ca: authority.name.clone(),
            });
        }
        let (number, entries, der) = self.ledger.write(|tx| {
            let number = tx.allocate_crl_number(authority.id)?;
            let request = EngineCrlRequest { number: number as u64, this_update: now, next_update: next };
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
            tx.record_event(&Event {
                at: now.unix_timestamp(),
                kind: EventKind::CrlPublish,
                target: &authority.name,
                detail: json!({ "number": number, "entries": crl.entries, "next_update": format_time(next.unix_timestamp()) }),
            })?;
            Ok((number, crl.entries as usize, crl.der))
        })?;
        let (pem_path, der_path) =
            write_latest_crl(&self.home, self.ledger.as_ref(), authority, (number, &der))?;
        Ok(PublishedCrl {
            issuer: authority.clone(),
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
}

/// The revoked certificates of one CA, read from the ledger inside the CRL's transaction.
struct LedgerEntries<'a> {
    tx: &'a dyn LedgerTx,
    issuer_id: i64,
    now: i64,
}

impl EntrySource for LedgerEntries<'_> {
    fn for_each(
        &mut self,
        emit: &mut dyn FnMut(&RevokedEntry<'_>) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        let mut bytes = [0u8; 20];
        let mut failure = None;
        let visited =
            self.tx.for_each_revoked(self.issuer_id, self.now, &mut |serial, revoked_at, reason| {
                let Some(serial) = Serial::decode_ledger_hex(serial, &mut bytes) else {
                    return Err(LedgerError::Aborted(format!(
                        "the ledger holds a malformed serial \"{serial}\""
                    )));
                };
                emit(&RevokedEntry { serial, revoked_at, reason }).map_err(|e| {
                    let message = e.to_string();
                    failure = Some(e);
                    LedgerError::Aborted(message)
                })
            });
        match (visited, failure) {
            (Ok(()), _) => Ok(()),
            (Err(_), Some(e)) => Err(e),
            (Err(e), None) => Err(EngineError::Sign(e.to_string())),
        }
    }
}

/// PEM ("X509 CRL") of a DER CRL.
pub fn crl_pem(der: &[u8]) -> String {
    let mut pem = Vec::with_capacity(der.len() * 4 / 3 + 64);
    // Writing into a Vec cannot fail.
    let _ = write_crl_pem(der, &mut pem);
    String::from_utf8_lossy(&pem).into_owned()
}

/// PEM ("X509 CRL", 64-character lines) written out as it is encoded.
pub fn write_crl_pem(der: &[u8], out: &mut dyn std::io::Write) -> std::io::Result<()> {
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

/// Writes the CA's newest CRL *from the ledger* into the home, under an exclusive lock: two
/// publishers that commit #29 and #30 may reach this point in either order, and the files
/// must end up holding #30 whatever that order.
fn write_latest_crl(
    home: &Home,
    ledger: &dyn Ledger,
    authority: &CaRecord,
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
