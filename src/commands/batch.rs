//! `pkictl issue … --batch FILE|-`: many certificates, one per line (`NAME` or
//! `NAME,SAN,SAN…`). The whole file is validated before anything is issued; the library
//! then unlocks the CA once and signs on every core.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::issue::files_json;
use super::{Context, Outcome, list_lines, read_text_input};
use crate::authority::{BatchIssued, BatchItem, BatchRequest, OutputDir, leaf_names, validate_common_name};
use crate::cli::IssueOptions;
use crate::duration::parse_duration;
use crate::engine::format_time;
use crate::engine::profile::Profile;
use crate::error::{Error, Result};
use crate::keys::KeyType;
use crate::ledger::CaRecord;
use crate::names::{self, San};

pub fn run(ctx: &Context, profile: Profile, source: &Path, options: &IssueOptions) -> Result<Outcome> {
    let text = read_text_input(source)?;
    let items = parse_lines(&text, profile)?;
    if items.is_empty() {
        return Err(Error::invalid(format!("{} holds no names", display_source(source))));
    }
    let validity =
        parse_duration(&options.validity).map_err(|e| Error::invalid(format!("--validity: {e}")))?;
    crate::home::check_output_dir(&options.out)?;
    let request = BatchRequest {
        profile,
        items,
        key_type: options.key_type.unwrap_or(KeyType::P256),
        validity,
        ca: options.ca.clone(),
        out: OutputDir { dir: options.out.clone(), force: options.force },
    };
    let mut authority = ctx.authority()?;
    let progress = Progress::new(request.items.len(), ctx.json);
    let started = Instant::now();
    let issuer = authority.issue_batch(&request, &mut |issuer, chunk| {
        if ctx.json {
            for issued in chunk {
                outln!("{}", certificate_json(profile, issuer, issued));
            }
        }
        progress.advance(chunk.len());
    })?;
    progress.finish();
    if !ctx.json {
        let seconds = started.elapsed().as_secs_f64();
        outln!(
            "Issued {} {profile} certificates from {} in {seconds:.2} s ({:.0}/s); files in {}",
            request.items.len(),
            issuer.name,
            request.items.len() as f64 / seconds.max(1e-9),
            options.out.display()
        );
    }
    Ok(Outcome::Success)
}

fn display_source(source: &Path) -> String {
    if source == Path::new("-") { "standard input".into() } else { source.display().to_string() }
}

/// Every line validated up front: a bad line stops the batch before anything is issued.
fn parse_lines(text: &str, profile: Profile) -> Result<Vec<BatchItem>> {
    let mut items = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (number, line) in list_lines(text) {
        let item = parse_line(line, profile)
            .map_err(|e| Error::invalid(format!("line {number}: {}", super::describe(&e))))?;
        let key = item.common_name.to_ascii_lowercase();
        if let Some(first) = seen.insert(key, number) {
            return Err(Error::invalid(format!(
                "line {number}: \"{}\" repeats line {first} (each NAME names its own files)",
                item.common_name
            )));
        }
        items.push(item);
    }
    Ok(items)
}

/// `NAME` or `NAME,SAN,SAN…`; a SAN is an IP address, a URI (with "://"), an email (with
/// "@"), or else a DNS name.
fn parse_line(line: &str, profile: Profile) -> Result<BatchItem> {
    let mut fields = line.split(',').map(str::trim);
    let common_name = validate_common_name(fields.next().unwrap_or_default())?;
    let extra = fields
        .filter(|f| !f.is_empty())
        .map(|f| typed_san(f).map_err(Error::from))
        .collect::<Result<Vec<_>>>()?;
    let sans = leaf_names(profile, &common_name, extra)?;
    Ok(BatchItem { common_name, sans })
}

fn typed_san(field: &str) -> std::result::Result<San, names::NameError> {
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

fn certificate_json(profile: Profile, issuer: &CaRecord, issued: &BatchIssued<'_>) -> serde_json::Value {
    let info = &issued.certificate.info;
    json!({
        "profile": profile.as_str(),
        "serial": info.serial.hex(),
        "subject": info.subject,
        "common_name": issued.item.common_name,
        "sans": issued.item.sans.iter().map(San::to_string).collect::<Vec<_>>(),
        "issuer": issuer.name,
        "not_before": format_time(info.not_before),
        "not_after": format_time(info.not_after),
        "fingerprint_sha256": info.fingerprint_sha256,
        "files": files_json(Some(issued.files)),
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
