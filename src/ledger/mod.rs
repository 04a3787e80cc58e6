//! The SQLite ledger: the single source of truth and the only code with SQL in it.
//!
//! The schema lives in `migrations/NNNN_*.sql`, embedded at build time and applied in order;
//! the version is SQLite's `user_version`, so an up-to-date ledger costs one PRAGMA read.

mod authorities;
mod certificates;
mod crls;
mod events;
#[doc(hidden)] pub mod testing;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

pub use authorities::{Authority, NewAuthority};
pub use certificates::{CertFilter, CertSelector, CertificateRecord, NewCertificate, StatusFilter};
pub use crls::{CrlRecord, NewCrl};

/// Embedded migrations: (version, SQL). Append only; never edit a released one.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../../migrations/0001_init.sql")),
    (2, include_str!("../../migrations/0002_revoked_index.sql")),
];

/// How long a command waits for another pkictl process holding the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

pub fn latest_schema_version() -> u32 {
    MIGRATIONS.last().map(|(v, _)| *v).unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{} is not a pkictl ledger (empty, or not a database pkictl made); restore it from a backup", path.display())]
    NotALedger { path: PathBuf },
    #[error("{} is damaged ({reason}); restore it from a backup", path.display())]
    Damaged { path: PathBuf, reason: String },
    #[error("{} has schema version {found}, newer than this pkictl understands ({supported}); upgrade pkictl", path.display())]
    FutureSchema { path: PathBuf, found: u32, supported: u32 },
    #[error("ledger {}: {source}", path.display())]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("ledger {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// The caller abandoned the transaction (nothing was written).
    #[error("{0}")]
    Aborted(String),
    #[error("the ledger already holds a certificate with serial {serial} from this CA")]
    DuplicateSerial { serial: String },
}

impl LedgerError {
    /// Errors that come from what the user pointed us at rather than from a failure.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            LedgerError::NotALedger { .. } | LedgerError::Damaged { .. } | LedgerError::FutureSchema { .. }
        )
    }
}

pub type LedgerResult<T> = Result<T, LedgerError>;

pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

impl Ledger {
    /// Creates a new ledger file (it must not exist) and applies every migration.
    pub fn create(path: &Path) -> LedgerResult<Ledger> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sqlite(path, e))?;
        // SQLite creates the file 0644 and gives its -wal/-shm files the same mode.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| LedgerError::Io { path: path.to_path_buf(), source: e })?;
        let mut ledger = Ledger { conn, path: path.to_path_buf() };
        ledger.configure()?;
        ledger.conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| sqlite(path, e))?;
        ledger.migrate()?;
        Ok(ledger)
    }

    /// Opens an existing ledger and brings its schema up to date. A database that `init` did
    /// not make (an empty file: schema version 0) is refused, never silently initialised.
    pub fn open(path: &Path) -> LedgerResult<Ledger> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sqlite(path, e))?;
        let mut ledger = Ledger { conn, path: path.to_path_buf() };
        ledger.configure()?;
        if ledger.schema_version()? == 0 {
            return Err(LedgerError::NotALedger { path: path.to_path_buf() });
        }
        ledger.migrate()?;
        Ok(ledger)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&self) -> LedgerResult<()> {
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| self.err(e))?;
        // FULL: a certificate that left the CA must survive a power cut, not only a crash.
        self.conn
            .execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")
            .map_err(|e| self.err(e))
    }

    /// A consistent copy of the whole ledger at `dest` (a new file, 0600), made with SQLite's
    /// online backup in one step: other pkictl processes may keep working meanwhile.
    pub fn backup_to(&self, dest: &Path) -> LedgerResult<()> {
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

    /// SQLite's own consistency check: empty when the database is sound.
    pub fn integrity_problems(&self) -> LedgerResult<Vec<String>> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check").map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(|e| self.err(e))?;
        let found = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))?;
        Ok(found.into_iter().filter(|line| line != "ok").collect())
    }

    pub fn schema_version(&self) -> LedgerResult<u32> {
        self.conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(|e| self.err(e))
    }

    fn migrate(&mut self) -> LedgerResult<()> {
        let supported = latest_schema_version();
        let found = self.schema_version()?;
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
            tx.pragma_update(None, "user_version", version).map_err(|e| sqlite(&path, e))?;
        }
        tx.commit().map_err(|e| sqlite(&path, e))
    }

    /// Runs `work` in one IMMEDIATE transaction (the write lock is taken up front, so two
    /// writers queue on the busy timeout instead of failing to upgrade a read lock).
    pub fn write<T>(&mut self, work: impl FnOnce(&Tx<'_>) -> LedgerResult<T>) -> LedgerResult<T> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite(&path, e))?;
        let wrapped = Tx { tx, path: path.clone() };
        let value = work(&wrapped)?;
        wrapped.tx.commit().map_err(|e| sqlite(&path, e))?;
        Ok(value)
    }

    fn err(&self, e: rusqlite::Error) -> LedgerError {
        sqlite(&self.path, e)
    }
}

/// A write transaction; its typed methods are the only way to change the ledger.
pub struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
    path: PathBuf,
}

impl Tx<'_> {
    fn err(&self, e: rusqlite::Error) -> LedgerError {
        sqlite(&self.path, e)
    }
}

fn sqlite(path: &Path, e: rusqlite::Error) -> LedgerError {
    let code = match &e {
        rusqlite::Error::SqliteFailure(failure, _) => Some(failure.code),
        _ => None,
    };
    match code {
        Some(rusqlite::ErrorCode::NotADatabase) => LedgerError::NotALedger { path: path.to_path_buf() },
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            LedgerError::Damaged { path: path.to_path_buf(), reason: e.to_string() }
        }
        _ => LedgerError::Sqlite { path: path.to_path_buf(), source: e },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        drop(Ledger::create(&path).unwrap());
        let schema = |l: &Ledger| -> Vec<String> {
            let mut stmt = l.conn.prepare("SELECT sql FROM sqlite_master ORDER BY name").unwrap();
            stmt.query_map([], |r| r.get::<_, Option<String>>(0))
                .unwrap()
                .map(|r| r.unwrap().unwrap_or_default())
                .collect()
        };
        let first = Ledger::open(&path).unwrap();
        let before = schema(&first);
        drop(first);
        let again = Ledger::open(&path).unwrap();
        assert_eq!(schema(&again), before);
        assert_eq!(again.schema_version().unwrap(), latest_schema_version());
    }

    #[test]
    fn a_schema_1_ledger_is_upgraded_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(MIGRATIONS[0].1).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        drop(old);
        let ledger = Ledger::open(&path).unwrap();
        assert_eq!(ledger.schema_version().unwrap(), latest_schema_version());
        let index: i64 = ledger
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'certificates_crl_entries'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(index, 1);
    }

    #[test]
    fn future_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let l = Ledger::create(&path).unwrap();
        l.conn.pragma_update(None, "user_version", 99).unwrap();
        drop(l);
        assert!(matches!(Ledger::open(&path), Err(LedgerError::FutureSchema { found: 99, .. })));
    }

    #[test]
    fn garbage_is_not_a_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        assert!(matches!(Ledger::open(&path), Err(LedgerError::NotALedger { .. })));
    }
}
