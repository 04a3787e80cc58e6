//! Handing a certificate out again, from the ledger: its chain, and a PKCS#12 bundle with the
//! private key the caller gives back (pkictl never keeps leaf keys).

use std::path::Path;

use zeroize::Zeroizing;

use super::Authority;
use crate::error::{Error, Result};
use crate::keys::{Pkcs12Contents, Pkcs12Encryption, encode_pkcs12, read_plain_key};
use crate::ledger::CertificateRecord;
use crate::x509::CertInfo;

/// A PKCS#12 bundle of one certificate.
pub struct Pkcs12Request<'a> {
    /// The certificate.
    pub certificate: &'a CertificateRecord,
    /// Its private key (unencrypted PKCS#8 PEM), checked against the certificate.
    pub key_file: &'a Path,
    /// Asked for the bundle's own password (never the CA passphrase) once the key is known to
    /// be the certificate's.
    pub password: &'a dyn Fn() -> Result<Zeroizing<String>>,
    /// How it is encrypted.
    pub encryption: Pkcs12Encryption,
}

impl Authority {
    /// The CAs above a certificate up to, not including, the root. For a CA's own certificate
    /// the chain starts at its parent; a root's is empty.
    pub fn certificate_chain(&self, record: &CertificateRecord) -> Result<Vec<Vec<u8>>> {
        if record.authority_id == Some(record.issuer_id) {
            return Ok(Vec::new());
        }
        let issuer = self.ca_by_id(record.issuer_id)?;
        self.chain_der(&issuer)
    }

    /// The certificate, its chain (not the root) and its key, encrypted with the request's
    /// password.
    pub fn export_pkcs12(&self, request: &Pkcs12Request<'_>) -> Result<Zeroizing<Vec<u8>>> {
        let record = request.certificate;
        let der = self.ledger.certificate_der(record.id)?;
        let key = read_plain_key(request.key_file)?;
        let info = CertInfo::from_der(&der).map_err(|e| Error::Internal(e.to_string()))?;
        if key.public_key().bits() != info.public_key_bits.as_slice() {
            return Err(Error::invalid(format!(
                "{} is not the key of certificate {}",
                request.key_file.display(),
                record.serial.hex()
            )));
        }
        let chain = self.certificate_chain(record)?;
        let password = (request.password)()?;
        let contents = Pkcs12Contents {
            key: &key,
            certificate: &der,
            chain: &chain,
            alias: record.common_name.as_deref().unwrap_or("certificate"),
            key_id: info.subject_key_id.as_deref().unwrap_or_default(),
        };
        encode_pkcs12(&contents, &password, request.encryption)
            .map_err(|source| Error::Key { what: request.key_file.display().to_string(), source })
    }
}
