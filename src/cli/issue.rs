//! `issue server|client|peer` and `sign`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::keys::KeyType;

#[derive(Debug, Subcommand)]
pub enum IssueCommand {
    /// serverAuth certificate; NAME becomes the CN and, when a host name or IP, a SAN.
    #[command(after_help = "Examples:\n  \
        pkictl issue server api.example.com\n  \
        pkictl issue server api --dns api.internal --dns api.example.com --ip 10.0.0.7 --out ./tls\n  \
        pkictl issue server web.example.com --csr web.csr --validity 30d")]
    Server(ServerArgs),

    /// clientAuth certificate; NAME becomes the CN and, when a host name, email or URI, a SAN.
    #[command(after_help = "Examples:\n  \
        pkictl issue client alice@example.com\n  \
        pkictl issue client billing --uri spiffe://acme.internal/ns/prod/sa/billing\n  \
        pkictl issue client device-42.fleet.example.com --key-type p384 --validity 30d\n  \
        pkictl issue client --batch devices.txt --out ./devices --json > issued.jsonl")]
    Client(ClientArgs),

    /// serverAuth + clientAuth certificate for service-to-service mTLS.
    #[command(after_help = "Examples:\n  \
        pkictl issue peer node1.cluster.local --ip 10.0.0.11\n  \
        pkictl issue peer orders --dns orders.svc --uri spiffe://acme.internal/ns/prod/sa/orders")]
    Peer(PeerArgs),
}

/// Flags every `issue` subcommand shares.
#[derive(Debug, Args)]
pub struct IssueOptions {
    /// Issuing CA [default: the home's issuing CA].
    #[arg(long, value_name = "NAME")]
    pub ca: Option<String>,

    /// Lifetime of the certificate; never past the issuing CA's own notAfter.
    #[arg(long, default_value = "90d", value_name = "D")]
    pub validity: String,

    /// Type of the new key: p256 (default), p384, rsa2048, rsa3072, rsa4096; not with --csr.
    #[arg(long, value_name = "T")]
    pub key_type: Option<KeyType>,

    /// Certify the key of this PKCS#10 request (PEM or DER) instead of generating one.
    #[arg(long, value_name = "FILE", conflicts_with = "batch")]
    pub csr: Option<PathBuf>,

    /// Issue one certificate per line of FILE (- for stdin): `NAME` or `NAME,SAN,SAN…`.
    /// With --json, one JSON object per certificate (JSON lines).
    #[arg(long, value_name = "FILE")]
    pub batch: Option<PathBuf>,

    /// Directory for NAME.crt, NAME.key, NAME.chain.pem and NAME.fullchain.pem.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out: PathBuf,

    /// Overwrite existing output files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Common name; also a DNS (or IP) SAN when it is a host name (or an IP address).
    #[arg(required_unless_present = "batch")]
    pub name: Option<String>,
    /// Additional DNS name (repeatable); a wildcard only as the whole left-most label.
    #[arg(long, value_name = "D", conflicts_with = "batch")]
    pub dns: Vec<String>,
    /// IP address SAN, v4 or v6 (repeatable).
    #[arg(long, value_name = "IP", conflicts_with = "batch")]
    pub ip: Vec<String>,
    #[command(flatten)]
    pub options: IssueOptions,
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Common name; also a SAN when it is a host name, an email address or a URI.
    #[arg(required_unless_present = "batch")]
    pub name: Option<String>,
    /// Email (rfc822Name) SAN (repeatable).
    #[arg(long, value_name = "E", conflicts_with = "batch")]
    pub email: Vec<String>,
    /// URI SAN, e.g. a SPIFFE ID (repeatable).
    #[arg(long, value_name = "U", conflicts_with = "batch")]
    pub uri: Vec<String>,
    /// DNS name SAN (repeatable).
    #[arg(long, value_name = "D", conflicts_with = "batch")]
    pub dns: Vec<String>,
    #[command(flatten)]
    pub options: IssueOptions,
}

#[derive(Debug, Args)]
pub struct PeerArgs {
    /// Common name; also a DNS (or IP) SAN when it is a host name (or an IP address).
    #[arg(required_unless_present = "batch")]
    pub name: Option<String>,
    /// Additional DNS name (repeatable).
    #[arg(long, value_name = "D", conflicts_with = "batch")]
    pub dns: Vec<String>,
    /// IP address SAN (repeatable).
    #[arg(long, value_name = "IP", conflicts_with = "batch")]
    pub ip: Vec<String>,
    /// URI SAN, e.g. a SPIFFE ID (repeatable).
    #[arg(long, value_name = "U", conflicts_with = "batch")]
    pub uri: Vec<String>,
    #[command(flatten)]
    pub options: IssueOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LeafProfile {
    Server,
    Client,
    Peer,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The PKCS#10 request, PEM or DER.
    pub csr: PathBuf,
    /// What the certificate is for.
    #[arg(long)]
    pub profile: LeafProfile,
    /// Common name (and output file name) [default: the CSR's CN].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// DNS SAN, replacing the CSR's SANs (repeatable).
    #[arg(long, value_name = "D")]
    pub dns: Vec<String>,
    /// IP SAN, replacing the CSR's SANs (repeatable).
    #[arg(long, value_name = "IP")]
    pub ip: Vec<String>,
    /// Email SAN, replacing the CSR's SANs (repeatable).
    #[arg(long, value_name = "E")]
    pub email: Vec<String>,
    /// URI SAN, replacing the CSR's SANs (repeatable).
    #[arg(long, value_name = "U")]
    pub uri: Vec<String>,
    /// Issuing CA [default: the home's issuing CA].
    #[arg(long, value_name = "NAME")]
    pub ca: Option<String>,
    /// Lifetime of the certificate; never past the issuing CA's own notAfter.
    #[arg(long, default_value = "90d", value_name = "D")]
    pub validity: String,
    /// Directory for NAME.crt, NAME.chain.pem and NAME.fullchain.pem.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out: PathBuf,
    /// Overwrite existing output files.
    #[arg(long)]
    pub force: bool,
}
