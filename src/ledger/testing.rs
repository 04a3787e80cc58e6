//! The test helper of the ledger module: typed reads of the raw ledger rows, and the few
//! deliberate tamperings the tests need, for the integration tests and tooling only.
//!
//! It exists so that no test writes SQL of its own: what a pkictl command prints (`--json`) is
//! read from the command; what no command prints (row ids, DER blobs, audit events, CRL rows,
//! PRAGMAs) is read here. Nothing in pkictl itself calls it, and it is hidden from the
//! documentation. Every function opens `<home>/ledger.db` afresh (never creating it) and panics
//! with the path and SQLite's message on any error: a test that cannot read the ledger has
//! failed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Row};

/// One row of the `certificates` table, every column (the CA certificates included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRow {
    pub id: i64,
    pub issuer_id: i64,
    /// Lower-case hex, zero-padded to 40 digits.
    pub serial: String,
    pub profile: String,
    pub subject: String,
    pub common_name: Option<String>,
    /// The JSON array as stored, e.g. `["DNS:a.example", "IP:10.0.0.1"]`.
    pub sans: String,
    pub key_type: String,
    pub key_source: String,
    pub not_before: i64,
    pub not_after: i64,
    pub fingerprint_sha256: String,
    pub der: Vec<u8>,
    /// `valid` or `revoked` (the ledger's status: an expired certificate stays `valid`).
    pub status: String,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<String>,
    pub renewed_from: Option<i64>,
    /// Set when this is a CA's own certificate.
    pub authority_id: Option<i64>,
}

/// One row of the `authorities` table (the columns the tests look at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityRow {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub parent_id: Option<i64>,
    pub is_default: bool,
    pub key_encrypted: bool,
    /// Relative to the home, e.g. `private/acme-root-ca.key`.
    pub key_file: String,
    pub cert_der: Vec<u8>,
    pub next_crl_number: i64,
}

/// One row of the `crls` table, with the name of the CA that issued it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlRow {
    pub id: i64,
    pub issuer_id: i64,
    pub issuer_name: String,
    pub number: i64,
    pub der: Vec<u8>,
}

/// One row of the `events` table (the audit trail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    pub at: i64,
    pub action: String,
    pub target: String,
    /// A JSON object as stored.
    pub detail: String,
}

/// How many rows the ledger holds, table by table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowCounts {
    pub authorities: i64,
    pub certificates: i64,
    /// Certificates whose ledger status is `revoked`.
    pub revoked: i64,
    pub crls: i64,
    pub events: i64,
}

/// The ledger's write lock, held until dropped; see [`hold_write_lock`].
pub struct WriteLock {
    connection: Connection,
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.connection.execute_batch("ROLLBACK");
    }
}

/// Takes the ledger's write lock (BEGIN IMMEDIATE) and holds it until the value is dropped:
/// every pkictl writer then waits before its transaction, so a test can kill one there.
pub fn hold_write_lock(home: &Path) -> WriteLock {
    let connection = open(home);
    connection
        .execute_batch("BEGIN IMMEDIATE")
        .unwrap_or_else(|e| panic!("ledger {}: BEGIN IMMEDIATE: {e}", ledger_path(home).display()));
    WriteLock { connection }
}

/// The DER of the newest CRL the ledger holds for the CA named `ca`; None when it has none.
pub fn newest_crl_der(home: &Path, ca: &str) -> Option<Vec<u8>> {
    crls(home).into_iter().filter(|c| c.issuer_name == ca).max_by_key(|c| c.number).map(|c| c.der)
}

/// A connection to the ledger held open and otherwise idle; see [`hold_open`].
pub struct OpenLedger {
    _connection: Connection,
}

fn ledger_path(home: &Path) -> PathBuf {
    home.join("ledger.db")
}

fn open(home: &Path) -> Connection {
    let path = ledger_path(home);
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&path, flags)
        .unwrap_or_else(|e| panic!("open the ledger {}: {e}", path.display()));
    conn.busy_timeout(Duration::from_secs(30)).unwrap_or_else(|e| panic!("ledger {}: {e}", path.display()));
    conn
}

fn query<T>(home: &Path, sql: &str, row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>) -> Vec<T> {
    let conn = open(home);
    let fail = |e: rusqlite::Error| -> ! { panic!("ledger {}: {sql}: {e}", ledger_path(home).display()) };
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| fail(e));
    let rows = stmt.query_map([], row).unwrap_or_else(|e| fail(e));
    rows.collect::<rusqlite::Result<Vec<T>>>().unwrap_or_else(|e| fail(e))
}

fn count(home: &Path, sql: &str) -> i64 {
    query(home, sql, |r| r.get(0)).into_iter().next().expect("a count is one row")
}

/// Every certificate row, in the order they were recorded (by id).
pub fn certificates(home: &Path) -> Vec<CertificateRow> {
    query(
        home,
        "SELECT id, issuer_id, serial, profile, subject, common_name, sans, key_type, key_source,
                not_before, not_after, fingerprint_sha256, der, status, revoked_at, revocation_reason,
                renewed_from, authority_id
         FROM certificates ORDER BY id",
        |r| {
            Ok(CertificateRow {
                id: r.get(0)?,
                issuer_id: r.get(1)?,
                serial: r.get(2)?,
                profile: r.get(3)?,
                subject: r.get(4)?,
                common_name: r.get(5)?,
                sans: r.get(6)?,
                key_type: r.get(7)?,
                key_source: r.get(8)?,
                not_before: r.get(9)?,
                not_after: r.get(10)?,
                fingerprint_sha256: r.get(11)?,
                der: r.get(12)?,
                status: r.get(13)?,
                revoked_at: r.get(14)?,
                revocation_reason: r.get(15)?,
                renewed_from: r.get(16)?,
                authority_id: r.get(17)?,
            })
        },
    )
}

/// The certificate with this serial (hex, without colons; padded here to the ledger's 40
/// digits), from any CA; None when the ledger has none.
pub fn certificate(home: &Path, serial_hex: &str) -> Option<CertificateRow> {
    let serial = format!("{:0>40}", serial_hex.to_ascii_lowercase());
    certificates(home).into_iter().find(|c| c.serial == serial)
}

/// The most recently recorded certificate row (the highest id); None in an empty ledger.
pub fn newest_certificate(home: &Path) -> Option<CertificateRow> {
    certificates(home).pop()
}

/// Every authority row, in the order they were created (by id).
pub fn authorities(home: &Path) -> Vec<AuthorityRow> {
    query(
        home,
        "SELECT id, name, slug, parent_id, is_default, key_encrypted, key_file, cert_der, next_crl_number
         FROM authorities ORDER BY id",
        |r| {
            Ok(AuthorityRow {
                id: r.get(0)?,
                name: r.get(1)?,
                slug: r.get(2)?,
                parent_id: r.get(3)?,
                is_default: r.get(4)?,
                key_encrypted: r.get(5)?,
                key_file: r.get(6)?,
                cert_der: r.get(7)?,
                next_crl_number: r.get(8)?,
            })
        },
    )
}

/// Every CRL row with its CA's name, in the order they were recorded (by id).
pub fn crls(home: &Path) -> Vec<CrlRow> {
    query(
        home,
        "SELECT k.id, k.issuer_id, a.name, k.number, k.der
         FROM crls k JOIN authorities a ON a.id = k.issuer_id ORDER BY k.id",
        |r| {
            Ok(CrlRow {
                id: r.get(0)?,
                issuer_id: r.get(1)?,
                issuer_name: r.get(2)?,
                number: r.get(3)?,
                der: r.get(4)?,
            })
        },
    )
}

/// How many CRLs the ledger has recorded, for every CA together.
pub fn crl_count(home: &Path) -> i64 {
    count(home, "SELECT count(*) FROM crls")
}

/// Every audit event, oldest first (by id).
pub fn events(home: &Path) -> Vec<EventRow> {
    query(home, "SELECT id, at, action, target, detail FROM events ORDER BY id", |r| {
        Ok(EventRow { id: r.get(0)?, at: r.get(1)?, action: r.get(2)?, target: r.get(3)?, detail: r.get(4)? })
    })
}

/// How many audit events have this `action` (e.g. `certificate.issue`, `crl.publish`).
pub fn event_count(home: &Path, action: &str) -> i64 {
    let conn = open(home);
    conn.query_row("SELECT count(*) FROM events WHERE action = ?1", [action], |r| r.get(0))
        .unwrap_or_else(|e| panic!("ledger {}: count events {action}: {e}", ledger_path(home).display()))
}

/// The number of rows in each table, read in one transaction.
pub fn row_counts(home: &Path) -> RowCounts {
    let conn = open(home);
    conn.query_row(
        "SELECT (SELECT count(*) FROM authorities), (SELECT count(*) FROM certificates),
                (SELECT count(*) FROM certificates WHERE status = 'revoked'),
                (SELECT count(*) FROM crls), (SELECT count(*) FROM events)",
        [],
        |r| {
            Ok(RowCounts {
                authorities: r.get(0)?,
                certificates: r.get(1)?,
                revoked: r.get(2)?,
                crls: r.get(3)?,
                events: r.get(4)?,
            })
        },
    )
    .unwrap_or_else(|e| panic!("ledger {}: row counts: {e}", ledger_path(home).display()))
}

/// The schema version (SQLite's `user_version`).
pub fn schema_version(home: &Path) -> u32 {
    open(home)
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap_or_else(|e| panic!("ledger {}: user_version: {e}", ledger_path(home).display()))
}

/// Tampers with the schema version (SQLite's `user_version`), e.g. to fake a ledger written
/// by a newer pkictl. Nothing else changes.
pub fn set_schema_version(home: &Path, version: u32) {
    open(home)
        .pragma_update(None, "user_version", version)
        .unwrap_or_else(|e| panic!("ledger {}: set user_version: {e}", ledger_path(home).display()))
}

/// SQLite's journal mode of the ledger as it reports it (e.g. `wal`).
pub fn journal_mode(home: &Path) -> String {
    open(home)
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap_or_else(|e| panic!("ledger {}: journal_mode: {e}", ledger_path(home).display()))
}

/// The first line of SQLite's `PRAGMA integrity_check`: `ok` for a sound ledger.
pub fn integrity_check(home: &Path) -> String {
    open(home)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("ledger {}: integrity_check: {e}", ledger_path(home).display()))
}

/// Opens the ledger, reads from it once, and keeps the connection open until the returned
/// value is dropped. While any connection is open SQLite neither checkpoints nor deletes the
/// `-wal` file on the last close, so every page the commands write stays there to be searched.
pub fn hold_open(home: &Path) -> OpenLedger {
    let connection = open(home);
    let _: i64 = connection
        .query_row("SELECT count(*) FROM certificates", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("ledger {}: {e}", ledger_path(home).display()));
    OpenLedger { _connection: connection }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: a database of its own per test, on the server tests/run.sh starts.

/// The variable tests/run.sh sets to its throwaway server (`postgres://USER@127.0.0.1:PORT/postgres?sslmode=disable`;
/// the password is in PGPASSWORD).
pub const POSTGRES_URL_VARIABLE: &str = "PKICTL_TEST_POSTGRES_URL";

/// A new, empty database with a random name on the test server, dropped when this is.
pub struct PostgresDatabase {
    admin: crate::ledger::PgLocation,
    at: crate::ledger::PgLocation,
}

impl PostgresDatabase {
    /// Panics (never skips) when the test server is not configured: the PostgreSQL tests
    /// exist to run against a real server, and tests/run.sh starts one.
    pub fn new() -> PostgresDatabase {
        let url = std::env::var(POSTGRES_URL_VARIABLE).unwrap_or_else(|_| {
            panic!(
                "{POSTGRES_URL_VARIABLE} is not set: these tests need a PostgreSQL server; run them through tests/run.sh, \
                 which starts a throwaway cluster and sets it (with PGPASSWORD)"
            )
        });
        let admin =
            crate::ledger::PgLocation::parse(&url).unwrap_or_else(|e| panic!("{POSTGRES_URL_VARIABLE}: {e}"));
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("the system RNG");
        let name: String = std::iter::once("pkictl_test_".to_string())
            .chain(bytes.iter().map(|b| format!("{b:02x}")))
            .collect();
        crate::ledger::postgres::admin_execute(&admin, &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE on the test server: {e}"));
        let at = admin.with_database(&name);
        PostgresDatabase { admin, at }
    }

    /// Where the database is, for the backend's own tests.
    #[cfg(test)]
    pub(crate) fn location(&self) -> &crate::ledger::PgLocation {
        &self.at
    }

    /// The database's URL, without password.
    pub fn url(&self) -> String {
        self.at.redacted().to_string()
    }

    /// Row counts of every ledger table in this database.
    pub fn row_counts(&self) -> Vec<(String, i64)> {
        crate::ledger::PostgresLedger::open(&self.at, crate::ledger::OpenMode::ReadOnly)
            .and_then(|l| l.table_counts())
            .unwrap_or_else(|e| panic!("row counts of {}: {e}", self.url()))
    }

    /// Every CRL row (issuer id, number) in the order they were recorded.
    pub fn crl_numbers(&self) -> Vec<(i64, i64)> {
        use crate::ledger::Ledger;
        let ledger = crate::ledger::PostgresLedger::open(&self.at, crate::ledger::OpenMode::ReadOnly)
            .unwrap_or_else(|e| panic!("open {}: {e}", self.url()));
        ledger
            .crl_rows()
            .unwrap_or_else(|e| panic!("CRL rows: {e}"))
            .iter()
            .map(|c| (c.issuer_id, c.number))
            .collect()
    }

    /// Creates a table in the database so that it is no longer empty (the refusal tests).
    pub fn put_a_foreign_table(&self) {
        crate::ledger::postgres::admin_execute(&self.at, "CREATE TABLE someone_elses (id INTEGER)")
            .unwrap_or_else(|e| panic!("CREATE TABLE: {e}"));
    }
}

impl Default for PostgresDatabase {
    fn default() -> Self {
        PostgresDatabase::new()
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let _ = crate::ledger::postgres::admin_execute(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.at.database()),
        );
    }
}
