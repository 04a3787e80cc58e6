//! `pkictl enroll` as a library call: make a key here (it never leaves the machine), send a
//! CSR without names (the token decides them), and write the four files `issue --out` writes.

use std::path::PathBuf;

use zeroize::Zeroizing;

use super::client;
use crate::authority::{OutputDir, OutputFiles};
use crate::error::{Error, Result};
use crate::home;
use crate::keys::{KeyPair, KeyType};
use crate::x509::CertInfo;

/// What `enroll` needs.
pub struct EnrollRequest {
    /// `https://HOST[:PORT]` of `pkictl serve`'s HTTPS listener.
    pub server_url: String,
    /// The root the server's certificate must chain to (PEM).
    pub root: PathBuf,
    /// The one-time token.
    pub token: Zeroizing<String>,
    /// The type of the new key.
    pub key_type: KeyType,
    /// Names the files (NAME.crt …); the certificate's CN when None. Given, the files are
    /// checked before the token is spent.
    pub name: Option<String>,
    /// Where the files go.
    pub out: OutputDir,
}

/// An enrolled certificate, written.
#[derive(Debug)]
pub struct Enrolled {
    /// Its serial, hex.
    pub serial: String,
    /// Its commonName.
    pub common_name: Option<String>,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// SHA-256 of the DER.
    pub fingerprint_sha256: String,
    /// The four files.
    pub files: OutputFiles,
}

/// Enrols with a token: key, CSR, `POST /v1/enroll`, four files.
pub fn enroll(request: &EnrollRequest) -> Result<Enrolled> {
    if let Some(name) = &request.name {
        check_files(&OutputFiles::new(&request.out.dir, name, true), &request.out)?;
    }
    let key = KeyPair::generate(request.key_type)
        .map_err(|source| Error::Key { what: "the new key".into(), source })?;
    let csr = csr_without_names(&key)?;
    let chain = client::enroll(&request.server_url, &request.root, &request.token, &csr)?;
    let (leaf, cas) =
        chain.split_first().ok_or_else(|| client::ClientError::BadAnswer("no certificate".into()))?;
    let info = CertInfo::from_der(leaf).map_err(|e| client::ClientError::BadAnswer(e.to_string()))?;
    if info.spki_der != key.spki_der() {
        return Err(client::ClientError::BadAnswer("the certificate is not for the key sent".into()).into());
    }
    let name = request.name.clone().or_else(|| info.common_name.clone()).unwrap_or_else(|| "cert".into());
    let files = OutputFiles::new(&request.out.dir, &name, true);
    let undelivered = |problem: Error| Error::EnrolUndelivered {
        serial: info.serial.hex(),
        dir: request.out.dir.clone(),
        problem: Box::new(problem),
    };
    check_files(&files, &request.out).map_err(undelivered)?;
    let staged = files.stage().map_err(undelivered)?;
    files.land(staged, leaf, Some(&key), cas).map_err(|(problem, _)| undelivered(problem))?;
    Ok(Enrolled {
        serial: info.serial.hex(),
        common_name: info.common_name.clone(),
        not_after: info.not_after,
        fingerprint_sha256: info.fingerprint_sha256.clone(),
        files,
    })
}

fn check_files(files: &OutputFiles, out: &OutputDir) -> Result<()> {
    home::check_output_dir(&out.dir)?;
    files.check_free(out.force)?;
    files.check_not_in_the_way()
}

/// A PKCS#10 request signed by `key`, with an empty subject and no extensions.
pub fn csr_without_names(key: &KeyPair) -> Result<Vec<u8>> {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(key).map_err(|e| Error::Internal(format!("building the CSR: {e}")))?;
    Ok(csr.der().to_vec())
}
