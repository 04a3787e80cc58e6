//! Operating pkictl on a bad day: core dumps, output directories that are inside the home,
//! read-only, full or in the way, a read-only home, a clock behind the CA, an interrupted
//! `init`, and what monitoring sees on a healthy home.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
use common::*;

/// Waits (at most a minute, a hang guard rather than a timing assert) until `pid` sits in a
/// read(2) of its standard input.
fn wait_until_reading_stdin(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let syscall = fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
        // x86_64 and aarch64 number read(2) 0 and 63; its first argument is the fd.
        let mut fields = syscall.split_whitespace();
        let (number, fd) = (fields.next(), fields.next());
        if matches!(number, Some("0") | Some("63")) && fd == Some("0x0") {
            return;
        }
        assert!(Instant::now() < deadline, "process {pid} never blocked reading stdin: {syscall:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (owner of /proc/PID/status, "Max core file size" soft and hard) of a running process.
fn dump_state(pid: u32) -> (u32, String) {
    let owner = fs::metadata(format!("/proc/{pid}/status")).expect("stat /proc/PID/status").uid();
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).expect("read /proc/PID/limits");
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .map(|l| l.split_whitespace().skip(4).take(2).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    (owner, core)
}

const NOBODY: u32 = 65534;

#[test]
fn a_process_that_will_read_secrets_cannot_dump_core() {
    // Run as nobody so that dumpability is visible from outside: the kernel gives the
    // /proc/PID files of a non-dumpable process to root instead of the process's own user.
    let dir = tempfile::tempdir().unwrap();
    let pkictl_bin = assert_cmd::cargo::cargo_bin("pkictl");
    let mut child = Command::new(&pkictl_bin)
        .args(["--home", &dir.path().join("pki").display().to_string()])
        .args(["revoke", "--from-file", "-", "--reason", "superseded"])
        .env_remove("PKICTL_PASSPHRASE")
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pkictl as nobody");
    wait_until_reading_stdin(child.id());
    let (owner, core) = dump_state(child.id());
    drop(child.stdin.take());
    let _ = child.wait();
    assert_eq!(core, "0 0", "RLIMIT_CORE of pkictl (soft hard)");
    assert_eq!(owner, 0, "pkictl is still dumpable: its /proc/PID/status belongs to uid {owner}");

    // The control: the same check on a process that does nothing about it sees it dumpable.
    let mut control = Command::new("cat")
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn cat as nobody");
    wait_until_reading_stdin(control.id());
    let (owner, _) = dump_state(control.id());
    drop(control.stdin.take());
    let _ = control.wait();
    assert_eq!(owner, NOBODY, "the control process should be dumpable");
}

// ---------------------------------------------------------------------------------------------
// The PKCS#12 password is a secret of its own.

const P12_PASSWORD: &str = "a p12 password of its own";

/// An encrypted home with one client certificate and its key in `<dir>/tls`.
fn home_with_client() -> (Pki, Issued) {
    let pki = Pki::init(&[]);
    let issued = pki.issue("client", "billing.example.com", &[], "tls");
    (pki, issued)
}

fn write_secret(pki: &Pki, name: &str, secret: &str) -> PathBuf {
    let path = pki.path(name);
    fs::write(&path, format!("{secret}\n")).unwrap();
    path
}

#[test]
fn p12_never_takes_its_password_from_the_ca_passphrase_sources() {
    let (pki, issued) = home_with_client();
    let ca_pass = write_secret(&pki, "ca.pass", PASSPHRASE);
    let p12 = pki.path("billing.p12");
    let export = |extra: &[&str]| {
        let mut cmd = pkictl(&pki.home);
        cmd.args(["--passphrase-file", arg(&ca_pass), "export", &issued.serial, "--format", "p12"]);
        cmd.args(["--key", arg(issued.key()), "--out", arg(&p12)]).args(extra);
        cmd.output().unwrap()
    };
    // Only the CA passphrase is given: it is not taken as the p12 password.
    let stderr = assert_error(&export(&[]), 2);
    assert!(stderr.contains("--p12-passphrase-file") && stderr.contains("PKICTL_P12_PASSPHRASE"), "{stderr}");
    assert!(!p12.exists());
    // The same file for both secrets, even under another name.
    fs::create_dir(pki.path("link")).unwrap();
    std::os::unix::fs::symlink(&ca_pass, pki.path("link/p12.pass")).unwrap();
    let stderr = assert_error(&export(&["--p12-passphrase-file", &pki.out("link/p12.pass")]), 2);
    assert!(stderr.contains("CA passphrase"), "{stderr}");
    // Another file holding the CA passphrase.
    let copy = write_secret(&pki, "copy.pass", PASSPHRASE);
    let stderr = assert_error(&export(&["--p12-passphrase-file", arg(&copy)]), 2);
    assert!(stderr.contains("is the CA passphrase"), "{stderr}");
    assert!(!p12.exists());
    // Its own password: accepted, and OpenSSL opens the file with it and not with the CA's.
    let own = write_secret(&pki, "p12.pass", P12_PASSWORD);
    let out = export(&["--p12-passphrase-file", arg(&own)]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains(arg(&p12)), "export --out says what it wrote: {}", stderr_of(&out));
    let info = |password: &str| {
        openssl([os("pkcs12"), os("-in"), p12.as_os_str(), os("-noout"), os("-passin"), os(&format!("pass:{password}"))])
    };
    assert!(info(P12_PASSWORD).status.success(), "{}", String::from_utf8_lossy(&info(P12_PASSWORD).stderr));
    assert!(!info(PASSPHRASE).status.success());
}

#[test]
fn p12_password_from_the_environment_must_differ_from_the_ca_passphrase() {
    let (pki, issued) = home_with_client();
    let p12 = pki.path("billing.p12");
    let export = |p12_password: &str| {
        let mut cmd = pki.cmd(); // PKICTL_PASSPHRASE is set
        cmd.env("PKICTL_P12_PASSPHRASE", p12_password);
        cmd.args(["export", &issued.serial, "--format", "p12", "--key", arg(issued.key()), "--out", arg(&p12)]);
        cmd.output().unwrap()
    };
    let stderr = assert_error(&export(PASSPHRASE), 2);
    assert!(stderr.contains("is the CA passphrase"), "{stderr}");
    assert!(!p12.exists());
    let out = export(P12_PASSWORD);
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn export_help_names_the_secret_it_reads() {
    let out = pkictl(Path::new("unused")).args(["export", "--help"]).output().unwrap();
    let help = stdout_of(&out);
    for needle in ["--p12-passphrase-file", "PKICTL_P12_PASSPHRASE", "never read from --passphrase-file"] {
        assert!(help.contains(needle), "export --help lacks {needle:?}:\n{help}");
    }
}

// ---------------------------------------------------------------------------------------------
// No output goes into the home.

#[test]
fn no_output_path_may_lead_into_the_home() {
    let pki = Pki::init_unencrypted("Acme Root CA");
    let key = PathBuf::from("private/acme-root-ca-issuing-ca.key");
    let before = snapshot_dir(&pki.home);
    let issued = pki.issue("client", "billing.example.com", &[], "tls");
    let serial = issued.serial.clone();
    let recorded = pki.counts();
    std::os::unix::fs::symlink(&pki.home, pki.path("h")).unwrap();
    let home = arg(&pki.home).to_string();
    let private = format!("{home}/private");
    let through_link = pki.out("h/ca/../private");
    let dotdot = format!("{}/tls/../pki/private", pki.dir.path().display());
    let ca_file = format!("{home}/ca/acme-root-ca.pem");
    let crl_file = format!("{home}/crl/acme-root-ca-issuing-ca.crl.pem");
    let backup = format!("{home}/backup");
    let cases: Vec<Vec<&str>> = vec![
        // A leaf key named like the issuing CA's key file, written over it with --force.
        vec!["issue", "server", "acme-root-ca-issuing-ca", "--out", &private, "--force"],
        vec!["issue", "server", "acme-root-ca-issuing-ca", "--out", &through_link, "--force"],
        vec!["issue", "server", "acme-root-ca-issuing-ca", "--out", &dotdot, "--force"],
        vec!["issue", "client", "new.example.com", "--out", &home],
        vec!["renew", &serial, "--rekey", "--out", &private, "--force"],
        vec!["export", &serial, "--format", "pem", "--out", &ca_file],
        vec!["crl", "--out", &crl_file],
        vec!["backup", &backup],
    ];
    for args in &cases {
        let stderr = assert_error(&pki.run(args), 2);
        assert!(stderr.contains("is inside the home"), "{args:?}: {stderr}");
    }
    let batch = pki.path("batch.txt");
    fs::write(&batch, "acme-root-ca-issuing-ca\n").unwrap();
    let stderr = assert_error(
        &pki.run(&["issue", "server", "--batch", arg(&batch), "--out", &through_link, "--force"]),
        2,
    );
    assert!(stderr.contains("is inside the home"), "{stderr}");
    // The CA key is still the CA's.
    let after = snapshot_dir(&pki.home);
    assert_eq!(before.get(&key), after.get(&key), "the issuing CA's key file changed");
    assert!(before.contains_key(&key));
    assert_eq!(pki.counts(), recorded, "a refused command changed the ledger");
    pki.ok(&["issue", "client", "ok.example.com", "--out", &pki.out("tls")]);
}
