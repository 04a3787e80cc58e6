//! `pkictl serve`: the online CA's listeners, names and lifetimes.

use std::net::SocketAddr;

use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Plain HTTP listener: CRLs, CA certificates, OCSP, /healthz, /metrics.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,

    /// HTTPS listener (its certificate is issued from the home at start and renewed in place).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443", conflicts_with = "no_https")]
    pub https: SocketAddr,

    /// Serve plain HTTP only.
    #[arg(long)]
    pub no_https: bool,

    /// A host name the HTTPS certificate is issued for (repeatable); the listen address is
    /// added as an IP SAN unless it is a wildcard address.
    #[arg(long = "name", value_name = "HOST")]
    pub names: Vec<String>,

    /// CA that issues the HTTPS certificate [default: the issuing CA].
    #[arg(long, value_name = "NAME")]
    pub https_ca: Option<String>,

    /// Lifetime of the HTTPS certificate; renewed at two thirds of it.
    #[arg(long, value_name = "D", default_value = "7d")]
    pub https_validity: String,

    /// Lifetime of each OCSP response (nextUpdate − thisUpdate); re-signed at half of it.
    #[arg(long, value_name = "D", default_value = "1h")]
    pub ocsp_validity: String,

    /// Lifetime of the delegated OCSP responder certificate of each CA; renewed at two thirds.
    #[arg(long, value_name = "D", default_value = "1d")]
    pub responder_validity: String,

    /// Lifetime of the CRLs serve signs (each is re-signed at half of it) [default: the CA's
    /// setting, 7d].
    #[arg(long, value_name = "D")]
    pub crl_next_update: Option<String>,

    /// Request log: one line per request, or none.
    #[arg(long, value_enum, value_name = "F", default_value = "text")]
    pub log_format: LogFormatArg,

    /// Let /v1/renew renew a certificate up to D after it expired [default: an expired
    /// certificate is refused].
    #[arg(long, value_name = "D")]
    pub allow_renewal_after_expiry: Option<String>,

    /// The most connections served at once; more wait in the backlog.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,

    /// New ACME orders one account may place per hour.
    #[arg(long, value_name = "N", default_value_t = 300)]
    pub acme_max_orders_per_hour: u32,

    /// ACME orders of one account that may end invalid per hour before it may place no more.
    #[arg(long, value_name = "N", default_value_t = 60)]
    pub acme_max_failed_orders_per_hour: u32,

    /// ACME http-01 validation connects to this port instead of 80 (a test knob).
    #[arg(long, value_name = "N", default_value_t = 80)]
    pub acme_http01_port: u16,

    /// ACME validation connects to IP for HOST instead of resolving it (repeatable; a test knob).
    #[arg(long = "acme-resolve", value_name = "HOST=IP")]
    pub acme_resolve: Vec<String>,

    /// ACME tls-alpn-01 validation connects to this port instead of 443 (a test knob).
    #[arg(long, value_name = "N", default_value_t = 443)]
    pub acme_tls_alpn01_port: u16,

    /// ACME validation asks only the DNS server at ADDR:PORT, for dns-01 TXT records and for the
    /// addresses of the other challenges [default: the system's resolvers] (a test knob).
    #[arg(long, value_name = "ADDR:PORT")]
    pub acme_dns: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
    Off,
}
