//! Subject alternative names: parsing and validating what operators type, so that a bad
//! name is refused at the shell rather than by a TLS peer months later.

use std::fmt;
use std::net::IpAddr;

use crate::error::excerpt;

/// More names than this is a mistake, not a certificate (and makes handshakes huge).
pub const MAX_SANS: usize = 100;
const MAX_DNS_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;
const MAX_URI_LEN: usize = 2048;
const MAX_EMAIL_LOCAL_LEN: usize = 64;

/// Why a name was refused: one sentence that quotes (a prefix of) the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    message: String,
    looks_like_ip: bool,
}

impl NameError {
    fn new(message: String) -> NameError {
        NameError { message, looks_like_ip: false }
    }

    /// Whether the name given as a host name is (or looks like a mistyped) IP address, so a
    /// front-end can say where IP addresses go.
    pub fn looks_like_ip(&self) -> bool {
        self.looks_like_ip
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NameError {}

/// A subjectAltName, validated and normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum San {
    /// A DNS name (lower case; a wildcard only as the whole left-most label).
    Dns(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// An email address (rfc822Name).
    Email(String),
    /// A URI (SPIFFE IDs among them).
    Uri(String),
}

impl fmt::Display for San {
    /// The ledger and display form: "DNS:x", "IP:y", "email:z", "URI:u" (as x509.rs reads back).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(d) => write!(f, "DNS:{d}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
            San::Email(e) => write!(f, "email:{e}"),
            San::Uri(u) => write!(f, "URI:{u}"),
        }
    }
}

impl std::str::FromStr for San {
    type Err = String;

    /// The ledger form back into a name ("DNS:x", "IP:y", "email:z", "URI:u").
    fn from_str(text: &str) -> Result<San, String> {
        let bad = || format!("unreadable SAN \"{text}\"");
        let (kind, value) = text.split_once(':').ok_or_else(bad)?;
        Ok(match kind {
            "DNS" => San::Dns(value.to_string()),
            "IP" => San::Ip(value.parse().map_err(|_| bad())?),
            "email" => San::Email(value.to_string()),
            "URI" => San::Uri(value.to_string()),
            _ => return Err(bad()),
        })
    }
}

impl San {
    /// Whether it names a host (what server certificates need).
    pub fn is_dns_or_ip(&self) -> bool {
        matches!(self, San::Dns(_) | San::Ip(_))
    }

    /// The name as rcgen writes it.
    pub fn to_rcgen(&self) -> Result<rcgen::SanType, String> {
        let ia5 = |s: &str| {
            rcgen::string::Ia5String::try_from(s.to_string()).map_err(|_| format!("\"{s}\" is not ASCII"))
        };
        Ok(match self {
            San::Dns(d) => rcgen::SanType::DnsName(ia5(d)?),
            San::Ip(ip) => rcgen::SanType::IpAddress(*ip),
            San::Email(e) => rcgen::SanType::Rfc822Name(ia5(e)?),
            San::Uri(u) => rcgen::SanType::URI(ia5(u)?),
        })
    }
}

/// A DNS name: LDH labels of 1-63 characters, 253 in all, lower-cased; a wildcard only as the
/// whole left-most label of a name with at least two more labels. Internationalised names
/// must be given in punycode (xn--…), and every xn-- label must decode to a valid IDNA label.
pub fn parse_dns(input: &str) -> Result<String, NameError> {
    let name = input.to_ascii_lowercase();
    let refuse = |why: &str| Err(NameError::new(format!("invalid DNS name \"{}\": {why}", excerpt(input))));
    let refuse_ip = |why: &str| {
        Err(NameError {
            looks_like_ip: true,
            ..NameError::new(format!("invalid DNS name \"{}\": {why}", excerpt(input)))
        })
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if !name.is_ascii() {
        return refuse("it is not ASCII; give internationalised names in punycode (xn--…)");
    }
    if name.len() > MAX_DNS_LEN {
        return refuse("it is longer than 253 characters");
    }
    if name.ends_with('.') {
        return refuse("it ends with a dot; leave the trailing dot out");
    }
    if name.parse::<IpAddr>().is_ok() {
        return refuse_ip("it is an IP address, not a host name");
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() > 1
        && labels.last().is_some_and(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()))
    {
        return refuse_ip("its last label is all digits, so it is no host name (a mistyped IP address?)");
    }
    for (index, label) in labels.iter().enumerate() {
        if *label == "*" {
            if index != 0 {
                return refuse("a wildcard may only be the whole left-most label");
            }
            if labels.len() < 3 {
                return refuse("a wildcard needs at least two labels after it (*.example.com)");
            }
            continue;
        }
        if let Err(why) = check_label(label).and_then(|()| check_a_label(label)) {
            return refuse(&why);
        }
    }
    Ok(name)
}

/// Refuses text (a common name) whose `xn--` labels are not valid A-labels: a name that looks
/// internationalised must decode, whether or not it also becomes a SAN.
pub fn check_idn_labels(text: &str) -> Result<(), NameError> {
    for label in text.split('.') {
        if label.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--")) {
            check_a_label(&label.to_ascii_lowercase()).map_err(|why| {
                NameError::new(format!("\"{}\" is not a valid internationalised name: {why}", excerpt(text)))
            })?;
        }
    }
    Ok(())
}

/// An `xn--` label must be an A-label: valid punycode that decodes to a label IDNA allows
/// (no control characters, no ASCII-only result, the canonical encoding). Decoded and checked
/// by the `idna` crate (UTS #46, with the STD3 rules), not by hand.
fn check_a_label(label: &str) -> Result<(), String> {
    use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
    if !label.starts_with("xn--") {
        return Ok(());
    }
    let invalid = || {
        format!(
            "label \"{}\" starts with xn-- but is not a valid internationalised label (bad punycode, or it decodes to characters a host name cannot hold)",
            excerpt(label)
        )
    };
    let ascii = Uts46::new()
        .to_ascii(label.as_bytes(), AsciiDenyList::STD3, Hyphens::Allow, DnsLength::Ignore)
        .map_err(|_| invalid())?;
    // The crate decodes and re-encodes: anything but the same label was not canonical.
    if ascii != label {
        return Err(invalid());
    }
    let (unicode, decoded) = Uts46::new().to_unicode(label.as_bytes(), AsciiDenyList::STD3, Hyphens::Allow);
    if decoded.is_err() || unicode.is_ascii() || unicode.chars().any(char::is_control) {
        return Err(invalid());
    }
    Ok(())
}

fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("it has an empty label (\"..\" or a leading dot)".into());
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(format!("label \"{}\" is longer than 63 characters", excerpt(label)));
    }
    if label.contains('*') {
        return Err("a wildcard may only be the whole left-most label".into());
    }
    if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
        return Err(format!(
            "label \"{}\" contains '{}'; only letters, digits and '-' are allowed",
            excerpt(label),
            c.escape_default()
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("label \"{}\" starts or ends with '-'", excerpt(label)));
    }
    Ok(())
}

/// An IP address, v4 or v6.
pub fn parse_ip(input: &str) -> Result<IpAddr, NameError> {
    // Not trimmed: "10.0.0.7\n" is a mistake to point out, not an address to accept.
    input.parse::<IpAddr>().map_err(|_| {
        NameError::new(format!("invalid IP address \"{}\" (examples: 10.0.0.7, fd00::7)", excerpt(input)))
    })
}

/// An rfc822Name: an ASCII local part without spaces, '@', and a valid DNS domain.
pub fn parse_email(input: &str) -> Result<String, NameError> {
    let refuse =
        |why: &str| Err(NameError::new(format!("invalid email address \"{}\": {why}", excerpt(input))));
    let Some((local, domain)) = input.rsplit_once('@') else {
        return refuse("it has no '@'");
    };
    if local.is_empty() || local.len() > MAX_EMAIL_LOCAL_LEN {
        return refuse("the part before '@' must be 1 to 64 characters");
    }
    if !local.chars().all(|c| c.is_ascii_graphic() && c != '@') {
        return refuse("the part before '@' must be printable ASCII without spaces");
    }
    if domain.starts_with("*.") {
        return refuse("the domain cannot be a wildcard");
    }
    let domain = parse_dns(domain).or_else(|e| refuse(&e.to_string()))?;
    Ok(format!("{local}@{domain}"))
}

/// A URI with a scheme, in ASCII; `spiffe://` IDs are checked against the SPIFFE rules
/// (a lower-case trust domain, a path, no query or fragment).
pub fn parse_uri(input: &str) -> Result<String, NameError> {
    let refuse = |why: &str| Err(NameError::new(format!("invalid URI \"{}\": {why}", excerpt(input))));
    if input.len() > MAX_URI_LEN {
        return refuse("it is longer than 2048 characters");
    }
    if !input.is_ascii() || input.chars().any(|c| c.is_ascii_whitespace() || c.is_ascii_control()) {
        return refuse("it must be ASCII without spaces (percent-encode other characters)");
    }
    let Some((scheme, rest)) = input.split_once(':') else {
        return refuse("it has no scheme (example: spiffe://example.org/ns/app/sa/web)");
    };
    let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok || rest.is_empty() {
        return refuse("it has no valid scheme");
    }
    if scheme.eq_ignore_ascii_case("spiffe")
        && let Err(why) = check_spiffe(rest)
    {
        return refuse(&why);
    }
    Ok(input.to_string())
}

fn check_spiffe(rest: &str) -> Result<(), String> {
    let Some(id) = rest.strip_prefix("//") else {
        return Err("a SPIFFE ID is spiffe://<trust domain>/<path>".into());
    };
    let (trust_domain, path) = id.split_once('/').unwrap_or((id, ""));
    if trust_domain.is_empty()
        || !trust_domain.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._".contains(c))
    {
        return Err("the SPIFFE trust domain must be lower-case letters, digits, '-', '.', '_'".into());
    }
    if path.is_empty() || path.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return Err("a SPIFFE ID needs a path without empty, '.' or '..' segments".into());
    }
    if path.contains(['?', '#']) {
        return Err("a SPIFFE ID has no query or fragment".into());
    }
    Ok(())
}

/// Whether NAME itself names something that belongs in the SAN: a host name, an IP address,
/// an email address or a URI. Anything else ("Billing Service") is only a CN.
pub fn san_from_name(name: &str, allow_email_and_uri: bool) -> Option<San> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Some(San::Ip(ip));
    }
    if allow_email_and_uri {
        if name.contains("://") {
            return parse_uri(name).ok().map(San::Uri);
        }
        if name.contains('@') {
            return parse_email(name).ok().map(San::Email);
        }
    }
    let dns = parse_dns(name).ok()?;
    // A one-word client NAME ("billing") names a service, not a host: it stays the CN only.
    if allow_email_and_uri && !dns.contains('.') {
        return None;
    }
    Some(San::Dns(dns))
}

/// Adds `san` unless it is already there (names are compared after normalisation).
pub fn push_unique(sans: &mut Vec<San>, san: San) {
    if !sans.contains(&san) {
        sans.push(san);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert_eq!(parse_dns("API.Example.COM").unwrap(), "api.example.com");
        assert_eq!(parse_dns("*.example.com").unwrap(), "*.example.com");
        assert_eq!(parse_dns("xn--bcher-kva.example").unwrap(), "xn--bcher-kva.example");
        assert!(parse_dns("localhost").is_ok());
        for bad in [
            "a..b",
            "-a.com",
            "a-.com",
            "*.*.x",
            "*.com",
            "a.*.com",
            "foo*.example.com",
            "bücher.example",
            "a_b.example",
            "",
            ".",
            "example.com.",
            "1.2.3.4",
            &"a".repeat(64),
            "a b.com",
            "10.0.0.256",
            "1.2.3",
            "host.123",
        ] {
            assert!(parse_dns(bad).is_err(), "{bad:?} was accepted");
        }
        let long = vec!["a".repeat(63); 4].join(".");
        assert!(parse_dns(&long).is_err());
    }

    #[test]
    fn a_labels_are_decoded_and_checked() {
        for good in ["xn--bcher-kva.example", "xn--mnchen-3ya.de", "a.xn--p1ai"] {
            assert!(parse_dns(good).is_ok(), "{good:?} was refused: {:?}", parse_dns(good));
        }
        for bad in [
            "xn--.example",
            "xn--a.example",
            "xn--abc-.example",
            "xn--fa1v.example",
            "xn--zzzzzzzzzzzzzzzzzzzzzzzzzzzz.example",
            "xn--99999999.example",
            "xn---bga.example",
            "xn--ab-.example",
        ] {
            assert!(parse_dns(bad).is_err(), "{bad:?} was accepted");
        }
        let message = parse_dns("10.0.0.300").unwrap_err();
        assert!(message.looks_like_ip() && !message.to_string().contains("--"), "{message}");
        let long = parse_dns(&"x".repeat(10_000)).unwrap_err().to_string();
        assert!(long.len() < 200, "{long}");
    }

    #[test]
    fn ips_emails_uris() {
        assert!(parse_ip("10.0.0.7").is_ok());
        assert!(parse_ip("fd00::7").is_ok());
        for bad in ["10.0.0.256", "1.2.3", "fd00:::7", "host"] {
            assert!(parse_ip(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_email("Alice@Example.com").unwrap(), "Alice@example.com");
        for bad in ["alice", "@example.com", "a b@example.com", "a@*.example.com", "a@ex..com"] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
        assert!(parse_uri("spiffe://example.org/ns/app/sa/web").is_ok());
        assert!(parse_uri("https://example.com/x").is_ok());
        for bad in [
            "no-scheme",
            "spiffe://Example.org/x",
            "spiffe://example.org",
            "spiffe://example.org/a//b",
            "http://a b",
            "1http://x",
        ] {
            assert!(parse_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_that_become_sans() {
        assert_eq!(san_from_name("api.example.com", false), Some(San::Dns("api.example.com".into())));
        assert_eq!(san_from_name("10.1.2.3", false), Some(San::Ip("10.1.2.3".parse().unwrap())));
        assert_eq!(san_from_name("Billing Service", true), None);
        assert_eq!(san_from_name("bob@example.com", true), Some(San::Email("bob@example.com".into())));
        assert_eq!(san_from_name("bob@example.com", false), None);
        assert_eq!(san_from_name("billing", true), None);
        assert_eq!(san_from_name("localhost", false), Some(San::Dns("localhost".into())));
    }
}
