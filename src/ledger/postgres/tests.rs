//! The PostgreSQL backend against a real server: `PKICTL_TEST_POSTGRES_URL` names one
//! (tests/run.sh starts a throwaway cluster and sets it). In CI a missing variable fails the
//! run; elsewhere these tests say so and fail too: nothing is skipped silently.

use super::*;

use crate::ledger::testing::PostgresDatabase as TestDatabase;

#[test]
fn passes_the_conformance_suite() {
    let databases = std::cell::RefCell::new(Vec::new());
    crate::ledger::conformance::run_all(&|| {
        let db = TestDatabase::new();
        let ledger = PostgresLedger::create(db.location()).expect("a new ledger");
        databases.borrow_mut().push(db);
        Box::new(ledger)
    });
}

#[test]
fn migrations_are_in_increasing_order_and_numbered_as_sqlite() {
    let versions: Vec<u32> = MIGRATIONS.iter().map(|(v, _)| *v).collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    assert_eq!(latest_schema_version(), crate::ledger::sqlite::latest_schema_version());
}

#[test]
fn creates_records_the_version_and_reopens_without_migrating() {
    let db = TestDatabase::new();
    let ledger = PostgresLedger::create(db.location()).unwrap();
    assert_eq!(ledger.schema_version().unwrap(), latest_schema_version());
    let replay = crate::ledger::replay(|v| ledger.scan_events(v)).unwrap();
    assert_eq!((replay.links.broken.is_none(), replay.links.chained), (true, 1), "the chain-start row");
    drop(ledger);
    let again = PostgresLedger::open(db.location(), OpenMode::ReadWrite).unwrap();
    assert_eq!(again.schema_version().unwrap(), latest_schema_version());
    assert!(again.integrity_problems().unwrap().is_empty());
    assert!(
        matches!(PostgresLedger::create(db.location()), Err(LedgerError::NotEmpty { .. })),
        "a second create is refused"
    );
}

#[test]
fn an_older_schema_is_brought_up_to_date_in_order() {
    let db = TestDatabase::new();
    let mut client = db.location().connect().unwrap();
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v <= 2) {
        client.batch_execute(sql).unwrap();
        client.execute("UPDATE ledger_meta SET schema_version = $1", &[&(*version as i32)]).unwrap();
    }
    drop(client);
    let ledger = PostgresLedger::open(db.location(), OpenMode::ReadWrite).unwrap();
    assert_eq!(ledger.schema_version().unwrap(), latest_schema_version());
    let replay = crate::ledger::replay(|v| ledger.scan_events(v)).unwrap();
    assert_eq!(replay.links.chained, 1, "schema 3 started the chain");
}

#[test]
fn an_empty_database_is_not_a_ledger_and_a_future_schema_is_refused() {
    let db = TestDatabase::new();
    assert!(matches!(
        PostgresLedger::open(db.location(), OpenMode::ReadWrite),
        Err(LedgerError::NotALedger { .. })
    ));
    drop(PostgresLedger::create(db.location()).unwrap());
    db.location().connect().unwrap().batch_execute("UPDATE ledger_meta SET schema_version = 99").unwrap();
    assert!(matches!(
        PostgresLedger::open(db.location(), OpenMode::ReadWrite),
        Err(LedgerError::FutureSchema { found: 99, .. })
    ));
}

#[test]
fn a_serialization_failure_is_retried_from_the_start() {
    let db = TestDatabase::new();
    let mut ledger = PostgresLedger::create(db.location()).unwrap();
    let before = ledger.revision().unwrap();
    // The next two attempts get a real SQLSTATE 40001 from the server.
    FORCED_CONFLICTS.with(|c| c.set(2));
    let mut runs = 0;
    (&mut ledger as &mut dyn Ledger)
        .write(|tx| {
            runs += 1;
            tx.set_public_url(1, None)
        })
        .unwrap();
    assert_eq!(runs, 3, "two lost attempts, then the one that commits");
    assert_eq!(ledger.revision().unwrap(), before + 1, "only the committed attempt moved the revision");
}

#[test]
fn conflicts_past_the_bound_fail() {
    let db = TestDatabase::new();
    let mut ledger = PostgresLedger::create(db.location()).unwrap();
    FORCED_CONFLICTS.with(|c| c.set(MAX_ATTEMPTS));
    let result = (&mut ledger as &mut dyn Ledger).write(|tx| tx.set_public_url(1, None));
    FORCED_CONFLICTS.with(|c| c.set(0));
    assert!(
        matches!(result, Err(LedgerError::Backend { ref message, .. }) if message.contains("40001")),
        "{result:?}"
    );
}
