//! The CLI's side of [`Unlock`]: CA passphrases come from `--passphrase-file`, else
//! `$PKICTL_PASSPHRASE`, else a prompt when stdin is a terminal, else a clear error.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::Unlock;

pub const ENV_VAR: &str = "PKICTL_PASSPHRASE";
/// Shorter passphrases are refused when a key is created.
pub const MIN_LEN: usize = 8;

#[derive(Debug, Clone)]
pub struct PassphraseSource {
    pub file: Option<PathBuf>,
    /// The flag that names the file (for messages).
    pub flag: &'static str,
    /// The environment variable consulted when there is no file.
    pub env_var: &'static str,
}

impl PassphraseSource {
    /// The CA passphrase: `--passphrase-file`, else `$PKICTL_PASSPHRASE`.
    pub fn ca(file: Option<PathBuf>) -> PassphraseSource {
        PassphraseSource::new(file, "--passphrase-file", ENV_VAR)
    }

    /// A secret of its own: FILE given with `flag`, else `$env_var`, else a prompt.
    pub fn new(file: Option<PathBuf>, flag: &'static str, env_var: &'static str) -> PassphraseSource {
        PassphraseSource { file, flag, env_var }
    }

    /// The secret when it is given without a prompt (a file or the variable), else None.
    pub fn known(&self) -> Result<Option<Zeroizing<String>>> {
        self.non_interactive()
    }
}

impl PassphraseSource {
    /// The passphrase for a new key. A prompt asks twice.
    pub fn for_new_key(&self, what: &str) -> Result<Zeroizing<String>> {
        let passphrase = match self.non_interactive()? {
            Some(p) => p,
            None => {
                let first = prompt(&format!("New passphrase for {what}: "), what, self)?;
                let second = prompt(&format!("Repeat the passphrase for {what}: "), what, self)?;
                if *first != *second {
                    return Err(Error::invalid("the two passphrases differ; nothing was created"));
                }
                first
            }
        };
        if passphrase.chars().count() < MIN_LEN {
            return Err(Error::invalid(format!(
                "the passphrase for {what} is shorter than {MIN_LEN} characters; choose a longer one"
            )));
        }
        Ok(passphrase)
    }

    /// The passphrase to unlock an existing key.
    pub fn for_existing_key(&self, what: &str) -> Result<Zeroizing<String>> {
        match self.non_interactive()? {
            Some(p) => Ok(p),
            None => prompt(&format!("Passphrase for {what}: "), what, self),
        }
    }

    fn non_interactive(&self) -> Result<Option<Zeroizing<String>>> {
        if let Some(path) = &self.file {
            return read_passphrase_file(path).map(Some);
        }
        match std::env::var(self.env_var) {
            // Set but empty is a mistake in a script (an unset variable expanded), not a
            // passphrase to try: saying "wrong passphrase" would send the operator the wrong way.
            Ok(value) if value.is_empty() => Err(Error::invalid(format!(
                "${} is set but empty; put the passphrase in it, or unset it (or use --passphrase-file FILE)",
                self.env_var
            ))),
            Ok(value) => Ok(Some(Zeroizing::new(value))),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Error::invalid(format!("${} is not valid UTF-8", self.env_var)))
            }
            Err(std::env::VarError::NotPresent) => Ok(None),
        }
    }
}

/// Whether the exposed-passphrase-file warning was printed (a run may unlock several keys).
static WARNED_EXPOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Reads the first line of the file; a trailing newline is not part of the passphrase.
fn read_passphrase_file(path: &Path) -> Result<Zeroizing<String>> {
    let (bytes, mode) = crate::home::read_input_with_mode(path, crate::home::limits::PASSPHRASE)?;
    let bytes = Zeroizing::new(bytes);
    if mode & 0o077 != 0 && !WARNED_EXPOSED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        // Used all the same (refusing would break a running setup), but the operator must know.
        eprintln!(
            "warning: passphrase file {} is readable by group or others (mode {:o}); run `chmod 600 {}`",
            crate::error::one_line(&path.display().to_string()),
            mode & 0o777,
            crate::error::one_line(&path.display().to_string())
        );
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::invalid(format!("passphrase file {} is not UTF-8 text", path.display())))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(Error::invalid(format!(
            "passphrase file {} is empty; put the passphrase on its first line",
            path.display()
        )));
    }
    Ok(Zeroizing::new(line.to_string()))
}

fn prompt(text: &str, what: &str, source: &PassphraseSource) -> Result<Zeroizing<String>> {
    let unavailable = || {
        Error::Unlock(format!(
            "no passphrase for {what}: pass {} FILE or set {} (there is no terminal to prompt on)",
            source.flag, source.env_var
        ))
    };
    if !std::io::stdin().is_terminal() {
        return Err(unavailable());
    }
    rpassword::prompt_password(text).map(Zeroizing::new).map_err(|_| unavailable())
}

/// [`Unlock`] for the CLI: a [`PassphraseSource`] asked each time a key is unlocked.
pub struct CliUnlock {
    source: PassphraseSource,
}

impl CliUnlock {
    pub fn new(source: PassphraseSource) -> CliUnlock {
        CliUnlock { source }
    }
}

impl Unlock for CliUnlock {
    fn passphrase(&self, what: &str) -> Result<Zeroizing<String>> {
        self.source.for_existing_key(what)
    }

    fn new_passphrase(&self, what: &str) -> Result<Zeroizing<String>> {
        self.source.for_new_key(what)
    }
}
