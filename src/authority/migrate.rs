//! `ledger migrate`: a home's SQLite ledger moved to PostgreSQL. The copy is made and checked
//! while the SQLite write lock is held (no pkictl process of this host can write meanwhile),
//! the home then records the database, and the SQLite file stays beside it, read-only, as the
//! backup of the moment of the move.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::home::{self, Home};
use crate::ledger::{CopyReport, Ledger, LedgerError, LedgerLocation, OpenMode, PgLocation, SqliteLedger};

/// What `ledger migrate` did.
#[derive(Debug, Clone)]
pub struct LedgerMigrated {
    /// Rows copied and checked.
    pub copy: CopyReport,
    /// The database the home now uses (without password).
    pub url: String,
    /// The SQLite ledger as it was at the move, read-only.
    pub backup: PathBuf,
}

/// Moves the ledger of the home at `root` into the empty database at `to`.
pub fn migrate_ledger(root: &Path, to: &PgLocation) -> Result<LedgerMigrated> {
    let home = Home::open(root)?;
    if let LedgerLocation::Postgres(at) = home.ledger_location()? {
        return Err(Error::invalid(format!(
            "the ledger of {} is already on PostgreSQL ({})",
            root.display(),
            at.redacted()
        )));
    }
    let sqlite = home.ledger_path();
    let backup = root.join(home::SQLITE_BACKUP_FILE);
    if backup.exists() {
        return Err(Error::FileExists { path: backup });
    }
    let mut guard: Box<dyn Ledger> = crate::ledger::open(&sqlite)?;
    let mut copied = None;
    // The write lock of the SQLite ledger for the whole move: writers on this host queue.
    guard.transaction(&mut |_tx| {
        let report = crate::ledger::copy_from_sqlite(&sqlite, to)?;
        snapshot(&sqlite, &backup)?;
        home.record_postgres(to).map_err(|e| LedgerError::Aborted(e.to_string()))?;
        copied = Some(report);
        Ok(())
    })?;
    drop(guard);
    let copy = copied.ok_or_else(|| Error::Internal("the ledger copy produced no report".into()))?;
    retire_sqlite(&sqlite)?;
    Ok(LedgerMigrated { copy, url: to.redacted().to_string(), backup })
}

/// SQLite's online backup of the ledger at `backup`, then read-only for everyone.
fn snapshot(sqlite: &Path, backup: &Path) -> std::result::Result<(), LedgerError> {
    let reader = SqliteLedger::open_with(sqlite, OpenMode::ReadOnly)?;
    reader.backup_to(backup)?;
    drop(reader);
    for suffix in ["-wal", "-shm"] {
        let _ = fs::remove_file(with_suffix(backup, suffix));
    }
    fs::set_permissions(backup, fs::Permissions::from_mode(0o400))
        .map_err(|source| LedgerError::Io { path: backup.to_path_buf(), source })
}

/// The live SQLite files go: the backup holds their content, and the home's ledger is the
/// database now.
fn retire_sqlite(sqlite: &Path) -> Result<()> {
    for path in [sqlite.to_path_buf(), with_suffix(sqlite, "-wal"), with_suffix(sqlite, "-shm")] {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Write { path, source }),
        }
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}
