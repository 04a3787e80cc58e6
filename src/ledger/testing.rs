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
    rows(home, sql).first().map(|r| r.int(0)).expect("a count is one row")
}

/// One column value of a row, from either backend.
#[derive(Debug, Clone)]
enum Cell {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// A row of a query that reads the same on SQLite and PostgreSQL (plain SELECTs of the shared
/// schema), so that the helpers below work on a home whichever backend its ledger is on.
struct Cells(Vec<Cell>);

impl Cells {
    fn cell(&self, i: usize) -> &Cell {
        self.0.get(i).unwrap_or_else(|| panic!("no column {i}"))
    }

    fn int(&self, i: usize) -> i64 {
        self.opt_int(i).unwrap_or_else(|| panic!("column {i} is NULL"))
    }

    fn opt_int(&self, i: usize) -> Option<i64> {
        match self.cell(i) {
            Cell::Null => None,
            Cell::Int(n) => Some(*n),
            other => panic!("column {i} is not an integer: {other:?}"),
        }
    }

    fn text(&self, i: usize) -> String {
        self.opt_text(i).unwrap_or_else(|| panic!("column {i} is NULL"))
    }

    fn opt_text(&self, i: usize) -> Option<String> {
        match self.cell(i) {
            Cell::Null => None,
            Cell::Text(t) => Some(t.clone()),
            other => panic!("column {i} is not text: {other:?}"),
        }
    }

    fn blob(&self, i: usize) -> Vec<u8> {
        match self.cell(i) {
            Cell::Blob(b) => b.clone(),
            other => panic!("column {i} is not a blob: {other:?}"),
        }
    }
}

/// The rows of `sql` on the home's ledger: its `ledger.url` database, else `ledger.db`.
fn rows(home: &Path, sql: &str) -> Vec<Cells> {
    match postgres_location(home) {
        Some(at) => postgres_rows(&at, sql),
        None => query(home, sql, |r| {
            let n = r.as_ref().column_count();
            (0..n).map(|i| sqlite_cell(r.get_ref(i)?)).collect::<rusqlite::Result<Vec<Cell>>>().map(Cells)
        }),
    }
}

fn sqlite_cell(value: rusqlite::types::ValueRef<'_>) -> rusqlite::Result<Cell> {
    use rusqlite::types::ValueRef;
    Ok(match value {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(n) => Cell::Int(n),
        ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
        ValueRef::Real(f) => Cell::Text(f.to_string()),
    })
}

fn postgres_location(home: &Path) -> Option<crate::ledger::PgLocation> {
    let url = std::fs::read_to_string(home.join(crate::home::LEDGER_URL_FILE)).ok()?;
    Some(crate::ledger::PgLocation::parse(url.trim()).unwrap_or_else(|e| panic!("{}: {e}", home.display())))
}

fn postgres_rows(at: &crate::ledger::PgLocation, sql: &str) -> Vec<Cells> {
    use postgres::types::Type;
    let fetched = crate::ledger::postgres::admin_query(at, sql)
        .unwrap_or_else(|e| panic!("ledger {}: {sql}: {e}", at.redacted()));
    let cell = |row: &postgres::Row, i: usize| -> Cell {
        let fail = |e: postgres::Error| -> ! { panic!("{sql}: column {i}: {e}") };
        let ty = row.columns()[i].type_().clone();
        let value = if ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i).unwrap_or_else(|e| fail(e)).map(Cell::Int)
        } else if ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i).unwrap_or_else(|e| fail(e)).map(|n| Cell::Int(n.into()))
        } else if ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i).unwrap_or_else(|e| fail(e)).map(|b| Cell::Int(b.into()))
        } else if ty == Type::BYTEA {
            row.try_get::<_, Option<Vec<u8>>>(i).unwrap_or_else(|e| fail(e)).map(Cell::Blob)
        } else {
            row.try_get::<_, Option<String>>(i).unwrap_or_else(|e| fail(e)).map(Cell::Text)
        };
        value.unwrap_or(Cell::Null)
    };
    fetched.iter().map(|row| Cells((0..row.len()).map(|i| cell(row, i)).collect())).collect()
}

/// Every certificate row, in the order they were recorded (by id).
pub fn certificates(home: &Path) -> Vec<CertificateRow> {
    let sql = "SELECT id, issuer_id, serial, profile, subject, common_name, sans, key_type, key_source,
                not_before, not_after, fingerprint_sha256, der, status, revoked_at, revocation_reason,
                renewed_from, authority_id
         FROM certificates ORDER BY id";
    rows(home, sql)
        .into_iter()
        .map(|r| CertificateRow {
            id: r.int(0),
            issuer_id: r.int(1),
            serial: r.text(2),
            profile: r.text(3),
            subject: r.text(4),
            common_name: r.opt_text(5),
            sans: r.text(6),
            key_type: r.text(7),
            key_source: r.text(8),
            not_before: r.int(9),
            not_after: r.int(10),
            fingerprint_sha256: r.text(11),
            der: r.blob(12),
            status: r.text(13),
            revoked_at: r.opt_int(14),
            revocation_reason: r.opt_text(15),
            renewed_from: r.opt_int(16),
            authority_id: r.opt_int(17),
        })
        .collect()
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
    let sql =
        "SELECT id, name, slug, parent_id, is_default, key_encrypted, key_file, cert_der, next_crl_number
         FROM authorities ORDER BY id";
    rows(home, sql)
        .into_iter()
        .map(|r| AuthorityRow {
            id: r.int(0),
            name: r.text(1),
            slug: r.text(2),
            parent_id: r.opt_int(3),
            is_default: r.int(4) != 0,
            key_encrypted: r.int(5) != 0,
            key_file: r.text(6),
            cert_der: r.blob(7),
            next_crl_number: r.int(8),
        })
        .collect()
}

/// Every CRL row with its CA's name, in the order they were recorded (by id).
pub fn crls(home: &Path) -> Vec<CrlRow> {
    let sql = "SELECT k.id, k.issuer_id, a.name, k.number, k.der
         FROM crls k JOIN authorities a ON a.id = k.issuer_id ORDER BY k.id";
    rows(home, sql)
        .into_iter()
        .map(|r| CrlRow {
            id: r.int(0),
            issuer_id: r.int(1),
            issuer_name: r.text(2),
            number: r.int(3),
            der: r.blob(4),
        })
        .collect()
}

/// How many CRLs the ledger has recorded, for every CA together.
pub fn crl_count(home: &Path) -> i64 {
    count(home, "SELECT count(*) FROM crls")
}

/// Every audit event, oldest first (by id).
pub fn events(home: &Path) -> Vec<EventRow> {
    rows(home, "SELECT id, at, action, target, detail FROM events ORDER BY id")
        .into_iter()
        .map(|r| EventRow {
            id: r.int(0),
            at: r.int(1),
            action: r.text(2),
            target: r.text(3),
            detail: r.text(4),
        })
        .collect()
}

/// How many audit events have this `action` (e.g. `certificate.issue`, `crl.publish`).
pub fn event_count(home: &Path, action: &str) -> i64 {
    assert!(action.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_'), "{action}");
    count(home, &format!("SELECT count(*) FROM events WHERE action = '{action}'"))
}

/// The number of rows in each table, read in one transaction.
pub fn row_counts(home: &Path) -> RowCounts {
    let sql = "SELECT (SELECT count(*) FROM authorities), (SELECT count(*) FROM certificates),
                (SELECT count(*) FROM certificates WHERE status = 'revoked'),
                (SELECT count(*) FROM crls), (SELECT count(*) FROM events)";
    let counted = rows(home, sql);
    let r = counted.first().expect("one row of counts");
    RowCounts {
        authorities: r.int(0),
        certificates: r.int(1),
        revoked: r.int(2),
        crls: r.int(3),
        events: r.int(4),
    }
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
