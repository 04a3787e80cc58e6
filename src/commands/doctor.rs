//! `pkictl doctor`: check that a home is consistent — the ledger is sound, every file the home
//! holds agrees with it, keys are private — and that certificate files elsewhere are known.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Context, Outcome, print_json};
use crate::engine::serial::Serial;
use crate::error::Result;
use crate::home::{self, Home, PUBLIC_MODE};
use crate::keys::{FileKeyStore, KeyAtRest};
use crate::ledger::{CaRecord, CertSelector, Ledger};
use crate::x509::{CertInfo, CrlInfo, fingerprint_sha256};

#[derive(Default)]
struct Findings {
    problems: Vec<String>,
    warnings: Vec<String>,
    repaired: Vec<String>,
}

impl Findings {
    fn problem(&mut self, text: String) {
        self.problems.push(text);
    }

    fn warning(&mut self, text: String) {
        self.warnings.push(text);
    }
}

pub fn run(ctx: &Context, scan: &[PathBuf], repair: bool) -> Result<Outcome> {
    let (home, ledger) = ctx.open()?;
    let mut findings = Findings::default();
    check_home_mode(&home, &mut findings);
    for problem in ledger.integrity_problems()? {
        findings.problem(format!("the ledger database is damaged: {problem}"));
    }
    let authorities = ledger.authorities()?;
    for authority in &authorities {
        check_authority(&home, ledger.as_ref(), authority, repair, &mut findings)?;
    }
    let certificates = check_certificates(ledger.as_ref(), &mut findings)?;
    check_leftovers(home.root(), repair, &mut findings);
    for dir in scan {
        check_scanned_dir(ledger.as_ref(), dir, repair, &mut findings)?;
    }
    report(ctx, &findings, authorities.len(), certificates);
    Ok(if findings.problems.is_empty() { Outcome::Success } else { Outcome::Negative })
}

fn check_home_mode(home: &Home, findings: &mut Findings) {
    if let Ok(meta) = fs::metadata(home.root()) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            findings.problem(format!(
                "{} has mode {mode:o}; run `chmod 700 {}`",
                home.root().display(),
                home.root().display()
            ));
        }
    }
}

fn check_authority(
    home: &Home,
    ledger: &dyn Ledger,
    a: &CaRecord,
    repair: bool,
    findings: &mut Findings,
) -> Result<()> {
    let key_path = home.resolve(&a.key_file);
    match FileKeyStore::new(home.root()).inspect(&a.key_file) {
        Err(e) => {
            findings.problem(format!("CA {}: its key {} cannot be read ({e})", a.name, key_path.display()))
        }
        Ok(KeyAtRest { mode, encrypted }) => {
            if mode & 0o077 != 0 {
                findings.problem(format!(
                    "CA {}: {} has mode {mode:o}; run `chmod 600 {}` and consider the key exposed",
                    a.name,
                    key_path.display(),
                    key_path.display()
                ));
            }
            if a.key_encrypted && !encrypted {
                findings.problem(format!(
                    "CA {}: the ledger says its key is encrypted, but {} is not",
                    a.name,
                    key_path.display()
                ));
            }
        }
    }
    let cert_path = home.resolve(&Home::ca_cert_relative(&a.slug));
    let pem = crate::x509::certificate_pem(&a.cert_der);
    ensure_file(
        &cert_path,
        pem.as_bytes(),
        repair,
        &format!("CA {}: its certificate file", a.name),
        findings,
    )?;
    if let Some(crl) = ledger.latest_crl_der(a.id)? {
        check_crl(home, a, &crl, repair, findings)?;
    }
    Ok(())
}

/// The published CRL files must be the ledger's latest CRL, complete and correctly signed.
fn check_crl(home: &Home, a: &CaRecord, der: &[u8], repair: bool, findings: &mut Findings) -> Result<()> {
    if let Err(e) = verify_crl(a, der) {
        findings.problem(format!("CA {}: the ledger's latest CRL is unusable: {e}", a.name));
        return Ok(());
    }
    let pem = crate::authority::crl_pem(der);
    let der_path = home.crl_path(&a.slug, true);
    let pem_path = home.crl_path(&a.slug, false);
    ensure_file(&der_path, der, repair, &format!("CA {}: its CRL (DER)", a.name), findings)?;
    ensure_file(&pem_path, pem.as_bytes(), repair, &format!("CA {}: its CRL (PEM)", a.name), findings)
}

fn verify_crl(a: &CaRecord, der: &[u8]) -> std::result::Result<(), String> {
    let crl = CrlInfo::from_der(der).map_err(|e| e.to_string())?;
    let ca = CertInfo::from_der(&a.cert_der).map_err(|e| e.to_string())?;
    crl.signed.verify(&ca.spki_der).map_err(|e| e.to_string())?;
    let next = crl.next_update.unwrap_or(0);
    if next <= crate::engine::now().unix_timestamp() {
        return Err(format!(
            "it expired {}; run `pkictl crl --ca \"{}\"`",
            crate::engine::format_time(next),
            a.name
        ));
    }
    Ok(())
}

/// A file of the home must hold exactly what the ledger says; `--repair` rewrites it.
fn ensure_file(path: &Path, bytes: &[u8], repair: bool, what: &str, findings: &mut Findings) -> Result<()> {
    if fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(());
    }
    if repair {
        home::write_atomic(path, bytes, PUBLIC_MODE)?;
        findings.repaired.push(format!("{what} {} was rewritten from the ledger", path.display()));
    } else {
        findings.problem(format!(
            "{what} {} is missing or differs from the ledger; `pkictl doctor --repair` rewrites it",
            path.display()
        ));
    }
    Ok(())
}

/// Every stored certificate parses and matches its recorded serial and fingerprint.
fn check_certificates(ledger: &dyn Ledger, findings: &mut Findings) -> Result<u64> {
    let mut count = 0u64;
    ledger.scan_certificates(&mut |serial, fingerprint, der| {
        count += 1;
        if fingerprint_sha256(der) != fingerprint {
            findings
                .problem(format!("certificate {serial}: its DER does not match the recorded fingerprint"));
            return;
        }
        match CertInfo::from_der(der) {
            Ok(info) if info.serial.ledger_hex() == serial => {}
            Ok(_) => findings.problem(format!("certificate {serial}: its DER carries another serial")),
            Err(e) => findings.problem(format!("certificate {serial}: its DER does not parse ({e})")),
        }
    })?;
    Ok(count)
}

/// Temp files that a killed pkictl left behind: harmless (never under a final name), but
/// clutter.
fn check_leftovers(root: &Path, repair: bool, findings: &mut Findings) {
    for dir in
        [root.to_path_buf(), root.join(home::CA_DIR), root.join(home::PRIVATE_DIR), root.join(home::CRL_DIR)]
    {
        for path in leftover_temp_files(&dir) {
            if repair && fs::remove_file(&path).is_ok() {
                findings.repaired.push(format!("removed the interrupted write {}", path.display()));
            } else {
                findings.warning(format!(
                    "{} is an interrupted write; `pkictl doctor --repair` removes it",
                    path.display()
                ));
            }
        }
    }
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

/// Certificate files in `dir` (`*.crt` and `*.pem`, as `issue` writes them: every certificate
/// in them, leaves and chains) must be complete and known to the ledger: nothing may leave the
/// CA that it cannot revoke.
fn check_scanned_dir(ledger: &dyn Ledger, dir: &Path, repair: bool, findings: &mut Findings) -> Result<()> {
    let entries =
        fs::read_dir(dir).map_err(|source| crate::error::Error::Read { path: dir.to_path_buf(), source })?;
    for path in entries.flatten().map(|e| e.path()) {
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        if name.starts_with(".pkictl-") {
            // An interrupted write may hold a private key: remove it on --repair.
            if repair && fs::remove_file(&path).is_ok() {
                findings.repaired.push(format!("removed the interrupted write {}", path.display()));
            } else {
                findings.warning(format!(
                    "{} is an interrupted write (never a final file name); `pkictl doctor --scan DIR --repair` removes it",
                    path.display()
                ));
            }
            continue;
        }
        if !(name.ends_with(".crt") || name.ends_with(".pem")) || !path.is_file() {
            continue;
        }
        let bytes =
            fs::read(&path).map_err(|source| crate::error::Error::Read { path: path.clone(), source })?;
        check_certificate_file(ledger, &path, &bytes, findings)?;
    }
    Ok(())
}

fn check_certificate_file(
    ledger: &dyn Ledger,
    path: &Path,
    bytes: &[u8],
    findings: &mut Findings,
) -> Result<()> {
    let text = String::from_utf8_lossy(bytes);
    let blocks: Vec<&str> = text
        .split_inclusive("-----END CERTIFICATE-----")
        .filter(|b| b.contains("-----BEGIN CERTIFICATE-----"))
        .collect();
    if blocks.is_empty() && name_says_certificate(path) && !text.trim().is_empty() {
        findings.problem(format!("{} is not a complete PEM certificate", path.display()));
    }
    for block in blocks {
        let start = block.find("-----BEGIN").unwrap_or(0);
        let Ok((_, der)) = der::pem::decode_vec(&block.as_bytes()[start..]) else {
            findings.problem(format!("{} holds an incomplete PEM certificate", path.display()));
            continue;
        };
        let fingerprint = fingerprint_sha256(&der);
        if ledger.find_certificates(CertSelector::Fingerprint(&fingerprint), None)?.is_empty() {
            let serial =
                CertInfo::from_der(&der).map(|i| i.serial).unwrap_or_else(|_| Serial::from_be_bytes(&[]));
            findings.problem(format!(
                "{} holds a certificate (serial {}) that is not in the ledger",
                path.display(),
                serial.hex()
            ));
        }
    }
    Ok(())
}

fn name_says_certificate(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "crt")
}

fn report(ctx: &Context, findings: &Findings, authorities: usize, certificates: u64) {
    if ctx.json {
        print_json(&json!({
            "ok": findings.problems.is_empty(),
            "authorities": authorities,
            "certificates": certificates,
            "problems": findings.problems,
            "warnings": findings.warnings,
            "repaired": findings.repaired,
        }));
        return;
    }
    for line in &findings.repaired {
        outln!("repaired: {line}");
    }
    for line in &findings.warnings {
        outln!("warning:  {line}");
    }
    for line in &findings.problems {
        outln!("PROBLEM:  {line}");
    }
    outln!(
        "{}: ledger sound, {authorities} CAs and {certificates} certificates checked, {} problem(s), {} warning(s)",
        if findings.problems.is_empty() { "ok" } else { "NOT OK" },
        findings.problems.len(),
        findings.warnings.len()
    );
}
