//! One module per command: arguments → typed request → `Authority` → rendered outcome.

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

mod acme;
mod add_intermediate;
mod agent;
mod backup;
mod batch;
mod ca;
mod completions;
mod crl;
mod demo;
mod demo_online;
mod doctor;
mod enroll;
mod export;
mod init;
mod issue;
mod ledger;
mod list;
mod renew;
mod revoke;
mod serve;
mod show;
mod sign;
mod token;
mod verify;

mod unlock;
mod words;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::authority::Authority;
use crate::cli::{CaCommand, Cli, Command};
use crate::error::{Error, Result};
use crate::home::Home;
use crate::ledger::Ledger;

pub use export::Format as ExportFormat;
pub use unlock::{CliUnlock, PassphraseSource};
pub use words::describe;

/// How a command that ran to its end came out: `main` turns it into the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done, or the answer is "yes".
    Success,
    /// The answer is "no" (a peer would refuse, a check found problems, something expires).
    Negative,
    /// Nothing to do yet (`agent --once`: renewal is not due).
    NotDue,
}

/// What every command gets from the global flags.
pub struct Context {
    pub home: PathBuf,
    pub json: bool,
    pub passphrase: PassphraseSource,
}

impl Context {
    /// Opens the home's CA; CA passphrases come from the CLI's sources when a key is needed.
    fn authority(&self) -> Result<Authority> {
        Authority::open(&self.home, Box::new(CliUnlock::new(self.passphrase.clone())))
    }

    /// [`Context::authority`] for commands that only read: it works on a read-only home.
    fn read_only_authority(&self) -> Result<Authority> {
        Authority::open_read_only(&self.home, Box::new(CliUnlock::new(self.passphrase.clone())))
    }

    /// Opens the existing home and its ledger, for commands that only read (read-only when the
    /// home cannot be written).
    fn open(&self) -> Result<(Home, Box<dyn Ledger>)> {
        let home = Home::open(&self.home)?;
        let ledger = home.open_ledger(crate::ledger::OpenMode::ReadOnly)?;
        Ok((home, ledger))
    }
}

/// Parses the command line. A refused argument gets clap's own report, except that a report
/// quoting a huge value (a 10,000-character `--key-type`) has that value cut to a prefix, as
/// every other message does.
pub fn parse_args() -> Cli {
    use clap::Parser;
    let e = match Cli::try_parse() {
        Ok(cli) => return cli,
        Err(e) => e,
    };
    let text = e.render().to_string();
    if !e.use_stderr() || text.lines().all(|l| l.chars().count() <= LONGEST_CLAP_LINE) {
        e.exit(); // --help, --version, and ordinary reports, in clap's colours
    }
    let shortened: Vec<String> =
        text.lines().map(|line| crate::error::one_line(&shorten_long_words(line))).collect();
    eprintln!("{}", shortened.join("\n"));
    std::process::exit(e.exit_code());
}

const LONGEST_CLAP_LINE: usize = 300;

/// Every run of more than 60 non-blank characters becomes its first 40, "…" and its length.
fn shorten_long_words(line: &str) -> String {
    line.split(' ')
        .map(|word| {
            if word.chars().count() > 60 { crate::error::excerpt(word).to_string() } else { word.to_string() }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the command; returns the exit code for success paths (0, or 1 for a "no" verdict).
pub fn run(cli: Cli) -> Result<Outcome> {
    // Before any passphrase or key is read: a core dump would hold them.
    if let Err(e) = crate::keys::forbid_core_dumps() {
        eprintln!("pkictl: warning: cannot disable core dumps ({e}); a crash could write secrets to disk");
    }
    let ctx =
        Context { home: cli.home, json: cli.json, passphrase: PassphraseSource::ca(cli.passphrase_file) };
    match cli.command {
        Command::Init(args) => init::run(&ctx, &args),
        Command::Ca(CaCommand::List) => ca::list(&ctx),
        Command::Ca(CaCommand::Show { name }) => ca::show(&ctx, &name),
        Command::Ca(CaCommand::Cert { name }) => ca::cert(&ctx, name.as_deref()),
        Command::Ca(CaCommand::Configure { name, crl_next_update, public_url, no_public_url }) => {
            let public_url = match (public_url, no_public_url) {
                (Some(url), _) => Some(Some(url)),
                (None, true) => Some(None),
                (None, false) => None,
            };
            ca::configure(&ctx, &name, crl_next_update.as_deref(), public_url)
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
            _ => Err(Error::invalid("give either a SERIAL or --from-file FILE")),
        },
        Command::Crl { ca, out, der, next_update } => crl::run(
            &ctx,
            &crl::CrlArgs { ca: ca.as_deref(), out: out.as_ref(), der, next_update: next_update.as_deref() },
        ),
        Command::Acme(command) => acme::run(&ctx, &command),
        Command::List { status, expiring_within, ca, profile, acme } => list::run(
            &ctx,
            &list::ListArgs {
                status: &status,
                expiring_within: expiring_within.as_deref(),
                ca: ca.as_deref(),
                profile: profile.as_deref(),
                acme: acme.as_deref(),
            },
        ),
        Command::Show { certificate, pem } => show::run(&ctx, &certificate, pem),
        Command::Serve(args) => serve::run(&ctx, &args),
        Command::Token(command) => token::run(&ctx, &command),
        Command::Enroll(args) => enroll::run(&ctx, &args),
        Command::Agent(args) => agent::run(&ctx, &args),
        Command::Verify { cert, chain, ca, trust, crl, purpose, host, at, max_depth } => verify::run(
            &ctx,
            &verify::VerifyArgs {
                cert: &cert,
                chain: chain.as_ref(),
                ca: ca.as_deref(),
                trust: trust.as_ref(),
                crls: &crl,
                purpose,
                host: host.as_deref(),
                at: at.as_deref(),
                max_depth,
            },
        ),
        Command::Ledger(crate::cli::LedgerCommand::Migrate { to }) => ledger::migrate(&ctx, &to),
        Command::Backup { dir } => backup::run(&ctx, &dir),
        Command::Doctor { scan, repair } => doctor::run(&ctx, &scan, repair),
        Command::Demo { dir } => demo::run(&ctx, dir.as_deref()),
        Command::Completions { shell } => completions::completions(shell),
        Command::Man { out } => completions::man(out.as_deref()),
        Command::Export { certificate, format, key, out, legacy, p12_passphrase_file } => export::run(
            &ctx,
            &export::ExportArgs {
                certificate: &certificate,
                format,
                key: key.as_ref(),
                out: out.as_ref(),
                legacy,
                p12_passphrase_file: p12_passphrase_file.as_ref(),
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

fn print_json(value: &serde_json::Value) {
    outln!("{value}");
}

/// Set when standard output is closed or broken: `main` then exits 1 quietly.
static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);

/// Whether a write to standard output failed (a closed pipe: `pkictl list | head -1`).
pub fn stdout_failed() -> bool {
    STDOUT_FAILED.load(Ordering::Relaxed)
}

/// Writes to stdout without `println!`'s panic on a closed pipe: the first failure is
/// remembered (and reported on stderr unless the pipe was closed), later output is dropped.
pub(crate) fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if stdout_failed() {
        return;
    }
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("pkictl: cannot write to standard output: {}", crate::error::io_words(&e));
        }
        STDOUT_FAILED.store(true, Ordering::Relaxed);
    }
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
        crate::home::read_input(source, crate::home::limits::LIST_FILE)?
    };
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(Error::invalid(format!("{} is larger than 256 MiB", name())));
    }
    String::from_utf8(bytes).map_err(|e| {
        Error::invalid(format!("{} is not UTF-8 text (byte {})", name(), e.utf8_error().valid_up_to()))
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
