//! The ledger: the single source of truth, behind one interface. Backends implement
//! [`Ledger`] (reads) and [`LedgerTx`] (one typed write transaction); the conformance suite
//! in `conformance.rs` is what every backend must pass. This module tree is the only code
//! with SQL in it.

pub mod acme;
pub mod chain;
pub(crate) mod postgres;
mod records;
mod sqlite;
#[doc(hidden)]
#[allow(missing_docs)]
pub mod testing;

#[cfg(test)]
mod conformance;

use std::path::{Path, PathBuf};

pub use postgres::{CopyReport, PgLocation, PostgresLedger, copy_from_sqlite};
pub use records::{
    CaRecord, CertFilter, CertSelector, CertState, CertStatus, CertificateRecord, CertificateSummary,
    CrlRecord, Event, EventKind, KeyOrigin, NewAuthority, NewCertificate, NewCrl, NewTokenRecord,
    StatusFilter, TokenRecord, TokenStatus,
};
pub use sqlite::SqliteLedger;

use crate::engine::crl::Reason;

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The file is not a ledger pkictl made.
    #[error("{} is not a pkictl ledger (empty, or not a database pkictl made); restore it from a backup", path.display())]
    NotALedger {
        /// The ledger's location.
        path: PathBuf,
    },
    /// The ledger is damaged.
    #[error("{} is damaged ({reason}); restore it from a backup", path.display())]
    Damaged {
        /// The ledger's location.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A newer pkictl made this ledger.
    #[error("{} has schema version {found}, newer than this pkictl understands ({supported}); upgrade pkictl", path.display())]
    FutureSchema {
        /// The ledger's location.
        path: PathBuf,
        /// Its schema version.
        found: u32,
        /// The newest this build knows.
        supported: u32,
    },
    /// The database engine failed.
    #[error("ledger {}: {message}", path.display())]
    Backend {
        /// The ledger's location.
        path: PathBuf,
        /// The backend's own words.
        message: String,
    },
    /// Reading or writing the ledger's files failed.
    #[error("ledger {}: {source}", path.display())]
    Io {
        /// The ledger's location.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file system holding the ledger is full.
    #[error("ledger {}: no space left on device; free some space and retry (nothing was changed)", path.display())]
    NoSpace {
        /// The ledger's location.
        path: PathBuf,
    },
    /// The ledger cannot be written here (a read-only file system or directory).
    #[error("{} is read-only here (a read-only mount or directory); this command changes the home and needs write access (nothing was changed)", path.display())]
    ReadOnly {
        /// The ledger's location.
        path: PathBuf,
    },
    /// A read-only ledger is at an older schema, and upgrading it needs write access.
    #[error("{} has schema version {found} and is read-only; open it once where it is writable so that pkictl can upgrade it to {supported}", path.display())]
    ReadOnlyOutdated {
        /// The ledger's location.
        path: PathBuf,
        /// Its schema version.
        found: u32,
        /// The version this build needs.
        supported: u32,
    },
    /// The caller abandoned the transaction (nothing was written).
    #[error("{0}")]
    Aborted(String),
    /// A unique value is taken (an ACME provisioner name, an account key, a challenge token).
    #[error("the ledger already holds {what}")]
    Duplicate {
        /// What is taken, in words.
        what: String,
    },
    /// The ledger's backend cannot do this; `what` says what to use instead.
    #[error("ledger {}: {what}", path.display())]
    Unsupported {
        /// The ledger's location.
        path: PathBuf,
        /// What cannot be done and what to do instead.
        what: String,
    },
    /// A new ledger was to be created in a database that already holds tables.
    #[error("{} already holds tables; give an empty database for a new ledger (nothing was changed)", path.display())]
    NotEmpty {
        /// The database's location (without password).
        path: PathBuf,
    },
    /// The location of a ledger is not one pkictl can open.
    #[error("{location} is not a ledger location pkictl can use: {reason}")]
    BadLocation {
        /// A short prefix of the location, without password.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Another certificate of this CA has the serial: draw a new one.
    #[error("the ledger already holds a certificate with serial {serial} from this CA")]
    DuplicateSerial {
        /// The serial, in ledger form.
        serial: String,
    },
}

impl LedgerError {
    /// Errors that come from what the user pointed us at rather than from a failure.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            LedgerError::NotALedger { .. }
                | LedgerError::Damaged { .. }
                | LedgerError::FutureSchema { .. }
                | LedgerError::ReadOnlyOutdated { .. }
                | LedgerError::Unsupported { .. }
                | LedgerError::NotEmpty { .. }
                | LedgerError::BadLocation { .. }
        )
    }
}

/// The result of a ledger operation.
pub type LedgerResult<T> = Result<T, LedgerError>;

/// Reads, and the door to the write transaction.
pub trait Ledger: Send {
    /// Where the ledger lives (for messages).
    fn location(&self) -> &Path;
    /// The schema version the ledger is at.
    fn schema_version(&self) -> LedgerResult<u32>;
    /// A number that changes whenever a write transaction commits, in this process or
    /// another: a long-running reader polls it to know when to reload what it caches.
    fn revision(&self) -> LedgerResult<u64>;
    /// The backend's own consistency check: empty when the store is sound.
    fn integrity_problems(&self) -> LedgerResult<Vec<String>>;
    /// A consistent copy of the whole ledger at `dest` (a new file, readable by the owner only).
    fn backup_to(&self, dest: &Path) -> LedgerResult<()>;

    /// Every CA, roots first, then in creation order.
    fn authorities(&self) -> LedgerResult<Vec<CaRecord>>;
    /// A CA by its exact name or, failing that, its slug.
    fn authority_by_name(&self, name: &str) -> LedgerResult<Option<CaRecord>>;
    /// A CA by id.
    fn authority_by_id(&self, id: i64) -> LedgerResult<Option<CaRecord>>;
    /// The default issuing CA.
    fn default_authority(&self) -> LedgerResult<Option<CaRecord>>;

    /// How many certificates the ledger holds.
    fn certificate_count(&self) -> LedgerResult<i64>;
    /// How many certificates are valid, revoked and expired at `now`, and the next expiry.
    fn certificate_summary(&self, now: i64) -> LedgerResult<CertificateSummary>;
    /// Every certificate the selector matches, optionally only from one issuer.
    fn find_certificates(
        &self,
        selector: CertSelector<'_>,
        issuer_id: Option<i64>,
    ) -> LedgerResult<Vec<CertificateRecord>>;
    /// A certificate by id.
    fn certificate_by_id(&self, id: i64) -> LedgerResult<Option<CertificateRecord>>;
    /// The full DER of one certificate.
    fn certificate_der(&self, id: i64) -> LedgerResult<Vec<u8>>;
    /// Certificates renewed from this one.
    fn renewals_of(&self, id: i64) -> LedgerResult<Vec<CertificateRecord>>;
    /// Calls `visit` with (serial in ledger form, fingerprint, DER) of every certificate.
    fn scan_certificates(&self, visit: &mut dyn FnMut(&str, &str, &[u8])) -> LedgerResult<()>;
    /// Certificates matching the filter, soonest notAfter first.
    fn list_certificates(&self, filter: &CertFilter) -> LedgerResult<Vec<CertificateRecord>>;

    /// The newest CRL of every CA that has one.
    fn latest_crls(&self) -> LedgerResult<Vec<CrlRecord>>;
    /// The number of a CA's newest CRL.
    fn latest_crl_number(&self, issuer_id: i64) -> LedgerResult<Option<i64>>;
    /// The DER of a CA's newest CRL.
    fn latest_crl_der(&self, issuer_id: i64) -> LedgerResult<Option<Vec<u8>>>;

    /// The enrolment token whose text hashes to `token_sha256` (lower-case hex).
    fn token_by_hash(&self, token_sha256: &str) -> LedgerResult<Option<TokenRecord>>;
    /// An enrolment token by id.
    fn token_by_id(&self, id: i64) -> LedgerResult<Option<TokenRecord>>;
    /// Every enrolment token, newest first.
    fn tokens(&self) -> LedgerResult<Vec<TokenRecord>>;

    /// Calls `visit` with every audit event row, oldest first, as stored.
    fn scan_events(&self, visit: &mut dyn FnMut(&chain::StoredEvent)) -> LedgerResult<()>;
    /// Calls `visit` with every certificate row as stored (damaged columns noted, not fatal).
    fn scan_certificate_rows(&self, visit: &mut dyn FnMut(&StoredCertificate)) -> LedgerResult<()>;
    /// Every CA row as stored, for the audit.
    fn authority_rows(&self) -> LedgerResult<Vec<StoredAuthority>>;
    /// Every CRL row as stored (DER hashed), for the audit.
    fn crl_rows(&self) -> LedgerResult<Vec<StoredCrl>>;

    /// ACME provisioners by name; removed ones too when asked.
    fn acme_provisioners(&self, include_removed: bool) -> LedgerResult<Vec<acme::AcmeProvisionerRecord>>;
    /// The serving (not removed) ACME provisioner of this name.
    fn acme_provisioner_by_name(&self, name: &str) -> LedgerResult<Option<acme::AcmeProvisionerRecord>>;
    /// An ACME provisioner by id, removed or not.
    fn acme_provisioner_by_id(&self, id: i64) -> LedgerResult<Option<acme::AcmeProvisionerRecord>>;
    /// A provisioner's EAB keys, without their HMAC keys.
    fn acme_eab_keys(&self, provisioner_id: i64) -> LedgerResult<Vec<acme::AcmeEabKeyRecord>>;
    /// An EAB key and its HMAC key (a secret: only the EAB check may see it).
    fn acme_eab_key(
        &self,
        key_id: &str,
    ) -> LedgerResult<Option<(acme::AcmeEabKeyRecord, zeroize::Zeroizing<Vec<u8>>)>>;
    /// An ACME account by id.
    fn acme_account_by_id(&self, id: i64) -> LedgerResult<Option<acme::AcmeAccountRecord>>;
    /// An ACME account by its key's thumbprint, within a provisioner.
    fn acme_account_by_thumbprint(
        &self,
        provisioner_id: i64,
        thumbprint: &str,
    ) -> LedgerResult<Option<acme::AcmeAccountRecord>>;
    /// An ACME order by id.
    fn acme_order_by_id(&self, id: i64) -> LedgerResult<Option<acme::AcmeOrderRecord>>;
    /// An account's orders, oldest first.
    fn acme_orders_of_account(&self, account_id: i64) -> LedgerResult<Vec<acme::AcmeOrderRecord>>;
    /// The account's orders created after `since` (Unix seconds), counted.
    fn acme_order_window(&self, account_id: i64, since: i64) -> LedgerResult<acme::AcmeOrderWindow>;
    /// An ACME authorization by id.
    fn acme_authorization_by_id(&self, id: i64) -> LedgerResult<Option<acme::AcmeAuthorizationRecord>>;
    /// An order's authorizations.
    fn acme_authorizations_of_order(&self, order_id: i64)
    -> LedgerResult<Vec<acme::AcmeAuthorizationRecord>>;
    /// An ACME challenge by id.
    fn acme_challenge_by_id(&self, id: i64) -> LedgerResult<Option<acme::AcmeChallengeRecord>>;
    /// An ACME challenge by its token.
    fn acme_challenge_by_token(&self, token: &str) -> LedgerResult<Option<acme::AcmeChallengeRecord>>;
    /// An authorization's challenges.
    fn acme_challenges_of_authorization(&self, id: i64) -> LedgerResult<Vec<acme::AcmeChallengeRecord>>;
    /// The ACME account and order a certificate was issued for.
    fn acme_certificate_link(&self, certificate_id: i64) -> LedgerResult<Option<acme::AcmeCertificateLink>>;
    /// Ids of the certificates issued through a provisioner.
    fn acme_certificates_of_provisioner(&self, provisioner_id: i64) -> LedgerResult<Vec<i64>>;
    /// Calls `visit` with (table, id, digest) of every ACME row, for the audit.
    fn acme_row_digests(&self, visit: &mut dyn FnMut(&str, i64, &str)) -> LedgerResult<()>;

    /// Runs `work` in one write transaction: all of it commits, or none. Writers queue. A
    /// backend may roll back and run `work` again from the start (PostgreSQL, after a
    /// serialization conflict): `work` must not act outside the transaction.
    fn transaction(&mut self, work: &mut dyn FnMut(&dyn LedgerTx) -> LedgerResult<()>) -> LedgerResult<()>;
}

impl dyn Ledger + '_ {
    /// [`Ledger::transaction`] with a value out.
    /// `work` may run more than once: a backend retries a transaction that lost a
    /// serialization conflict with another writer, from the start.
    pub fn write<T>(&mut self, mut work: impl FnMut(&dyn LedgerTx) -> LedgerResult<T>) -> LedgerResult<T> {
        let mut value = None;
        self.transaction(&mut |tx| {
            value = Some(work(tx)?);
            Ok(())
        })?;
        value.ok_or_else(|| LedgerError::Aborted("a transaction produced nothing".into()))
    }
}

/// One write transaction: its typed methods are the only way to change the ledger.
pub trait LedgerTx {
    /// Records a CA; returns its id.
    fn insert_authority(&self, authority: &NewAuthority<'_>) -> LedgerResult<i64>;
    /// Unmarks the default issuing CA (before another one becomes it).
    fn clear_default_authority(&self) -> LedgerResult<()>;
    /// How long the CA's future CRLs stay valid.
    fn set_crl_validity(&self, id: i64, seconds: i64) -> LedgerResult<()>;
    /// The base URL of the online CA for what the CA signs from now on (None: no URL).
    fn set_public_url(&self, id: i64, url: Option<&str>) -> LedgerResult<()>;

    /// Records a certificate; a serial the issuer used before is [`LedgerError::DuplicateSerial`].
    fn insert_certificate(&self, certificate: &NewCertificate<'_>) -> LedgerResult<i64>;
    /// Marks a valid certificate revoked; false when it was not valid (already revoked).
    fn revoke_certificate(&self, id: i64, at: i64, reason: Reason) -> LedgerResult<bool>;

    /// Takes the CA's next CRL number (strictly increasing, even with several writers).
    fn allocate_crl_number(&self, issuer_id: i64) -> LedgerResult<i64>;
    /// Visits the revoked, unexpired certificates of an issuer in serial order, one at a time:
    /// (serial in ledger form, revocation time, reason).
    fn for_each_revoked(
        &self,
        issuer_id: i64,
        now: i64,
        visit: &mut dyn FnMut(&str, i64, Reason) -> LedgerResult<()>,
    ) -> LedgerResult<()>;
    /// Records a signed CRL.
    fn insert_crl(&self, crl: &NewCrl<'_>) -> LedgerResult<()>;

    /// Records an enrolment token (its hash); returns its id.
    fn insert_token(&self, token: &NewTokenRecord<'_>) -> LedgerResult<i64>;
    /// Marks a token used by the certificate `certificate_id`, only if it is unused, not
    /// revoked and not expired at `at`; false otherwise (another request got there first).
    fn use_token(&self, id: i64, at: i64, certificate_id: i64) -> LedgerResult<bool>;
    /// Revokes a token that is neither used nor revoked; false otherwise.
    fn revoke_token(&self, id: i64, at: i64) -> LedgerResult<bool>;
    /// An enrolment token by id, inside the transaction.
    fn token_in_tx(&self, id: i64) -> LedgerResult<Option<TokenRecord>>;
    /// Records an ACME provisioner; a name a serving one holds is [`LedgerError::Duplicate`].
    fn insert_acme_provisioner(&self, provisioner: &acme::NewAcmeProvisioner<'_>) -> LedgerResult<i64>;
    /// Marks a provisioner removed; false when it already was.
    fn remove_acme_provisioner(&self, id: i64, now: i64) -> LedgerResult<bool>;
    /// Records an EAB key (with its HMAC key, which the EAB check needs).
    fn insert_acme_eab_key(
        &self,
        provisioner_id: i64,
        key_id: &str,
        hmac_key: &[u8],
        now: i64,
    ) -> LedgerResult<i64>;
    /// Binds an unused EAB key to an account; false when it is used already (or unknown).
    fn bind_acme_eab_key(&self, key_id: &str, account_id: i64, now: i64) -> LedgerResult<bool>;
    /// Records a valid account; a key already registered with the provisioner is
    /// [`LedgerError::Duplicate`].
    fn insert_acme_account(&self, account: &acme::NewAcmeAccount<'_>) -> LedgerResult<i64>;
    /// Moves an account from `from` to `to`; false when it is not at `from`.
    fn set_acme_account_status(
        &self,
        id: i64,
        from: acme::AccountStatus,
        to: acme::AccountStatus,
    ) -> LedgerResult<bool>;
    /// Replaces a valid account's contacts; false when it is not valid.
    fn set_acme_account_contacts(&self, id: i64, contacts: &[String]) -> LedgerResult<bool>;
    /// Replaces a valid account's key (keyChange); false when it is not valid.
    fn set_acme_account_key(&self, id: i64, thumbprint: &str, jwk: &str) -> LedgerResult<bool>;
    /// Records a pending order.
    fn insert_acme_order(&self, order: &acme::NewAcmeOrder<'_>) -> LedgerResult<i64>;
    /// Moves an order from `from` to `to` (with a problem document); false when not at `from`.
    fn set_acme_order_status(
        &self,
        id: i64,
        from: acme::OrderStatus,
        to: acme::OrderStatus,
        error: Option<&serde_json::Value>,
    ) -> LedgerResult<bool>;
    /// A processing order becomes valid with its certificate, linked to its account; false
    /// when the order is not processing.
    fn link_acme_certificate(&self, order_id: i64, certificate_id: i64) -> LedgerResult<bool>;
    /// Records a pending authorization.
    fn insert_acme_authorization(&self, authorization: &acme::NewAcmeAuthorization<'_>) -> LedgerResult<i64>;
    /// Moves an authorization from `from` to `to`; false when not at `from`.
    fn set_acme_authorization_status(
        &self,
        id: i64,
        from: acme::AuthorizationStatus,
        to: acme::AuthorizationStatus,
    ) -> LedgerResult<bool>;
    /// Records a pending challenge; a token already used is [`LedgerError::Duplicate`].
    fn insert_acme_challenge(&self, challenge: &acme::NewAcmeChallenge<'_>) -> LedgerResult<i64>;
    /// Updates a challenge that is at `update.from`; false when it is not.
    fn update_acme_challenge(&self, id: i64, update: &acme::ChallengeUpdate<'_>) -> LedgerResult<bool>;

    /// Appends to the audit trail, chained to the previous event, with every state change
    /// this transaction made since the last event.
    fn record_event(&self, event: &Event<'_>) -> LedgerResult<()>;
    /// Calls `visit` with every audit event row, oldest first, inside the transaction.
    fn scan_events(&self, visit: &mut dyn FnMut(&chain::StoredEvent)) -> LedgerResult<()>;
    /// [`LedgerTx::scan_events`] from the row `first_id` on.
    fn scan_events_from(&self, first_id: i64, visit: &mut dyn FnMut(&chain::StoredEvent))
    -> LedgerResult<()>;
    /// The newest event of this kind about `target`.
    fn latest_event_id(&self, kind: EventKind, target: &str) -> LedgerResult<Option<i64>>;
}

/// Walks the audit chain from its first row.
pub fn replay(
    scan: impl FnOnce(&mut dyn FnMut(&chain::StoredEvent)) -> LedgerResult<()>,
) -> LedgerResult<chain::Replay> {
    let mut replay = chain::Replay::new();
    scan(&mut |e| replay.feed(e))?;
    Ok(replay)
}

/// What the next CRL of a CA must respect, from the audit chain: walked from the CA's newest
/// CRL event when its checkpoint holds every revocation up to then, else from the chain's
/// first row.
pub fn crl_expectation(
    tx: &dyn LedgerTx,
    issuer_id: i64,
    ca_name: &str,
) -> LedgerResult<chain::CrlExpectation> {
    if let Some(from) = tx.latest_event_id(EventKind::CrlPublish, ca_name)? {
        let mut walk = chain::CrlExpectation::resume(issuer_id);
        tx.scan_events_from(from, &mut |e| walk.feed(e))?;
        if walk.anchored {
            return Ok(walk);
        }
    }
    let mut walk = chain::CrlExpectation::new(issuer_id);
    tx.scan_events(&mut |e| walk.feed(e))?;
    Ok(walk)
}

/// A certificate row as stored, for the audit; `damaged` lists columns that hold the wrong type.
#[derive(Debug, Clone)]
pub struct StoredCertificate {
    /// Row id.
    pub id: i64,
    /// Issuer id.
    pub issuer_id: i64,
    /// Serial in ledger form.
    pub serial: String,
    /// Recorded fingerprint.
    pub fingerprint_sha256: String,
    /// The DER.
    pub der: Vec<u8>,
    /// `valid` or `revoked`.
    pub status: String,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// Why.
    pub revocation_reason: Option<String>,
    /// notAfter.
    pub not_after: i64,
    /// What is wrong with the row's columns.
    pub damaged: Vec<String>,
}

/// A CA row as stored, for the audit.
#[derive(Debug, Clone)]
pub struct StoredAuthority {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// SHA-256 of its certificate column.
    pub cert_sha256: String,
    /// CRL validity.
    pub crl_validity_secs: i64,
    /// CRL counter.
    pub next_crl_number: i64,
    /// What is wrong with the row's columns.
    pub damaged: Vec<String>,
}

/// A CRL row as stored, for the audit.
#[derive(Debug, Clone)]
pub struct StoredCrl {
    /// The signing CA's id.
    pub issuer_id: i64,
    /// cRLNumber.
    pub number: i64,
    /// thisUpdate.
    pub this_update: i64,
    /// nextUpdate.
    pub next_update: i64,
    /// Entries.
    pub entries: i64,
    /// SHA-256 of its DER; empty when the DER was pruned.
    pub der_sha256: String,
    /// What is wrong with the row's columns.
    pub damaged: Vec<String>,
}

/// Opens the ledger of an existing home (SQLite at `path`), bringing its schema up to date.
pub fn open(path: &Path) -> LedgerResult<Box<dyn Ledger>> {
    open_with(path, OpenMode::ReadWrite)
}

/// How a ledger is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// For commands that change it: the schema is brought up to date.
    ReadWrite,
    /// For commands that only read: like `ReadWrite` when the ledger's directory is writable,
    /// else opened read-only (a mounted backup, a locked-down host), without any write.
    ReadOnly,
}

/// Opens the ledger of an existing home in `mode`.
pub fn open_with(path: &Path, mode: OpenMode) -> LedgerResult<Box<dyn Ledger>> {
    Ok(Box::new(SqliteLedger::open_with(path, mode)?))
}

/// Creates a new ledger at `path` (which must not exist) with the whole schema.
pub fn create(path: &Path) -> LedgerResult<Box<dyn Ledger>> {
    Ok(Box::new(SqliteLedger::create(path)?))
}

/// Where a home's ledger lives: a SQLite file in the home, or a PostgreSQL database.
#[derive(Debug, Clone)]
pub enum LedgerLocation {
    /// The SQLite file.
    Sqlite(PathBuf),
    /// The database (its URL, the password found at run time).
    Postgres(PgLocation),
}

/// Opens the ledger at `location` in `mode`, bringing its schema up to date.
pub fn open_at(location: &LedgerLocation, mode: OpenMode) -> LedgerResult<Box<dyn Ledger>> {
    match location {
        LedgerLocation::Sqlite(path) => open_with(path, mode),
        LedgerLocation::Postgres(at) => Ok(Box::new(PostgresLedger::open(at, mode)?)),
    }
}

/// Creates a new ledger at `location` (a file that must not exist, or an empty database).
pub fn create_at(location: &LedgerLocation) -> LedgerResult<Box<dyn Ledger>> {
    match location {
        LedgerLocation::Sqlite(path) => create(path),
        LedgerLocation::Postgres(at) => Ok(Box::new(PostgresLedger::create(at)?)),
    }
}
