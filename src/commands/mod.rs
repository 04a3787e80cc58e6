//! One module per command: read the arguments, call the engine and the ledger, print.

/// `println!` for command output, without its panic on a closed pipe.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::commands::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for command output, without its panic on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::commands::write_stdout(format_args!($($arg)*))
    };
}

mod add_intermediate;
mod authority;
mod backup;
mod batch;
mod ca;
mod completions;
mod crl;
mod demo;
mod doctor;
mod export;
mod init;
mod issue;
mod list;
mod renew;
mod revoke;
mod show;
mod sign;
mod verify;

use std::path::PathBuf;

use crate::cli::{CaCommand, Cli, Command};
use crate::engine::SigningCa;
use crate::engine::policy::DnsConstraint;
use crate::error::{Error, Result};
use crate::home::Home;
use crate::keys::{KeyError, KeyPair};
use crate::ledger::{Authority, Ledger};
use crate::passphrase::PassphraseSource;
use zeroize::Zeroizing;

pub use export::Format as ExportFormat;

/// What every command gets from the global flags.
pub struct Context {
    pub home: PathBuf,
    pub json: bool,
    pub passphrase: PassphraseSource,
}

impl Context {
    /// Opens the existing home and its ledger.
    fn open(&self) -> Result<(Home, Ledger)> {
        let home = Home::open(&self.home)?;
        let ledger = Ledger::open(&home.ledger_path())?;
        Ok((home, ledger))
    }
}

/// Runs the command; returns the exit code for success paths (0, or 1 for a "no" verdict).
pub fn run(cli: Cli) -> Result<i32> {
    let ctx =
        Context { home: cli.home, json: cli.json, passphrase: PassphraseSource::ca(cli.passphrase_file) };
    match cli.command {
        Command::Init(args) => init::run(&ctx, &args),
        Command::Ca(CaCommand::List) => ca::list(&ctx),
        Command::Ca(CaCommand::Show { name }) => ca::show(&ctx, &name),
        Command::Ca(CaCommand::Cert { name }) => ca::cert(&ctx, name.as_deref()),
        Command::Ca(CaCommand::Configure { name, crl_next_update }) => {
            ca::configure(&ctx, &name, &crl_next_update)
        }
        Command::Ca(CaCommand::AddIntermediate {
            name,
            parent,
            path_len,
            permit_dns,
            key_type,
            validity,
            default,
        }) => add_intermediate::run(
            &ctx,
            &add_intermediate::AddIntermediateArgs {
                name: &name,
                parent: parent.as_deref(),
                path_len,
                permit_dns: &permit_dns,
                key_type,
                validity: validity.as_deref(),
                make_default: default,
            },
        ),
        Command::Issue(command) => issue::run(&ctx, &command),
        Command::Sign(args) => sign::run(&ctx, &args),
        Command::Revoke { serial, from_file, skip_unknown, reason, ca } => match (serial, from_file) {
            (Some(serial), None) => revoke::run(&ctx, &serial, &reason, ca.as_deref()),
            (None, Some(file)) => revoke::run_many(&ctx, &file, &reason, ca.as_deref(), skip_unknown),
            _ => Err(Error::usage("give either a SERIAL or --from-file FILE")),
        },
        Command::Crl { ca, out, der, next_update } => crl::run(
            &ctx,
            &crl::CrlArgs { ca: ca.as_deref(), out: out.as_ref(), der, next_update: next_update.as_deref() },
        ),
        Command::List { status, expiring_within, ca, profile } => list::run(
            &ctx,
            &list::ListArgs {
                status: &status,
                expiring_within: expiring_within.as_deref(),
                ca: ca.as_deref(),
                profile: profile.as_deref(),
            },
        ),
        Command::Show { certificate, pem } => show::run(&ctx, &certificate, pem),
        Command::Verify { cert, chain, ca, purpose, host, at } => verify::run(
            &ctx,
            &verify::VerifyArgs {
                cert: &cert,
                chain: chain.as_ref(),
                ca: ca.as_deref(),
                purpose,
                host: host.as_deref(),
                at: at.as_deref(),
            },
        ),
        Command::Backup { dir } => backup::run(&ctx, &dir),
        Command::Doctor { scan, repair } => doctor::run(&ctx, &scan, repair),
        Command::Demo { dir } => demo::run(&ctx, dir.as_deref()),
        Command::Completions { shell } => completions::completions(shell),
        Command::Man { out } => completions::man(out.as_deref()),
        Command::Export { certificate, format, key, out, legacy } => export::run(
            &ctx,
            &export::ExportArgs {
                certificate: &certificate,
                format,
                key: key.as_ref(),
                out: out.as_ref(),
                legacy,
            },
        ),
        Command::Renew { certificate, rekey, key_type, key, validity, revoke_old, out, force } => renew::run(
            &ctx,
            &renew::RenewArgs {
                certificate: &certificate,
                rekey,
                key_type,
                key: key.as_ref(),
                validity: validity.as_deref(),
                revoke_old,
                out: &out,
                force,
            },
        ),
    }
}

/// A CA by name, or the home's default issuing CA when no name is given.
fn find_authority(ledger: &Ledger, name: Option<&str>) -> Result<Authority> {
    match name {
        Some(name) => {
            ledger.authority_by_name(name)?.ok_or_else(|| Error::UnknownCa { name: name.to_string() })
        }
        None => ledger
            .default_authority()?
            .ok_or_else(|| Error::usage("this home has no default issuing CA; name one explicitly")),
    }
}

fn print_json(value: &serde_json::Value) {
    outln!("{value}");
}

/// Writes to stdout. A closed pipe (`pkictl list | head -1`) ends the process quietly with
/// exit status 1 where `println!` would panic; another write error is reported on stderr.
pub(crate) fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("pkictl: cannot write to standard output: {e}");
        }
        std::process::exit(crate::error::EXIT_FAILED);
    }
}

/// Unlocks a CA's key (asking for the passphrase only when the key is encrypted) and pairs
/// it with the CA's certificate.
fn load_signing_ca(ctx: &Context, home: &Home, ledger: &Ledger, authority: &Authority) -> Result<SigningCa> {
    unlock_ca(ctx, home, ledger, authority).map(|(ca, _)| ca)
}

/// `load_signing_ca`, also handing back the passphrase that unlocked the key (None when the
/// key is stored unencrypted) so a new CA key can be protected the same way.
fn unlock_ca(
    ctx: &Context,
    home: &Home,
    ledger: &Ledger,
    authority: &Authority,
) -> Result<(SigningCa, Option<Zeroizing<String>>)> {
    let path = home.resolve(&authority.key_file);
    let bytes = Zeroizing::new(crate::home::read_private_file(&path)?);
    let pem = std::str::from_utf8(&bytes)
        .map_err(|_| Error::usage(format!("{} is not a PEM key file", path.display())))?;
    let passphrase = if KeyPair::is_encrypted_pem(pem) {
        Some(ctx.passphrase.for_existing_key(&authority.name)?)
    } else {
        None
    };
    let key =
        KeyPair::from_pkcs8_pem(pem, passphrase.as_ref().map(|p| p.as_bytes())).map_err(|e| match e {
            KeyError::WrongPassphrase => Error::WrongPassphrase { ca: authority.name.clone() },
            source => Error::Key { what: format!("CA {} ({})", authority.name, path.display()), source },
        })?;
    let ca = crate::engine::ca::load_signing_ca(
        &authority.name,
        key,
        authority.ski.clone(),
        &authority.cert_der,
        authority.crl_url.clone(),
        name_constraints(ledger, authority)?,
    )?;
    Ok((ca, passphrase))
}

/// The DNS name constraints of a CA and each of its ancestors.
fn name_constraints(ledger: &Ledger, authority: &Authority) -> Result<Vec<DnsConstraint>> {
    let mut chain =
        vec![DnsConstraint { ca: authority.name.clone(), permitted: authority.permitted_dns.clone() }];
    let mut parent = authority.parent_id;
    while let Some(id) = parent {
        let ancestor = ledger.authority_by_id(id)?.ok_or_else(|| {
            Error::Internal(format!("a parent of CA {} is missing from the ledger", authority.name))
        })?;
        chain.push(DnsConstraint { ca: ancestor.name.clone(), permitted: ancestor.permitted_dns.clone() });
        parent = ancestor.parent_id;
    }
    Ok(chain)
}

/// What a user typed to name a certificate, after normalisation.
pub enum CertRef {
    /// Ledger form: 40 lower-case hex digits.
    Serial(String),
    /// 64 lower-case hex digits.
    Fingerprint(String),
    /// Not hex: can only be a name.
    NameOnly,
}

/// Reads a serial (hex, colons allowed, any case) or a SHA-256 fingerprint. Text that is not
/// hex is `NameOnly`; hex that cannot be a serial (zero, over 20 octets) is an error.
fn parse_cert_ref(text: &str) -> Result<CertRef> {
    let cleaned: String = text.trim().chars().filter(|c| *c != ':').collect::<String>().to_ascii_lowercase();
    let cleaned = cleaned.strip_prefix("0x").unwrap_or(&cleaned).to_string();
    if cleaned.starts_with('-') {
        return Err(Error::usage(format!("serial {text} is negative; serials are positive hex numbers")));
    }
    if cleaned.is_empty() || !cleaned.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(CertRef::NameOnly);
    }
    if cleaned.len() == 64 {
        return Ok(CertRef::Fingerprint(cleaned));
    }
    let significant = cleaned.trim_start_matches('0');
    if significant.is_empty() {
        return Err(Error::usage(format!("serial {text} is zero; serials are positive")));
    }
    if significant.len() > crate::engine::serial::LEDGER_HEX_WIDTH {
        return Err(Error::usage(format!(
            "serial {text} is longer than 20 octets (40 hex digits), the RFC 5280 limit"
        )));
    }
    Ok(CertRef::Serial(format!("{significant:0>40}")))
}

/// A ledger serial (40 zero-padded digits) as people read it: hex without leading zeros.
fn ledger_serial_hex(serial: &str) -> String {
    crate::engine::serial::Serial::from_ledger_hex(serial)
        .map(|s| s.hex())
        .unwrap_or_else(|| serial.to_string())
}

/// valid, revoked or expired (revoked wins: a revoked certificate stays revoked).
fn display_status(record: &crate::ledger::CertificateRecord, now: i64) -> &'static str {
    if record.status == "revoked" {
        "revoked"
    } else if record.not_after <= now {
        "expired"
    } else {
        "valid"
    }
}

/// The issuing CA and its parents up to, not including, the root.
fn chain_der(ledger: &Ledger, issuing: &Authority) -> Result<Vec<Vec<u8>>> {
    let mut chain = Vec::new();
    let mut current = issuing.clone();
    while let Some(parent_id) = current.parent_id {
        chain.push(current.cert_der.clone());
        current = ledger.authority_by_id(parent_id)?.ok_or_else(|| {
            Error::Internal(format!("the parent of CA {} is missing from the ledger", current.name))
        })?;
    }
    Ok(chain)
}

/// Reads a list given as FILE or `-` (stdin), as UTF-8 text of at most 256 MiB.
fn read_text_input(source: &std::path::Path) -> Result<String> {
    use std::io::Read;
    const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;
    let name = || {
        if source == std::path::Path::new("-") {
            "standard input".to_string()
        } else {
            source.display().to_string()
        }
    };
    let bytes = if source == std::path::Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::Read { path: "<stdin>".into(), source: e })?;
        buf
    } else {
        crate::home::read_user_file(source, crate::home::limits::LIST)?
    };
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(Error::usage(format!("{} is larger than 256 MiB", name())));
    }
    String::from_utf8(bytes).map_err(|e| {
        Error::usage(format!("{} is not UTF-8 text (byte {})", name(), e.utf8_error().valid_up_to()))
    })
}

/// The lines of a list that carry something: trimmed, without blanks and `#` comments, with
/// their 1-based line numbers.
fn list_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// A revoked or expired CA signs nothing (certificates or CRLs) that anyone should trust.
fn check_ca_usable(authority: &Authority, now: i64, action: &str) -> Result<()> {
    if authority.status == "revoked" {
        return Err(Error::usage(format!("CA {} is revoked and cannot {action}", authority.name)));
    }
    if authority.not_after <= now {
        return Err(Error::usage(format!(
            "CA {} expired {} and cannot {action}",
            authority.name,
            crate::engine::format_time(authority.not_after)
        )));
    }
    Ok(())
}
