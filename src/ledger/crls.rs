//! CRLs: numbers, the revoked entries that go into them, and the CRLs themselves.

use rusqlite::{OptionalExtension, params};

use super::{Ledger, LedgerResult, Tx};

/// A revoked certificate as a CRL lists it.
pub struct RevokedRow {
    /// Ledger form (40 hex digits).
    pub serial: String,
    pub revoked_at: i64,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct CrlRecord {
    pub issuer_id: i64,
    pub issuer_name: String,
    pub number: i64,
    pub this_update: i64,
    pub next_update: i64,
    pub entries: i64,
}

pub struct NewCrl<'a> {
    pub issuer_id: i64,
    pub number: i64,
    pub this_update: i64,
    pub next_update: i64,
    pub entries: i64,
    pub der: &'a [u8],
}

impl Tx<'_> {
    /// Takes the CA's next CRL number. Inside the write transaction, so numbers are strictly
    /// increasing even with several pkictl processes at once.
    pub fn allocate_crl_number(&self, issuer_id: i64) -> LedgerResult<i64> {
        self.tx
            .query_row(
                "UPDATE authorities SET next_crl_number = next_crl_number + 1 WHERE id = ?1
                 RETURNING next_crl_number - 1",
                [issuer_id],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Revoked certificates of this issuer that have not yet expired at `now`, in serial order.
    pub fn revoked_for_crl(&self, issuer_id: i64, now: i64) -> LedgerResult<Vec<RevokedRow>> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT serial, revoked_at, revocation_reason FROM certificates
                 WHERE issuer_id = ?1 AND status = 'revoked' AND not_after > ?2
                 ORDER BY serial",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![issuer_id, now], |r| {
                Ok(RevokedRow {
                    serial: r.get(0)?,
                    revoked_at: r.get(1)?,
                    reason: r.get::<_, Option<String>>(2)?.unwrap_or_else(|| "unspecified".into()),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    pub fn insert_crl(&self, crl: &NewCrl<'_>) -> LedgerResult<()> {
        self.tx
            .execute(
                "INSERT INTO crls (issuer_id, number, this_update, next_update, entries, der)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![crl.issuer_id, crl.number, crl.this_update, crl.next_update, crl.entries, crl.der],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

impl Ledger {
    /// The newest CRL of every CA that has one.
    pub fn latest_crls(&self) -> LedgerResult<Vec<CrlRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT k.issuer_id, a.name, k.number, k.this_update, k.next_update, k.entries
                 FROM crls k JOIN authorities a ON a.id = k.issuer_id
                 WHERE k.number = (SELECT max(number) FROM crls WHERE issuer_id = k.issuer_id)
                 ORDER BY a.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(CrlRecord {
                    issuer_id: r.get(0)?,
                    issuer_name: r.get(1)?,
                    number: r.get(2)?,
                    this_update: r.get(3)?,
                    next_update: r.get(4)?,
                    entries: r.get(5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// The DER of a CA's newest CRL.
    pub fn latest_crl_der(&self, issuer_id: i64) -> LedgerResult<Option<Vec<u8>>> {
        self.conn
            .query_row(
                "SELECT der FROM crls WHERE issuer_id = ?1 ORDER BY number DESC LIMIT 1",
                [issuer_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}
