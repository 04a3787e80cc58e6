//! The second half of `pkictl demo`: the online CA end to end. `pkictl serve` on loopback, a
//! workload enrolled by a one-time token, its certificate renewed by the agent over mTLS, a
//! revocation seen by OCSP, and the handshakes in between — every step this same binary, as an
//! operator would type it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64ct::{Base64UrlUnpadded, Encoding};
use der::{Decode, Encode};
use x509_cert::Certificate;

use crate::engine::ocsp::{self, CertId, CertStatus, HashAlg};
use crate::error::{Error, Result};

/// How long the demo waits for `serve` to listen, and for OCSP to say "revoked".
const PATIENCE: Duration = Duration::from_secs(15);

/// `pkictl serve` as a child of the demo, stopped with SIGTERM (killed if the demo fails first).
pub struct ServeChild {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub http: String,
    /// `https://127.0.0.1:PORT`
    pub https: String,
}

impl ServeChild {
    /// Starts `pkictl --home HOME serve` on free loopback ports; returns once both listen.
    pub fn start(exe: &Path, home: &Path, log: &Path) -> Result<ServeChild> {
        let log_file =
            std::fs::File::create(log).map_err(|source| Error::Write { path: log.to_path_buf(), source })?;
        let child = Command::new(exe)
            .arg("--home")
            .arg(home)
            .args(["serve", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--name", "localhost"])
            .args(["--log-format", "off"])
            .env_remove(super::unlock::ENV_VAR)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(|source| Error::Read { path: exe.to_path_buf(), source })?;
        let mut serve = ServeChild { child, http: String::new(), https: String::new() };
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let (Some(http), Some(https)) = (listen_url(&text, "http://"), listen_url(&text, "https://")) {
                (serve.http, serve.https) = (http, https);
                return Ok(serve);
            }
            if serve.child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                return Err(Error::Internal(format!("demo: pkictl serve did not start: {}", text.trim())));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits for the drain.
    pub fn stop(mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let _ = self.child.wait();
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn listen_url(log: &str, scheme: &str) -> Option<String> {
    log.lines().find_map(|line| {
        let rest = line.strip_prefix("pkictl serve: ")?.strip_prefix(scheme)?;
        Some(format!("{scheme}{}", rest.split('/').next()?))
    })
}

/// What serve's OCSP responder says of `cert` (issued by `issuer`), asked as nginx asks: GET,
/// HTTP/1.0, no nonce.
pub fn ocsp_status(http: &str, cert_der: &[u8], issuer_der: &[u8]) -> Result<&'static str> {
    let request = ocsp_request(cert_der, issuer_der)?;
    let addr = http.trim_start_matches("http://");
    let demo_error = |what: String| Error::Internal(format!("demo: OCSP at {http}: {what}"));
    let mut stream = TcpStream::connect(addr).map_err(|e| demo_error(e.to_string()))?;
    let _ = stream.set_read_timeout(Some(PATIENCE));
    let head =
        format!("GET /ocsp/{} HTTP/1.0\r\nHost: {addr}\r\n\r\n", Base64UrlUnpadded::encode_string(&request));
    stream.write_all(head.as_bytes()).map_err(|e| demo_error(e.to_string()))?;
    let mut answer = Vec::new();
    stream.take(1 << 20).read_to_end(&mut answer).map_err(|e| demo_error(e.to_string()))?;
    let body = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| &answer[at + 4..])
        .ok_or_else(|| demo_error("no HTTP answer".into()))?;
    let basic = ocsp::parse_basic_response(body).map_err(|e| demo_error(e.to_string()))?;
    let single = basic.tbs_response_data.responses.first().ok_or_else(|| demo_error("no answer".into()))?;
    Ok(match single.cert_status {
        CertStatus::Good(_) => "good",
        CertStatus::Revoked(_) => "revoked",
        CertStatus::Unknown(_) => "unknown",
    })
}

/// Polls [`ocsp_status`] until it says "revoked"; how long that took.
pub fn wait_for_revoked(http: &str, cert_der: &[u8], issuer_der: &[u8], since: Instant) -> Result<Duration> {
    while since.elapsed() < PATIENCE {
        if ocsp_status(http, cert_der, issuer_der)? == "revoked" {
            return Ok(since.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(Error::Internal(format!("demo: OCSP at {http} did not say revoked within {PATIENCE:?}")))
}

fn ocsp_request(cert_der: &[u8], issuer_der: &[u8]) -> Result<Vec<u8>> {
    let bad = |e: String| Error::Internal(format!("demo: its own certificates do not decode: {e}"));
    let cert = Certificate::from_der(cert_der).map_err(|e| bad(e.to_string()))?;
    let issuer = Certificate::from_der(issuer_der).map_err(|e| bad(e.to_string()))?;
    let issuer_tbs = issuer.tbs_certificate();
    let name = issuer_tbs.subject().to_der().map_err(|e| bad(e.to_string()))?;
    let key = issuer_tbs.subject_public_key_info().subject_public_key.raw_bytes();
    let serial = cert.tbs_certificate().serial_number().as_bytes();
    let cert_id = CertId::new(HashAlg::Sha1, &name, key, serial).map_err(|e| bad(e.to_string()))?;
    ocsp::build_request(vec![cert_id]).map_err(|e| bad(e.to_string()))
}

/// The files `pkictl enroll --out DIR --name NAME` wrote (the agent keeps the same names).
pub fn workload_files(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.fullchain.pem")),
    )
}
