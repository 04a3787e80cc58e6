//! What operators type: SANs (DNS, IP, email, URI), NAMEs and durations. No input may panic,
//! and what is accepted must be stable: parsing the normalised form again gives it back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pkictl::{fuzzing::MAX_DAYS, format_duration, parse_duration};
use pkictl::fuzzing::{parse_dns, parse_email, parse_ip, parse_uri, san_from_name};

fuzz_target!(|text: &str| {
    if let Ok(dns) = parse_dns(text) {
        assert!(dns.is_ascii() && dns.len() <= 253, "{dns:?}");
        assert_eq!(parse_dns(&dns).as_deref(), Ok(dns.as_str()), "DNS name not stable: {text:?}");
    }
    if let Ok(ip) = parse_ip(text) {
        assert_eq!(parse_ip(&ip.to_string()), Ok(ip));
    }
    if let Ok(email) = parse_email(text) {
        assert_eq!(parse_email(&email).as_deref(), Ok(email.as_str()), "email not stable: {text:?}");
    }
    if let Ok(uri) = parse_uri(text) {
        assert!(uri.is_ascii());
        assert_eq!(parse_uri(&uri).as_deref(), Ok(uri.as_str()));
    }
    for allow in [false, true] {
        if let Some(san) = san_from_name(text, allow) {
            let _ = san.to_rcgen();
        }
    }
    if let Ok(d) = parse_duration(text) {
        assert!(d.is_positive() && d.whole_seconds() <= MAX_DAYS * 86_400, "{text:?} -> {d}");
        assert_eq!(parse_duration(&format_duration(d)), Ok(d), "duration not stable: {text:?}");
    }
});
