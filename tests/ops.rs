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

/// A secret file as an operator should keep one: 0600 (a wider one draws a warning).
fn write_secret(pki: &Pki, name: &str, secret: &str) -> PathBuf {
    let path = pki.path(name);
    fs::write(&path, format!("{secret}\n")).unwrap();
    fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
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
        openssl([
            os("pkcs12"),
            os("-in"),
            p12.as_os_str(),
            os("-noout"),
            os("-passin"),
            os(&format!("pass:{password}")),
        ])
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
        cmd.args([
            "export",
            &issued.serial,
            "--format",
            "p12",
            "--key",
            arg(issued.key()),
            "--out",
            arg(&p12),
        ]);
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

// ---------------------------------------------------------------------------------------------
// Mounts for the tests that need a read-only or a full file system (the tests run as root).

/// A mount point that is unmounted (lazily, so a leftover process cannot keep it) when dropped.
struct Mount {
    point: PathBuf,
}

impl Mount {
    /// `source` bound at `point`, read-only.
    fn read_only_bind(source: &Path, point: &Path) -> Mount {
        fs::create_dir_all(point).unwrap();
        run_mount(&["--bind", arg(source), arg(point)]);
        let mount = Mount { point: point.to_path_buf() };
        run_mount(&["-o", "remount,ro,bind", arg(point)]);
        mount
    }

    /// A tmpfs of `size` at `point`.
    fn tmpfs(point: &Path, size: &str) -> Mount {
        fs::create_dir_all(point).unwrap();
        run_mount(&["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs", arg(point)]);
        Mount { point: point.to_path_buf() }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.point).status();
    }
}

fn run_mount(args: &[&str]) {
    let out = Command::new("mount").args(args).output().expect("run mount");
    assert!(out.status.success(), "mount {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Fills the file system holding `dir` to the last block.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut file = fs::File::create(dir.join("filler")).unwrap();
    let block = vec![0u8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    // The last partial block.
    while file.write_all(&block[..512]).is_ok() {}
    let _ = file.write_all(&[0u8]);
}

#[test]
fn read_only_commands_work_on_a_read_only_home() {
    let pki = Pki::init(&["--crl-url", "http://pki.example.com/crl"]);
    let issued = pki.issue("server", "api.example.com", &[], "tls");
    pki.ok(&["crl"]);
    let mount = Mount::read_only_bind(&pki.home, &pki.path("ro"));
    let ro = mount.point.clone();
    assert!(fs::write(ro.join("probe"), b"x").is_err(), "the bind mount is writable");
    let run = |args: &[&str]| {
        let out = pkictl_with_passphrase(&ro).args(args).output().unwrap();
        assert!(out.status.success(), "pkictl {args:?} on a read-only home: {}", stderr_of(&out));
        out
    };
    let p12_pass = pki.path("p12.pass");
    fs::write(&p12_pass, "a p12 password of its own\n").unwrap();
    let export_dir = pki.path("exported");
    fs::create_dir(&export_dir).unwrap();
    let fullchain = pki.out("tls/api.example.com.fullchain.pem");
    run(&["list"]);
    run(&["list", "--status", "all", "--json"]);
    run(&["show", &issued.serial]);
    run(&["ca", "list"]);
    run(&["ca", "show", ROOT_NAME]);
    run(&["ca", "cert"]);
    run(&["doctor"]);
    run(&["verify", &fullchain, "--purpose", "server", "--host", "api.example.com"]);
    run(&["export", &issued.serial, "--format", "fullchain", "--out", arg(&export_dir.join("f.pem"))]);
    run(&[
        "export",
        &issued.serial,
        "--format",
        "p12",
        "--key",
        arg(issued.key()),
        "--p12-passphrase-file",
        arg(&p12_pass),
        "--out",
        arg(&export_dir.join("f.p12")),
    ]);
    let backup = pki.path("backup");
    run(&["backup", arg(&backup)]);
    pkictl_with_passphrase(&backup).arg("doctor").assert().success();
    // Commands that change the home fail cleanly (one line, exit 1: the storage failed).
    let out = pkictl_with_passphrase(&ro)
        .args(["issue", "client", "x.example.com", "--out", &pki.out("x")])
        .output()
        .unwrap();
    let stderr = assert_error(&out, 1);
    assert!(stderr.contains("read-only") || stderr.contains("readonly"), "{stderr}");
    drop(mount);
}

#[test]
fn a_full_disk_under_the_ledger_says_so() {
    let scratch = tempfile::tempdir().unwrap();
    let mount = Mount::tmpfs(&scratch.path().join("small"), "2m");
    let home = mount.point.join("pki");
    init_unencrypted_home(&home, "Full Root CA");
    fill(&mount.point);
    let out_dir = scratch.path().join("tls");
    let out =
        pkictl(&home).args(["issue", "client", "full.example.com", "--out", arg(&out_dir)]).output().unwrap();
    let stderr = assert_error(&out, 1);
    assert!(stderr.contains("no space left on device"), "{stderr}");
    assert!(!stderr.contains("disk I/O error") && !stderr.contains("os error"), "{stderr}");
    assert!(!out_dir.exists(), "nothing may be delivered for a certificate the ledger refused");
    fs::remove_file(mount.point.join("filler")).unwrap();
    pkictl(&home).arg("doctor").assert().success();
    assert_eq!(listed_certificates(&home, &[]).len(), 2, "only the two CAs");
}

// ---------------------------------------------------------------------------------------------
// --out is checked before signing; a failure after the commit says how to get the files.

/// `issue client NAME --out OUT EXTRA…` in `pki`.
fn issue_into(pki: &Pki, name: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["issue", "client", name, "--out", arg(out)];
    args.extend_from_slice(extra);
    pki.run(&args)
}

#[test]
fn an_out_dir_that_cannot_take_the_files_is_refused_before_signing() {
    let pki = Pki::init_unencrypted("Out Root CA");
    let before = pki.counts();

    // Read-only (root ignores permission bits, so a read-only mount).
    let ro_source = pki.path("ro-source");
    fs::create_dir(&ro_source).unwrap();
    let ro = Mount::read_only_bind(&ro_source, &pki.path("ro"));
    let stderr = assert_error(&issue_into(&pki, "ro.example.com", &ro.point, &[]), 1);
    assert!(stderr.contains("read-only file system") && !stderr.contains("os error"), "{stderr}");
    assert_eq!(dir_entries(&ro.point), Vec::<String>::new());

    // A directory where NAME.crt should go, even with --force.
    let out = pki.path("tls");
    fs::create_dir_all(out.join("dir.example.com.crt")).unwrap();
    let stderr = assert_error(&issue_into(&pki, "dir.example.com", &out, &["--force"]), 2);
    assert!(stderr.contains("dir.example.com.crt is a directory"), "{stderr}");
    assert_eq!(dir_entries(&out), vec!["dir.example.com.crt".to_string()]);

    // The same for a batch: the line is named.
    let batch = pki.path("batch.txt");
    fs::write(&batch, "one.example.com\ndir.example.com\n").unwrap();
    let stderr = assert_error(
        &pki.run(&["issue", "client", "--batch", arg(&batch), "--out", arg(&out), "--force"]),
        2,
    );
    assert!(stderr.contains("line 2") && stderr.contains("is a directory"), "{stderr}");
    let stderr =
        assert_error(&pki.run(&["issue", "client", "--batch", arg(&batch), "--out", arg(&ro.point)]), 1);
    assert!(stderr.contains("read-only file system"), "{stderr}");

    // A full disk.
    let full = Mount::tmpfs(&pki.path("full"), "256k");
    fill(&full.point);
    let stderr = assert_error(&issue_into(&pki, "full.example.com", &full.point.join("tls"), &[]), 1);
    assert!(stderr.contains("no space left on device"), "{stderr}");
    assert_eq!(dir_entries(&full.point), vec!["filler".to_string()], "the missing --out is not left behind");

    assert_eq!(
        pki.counts(),
        before,
        "nothing may be signed and recorded for an output that cannot be written"
    );
}

/// `sqlite3 LEDGER` holding the write lock (BEGIN IMMEDIATE) until `release`: a pkictl
/// process then waits at its commit, after everything before it is done.
struct LedgerLock {
    child: std::process::Child,
}

impl LedgerLock {
    fn take(ledger: &Path) -> LedgerLock {
        use std::io::{BufRead, Write};
        let mut child = Command::new("sqlite3")
            .arg(ledger)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run sqlite3 (apt-get install sqlite3)");
        let stdin = child.stdin.as_mut().unwrap();
        stdin.write_all(b"BEGIN IMMEDIATE;\nSELECT 'locked';\n").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "locked");
        LedgerLock { child }
    }

    fn release(mut self) {
        drop(self.child.stdin.take()); // sqlite3 exits; the open transaction is rolled back
        self.child.wait().unwrap();
    }
}

/// `pkictl --home HOME ARGS…` started in the background, its output captured.
fn spawn_pkictl(home: &Path, args: &[&str]) -> std::process::Child {
    Command::new(assert_cmd::cargo::cargo_bin("pkictl"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("PKICTL_PASSPHRASE")
        .env_remove("PKICTL_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pkictl")
}

/// Waits (a hang guard, not a timing assert) until `dir` holds `count` staged temp files.
fn wait_for_staged_files(dir: &Path, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let staged = fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with(".pkictl-"))
                    .count()
            })
            .unwrap_or(0);
        if staged >= count {
            return;
        }
        assert!(Instant::now() < deadline, "pkictl never staged {count} files in {}", dir.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_disk_that_fills_up_after_the_check_still_gets_the_files() {
    let pki = Pki::init_unencrypted("Room Root CA");
    let full = Mount::tmpfs(&pki.path("full"), "512k");
    let out = full.point.join("tls");
    let lock = LedgerLock::take(&pki.home.join("ledger.db"));
    let child = spawn_pkictl(&pki.home, &["issue", "client", "room.example.com", "--out", arg(&out)]);
    wait_for_staged_files(&out, 4);
    fill(&full.point);
    lock.release();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    for f in ["crt", "key", "chain.pem", "fullchain.pem"] {
        let path = out.join(format!("room.example.com.{f}"));
        assert!(fs::metadata(&path).unwrap().len() > 0, "{} is empty", path.display());
    }
    openssl_ok([os("x509"), os("-in"), out.join("room.example.com.crt").as_os_str(), os("-noout")]);
    let key = out.join("room.example.com.key");
    assert_eq!(key_public(&key), cert_public(&out.join("room.example.com.crt")));
}

#[test]
fn files_that_cannot_land_after_the_commit_give_the_serial_and_no_lone_key() {
    let pki = Pki::init_unencrypted("Late Root CA");
    let out = pki.path("tls");
    fs::create_dir(&out).unwrap();
    let lock = LedgerLock::take(&pki.home.join("ledger.db"));
    let child = spawn_pkictl(&pki.home, &["issue", "client", "late.example.com", "--out", arg(&out)]);
    wait_for_staged_files(&out, 4);
    // Something takes NAME.crt's place between the check and the write.
    fs::create_dir(out.join("late.example.com.crt")).unwrap();
    lock.release();
    let output = child.wait_with_output().unwrap();
    let stderr = assert_error(&output, 1);
    let listed = listed_certificates(&pki.home, &["--profile", "client"]);
    assert_eq!(listed.len(), 1, "the certificate is recorded");
    let serial = listed[0]["serial"].as_str().unwrap();
    assert!(stderr.contains(serial), "the message gives the serial: {stderr}");
    assert!(stderr.contains(&format!("pkictl export {serial}")), "and how to get the files: {stderr}");
    assert!(stderr.contains("revoke"), "the key is lost, so it says to revoke: {stderr}");
    assert!(!out.join("late.example.com.key").exists(), "a lone NAME.key was left");
    let leftovers: Vec<String> =
        dir_entries(&out).into_iter().filter(|n| n.starts_with(".pkictl-")).collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    let exported = pki.path("late.pem");
    pki.ok(&["export", serial, "--format", "pem", "--out", arg(&exported)]);
    openssl_ok([os("x509"), os("-in"), exported.as_os_str(), os("-noout")]);
}

// ---------------------------------------------------------------------------------------------
// A clock behind the CA.

/// `faketime OFFSET pkictl --home HOME ARGS…` (libfaketime shifts the clock of that process).
fn pkictl_at_offset(home: &Path, offset: &str, args: &[&str]) -> std::process::Output {
    Command::new("faketime")
        .args(["-f", offset])
        .arg(assert_cmd::cargo::cargo_bin("pkictl"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("PKICTL_PASSPHRASE")
        .stdin(Stdio::null())
        .output()
        .expect("run faketime (apt-get install faketime)")
}

#[test]
fn a_clock_behind_the_issuing_ca_signs_nothing() {
    let pki = Pki::init_unencrypted("Clock Root CA");
    let before = pki.counts();
    let out = pki.path("tls");
    let issued =
        pkictl_at_offset(&pki.home, "-1d", &["issue", "client", "late.example.com", "--out", arg(&out)]);
    let stderr = assert_error(&issued, 2);
    let ca_start = x509_field(&pki.ca_cert("clock-root-ca-issuing-ca"), "-startdate");
    let (year, month, day, clock) = parse_openssl_date(&ca_start);
    let ca_start_rfc3339 = format!("{year:04}-{month:02}-{day:02}T{clock}Z");
    assert!(stderr.contains(&ca_start_rfc3339), "the CA's notBefore is in the message: {stderr}");
    let said_now = stderr.split("clock says ").nth(1).map(|rest| &rest[..ca_start_rfc3339.len()]);
    assert!(said_now.is_some_and(|now| now < ca_start_rfc3339.as_str()), "and the clock's time: {stderr}");
    assert!(!out.exists());
    let sub = pkictl_at_offset(&pki.home, "-1d", &["ca", "add-intermediate", "--name", "Late Sub CA"]);
    assert_error(&sub, 2);
    assert_eq!(pki.counts(), before, "nothing was signed or recorded");

    // A clock a little behind, but not behind the CA's own start: the leaf starts with the CA
    // (not up to 5 minutes before it, as the usual backdating would have it).
    let issued =
        pkictl_at_offset(&pki.home, "-2m", &["issue", "client", "now.example.com", "--out", arg(&out)]);
    assert!(issued.status.success(), "{}", stderr_of(&issued));
    let leaf = out.join("now.example.com.crt");
    let leaf_start = x509_field(&leaf, "-startdate");
    let chain = pki.ca_cert("clock-root-ca-issuing-ca");
    openssl_ok([
        os("verify"),
        os("-x509_strict"),
        os("-CAfile"),
        pki.ca_cert("clock-root-ca").as_os_str(),
        os("-untrusted"),
        chain.as_os_str(),
        leaf.as_os_str(),
    ]);
    assert!(parse_openssl_date(&leaf_start) >= parse_openssl_date(&ca_start), "{leaf_start} < {ca_start}");
}

// ---------------------------------------------------------------------------------------------
// An interrupted init.

/// Runs `init` (encrypted keys: the scrypt work keeps it busy inside its staging directory)
/// and SIGKILLs it as soon as the staging directory appears; retries until a kill lands
/// before the home is complete. Returns the staging directory left behind.
fn kill_init_while_staging(home: &Path) -> PathBuf {
    for _ in 0..50 {
        let _ = fs::remove_dir_all(home);
        fs::create_dir_all(home).unwrap();
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("pkictl"))
            .arg("--home")
            .arg(home)
            .args(["init", "--name", "Killed Root CA"])
            .env("PKICTL_PASSPHRASE", PASSPHRASE)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let staging = loop {
            let found = fs::read_dir(home)
                .unwrap()
                .filter_map(|e| e.ok())
                .find(|e| e.file_name().to_string_lossy().starts_with(".pkictl-init-"));
            if let Some(entry) = found {
                break Some(entry.path());
            }
            if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                break None;
            }
        };
        let _ = child.kill();
        let _ = child.wait();
        if let Some(staging) = staging
            && staging.exists()
            && !home.join("ledger.db").exists()
        {
            return staging;
        }
    }
    panic!("no kill landed while init was staging");
}

#[test]
fn a_killed_init_is_explained_and_cleaned_up_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("pki");
    let staging = kill_init_while_staging(&home);

    // Every command, doctor first, says exactly what to delete.
    let stderr = assert_error(&pkictl(&home).arg("doctor").output().unwrap(), 2);
    assert!(stderr.contains(&format!("rm -r {}", staging.display())), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");

    // The next init removes it and makes the home.
    let out = pkictl_with_passphrase(&home).args(["init", "--name", "Second Root CA"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!staging.exists(), "the stale staging directory is still there");
    assert_eq!(dir_entries(&home), vec!["ca", "crl", "ledger.db", "private"]);
    pkictl_with_passphrase(&home).arg("doctor").assert().success();
}

#[test]
fn a_staging_directory_in_use_or_not_ours_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("pki");
    // One held by a running init (its lock), one that holds something init never writes.
    let live = home.join(".pkictl-init-live");
    fs::create_dir_all(live.join("private")).unwrap();
    let handle = fs::File::open(&live).unwrap();
    rustix::fs::flock(&handle, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    let foreign = home.join(".pkictl-init-foreign");
    fs::create_dir_all(&foreign).unwrap();
    fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let out = pkictl(&home).args(["init", "--name", "Root CA", "--no-passphrase"]).output().unwrap();
    let stderr = assert_error(&out, 2);
    assert!(stderr.contains("already holds files"), "{stderr}");
    assert!(live.join("private").exists() && foreign.join("notes.txt").exists());
    drop(handle);
}

// ---------------------------------------------------------------------------------------------
// What a new user sees on a healthy home.

#[test]
fn a_healthy_home_needs_no_attention_and_says_so() {
    let pki = Pki::init_unencrypted("Healthy Root CA");
    pki.issue("client", "ok.example.com", &[], "tls");
    pki.ok(&["crl", "--ca", "Healthy Root CA"]);
    pki.ok(&["crl"]);
    // The cron check `list --help` recommends: CRLs live 7 days, and are not "expiring".
    let out = pki.run(&["list", "--expiring-within", "30d"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_of(&out));
    let text = stdout_of(&out);
    assert!(text.contains("Nothing needs attention"), "{text}");
    assert!(text.contains("past half their lifetime"), "the report says which rule applies: {text}");
    let out = pki.run(&["--json", "list", "--expiring-within", "30d"]);
    assert_eq!(out.status.code(), Some(0));
    let report = json_object(&out);
    assert!(report["rule"]["crls"].as_str().is_some_and(|r| r.contains("half")), "{report}");
    assert_eq!(report["crls"], serde_json::json!([]));
    // A plain query with nothing to show says so too.
    let text = stdout_of(&pki.ok(&["list", "--status", "revoked"]));
    assert!(text.contains("No certificates match"), "{text}");
}

#[test]
fn crl_says_what_it_published() {
    let pki = Pki::init_unencrypted("Crl Root CA");
    let issued = pki.issue("client", "gone.example.com", &[], "tls");
    pki.ok(&["revoke", &issued.serial, "--reason", "superseded"]);
    let out = pki.ok(&["crl"]);
    assert!(stdout_of(&out).starts_with("-----BEGIN X509 CRL-----"), "PEM on stdout");
    let stderr = stderr_of(&out);
    let crl_file = pki.crl_pem("crl-root-ca-issuing-ca");
    for needle in ["CRL #2 of Crl Root CA Issuing CA", "1 entry,", arg(&crl_file)] {
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }
    // What openssl reads agrees.
    let text = openssl_ok([os("crl"), os("-in"), crl_file.as_os_str(), os("-noout"), os("-text")]);
    assert!(text.contains("CRL Number"), "{text}");
    assert_eq!(text.matches("Serial Number:").count(), 1);
    let report = pki.json(&["crl"]);
    assert_eq!(report["number"], 3);
    assert_eq!(report["entries"], 1);
    assert_eq!(report["files"]["pem"].as_str(), Some(arg(&crl_file)));
    let shown = stdout_of(&pki.ok(&["show", &issued.serial]));
    assert!(shown.contains("generated by pkictl"), "{shown}");
    assert!(!shown.contains("from generated"), "{shown}");
}

#[test]
fn a_read_only_home_whose_wal_is_in_use_is_read_through_it() {
    use std::io::{BufRead, Write};
    let pki = Pki::init_unencrypted("Wal Root CA");
    let issued = pki.issue("client", "wal.example.com", &[], "tls");
    // Another reader keeps ledger.db-wal and -shm in place, as on a snapshot of a live home.
    let mut reader = Command::new("sqlite3")
        .arg(pki.home.join("ledger.db"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sqlite3");
    let stdin = reader.stdin.as_mut().unwrap();
    stdin.write_all(b"BEGIN; SELECT count(*) FROM certificates;\n").unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(reader.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert!(pki.home.join("ledger.db-wal").exists() && pki.home.join("ledger.db-shm").exists());
    let mount = Mount::read_only_bind(&pki.home, &pki.path("ro"));
    let out = pkictl(&mount.point).args(["show", &issued.serial]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("wal.example.com"));
    drop(mount);
    drop(reader.stdin.take());
    reader.wait().unwrap();
}
