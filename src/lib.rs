//! pkictl: a private certificate authority for mutual TLS.
//!
//! The library's service API is [`Authority`]: open a home (or create one with
//! [`Authority::init`]) and issue, sign, renew, revoke and publish CRLs with typed requests;
//! every outcome and [`Error`] is typed. Passphrases come in through [`Unlock`]. The `pkictl`
//! binary, `pkictl serve` and the workload agent are front-ends over this one API.
//!
//! README.md, "Using pkictl as a library", has a complete example (compiled as a doc test).
#![deny(missing_docs)]

/// ACME (RFC 8555): the JOSE layer, and the ledger's records of provisioners, accounts,
/// orders, authorizations and challenges with their RFC 8555 state machines.
pub mod acme;
/// The workload side: enrolment and renewal against `pkictl serve`.
pub mod agent;
mod authority;
// The CLI front-end: clap turns doc comments into help text, so these keep their own wording.
#[allow(missing_docs)]
mod cli;
#[allow(missing_docs)]
mod commands;
mod duration;
mod engine;
mod error;
mod home;
mod keys;
mod ledger;
mod names;
mod online;
mod patterns;
mod signature;
mod verify;
#[allow(missing_docs)]
mod x509;

pub use acme::{
    Alg, ExternalAccountBinding, JoseObject, Jwk, JwkType, Jws, JwsError, KeyRef, MAX_JWS_BYTES,
    MAX_RSA_BITS, MIN_RSA_BITS, MacAlg, ProtectedHeader, dns01_txt_value, key_authorization, parse_flattened,
    parse_key_change_inner,
};
pub use authority::{
    AcmeOrderView, AcmeProvisionerRequest, EabKey, NewAccountRequest, NewOrderRequest, Provisioner, Refusal,
    RemovedProvisioner,
};
pub use authority::{
    AddIntermediateRequest, Authority, BatchIssued, BatchItem, BatchRequest, CaCreated, CertRef,
    CertificateDetails, ChainSummary, CheckRequest, CrlRefusal, CrlRequest, Finding, HomeFile, InitRequest,
    Initialized, IssueRequest, Issued, KeySource, OutputDir, OutputFiles, Pkcs12Request, PublishedCrl,
    RenewKey, RenewRequest, Renewed, Report, RevokeManyRequest, RevokeRequest, Revoked, RevokedMany,
    Severity, Skipped, Warning, leaf_names, parse_cert_ref, read_csr, validate_common_name,
};
pub use authority::{
    DEFAULT_OCSP_RESPONDER_VALIDITY, EnrolmentRefusal, NewToken, OcspIssuer, OcspReply, OcspResponder,
    OcspSigner, OcspStatus, TokenRequest, validate_public_url,
};
pub use duration::{format_duration, parse_duration};
pub use engine::crl::Reason;
pub use engine::profile::Profile;
pub use engine::serial::Serial;
pub use error::{CaAction, CaState, Error, ErrorKind, Field, Result};
pub use keys::{
    CaSigner, FastSigner, FileKeyStore, FixedPassphrase, KeyError, KeyPair, KeyType, MemorySigner,
    Pkcs12Encryption, PublicKey, Unlock, UnlockedKey,
};
pub use ledger::{
    CaRecord, CertFilter, CertSelector, CertState, CertStatus, CertificateRecord, CertificateSummary,
    CrlRecord, Event, EventKind, KeyOrigin, Ledger, LedgerError, LedgerResult, LedgerTx, NewAuthority,
    NewCertificate, NewCrl, NewTokenRecord, SqliteLedger, StatusFilter, StoredAuthority, StoredCertificate,
    StoredCrl, TokenRecord, TokenStatus, chain,
};
pub use names::San;
pub use online::{
    AcmeDns, AcmeValidation, CHAIN_MEDIA_TYPE, CSR_MEDIA_TYPE, HttpsIdentity, OnlineAuthority,
    OnlineSettings, PROBLEM_MEDIA_TYPE, TickReport, acme_routes, enrolment_routes,
};
pub use patterns::{DnsPattern, IpCidr};

/// README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;

/// The command-line front-end, for the `pkictl` binary (not a stable API).
#[doc(hidden)]
pub mod frontend {
    pub use crate::cli::*;
    pub use crate::commands::{Outcome, describe, parse_args, run, stdout_failed};
    pub use crate::error::one_line;
}

/// The HTTP front-end of `pkictl serve` (OCSP, CRLs, CA certificates; HTTPS for ACME and
/// enrolment), over the [`server::OnlineCa`] trait.
pub mod server;

/// Direct reads of a home's SQLite ledger for the test suite (not a stable API).
#[doc(hidden)]
pub use ledger::testing as ledger_testing;

/// In-process TLS handshakes (rustls), used by `pkictl demo` and the interop tests.
#[doc(hidden)]
#[allow(missing_docs)]
pub mod tls;

/// The path validator as a library call, for `bench/verify.sh`'s in-process loop (not a
/// stable API).
#[doc(hidden)]
pub mod verifying {
    pub use crate::verify::input::{certificates, crls};
    pub use crate::verify::{Purpose, verify_with_anchors};
}

/// Parser entry points for the fuzz targets (not a stable API).
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::acme::{ExternalAccountBinding, Jwk, parse_flattened, parse_key_change_inner};
    pub use crate::duration::MAX_DAYS;
    pub use crate::engine::csr::{CsrError, MAX_CSR_BYTES, RequestedSan, parse_and_verify};
    pub use crate::names::{parse_dns, parse_email, parse_ip, parse_uri, san_from_name};
    pub use crate::x509::{CertInfo, CrlInfo, fingerprint_sha256};
}
