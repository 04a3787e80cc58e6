//! `pkictl init`: a new home with its ledger, root CA and (by default) issuing intermediate.

use std::fs;
use std::path::Path;

use serde_json::json;
use zeroize::Zeroizing;

use super::authority::{NewCa, record_ca, validate_ca_name};
use super::{Context, print_json};
use crate::cli::InitArgs;
use crate::duration::parse_duration;
use crate::engine::ca::{CaRequest, build_intermediate, build_root};
use crate::engine::{self, SigningCa, format_time};
use crate::error::{Error, Result};
use crate::home::{self, Home, KEY_MODE, PUBLIC_MODE};
use crate::keys::KeyPair;
use crate::ledger::{Ledger, Tx};

/// Five years, or the root's lifetime when that is shorter.
const DEFAULT_INTERMEDIATE_VALIDITY: time::Duration = time::Duration::days(5 * 365);

pub fn run(ctx: &Context, args: &InitArgs) -> Result<i32> {
    let plan = Plan::from_args(args)?;
    if !home::is_missing_or_empty(&ctx.home)? {
        return Err(Error::HomeNotEmpty { path: ctx.home.clone() });
    }
    let passphrase = if args.no_passphrase {
        None
    } else {
        Some(ctx.passphrase.for_new_key(&format!("the CA keys of {}", ctx.home.display()))?)
    };
    let cas = plan.build_cas()?;
    create_home(&ctx.home, &cas, passphrase.as_ref())?;
    if args.no_passphrase {
        eprintln!(
            "warning: the CA keys in {} are NOT encrypted (--no-passphrase); anyone who can read them can issue certificates",
            ctx.home.join(home::PRIVATE_DIR).display()
        );
    }
    report(ctx, &cas, passphrase.is_some());
    Ok(0)
}

/// The validated arguments.
struct Plan {
    root_name: String,
    intermediate_name: Option<String>,
    key_type: crate::keys::KeyType,
    root_validity: time::Duration,
    intermediate_validity: time::Duration,
    crl_base: Option<String>,
}

impl Plan {
    fn from_args(args: &InitArgs) -> Result<Plan> {
        let root_name = validate_ca_name(&args.name, "--name")?;
        let intermediate_name = if args.no_intermediate {
            None
        } else {
            let name = args.intermediate.clone().unwrap_or_else(|| format!("{root_name} Issuing CA"));
            Some(validate_ca_name(&name, "--intermediate")?)
        };
        if let Some(name) = &intermediate_name
            && home::slug(name) == home::slug(&root_name)
        {
            return Err(Error::usage(format!(
                "--intermediate \"{name}\" is too close to the root's name \"{root_name}\"; pick a distinct name"
            )));
        }
        let root_validity =
            parse_duration(&args.validity).map_err(|e| Error::usage(format!("--validity: {e}")))?;
        let intermediate_validity = match &args.intermediate_validity {
            None => DEFAULT_INTERMEDIATE_VALIDITY.min(root_validity),
            Some(text) => {
                let asked = parse_duration(text)
                    .map_err(|e| Error::usage(format!("--intermediate-validity: {e}")))?;
                if intermediate_name.is_some() && asked > root_validity {
                    return Err(Error::usage(format!(
                        "--intermediate-validity {text} is longer than the root's --validity {}; an intermediate cannot outlive its root",
                        args.validity
                    )));
                }
                asked
            }
        };
        let crl_base = args.crl_url.as_deref().map(validate_crl_url).transpose()?;
        Ok(Plan {
            root_name,
            intermediate_name,
            key_type: args.key_type,
            root_validity,
            intermediate_validity,
            crl_base,
        })
    }

    fn crl_url_for(&self, slug: &str) -> Option<String> {
        self.crl_base.as_ref().map(|base| format!("{}/{slug}.crl", base.trim_end_matches('/')))
    }

    /// Generates the keys and signs the CA certificates, all in memory.
    fn build_cas(&self) -> Result<Vec<NewCa>> {
        let now = engine::now();
        let root_key = generate(self.key_type, &self.root_name)?;
        let root_signed = build_root(&CaRequest {
            name: &self.root_name,
            key: &root_key,
            validity: self.root_validity,
            path_len: None,
            permitted_dns: &[],
            now,
        })?;
        let root_slug = home::slug(&self.root_name);
        let root_crl_url = self.crl_url_for(&root_slug);
        let mut cas = Vec::new();
        if let Some(name) = &self.intermediate_name {
            let key = generate(self.key_type, name)?;
            let issuer = SigningCa {
                name: self.root_name.clone(),
                key: root_key,
                ski: root_signed.info.subject_key_id.clone().unwrap_or_default(),
                cert: root_signed.info.clone(),
                crl_url: root_crl_url.clone(),
                name_constraints: Vec::new(),
            };
            let req = CaRequest {
                name,
                key: &key,
                validity: self.intermediate_validity,
                path_len: Some(0),
                permitted_dns: &[],
                now,
            };
            let signed = build_intermediate(&req, &issuer)?;
            cas.push(NewCa {
                name: self.root_name.clone(),
                slug: root_slug,
                profile: "root",
                key: issuer.key,
                signed: root_signed,
                path_len: None,
                permitted_dns: Vec::new(),
                crl_url: root_crl_url,
            });
            let slug = home::slug(name);
            cas.push(NewCa {
                crl_url: self.crl_url_for(&slug),
                name: name.clone(),
                slug,
                profile: "intermediate",
                key,
                signed,
                path_len: Some(0),
                permitted_dns: Vec::new(),
            });
        } else {
            cas.push(NewCa {
                name: self.root_name.clone(),
                slug: root_slug,
                profile: "root",
                key: root_key,
                signed: root_signed,
                path_len: None,
                permitted_dns: Vec::new(),
                crl_url: root_crl_url,
            });
        }
        Ok(cas)
    }
}

fn generate(key_type: crate::keys::KeyType, name: &str) -> Result<KeyPair> {
    KeyPair::generate(key_type).map_err(|source| Error::Key { what: name.to_string(), source })
}

fn validate_crl_url(url: &str) -> Result<String> {
    let ok_scheme = url.starts_with("http://") || url.starts_with("https://");
    let host_part = url.split("://").nth(1).unwrap_or("");
    if !ok_scheme
        || host_part.is_empty()
        || !url.is_ascii()
        || url.chars().any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
    {
        return Err(Error::usage(format!(
            "--crl-url \"{url}\" is not an http:// or https:// URL (example: http://pki.example.com/crl)"
        )));
    }
    Ok(url.to_string())
}

/// Builds the home in a private staging directory inside it, then moves the pieces into
/// place with the ledger last: a home "exists" only once its ledger does, and a failed init
/// removes everything it made. Staging inside (not renaming a sibling over the target) works
/// for `--home .`, for the shell's current directory and for a symlink to an empty volume.
fn create_home(target: &Path, cas: &[NewCa], passphrase: Option<&Zeroizing<String>>) -> Result<()> {
    let created_target = !target.exists();
    home::create_private_dir(target)?;
    fs::set_permissions(target, fs::Permissions::from_mode(home::DIR_MODE))
        .map_err(|source| Error::Write { path: target.to_path_buf(), source })?;
    let staging = tempfile::Builder::new()
        .prefix(".pkictl-init-")
        .permissions(fs::Permissions::from_mode(home::DIR_MODE))
        .tempdir_in(target)
        .map_err(|source| Error::Write { path: target.to_path_buf(), source })?;
    let mut moved = Vec::new();
    let result = populate(staging.path(), cas, passphrase)
        .and_then(|()| move_into_place(staging.path(), target, &mut moved));
    if result.is_err() {
        remove_partial_home(target, created_target, &moved);
    }
    result
}

/// Writes the CA keys, the ledger and the CA certificates into `dir`.
fn populate(dir: &Path, cas: &[NewCa], passphrase: Option<&Zeroizing<String>>) -> Result<()> {
    let staged = Home::at(dir);
    staged.create_layout()?;
    for ca in cas {
        let pem = match passphrase {
            Some(p) => ca.key.to_encrypted_pkcs8_pem(p.as_bytes()),
            None => ca.key.to_pkcs8_pem(),
        }
        .map_err(|source| Error::Key { what: ca.name.clone(), source })?;
        home::write_atomic_new(&staged.resolve(&Home::ca_key_relative(&ca.slug)), pem.as_bytes(), KEY_MODE)?;
    }
    let mut ledger = Ledger::create(&staged.ledger_path())?;
    ledger.write(|tx| record_cas(tx, cas, passphrase.is_some()))?;
    drop(ledger);
    for ca in cas {
        let pem = crate::x509::certificate_pem(&ca.signed.der);
        home::write_atomic_new(
            &staged.resolve(&Home::ca_cert_relative(&ca.slug)),
            pem.as_bytes(),
            PUBLIC_MODE,
        )?;
    }
    Ok(())
}

/// The directories first, the ledger last; `moved` records what is already in place.
fn move_into_place(staging: &Path, target: &Path, moved: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for name in [home::PRIVATE_DIR, home::CA_DIR, home::CRL_DIR, home::LEDGER_FILE] {
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
fn remove_partial_home(target: &Path, created_target: bool, moved: &[std::path::PathBuf]) {
    if created_target {
        let _ = fs::remove_dir_all(target);
        return;
    }
    for path in moved.iter().rev() {
        let _ = if path.is_dir() { fs::remove_dir_all(path) } else { fs::remove_file(path) };
    }
}

use std::os::unix::fs::PermissionsExt;

/// One transaction: each CA, its certificate row and an audit event; the last is the default.
fn record_cas(tx: &Tx<'_>, cas: &[NewCa], encrypted: bool) -> crate::ledger::LedgerResult<()> {
    let now = engine::now().unix_timestamp();
    let mut parent_id = None;
    for (index, ca) in cas.iter().enumerate() {
        let is_default = index + 1 == cas.len();
        parent_id = Some(record_ca(tx, ca, parent_id, is_default, encrypted, now)?);
    }
    Ok(())
}

fn report(ctx: &Context, cas: &[NewCa], encrypted: bool) {
    let home = Home::at(&ctx.home);
    if ctx.json {
        let authorities: Vec<_> = cas
            .iter()
            .map(|ca| {
                let info = &ca.signed.info;
                json!({
                    "name": ca.name,
                    "role": ca.profile,
                    "key_type": ca.key.key_type().as_str(),
                    "serial": info.serial.hex(),
                    "subject": info.subject,
                    "not_before": format_time(info.not_before),
                    "not_after": format_time(info.not_after),
                    "fingerprint_sha256": info.fingerprint_sha256,
                    "certificate": home.resolve(&Home::ca_cert_relative(&ca.slug)),
                    "key": home.resolve(&Home::ca_key_relative(&ca.slug)),
                    "key_encrypted": encrypted,
                    "crl_url": ca.crl_url,
                })
            })
            .collect();
        print_json(&json!({
            "home": ctx.home,
            "ledger": home.ledger_path(),
            "authorities": authorities,
        }));
        return;
    }
    outln!("Created pkictl home {}", ctx.home.display());
    for ca in cas {
        let info = &ca.signed.info;
        outln!(
            "  {:<13} {}  ({}, serial {}, expires {})",
            ca.profile,
            ca.name,
            ca.key.key_type(),
            info.serial.hex(),
            format_time(info.not_after)
        );
    }
    outln!("  ledger        {}", home.ledger_path().display());
    outln!(
        "  CA keys       {} ({})",
        ctx.home.join(home::PRIVATE_DIR).display(),
        if encrypted { "encrypted" } else { "NOT encrypted" }
    );
}
