//! The renewal loop of `pkictl agent`: read the certificate the workload holds, sleep until its
//! renewal is due, renew it through a [`Renewer`] (a local home, or the online CA), install the
//! new files atomically (see [`rotate`](super::rotate)), run the reload command, and retry with
//! backoff while the CA cannot be reached.
//!
//! When renewal is due: at a fraction (default 2/3) of the lifetime counted from issuance, less
//! a random jitter of up to 3% of the lifetime (at most 5 minutes), so that workloads started
//! together do not renew together. pkictl backdates notBefore by [`BACKDATE`] for peers whose
//! clocks lag, so issuance is not notBefore: it is the ledger's record of the issuance when the
//! renewer knows it, else notBefore + 5 minutes when that still lies before notAfter (pkictl's
//! leaves always start exactly 5 minutes before they are signed), else notBefore.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration as StdDuration;

pub use super::rotate::AgentFiles;
use super::rotate::{self, NewGeneration};
use crate::authority::Authority;
use crate::engine::{self, BACKDATE, format_time};
use crate::error::Error;
use crate::home;
use crate::keys::{KeyPair, Unlock, read_plain_key};
use crate::names::San;
use crate::x509::CertInfo;

/// The certificate and key the workload holds now.
pub struct Current {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// What it says.
    pub info: CertInfo,
    /// The CA certificates sent with it (the chain file, when there is one), DER.
    pub chain_der: Vec<Vec<u8>>,
    /// Its private key.
    pub key: KeyPair,
}

impl Current {
    /// Reads the certificate and key (bounded reads, regular files only; the key must be
    /// readable by its owner only) and checks that they belong together.
    pub fn read(files: &AgentFiles) -> Result<Current, Error> {
        let cert_bytes = home::read_input(&files.cert, home::limits::CERTIFICATE)?;
        let cert_der = first_certificate(&cert_bytes, &files.cert)?;
        let info = CertInfo::from_der(&cert_der).map_err(|_| not_a_certificate(&files.cert))?;
        let key = read_plain_key(&files.key)?;
        if key.public_key().bits() != info.public_key_bits.as_slice() {
            return Err(Error::invalid(format!(
                "the key {} does not belong to the certificate {}; give the key the certificate was issued for",
                files.key.display(),
                files.cert.display()
            )));
        }
        let chain_der = match home::read_input(&files.chain, home::limits::CERTIFICATE) {
            Ok(bytes) => pem_certificates(&bytes),
            Err(_) => Vec::new(),
        };
        Ok(Current { cert_der, info, chain_der, key })
    }

    /// The leaf and its chain as PEM: what a TLS client presents.
    pub fn fullchain_pem(&self) -> String {
        std::iter::once(&self.cert_der)
            .chain(&self.chain_der)
            .map(|der| crate::x509::certificate_pem(der))
            .collect()
    }

    /// The names the successor must carry, as the certificate has them.
    fn sans(&self) -> Vec<San> {
        let listed = self.info.subject_alt_names.as_ref().map(|ext| ext.value.clone()).unwrap_or_default();
        listed.iter().filter_map(|text| text.parse().ok()).collect()
    }
}

fn not_a_certificate(path: &Path) -> Error {
    Error::invalid(format!("{} does not hold a PEM or DER certificate", path.display()))
}

/// The first certificate of a PEM file (or the DER file itself).
fn first_certificate(bytes: &[u8], path: &Path) -> Result<Vec<u8>, Error> {
    if !bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        return Ok(bytes.to_vec());
    }
    pem_certificates(bytes).into_iter().next().ok_or_else(|| not_a_certificate(path))
}

/// Every CERTIFICATE block of a PEM text, DER; other blocks are skipped.
fn pem_certificates(bytes: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(bytes);
    let mut found = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let block = &rest[start..];
        let Some(end) = block.find("-----END CERTIFICATE-----") else { break };
        let pem = &block[..end + "-----END CERTIFICATE-----".len()];
        if let Ok((_, der)) = der::pem::decode_vec(pem.as_bytes()) {
            found.push(der);
        }
        rest = &block[pem.len()..];
    }
    found
}

/// Why a renewal did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The CA refused the renewal or could not be asked (unreachable, home unreadable).
    #[error("{0}")]
    Ca(Error),
    /// The CA answered with something that is not a certificate for the new key.
    #[error("the CA's answer is not usable: {0}")]
    BadAnswer(String),
    /// The new files could not be installed; the old ones are still in place.
    #[error("{0}")]
    Files(Error),
}

/// Whoever certifies the successor of the current certificate.
pub trait Renewer {
    /// Certifies `new_key` (proved by `csr_der`, a PKCS#10 request signed with it, carrying
    /// the current certificate's CN and SANs) as the successor of `current`. Returns the new
    /// leaf first, then its chain (issuing CA up to, not including, the root), all DER.
    fn renew(&self, current: &Current, new_key: &KeyPair, csr_der: &[u8])
    -> Result<Vec<Vec<u8>>, AgentError>;

    /// When `current` was issued, if this renewer knows it better than the certificate says.
    fn issued_at(&self, _current: &Current) -> Option<i64> {
        None
    }

    /// The CA, for the log ("the CA at https://…", "the home /srv/pki").
    fn describe(&self) -> String;
}

/// Where the CA passphrase comes from, asked again for every renewal (a long-running agent
/// keeps no passphrase in memory between renewals).
pub type UnlockSource = Box<dyn Fn() -> Box<dyn Unlock> + Send + Sync>;

/// Renews against a home on this machine, as a library [`Authority`] (`agent --home DIR`).
pub struct LocalRenewer {
    home: PathBuf,
    unlock: UnlockSource,
}

impl LocalRenewer {
    /// A renewer for the home at `home`; CA passphrases come from `unlock`.
    pub fn new(home: PathBuf, unlock: UnlockSource) -> LocalRenewer {
        LocalRenewer { home, unlock }
    }
}

impl Renewer for LocalRenewer {
    fn renew(
        &self,
        current: &Current,
        _new_key: &KeyPair,
        csr_der: &[u8],
    ) -> Result<Vec<Vec<u8>>, AgentError> {
        let csr = crate::engine::csr::parse_and_verify(csr_der, "the agent's request")
            .map_err(|e| AgentError::Ca(Error::invalid(format!("the agent's request is refused: {e}"))))?;
        let mut authority = Authority::open(&self.home, (self.unlock)()).map_err(AgentError::Ca)?;
        // The same checks as serve's /v1/renew: one renewal policy, whoever asks.
        let renewed = authority
            .renew_by_certificate(std::slice::from_ref(&current.cert_der), csr, None)
            .map_err(AgentError::Ca)?;
        let mut chain = vec![renewed.issued.der().to_vec()];
        chain.extend(renewed.issued.chain.iter().cloned());
        Ok(chain)
    }

    fn issued_at(&self, current: &Current) -> Option<i64> {
        let authority = Authority::open_read_only(&self.home, (self.unlock)()).ok()?;
        authority.presented(&current.cert_der).ok().map(|record| record.created_at)
    }

    fn describe(&self) -> String {
        format!("the home {}", self.home.display())
    }
}

/// Renews against `pkictl serve` over mutual TLS (`agent --server URL --root FILE`),
/// authenticated by the current certificate and key.
pub struct RemoteRenewer {
    /// The online CA's base URL.
    pub server: String,
    /// The root certificate (PEM) the server's certificate must chain to.
    pub root: PathBuf,
}

impl Renewer for RemoteRenewer {
    fn renew(
        &self,
        current: &Current,
        _new_key: &KeyPair,
        csr_der: &[u8],
    ) -> Result<Vec<Vec<u8>>, AgentError> {
        // Authenticated by the current certificate over mutual TLS; the CSR carries the new key.
        let key = current
            .key
            .to_pkcs8_der()
            .map_err(|source| AgentError::Files(Error::Key { what: "the current key".into(), source }))?;
        super::client::renew(&self.server, &self.root, current.fullchain_pem().as_bytes(), &key, csr_der)
            .map_err(|e| AgentError::Ca(Error::from(e)))
    }

    fn describe(&self) -> String {
        format!("the CA at {}", self.server)
    }
}

/// How the agent behaves.
pub struct Settings {
    /// The files it keeps.
    pub files: AgentFiles,
    /// When renewal is due, as a fraction of the lifetime (0 < f < 1).
    pub renew_at: f64,
    /// Certify the current key again instead of a new one.
    pub keep_key: bool,
    /// Renew now, whatever the schedule says.
    pub force: bool,
    /// A shell command run after each renewal.
    pub exec: Option<String>,
}

/// When the current certificate is to be renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Issuance, Unix seconds.
    pub issued_at: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// When renewal is due, Unix seconds (jitter included).
    pub due_at: i64,
}

/// The moment the lifetime starts: the renewer's record, else the backdate undone.
pub fn lifetime_start(info: &CertInfo, known: Option<i64>) -> i64 {
    if let Some(t) = known.filter(|t| *t >= info.not_before && *t < info.not_after) {
        return t;
    }
    let undone = info.not_before + BACKDATE.whole_seconds();
    if undone < info.not_after { undone } else { info.not_before }
}

/// Renewal at `fraction` of the lifetime from `issued_at`, less `jitter` (0..=1) of the
/// allowed spread (3% of the lifetime, at most 5 minutes).
pub fn schedule(issued_at: i64, not_after: i64, fraction: f64, jitter: f64) -> Schedule {
    let lifetime = (not_after - issued_at).max(0) as f64;
    let spread = (lifetime * 0.03).min(300.0);
    let due_at = issued_at + (lifetime * fraction - spread * jitter.clamp(0.0, 1.0)).floor() as i64;
    Schedule { issued_at, not_after, due_at }
}

/// A uniform random number in [0, 1).
fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// What one attempt did.
#[derive(Debug)]
pub enum Attempt {
    /// A new certificate is installed.
    Renewed {
        /// The serial of the certificate it replaced.
        old_serial: String,
        /// The new certificate.
        info: Box<CertInfo>,
        /// When the new certificate is to be renewed.
        next: Schedule,
    },
    /// Not yet: renewal is due later.
    NotDue(Schedule),
    /// The renewal failed; the current files are unchanged.
    Failed {
        /// Why.
        error: AgentError,
        /// The current certificate's schedule.
        schedule: Schedule,
    },
}

/// The agent: settings, a renewer and a log (one line per event, never a secret).
pub struct Agent<'a> {
    settings: Settings,
    renewer: &'a dyn Renewer,
    log: &'a dyn Fn(&str),
}

impl<'a> Agent<'a> {
    /// An agent for these settings.
    pub fn new(settings: Settings, renewer: &'a dyn Renewer, log: &'a dyn Fn(&str)) -> Agent<'a> {
        Agent { settings, renewer, log }
    }

    /// The certificate's schedule, with a fresh jitter.
    fn schedule_of(&self, current: &Current) -> Schedule {
        let start = lifetime_start(&current.info, self.renewer.issued_at(current));
        schedule(start, current.info.not_after, self.settings.renew_at, random_unit())
    }

    /// One look at the certificate: renews it when due (or forced). An Err is bad input
    /// (the certificate or key cannot be read or do not match): nothing was attempted.
    pub fn once(&self, force: bool) -> Result<Attempt, Error> {
        let current = Current::read(&self.settings.files)?;
        let schedule = self.schedule_of(&current);
        if !force && engine::now().unix_timestamp() < schedule.due_at {
            return Ok(Attempt::NotDue(schedule));
        }
        Ok(self.renew(&current, schedule))
    }

    fn renew(&self, current: &Current, schedule: Schedule) -> Attempt {
        let old_serial = current.info.serial.hex();
        (self.log)(&format!(
            "renewing certificate {old_serial} (CN {}, valid until {}) with {}",
            current
                .info
                .common_name
                .as_deref()
                .map(crate::error::excerpt)
                .map(|e| e.to_string())
                .unwrap_or_default(),
            format_time(current.info.not_after),
            self.renewer.describe()
        ));
        match self.renew_and_install(current) {
            Ok(info) => {
                let next = schedule_for_new(&info, self.settings.renew_at);
                (self.log)(&format!(
                    "renewed: certificate {} replaces {old_serial}, valid until {}; next renewal at {}",
                    info.serial.hex(),
                    format_time(info.not_after),
                    format_time(next.due_at)
                ));
                self.run_hook(&info);
                Attempt::Renewed { old_serial, info: Box::new(info), next }
            }
            Err(error) => Attempt::Failed { error, schedule },
        }
    }

    fn renew_and_install(&self, current: &Current) -> Result<CertInfo, AgentError> {
        let fresh;
        let key = if self.settings.keep_key {
            &current.key
        } else {
            fresh = KeyPair::generate(current.key.key_type())
                .map_err(|source| AgentError::Files(Error::Key { what: "a new key".into(), source }))?;
            &fresh
        };
        let csr_der = request_for(current, key)?;
        let answer = self.renewer.renew(current, key, &csr_der)?;
        let (leaf, chain) =
            answer.split_first().ok_or_else(|| AgentError::BadAnswer("no certificate".into()))?;
        let info = check_answer(leaf, key)?;
        rotate::install(&self.settings.files, &NewGeneration { leaf, chain, key })
            .map_err(AgentError::Files)?;
        Ok(info)
    }

    /// Runs the reload command; its failure is logged, not fatal: the files are in place.
    fn run_hook(&self, info: &CertInfo) {
        let Some(command) = &self.settings.exec else { return };
        let files = &self.settings.files;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(command)
            .env("PKICTL_AGENT_CERT", &files.cert)
            .env("PKICTL_AGENT_KEY", &files.key)
            .env("PKICTL_AGENT_SERIAL", info.serial.hex())
            .stdin(Stdio::null());
        // Its output goes to the log, never to the agent's own report on stdout.
        if let Ok(err) = std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned() {
            cmd.stdout(Stdio::from(err));
        }
        let shown = crate::error::excerpt(command);
        match cmd.status() {
            Ok(status) if status.success() => (self.log)(&format!("ran the reload command \"{shown}\"")),
            Ok(status) => (self.log)(&format!(
                "the reload command \"{shown}\" failed ({status}); the new certificate is in place all the same"
            )),
            Err(e) => (self.log)(&format!(
                "the reload command \"{shown}\" could not be started ({}); the new certificate is in place all the same",
                crate::error::io_words(&e)
            )),
        }
    }

    /// Keeps the certificate renewed until the process is stopped. Returns only when the
    /// certificate or key cannot be read at the start (bad input).
    pub fn run(&self) -> Result<std::convert::Infallible, Error> {
        let first = Current::read(&self.settings.files)?;
        let mut schedule = self.schedule_of(&first);
        drop(first);
        (self.log)(&format!(
            "watching {}: valid until {}, renewal due at {}",
            self.settings.files.cert.display(),
            format_time(schedule.not_after),
            format_time(schedule.due_at)
        ));
        let mut backoff = Backoff::new();
        // Whether the next attempt renews whatever the schedule says: asked for, or a retry
        // of a renewal that failed.
        let mut force = self.settings.force;
        if force {
            schedule.due_at = engine::now().unix_timestamp();
        }
        loop {
            sleep_until(schedule.due_at);
            // The schedule is looked at again after each sleep (with a fresh jitter): the files
            // may have been renewed by someone else meanwhile.
            match self.once(force) {
                Ok(Attempt::Renewed { next, .. }) => {
                    schedule = next;
                    backoff = Backoff::new();
                    force = false;
                }
                Ok(Attempt::Failed { error, schedule: current }) => {
                    let wait = backoff.next(current.not_after);
                    (self.log)(&failure_line(&error, &current, wait));
                    schedule = Schedule { due_at: engine::now().unix_timestamp() + wait, ..current };
                    force = true;
                }
                Ok(Attempt::NotDue(s)) => schedule = s,
                Err(e) => {
                    let wait = backoff.next(schedule.not_after);
                    (self.log)(&format!(
                        "cannot read the current files: {e}; trying again in {}",
                        words(wait)
                    ));
                    schedule.due_at = engine::now().unix_timestamp() + wait;
                }
            }
        }
    }
}

/// The log line of a failed attempt: why, when the next try is, and when the certificate
/// expires if every try fails.
pub fn failure_line(error: &AgentError, schedule: &Schedule, retry_in: i64) -> String {
    let left = schedule.not_after - engine::now().unix_timestamp();
    let expiry = if left > 0 {
        format!(
            "if renewal keeps failing, the certificate expires at {} (in {})",
            format_time(schedule.not_after),
            words(left)
        )
    } else {
        format!("the certificate EXPIRED at {}", format_time(schedule.not_after))
    };
    format!("renewal failed: {error}; retrying in {}; {expiry}", words(retry_in))
}

/// The schedule of a certificate just received: issued now.
fn schedule_for_new(info: &CertInfo, fraction: f64) -> Schedule {
    let start = lifetime_start(info, Some(engine::now().unix_timestamp()));
    schedule(start, info.not_after, fraction, random_unit())
}

/// A PKCS#10 request for `key` with the current certificate's CN and SANs.
fn request_for(current: &Current, key: &KeyPair) -> Result<Vec<u8>, AgentError> {
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    if let Some(cn) = &current.info.common_name {
        dn.push(rcgen::DnType::CommonName, cn.as_str());
    }
    params.distinguished_name = dn;
    params.subject_alt_names =
        current.sans().iter().map(San::to_rcgen).collect::<Result<_, _>>().map_err(|e| {
            AgentError::Files(Error::invalid(format!("the current certificate's names: {e}")))
        })?;
    let csr = params
        .serialize_request(key)
        .map_err(|e| AgentError::Files(Error::Internal(format!("cannot make the request: {e}"))))?;
    Ok(csr.der().to_vec())
}

/// The answer must be a certificate, valid now, for the new key.
fn check_answer(leaf: &[u8], key: &KeyPair) -> Result<CertInfo, AgentError> {
    let info = CertInfo::from_der(leaf).map_err(|e| AgentError::BadAnswer(e.to_string()))?;
    if info.public_key_bits != key.public_key().bits() {
        return Err(AgentError::BadAnswer("the certificate is not for the new key".into()));
    }
    if info.not_after <= engine::now().unix_timestamp() {
        return Err(AgentError::BadAnswer("the certificate has already expired".into()));
    }
    Ok(info)
}

/// Exponential backoff: 10 s, 20 s, … up to 10 minutes, and never so long that the
/// certificate could expire unnoticed between two tries.
struct Backoff {
    next_secs: i64,
}

impl Backoff {
    const FIRST: i64 = 10;
    const CAP: i64 = 600;

    fn new() -> Backoff {
        Backoff { next_secs: Self::FIRST }
    }

    fn next(&mut self, not_after: i64) -> i64 {
        let left = not_after - engine::now().unix_timestamp();
        let wait = if left > 0 { self.next_secs.min((left / 3).max(1)) } else { self.next_secs };
        self.next_secs = (self.next_secs * 2).min(Self::CAP);
        wait
    }
}

/// Sleeps until the wall clock reaches `at`, in steps of at most a minute (a suspended
/// machine or a changed clock is noticed).
fn sleep_until(at: i64) {
    loop {
        let now = time::OffsetDateTime::now_utc();
        let left = time::OffsetDateTime::from_unix_timestamp(at).map(|t| t - now).unwrap_or_default();
        if left <= time::Duration::ZERO {
            return;
        }
        let step = left.min(time::Duration::minutes(1));
        std::thread::sleep(StdDuration::from_millis(step.whole_milliseconds().max(1) as u64));
    }
}

/// A duration in words: "3 s", "4 min 10 s", "5 h 2 min", "12 d 3 h".
pub fn words(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{} min {} s", s / 60, s % 60),
        3_600..86_400 => format!("{} h {} min", s / 3_600, s % 3_600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3_600),
    }
}

/// The fraction given to `--renew-at`: "2/3", "0.5", "75%"; strictly between 0 and 1.
pub fn parse_fraction(text: &str) -> Result<f64, String> {
    let value = if let Some((n, d)) = text.split_once('/') {
        let n: f64 =
            n.trim().parse().map_err(|_| format!("\"{}\" is not a fraction", crate::error::excerpt(text)))?;
        let d: f64 =
            d.trim().parse().map_err(|_| format!("\"{}\" is not a fraction", crate::error::excerpt(text)))?;
        n / d
    } else if let Some(p) = text.strip_suffix('%') {
        p.trim()
            .parse::<f64>()
            .map_err(|_| format!("\"{}\" is not a percentage", crate::error::excerpt(text)))?
            / 100.0
    } else {
        text.trim().parse().map_err(|_| format!("\"{}\" is not a number", crate::error::excerpt(text)))?
    };
    if value.is_finite() && value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(format!(
            "\"{}\" must lie strictly between 0 and 1 (e.g. 2/3 or 0.5)",
            crate::error::excerpt(text)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_90_second_certificate_is_due_about_60_seconds_after_issuance() {
        let issued = 1_000_000;
        let s = schedule(issued, issued + 90, 2.0 / 3.0, 0.0);
        assert_eq!(s.due_at, issued + 60);
        let jittered = schedule(issued, issued + 90, 2.0 / 3.0, 1.0);
        assert!(jittered.due_at >= issued + 57 && jittered.due_at <= issued + 60, "{jittered:?}");
        // A year: the jitter is capped at 5 minutes.
        let year = 365 * 86_400;
        let y = schedule(issued, issued + year, 0.5, 1.0);
        assert_eq!(y.due_at, issued + year / 2 - 300);
    }

    #[test]
    fn fractions() {
        assert!((parse_fraction("2/3").unwrap() - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(parse_fraction("0.5").unwrap(), 0.5);
        assert_eq!(parse_fraction("75%").unwrap(), 0.75);
        for bad in ["0", "1", "3/2", "x", "1/0", "-0.5", "NaN"] {
            assert!(parse_fraction(bad).is_err(), "{bad}");
        }
    }
}
