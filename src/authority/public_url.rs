//! The online CA's public URL: where `pkictl serve`'s plain HTTP listener is reachable, and so
//! what the certificates a CA signs point relying parties at.

use serde_json::json;

use super::{Authority, Warning};
use crate::engine::urls::IssuerUrls;
use crate::engine::{self};
use crate::error::{Error, Field, Result};
use crate::ledger::{CaRecord, Event, EventKind};

/// Longer than any real deployment's base URL; bounds what goes into every certificate.
const MAX_PUBLIC_URL_LEN: usize = 200;

/// Validates a public base URL: `http://` (recommended) or `https://`, a host (name, IPv4 or
/// `[IPv6]`) with an optional port, an optional path; no credentials, query or fragment.
/// Returns it with a lower-case scheme and without trailing slashes.
pub fn validate_public_url(url: &str) -> Result<String> {
    let refuse = |why: &str| {
        let shown: String = without_userinfo(url).chars().take(60).collect();
        Err(Error::InvalidField {
            field: Field::PublicUrl,
            problem: format!("\"{shown}\" {why} (example: http://pki.example.com:8080)"),
        })
    };
    if url.len() > MAX_PUBLIC_URL_LEN {
        return refuse(&format!("is longer than {MAX_PUBLIC_URL_LEN} characters"));
    }
    if !url.is_ascii() || url.chars().any(|c| c.is_ascii_whitespace() || c.is_ascii_control()) {
        return refuse("must be plain ASCII without spaces");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return refuse("is not an http:// URL");
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return refuse("is not an http:// URL (RFC 5280 and RFC 6960 clients fetch CRLs and OCSP over http)");
    }
    if rest.contains(['?', '#']) {
        return refuse("has a query or fragment; give a base URL");
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return refuse("carries credentials; certificates are public");
    }
    if !valid_authority(authority) {
        return refuse("has no valid host[:port]");
    }
    if !path.chars().all(is_path_char) {
        return refuse("has characters that need percent-encoding in its path");
    }
    Ok(format!("{scheme}://{authority}{}", path.trim_end_matches('/')))
}

/// The URL with any "user:password@" replaced by "…@", for messages.
fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://…{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// host[:port]: a DNS name or IPv4 address, or an IPv6 address in brackets.
fn valid_authority(authority: &str) -> bool {
    let (host_ok, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((v6, after)) => (v6.parse::<std::net::Ipv6Addr>().is_ok(), after),
            None => return false,
        },
        None => {
            let host_end = authority.find(':').unwrap_or(authority.len());
            (valid_host_name(&authority[..host_end]), &authority[host_end..])
        }
    };
    let port_ok = match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => {
            digits.bytes().all(|b| b.is_ascii_digit()) && digits.parse::<u16>().is_ok_and(|p| p > 0)
        }
    };
    host_ok && port_ok
}

/// Dot-separated labels of letters, digits and inner hyphens (an IPv4 address is one too).
fn valid_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// RFC 3986 pchar and '/', without the characters a shell or a parser could take apart.
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:@".contains(c)
}

/// What a CA writes into the certificates it signs: its CRL URL, then the online CA's URLs.
pub fn issued_urls(ca: &CaRecord) -> IssuerUrls {
    IssuerUrls::of(&ca.slug, ca.crl_url.as_deref(), ca.public_url.as_deref())
}

/// Why an https public URL deserves a word: RFC 5280 and 6960 clients fetch over http, and
/// some (nginx's OCSP client, OpenSSL's CRL download) speak nothing else.
pub(super) fn https_warning(url: &str) -> Option<Warning> {
    url.starts_with("https://").then(|| Warning::PublicUrlIsHttps { url: url.to_string() })
}

impl Authority {
    /// Sets (or with None, removes) the online CA's base URL of a CA: certificates it signs
    /// from now on point there; those already issued are unchanged.
    pub fn configure_public_url(
        &mut self,
        name: &str,
        url: Option<&str>,
    ) -> Result<(CaRecord, Vec<Warning>)> {
        let url = url.map(validate_public_url).transpose()?;
        let authority = self.find_ca(Some(name))?;
        let now = engine::now().unix_timestamp();
        self.ledger.write(|tx| {
            tx.set_public_url(authority.id, url.as_deref())?;
            tx.record_event(&Event {
                at: now,
                kind: EventKind::CaConfigure,
                target: &authority.name,
                detail: json!({ "public_url": url }),
            })
        })?;
        let warnings = url.as_deref().and_then(https_warning).into_iter().collect();
        Ok((self.ca_by_id(authority.id)?, warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_base_urls_and_normalises_them() {
        for (given, kept) in [
            ("http://pki.example.com", "http://pki.example.com"),
            ("HTTP://pki.example.com:8080/", "http://pki.example.com:8080"),
            ("https://10.0.0.1/pki//", "https://10.0.0.1/pki"),
            ("http://[::1]:8080/a/b", "http://[::1]:8080/a/b"),
            ("http://ca", "http://ca"),
        ] {
            assert_eq!(validate_public_url(given).unwrap(), kept, "{given}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_base_http_url() {
        for bad in [
            "ftp://pki.example.com",
            "pki.example.com",
            "http://",
            "http:///path",
            "http://pki.example.com/crl?x=1",
            "http://pki.example.com/#top",
            "http://user:pw@pki.example.com",
            "http://pki.example.com:0",
            "http://pki.example.com:99999",
            "http://pki.example.com:80x",
            "http://pki example.com",
            "http://pki.example.com/a b",
            "http://pkí.example.com",
            "http://-bad-.example.com",
            "http://[not-v6]:80",
            "http://pki.example.com/\"quoted\"",
        ] {
            assert!(validate_public_url(bad).is_err(), "{bad} was accepted");
        }
        assert!(validate_public_url(&format!("http://{}.com", "a".repeat(300))).is_err());
        let message = validate_public_url("http://user:secret@pki.example.com/x").unwrap_err().to_string();
        assert!(message.contains("http://…@pki.example.com/x") && !message.contains("secret"), "{message}");
    }
}
