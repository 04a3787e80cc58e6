//! The SQLite backend of the ledger.
//!
//! The schema lives in `migrations/NNNN_*.sql`, embedded at build time and applied in order;
//! the version is SQLite's `user_version`, so an up-to-date ledger costs one PRAGMA read.

mod acme;
mod authorities;
mod certificates;
mod crls;
mod events;
mod tokens;

use std::cell::RefCell;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::chain::{Change, StoredEvent};
use super::{
    CaRecord, CertFilter, CertSelector, CertificateRecord, CertificateSummary, CrlRecord, Event, Ledger,
    LedgerError, LedgerResult, LedgerTx, NewAuthority, NewCertificate, NewCrl, NewTokenRecord, OpenMode,
    TokenRecord,
};
use super::{StoredAuthority, StoredCertificate, StoredCrl};
use crate::engine::crl::Reason;
use crate::ledger::acme::*;

/// Embedded migrations: (version, SQL), in increasing version order (numbers may skip: each
/// one is applied when the ledger's version is below it). Append only; never edit a released one.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../../../migrations/0001_init.sql")),
    (2, include_str!("../../../migrations/0002_revoked_index.sql")),
    (3, include_str!("../../../migrations/0003_audit_chain.sql")),
    (4, include_str!("../../../migrations/0004_public_url.sql")),
    (5, include_str!("../../../migrations/0005_tokens.sql")),
    (6, include_str!("../../../migrations/0006_acme.sql")),
];

/// How many compiled statements each connection keeps: every statement the ledger runs, so
/// none is compiled twice (SQLite's compiler is a fifth of an ACME order's CPU otherwise).
const STATEMENT_CACHE: usize = 256;

/// Statements run through the connection's cache of compiled statements.
trait Cached {
    fn exec(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize>;
    fn row<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, map)
    }
}

/// The schema whose migration starts the audit chain (in Rust: SQL cannot hash).
const CHAIN_SCHEMA: u32 = 3;

/// How long a command waits for another pkictl process holding the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The schema version this build creates and understands.
pub fn latest_schema_version() -> u32 {
    MIGRATIONS.last().map(|(v, _)| *v).unwrap_or(0)
}

/// A ledger in one SQLite file (WAL, synchronous FULL).
pub struct SqliteLedger {
    conn: Connection,
    path: PathBuf,
    /// Transactions this connection committed (SQLite's data_version counts only others').
    own_commits: u64,
}

impl SqliteLedger {
    /// Creates a new ledger file (it must not exist) and applies every migration.
    pub fn create(path: &Path) -> LedgerResult<SqliteLedger> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sqlite(path, e))?;
        // SQLite creates the file 0644 and gives its -wal/-shm files the same mode.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| LedgerError::Io { path: path.to_path_buf(), source: e })?;
        let mut ledger = SqliteLedger { conn, path: path.to_path_buf(), own_commits: 0 };
        ledger.configure()?;
        ledger.conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| sqlite(path, e))?;
        ledger.migrate()?;
        Ok(ledger)
    }

    /// Opens an existing ledger and brings its schema up to date. A database that `init` did
    /// not make (an empty file: schema version 0) is refused, never silently initialised.
    pub fn open(path: &Path) -> LedgerResult<SqliteLedger> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sqlite(path, e))?;
        let mut ledger = SqliteLedger { conn, path: path.to_path_buf(), own_commits: 0 };
        ledger.configure()?;
        if ledger.user_version()? == 0 {
            return Err(LedgerError::NotALedger { path: path.to_path_buf() });
        }
        ledger.migrate()?;
        Ok(ledger)
    }

    /// Opens an existing ledger in `mode`; see [`OpenMode`].
    pub fn open_with(path: &Path, mode: OpenMode) -> LedgerResult<SqliteLedger> {
        let can_write = writable(path);
        if can_write {
            return SqliteLedger::open(path);
        }
        if mode == OpenMode::ReadWrite {
            return match SqliteLedger::open(path) {
                Err(LedgerError::Backend { .. }) if path.exists() => {
                    Err(LedgerError::ReadOnly { path: path.to_path_buf() })
                }
                other => other,
            };
        }
        let conn = Connection::open_with_flags(read_only_uri(path), read_only_flags())
            .map_err(|e| sqlite(path, e))?;
        let ledger = SqliteLedger { conn, path: path.to_path_buf(), own_commits: 0 };
        ledger.conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| ledger.err(e))?;
        let (found, supported) = (ledger.user_version()?, latest_schema_version());
        if found == 0 {
            return Err(LedgerError::NotALedger { path: path.to_path_buf() });
        }
        if found > supported {
            return Err(LedgerError::FutureSchema { path: path.to_path_buf(), found, supported });
        }
        if found < supported {
            return Err(LedgerError::ReadOnlyOutdated { path: path.to_path_buf(), found, supported });
        }
        Ok(ledger)
    }

    fn configure(&self) -> LedgerResult<()> {
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| self.err(e))?;
        self.conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // FULL: a certificate that left the CA must survive a power cut, not only a crash.
        self.conn
            .execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")
            .map_err(|e| self.err(e))
    }

    /// SQLite's online backup in one step: other pkictl processes may keep working meanwhile.
    fn backup_file(&self, dest: &Path) -> LedgerResult<()> {
        let mut copy = Connection::open(dest).map_err(|e| sqlite(dest, e))?;
        std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| LedgerError::Io { path: dest.to_path_buf(), source: e })?;
        {
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut copy).map_err(|e| sqlite(dest, e))?;
            // -1: every page in one step, under one read lock: a consistent snapshot.
            backup.step(-1).map_err(|e| sqlite(dest, e))?;
        }
        copy.pragma_update(None, "journal_mode", "WAL").map_err(|e| sqlite(dest, e))?;
        Ok(())
    }

    fn integrity_check(&self) -> LedgerResult<Vec<String>> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check").map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(|e| self.err(e))?;
        let found = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))?;
        Ok(found.into_iter().filter(|line| line != "ok").collect())
    }

    fn user_version(&self) -> LedgerResult<u32> {
        self.conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(|e| self.err(e))
    }

    fn migrate(&mut self) -> LedgerResult<()> {
        let supported = latest_schema_version();
        let found = self.user_version()?;
        if found > supported {
            return Err(LedgerError::FutureSchema { path: self.path.clone(), found, supported });
        }
        if found == supported {
            return Ok(());
        }
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite(&path, e))?;
        // Another process may have migrated while we waited for the lock.
        let current: u32 =
            tx.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(|e| sqlite(&path, e))?;
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            tx.execute_batch(sql).map_err(|e| sqlite(&path, e))?;
            if *version == CHAIN_SCHEMA {
                events::start_chain(&tx).map_err(|e| sqlite(&path, e))?;
            }
            tx.pragma_update(None, "user_version", version).map_err(|e| sqlite(&path, e))?;
        }
        tx.commit().map_err(|e| sqlite(&path, e))
    }

    /// One IMMEDIATE transaction (the write lock is taken up front, so two writers queue on
    /// the busy timeout instead of failing to upgrade a read lock).
    fn immediate(&mut self, work: &mut dyn FnMut(&dyn LedgerTx) -> LedgerResult<()>) -> LedgerResult<()> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite(&path, e))?;
        let wrapped = Tx { tx, path: path.clone(), pending: RefCell::new(Vec::new()) };
        work(&wrapped)?;
        wrapped.flush_changes()?;
        wrapped.tx.commit().map_err(|e| sqlite(&path, e))?;
        self.own_commits += 1;
        Ok(())
    }

    /// Changes whenever a transaction commits, through this connection or any other.
    fn revision(&self) -> LedgerResult<u64> {
        let others: i64 =
            self.conn.pragma_query_value(None, "data_version", |row| row.get(0)).map_err(|e| self.err(e))?;
        Ok((others.unsigned_abs() << 32) ^ self.own_commits)
    }

    fn err(&self, e: rusqlite::Error) -> LedgerError {
        sqlite(&self.path, e)
    }
}

/// A write transaction of the SQLite ledger.
struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
    path: PathBuf,
    /// State changes made since the last event: the next event records them.
    pending: RefCell<Vec<Change>>,
}

impl Tx<'_> {
    fn pending_change(&self, change: Change) {
        self.pending.borrow_mut().push(change);
    }

    fn err(&self, e: rusqlite::Error) -> LedgerError {
        sqlite(&self.path, e)
    }
}

impl Ledger for SqliteLedger {
    fn location(&self) -> &Path {
        &self.path
    }

    fn schema_version(&self) -> LedgerResult<u32> {
        self.user_version()
    }

    fn revision(&self) -> LedgerResult<u64> {
        SqliteLedger::revision(self)
    }

    fn integrity_problems(&self) -> LedgerResult<Vec<String>> {
        self.integrity_check()
    }

    fn backup_to(&self, dest: &Path) -> LedgerResult<()> {
        self.backup_file(dest)
    }

    fn authorities(&self) -> LedgerResult<Vec<CaRecord>> {
        SqliteLedger::authorities(self)
    }

    fn authority_by_name(&self, name: &str) -> LedgerResult<Option<CaRecord>> {
        SqliteLedger::authority_by_name(self, name)
    }

    fn authority_by_id(&self, id: i64) -> LedgerResult<Option<CaRecord>> {
        SqliteLedger::authority_by_id(self, id)
    }

    fn default_authority(&self) -> LedgerResult<Option<CaRecord>> {
        SqliteLedger::default_authority(self)
    }

    fn certificate_count(&self) -> LedgerResult<i64> {
        SqliteLedger::certificate_count(self)
    }

    fn certificate_summary(&self, now: i64) -> LedgerResult<CertificateSummary> {
        SqliteLedger::certificate_summary(self, now)
    }

    fn find_certificates(
        &self,
        selector: CertSelector<'_>,
        issuer_id: Option<i64>,
    ) -> LedgerResult<Vec<CertificateRecord>> {
        SqliteLedger::find_certificates(self, selector, issuer_id)
    }

    fn certificate_by_id(&self, id: i64) -> LedgerResult<Option<CertificateRecord>> {
        SqliteLedger::certificate_by_id(self, id)
    }

    fn certificate_der(&self, id: i64) -> LedgerResult<Vec<u8>> {
        SqliteLedger::certificate_der(self, id)
    }

    fn renewals_of(&self, id: i64) -> LedgerResult<Vec<CertificateRecord>> {
        SqliteLedger::renewals_of(self, id)
    }

    fn scan_certificates(&self, visit: &mut dyn FnMut(&str, &str, &[u8])) -> LedgerResult<()> {
        SqliteLedger::scan_certificates(self, visit)
    }

    fn list_certificates(&self, filter: &CertFilter) -> LedgerResult<Vec<CertificateRecord>> {
        SqliteLedger::list_certificates(self, filter)
    }

    fn latest_crls(&self) -> LedgerResult<Vec<CrlRecord>> {
        SqliteLedger::latest_crls(self)
    }

    fn latest_crl_number(&self, issuer_id: i64) -> LedgerResult<Option<i64>> {
        SqliteLedger::latest_crl_number(self, issuer_id)
    }

    fn latest_crl_der(&self, issuer_id: i64) -> LedgerResult<Option<Vec<u8>>> {
        SqliteLedger::latest_crl_der(self, issuer_id)
    }

    fn token_by_hash(&self, token_sha256: &str) -> LedgerResult<Option<TokenRecord>> {
        SqliteLedger::token_by_hash(self, token_sha256)
    }

    fn token_by_id(&self, id: i64) -> LedgerResult<Option<TokenRecord>> {
        SqliteLedger::token_by_id(self, id)
    }

    fn tokens(&self) -> LedgerResult<Vec<TokenRecord>> {
        SqliteLedger::tokens(self)
    }

    fn scan_events(&self, visit: &mut dyn FnMut(&StoredEvent)) -> LedgerResult<()> {
        SqliteLedger::scan_events(self, visit)
    }

    fn scan_certificate_rows(&self, visit: &mut dyn FnMut(&StoredCertificate)) -> LedgerResult<()> {
        SqliteLedger::scan_certificate_rows(self, visit)
    }

    fn authority_rows(&self) -> LedgerResult<Vec<StoredAuthority>> {
        SqliteLedger::authority_rows(self)
    }

    fn crl_rows(&self) -> LedgerResult<Vec<StoredCrl>> {
        SqliteLedger::crl_rows(self)
    }

    fn acme_provisioners(&self, include_removed: bool) -> LedgerResult<Vec<AcmeProvisionerRecord>> {
        SqliteLedger::acme_provisioners(self, include_removed)
    }

    fn acme_provisioner_by_name(&self, name: &str) -> LedgerResult<Option<AcmeProvisionerRecord>> {
        SqliteLedger::acme_provisioner_by_name(self, name)
    }

    fn acme_provisioner_by_id(&self, id: i64) -> LedgerResult<Option<AcmeProvisionerRecord>> {
        SqliteLedger::acme_provisioner_by_id(self, id)
    }

    fn acme_eab_keys(&self, provisioner_id: i64) -> LedgerResult<Vec<AcmeEabKeyRecord>> {
        SqliteLedger::acme_eab_keys(self, provisioner_id)
    }

    fn acme_eab_key(
        &self,
        key_id: &str,
    ) -> LedgerResult<Option<(AcmeEabKeyRecord, zeroize::Zeroizing<Vec<u8>>)>> {
        SqliteLedger::acme_eab_key(self, key_id)
    }

    fn acme_account_by_id(&self, id: i64) -> LedgerResult<Option<AcmeAccountRecord>> {
        SqliteLedger::acme_account_by_id(self, id)
    }

    fn acme_account_by_thumbprint(
        &self,
        provisioner_id: i64,
        thumbprint: &str,
    ) -> LedgerResult<Option<AcmeAccountRecord>> {
        SqliteLedger::acme_account_by_thumbprint(self, provisioner_id, thumbprint)
    }

    fn acme_order_by_id(&self, id: i64) -> LedgerResult<Option<AcmeOrderRecord>> {
        SqliteLedger::acme_order_by_id(self, id)
    }

    fn acme_orders_of_account(&self, account_id: i64) -> LedgerResult<Vec<AcmeOrderRecord>> {
        SqliteLedger::acme_orders_of_account(self, account_id)
    }

    fn acme_order_window(&self, account_id: i64, since: i64) -> LedgerResult<AcmeOrderWindow> {
        SqliteLedger::acme_order_window(self, account_id, since)
    }

    fn acme_authorization_by_id(&self, id: i64) -> LedgerResult<Option<AcmeAuthorizationRecord>> {
        SqliteLedger::acme_authorization_by_id(self, id)
    }

    fn acme_authorizations_of_order(&self, order_id: i64) -> LedgerResult<Vec<AcmeAuthorizationRecord>> {
        SqliteLedger::acme_authorizations_of_order(self, order_id)
    }

    fn acme_challenge_by_id(&self, id: i64) -> LedgerResult<Option<AcmeChallengeRecord>> {
        SqliteLedger::acme_challenge_by_id(self, id)
    }

    fn acme_challenge_by_token(&self, token: &str) -> LedgerResult<Option<AcmeChallengeRecord>> {
        SqliteLedger::acme_challenge_by_token(self, token)
    }

    fn acme_challenges_of_authorization(&self, id: i64) -> LedgerResult<Vec<AcmeChallengeRecord>> {
        SqliteLedger::acme_challenges_of_authorization(self, id)
    }

    fn acme_certificate_link(&self, certificate_id: i64) -> LedgerResult<Option<AcmeCertificateLink>> {
        SqliteLedger::acme_certificate_link(self, certificate_id)
    }

    fn acme_certificates_of_provisioner(&self, provisioner_id: i64) -> LedgerResult<Vec<i64>> {
        SqliteLedger::acme_certificates_of_provisioner(self, provisioner_id)
    }

    fn acme_row_digests(&self, visit: &mut dyn FnMut(&str, i64, &str)) -> LedgerResult<()> {
        SqliteLedger::acme_row_digests(self, visit)
    }

    fn transaction(&mut self, work: &mut dyn FnMut(&dyn LedgerTx) -> LedgerResult<()>) -> LedgerResult<()> {
        self.immediate(work)
    }
}

impl LedgerTx for Tx<'_> {
    fn insert_authority(&self, authority: &NewAuthority<'_>) -> LedgerResult<i64> {
        Tx::insert_authority(self, authority)
    }

    fn clear_default_authority(&self) -> LedgerResult<()> {
        Tx::clear_default_authority(self)
    }

    fn set_crl_validity(&self, id: i64, seconds: i64) -> LedgerResult<()> {
        Tx::set_crl_validity(self, id, seconds)
    }

    fn set_public_url(&self, id: i64, url: Option<&str>) -> LedgerResult<()> {
        Tx::set_public_url(self, id, url)
    }

    fn insert_certificate(&self, certificate: &NewCertificate<'_>) -> LedgerResult<i64> {
        Tx::insert_certificate(self, certificate)
    }

    fn revoke_certificate(&self, id: i64, at: i64, reason: Reason) -> LedgerResult<bool> {
        Tx::revoke_certificate(self, id, at, reason)
    }

    fn allocate_crl_number(&self, issuer_id: i64) -> LedgerResult<i64> {
        Tx::allocate_crl_number(self, issuer_id)
    }

    fn for_each_revoked(
        &self,
        issuer_id: i64,
        now: i64,
        visit: &mut dyn FnMut(&str, i64, Reason) -> LedgerResult<()>,
    ) -> LedgerResult<()> {
        Tx::for_each_revoked(self, issuer_id, now, visit)
    }

    fn insert_crl(&self, crl: &NewCrl<'_>) -> LedgerResult<()> {
        Tx::insert_crl(self, crl)
    }

    fn insert_token(&self, token: &NewTokenRecord<'_>) -> LedgerResult<i64> {
        Tx::insert_token(self, token)
    }

    fn use_token(&self, id: i64, at: i64, certificate_id: i64) -> LedgerResult<bool> {
        Tx::use_token(self, id, at, certificate_id)
    }

    fn revoke_token(&self, id: i64, at: i64) -> LedgerResult<bool> {
        Tx::revoke_token(self, id, at)
    }

    fn token_in_tx(&self, id: i64) -> LedgerResult<Option<TokenRecord>> {
        Tx::token_in_tx(self, id)
    }

    fn insert_acme_provisioner(&self, p: &NewAcmeProvisioner<'_>) -> LedgerResult<i64> {
        Tx::insert_acme_provisioner(self, p)
    }

    fn remove_acme_provisioner(&self, id: i64, now: i64) -> LedgerResult<bool> {
        Tx::remove_acme_provisioner(self, id, now)
    }

    fn insert_acme_eab_key(
        &self,
        provisioner_id: i64,
        key_id: &str,
        hmac_key: &[u8],
        now: i64,
    ) -> LedgerResult<i64> {
        Tx::insert_acme_eab_key(self, provisioner_id, key_id, hmac_key, now)
    }

    fn bind_acme_eab_key(&self, key_id: &str, account_id: i64, now: i64) -> LedgerResult<bool> {
        Tx::bind_acme_eab_key(self, key_id, account_id, now)
    }

    fn insert_acme_account(&self, a: &NewAcmeAccount<'_>) -> LedgerResult<i64> {
        Tx::insert_acme_account(self, a)
    }

    fn set_acme_account_status(&self, id: i64, from: AccountStatus, to: AccountStatus) -> LedgerResult<bool> {
        Tx::set_acme_account_status(self, id, from, to)
    }

    fn set_acme_account_contacts(&self, id: i64, contacts: &[String]) -> LedgerResult<bool> {
        Tx::set_acme_account_contacts(self, id, contacts)
    }

    fn set_acme_account_key(&self, id: i64, thumbprint: &str, jwk: &str) -> LedgerResult<bool> {
        Tx::set_acme_account_key(self, id, thumbprint, jwk)
    }

    fn insert_acme_order(&self, o: &NewAcmeOrder<'_>) -> LedgerResult<i64> {
        Tx::insert_acme_order(self, o)
    }

    fn set_acme_order_status(
        &self,
        id: i64,
        from: OrderStatus,
        to: OrderStatus,
        error: Option<&serde_json::Value>,
    ) -> LedgerResult<bool> {
        Tx::set_acme_order_status(self, id, from, to, error)
    }

    fn link_acme_certificate(&self, order_id: i64, certificate_id: i64) -> LedgerResult<bool> {
        Tx::link_acme_certificate(self, order_id, certificate_id)
    }

    fn insert_acme_authorization(&self, a: &NewAcmeAuthorization<'_>) -> LedgerResult<i64> {
        Tx::insert_acme_authorization(self, a)
    }

    fn set_acme_authorization_status(
        &self,
        id: i64,
        from: AuthorizationStatus,
        to: AuthorizationStatus,
    ) -> LedgerResult<bool> {
        Tx::set_acme_authorization_status(self, id, from, to)
    }

    fn insert_acme_challenge(&self, c: &NewAcmeChallenge<'_>) -> LedgerResult<i64> {
        Tx::insert_acme_challenge(self, c)
    }

    fn update_acme_challenge(&self, id: i64, u: &ChallengeUpdate<'_>) -> LedgerResult<bool> {
        Tx::update_acme_challenge(self, id, u)
    }

    fn record_event(&self, event: &Event<'_>) -> LedgerResult<()> {
        Tx::record_event(self, event)
    }

    fn scan_events(&self, visit: &mut dyn FnMut(&StoredEvent)) -> LedgerResult<()> {
        Tx::scan_events(self, visit)
    }

    fn scan_events_from(&self, first_id: i64, visit: &mut dyn FnMut(&StoredEvent)) -> LedgerResult<()> {
        Tx::scan_events_from(self, first_id, visit)
    }

    fn latest_event_id(&self, kind: super::EventKind, target: &str) -> LedgerResult<Option<i64>> {
        Tx::latest_event_id(self, kind.as_str(), target)
    }
}

/// Whether the ledger file and its directory (where SQLite keeps `-wal` and `-shm`) can be
/// written by this process.
fn writable(path: &Path) -> bool {
    use rustix::fs::{Access, access};
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    access(path, Access::WRITE_OK).is_ok() && access(dir, Access::WRITE_OK).is_ok()
}

fn read_only_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

/// A read-only SQLite URI. A WAL database needs its `-shm` to be read; on a read-only file
/// system without a `-wal` (every pkictl process closed cleanly, so the WAL was checkpointed
/// into the file) nothing can change it, and `immutable` tells SQLite so.
fn read_only_uri(path: &Path) -> String {
    let with_suffix = |suffix: &str| {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        PathBuf::from(name)
    };
    let wal_in_use = with_suffix("-wal").exists() && with_suffix("-shm").exists();
    let mode = if wal_in_use { "mode=ro" } else { "mode=ro&immutable=1" };
    format!("file:{}?{mode}", uri_path(path))
}

/// A path as the path part of an SQLite `file:` URI: `?`, `#` and `%` are escaped.
fn uri_path(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = String::new();
    for byte in absolute.as_os_str().as_encoded_bytes() {
        match byte {
            b'?' | b'#' | b'%' => out.push_str(&format!("%{byte:02X}")),
            b if b.is_ascii_graphic() || *b == b' ' => out.push(*b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A text column that must parse into a type; a value that does not is damage, reported as such.
fn parsed<T: std::str::FromStr<Err = String>>(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    text.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, e.into())
    })
}

fn sqlite(path: &Path, e: rusqlite::Error) -> LedgerError {
    let code = match &e {
        rusqlite::Error::SqliteFailure(failure, _) => Some(failure.code),
        _ => None,
    };
    if matches!(e, rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..)) {
        return LedgerError::Damaged { path: path.to_path_buf(), reason: e.to_string() };
    }
    match code {
        Some(rusqlite::ErrorCode::NotADatabase) => LedgerError::NotALedger { path: path.to_path_buf() },
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            LedgerError::Damaged { path: path.to_path_buf(), reason: e.to_string() }
        }
        Some(rusqlite::ErrorCode::DiskFull) => LedgerError::NoSpace { path: path.to_path_buf() },
        // SQLite reports a write that hit a full disk in some paths as a plain I/O error.
        Some(rusqlite::ErrorCode::SystemIoFailure) if file_system_full(path) => {
            LedgerError::NoSpace { path: path.to_path_buf() }
        }
        _ => LedgerError::Backend { path: path.to_path_buf(), message: e.to_string() },
    }
}

/// Whether the file system holding the ledger has no block left for us.
fn file_system_full(path: &Path) -> bool {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    rustix::fs::statvfs(dir).is_ok_and(|s| s.f_bavail == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    #[test]
    fn migrating_twice_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        drop(SqliteLedger::create(&path).unwrap());
        let schema = |l: &SqliteLedger| -> Vec<String> {
            let mut stmt = l.conn.prepare("SELECT sql FROM sqlite_master ORDER BY name").unwrap();
            stmt.query_map([], |r| r.get::<_, Option<String>>(0))
                .unwrap()
                .map(|r| r.unwrap().unwrap_or_default())
                .collect()
        };
        let first = SqliteLedger::open(&path).unwrap();
        let before = schema(&first);
        drop(first);
        let again = SqliteLedger::open(&path).unwrap();
        assert_eq!(schema(&again), before);
        assert_eq!(again.user_version().unwrap(), latest_schema_version());
    }

    #[test]
    fn a_schema_1_ledger_is_upgraded_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(MIGRATIONS[0].1).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        drop(old);
        let ledger = SqliteLedger::open(&path).unwrap();
        assert_eq!(ledger.user_version().unwrap(), latest_schema_version());
        let index: i64 = ledger
            .conn
            .row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'certificates_crl_entries'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(index, 1);
    }

    #[test]
    fn migrations_are_in_increasing_order() {
        let versions: Vec<u32> = MIGRATIONS.iter().map(|(v, _)| *v).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    }

    /// A schema-2 ledger (the last one released before the online CA) holding a certificate.
    fn schema_2_ledger(path: &Path) -> Connection {
        let old = Connection::open(path).unwrap();
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v <= 2) {
            old.execute_batch(sql).unwrap();
            old.pragma_update(None, "user_version", version).unwrap();
        }
        old.execute_batch(
            "INSERT INTO authorities (id, name, slug, subject, cert_der, ski, key_file, key_type,
                 key_encrypted, not_before, not_after, created_at)
             VALUES (1, 'Root', 'root', 'CN=Root', x'00', x'01', 'private/root.key', 'p256', 0, 0, 9, 0);
             INSERT INTO certificates (issuer_id, serial, profile, subject, key_type, key_source,
                 not_before, not_after, fingerprint_sha256, der, created_at, authority_id)
             VALUES (1, printf('%040d', 0), 'root', 'CN=Root', 'p256', 'ca', 0, 9, 'f0', x'00', 0, 1),
                    (1, printf('%040d', 1), 'peer', 'CN=a', 'p256', 'generated', 0, 9, 'f1', x'00', 0, NULL);",
        )
        .unwrap();
        old
    }

    fn insert_profile(conn: &Connection, n: u32, profile: &str) -> rusqlite::Result<usize> {
        conn.exec(
            "INSERT INTO certificates (issuer_id, serial, profile, subject, key_type, key_source,
                 not_before, not_after, fingerprint_sha256, der, created_at)
             VALUES (1, printf('%040d', ?1), ?2, 'CN=x', 'p256', 'generated', 0, 9, 'f' || ?1, x'00', 0)",
            params![n, profile],
        )
    }

    #[test]
    fn schema_4_widens_the_profiles_in_place_and_adds_the_public_url() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let other = schema_2_ledger(&path);
        assert!(insert_profile(&other, 2, "ocsp-responder").is_err(), "schema 2 refuses the profile");
        let ledger = SqliteLedger::open(&path).unwrap();
        assert_eq!(ledger.user_version().unwrap(), latest_schema_version());
        assert!(ledger.integrity_check().unwrap().is_empty());
        insert_profile(&ledger.conn, 3, "ocsp-responder").unwrap();
        assert!(insert_profile(&ledger.conn, 4, "bogus").is_err(), "the constraint still holds");
        // A connection opened before the migration sees the new schema too.
        insert_profile(&other, 5, "ocsp-responder").unwrap();
        let root = ledger.authority_by_id(1).unwrap().unwrap();
        assert_eq!(root.public_url, None);
        let profiles: Vec<String> = {
            let mut stmt = ledger.conn.prepare("SELECT profile FROM certificates ORDER BY serial").unwrap();
            stmt.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect()
        };
        assert_eq!(profiles, ["root", "peer", "ocsp-responder", "ocsp-responder"]);
    }

    #[test]
    fn a_schema_2_ledger_with_rows_starts_its_chain_explaining_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(MIGRATIONS[0].1).unwrap();
        old.execute_batch(MIGRATIONS[1].1).unwrap();
        old.pragma_update(None, "user_version", 2).unwrap();
        old.execute_batch(
            "INSERT INTO authorities (id, name, slug, subject, cert_der, ski, key_file, key_type,
                 key_encrypted, next_crl_number, not_before, not_after, created_at)
             VALUES (1, 'Old Root', 'old-root', 'CN=Old Root', x'3001', x'01', 'private/old-root.key',
                 'p256', 0, 2, 0, 4000000000, 0);
             INSERT INTO certificates (issuer_id, serial, profile, subject, key_type, key_source,
                 not_before, not_after, fingerprint_sha256, der, status, revoked_at,
                 revocation_reason, created_at)
             VALUES (1, '00000000000000000000000000000000000000aa', 'client', 'CN=a', 'p256',
                 'generated', 0, 4000000000, 'f', x'3002', 'revoked', 5, 'superseded', 0);
             INSERT INTO crls (issuer_id, number, this_update, next_update, entries, der)
             VALUES (1, 1, 6, 7, 1, x'3003');
             INSERT INTO events (at, action, target) VALUES (1, 'ca.create', 'Old Root');",
        )
        .unwrap();
        drop(old);
        let ledger = SqliteLedger::open(&path).unwrap();
        let replay = crate::ledger::replay(|v| ledger.scan_events(v)).unwrap();
        assert_eq!(replay.links.broken, None);
        assert_eq!(
            (replay.links.legacy, replay.links.chained),
            (1, 4),
            "chain start + CA + certificate + CRL"
        );
        let cert = replay.certificates.values().next().unwrap();
        assert_eq!(cert.revoked, Some((5, "superseded".to_string())));
        assert!(replay.crls.contains_key(&(1, 1)));
        let mut ledger = ledger;
        let next = (&mut ledger as &mut dyn Ledger)
            .write(|tx| crate::ledger::crl_expectation(tx, 1, "Old Root"))
            .unwrap();
        assert_eq!((next.last_number, next.entries.count), (Some(1), 1));
        assert_eq!(replay.authorities[&1].next_crl_number, 2);
        // Editing a legacy event afterwards breaks the chain at its start.
        ledger.conn.exec("UPDATE events SET target = 'x' WHERE hash IS NULL", []).unwrap();
        let replay = crate::ledger::replay(|v| ledger.scan_events(v)).unwrap();
        assert_eq!(replay.links.broken.map(|b| b.event_id), Some(2));
    }

    #[test]
    fn future_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let l = SqliteLedger::create(&path).unwrap();
        l.conn.pragma_update(None, "user_version", 99).unwrap();
        drop(l);
        assert!(matches!(SqliteLedger::open(&path), Err(LedgerError::FutureSchema { found: 99, .. })));
    }

    #[test]
    fn passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let counter = std::cell::Cell::new(0);
        crate::ledger::conformance::run_all(&|| {
            counter.set(counter.get() + 1);
            let path = dir.path().join(format!("ledger-{}.db", counter.get()));
            Box::new(SqliteLedger::create(&path).unwrap())
        });
    }

    #[test]
    fn garbage_is_not_a_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        assert!(matches!(SqliteLedger::open(&path), Err(LedgerError::NotALedger { .. })));
    }
}
