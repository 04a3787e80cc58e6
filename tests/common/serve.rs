//! `pkictl serve` as a child process of a test: started on free loopback ports (`:0`, the
//! addresses read back from its first lines), stopped with SIGTERM by its pid (and killed when
//! the test panics first), its stderr kept in a file to look at.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use super::interop::{ChildGuard, wait_until};
use super::{PASSPHRASE, Pki};

/// A running `pkictl serve`.
pub struct Serve {
    /// `http://127.0.0.1:PORT`
    pub http: String,
    /// `https://127.0.0.1:PORT`, when HTTPS is on.
    pub https: Option<String>,
    pub log: PathBuf,
    process: ChildGuard,
}

impl Serve {
    /// `pkictl --home <home> serve --http 127.0.0.1:0 --https 127.0.0.1:0 EXTRA…` (either
    /// address left out when EXTRA gives it) with the
    /// test passphrase in the environment; returns once both listeners are bound.
    pub fn start(pki: &Pki, extra: &[&str]) -> Serve {
        let log = pki.path(&format!("serve-{}.log", unique()));
        let mut cmd = serve_command(&pki.home, &log);
        if !extra.contains(&"--http") {
            cmd.args(["--http", "127.0.0.1:0"]);
        }
        if !extra.contains(&"--no-https") && !extra.contains(&"--https") {
            cmd.args(["--https", "127.0.0.1:0"]);
        }
        cmd.args(extra);
        let process = ChildGuard::spawn("pkictl serve", &mut cmd);
        let mut serve = Serve { http: String::new(), https: None, log, process };
        serve.wait_for_listeners(!extra.contains(&"--no-https"));
        serve
    }

    fn wait_for_listeners(&mut self, https: bool) {
        let log = self.log.clone();
        let read = || fs::read_to_string(&log).unwrap_or_default();
        let found = |scheme: &str| {
            read().lines().find_map(|l| {
                let rest = l.strip_prefix("pkictl serve: ")?.strip_prefix(scheme)?;
                Some(format!("{scheme}{}", rest.split('/').next()?))
            })
        };
        let mut status = None;
        wait_until(
            "pkictl serve to listen",
            Duration::from_secs(30),
            || {
                status = self.process.try_status();
                status.is_some() || (found("http://").is_some() && (!https || found("https://").is_some()))
            },
            read,
        );
        if let Some(status) = status {
            panic!("pkictl serve exited with {status} before listening:\n{}", read());
        }
        self.http = found("http://").unwrap_or_default();
        self.https = if https { found("https://") } else { None };
    }

    /// The log so far (startup lines, one line per request, what each tick did).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The plain HTTP port.
    pub fn http_port(&self) -> u16 {
        port_of(&self.http)
    }

    /// SIGKILL (no shutdown at all, as a crashed host), then waits for the exit.
    pub fn kill_hard(mut self) -> ExitStatus {
        let pid = self.process.id();
        let status = Command::new("kill").arg("-KILL").arg(pid.to_string()).status().expect("run kill");
        assert!(status.success(), "kill -KILL {pid} failed");
        self.process
            .wait_timeout(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("pkictl serve {pid} survived SIGKILL"))
    }

    /// SIGTERM, then waits (at most 20 s) for the exit.
    pub fn stop(mut self) -> ExitStatus {
        terminate(self.process.id());
        self.process
            .wait_timeout(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("pkictl serve did not stop within 20 s of SIGTERM:\n{}", self.log()))
    }
}

/// What serve's OCSP responder says of `cert` (issued by `issuer`), asked by `openssl ocsp`
/// without a nonce and checked against `root`: "good", "revoked" (with its time) or "unknown".
pub fn ocsp_status(serve: &Serve, issuer: &Path, cert: &Path, root: &Path) -> String {
    let url = format!("{}/ocsp", serve.http);
    let text = super::openssl_ok([
        "ocsp",
        "-issuer",
        super::arg(issuer),
        "-cert",
        super::arg(cert),
        "-url",
        &url,
        "-CAfile",
        super::arg(root),
        "-no_nonce",
    ]);
    let prefix = format!("{}: ", cert.display());
    let status = text.lines().find_map(|l| l.strip_prefix(&prefix));
    status.unwrap_or_else(|| panic!("no status for {} in:\n{text}", cert.display())).trim().to_string()
}

/// GET the CRL `serve` serves for CA `slug` into a file under `into` (named by the instance's
/// port); the file.
pub fn fetch_crl(serve: &Serve, slug: &str, into: &Path) -> PathBuf {
    let file = into.join(format!("{slug}-{}.crl", serve.http_port()));
    let url = format!("{}/crl/{slug}.crl", serve.http);
    let status = Command::new(super::interop::curl_binary())
        .args(["-sS", "--fail", "--max-time", "10", "--noproxy", "*", "-o", super::arg(&file), &url])
        .status()
        .expect("run curl");
    assert!(status.success(), "GET the CRL from {}", serve.http);
    file
}

/// The serials a DER CRL lists as `openssl crl -text` prints them (lower case), sorted.
pub fn crl_serials(der: &Path) -> Vec<String> {
    let text = super::openssl_ok(["crl", "-inform", "DER", "-in", super::arg(der), "-noout", "-text"]);
    let mut found: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    found.sort();
    found
}

/// `pkictl --home HOME serve` with stderr into `log`, the test passphrase in the environment
/// and no terminal.
pub fn serve_command(home: &Path, log: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pkictl"));
    let log_file = fs::File::create(log).expect("create the serve log");
    cmd.arg("--home")
        .arg(home)
        .arg("serve")
        .env("PKICTL_PASSPHRASE", PASSPHRASE)
        .env_remove("PKICTL_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    cmd
}

pub fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no port in {url}"))
}

/// SIGTERM to a pid, through kill(1).
pub fn terminate(pid: u32) {
    let status = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().expect("run kill");
    assert!(status.success(), "kill -TERM {pid} failed");
}

fn unique() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
