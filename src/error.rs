//! The one error type commands return; each variant knows its exit code.

use std::path::PathBuf;

use crate::keys::KeyError;
use crate::ledger::LedgerError;

/// Exit code for "the operation was refused or failed" (verification said no, I/O broke).
pub const EXIT_FAILED: i32 = 1;
/// Exit code for bad usage or bad input: nothing was changed.
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input the user can fix; the message names the input and what to do.
    #[error("{0}")]
    Usage(String),

    #[error("{} already holds files; `init` only creates a new home in an empty or missing directory (pick another --home, or move those files away)", path.display())]
    HomeNotEmpty { path: PathBuf },

    #[error("{} is not a pkictl home (no ledger.db); run `pkictl init --name \"My Root CA\"` first, or point --home / PKICTL_HOME at an existing home", path.display())]
    NoHome { path: PathBuf },

    #[error("wrong passphrase for {ca}")]
    WrongPassphrase { ca: String },

    #[error(
        "no passphrase for {what}: pass --passphrase-file FILE or set {env_var} (there is no terminal to prompt on)"
    )]
    NoPassphrase { what: String, env_var: &'static str },

    #[error("no CA named \"{name}\" in this home; `pkictl ca list` shows the names")]
    UnknownCa { name: String },

    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },

    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },

    #[error("the key of {what} is unusable: {source}")]
    Key { what: String, source: KeyError },

    #[error("{0}")]
    Ledger(#[from] LedgerError),

    /// The engine produced something it refuses to hand out (a failed pre-issuance check).
    #[error("internal error, nothing was issued: {0}")]
    Internal(String),
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Error {
        Error::Usage(message.into())
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_)
            | Error::HomeNotEmpty { .. }
            | Error::NoHome { .. }
            | Error::WrongPassphrase { .. }
            | Error::NoPassphrase { .. }
            | Error::UnknownCa { .. }
            | Error::Read { .. } => EXIT_USAGE,
            Error::Ledger(e) if e.is_bad_input() => EXIT_USAGE,
            Error::Key { source, .. } if !matches!(source, KeyError::Generate(_) | KeyError::Encode(_)) => {
                EXIT_USAGE
            }
            Error::Write { .. } | Error::Key { .. } | Error::Ledger(_) | Error::Internal(_) => EXIT_FAILED,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A message as one line of plain text: control characters that came with user input (a
/// newline in an argument, an ESC in a CSR) are shown escaped, never sent to the terminal.
pub fn one_line(text: &str) -> String {
    text.chars()
        .flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] })
        .collect()
}

impl Error {
    /// The message to print: one line, whatever the input it quotes.
    pub fn one_line(&self) -> String {
        one_line(&self.to_string())
    }
}

impl From<crate::engine::EngineError> for Error {
    fn from(e: crate::engine::EngineError) -> Error {
        match e {
            crate::engine::EngineError::ValidityBeyondIssuer { .. }
            | crate::engine::EngineError::BadRequest(_)
            | crate::engine::EngineError::NameConstraint { .. }
            | crate::engine::EngineError::PathLength { .. }
            | crate::engine::EngineError::KeyMismatch { .. } => Error::Usage(e.to_string()),
            other => Error::Internal(other.to_string()),
        }
    }
}
