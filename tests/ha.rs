//! Two `pkictl serve` instances on one ledger behave as one CA: what one issues or revokes the
//! other's OCSP and CRL see within a second, either can be SIGKILLed while the other keeps
//! serving, and concurrent issuing, renewing, revoking and CRL signing through both and the CLI
//! lose nothing, duplicate no serial and keep CRL numbers strictly increasing per CA.
//!
//! On SQLite the instances share one home (two processes on one WAL database); on PostgreSQL
//! each has its own copy of the home's files, as two hosts would, and they share the database
//! (tests/run.sh starts a throwaway PostgreSQL server for it).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::interop::wait_until;
use common::serve::{Serve, crl_serials, fetch_crl};
use common::*;
use serde_json::Value;

const ROOT: &str = "HA Root CA";

struct Ca {
    pki: Pki,
    root_pem: PathBuf,
    issuer_pem: PathBuf,
    slug: String,
    /// The second host's copy of the home, when the ledger is on PostgreSQL.
    second: Option<Pki>,
    database: Option<ledger_testing::PostgresDatabase>,
}

/// Where the two instances keep their ledger.
#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

fn ca() -> Ca {
    ca_on(Backend::Sqlite)
}

fn ca_on(backend: Backend) -> Ca {
    let (pki, database) = match backend {
        Backend::Sqlite => (Pki::init_unencrypted(ROOT), None),
        Backend::Postgres => {
            let database = ledger_testing::PostgresDatabase::new();
            let dir = tempfile::tempdir().expect("a temporary directory");
            let home = dir.path().join("pki");
            let out = pkictl(&home)
                .args(["init", "--name", ROOT, "--no-passphrase", "--ledger", &database.url()])
                .output()
                .expect("run pkictl init");
            assert!(out.status.success(), "{}", stderr_of(&out));
            (Pki::from_parts(dir, home), Some(database))
        }
    };
    let root_pem = pki.path("root.pem");
    fs::write(&root_pem, pki.ok(&["ca", "cert", ROOT]).stdout).expect("write the root");
    let cas = pki.json(&["ca", "list"]);
    let slug = cas["authorities"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["default"] == true))
        .and_then(|c| c["slug"].as_str())
        .unwrap_or_else(|| panic!("no issuing CA in {cas}"))
        .to_string();
    let issuer_pem = pki.ca_cert(&slug);
    let second = database.as_ref().map(|_| pki.second_host());
    Ca { pki, root_pem, issuer_pem, slug, second, database }
}

fn instance(ca: &Ca) -> Serve {
    Serve::start(&ca.pki, &["--name", "localhost", "--log-format", "off"])
}

/// The instance of the second host (on SQLite, of the same home).
fn second_instance(ca: &Ca) -> Serve {
    Serve::start(ca.second.as_ref().unwrap_or(&ca.pki), &["--name", "localhost", "--log-format", "off"])
}

/// Every CRL the ledger recorded, in order: (its CA, its number).
fn crl_numbers(ca: &Ca) -> Vec<(String, i64)> {
    match &ca.database {
        None => ledger_testing::crls(&ca.pki.home).into_iter().map(|c| (c.issuer_name, c.number)).collect(),
        Some(db) => db.crl_numbers().into_iter().map(|(issuer, n)| (issuer.to_string(), n)).collect(),
    }
}

/// `pkictl ARGS…` on the shared home; the parsed `--json` output, or the failure's stderr.
fn pkictl_json_result(home: &Path, args: &[&str]) -> Result<Value, String> {
    let out = pkictl(home).arg("--json").args(args).output().expect("run pkictl");
    if out.status.success() {
        serde_json::from_slice(&out.stdout).map_err(|e| format!("not JSON ({e}): {}", stdout_of(&out)))
    } else {
        Err(format!("pkictl {args:?} exited {:?}: {}", out.status.code(), stderr_of(&out)))
    }
}

/// A one-time token for `name` made with the CLI, then `pkictl enroll` through `server`: the
/// enrolled serial and the certificate file.
fn enrol(ca: &Ca, server: &str, name: &str, dir: &Path) -> Result<(String, PathBuf), String> {
    let token =
        pkictl_json_result(&ca.pki.home, &["token", "create", name, "--profile", "server", "--dns", name])?;
    let token = token["token"].as_str().ok_or("no token")?.to_string();
    let out = dir.to_str().ok_or("path")?;
    let enrolled = pkictl_json_result(
        &ca.pki.home,
        &["enroll", "--server", server, "--root", arg(&ca.root_pem), "--token", &token, "--out", out],
    )?;
    let serial = enrolled["serial"].as_str().ok_or("no serial")?.to_string();
    Ok((serial, dir.join(format!("{name}.crt"))))
}

/// `pkictl agent --once --force` through `server` over mTLS: the new serial.
fn renew(ca: &Ca, server: &str, cert: &Path) -> Result<String, String> {
    let key = cert.with_extension("key");
    let renewed = pkictl_json_result(
        &ca.pki.home,
        &["agent", "--cert", arg(cert), "--key", arg(&key), "--server", server, "--root", arg(&ca.root_pem)]
            .iter()
            .chain(&["--once", "--force"])
            .copied()
            .collect::<Vec<_>>(),
    )?;
    Ok(renewed["serial"].as_str().ok_or_else(|| format!("no serial in {renewed}"))?.to_string())
}

/// What `serve`'s OCSP says of a serial of the issuing CA: good, revoked or unknown.
fn ocsp(ca: &Ca, serve: &Serve, serial: &str) -> String {
    let url = format!("{}/ocsp", serve.http);
    let text = openssl_ok([
        "ocsp",
        "-issuer",
        arg(&ca.issuer_pem),
        "-serial",
        &format!("0x{serial}"),
        "-url",
        &url,
        "-CAfile",
        arg(&ca.root_pem),
        "-no_nonce",
    ]);
    let line =
        text.lines().find(|l| l.starts_with(&format!("0x{serial}:"))).unwrap_or_else(|| panic!("{text}"));
    line.split(':').nth(1).unwrap_or("").trim().to_string()
}

fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    wait_until(what, within, &mut check, String::new);
}

/// The serials a CRL `serve` serves for the issuing CA lists, lower-case hex without leading
/// zeros.
fn served_crl_serials(ca: &Ca, serve: &Serve) -> BTreeSet<String> {
    crl_serials(&fetch_crl(serve, &ca.slug, &ca.pki.work())).iter().map(|s| short(s)).collect()
}

fn short(serial: &str) -> String {
    serial.trim_start_matches('0').to_ascii_lowercase()
}

#[test]
fn what_one_instance_issues_or_revokes_the_other_sees_and_either_survives_the_other() {
    let ca = ca();
    let (a, b) = (instance(&ca), instance(&ca));
    let (a_url, b_url) = (a.https.clone().expect("HTTPS"), b.https.clone().expect("HTTPS"));
    let (serial, cert) = enrol(&ca, &a_url, "one.example.com", &ca.pki.path("one")).expect("enrol through A");
    eventually("B's OCSP to know A's certificate", Duration::from_secs(1), || {
        ocsp(&ca, &b, &serial) == "good"
    });
    let renewed = renew(&ca, &b_url, &cert).expect("renew through B");
    eventually("A's OCSP to know B's renewal", Duration::from_secs(1), || ocsp(&ca, &a, &renewed) == "good");

    let started = Instant::now();
    ca.pki.ok(&["revoke", &serial, "--reason", "key-compromise"]);
    for serve in [&a, &b] {
        eventually("OCSP to say revoked", Duration::from_secs(1), || ocsp(&ca, serve, &serial) == "revoked");
        eventually("the served CRL to list it", Duration::from_secs(1), || {
            served_crl_serials(&ca, serve).contains(&short(&serial))
        });
    }
    eprintln!("revocation seen by both instances after {:?}", started.elapsed());

    // A dies; B keeps enrolling, renewing and answering.
    a.kill_hard();
    let (two, _) = enrol(&ca, &b_url, "two.example.com", &ca.pki.path("two")).expect("enrol through B");
    assert_eq!(ocsp(&ca, &b, &two), "good");
    assert_eq!(ocsp(&ca, &b, &renewed), "good");
    // A comes back and agrees.
    let a = instance(&ca);
    assert_eq!(ocsp(&ca, &a, &two), "good");
    assert_eq!(ocsp(&ca, &a, &serial), "revoked");
    drop(a);
    b.stop();
    let doctor = ca.pki.run(&["doctor"]);
    assert!(doctor.status.success(), "doctor:\n{}{}", stdout_of(&doctor), stderr_of(&doctor));
}

/// What the clients were told, collected across threads.
#[derive(Default)]
struct Answered {
    issued: Vec<String>,
    revoked: Vec<String>,
    failures: Vec<String>,
}

#[test]
fn concurrent_clients_on_two_instances_and_the_cli_lose_nothing() {
    concurrent_clients_lose_nothing(Backend::Sqlite);
}

#[test]
fn concurrent_clients_on_two_instances_and_the_cli_lose_nothing_on_postgresql() {
    concurrent_clients_lose_nothing(Backend::Postgres);
}

fn concurrent_clients_lose_nothing(backend: Backend) {
    let ca = Arc::new(ca_on(backend));
    let mut a = Some(instance(&ca));
    let b = second_instance(&ca);
    let urls = [a.as_ref().and_then(|s| s.https.clone()).expect("HTTPS"), b.https.clone().expect("HTTPS")];
    let a_alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let answered = Arc::new(Mutex::new(Answered::default()));
    let run_for = Duration::from_secs(20);
    let started = Instant::now();

    let mut workers = Vec::new();
    for client in 0..8 {
        let (ca, answered, a_alive, urls) = (ca.clone(), answered.clone(), a_alive.clone(), urls.clone());
        workers.push(std::thread::spawn(move || {
            let mut round = 0;
            while started.elapsed() < run_for {
                round += 1;
                let alive = a_alive.load(std::sync::atomic::Ordering::SeqCst);
                let pick = |n: usize| if alive { &urls[n % 2] } else { &urls[1] };
                let name = format!("c{client}-r{round}.example.com");
                let dir = ca.pki.path(&format!("c{client}-r{round}"));
                let step = enrol(&ca, pick(client), &name, &dir).and_then(|(serial, cert)| {
                    answered.lock().expect("lock").issued.push(serial.clone());
                    let renewed = renew(&ca, pick(client + 1), &cert)?;
                    answered.lock().expect("lock").issued.push(renewed.clone());
                    if round % 2 == 0 {
                        pkictl_json_result(&ca.pki.home, &["revoke", &renewed, "--reason", "superseded"])?;
                        answered.lock().expect("lock").revoked.push(renewed);
                    }
                    Ok(())
                });
                if let Err(e) = step {
                    answered.lock().expect("lock").failures.push(e);
                }
            }
        }));
    }
    let crl_signer = {
        let ca = ca.clone();
        std::thread::spawn(move || {
            let mut signed = 0;
            while started.elapsed() < run_for {
                if pkictl_json_result(&ca.pki.home, &["crl"]).is_ok() {
                    signed += 1;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
            signed
        })
    };
    std::thread::sleep(run_for / 2);
    a_alive.store(false, std::sync::atomic::Ordering::SeqCst);
    a.take().expect("A").kill_hard();
    for worker in workers {
        worker.join().expect("a client thread");
    }
    let crls_signed = crl_signer.join().expect("the CRL thread");
    let answered = Arc::try_unwrap(answered).ok().expect("threads done").into_inner().expect("lock");

    // Requests to A when it died may fail; everything answered must be there.
    assert!(answered.issued.len() >= 20, "too little work to judge: {} issued", answered.issued.len());
    let dead = format!("cannot reach {}", urls[0]);
    for failure in &answered.failures {
        assert!(failure.contains(&dead), "a failure the kill does not explain: {failure}");
    }
    let listed = listed_certificates(&ca.pki.home, &[]);
    let mut per_issuer: BTreeMap<(String, String), usize> = BTreeMap::new();
    for c in &listed {
        let key =
            (c["issuer"].as_str().unwrap_or("").to_string(), c["serial"].as_str().unwrap_or("").to_string());
        *per_issuer.entry(key).or_default() += 1;
    }
    assert!(per_issuer.values().all(|n| *n == 1), "a serial recorded twice by one issuer");
    let in_ledger: BTreeMap<String, &Value> =
        listed.iter().map(|c| (short(c["serial"].as_str().unwrap_or("")), c)).collect();
    for serial in &answered.issued {
        assert!(in_ledger.contains_key(&short(serial)), "answered serial {serial} is not in the ledger");
    }
    for serial in &answered.revoked {
        assert_eq!(in_ledger[&short(serial)]["status"], "revoked", "{serial}");
    }

    // CRL numbers strictly increase per CA, in the order the ledger recorded them.
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for (issuer, number) in crl_numbers(&ca) {
        if let Some(previous) = last.insert(issuer.clone(), number) {
            assert!(number > previous, "CRL {number} of {issuer} after {previous}");
        }
    }

    // Every revoked certificate is on the CRL either instance serves, and revoked in both
    // instances' OCSP (A restarted).
    let a = instance(&ca);
    for serve in [&a, &b] {
        let last = answered.revoked.last().map(|s| short(s)).unwrap_or_default();
        eventually("the served CRL to be the newest", Duration::from_secs(1), || {
            served_crl_serials(&ca, serve).contains(&last)
        });
        let listed = served_crl_serials(&ca, serve);
        for serial in &answered.revoked {
            assert!(listed.contains(&short(serial)), "{serial} is not on the CRL");
            eventually("OCSP to say revoked", Duration::from_secs(1), || {
                ocsp(&ca, serve, serial) == "revoked"
            });
        }
    }
    eprintln!(
        "{} certificates answered, {} revoked, {crls_signed} CLI CRLs, {} failed requests (A killed mid-run)",
        answered.issued.len(),
        answered.revoked.len(),
        answered.failures.len()
    );
    drop(a);
    b.stop();
    let doctor = ca.pki.run(&["doctor"]);
    assert!(doctor.status.success(), "doctor:\n{}{}", stdout_of(&doctor), stderr_of(&doctor));
}
