//! One CA on one PostgreSQL database, written by many processes at once from two homes (the
//! same CA files copied, as two machines would hold them): issuers, renewers, revokers (two
//! of them racing for the same certificates) and CRL publishers. Afterwards: no duplicate serial, no
//! lost certificate, CRL numbers strictly increasing per CA and never handed out twice, every
//! revoked certificate on the final CRL (read by openssl), and `doctor` clean from both homes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::thread;

use common::ledger_testing::PostgresDatabase;
use common::*;
use serde_json::Value;

const ISSUERS_PER_HOME: usize = 2;
const ISSUES_EACH: usize = 5;
const PUBLISHES_EACH: usize = 4;

/// pkictl with --json, its working directory the home's parent (where `issue` writes).
fn run_json(home: &Path, args: &[&str]) -> (Output, Option<Value>) {
    let out = pkictl(home)
        .current_dir(home.parent().expect("the home has a parent"))
        .arg("--json")
        .args(args)
        .output()
        .expect("run pkictl");
    let value = serde_json::from_slice(&out.stdout).ok();
    (out, value)
}

fn must(home: &Path, args: &[&str]) -> Value {
    let (out, value) = run_json(home, args);
    assert!(out.status.success(), "pkictl {args:?} failed: {}{}", stderr_of(&out), stdout_of(&out));
    value.unwrap_or_else(|| panic!("pkictl {args:?}: no JSON"))
}

/// A second home for the same CA and database: the CA files copied, the CRL directory empty.
fn second_home(first: &Path, dir: &Path) -> PathBuf {
    let second = dir.join("pki-b");
    fs::create_dir_all(second.join("crl")).unwrap();
    for sub in ["ca", "private"] {
        fs::create_dir_all(second.join(sub)).unwrap();
        for entry in fs::read_dir(first.join(sub)).unwrap().flatten() {
            fs::copy(entry.path(), second.join(sub).join(entry.file_name())).unwrap();
        }
    }
    fs::copy(first.join("ledger.url"), second.join("ledger.url")).unwrap();
    for d in [&second, &second.join("ca"), &second.join("private"), &second.join("crl")] {
        fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    }
    second
}

fn crl_serials(crl: &Path) -> BTreeSet<String> {
    let text = openssl_ok([os("crl"), os("-in"), crl.as_os_str(), os("-noout"), os("-text")]);
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect()
}

#[test]
fn many_writers_on_two_homes_lose_nothing_and_keep_crl_numbers_strictly_increasing() {
    let db = PostgresDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let home_a = dir.path().join("pki-a");
    let init = pkictl(&home_a)
        .args(["init", "--name", ROOT_NAME, "--no-passphrase", "--ledger", &db.url()])
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", stderr_of(&init));
    let home_b = second_home(&home_a, dir.path());
    let homes = [home_a.clone(), home_b.clone()];

    // Certificates for the revokers, issued up front.
    let targets: Vec<String> = (0..8)
        .map(|i| {
            must(&homes[i % 2], &["issue", "client", &format!("target-{i}@example.com")])["serial"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let renewable: Vec<String> = (0..4)
        .map(|i| {
            must(&homes[i % 2], &["issue", "client", &format!("renew-{i}@example.com")])["serial"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();

    let mut issued: Vec<String> = Vec::new();
    let mut renewed: Vec<String> = Vec::new();
    let mut crl_numbers: Vec<i64> = Vec::new();
    let mut revoked_ok: Vec<String> = Vec::new();
    thread::scope(|s| {
        let mut issuers = Vec::new();
        for (h, home) in homes.iter().enumerate() {
            for w in 0..ISSUERS_PER_HOME {
                issuers.push(s.spawn(move || {
                    (0..ISSUES_EACH)
                        .map(|i| {
                            let name = format!("w{h}-{w}-{i}.example.com");
                            must(home, &["issue", "server", &name])["serial"].as_str().unwrap().to_string()
                        })
                        .collect::<Vec<_>>()
                }));
            }
        }
        // Two revokers per certificate, one through each home: exactly one wins each race.
        let mut revokers = Vec::new();
        for home in &homes {
            let targets = &targets;
            revokers.push(s.spawn(move || {
                let mut won = Vec::new();
                let mut numbers = Vec::new();
                for serial in targets {
                    let (out, value) = run_json(home, &["revoke", serial, "--reason", "key-compromise"]);
                    if out.status.success() {
                        let value = value.expect("revoke JSON");
                        numbers.push(value["crl"]["number"].as_i64().expect("the revocation's CRL number"));
                        won.push(serial.clone());
                    } else {
                        let message = stderr_of(&out);
                        assert!(
                            message.contains("already revoked")
                                || message.contains("revoked by another process"),
                            "revoke {serial}: {message}"
                        );
                    }
                }
                (won, numbers)
            }));
        }
        // Renewals through both homes at once: each one a new certificate, none lost.
        let mut renewers = Vec::new();
        for home in &homes {
            let renewable = &renewable;
            renewers.push(s.spawn(move || {
                renewable
                    .iter()
                    .map(|serial| {
                        let side = home.file_name().unwrap().to_string_lossy();
                        let out = home.parent().unwrap().join(format!("renewed-{side}-{serial}"));
                        must(home, &["renew", serial, "--rekey", "--out", out.to_str().unwrap()])["serial"]
                            .as_str()
                            .unwrap()
                            .to_string()
                    })
                    .collect::<Vec<_>>()
            }));
        }
        let mut publishers = Vec::new();
        for home in &homes {
            publishers.push(s.spawn(move || {
                (0..PUBLISHES_EACH)
                    .map(|_| must(home, &["crl"])["number"].as_i64().unwrap())
                    .collect::<Vec<_>>()
            }));
        }
        issued.extend(issuers.into_iter().flat_map(|t| t.join().expect("an issuer")));
        for t in revokers {
            let (won, numbers) = t.join().expect("a revoker");
            revoked_ok.extend(won);
            crl_numbers.extend(numbers);
        }
        for t in renewers {
            renewed.extend(t.join().expect("a renewer"));
        }
        for t in publishers {
            crl_numbers.extend(t.join().expect("a publisher"));
        }
    });

    // No duplicate serial, none lost.
    let unique: BTreeSet<&String> = issued.iter().chain(&targets).chain(&renewable).chain(&renewed).collect();
    assert_eq!(
        unique.len(),
        issued.len() + targets.len() + renewable.len() + renewed.len(),
        "a serial was handed out twice"
    );
    assert_eq!(renewed.len(), 2 * renewable.len(), "every renewal answered");
    let listed: BTreeSet<String> = must(&home_a, &["list", "--status", "all"])["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap().to_string())
        .collect();
    for serial in &unique {
        assert!(listed.contains(*serial), "{serial} was answered but is not in the ledger");
    }
    // Each certificate revoked exactly once, whichever home won.
    let mut won = revoked_ok.clone();
    won.sort();
    let mut expected = targets.clone();
    expected.sort();
    assert_eq!(won, expected, "every target revoked exactly once");

    // CRL numbers: never handed out twice, strictly increasing in the order recorded.
    let distinct: BTreeSet<i64> = crl_numbers.iter().copied().collect();
    assert_eq!(distinct.len(), crl_numbers.len(), "a CRL number was used twice: {crl_numbers:?}");
    let mut per_ca: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (issuer, number) in db.crl_numbers() {
        per_ca.entry(issuer).or_default().push(number);
    }
    for (issuer, numbers) in &per_ca {
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "CA {issuer}: CRL numbers {numbers:?}");
    }

    // The final CRL lists every revoked certificate; both homes agree and doctor is clean.
    let last = must(&home_b, &["crl"]);
    assert!(last["number"].as_i64().unwrap() > *crl_numbers.iter().max().unwrap());
    let slug = Path::new(last["files"]["pem"].as_str().unwrap()).to_path_buf();
    let on_crl = crl_serials(&slug);
    let revoked: BTreeSet<String> = expected.iter().map(|s| s.to_ascii_lowercase()).collect();
    assert_eq!(on_crl, revoked);
    // Home B published last; home A's CRL files are its own older ones until it rewrites
    // them from the shared ledger.
    assert_eq!(must(&home_b, &["doctor"])["ok"], true);
    let (stale, _) = run_json(&home_a, &["doctor"]);
    assert_eq!(stale.status.code(), Some(1), "home A's CRL files lag the shared ledger");
    assert!(stdout_of(&stale).contains("--repair"), "{}", stdout_of(&stale));
    must(&home_a, &["doctor", "--repair"]);
    assert_eq!(must(&home_a, &["doctor"])["ok"], true);
}
