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
use crate::ledger::chain::EntrySet;
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

/// Why a CRL was not signed: the ledger's rows disagree with its audit chain, and signing
/// would publish what the chain says never happened (a revocation undone, a number reused).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrlRefusal {
    /// The audit chain is broken at this event: what it says cannot be trusted.
    ChainBroken {
        /// The first event that does not hold.
        event_id: i64,
        /// What is wrong there.
        problem: String,
    },
    /// The CRL counter would give a number the chain already used.
    NumberReused {
        /// The number the counter gave.
        number: i64,
        /// The newest number the chain records.
        chain_last: i64,
    },
    /// The revoked certificates in the ledger are not those the chain records.
    EntriesDiffer {
        /// Entries the ledger's rows would give.
        ledger: i64,
        /// Entries the chain says the CRL must list.
        chain: i64,
    },
}

impl std::fmt::Display for CrlRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CrlRefusal::ChainBroken { event_id, problem } => {
                write!(f, "the audit chain is broken at event #{event_id}: {problem}")
            }
            CrlRefusal::NumberReused { number, chain_last } => write!(
                f,
                "its CRL counter gives #{number}, but the audit chain already records CRL #{chain_last} (the counter or the CRLs were rolled back)"
            ),
            CrlRefusal::EntriesDiffer { ledger, chain } if ledger < chain => write!(
                f,
                "the ledger lists {ledger} revoked certificates where the audit chain records {chain} (a revocation was undone by hand)"
            ),
            CrlRefusal::EntriesDiffer { ledger, chain } => write!(
                f,
                "the revoked certificates in the ledger ({ledger}) are not those the audit chain records ({chain})"
            ),
        }
    }
}

/// When a CRL is signed and until when it is valid.
#[derive(Clone)]
pub(super) struct CrlPlan {
    now: time::OffsetDateTime,
    next: time::OffsetDateTime,
    warnings: Vec<Warning>,
}

/// A CRL signed and recorded inside a ledger transaction; its files are written after commit.
pub(super) struct SignedCrl {
    number: i64,
    this_update: i64,
    next_update: i64,
    entries: usize,
    der: Vec<u8>,
    warnings: Vec<Warning>,
}

impl Authority {
    /// Signs, records and publishes the next CRL of a CA.
    pub fn publish_crl(&mut self, request: &CrlRequest) -> Result<PublishedCrl> {
        let ca = self.find_ca(request.ca.as_deref())?;
        let signing_ca = self.signing_ca(&ca)?;
        let plan = plan_crl(&ca, request.next_update)?;
        let mut refused = None;
        let signed = self
            .ledger
            .write(|tx| sign_crl_in(tx, &ca, &signing_ca, plan.clone(), &mut refused))
            .map_err(|e| refused.take().unwrap_or_else(|| e.into()))?;
        self.publish_files(&ca, signed, &[])
    }

    /// Writes the newest CRL of the ledger to `<home>/crl/<slug>.crl.pem` and `.der` after the
    /// commit. The CRL is already committed: a failure here says so, with what was revoked.
    pub(super) fn publish_files(
        &self,
        authority: &CaRecord,
        signed: SignedCrl,
        revoked: &[String],
    ) -> Result<PublishedCrl> {
        let (pem_path, der_path) =
            write_latest_crl(&self.home, self.ledger.as_ref(), authority, Some((signed.number, &signed.der)))
                .map_err(|source| Error::CrlNotPublished {
                    ca: authority.name.clone(),
                    number: signed.number,
                    revoked: revoked.to_vec(),
                    source: Box::new(source),
                })?;
        Ok(PublishedCrl {
            issuer: authority.clone(),
            number: signed.number,
            this_update: signed.this_update,
            next_update: signed.next_update,
            entries: signed.entries,
            der: signed.der,
            pem_path,
            der_path,
            warnings: signed.warnings,
        })
    }

    /// Rewrites a CA's CRL files from the ledger's newest CRL, under the publish lock (so a
    /// concurrent publisher's newer CRL is never replaced by an older one).
    pub fn republish_crl(&self, authority: &CaRecord) -> Result<(PathBuf, PathBuf)> {
        write_latest_crl(&self.home, self.ledger.as_ref(), authority, None)
    }
}

/// thisUpdate = now and nextUpdate, never past the CA's own notAfter; refuses a CA that
/// cannot sign.
pub(super) fn plan_crl(authority: &CaRecord, next_update: Option<time::Duration>) -> Result<CrlPlan> {
    let now = engine::now();
    check_ca_usable(authority, now.unix_timestamp(), CaAction::SignCrl)?;
    let validity = next_update.unwrap_or(time::Duration::seconds(authority.crl_validity_secs));
    let mut warnings = Vec::new();
    let mut next = now + validity;
    if next.unix_timestamp() > authority.not_after {
        next = time::OffsetDateTime::from_unix_timestamp(authority.not_after)
            .map_err(|e| Error::Internal(e.to_string()))?;
        warnings
            .push(Warning::NextUpdateShortened { until: authority.not_after, ca: authority.name.clone() });
    }
    Ok(CrlPlan { now, next, warnings })
}

/// Signs the CA's next CRL in the caller's transaction (number, entries, record and event
/// together), after checking the ledger against its audit chain: a CRL never lists fewer
/// revocations, or carries a lower number, than the chain records. A refusal is left in
/// `refused` and aborts the transaction.
pub(super) fn sign_crl_in(
    tx: &dyn LedgerTx,
    authority: &CaRecord,
    ca: &SigningCa,
    plan: CrlPlan,
    refused: &mut Option<Error>,
) -> std::result::Result<SignedCrl, LedgerError> {
    let CrlPlan { now, next, warnings } = plan;
    let number = tx.allocate_crl_number(authority.id)?;
    let revoked = match check_against_chain(tx, authority, number)? {
        Ok(revoked) => revoked,
        Err(refusal) => {
            let message = refusal.to_string();
            *refused = Some(Error::CrlRefused { ca: authority.name.clone(), refusal });
            return Err(LedgerError::Aborted(message));
        }
    };
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
        revoked,
    })?;
    tx.record_event(&Event {
        at: now.unix_timestamp(),
        kind: EventKind::CrlPublish,
        target: &authority.name,
        detail: json!({ "number": number, "entries": crl.entries, "next_update": format_time(next.unix_timestamp()) }),
    })?;
    Ok(SignedCrl {
        number,
        this_update: now.unix_timestamp(),
        next_update: next.unix_timestamp(),
        entries: crl.entries as usize,
        der: crl.der,
        warnings,
    })
}

/// The chain must be intact (from the CA's newest CRL on), must not know this CRL number
/// already, and must record exactly the revocations of the CA that the ledger's rows hold
/// (expired certificates included). The outer error is the ledger's own failure, the inner one
/// a refusal; on success, the revocations, for the new CRL's checkpoint.
fn check_against_chain(
    tx: &dyn LedgerTx,
    authority: &CaRecord,
    number: i64,
) -> std::result::Result<std::result::Result<EntrySet, CrlRefusal>, LedgerError> {
    let chain = crate::ledger::crl_expectation(tx, authority.id, &authority.name)?;
    if let Some(b) = chain.links.broken {
        return Ok(Err(CrlRefusal::ChainBroken { event_id: b.event_id, problem: b.problem }));
    }
    if let Some(chain_last) = chain.last_number.filter(|last| number <= *last) {
        return Ok(Err(CrlRefusal::NumberReused { number, chain_last }));
    }
    let mut ledger = EntrySet::default();
    tx.for_each_revoked(authority.id, i64::MIN, &mut |serial, at, reason| {
        ledger.add(serial, at, reason.as_str());
        Ok(())
    })?;
    if ledger != chain.entries {
        return Ok(Err(CrlRefusal::EntriesDiffer { ledger: ledger.count, chain: chain.entries.count }));
    }
    Ok(Ok(ledger))
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
/// must end up holding #30 whatever that order. `ours` is the CRL the caller just committed,
/// used when it is still the newest (so a large CRL is not read back).
fn write_latest_crl(
    home: &Home,
    ledger: &dyn Ledger,
    authority: &CaRecord,
    ours: Option<(i64, &[u8])>,
) -> Result<(PathBuf, PathBuf)> {
    let pem_path = home.crl_path(&authority.slug, false);
    let der_path = home.crl_path(&authority.slug, true);
    let _lock = home::PublishLock::acquire(home)?;
    let newer;
    let latest: &[u8] = match ours {
        Some((number, der)) if ledger.latest_crl_number(authority.id)? == Some(number) => der,
        _ => {
            newer = ledger
                .latest_crl_der(authority.id)?
                .ok_or_else(|| Error::Internal(format!("the ledger holds no CRL of {}", authority.name)))?;
            &newer
        }
    };
    home::write_atomic(&der_path, latest, PUBLIC_MODE)?;
    home::write_atomic_streamed(&pem_path, PUBLIC_MODE, |out| write_crl_pem(latest, out))?;
    Ok((pem_path, der_path))
}
