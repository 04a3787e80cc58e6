//! One module per command: read the arguments, call the engine and the ledger, print.

mod ca;
mod init;
mod issue;
mod sign;

use std::path::PathBuf;

use crate::cli::{CaCommand, Cli, Command};
use crate::error::{Error, Result};
use crate::home::Home;
use crate::ledger::{Authority, Ledger};
use crate::passphrase::PassphraseSource;
use crate::engine::SigningCa;
use crate::keys::{KeyError, KeyPair};
use zeroize::Zeroizing;

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
    let ctx = Context {
        home: cli.home,
        json: cli.json,
        passphrase: PassphraseSource { file: cli.passphrase_file },
    };
    match cli.command {
        Command::Init(args) => init::run(&ctx, &args),
        Command::Ca(CaCommand::List) => ca::list(&ctx),
        Command::Ca(CaCommand::Show { name }) => ca::show(&ctx, &name),
        Command::Ca(CaCommand::Cert { name }) => ca::cert(&ctx, name.as_deref()),
        Command::Issue(command) => issue::run(&ctx, &command),
        Command::Sign(args) => sign::run(&ctx, &args),
    }
}

/// A CA by name, or the home's default issuing CA when no name is given.
fn find_authority(ledger: &Ledger, name: Option<&str>) -> Result<Authority> {
    match name {
        Some(name) => ledger
            .authority_by_name(name)?
            .ok_or_else(|| Error::UnknownCa { name: name.to_string() }),
        None => ledger
            .default_authority()?
            .ok_or_else(|| Error::usage("this home has no default issuing CA; name one explicitly")),
    }
}

fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

/// Unlocks a CA's key (asking for the passphrase only when the key is encrypted) and pairs
/// it with the CA's certificate.
fn load_signing_ca(ctx: &Context, home: &Home, authority: &Authority) -> Result<SigningCa> {
    let path = home.resolve(&authority.key_file);
    let bytes = Zeroizing::new(crate::home::read_private_file(&path)?);
    let pem = std::str::from_utf8(&bytes)
        .map_err(|_| Error::usage(format!("{} is not a PEM key file", path.display())))?;
    let passphrase = if KeyPair::is_encrypted_pem(pem) {
        Some(ctx.passphrase.for_existing_key(&authority.name)?)
    } else {
        None
    };
    let key = KeyPair::from_pkcs8_pem(pem, passphrase.as_ref().map(|p| p.as_bytes())).map_err(|e| match e {
        KeyError::WrongPassphrase => Error::WrongPassphrase { ca: authority.name.clone() },
        source => Error::Key { what: format!("CA {} ({})", authority.name, path.display()), source },
    })?;
    Ok(crate::engine::ca::load_signing_ca(
        &authority.name,
        key,
        authority.ski.clone(),
        &authority.cert_der,
        authority.crl_url.clone(),
    )?)
}
