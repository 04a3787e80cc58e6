//! `pkictl issue … --batch FILE|-`: many certificates, one per line (`NAME` or
//! `NAME,SAN,SAN…`). The whole file is validated before anything is issued; the CA key is
//! unlocked once; keys are made and signed on every core; the ledger commits in chunks, each
//! chunk before its files are written.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::issue::{
    OutputFiles, PendingFile, allowed_in, check_sans, record_leaf, validate_common_name, write_pending,
};
use super::{
    Context, chain_der, check_ca_usable, find_authority, list_lines, load_signing_ca, read_text_input,
};
use crate::cli::IssueOptions;
use crate::duration::parse_duration;
use crate::engine::leaf::{LeafRequest, build_leaf};
use crate::engine::profile::Profile;
use crate::engine::{self, Signed, SigningCa, format_time};
use crate::error::{Error, Result};
use crate::keys::{KeyPair, KeyType};
use crate::ledger::{Authority, Ledger, LedgerError};
use crate::names::{self, San};

/// Certificates per ledger transaction (and per directory fsync).
const CHUNK: usize = 512;

/// One validated line.
struct Item {
    common_name: String,
    sans: Vec<San>,
}

/// One issued certificate of the batch, before it is recorded and written.
struct Made {
    key: KeyPair,
    signed: Signed,
}

pub fn run(ctx: &Context, profile: Profile, source: &Path, options: &IssueOptions) -> Result<i32> {
    let text = read_text_input(source)?;
    let items = parse_lines(&text, profile)?;
    if items.is_empty() {
        return Err(Error::usage(format!("{} holds no names", display_source(source))));
    }
    let validity = parse_duration(&options.validity).map_err(|e| Error::usage(format!("--validity: {e}")))?;
    let key_type = options.key_type.unwrap_or(KeyType::P256);
    crate::home::check_output_dir(&options.out)?;
    let files: Vec<OutputFiles> =
        items.iter().map(|i| OutputFiles::new(&options.out, &i.common_name, true)).collect();
    for (number, f) in files.iter().enumerate() {
        f.check_free(options.force).map_err(|e| Error::usage(format!("line {}: {e}", number + 1)))?;
    }
    let (home, mut ledger) = ctx.open()?;
    let authority = find_authority(&ledger, options.ca.as_deref())?;
    let now = engine::now();
    check_ca_usable(&authority, now.unix_timestamp(), "issue certificates")?;
    let ca = load_signing_ca(ctx, &home, &ledger, &authority)?;
    let chain = chain_der(&ledger, &authority)?;
    let batch = Batch { profile, key_type, validity, now, ca: &ca, authority: &authority, chain: &chain };
    let progress = Progress::new(items.len(), ctx.json);
    let started = Instant::now();
    // Signing the next chunk overlaps recording and writing this one.
    std::thread::scope(|scope| -> Result<()> {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Result<Vec<Made>>>(1);
        let batch = &batch;
        let items = &items;
        scope.spawn(move || {
            for chunk in items.chunks(CHUNK) {
                if sender.send(batch.make(chunk)).is_err() {
                    break; // the consumer stopped on an error
                }
            }
        });
        for (chunk, chunk_files) in items.chunks(CHUNK).zip(files.chunks(CHUNK)) {
            let mut made =
                receiver.recv().map_err(|_| Error::Internal("the signing thread stopped".into()))??;
            batch.record(&mut ledger, chunk, &mut made)?;
            batch.write(chunk_files, &made)?;
            if ctx.json {
                for ((item, m), f) in chunk.iter().zip(&made).zip(chunk_files) {
                    outln!("{}", certificate_json(profile, item, m, &authority, f));
                }
            }
            progress.advance(chunk.len());
        }
        Ok(())
    })?;
    progress.finish();
    if !ctx.json {
        let seconds = started.elapsed().as_secs_f64();
        outln!(
            "Issued {} {profile} certificates from {} in {seconds:.2} s ({:.0}/s); files in {}",
            items.len(),
            authority.name,
            items.len() as f64 / seconds.max(1e-9),
            options.out.display()
        );
    }
    Ok(0)
}

fn display_source(source: &Path) -> String {
    if source == Path::new("-") { "standard input".into() } else { source.display().to_string() }
}

/// Every line validated up front: a bad line stops the batch before anything is issued.
fn parse_lines(text: &str, profile: Profile) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (number, line) in list_lines(text) {
        let item =
            parse_line(line, profile).map_err(|e| Error::usage(format!("line {number}: {}", message(e))))?;
        let key = item.common_name.to_ascii_lowercase();
        if let Some(first) = seen.insert(key, number) {
            return Err(Error::usage(format!(
                "line {number}: \"{}\" repeats line {first} (each NAME names its own files)",
                item.common_name
            )));
        }
        items.push(item);
    }
    Ok(items)
}

fn message(e: Error) -> String {
    match e {
        Error::Usage(m) => m,
        other => other.to_string(),
    }
}

/// `NAME` or `NAME,SAN,SAN…`; a SAN is an IP address, a URI (with "://"), an email (with
/// "@"), or else a DNS name.
fn parse_line(line: &str, profile: Profile) -> Result<Item> {
    let mut fields = line.split(',').map(str::trim);
    let common_name = validate_common_name(fields.next().unwrap_or_default())?;
    let mut sans = Vec::new();
    if let Some(san) = names::san_from_name(&common_name, profile == Profile::Client) {
        sans.push(san);
    }
    for field in fields.filter(|f| !f.is_empty()) {
        let san = typed_san(field).map_err(Error::Usage)?;
        if !allowed_in(profile, &san) {
            return Err(Error::usage(format!("a {profile} certificate cannot carry {san}")));
        }
        names::push_unique(&mut sans, san);
    }
    check_sans(profile, &common_name, &sans)?;
    Ok(Item { common_name, sans })
}

fn typed_san(field: &str) -> std::result::Result<San, String> {
    if let Ok(ip) = field.parse::<std::net::IpAddr>() {
        return Ok(San::Ip(ip));
    }
    if field.contains("://") {
        return names::parse_uri(field).map(San::Uri);
    }
    if field.contains('@') {
        return names::parse_email(field).map(San::Email);
    }
    names::parse_dns(field).map(San::Dns)
}

struct Batch<'a> {
    profile: Profile,
    key_type: KeyType,
    validity: time::Duration,
    now: time::OffsetDateTime,
    ca: &'a SigningCa,
    authority: &'a Authority,
    chain: &'a [Vec<u8>],
}

impl Batch<'_> {
    /// Keys and signatures for a chunk, on every core.
    fn make(&self, chunk: &[Item]) -> Result<Vec<Made>> {
        let workers =
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(chunk.len()).max(1);
        let per_worker = chunk.len().div_ceil(workers);
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .chunks(per_worker)
                .enumerate()
                .map(|(part_index, part)| {
                    scope.spawn(move || {
                        let verify_first = |i: usize| part_index == 0 && i == 0;
                        part.iter()
                            .enumerate()
                            .map(|(i, item)| self.make_one(item, verify_first(i)))
                            .collect::<Result<Vec<_>>>()
                    })
                })
                .collect();
            let mut made = Vec::with_capacity(chunk.len());
            for handle in handles {
                let part =
                    handle.join().map_err(|_| Error::Internal("a signing thread panicked".into()))??;
                made.extend(part);
            }
            Ok(made)
        })
    }

    /// One key and certificate; `verify` also checks the new signature (once per chunk).
    fn make_one(&self, item: &Item, verify: bool) -> Result<Made> {
        let key = KeyPair::generate(self.key_type)
            .map_err(|source| Error::Key { what: item.common_name.clone(), source })?;
        let signed = build_leaf(&self.request(item, &key.public_key(), verify), self.ca)?;
        Ok(Made { key, signed })
    }

    fn request<'r>(
        &self,
        item: &'r Item,
        public_key: &'r crate::keys::PublicKey,
        verify: bool,
    ) -> LeafRequest<'r> {
        LeafRequest {
            profile: self.profile,
            common_name: &item.common_name,
            sans: &item.sans,
            public_key,
            validity: self.validity,
            now: self.now,
            verify_signature: verify,
        }
    }

    /// One transaction for the chunk. A serial collision (never seen, but possible) re-signs
    /// that certificate and retries the chunk, so no serial is ever issued twice.
    fn record(&self, ledger: &mut Ledger, chunk: &[Item], made: &mut [Made]) -> Result<()> {
        for _ in 0..3 {
            let now = engine::now().unix_timestamp();
            let outcome = ledger.write(|tx| {
                for (item, m) in chunk.iter().zip(made.iter()) {
                    let public_key = m.key.public_key();
                    record_leaf(
                        tx,
                        &m.signed,
                        &self.request(item, &public_key, false),
                        self.authority,
                        "generated",
                        None,
                        now,
                    )?;
                }
                Ok(())
            });
            match outcome {
                Ok(()) => return Ok(()),
                Err(LedgerError::DuplicateSerial { serial }) => {
                    let index = made.iter().position(|m| m.signed.info.serial.ledger_hex() == serial);
                    let Some(index) = index else {
                        return Err(LedgerError::DuplicateSerial { serial }.into());
                    };
                    let public_key = made[index].key.public_key();
                    made[index].signed =
                        build_leaf(&self.request(&chunk[index], &public_key, true), self.ca)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Internal("could not draw unique serial numbers".into()))
    }

    fn write(&self, files: &[OutputFiles], made: &[Made]) -> Result<()> {
        let Some(dir) = files.first().map(|f| f.dir.clone()) else { return Ok(()) };
        let mut pending: Vec<PendingFile> = Vec::with_capacity(files.len() * 4);
        for (f, m) in files.iter().zip(made) {
            pending.extend(f.contents(&m.signed, Some(&m.key), self.chain)?);
        }
        write_pending(&dir, &pending, std::iter::empty())
    }
}

fn certificate_json(
    profile: Profile,
    item: &Item,
    m: &Made,
    authority: &Authority,
    files: &OutputFiles,
) -> serde_json::Value {
    let info = &m.signed.info;
    json!({
        "profile": profile.as_str(),
        "serial": info.serial.hex(),
        "subject": info.subject,
        "common_name": item.common_name,
        "sans": item.sans.iter().map(San::to_string).collect::<Vec<_>>(),
        "issuer": authority.name,
        "not_before": format_time(info.not_before),
        "not_after": format_time(info.not_after),
        "fingerprint_sha256": info.fingerprint_sha256,
        "files": files.to_json(),
    })
}

/// A progress bar on a terminal (stderr), nothing otherwise.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(total: usize, json: bool) -> Progress {
        if json || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} certificates, {per_sec}, {eta} left",
        ) {
            bar.set_style(style);
        }
        Progress(Some(bar))
    }

    fn advance(&self, n: usize) {
        if let Some(bar) = &self.0 {
            bar.inc(n as u64);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
