//! The home directory: its layout, its permissions, and atomic file writes.
//!
//! ```text
//! <home>/            0700
//!   ledger.db        the SQLite ledger (the single source of truth), or
//!   ledger.url       where the ledger is when it is on PostgreSQL: a postgres:// URL
//!                    without password (that comes from PGPASSWORD or PGPASSFILE)
//!   ledger-sqlite-backup.db  after `ledger migrate`: the SQLite ledger it copied, read-only
//!   ca/<slug>.pem    each CA's certificate
//!   private/<slug>.key  each CA's PKCS#8 key, 0600 (encrypted unless --no-passphrase)
//!   crl/<slug>.crl.pem, .crl.der  each CA's latest CRL
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ledger::{Ledger, LedgerLocation, OpenMode, PgLocation};

pub const LEDGER_FILE: &str = "ledger.db";
pub const LEDGER_URL_FILE: &str = "ledger.url";
/// What `ledger migrate` leaves of the SQLite ledger it copied to PostgreSQL.
pub const SQLITE_BACKUP_FILE: &str = "ledger-sqlite-backup.db";
/// Overrides the home's recorded PostgreSQL URL for one run (a URL that may carry a password,
/// which is never written to the home).
pub const LEDGER_URL_VARIABLE: &str = "PKICTL_LEDGER_URL";
pub const PRIVATE_DIR: &str = "private";
pub const CA_DIR: &str = "ca";
pub const CRL_DIR: &str = "crl";

pub const DIR_MODE: u32 = 0o700;
pub const KEY_MODE: u32 = 0o600;
pub const PUBLIC_MODE: u32 = 0o644;

#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// Opens an existing home: one that holds a ledger.
    pub fn open(root: &Path) -> Result<Home> {
        if !root.join(LEDGER_FILE).is_file() && !root.join(LEDGER_URL_FILE).is_file() {
            if let Some(staging) = init_stagings(root).into_iter().next() {
                return Err(Error::InterruptedInit { home: root.to_path_buf(), staging });
            }
            return Err(Error::NoHome { path: root.to_path_buf() });
        }
        Ok(Home { root: root.to_path_buf() })
    }

    /// A home at `root` whose files may not exist yet (used while staging `init`).
    pub fn at(root: &Path) -> Home {
        Home { root: root.to_path_buf() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite ledger file (whether or not the home's ledger is there).
    pub fn ledger_path(&self) -> PathBuf {
        self.root.join(LEDGER_FILE)
    }

    /// Where the home's ledger is: the database `ledger.url` names, else the SQLite file.
    pub fn ledger_location(&self) -> Result<LedgerLocation> {
        let url_file = self.root.join(LEDGER_URL_FILE);
        if !url_file.is_file() {
            return Ok(LedgerLocation::Sqlite(self.ledger_path()));
        }
        let url = match std::env::var(LEDGER_URL_VARIABLE) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => fs::read_to_string(&url_file)
                .map_err(|source| Error::Read { path: url_file.clone(), source })?,
        };
        Ok(LedgerLocation::Postgres(PgLocation::parse(url.trim())?))
    }

    /// Opens the home's ledger in `mode`.
    pub fn open_ledger(&self, mode: OpenMode) -> Result<Box<dyn Ledger>> {
        Ok(crate::ledger::open_at(&self.ledger_location()?, mode)?)
    }

    /// Records that the home's ledger is the database at `at` (its URL without password).
    pub fn record_postgres(&self, at: &PgLocation) -> Result<()> {
        let mut text = at.redacted().to_string();
        text.push('\n');
        write_atomic(&self.root.join(LEDGER_URL_FILE), text.as_bytes(), KEY_MODE)
    }

    /// Path of a file the ledger names relative to the home.
    pub fn resolve(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    pub fn ca_cert_relative(slug: &str) -> String {
        format!("{CA_DIR}/{slug}.pem")
    }

    pub fn ca_key_relative(slug: &str) -> String {
        format!("{PRIVATE_DIR}/{slug}.key")
    }

    pub fn crl_path(&self, slug: &str, der: bool) -> PathBuf {
        let ext = if der { "crl.der" } else { "crl.pem" };
        self.root.join(CRL_DIR).join(format!("{slug}.{ext}"))
    }

    /// Refuses `path` as a place to write output when it is the home or lies inside it, once
    /// symlinks and `..` are resolved: pkictl's own files there (CA keys!) are never replaced
    /// by an output.
    pub fn refuse_inside(&self, path: &Path) -> Result<()> {
        let home =
            fs::canonicalize(&self.root).map_err(|source| Error::Read { path: self.root.clone(), source })?;
        let resolved = resolve(path)?;
        if resolved.starts_with(&home) {
            return Err(Error::OutputInsideHome { path: path.to_path_buf(), home: self.root.clone() });
        }
        Ok(())
    }

    /// Creates the home's subdirectories, each 0700.
    pub fn create_layout(&self) -> Result<()> {
        for dir in [PRIVATE_DIR, CA_DIR, CRL_DIR] {
            create_private_dir(&self.root.join(dir))?;
        }
        Ok(())
    }
}

/// The name prefix of the private directory in which `init` builds a home.
pub const INIT_STAGING_PREFIX: &str = ".pkictl-init-";

/// What an `init` staging directory may hold: the home's layout, nothing else.
const STAGING_ENTRIES: &[&str] = &[
    PRIVATE_DIR,
    CA_DIR,
    CRL_DIR,
    LEDGER_FILE,
    LEDGER_URL_FILE,
    "ledger.db-wal",
    "ledger.db-shm",
    "ledger.db-journal",
];

/// The `init` staging directories directly inside `dir` (left by an `init` that was killed,
/// or in use by one that is running).
pub fn init_stagings(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(INIT_STAGING_PREFIX))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// Marks a staging directory as in use for as long as the returned handle lives: a later
/// `init` leaves a locked staging directory alone.
pub fn lock_staging(path: &Path) -> Result<File> {
    use rustix::fs::{FlockOperation, flock};
    let handle = File::open(path).map_err(|source| Error::Write { path: path.to_path_buf(), source })?;
    flock(&handle, FlockOperation::NonBlockingLockExclusive)
        .map_err(|e| Error::Write { path: path.to_path_buf(), source: e.into() })?;
    Ok(handle)
}

/// Removes a staging directory left by a killed `init` when it is ours beyond doubt: a real
/// directory (not a symlink) owned by this user, holding only a home's layout, and not locked
/// by a running `init`. Returns whether it was removed.
pub fn remove_stale_staging(path: &Path) -> bool {
    use rustix::fs::{FlockOperation, flock};
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::symlink_metadata(path) else { return false };
    if !meta.is_dir() || meta.uid() != rustix::process::geteuid().as_raw() {
        return false;
    }
    let only_layout = fs::read_dir(path).is_ok_and(|entries| {
        entries
            .filter_map(|e| e.ok())
            .all(|e| STAGING_ENTRIES.contains(&e.file_name().to_string_lossy().as_ref()))
    });
    let Ok(handle) = File::open(path) else { return false };
    if !only_layout || flock(&handle, FlockOperation::NonBlockingLockExclusive).is_err() {
        return false;
    }
    // The CA keys in it were never put to use; removing them is all that is needed (there is
    // no overwriting a file's old blocks on a journalling or copy-on-write file system).
    let removed = fs::remove_dir_all(path).is_ok();
    drop(handle);
    removed
}

/// A file-name-safe form of a CA name: "Acme Root CA" becomes "acme-root-ca".
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-').to_string();
    if trimmed.is_empty() { "ca".to_string() } else { trimmed }
}

/// Where `path` leads: every existing component with its symlinks resolved, `..` applied to
/// what is resolved so far, and the parts that do not exist yet appended as they are.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    use std::path::Component;
    let absolute =
        std::path::absolute(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    let mut resolved = PathBuf::from("/");
    for component in absolute.components() {
        match component {
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(part) => {
                resolved.push(part);
                if fs::symlink_metadata(&resolved).is_ok() {
                    // A dangling symlink stays as it is: nothing can be written through it.
                    if let Ok(real) = fs::canonicalize(&resolved) {
                        resolved = real;
                    }
                }
            }
        }
    }
    Ok(resolved)
}

/// The name of the lock every writer of a home's CRL files holds (`crl`, `revoke`,
/// `doctor --repair`), in the CRL directory.
pub const PUBLISH_LOCK: &str = ".publish.lock";

/// An exclusive lock on a home's CRL files, held until dropped. The lock file is created 0600
/// whatever the umask, and an older, wider one is narrowed.
pub struct PublishLock {
    _file: File,
}

impl PublishLock {
    /// Waits for, and takes, the publish lock of `home`.
    pub fn acquire(home: &Home) -> Result<PublishLock> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = home.root().join(CRL_DIR);
        create_private_dir(&dir)?;
        let path = dir.join(PUBLISH_LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(KEY_MODE)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .map_err(|source| Error::Write { path: path.clone(), source })?;
        let narrow = file
            .metadata()
            .map(|m| m.permissions().mode() & 0o077 != 0)
            .map_err(|source| Error::Write { path: path.clone(), source })?;
        if narrow {
            file.set_permissions(fs::Permissions::from_mode(KEY_MODE))
                .map_err(|source| Error::Write { path: path.clone(), source })?;
        }
        file.lock().map_err(|source| Error::Write { path, source })?;
        Ok(PublishLock { _file: file })
    }
}

pub fn create_private_dir(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .mode(DIR_MODE)
        .recursive(true)
        .create(path)
        .map_err(|source| Error::Write { path: path.to_path_buf(), source })
}

/// Writes `bytes` to `path` so that a reader sees either the old file or the whole new one:
/// a temp file in the same directory, created with `mode` (no window with wider
/// permissions), fsynced, renamed over the target, and the directory fsynced.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let tmp = staged_temp_file(path, bytes, mode)?;
    tmp.persist(path).map_err(|e| write_error(path, e.error))?;
    sync_dir(parent_dir(path)).map_err(|e| write_error(path, e))
}

/// Like `write_atomic`, but refuses to replace an existing file.
pub fn write_atomic_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let tmp = staged_temp_file(path, bytes, mode)?;
    tmp.persist_noclobber(path).map_err(|e| write_error(path, e.error))?;
    sync_dir(parent_dir(path)).map_err(|e| write_error(path, e))
}

/// Like `write_atomic`, for content produced piece by piece (a large CRL's PEM is never
/// built as one string).
pub fn write_atomic_streamed(
    path: &Path,
    mode: u32,
    produce: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let mut tmp = empty_temp_file(path, mode)?;
    {
        let mut buffered = std::io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        produce(&mut buffered).and_then(|()| buffered.flush()).map_err(|e| write_error(path, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| write_error(path, e))?;
    tmp.persist(path).map_err(|e| write_error(path, e.error))?;
    sync_dir(parent_dir(path)).map_err(|e| write_error(path, e))
}

/// Several files in one directory, each atomically (as `write_atomic`), with one directory
/// fsync for all of them instead of one per file.
pub fn write_atomic_all(files: &[(&Path, &[u8], u32)]) -> Result<()> {
    let staged = files
        .iter()
        .map(|(path, bytes, mode)| staged_temp_file(path, bytes, *mode).map(|tmp| (*path, tmp)))
        .collect::<Result<Vec<_>>>()?;
    persist_all(staged)
}

/// Like `write_atomic_all` for hundreds of files at once: the temp files are made durable with
/// one `syncfs` of their file system instead of one fsync each, then renamed into place, then
/// each directory is fsynced. No file ever appears under its final name before its bytes are
/// on disk.
pub fn write_atomic_many(files: &[(&Path, &[u8], u32)]) -> Result<()> {
    let staged = files
        .iter()
        .map(|(path, bytes, mode)| unsynced_temp_file(path, bytes, *mode).map(|tmp| (*path, tmp)))
        .collect::<Result<Vec<_>>>()?;
    if let Some((path, tmp)) = staged.first() {
        rustix::fs::syncfs(tmp.as_file()).map_err(|e| write_error(path, e.into()))?;
    }
    persist_all(staged)
}

/// Renames durable temp files to their final names, then fsyncs each directory once.
fn persist_all(staged: Vec<(&Path, tempfile::NamedTempFile)>) -> Result<()> {
    let mut dirs: Vec<&Path> = Vec::new();
    for (path, tmp) in staged {
        tmp.persist(path).map_err(|e| write_error(path, e.error))?;
        let dir = parent_dir(path);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    for dir in dirs {
        sync_dir(dir).map_err(|e| write_error(dir, e))?;
    }
    Ok(())
}

/// Space set aside in each staged file: more than any certificate, chain or key pkictl writes
/// needs, so that the writes after signing do not have to find room on the disk.
const STAGED_RESERVE: u64 = 16 * 1024;

/// Temp files created (and their room reserved) for outputs before anything is signed, so that
/// a directory that is read-only or full is found out while nothing has been recorded.
pub struct StagedFiles {
    files: Vec<(PathBuf, tempfile::NamedTempFile)>,
    /// Directories made for them, shallowest first; removed again unless the files land.
    created_dirs: Vec<PathBuf>,
    landed: bool,
}

impl StagedFiles {
    /// Creates `dir` (0700) when it is missing and one temp file per target in it, each with
    /// its final `mode`.
    pub fn create(dir: &Path, targets: &[(&Path, u32)]) -> Result<StagedFiles> {
        let mut staged = StagedFiles { files: Vec::new(), created_dirs: missing_dirs(dir), landed: false };
        create_private_dir(dir)?;
        for (path, mode) in targets {
            let tmp = empty_temp_file(path, *mode)?;
            reserve(tmp.as_file(), STAGED_RESERVE).map_err(|e| write_error(path, e))?;
            staged.files.push((path.to_path_buf(), tmp));
        }
        Ok(staged)
    }

    /// Writes each target's bytes (given in the order of `create`), fsyncs them, then renames
    /// them into place in that order, then fsyncs the directory. A failure comes with how many
    /// files are in place under their final names.
    pub fn land(mut self, contents: &[&[u8]]) -> std::result::Result<(), (Error, usize)> {
        if contents.len() != self.files.len() {
            return Err((Error::Internal("staged files and contents differ in number".into()), 0));
        }
        for ((path, tmp), bytes) in self.files.iter_mut().zip(contents) {
            let file = tmp.as_file_mut();
            let written = file
                .write_all(bytes)
                .and_then(|()| file.set_len(bytes.len() as u64))
                .and_then(|()| file.sync_all());
            written.map_err(|e| (write_error(path, e), 0))?;
        }
        // The directories stay from here on: some file may already be in place.
        self.landed = true;
        let staged: Vec<(PathBuf, tempfile::NamedTempFile)> = std::mem::take(&mut self.files);
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (in_place, (path, tmp)) in staged.into_iter().enumerate() {
            tmp.persist(&path).map_err(|e| (write_error(&path, e.error), in_place))?;
            let dir = parent_dir(&path).to_path_buf();
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        let all = contents.len();
        for dir in dirs {
            sync_dir(&dir).map_err(|e| (write_error(&dir, e), all))?;
        }
        Ok(())
    }
}

impl Drop for StagedFiles {
    fn drop(&mut self) {
        self.files.clear(); // removes the temp files
        if !self.landed {
            for dir in self.created_dirs.iter().rev() {
                let _ = fs::remove_dir(dir);
            }
        }
    }
}

/// `dir` and its ancestors that do not exist yet, shallowest first.
fn missing_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && fs::symlink_metadata(p).is_err())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    missing
}

/// Sets disk blocks aside for a file without changing its size; file systems that cannot do
/// that are left to find room when the bytes come.
fn reserve(file: &File, bytes: u64) -> std::io::Result<()> {
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::KEEP_SIZE, 0, bytes) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::NOSYS => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A temp file next to `path`, created with `mode` (never wider, not even for a moment), named
/// `.pkictl-*.tmp` so that `doctor` recognises an interrupted write.
fn empty_temp_file(path: &Path, mode: u32) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".pkictl-")
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(parent_dir(path))
        .map_err(|e| write_error(path, e))
}

fn unsynced_temp_file(path: &Path, bytes: &[u8], mode: u32) -> Result<tempfile::NamedTempFile> {
    let mut tmp = empty_temp_file(path, mode)?;
    tmp.write_all(bytes).map_err(|e| write_error(path, e))?;
    Ok(tmp)
}

fn staged_temp_file(path: &Path, bytes: &[u8], mode: u32) -> Result<tempfile::NamedTempFile> {
    let tmp = unsynced_temp_file(path, bytes, mode)?;
    tmp.as_file().sync_all().map_err(|e| write_error(path, e))?;
    Ok(tmp)
}

fn write_error(path: &Path, source: std::io::Error) -> Error {
    Error::Write { path: path.to_path_buf(), source }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// How much pkictl reads of one kind of input file, and what to call that kind in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// What the file should hold ("certificate file"), for messages.
    pub kind: &'static str,
    /// The most bytes such a file can hold.
    pub max: u64,
}

/// The one reader of files pkictl is given: only a regular file (a symlink counts as what it
/// points at), never more than `limit.max` bytes. A FIFO, a device, a socket or a directory is
/// refused before it is opened, so a FIFO without a writer cannot block and /dev/zero cannot
/// fill the memory.
pub fn read_input(path: &Path, limit: Limit) -> Result<Vec<u8>> {
    read_input_with_mode(path, limit).map(|(bytes, _)| bytes)
}

/// Like [`read_input`], with the file's permission bits (for files that should be private).
pub fn read_input_with_mode(path: &Path, limit: Limit) -> Result<(Vec<u8>, u32)> {
    let read_err = |source| Error::Read { path: path.to_path_buf(), source };
    // stat before open: opening a FIFO waits for a writer, opening a device can act on it.
    refuse_irregular(path, &fs::metadata(path).map_err(read_err)?)?;
    let file = open_nonblocking(path).map_err(read_err)?;
    // fstat the file actually opened: the path may have been swapped in between.
    let meta = file.metadata().map_err(read_err)?;
    refuse_irregular(path, &meta)?;
    let too_large = || Error::FileTooLarge { path: path.to_path_buf(), kind: limit.kind, max: limit.max };
    if meta.len() > limit.max {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The bound holds even for a file that grows while it is read.
    std::io::Read::read_to_end(&mut std::io::Read::take(file, limit.max + 1), &mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > limit.max {
        return Err(too_large());
    }
    Ok((bytes, meta.permissions().mode() & 0o7777))
}

fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
    OpenOptions::new().read(true).custom_flags(flags.bits() as i32).open(path)
}

fn refuse_irregular(path: &Path, meta: &fs::Metadata) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    };
    Err(Error::NotARegularFile { path: path.to_path_buf(), what })
}

/// Limits of what pkictl reads from files it is given.
pub mod limits {
    use super::Limit;

    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;

    const LIST: u64 = 256 * MIB;

    /// A certificate signing request.
    pub const CSR: Limit = Limit { kind: "certificate signing request", max: MIB };
    /// A certificate, or a PEM bundle of a chain or trust anchors.
    pub const CERTIFICATE: Limit = Limit { kind: "certificate file", max: MIB };
    /// A private key file.
    pub const KEY: Limit = Limit { kind: "key file", max: MIB };
    /// A passphrase file.
    pub const PASSPHRASE: Limit = Limit { kind: "passphrase file", max: 64 * KIB };
    /// A list for `--batch` or `--from-file`.
    pub const LIST_FILE: Limit = Limit { kind: "list", max: LIST };
    /// A CRL (one of a million entries is about 50 MB).
    pub const CRL: Limit = Limit { kind: "CRL file", max: 256 * MIB };
}

/// Checks, before anything is signed, that files can be written into `dir`: it is a directory,
/// or it does not exist yet and its nearest existing ancestor is one.
pub fn check_output_dir(dir: &Path) -> Result<()> {
    let not_a_dir = |p: &Path| Error::NotADirectory { path: p.to_path_buf() };
    let mut probe = dir.to_path_buf();
    loop {
        match fs::symlink_metadata(&probe) {
            Ok(_) => {
                // Follows a symlink: a dangling one fails here.
                return match fs::metadata(&probe) {
                    Ok(meta) if meta.is_dir() => Ok(()),
                    _ => Err(not_a_dir(&probe)),
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Err(not_a_dir(&probe)),
            Err(source) => return Err(Error::Read { path: probe, source }),
        }
        if !probe.pop() || probe.as_os_str().is_empty() {
            return Ok(()); // a relative path under the working directory
        }
    }
}

/// Checks, before anything is signed, that `file` can be written: not a directory, and in an
/// existing directory.
pub fn check_output_file(file: &Path) -> Result<()> {
    if file.is_dir() {
        return Err(Error::IsADirectory { path: file.to_path_buf() });
    }
    let dir = parent_dir(file);
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        _ => Err(Error::invalid(format!("{} is not an existing directory; create it first", dir.display()))),
    }
}

/// True when the directory does not exist or exists and holds nothing.
pub fn is_missing_or_empty(path: &Path) -> Result<bool> {
    match fs::read_dir(path) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(false),
        Err(source) => Err(Error::Read { path: path.to_path_buf(), source }),
    }
}

/// Reads a key file only when nobody but the owner can read it: a CA key that others could
/// read must be treated as exposed, not silently used. Bounded and regular-only like
/// [`read_input`].
pub fn read_private_file(path: &Path) -> Result<Vec<u8>> {
    let (bytes, mode) = read_input_with_mode(path, limits::KEY)?;
    if mode & 0o077 != 0 {
        return Err(Error::KeyExposed { path: path.to_path_buf(), mode: mode & 0o777 });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(slug("Acme Root CA"), "acme-root-ca");
        assert_eq!(slug("  Ünïcode / CA  "), "n-code-ca");
        assert_eq!(slug("///"), "ca");
    }

    #[test]
    fn special_files_are_refused_before_they_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
            0,
        )
        .unwrap();
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        for (path, what) in [
            (fifo.as_path(), "a FIFO (named pipe)"),
            (zero.as_path(), "a character device"),
            (dir.path(), "a directory"),
        ] {
            match read_input(path, limits::CSR) {
                Err(Error::NotARegularFile { what: found, .. }) => assert_eq!(found, what),
                other => panic!("{}: {other:?}", path.display()),
            }
        }
        let big = dir.path().join("big");
        fs::write(&big, vec![b'x'; 64 * 1024 + 1]).unwrap();
        assert!(matches!(read_input(&big, limits::PASSPHRASE), Err(Error::FileTooLarge { .. })));
    }

    #[test]
    fn atomic_write_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        write_atomic(&path, b"secret", KEY_MODE).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(write_atomic_new(&path, b"other", KEY_MODE).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"secret");
    }
}
