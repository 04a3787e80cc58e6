//! The audit trail: hash-chained event rows (schema 3), and the raw rows the audit compares
//! with the chain.

use super::Cached;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, params};

use super::{Event, LedgerResult, SqliteLedger, Tx};
use crate::ledger::chain::{Change, GENESIS, LegacyDigest, StoredEvent, event_hash, sha256_hex};
use crate::ledger::{StoredAuthority, StoredCertificate, StoredCrl};

impl Tx<'_> {
    /// Records one change, with every state change the transaction made since the last event.
    pub(super) fn record_event(&self, event: &Event<'_>) -> LedgerResult<()> {
        let changes = std::mem::take(&mut *self.pending.borrow_mut());
        append(&self.tx, event.at, event.kind.as_str(), event.target, &event.detail.to_string(), &changes)
            .map_err(|e| self.err(e))
    }

    /// State changes no event took: recorded under a generic action, so the chain explains
    /// every row whatever the caller forgot.
    pub(super) fn flush_changes(&self) -> LedgerResult<()> {
        let changes = std::mem::take(&mut *self.pending.borrow_mut());
        if changes.is_empty() {
            return Ok(());
        }
        append(&self.tx, now(), "ledger.change", "", "{}", &changes).map_err(|e| self.err(e))
    }

    pub(super) fn scan_events(&self, visit: &mut dyn FnMut(&StoredEvent)) -> LedgerResult<()> {
        scan_events_from(&self.tx, i64::MIN, visit).map_err(|e| self.err(e))
    }

    pub(super) fn scan_events_from(
        &self,
        first_id: i64,
        visit: &mut dyn FnMut(&StoredEvent),
    ) -> LedgerResult<()> {
        scan_events_from(&self.tx, first_id, visit).map_err(|e| self.err(e))
    }

    pub(super) fn latest_event_id(&self, action: &str, target: &str) -> LedgerResult<Option<i64>> {
        self.tx
            .row(
                "SELECT max(id) FROM events WHERE action = ?1 AND target = ?2",
                params![action, target],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }
}

impl SqliteLedger {
    pub(super) fn scan_events(&self, visit: &mut dyn FnMut(&StoredEvent)) -> LedgerResult<()> {
        scan_events(&self.conn, visit).map_err(|e| self.err(e))
    }

    pub(super) fn scan_certificate_rows(
        &self,
        visit: &mut dyn FnMut(&StoredCertificate),
    ) -> LedgerResult<()> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, issuer_id, serial, fingerprint_sha256, der, status, revoked_at,
                        revocation_reason, not_after
                 FROM certificates ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let mut r = Loose::new(row);
            let id = r.int(0, "id");
            let record = StoredCertificate {
                id,
                issuer_id: r.int(1, "issuer_id"),
                serial: r.text(2, "serial"),
                fingerprint_sha256: r.text(3, "fingerprint_sha256"),
                der: r.blob(4, "der"),
                status: r.text(5, "status"),
                revoked_at: r.opt_int(6, "revoked_at"),
                revocation_reason: r.opt_text(7, "revocation_reason"),
                not_after: r.int(8, "not_after"),
                damaged: r.damage,
            };
            visit(&record);
        }
        Ok(())
    }

    pub(super) fn authority_rows(&self) -> LedgerResult<Vec<StoredAuthority>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, name, cert_der, crl_validity_secs, next_crl_number FROM authorities ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let mut r = Loose::new(row);
            out.push(StoredAuthority {
                id: r.int(0, "id"),
                name: r.text(1, "name"),
                cert_sha256: sha256_hex(&r.blob(2, "cert_der")),
                crl_validity_secs: r.int(3, "crl_validity_secs"),
                next_crl_number: r.int(4, "next_crl_number"),
                damaged: r.damage,
            });
        }
        Ok(out)
    }

    pub(super) fn crl_rows(&self) -> LedgerResult<Vec<StoredCrl>> {
        let mut stmt = self
            .conn
            .prepare("SELECT issuer_id, number, this_update, next_update, entries, der FROM crls ORDER BY id")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let mut r = Loose::new(row);
            let der = r.blob(5, "der");
            out.push(StoredCrl {
                issuer_id: r.int(0, "issuer_id"),
                number: r.int(1, "number"),
                this_update: r.int(2, "this_update"),
                next_update: r.int(3, "next_update"),
                entries: r.int(4, "entries"),
                der_sha256: if der.is_empty() { String::new() } else { sha256_hex(&der) },
                damaged: r.damage,
            });
        }
        Ok(out)
    }
}

/// A row read column by column without giving up on a value of the wrong type: the damage is
/// noted and the check goes on.
struct Loose<'r, 's> {
    row: &'r Row<'s>,
    damage: Vec<String>,
}

impl<'r, 's> Loose<'r, 's> {
    fn new(row: &'r Row<'s>) -> Self {
        Loose { row, damage: Vec::new() }
    }

    fn value(&mut self, index: usize, name: &str) -> Option<ValueRef<'r>> {
        match self.row.get_ref(index) {
            Ok(v) => Some(v),
            Err(e) => {
                self.damage.push(format!("{name} cannot be read ({e})"));
                None
            }
        }
    }

    fn wrong(&mut self, name: &str, v: ValueRef<'_>, wanted: &str) {
        self.damage.push(format!("{name} holds {} where {wanted} belongs", kind(v)));
    }

    fn opt_int(&mut self, index: usize, name: &str) -> Option<i64> {
        match self.value(index, name)? {
            ValueRef::Integer(i) => Some(i),
            ValueRef::Null => None,
            other => {
                self.wrong(name, other, "an integer");
                None
            }
        }
    }

    fn int(&mut self, index: usize, name: &str) -> i64 {
        match self.value(index, name) {
            Some(ValueRef::Integer(i)) => i,
            Some(other) => {
                self.wrong(name, other, "an integer");
                i64::MIN
            }
            None => i64::MIN,
        }
    }

    fn opt_text(&mut self, index: usize, name: &str) -> Option<String> {
        match self.value(index, name)? {
            ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Null => None,
            other => {
                self.wrong(name, other, "text");
                Some(String::new())
            }
        }
    }

    fn text(&mut self, index: usize, name: &str) -> String {
        match self.value(index, name) {
            Some(ValueRef::Text(t)) => String::from_utf8_lossy(t).into_owned(),
            Some(other) => {
                self.wrong(name, other, "text");
                String::new()
            }
            None => String::new(),
        }
    }

    fn blob(&mut self, index: usize, name: &str) -> Vec<u8> {
        match self.value(index, name) {
            Some(ValueRef::Blob(b)) => b.to_vec(),
            Some(other) => {
                self.wrong(name, other, "a blob");
                Vec::new()
            }
            None => Vec::new(),
        }
    }
}

fn kind(v: ValueRef<'_>) -> &'static str {
    match v {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real number",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    }
}

/// Any value as the text the hash covers (a damaged column then breaks the chain visibly).
fn as_text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(match std::str::from_utf8(t) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(t).into_owned(),
        }),
    }
}

fn as_int(v: ValueRef<'_>) -> i64 {
    match v {
        ValueRef::Integer(i) => i,
        _ => i64::MIN,
    }
}

fn scan_events(conn: &Connection, visit: &mut dyn FnMut(&StoredEvent)) -> rusqlite::Result<()> {
    scan_events_from(conn, i64::MIN, visit)
}

fn scan_events_from(
    conn: &Connection,
    first_id: i64,
    visit: &mut dyn FnMut(&StoredEvent),
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(
        "SELECT id, at, action, target, detail, changes, prev_hash, hash FROM events WHERE id >= ?1 ORDER BY id",
    )?;
    let mut rows = stmt.query([first_id])?;
    while let Some(row) = rows.next()? {
        let text = |i: usize| row.get_ref(i).map(as_text);
        let event = StoredEvent {
            id: as_int(row.get_ref(0)?),
            at: as_int(row.get_ref(1)?),
            action: text(2)?.unwrap_or_default(),
            target: text(3)?.unwrap_or_default(),
            detail: text(4)?.unwrap_or_default(),
            changes: text(5)?,
            prev_hash: text(6)?,
            hash: text(7)?,
        };
        visit(&event);
    }
    Ok(())
}

fn now() -> i64 {
    crate::engine::now().unix_timestamp()
}

/// Appends one chained row after the newest one.
fn append(
    conn: &Connection,
    at: i64,
    action: &str,
    target: &str,
    detail: &str,
    changes: &[Change],
) -> rusqlite::Result<()> {
    let changes =
        serde_json::to_string(changes).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let (id, prev): (i64, Option<String>) = conn.row(
        "SELECT coalesce(max(id), 0) + 1, (SELECT hash FROM events ORDER BY id DESC LIMIT 1) FROM events",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let prev = prev.unwrap_or_else(|| GENESIS.to_string());
    let hash = event_hash(&prev, id, at, action, target, detail, &changes);
    conn.exec(
        "INSERT INTO events (id, at, action, target, detail, changes, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![id, at, action, target, detail, changes, prev, hash],
    )?;
    Ok(())
}

/// Starts the chain when schema 3 is applied: a chain-start row that commits to the events
/// already there, then one adoption row per CA, certificate (with its revocation) and CRL, so
/// that the chain explains every row the ledger holds at that moment.
pub(super) fn start_chain(conn: &Connection) -> rusqlite::Result<()> {
    let mut legacy = LegacyDigest::default();
    scan_events(conn, &mut |e| legacy.add(e))?;
    let (legacy_events, legacy_sha256) = legacy.finish();
    let at = now();
    append(conn, at, "chain.start", "ledger", "{}", &[Change::ChainStart { legacy_events, legacy_sha256 }])?;
    adopt_authorities(conn, at)?;
    adopt_certificates(conn, at)?;
    adopt_crls(conn, at)
}

fn adopt_authorities(conn: &Connection, at: i64) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(
        "SELECT id, name, cert_der, crl_validity_secs, next_crl_number FROM authorities ORDER BY id",
    )?;
    let found: Vec<(String, Change)> = stmt
        .query_map([], |r| {
            let name: String = r.get(1)?;
            let der: Vec<u8> = r.get(2)?;
            Ok((
                name.clone(),
                Change::Authority {
                    id: r.get(0)?,
                    name,
                    cert_sha256: sha256_hex(&der),
                    crl_validity_secs: r.get(3)?,
                    next_crl_number: r.get(4)?,
                },
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (name, change) in found {
        append(conn, at, "ledger.adopt", &name, "{}", &[change])?;
    }
    Ok(())
}

fn adopt_certificates(conn: &Connection, at: i64) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(
        "SELECT id, issuer_id, serial, der, not_after, revoked_at, revocation_reason FROM certificates ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let issuer_id: i64 = r.get(1)?;
        let serial: String = r.get(2)?;
        let der: Vec<u8> = r.get(3)?;
        let not_after: i64 = r.get(4)?;
        let mut changes = vec![Change::Certificate {
            id,
            issuer_id,
            serial: serial.clone(),
            der_sha256: sha256_hex(&der),
            not_after,
        }];
        if let Some(revoked_at) = r.get::<_, Option<i64>>(5)? {
            let reason: Option<String> = r.get(6)?;
            changes.push(Change::Revocation {
                id,
                issuer_id,
                serial: serial.clone(),
                not_after,
                at: revoked_at,
                reason: reason.unwrap_or_else(|| "unspecified".into()),
            });
        }
        append(conn, at, "ledger.adopt", &serial, "{}", &changes)?;
    }
    Ok(())
}

fn adopt_crls(conn: &Connection, at: i64) -> rusqlite::Result<()> {
    let mut stmt =
        conn.prepare("SELECT issuer_id, number, this_update, entries, der FROM crls ORDER BY id")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let der: Vec<u8> = r.get(4)?;
        let change = Change::Crl {
            issuer_id: r.get(0)?,
            number: r.get(1)?,
            this_update: r.get(2)?,
            entries: r.get(3)?,
            der_sha256: if der.is_empty() { String::new() } else { sha256_hex(&der) },
            revoked: None,
        };
        let target = format!("crl {}", r.get::<_, i64>(1)?);
        append(conn, at, "ledger.adopt", &target, "{}", &[change])?;
    }
    Ok(())
}
