//! The PostgreSQL backend of the ledger: one database shared by every pkictl process and
//! every `serve` instance of a home, on as many machines as needed.
//!
//! The schema lives in `migrations/postgres/NNNN_*.sql`, embedded at build time and applied in
//! order, with the version in `ledger_meta.schema_version` (SQLite's `user_version`).
//!
//! Writers are serialised by the database: every write transaction starts by bumping the
//! single row of `ledger_meta` (its `revision`), which takes that row's lock until commit. So
//! a write transaction sees every commit before it (READ COMMITTED, each statement a fresh
//! snapshot), CRL numbers and event ids are allocated in order, and the audit chain is
//! appended by one writer at a time, whichever machine it runs on — exactly the guarantees of
//! SQLite's IMMEDIATE transactions. A transaction that still loses a serialization conflict or
//! a deadlock (SQLSTATE 40001/40P01, e.g. against an operator's own session) is rolled back
//! and run again, a bounded number of times.

mod acme;
mod copy;
mod location;
mod rows;
mod tls;

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, GenericClient, Transaction};

pub use copy::{CopyReport, copy_from_sqlite};
pub use location::PgLocation;

use super::chain::{Change, StoredEvent};
use super::{
    CaRecord, CertFilter, CertSelector, CertificateRecord, CertificateSummary, CrlRecord, Event, Ledger,
    LedgerError, LedgerResult, LedgerTx, NewAuthority, NewCertificate, NewCrl, NewTokenRecord, OpenMode,
    StoredAuthority, StoredCertificate, StoredCrl, TokenRecord,
};
use crate::engine::crl::Reason;
use crate::ledger::acme::*;

/// Embedded migrations: (version, SQL), in increasing version order, numbered as SQLite's.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../../../migrations/postgres/0001_init.sql")),
    (2, include_str!("../../../migrations/postgres/0002_revoked_index.sql")),
    (3, include_str!("../../../migrations/postgres/0003_audit_chain.sql")),
    (4, include_str!("../../../migrations/postgres/0004_public_url.sql")),
    (5, include_str!("../../../migrations/postgres/0005_tokens.sql")),
    (6, include_str!("../../../migrations/postgres/0006_acme.sql")),
];

/// The schema whose migration starts the audit chain (in Rust: SQL cannot hash).
const CHAIN_SCHEMA: u32 = 3;

/// How many times a transaction that lost a serialization conflict is run.
const MAX_ATTEMPTS: u32 = 8;

/// Serialises migrations of one database (two first opens at once): a session-independent
/// advisory lock id, "pkictl" in ASCII.
const MIGRATION_LOCK: i64 = 0x706b_6963_746c;

/// The schema version this build creates and understands.
pub fn latest_schema_version() -> u32 {
    MIGRATIONS.last().map(|(v, _)| *v).unwrap_or(0)
}

/// What a query in this backend fails with, before it is given the ledger's location.
#[derive(Debug)]
pub(crate) enum DbError {
    /// The server or the connection failed.
    Pg(postgres::Error),
    /// A value in a row is not what pkictl wrote.
    Damaged(String),
    /// The connection could not be set up (TLS roots unreadable).
    Setup(String),
    /// A new ledger's database turned out to hold one already.
    NotEmpty,
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        DbError::Pg(e)
    }
}

impl DbError {
    fn code(&self) -> Option<&SqlState> {
        match self {
            DbError::Pg(e) => e.code(),
            DbError::Damaged(_) | DbError::Setup(_) | DbError::NotEmpty => None,
        }
    }

    /// A unique constraint of this name refused the row.
    fn violates(&self, constraint: &str) -> bool {
        match self {
            DbError::Pg(e) => {
                e.code() == Some(&SqlState::UNIQUE_VIOLATION)
                    && e.as_db_error().and_then(|d| d.constraint()).is_some_and(|c| c == constraint)
            }
            DbError::Damaged(_) | DbError::Setup(_) | DbError::NotEmpty => false,
        }
    }

    fn is_unique_violation(&self) -> bool {
        self.code() == Some(&SqlState::UNIQUE_VIOLATION)
    }

    fn is_conflict(&self) -> bool {
        matches!(self.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
    }
}

pub(crate) type Db<T> = Result<T, DbError>;

/// A ledger in a PostgreSQL database.
pub struct PostgresLedger {
    client: RefCell<Client>,
    /// Where to connect again when the connection is lost (a server restart, a failover).
    at: PgLocation,
    /// The database's URL without password, where messages say the ledger is.
    location: PathBuf,
}

impl PostgresLedger {
    /// Creates a new ledger in an empty database and applies every migration.
    pub fn create(at: &PgLocation) -> LedgerResult<PostgresLedger> {
        PostgresLedger::create_with(at, true)
    }

    /// [`PostgresLedger::create`]; `start_chain` false leaves the events table empty, for a
    /// copy that brings its own chain.
    fn create_with(at: &PgLocation, start_chain: bool) -> LedgerResult<PostgresLedger> {
        let ledger = PostgresLedger::connect(at)?;
        let tables = ledger.read(|c| {
            let row = c.query_one(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
                &[],
            )?;
            Ok(row.try_get::<_, i64>(0)?)
        })?;
        if tables > 0 {
            return Err(LedgerError::NotEmpty { path: ledger.location.clone() });
        }
        ledger.migrate(Some(start_chain))?;
        Ok(ledger)
    }

    /// Opens an existing ledger and brings its schema up to date. A database without
    /// pkictl's tables is refused, never silently initialised.
    pub fn open(at: &PgLocation, mode: OpenMode) -> LedgerResult<PostgresLedger> {
        let ledger = PostgresLedger::connect(at)?;
        let found = ledger
            .stored_version()?
            .ok_or_else(|| LedgerError::NotALedger { path: ledger.location.clone() })?;
        let supported = latest_schema_version();
        if found > supported {
            return Err(LedgerError::FutureSchema { path: ledger.location.clone(), found, supported });
        }
        if found < supported {
            // The database is writable from anywhere it can be reached: a read-only command
            // upgrades it too, as it does a writable SQLite file.
            let _ = mode;
            ledger.migrate(None)?;
        }
        Ok(ledger)
    }

    fn connect(at: &PgLocation) -> LedgerResult<PostgresLedger> {
        let location = PathBuf::from(at.redacted());
        let client = at.connect().map_err(|e| pg_error(&location, e))?;
        Ok(PostgresLedger { client: RefCell::new(client), at: at.clone(), location })
    }

    /// The schema version in `ledger_meta`, None when the database has no pkictl ledger.
    fn stored_version(&self) -> LedgerResult<Option<u32>> {
        self.read(stored_version)
    }

    /// Applies the migrations above the stored version. `fresh` (for a new ledger: whether
    /// to start the audit chain) also requires that no other process made a ledger here
    /// meanwhile (two `init`s at one empty database: the second is refused).
    fn migrate(&self, fresh: Option<bool>) -> LedgerResult<()> {
        let mut client = self.connected()?;
        let result = (|| -> Db<()> {
            let mut tx = client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            // Another process may have migrated while we waited for the lock.
            let current = stored_version(&mut tx)?.unwrap_or(0);
            if fresh.is_some() && current > 0 {
                return Err(DbError::NotEmpty);
            }
            if current > latest_schema_version() {
                return Ok(());
            }
            let start_chain = fresh.unwrap_or(true);
            for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
                tx.batch_execute(sql)?;
                if *version == CHAIN_SCHEMA && start_chain {
                    rows::start_chain(&mut tx)?;
                }
                tx.execute("UPDATE ledger_meta SET schema_version = $1", &[&(*version as i32)])?;
            }
            tx.commit()?;
            Ok(())
        })();
        result.map_err(|e| pg_error(&self.location, e))
    }

    fn read<T>(&self, work: impl FnOnce(&mut Client) -> Db<T>) -> LedgerResult<T> {
        let mut client = self.connected()?;
        work(&mut client).map_err(|e| pg_error(&self.location, e))
    }

    /// The connection, made again first when the server closed it: a long-running `serve`
    /// outlives a database restart or a failover to a standby.
    fn connected(&self) -> LedgerResult<std::cell::RefMut<'_, Client>> {
        let mut client = self.client.borrow_mut();
        if client.is_closed() {
            *client = self.at.connect().map_err(|e| pg_error(&self.location, e))?;
        }
        Ok(client)
    }

    /// One attempt at a write transaction; Err(true) asks for another.
    fn attempt(
        &self,
        work: &mut dyn FnMut(&dyn LedgerTx) -> LedgerResult<()>,
    ) -> Result<(), (LedgerError, bool)> {
        let mut client = self.connected().map_err(|e| (e, false))?;
        let location = self.location.clone();
        let fail = |e: DbError| {
            let retry = e.is_conflict();
            (pg_error(&location, e), retry)
        };
        let mut tx = client.transaction().map_err(|e| fail(e.into()))?;
        // The write lock: this row's lock is held until commit, by one writer at a time.
        tx.execute("UPDATE ledger_meta SET revision = revision + 1", &[]).map_err(|e| fail(e.into()))?;
        let wrapped = Tx {
            tx: RefCell::new(tx),
            location: location.clone(),
            pending: RefCell::new(Vec::new()),
            conflict: Cell::new(false),
        };
        if let Err(e) = work(&wrapped) {
            let retry = wrapped.conflict.get();
            return Err((e, retry));
        }
        #[cfg(test)]
        wrapped.forced_conflict().map_err(|e| (e, wrapped.conflict.get()))?;
        wrapped.flush_changes().map_err(|e| (e, wrapped.conflict.get()))?;
        let tx = wrapped.tx.into_inner();
        tx.commit().map_err(|e| fail(e.into()))
    }

    /// Row counts of every table, for `ledger migrate`'s check.
    pub fn table_counts(&self) -> LedgerResult<Vec<(String, i64)>> {
        self.read(copy::table_counts)
    }
}

/// Runs a fixed query on the database at `at` and hands back its rows (the test helper's raw
/// reads of a PostgreSQL home).
pub(crate) fn admin_query(at: &PgLocation, sql: &str) -> LedgerResult<Vec<postgres::Row>> {
    let location = PathBuf::from(at.redacted());
    let mut client = at.connect().map_err(|e| pg_error(&location, e))?;
    client.query(sql, &[]).map_err(|e| pg_error(&location, e.into()))
}

/// Runs fixed SQL on the server at `at` outside any ledger (tests: CREATE/DROP DATABASE).
pub(crate) fn admin_execute(at: &PgLocation, sql: &str) -> LedgerResult<()> {
    let location = PathBuf::from(at.redacted());
    let mut client = at.connect().map_err(|e| pg_error(&location, e))?;
    client.batch_execute(sql).map_err(|e| pg_error(&location, e.into()))
}

fn stored_version(c: &mut impl GenericClient) -> Db<Option<u32>> {
    let exists: bool = c.query_one("SELECT to_regclass('ledger_meta') IS NOT NULL", &[])?.try_get(0)?;
    if !exists {
        return Ok(None);
    }
    let version: i32 = c.query_one("SELECT schema_version FROM ledger_meta", &[])?.try_get(0)?;
    Ok(Some(u32::try_from(version).unwrap_or(0)))
}

/// A write transaction of the PostgreSQL ledger.
pub(crate) struct Tx<'a> {
    tx: RefCell<Transaction<'a>>,
    location: PathBuf,
    /// State changes made since the last event: the next event records them.
    pending: RefCell<Vec<Change>>,
    /// A statement lost a serialization conflict: the whole transaction is to run again.
    conflict: Cell<bool>,
}

#[cfg(test)]
thread_local! {
    /// Tests: how many of the next write attempts the server fails with SQLSTATE 40001.
    static FORCED_CONFLICTS: Cell<u32> = const { Cell::new(0) };
}

impl Tx<'_> {
    #[cfg(test)]
    fn forced_conflict(&self) -> LedgerResult<()> {
        if FORCED_CONFLICTS.with(|c| c.replace(c.get().saturating_sub(1))) == 0 {
            return Ok(());
        }
        self.run(|tx| {
            tx.batch_execute(
                "DO $$ BEGIN RAISE EXCEPTION 'forced conflict' USING ERRCODE = '40001'; END $$",
            )?;
            Ok(())
        })
    }

    fn pending_change(&self, change: Change) {
        self.pending.borrow_mut().push(change);
    }

    fn run<T>(&self, work: impl FnOnce(&mut Transaction<'_>) -> Db<T>) -> LedgerResult<T> {
        let mut tx = self.tx.borrow_mut();
        work(&mut tx).map_err(|e| self.fail(e))
    }

    fn fail(&self, e: DbError) -> LedgerError {
        if e.is_conflict() {
            self.conflict.set(true);
        }
        pg_error(&self.location, e)
    }

    fn flush_changes(&self) -> LedgerResult<()> {
        let changes = std::mem::take(&mut *self.pending.borrow_mut());
        if changes.is_empty() {
            return Ok(());
        }
        self.run(|tx| rows::append_event(tx, rows::now(), "ledger.change", "", "{}", &changes))
    }
}

impl Ledger for PostgresLedger {
    fn location(&self) -> &Path {
        &self.location
    }

    fn schema_version(&self) -> LedgerResult<u32> {
        Ok(self.stored_version()?.unwrap_or(0))
    }

    /// `ledger_meta.revision`: bumped by every write transaction of every instance.
    fn revision(&self) -> LedgerResult<u64> {
        self.read(|c| {
            let revision: i64 = c.query_one("SELECT revision FROM ledger_meta", &[])?.try_get(0)?;
            Ok(revision.unsigned_abs())
        })
    }

    fn integrity_problems(&self) -> LedgerResult<Vec<String>> {
        self.read(rows::integrity_problems)
    }

    fn backup_to(&self, _dest: &Path) -> LedgerResult<()> {
        Err(LedgerError::Unsupported {
            path: self.location.clone(),
            what: "this ledger is on PostgreSQL, which pkictl does not copy into a backup directory: back up the database with pg_dump (for example pg_dump --format=custom), and the home's files (ca/, private/, ledger.url) with any file backup".into(),
        })
    }

    fn authorities(&self) -> LedgerResult<Vec<CaRecord>> {
        self.read(rows::authorities)
    }

    fn authority_by_name(&self, name: &str) -> LedgerResult<Option<CaRecord>> {
        self.read(|c| rows::authority_by_name(c, name))
    }

    fn authority_by_id(&self, id: i64) -> LedgerResult<Option<CaRecord>> {
        self.read(|c| rows::authority_by_id(c, id))
    }

    fn default_authority(&self) -> LedgerResult<Option<CaRecord>> {
        self.read(rows::default_authority)
    }

    fn certificate_count(&self) -> LedgerResult<i64> {
        self.read(|c| Ok(c.query_one("SELECT count(*) FROM certificates", &[])?.try_get(0)?))
    }

    fn certificate_summary(&self, now: i64) -> LedgerResult<CertificateSummary> {
        self.read(|c| rows::certificate_summary(c, now))
    }

    fn find_certificates(
        &self,
        selector: CertSelector<'_>,
        issuer_id: Option<i64>,
    ) -> LedgerResult<Vec<CertificateRecord>> {
        self.read(|c| rows::find_certificates(c, selector, issuer_id))
    }

    fn certificate_by_id(&self, id: i64) -> LedgerResult<Option<CertificateRecord>> {
        self.read(|c| rows::certificate_by_id(c, id))
    }

    fn certificate_der(&self, id: i64) -> LedgerResult<Vec<u8>> {
        self.read(|c| Ok(c.query_one("SELECT der FROM certificates WHERE id = $1", &[&id])?.try_get(0)?))
    }

    fn renewals_of(&self, id: i64) -> LedgerResult<Vec<CertificateRecord>> {
        self.read(|c| rows::renewals_of(c, id))
    }

    fn scan_certificates(&self, visit: &mut dyn FnMut(&str, &str, &[u8])) -> LedgerResult<()> {
        self.read(|c| rows::scan_certificates(c, visit))
    }

    fn list_certificates(&self, filter: &CertFilter) -> LedgerResult<Vec<CertificateRecord>> {
        self.read(|c| rows::list_certificates(c, filter))
    }

    fn latest_crls(&self) -> LedgerResult<Vec<CrlRecord>> {
        self.read(rows::latest_crls)
    }

    fn latest_crl_number(&self, issuer_id: i64) -> LedgerResult<Option<i64>> {
        self.read(|c| {
            Ok(c.query_one("SELECT max(number) FROM crls WHERE issuer_id = $1", &[&issuer_id])?.try_get(0)?)
        })
    }

    fn latest_crl_der(&self, issuer_id: i64) -> LedgerResult<Option<Vec<u8>>> {
        self.read(|c| {
            let row = c.query_opt(
                "SELECT der FROM crls WHERE issuer_id = $1 ORDER BY number DESC LIMIT 1",
                &[&issuer_id],
            )?;
            Ok(row.map(|r| r.try_get(0)).transpose()?)
        })
    }

    fn token_by_hash(&self, token_sha256: &str) -> LedgerResult<Option<TokenRecord>> {
        self.read(|c| rows::token_by_hash(c, token_sha256))
    }

    fn token_by_id(&self, id: i64) -> LedgerResult<Option<TokenRecord>> {
        self.read(|c| rows::token_by_id(c, id))
    }

    fn tokens(&self) -> LedgerResult<Vec<TokenRecord>> {
        self.read(rows::tokens)
    }

    fn scan_events(&self, visit: &mut dyn FnMut(&StoredEvent)) -> LedgerResult<()> {
        self.read(|c| rows::scan_events_from(c, i64::MIN, visit))
    }

    fn scan_certificate_rows(&self, visit: &mut dyn FnMut(&StoredCertificate)) -> LedgerResult<()> {
        self.read(|c| rows::scan_certificate_rows(c, visit))
    }

    fn authority_rows(&self) -> LedgerResult<Vec<StoredAuthority>> {
        self.read(rows::authority_rows)
    }

    fn crl_rows(&self) -> LedgerResult<Vec<StoredCrl>> {
        self.read(rows::crl_rows)
    }

    fn acme_provisioners(&self, include_removed: bool) -> LedgerResult<Vec<AcmeProvisionerRecord>> {
        self.read(|c| acme::provisioners(c, include_removed))
    }

    fn acme_provisioner_by_name(&self, name: &str) -> LedgerResult<Option<AcmeProvisionerRecord>> {
        self.read(|c| acme::provisioner_by_name(c, name))
    }

    fn acme_provisioner_by_id(&self, id: i64) -> LedgerResult<Option<AcmeProvisionerRecord>> {
        self.read(|c| acme::provisioner_by_id(c, id))
    }

    fn acme_eab_keys(&self, provisioner_id: i64) -> LedgerResult<Vec<AcmeEabKeyRecord>> {
        self.read(|c| acme::eab_keys(c, provisioner_id))
    }

    fn acme_eab_key(
        &self,
        key_id: &str,
    ) -> LedgerResult<Option<(AcmeEabKeyRecord, zeroize::Zeroizing<Vec<u8>>)>> {
        self.read(|c| acme::eab_key(c, key_id))
    }

    fn acme_account_by_id(&self, id: i64) -> LedgerResult<Option<AcmeAccountRecord>> {
        self.read(|c| acme::account_by_id(c, id))
    }

    fn acme_account_by_thumbprint(
        &self,
        provisioner_id: i64,
        thumbprint: &str,
    ) -> LedgerResult<Option<AcmeAccountRecord>> {
        self.read(|c| acme::account_by_thumbprint(c, provisioner_id, thumbprint))
    }

    fn acme_order_by_id(&self, id: i64) -> LedgerResult<Option<AcmeOrderRecord>> {
        self.read(|c| acme::order_by_id(c, id))
    }

    fn acme_orders_of_account(&self, account_id: i64) -> LedgerResult<Vec<AcmeOrderRecord>> {
        self.read(|c| acme::orders_of_account(c, account_id))
    }

    fn acme_order_window(&self, account_id: i64, since: i64) -> LedgerResult<AcmeOrderWindow> {
        self.read(|c| acme::order_window(c, account_id, since))
    }

    fn acme_authorization_by_id(&self, id: i64) -> LedgerResult<Option<AcmeAuthorizationRecord>> {
        self.read(|c| acme::authorization_by_id(c, id))
    }

    fn acme_authorizations_of_order(&self, order_id: i64) -> LedgerResult<Vec<AcmeAuthorizationRecord>> {
        self.read(|c| acme::authorizations_of_order(c, order_id))
    }

    fn acme_challenge_by_id(&self, id: i64) -> LedgerResult<Option<AcmeChallengeRecord>> {
        self.read(|c| acme::challenge_by_id(c, id))
    }

    fn acme_challenge_by_token(&self, token: &str) -> LedgerResult<Option<AcmeChallengeRecord>> {
        self.read(|c| acme::challenge_by_token(c, token))
    }

    fn acme_challenges_of_authorization(&self, id: i64) -> LedgerResult<Vec<AcmeChallengeRecord>> {
        self.read(|c| acme::challenges_of_authorization(c, id))
    }

    fn acme_certificate_link(&self, certificate_id: i64) -> LedgerResult<Option<AcmeCertificateLink>> {
        self.read(|c| acme::certificate_link(c, certificate_id))
    }

    fn acme_certificates_of_provisioner(&self, provisioner_id: i64) -> LedgerResult<Vec<i64>> {
        self.read(|c| acme::certificates_of_provisioner(c, provisioner_id))
    }

    fn acme_row_digests(&self, visit: &mut dyn FnMut(&str, i64, &str)) -> LedgerResult<()> {
        self.read(|c| acme::row_digests(c, visit))
    }

    fn transaction(&mut self, work: &mut dyn FnMut(&dyn LedgerTx) -> LedgerResult<()>) -> LedgerResult<()> {
        let mut attempt = 1;
        loop {
            match self.attempt(work) {
                Ok(()) => return Ok(()),
                Err((_, true)) if attempt < MAX_ATTEMPTS => {
                    // Back off a little more each time, so that the writers that collided
                    // do not collide again in step.
                    std::thread::sleep(Duration::from_millis(5 << attempt.min(6)));
                    attempt += 1;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }
}

impl LedgerTx for Tx<'_> {
    fn insert_authority(&self, a: &NewAuthority<'_>) -> LedgerResult<i64> {
        let (id, change) = self.run(|tx| rows::insert_authority(tx, a))?;
        self.pending_change(change);
        Ok(id)
    }

    fn clear_default_authority(&self) -> LedgerResult<()> {
        self.run(|tx| {
            Ok(tx.execute("UPDATE authorities SET is_default = FALSE WHERE is_default", &[]).map(|_| ())?)
        })
    }

    fn set_crl_validity(&self, id: i64, seconds: i64) -> LedgerResult<()> {
        self.run(|tx| {
            Ok(tx.execute("UPDATE authorities SET crl_validity_secs = $2 WHERE id = $1", &[&id, &seconds])?)
        })?;
        self.pending_change(Change::CrlValidity { id, seconds });
        Ok(())
    }

    fn set_public_url(&self, id: i64, url: Option<&str>) -> LedgerResult<()> {
        self.run(|tx| {
            Ok(tx
                .execute("UPDATE authorities SET public_url = $2 WHERE id = $1", &[&id, &url])
                .map(|_| ())?)
        })
    }

    fn insert_certificate(&self, c: &NewCertificate<'_>) -> LedgerResult<i64> {
        let serial = c.serial.ledger_hex();
        let mut tx = self.tx.borrow_mut();
        match rows::insert_certificate(&mut tx, c, &serial) {
            Ok((id, change)) => {
                drop(tx);
                self.pending_change(change);
                Ok(id)
            }
            Err(e) if e.violates("certificates_issuer_serial") => {
                Err(LedgerError::DuplicateSerial { serial })
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    fn revoke_certificate(&self, id: i64, at: i64, reason: Reason) -> LedgerResult<bool> {
        let change = self.run(|tx| rows::revoke_certificate(tx, id, at, reason))?;
        let revoked = change.is_some();
        if let Some(change) = change {
            self.pending_change(change);
        }
        Ok(revoked)
    }

    fn allocate_crl_number(&self, issuer_id: i64) -> LedgerResult<i64> {
        self.run(|tx| {
            let row = tx.query_one(
                "UPDATE authorities SET next_crl_number = next_crl_number + 1 WHERE id = $1
                 RETURNING next_crl_number - 1",
                &[&issuer_id],
            )?;
            Ok(row.try_get(0)?)
        })
    }

    fn for_each_revoked(
        &self,
        issuer_id: i64,
        now: i64,
        visit: &mut dyn FnMut(&str, i64, Reason) -> LedgerResult<()>,
    ) -> LedgerResult<()> {
        let mut tx = self.tx.borrow_mut();
        let mut failed = None;
        let scanned =
            rows::for_each_revoked(&mut *tx, issuer_id, now, &mut |serial, at, reason| match visit(
                serial, at, reason,
            ) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            });
        drop(tx);
        scanned.map_err(|e| self.fail(e))?;
        failed.map_or(Ok(()), Err)
    }

    fn insert_crl(&self, crl: &NewCrl<'_>) -> LedgerResult<()> {
        let change = self.run(|tx| rows::insert_crl(tx, crl))?;
        self.pending_change(change);
        Ok(())
    }

    fn insert_token(&self, token: &NewTokenRecord<'_>) -> LedgerResult<i64> {
        let (id, change) = self.run(|tx| rows::insert_token(tx, token))?;
        self.pending_change(change);
        Ok(id)
    }

    fn use_token(&self, id: i64, at: i64, certificate_id: i64) -> LedgerResult<bool> {
        let changed = self.run(|tx| {
            Ok(tx.execute(
                "UPDATE tokens SET used_at = $2, certificate_id = $3
                 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
                &[&id, &at, &certificate_id],
            )?)
        })?;
        if changed == 1 {
            self.pending_change(Change::TokenUse { id, certificate_id, at });
        }
        Ok(changed == 1)
    }

    fn revoke_token(&self, id: i64, at: i64) -> LedgerResult<bool> {
        let changed = self.run(|tx| {
            Ok(tx.execute(
                "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
                &[&id, &at],
            )?)
        })?;
        if changed == 1 {
            self.pending_change(Change::TokenRevoke { id, at });
        }
        Ok(changed == 1)
    }

    fn token_in_tx(&self, id: i64) -> LedgerResult<Option<TokenRecord>> {
        self.run(|tx| rows::token_by_id(tx, id))
    }

    fn insert_acme_provisioner(&self, p: &NewAcmeProvisioner<'_>) -> LedgerResult<i64> {
        acme::insert_provisioner(self, p)
    }

    fn remove_acme_provisioner(&self, id: i64, now: i64) -> LedgerResult<bool> {
        acme::remove_provisioner(self, id, now)
    }

    fn insert_acme_eab_key(
        &self,
        provisioner_id: i64,
        key_id: &str,
        hmac_key: &[u8],
        now: i64,
    ) -> LedgerResult<i64> {
        acme::insert_eab_key(self, provisioner_id, key_id, hmac_key, now)
    }

    fn bind_acme_eab_key(&self, key_id: &str, account_id: i64, now: i64) -> LedgerResult<bool> {
        acme::bind_eab_key(self, key_id, account_id, now)
    }

    fn insert_acme_account(&self, a: &NewAcmeAccount<'_>) -> LedgerResult<i64> {
        acme::insert_account(self, a)
    }

    fn set_acme_account_status(&self, id: i64, from: AccountStatus, to: AccountStatus) -> LedgerResult<bool> {
        acme::set_account_status(self, id, from, to)
    }

    fn set_acme_account_contacts(&self, id: i64, contacts: &[String]) -> LedgerResult<bool> {
        acme::set_account_contacts(self, id, contacts)
    }

    fn set_acme_account_key(&self, id: i64, thumbprint: &str, jwk: &str) -> LedgerResult<bool> {
        acme::set_account_key(self, id, thumbprint, jwk)
    }

    fn insert_acme_order(&self, o: &NewAcmeOrder<'_>) -> LedgerResult<i64> {
        acme::insert_order(self, o)
    }

    fn set_acme_order_status(
        &self,
        id: i64,
        from: OrderStatus,
        to: OrderStatus,
        error: Option<&serde_json::Value>,
    ) -> LedgerResult<bool> {
        acme::set_order_status(self, id, from, to, error)
    }

    fn link_acme_certificate(&self, order_id: i64, certificate_id: i64) -> LedgerResult<bool> {
        acme::link_certificate(self, order_id, certificate_id)
    }

    fn insert_acme_authorization(&self, a: &NewAcmeAuthorization<'_>) -> LedgerResult<i64> {
        acme::insert_authorization(self, a)
    }

    fn set_acme_authorization_status(
        &self,
        id: i64,
        from: AuthorizationStatus,
        to: AuthorizationStatus,
    ) -> LedgerResult<bool> {
        acme::set_authorization_status(self, id, from, to)
    }

    fn insert_acme_challenge(&self, c: &NewAcmeChallenge<'_>) -> LedgerResult<i64> {
        acme::insert_challenge(self, c)
    }

    fn update_acme_challenge(&self, id: i64, u: &ChallengeUpdate<'_>) -> LedgerResult<bool> {
        acme::update_challenge(self, id, u)
    }

    fn record_event(&self, event: &Event<'_>) -> LedgerResult<()> {
        let changes = std::mem::take(&mut *self.pending.borrow_mut());
        let detail = event.detail.to_string();
        self.run(|tx| rows::append_event(tx, event.at, event.kind.as_str(), event.target, &detail, &changes))
    }

    fn scan_events(&self, visit: &mut dyn FnMut(&StoredEvent)) -> LedgerResult<()> {
        self.run(|tx| rows::scan_events_from(tx, i64::MIN, visit))
    }

    fn scan_events_from(&self, first_id: i64, visit: &mut dyn FnMut(&StoredEvent)) -> LedgerResult<()> {
        self.run(|tx| rows::scan_events_from(tx, first_id, visit))
    }

    fn latest_event_id(&self, kind: super::EventKind, target: &str) -> LedgerResult<Option<i64>> {
        self.run(|tx| {
            let row = tx.query_one(
                "SELECT max(id) FROM events WHERE action = $1 AND target = $2",
                &[&kind.as_str(), &target],
            )?;
            Ok(row.try_get(0)?)
        })
    }
}

/// A backend failure as a ledger error at `location`.
fn pg_error(location: &Path, e: DbError) -> LedgerError {
    match e {
        DbError::Damaged(reason) => LedgerError::Damaged { path: location.to_path_buf(), reason },
        DbError::Setup(reason) => {
            LedgerError::BadLocation { location: location.display().to_string(), reason }
        }
        DbError::NotEmpty => LedgerError::NotEmpty { path: location.to_path_buf() },
        DbError::Pg(e) => {
            if e.code() == Some(&SqlState::DISK_FULL) {
                return LedgerError::NoSpace { path: location.to_path_buf() };
            }
            let message = match e.as_db_error() {
                Some(db) => format!("{} ({})", db.message(), db.code().code()),
                None => {
                    let mut message = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(cause) = source {
                        message.push_str(&format!(": {cause}"));
                        source = cause.source();
                    }
                    // OS errors in words, as everywhere else in pkictl.
                    if let Some(at) = message.find(" (os error ")
                        && let Some(end) = message[at..].find(')')
                    {
                        message.replace_range(at..at + end + 1, "");
                    }
                    if message.contains("password missing") {
                        message.push_str(
                            "; set PGPASSWORD, or put the password in a PGPASSFILE (~/.pgpass, mode 0600)",
                        );
                    }
                    message
                }
            };
            LedgerError::Backend { path: location.to_path_buf(), message }
        }
    }
}

#[cfg(test)]
mod tests;
