//! `pkictl issue server|client|peer`: names and key from the arguments → `Authority::issue`
//! → the report. `sign` and `renew` render their outcome with the same report.

use std::path::Path;

use serde_json::json;

use super::{Context, Outcome, print_json};
use crate::authority::{
    IssueRequest, Issued, KeySource, OutputDir, OutputFiles, read_csr, validate_common_name,
};
use crate::cli::{ClientArgs, IssueCommand, PeerArgs, ServerArgs};
use crate::duration::parse_duration;
use crate::engine::profile::Profile;
use crate::engine::{self, format_time};
use crate::error::{Error, Result};
use crate::keys::KeyType;
use crate::names::{self, San};

/// Names given on the command line, by kind.
#[derive(Default)]
pub struct NameFlags<'a> {
    pub dns: &'a [String],
    pub ip: &'a [String],
    pub email: &'a [String],
    pub uri: &'a [String],
}

impl NameFlags<'_> {
    /// The names as SANs, each validated; duplicates count once.
    pub fn parse(&self) -> Result<Vec<San>> {
        let mut sans = Vec::new();
        for d in self.dns {
            names::push_unique(&mut sans, San::Dns(names::parse_dns(d)?));
        }
        for ip in self.ip {
            names::push_unique(&mut sans, San::Ip(names::parse_ip(ip)?));
        }
        for e in self.email {
            names::push_unique(&mut sans, San::Email(names::parse_email(e)?));
        }
        for u in self.uri {
            names::push_unique(&mut sans, San::Uri(names::parse_uri(u)?));
        }
        Ok(sans)
    }
}

pub fn run(ctx: &Context, command: &IssueCommand) -> Result<Outcome> {
    let (profile, name, flags, options) = match command {
        IssueCommand::Server(ServerArgs { name, dns, ip, options }) => {
            (Profile::Server, name, NameFlags { dns, ip, ..Default::default() }, options)
        }
        IssueCommand::Client(ClientArgs { name, email, uri, dns, options }) => {
            (Profile::Client, name, NameFlags { dns, email, uri, ..Default::default() }, options)
        }
        IssueCommand::Peer(PeerArgs { name, dns, ip, uri, options }) => {
            (Profile::Peer, name, NameFlags { dns, ip, uri, ..Default::default() }, options)
        }
    };
    if let Some(source) = &options.batch {
        return super::batch::run(ctx, profile, source, options);
    }
    let name = name.as_deref().ok_or_else(|| Error::invalid("a NAME is required (or --batch FILE)"))?;
    if options.csr.is_some() && options.key_type.is_some() {
        return Err(Error::invalid(
            "--key-type makes a new key; with --csr the CSR's key is certified, so leave --key-type out",
        ));
    }
    let csr = options.csr.as_deref().map(read_csr).transpose()?;
    let key = match csr {
        Some(c) => KeySource::Csr(Box::new(c)),
        None => KeySource::Generate(options.key_type.unwrap_or(KeyType::P256)),
    };
    let request = leaf_request(
        profile,
        Some(name),
        &flags,
        key,
        &options.validity,
        options.ca.clone(),
        &options.out,
        options.force,
    )?;
    issue(ctx, request)
}

/// The request for one leaf, from the arguments `issue` and `sign` share.
#[allow(clippy::too_many_arguments)]
pub fn leaf_request(
    profile: Profile,
    name: Option<&str>,
    flags: &NameFlags<'_>,
    key: KeySource,
    validity: &str,
    ca: Option<String>,
    out: &Path,
    force: bool,
) -> Result<IssueRequest> {
    let validity = parse_duration(validity).map_err(|e| Error::invalid(format!("--validity: {e}")))?;
    if let Some(name) = name {
        validate_common_name(name)?;
    }
    Ok(IssueRequest {
        profile,
        name: name.map(str::to_string),
        sans: flags.parse()?,
        key,
        validity,
        ca,
        out: Some(OutputDir { dir: out.to_path_buf(), force }),
    })
}

/// Issues, then prints the warnings and the report.
pub fn issue(ctx: &Context, request: IssueRequest) -> Result<Outcome> {
    let issued = ctx.authority()?.issue(request)?;
    print_warnings(&issued);
    report(ctx, &issued);
    Ok(Outcome::Success)
}

pub fn print_warnings(issued: &Issued) {
    for warning in &issued.warnings {
        eprintln!("warning: {}", crate::error::one_line(&warning.to_string()));
    }
}

pub fn files_json(files: Option<&OutputFiles>) -> serde_json::Value {
    match files {
        Some(f) => json!({
            "certificate": f.certificate,
            "key": f.key,
            "chain": f.chain,
            "fullchain": f.fullchain,
        }),
        None => serde_json::Value::Null,
    }
}

pub fn report(ctx: &Context, issued: &Issued) {
    let info = &issued.certificate.info;
    let sans: Vec<String> = issued.sans.iter().map(San::to_string).collect();
    let days = (info.not_after - engine::now().unix_timestamp()) / 86_400;
    if ctx.json {
        print_json(&json!({
            "profile": issued.profile.as_str(),
            "serial": info.serial.hex(),
            "subject": info.subject,
            "common_name": issued.common_name,
            "sans": sans,
            "issuer": issued.issuer.name,
            "key_type": issued.public_key.key_type().as_str(),
            "not_before": format_time(info.not_before),
            "not_after": format_time(info.not_after),
            "fingerprint_sha256": info.fingerprint_sha256,
            "files": files_json(issued.files.as_ref()),
            "warnings": issued.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }));
        return;
    }
    outln!("Issued {} certificate \"{}\"", issued.profile, issued.common_name);
    outln!("  subject     {}", info.subject);
    outln!("  SANs        {}", sans.join(", "));
    outln!("  issuer      {}", issued.issuer.name);
    let origin = if issued.files.as_ref().is_some_and(|f| f.key.is_some()) || issued.private_key.is_some() {
        "new, generated by pkictl"
    } else {
        "the holder's own"
    };
    outln!("  key         {} ({origin})", issued.public_key.key_type());
    outln!("  serial      {}", info.serial.hex());
    outln!("  not after   {} ({days} days)", format_time(info.not_after));
    outln!("  SHA-256     {}", info.fingerprint_sha256);
    for path in issued.files.iter().flat_map(OutputFiles::all) {
        outln!("  wrote       {}", path.display());
    }
}
