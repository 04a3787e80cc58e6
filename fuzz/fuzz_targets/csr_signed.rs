//! Like `csr`, but past the signature: a mutated request almost never carries a valid
//! signature, so `csr` mostly exercises the decoder and the verifier. Here the fuzzer writes
//! the subject and the attributes of a CertificationRequestInfo, which is then signed with a
//! fixed P-256 key, so that the CN, extensionRequest and SAN parsing behind the signature
//! check (and the name validation the issuance path applies next) see arbitrary input.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pkictl::fuzzing::{RequestedSan, parse_and_verify};
use pkictl::{KeyPair, KeyType};
use rcgen::SigningKey;

fn key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate(KeyType::P256).expect("a P-256 key"))
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = (n as u32).to_be_bytes();
        let skip = bytes.iter().position(|b| *b != 0).unwrap_or(3);
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fuzz_target!(|data: &[u8]| {
    // First byte: how much of the rest is the subject; the remainder is the attributes.
    let Some((&split, rest)) = data.split_first() else { return };
    let split = (split as usize).min(rest.len());
    let (subject, attributes) = rest.split_at(split);
    let key = key();
    let mut info = vec![0x02, 0x01, 0x00];
    info.extend(tlv(0x30, subject));
    info.extend_from_slice(key.spki_der());
    info.extend(tlv(0xa0, attributes));
    let info = tlv(0x30, &info);
    let signature = key.sign(&info).expect("sign");
    let mut bits = vec![0];
    bits.extend(signature);
    let mut body = info;
    body.extend(tlv(0x30, &tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])));
    body.extend(tlv(0x03, &bits));
    let der = tlv(0x30, &body);
    match parse_and_verify(&der, "fuzz input") {
        Ok(csr) => {
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
        // The signature is always good: a refusal must be about the content.
        Err(e) => assert!(
            !matches!(e, pkictl::fuzzing::CsrError::BadSignature),
            "a correctly signed request was refused as badly signed"
        ),
    }
});
