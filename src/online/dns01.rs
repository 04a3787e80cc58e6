//! dns-01 validation (RFC 8555 §8.4), and the DNS lookups of every challenge: the system's
//! resolver (/etc/resolv.conf), or the one server `serve --acme-dns` names. A resolver is made
//! per validation, so nothing is cached between them: a record the client has just published
//! is seen, and one it has removed is not.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use serde_json::{Value, json};

use super::http01::Failure;

/// How long one query waits for an answer before it is retried.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// No lookup (retries and CNAME chains included) takes longer than this.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(8);
/// At most this many TXT records are looked at.
const MAX_RECORDS: usize = 64;

/// Where DNS questions go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dns {
    /// The system's resolver configuration.
    #[default]
    System,
    /// Only this server (UDP, then TCP for a truncated answer).
    Server(SocketAddr),
}

impl Dns {
    fn resolver(self) -> Result<TokioResolver, Failure> {
        let unusable =
            |e: NetError| failure("dns", format!("The CA's DNS resolver could not be set up: {e}."));
        let mut builder = match self {
            Dns::System => TokioResolver::builder_tokio().map_err(unusable)?,
            Dns::Server(address) => {
                let (mut udp, mut tcp) = (ConnectionConfig::udp(), ConnectionConfig::tcp());
                (udp.port, tcp.port) = (address.port(), address.port());
                let server = NameServerConfig::new(address.ip(), true, vec![udp, tcp]);
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![server]),
                    TokioRuntimeProvider::default(),
                )
            }
        };
        let options = builder.options_mut();
        options.timeout = QUERY_TIMEOUT;
        options.attempts = 2;
        options.cache_size = 0;
        // Validation asks the DNS what the world sees, not this machine's hosts file.
        options.use_hosts_file = ResolveHosts::Never;
        builder.build().map_err(unusable)
    }

    /// The first address of `host` (A, then AAAA).
    pub async fn address(self, host: &str) -> Result<IpAddr, Failure> {
        let resolver = self.resolver()?;
        let lookup = bounded(host, resolver.lookup_ip(format!("{host}."))).await?;
        let lookup = lookup.map_err(|e| lookup_failure(host, "address", &e))?;
        lookup.iter().next().ok_or_else(|| failure("dns", format!("{host} has no address.")))
    }

    /// The TXT records at `name`, each as the concatenation of its strings.
    async fn txt(self, name: &str) -> Result<Vec<String>, Failure> {
        let resolver = self.resolver()?;
        let lookup = bounded(name, resolver.txt_lookup(format!("{name}."))).await?;
        let lookup = lookup.map_err(|e| lookup_failure(name, "TXT record", &e))?;
        let records = lookup.answers().iter().filter_map(|record| match &record.data {
            RData::TXT(txt) => Some(txt.txt_data.iter().flat_map(|s| s.iter().copied()).collect::<Vec<u8>>()),
            _ => None,
        });
        Ok(records.take(MAX_RECORDS).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).collect())
    }
}

/// Where to connect for `host`: a pinned address, the address itself, or the first resolved.
pub async fn address_of(
    host: &str,
    port: u16,
    pinned: &[(String, IpAddr)],
    dns: Dns,
) -> Result<SocketAddr, Failure> {
    if let Some((_, ip)) = pinned.iter().find(|(name, _)| name.eq_ignore_ascii_case(host)) {
        return Ok(SocketAddr::new(*ip, port));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    Ok(SocketAddr::new(dns.address(host).await?, port))
}

async fn bounded<T>(name: &str, lookup: impl Future<Output = T>) -> Result<T, Failure> {
    tokio::time::timeout(LOOKUP_TIMEOUT, lookup)
        .await
        .map_err(|_| failure("dns", format!("Looking up {name} timed out.")))
}

fn failure(kind: &'static str, detail: String) -> Failure {
    Failure { kind, detail }
}

fn lookup_failure(name: &str, what: &str, e: &NetError) -> Failure {
    if e.is_nx_domain() {
        failure("dns", format!("{name} does not exist in the DNS (NXDOMAIN)."))
    } else if e.is_no_records_found() {
        failure("dns", format!("{name} has no {what}."))
    } else {
        failure("dns", format!("Looking up the {what} of {name} failed: {e}."))
    }
}

/// Checks that a TXT record at `_acme-challenge.NAME` (a wildcard's base name) holds the
/// digest of the key authorization; the validation record names the name queried.
pub async fn validate(dns: Dns, name: &str, key_authorization: &str) -> Result<Value, Failure> {
    let queried = format!("_acme-challenge.{name}");
    let expected = crate::acme::dns01_txt_value(key_authorization);
    let records = dns.txt(&queried).await?;
    if !records.iter().any(|r| r == &expected) {
        return Err(failure(
            "incorrectResponse",
            format!(
                "No TXT record at {queried} holds the key authorization's digest (base64url of its \
                 SHA-256); {} found.",
                records.len()
            ),
        ));
    }
    Ok(json!({ "hostname": name, "record": queried }))
}
