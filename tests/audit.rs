//! The hash-chained audit trail against hand edits: a ledger changed with the `sqlite3` binary
//! (as an operator or an intruder would) makes `doctor` exit 1 naming what the chain does not
//! explain, and `crl` refuses to sign a CRL that would un-revoke a certificate or reuse a
//! number. Also: doctor prints the chain head, checks that each CA key file holds its CA's
//! key, tells apart CRL files that lag behind the ledger, and reports damaged columns instead of
//! aborting.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

const ROOT: &str = "Audit Root CA";
const ISSUING_SLUG: &str = "audit-root-ca-issuing-ca";
const ROOT_SLUG: &str = "audit-root-ca";

/// A home with a valid client, a revoked client and a CRL listing it.
struct Tampered {
    pki: Pki,
    valid: Issued,
    revoked: Issued,
}

fn home_with_a_revocation() -> Tampered {
    let pki = Pki::init_unencrypted(ROOT);
    let valid = pki.issue("client", "good.audit.example.com", &[], "tls");
    let revoked = pki.issue("client", "bad.audit.example.com", &[], "tls");
    pki.revoke(&revoked.serial, "key-compromise");
    let doctor = pki.run(&["doctor"]);
    assert!(doctor.status.success(), "doctor on a fresh home:\n{}", stdout_of(&doctor));
    Tampered { pki, valid, revoked }
}

/// Runs SQL on the ledger with the sqlite3 binary, from outside pkictl.
fn sqlite3(home: &Path, sql: &str) {
    let out = Command::new("sqlite3")
        .arg(home.join("ledger.db"))
        .arg(sql)
        .output()
        .expect("run sqlite3 (tests/run.sh installs it)");
    assert!(out.status.success(), "sqlite3 {sql}: {}", stderr_of(&out));
}

fn ledger_serial(serial: &str) -> String {
    format!("{serial:0>40}")
}

/// `doctor` must exit 1 with a PROBLEM line that contains every one of `words`.
fn doctor_names(pki: &Pki, words: &[&str]) -> String {
    let out = pki.run(&["doctor"]);
    let report = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "doctor after the edit:\n{report}{}", stderr_of(&out));
    assert!(
        report.lines().any(|l| l.starts_with("PROBLEM") && words.iter().all(|w| l.contains(w))),
        "no PROBLEM line with {words:?}:\n{report}"
    );
    report
}

/// `crl` must refuse (exit 1, one sentence) and leave the ledger's CRLs as they were.
fn crl_refuses(pki: &Pki, words: &[&str]) {
    let before = ledger_testing::crl_count(&pki.home);
    let out = pki.run(&["crl"]);
    let message = assert_error(&out, 1);
    for w in words {
        assert!(message.contains(w), "crl refusal lacks {w:?}: {message}");
    }
    assert_eq!(ledger_testing::crl_count(&pki.home), before, "a refused crl recorded a CRL");
}

#[test]
fn a_revocation_set_back_to_valid_is_reported_and_never_published() {
    let t = home_with_a_revocation();
    let serial = ledger_serial(&t.revoked.serial);
    sqlite3(
        &t.pki.home,
        &format!(
            "UPDATE certificates SET status = 'valid', revoked_at = NULL, revocation_reason = NULL WHERE serial = '{serial}'"
        ),
    );
    doctor_names(&t.pki, &[&t.revoked.serial, "was revoked", "now says valid"]);
    crl_refuses(&t.pki, &["no CRL", "0 revoked certificates", "audit chain records 1"]);
    // The published CRL still lists it: openssl reads it from the home's file.
    let text = crl_verified_text(&t.pki.crl_pem(ISSUING_SLUG), &t.pki.ca_cert(ISSUING_SLUG));
    assert!(text.to_ascii_uppercase().contains(&t.revoked.serial.to_ascii_uppercase()), "{text}");
}

#[test]
fn a_deleted_certificate_row_is_reported() {
    let t = home_with_a_revocation();
    sqlite3(
        &t.pki.home,
        &format!("DELETE FROM certificates WHERE serial = '{}'", ledger_serial(&t.revoked.serial)),
    );
    doctor_names(&t.pki, &[&t.revoked.serial, "its row is gone"]);
    crl_refuses(&t.pki, &["no CRL"]);
}

#[test]
fn a_forged_der_with_matching_columns_is_reported() {
    let t = home_with_a_revocation();
    // Swap in another certificate's DER and make the fingerprint column agree with it: every
    // column is consistent, only the chain remembers what was issued.
    let other = cert_der(&t.revoked.crt);
    let fingerprint = x509_sha256(&t.revoked.crt);
    sqlite3(
        &t.pki.home,
        &format!("DELETE FROM certificates WHERE serial = '{}'", ledger_serial(&t.revoked.serial)),
    );
    let hex: String = other.iter().map(|b| format!("{b:02x}")).collect();
    sqlite3(
        &t.pki.home,
        &format!(
            "UPDATE certificates SET der = x'{hex}', fingerprint_sha256 = '{fingerprint}' WHERE serial = '{}'",
            ledger_serial(&t.valid.serial)
        ),
    );
    doctor_names(&t.pki, &[&t.valid.serial, "its DER is not the one that was issued"]);
}

#[test]
fn emptied_events_are_reported_and_block_crls() {
    let t = home_with_a_revocation();
    sqlite3(&t.pki.home, "DELETE FROM events");
    doctor_names(&t.pki, &["was never recorded as issued"]);
    crl_refuses(&t.pki, &["no CRL", "audit chain"]);
}

#[test]
fn an_edited_event_breaks_the_chain_at_that_row() {
    let t = home_with_a_revocation();
    let event =
        ledger_testing::events(&t.pki.home).into_iter().find(|e| e.action == "certificate.revoke").unwrap();
    sqlite3(&t.pki.home, &format!("UPDATE events SET detail = '{{}}' WHERE id = {}", event.id));
    doctor_names(&t.pki, &[&format!("broken at event #{}", event.id)]);
}

#[test]
fn crl_refuses_when_the_chain_since_the_last_crl_is_broken() {
    // A CRL checks the chain from the CA's newest CRL on (that CRL's event holds a checkpoint
    // of every revocation); `doctor` checks all of it.
    let t = home_with_a_revocation();
    t.pki.issue("client", "late.audit.example.com", &[], "tls");
    let event = ledger_testing::events(&t.pki.home).pop().unwrap();
    assert_eq!(event.action, "certificate.issue");
    sqlite3(&t.pki.home, &format!("UPDATE events SET target = 'x' WHERE id = {}", event.id));
    crl_refuses(&t.pki, &["broken at event"]);
}

#[test]
fn a_forged_crl_checkpoint_is_refused() {
    // Lower the newest CRL's checkpoint and un-revoke to match: the edited event's hash no
    // longer holds.
    let t = home_with_a_revocation();
    let event = ledger_testing::events(&t.pki.home).pop().unwrap();
    assert_eq!(event.action, "crl.publish");
    sqlite3(
        &t.pki.home,
        &format!(
            "UPDATE events SET changes = replace(changes, '\"count\":1', '\"count\":0') WHERE id = {}",
            event.id
        ),
    );
    sqlite3(
        &t.pki.home,
        &format!(
            "UPDATE certificates SET status = 'valid', revoked_at = NULL, revocation_reason = NULL WHERE serial = '{}'",
            ledger_serial(&t.revoked.serial)
        ),
    );
    crl_refuses(&t.pki, &["no CRL"]);
}

#[test]
fn a_removed_event_breaks_the_chain() {
    let t = home_with_a_revocation();
    let event =
        ledger_testing::events(&t.pki.home).into_iter().find(|e| e.action == "certificate.issue").unwrap();
    sqlite3(&t.pki.home, &format!("DELETE FROM events WHERE id = {}", event.id));
    doctor_names(&t.pki, &["audit chain is broken", "does not link"]);
}

#[test]
fn a_reset_crl_counter_is_reported_and_no_number_is_reused() {
    let t = home_with_a_revocation();
    sqlite3(
        &t.pki.home,
        &format!("UPDATE authorities SET next_crl_number = 1 WHERE slug = '{ISSUING_SLUG}'"),
    );
    doctor_names(&t.pki, &["CRL counter is at 1", "was reset"]);
    crl_refuses(&t.pki, &["gives #1", "already records CRL #1"]);
}

#[test]
fn an_emptied_crls_table_is_reported() {
    let t = home_with_a_revocation();
    sqlite3(&t.pki.home, "DELETE FROM crls");
    doctor_names(&t.pki, &["CRL #1 of", "its row is gone"]);
}

#[test]
fn crls_emptied_and_counter_reset_never_reuse_a_number() {
    let t = home_with_a_revocation();
    sqlite3(&t.pki.home, "DELETE FROM crls; UPDATE authorities SET next_crl_number = 1");
    crl_refuses(&t.pki, &["already records CRL #1"]);
}

#[test]
fn a_damaged_column_is_reported_not_fatal() {
    let t = home_with_a_revocation();
    sqlite3(
        &t.pki.home,
        &format!(
            "UPDATE certificates SET not_after = 'soon' WHERE serial = '{}'",
            ledger_serial(&t.valid.serial)
        ),
    );
    let report = doctor_names(&t.pki, &["row", "damaged", "not_after holds text"]);
    assert!(!report.contains("Invalid"), "{report}");
    sqlite3(&t.pki.home, &format!("UPDATE authorities SET key_type = 5 WHERE slug = '{ROOT_SLUG}'"));
    let out = t.pki.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout_of(&out), stderr_of(&out));
    assert!(stdout_of(&out).contains("damaged"), "{}", stdout_of(&out));
}

#[test]
fn doctor_prints_the_chain_head_and_it_moves_with_every_change() {
    let pki = Pki::init_unencrypted(ROOT);
    let head = |pki: &Pki| pki.json(&["doctor"])["chain"]["head"].as_str().unwrap().to_string();
    let first = head(&pki);
    assert_eq!(first.len(), 64, "{first}");
    let text = stdout_of(&pki.ok(&["doctor"]));
    assert!(text.contains(&format!("head {first}")), "{text}");
    pki.issue("client", "one.audit.example.com", &[], "tls");
    assert_ne!(head(&pki), first);
}

#[test]
fn doctor_finds_a_ca_key_file_holding_another_key() {
    let pki = Pki::init_unencrypted(ROOT);
    // The root's key in the issuing CA's place: a valid P-256 key, just not the CA's.
    fs::copy(pki.ca_key(ROOT_SLUG), pki.ca_key(ISSUING_SLUG)).unwrap();
    doctor_names(&pki, &["does not hold the key of the CA certificate", ISSUING_SLUG]);
}

#[test]
fn doctor_compares_encrypted_ca_keys_when_given_the_passphrase() {
    let pki = Pki::init(&["--name", ROOT]);
    let ok = pki.run(&["doctor"]);
    assert!(ok.status.success(), "{}", stdout_of(&ok));
    fs::copy(pki.ca_key(ROOT_SLUG), pki.ca_key(ISSUING_SLUG)).unwrap();
    doctor_names(&pki, &["does not hold the key of the CA certificate"]);
    // Without a passphrase the encrypted key is not opened: a warning, not a problem.
    let blind = pkictl(&pki.home).arg("doctor").output().unwrap();
    assert!(stdout_of(&blind).contains("was not compared"), "{}", stdout_of(&blind));
}

#[test]
fn doctor_names_the_crl_file_that_lags_behind_the_ledger() {
    let pki = Pki::init_unencrypted(ROOT);
    pki.ok(&["crl"]);
    let old = fs::read(pki.crl_der(ISSUING_SLUG)).unwrap();
    pki.ok(&["crl"]);
    fs::write(pki.crl_der(ISSUING_SLUG), old).unwrap();
    doctor_names(&pki, &["holds CRL #1", "newest is #2"]);
    pki.ok(&["doctor", "--repair"]);
    pki.ok(&["doctor"]);
    let text = openssl_ok([
        os("crl"),
        os("-in"),
        pki.crl_der(ISSUING_SLUG).as_os_str(),
        os("-inform"),
        os("DER"),
        os("-noout"),
        os("-crlnumber"),
    ]);
    assert!(text.trim().ends_with("0x02") || text.trim().ends_with("=02"), "{text}");
}

#[test]
fn the_publish_lock_is_private_whatever_the_umask() {
    let pki = Pki::init_unencrypted(ROOT);
    let lock = pki.home.join("crl/.publish.lock");
    let _ = fs::remove_file(&lock);
    let bin = assert_cmd::cargo::cargo_bin("pkictl");
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 000 && exec \"$0\" --home \"$1\" crl --ca \"$2\"")
        .arg(&bin)
        .arg(&pki.home)
        .arg(ROOT)
        .env_remove("PKICTL_PASSPHRASE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_mode(&lock, 0o600);
    // An older, wider lock file is narrowed by the next publisher or repair.
    fs::set_permissions(&lock, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    pki.ok(&["doctor", "--repair"]);
    pki.ok(&["crl"]);
    assert_mode(&lock, 0o600);
}

#[test]
fn doctor_repair_waits_for_the_publish_lock() {
    let pki = Pki::init_unencrypted(ROOT);
    pki.ok(&["crl"]);
    fs::remove_file(pki.crl_der(ISSUING_SLUG)).unwrap();
    let lock = fs::OpenOptions::new().write(true).open(pki.home.join("crl/.publish.lock")).unwrap();
    lock.lock().unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("pkictl"))
        .arg("--home")
        .arg(&pki.home)
        .args(["doctor", "--repair"])
        .env_remove("PKICTL_PASSPHRASE")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // While the lock is held the repair cannot have written the file.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(!pki.crl_der(ISSUING_SLUG).exists(), "doctor --repair wrote the CRL without the publish lock");
    drop(lock);
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(pki.crl_der(ISSUING_SLUG).exists());
}

#[test]
fn doctor_does_not_advise_crl_for_an_expired_ca() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("pki");
    let out = pkictl(&home)
        .args([
            "init",
            "--name",
            ROOT,
            "--no-passphrase",
            "--validity",
            "3s",
            "--intermediate-validity",
            "2s",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let crl = pkictl(&home).arg("crl").output().unwrap();
    assert!(crl.status.success(), "{}", stderr_of(&crl));
    // The CRL's nextUpdate was cut to the CA's notAfter: both pass together.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let out = pkictl(&home).arg("doctor").output().unwrap();
        let report = stdout_of(&out);
        if report.contains("CRL expired") {
            assert_eq!(out.status.code(), Some(1));
            let line =
                report.lines().find(|l| l.contains("CRL expired") && l.contains("Issuing CA")).unwrap();
            assert!(line.contains("cannot sign another"), "{line}");
            assert!(
                !line.contains("pkictl crl"),
                "doctor advises `pkictl crl` for a CA that cannot sign: {line}"
            );
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the CRL never expired:\n{report}");
    }
}

#[test]
fn doctor_flags_a_crl_dated_in_the_future() {
    // A CRL signed with a fast clock: OpenSSL signs it with the CA's own key and a thisUpdate
    // in 2040, and it becomes the ledger's newest (a ledger edit: the chain reports that too).
    let pki = Pki::init_unencrypted(ROOT);
    pki.ok(&["crl"]);
    let work = pki.work();
    fs::write(work.join("index.txt"), b"").unwrap();
    fs::write(work.join("crlnumber"), b"09\n").unwrap();
    fs::write(
        work.join("ca.cnf"),
        format!(
            "[ca]\ndefault_ca = x\n[x]\ndatabase = {}\ncrlnumber = {}\ndefault_md = sha256\n",
            work.join("index.txt").display(),
            work.join("crlnumber").display()
        ),
    )
    .unwrap();
    let crl = work.join("future.crl");
    openssl_ok([
        os("ca"),
        os("-config"),
        work.join("ca.cnf").as_os_str(),
        os("-gencrl"),
        os("-keyfile"),
        pki.ca_key(ISSUING_SLUG).as_os_str(),
        os("-cert"),
        pki.ca_cert(ISSUING_SLUG).as_os_str(),
        os("-crl_lastupdate"),
        os("20400101000000Z"),
        os("-crl_nextupdate"),
        os("20400108000000Z"),
        os("-out"),
        crl.as_os_str(),
    ]);
    let der = openssl_ok_bytes(&crl);
    let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
    sqlite3(
        &pki.home,
        &format!(
            "UPDATE crls SET der = x'{hex}' WHERE issuer_id = (SELECT id FROM authorities WHERE slug = '{ISSUING_SLUG}')"
        ),
    );
    doctor_names(&pki, &["thisUpdate is in the future", "2040-01-01"]);
}

/// A PEM CRL file as DER, converted by OpenSSL.
fn openssl_ok_bytes(pem: &Path) -> Vec<u8> {
    let der = pem.with_extension("der");
    openssl_ok([
        os("crl"),
        os("-in"),
        pem.as_os_str(),
        os("-outform"),
        os("DER"),
        os("-out"),
        der.as_os_str(),
    ]);
    fs::read(der).unwrap()
}
