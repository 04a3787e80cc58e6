//! Crash safety: pkictl processes are SIGKILLed at random points (0–15 ms after they start; an
//! uncontended `issue client` takes about 10 ms in a debug build, so the kills land before,
//! during and after the ledger commit and the file writes). Then the state must be one a
//! later pkictl can trust:
//!
//! * the ledger passes `PRAGMA integrity_check` (checked every 10 kills and at the end);
//! * every file under its final name in the output directory is complete (parsed by
//!   `openssl`), and every NAME.crt is in the ledger: `pkictl doctor --scan` reports no
//!   PROBLEM (warnings about leftover `.pkictl-*.tmp` files are fine);
//! * the CRL files in the home are complete, correctly signed CRLs (`openssl crl -CAfile`);
//! * `pkictl export SERIAL --format pem` re-creates each NAME.crt byte for byte.
//!
//! Revocations get their own kill points below: a revoker killed before, inside or after its
//! transaction, or whose CRL file write fails, leaves either "not revoked" or "revoked and
//! listed on a CRL committed in the same transaction" — never a revocation no CRL publishes.
//!
//! The random seed is printed; `PKICTL_CRASH_SEED=<n>` replays a run, `PKICTL_CRASH_KILLS`
//! changes the number of kills (default 100).

mod common;

use std::collections::hash_map::RandomState;
use std::ffi::OsStr;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::hardening::*;
use common::{ledger_testing, listed_certificates, openssl};

const ROOT: &str = "Crash Root CA";
const ISSUING_SLUG: &str = "crash-root-ca-issuing-ca";
const ROOT_SLUG: &str = "crash-root-ca";

/// xorshift64*: enough randomness for kill delays, and replayable from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn seed() -> u64 {
    if let Some(s) = std::env::var("PKICTL_CRASH_SEED").ok().and_then(|v| v.parse().ok()) {
        return s;
    }
    let mut h = RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish() | 1
}

fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut v: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(suffix) && !name.starts_with(".pkictl-")
        })
        .collect();
    v.sort();
    v
}

fn openssl_ok(args: &[&OsStr], what: &str) -> String {
    let out = openssl(args);
    assert!(
        out.status.success(),
        "{what}: openssl {:?} failed:\n{}{}",
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn sigkill_at_random_points_leaves_a_consistent_home() {
    let kills = std::env::var("PKICTL_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(100usize);
    let seed = seed();
    eprintln!("crash: seed {seed} (PKICTL_CRASH_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let dir = scratch("crash-");
    let home = dir.path().join("home");
    let out = dir.path().join("out");
    let init = run_command(
        {
            let mut c = command(Some(&home));
            c.args(["init", "--name", ROOT, "--no-passphrase"]);
            c
        },
        None,
        "init",
    );
    assert!(init.status.success(), "init: {}", String::from_utf8_lossy(&init.stderr));

    // Calibrate: how long an issue takes here (the fastest of 3). Kills are spread over
    // 0–15 ms, or over 1.5 times that duration when it is longer (a loaded machine), so that
    // they land in every phase: start-up, signing, the ledger commit, the file writes, exit.
    let mut fastest = Duration::MAX;
    for i in 0..3 {
        let t = Instant::now();
        let calib = run_command(
            {
                let mut c = command(Some(&home));
                c.args(["issue", "client", &format!("calibrate{i}.crash.example.com"), "--out"]).arg(&out);
                c
            },
            None,
            "calibrate",
        );
        assert!(calib.status.success(), "calibrate: {}", String::from_utf8_lossy(&calib.stderr));
        fastest = fastest.min(t.elapsed());
    }
    let window = Duration::from_millis(15).max(fastest * 3 / 2);

    let started = Instant::now();
    let mut exited_before_kill = 0;
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    // What each killed `issue` left: nothing, a ledger row only, some files, all four files.
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    for i in 0..kills {
        let mut cmd = command(Some(&home));
        let name = format!("c{i}.crash.example.com");
        let kind = match i % 6 {
            3 => {
                cmd.args(["crl"]);
                "crl"
            }
            5 => {
                // A batch of 8 writes 32 files: the syncfs path of the atomic writes.
                let list = dir.path().join(format!("batch-{i}.txt"));
                let names: String = (0..8).map(|j| format!("b{i}-{j}.crash.example.com\n")).collect();
                fs::write(&list, names).unwrap();
                cmd.args(["issue", "client", "--batch"]).arg(&list).arg("--out").arg(&out);
                "batch"
            }
            _ => {
                cmd.args(["issue", "client", &name, "--out"]).arg(&out);
                "issue"
            }
        };
        *kinds.entry(kind).or_default() += 1;
        let delay = Duration::from_micros(rng.below(window.as_micros() as u64 + 1));
        let mut child = cmd.spawn().expect("spawn pkictl");
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_some() {
            exited_before_kill += 1;
        }
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        if kind == "issue" {
            let in_ledger =
                listed_certificates(&home, &[]).iter().filter(|c| c["common_name"] == name.as_str()).count();
            let files = ["crt", "key", "chain.pem", "fullchain.pem"]
                .iter()
                .filter(|ext| out.join(format!("{name}.{ext}")).exists())
                .count();
            let outcome = match (in_ledger, files) {
                (0, 0) => "nothing",
                (0, _) => "FILES WITHOUT LEDGER ROW",
                (_, 0) => "ledger row only",
                (_, 4) => "complete",
                _ => "some files",
            };
            *outcomes.entry(outcome).or_default() += 1;
            assert_ne!(
                outcome, "FILES WITHOUT LEDGER ROW",
                "{name}: files were written before the ledger commit"
            );
        }
        if i % 10 == 9 {
            assert_eq!(ledger_testing::integrity_check(&home), "ok", "integrity_check after kill {i}");
        }
    }
    let killing = started.elapsed();

    // 1. The ledger is sound.
    assert_eq!(ledger_testing::integrity_check(&home), "ok", "integrity_check at the end");

    // 2. Every file under its final name is complete, and every NAME.crt is in the ledger.
    let crts = files_with_suffix(&out, ".crt");
    for crt in &crts {
        openssl_ok(
            &[OsStr::new("x509"), OsStr::new("-in"), crt.as_os_str(), OsStr::new("-noout")],
            "certificate file",
        );
    }
    for key in files_with_suffix(&out, ".key") {
        openssl_ok(
            &[OsStr::new("pkey"), OsStr::new("-in"), key.as_os_str(), OsStr::new("-noout")],
            "key file",
        );
    }
    for pem in files_with_suffix(&out, ".pem") {
        let text = fs::read_to_string(&pem).unwrap();
        assert!(
            text.starts_with("-----BEGIN CERTIFICATE-----") && text.ends_with("-----END CERTIFICATE-----\n"),
            "{} is not a complete PEM bundle",
            pem.display()
        );
        openssl_ok(
            &[OsStr::new("x509"), OsStr::new("-in"), pem.as_os_str(), OsStr::new("-noout")],
            "chain file",
        );
    }
    let doctor = run_command(
        {
            let mut c = command(Some(&home));
            c.args(["doctor", "--scan"]).arg(&out);
            c
        },
        None,
        "doctor",
    );
    let report = String::from_utf8_lossy(&doctor.stdout).into_owned();
    let cert_problems: Vec<&str> =
        report.lines().filter(|l| l.starts_with("PROBLEM") && !l.contains("its CRL")).collect();
    assert!(cert_problems.is_empty(), "doctor --scan after the kills:\n{report}");

    // 3. The CRL files in the home are complete, correctly signed CRLs.
    let mut crl_files = 0;
    for slug in [ISSUING_SLUG, ROOT_SLUG] {
        let ca = home.join("ca").join(format!("{slug}.pem"));
        for (file, form) in [(format!("{slug}.crl.pem"), "PEM"), (format!("{slug}.crl.der"), "DER")] {
            let path = home.join("crl").join(file);
            if !path.exists() {
                continue;
            }
            crl_files += 1;
            let text = openssl_ok(
                &[
                    OsStr::new("crl"),
                    OsStr::new("-in"),
                    path.as_os_str(),
                    OsStr::new("-inform"),
                    OsStr::new(form),
                    OsStr::new("-CAfile"),
                    ca.as_os_str(),
                    OsStr::new("-noout"),
                ],
                "CRL file",
            );
            assert!(text.contains("verify OK"), "{}: {text}", path.display());
        }
    }

    // 4. export re-creates each certificate file byte for byte.
    for crt in &crts {
        let serial = openssl_ok(
            &[
                OsStr::new("x509"),
                OsStr::new("-in"),
                crt.as_os_str(),
                OsStr::new("-noout"),
                OsStr::new("-serial"),
            ],
            "serial",
        );
        let serial = serial.trim().trim_start_matches("serial=").to_ascii_lowercase();
        let export = run_command(
            {
                let mut c = command(Some(&home));
                c.args(["export", &serial, "--format", "pem"]);
                c
            },
            None,
            "export",
        );
        assert!(export.status.success(), "export {serial}: {}", String::from_utf8_lossy(&export.stderr));
        assert_eq!(export.stdout, fs::read(crt).unwrap(), "export {serial} differs from {}", crt.display());
    }

    let leftovers = fs::read_dir(&out)
        .map(|e| {
            e.filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".pkictl-")).count()
        })
        .unwrap_or(0);
    eprintln!(
        "crash: {kills} kills ({kinds:?}) spread over 0-{} ms in {:.1} s, {exited_before_kill} had already exited; issue outcomes {outcomes:?}; {} certificate files, {leftovers} leftover temp files, {crl_files} CRL files checked",
        window.as_millis(),
        killing.as_secs_f64(),
        crts.len()
    );
    // Kills must have landed on running processes, not only on finished ones.
    assert!(exited_before_kill < kills, "every process finished before its kill: the test proves nothing");

    // 5. The published CRL files catch up with the ledger: see the test below.
    let stale: Vec<&str> =
        report.lines().filter(|l| l.starts_with("PROBLEM") && l.contains("its CRL")).collect();
    if !stale.is_empty() {
        eprintln!(
            "crash: doctor reports CRL files behind the ledger after a killed publisher (doctor --repair rewrites them):\n{}",
            stale.join("\n")
        );
    }
}

/// A `crl` killed after its transaction committed but before it wrote the files leaves the
/// home's CRL files one CRL behind the ledger (the ledger is the source of truth). `doctor`
/// must say so, and `doctor --repair` must bring the files to the ledger's newest CRL.
/// Reproduced deterministically by killing the publisher while another process holds the
/// `.publish.lock` it takes before writing.
#[test]
fn killed_publisher_is_reported_by_doctor_and_repaired() {
    let dir = scratch("crash-crl-");
    let home = dir.path().join("home");
    let init = run_command(
        {
            let mut c = command(Some(&home));
            c.args(["init", "--name", ROOT, "--no-passphrase"]);
            c
        },
        None,
        "init",
    );
    assert!(init.status.success());
    let first = run_command(
        {
            let mut c = command(Some(&home));
            c.args(["crl"]);
            c
        },
        None,
        "crl",
    );
    assert!(first.status.success());
    // Hold the publish lock so the next publisher blocks right after its commit.
    let lock = fs::OpenOptions::new().write(true).open(home.join("crl/.publish.lock")).unwrap();
    lock.lock().unwrap();
    let mut child = command(Some(&home)).arg("crl").spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = ledger_testing::crl_count(&home);
        if n >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the second CRL was never committed");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(lock);
    let doctor = run_command(
        {
            let mut c = command(Some(&home));
            c.arg("doctor");
            c
        },
        None,
        "doctor",
    );
    let report = String::from_utf8_lossy(&doctor.stdout).to_string();
    assert_eq!(doctor.status.code(), Some(1), "doctor after a killed publisher:\n{report}");
    assert!(report.contains("CRL") && report.contains("--repair"), "{report}");
    let repair = run_command(
        {
            let mut c = command(Some(&home));
            c.args(["doctor", "--repair"]);
            c
        },
        None,
        "doctor --repair",
    );
    assert!(repair.status.success(), "{}", String::from_utf8_lossy(&repair.stdout));
    let again = run_command(
        {
            let mut c = command(Some(&home));
            c.arg("doctor");
            c
        },
        None,
        "doctor",
    );
    assert!(again.status.success(), "doctor after --repair:\n{}", String::from_utf8_lossy(&again.stdout));
}

// ---------------------------------------------------------------------------------------------
// Revocations and their CRL: a killed or failing revoker leaves either "not revoked", or
// "revoked and listed on a CRL the ledger committed in the same transaction" — never a
// revocation that no committed CRL publishes.

const ISSUING: &str = "Crash Root CA Issuing CA";

fn pkictl_in(home: &Path, args: &[&str]) -> std::process::Output {
    let mut c = command(Some(home));
    c.args(args);
    run_command(c, None, &args.join(" "))
}

fn crash_home(prefix: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = scratch(prefix);
    let home = dir.path().join("home");
    let init = pkictl_in(&home, &["init", "--name", ROOT, "--no-passphrase"]);
    assert!(init.status.success(), "init: {}", String::from_utf8_lossy(&init.stderr));
    (dir, home)
}

fn issue_client(home: &Path, name: &str, out: &Path) -> String {
    let mut c = command(Some(home));
    c.args(["--json", "issue", "client", name, "--out"]).arg(out);
    let issued = run_command(c, None, "issue");
    assert!(issued.status.success(), "issue: {}", String::from_utf8_lossy(&issued.stderr));
    let v: serde_json::Value = serde_json::from_slice(&issued.stdout).unwrap();
    v["serial"].as_str().unwrap().to_string()
}

fn is_revoked(home: &Path, serial: &str) -> bool {
    ledger_testing::certificate(home, serial).is_some_and(|c| c.status == "revoked")
}

/// Whether a CRL (DER) lists the serial, as OpenSSL reads it.
fn crl_lists(der: &[u8], serial: &str, dir: &Path) -> bool {
    let file = dir.join("check.crl");
    fs::write(&file, der).unwrap();
    let text = openssl_ok(
        &[
            OsStr::new("crl"),
            OsStr::new("-in"),
            file.as_os_str(),
            OsStr::new("-inform"),
            OsStr::new("DER"),
            OsStr::new("-noout"),
            OsStr::new("-text"),
        ],
        "CRL",
    );
    let wanted = serial.trim_start_matches('0').to_ascii_uppercase();
    text.lines().any(|l| {
        l.trim().strip_prefix("Serial Number: ").is_some_and(|s| s.trim().trim_start_matches('0') == wanted)
    })
}

/// The invariant: revoked in the ledger implies listed on the newest CRL the ledger committed.
fn assert_revoked_only_with_a_crl(home: &Path, serial: &str, dir: &Path, what: &str) -> bool {
    if !is_revoked(home, serial) {
        return false;
    }
    let der = ledger_testing::newest_crl_der(home, ISSUING)
        .unwrap_or_else(|| panic!("{what}: {serial} is revoked but the ledger holds no CRL"));
    assert!(
        crl_lists(&der, serial, dir),
        "{what}: {serial} is revoked but the ledger's newest CRL does not list it"
    );
    true
}

/// Spawns pkictl, waits until `reached` holds (the ledger shows the commit), then SIGKILLs it.
fn kill_when(home: &Path, args: &[&str], reached: impl Fn() -> bool, what: &str) {
    let mut c = command(Some(home));
    c.args(args);
    let mut child = c.spawn().expect("spawn pkictl");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reached() {
        assert!(child.try_wait().unwrap().is_none(), "{what}: exited before the kill point");
        assert!(Instant::now() < deadline, "{what}: never reached the kill point");
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    child.wait().unwrap();
}

/// After a kill past the commit: doctor sees the home's CRL files behind the ledger's newest,
/// `doctor --repair` writes them, and then OpenSSL finds every serial on the published CRL.
fn stale_files_are_reported_and_repaired(home: &Path, serials: &[String], dir: &Path) {
    let doctor = pkictl_in(home, &["doctor"]);
    let report = String::from_utf8_lossy(&doctor.stdout).to_string();
    assert_eq!(doctor.status.code(), Some(1), "doctor after a kill past the commit:\n{report}");
    assert!(report.contains("its CRL") && report.contains("newest is #"), "{report}");
    let repair = pkictl_in(home, &["doctor", "--repair"]);
    assert!(repair.status.success(), "{}", String::from_utf8_lossy(&repair.stdout));
    let again = pkictl_in(home, &["doctor"]);
    assert!(again.status.success(), "doctor after --repair:\n{}", String::from_utf8_lossy(&again.stdout));
    let published = fs::read(home.join("crl").join(format!("{ISSUING_SLUG}.crl.der"))).unwrap();
    for serial in serials {
        assert!(crl_lists(&published, serial, dir), "the repaired CRL file does not list {serial}");
    }
}

#[test]
fn revoke_killed_before_its_transaction_leaves_the_certificate_unrevoked() {
    let (dir, home) = crash_home("crash-revoke-a-");
    let serial = issue_client(&home, "a.crash.example.com", &dir.path().join("out"));
    let crls = ledger_testing::crl_count(&home);
    {
        // Every writer queues behind this lock: the revoker is killed before it can commit.
        let _lock = ledger_testing::hold_write_lock(&home);
        let mut c = command(Some(&home));
        c.args(["revoke", &serial, "--reason", "key-compromise"]);
        let mut child = c.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let _ = child.kill();
        child.wait().unwrap();
    }
    assert!(!is_revoked(&home, &serial), "revoked without its CRL transaction");
    assert_eq!(ledger_testing::crl_count(&home), crls);
    let doctor = pkictl_in(&home, &["doctor"]);
    assert!(doctor.status.success(), "{}", String::from_utf8_lossy(&doctor.stdout));
    // Nothing blocks a second try.
    let again = pkictl_in(&home, &["revoke", &serial, "--reason", "key-compromise"]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(assert_revoked_only_with_a_crl(&home, &serial, dir.path(), "second revoke"));
}

#[test]
fn revoke_killed_after_its_commit_is_on_a_committed_crl() {
    let (dir, home) = crash_home("crash-revoke-b-");
    let serial = issue_client(&home, "b.crash.example.com", &dir.path().join("out"));
    pkictl_in(&home, &["crl"]);
    // Hold the publish lock: the revoker commits, then waits to write the files.
    let lock_file = fs::OpenOptions::new().write(true).open(home.join("crl/.publish.lock")).unwrap();
    lock_file.lock().unwrap();
    kill_when(
        &home,
        &["revoke", &serial, "--reason", "key-compromise"],
        || is_revoked(&home, &serial),
        "revoke",
    );
    drop(lock_file);
    assert!(assert_revoked_only_with_a_crl(&home, &serial, dir.path(), "revoke"));
    stale_files_are_reported_and_repaired(&home, &[serial], dir.path());
}

#[test]
fn revoke_from_file_killed_after_its_commit_is_on_a_committed_crl() {
    let (dir, home) = crash_home("crash-revoke-c-");
    let out = dir.path().join("out");
    let serials: Vec<String> =
        (0..3).map(|i| issue_client(&home, &format!("c{i}.crash.example.com"), &out)).collect();
    let list = dir.path().join("serials.txt");
    fs::write(&list, serials.join("\n")).unwrap();
    pkictl_in(&home, &["crl"]);
    let lock_file = fs::OpenOptions::new().write(true).open(home.join("crl/.publish.lock")).unwrap();
    lock_file.lock().unwrap();
    let list_arg = list.to_str().unwrap();
    kill_when(
        &home,
        &["revoke", "--from-file", list_arg, "--reason", "superseded"],
        || is_revoked(&home, &serials[0]),
        "revoke --from-file",
    );
    drop(lock_file);
    for serial in &serials {
        assert!(assert_revoked_only_with_a_crl(&home, serial, dir.path(), "revoke --from-file"));
    }
    stale_files_are_reported_and_repaired(&home, &serials, dir.path());
}

#[test]
fn renew_revoke_old_killed_after_its_commit_is_on_a_committed_crl() {
    let (dir, home) = crash_home("crash-revoke-d-");
    let out = dir.path().join("out");
    let serial = issue_client(&home, "d.crash.example.com", &out);
    pkictl_in(&home, &["crl"]);
    let lock_file = fs::OpenOptions::new().write(true).open(home.join("crl/.publish.lock")).unwrap();
    lock_file.lock().unwrap();
    let out_arg = dir.path().join("renewed");
    kill_when(
        &home,
        &["renew", &serial, "--rekey", "--revoke-old", "--out", out_arg.to_str().unwrap()],
        || is_revoked(&home, &serial),
        "renew --revoke-old",
    );
    drop(lock_file);
    assert!(assert_revoked_only_with_a_crl(&home, &serial, dir.path(), "renew --revoke-old"));
    stale_files_are_reported_and_repaired(&home, &[serial], dir.path());
}

#[test]
fn a_failed_crl_file_write_leaves_the_revocation_on_the_ledgers_crl() {
    let (dir, home) = crash_home("crash-revoke-e-");
    let serial = issue_client(&home, "e.crash.example.com", &dir.path().join("out"));
    pkictl_in(&home, &["crl"]);
    // A directory where the DER file goes: the rename over it fails after the commit.
    let der = home.join("crl").join(format!("{ISSUING_SLUG}.crl.der"));
    fs::remove_file(&der).unwrap();
    fs::create_dir(&der).unwrap();
    fs::write(der.join("keep"), b"x").unwrap();
    let revoke = pkictl_in(&home, &["revoke", &serial, "--reason", "key-compromise"]);
    let stderr = String::from_utf8_lossy(&revoke.stderr).to_string();
    assert_eq!(revoke.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&serial)
            && stderr.contains("is revoked and listed on it")
            && stderr.contains("doctor --repair"),
        "{stderr}"
    );
    assert!(assert_revoked_only_with_a_crl(&home, &serial, dir.path(), "failed file write"));
    fs::remove_dir_all(&der).unwrap();
    stale_files_are_reported_and_repaired(&home, std::slice::from_ref(&serial), dir.path());
    // A second revoke says what happened (exit 2), it does not hide the first.
    let again = pkictl_in(&home, &["revoke", &serial, "--reason", "key-compromise"]);
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn revoke_killed_at_random_points_is_never_unpublished() {
    let kills = std::env::var("PKICTL_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(30usize);
    let seed = seed();
    eprintln!("crash: revoke seed {seed} (PKICTL_CRASH_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let (dir, home) = crash_home("crash-revoke-r-");
    let out = dir.path().join("out");
    let serials: Vec<String> =
        (0..kills).map(|i| issue_client(&home, &format!("r{i}.crash.example.com"), &out)).collect();
    let t = Instant::now();
    let done = pkictl_in(&home, &["revoke", &serials[0], "--reason", "superseded"]);
    assert!(done.status.success());
    let window = Duration::from_millis(15).max(t.elapsed() * 3 / 2);
    let mut revoked = 0;
    for serial in &serials[1..] {
        let mut c = command(Some(&home));
        c.args(["revoke", serial, "--reason", "key-compromise"]);
        let mut child = c.spawn().unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(window.as_micros() as u64 + 1)));
        let _ = child.kill();
        child.wait().unwrap();
        if assert_revoked_only_with_a_crl(&home, serial, dir.path(), "random kill") {
            revoked += 1;
        }
    }
    assert_eq!(ledger_testing::integrity_check(&home), "ok");
    eprintln!("crash: {} revokers killed, {revoked} had committed", serials.len() - 1);
    // Whatever the kills left, repair brings the files to the ledger and doctor is clean.
    let repair = pkictl_in(&home, &["doctor", "--repair"]);
    assert!(repair.status.success(), "{}", String::from_utf8_lossy(&repair.stdout));
}
