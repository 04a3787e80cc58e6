//! `ledger migrate`: a SQLite ledger copied row for row into an empty PostgreSQL database,
//! ids and audit chain included, then checked: the same row count in every table, the chain
//! unbroken on PostgreSQL and ending at the same hash, and every ACME row hashing as the chain
//! recorded it.

use std::collections::BTreeMap;
use std::path::Path;

use postgres::GenericClient;
use postgres::types::{ToSql, Type};
use rusqlite::types::ValueRef;

use super::{Db, DbError, PgLocation, PostgresLedger, pg_error};
use crate::ledger::{Ledger, LedgerError, LedgerResult, OpenMode, SqliteLedger};

/// Every table of the ledger, in an order that satisfies the foreign keys.
pub(super) const TABLES: &[&str] = &[
    "authorities",
    "certificates",
    "crls",
    "events",
    "tokens",
    "acme_provisioners",
    "acme_accounts",
    "acme_eab_keys",
    "acme_orders",
    "acme_authorizations",
    "acme_challenges",
    "acme_certificates",
];

/// What a copy moved and checked.
#[derive(Debug, Clone)]
pub struct CopyReport {
    /// Rows per table, equal on both sides.
    pub tables: Vec<(String, i64)>,
    /// Audit events replayed on PostgreSQL without a break.
    pub events: u64,
    /// The hash of the newest event, the same on both sides.
    pub head: Option<String>,
}

pub(super) fn table_counts(c: &mut impl GenericClient) -> Db<Vec<(String, i64)>> {
    let mut out = Vec::new();
    for table in TABLES {
        let n: i64 = c.query_one(&format!("SELECT count(*) FROM {table}"), &[])?.try_get(0)?;
        out.push((table.to_string(), n));
    }
    Ok(out)
}

/// Copies the SQLite ledger at `sqlite` into the empty database at `target` and checks the
/// copy. Nothing in the SQLite ledger changes (its schema is first brought up to date).
pub fn copy_from_sqlite(sqlite: &Path, target: &PgLocation) -> LedgerResult<CopyReport> {
    // Up to date, and its own audit replays cleanly: a broken ledger is not copied.
    let source = SqliteLedger::open_with(sqlite, OpenMode::ReadWrite)?;
    let source_replay = crate::ledger::replay(|v| source.scan_events(v))?;
    if let Some(broken) = &source_replay.links.broken {
        return Err(LedgerError::Damaged {
            path: sqlite.to_path_buf(),
            reason: format!(
                "its audit chain breaks at event {} ({}); run doctor before migrating",
                broken.event_id, broken.problem
            ),
        });
    }
    let mut conn = rusqlite::Connection::open_with_flags(sqlite, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| sqlite_error(sqlite, e))?;
    // One read transaction: the copy is one consistent snapshot of the file.
    let snapshot = conn.transaction().map_err(|e| sqlite_error(sqlite, e))?;

    let pg = PostgresLedger::create_with(target, false)?;
    let source_counts = {
        let mut client = pg.connected()?;
        let copied = (|| -> Result<Vec<(String, i64)>, CopyError> {
            let mut tx = client.transaction().map_err(CopyError::from_pg)?;
            let mut counts = Vec::new();
            for table in TABLES {
                counts.push((table.to_string(), copy_table(&snapshot, &mut tx, table)?));
            }
            tx.commit().map_err(CopyError::from_pg)?;
            Ok(counts)
        })();
        match copied {
            Ok(counts) => counts,
            Err(CopyError::Sqlite(e)) => return Err(sqlite_error(sqlite, e)),
            Err(CopyError::Pg(e)) => return Err(pg_error(&pg.location, e)),
        }
    };
    drop(snapshot);
    verify(&source, &source_replay, &pg, source_counts)
}

/// The copy against the source: counts, chain, ACME row digests.
fn verify(
    source: &SqliteLedger,
    source_replay: &crate::ledger::chain::Replay,
    pg: &PostgresLedger,
    source_counts: Vec<(String, i64)>,
) -> LedgerResult<CopyReport> {
    let mismatch = |reason: String| LedgerError::Damaged { path: pg.location.clone(), reason };
    let copied = pg.table_counts()?;
    if copied != source_counts {
        return Err(mismatch(format!(
            "the copy's row counts {copied:?} differ from the source's {source_counts:?}"
        )));
    }
    let replay = crate::ledger::replay(|v| pg.scan_events(v))?;
    if let Some(broken) = &replay.links.broken {
        return Err(mismatch(format!(
            "the copied audit chain breaks at event {} ({})",
            broken.event_id, broken.problem
        )));
    }
    let (source_head, copied_head) = (last_hash(source)?, last_hash(pg)?);
    if source_head != copied_head || replay.links.chained != source_replay.links.chained {
        return Err(mismatch("the copied audit chain does not end where the source's does".into()));
    }
    let (mut theirs, mut ours) = (BTreeMap::new(), BTreeMap::new());
    source.acme_row_digests(&mut |t, id, d| {
        theirs.insert((t.to_string(), id), d.to_string());
    })?;
    pg.acme_row_digests(&mut |t, id, d| {
        ours.insert((t.to_string(), id), d.to_string());
    })?;
    if theirs != ours {
        return Err(mismatch("the copied ACME rows do not hash as the source's".into()));
    }
    Ok(CopyReport { tables: copied, events: replay.links.chained as u64, head: copied_head })
}

fn last_hash(ledger: &dyn Ledger) -> LedgerResult<Option<String>> {
    let mut last = None;
    ledger.scan_events(&mut |e| last = e.hash.clone())?;
    Ok(last)
}

enum CopyError {
    Sqlite(rusqlite::Error),
    Pg(DbError),
}

impl CopyError {
    fn from_pg(e: postgres::Error) -> CopyError {
        CopyError::Pg(DbError::Pg(e))
    }
}

/// Copies one table with its ids; returns how many rows. The identity sequence then starts
/// after the largest id.
fn copy_table(
    source: &rusqlite::Connection,
    tx: &mut postgres::Transaction<'_>,
    table: &str,
) -> Result<i64, CopyError> {
    let shape = tx.prepare(&format!("SELECT * FROM {table} LIMIT 0")).map_err(CopyError::from_pg)?;
    let columns: Vec<(String, Type)> =
        shape.columns().iter().map(|c| (c.name().to_string(), c.type_().clone())).collect();
    let names = columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
    let placeholders = (1..=columns.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
    let insert = tx
        .prepare(&format!("INSERT INTO {table} ({names}) VALUES ({placeholders})"))
        .map_err(CopyError::from_pg)?;
    let mut select =
        source.prepare(&format!("SELECT {names} FROM {table} ORDER BY rowid")).map_err(CopyError::Sqlite)?;
    let mut rows = select.query([]).map_err(CopyError::Sqlite)?;
    let mut copied = 0;
    while let Some(row) = rows.next().map_err(CopyError::Sqlite)? {
        let mut values: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(columns.len());
        for (index, (name, ty)) in columns.iter().enumerate() {
            let value = row.get_ref(index).map_err(CopyError::Sqlite)?;
            values.push(convert(table, name, ty, value).map_err(|e| CopyError::Pg(DbError::Damaged(e)))?);
        }
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        tx.execute(&insert, &refs).map_err(CopyError::from_pg)?;
        copied += 1;
    }
    let identity: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1 AND column_name = 'id' AND is_identity = 'YES')",
            &[&table],
        )
        .and_then(|r| r.try_get(0))
        .map_err(CopyError::from_pg)?;
    if identity {
        tx.execute(
            &format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) FROM {table}"),
            &[],
        )
        .map_err(CopyError::from_pg)?;
    }
    Ok(copied)
}

/// A SQLite value as the PostgreSQL column's type; a value SQLite let through that the
/// column cannot hold is refused, named.
fn convert(
    table: &str,
    column: &str,
    ty: &Type,
    value: ValueRef<'_>,
) -> Result<Box<dyn ToSql + Sync>, String> {
    let wrong =
        || format!("{table}.{column} holds a value of the wrong type; run doctor on the SQLite ledger");
    Ok(match (ty, value) {
        (&Type::INT8, ValueRef::Integer(i)) => Box::new(i),
        (&Type::INT8, ValueRef::Null) => Box::new(None::<i64>),
        (&Type::BOOL, ValueRef::Integer(i)) => Box::new(i != 0),
        (&Type::BOOL, ValueRef::Null) => Box::new(None::<bool>),
        (&Type::TEXT, ValueRef::Text(t)) => {
            Box::new(std::str::from_utf8(t).map_err(|_| wrong())?.to_string())
        }
        (&Type::TEXT, ValueRef::Null) => Box::new(None::<String>),
        (&Type::BYTEA, ValueRef::Blob(b)) => Box::new(b.to_vec()),
        (&Type::BYTEA, ValueRef::Null) => Box::new(None::<Vec<u8>>),
        _ => return Err(wrong()),
    })
}

fn sqlite_error(path: &Path, e: rusqlite::Error) -> LedgerError {
    LedgerError::Backend { path: path.to_path_buf(), message: e.to_string() }
}
