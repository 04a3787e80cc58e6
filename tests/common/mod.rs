//! Helpers shared by the end-to-end tests: run the `pkictl` binary against a home, run the
//! real `openssl` binary to check what it wrote, and compare directory trees.
//!
//! Every test file does `mod common;` and uses what it needs, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod interop;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output, Stdio};

pub mod tls;
pub mod hardening;

/// The passphrase the helpers give pkictl (at least 8 characters, as pkictl requires).
pub const PASSPHRASE: &str = "correct horse battery staple";
/// The root name `init_home` uses when the caller passes no `--name`.
pub const ROOT_NAME: &str = "Test Root CA";

/// `pkictl --home <home>` with a clean environment: no `PKICTL_PASSPHRASE`, no
/// `PKICTL_HOME`, and an empty stdin (so it is never a terminal and nothing can prompt).
pub fn pkictl(home: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("pkictl").expect("the pkictl binary is built by cargo test");
    cmd.arg("--home").arg(home).env_remove("PKICTL_PASSPHRASE").env_remove("PKICTL_HOME").write_stdin(Vec::<u8>::new());
    cmd
}

/// Like `pkictl`, with `PKICTL_PASSPHRASE` set to `PASSPHRASE`.
pub fn pkictl_with_passphrase(home: &Path) -> assert_cmd::Command {
    let mut cmd = pkictl(home);
    cmd.env("PKICTL_PASSPHRASE", PASSPHRASE);
    cmd
}

/// Runs `pkictl init` in `home` with `PASSPHRASE` (from the environment), adding
/// `--name ROOT_NAME` unless `extra_args` names the root itself. Panics unless it succeeds.
pub fn init_home(home: &Path, extra_args: &[&str]) -> Output {
    let mut cmd = pkictl_with_passphrase(home);
    cmd.arg("init");
    if !extra_args.iter().any(|a| *a == "--name" || a.starts_with("--name=")) {
        cmd.args(["--name", ROOT_NAME]);
    }
    cmd.args(extra_args);
    let output = cmd.output().expect("run pkictl init");
    assert!(
        output.status.success(),
        "pkictl init {extra_args:?} failed with {}:\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The `openssl` binary. Panics (never skips) when it is missing: these tests exist to check
/// pkictl's output with a real, independent X.509 implementation.
fn openssl_command() -> StdCommand {
    let mut cmd = StdCommand::new("openssl");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn spawn_error(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::NotFound {
        panic!(
            "the `openssl` binary was not found on PATH; these tests need it to check pkictl's \
             output independently (install OpenSSL, e.g. `apt-get install openssl`)"
        );
    }
    panic!("cannot run `openssl`: {e}");
}

/// Runs `openssl ARGS…` and returns its output whatever the exit status.
pub fn openssl<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    openssl_command().args(args).output().unwrap_or_else(|e| spawn_error(e))
}

/// Runs `openssl ARGS…` with `input` on its stdin.
pub fn openssl_with_stdin<I, S>(args: I, input: &[u8]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut child = openssl_command().args(args).stdin(Stdio::piped()).spawn().unwrap_or_else(|e| spawn_error(e));
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input).expect("write to openssl's stdin");
    drop(stdin);
    child.wait_with_output().expect("wait for openssl")
}

/// Runs `openssl ARGS…`, panics with its stderr unless it succeeds, returns its stdout.
pub fn openssl_ok<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_os_string()).collect();
    let output = openssl(&args);
    assert!(
        output.status.success(),
        "openssl {:?} failed with {}:\n{}{}",
        args,
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("openssl prints UTF-8")
}

/// `openssl x509 -noout -text` of a PEM certificate file.
pub fn x509_text(cert: &Path) -> String {
    openssl_ok([OsStr::new("x509"), OsStr::new("-in"), cert.as_os_str(), OsStr::new("-noout"), OsStr::new("-text")])
}

/// One extension of `openssl x509 -text` output, by its printed name
/// (e.g. "X509v3 Key Usage"): whether it is critical and its value lines, trimmed and joined
/// with '\n'. None when the certificate does not have it.
pub fn extension(text: &str, name: &str) -> Option<(bool, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let header = format!("{name}:");
    let start = lines.iter().position(|l| l.trim_start().starts_with(&header))?;
    let indent = |l: &str| l.len() - l.trim_start().len();
    let header_line = lines[start];
    let critical = header_line.trim_start()[header.len()..].contains("critical");
    let value: Vec<&str> = lines[start + 1..]
        .iter()
        .take_while(|l| !l.trim().is_empty() && indent(l) > indent(header_line))
        .map(|l| l.trim())
        .collect();
    Some((critical, value.join("\n")))
}

/// The serial of a certificate as `openssl x509 -serial` prints it (upper-case hex).
pub fn x509_serial(cert: &Path) -> String {
    let out = openssl_ok([
        OsStr::new("x509"),
        OsStr::new("-in"),
        cert.as_os_str(),
        OsStr::new("-noout"),
        OsStr::new("-serial"),
    ]);
    out.trim().strip_prefix("serial=").unwrap_or_else(|| panic!("unexpected -serial output {out:?}")).to_string()
}

/// notAfter of a certificate as a sortable (year, month, day, "hh:mm:ss") tuple, parsed from
/// `openssl x509 -enddate` ("Nov 27 19:37:28 2031 GMT").
pub fn x509_not_after(cert: &Path) -> (u32, u32, u32, String) {
    let out = openssl_ok([
        OsStr::new("x509"),
        OsStr::new("-in"),
        cert.as_os_str(),
        OsStr::new("-noout"),
        OsStr::new("-enddate"),
    ]);
    let value = out.trim().strip_prefix("notAfter=").unwrap_or_else(|| panic!("unexpected -enddate output {out:?}"));
    parse_openssl_date(value)
}

/// Parses OpenSSL's default date format, "Nov  7 19:37:28 2031 GMT".
pub fn parse_openssl_date(value: &str) -> (u32, u32, u32, String) {
    let parts: Vec<&str> = value.split_whitespace().collect();
    assert_eq!(parts.len(), 5, "unexpected OpenSSL date {value:?}");
    assert_eq!(parts[4], "GMT", "unexpected OpenSSL date {value:?}");
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month =
        MONTHS.iter().position(|m| *m == parts[0]).unwrap_or_else(|| panic!("bad month in {value:?}")) as u32 + 1;
    let day = parts[1].parse().unwrap_or_else(|_| panic!("bad day in {value:?}"));
    let year = parts[3].parse().unwrap_or_else(|_| panic!("bad year in {value:?}"));
    (year, month, day, parts[2].to_string())
}

/// SHA-256 fingerprint as lower-case hex without colons (the form pkictl prints).
pub fn x509_sha256(cert: &Path) -> String {
    let out = openssl_ok([
        OsStr::new("x509"),
        OsStr::new("-in"),
        cert.as_os_str(),
        OsStr::new("-noout"),
        OsStr::new("-fingerprint"),
        OsStr::new("-sha256"),
    ]);
    let value = out.trim().split_once('=').map(|(_, v)| v).unwrap_or_else(|| panic!("unexpected output {out:?}"));
    value.replace(':', "").to_ascii_lowercase()
}

/// Every regular file under `root` (recursively), by path relative to `root`, with its bytes.
/// Two equal snapshots mean no file was added, removed or changed.
pub fn snapshot_dir(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.expect("directory entry");
            let path = entry.path();
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                walk(root, &path, out);
            } else if kind.is_file() {
                let bytes = fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                out.insert(path.strip_prefix(root).expect("under root").to_path_buf(), bytes);
            } else if kind.is_symlink() {
                let target = fs::read_link(&path).expect("read_link");
                out.insert(
                    path.strip_prefix(root).expect("under root").to_path_buf(),
                    target.into_os_string().into_encoded_bytes(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The names directly inside `dir` (empty when it holds nothing), sorted.
pub fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Permission bits (`& 0o777`) of a file or directory.
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display())).permissions().mode() & 0o777
}

/// Asserts the permission bits of `path`, reporting both sides in octal.
pub fn assert_mode(path: &Path, expected: u32) {
    let actual = mode(path);
    assert!(actual == expected, "{} has mode {actual:o}, expected {expected:o}", path.display());
}

/// stdout of a finished command as UTF-8.
pub fn stdout_of(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// stderr of a finished command as UTF-8.
pub fn stderr_of(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// Parses stdout as exactly one JSON object (nothing else on stdout).
pub fn json_object(output: &Output) -> serde_json::Value {
    let text = stdout_of(output);
    let value: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}):\n{text}"));
    assert!(value.is_object(), "stdout is JSON but not an object:\n{text}");
    value
}

/// Asserts that a command failed with exit code `code` and a well-formed error on stderr:
/// either pkictl's own one-line "pkictl: …" sentence or clap's "error: …" report, and never a
/// panic or a Rust debug dump. Returns stderr.
pub fn assert_error(output: &Output, code: i32) -> String {
    let stderr = stderr_of(output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "expected exit {code}, got {}\nstdout: {}\nstderr: {stderr}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
    );
    if stderr.starts_with("pkictl: ") {
        assert_eq!(stderr.lines().count(), 1, "pkictl's error is not one line:\n{stderr}");
        assert!(stderr.ends_with('\n'), "error line is not terminated:\n{stderr:?}");
    } else {
        assert!(stderr.starts_with("error: "), "stderr starts with neither \"pkictl: \" nor \"error: \":\n{stderr}");
    }
    for bad in ["panicked", "RUST_BACKTRACE", "Error {", "Os {"] {
        assert!(!stderr.contains(bad), "stderr contains {bad:?}:\n{stderr}");
    }
    stderr
}
