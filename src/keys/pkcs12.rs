//! PKCS#12 bundles: a private key with its certificate and chain, encrypted with a password
//! of its own (never the CA passphrase).

use p12_keystore::{EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKeyChain};
use zeroize::Zeroizing;

use super::{KeyError, KeyPair};

/// OpenSSL 3 uses 2048 PBKDF2 iterations; we use more, which every reader accepts.
const P12_ITERATIONS: u32 = 10_000;
/// What legacy readers (Java 8, old Windows/macOS) expect: 3DES and an SHA-1 MAC.
const LEGACY_ITERATIONS: u32 = 2048;

/// How a PKCS#12 file is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pkcs12Encryption {
    /// AES-256-CBC with PBKDF2-HMAC-SHA256 and an HMAC-SHA256 MAC, as OpenSSL 3 writes.
    Modern,
    /// 3DES with an SHA-1 MAC, for old readers.
    Legacy,
}

/// What goes into one PKCS#12 file.
pub struct Pkcs12Contents<'a> {
    /// The private key.
    pub key: &'a KeyPair,
    /// The certificate of that key, DER.
    pub certificate: &'a [u8],
    /// The CA certificates to include after it, DER.
    pub chain: &'a [Vec<u8>],
    /// The entry's friendly name.
    pub alias: &'a str,
    /// Its local key id (the certificate's SKI).
    pub key_id: &'a [u8],
}

/// Encodes the bundle, encrypted with `password`.
pub fn encode_pkcs12(
    contents: &Pkcs12Contents<'_>,
    password: &str,
    encryption: Pkcs12Encryption,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let p12_err = |e: p12_keystore::error::Error| KeyError::Encode(format!("PKCS#12: {e}"));
    let key_der = contents.key.to_pkcs8_der()?;
    let private_key = p12_keystore::PrivateKey::from_der(&key_der).map_err(p12_err)?;
    let mut certs = vec![p12_keystore::Certificate::from_der(contents.certificate).map_err(p12_err)?];
    for ca in contents.chain {
        certs.push(p12_keystore::Certificate::from_der(ca).map_err(p12_err)?);
    }
    let chain = PrivateKeyChain::new(contents.key_id.to_vec(), private_key, certs);
    let mut store = KeyStore::new();
    store.add_entry(contents.alias, KeyStoreEntry::PrivateKeyChain(chain));
    let writer = store.writer(password);
    let writer = match encryption {
        Pkcs12Encryption::Legacy => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .encryption_iterations(LEGACY_ITERATIONS)
            .mac_algorithm(MacAlgorithm::HmacSha1)
            .mac_iterations(LEGACY_ITERATIONS),
        Pkcs12Encryption::Modern => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .encryption_iterations(P12_ITERATIONS)
            .mac_algorithm(MacAlgorithm::HmacSha256)
            .mac_iterations(P12_ITERATIONS),
    };
    writer.write().map(Zeroizing::new).map_err(p12_err)
}
