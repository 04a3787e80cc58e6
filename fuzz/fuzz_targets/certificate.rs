//! Certificates and CRLs as `verify` and `doctor` read them back: decoded, and their
//! signatures checked against the key in the certificate itself (as for a self-signed root),
//! which runs the signature code on arbitrary keys, algorithms and signature encodings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pkictl::fuzzing::{CertInfo, CrlInfo, fingerprint_sha256};

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = CertInfo::from_der(data) {
        let _ = cert.verify_signature(&cert.spki_der);
        let _ = cert.is_self_issued();
        assert_eq!(cert.fingerprint_sha256, fingerprint_sha256(data));
        let _ = cert.serial.ledger_hex();
        let _ = pkictl::PublicKey::from_spki_der(&cert.spki_der);
        if let Ok(crl) = CrlInfo::from_der(data) {
            let _ = crl.verify_signature(&cert.spki_der);
        }
    }
    if let Ok(crl) = CrlInfo::from_der(data) {
        for (serial, _) in &crl.entries {
            let _ = serial.hex();
        }
        // A CRL signed by itself makes no sense, but runs the verifier on whatever key-like
        // bytes the fuzzer put in the issuer name.
        let _ = crl.verify_signature(&crl.issuer_der);
    }
});
