//! The library's error: variants carry the facts, [`Error::kind`] sorts them. Messages are
//! plain sentences that name no command-line flag; front-ends word their own hints.

use std::path::PathBuf;

use crate::engine::crl::Reason;
use crate::engine::profile::Profile;
use crate::keys::KeyError;
use crate::ledger::LedgerError;

/// What sort of failure an [`Error`] is: the CLI maps it to an exit code, a server to an
/// HTTP status or an ACME problem type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request or an input file is wrong; nothing was changed.
    InvalidInput,
    /// What the request names does not exist.
    NotFound,
    /// The request collides with the current state (already revoked, file exists, raced).
    Conflict,
    /// Policy forbids it (a revoked CA, a name outside constraints, validity past the issuer).
    Refused,
    /// The ledger or the file system failed.
    Storage,
    /// A key could not be read, unlocked or used.
    Key,
    /// A bug or a failed self-check: nothing was issued.
    Internal,
    /// Something the operation needs from the system is taken or missing (an address in use).
    Unavailable,
}

/// A part of a request that was refused; lets a front-end name its own flag or field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    /// The root CA's name.
    RootName,
    /// The intermediate CA's name.
    IntermediateName,
    /// A new CA's name.
    CaName,
    /// A lifetime.
    Validity,
    /// The CRL distribution point base URL.
    CrlUrl,
    /// The online CA's public base URL.
    PublicUrl,
    /// A permitted DNS subtree.
    PermittedDns,
    /// An ACME provisioner's name.
    AcmeProvisionerName,
    /// A DNS pattern of an ACME provisioner.
    AcmePattern,
    /// An IP range (CIDR) of an ACME provisioner.
    AcmeIpRange,
    /// The longest validity an ACME provisioner issues.
    MaxValidity,
}

/// Why a CA cannot sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaState {
    /// Its own certificate is revoked.
    Revoked,
    /// Its certificate expired at this time (Unix seconds).
    Expired {
        /// notAfter of the CA certificate.
        at: i64,
    },
}

/// What a CA was asked to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaAction {
    /// Leaf certificates.
    Issue,
    /// A CRL.
    SignCrl,
    /// A subordinate CA.
    SignSubCa,
}

impl CaAction {
    fn words(self) -> &'static str {
        match self {
            CaAction::Issue => "issue certificates",
            CaAction::SignCrl => "sign CRLs",
            CaAction::SignSubCa => "sign a sub-CA",
        }
    }
}

/// Every way a library call can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input in words that name no flag.
    #[error("{0}")]
    Invalid(String),

    /// A field of the request is wrong.
    #[error("{field:?}: {problem}")]
    InvalidField {
        /// Which field.
        field: Field,
        /// What is wrong with it.
        problem: String,
    },

    /// `init` found files where the new home should go.
    #[error("{} already holds files; a new home needs an empty or missing directory", path.display())]
    HomeNotEmpty {
        /// The home directory.
        path: PathBuf,
    },

    /// The directory is not a home.
    #[error("{} is not a pkictl home (no ledger.db)", path.display())]
    NoHome {
        /// The directory.
        path: PathBuf,
    },

    /// The directory holds only what an interrupted `init` left: its staging directory, with
    /// CA keys that were never put to use.
    #[error("{} is not a pkictl home: {} is left from an interrupted init (CA keys that were never used); delete that directory, or create the home again, which removes it", home.display(), staging.display())]
    InterruptedInit {
        /// The directory.
        home: PathBuf,
        /// The staging directory left behind.
        staging: PathBuf,
    },

    /// No CA by that name.
    #[error("no CA named \"{}\" in this home", excerpt(name))]
    UnknownCa {
        /// The name asked for.
        name: String,
    },

    /// The home has no default issuing CA and none was named.
    #[error("this home has no default issuing CA; name one explicitly")]
    NoDefaultCa,

    /// A CA by that name exists already.
    #[error("a CA named \"{}\" already exists in this home", excerpt(existing))]
    CaNameTaken {
        /// The CA that holds the name.
        existing: String,
    },

    /// The passphrase does not decrypt the CA key.
    #[error("wrong passphrase for {ca}")]
    WrongPassphrase {
        /// The CA.
        ca: String,
    },

    /// The front-end could not supply a passphrase; its own words.
    #[error("{0}")]
    Unlock(String),

    /// The CA cannot sign in its state.
    #[error("CA {ca} {} and cannot {}", state_words(.state), .action.words())]
    CaUnusable {
        /// The CA.
        ca: String,
        /// Why.
        state: CaState,
        /// What it was asked to do.
        action: CaAction,
    },

    /// A requested notAfter lies past the issuer's.
    #[error(
        "the requested validity ends {requested}, after {issuer}'s own certificate expires ({issuer_not_after})"
    )]
    ValidityBeyondIssuer {
        /// The requested notAfter, RFC 3339.
        requested: String,
        /// The issuing CA.
        issuer: String,
        /// The issuer's notAfter, RFC 3339.
        issuer_not_after: String,
    },

    /// The clock is behind the issuing CA's notBefore: what it signed would start before it.
    #[error(
        "the system clock says {now}, which is before {issuer}'s own certificate starts ({issuer_not_before}); a certificate signed now would start before its issuer, so nothing was issued: fix the clock"
    )]
    ClockBeforeIssuer {
        /// The time now, RFC 3339.
        now: String,
        /// The issuing CA.
        issuer: String,
        /// The issuer's notBefore, RFC 3339.
        issuer_not_before: String,
    },

    /// A DNS name is outside the name constraints of a CA of the chain.
    #[error("{} is outside the names CA {ca} may certify ({permitted}); nothing was issued", excerpt(name))]
    NameOutsideConstraints {
        /// The name.
        name: String,
        /// The constraining CA.
        ca: String,
        /// Its permitted subtrees.
        permitted: String,
    },

    /// The parent's pathLenConstraint forbids the new CA.
    #[error("CA {ca} has pathLen {path_len}: it may not have a sub-CA{}", path_words(*.path_len, *.requested))]
    PathLength {
        /// The parent CA.
        ca: String,
        /// Its pathLenConstraint.
        path_len: u8,
        /// The pathLen asked for the new CA (None: unconstrained).
        requested: Option<u8>,
    },

    /// The key file of a CA holds another key.
    #[error("the key file of CA {ca} does not hold the key of its certificate; restore the right key file")]
    KeyMismatch {
        /// The CA.
        ca: String,
    },

    /// A common name is longer than X.520 allows.
    #[error("NAME \"{}\" is longer than {max} characters, the limit for a common name", excerpt(name))]
    CommonNameTooLong {
        /// The name.
        name: String,
        /// The limit.
        max: usize,
    },

    /// A server or peer certificate without a host name.
    #[error(
        "a {profile} certificate needs a DNS name or IP address: \"{}\" {}",
        excerpt(name),
        not_a_host_words(name)
    )]
    NeedsHostName {
        /// The profile.
        profile: Profile,
        /// The name given.
        name: String,
    },

    /// A leaf without any subjectAltName.
    #[error(
        "a {profile} certificate needs a subjectAltName (strict verifiers require one): \"{}\" {}",
        excerpt(name),
        match not_a_host_words(name) {
            "is not a host name" => "is not a host name, email or URI",
            mistyped => mistyped,
        }
    )]
    NeedsSan {
        /// The profile.
        profile: Profile,
        /// The name given.
        name: String,
    },

    /// A CSR without a common name and no name given.
    #[error("the CSR has no common name; give the certificate a name")]
    CsrWithoutName,

    /// A secret that must be its own was the CA passphrase (or came from its file).
    #[error("the password for {what} {}; choose a different one, so that one leaked secret does not give away the other", secret_words(.file))]
    SecretIsCaPassphrase {
        /// What the secret protects.
        what: String,
        /// The file both secrets were to be read from, when it was the same file.
        file: Option<PathBuf>,
    },

    /// An output file exists and overwriting was not allowed.
    #[error("{} already exists", path.display())]
    FileExists {
        /// The file.
        path: PathBuf,
    },

    /// No certificate matches a serial or fingerprint.
    #[error("no certificate with serial or fingerprint {} in this home{}", excerpt(reference), if *from_ca { " from that CA" } else { "" })]
    CertificateNotFound {
        /// What was asked for.
        reference: String,
        /// Whether the search was limited to one CA.
        from_ca: bool,
    },

    /// No certificate matches a serial, fingerprint or name.
    #[error("no certificate with serial, fingerprint or name \"{}\" in this home", excerpt(reference))]
    NoSuchCertificate {
        /// What was asked for.
        reference: String,
    },

    /// Text that should be a serial or fingerprint is neither.
    #[error("\"{}\" is not a serial number or SHA-256 fingerprint in hex", excerpt(text))]
    NotASerial {
        /// The text.
        text: String,
    },

    /// The serial exists under several CAs.
    #[error("serial {} was issued by more than one CA ({})", excerpt(reference), quoted(.issuers))]
    AmbiguousSerial {
        /// What was asked for.
        reference: String,
        /// The CAs that issued it.
        issuers: Vec<String>,
    },

    /// The certificate is revoked already.
    #[error("certificate {serial} is already revoked ({reason} on {at})")]
    AlreadyRevoked {
        /// Its serial, hex.
        serial: String,
        /// The recorded reason.
        reason: Reason,
        /// When, RFC 3339.
        at: String,
    },

    /// Roots are not revoked by CRLs they sign themselves.
    #[error("a root CA cannot be revoked by a CRL it signs itself; remove it from every trust store instead")]
    RootNotRevocable,

    /// The issuer of the certificate can sign no CRL any more.
    #[error(
        "{serial} was issued by {ca}, which is revoked or expired: every certificate it issued is already invalid and it can sign no new CRL"
    )]
    IssuerCannotRevoke {
        /// The certificate's serial, hex.
        serial: String,
        /// Its issuer.
        ca: String,
    },

    /// Renewal asked for a CA certificate.
    #[error("{serial} is a CA certificate; renew CAs by adding a new intermediate")]
    RenewCa {
        /// Its serial, hex.
        serial: String,
    },

    /// Renewal without a new key, but pkictl does not hold the old one.
    #[error("pkictl generated the key of {serial} and does not keep it")]
    OldKeyNotKept {
        /// Its serial, hex.
        serial: String,
    },

    /// The key given for a renewal is not the certificate's.
    #[error("{} is not the key of certificate {serial}", path.display())]
    NotTheCertifiedKey {
        /// The key file.
        path: PathBuf,
        /// The certificate's serial, hex.
        serial: String,
    },

    /// Output was to go into the home itself, where pkictl keeps its CA keys and ledger.
    #[error("{} is inside the home {}; output goes outside it, where it cannot replace the CA's own files", path.display(), home.display())]
    OutputInsideHome {
        /// The output path as given.
        path: PathBuf,
        /// The home.
        home: PathBuf,
    },

    /// An output file's name is taken by a directory.
    #[error("{} is a directory where an output file should go; move it away", path.display())]
    OutputInTheWay {
        /// The path.
        path: PathBuf,
    },

    /// Certificates were issued and recorded, but their files could not be written.
    #[error("{} issued and recorded in the ledger, but the files could not be written to {} ({problem}){}", undelivered_words(.serials), dir.display(), lost_words(.serials.len(), *.keys_lost))]
    Undelivered {
        /// The serials (hex) of the certificates.
        serials: Vec<String>,
        /// Where their files were to go.
        dir: PathBuf,
        /// Whether keys generated for them are lost with the files.
        keys_lost: bool,
        /// Why the files could not be written.
        problem: Box<Error>,
    },

    /// Output was to go into something that is not a directory.
    #[error("{} is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },

    /// Output was to go to a file, but the path is a directory.
    #[error("{} is a directory", path.display())]
    IsADirectory {
        /// The path.
        path: PathBuf,
    },

    /// A key file that group or others can read: treated as exposed, not used.
    #[error("{} is readable by group or others (mode {mode:o}); run `chmod 600 {}` and consider the key exposed", path.display(), path.display())]
    KeyExposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// A problem with the names or key of a CSR.
    #[error("CSR {origin}: {problem}")]
    InCsr {
        /// Where the CSR came from.
        origin: String,
        /// What is wrong.
        problem: Box<Error>,
    },

    /// A problem at one line of a list.
    #[error("line {line}: {problem}")]
    AtLine {
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        problem: Box<Error>,
    },

    /// Some listed certificates cannot be revoked, so none was.
    #[error("nothing was revoked: {} of the listed certificates cannot be revoked", problems.len())]
    NotAllRevocable {
        /// Each one and why.
        problems: Vec<crate::authority::Skipped>,
    },

    /// The intermediate asked to live longer than the root.
    #[error("the intermediate's validity is longer than the root's; an intermediate cannot outlive its root")]
    IntermediateOutlivesRoot,

    /// A file to read is not a regular file (a FIFO, a device, a directory, a socket): it
    /// could block forever or never end, so it is refused before a byte is read.
    #[error("{} is {what}, not a regular file; give a regular file", path.display())]
    NotARegularFile {
        /// The file as named (a symlink is followed to what it points at).
        path: PathBuf,
        /// What it is instead ("a FIFO", "a character device", …).
        what: &'static str,
    },

    /// A file to read is larger than anything pkictl expects in its place.
    #[error("{} is larger than {}, more than any {kind} can be; check the file name", path.display(), size_words(*max))]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// What it should hold ("certificate file", "passphrase file", …).
        kind: &'static str,
        /// The limit, in bytes.
        max: u64,
    },

    /// A file given as a certificate is not one (bad input, not a peer's "no").
    #[error("{} is not a certificate: {reason}", path.display())]
    NotACertificate {
        /// The file.
        path: PathBuf,
        /// What it is instead, or what is broken.
        reason: String,
    },

    /// A subjectAltName (or a name meant to be one) is not valid.
    #[error("{0}")]
    BadName(#[from] crate::names::NameError),

    /// A file could not be read.
    #[error("cannot read {}: {}", path.display(), io_words(source))]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },

    /// A file could not be written.
    #[error("cannot write {}: {}", path.display(), io_words(source))]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },

    /// A key could not be made, read or used.
    #[error("the key of {what} is unusable: {source}")]
    Key {
        /// Whose key.
        what: String,
        /// Why.
        source: KeyError,
    },

    /// The ledger failed or refused.
    #[error("{0}")]
    Ledger(#[from] LedgerError),

    /// A CRL was not signed: the ledger disagrees with its audit chain.
    #[error(
        "no CRL of {ca} was signed and nothing was changed (no revocation either): {refusal}; restore the ledger from a backup"
    )]
    CrlRefused {
        /// The CA.
        ca: String,
        /// What disagrees.
        refusal: crate::authority::CrlRefusal,
    },

    /// A CRL is signed and committed to the ledger, but its files in the home were not written.
    #[error("{}CRL #{number} of {ca} is signed and recorded in the ledger, but its files were not written ({source})", revoked_words(.revoked))]
    CrlNotPublished {
        /// The CA.
        ca: String,
        /// The committed CRL's number.
        number: i64,
        /// Serials (hex) the CRL newly lists, for the message.
        revoked: Vec<String>,
        /// Why the files were not written.
        source: Box<Error>,
    },

    /// No serving ACME provisioner by that name.
    #[error("no ACME provisioner named \"{}\" in this home", excerpt(name))]
    UnknownAcmeProvisioner {
        /// The name asked for.
        name: String,
    },

    /// A serving ACME provisioner holds the name already.
    #[error("an ACME provisioner named \"{}\" already exists in this home", excerpt(name))]
    AcmeProvisionerTaken {
        /// The name.
        name: String,
    },

    /// The provisioner has accounts: removing it stops their renewals.
    #[error(
        "ACME provisioner \"{}\" has {accounts} account(s) whose clients renew through it; nothing was removed",
        excerpt(name)
    )]
    AcmeProvisionerInUse {
        /// The provisioner.
        name: String,
        /// How many accounts it has.
        accounts: i64,
    },

    /// A provisioner's pattern lies wholly outside what its CA may certify.
    #[error("pattern {pattern} lies outside the names CA {ca} may certify ({permitted}); nothing was added")]
    AcmePatternOutsideConstraints {
        /// The pattern.
        pattern: String,
        /// The constraining CA.
        ca: String,
        /// Its permitted subtrees.
        permitted: String,
    },

    /// An identifier an ACME provisioner does not certify.
    #[error("{0}")]
    AcmeIdentifierRefused(crate::authority::Refusal),

    /// A status change RFC 8555 does not allow.
    #[error("{0}")]
    AcmeTransition(#[from] crate::ledger::acme::IllegalTransition),

    /// The provisioner requires External Account Binding and none was given.
    #[error(
        "ACME provisioner \"{}\" requires External Account Binding for new accounts",
        excerpt(provisioner)
    )]
    AcmeEabRequired {
        /// The provisioner.
        provisioner: String,
    },

    /// An EAB key that is unknown, another provisioner's, or bound to an account already.
    #[error("EAB key \"{}\" is unknown to this provisioner or already bound to an account", excerpt(key_id))]
    AcmeEabKeyUnusable {
        /// The key id.
        key_id: String,
    },

    /// The ACME account is deactivated or revoked: it may do nothing more.
    #[error("ACME account #{id} is {status}; it can place no orders")]
    AcmeAccountUnusable {
        /// The account.
        id: i64,
        /// Its status.
        status: crate::ledger::acme::AccountStatus,
    },

    /// No ACME object by that id.
    #[error("no ACME {} #{id} in this home", object.as_str())]
    AcmeNotFound {
        /// What was asked for.
        object: crate::ledger::acme::AcmeObject,
        /// Its id.
        id: i64,
    },

    /// An ACME account reached one of its hourly limits; nothing was recorded.
    #[error("ACME account #{account} reached its limit of {max} {} an hour; retry in {retry_after} s", limit.as_str())]
    AcmeRateLimited {
        /// The account.
        account: i64,
        /// Which limit.
        limit: crate::authority::AcmeLimit,
        /// Its value.
        max: u32,
        /// Seconds until the oldest counted order leaves the hour.
        retry_after: i64,
    },

    /// An ACME revocation request the signer may not make.
    #[error("{0}")]
    AcmeRevocation(#[from] crate::authority::AcmeRevocationRefusal),

    /// Another writer changed the ACME object first (a racing request); nothing was changed.
    #[error("the ACME {} #{id} changed while this request ran; nothing was changed, retry", object.as_str())]
    AcmeStale {
        /// What.
        object: crate::ledger::acme::AcmeObject,
        /// Its id.
        id: i64,
    },

    /// The engine produced something it refuses to hand out (a failed pre-issuance check).
    #[error("internal error, nothing was issued: {0}")]
    Internal(String),

    /// The online CA could not start serving (an address in use, a TLS set-up failure).
    #[error("{0}")]
    Serve(String),

    /// An enrolment or a renewal over the network was refused.
    #[error("{0}")]
    Enrolment(#[from] crate::authority::EnrolmentRefusal),

    /// Talking to the online CA failed, or it refused.
    #[error("{0}")]
    Client(#[from] crate::agent::client::ClientError),

    /// The online CA issued a certificate, but its files could not be written here.
    #[error("the CA issued certificate {serial}, but its files could not be written to {} ({problem}); its new key is lost: have the certificate revoked and enrol again with a new token", dir.display())]
    EnrolUndelivered {
        /// The serial (hex).
        serial: String,
        /// Where the files were to go.
        dir: PathBuf,
        /// Why.
        problem: Box<Error>,
    },

    /// No enrolment token has this id.
    #[error("no enrolment token #{id} in this home")]
    NoSuchToken {
        /// The id asked for.
        id: i64,
    },

    /// The token was used or revoked already.
    #[error("enrolment token #{id} is {status} and cannot be revoked")]
    TokenNotRevocable {
        /// Its id.
        id: i64,
        /// Its status now.
        status: &'static str,
    },
}

fn state_words(state: &CaState) -> String {
    match state {
        CaState::Revoked => "is revoked".into(),
        CaState::Expired { at } => format!("expired {}", crate::engine::format_time(*at)),
    }
}

fn undelivered_words(serials: &[String]) -> String {
    match serials {
        [one] => format!("certificate {one} was"),
        [first, .., last] => format!("{} certificates ({first} … {last}) were", serials.len()),
        [] => "no certificate was".into(),
    }
}

fn lost_words(count: usize, lost: bool) -> &'static str {
    match (lost, count) {
        (false, _) => "",
        (true, 1) => "; its new private key was not written and is lost",
        (true, _) => "; their new private keys were not written and are lost",
    }
}

fn secret_words(file: &Option<PathBuf>) -> String {
    match file {
        Some(path) => format!("would come from {}, the CA passphrase's file", path.display()),
        None => "is the CA passphrase".into(),
    }
}

fn path_words(limit: u8, requested: Option<u8>) -> String {
    match requested {
        _ if limit == 0 => String::new(),
        Some(n) => format!(" with pathLen {n} (at most {})", limit - 1),
        None => format!(" without a pathLen (at most {})", limit - 1),
    }
}

fn revoked_words(serials: &[String]) -> String {
    match serials {
        [] => String::new(),
        [one] => format!("{one} is revoked and listed on it: "),
        many => format!("{} certificates are revoked and listed on it: ", many.len()),
    }
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}

/// How much of a user's input a message quotes: enough to recognise it, never a screenful.
pub const QUOTED_CHARS: usize = 40;

/// At most [`QUOTED_CHARS`] characters of `input`, then "…" and its length when it is longer:
/// every message that echoes what a user typed or a file held quotes it through this.
pub fn excerpt(input: &str) -> Excerpt<'_> {
    Excerpt(input)
}

/// A short prefix of user input, for messages (see [`excerpt`]).
#[derive(Debug, Clone, Copy)]
pub struct Excerpt<'a>(&'a str);

impl std::fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.char_indices().nth(QUOTED_CHARS) {
            None => f.write_str(self.0),
            Some((cut, _)) => {
                write!(f, "{}… ({} characters)", &self.0[..cut], self.0.chars().count())
            }
        }
    }
}

/// An OS error in words, without Rust's " (os error N)" suffix: "no such file or directory".
pub fn io_words(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

fn size_words(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Why a NAME is no host name: four dot-separated numbers are a mistyped IP address.
fn not_a_host_words(name: &str) -> &'static str {
    let parts: Vec<&str> = name.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit());
    if parts.len() >= 3 && parts.len() <= 5 && parts.iter().all(numeric) {
        "looks like a mistyped IP address (each part of an IPv4 address is 0 to 255)"
    } else {
        "is not a host name"
    }
}

impl Error {
    /// Bad input, in words that name no flag.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::Invalid(message.into())
    }

    /// The sort of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InCsr { problem, .. } | Error::AtLine { problem, .. } => problem.kind(),
            Error::Invalid(_)
            | Error::InvalidField { .. }
            | Error::HomeNotEmpty { .. }
            | Error::NoHome { .. }
            | Error::InterruptedInit { .. }
            | Error::WrongPassphrase { .. }
            | Error::Unlock(_)
            | Error::CommonNameTooLong { .. }
            | Error::NeedsHostName { .. }
            | Error::NeedsSan { .. }
            | Error::CsrWithoutName
            | Error::NotTheCertifiedKey { .. }
            | Error::NotADirectory { .. }
            | Error::IsADirectory { .. }
            | Error::KeyExposed { .. }
            | Error::NotASerial { .. }
            | Error::NotAllRevocable { .. }
            | Error::IntermediateOutlivesRoot
            | Error::SecretIsCaPassphrase { .. }
            | Error::OutputInsideHome { .. }
            | Error::OutputInTheWay { .. }
            | Error::NotARegularFile { .. }
            | Error::FileTooLarge { .. }
            | Error::NotACertificate { .. }
            | Error::BadName(_)
            | Error::Read { .. } => ErrorKind::InvalidInput,
            Error::UnknownCa { .. }
            | Error::NoDefaultCa
            | Error::CertificateNotFound { .. }
            | Error::NoSuchCertificate { .. }
            | Error::AmbiguousSerial { .. }
            | Error::UnknownAcmeProvisioner { .. }
            | Error::AcmeNotFound { .. } => ErrorKind::NotFound,
            Error::CaNameTaken { .. }
            | Error::FileExists { .. }
            | Error::AlreadyRevoked { .. }
            | Error::AcmeProvisionerTaken { .. }
            | Error::AcmeProvisionerInUse { .. }
            | Error::AcmeTransition(_)
            | Error::AcmeStale { .. }
            | Error::Ledger(LedgerError::Duplicate { .. }) => ErrorKind::Conflict,
            Error::AcmePatternOutsideConstraints { .. }
            | Error::AcmeIdentifierRefused(_)
            | Error::AcmeEabRequired { .. }
            | Error::AcmeEabKeyUnusable { .. }
            | Error::AcmeAccountUnusable { .. }
            | Error::AcmeRateLimited { .. }
            | Error::AcmeRevocation(_) => ErrorKind::Refused,
            Error::CaUnusable { .. }
            | Error::ValidityBeyondIssuer { .. }
            | Error::ClockBeforeIssuer { .. }
            | Error::NameOutsideConstraints { .. }
            | Error::PathLength { .. }
            | Error::RootNotRevocable
            | Error::IssuerCannotRevoke { .. }
            | Error::RenewCa { .. }
            | Error::OldKeyNotKept { .. } => ErrorKind::Refused,
            Error::KeyMismatch { .. } => ErrorKind::Key,
            Error::Key { source, .. } => match source {
                KeyError::Generate(_) | KeyError::Encode(_) => ErrorKind::Internal,
                _ => ErrorKind::Key,
            },
            Error::Ledger(e) if e.is_bad_input() => ErrorKind::InvalidInput,
            // An aborted transaction wrote nothing; one is aborted when another process got
            // there first (a concurrent revocation of the same certificate).
            Error::Ledger(LedgerError::Aborted(_)) => ErrorKind::Conflict,
            Error::Write { .. }
            | Error::Ledger(_)
            | Error::Undelivered { .. }
            | Error::CrlRefused { .. }
            | Error::CrlNotPublished { .. } => ErrorKind::Storage,
            Error::Internal(_) => ErrorKind::Internal,
            Error::Serve(_) => ErrorKind::Unavailable,
            Error::NoSuchToken { .. } => ErrorKind::NotFound,
            Error::EnrolUndelivered { .. } => ErrorKind::Storage,
            Error::Client(c) => match c {
                crate::agent::client::ClientError::BadUrl(_)
                | crate::agent::client::ClientError::Root(_)
                | crate::agent::client::ClientError::Identity(_) => ErrorKind::InvalidInput,
                crate::agent::client::ClientError::Refused { status: 409, .. } => ErrorKind::Conflict,
                crate::agent::client::ClientError::Refused { status, .. } if *status < 500 => {
                    ErrorKind::Refused
                }
                _ => ErrorKind::Unavailable,
            },
            Error::TokenNotRevocable { .. } => ErrorKind::Conflict,
            Error::Enrolment(refusal) => match refusal {
                crate::authority::EnrolmentRefusal::BadCsr(_) => ErrorKind::InvalidInput,
                crate::authority::EnrolmentRefusal::TokenUsed { .. } => ErrorKind::Conflict,
                _ => ErrorKind::Refused,
            },
        }
    }
}

/// The library's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A message as one line of plain text: control characters that came with user input (a
/// newline in an argument, an ESC in a CSR) are shown escaped, never sent to the terminal.
/// A message past [`MAX_MESSAGE_CHARS`] is cut there: a last defence against a message that
/// quotes input whole instead of through [`excerpt`].
pub fn one_line(text: &str) -> String {
    let mut line: String = text
        .chars()
        .flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] })
        .collect();
    if let Some((cut, _)) = line.char_indices().nth(MAX_MESSAGE_CHARS) {
        line.truncate(cut);
        line.push('…');
    }
    line
}

/// The longest message line pkictl prints.
pub const MAX_MESSAGE_CHARS: usize = 1000;

impl From<crate::engine::EngineError> for Error {
    fn from(e: crate::engine::EngineError) -> Error {
        use crate::engine::EngineError as E;
        match e {
            E::ValidityBeyondIssuer { requested, issuer, issuer_not_after } => {
                Error::ValidityBeyondIssuer { requested, issuer, issuer_not_after }
            }
            E::ClockBeforeIssuer { now, issuer, issuer_not_before } => {
                Error::ClockBeforeIssuer { now, issuer, issuer_not_before }
            }
            E::BadRequest(message) => Error::Invalid(message),
            E::NameConstraint { name, ca, permitted } => {
                Error::NameOutsideConstraints { name, ca, permitted }
            }
            E::PathLength { ca, path_len, requested } => Error::PathLength { ca, path_len, requested },
            E::KeyMismatch { ca } => Error::KeyMismatch { ca },
            other => Error::Internal(other.to_string()),
        }
    }
}
