//! The four files of an issued certificate — `NAME.crt`, `NAME.key` (PKCS#8, 0600),
//! `NAME.chain.pem`, `NAME.fullchain.pem` — written atomically. Used by `issue`, and by the
//! workload side (`enroll`, `agent`) that writes the same layout.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::home::{self, KEY_MODE, PUBLIC_MODE, StagedFiles};
use crate::keys::{KeyPair, PublicKey};
use crate::x509::certificate_pem;

/// Beyond this many files, one syncfs beats an fsync per file.
const MANY_FILES: usize = 16;

/// Where to write the files of an issuance.
#[derive(Debug, Clone)]
pub struct OutputDir {
    /// The directory (created when missing).
    pub dir: PathBuf,
    /// Overwrite existing files (an old key that does not match is removed).
    pub force: bool,
}

/// The four files one issuance writes.
#[derive(Debug, Clone)]
pub struct OutputFiles {
    dir: PathBuf,
    /// NAME.crt
    pub certificate: PathBuf,
    /// NAME.key, when the key was generated here.
    pub key: Option<PathBuf>,
    /// NAME.key when the key is not ours to write: an old one there would not match.
    stale_key: Option<PathBuf>,
    /// NAME.chain.pem
    pub chain: PathBuf,
    /// NAME.fullchain.pem
    pub fullchain: PathBuf,
}

/// A file to write: path, bytes (zeroized: one of them may be a private key), mode.
pub(super) type PendingFile = (PathBuf, Zeroizing<Vec<u8>>, u32);

impl OutputFiles {
    /// The files for `common_name` in `out`; `with_key` when a key is written too.
    pub fn new(out: &Path, common_name: &str, with_key: bool) -> OutputFiles {
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

    /// The directory they go into.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bytes of each file: leaf, chain, leaf + chain, and the key (when generated) last,
    /// so that a write that fails half-way never leaves a key without its certificate.
    pub(super) fn contents(
        &self,
        leaf_der: &[u8],
        key: Option<&KeyPair>,
        chain: &[Vec<u8>],
    ) -> Result<Vec<PendingFile>> {
        let leaf_pem = certificate_pem(leaf_der);
        let chain_pem: String = chain.iter().map(|der| certificate_pem(der)).collect();
        let mut pending = Vec::with_capacity(4);
        let fullchain = format!("{leaf_pem}{chain_pem}").into_bytes();
        pending.push((self.certificate.clone(), Zeroizing::new(leaf_pem.into_bytes()), PUBLIC_MODE));
        pending.push((self.chain.clone(), Zeroizing::new(chain_pem.into_bytes()), PUBLIC_MODE));
        pending.push((self.fullchain.clone(), Zeroizing::new(fullchain), PUBLIC_MODE));
        if let (Some(path), Some(key)) = (&self.key, key) {
            let pem = key
                .to_pkcs8_pem()
                .map_err(|source| Error::Key { what: path.display().to_string(), source })?;
            pending.push((path.clone(), Zeroizing::new(pem.as_bytes().to_vec()), KEY_MODE));
        }
        Ok(pending)
    }

    /// The files in the order `contents` gives them, with their modes.
    fn targets(&self) -> Vec<(&Path, u32)> {
        let mut targets = vec![
            (self.certificate.as_path(), PUBLIC_MODE),
            (self.chain.as_path(), PUBLIC_MODE),
            (self.fullchain.as_path(), PUBLIC_MODE),
        ];
        targets.extend(self.key.as_deref().map(|k| (k, KEY_MODE)));
        targets
    }

    /// Refuses, even with `--force`, an output name taken by something a file cannot replace
    /// (a directory).
    pub(crate) fn check_not_in_the_way(&self) -> Result<()> {
        match self.targets().into_iter().find(|(p, _)| p.is_dir()) {
            Some((path, _)) => Err(Error::OutputInTheWay { path: path.to_path_buf() }),
            None => Ok(()),
        }
    }

    /// Creates the directory and the temp files (with room set aside) before anything is
    /// signed: a directory that cannot take them fails the request while nothing is recorded.
    pub(crate) fn stage(&self) -> Result<StagedFiles> {
        self.check_not_in_the_way()?;
        StagedFiles::create(&self.dir, &self.targets())
    }

    /// Writes the staged files; an old NAME.key that does not belong to the new certificate is
    /// removed first. A failure says whether a generated key is lost (it is written last).
    pub(crate) fn land(
        &self,
        staged: StagedFiles,
        leaf_der: &[u8],
        key: Option<&KeyPair>,
        chain: &[Vec<u8>],
    ) -> std::result::Result<(), (Error, bool)> {
        let key_lost = key.is_some();
        let pending = self.contents(leaf_der, key, chain).map_err(|e| (e, key_lost))?;
        remove_stale(self.stale_key.iter()).map_err(|e| (e, key_lost))?;
        let bytes: Vec<&[u8]> = pending.iter().map(|(_, b, _)| b.as_slice()).collect();
        staged.land(&bytes).map_err(|(e, in_place)| (e, key_lost && in_place < bytes.len()))
    }

    /// Every file written, certificate first.
    pub fn all(&self) -> Vec<&Path> {
        let mut all = vec![self.certificate.as_path()];
        all.extend(self.key.as_deref());
        all.extend([self.chain.as_path(), self.fullchain.as_path()]);
        all
    }

    /// A NAME.key already there that holds the certified key belongs with the new certificate
    /// (renewal keeping its key): it is neither a conflict nor removed.
    /// It is read like any input (bounded, regular files only): a FIFO or a symlink to
    /// /dev/zero under that name is refused, not read forever.
    pub(super) fn keep_matching_key(&mut self, certified: &PublicKey) -> Result<()> {
        let Some(path) = &self.stale_key else { return Ok(()) };
        let bytes = match home::read_input(path, home::limits::KEY) {
            Ok(bytes) => Zeroizing::new(bytes),
            // Nothing there (or a dangling symlink, which `check_free` refuses): no old key.
            Err(Error::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let text = String::from_utf8_lossy(&bytes);
        if KeyPair::from_pkcs8_pem(&text, None).is_ok_and(|k| k.public_key().bits() == certified.bits()) {
            self.stale_key = None;
        }
        Ok(())
    }

    /// Refuses up front, before anything is signed or recorded, to clobber files.
    pub(crate) fn check_free(&self, force: bool) -> Result<()> {
        if force {
            return Ok(());
        }
        let mut paths = self.all();
        paths.extend(self.stale_key.as_deref());
        // lstat, not exists(): a dangling symlink is a file in the way too (writing would
        // replace it, or follow it somewhere else).
        match paths.into_iter().find(|p| std::fs::symlink_metadata(p).is_ok()) {
            Some(existing) => Err(Error::FileExists { path: existing.to_path_buf() }),
            None => Ok(()),
        }
    }
}

/// Removes old NAME.key files that would not match the new certificate.
fn remove_stale<'a>(stale: impl Iterator<Item = &'a PathBuf>) -> Result<()> {
    for path in stale {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::Write { path: path.clone(), source: e });
            }
            _ => {}
        }
    }
    Ok(())
}

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

/// Writes many files into `dir` atomically with one directory fsync, after removing stale keys.
pub(super) fn write_pending<'a>(
    dir: &Path,
    pending: &[PendingFile],
    stale: impl Iterator<Item = &'a PathBuf>,
) -> Result<()> {
    home::create_private_dir(dir)?;
    remove_stale(stale)?;
    let writes: Vec<(&Path, &[u8], u32)> =
        pending.iter().map(|(p, b, m)| (p.as_path(), b.as_slice(), *m)).collect();
    if writes.len() > MANY_FILES { home::write_atomic_many(&writes) } else { home::write_atomic_all(&writes) }
}
