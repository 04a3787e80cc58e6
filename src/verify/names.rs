//! Names as RFC 5280 compares them: distinguished names (§7.1: attribute by attribute,
//! strings case-folded with their white space collapsed) and the name constraints of
//! §4.2.1.10 for every name form a certificate can carry.

use std::net::IpAddr;

use der::{Tag, Tagged};
use x509_cert::ext::pkix::NameConstraints;
use x509_cert::ext::pkix::constraints::name::GeneralSubtree;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;

/// A distinguished name in comparable form: each RDN's attributes (type, value), sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dn(Vec<Vec<(String, Value)>>);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Value {
    /// A directory string, case-folded and with white space collapsed.
    Text(String),
    /// Anything else, compared as encoded (tag, contents).
    Raw(String, Vec<u8>),
}

impl Dn {
    pub fn from_name(name: &Name) -> Dn {
        Dn(name
            .iter_rdn()
            .map(|rdn| {
                let mut attributes: Vec<(String, Value)> = rdn
                    .iter()
                    .map(|atv| (atv.oid.to_string(), normalise(atv.value.tag(), atv.value.value())))
                    .collect();
                attributes.sort();
                attributes
            })
            .collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `prefix`'s RDNs are this name's first RDNs (a directoryName subtree).
    pub fn within(&self, prefix: &Dn) -> bool {
        prefix.0.len() <= self.0.len() && self.0.iter().zip(&prefix.0).all(|(a, b)| a == b)
    }
}

fn normalise(tag: Tag, bytes: &[u8]) -> Value {
    match text_of(tag, bytes) {
        Some(text) => Value::Text(text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()),
        None => Value::Raw(format!("{tag:?}"), bytes.to_vec()),
    }
}

/// The text of a directory string attribute value; None for other types.
pub fn text_of(tag: Tag, bytes: &[u8]) -> Option<String> {
    match tag {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::VisibleString => {
            std::str::from_utf8(bytes).ok().map(str::to_string)
        }
        // T.61 in practice holds Latin-1.
        Tag::TeletexString => Some(bytes.iter().map(|&b| b as char).collect()),
        Tag::BmpString if bytes.len().is_multiple_of(2) => {
            let units: Vec<u16> = bytes.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// One name a certificate asserts, in the form name constraints are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asserted {
    Dns(String),
    /// The subject's common name, read as a DNS name only where there is no subjectAltName;
    /// it can only make a certificate fail a constraint, never satisfy one.
    CommonName(String),
    Email(String),
    Uri(String),
    Ip(Vec<u8>),
    Directory(Dn, String),
    /// A form this verifier does not compare (otherName, registeredID, ediPartyName).
    Other(&'static str),
}

impl Asserted {
    pub fn from_general_name(name: &GeneralName) -> Asserted {
        match name {
            GeneralName::DnsName(s) => Asserted::Dns(s.as_str().to_string()),
            GeneralName::Rfc822Name(s) => Asserted::Email(s.as_str().to_string()),
            GeneralName::UniformResourceIdentifier(s) => Asserted::Uri(s.as_str().to_string()),
            GeneralName::IpAddress(o) => Asserted::Ip(o.as_bytes().to_vec()),
            GeneralName::DirectoryName(n) => Asserted::Directory(Dn::from_name(n), n.to_string()),
            GeneralName::OtherName(_) => Asserted::Other("otherName"),
            GeneralName::RegisteredId(_) => Asserted::Other("registeredID"),
            GeneralName::EdiPartyName(_) => Asserted::Other("ediPartyName"),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Asserted::Dns(s) => format!("DNS:{s}"),
            Asserted::CommonName(s) => format!("the subject CN {s}"),
            Asserted::Email(s) => format!("email:{s}"),
            Asserted::Uri(s) => format!("URI:{s}"),
            Asserted::Ip(octets) => format!("IP:{}", ip_text(octets)),
            Asserted::Directory(_, text) => format!("the directory name \"{text}\""),
            Asserted::Other(form) => format!("an {form} name"),
        }
    }
}

fn ip_text(octets: &[u8]) -> String {
    match octets.len() {
        4 => <[u8; 4]>::try_from(octets).map(|a| IpAddr::from(a).to_string()).unwrap_or_default(),
        16 => <[u8; 16]>::try_from(octets).map(|a| IpAddr::from(a).to_string()).unwrap_or_default(),
        n => format!("<{n} bytes>"),
    }
}

/// One subtree of a nameConstraints extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subtree {
    Dns(String),
    Email(String),
    Uri(String),
    Ip { address: Vec<u8>, mask: Vec<u8> },
    Directory(Dn, String),
    Other(&'static str),
}

impl Subtree {
    fn describe(&self) -> String {
        match self {
            Subtree::Dns(s) if s.is_empty() => "DNS:<every name>".into(),
            Subtree::Dns(s) => format!("DNS:{s}"),
            Subtree::Email(s) => format!("email:{s}"),
            Subtree::Uri(s) => format!("URI:{s}"),
            Subtree::Ip { address, mask } => {
                let prefix: u32 = mask.iter().map(|b| b.count_ones()).sum();
                format!("IP:{}/{prefix}", ip_text(address))
            }
            Subtree::Directory(_, text) => format!("DirName:{text}"),
            Subtree::Other(form) => form.to_string(),
        }
    }

    fn form(&self) -> &'static str {
        match self {
            Subtree::Dns(_) => "dNSName",
            Subtree::Email(_) => "rfc822Name",
            Subtree::Uri(_) => "uniformResourceIdentifier",
            Subtree::Ip { .. } => "iPAddress",
            Subtree::Directory(..) => "directoryName",
            Subtree::Other(form) => form,
        }
    }
}

/// A CA's name constraints, decoded and checked for well-formedness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraints {
    /// None: no permittedSubtrees (every name form unrestricted).
    pub permitted: Option<Vec<Subtree>>,
    pub excluded: Vec<Subtree>,
}

impl Constraints {
    /// The constraints of a nameConstraints extension, or why the extension is unusable.
    pub fn from_extension(nc: &NameConstraints) -> Result<Constraints, String> {
        if nc.permitted_subtrees.is_none() && nc.excluded_subtrees.is_none() {
            return Err("its nameConstraints extension is empty (RFC 5280 4.2.1.10 forbids that)".into());
        }
        let decode = |subtrees: &Option<Vec<GeneralSubtree>>| -> Result<Option<Vec<Subtree>>, String> {
            subtrees.as_ref().map(|list| list.iter().map(subtree).collect()).transpose()
        };
        Ok(Constraints {
            permitted: decode(&nc.permitted_subtrees)?,
            excluded: decode(&nc.excluded_subtrees)?.unwrap_or_default(),
        })
    }

    /// How many subtrees one name is compared with.
    pub fn size(&self) -> usize {
        self.excluded.len() + self.permitted.as_ref().map_or(0, Vec::len)
    }

    /// Whether `name` may be certified under these constraints; Err says why not.
    pub fn allows(&self, name: &Asserted) -> Result<(), String> {
        for subtree in &self.excluded {
            if matches(name, subtree, Role::Excluded)? {
                return Err(format!("{} is in the excluded subtree {}", name.describe(), subtree.describe()));
            }
        }
        let Some(permitted) = &self.permitted else { return Ok(()) };
        let same_form: Vec<&Subtree> = permitted.iter().filter(|s| same_form(name, s)).collect();
        if same_form.is_empty() {
            return Ok(());
        }
        for subtree in &same_form {
            if matches(name, subtree, Role::Permitted)? {
                return Ok(());
            }
        }
        let list: Vec<String> = same_form.iter().map(|s| s.describe()).collect();
        Err(format!("{} is outside the permitted subtrees ({})", name.describe(), list.join(", ")))
    }
}

fn subtree(general: &GeneralSubtree) -> Result<Subtree, String> {
    if general.minimum != 0 || general.maximum.is_some() {
        return Err("a nameConstraints subtree sets minimum or maximum (RFC 5280 4.2.1.10: minimum MUST be 0, maximum absent)".into());
    }
    Ok(match &general.base {
        GeneralName::DnsName(s) => Subtree::Dns(s.as_str().to_ascii_lowercase()),
        GeneralName::Rfc822Name(s) => Subtree::Email(s.as_str().to_string()),
        GeneralName::UniformResourceIdentifier(s) => Subtree::Uri(s.as_str().to_ascii_lowercase()),
        GeneralName::IpAddress(o) => ip_subtree(o.as_bytes())?,
        GeneralName::DirectoryName(n) => Subtree::Directory(Dn::from_name(n), n.to_string()),
        GeneralName::OtherName(_) => Subtree::Other("otherName"),
        GeneralName::RegisteredId(_) => Subtree::Other("registeredID"),
        GeneralName::EdiPartyName(_) => Subtree::Other("ediPartyName"),
    })
}

fn ip_subtree(bytes: &[u8]) -> Result<Subtree, String> {
    if bytes.len() != 8 && bytes.len() != 32 {
        return Err(format!(
            "an iPAddress name constraint is {} bytes (8 for IPv4, 32 for IPv6)",
            bytes.len()
        ));
    }
    let (address, mask) = bytes.split_at(bytes.len() / 2);
    let bits: Vec<bool> = mask.iter().flat_map(|b| (0..8).rev().map(move |i| b & (1 << i) != 0)).collect();
    if bits.windows(2).any(|w| !w[0] && w[1]) {
        return Err(format!(
            "the iPAddress name constraint {} has a netmask that is not a prefix",
            ip_text(address)
        ));
    }
    Ok(Subtree::Ip { address: address.to_vec(), mask: mask.to_vec() })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Permitted,
    Excluded,
}

fn same_form(name: &Asserted, subtree: &Subtree) -> bool {
    matches!(
        (name, subtree),
        (Asserted::Dns(_) | Asserted::CommonName(_), Subtree::Dns(_))
            | (Asserted::Email(_), Subtree::Email(_))
            | (Asserted::Uri(_), Subtree::Uri(_))
            | (Asserted::Ip(_), Subtree::Ip { .. })
            | (Asserted::Directory(..), Subtree::Directory(..))
    ) || matches!((name, subtree), (Asserted::Other(a), Subtree::Other(b)) if a == b)
}

/// Whether `name` lies in `subtree` (for an excluded subtree: whether it may, for a wildcard);
/// Err when the two cannot be compared (a malformed name or constraint), which refuses the
/// certificate.
fn matches(name: &Asserted, subtree: &Subtree, role: Role) -> Result<bool, String> {
    if !same_form(name, subtree) {
        return Ok(false);
    }
    let cannot = |why: &str| {
        Err(format!("{} cannot be checked against {} ({why})", name.describe(), subtree.describe()))
    };
    match (name, subtree) {
        (Asserted::Dns(n) | Asserted::CommonName(n), Subtree::Dns(c)) => {
            let Some(n) = dns_name(n) else { return cannot("it is not a valid DNS name") };
            let Some(c) = dns_constraint(c) else { return cannot("the constraint is not a valid DNS name") };
            Ok(dns_matches(&n, &c, role))
        }
        (Asserted::Email(n), Subtree::Email(c)) => {
            let Some((local, domain)) = mailbox(n) else { return cannot("it is not a mailbox") };
            Ok(email_matches(local, domain, c))
        }
        (Asserted::Uri(n), Subtree::Uri(c)) => {
            let Some(host) = uri_host(n) else { return cannot("the URI has no DNS host name") };
            Ok(host_matches(&host, c))
        }
        (Asserted::Ip(octets), Subtree::Ip { address, mask }) => {
            if octets.len() != 4 && octets.len() != 16 {
                return cannot("the address is neither 4 nor 16 bytes");
            }
            Ok(octets.len() == address.len()
                && octets.iter().zip(address).zip(mask).all(|((o, a), m)| o & m == a & m))
        }
        (Asserted::Directory(dn, _), Subtree::Directory(prefix, _)) => Ok(dn.within(prefix)),
        (Asserted::Other(form), Subtree::Other(_)) => {
            Err(format!("an {form} name cannot be checked against its {} name constraint", subtree.form()))
        }
        _ => Ok(false),
    }
}

/// A DNS name as presented in a certificate, lower-cased without a final dot; None when it is
/// not one (a wildcard is allowed only as the whole left-most label).
fn dns_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let rest = name.strip_prefix("*.").unwrap_or(&name);
    valid_labels(rest).then_some(name)
}

/// A dNSName constraint: empty (every name), "example.com", or ".example.com".
fn dns_constraint(constraint: &str) -> Option<String> {
    if constraint.is_empty() {
        return Some(String::new());
    }
    let body = constraint.strip_prefix('.').unwrap_or(constraint);
    let body = body.strip_suffix('.').unwrap_or(body);
    valid_labels(body)
        .then(|| if constraint.starts_with('.') { format!(".{body}") } else { body.to_string() })
}

fn valid_labels(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Whether a DNS name lies in a subtree: "example.com" holds it and every name below it,
/// ".example.com" only the names below it, "" every name.
fn dns_within(name: &str, constraint: &str) -> bool {
    if constraint.is_empty() {
        return true;
    }
    match constraint.strip_prefix('.') {
        Some(_) => name.len() > constraint.len() && name.ends_with(constraint),
        None => name == constraint || name.strip_suffix(constraint).is_some_and(|p| p.ends_with('.')),
    }
}

/// A wildcard name "*.example.com" stands for every name one label below example.com: it lies
/// in a permitted subtree only if all of them do, and in an excluded one if any of them does.
fn dns_matches(name: &str, constraint: &str, role: Role) -> bool {
    let Some(base) = name.strip_prefix("*.") else { return dns_within(name, constraint) };
    match role {
        Role::Permitted => dns_within(base, constraint.trim_start_matches('.')) || constraint.is_empty(),
        Role::Excluded => {
            let body = constraint.trim_start_matches('.');
            let one_label_below = body.split_once('.').is_some_and(|(_, rest)| rest == base);
            dns_within(base, constraint) || one_label_below || (constraint.starts_with('.') && body == base)
        }
    }
}

fn mailbox(address: &str) -> Option<(&str, &str)> {
    let (local, domain) = address.rsplit_once('@')?;
    (!local.is_empty() && valid_labels(domain)).then_some((local, domain))
}

/// rfc822Name constraints: "user@host" is one mailbox, "host" every mailbox at that host,
/// ".example.com" every mailbox at a host below example.com. Local parts are compared exactly,
/// hosts without regard to case.
fn email_matches(local: &str, domain: &str, constraint: &str) -> bool {
    let domain = domain.to_ascii_lowercase();
    if let Some((c_local, c_domain)) = constraint.rsplit_once('@') {
        return local == c_local && domain == c_domain.to_ascii_lowercase();
    }
    let constraint = constraint.to_ascii_lowercase();
    if constraint.starts_with('.') {
        domain.len() > constraint.len() && domain.ends_with(&constraint)
    } else {
        domain == constraint
    }
}

/// uniformResourceIdentifier constraints name a host ("host.example.com": that host only) or
/// a domain (".example.com": the hosts below it), compared with the URI's host.
fn host_matches(host: &str, constraint: &str) -> bool {
    if constraint.starts_with('.') {
        host.len() > constraint.len() && host.ends_with(constraint)
    } else {
        host == constraint
    }
}

/// The DNS host of a URI ("scheme://user@host:port/path"); None without an authority, for an
/// IP literal, or for a host that is not a DNS name.
fn uri_host(uri: &str) -> Option<String> {
    let (_, rest) = uri.split_once(':')?;
    let authority = rest.strip_prefix("//")?;
    let authority = authority.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.starts_with('[') {
        return None;
    }
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        Some(_) => return None,
        None => host_port,
    };
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if host.parse::<std::net::Ipv4Addr>().is_ok() || !valid_labels(&host) {
        return None;
    }
    Some(host)
}

/// Whether a common name looks like a DNS host name (at least two labels, letters, digits and
/// hyphens, an optional left-most wildcard), as OpenSSL decides whether to constrain it.
pub fn looks_like_host_name(cn: &str) -> bool {
    let rest = cn.strip_prefix("*.").unwrap_or(cn);
    rest.contains('.')
        && valid_labels(rest)
        && rest.bytes().all(|b| b != b'_')
        && rest.split('.').all(|l| !l.starts_with('-') && !l.ends_with('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns(n: &str) -> Asserted {
        Asserted::Dns(n.into())
    }

    fn only(permitted: Vec<Subtree>, excluded: Vec<Subtree>) -> Constraints {
        Constraints { permitted: Some(permitted), excluded }
    }

    #[test]
    fn dns_subtrees() {
        let c = only(vec![Subtree::Dns("example.com".into())], vec![Subtree::Dns("bad.example.com".into())]);
        assert!(c.allows(&dns("example.com")).is_ok());
        assert!(c.allows(&dns("a.example.com")).is_ok());
        assert!(c.allows(&dns("A.Example.COM.")).is_ok());
        assert!(c.allows(&dns("badexample.com")).is_err());
        assert!(c.allows(&dns("x.bad.example.com")).is_err());
        assert!(c.allows(&dns("*.example.com")).is_err(), "the wildcard may be bad.example.com");
        assert!(c.allows(&dns("*.a.example.com")).is_ok());
        let dot = only(vec![Subtree::Dns(".example.com".into())], vec![]);
        assert!(dot.allows(&dns("example.com")).is_err());
        assert!(dot.allows(&dns("a.example.com")).is_ok());
        assert!(dot.allows(&dns("*.example.com")).is_ok());
        let every = only(vec![Subtree::Dns(String::new())], vec![]);
        assert!(every.allows(&dns("anything.test")).is_ok());
        let none = Constraints { permitted: None, excluded: vec![Subtree::Dns(String::new())] };
        assert!(none.allows(&dns("anything.test")).is_err());
        assert!(none.allows(&Asserted::Ip(vec![1, 2, 3, 4])).is_ok());
    }

    #[test]
    fn ip_subtrees() {
        let c = only(vec![ip_subtree(&[10, 0, 0, 0, 255, 0, 0, 0]).unwrap()], vec![]);
        assert!(c.allows(&Asserted::Ip(vec![10, 9, 8, 7])).is_ok());
        assert!(c.allows(&Asserted::Ip(vec![11, 0, 0, 1])).is_err());
        assert!(c.allows(&Asserted::Ip(vec![0; 16])).is_err(), "an IPv6 address is not in an IPv4 range");
        assert!(ip_subtree(&[10, 0, 0, 0, 255, 0, 255, 0]).is_err());
        assert!(ip_subtree(&[10, 0, 0, 0]).is_err());
    }

    #[test]
    fn email_and_uri_subtrees() {
        let c = only(vec![Subtree::Email("example.com".into()), Subtree::Uri(".example.com".into())], vec![]);
        assert!(c.allows(&Asserted::Email("a@EXAMPLE.com".into())).is_ok());
        assert!(c.allows(&Asserted::Email("a@sub.example.com".into())).is_err());
        assert!(c.allows(&Asserted::Uri("https://api.example.com:8443/x".into())).is_ok());
        assert!(c.allows(&Asserted::Uri("https://example.com/".into())).is_err());
        assert!(c.allows(&Asserted::Uri("urn:uuid:1234".into())).is_err());
        let mailbox = only(vec![Subtree::Email("joe@example.com".into())], vec![]);
        assert!(mailbox.allows(&Asserted::Email("joe@example.com".into())).is_ok());
        assert!(mailbox.allows(&Asserted::Email("Joe@example.com".into())).is_err());
        let domain = only(vec![Subtree::Email(".example.com".into())], vec![]);
        assert!(domain.allows(&Asserted::Email("a@x.example.com".into())).is_ok());
        assert!(domain.allows(&Asserted::Email("a@example.com".into())).is_err());
    }

    #[test]
    fn host_names_in_common_names() {
        assert!(looks_like_host_name("api.example.com"));
        assert!(!looks_like_host_name("My Server"));
        assert!(!looks_like_host_name("localhost"));
    }
}
