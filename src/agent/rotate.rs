//! Installing a renewed key and certificate so that no reader and no crash ever pairs a key
//! with a certificate it does not belong to.
//!
//! Each renewal is written, fsynced, into a new generation directory inside a state directory
//! next to the certificate (`.NAME.crt.pkictl-agent/g-…/`); a symlink `current` in the state
//! directory names the live generation, and the user's paths (`--cert`, `--key`, the chain,
//! the fullchain, the bundle) are symlinks through it (`NAME.crt -> .NAME.crt.pkictl-agent/
//! current/cert.pem`). Swapping `current` with one rename(2) is the single commit point: before
//! it every path shows the old generation, after it every path shows the new one, and a crash
//! anywhere leaves one or the other. Files that are still regular files (as `issue --out` wrote
//! them) are first copied into a generation of their own and replaced by symlinks showing the
//! same bytes, so adopting them changes nothing a reader can see. The previous generation is
//! kept until the next renewal, so a file opened just before a swap stays readable.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::home::{self, KEY_MODE, PUBLIC_MODE};
use crate::keys::KeyPair;
use crate::x509::certificate_pem;

const CURRENT: &str = "current";
const STATE_DIR_MODE: u32 = 0o755;

/// The files the agent keeps, by role.
#[derive(Debug, Clone)]
pub struct AgentFiles {
    /// The certificate (leaf only).
    pub cert: PathBuf,
    /// The private key, PKCS#8 PEM, 0600.
    pub key: PathBuf,
    /// The issuing CA certificates up to, not including, the root.
    pub chain: PathBuf,
    /// Leaf + chain.
    pub fullchain: PathBuf,
    /// Key + leaf + chain in one file (HAProxy's `crt`), when asked for.
    pub bundle: Option<PathBuf>,
}

/// One role: its file name inside a generation, and its mode.
struct Role<'a> {
    path: &'a Path,
    name: &'static str,
    mode: u32,
}

impl AgentFiles {
    /// The layout `issue --out` writes: for `DIR/NAME.crt`, `DIR/NAME.chain.pem` and
    /// `DIR/NAME.fullchain.pem`.
    pub fn beside(cert: &Path, key: &Path) -> AgentFiles {
        let name = cert.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let stem = name.strip_suffix(".crt").unwrap_or(&name).to_string();
        AgentFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            chain: cert.with_file_name(format!("{stem}.chain.pem")),
            fullchain: cert.with_file_name(format!("{stem}.fullchain.pem")),
            bundle: None,
        }
    }

    fn roles(&self) -> Vec<Role<'_>> {
        let mut roles = vec![
            Role { path: &self.cert, name: "cert.pem", mode: PUBLIC_MODE },
            Role { path: &self.key, name: "key.pem", mode: KEY_MODE },
            Role { path: &self.chain, name: "chain.pem", mode: PUBLIC_MODE },
            Role { path: &self.fullchain, name: "fullchain.pem", mode: PUBLIC_MODE },
        ];
        if let Some(bundle) = &self.bundle {
            roles.push(Role { path: bundle, name: "bundle.pem", mode: KEY_MODE });
        }
        roles
    }

    /// The state directory: `.NAME.crt.pkictl-agent` next to the certificate.
    pub fn state_dir(&self) -> PathBuf {
        let name = self.cert.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.cert.with_file_name(format!(".{name}.pkictl-agent"))
    }
}

/// What a renewal installs.
pub struct NewGeneration<'a> {
    /// The leaf, DER.
    pub leaf: &'a [u8],
    /// The chain, DER, issuing CA first.
    pub chain: &'a [Vec<u8>],
    /// The key the leaf certifies.
    pub key: &'a KeyPair,
}

/// Installs a new generation and makes it the live one; returns the generation directory.
pub fn install(files: &AgentFiles, new: &NewGeneration<'_>) -> Result<PathBuf> {
    let state = files.state_dir();
    create_dir(&state)?;
    adopt(files, &state)?;
    let contents = generation_contents(new)?;
    let roles = files.roles();
    let gen_dir = write_generation(&state, &roles, |role| contents_for(&contents, role.name))?;
    let previous = fs::read_link(state.join(CURRENT)).ok();
    swap_current(&state, &gen_dir)?;
    link_paths(files, &state)?;
    remove_old_generations(&state, &gen_dir, previous.as_deref());
    Ok(gen_dir)
}

struct Contents {
    cert: Zeroizing<Vec<u8>>,
    key: Zeroizing<Vec<u8>>,
    chain: Zeroizing<Vec<u8>>,
    fullchain: Zeroizing<Vec<u8>>,
    bundle: Zeroizing<Vec<u8>>,
}

fn generation_contents(new: &NewGeneration<'_>) -> Result<Contents> {
    let leaf = certificate_pem(new.leaf);
    let chain: String = new.chain.iter().map(|der| certificate_pem(der)).collect();
    let key = new.key.to_pkcs8_pem().map_err(|source| Error::Key { what: "the new key".into(), source })?;
    let fullchain = format!("{leaf}{chain}");
    Ok(Contents {
        bundle: Zeroizing::new(format!("{}{fullchain}", key.as_str()).into_bytes()),
        cert: Zeroizing::new(leaf.into_bytes()),
        key: Zeroizing::new(key.as_bytes().to_vec()),
        chain: Zeroizing::new(chain.into_bytes()),
        fullchain: Zeroizing::new(fullchain.into_bytes()),
    })
}

fn contents_for<'c>(contents: &'c Contents, name: &str) -> Option<&'c [u8]> {
    Some(match name {
        "cert.pem" => &contents.cert,
        "key.pem" => &contents.key,
        "chain.pem" => &contents.chain,
        "fullchain.pem" => &contents.fullchain,
        "bundle.pem" => &contents.bundle,
        _ => return None,
    })
}

/// Replaces user paths that are not yet our symlinks (regular files from `issue --out`, or
/// files put back by hand) with symlinks, through a generation holding exactly what they show.
fn adopt(files: &AgentFiles, state: &Path) -> Result<()> {
    let roles = files.roles();
    let pending: Vec<&Role<'_>> = roles.iter().filter(|r| !is_our_link(r, state)).collect();
    if pending.is_empty() {
        return Ok(());
    }
    let mut shown = Vec::new();
    for role in &roles {
        shown.push(match home::read_input(role.path, home::limits::KEY) {
            Ok(bytes) => Some(Zeroizing::new(bytes)),
            Err(Error::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        });
    }
    let gen_dir = write_generation(state, &roles, |role| {
        let index = roles.iter().position(|r| r.name == role.name)?;
        shown[index].as_deref().map(|b| b.as_slice())
    })?;
    let previous = fs::read_link(state.join(CURRENT)).ok();
    swap_current(state, &gen_dir)?;
    for (role, bytes) in roles.iter().zip(&shown) {
        if bytes.is_some() && !is_our_link(role, state) {
            replace_with_link(role, state)?;
        }
    }
    remove_old_generations(state, &gen_dir, previous.as_deref());
    Ok(())
}

/// Creates the user paths that are missing (a chain file the old tool never wrote) or not yet
/// links, once the live generation has every file.
fn link_paths(files: &AgentFiles, state: &Path) -> Result<()> {
    for role in files.roles() {
        if !is_our_link(&role, state) {
            replace_with_link(&role, state)?;
        }
    }
    Ok(())
}

/// The symlink target a user path gets: relative when it sits next to the state directory.
fn link_target(role: &Role<'_>, state: &Path) -> PathBuf {
    let through = Path::new(state.file_name().unwrap_or_default()).join(CURRENT).join(role.name);
    if role.path.parent() == state.parent() { through } else { absolute(state).join(CURRENT).join(role.name) }
}

fn absolute(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn is_our_link(role: &Role<'_>, state: &Path) -> bool {
    fs::read_link(role.path).is_ok_and(|target| target == link_target(role, state))
}

/// An atomic replacement of `role.path` by a symlink into `current`.
fn replace_with_link(role: &Role<'_>, state: &Path) -> Result<()> {
    let dir = parent(role.path);
    let tmp = dir.join(format!(".pkictl-agent-{}.tmp", random_suffix()?));
    let write = |e: std::io::Error| Error::Write { path: role.path.to_path_buf(), source: e };
    std::os::unix::fs::symlink(link_target(role, state), &tmp).map_err(write)?;
    fs::rename(&tmp, role.path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        write(e)
    })?;
    sync_dir(dir).map_err(write)
}

/// A new generation directory with one file per role that has contents; every file and the
/// directory fsynced before it is returned.
fn write_generation<'r>(
    state: &Path,
    roles: &'r [Role<'r>],
    contents: impl Fn(&Role<'r>) -> Option<&'r [u8]>,
) -> Result<PathBuf> {
    let gen_dir = state.join(format!("g-{}-{}", crate::engine::now().unix_timestamp(), random_suffix()?));
    create_dir(&gen_dir)?;
    for role in roles {
        if let Some(bytes) = contents(role) {
            home::write_atomic_new(&gen_dir.join(role.name), bytes, role.mode)?;
        }
    }
    sync_dir(&gen_dir).map_err(|e| Error::Write { path: gen_dir.clone(), source: e })?;
    Ok(gen_dir)
}

/// The commit: `current` is replaced by a symlink to `gen_dir` with one rename.
fn swap_current(state: &Path, gen_dir: &Path) -> Result<()> {
    let name = gen_dir.file_name().unwrap_or_default();
    let tmp = state.join(format!(".current-{}.tmp", random_suffix()?));
    let write = |e: std::io::Error| Error::Write { path: state.join(CURRENT), source: e };
    std::os::unix::fs::symlink(name, &tmp).map_err(write)?;
    fs::rename(&tmp, state.join(CURRENT)).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        write(e)
    })?;
    sync_dir(state).map_err(write)
}

/// Removes generations other than the live one and the one before it, and leftovers of
/// interrupted swaps; what cannot be removed is left for the next time.
fn remove_old_generations(state: &Path, live: &Path, previous: Option<&Path>) {
    let Ok(entries) = fs::read_dir(state) else { return };
    let keep = |name: &str| {
        Some(std::ffi::OsStr::new(name)) == live.file_name()
            || previous.is_some_and(|p| p.file_name() == Some(std::ffi::OsStr::new(name)))
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("g-") && !keep(&name) {
            let _ = fs::remove_dir_all(entry.path());
        } else if name.starts_with(".current-") && name.ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn create_dir(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .mode(STATE_DIR_MODE)
        .recursive(true)
        .create(path)
        .map_err(|source| Error::Write { path: path.to_path_buf(), source })?;
    // The umask may have narrowed it; readers of the certificate need to pass through.
    fs::set_permissions(path, fs::Permissions::from_mode(STATE_DIR_MODE))
        .map_err(|source| Error::Write { path: path.to_path_buf(), source })
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

fn random_suffix() -> Result<String> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("the system RNG failed: {e}")))?;
    Ok(crate::x509::hex(&bytes))
}
