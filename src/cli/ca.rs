//! `init` and the `ca` group.

use clap::{Args, Subcommand};

use crate::keys::KeyType;

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

    /// Lifetime of the intermediate certificate; never past the root's
    /// [default: 5y, or the root's --validity when shorter].
    #[arg(long, value_name = "D")]
    pub intermediate_validity: Option<String>,

    /// Base URL where CRLs are published: each CA's CRL is at <URL>/<ca-slug>.crl and
    /// certificates it signs point there.
    #[arg(long, value_name = "URL")]
    pub crl_url: Option<String>,

    /// Base URL of `pkictl serve`'s HTTP listener as clients reach it (http:// recommended):
    /// certificates carry CDP <URL>/crl/<ca-slug>.crl, AIA OCSP <URL>/ocsp and caIssuers
    /// <URL>/ca/<ca-slug>.crt of the CA that signs them.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,

    /// Store the CA keys unencrypted (with a warning). For throwaway homes and tests only.
    #[arg(long)]
    pub no_passphrase: bool,

    /// Keep the ledger in this empty PostgreSQL database instead of a SQLite file in the home:
    /// postgres://USER@HOST[:PORT]/DB[?sslmode=verify-full&sslrootcert=FILE]. The password
    /// comes from PGPASSWORD or PGPASSFILE and is never written to the home.
    #[arg(long, value_name = "URL")]
    pub ledger: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// List the CAs of this home.
    #[command(after_help = "Examples:\n  pkictl ca list\n  pkictl ca list --json")]
    List,

    /// Show one CA in detail.
    #[command(
        after_help = "Examples:\n  pkictl ca show \"Acme Root CA\"\n  pkictl ca show acme-root-ca --json"
    )]
    Show {
        /// CA name or its slug (as `ca list` prints).
        name: String,
    },

    /// Print a CA certificate as PEM (default: the issuing CA).
    #[command(
        after_help = "Examples:\n  pkictl ca cert > issuing.pem\n  pkictl ca cert \"Acme Root CA\" > root.pem"
    )]
    Cert {
        /// CA name or slug [default: the home's issuing CA].
        name: Option<String>,
    },

    /// Change a CA's settings: how long its CRLs stay valid, where the online CA is.
    #[command(after_help = "Examples:\n  \
        pkictl ca configure \"Acme Root CA Issuing CA\" --crl-next-update 2d\n  \
        pkictl ca configure acme-root-ca --crl-next-update 30d\n  \
        pkictl ca configure acme-root-ca-issuing-ca --public-url http://pki.acme.internal:8080\n\n\
        --public-url applies to certificates the CA signs from now on; issued ones keep theirs.")]
    #[command(group(clap::ArgGroup::new("setting").required(true).multiple(true)
        .args(["crl_next_update", "public_url", "no_public_url"])))]
    Configure {
        /// CA name or slug.
        name: String,
        /// nextUpdate of this CA's future CRLs (default for a new CA: 7d).
        #[arg(long, value_name = "D")]
        crl_next_update: Option<String>,
        /// Base URL of `pkictl serve` for what this CA signs from now on: CDP
        /// <URL>/crl/<ca-slug>.crl, AIA OCSP <URL>/ocsp, caIssuers <URL>/ca/<ca-slug>.crt.
        #[arg(long, value_name = "URL", conflicts_with = "no_public_url")]
        public_url: Option<String>,
        /// Stop naming the online CA in what this CA signs from now on.
        #[arg(long)]
        no_public_url: bool,
    },

    /// Add an issuing CA under a parent (default: the root), optionally name-constrained.
    #[command(after_help = "Examples:\n  \
        pkictl ca add-intermediate --name \"Acme Partners CA\" --permit-dns partners.acme.com\n  \
        pkictl ca add-intermediate --name \"Acme Devices CA\" --key-type p384 --validity 3y --default")]
    AddIntermediate {
        /// Common name of the new CA.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// The CA that signs it [default: the root].
        #[arg(long, value_name = "NAME")]
        parent: Option<String>,
        /// pathLenConstraint: how many CAs may sit below it (0: it only issues leaves).
        #[arg(long, default_value_t = 0, value_name = "N")]
        path_len: u8,
        /// Permit only these DNS subtrees (repeatable); enforced at issuance and by verifiers.
        #[arg(long, value_name = "D")]
        permit_dns: Vec<String>,
        /// Key type [default: the parent's].
        #[arg(long, value_name = "T")]
        key_type: Option<KeyType>,
        /// Lifetime [default: 5y, or what is left of the parent's when shorter].
        #[arg(long, value_name = "D")]
        validity: Option<String>,
        /// Make it the home's default issuing CA.
        #[arg(long)]
        default: bool,
    },
}
