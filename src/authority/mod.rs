//! The CA as a service: one [`Authority`] handle over a home's ledger and key store, with a
//! method for every CA operation. Typed requests in, typed outcomes and [`Error`]s out; no
//! terminal, no arguments, no exit codes. The CLI, `serve` and the agent all call it, and
//! nothing else decides policy.

mod acme;
mod acme_revoke;
mod ca;
mod check;
mod crl;
mod details;
mod enroll;
mod export;
mod issue;
mod migrate;
mod monitor;
mod ocsp;
mod output;
mod public_url;
mod responder;
mod revoke;
mod warning;

use std::path::Path;

pub use acme::{
    AcmeLimit, AcmeLimits, AcmeOrderView, AcmeProvisionerRequest, EabKey, NewAccountRequest, NewOrderRequest,
    Provisioner, Refusal, RemovedProvisioner,
};
pub use acme_revoke::{AcmeRevocationRefusal, AcmeRevokeRequest, AcmeRevoker};
pub use ca::{AddIntermediateRequest, CaCreated, InitRequest, Initialized};
pub use check::{ChainSummary, CheckRequest, Finding, HomeFile, Report, Severity};
pub use crl::{CrlRefusal, CrlRequest, PublishedCrl, crl_pem, write_crl_pem};
pub use details::CertificateDetails;
pub use enroll::{EnrolmentRefusal, NewToken, TokenRequest};
pub use export::Pkcs12Request;
pub use issue::{
    BatchIssued, BatchItem, BatchRequest, IssueRequest, Issued, KeySource, RenewKey, RenewRequest, Renewed,
    leaf_names, read_csr, validate_common_name,
};
pub use migrate::migrate_ledger;
pub use monitor::{crl_attention_from, crl_needs_attention};
pub use ocsp::{OcspIssuer, OcspReply, OcspSigner, OcspStatus, issuer_of, ocsp_status, sign_reply};
pub use output::{OutputDir, OutputFiles};
pub use public_url::{issued_urls, validate_public_url};
pub use responder::{DEFAULT_OCSP_RESPONDER_VALIDITY, OcspResponder};
pub use revoke::{CertRef, RevokeManyRequest, RevokeRequest, Revoked, RevokedMany, Skipped, parse_cert_ref};
pub use warning::Warning;

use crate::engine::policy::DnsConstraint;
use crate::engine::{self, SigningCa};
use crate::error::{CaAction, CaState, Error, Result};
use crate::home::Home;
use crate::keys::{FileKeyStore, Unlock};
use crate::ledger::{CaRecord, CertStatus, Ledger};

/// One home's CA: its ledger, its keys, and where passphrases come from.
pub struct Authority {
    home: Home,
    ledger: Box<dyn Ledger>,
    keys: FileKeyStore,
    unlock: Box<dyn Unlock>,
}

impl Authority {
    /// Opens an existing home. Keys are unlocked only when an operation needs one.
    pub fn open(home: &Path, unlock: Box<dyn Unlock>) -> Result<Authority> {
        let home = Home::open(home)?;
        let ledger = home.open_ledger(crate::ledger::OpenMode::ReadWrite)?;
        let keys = FileKeyStore::new(home.root());
        Ok(Authority { home, ledger, keys, unlock })
    }

    /// Opens an existing home for reading: on a read-only home (a mounted backup) the ledger
    /// is opened read-only, and whatever would change the home fails in the ledger.
    pub fn open_read_only(home: &Path, unlock: Box<dyn Unlock>) -> Result<Authority> {
        let home = Home::open(home)?;
        let ledger = home.open_ledger(crate::ledger::OpenMode::ReadOnly)?;
        let keys = FileKeyStore::new(home.root());
        Ok(Authority { home, ledger, keys, unlock })
    }

    /// The home's layout.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// Read access to the ledger, for queries and reports.
    pub fn ledger(&self) -> &dyn Ledger {
        self.ledger.as_ref()
    }

    /// The key store, for checks of the keys at rest.
    pub fn key_store(&self) -> &FileKeyStore {
        &self.keys
    }

    /// A CA by name, or the home's default issuing CA when no name is given.
    pub fn find_ca(&self, name: Option<&str>) -> Result<CaRecord> {
        find_ca_in(self.ledger.as_ref(), name)
    }

    /// A CA by ledger id; a missing one is damage.
    fn ca_by_id(&self, id: i64) -> Result<CaRecord> {
        self.ledger
            .authority_by_id(id)?
            .ok_or_else(|| Error::Internal(format!("CA #{id} is missing from the ledger")))
    }

    /// The CA certificates a peer needs between a leaf and the root: the issuing CA and its
    /// parents up to, not including, the root.
    pub fn chain_der(&self, issuing: &CaRecord) -> Result<Vec<Vec<u8>>> {
        let mut chain = Vec::new();
        let mut current = issuing.clone();
        while let Some(parent_id) = current.parent_id {
            chain.push(current.cert_der.clone());
            current = self.ca_by_id(parent_id)?;
        }
        Ok(chain)
    }

    /// Unlocks a CA's key and pairs it with the CA's certificate and constraints.
    fn signing_ca(&self, ca: &CaRecord) -> Result<SigningCa> {
        let signer = self.keys.signer(&ca.name, &ca.key_file, self.unlock.as_ref())?;
        self.signing_ca_with(ca, signer)
    }

    /// [`Authority::signing_ca`], also handing back the passphrase that opened the key.
    fn unlock_ca(&self, ca: &CaRecord) -> Result<(SigningCa, Option<zeroize::Zeroizing<String>>)> {
        let unlocked = self.keys.unlock(&ca.name, &ca.key_file, self.unlock.as_ref())?;
        let signing = engine::ca::load_signing_ca(
            &ca.name,
            unlocked.signer,
            ca.ski.clone(),
            &ca.cert_der,
            issued_urls(ca),
            self.name_constraints(ca)?,
        )?;
        Ok((signing, unlocked.passphrase))
    }

    /// Pairs an already unlocked key with the CA's certificate, URLs and constraints.
    fn signing_ca_with(
        &self,
        ca: &CaRecord,
        signer: std::sync::Arc<dyn crate::keys::CaSigner>,
    ) -> Result<SigningCa> {
        Ok(engine::ca::load_signing_ca(
            &ca.name,
            signer,
            ca.ski.clone(),
            &ca.cert_der,
            issued_urls(ca),
            self.name_constraints(ca)?,
        )?)
    }

    /// The DNS name constraints of a CA and each of its ancestors.
    fn name_constraints(&self, ca: &CaRecord) -> Result<Vec<DnsConstraint>> {
        let mut chain = vec![DnsConstraint { ca: ca.name.clone(), permitted: ca.permitted_dns.clone() }];
        let mut parent = ca.parent_id;
        while let Some(id) = parent {
            let ancestor = self.ca_by_id(id)?;
            chain
                .push(DnsConstraint { ca: ancestor.name.clone(), permitted: ancestor.permitted_dns.clone() });
            parent = ancestor.parent_id;
        }
        Ok(chain)
    }
}

/// A CA by name (or slug) in `ledger`, or its default issuing CA when no name is given: for
/// readers that hold a ledger without an [`Authority`].
pub fn find_ca_in(ledger: &dyn Ledger, name: Option<&str>) -> Result<CaRecord> {
    match name {
        Some(name) => {
            ledger.authority_by_name(name)?.ok_or_else(|| Error::UnknownCa { name: name.to_string() })
        }
        None => ledger.default_authority()?.ok_or(Error::NoDefaultCa),
    }
}

/// A revoked or expired CA signs nothing (certificates or CRLs) that anyone should trust.
pub fn check_ca_usable(ca: &CaRecord, now: i64, action: CaAction) -> Result<()> {
    let state = if ca.status == CertStatus::Revoked {
        CaState::Revoked
    } else if ca.not_after <= now {
        CaState::Expired { at: ca.not_after }
    } else {
        return Ok(());
    };
    Err(Error::CaUnusable { ca: ca.name.clone(), state, action })
}
