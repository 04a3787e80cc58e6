//! `pkictl enroll`: a workload's first certificate from `pkictl serve`, by one-time token.

use std::path::PathBuf;

use clap::Args;

use crate::keys::KeyType;

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// `pkictl serve`'s HTTPS address, e.g. https://pki.acme.internal:8443.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// The root CA certificate (PEM) the server's certificate must chain to.
    #[arg(long, value_name = "FILE")]
    pub root: PathBuf,
    /// The one-time token (prefer --token-file or $PKICTL_TOKEN: a command line is visible to
    /// other users of the machine).
    #[arg(long, value_name = "T", conflicts_with = "token_file", allow_hyphen_values = true)]
    pub token: Option<String>,
    /// Read the token from the first line of FILE [else $PKICTL_TOKEN].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Directory for NAME.crt, NAME.key, NAME.chain.pem, NAME.fullchain.pem.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Type of the new key (made here; it never leaves this machine).
    #[arg(long, value_name = "T", default_value = "p256")]
    pub key_type: KeyType,
    /// Name the files NAME.* [default: the certificate's common name]; given, the files are
    /// checked before the token is used.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}
