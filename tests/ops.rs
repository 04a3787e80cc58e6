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
