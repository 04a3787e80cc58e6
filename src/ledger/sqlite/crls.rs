//! CRLs: numbers, the revoked entries that go into them, and the CRLs themselves.

use super::Cached;
use rusqlite::{OptionalExtension, params};

use super::{CrlRecord, LedgerError, LedgerResult, NewCrl, SqliteLedger, Tx};
use crate::engine::crl::Reason;
use crate::ledger::chain::{Change, sha256_hex};

/// How many of each CA's newest CRLs keep their DER in the ledger.
const KEEP_CRL_DER: i64 = 10;

impl Tx<'_> {
    /// Takes the CA's next CRL number. Inside the write transaction, so numbers are strictly
    /// increasing even with several pkictl processes at once.
    pub(super) fn allocate_crl_number(&self, issuer_id: i64) -> LedgerResult<i64> {
        self.tx
            .row(
                "UPDATE authorities SET next_crl_number = next_crl_number + 1 WHERE id = ?1
                 RETURNING next_crl_number - 1",
                [issuer_id],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Visits the revoked certificates of this issuer that have not yet expired at `now`, in
    /// serial order, one row at a time (serial in ledger form, revocation time, reason).
    pub(super) fn for_each_revoked(
        &self,
        issuer_id: i64,
        now: i64,
        visit: &mut dyn FnMut(&str, i64, Reason) -> LedgerResult<()>,
    ) -> LedgerResult<()> {
        let ledger_error = |e: LedgerError| e;
        let mut stmt = self
            .tx
            .prepare_cached(
                // The partial covering index (schema 2) holds exactly these rows and columns, in
                // serial order; naming it keeps SQLite from choosing another and sorting.
                "SELECT serial, revoked_at, revocation_reason FROM certificates
                 INDEXED BY certificates_crl_entries
                 WHERE issuer_id = ?1 AND status = 'revoked' AND not_after > ?2
                 ORDER BY serial",
            )
            .map_err(|e| ledger_error(self.err(e)))?;
        let mut rows = stmt.query(params![issuer_id, now]).map_err(|e| ledger_error(self.err(e)))?;
        while let Some(row) = rows.next().map_err(|e| ledger_error(self.err(e)))? {
            let read = |e: rusqlite::Error| ledger_error(self.err(e));
            let serial = row.get_ref(0).and_then(|v| v.as_str().map_err(Into::into)).map_err(read)?;
            let revoked_at: i64 = row.get(1).map_err(read)?;
            let reason = row
                .get_ref(2)
                .map_err(read)?
                .as_str_or_null()
                .map_err(|e| read(e.into()))?
                .unwrap_or("unspecified");
            let reason = reason.parse().unwrap_or(Reason::Unspecified);
            visit(serial, revoked_at, reason)?;
        }
        Ok(())
    }

    pub(super) fn insert_crl(&self, crl: &NewCrl<'_>) -> LedgerResult<()> {
        // The DER goes in through incremental blob I/O: binding it as a parameter would make
        // SQLite copy a CRL of tens of megabytes before writing it.
        let size = crl.der.len() as u64;
        self.tx
            .exec(
                "INSERT INTO crls (issuer_id, number, this_update, next_update, entries, der)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    crl.issuer_id,
                    crl.number,
                    crl.this_update,
                    crl.next_update,
                    crl.entries,
                    rusqlite::blob::ZeroBlob(size)
                ],
            )
            .map_err(|e| self.err(e))?;
        let row = self.tx.last_insert_rowid();
        let mut blob =
            self.tx.blob_open(rusqlite::MAIN_DB, "crls", "der", row, false).map_err(|e| self.err(e))?;
        std::io::Write::write_all(&mut blob, crl.der)
            .map_err(|e| LedgerError::Io { path: self.path.clone(), source: e })?;
        blob.close().map_err(|e| self.err(e))?;
        self.pending_change(Change::Crl {
            issuer_id: crl.issuer_id,
            number: crl.number,
            this_update: crl.this_update,
            entries: crl.entries,
            der_sha256: sha256_hex(crl.der),
            revoked: Some(crl.revoked.checkpoint()),
        });
        // Keep the DER of the newest CRLs only: a large CRL is tens of megabytes, and only the
        // latest is ever served; the metadata of every CRL stays.
        self.tx
            .exec(
                "UPDATE crls SET der = x'' WHERE issuer_id = ?1 AND number <= ?2 AND length(der) > 0",
                params![crl.issuer_id, crl.number - KEEP_CRL_DER],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

impl SqliteLedger {
    /// The newest CRL of every CA that has one.
    pub(super) fn latest_crls(&self) -> LedgerResult<Vec<CrlRecord>> {
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

    /// The number of a CA's newest CRL.
    pub(super) fn latest_crl_number(&self, issuer_id: i64) -> LedgerResult<Option<i64>> {
        self.conn
            .row("SELECT max(number) FROM crls WHERE issuer_id = ?1", [issuer_id], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// The DER of a CA's newest CRL.
    pub(super) fn latest_crl_der(&self, issuer_id: i64) -> LedgerResult<Option<Vec<u8>>> {
        self.conn
            .row("SELECT der FROM crls WHERE issuer_id = ?1 ORDER BY number DESC LIMIT 1", [issuer_id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }
}
