//! The CAs of a home.

use super::Cached;
use rusqlite::{OptionalExtension, Row, params};

use super::{CaRecord, LedgerResult, NewAuthority, SqliteLedger, Tx, parsed};
use crate::engine::serial::Serial;
use crate::ledger::chain::{Change, sha256_hex};

/// The CA's own certificate row is read through the unique index on authority_id (a join
/// lets SQLite's planner walk every certificate instead).
const SELECT: &str = "
    SELECT a.id, a.name, a.slug, a.parent_id, p.name, a.subject, a.cert_der, a.ski, a.key_file,
           a.key_type, a.key_encrypted, a.path_len, a.crl_url, a.crl_validity_secs,
           a.next_crl_number, a.is_default, a.not_before, a.not_after, a.created_at,
           (SELECT status FROM certificates WHERE authority_id = a.id),
           (SELECT serial FROM certificates WHERE authority_id = a.id),
           a.permitted_dns, a.public_url
    FROM authorities a
    LEFT JOIN authorities p ON p.id = a.parent_id";

fn from_row(row: &Row<'_>) -> rusqlite::Result<CaRecord> {
    Ok(CaRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        slug: row.get(2)?,
        parent_id: row.get(3)?,
        parent_name: row.get(4)?,
        subject: row.get(5)?,
        cert_der: row.get(6)?,
        ski: row.get(7)?,
        key_file: row.get(8)?,
        key_type: parsed(row, 9)?,
        key_encrypted: row.get(10)?,
        path_len: row.get(11)?,
        crl_url: row.get(12)?,
        crl_validity_secs: row.get(13)?,
        next_crl_number: row.get(14)?,
        is_default: row.get(15)?,
        not_before: row.get(16)?,
        not_after: row.get(17)?,
        created_at: row.get(18)?,
        status: parsed(row, 19)?,
        serial: ledger_serial(row, 20)?,
        permitted_dns: serde_json::from_str(&row.get::<_, String>(21)?).unwrap_or_default(),
        public_url: row.get(22)?,
    })
}

impl SqliteLedger {
    /// Every CA, roots first, then in creation order.
    pub(super) fn authorities(&self) -> LedgerResult<Vec<CaRecord>> {
        let sql = format!("{SELECT} ORDER BY a.parent_id IS NOT NULL, a.id");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// A CA by its exact name or, failing that, its slug ("acme-root-ca").
    pub(super) fn authority_by_name(&self, name: &str) -> LedgerResult<Option<CaRecord>> {
        let sql = format!("{SELECT} WHERE a.name = ?1 OR a.slug = ?1 ORDER BY a.name = ?1 DESC LIMIT 1");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        stmt.query_row([name], from_row).optional().map_err(|e| self.err(e))
    }

    pub(super) fn authority_by_id(&self, id: i64) -> LedgerResult<Option<CaRecord>> {
        let sql = format!("{SELECT} WHERE a.id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        stmt.query_row([id], from_row).optional().map_err(|e| self.err(e))
    }

    /// The home's default issuing CA.
    pub(super) fn default_authority(&self) -> LedgerResult<Option<CaRecord>> {
        let sql = format!("{SELECT} WHERE a.is_default = 1");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        stmt.query_row([], from_row).optional().map_err(|e| self.err(e))
    }
}

impl Tx<'_> {
    /// How long the CA's future CRLs stay valid.
    pub(super) fn set_crl_validity(&self, id: i64, seconds: i64) -> LedgerResult<()> {
        self.tx
            .exec("UPDATE authorities SET crl_validity_secs = ?2 WHERE id = ?1", params![id, seconds])
            .map_err(|e| self.err(e))?;
        self.pending_change(Change::CrlValidity { id, seconds });
        Ok(())
    }

    /// The base URL of the online CA for what this CA signs from now on (None: no URL).
    pub(super) fn set_public_url(&self, id: i64, url: Option<&str>) -> LedgerResult<()> {
        self.tx
            .exec("UPDATE authorities SET public_url = ?2 WHERE id = ?1", params![id, url])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Unmarks the default issuing CA (before another one becomes it).
    pub(super) fn clear_default_authority(&self) -> LedgerResult<()> {
        self.tx
            .exec("UPDATE authorities SET is_default = 0 WHERE is_default = 1", [])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub(super) fn insert_authority(&self, a: &NewAuthority<'_>) -> LedgerResult<i64> {
        self.tx
            .exec(
                "INSERT INTO authorities (name, slug, parent_id, subject, cert_der, ski, key_file,
                     key_type, key_encrypted, path_len, crl_url, is_default, not_before,
                     not_after, created_at, permitted_dns, public_url)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                params![
                    a.name,
                    a.slug,
                    a.parent_id,
                    a.subject,
                    a.cert_der,
                    a.ski,
                    a.key_file,
                    a.key_type.as_str(),
                    a.key_encrypted,
                    a.path_len,
                    a.crl_url,
                    a.is_default,
                    a.not_before,
                    a.not_after,
                    a.now,
                    serde_json::Value::from(a.permitted_dns.to_vec()).to_string(),
                    a.public_url
                ],
            )
            .map_err(|e| self.err(e))?;
        let id = self.tx.last_insert_rowid();
        let (crl_validity_secs, next_crl_number) = self
            .tx
            .row("SELECT crl_validity_secs, next_crl_number FROM authorities WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(|e| self.err(e))?;
        self.pending_change(Change::Authority {
            id,
            name: a.name.to_string(),
            cert_sha256: sha256_hex(a.cert_der),
            crl_validity_secs,
            next_crl_number,
        });
        Ok(id)
    }
}

/// A serial column in ledger form (40 hex digits).
pub(super) fn ledger_serial(row: &Row<'_>, index: usize) -> rusqlite::Result<Serial> {
    let text: String = row.get(index)?;
    Serial::from_ledger_hex(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("malformed serial \"{text}\"").into(),
        )
    })
}
