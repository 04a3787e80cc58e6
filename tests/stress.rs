//! Concurrency stress on one home (no passphrase), through the binary: WORKERS processes at a
//! time each issue PER_WORKER client certificates one by one (single `issue` commands, to
//! stress the ledger's locking, not `--batch`), while other processes revoke some of them and
//! sign CRLs of both CAs. Then: every process exited 0 (never "database is locked"), the
//! ledger holds exactly the certificates that were reported, with distinct serials, each CA's
//! CRL numbers are 1, 2, 3 … in the order they were recorded (strictly increasing, no gap, no
//! repeat), every NAME.crt on disk is in the ledger (`doctor --scan`), and `doctor` is clean.
//!
//! Size: 8 × 100 by default; `PKICTL_STRESS_WORKERS` and `PKICTL_STRESS_PER_WORKER` override
//! it. The whole test must stay well under 90 s in a debug build on 2 cores.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::hardening::*;
use common::ledger_testing;

const ROOT: &str = "Stress Root CA";
const ISSUING: &str = "Stress Root CA Issuing CA";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One finished pkictl process: what it was, how it ended.
struct Finished {
    what: String,
    output: Output,
}

fn run(home: &Path, args: Vec<std::ffi::OsString>) -> Finished {
    let mut cmd = command(Some(home));
    cmd.args(&args);
    let what = describe(&args);
    let output = run_command(cmd, None, &what);
    Finished { what, output }
}

fn json(f: &Finished) -> serde_json::Value {
    serde_json::from_slice(&f.output.stdout).unwrap_or_else(|e| {
        panic!("{}: stdout is not JSON ({e}): {}", f.what, String::from_utf8_lossy(&f.output.stdout))
    })
}

#[test]
fn parallel_issue_revoke_and_crl_on_one_home() {
    let workers = env_usize("PKICTL_STRESS_WORKERS", 8);
    let per_worker = env_usize("PKICTL_STRESS_PER_WORKER", 100);
    let dir = scratch("stress-");
    let home = dir.path().join("home");
    let out = dir.path().join("out");
    let init = run(&home, args!["init", "--name", ROOT, "--no-passphrase"]);
    assert!(init.output.status.success(), "init: {}", String::from_utf8_lossy(&init.output.stderr));

    let started = Instant::now();
    let finished: Arc<Mutex<Vec<Finished>>> = Arc::default();
    // Serials reported by `issue`, for the revoker to pick from.
    let issued: Arc<Mutex<Vec<String>>> = Arc::default();
    let issuing_done = Arc::new(AtomicBool::new(false));

    let mut issuers = Vec::new();
    for w in 0..workers {
        let (home, out, finished, issued) = (home.clone(), out.clone(), finished.clone(), issued.clone());
        issuers.push(std::thread::spawn(move || {
            for i in 0..per_worker {
                let name = format!("w{w}-{i:03}.stress.example.com");
                let f = run(&home, args!["--json", "issue", "client", name, "--out", out]);
                if f.output.status.success() {
                    let serial = json(&f)["serial"].as_str().expect("serial").to_string();
                    issued.lock().unwrap().push(serial);
                }
                finished.lock().unwrap().push(f);
            }
        }));
    }

    // Revokes every 7th certificate issued so far, while issuing goes on.
    let revoker = {
        let (home, finished, issued, done) =
            (home.clone(), finished.clone(), issued.clone(), issuing_done.clone());
        std::thread::spawn(move || {
            let mut revoked = Vec::new();
            let mut next = 0usize;
            loop {
                let candidate = issued.lock().unwrap().get(next).cloned();
                match candidate {
                    Some(serial) => {
                        next += 7;
                        let f = run(&home, args!["--json", "revoke", serial, "--reason", "key-compromise"]);
                        if f.output.status.success() {
                            revoked.push(serial);
                        }
                        finished.lock().unwrap().push(f);
                    }
                    None if done.load(Ordering::SeqCst) => break,
                    None => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            revoked
        })
    };

    // CRLs of the issuing CA and, every third time, of the root.
    let crl_signer = {
        let (home, finished, done) = (home.clone(), finished.clone(), issuing_done.clone());
        std::thread::spawn(move || {
            let mut runs: BTreeMap<&'static str, usize> = BTreeMap::new();
            let mut n = 0;
            while !done.load(Ordering::SeqCst) {
                let ca = if n % 3 == 2 { ROOT } else { ISSUING };
                n += 1;
                let f = run(
                    &home,
                    args!["--json", "crl", "--ca", ca, "--out", home.join(format!("../crl-{n}.pem"))],
                );
                if f.output.status.success() {
                    *runs.entry(ca).or_default() += 1;
                }
                finished.lock().unwrap().push(f);
                std::thread::sleep(Duration::from_millis(30));
            }
            runs
        })
    };

    for t in issuers {
        t.join().unwrap();
    }
    issuing_done.store(true, Ordering::SeqCst);
    let revoked = revoker.join().unwrap();
    let crl_runs = crl_signer.join().unwrap();
    let elapsed = started.elapsed();
    let finished = Arc::try_unwrap(finished).ok().unwrap().into_inner().unwrap();

    // Every process exited 0, and none ever saw a locked database.
    let failures: Vec<String> = finished
        .iter()
        .filter(|f| {
            !f.output.status.success() || String::from_utf8_lossy(&f.output.stderr).contains("locked")
        })
        .map(|f| {
            format!("pkictl {}: {} {}", f.what, f.output.status, String::from_utf8_lossy(&f.output.stderr))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} processes failed:\n{}",
        failures.len(),
        finished.len(),
        failures.join("\n")
    );

    // The ledger holds exactly what was reported, with distinct serials.
    let issued = issued.lock().unwrap().clone();
    assert_eq!(issued.len(), workers * per_worker);
    let ledger = ledger_testing::certificates(&home);
    let ledger_serials: Vec<String> =
        ledger.iter().filter(|c| c.profile == "client").map(|c| c.serial.clone()).collect();
    assert_eq!(ledger_serials.len(), workers * per_worker, "certificates in the ledger");
    let distinct: BTreeSet<&String> = ledger_serials.iter().collect();
    assert_eq!(distinct.len(), ledger_serials.len(), "serials are not distinct");
    let reported: BTreeSet<String> = issued.iter().map(|s| format!("{s:0>40}")).collect();
    assert_eq!(
        reported,
        ledger_serials.iter().cloned().collect::<BTreeSet<_>>(),
        "reported serials differ from the ledger's"
    );
    let revoked_in_ledger = ledger_testing::row_counts(&home).revoked;
    assert_eq!(revoked_in_ledger as usize, revoked.len());
    assert!(!revoked.is_empty(), "the revoker never ran");

    // CRL numbers per CA: 1, 2, 3 … in the order the rows were recorded.
    let mut numbers: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for crl in ledger_testing::crls(&home) {
        numbers.entry(crl.issuer_name).or_default().push(crl.number);
    }
    for (ca, ns) in &numbers {
        let expected: Vec<i64> = (1..=ns.len() as i64).collect();
        assert_eq!(ns, &expected, "CRL numbers of {ca} are not 1..n in order");
    }
    let issuing_crls = numbers.get(ISSUING).map_or(0, Vec::len);
    assert_eq!(
        issuing_crls,
        crl_runs.get(ISSUING).copied().unwrap_or(0) + revoked.len(),
        "CRLs of {ISSUING}"
    );
    assert_eq!(
        numbers.get(ROOT).map_or(0, Vec::len),
        crl_runs.get(ROOT).copied().unwrap_or(0),
        "CRLs of {ROOT}"
    );
    // Every process that published a CRL reported a distinct number.
    let mut reported_numbers: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for f in
        finished.iter().filter(|f| f.what.starts_with("--json crl") || f.what.starts_with("--json revoke"))
    {
        let v = json(f);
        let crl = if v.get("crl").is_some() { &v["crl"] } else { &v };
        let ca = crl["ca"].as_str().unwrap().to_string();
        let n = crl["number"].as_i64().unwrap();
        assert!(reported_numbers.entry(ca.clone()).or_default().insert(n), "CRL #{n} of {ca} reported twice");
    }

    // Files and ledger agree.
    let doctor = run(&home, args!["doctor", "--scan", out]);
    assert!(
        doctor.output.status.success(),
        "doctor --scan: {}{}",
        String::from_utf8_lossy(&doctor.output.stdout),
        String::from_utf8_lossy(&doctor.output.stderr)
    );
    let doctor = run(&home, args!["doctor"]);
    assert!(doctor.output.status.success(), "doctor: {}", String::from_utf8_lossy(&doctor.output.stdout));
    let crt_files = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "crt"))
        .count();
    assert_eq!(crt_files, workers * per_worker);
    eprintln!(
        "stress: {workers}×{per_worker} issues, {} revokes, {:?} CRL runs, {} processes in {:.1} s",
        revoked.len(),
        crl_runs,
        finished.len(),
        elapsed.as_secs_f64()
    );
}
