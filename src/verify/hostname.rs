//! Matching a host name, IP address or mailbox against a certificate's subjectAltNames, as RFC 6125
//! and webpki do: the CN is ignored, a wildcard covers exactly one left-most label.

use std::net::IpAddr;

/// Whether `host` (a DNS name or an IP address) is one of `sans` ("DNS:x", "IP:y" …).
pub fn matches(host: &str, sans: &[String]) -> bool {
    if let Ok(ip) = host.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>() {
        return sans
            .iter()
            .filter_map(|s| s.strip_prefix("IP:"))
            .any(|s| s.parse::<IpAddr>().is_ok_and(|candidate| candidate == ip));
    }
    if let Some((local, domain)) = host.rsplit_once('@') {
        return sans.iter().filter_map(|s| s.strip_prefix("email:")).any(|mailbox| {
            mailbox.rsplit_once('@').is_some_and(|(l, d)| l == local && d.eq_ignore_ascii_case(domain))
        });
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    sans.iter()
        .filter_map(|s| s.strip_prefix("DNS:"))
        .any(|pattern| dns_matches(&host, &pattern.to_ascii_lowercase()))
}

fn dns_matches(host: &str, pattern: &str) -> bool {
    match pattern.strip_prefix("*.") {
        // "*.com" would cover a whole top-level domain: no verifier honours it.
        Some(suffix) if suffix.contains('.') => {
            host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == suffix)
        }
        Some(_) => false,
        None => host == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sans(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dns_and_wildcards() {
        let s = sans(&["DNS:api.example.com", "DNS:*.svc.example.com", "IP:10.0.0.7", "IP:fd00::7"]);
        assert!(matches("api.example.com", &s));
        assert!(matches("API.Example.com.", &s));
        assert!(matches("orders.svc.example.com", &s));
        assert!(!matches("a.b.svc.example.com", &s));
        assert!(!matches("svc.example.com", &s));
        assert!(!matches("example.com", &s));
        assert!(matches("10.0.0.7", &s));
        assert!(matches("[fd00::7]", &s));
        assert!(!matches("10.0.0.8", &s));
        assert!(!matches("example.com", &sans(&["DNS:*.com"])));
        let mail = sans(&["email:Alice@Example.com"]);
        assert!(matches("Alice@example.com", &mail));
        assert!(!matches("alice@example.com", &mail));
    }
}
