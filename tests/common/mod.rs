//! The one fixture module of the end-to-end tests: run the `pkictl` binary against a home
//! (`Pki`, a home in a temporary directory, or the free functions on a bare home path), run the
//! real `openssl` binary to check what it wrote, and compare directory trees. The ledger is read
//! through pkictl's own `--json` output, or through `pkictl::ledger_testing` for what no command
//! prints; no test writes SQL.
//!
//! Submodules: `acme` (a hand-driven ACME client: curl and testdata/acme/sign.py), `hardening`
//! (time-limited runs, template homes and snapshots for the hostile, stress, crash and hygiene
//! tests), `interop` (the external tools of tests/interop.rs), `tls` (in-process rustls
//! handshakes).
//!
//! Every test binary compiles this module and uses a part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod acme;
pub mod hardening;
pub mod interop;
pub mod serve;
pub mod tls;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

pub use pkictl::ledger_testing;
pub use pkictl::ledger_testing::RowCounts;
use serde_json::Value;
use tempfile::TempDir;

/// The passphrase the helpers give pkictl (at least 8 characters, as pkictl requires).
pub const PASSPHRASE: &str = "correct horse battery staple";
/// The root name `init_home` uses when the caller passes no `--name`.
pub const ROOT_NAME: &str = "Test Root CA";

/// `pkictl --home <home>` with a clean environment: no `PKICTL_PASSPHRASE`, no
/// `PKICTL_HOME`, and an empty stdin (so it is never a terminal and nothing can prompt).
pub fn pkictl(home: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("pkictl").expect("the pkictl binary is built by cargo test");
    cmd.arg("--home")
        .arg(home)
        .env_remove("PKICTL_PASSPHRASE")
        .env_remove("PKICTL_HOME")
        .write_stdin(Vec::<u8>::new());
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
    cmd.args(test_ledger());
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
    let mut child =
        openssl_command().args(args).stdin(Stdio::piped()).spawn().unwrap_or_else(|e| spawn_error(e));
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
    openssl_ok([
        OsStr::new("x509"),
        OsStr::new("-in"),
        cert.as_os_str(),
        OsStr::new("-noout"),
        OsStr::new("-text"),
    ])
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

/// The `name=value` lines of a successful `openssl ARGS…` run (e.g. `x509 -noout -subject
/// -issuer`, `crl -noout -lastupdate -nextupdate`), by name, with the values trimmed.
pub fn openssl_fields<I, S>(args: I) -> BTreeMap<String, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    openssl_ok(args)
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect()
}

/// The value `openssl x509 -in CERT -noout FLAG` prints for one FLAG (`-subject`, `-serial`,
/// `-enddate`…): what follows the `name=` of its one line, trimmed.
pub fn x509_field(cert: &Path, flag: &str) -> String {
    let out = openssl_ok([os("x509"), os("-in"), cert.as_os_str(), os("-noout"), os(flag)]);
    out.trim().split_once('=').map(|(_, v)| v.trim().to_string()).unwrap_or_else(|| panic!("{flag}: {out:?}"))
}

/// The serial of a certificate as `openssl x509 -serial` prints it (upper-case hex).
pub fn x509_serial(cert: &Path) -> String {
    x509_field(cert, "-serial")
}

/// notAfter of a certificate as a sortable (year, month, day, "hh:mm:ss") tuple, parsed from
/// `openssl x509 -enddate` ("Nov 27 19:37:28 2031 GMT").
pub fn x509_not_after(cert: &Path) -> (u32, u32, u32, String) {
    parse_openssl_date(&x509_field(cert, "-enddate"))
}

/// Parses OpenSSL's default date format, "Nov  7 19:37:28 2031 GMT".
pub fn parse_openssl_date(value: &str) -> (u32, u32, u32, String) {
    let parts: Vec<&str> = value.split_whitespace().collect();
    assert_eq!(parts.len(), 5, "unexpected OpenSSL date {value:?}");
    assert_eq!(parts[4], "GMT", "unexpected OpenSSL date {value:?}");
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| *m == parts[0]).unwrap_or_else(|| panic!("bad month in {value:?}"))
        as u32
        + 1;
    let day = parts[1].parse().unwrap_or_else(|_| panic!("bad day in {value:?}"));
    let year = parts[3].parse().unwrap_or_else(|_| panic!("bad year in {value:?}"));
    (year, month, day, parts[2].to_string())
}

/// SHA-256 fingerprint as lower-case hex without colons (the form pkictl prints).
pub fn x509_sha256(cert: &Path) -> String {
    let out = openssl_ok([
        os("x509"),
        os("-in"),
        cert.as_os_str(),
        os("-noout"),
        os("-fingerprint"),
        os("-sha256"),
    ]);
    let value =
        out.trim().split_once('=').map(|(_, v)| v).unwrap_or_else(|| panic!("unexpected output {out:?}"));
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
        assert!(
            stderr.starts_with("error: "),
            "stderr starts with neither \"pkictl: \" nor \"error: \":\n{stderr}"
        );
    }
    for bad in ["panicked", "RUST_BACKTRACE", "Error {", "Os {"] {
        assert!(!stderr.contains(bad), "stderr contains {bad:?}:\n{stderr}");
    }
    stderr
}

/// `os("x")` for building argument lists that mix strings and paths.
pub fn os<S: AsRef<OsStr> + ?Sized>(s: &S) -> &OsStr {
    s.as_ref()
}

/// A path as a `&str` argument (the tests' paths are UTF-8).
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

// ---------------------------------------------------------------------------------------------
// The layout of a home.

/// `<home>/ca/<slug>.pem`: a CA's certificate.
pub fn ca_cert_path(home: &Path, slug: &str) -> PathBuf {
    home.join("ca").join(format!("{slug}.pem"))
}

/// `<home>/private/<slug>.key`: a CA's private key.
pub fn ca_key_path(home: &Path, slug: &str) -> PathBuf {
    home.join("private").join(format!("{slug}.key"))
}

/// `<home>/crl/<slug>.crl.pem`: a CA's latest CRL, PEM.
pub fn crl_pem_path(home: &Path, slug: &str) -> PathBuf {
    home.join("crl").join(format!("{slug}.crl.pem"))
}

/// `<home>/crl/<slug>.crl.der`: a CA's latest CRL, DER.
pub fn crl_der_path(home: &Path, slug: &str) -> PathBuf {
    home.join("crl").join(format!("{slug}.crl.der"))
}

/// With `PKICTL_TEST_LEDGER=postgres` (tests/run.sh's second pass), every home these fixtures
/// make keeps its ledger in a fresh database of the test PostgreSQL server: `--ledger URL`.
/// The database lives as long as the test process (the server is thrown away afterwards).
fn test_ledger() -> Vec<String> {
    match std::env::var("PKICTL_TEST_LEDGER").as_deref() {
        Ok("postgres") => {
            let database = ledger_testing::PostgresDatabase::new();
            let url = database.url();
            std::mem::forget(database);
            vec!["--ledger".to_string(), url]
        }
        Ok("sqlite") | Err(_) => Vec::new(),
        Ok(other) => panic!("PKICTL_TEST_LEDGER={other}: use sqlite or postgres"),
    }
}

// ---------------------------------------------------------------------------------------------
// pkictl on a bare home path.

/// Runs `pkictl init --name ROOT --no-passphrase` in `home` (CA keys not encrypted: fast, no
/// scrypt per command). Panics unless it succeeds.
pub fn init_unencrypted_home(home: &Path, root: &str) {
    let out =
        pkictl(home).args(["init", "--name", root, "--no-passphrase"]).args(test_ledger()).output().unwrap();
    assert!(out.status.success(), "init --no-passphrase failed: {}", stderr_of(&out));
}

/// `pkictl --json ARGS…` in `home` with `PASSPHRASE`, which must succeed; its JSON object.
pub fn pkictl_json(home: &Path, args: &[&str]) -> Value {
    let output = pkictl_with_passphrase(home).arg("--json").args(args).output().expect("run pkictl");
    assert!(
        output.status.success(),
        "pkictl {args:?} failed with {}:\n{}",
        output.status,
        stderr_of(&output)
    );
    json_object(&output)
}

/// Every certificate of the ledger (CA certificates included), as `pkictl list --status all
/// --json` prints them.
pub fn listed_certificates(home: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["list", "--status", "all"];
    args.extend_from_slice(extra);
    let v = pkictl_json(home, &args);
    v["certificates"].as_array().unwrap_or_else(|| panic!("no certificates in {v}")).clone()
}

/// One certificate as `pkictl show SERIAL --json` prints it.
pub fn shown_certificate(home: &Path, serial: &str) -> Value {
    pkictl_json(home, &["show", serial])
}

// ---------------------------------------------------------------------------------------------
// A home in a temporary directory, and what was issued from it.

/// A leaf pkictl issued, as its `issue --json` report describes it.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The NAME it was issued for.
    pub name: String,
    /// Lower-case hex, no colons (as pkictl prints it).
    pub serial: String,
    pub fingerprint: String,
    pub crt: PathBuf,
    /// None when the key came from a CSR.
    pub key: Option<PathBuf>,
    pub chain: PathBuf,
    pub fullchain: PathBuf,
}

impl Issued {
    /// The parts of an `issue --json` (or `renew --json`) report.
    pub fn from_report(name: &str, report: &Value) -> Issued {
        let file = |k: &str| {
            PathBuf::from(report["files"][k].as_str().unwrap_or_else(|| panic!("no files.{k} in {report}")))
        };
        Issued {
            name: name.to_string(),
            serial: report["serial"].as_str().expect("serial").to_string(),
            fingerprint: report["fingerprint_sha256"].as_str().expect("fingerprint").to_string(),
            crt: file("certificate"),
            key: report["files"]["key"].as_str().map(PathBuf::from),
            chain: file("chain"),
            fullchain: file("fullchain"),
        }
    }

    /// The key file pkictl generated; panics for a certificate issued from a CSR.
    pub fn key(&self) -> &Path {
        self.key.as_deref().expect("pkictl generated this key")
    }
}

/// A temporary directory holding a home (`<dir>/pki`) and the output directories of a test.
pub struct Pki {
    pub dir: TempDir,
    pub home: PathBuf,
    /// Whether the CA keys are encrypted: then every command gets `PKICTL_PASSPHRASE`.
    encrypted: bool,
}

impl Pki {
    /// A home made by `init` with `PASSPHRASE` (see `init_home`: `--name ROOT_NAME` unless
    /// `extra` names the root), plus `extra` init flags.
    pub fn init(extra: &[&str]) -> Pki {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let home = dir.path().join("pki");
        init_home(&home, extra);
        Pki { dir, home, encrypted: true }
    }

    /// A home named `root` whose CA keys are not encrypted (fast: no scrypt per command).
    pub fn init_unencrypted(root: &str) -> Pki {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let home = dir.path().join("pki");
        init_unencrypted_home(&home, root);
        Pki { dir, home, encrypted: false }
    }

    /// A home some test made itself in `dir` (its CA keys unencrypted).
    pub fn from_parts(dir: TempDir, home: PathBuf) -> Pki {
        Pki { dir, home, encrypted: false }
    }

    /// The same CA on a second "host": this home's CA files and `ledger.url` copied into a new
    /// home (for a ledger on PostgreSQL, which both then share).
    pub fn second_host(&self) -> Pki {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let home = dir.path().join("pki");
        for sub in ["ca", "private", "crl"] {
            fs::create_dir_all(home.join(sub)).expect("create a home directory");
            fs::set_permissions(home.join(sub), fs::Permissions::from_mode(0o700)).expect("chmod");
            for entry in fs::read_dir(self.home.join(sub)).expect("read the home").flatten() {
                fs::copy(entry.path(), home.join(sub).join(entry.file_name())).expect("copy a home file");
            }
        }
        fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).expect("chmod");
        fs::copy(self.home.join("ledger.url"), home.join("ledger.url")).expect("copy ledger.url");
        Pki { dir, home, encrypted: self.encrypted }
    }

    /// `pkictl --home <home>`, with `PKICTL_PASSPHRASE` when the CA keys are encrypted.
    pub fn cmd(&self) -> assert_cmd::Command {
        if self.encrypted { pkictl_with_passphrase(&self.home) } else { pkictl(&self.home) }
    }

    /// Runs pkictl with ARGS, whatever its exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run pkictl")
    }

    /// Runs pkictl and panics with its output unless it exits 0.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "pkictl {args:?} failed with {}:\nstdout: {}\nstderr: {}",
            out.status,
            stdout_of(&out),
            stderr_of(&out)
        );
        out
    }

    /// Runs pkictl with `--json`, asserts exit 0, returns the object.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        json_object(&self.ok(&all))
    }

    /// A path in the test's directory (not created).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A path in the test's directory (not created), as a string argument.
    pub fn out(&self, name: &str) -> String {
        arg(&self.path(name)).to_string()
    }

    /// `<dir>/work`, created when missing: scratch space for CRL copies, chain files and the like.
    pub fn work(&self) -> PathBuf {
        let work = self.path("work");
        fs::create_dir_all(&work).expect("create the work directory");
        work
    }

    /// `issue PROFILE NAME --out <dir>/OUT EXTRA…` with `--json`; what it issued.
    pub fn issue(&self, profile: &str, name: &str, extra: &[&str], out: &str) -> Issued {
        let out = self.path(out);
        let mut args = vec!["issue", profile, name, "--out", arg(&out)];
        args.extend_from_slice(extra);
        Issued::from_report(name, &self.json(&args))
    }

    /// `revoke SERIAL --reason REASON` with `--json`.
    pub fn revoke(&self, serial: &str, reason: &str) -> Value {
        self.json(&["revoke", serial, "--reason", reason])
    }

    pub fn ca_cert(&self, slug: &str) -> PathBuf {
        ca_cert_path(&self.home, slug)
    }

    pub fn ca_key(&self, slug: &str) -> PathBuf {
        ca_key_path(&self.home, slug)
    }

    pub fn crl_pem(&self, slug: &str) -> PathBuf {
        crl_pem_path(&self.home, slug)
    }

    pub fn crl_der(&self, slug: &str) -> PathBuf {
        crl_der_path(&self.home, slug)
    }

    /// The serial of a CA's own certificate, from `ca show --json`.
    pub fn ca_serial(&self, name: &str) -> String {
        self.json(&["ca", "show", name])["serial"].as_str().expect("ca show serial").to_string()
    }

    /// How many rows each ledger table holds (no command prints the events or CRL rows).
    pub fn counts(&self) -> RowCounts {
        ledger_testing::row_counts(&self.home)
    }
}

// ---------------------------------------------------------------------------------------------
// More of OpenSSL's view.

/// The public key in a certificate, as PEM.
pub fn cert_public(cert: &Path) -> String {
    openssl_ok([os("x509"), os("-in"), cert.as_os_str(), os("-noout"), os("-pubkey")])
}

/// The public key of an unencrypted private key file, as PEM.
pub fn key_public(key: &Path) -> String {
    openssl_ok([os("pkey"), os("-in"), key.as_os_str(), os("-pubout")])
}

/// A PEM certificate re-encoded as DER by openssl.
pub fn cert_der(cert: &Path) -> Vec<u8> {
    let out = openssl([os("x509"), os("-in"), cert.as_os_str(), os("-outform"), os("DER")]);
    assert!(out.status.success(), "openssl x509 -outform DER {}", cert.display());
    out.stdout
}

/// OpenSSL's "Nov  7 19:37:28 2031 GMT" as Unix seconds.
pub fn openssl_date_unix(value: &str) -> i64 {
    date_tuple_to_unix(parse_openssl_date(value))
}

/// (year, month, day, "hh:mm:ss") as `parse_openssl_date` and `x509_not_after` return it →
/// Unix seconds.
pub fn date_tuple_to_unix((year, month, day, hms): (u32, u32, u32, String)) -> i64 {
    let month = time::Month::try_from(month as u8).unwrap();
    let date = time::Date::from_calendar_date(year as i32, month, day as u8).unwrap();
    let parts: Vec<u8> = hms.split(':').map(|p| p.parse().expect("hh:mm:ss")).collect();
    let t = time::Time::from_hms(parts[0], parts[1], parts[2]).unwrap();
    time::PrimitiveDateTime::new(date, t).assume_utc().unix_timestamp()
}

/// A key identifier as printed in `-text` (OpenSSL 1.1 prefixes the AKI with "keyid:").
pub fn key_id(value: &str) -> String {
    let v = value.lines().next().unwrap_or("").trim();
    v.strip_prefix("keyid:").unwrap_or(v).to_ascii_uppercase()
}

/// Serial checks from RFC 5280 and the design: positive, 8..=20 octets, not zero. Returns the
/// serial as `openssl x509 -serial` prints it.
pub fn assert_good_serial(cert: &Path, text: &str) -> String {
    let serial = x509_serial(cert);
    assert!(!serial.starts_with('-'), "{}: negative serial {serial}", cert.display());
    assert!(!text.contains("(Negative)"), "{}: openssl reports a negative serial", cert.display());
    assert!(
        serial.chars().all(|c| c.is_ascii_hexdigit()),
        "{}: serial {serial:?} is not hex",
        cert.display()
    );
    let octets = serial.len().div_ceil(2);
    assert!(octets >= 8, "{}: serial {serial} has only {octets} octets (< 64 bits)", cert.display());
    assert!(octets <= 20, "{}: serial {serial} has {octets} octets (> 20)", cert.display());
    assert!(serial.chars().any(|c| c != '0'), "{}: serial is zero", cert.display());
    serial
}

/// What `openssl x509 -text` shows of a pkictl key type: the key size in bits as it prints
/// "Public-Key: (BITS bit)", and the curve name for EC keys (None for RSA: "rsaEncryption").
/// Panics on a key type pkictl does not have.
pub fn key_size_and_curve(key_type: &str) -> (&'static str, Option<&'static str>) {
    match key_type {
        "p256" => ("256", Some("P-256")),
        "p384" => ("384", Some("P-384")),
        "rsa2048" => ("2048", None),
        "rsa3072" => ("3072", None),
        "rsa4096" => ("4096", None),
        other => panic!("unknown key type {other}"),
    }
}

/// Checks the CRL's signature against `issuer` with `openssl crl -CAfile`: "verify OK" on
/// stderr. Returns the `-text` output of the same run.
pub fn crl_verified_text(crl: &Path, issuer: &Path) -> String {
    let out = openssl([
        os("crl"),
        os("-in"),
        crl.as_os_str(),
        os("-CAfile"),
        issuer.as_os_str(),
        os("-noout"),
        os("-text"),
    ]);
    let stderr = stderr_of(&out);
    assert!(
        out.status.success() && stderr.contains("verify OK"),
        "openssl crl -in {} -CAfile {} did not verify:\n{stderr}{}",
        crl.display(),
        issuer.display(),
        stdout_of(&out)
    );
    stdout_of(&out)
}
