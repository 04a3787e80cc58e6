//! Helpers for the interop tests (tests/interop.rs): the tools they drive (nginx, curl,
//! `openssl s_server`/`s_client`, Python `cryptography`, pkilint), child processes that are
//! always stopped, free loopback ports, bounded waits, and PEM loading for rustls.
//!
//! Every tool is required: a missing one panics with what to install (tests/run.sh installs
//! them all). Nothing is skipped.

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The environment variable naming the Python of the interop venv (pkilint + cryptography).
pub const PYTHON_ENV: &str = "PKICTL_INTEROP_PYTHON";
/// The environment variable naming the venv's bin directory (lint_pkix_cert, lint_crl, …).
pub const PKILINT_BIN_ENV: &str = "PKICTL_INTEROP_PKILINT_BIN";
/// Optional: the nginx binary (else `nginx` on PATH, else /usr/sbin/nginx).
pub const NGINX_ENV: &str = "PKICTL_INTEROP_NGINX";

const RUN_SH_HINT: &str = "run the suite with tests/run.sh, which installs nginx, curl and a Python venv with \
                           pkilint and cryptography (target/interop-venv) and exports the PKICTL_INTEROP_* variables";

/// A path from a required environment variable; panics with how to get it.
fn required_env_path(var: &str, what: &str) -> PathBuf {
    let value = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("${var} is not set: it must name {what}; {RUN_SH_HINT}"));
    let path = PathBuf::from(value);
    assert!(path.exists(), "${var}={} does not exist: it must name {what}; {RUN_SH_HINT}", path.display());
    path
}

/// The venv's Python (`$PKICTL_INTEROP_PYTHON`), with `cryptography` importable.
pub fn python() -> PathBuf {
    required_env_path(PYTHON_ENV, "the Python of a venv with `cryptography` and `pkilint`")
}

/// A pkilint entry point (`lint_pkix_cert`, `lint_crl`, …) from `$PKICTL_INTEROP_PKILINT_BIN`.
pub fn pkilint_tool(name: &str) -> PathBuf {
    let bin = required_env_path(PKILINT_BIN_ENV, "the bin directory of a venv with pkilint");
    let tool = bin.join(name);
    assert!(
        tool.is_file(),
        "{} is missing: pkilint is not installed in {}; {RUN_SH_HINT}",
        tool.display(),
        bin.display()
    );
    tool
}

/// A program on PATH, else at one of `fallbacks`; panics naming the package to install.
pub fn require_program(name: &str, fallbacks: &[&str], package: &str) -> PathBuf {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    for f in fallbacks {
        if Path::new(f).is_file() {
            return PathBuf::from(f);
        }
    }
    panic!(
        "`{name}` was not found on PATH (nor at {fallbacks:?}): the interop tests need it; install it (apt-get install {package}) or {RUN_SH_HINT}"
    )
}

pub fn nginx_binary() -> PathBuf {
    match std::env::var_os(NGINX_ENV).filter(|v| !v.is_empty()) {
        Some(_) => required_env_path(NGINX_ENV, "the nginx binary"),
        None => require_program("nginx", &["/usr/sbin/nginx"], "nginx"),
    }
}

pub fn curl_binary() -> PathBuf {
    require_program("curl", &[], "curl")
}

pub fn openssl_binary() -> PathBuf {
    require_program("openssl", &[], "openssl")
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    listener.local_addr().expect("local address").port()
}

/// A child process that is killed and reaped when dropped, also when a test panics.
pub struct ChildGuard {
    pub name: String,
    child: Child,
}

impl ChildGuard {
    pub fn spawn(name: &str, cmd: &mut Command) -> ChildGuard {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        ChildGuard { name: name.to_string(), child }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has ended.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap_or_else(|e| panic!("wait for {}: {e}", self.name))
    }

    /// Waits for the process to end by itself, at most `timeout`; None when it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The result of a command run with a time limit; stdout and stderr were captured to files.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// stdout and stderr together, for messages and searches.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `cmd` with `input` on stdin, stdout/stderr captured to (new) files under `scratch`, and
/// panics (after killing it) when it has not finished within `timeout`.
pub fn run_bounded(
    name: &str,
    cmd: &mut Command,
    input: &[u8],
    scratch: &Path,
    timeout: Duration,
) -> Finished {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    fs::create_dir_all(scratch).expect("create the scratch directory");
    // Tests run in parallel threads: every run gets its own files.
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let out_path = scratch.join(format!("{name}.{n}.stdout"));
    let err_path = scratch.join(format!("{name}.{n}.stderr"));
    let out = fs::File::create(&out_path).expect("create the stdout file");
    let err = fs::File::create(&err_path).expect("create the stderr file");
    cmd.stdin(Stdio::piped()).stdout(out).stderr(err);
    let mut guard = ChildGuard::spawn(name, cmd);
    {
        let mut stdin = guard.child.stdin.take().expect("piped stdin");
        // A peer that exits early closes the pipe; that is its business, not an error here.
        let _ = stdin.write_all(input);
    }
    let status = guard
        .wait_timeout(timeout)
        .unwrap_or_else(|| panic!("{name} ({cmd:?}) did not finish within {timeout:?}; it was killed"));
    Finished {
        status,
        stdout: String::from_utf8_lossy(&fs::read(&out_path).unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&fs::read(&err_path).unwrap_or_default()).into_owned(),
    }
}

/// Polls `ready` every 20 ms until it is true; panics with `what` (and `explain()`) after `timeout`.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
    explain: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}\n{}", explain());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True when something accepts TCP connections on 127.0.0.1:port.
pub fn port_accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// All certificates of a PEM file, as DER, in file order.
pub fn pem_certs(path: &Path) -> Vec<Vec<u8>> {
    let certs: Vec<Vec<u8>> = CertificateDer::pem_file_iter(path)
        .unwrap_or_else(|e| panic!("open {}: {e:?}", path.display()))
        .map(|c| c.unwrap_or_else(|e| panic!("bad PEM certificate in {}: {e:?}", path.display())).to_vec())
        .collect();
    assert!(!certs.is_empty(), "{} holds no certificate", path.display());
    certs
}

/// The one PKCS#8 private key of a PEM file, as DER.
pub fn pem_pkcs8_key(path: &Path) -> Vec<u8> {
    match PrivateKeyDer::from_pem_file(path)
        .unwrap_or_else(|e| panic!("read the key {}: {e:?}", path.display()))
    {
        PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        other => panic!("{} is not PKCS#8 but {other:?}", path.display()),
    }
}

/// The DER of a PEM CRL file.
pub fn pem_crl(path: &Path) -> Vec<u8> {
    rustls::pki_types::CertificateRevocationListDer::from_pem_file(path)
        .unwrap_or_else(|e| panic!("read the CRL {}: {e:?}", path.display()))
        .to_vec()
}

/// A directory for this test process under cargo's target/tmp, so the certificates of the last
/// run can be looked at after a failure. Directories of earlier runs whose process is gone are
/// removed first.
pub fn run_dir(prefix: &str) -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    fs::create_dir_all(&base).expect("create CARGO_TARGET_TMPDIR");
    if let Ok(entries) = fs::read_dir(&base) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(&format!("{prefix}-")).and_then(|p| p.parse::<u32>().ok())
                && pid != std::process::id()
                && !Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = base.join(format!("{prefix}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create the run directory");
    dir
}
