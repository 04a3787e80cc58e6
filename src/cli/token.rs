//! `pkictl token`: one-time enrolment tokens.

use clap::{Subcommand, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenProfile {
    Server,
    Client,
    Peer,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a one-time token that enrols exactly one certificate for NAME (printed once).
    #[command(after_help = "Examples:\n  \
        pkictl token create api.example.com --profile server --ip 10.0.0.7 --ttl 1h\n  \
        pkictl token create billing --profile client --uri spiffe://acme.internal/billing --validity 24h\n  \
        pkictl --json token create node1.cluster.local --profile peer | jq -r .token\n\n\
        The certificate gets NAME as its CN (and as a SAN when it is a host name, address,\n\
        email or URI) plus exactly the SANs given here; the workload's CSR may carry no names or\n\
        exactly these. Only the token's SHA-256 is kept: it cannot be shown again.")]
    Create {
        /// The certificate's common name.
        name: String,
        /// server, client or peer.
        #[arg(long, value_enum)]
        profile: TokenProfile,
        /// DNS name SAN (repeatable).
        #[arg(long, value_name = "D")]
        dns: Vec<String>,
        /// IP address SAN (repeatable).
        #[arg(long, value_name = "IP")]
        ip: Vec<String>,
        /// URI SAN, e.g. a SPIFFE ID (repeatable).
        #[arg(long, value_name = "U")]
        uri: Vec<String>,
        /// Email SAN (repeatable).
        #[arg(long, value_name = "E")]
        email: Vec<String>,
        /// How long the token can be used.
        #[arg(long, value_name = "D", default_value = "1h")]
        ttl: String,
        /// Lifetime of the certificate it enrols.
        #[arg(long, value_name = "D", default_value = "90d")]
        validity: String,
        /// CA that issues the certificate [default: the issuing CA].
        #[arg(long, value_name = "NAME")]
        ca: Option<String>,
    },
    /// List the tokens (never the tokens themselves): id, name, profile, status, expiry.
    #[command(
        after_help = "Examples:\n  pkictl token list\n  pkictl --json token list | jq '.tokens[] | select(.status == \"unused\")'\n\n\
        Status: unused, used (it enrolled a certificate: certificate_id), expired, revoked."
    )]
    List,
    /// Revoke an unused token by its id (from `token list`).
    #[command(after_help = "Examples:\n  pkictl token revoke 3\n\n\
        A used or already revoked token cannot be revoked (exit 2); the certificate a used token\n\
        enrolled is revoked with `pkictl revoke SERIAL`.")]
    Revoke {
        /// The token's id.
        id: i64,
    },
}
