//! The health check of a home: the ledger is sound and explained by its audit chain, every
//! file the home holds agrees with the ledger, keys are private and belong to their CA, and
//! certificate files elsewhere are known. [`Authority::check`] reports typed findings;
//! [`Authority::repair`] also rewrites what the ledger can restore. `doctor` renders the report,
//! and `serve` can answer `/healthz` from the same check.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::Authority;
use crate::engine::{self, format_time};
use crate::error::{Error, Result};
use crate::home::{self, Home, PUBLIC_MODE, PublishLock};
use crate::ledger::chain::Replay;
use crate::ledger::{CaRecord, CertSelector, CertStatus, Ledger, LedgerError};
use crate::x509::{CertInfo, CrlInfo, fingerprint_sha256};

/// How many rows the chain does not explain are named one by one before a count.
const NAMED_UNEXPLAINED: usize = 20;

/// What to check besides the home itself.
#[derive(Debug, Clone, Default)]
pub struct CheckRequest {
    /// Directories whose certificate files must all be in the ledger.
    pub scan: Vec<PathBuf>,
    /// Open encrypted CA keys (with the handle's passphrase source) to check that each one
    /// is the key of its CA certificate; without it only unencrypted keys are compared.
    pub unlock_keys: bool,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The home is not sound.
    Problem,
    /// Worth a look; the home is sound.
    Warning,
}

/// A file of the home that must hold what the ledger holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HomeFile {
    /// A CA's certificate (PEM).
    CaCertificate,
    /// A CA's newest CRL, DER.
    CrlDer,
    /// A CA's newest CRL, PEM.
    CrlPem,
}

/// Something the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// The home directory is open to group or others.
    HomeMode {
        /// The home.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The database engine reports damage.
    LedgerDamaged {
        /// Its words.
        problem: String,
    },
    /// A row holds a value of the wrong type.
    DamagedColumn {
        /// The table.
        table: &'static str,
        /// Which row (an id, a serial).
        row: String,
        /// What is wrong.
        problem: String,
    },
    /// A CA key file cannot be read.
    KeyUnreadable {
        /// The CA.
        ca: String,
        /// The key file.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// A CA key file is open to group or others.
    KeyExposed {
        /// The CA.
        ca: String,
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The ledger says the key is encrypted; the file is not.
    KeyNotEncrypted {
        /// The CA.
        ca: String,
        /// The key file.
        path: PathBuf,
    },
    /// The key file holds another key than the CA certificate's.
    KeyMismatch {
        /// The CA.
        ca: String,
        /// The key file.
        path: PathBuf,
    },
    /// An encrypted key was not opened, so whether it is the CA's key is unknown.
    KeyNotChecked {
        /// The CA.
        ca: String,
    },
    /// A file of the home is missing or differs from the ledger.
    FileDiffers {
        /// The CA.
        ca: String,
        /// Which file.
        file: HomeFile,
        /// Where.
        path: PathBuf,
        /// For a CRL file: the number it holds (None: unreadable or missing) and the
        /// ledger's newest.
        crl_numbers: Option<(Option<String>, i64)>,
    },
    /// A file was rewritten from the ledger (repair).
    Rewritten {
        /// The CA.
        ca: String,
        /// Which file.
        file: HomeFile,
        /// Where.
        path: PathBuf,
    },
    /// The ledger's newest CRL of a CA is unusable.
    CrlUnusable {
        /// The CA.
        ca: String,
        /// Why.
        problem: String,
    },
    /// The newest CRL is past its nextUpdate.
    CrlExpired {
        /// The CA.
        ca: String,
        /// nextUpdate.
        at: i64,
        /// Whether the CA can still sign a new one (not expired, not revoked).
        ca_can_sign: bool,
    },
    /// The newest CRL starts in the future (signed with a fast clock): peers refuse it.
    CrlFromFuture {
        /// The CA.
        ca: String,
        /// thisUpdate.
        this_update: i64,
    },
    /// A stored certificate's DER does not match its row.
    CertificateDer {
        /// Its serial, ledger form.
        serial: String,
        /// What is wrong.
        problem: String,
    },
    /// A temp file a killed pkictl left behind.
    InterruptedWrite {
        /// The file.
        path: PathBuf,
    },
    /// An interrupted write was removed (repair).
    RemovedInterruptedWrite {
        /// The file.
        path: PathBuf,
    },
    /// A scanned directory cannot be read.
    ScanUnreadable {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// A `.crt` file that holds no complete certificate.
    IncompleteCertificateFile {
        /// The file.
        path: PathBuf,
    },
    /// A certificate file holds a certificate the ledger does not know.
    UnknownCertificate {
        /// The file.
        path: PathBuf,
        /// Its serial, hex.
        serial: String,
    },
    /// The audit chain is broken.
    ChainBroken {
        /// The first event that does not hold.
        event_id: i64,
        /// What is wrong there.
        problem: String,
    },
    /// A row whose state the audit chain does not explain.
    Unexplained {
        /// What differs, in words.
        what: String,
    },
    /// More unexplained rows than were named.
    MoreUnexplained {
        /// How many more.
        count: usize,
    },
}

impl Finding {
    /// Problem or warning.
    pub fn severity(&self) -> Severity {
        match self {
            Finding::KeyNotChecked { .. }
            | Finding::InterruptedWrite { .. }
            | Finding::RemovedInterruptedWrite { .. }
            | Finding::Rewritten { .. } => Severity::Warning,
            _ => Severity::Problem,
        }
    }

    /// Whether this records a repair rather than a finding.
    pub fn is_repair(&self) -> bool {
        matches!(self, Finding::Rewritten { .. } | Finding::RemovedInterruptedWrite { .. })
    }
}

fn file_words(file: &HomeFile) -> &'static str {
    match file {
        HomeFile::CaCertificate => "its certificate file",
        HomeFile::CrlDer => "its CRL (DER)",
        HomeFile::CrlPem => "its CRL (PEM)",
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::HomeMode { path, mode } => {
                write!(f, "{} has mode {mode:o}; it must be 700", path.display())
            }
            Finding::LedgerDamaged { problem } => write!(f, "the ledger database is damaged: {problem}"),
            Finding::DamagedColumn { table, row, problem } => {
                write!(f, "the ledger's {table} row {row} is damaged: {problem}")
            }
            Finding::KeyUnreadable { ca, path, error } => {
                write!(f, "CA {ca}: its key {} cannot be read ({error})", path.display())
            }
            Finding::KeyExposed { ca, path, mode } => write!(
                f,
                "CA {ca}: {} has mode {mode:o}; make it 600 and consider the key exposed",
                path.display()
            ),
            Finding::KeyNotEncrypted { ca, path } => {
                write!(f, "CA {ca}: the ledger says its key is encrypted, but {} is not", path.display())
            }
            Finding::KeyMismatch { ca, path } => write!(
                f,
                "CA {ca}: {} does not hold the key of the CA certificate; restore the CA's key file from a backup",
                path.display()
            ),
            Finding::KeyNotChecked { ca } => {
                write!(
                    f,
                    "CA {ca}: its key is encrypted and was not opened, so it was not compared with the CA certificate"
                )
            }
            Finding::FileDiffers { ca, file, path, crl_numbers } => {
                write!(
                    f,
                    "CA {ca}: {} {} is missing or differs from the ledger",
                    file_words(file),
                    path.display()
                )?;
                match crl_numbers {
                    Some((Some(found), newest)) => {
                        write!(f, " (it holds CRL #{found}, the ledger's newest is #{newest})")
                    }
                    Some((None, newest)) => write!(f, " (the ledger's newest CRL is #{newest})"),
                    None => Ok(()),
                }
            }
            Finding::Rewritten { ca, file, path } => {
                write!(f, "CA {ca}: {} {} was rewritten from the ledger", file_words(file), path.display())
            }
            Finding::CrlUnusable { ca, problem } => {
                write!(f, "CA {ca}: the ledger's newest CRL is unusable: {problem}")
            }
            Finding::CrlExpired { ca, at, ca_can_sign: true } => {
                write!(f, "CA {ca}: its newest CRL expired {}; sign a new one", format_time(*at))
            }
            Finding::CrlExpired { ca, at, ca_can_sign: false } => write!(
                f,
                "CA {ca}: its newest CRL expired {}, and the CA itself is expired or revoked, so it cannot sign another; every certificate it issued is already invalid: remove the CA from trust stores",
                format_time(*at)
            ),
            Finding::CrlFromFuture { ca, this_update } => write!(
                f,
                "CA {ca}: its newest CRL starts {} (thisUpdate is in the future: the clock was fast when it was signed), and peers refuse such a CRL; fix the clock and sign a new one",
                format_time(*this_update)
            ),
            Finding::CertificateDer { serial, problem } => write!(f, "certificate {serial}: {problem}"),
            Finding::InterruptedWrite { path } => write!(f, "{} is an interrupted write", path.display()),
            Finding::RemovedInterruptedWrite { path } => {
                write!(f, "removed the interrupted write {}", path.display())
            }
            Finding::ScanUnreadable { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            Finding::IncompleteCertificateFile { path } => {
                write!(f, "{} is not a complete PEM certificate", path.display())
            }
            Finding::UnknownCertificate { path, serial } => write!(
                f,
                "{} holds a certificate (serial {serial}) that is not in the ledger",
                path.display()
            ),
            Finding::ChainBroken { event_id, problem } => {
                write!(f, "the audit chain is broken at event #{event_id}: {problem}")
            }
            Finding::Unexplained { what } => write!(f, "the audit chain does not explain the ledger: {what}"),
            Finding::MoreUnexplained { count } => {
                write!(f, "the audit chain does not explain {count} more rows")
            }
        }
    }
}

/// The audit chain as the check found it.
#[derive(Debug, Clone, Default)]
pub struct ChainSummary {
    /// The newest event's hash: record it elsewhere to notice a rewritten chain later.
    pub head: String,
    /// Chained events.
    pub events: u64,
    /// Events that predate the chain.
    pub legacy_events: u64,
}

/// What the check found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every finding, repairs included, in the order found.
    pub findings: Vec<Finding>,
    /// How many CAs were checked.
    pub authorities: usize,
    /// How many certificates were checked.
    pub certificates: u64,
    /// The audit chain.
    pub chain: ChainSummary,
}

impl Report {
    /// No finding of severity Problem.
    pub fn is_ok(&self) -> bool {
        self.problems().next().is_none()
    }

    /// The problems.
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity() == Severity::Problem)
    }

    fn add(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    /// A ledger read that failed on damage becomes a finding; anything else stops the check.
    fn damage_or_fail<T>(&mut self, read: std::result::Result<T, LedgerError>) -> Result<Option<T>> {
        match read {
            Ok(value) => Ok(Some(value)),
            Err(LedgerError::Damaged { reason, .. }) => {
                self.add(Finding::LedgerDamaged { problem: reason });
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Authority {
    /// Checks the home; changes nothing.
    pub fn check(&self, request: &CheckRequest) -> Result<Report> {
        Checker { authority: self, request, repair: false }.run()
    }

    /// Checks the home and rewrites from the ledger what it can: CA certificate files, the
    /// CRL files (under the publish lock, from the ledger's newest CRL, so a concurrent
    /// publisher is never rolled back), and removes interrupted writes. The ledger itself is
    /// never changed: what the audit chain does not explain is only reported.
    pub fn repair(&self, request: &CheckRequest) -> Result<Report> {
        Checker { authority: self, request, repair: true }.run()
    }
}

struct Checker<'a> {
    authority: &'a Authority,
    request: &'a CheckRequest,
    repair: bool,
}

impl Checker<'_> {
    fn home(&self) -> &Home {
        &self.authority.home
    }

    fn ledger(&self) -> &dyn Ledger {
        self.authority.ledger.as_ref()
    }

    fn run(&self) -> Result<Report> {
        let mut report = Report::default();
        self.check_home_mode(&mut report);
        if let Some(problems) = report.damage_or_fail(self.ledger().integrity_problems())? {
            for problem in problems {
                report.add(Finding::LedgerDamaged { problem });
            }
        }
        if let Some(authorities) = report.damage_or_fail(self.ledger().authorities())? {
            report.authorities = authorities.len();
            for authority in &authorities {
                self.check_authority(authority, &mut report)?;
            }
        }
        self.check_certificates(&mut report)?;
        self.check_chain(&mut report)?;
        self.check_leftovers(&mut report);
        for dir in &self.request.scan {
            self.check_scanned_dir(dir, &mut report)?;
        }
        Ok(report)
    }

    fn check_home_mode(&self, report: &mut Report) {
        let root = self.home().root();
        if let Ok(meta) = fs::metadata(root) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                report.add(Finding::HomeMode { path: root.to_path_buf(), mode });
            }
        }
    }

    fn check_authority(&self, a: &CaRecord, report: &mut Report) -> Result<()> {
        self.check_key(a, report);
        let cert_path = self.home().resolve(&Home::ca_cert_relative(&a.slug));
        let pem = crate::x509::certificate_pem(&a.cert_der);
        if !file_holds(&cert_path, pem.as_bytes()) {
            if self.repair {
                home::write_atomic(&cert_path, pem.as_bytes(), PUBLIC_MODE)?;
                report.add(Finding::Rewritten {
                    ca: a.name.clone(),
                    file: HomeFile::CaCertificate,
                    path: cert_path,
                });
            } else {
                report.add(Finding::FileDiffers {
                    ca: a.name.clone(),
                    file: HomeFile::CaCertificate,
                    path: cert_path,
                    crl_numbers: None,
                });
            }
        }
        if let Some(Some(crl)) = report.damage_or_fail(self.ledger().latest_crl_der(a.id))? {
            self.check_crl(a, &crl, report)?;
        }
        Ok(())
    }

    fn check_key(&self, a: &CaRecord, report: &mut Report) {
        let keys = &self.authority.keys;
        let path = keys.path_of(&a.key_file);
        let at_rest = match keys.inspect(&a.key_file) {
            Ok(at_rest) => at_rest,
            Err(e) => {
                report.add(Finding::KeyUnreadable { ca: a.name.clone(), path, error: e.to_string() });
                return;
            }
        };
        let exposed = at_rest.mode & 0o077 != 0;
        if exposed {
            report.add(Finding::KeyExposed { ca: a.name.clone(), path: path.clone(), mode: at_rest.mode });
        }
        if a.key_encrypted && !at_rest.encrypted {
            report.add(Finding::KeyNotEncrypted { ca: a.name.clone(), path: path.clone() });
        }
        if exposed {
            // The key store refuses to open an exposed key: that is reported already.
            return;
        }
        let Ok(info) = CertInfo::from_der(&a.cert_der) else {
            report.add(Finding::LedgerDamaged {
                problem: format!("the certificate of CA {} does not parse", a.name),
            });
            return;
        };
        let unlock = self.request.unlock_keys.then_some(self.authority.unlock.as_ref());
        match keys.holds_key_of(&a.name, &a.key_file, &info.spki_der, unlock) {
            Ok(Some(true)) => {}
            Ok(Some(false)) => report.add(Finding::KeyMismatch { ca: a.name.clone(), path }),
            Ok(None) => report.add(Finding::KeyNotChecked { ca: a.name.clone() }),
            Err(e) => report.add(Finding::KeyUnreadable { ca: a.name.clone(), path, error: e.to_string() }),
        }
    }

    /// The ledger's newest CRL must be sound and current, and the home's CRL files must hold
    /// it — compared under the publish lock, so a publisher half-way through is not reported.
    fn check_crl(&self, a: &CaRecord, der: &[u8], report: &mut Report) -> Result<()> {
        let info = match self.crl_usable(a, der) {
            Ok(info) => info,
            Err(problem) => {
                report.add(Finding::CrlUnusable { ca: a.name.clone(), problem });
                return Ok(());
            }
        };
        let now = engine::now().unix_timestamp();
        if info.this_update > now {
            report.add(Finding::CrlFromFuture { ca: a.name.clone(), this_update: info.this_update });
        }
        let next = info.next_update.unwrap_or(0);
        if next <= now {
            let ca_can_sign = super::check_ca_usable(a, now, crate::error::CaAction::SignCrl).is_ok();
            report.add(Finding::CrlExpired { ca: a.name.clone(), at: next, ca_can_sign });
        }
        let newest: i64 = info.number.parse().unwrap_or(0);
        // Without the lock (a read-only home) the comparison can still be made.
        let lock = PublishLock::acquire(self.home()).ok();
        let pem = crate::authority::crl_pem(der);
        let der_path = self.home().crl_path(&a.slug, true);
        let pem_path = self.home().crl_path(&a.slug, false);
        let stale: Vec<(HomeFile, PathBuf, Option<String>)> =
            [(HomeFile::CrlDer, der_path, der, true), (HomeFile::CrlPem, pem_path, pem.as_bytes(), false)]
                .into_iter()
                .filter(|(_, path, bytes, _)| !file_holds(path, bytes))
                .map(|(file, path, _, is_der)| {
                    let found = crl_number_in(&path, is_der);
                    (file, path, found)
                })
                .collect();
        if stale.is_empty() {
            return Ok(());
        }
        if self.repair {
            drop(lock);
            self.authority.republish_crl(a)?;
            for (file, path, _) in stale {
                report.add(Finding::Rewritten { ca: a.name.clone(), file, path });
            }
        } else {
            for (file, path, found) in stale {
                report.add(Finding::FileDiffers {
                    ca: a.name.clone(),
                    file,
                    path,
                    crl_numbers: Some((found, newest)),
                });
            }
        }
        Ok(())
    }

    fn crl_usable(&self, a: &CaRecord, der: &[u8]) -> std::result::Result<CrlInfo, String> {
        let crl = CrlInfo::from_der(der).map_err(|e| e.to_string())?;
        let ca = CertInfo::from_der(&a.cert_der).map_err(|e| e.to_string())?;
        crl.signed.verify(&ca.spki_der).map_err(|e| e.to_string())?;
        Ok(crl)
    }

    /// Every stored certificate parses and matches its recorded serial and fingerprint; a
    /// damaged column is reported, not fatal.
    fn check_certificates(&self, report: &mut Report) -> Result<()> {
        let mut count = 0u64;
        let mut found = Vec::new();
        let scanned = self.ledger().scan_certificate_rows(&mut |row| {
            count += 1;
            let serial = shown_serial(&row.serial);
            for problem in &row.damaged {
                found.push(Finding::DamagedColumn {
                    table: "certificates",
                    row: format!("#{}", row.id),
                    problem: problem.clone(),
                });
            }
            if fingerprint_sha256(&row.der) != row.fingerprint_sha256 {
                found.push(Finding::CertificateDer {
                    serial,
                    problem: "its DER does not match the recorded fingerprint".into(),
                });
                return;
            }
            match CertInfo::from_der(&row.der) {
                Ok(info) if info.serial.ledger_hex() == row.serial => {}
                Ok(_) => found.push(Finding::CertificateDer {
                    serial,
                    problem: "its DER carries another serial".into(),
                }),
                Err(e) => found.push(Finding::CertificateDer {
                    serial,
                    problem: format!("its DER does not parse ({e})"),
                }),
            }
        });
        report.damage_or_fail(scanned)?;
        report.findings.extend(found);
        report.certificates = count;
        Ok(())
    }

    /// Replays the audit chain and compares the state it explains with every row.
    fn check_chain(&self, report: &mut Report) -> Result<()> {
        let Some(replay) =
            report.damage_or_fail(crate::ledger::replay(|visit| self.ledger().scan_events(visit)))?
        else {
            return Ok(());
        };
        let links = &replay.links;
        report.chain =
            ChainSummary { head: links.head.clone(), events: links.chained, legacy_events: links.legacy };
        if let Some(b) = &links.broken {
            report.add(Finding::ChainBroken { event_id: b.event_id, problem: b.problem.clone() });
        }
        let mut unexplained = Vec::new();
        self.compare_certificates(&replay, &mut unexplained, report)?;
        self.compare_authorities(&replay, &mut unexplained, report)?;
        self.compare_crls(&replay, &mut unexplained, report)?;
        self.compare_tokens(&replay, &mut unexplained, report)?;
        self.compare_acme_rows(&replay, &mut unexplained, report)?;
        let more = unexplained.len().saturating_sub(NAMED_UNEXPLAINED);
        for what in unexplained.into_iter().take(NAMED_UNEXPLAINED) {
            report.add(Finding::Unexplained { what });
        }
        if more > 0 {
            report.add(Finding::MoreUnexplained { count: more });
        }
        Ok(())
    }

    fn compare_certificates(
        &self,
        replay: &Replay,
        out: &mut Vec<String>,
        report: &mut Report,
    ) -> Result<()> {
        let mut seen = HashSet::new();
        let scanned = self.ledger().scan_certificate_rows(&mut |row| {
            seen.insert(row.id);
            let serial = &shown_serial(&row.serial);
            let Some(expected) = replay.certificates.get(&row.id) else {
                out.push(format!("certificate {serial} (row #{}) was never recorded as issued", row.id));
                return;
            };
            if expected.serial != row.serial || expected.issuer_id != row.issuer_id {
                out.push(format!(
                    "certificate row #{} carries serial {serial}, the chain recorded another",
                    row.id
                ));
            }
            if crate::ledger::chain::sha256_hex(&row.der) != expected.der_sha256 {
                out.push(format!("certificate {serial}: its DER is not the one that was issued"));
            }
            if expected.not_after != row.not_after {
                out.push(format!("certificate {serial}: its recorded notAfter was changed"));
            }
            let revoked = row.status == CertStatus::Revoked.as_str();
            match (&expected.revoked, revoked) {
                (Some(_), false) => out.push(format!(
                    "certificate {serial} was revoked, but the ledger now says {}",
                    row.status
                )),
                (None, true) => out
                    .push(format!("certificate {serial} is marked revoked, but no revocation was recorded")),
                (Some((at, reason)), true) => {
                    if row.revoked_at != Some(*at)
                        || row.revocation_reason.as_deref().unwrap_or("unspecified") != reason
                    {
                        out.push(format!("certificate {serial}: its revocation date or reason was changed"));
                    }
                }
                (None, false) => {}
            }
        });
        report.damage_or_fail(scanned)?;
        let mut missing: Vec<_> = replay.certificates.iter().filter(|(id, _)| !seen.contains(id)).collect();
        missing.sort_by_key(|(id, _)| **id);
        for (_, c) in missing {
            out.push(format!("certificate {} was issued, but its row is gone", shown_serial(&c.serial)));
        }
        Ok(())
    }

    /// Every token row as the chain explains it: a token set back to unused, an inserted hash
    /// or a changed binding would let a token enrol again or for other names.
    fn compare_tokens(&self, replay: &Replay, out: &mut Vec<String>, report: &mut Report) -> Result<()> {
        let Some(rows) = report.damage_or_fail(self.ledger().tokens())? else { return Ok(()) };
        let mut seen = HashSet::new();
        for row in &rows {
            seen.insert(row.id);
            let id = row.id;
            let Some(expected) = replay.tokens.get(&id) else {
                out.push(format!("enrolment token #{id} (for {}) was never recorded as created", row.name));
                continue;
            };
            let sans: Vec<String> = row.sans.iter().map(ToString::to_string).collect();
            let bound = (&expected.token_sha256, &expected.name, expected.profile.as_str(), &expected.sans);
            if bound != (&row.token_sha256, &row.name, row.profile.as_str(), &sans)
                || (expected.issuer_id, expected.expires_at) != (row.issuer_id, row.expires_at)
            {
                out.push(format!(
                    "enrolment token #{id}: its hash, names, profile, CA or expiry were changed"
                ));
            }
            let used = row.used_at.zip(row.certificate_id);
            if expected.used != used {
                out.push(match expected.used {
                    Some(_) => format!("enrolment token #{id} was used, but the ledger no longer says so"),
                    None => format!("enrolment token #{id} is marked used, but no use was recorded"),
                });
            }
            if expected.revoked_at != row.revoked_at {
                out.push(format!("enrolment token #{id}: its revocation was changed outside pkictl"));
            }
        }
        for id in replay.tokens.keys().filter(|id| !seen.contains(id)) {
            out.push(format!("enrolment token #{id} was created, but its row is gone"));
        }
        Ok(())
    }

    fn compare_authorities(&self, replay: &Replay, out: &mut Vec<String>, report: &mut Report) -> Result<()> {
        let Some(rows) = report.damage_or_fail(self.ledger().authority_rows())? else { return Ok(()) };
        let mut seen = HashSet::new();
        for row in &rows {
            seen.insert(row.id);
            for problem in &row.damaged {
                report.add(Finding::DamagedColumn {
                    table: "authorities",
                    row: format!("#{}", row.id),
                    problem: problem.clone(),
                });
            }
            let Some(expected) = replay.authorities.get(&row.id) else {
                out.push(format!("CA {} (row #{}) was never recorded as created", row.name, row.id));
                continue;
            };
            if expected.cert_sha256 != row.cert_sha256 {
                out.push(format!("CA {}: its certificate is not the one that was recorded", row.name));
            }
            if expected.crl_validity_secs != row.crl_validity_secs {
                out.push(format!("CA {}: its CRL validity was changed outside pkictl", row.name));
            }
            if row.next_crl_number < expected.next_crl_number {
                out.push(format!(
                    "CA {}: its CRL counter is at {}, but CRL #{} was already signed (the counter was reset)",
                    row.name,
                    row.next_crl_number,
                    expected.next_crl_number - 1
                ));
            } else if row.next_crl_number > expected.next_crl_number {
                out.push(format!(
                    "CA {}: its CRL counter is at {}, past any CRL that was recorded (#{})",
                    row.name,
                    row.next_crl_number,
                    expected.next_crl_number - 1
                ));
            }
        }
        for (id, a) in &replay.authorities {
            if !seen.contains(id) {
                out.push(format!("CA {} was created, but its row is gone", a.name));
            }
        }
        Ok(())
    }

    fn compare_crls(&self, replay: &Replay, out: &mut Vec<String>, report: &mut Report) -> Result<()> {
        let Some(rows) = report.damage_or_fail(self.ledger().crl_rows())? else { return Ok(()) };
        let names: BTreeMap<i64, String> = match self.ledger().authority_rows() {
            Ok(rows) => rows.into_iter().map(|a| (a.id, a.name)).collect(),
            Err(_) => BTreeMap::new(),
        };
        let name = |id: i64| {
            names
                .get(&id)
                .or_else(|| replay.authorities.get(&id).map(|a| &a.name))
                .cloned()
                .unwrap_or_else(|| format!("CA #{id}"))
        };
        let newest: BTreeMap<i64, i64> = rows.iter().fold(BTreeMap::new(), |mut m, r| {
            let n = m.entry(r.issuer_id).or_insert(r.number);
            *n = (*n).max(r.number);
            m
        });
        let mut seen = HashSet::new();
        for row in &rows {
            seen.insert((row.issuer_id, row.number));
            for problem in &row.damaged {
                report.add(Finding::DamagedColumn {
                    table: "crls",
                    row: format!("#{} of {}", row.number, name(row.issuer_id)),
                    problem: problem.clone(),
                });
            }
            let Some(expected) = replay.crls.get(&(row.issuer_id, row.number)) else {
                out.push(format!(
                    "CRL #{} of {} was never recorded as signed",
                    row.number,
                    name(row.issuer_id)
                ));
                continue;
            };
            // Only the newest CRLs keep their DER (older ones are pruned by the ledger).
            let pruned = row.der_sha256.is_empty() && newest.get(&row.issuer_id) != Some(&row.number);
            let known = !expected.der_sha256.is_empty();
            if !pruned && known && row.der_sha256 != expected.der_sha256 {
                out.push(format!(
                    "CRL #{} of {}: its DER is not the one that was signed",
                    row.number,
                    name(row.issuer_id)
                ));
            }
            if row.entries != expected.entries || row.this_update != expected.this_update {
                out.push(format!(
                    "CRL #{} of {}: its recorded entries or date were changed",
                    row.number,
                    name(row.issuer_id)
                ));
            }
        }
        for (issuer_id, number) in replay.crls.keys() {
            if !seen.contains(&(*issuer_id, *number)) {
                out.push(format!("CRL #{number} of {} was signed, but its row is gone", name(*issuer_id)));
            }
        }
        Ok(())
    }

    /// Every ACME row must be exactly as the chain last recorded it (schema 6).
    fn compare_acme_rows(&self, replay: &Replay, out: &mut Vec<String>, report: &mut Report) -> Result<()> {
        let mut seen = HashSet::new();
        let scanned = self.ledger().acme_row_digests(&mut |table, id, digest| {
            seen.insert((table.to_string(), id));
            match replay.acme_rows.get(&(table.to_string(), id)) {
                None => out.push(format!("{table} row #{id} was never recorded")),
                Some(expected) if expected != digest => {
                    out.push(format!("{table} row #{id} was changed outside pkictl"))
                }
                Some(_) => {}
            }
        });
        report.damage_or_fail(scanned)?;
        for (table, id) in replay.acme_rows.keys() {
            if !seen.contains(&(table.clone(), *id)) {
                out.push(format!("{table} row #{id} was recorded, but it is gone"));
            }
        }
        Ok(())
    }

    /// Temp files that a killed pkictl left behind: harmless (never under a final name).
    fn check_leftovers(&self, report: &mut Report) {
        let root = self.home().root();
        for dir in [
            root.to_path_buf(),
            root.join(home::CA_DIR),
            root.join(home::PRIVATE_DIR),
            root.join(home::CRL_DIR),
        ] {
            for path in leftover_temp_files(&dir) {
                self.leftover(path, report);
            }
        }
    }

    fn leftover(&self, path: PathBuf, report: &mut Report) {
        if self.repair && fs::remove_file(&path).is_ok() {
            report.add(Finding::RemovedInterruptedWrite { path });
        } else {
            report.add(Finding::InterruptedWrite { path });
        }
    }

    /// Certificate files in `dir` (`*.crt` and `*.pem`, every certificate in them) must be
    /// complete and in the ledger: nothing may leave the CA that it cannot revoke.
    fn check_scanned_dir(&self, dir: &Path, report: &mut Report) -> Result<()> {
        let entries = fs::read_dir(dir).map_err(|source| Error::Read { path: dir.to_path_buf(), source })?;
        for path in entries.flatten().map(|e| e.path()) {
            let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            if name.starts_with(".pkictl-") {
                // An interrupted write may hold a private key: removed on repair.
                self.leftover(path, report);
                continue;
            }
            if !(name.ends_with(".crt") || name.ends_with(".pem")) || !path.is_file() {
                continue;
            }
            match crate::home::read_input(&path, crate::home::limits::CERTIFICATE) {
                Ok(bytes) => self.check_certificate_file(&path, &bytes, report)?,
                Err(e) => report.add(Finding::ScanUnreadable { path, error: e.to_string() }),
            }
        }
        Ok(())
    }

    fn check_certificate_file(&self, path: &Path, bytes: &[u8], report: &mut Report) -> Result<()> {
        let text = String::from_utf8_lossy(bytes);
        let blocks: Vec<&str> = text
            .split_inclusive("-----END CERTIFICATE-----")
            .filter(|b| b.contains("-----BEGIN CERTIFICATE-----"))
            .collect();
        if blocks.is_empty() && path.extension().is_some_and(|e| e == "crt") && !text.trim().is_empty() {
            report.add(Finding::IncompleteCertificateFile { path: path.to_path_buf() });
        }
        for block in blocks {
            let start = block.find("-----BEGIN").unwrap_or(0);
            let Ok((_, der)) = der::pem::decode_vec(&block.as_bytes()[start..]) else {
                report.add(Finding::IncompleteCertificateFile { path: path.to_path_buf() });
                continue;
            };
            let fingerprint = fingerprint_sha256(&der);
            if self.ledger().find_certificates(CertSelector::Fingerprint(&fingerprint), None)?.is_empty() {
                let serial = CertInfo::from_der(&der).map(|i| i.serial.hex()).unwrap_or_else(|_| "?".into());
                report.add(Finding::UnknownCertificate { path: path.to_path_buf(), serial });
            }
        }
        Ok(())
    }
}

/// A ledger serial as `list` prints it.
fn shown_serial(ledger_hex: &str) -> String {
    crate::engine::serial::Serial::from_ledger_hex(ledger_hex)
        .map(|s| s.hex())
        .unwrap_or_else(|| ledger_hex.chars().take(40).collect())
}

/// Whether a file of the home holds exactly these bytes (a FIFO or device in its place does
/// not, and is not read).
fn file_holds(path: &Path, bytes: &[u8]) -> bool {
    crate::home::read_input(path, crate::home::limits::CRL).ok().as_deref() == Some(bytes)
}

/// The CRL number a published file holds, when it is a readable CRL.
fn crl_number_in(path: &Path, is_der: bool) -> Option<String> {
    let bytes = crate::home::read_input(path, crate::home::limits::CRL).ok()?;
    let der = if is_der { bytes } else { der::pem::decode_vec(&bytes).ok()?.1 };
    CrlInfo::from_der(&der).ok().map(|info| info.number)
}

fn leftover_temp_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            name.starts_with(".pkictl-") && p.is_file()
        })
        .collect()
}
