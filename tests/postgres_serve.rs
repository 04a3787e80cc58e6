//! Two `pkictl serve` instances on one PostgreSQL ledger behave as one CA: a certificate
//! revoked through either home is revoked in the other instance's OCSP answers (`openssl ocsp`)
//! and on the CRL it serves; one instance killed with SIGKILL leaves the other serving, and
//! `doctor` is clean on the shared ledger. The homes hold the same CA files, as two hosts would.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::interop::wait_until;
use common::ledger_testing::PostgresDatabase;
use common::serve::{Serve, crl_serials, fetch_crl};
use common::*;

fn postgres_home(db: &PostgresDatabase) -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("pki");
    let out = pkictl(&home)
        .args(["init", "--name", ROOT_NAME, "--no-passphrase", "--ledger", &db.url()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    Pki::from_parts(dir, home)
}

fn issuing_slug(pki: &Pki) -> String {
    pki.json(&["ca", "list"])["authorities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ca| ca["default"] == true)
        .and_then(|ca| ca["slug"].as_str())
        .unwrap()
        .to_string()
}

/// What `openssl ocsp` says of `cert` at `serve`: "good", "revoked", …
fn ocsp_status(pki: &Pki, serve: &Serve, cert: &Path) -> String {
    let slug = issuing_slug(pki);
    let out = openssl([
        os("ocsp"),
        os("-issuer"),
        pki.ca_cert(&slug).as_os_str(),
        os("-cert"),
        cert.as_os_str(),
        os("-url"),
        os(&format!("{}/ocsp", serve.http)),
        os("-CAfile"),
        pki.ca_cert("test-root-ca").as_os_str(),
        os("-timeout"),
        os("10"),
    ]);
    let text = stdout_of(&out);
    let prefix = format!("{}: ", cert.display());
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| format!("no answer: {text}{}", stderr_of(&out)))
}

/// Waits for the status, and says how long it took (the view refreshes a few times a second).
fn becomes(pki: &Pki, serve: &Serve, cert: &Path, status: &str) -> Duration {
    let started = Instant::now();
    let last = std::cell::RefCell::new(String::new());
    wait_until(
        &format!("OCSP at {} to say {status} for {}", serve.http, cert.display()),
        Duration::from_secs(20),
        || {
            *last.borrow_mut() = ocsp_status(pki, serve, cert);
            *last.borrow() == status
        },
        || format!("last answer: {}\nserve log:\n{}", last.borrow(), serve.log()),
    );
    started.elapsed()
}

/// Waits for the CRL `serve` serves to list exactly `serials` (its view of the CRLs refreshes
/// on the next tick after OCSP already answers from the ledger).
fn crl_lists(serve: &Serve, slug: &str, into: &Path, serials: &[String]) {
    let last = std::cell::RefCell::new(Vec::new());
    wait_until(
        &format!("the CRL at {} to list {serials:?}", serve.http),
        Duration::from_secs(20),
        || {
            *last.borrow_mut() = crl_serials(&fetch_crl(serve, slug, into));
            last.borrow().as_slice() == serials
        },
        || format!("last CRL listed {:?}\nserve log:\n{}", last.borrow(), serve.log()),
    );
}

#[test]
fn two_serve_instances_on_one_database_answer_as_one_ca_and_survive_a_sigkill() {
    let db = PostgresDatabase::new();
    let a = postgres_home(&db);
    let b = a.second_host();
    let first = a.issue("server", "one.example.com", &[], "one");
    let second = a.issue("server", "two.example.com", &[], "two");
    let serve_a = Serve::start(&a, &["--no-https"]);
    let serve_b = Serve::start(&b, &["--no-https"]);
    assert_eq!(ocsp_status(&a, &serve_a, &first.crt), "good");
    assert_eq!(ocsp_status(&b, &serve_b, &first.crt), "good");

    // Revoked through home B's CLI: instance A answers "revoked" and serves a CRL listing it.
    b.revoke(&first.serial, "key-compromise");
    let took = becomes(&a, &serve_a, &first.crt, "revoked");
    eprintln!("instance A saw the revocation made through home B after {took:?}");
    becomes(&b, &serve_b, &first.crt, "revoked");
    let slug = issuing_slug(&a);
    crl_lists(&serve_a, &slug, &a.work(), &[first.serial.to_ascii_lowercase()]);

    // One instance dies without a word; the other keeps serving what happens next.
    let status = serve_a.kill_hard();
    assert!(!status.success());
    a.revoke(&second.serial, "superseded");
    becomes(&b, &serve_b, &second.crt, "revoked");
    let mut expected = vec![first.serial.to_ascii_lowercase(), second.serial.to_ascii_lowercase()];
    expected.sort();
    crl_lists(&serve_b, &slug, &b.work(), &expected);
    // A certificate issued while A is down is known to B ("good", not "unknown").
    let third = b.issue("client", "three@example.com", &[], "three");
    becomes(&b, &serve_b, &third.crt, "good");

    // Restarted, instance A picks up everything it missed.
    let serve_a = Serve::start(&a, &["--no-https"]);
    assert_eq!(ocsp_status(&a, &serve_a, &second.crt), "revoked");
    assert_eq!(ocsp_status(&a, &serve_a, &third.crt), "good");
    serve_a.stop();
    serve_b.stop();
    // The ledger is sound; home B's CRL files are only those B wrote itself until it
    // rewrites them from the shared ledger.
    b.run(&["doctor", "--repair"]);
    let doctor = b.json(&["doctor"]);
    assert_eq!(doctor["ok"], true, "{doctor}");
}
