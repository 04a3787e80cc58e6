//! `pkictl export SERIAL --format …`: hand a certificate out in the form its consumer needs,
//! re-created from the ledger (the source of truth).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use p12_keystore::{EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKeyChain};
use zeroize::Zeroizing;

use super::{Context, Outcome, PassphraseSource, print_json};
use crate::authority::Authority;
use crate::error::{Error, Result};
use crate::home::{self, KEY_MODE, PUBLIC_MODE};
use crate::x509::{CertInfo, certificate_pem};

/// Environment variable for the PKCS#12 password (kept apart from the CA passphrase).
pub const EXPORT_PASSPHRASE_ENV: &str = "PKICTL_EXPORT_PASSPHRASE";
/// OpenSSL 3 uses 2048 PBKDF2 iterations; we use more, which every reader accepts.
const P12_ITERATIONS: u32 = 10_000;
/// What legacy readers (Java 8, old Windows/macOS) expect: 3DES and an SHA-1 MAC.
const LEGACY_ITERATIONS: u32 = 2048;

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
}

pub fn run(ctx: &Context, args: &ExportArgs<'_>) -> Result<Outcome> {
    if args.format != Format::P12 && (args.key.is_some() || args.legacy) {
        return Err(Error::invalid("--key and --legacy only apply to --format p12"));
    }
    if let Some(out) = args.out {
        home::check_output_file(out)?;
    }
    let authority = ctx.authority()?;
    let record = authority.find_one(args.certificate)?;
    let der = authority.ledger().certificate_der(record.id)?;
    let bytes = match args.format {
        Format::Pem => Zeroizing::new(certificate_pem(&der).into_bytes()),
        Format::Der => Zeroizing::new(der.clone()),
        Format::Chain => Zeroizing::new(
            pem_bundle(&chain_of(&authority, record.issuer_id, record.authority_id)?).into_bytes(),
        ),
        Format::Fullchain => {
            let mut all = vec![der.clone()];
            all.extend(chain_of(&authority, record.issuer_id, record.authority_id)?);
            Zeroizing::new(pem_bundle(&all).into_bytes())
        }
        Format::P12 => p12(ctx, &authority, &record, &der, args)?,
    };
    let binary = matches!(args.format, Format::Der | Format::P12);
    match args.out {
        Some(path) => {
            let mode = if args.format == Format::P12 { KEY_MODE } else { PUBLIC_MODE };
            home::write_atomic(path, &bytes, mode)?;
            if ctx.json {
                print_json(&serde_json::json!({
                    "serial": record.serial.hex(),
                    "format": format!("{:?}", args.format).to_lowercase(),
                    "out": path,
                }));
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

/// The CAs above a certificate up to, not including, the root. For a CA's own certificate
/// the chain starts at its parent.
fn chain_of(authority: &Authority, issuer_id: i64, authority_id: Option<i64>) -> Result<Vec<Vec<u8>>> {
    let issuer = authority
        .ledger()
        .authority_by_id(issuer_id)?
        .ok_or_else(|| Error::Internal("the issuer is missing from the ledger".into()))?;
    if authority_id == Some(issuer_id) {
        return Ok(Vec::new()); // a root's own certificate
    }
    authority.chain_der(&issuer)
}

/// A PKCS#12 bundle of the certificate, its chain (not the root) and its private key.
fn p12(
    ctx: &Context,
    authority: &Authority,
    record: &crate::ledger::CertificateRecord,
    der: &[u8],
    args: &ExportArgs<'_>,
) -> Result<Zeroizing<Vec<u8>>> {
    let key_path = args.key.ok_or_else(|| {
        Error::invalid("--format p12 needs the private key: --key FILE (pkictl never keeps leaf keys)")
    })?;
    let key = crate::keys::read_plain_key(key_path)?;
    let info = CertInfo::from_der(der).map_err(|e| Error::Internal(e.to_string()))?;
    if key.public_key().bits() != info.public_key_bits.as_slice() {
        return Err(Error::invalid(format!(
            "{} is not the key of certificate {}",
            key_path.display(),
            record.serial.hex()
        )));
    }
    let source = PassphraseSource { file: ctx.passphrase.file.clone(), env_var: EXPORT_PASSPHRASE_ENV };
    let password = source.for_new_key("the PKCS#12 file")?;
    let p12_err = |e: p12_keystore::error::Error| Error::Internal(format!("PKCS#12 encoding failed: {e}"));
    let key_der =
        key.to_pkcs8_der().map_err(|source| Error::Key { what: key_path.display().to_string(), source })?;
    let private_key = p12_keystore::PrivateKey::from_der(&key_der).map_err(p12_err)?;
    let mut certs = vec![p12_keystore::Certificate::from_der(der).map_err(p12_err)?];
    for ca in chain_of(authority, record.issuer_id, record.authority_id)? {
        certs.push(p12_keystore::Certificate::from_der(&ca).map_err(p12_err)?);
    }
    let chain = PrivateKeyChain::new(info.subject_key_id.clone().unwrap_or_default(), private_key, certs);
    let mut store = KeyStore::new();
    let alias = record.common_name.clone().unwrap_or_else(|| "certificate".into());
    store.add_entry(&alias, KeyStoreEntry::PrivateKeyChain(chain));
    let writer = store.writer(&password);
    let writer = if args.legacy {
        writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .encryption_iterations(LEGACY_ITERATIONS)
            .mac_algorithm(MacAlgorithm::HmacSha1)
            .mac_iterations(LEGACY_ITERATIONS)
    } else {
        writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .encryption_iterations(P12_ITERATIONS)
            .mac_algorithm(MacAlgorithm::HmacSha256)
            .mac_iterations(P12_ITERATIONS)
    };
    writer.write().map(Zeroizing::new).map_err(p12_err)
}
