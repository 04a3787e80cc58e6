//! CA keys at rest: PKCS#8 files under the home, encrypted with the CA passphrase. The only
//! code that reads or writes a CA key file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

use super::{CaSigner, KeyError, KeyPair, MemorySigner};
use crate::error::{Error, Result};
use crate::home::{self, KEY_MODE};

/// Where secrets come from. The CLI reads a file, the environment or a terminal; a server
/// asks once at start. Errors are the front-end's own ([`Error::Unlock`]).
pub trait Unlock: Send {
    /// The passphrase of an existing, encrypted key; `what` names it ("the CA Acme Root").
    fn passphrase(&self, what: &str) -> Result<Zeroizing<String>>;
    /// A passphrase to protect new keys; `what` names them.
    fn new_passphrase(&self, what: &str) -> Result<Zeroizing<String>>;
}

/// A passphrase held in memory: what a long-running server reads once at start, or a
/// library caller already has. `none()` is for homes whose keys are stored unencrypted.
#[derive(Clone)]
pub struct FixedPassphrase(Option<Zeroizing<String>>);

impl FixedPassphrase {
    /// This passphrase, for every key.
    pub fn new(passphrase: impl Into<String>) -> FixedPassphrase {
        FixedPassphrase(Some(Zeroizing::new(passphrase.into())))
    }

    /// No passphrase: only unencrypted keys can be opened, and new keys cannot be protected.
    pub fn none() -> FixedPassphrase {
        FixedPassphrase(None)
    }

    fn get(&self, what: &str) -> Result<Zeroizing<String>> {
        self.0.clone().ok_or_else(|| Error::Unlock(format!("no passphrase was given for {what}")))
    }
}

impl Unlock for FixedPassphrase {
    fn passphrase(&self, what: &str) -> Result<Zeroizing<String>> {
        self.get(what)
    }

    fn new_passphrase(&self, what: &str) -> Result<Zeroizing<String>> {
        self.get(what)
    }
}

/// A CA key unlocked for signing, with the passphrase that opened it (None for a key stored
/// in the clear) so that a new sub-CA key can be protected the same way.
pub struct UnlockedKey {
    /// Signs for the CA.
    pub signer: Arc<dyn CaSigner>,
    /// The passphrase that decrypted the file.
    pub passphrase: Option<Zeroizing<String>>,
}

/// CA keys as files under a home.
pub struct FileKeyStore {
    root: PathBuf,
    /// Signers already unlocked by [`FileKeyStore::signer`], by key file: a long-running
    /// server decrypts each CA key once (scrypt takes tens of milliseconds), not per
    /// certificate.
    unlocked: Mutex<HashMap<String, Arc<dyn CaSigner>>>,
}

impl FileKeyStore {
    /// The key store of the home at `root`.
    pub fn new(root: &Path) -> FileKeyStore {
        FileKeyStore { root: root.to_path_buf(), unlocked: Mutex::new(HashMap::new()) }
    }

    /// The signer of CA `ca`, unlocked on first use and kept in memory for this store's
    /// lifetime.
    pub fn signer(&self, ca: &str, key_ref: &str, unlock: &dyn Unlock) -> Result<Arc<dyn CaSigner>> {
        let mut unlocked = self.unlocked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(signer) = unlocked.get(key_ref) {
            return Ok(signer.clone());
        }
        let (key, _) = self.read_key(ca, key_ref, unlock)?;
        // ring signs ECDSA several times faster than the p256 crate; a server signs a lot.
        let signer = super::FastSigner::fastest(key)
            .map_err(|source| Error::Key { what: format!("CA {ca}"), source })?;
        unlocked.insert(key_ref.to_string(), signer.clone());
        Ok(signer)
    }

    /// The file of a key, from its ledger reference (relative to the home).
    pub fn path_of(&self, key_ref: &str) -> PathBuf {
        self.root.join(key_ref)
    }

    /// Reads and, when it is encrypted, decrypts the key of CA `ca`.
    pub fn unlock(&self, ca: &str, key_ref: &str, unlock: &dyn Unlock) -> Result<UnlockedKey> {
        let (key, passphrase) = self.read_key(ca, key_ref, unlock)?;
        Ok(UnlockedKey { signer: Arc::new(MemorySigner::new(key)), passphrase })
    }

    fn read_key(
        &self,
        ca: &str,
        key_ref: &str,
        unlock: &dyn Unlock,
    ) -> Result<(KeyPair, Option<Zeroizing<String>>)> {
        let path = self.path_of(key_ref);
        let bytes = Zeroizing::new(home::read_private_file(&path)?);
        let pem = std::str::from_utf8(&bytes)
            .map_err(|_| Error::invalid(format!("{} is not a PEM key file", path.display())))?;
        let passphrase = if KeyPair::is_encrypted_pem(pem) { Some(unlock.passphrase(ca)?) } else { None };
        let key =
            KeyPair::from_pkcs8_pem(pem, passphrase.as_ref().map(|p| p.as_bytes())).map_err(|e| match e {
                KeyError::WrongPassphrase => Error::WrongPassphrase { ca: ca.to_string() },
                source => Error::Key { what: format!("CA {ca} ({})", path.display()), source },
            })?;
        Ok((key, passphrase))
    }

    /// Writes a new CA key (it must not exist yet), encrypted when a passphrase is given.
    pub fn store_new(&self, ca: &str, key_ref: &str, key: &KeyPair, passphrase: Option<&str>) -> Result<()> {
        let pem = match passphrase {
            Some(p) => key.to_encrypted_pkcs8_pem(p.as_bytes()),
            None => key.to_pkcs8_pem(),
        }
        .map_err(|source| Error::Key { what: ca.to_string(), source })?;
        home::write_atomic_new(&self.path_of(key_ref), pem.as_bytes(), KEY_MODE)
    }

    /// Removes a key written by [`FileKeyStore::store_new`] whose CA was then not recorded.
    pub fn discard(&self, key_ref: &str) {
        let _ = std::fs::remove_file(self.path_of(key_ref));
    }

    /// Whether the key file is encrypted at rest (doctor's check), from its PEM label.
    pub fn is_encrypted(&self, key_ref: &str) -> Result<bool> {
        let bytes = Zeroizing::new(home::read_private_file(&self.path_of(key_ref))?);
        Ok(KeyPair::is_encrypted_pem(&String::from_utf8_lossy(&bytes)))
    }

    /// A key file as it lies at rest, for checks: its permission bits and whether it is
    /// encrypted. Reads it whatever its mode (the check is there to report a bad one).
    pub fn inspect(&self, key_ref: &str) -> std::io::Result<KeyAtRest> {
        let path = self.path_of(key_ref);
        let (bytes, mode) = home::read_input_with_mode(&path, home::limits::KEY)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let bytes = Zeroizing::new(bytes);
        let mode = mode & 0o777;
        Ok(KeyAtRest { mode, encrypted: KeyPair::is_encrypted_pem(&String::from_utf8_lossy(&bytes)) })
    }

    /// Whether the key file holds the private key of `spki_der` (the CA certificate's public
    /// key). An encrypted key is opened only with `unlock`; without it the answer is None.
    pub fn holds_key_of(
        &self,
        ca: &str,
        key_ref: &str,
        spki_der: &[u8],
        unlock: Option<&dyn Unlock>,
    ) -> Result<Option<bool>> {
        let path = self.path_of(key_ref);
        let bytes = Zeroizing::new(home::read_private_file(&path)?);
        let pem = std::str::from_utf8(&bytes)
            .map_err(|_| Error::invalid(format!("{} is not a PEM key file", path.display())))?;
        let passphrase = match (KeyPair::is_encrypted_pem(pem), unlock) {
            (false, _) => None,
            (true, Some(unlock)) => Some(unlock.passphrase(ca)?),
            (true, None) => return Ok(None),
        };
        let key =
            KeyPair::from_pkcs8_pem(pem, passphrase.as_ref().map(|p| p.as_bytes())).map_err(|e| match e {
                KeyError::WrongPassphrase => Error::WrongPassphrase { ca: ca.to_string() },
                source => Error::Key { what: format!("CA {ca} ({})", path.display()), source },
            })?;
        Ok(Some(key.spki_der() == spki_der))
    }

    /// The raw key file, for a backup (the bytes stay as encrypted as they are at rest).
    pub fn read_raw(&self, key_ref: &str) -> Result<Zeroizing<Vec<u8>>> {
        Ok(Zeroizing::new(home::read_private_file(&self.path_of(key_ref))?))
    }
}

/// A CA key file's state at rest.
#[derive(Debug, Clone, Copy)]
pub struct KeyAtRest {
    /// Permission bits.
    pub mode: u32,
    /// Whether the PEM is encrypted PKCS#8.
    pub encrypted: bool,
}

/// Reads an unencrypted PKCS#8 PEM key file (a leaf key handed back for renewal or export).
pub fn read_plain_key(path: &Path) -> Result<KeyPair> {
    let pem = Zeroizing::new(home::read_private_file(path)?);
    let text = std::str::from_utf8(&pem)
        .map_err(|_| Error::invalid(format!("{} is not a PEM key file", path.display())))?;
    KeyPair::from_pkcs8_pem(text, None)
        .map_err(|source| Error::Key { what: path.display().to_string(), source })
}
