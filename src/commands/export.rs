//! `pkictl export SERIAL --format …`: hand a certificate out in the form its consumer needs,
//! re-created from the ledger (the source of truth).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{Context, Outcome, PassphraseSource, print_json};
use crate::authority::{Authority, Pkcs12Request};
use crate::error::{Error, Result};
use crate::home::{self, KEY_MODE, PUBLIC_MODE};
use crate::keys::Pkcs12Encryption;
use crate::ledger::CertificateRecord;
use crate::x509::certificate_pem;

/// Environment variable for the PKCS#12 password (never the CA passphrase's).
pub const P12_PASSPHRASE_ENV: &str = "PKICTL_P12_PASSPHRASE";
/// The flag for the PKCS#12 password file.
pub const P12_PASSPHRASE_FLAG: &str = "--p12-passphrase-file";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Pem,
    Der,
    Chain,
    Fullchain,
    P12,
}

pub struct ExportArgs<'a> {
    pub certificate: &'a str,
    pub format: Format,
    pub key: Option<&'a PathBuf>,
    pub out: Option<&'a PathBuf>,
    pub legacy: bool,
    pub p12_passphrase_file: Option<&'a PathBuf>,
}

pub fn run(ctx: &Context, args: &ExportArgs<'_>) -> Result<Outcome> {
    if args.format != Format::P12 && (args.key.is_some() || args.legacy || args.p12_passphrase_file.is_some())
    {
        return Err(Error::invalid("--key, --legacy and --p12-passphrase-file only apply to --format p12"));
    }
    let authority = ctx.read_only_authority()?;
    if let Some(out) = args.out {
        home::check_output_file(out)?;
        authority.home().refuse_inside(out)?;
    }
    let record = authority.find_one(args.certificate)?;
    let bytes = match args.format {
        Format::Pem => {
            Zeroizing::new(certificate_pem(&authority.ledger().certificate_der(record.id)?).into_bytes())
        }
        Format::Der => Zeroizing::new(authority.ledger().certificate_der(record.id)?),
        Format::Chain => Zeroizing::new(pem_bundle(&authority.certificate_chain(&record)?).into_bytes()),
        Format::Fullchain => {
            let mut all = vec![authority.ledger().certificate_der(record.id)?];
            all.extend(authority.certificate_chain(&record)?);
            Zeroizing::new(pem_bundle(&all).into_bytes())
        }
        Format::P12 => p12(ctx, &authority, &record, args)?,
    };
    let binary = matches!(args.format, Format::Der | Format::P12);
    match args.out {
        Some(path) => {
            let mode = if args.format == Format::P12 { KEY_MODE } else { PUBLIC_MODE };
            home::write_atomic(path, &bytes, mode)?;
            let format = format!("{:?}", args.format).to_lowercase();
            if ctx.json {
                print_json(
                    &serde_json::json!({ "serial": record.serial.hex(), "format": format, "out": path }),
                );
            } else {
                eprintln!("wrote {} of certificate {} to {}", format, record.serial.hex(), path.display());
            }
        }
        None if ctx.json => {
            return Err(Error::invalid("--json needs --out FILE: the export itself would be on stdout"));
        }
        None if binary && std::io::stdout().is_terminal() => {
            return Err(Error::invalid("this format is binary; give --out FILE or redirect stdout"));
        }
        None => {
            std::io::stdout()
                .write_all(&bytes)
                .map_err(|source| Error::Write { path: PathBuf::from("<stdout>"), source })?;
        }
    }
    Ok(Outcome::Success)
}

fn pem_bundle(ders: &[Vec<u8>]) -> String {
    ders.iter().map(|d| certificate_pem(d)).collect()
}

/// A PKCS#12 bundle of the certificate, its chain (not the root) and its private key,
/// protected by its own password.
fn p12(
    ctx: &Context,
    authority: &Authority,
    record: &CertificateRecord,
    args: &ExportArgs<'_>,
) -> Result<Zeroizing<Vec<u8>>> {
    let key_file = args.key.ok_or_else(|| {
        Error::invalid("--format p12 needs the private key: --key FILE (pkictl never keeps leaf keys)")
    })?;
    let password = || p12_password(ctx, args.p12_passphrase_file);
    let encryption = if args.legacy { Pkcs12Encryption::Legacy } else { Pkcs12Encryption::Modern };
    authority.export_pkcs12(&Pkcs12Request { certificate: record, key_file, password: &password, encryption })
}

/// The PKCS#12 password from its own sources, refused when it is the CA passphrase (as far as
/// the CA passphrase is known without asking for it).
fn p12_password(ctx: &Context, file: Option<&PathBuf>) -> Result<Zeroizing<String>> {
    let what = "the PKCS#12 file";
    if let (Some(p12_file), Some(ca_file)) = (file, ctx.passphrase.file.as_ref())
        && same_file(p12_file, ca_file)
    {
        return Err(Error::SecretIsCaPassphrase { what: what.into(), file: Some(p12_file.clone()) });
    }
    let source = PassphraseSource::new(file.cloned(), P12_PASSPHRASE_FLAG, P12_PASSPHRASE_ENV);
    let password = source.for_new_key(what)?;
    if ctx.passphrase.known()?.is_some_and(|ca| *ca == *password) {
        return Err(Error::SecretIsCaPassphrase { what: what.into(), file: None });
    }
    Ok(password)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
