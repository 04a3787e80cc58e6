//! Every certificate the CA ever signed, with its full DER.

use rusqlite::{Row, params};

use super::{Ledger, LedgerError, LedgerResult, Tx};

pub struct NewCertificate<'a> {
    pub issuer_id: i64,
    /// Lower-case hex, zero-padded to 40 digits.
    pub serial: &'a str,
    pub profile: &'a str,
    pub subject: &'a str,
    pub common_name: Option<&'a str>,
    pub sans: &'a [String],
    pub key_type: &'a str,
    pub key_source: &'a str,
    pub not_before: i64,
    pub not_after: i64,
    pub fingerprint_sha256: &'a str,
    pub der: &'a [u8],
    pub renewed_from: Option<i64>,
    pub authority_id: Option<i64>,
    pub now: i64,
}

#[derive(Debug, Clone)]
pub struct CertificateRecord {
    pub id: i64,
    pub issuer_id: i64,
    pub serial: String,
    pub profile: String,
    pub subject: String,
    pub common_name: Option<String>,
    pub sans: Vec<String>,
    pub key_type: String,
    pub not_before: i64,
    pub not_after: i64,
    pub fingerprint_sha256: String,
    pub der: Vec<u8>,
    pub status: String,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<String>,
}

#[allow(dead_code)]
fn from_row(row: &Row<'_>) -> rusqlite::Result<CertificateRecord> {
    let sans: String = row.get(6)?;
    Ok(CertificateRecord {
        id: row.get(0)?,
        issuer_id: row.get(1)?,
        serial: row.get(2)?,
        profile: row.get(3)?,
        subject: row.get(4)?,
        common_name: row.get(5)?,
        sans: serde_json::from_str(&sans).unwrap_or_default(),
        key_type: row.get(7)?,
        not_before: row.get(8)?,
        not_after: row.get(9)?,
        fingerprint_sha256: row.get(10)?,
        der: row.get(11)?,
        status: row.get(12)?,
        revoked_at: row.get(13)?,
        revocation_reason: row.get(14)?,
    })
}

impl Ledger {
    pub fn certificate_count(&self) -> LedgerResult<i64> {
        self.conn
            .query_row("SELECT count(*) FROM certificates", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }
}

impl Tx<'_> {
    pub fn insert_certificate(&self, c: &NewCertificate<'_>) -> LedgerResult<i64> {
        let sans = serde_json::Value::from(c.sans.to_vec()).to_string();
        let inserted = self.tx.execute(
            "INSERT INTO certificates (issuer_id, serial, profile, subject, common_name, sans,
                 key_type, key_source, not_before, not_after, fingerprint_sha256, der,
                 renewed_from, authority_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                c.issuer_id,
                c.serial,
                c.profile,
                c.subject,
                c.common_name,
                sans,
                c.key_type,
                c.key_source,
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
            Ok(_) => Ok(self.tx.last_insert_rowid()),
            Err(e) if is_unique_violation(&e, "certificates.issuer_id, certificates.serial") => {
                Err(LedgerError::DuplicateSerial { serial: c.serial.to_string() })
            }
            Err(e) => Err(self.err(e)),
        }
    }
}

fn is_unique_violation(e: &rusqlite::Error, columns: &str) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(code, Some(msg))
        if code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE && msg.contains(columns))
}
