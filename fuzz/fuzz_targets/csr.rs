//! PKCS#10 requests as `issue --csr` and `sign` read them: PEM or DER, parsed, signature
//! verified, extensions picked apart. Any input must give Ok or Err, never a panic, and an
//! accepted request must be internally consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pkictl::fuzzing::{MAX_CSR_BYTES, RequestedSan, parse_and_verify};

fuzz_target!(|data: &[u8]| {
    if let Ok(csr) = parse_and_verify(data, "fuzz input") {
        // Only requests within the size limit can be accepted.
        assert!(data.len() <= MAX_CSR_BYTES);
        // What the issuance path does next with an accepted request must not panic either.
        let _ = csr.public_key.key_type();
        if let Some(cn) = &csr.common_name {
            let _ = pkictl::fuzzing::san_from_name(cn, true);
        }
        for san in &csr.requested_sans {
            match san {
                RequestedSan::Dns(d) => drop(pkictl::fuzzing::parse_dns(d)),
                RequestedSan::Email(e) => drop(pkictl::fuzzing::parse_email(e)),
                RequestedSan::Uri(u) => drop(pkictl::fuzzing::parse_uri(u)),
                RequestedSan::Ip(_) | RequestedSan::Other(_) => {}
            }
        }
    }
});
