//! One-time enrolment tokens: only their SHA-256 is stored.

use super::Cached;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{LedgerResult, SqliteLedger, Tx, parsed};
use crate::ledger::chain::Change;
use crate::ledger::{NewTokenRecord, TokenRecord};
use crate::names::San;

const COLUMNS: &str = "t.id, t.token_sha256, t.name, t.profile, t.sans, t.issuer_id, a.name, t.validity_secs,
    t.expires_at, t.created_at, t.used_at, t.revoked_at, t.certificate_id";

fn from_row(row: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    let sans: String = row.get(4)?;
    let sans: Vec<String> = serde_json::from_str(&sans).map_err(|e| conversion(4, e.to_string()))?;
    let sans =
        sans.iter().map(|s| s.parse::<San>()).collect::<Result<Vec<_>, _>>().map_err(|e| conversion(4, e))?;
    Ok(TokenRecord {
        id: row.get(0)?,
        token_sha256: row.get(1)?,
        name: row.get(2)?,
        profile: parsed(row, 3)?,
        sans,
        issuer_id: row.get(5)?,
        issuer_name: row.get(6)?,
        validity_secs: row.get(7)?,
        expires_at: row.get(8)?,
        created_at: row.get(9)?,
        used_at: row.get(10)?,
        revoked_at: row.get(11)?,
        certificate_id: row.get(12)?,
    })
}

fn conversion(index: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, message.into())
}

fn by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<TokenRecord>> {
    let sql =
        format!("SELECT {COLUMNS} FROM tokens t JOIN authorities a ON a.id = t.issuer_id WHERE t.id = ?1");
    conn.prepare_cached(&sql)?.query_row([id], from_row).optional()
}

impl SqliteLedger {
    pub(super) fn token_by_hash(&self, token_sha256: &str) -> LedgerResult<Option<TokenRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tokens t JOIN authorities a ON a.id = t.issuer_id WHERE t.token_sha256 = ?1"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        stmt.query_row([token_sha256], from_row).optional().map_err(|e| self.err(e))
    }

    pub(super) fn token_by_id(&self, id: i64) -> LedgerResult<Option<TokenRecord>> {
        by_id(&self.conn, id).map_err(|e| self.err(e))
    }

    pub(super) fn tokens(&self) -> LedgerResult<Vec<TokenRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tokens t JOIN authorities a ON a.id = t.issuer_id ORDER BY t.id DESC"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }
}

impl Tx<'_> {
    pub(super) fn insert_token(&self, token: &NewTokenRecord<'_>) -> LedgerResult<i64> {
        let sans: Vec<String> = token.sans.iter().map(San::to_string).collect();
        let sans_json = serde_json::to_string(&sans).map_err(|e| self.err(conversion(4, e.to_string())))?;
        self.tx
            .exec(
                "INSERT INTO tokens (token_sha256, name, profile, sans, issuer_id, validity_secs, expires_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    token.token_sha256,
                    token.name,
                    token.profile.as_str(),
                    sans_json,
                    token.issuer_id,
                    token.validity_secs,
                    token.expires_at,
                    token.now
                ],
            )
            .map_err(|e| self.err(e))?;
        let id = self.tx.last_insert_rowid();
        self.pending_change(Change::Token {
            id,
            token_sha256: token.token_sha256.to_string(),
            name: token.name.to_string(),
            profile: token.profile.as_str().to_string(),
            sans,
            issuer_id: token.issuer_id,
            expires_at: token.expires_at,
        });
        Ok(id)
    }

    pub(super) fn use_token(&self, id: i64, at: i64, certificate_id: i64) -> LedgerResult<bool> {
        let changed = self
            .tx
            .exec(
                "UPDATE tokens SET used_at = ?2, certificate_id = ?3
                 WHERE id = ?1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2",
                params![id, at, certificate_id],
            )
            .map_err(|e| self.err(e))?;
        if changed == 1 {
            self.pending_change(Change::TokenUse { id, certificate_id, at });
        }
        Ok(changed == 1)
    }

    pub(super) fn revoke_token(&self, id: i64, at: i64) -> LedgerResult<bool> {
        let changed = self
            .tx
            .exec(
                "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND used_at IS NULL AND revoked_at IS NULL",
                params![id, at],
            )
            .map_err(|e| self.err(e))?;
        if changed == 1 {
            self.pending_change(Change::TokenRevoke { id, at });
        }
        Ok(changed == 1)
    }

    pub(super) fn token_in_tx(&self, id: i64) -> LedgerResult<Option<TokenRecord>> {
        by_id(&self.tx, id).map_err(|e| self.err(e))
    }
}
