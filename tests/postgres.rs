//! The ledger on PostgreSQL, through the binary: `init --ledger`, the everyday commands on such
//! a home, `doctor`, `backup`'s plain refusal, and `ledger migrate` from a populated SQLite
//! home. Each test has a database of its own on the server tests/run.sh starts
//! (PKICTL_TEST_POSTGRES_URL, password in PGPASSWORD); a missing server fails the test. CRLs
//! and certificates are checked with openssl.

mod common;

use std::fs;
use std::path::Path;

use common::ledger_testing::PostgresDatabase;
use common::*;
use serde_json::Value;

/// An unencrypted home whose ledger is `db`.
fn postgres_home(db: &PostgresDatabase) -> Pki {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let home = dir.path().join("pki");
    let out = pkictl(&home)
        .args(["init", "--name", ROOT_NAME, "--no-passphrase", "--ledger", &db.url()])
        .output()
        .expect("run pkictl init");
    assert!(out.status.success(), "init --ledger failed:\n{}", stderr_of(&out));
    Pki::from_parts(dir, home)
}

fn issuing_slug(pki: &Pki) -> String {
    pki.json(&["ca", "list"])["authorities"]
        .as_array()
        .expect("authorities")
        .iter()
        .find(|ca| ca["default"] == true)
        .and_then(|ca| ca["slug"].as_str())
        .expect("a default CA")
        .to_string()
}

fn serials(list: &Value) -> Vec<String> {
    let mut found: Vec<String> = list["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .map(|c| c["serial"].as_str().expect("serial").to_string())
        .collect();
    found.sort();
    found
}

/// The serials openssl reads on a PEM CRL, lower-case hex.
fn crl_serials(crl: &Path) -> Vec<String> {
    let text = openssl_ok([os("crl"), os("-in"), crl.as_os_str(), os("-noout"), os("-text")]);
    let mut found: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    found.sort();
    found
}

#[test]
fn a_home_on_postgres_issues_revokes_publishes_and_passes_doctor() {
    let db = PostgresDatabase::new();
    let pki = postgres_home(&db);
    let url_file = pki.home.join("ledger.url");
    assert_eq!(fs::read_to_string(&url_file).unwrap().trim(), db.url());
    assert_mode(&url_file, 0o600);
    assert!(!pki.home.join("ledger.db").exists(), "no SQLite ledger in a PostgreSQL home");

    let server = pki.issue("server", "api.example.com", &[], "api");
    let client = pki.issue("client", "alice@example.com", &[], "alice");
    let slug = issuing_slug(&pki);
    let chain = pki.work().join("chain.pem");
    fs::write(
        &chain,
        [fs::read(pki.ca_cert(&slug)).unwrap(), fs::read(pki.ca_cert("test-root-ca")).unwrap()].concat(),
    )
    .unwrap();
    openssl_ok([os("verify"), os("-CAfile"), chain.as_os_str(), server.crt.as_os_str()]);

    let revoked = pki.revoke(&client.serial, "key-compromise");
    assert_eq!(revoked["crl"]["number"], 1);
    let published = pki.json(&["crl"]);
    assert_eq!(published["number"], 2, "CRL numbers go on from the revocation's CRL");
    assert_eq!(crl_serials(&pki.crl_pem(&slug)), [client.serial.to_ascii_lowercase()]);
    // openssl refuses the revoked client and accepts the server with the CRL from the ledger.
    let with_crl = |cert: &Path| {
        openssl([
            os("verify"),
            os("-crl_check"),
            os("-CAfile"),
            chain.as_os_str(),
            os("-CRLfile"),
            pki.crl_pem(&slug).as_os_str(),
            cert.as_os_str(),
        ])
    };
    assert!(with_crl(&server.crt).status.success());
    assert!(
        stdout_of(&with_crl(&client.crt)).contains("revoked")
            || stderr_of(&with_crl(&client.crt)).contains("revoked")
    );

    let listed = pki.json(&["list", "--status", "revoked"]);
    assert_eq!(serials(&listed), [client.serial.to_ascii_lowercase()]);
    let shown = pki.json(&["show", &server.serial]);
    assert_eq!(shown["status"], "valid");

    let doctor = pki.json(&["doctor"]);
    assert_eq!(doctor["ok"], true, "{doctor}");
    assert!(doctor["chain"]["events"].as_u64().unwrap() >= 6, "{doctor}");
    let counts: std::collections::BTreeMap<String, i64> = db.row_counts().into_iter().collect();
    assert_eq!((counts["certificates"], counts["crls"]), (4, 2));
}

#[test]
fn backup_of_a_postgres_home_says_to_use_pg_dump() {
    let db = PostgresDatabase::new();
    let pki = postgres_home(&db);
    let dest = pki.path("backup");
    let out = pki.run(&["backup", arg(&dest)]);
    let message = assert_error(&out, 2);
    assert!(message.contains("pg_dump"), "{message}");
    assert!(!dest.exists(), "nothing was made");
}

#[test]
fn init_refuses_a_database_that_is_not_empty_and_makes_no_home() {
    let db = PostgresDatabase::new();
    db.put_a_foreign_table();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("pki");
    let out = pkictl(&home)
        .args(["init", "--name", ROOT_NAME, "--no-passphrase", "--ledger", &db.url()])
        .output()
        .unwrap();
    let message = assert_error(&out, 2);
    assert!(message.contains("already holds tables"), "{message}");
    assert!(!home.join("ledger.url").exists() && !home.join("ledger.db").exists());
}

#[test]
fn the_password_comes_from_the_environment_and_never_reaches_the_home() {
    let db = PostgresDatabase::new();
    let password = std::env::var("PGPASSWORD").expect("tests/run.sh sets PGPASSWORD for its server");
    let with_password = db.url().replacen("://pkictl@", &format!("://pkictl:{password}@"), 1);
    assert_ne!(with_password, db.url(), "the test URL names the user pkictl");
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("pki");
    let out = pkictl(&home)
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", "/nonexistent")
        .args(["init", "--name", ROOT_NAME, "--no-passphrase", "--ledger", &with_password])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!stdout_of(&out).contains(&password) && !stderr_of(&out).contains(&password));
    for entry in walk(&home) {
        let bytes = fs::read(&entry).unwrap_or_default();
        assert!(!contains_bytes(&bytes, password.as_bytes()), "the password is in {}", entry.display());
    }
    // Without it the next command fails plainly, naming the ledger without a password.
    let out = pkictl(&home)
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", "/nonexistent")
        .args(["list"])
        .output()
        .unwrap();
    let message = assert_error(&out, 1);
    assert!(
        message.contains("PGPASSWORD") && message.contains(&db.url()) && !message.contains(&password),
        "{message}"
    );
    // From a password file, as libpq reads one.
    let passfile = dir.path().join("pgpass");
    fs::write(&passfile, format!("*:*:*:pkictl:{password}\n")).unwrap();
    fs::set_permissions(&passfile, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out =
        pkictl(&home).env_remove("PGPASSWORD").env("PGPASSFILE", &passfile).args(["list"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    // Or in the URL given at run time, which replaces the recorded one for this run only.
    let out = pkictl(&home)
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", "/nonexistent")
        .env("PKICTL_LEDGER_URL", &with_password)
        .args(["list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(fs::read_to_string(home.join("ledger.url")).unwrap().trim(), db.url());
    // A wrong one is the server's refusal, exit 1.
    let out = pkictl(&home).env("PGPASSWORD", "wrong").args(["list"]).output().unwrap();
    let message = assert_error(&out, 1);
    assert!(message.contains("password authentication failed"), "{message}");
}

#[test]
fn ledger_migrate_moves_a_populated_sqlite_home_with_its_audit_chain() {
    let pki = Pki::init_unencrypted(ROOT_NAME);
    let mut issued = Vec::new();
    for name in ["a.example.com", "b.example.com", "c.example.com"] {
        issued.push(pki.issue("server", name, &[], name));
    }
    pki.revoke(&issued[0].serial, "superseded");
    pki.ok(&["crl"]);
    pki.ok(&["token", "create", "web-1", "--profile", "server", "--dns", "web-1.example.com"]);
    pki.ok(&["acme", "add", "web", "--profile", "server", "--allow", "*.example.com"]);
    let renewed = pki.json(&["renew", &issued[1].serial, "--rekey", "--out", &pki.out("renewed")]);
    assert!(renewed["serial"].is_string(), "{renewed}");
    let before = pki.json(&["list", "--status", "all"]);
    let chain_before = pki.json(&["doctor"])["chain"].clone();

    let db = PostgresDatabase::new();
    let moved = pki.json(&["ledger", "migrate", "--to", &db.url()]);
    assert_eq!(moved["ledger"], db.url().as_str());
    assert_eq!(moved["audit_head"], chain_before["head"], "the chain ends where it did");
    assert_eq!(moved["rows"]["certificates"], 6, "{moved}");
    let backup = pki.home.join("ledger-sqlite-backup.db");
    assert_mode(&backup, 0o400);
    assert!(!pki.home.join("ledger.db").exists());
    assert_eq!(fs::read_to_string(pki.home.join("ledger.url")).unwrap().trim(), db.url());

    // The same certificates, the same chain, the same answers; then the home goes on.
    assert_eq!(serials(&pki.json(&["list", "--status", "all"])), serials(&before));
    let doctor = pki.json(&["doctor"]);
    assert_eq!(doctor["ok"], true, "{doctor}");
    assert_eq!(doctor["chain"]["head"], chain_before["head"]);
    let next = pki.issue("server", "d.example.com", &[], "d");
    pki.revoke(&next.serial, "key-compromise");
    let slug = issuing_slug(&pki);
    let mut expected = vec![issued[0].serial.to_ascii_lowercase(), next.serial.to_ascii_lowercase()];
    // renew revokes nothing by default; the two revocations are the CRL's entries.
    expected.sort();
    assert_eq!(crl_serials(&pki.crl_pem(&slug)), expected);
    assert_eq!(pki.json(&["doctor"])["ok"], true);
    let acme = pki.json(&["acme", "list"]);
    assert!(acme.to_string().contains("\"web\""), "{acme}");

    // Once on PostgreSQL, a second migrate is refused and changes nothing.
    let again = pki.run(&["ledger", "migrate", "--to", &db.url()]);
    assert!(assert_error(&again, 2).contains("already on PostgreSQL"));
}

#[test]
fn ledger_migrate_into_a_database_that_is_not_empty_changes_nothing() {
    let pki = Pki::init_unencrypted(ROOT_NAME);
    pki.issue("client", "alice@example.com", &[], "alice");
    let db = PostgresDatabase::new();
    db.put_a_foreign_table();
    let out = pki.run(&["ledger", "migrate", "--to", &db.url()]);
    assert!(assert_error(&out, 2).contains("already holds tables"));
    assert!(pki.home.join("ledger.db").exists() && !pki.home.join("ledger.url").exists());
    assert!(!pki.home.join("ledger-sqlite-backup.db").exists());
    assert_eq!(pki.json(&["doctor"])["ok"], true);
}

#[test]
fn a_bad_ledger_url_is_refused_before_anything_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("pki");
    for url in
        ["mysql://db/pki", "postgres://db.example/pki?sslmode=sometimes", "postgres://u:secret@db.example"]
    {
        let out = pkictl(&home)
            .args(["init", "--name", ROOT_NAME, "--no-passphrase", "--ledger", url])
            .output()
            .unwrap();
        let message = assert_error(&out, 2);
        assert!(!message.contains("secret"), "{message}");
        assert!(!home.exists(), "{url}: nothing made");
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
