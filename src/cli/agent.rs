//! `pkictl agent`: keep one certificate renewed on a workload.

use std::path::PathBuf;

use clap::Args;

/// Without --server, the agent renews against the home (--home DIR, else $PKICTL_HOME, else
/// ./pki) on the same machine, as a library, without `serve`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The certificate to keep renewed (PEM); its chain and fullchain are NAME.chain.pem and
    /// NAME.fullchain.pem next to it, as `issue --out` writes them.
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,

    /// Its private key (PKCS#8 PEM, mode 0600).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,

    /// Renew through the online CA (`pkictl serve`) at this HTTPS URL, over mutual TLS.
    #[arg(long, value_name = "URL", requires = "root")]
    pub server: Option<String>,

    /// The root certificate (PEM) that the online CA's certificate must chain to.
    #[arg(long, value_name = "FILE", requires = "server")]
    pub root: Option<PathBuf>,

    /// A shell command (`sh -c`) run after each renewal, e.g. 'systemctl reload nginx'; its
    /// failure is logged, not fatal.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,

    /// Look once and exit: 0 renewed, 3 not due yet, 1 renewal failed, 2 bad usage or input.
    #[arg(long)]
    pub once: bool,

    /// Renew when this fraction of the lifetime (from issuance) has passed: 2/3, 0.5, 75%.
    #[arg(long, value_name = "FRACTION", default_value = "2/3")]
    pub renew_at: String,

    /// Certify the same key again instead of a new one (the default makes a new key of the
    /// same type on every renewal).
    #[arg(long)]
    pub keep_key: bool,

    /// Renew now, whatever the schedule says (the first renewal of a long-running agent).
    #[arg(long)]
    pub force: bool,

    /// Also keep key + certificate + chain in one file (for HAProxy's `crt`), mode 0600.
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,

    /// The chain file [default: NAME.chain.pem next to --cert].
    #[arg(long, value_name = "FILE")]
    pub chain: Option<PathBuf>,

    /// The fullchain file [default: NAME.fullchain.pem next to --cert].
    #[arg(long, value_name = "FILE")]
    pub fullchain: Option<PathBuf>,
}
