//! ACME request bodies as `pkictl serve` will read them: the flattened JWS, its protected
//! header and JWK, the signature check, the payload, and an externalAccountBinding inside it.
//! No input may panic, and an accepted key must read back from its stored form as itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pkictl::fuzzing::{ExternalAccountBinding, Jwk, parse_flattened, parse_key_change_inner};

fuzz_target!(|data: &[u8]| {
    if let Ok(jws) = parse_flattened(data) {
        if let Ok(key) = jws.verify_embedded() {
            let again = Jwk::from_json(key.to_json().as_bytes()).expect("a stored JWK reads back");
            assert_eq!(&again, key);
            assert_eq!(again.thumbprint(), key.thumbprint());
            if let Ok(payload) = jws.payload_json() {
                if let Ok(eab) = ExternalAccountBinding::from_value(&payload["externalAccountBinding"]) {
                    let _ = eab.verify(b"fuzzing-hmac-key-0123456789abcdef", &jws.header().url, key);
                }
            }
        }
        if let pkictl::KeyRef::Jwk(key) = &jws.header().key {
            let _ = jws.verify(key);
        }
    }
    if let Ok(inner) = parse_key_change_inner(data) {
        let _ = inner.verify_embedded();
    }
    let _ = Jwk::from_json(data);
});
