//! The command line, described with clap derive. Nothing here does any work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::keys::KeyType;

#[derive(Debug, Parser)]
#[command(
    name = "pkictl",
    version,
    about = "A private certificate authority for mutual TLS, run from the shell",
    after_help = "Examples:\n  pkictl init --name \"Acme Root CA\"\n  pkictl ca list\n  pkictl --home /srv/pki ca cert > ca.pem"
)]
pub struct Cli {
    /// The home: one trust domain (ledger, CA keys, CA certificates).
    #[arg(long, global = true, env = "PKICTL_HOME", default_value = "pki", value_name = "DIR")]
    pub home: PathBuf,

    /// Print one JSON object on stdout and nothing else.
    #[arg(long, global = true)]
    pub json: bool,

    /// Read the CA passphrase from the first line of FILE (else $PKICTL_PASSPHRASE, else a prompt).
    #[arg(long, global = true, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a home: the ledger, a self-signed root CA and an issuing intermediate.
    #[command(after_help = "Examples:\n  \
        PKICTL_PASSPHRASE=... pkictl init --name \"Acme Root CA\"\n  \
        pkictl init --name \"Acme Root CA\" --intermediate \"Acme Issuing CA\" --key-type p384 \\\n      \
        --crl-url http://pki.acme.internal/crl --passphrase-file ./ca.pass\n  \
        pkictl --home ./lab init --name \"Lab CA\" --no-passphrase --no-intermediate")]
    Init(InitArgs),

    /// Inspect the CAs of this home.
    #[command(subcommand)]
    Ca(CaCommand),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Common name of the root CA.
    #[arg(long, value_name = "NAME")]
    pub name: String,

    /// Common name of the issuing intermediate [default: "<NAME> Issuing CA"].
    #[arg(long, value_name = "NAME", conflicts_with = "no_intermediate")]
    pub intermediate: Option<String>,

    /// Make a one-tier CA: the root issues directly (rarely what you want).
    #[arg(long)]
    pub no_intermediate: bool,

    /// Key type of both CA keys: p256, p384, rsa2048, rsa3072, rsa4096.
    #[arg(long, default_value = "p256", value_name = "T")]
    pub key_type: KeyType,

    /// Lifetime of the root certificate (e.g. 10y, 3650d).
    #[arg(long, default_value = "10y", value_name = "D")]
    pub validity: String,

    /// Lifetime of the intermediate certificate; never past the root's.
    #[arg(long, default_value = "5y", value_name = "D")]
    pub intermediate_validity: String,

    /// Base URL where CRLs are published: each CA's CRL is at <URL>/<ca-slug>.crl and
    /// certificates it signs point there.
    #[arg(long, value_name = "URL")]
    pub crl_url: Option<String>,

    /// Store the CA keys unencrypted (with a warning). For throwaway homes and tests only.
    #[arg(long)]
    pub no_passphrase: bool,
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// List the CAs of this home.
    #[command(after_help = "Examples:\n  pkictl ca list\n  pkictl ca list --json")]
    List,

    /// Show one CA in detail.
    #[command(after_help = "Examples:\n  pkictl ca show \"Acme Root CA\"\n  pkictl ca show acme-root-ca --json")]
    Show {
        /// CA name or its slug (as `ca list` prints).
        name: String,
    },

    /// Print a CA certificate as PEM (default: the issuing CA).
    #[command(after_help = "Examples:\n  pkictl ca cert > issuing.pem\n  pkictl ca cert \"Acme Root CA\" > root.pem")]
    Cert {
        /// CA name or slug [default: the home's issuing CA].
        name: Option<String>,
    },
}
