//! Creating and configuring CAs: `init` (a new home with its root and issuing
//! intermediate), another intermediate under a parent, and per-CA settings.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use zeroize::Zeroizing;

use super::Authority;
use super::public_url::validate_public_url;
use crate::engine::ca::{CaRequest, build_intermediate, build_root};
use crate::engine::profile::Profile;
use crate::engine::urls::IssuerUrls;
use crate::engine::{self, Signed, SigningCa};
use crate::error::{Error, Field, Result};
use crate::home::{self, Home, PUBLIC_MODE};
use crate::keys::{FileKeyStore, KeyPair, KeyType, MemorySigner, Unlock};
use crate::ledger::{
    CaRecord, CertStatus, Event, EventKind, KeyOrigin, LedgerResult, LedgerTx, NewAuthority, NewCertificate,
};
use crate::names;
use crate::x509::certificate_pem;

/// X.520 upper bound for a commonName.
const MAX_CN_LEN: usize = 64;
/// Five years, or the parent's lifetime when that is shorter.
const DEFAULT_INTERMEDIATE_VALIDITY: time::Duration = time::Duration::days(5 * 365);

/// A request to create a home.
#[derive(Debug, Clone)]
pub struct InitRequest {
    /// The directory (missing or empty).
    pub home: PathBuf,
    /// The root CA's name.
    pub root_name: String,
    /// The intermediate's name; None for "<root> Issuing CA". Ignored without an intermediate.
    pub intermediate_name: Option<String>,
    /// Create the issuing intermediate (the default) or only a root.
    pub with_intermediate: bool,
    /// Type of both CA keys.
    pub key_type: KeyType,
    /// The root's lifetime.
    pub validity: time::Duration,
    /// The intermediate's lifetime; five years or the root's, whichever is shorter, when None.
    pub intermediate_validity: Option<time::Duration>,
    /// Base URL of the CRLs: each CA's distribution point is `<URL>/<slug>.crl`.
    pub crl_url: Option<String>,
    /// Base URL of the online CA (`pkictl serve`'s HTTP listener), for both CAs: what they
    /// sign carries CDP `<URL>/crl/<slug>.crl`, AIA OCSP `<URL>/ocsp` and caIssuers
    /// `<URL>/ca/<slug>.crt`, `<slug>` being the signing CA's.
    pub public_url: Option<String>,
    /// Encrypt the CA keys with a passphrase from [`Unlock::new_passphrase`].
    pub encrypt_keys: bool,
    /// The ledger in this (empty) PostgreSQL database instead of a SQLite file in the home.
    pub ledger: Option<crate::ledger::PgLocation>,
}

impl InitRequest {
    /// A home at `home` with a root named `root_name` and its default issuing intermediate:
    /// P-256 keys, encrypted, a root valid for ten years, no CRL URL.
    pub fn new(home: &Path, root_name: &str) -> InitRequest {
        InitRequest {
            home: home.to_path_buf(),
            root_name: root_name.to_string(),
            intermediate_name: None,
            with_intermediate: true,
            key_type: KeyType::P256,
            validity: time::Duration::days(10 * 365),
            intermediate_validity: None,
            crl_url: None,
            public_url: None,
            encrypt_keys: true,
            ledger: None,
        }
    }

    /// Stores the CA keys unencrypted (for tests and throwaway homes).
    pub fn without_passphrase(mut self) -> InitRequest {
        self.encrypt_keys = false;
        self
    }
}

/// A CA made by this run, ready to be recorded and written.
pub struct CaCreated {
    /// Its name.
    pub name: String,
    /// Its file-name form.
    pub slug: String,
    /// root or intermediate.
    pub profile: Profile,
    /// Its key's type.
    pub key_type: KeyType,
    key: Arc<MemorySigner>,
    /// Its certificate.
    pub signed: Signed,
    /// pathLenConstraint.
    pub path_len: Option<u8>,
    /// Permitted DNS subtrees.
    pub permitted_dns: Vec<String>,
    /// CRL distribution point.
    pub crl_url: Option<String>,
    /// Base URL of the online CA named in what it signs.
    pub public_url: Option<String>,
}

/// What `init` made.
pub struct Initialized {
    /// The CAs, root first.
    pub cas: Vec<CaCreated>,
    /// Whether the keys are encrypted at rest.
    pub encrypted: bool,
    /// What the caller should hear about.
    pub warnings: Vec<super::Warning>,
}

/// A request for another intermediate under a parent.
#[derive(Debug, Clone)]
pub struct AddIntermediateRequest {
    /// Its name.
    pub name: String,
    /// The parent CA; the root when None.
    pub parent: Option<String>,
    /// Its pathLenConstraint.
    pub path_len: u8,
    /// Permitted DNS subtrees (name constraints), as given.
    pub permit_dns: Vec<String>,
    /// Its key type; the parent's when None.
    pub key_type: Option<KeyType>,
    /// Its lifetime; five years or what is left of the parent's, when None.
    pub validity: Option<time::Duration>,
    /// Make it the default issuing CA.
    pub make_default: bool,
}

/// A CA name: trimmed, not empty, at most 64 characters, no control characters.
pub fn validate_ca_name(name: &str, field: Field) -> Result<String> {
    let trimmed = name.trim();
    let refuse = |problem: String| Err(Error::InvalidField { field, problem });
    if trimmed.is_empty() {
        return refuse("must not be empty".into());
    }
    if trimmed.chars().count() > MAX_CN_LEN {
        return refuse(format!(
            "\"{}\" is longer than {MAX_CN_LEN} characters, the limit for a common name",
            crate::error::excerpt(trimmed)
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return refuse("contains control characters".into());
    }
    Ok(trimmed.to_string())
}

fn validate_crl_url(url: &str) -> Result<String> {
    let ok_scheme = url.starts_with("http://") || url.starts_with("https://");
    let host_part = url.split("://").nth(1).unwrap_or("");
    if !ok_scheme
        || host_part.is_empty()
        || !url.is_ascii()
        || url.chars().any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
    {
        return Err(Error::InvalidField {
            field: Field::CrlUrl,
            problem: format!(
                "\"{}\" is not an http:// or https:// URL (example: http://pki.example.com/crl)",
                crate::error::excerpt(url)
            ),
        });
    }
    Ok(url.to_string())
}

/// The validated init request.
struct InitPlan {
    root_name: String,
    intermediate_name: Option<String>,
    key_type: KeyType,
    root_validity: time::Duration,
    intermediate_validity: time::Duration,
    crl_base: Option<String>,
    public_url: Option<String>,
}

impl InitPlan {
    fn new(request: &InitRequest) -> Result<InitPlan> {
        let root_name = validate_ca_name(&request.root_name, Field::RootName)?;
        let intermediate_name = if request.with_intermediate {
            let name = request.intermediate_name.clone().unwrap_or_else(|| format!("{root_name} Issuing CA"));
            Some(validate_ca_name(&name, Field::IntermediateName)?)
        } else {
            None
        };
        if let Some(name) = &intermediate_name
            && home::slug(name) == home::slug(&root_name)
        {
            return Err(Error::InvalidField {
                field: Field::IntermediateName,
                problem: format!(
                    "\"{name}\" is too close to the root's name \"{root_name}\"; pick a distinct name"
                ),
            });
        }
        let intermediate_validity = match request.intermediate_validity {
            None => DEFAULT_INTERMEDIATE_VALIDITY.min(request.validity),
            Some(asked) if intermediate_name.is_some() && asked > request.validity => {
                return Err(Error::IntermediateOutlivesRoot);
            }
            Some(asked) => asked,
        };
        let crl_base = request.crl_url.as_deref().map(validate_crl_url).transpose()?;
        let public_url = request.public_url.as_deref().map(validate_public_url).transpose()?;
        Ok(InitPlan {
            root_name,
            intermediate_name,
            key_type: request.key_type,
            root_validity: request.validity,
            intermediate_validity,
            crl_base,
            public_url,
        })
    }

    fn crl_url_for(&self, slug: &str) -> Option<String> {
        self.crl_base.as_ref().map(|base| format!("{}/{slug}.crl", base.trim_end_matches('/')))
    }

    /// Generates the keys and signs the CA certificates, all in memory.
    fn build_cas(&self) -> Result<Vec<CaCreated>> {
        let now = engine::now();
        let root_key = Arc::new(MemorySigner::new(generate(self.key_type, &self.root_name)?));
        let root_signed = build_root(&CaRequest {
            name: &self.root_name,
            key: root_key.as_ref(),
            validity: self.root_validity,
            path_len: None,
            permitted_dns: &[],
            now,
        })?;
        let root_slug = home::slug(&self.root_name);
        let root_crl_url = self.crl_url_for(&root_slug);
        let mut cas = Vec::new();
        let intermediate = match &self.intermediate_name {
            Some(name) => {
                let issuer = SigningCa {
                    name: self.root_name.clone(),
                    signer: root_key.clone(),
                    ski: root_signed.info.subject_key_id.clone().unwrap_or_default(),
                    cert: root_signed.info.clone(),
                    urls: IssuerUrls::of(&root_slug, root_crl_url.as_deref(), self.public_url.as_deref()),
                    name_constraints: Vec::new(),
                };
                Some(self.build_intermediate(name, &issuer, now)?)
            }
            None => None,
        };
        cas.push(CaCreated {
            name: self.root_name.clone(),
            slug: root_slug,
            profile: Profile::Root,
            key_type: self.key_type,
            key: root_key,
            signed: root_signed,
            path_len: None,
            permitted_dns: Vec::new(),
            crl_url: root_crl_url,
            public_url: self.public_url.clone(),
        });
        cas.extend(intermediate);
        Ok(cas)
    }

    fn build_intermediate(
        &self,
        name: &str,
        issuer: &SigningCa,
        now: time::OffsetDateTime,
    ) -> Result<CaCreated> {
        let key = Arc::new(MemorySigner::new(generate(self.key_type, name)?));
        let req = CaRequest {
            name,
            key: key.as_ref(),
            validity: self.intermediate_validity,
            path_len: Some(0),
            permitted_dns: &[],
            now,
        };
        let signed = build_intermediate(&req, issuer)?;
        let slug = home::slug(name);
        Ok(CaCreated {
            crl_url: self.crl_url_for(&slug),
            public_url: self.public_url.clone(),
            name: name.to_string(),
            slug,
            profile: Profile::Intermediate,
            key_type: self.key_type,
            key,
            signed,
            path_len: Some(0),
            permitted_dns: Vec::new(),
        })
    }
}

fn generate(key_type: KeyType, name: &str) -> Result<KeyPair> {
    KeyPair::generate(key_type).map_err(|source| Error::Key { what: name.to_string(), source })
}

impl Authority {
    /// Creates a home: keys, ledger and CA certificates, staged and moved into place so that
    /// a failed init leaves nothing behind.
    pub fn init(request: &InitRequest, unlock: &dyn Unlock) -> Result<Initialized> {
        let plan = InitPlan::new(request)?;
        for staging in home::init_stagings(&request.home) {
            home::remove_stale_staging(&staging);
        }
        if !home::is_missing_or_empty(&request.home)? {
            return Err(Error::HomeNotEmpty { path: request.home.clone() });
        }
        let passphrase = if request.encrypt_keys {
            Some(unlock.new_passphrase(&format!("the CA keys of {}", request.home.display()))?)
        } else {
            None
        };
        let cas = plan.build_cas()?;
        create_home(&request.home, &cas, passphrase.as_ref(), request.ledger.as_ref())?;
        let warnings =
            plan.public_url.as_deref().and_then(super::public_url::https_warning).into_iter().collect();
        Ok(Initialized { cas, encrypted: passphrase.is_some(), warnings })
    }

    /// Adds an intermediate under a parent (the root by default), optionally constrained to
    /// DNS subtrees; its key is protected like the parent's.
    pub fn add_intermediate(&mut self, request: &AddIntermediateRequest) -> Result<(CaCreated, CaRecord)> {
        let name = validate_ca_name(&request.name, Field::CaName)?;
        let permitted: Vec<String> =
            request.permit_dns.iter().map(|d| permitted_subtree(d)).collect::<Result<_>>()?;
        self.check_name_is_free(&name)?;
        let parent = match &request.parent {
            Some(p) => self.find_ca(Some(p))?,
            None => self.root()?,
        };
        let now = engine::now();
        if parent.status == CertStatus::Revoked || parent.not_after <= now.unix_timestamp() {
            return Err(Error::invalid(format!(
                "CA {} is revoked or expired and cannot sign a sub-CA",
                parent.name
            )));
        }
        let validity = request.validity.unwrap_or_else(|| {
            DEFAULT_INTERMEDIATE_VALIDITY
                .min(time::Duration::seconds(parent.not_after - now.unix_timestamp()))
        });
        let (issuer, passphrase) = self.unlock_ca(&parent)?;
        let key_type = request.key_type.unwrap_or(parent.key_type);
        let key = Arc::new(MemorySigner::new(generate(key_type, &name)?));
        let ca_request = CaRequest {
            name: &name,
            key: key.as_ref(),
            validity,
            path_len: Some(request.path_len),
            permitted_dns: &permitted,
            now,
        };
        let signed = build_intermediate(&ca_request, &issuer)?;
        let slug = home::slug(&name);
        let ca = CaCreated {
            crl_url: sibling_crl_url(&parent, &slug),
            // One `serve` answers for every CA of a home: the new CA is served where its parent is.
            public_url: parent.public_url.clone(),
            name,
            slug,
            profile: Profile::Intermediate,
            key_type,
            key,
            signed,
            path_len: Some(request.path_len),
            permitted_dns: permitted,
        };
        self.store_ca(&ca, &parent, passphrase.as_deref().map(String::as_str), request.make_default)?;
        Ok((ca, parent))
    }

    /// Sets how long a CA's future CRLs stay valid.
    pub fn configure_crl_validity(&mut self, name: &str, validity: time::Duration) -> Result<CaRecord> {
        let authority = self.find_ca(Some(name))?;
        let seconds = validity.whole_seconds();
        let now = engine::now().unix_timestamp();
        self.ledger.write(|tx| {
            tx.set_crl_validity(authority.id, seconds)?;
            tx.record_event(&Event {
                at: now,
                kind: EventKind::CaConfigure,
                target: &authority.name,
                detail: json!({ "crl_next_update": crate::duration::format_duration(validity) }),
            })
        })?;
        Ok(authority)
    }

    fn check_name_is_free(&self, name: &str) -> Result<()> {
        let slug = home::slug(name);
        let clash = self
            .ledger
            .authorities()?
            .into_iter()
            .find(|a| a.name.eq_ignore_ascii_case(name) || a.slug == slug);
        match clash {
            Some(existing) => Err(Error::CaNameTaken { existing: existing.name }),
            None => Ok(()),
        }
    }

    /// The home's root CA.
    pub fn root(&self) -> Result<CaRecord> {
        self.ledger
            .authorities()?
            .into_iter()
            .find(|a| a.parent_id.is_none())
            .ok_or_else(|| Error::Internal("this home has no root CA".into()))
    }

    /// Key file first (removed again if the ledger refuses), then the ledger, then the certificate.
    fn store_ca(
        &mut self,
        ca: &CaCreated,
        parent: &CaRecord,
        passphrase: Option<&str>,
        make_default: bool,
    ) -> Result<()> {
        let key_ref = Home::ca_key_relative(&ca.slug);
        self.keys.store_new(&ca.name, &key_ref, ca.key.key_pair(), passphrase)?;
        let now = engine::now().unix_timestamp();
        let recorded = self.ledger.write(|tx| {
            if make_default {
                tx.clear_default_authority()?;
            }
            record_ca(tx, ca, Some(parent.id), make_default, passphrase.is_some(), now)
        });
        if let Err(e) = recorded {
            self.keys.discard(&key_ref);
            return Err(e.into());
        }
        let cert_path = self.home.resolve(&Home::ca_cert_relative(&ca.slug));
        home::write_atomic(&cert_path, certificate_pem(&ca.signed.der).as_bytes(), PUBLIC_MODE)
    }
}

/// A permitted DNS subtree: a DNS name without wildcard (a leading dot is accepted and dropped).
fn permitted_subtree(text: &str) -> Result<String> {
    let name = names::parse_dns(text.trim_start_matches('.'))
        .map_err(|e| Error::InvalidField { field: Field::PermittedDns, problem: e.to_string() })?;
    if name.starts_with("*.") {
        return Err(Error::InvalidField {
            field: Field::PermittedDns,
            problem: format!(
                "\"{}\": give the domain (example.com), which covers every name below it",
                crate::error::excerpt(text)
            ),
        });
    }
    Ok(name)
}

/// The new CA publishes its CRL next to its parent's, when the parent publishes one.
fn sibling_crl_url(parent: &CaRecord, slug: &str) -> Option<String> {
    let url = parent.crl_url.as_deref()?;
    let base = url.strip_suffix(&format!("/{}.crl", parent.slug))?;
    Some(format!("{base}/{slug}.crl"))
}

/// Builds the home in a private staging directory inside it, then moves the pieces into
/// place with the ledger last: a home "exists" only once its ledger does, and a failed init
/// removes everything it made. Staging inside (not renaming a sibling over the target) works
/// for `--home .`, for the shell's current directory and for a symlink to an empty volume.
fn create_home(
    target: &Path,
    cas: &[CaCreated],
    passphrase: Option<&Zeroizing<String>>,
    database: Option<&crate::ledger::PgLocation>,
) -> Result<()> {
    let created_target = !target.exists();
    home::create_private_dir(target)?;
    fs::set_permissions(target, fs::Permissions::from_mode(home::DIR_MODE))
        .map_err(|source| Error::Write { path: target.to_path_buf(), source })?;
    let staging = tempfile::Builder::new()
        .prefix(home::INIT_STAGING_PREFIX)
        .permissions(fs::Permissions::from_mode(home::DIR_MODE))
        .tempdir_in(target)
        .map_err(|source| Error::Write { path: target.to_path_buf(), source })?;
    let _in_use = home::lock_staging(staging.path())?;
    let mut moved = Vec::new();
    let ledger_entry = if database.is_some() { home::LEDGER_URL_FILE } else { home::LEDGER_FILE };
    let result = populate(staging.path(), cas, passphrase, database)
        .and_then(|()| move_into_place(staging.path(), target, ledger_entry, &mut moved));
    if result.is_err() {
        remove_partial_home(target, created_target, &moved);
    }
    result
}

/// Writes the CA keys, the CA certificates and the ledger (the last thing: a database it
/// creates cannot be removed with the staging directory) into `dir`.
fn populate(
    dir: &Path,
    cas: &[CaCreated],
    passphrase: Option<&Zeroizing<String>>,
    database: Option<&crate::ledger::PgLocation>,
) -> Result<()> {
    let staged = Home::at(dir);
    staged.create_layout()?;
    let keys = FileKeyStore::new(dir);
    for ca in cas {
        keys.store_new(
            &ca.name,
            &Home::ca_key_relative(&ca.slug),
            ca.key.key_pair(),
            passphrase.map(|p| p.as_str()),
        )?;
    }
    for ca in cas {
        let pem = certificate_pem(&ca.signed.der);
        home::write_atomic_new(
            &staged.resolve(&Home::ca_cert_relative(&ca.slug)),
            pem.as_bytes(),
            PUBLIC_MODE,
        )?;
    }
    let location = match database {
        Some(at) => {
            staged.record_postgres(at)?;
            crate::ledger::LedgerLocation::Postgres(at.clone())
        }
        None => crate::ledger::LedgerLocation::Sqlite(staged.ledger_path()),
    };
    let mut ledger = crate::ledger::create_at(&location)?;
    ledger.write(|tx| record_cas(tx, cas, passphrase.is_some()))?;
    Ok(())
}

/// The directories first, the ledger last; `moved` records what is already in place.
fn move_into_place(
    staging: &Path,
    target: &Path,
    ledger_entry: &str,
    moved: &mut Vec<PathBuf>,
) -> Result<()> {
    for name in [home::PRIVATE_DIR, home::CA_DIR, home::CRL_DIR, ledger_entry] {
        let destination = target.join(name);
        if destination.exists() {
            return Err(Error::HomeNotEmpty { path: target.to_path_buf() });
        }
        fs::rename(staging.join(name), &destination)
            .map_err(|source| Error::Write { path: destination.clone(), source })?;
        moved.push(destination);
    }
    fs::File::open(target)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| Error::Write { path: target.to_path_buf(), source })
}

/// Best effort: the directory we created, or only what we moved into one that existed.
fn remove_partial_home(target: &Path, created_target: bool, moved: &[PathBuf]) {
    if created_target {
        let _ = fs::remove_dir_all(target);
        return;
    }
    for path in moved.iter().rev() {
        let _ = if path.is_dir() { fs::remove_dir_all(path) } else { fs::remove_file(path) };
    }
}

/// One transaction: each CA, its certificate row and an audit event; the last is the default.
fn record_cas(tx: &dyn LedgerTx, cas: &[CaCreated], encrypted: bool) -> LedgerResult<()> {
    let now = engine::now().unix_timestamp();
    let mut parent_id = None;
    for (index, ca) in cas.iter().enumerate() {
        let is_default = index + 1 == cas.len();
        parent_id = Some(record_ca(tx, ca, parent_id, is_default, encrypted, now)?);
    }
    Ok(())
}

/// Records a CA, its certificate row (issued by `parent_id`, or by itself for a root) and a
/// `ca.create` event; returns the new CA's id.
fn record_ca(
    tx: &dyn LedgerTx,
    ca: &CaCreated,
    parent_id: Option<i64>,
    is_default: bool,
    encrypted: bool,
    now: i64,
) -> LedgerResult<i64> {
    let info = &ca.signed.info;
    let key_file = Home::ca_key_relative(&ca.slug);
    let ski = info.subject_key_id.clone().unwrap_or_default();
    let id = tx.insert_authority(&NewAuthority {
        name: &ca.name,
        slug: &ca.slug,
        parent_id,
        subject: &info.subject,
        cert_der: &ca.signed.der,
        ski: &ski,
        key_file: &key_file,
        key_type: ca.key_type,
        key_encrypted: encrypted,
        path_len: ca.path_len,
        permitted_dns: &ca.permitted_dns,
        crl_url: ca.crl_url.as_deref(),
        public_url: ca.public_url.as_deref(),
        is_default,
        not_before: info.not_before,
        not_after: info.not_after,
        now,
    })?;
    tx.insert_certificate(&NewCertificate {
        issuer_id: parent_id.unwrap_or(id),
        serial: &info.serial,
        profile: ca.profile,
        subject: &info.subject,
        common_name: info.common_name.as_deref(),
        sans: &[],
        key_type: ca.key_type,
        key_origin: KeyOrigin::Ca,
        not_before: info.not_before,
        not_after: info.not_after,
        fingerprint_sha256: &info.fingerprint_sha256,
        der: &ca.signed.der,
        renewed_from: None,
        authority_id: Some(id),
        now,
    })?;
    tx.record_event(&Event {
        at: now,
        kind: EventKind::CaCreate,
        target: &ca.name,
        detail: json!({
            "profile": ca.profile.as_str(),
            "serial": info.serial.hex(),
            "fingerprint_sha256": info.fingerprint_sha256,
            "key_type": ca.key_type.as_str(),
            "key_encrypted": encrypted,
            "path_len": ca.path_len,
            "permitted_dns": ca.permitted_dns,
        }),
    })?;
    Ok(id)
}
