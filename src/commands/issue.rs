//! `pkictl issue server|client|peer` and the issuance path `sign` shares: check, sign,
//! record in the ledger, then write the files.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Context, chain_der, check_ca_usable, find_authority, load_signing_ca, print_json};
use crate::cli::{ClientArgs, IssueCommand, IssueOptions, PeerArgs, ServerArgs};
use crate::duration::parse_duration;
use crate::engine::csr::{self, RequestedSan, VerifiedCsr};
use crate::engine::leaf::{LeafRequest, build_leaf};
use crate::engine::profile::Profile;
use crate::engine::{self, Signed, format_time};
use crate::error::{Error, Result};
use crate::home::{self, Home, KEY_MODE, PUBLIC_MODE};
use crate::keys::{KeyPair, KeyType, PublicKey};
use crate::ledger::{Authority, Ledger, LedgerError, NewCertificate, Tx};
use crate::names::{self, MAX_SANS, San};
use crate::x509::certificate_pem;
use zeroize::Zeroizing;

/// X.520 upper bound for a commonName.
const MAX_CN_LEN: usize = 64;
/// Beyond this many files, one syncfs beats an fsync per file.
const MANY_FILES: usize = 16;
/// A serial collision is astronomically rare; retrying a few times makes it harmless.
const SERIAL_ATTEMPTS: usize = 3;

/// Names given on the command line, by kind.
#[derive(Default)]
pub struct NameFlags<'a> {
    pub dns: &'a [String],
    pub ip: &'a [String],
    pub email: &'a [String],
    pub uri: &'a [String],
}

impl NameFlags<'_> {
    fn is_empty(&self) -> bool {
        self.dns.is_empty() && self.ip.is_empty() && self.email.is_empty() && self.uri.is_empty()
    }

    fn parse(&self) -> Result<Vec<San>> {
        let mut sans = Vec::new();
        for d in self.dns {
            names::push_unique(&mut sans, San::Dns(names::parse_dns(d).map_err(Error::Usage)?));
        }
        for ip in self.ip {
            names::push_unique(&mut sans, San::Ip(names::parse_ip(ip).map_err(Error::Usage)?));
        }
        for e in self.email {
            names::push_unique(&mut sans, San::Email(names::parse_email(e).map_err(Error::Usage)?));
        }
        for u in self.uri {
            names::push_unique(&mut sans, San::Uri(names::parse_uri(u).map_err(Error::Usage)?));
        }
        Ok(sans)
    }
}

/// Where the certified key comes from.
pub enum KeySource {
    Generate(KeyType),
    Csr(Box<VerifiedCsr>),
    /// A key certified before (renewal without rekey); `origin` is how it first came in.
    Existing {
        key: PublicKey,
        origin: &'static str,
    },
}

/// A fully validated leaf request.
pub struct LeafPlan {
    pub profile: Profile,
    pub common_name: String,
    pub sans: Vec<San>,
    pub key: KeySource,
    pub validity: time::Duration,
    pub ca: Option<String>,
    pub out: PathBuf,
    pub force: bool,
    pub warnings: Vec<String>,
    /// The ledger id of the certificate this one renews.
    pub renewed_from: Option<i64>,
}

pub fn run(ctx: &Context, command: &IssueCommand) -> Result<i32> {
    let (profile, options) = match command {
        IssueCommand::Server(a) => (Profile::Server, &a.options),
        IssueCommand::Client(a) => (Profile::Client, &a.options),
        IssueCommand::Peer(a) => (Profile::Peer, &a.options),
    };
    if let Some(source) = &options.batch {
        return super::batch::run(ctx, profile, source, options);
    }
    let plan = match command {
        IssueCommand::Server(ServerArgs { name, dns, ip, options }) => {
            let flags = NameFlags { dns, ip, ..Default::default() };
            plan_from_issue(Profile::Server, name, &flags, options)?
        }
        IssueCommand::Client(ClientArgs { name, email, uri, dns, options }) => {
            let flags = NameFlags { dns, email, uri, ..Default::default() };
            plan_from_issue(Profile::Client, name, &flags, options)?
        }
        IssueCommand::Peer(PeerArgs { name, dns, ip, uri, options }) => {
            let flags = NameFlags { dns, ip, uri, ..Default::default() };
            plan_from_issue(Profile::Peer, name, &flags, options)?
        }
    };
    issue(ctx, plan)
}

fn plan_from_issue(
    profile: Profile,
    name: &Option<String>,
    flags: &NameFlags<'_>,
    options: &IssueOptions,
) -> Result<LeafPlan> {
    let name = name.as_deref().ok_or_else(|| Error::usage("a NAME is required (or --batch FILE)"))?;
    if options.csr.is_some() && options.key_type.is_some() {
        return Err(Error::usage(
            "--key-type makes a new key; with --csr the CSR's key is certified, so leave --key-type out",
        ));
    }
    let csr = options.csr.as_deref().map(read_csr).transpose()?;
    let key_type = options.key_type.unwrap_or(KeyType::P256);
    plan(
        profile,
        Some(name),
        flags,
        csr,
        key_type,
        &options.validity,
        options.ca.clone(),
        &options.out,
        options.force,
    )
}

/// Reads and verifies a CSR file; every failure names the file.
pub fn read_csr(path: &Path) -> Result<VerifiedCsr> {
    let bytes = home::read_user_file(path, home::limits::SMALL_FILE)?;
    csr::parse_and_verify(&bytes, &path.display().to_string())
        .map_err(|e| Error::usage(format!("CSR {} is refused: {e}", path.display())))
}

/// Validates everything about a leaf request before any key is touched.
#[allow(clippy::too_many_arguments)]
pub fn plan(
    profile: Profile,
    name: Option<&str>,
    flags: &NameFlags<'_>,
    csr: Option<VerifiedCsr>,
    key_type: KeyType,
    validity: &str,
    ca: Option<String>,
    out: &Path,
    force: bool,
) -> Result<LeafPlan> {
    let validity = parse_duration(validity).map_err(|e| Error::usage(format!("--validity: {e}")))?;
    let mut warnings = Vec::new();
    let name = match (name, &csr) {
        (Some(n), _) => n.to_string(),
        (None, Some(c)) => c
            .common_name
            .clone()
            .ok_or_else(|| Error::usage("the CSR has no common name; give one with --name"))?,
        (None, None) => return Err(Error::usage("a NAME is required")),
    };
    let common_name = validate_common_name(&name)?;
    let mut sans = Vec::new();
    if let Some(san) = names::san_from_name(&common_name, profile == Profile::Client) {
        sans.push(san);
    }
    let extra = match &csr {
        Some(c) if flags.is_empty() => sans_from_csr(c, profile, &mut warnings)?,
        _ => flags.parse()?,
    };
    for san in extra {
        names::push_unique(&mut sans, san);
    }
    check_sans(profile, &common_name, &sans).map_err(|e| match (&csr, e) {
        (Some(c), Error::Usage(m)) => Error::Usage(format!("CSR {}: {m}", c.origin)),
        (_, e) => e,
    })?;
    let key = match csr {
        Some(c) => {
            warnings.extend(c.ignored.iter().map(|what| {
                format!("the CSR asked for {what}; ignored, the certificate follows the {profile} profile")
            }));
            KeySource::Csr(Box::new(c))
        }
        None => KeySource::Generate(key_type),
    };
    Ok(LeafPlan {
        profile,
        common_name,
        sans,
        key,
        validity,
        ca,
        out: out.to_path_buf(),
        force,
        warnings,
        renewed_from: None,
    })
}

pub(super) fn validate_common_name(name: &str) -> Result<String> {
    if name.trim().is_empty() {
        return Err(Error::usage("NAME must not be empty"));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::usage(format!("NAME {:?} contains control characters", name)));
    }
    if name.chars().count() > MAX_CN_LEN {
        return Err(Error::usage(format!(
            "NAME \"{name}\" is longer than {MAX_CN_LEN} characters, the limit for a common name; use a short NAME and pass long names with --dns/--uri"
        )));
    }
    Ok(name.trim().to_string())
}

/// The CSR's SANs, validated like command-line names; kinds the profile does not carry are
/// dropped with a warning.
fn sans_from_csr(c: &VerifiedCsr, profile: Profile, warnings: &mut Vec<String>) -> Result<Vec<San>> {
    let mut sans = Vec::new();
    for requested in &c.requested_sans {
        let refused =
            |e: String| Error::usage(format!("CSR {} is refused: it requests a bad name: {e}", c.origin));
        let san = match requested {
            RequestedSan::Dns(d) => San::Dns(names::parse_dns(d).map_err(refused)?),
            RequestedSan::Ip(ip) => San::Ip(*ip),
            RequestedSan::Email(e) => San::Email(names::parse_email(e).map_err(refused)?),
            RequestedSan::Uri(u) => San::Uri(names::parse_uri(u).map_err(refused)?),
            RequestedSan::Other(text) => {
                warnings
                    .push(format!("the CSR asked for SAN {text}; pkictl does not issue that kind, ignored"));
                continue;
            }
        };
        if allowed_in(profile, &san) {
            names::push_unique(&mut sans, san);
        } else {
            warnings.push(format!(
                "the CSR asked for SAN {san}; a {profile} certificate does not carry it, ignored"
            ));
        }
    }
    Ok(sans)
}

pub(super) fn allowed_in(profile: Profile, san: &San) -> bool {
    match profile {
        Profile::Server => san.is_dns_or_ip(),
        Profile::Peer => !matches!(san, San::Email(_)),
        _ => true,
    }
}

pub(super) fn check_sans(profile: Profile, name: &str, sans: &[San]) -> Result<()> {
    if sans.len() > MAX_SANS {
        return Err(Error::usage(format!(
            "{} subjectAltNames requested; the limit is {MAX_SANS}",
            sans.len()
        )));
    }
    let needs_host = matches!(profile, Profile::Server | Profile::Peer);
    if needs_host && !sans.iter().any(San::is_dns_or_ip) {
        return Err(Error::usage(format!(
            "a {profile} certificate needs a DNS name or IP address: \"{name}\" is not a host name, so add --dns NAME or --ip ADDRESS"
        )));
    }
    if sans.is_empty() {
        return Err(Error::usage(format!(
            "a {profile} certificate needs a subjectAltName (strict verifiers require one): \"{name}\" is not a host name, email or URI, so add --dns, --email or --uri"
        )));
    }
    Ok(())
}

/// The four files one issuance writes.
pub struct OutputFiles {
    pub(super) dir: PathBuf,
    certificate: PathBuf,
    key: Option<PathBuf>,
    /// NAME.key when the key is not ours to write: an old one there would not match.
    pub(super) stale_key: Option<PathBuf>,
    chain: PathBuf,
    fullchain: PathBuf,
}

impl OutputFiles {
    pub(super) fn new(out: &Path, common_name: &str, with_key: bool) -> OutputFiles {
        let stem = file_stem(common_name);
        let key = out.join(format!("{stem}.key"));
        OutputFiles {
            dir: out.to_path_buf(),
            certificate: out.join(format!("{stem}.crt")),
            stale_key: (!with_key).then(|| key.clone()),
            key: with_key.then_some(key),
            chain: out.join(format!("{stem}.chain.pem")),
            fullchain: out.join(format!("{stem}.fullchain.pem")),
        }
    }

    /// The bytes of each file: key (when generated), leaf, chain, leaf + chain.
    pub(super) fn contents(
        &self,
        signed: &Signed,
        key: Option<&KeyPair>,
        chain: &[Vec<u8>],
    ) -> Result<Vec<PendingFile>> {
        let leaf_pem = certificate_pem(&signed.der);
        let chain_pem: String = chain.iter().map(|der| certificate_pem(der)).collect();
        let mut pending = Vec::with_capacity(4);
        if let (Some(path), Some(key)) = (&self.key, key) {
            let pem = key
                .to_pkcs8_pem()
                .map_err(|source| Error::Key { what: path.display().to_string(), source })?;
            pending.push((path.clone(), Zeroizing::new(pem.as_bytes().to_vec()), KEY_MODE));
        }
        let fullchain = format!("{leaf_pem}{chain_pem}").into_bytes();
        pending.push((self.certificate.clone(), Zeroizing::new(leaf_pem.into_bytes()), PUBLIC_MODE));
        pending.push((self.chain.clone(), Zeroizing::new(chain_pem.into_bytes()), PUBLIC_MODE));
        pending.push((self.fullchain.clone(), Zeroizing::new(fullchain), PUBLIC_MODE));
        Ok(pending)
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "certificate": self.certificate,
            "key": self.key,
            "chain": self.chain,
            "fullchain": self.fullchain,
        })
    }

    pub fn all(&self) -> Vec<&Path> {
        let mut all = vec![self.certificate.as_path()];
        all.extend(self.key.as_deref());
        all.extend([self.chain.as_path(), self.fullchain.as_path()]);
        all
    }

    /// A NAME.key already in --out that holds the certified key belongs with the new
    /// certificate (`renew --key DIR/NAME.key --out DIR`): it is neither a conflict nor removed.
    pub(super) fn keep_matching_key(&mut self, certified: &PublicKey) {
        let Some(path) = &self.stale_key else { return };
        let Ok(bytes) = std::fs::read(path) else { return };
        let text = String::from_utf8_lossy(&bytes);
        if KeyPair::from_pkcs8_pem(&text, None).is_ok_and(|k| k.public_key().bits() == certified.bits()) {
            self.stale_key = None;
        }
    }

    /// Refuses up front, before anything is signed or recorded, to clobber files.
    pub(super) fn check_free(&self, force: bool) -> Result<()> {
        if force {
            return Ok(());
        }
        let mut paths = self.all();
        paths.extend(self.stale_key.as_deref());
        match paths.into_iter().find(|p| p.exists()) {
            Some(existing) => Err(Error::usage(format!(
                "{} already exists; pass --force to overwrite (an old key there is removed), or choose another --out",
                existing.display()
            ))),
            None => Ok(()),
        }
    }
}

/// NAME as a file name: letters, digits, '.', '-', '_' and '@' kept, anything else '-'.
/// NAME as a file name: a wildcard label becomes "wildcard" (no file name starts with '-'),
/// letters, digits, '.', '-', '_' and '@' are kept, anything else becomes '-'.
fn file_stem(name: &str) -> String {
    let stem: String = name
        .replace('*', "wildcard")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || ".-_@".contains(c) { c } else { '-' })
        .collect();
    let stem = stem.trim_matches(|c| c == '.' || c == '-').to_string();
    if stem.is_empty() { "cert".into() } else { stem }
}

/// Signs, records and writes one leaf, then reports it.
pub fn issue(ctx: &Context, plan: LeafPlan) -> Result<i32> {
    let (home, mut ledger) = ctx.open()?;
    let issued = issue_leaf(ctx, &home, &mut ledger, &plan)?;
    for warning in &plan.warnings {
        eprintln!("warning: {}", crate::error::one_line(warning));
    }
    report(ctx, &plan, &issued);
    Ok(0)
}

/// A leaf that is signed, in the ledger and on disk.
pub struct IssuedLeaf {
    pub signed: Signed,
    pub authority: Authority,
    pub public_key: PublicKey,
    pub files: OutputFiles,
}

/// Check, sign, commit to the ledger, then write the files.
pub fn issue_leaf(ctx: &Context, home: &Home, ledger: &mut Ledger, plan: &LeafPlan) -> Result<IssuedLeaf> {
    let authority = find_authority(ledger, plan.ca.as_deref())?;
    let now = engine::now();
    check_ca_usable(&authority, now.unix_timestamp(), "issue certificates")?;
    let mut files =
        OutputFiles::new(&plan.out, &plan.common_name, matches!(plan.key, KeySource::Generate(_)));
    match &plan.key {
        KeySource::Csr(c) => files.keep_matching_key(&c.public_key),
        KeySource::Existing { key, .. } => files.keep_matching_key(key),
        KeySource::Generate(_) => {}
    }
    home::check_output_dir(&plan.out)?;
    files.check_free(plan.force)?;
    let signing_ca = load_signing_ca(ctx, home, ledger, &authority)?;
    let (generated, public_key, key_source) = match &plan.key {
        KeySource::Generate(t) => {
            let key = KeyPair::generate(*t)
                .map_err(|source| Error::Key { what: plan.common_name.clone(), source })?;
            let public = key.public_key();
            (Some(key), public, "generated")
        }
        KeySource::Csr(c) => (None, c.public_key.clone(), "csr"),
        KeySource::Existing { key, origin } => (None, key.clone(), *origin),
    };
    let request = LeafRequest {
        profile: plan.profile,
        common_name: &plan.common_name,
        sans: &plan.sans,
        public_key: &public_key,
        validity: plan.validity,
        now,
        verify_signature: true,
    };
    let signed = sign_and_record(ledger, &request, &signing_ca, &authority, key_source, plan.renewed_from)?;
    let chain = chain_der(ledger, &authority)?;
    write_files(&files, &signed, generated.as_ref(), &chain)?;
    Ok(IssuedLeaf { signed, authority, public_key, files })
}

/// Signs and commits in one transaction with its audit event; a serial that collides in the
/// ledger is never issued: the certificate is signed again with a fresh serial.
fn sign_and_record(
    ledger: &mut Ledger,
    request: &LeafRequest<'_>,
    signing_ca: &engine::SigningCa,
    authority: &Authority,
    key_source: &str,
    renewed_from: Option<i64>,
) -> Result<Signed> {
    for _ in 0..SERIAL_ATTEMPTS {
        let signed = build_leaf(request, signing_ca)?;
        let now = engine::now().unix_timestamp();
        match ledger.write(|tx| record_leaf(tx, &signed, request, authority, key_source, renewed_from, now)) {
            Ok(()) => return Ok(signed),
            Err(LedgerError::DuplicateSerial { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Internal("could not draw a unique serial number".into()))
}

/// Records one leaf and its audit event in the caller's transaction.
pub fn record_leaf(
    tx: &Tx<'_>,
    signed: &Signed,
    request: &LeafRequest<'_>,
    authority: &Authority,
    key_source: &str,
    renewed_from: Option<i64>,
    now: i64,
) -> std::result::Result<(), LedgerError> {
    let info = &signed.info;
    let sans: Vec<String> = request.sans.iter().map(San::to_string).collect();
    let serial = info.serial.ledger_hex();
    tx.insert_certificate(&NewCertificate {
        issuer_id: authority.id,
        serial: &serial,
        profile: request.profile.as_str(),
        subject: &info.subject,
        common_name: Some(request.common_name),
        sans: &sans,
        key_type: request.public_key.key_type().as_str(),
        key_source,
        not_before: info.not_before,
        not_after: info.not_after,
        fingerprint_sha256: &info.fingerprint_sha256,
        der: &signed.der,
        renewed_from,
        authority_id: None,
        now,
    })?;
    tx.record_event(
        now,
        "certificate.issue",
        &info.serial.hex(),
        &json!({
            "ca": authority.name,
            "renewed_from": renewed_from,
            "profile": request.profile.as_str(),
            "subject": info.subject,
            "sans": sans,
            "key_source": key_source,
            "not_after": format_time(info.not_after),
            "fingerprint_sha256": info.fingerprint_sha256,
        }),
    )
}

/// Creates --out only now, so that a refused request leaves no trace; with --force, an old
/// NAME.key that does not belong to the new certificate is removed.
pub(super) fn write_files(
    files: &OutputFiles,
    signed: &Signed,
    key: Option<&KeyPair>,
    chain: &[Vec<u8>],
) -> Result<()> {
    let pending = files.contents(signed, key, chain)?;
    write_pending(&files.dir, &pending, files.stale_key.iter())
}

/// A file to write: path, bytes (zeroized: one of them may be a private key), mode.
pub(super) type PendingFile = (PathBuf, Zeroizing<Vec<u8>>, u32);

/// Writes many files into `dir` atomically with one directory fsync, after removing stale keys.
pub(super) fn write_pending<'a>(
    dir: &Path,
    pending: &[PendingFile],
    stale: impl Iterator<Item = &'a PathBuf>,
) -> Result<()> {
    home::create_private_dir(dir)?;
    for path in stale {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::Write { path: path.clone(), source: e });
            }
            _ => {}
        }
    }
    let writes: Vec<(&Path, &[u8], u32)> =
        pending.iter().map(|(p, b, m)| (p.as_path(), b.as_slice(), *m)).collect();
    if writes.len() > MANY_FILES { home::write_atomic_many(&writes) } else { home::write_atomic_all(&writes) }
}

pub fn report(ctx: &Context, plan: &LeafPlan, issued: &IssuedLeaf) {
    let (authority, signed, key, files) =
        (&issued.authority, &issued.signed, &issued.public_key, &issued.files);
    let info = &signed.info;
    let sans: Vec<String> = plan.sans.iter().map(San::to_string).collect();
    let days = (info.not_after - engine::now().unix_timestamp()) / 86_400;
    if ctx.json {
        print_json(&json!({
            "profile": plan.profile.as_str(),
            "serial": info.serial.hex(),
            "subject": info.subject,
            "common_name": plan.common_name,
            "sans": sans,
            "issuer": authority.name,
            "key_type": key.key_type().as_str(),
            "not_before": format_time(info.not_before),
            "not_after": format_time(info.not_after),
            "fingerprint_sha256": info.fingerprint_sha256,
            "files": files.to_json(),
            "warnings": plan.warnings,
        }));
        return;
    }
    outln!("Issued {} certificate \"{}\"", plan.profile, plan.common_name);
    outln!("  subject     {}", info.subject);
    outln!("  SANs        {}", sans.join(", "));
    outln!("  issuer      {}", authority.name);
    outln!("  key         {}", key.key_type());
    outln!("  serial      {}", info.serial.hex());
    outln!("  not after   {} ({days} days)", format_time(info.not_after));
    outln!("  SHA-256     {}", info.fingerprint_sha256);
    for path in files.all() {
        outln!("  wrote       {}", path.display());
    }
}
