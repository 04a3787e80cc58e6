//! What an ACME provisioner may certify: DNS patterns and IP address ranges, parsed strictly
//! once (when an operator types them, and when the ledger hands them back).
//!
//! A DNS pattern is either an exact name (`api.example.com`: that name only) or a subtree
//! (`*.example.com`: every name strictly below example.com, at any depth, but not example.com
//! itself). Names are compared lower-cased, without a trailing dot (a trailing dot is refused,
//! as RFC 8555 servers do). An ACME wildcard identifier (`*.a.example.com`) is matched only by
//! a subtree pattern that covers everything it stands for. IP ranges are CIDRs with the host
//! bits zero; an address matches the ranges of its own family only.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::error::excerpt;
use crate::names::parse_dns;

/// A DNS pattern of a provisioner: an exact name or a subtree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DnsPattern {
    /// This name only.
    Exact(String),
    /// Every name strictly below this one, at any depth (typed as `*.<base>`).
    Below(String),
}

impl DnsPattern {
    /// Parses what an operator typed: a DNS name, or `*.` and a DNS name (the base may be a
    /// single label, `*.internal`). Lower-cased; internationalised names in punycode, checked
    /// as IDNA A-labels.
    pub fn parse(text: &str) -> Result<DnsPattern, String> {
        let refuse = |why: String| Err(format!("pattern \"{}\" {why}", excerpt(text)));
        if let Some(base) = text.strip_prefix("*.") {
            if base.contains('*') {
                return refuse("may hold a wildcard only as its whole first label (*.example.com)".into());
            }
            return match parse_dns(base) {
                Ok(base) => Ok(DnsPattern::Below(base)),
                Err(e) => refuse(format!("has an invalid base name: {e}")),
            };
        }
        if text.contains('*') {
            return refuse("may hold a wildcard only as its whole first label (*.example.com)".into());
        }
        match parse_dns(text) {
            Ok(name) => Ok(DnsPattern::Exact(name)),
            Err(e) => refuse(format!("is not a DNS name: {e}")),
        }
    }

    /// The name the pattern is about: the exact name, or the base of the subtree.
    pub fn base(&self) -> &str {
        match self {
            DnsPattern::Exact(name) | DnsPattern::Below(name) => name,
        }
    }

    /// Whether `name` (lower case, no trailing dot; `*.x` for a wildcard identifier) matches.
    pub fn matches(&self, name: &str) -> bool {
        match (self, name.strip_prefix("*.")) {
            (DnsPattern::Exact(exact), None) => exact == name,
            (DnsPattern::Exact(_), Some(_)) => false,
            // A wildcard stands for every name below its base: the base itself must be the
            // pattern's base or lie below it.
            (DnsPattern::Below(base), Some(wild_base)) => {
                wild_base == base || strictly_below(wild_base, base)
            }
            (DnsPattern::Below(base), None) => strictly_below(name, base),
        }
    }
}

fn strictly_below(name: &str, base: &str) -> bool {
    name.strip_suffix(base).is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'))
}

impl fmt::Display for DnsPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsPattern::Exact(name) => f.write_str(name),
            DnsPattern::Below(base) => write!(f, "*.{base}"),
        }
    }
}

impl FromStr for DnsPattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DnsPattern::parse(s)
    }
}

/// An IP address range: a network address whose host bits are zero, and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpCidr {
    network: IpAddr,
    prefix: u8,
}

impl IpCidr {
    /// Parses `10.0.0.0/8` or `fd00::/8` strictly: a prefix length is required (`/32` or
    /// `/128` for one address), no spaces, no leading zeros, host bits zero.
    pub fn parse(text: &str) -> Result<IpCidr, String> {
        let refuse =
            |why: &str| Err(format!("CIDR \"{}\" {why} (examples: 10.0.0.0/8, fd00::/8)", excerpt(text)));
        let Some((address, prefix)) = text.split_once('/') else {
            return refuse("has no /prefix length");
        };
        let Ok(network) = address.parse::<IpAddr>() else {
            return refuse("does not start with an IP address");
        };
        let max = if network.is_ipv4() { 32 } else { 128 };
        let digits_ok = !prefix.is_empty()
            && prefix.bytes().all(|b| b.is_ascii_digit())
            && (prefix == "0" || !prefix.starts_with('0'));
        let Some(prefix) = prefix.parse::<u8>().ok().filter(|p| digits_ok && *p <= max) else {
            return refuse(&format!("needs a prefix length from 0 to {max}"));
        };
        let cidr = IpCidr { network, prefix };
        if cidr.masked(network) != network {
            return refuse(&format!(
                "has host bits set; the network is {}",
                IpCidr { network: cidr.masked(network), prefix }
            ));
        }
        Ok(cidr)
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn masked(&self, address: IpAddr) -> IpAddr {
        match address {
            IpAddr::V4(v4) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }

    /// Whether the address lies in the range (an address of the other family never does).
    pub fn contains(&self, address: IpAddr) -> bool {
        address.is_ipv4() == self.network.is_ipv4() && self.masked(address) == self.network
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for IpCidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IpCidr::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_patterns_parse_and_normalise() {
        assert_eq!(
            DnsPattern::parse("API.Example.com").unwrap(),
            DnsPattern::Exact("api.example.com".into())
        );
        assert_eq!(
            DnsPattern::parse("*.Svc.Example.com").unwrap(),
            DnsPattern::Below("svc.example.com".into())
        );
        assert_eq!(DnsPattern::parse("*.internal").unwrap(), DnsPattern::Below("internal".into()));
        assert_eq!(
            DnsPattern::parse("*.xn--bcher-kva.example").unwrap().to_string(),
            "*.xn--bcher-kva.example"
        );
        for bad in [
            "",
            "*",
            "*.",
            "**.example.com",
            "*.*.example.com",
            "a.*.example.com",
            "api*.example.com",
            "example.com.",
            "*.example.com.",
            "xn--zz.example",
            "bücher.example",
            "10.0.0.1",
            "a..b",
        ] {
            assert!(DnsPattern::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn exact_patterns_match_only_their_name() {
        let p = DnsPattern::parse("api.example.com").unwrap();
        assert!(p.matches("api.example.com"));
        for other in
            ["example.com", "x.api.example.com", "*.example.com", "*.api.example.com", "api.example.co"]
        {
            assert!(!p.matches(other), "{other}");
        }
    }

    #[test]
    fn subtree_patterns_match_strictly_below_at_any_depth() {
        let p = DnsPattern::parse("*.example.com").unwrap();
        for yes in ["a.example.com", "a.b.c.example.com", "*.example.com", "*.a.example.com"] {
            assert!(p.matches(yes), "{yes}");
        }
        for no in [
            "example.com",
            "badexample.com",
            "a.badexample.com",
            "example.com.evil",
            "com",
            ".example.com",
            "*.com",
        ] {
            assert!(!p.matches(no), "{no}");
        }
    }

    #[test]
    fn cidrs_are_strict() {
        assert_eq!(IpCidr::parse("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(IpCidr::parse("fd00::/8").unwrap().to_string(), "fd00::/8");
        assert_eq!(IpCidr::parse("0.0.0.0/0").unwrap().prefix(), 0);
        assert_eq!(IpCidr::parse("192.0.2.7/32").unwrap().prefix(), 32);
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0.0/08",
            "10.0.0.0/",
            "10.0.0.0/ 8",
            " 10.0.0.0/8",
            "fd00::1/8",
            "fd00::/129",
            "10.0.0/8",
            "example.com/8",
            "10.0.0.0/-1",
            "10.0.0.0/8\n",
        ] {
            assert!(IpCidr::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let message = IpCidr::parse("10.1.2.3/8").unwrap_err();
        assert!(message.contains("10.0.0.0/8"), "{message}");
    }

    #[test]
    fn cidrs_contain_addresses_of_their_family() {
        let v4 = IpCidr::parse("10.0.0.0/8").unwrap();
        assert!(v4.contains("10.255.0.1".parse().unwrap()));
        assert!(!v4.contains("11.0.0.1".parse().unwrap()));
        assert!(!v4.contains("::ffff:10.0.0.1".parse().unwrap()), "an IPv4-mapped IPv6 address is IPv6");
        let v6 = IpCidr::parse("fd00:1::/32").unwrap();
        assert!(v6.contains("fd00:1::7".parse().unwrap()));
        assert!(!v6.contains("fd00:2::7".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert!(IpCidr::parse("0.0.0.0/0").unwrap().contains("203.0.113.9".parse().unwrap()));
    }
}
