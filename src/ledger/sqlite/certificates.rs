//! Every certificate the CA ever signed, with its full DER.

use super::Cached;
use rusqlite::{OptionalExtension, Row, params};

use super::authorities::ledger_serial;
use super::{
    CertFilter, CertSelector, CertificateRecord, CertificateSummary, LedgerError, LedgerResult,
    NewCertificate, SqliteLedger, Tx, parsed,
};
use crate::engine::crl::Reason;
use crate::ledger::StatusFilter;
use crate::ledger::chain::{Change, sha256_hex};
use crate::names::San;

const COLUMNS: &str = "c.id, c.issuer_id, a.name, c.serial, c.profile, c.subject, c.common_name, c.sans,
    c.key_type, c.key_source, c.not_before, c.not_after, c.fingerprint_sha256, c.status,
    c.revoked_at, c.revocation_reason, c.renewed_from, c.authority_id, c.created_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<CertificateRecord> {
    let sans: String = row.get(7)?;
    let sans: Vec<String> = serde_json::from_str(&sans).map_err(|e| conversion(7, e.to_string()))?;
    let sans =
        sans.iter().map(|s| s.parse::<San>()).collect::<Result<Vec<_>, _>>().map_err(|e| conversion(7, e))?;
    let reason: Option<String> = row.get(15)?;
    let revocation_reason = reason.map(|r| r.parse::<Reason>()).transpose().map_err(|e| conversion(15, e))?;
    Ok(CertificateRecord {
        id: row.get(0)?,
        issuer_id: row.get(1)?,
        issuer_name: row.get(2)?,
        serial: ledger_serial(row, 3)?,
        profile: parsed(row, 4)?,
        subject: row.get(5)?,
        common_name: row.get(6)?,
        sans,
        key_type: parsed(row, 8)?,
        key_origin: parsed(row, 9)?,
        not_before: row.get(10)?,
        not_after: row.get(11)?,
        fingerprint_sha256: row.get(12)?,
        status: parsed(row, 13)?,
        revoked_at: row.get(14)?,
        revocation_reason,
        renewed_from: row.get(16)?,
        authority_id: row.get(17)?,
        created_at: row.get(18)?,
    })
}

impl SqliteLedger {
    pub(super) fn certificate_count(&self) -> LedgerResult<i64> {
        self.conn.row("SELECT count(*) FROM certificates", [], |r| r.get(0)).map_err(|e| self.err(e))
    }

    pub(super) fn certificate_summary(&self, now: i64) -> LedgerResult<CertificateSummary> {
        let sql = "SELECT
                (SELECT count(*) FROM certificates WHERE status = 'valid' AND not_after > ?1),
                (SELECT count(*) FROM certificates WHERE status = 'revoked'),
                (SELECT count(*) FROM certificates WHERE status = 'valid' AND not_after <= ?1),
                (SELECT min(not_after) FROM certificates WHERE status = 'valid' AND not_after > ?1)";
        self.conn
            .row(sql, params![now], |r| {
                Ok(CertificateSummary {
                    valid: r.get(0)?,
                    revoked: r.get(1)?,
                    expired: r.get(2)?,
                    next_expiry: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))
    }

    /// Every certificate the selector matches, optionally only from one issuer.
    pub(super) fn find_certificates(
        &self,
        selector: CertSelector<'_>,
        issuer_id: Option<i64>,
    ) -> LedgerResult<Vec<CertificateRecord>> {
        let serial;
        let (column, value) = match selector {
            CertSelector::Serial(s) => {
                serial = s.ledger_hex();
                ("c.serial", serial.as_str())
            }
            CertSelector::Fingerprint(f) => ("c.fingerprint_sha256", f),
            CertSelector::Name(n) => ("c.common_name", n),
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM certificates c JOIN authorities a ON a.id = c.issuer_id
             WHERE {column} = ?1 AND (?2 IS NULL OR c.issuer_id = ?2) ORDER BY c.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params![value, issuer_id], from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    pub(super) fn certificate_by_id(&self, id: i64) -> LedgerResult<Option<CertificateRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM certificates c JOIN authorities a ON a.id = c.issuer_id WHERE c.id = ?1"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        stmt.query_row([id], from_row).optional().map_err(|e| self.err(e))
    }

    /// The full DER of one certificate.
    pub(super) fn certificate_der(&self, id: i64) -> LedgerResult<Vec<u8>> {
        self.conn
            .row("SELECT der FROM certificates WHERE id = ?1", [id], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Certificates renewed from this one.
    pub(super) fn renewals_of(&self, id: i64) -> LedgerResult<Vec<CertificateRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM certificates c JOIN authorities a ON a.id = c.issuer_id
             WHERE c.renewed_from = ?1 ORDER BY c.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt.query_map([id], from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// Calls `visit` with (serial, fingerprint, DER) of every certificate, one row at a time.
    pub(super) fn scan_certificates(&self, visit: &mut dyn FnMut(&str, &str, &[u8])) -> LedgerResult<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT serial, fingerprint_sha256, der FROM certificates ORDER BY id")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let serial =
                row.get_ref(0).and_then(|v| v.as_str().map_err(Into::into)).map_err(|e| self.err(e))?;
            let fingerprint =
                row.get_ref(1).and_then(|v| v.as_str().map_err(Into::into)).map_err(|e| self.err(e))?;
            let der =
                row.get_ref(2).and_then(|v| v.as_blob().map_err(Into::into)).map_err(|e| self.err(e))?;
            visit(serial, fingerprint, der);
        }
        Ok(())
    }

    /// `list`: certificates matching the filter, soonest notAfter first. The WHERE clause is
    /// built from the conditions actually asked for, so that SQLite plans an index range scan
    /// (a generic `?x IS NULL OR …` clause would make it walk every valid certificate).
    pub(super) fn list_certificates(&self, filter: &CertFilter) -> LedgerResult<Vec<CertificateRecord>> {
        let mut conditions = vec![match filter.status {
            StatusFilter::Valid => "c.status = 'valid' AND c.not_after > :now",
            StatusFilter::Revoked => "c.status = 'revoked'",
            StatusFilter::Expired => "c.status = 'valid' AND c.not_after <= :now",
            StatusFilter::All => "1",
        }];
        let mut values: Vec<(&str, &dyn rusqlite::ToSql)> = vec![(":now", &filter.now)];
        if let Some(limit) = &filter.expiring_before {
            conditions.push("c.status = 'valid' AND c.not_after > :now AND c.not_after <= :limit");
            values.push((":limit", limit));
        }
        if let Some(issuer) = &filter.issuer_id {
            conditions.push("c.issuer_id = :issuer");
            values.push((":issuer", issuer));
        }
        let profile = filter.profile.map(|p| p.as_str());
        if let Some(profile) = &profile {
            conditions.push("c.profile = :profile");
            values.push((":profile", profile));
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM certificates c JOIN authorities a ON a.id = c.issuer_id
             WHERE {} ORDER BY c.not_after, c.id",
            conditions.join(" AND ")
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        // Only the parameters the statement uses may be bound.
        let used: Vec<(&str, &dyn rusqlite::ToSql)> =
            values.into_iter().filter(|(name, _)| sql.contains(name)).collect();
        let rows = stmt.query_map(used.as_slice(), from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }
}

impl Tx<'_> {
    pub(super) fn insert_certificate(&self, c: &NewCertificate<'_>) -> LedgerResult<i64> {
        let sans: Vec<String> = c.sans.iter().map(San::to_string).collect();
        let sans = serde_json::Value::from(sans).to_string();
        let serial = c.serial.ledger_hex();
        let inserted = self.tx.exec(
            "INSERT INTO certificates (issuer_id, serial, profile, subject, common_name, sans,
                 key_type, key_source, not_before, not_after, fingerprint_sha256, der,
                 renewed_from, authority_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                c.issuer_id,
                serial,
                c.profile.as_str(),
                c.subject,
                c.common_name,
                sans,
                c.key_type.as_str(),
                c.key_origin.as_str(),
                c.not_before,
                c.not_after,
                c.fingerprint_sha256,
                c.der,
                c.renewed_from,
                c.authority_id,
                c.now
            ],
        );
        match inserted {
            Ok(_) => {
                let id = self.tx.last_insert_rowid();
                self.pending_change(Change::Certificate {
                    id,
                    issuer_id: c.issuer_id,
                    serial,
                    der_sha256: sha256_hex(c.der),
                    not_after: c.not_after,
                });
                Ok(id)
            }
            Err(e) if is_unique_violation(&e, "certificates.issuer_id, certificates.serial") => {
                Err(LedgerError::DuplicateSerial { serial })
            }
            Err(e) => Err(self.err(e)),
        }
    }

    /// Marks a valid certificate revoked; false when it was not valid (already revoked).
    pub(super) fn revoke_certificate(&self, id: i64, at: i64, reason: Reason) -> LedgerResult<bool> {
        let revoked: Option<(i64, String, i64)> = self
            .tx
            .row(
                "UPDATE certificates SET status = 'revoked', revoked_at = ?2, revocation_reason = ?3
                 WHERE id = ?1 AND status = 'valid' RETURNING issuer_id, serial, not_after",
                params![id, at, reason.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((issuer_id, serial, not_after)) = revoked else { return Ok(false) };
        self.pending_change(Change::Revocation {
            id,
            issuer_id,
            serial,
            not_after,
            at,
            reason: reason.as_str().to_string(),
        });
        Ok(true)
    }
}

fn is_unique_violation(e: &rusqlite::Error, columns: &str) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(code, Some(msg))
        if code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE && msg.contains(columns))
}

fn conversion(index: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, message.into())
}
