//! The hash-chained audit trail. Every event row commits to the previous row's hash and to
//! the state changes it records (a certificate's DER hash and status, a revocation, a CRL's
//! number and DER hash, a CA, a CRL-validity change); [`Replay`] walks the rows in order,
//! checks every link and rebuilds the state the chain explains, so that a check can compare it
//! with the rows the ledger holds. Backend-neutral: backends store [`StoredEvent`]s and feed
//! them back here.
//!
//! A local hash chain cannot stop someone who rewrites the whole trail with this code; it
//! makes every partial edit visible, and its head can be recorded elsewhere.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash a chain's first row links to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One state change an event records. Hashes are SHA-256, lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The chain starts here; it commits to the unchained events that came before it.
    ChainStart {
        /// How many events predate the chain.
        legacy_events: i64,
        /// SHA-256 over those events, in order.
        legacy_sha256: String,
    },
    /// A CA was recorded (or adopted when the chain started).
    Authority {
        /// Ledger id.
        id: i64,
        /// Its name.
        name: String,
        /// SHA-256 of its certificate.
        cert_sha256: String,
        /// How long its CRLs stay valid.
        crl_validity_secs: i64,
        /// Its CRL counter at that moment.
        next_crl_number: i64,
    },
    /// A CA's CRL validity changed.
    CrlValidity {
        /// The CA's ledger id.
        id: i64,
        /// The new validity.
        seconds: i64,
    },
    /// A certificate was recorded.
    Certificate {
        /// Ledger id.
        id: i64,
        /// The issuing CA's id.
        issuer_id: i64,
        /// Serial in ledger form.
        serial: String,
        /// SHA-256 of the DER.
        der_sha256: String,
        /// notAfter, Unix seconds.
        not_after: i64,
    },
    /// A certificate was revoked. It repeats what a CRL entry needs, so that the CRL check
    /// can walk the chain without remembering every certificate.
    Revocation {
        /// The certificate's ledger id.
        id: i64,
        /// The issuing CA's id.
        issuer_id: i64,
        /// Serial in ledger form.
        serial: String,
        /// notAfter, Unix seconds.
        not_after: i64,
        /// When, Unix seconds.
        at: i64,
        /// The stored reason.
        reason: String,
    },
    /// A CRL was recorded.
    Crl {
        /// The signing CA's id.
        issuer_id: i64,
        /// cRLNumber.
        number: i64,
        /// thisUpdate, Unix seconds.
        this_update: i64,
        /// How many entries it lists.
        entries: i64,
        /// SHA-256 of the DER.
        der_sha256: String,
        /// Every revocation of the CA at that moment (a checkpoint for the next CRL's check);
        /// absent on CRLs adopted when the chain started.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revoked: Option<Checkpoint>,
    },
    /// An enrolment token was recorded (its hash, never the token).
    Token {
        /// Ledger id.
        id: i64,
        /// SHA-256 of the token's text.
        token_sha256: String,
        /// The commonName it enrols.
        name: String,
        /// The profile.
        profile: String,
        /// The SANs, as stored.
        sans: Vec<String>,
        /// The issuing CA's id.
        issuer_id: i64,
        /// When it expires, Unix seconds.
        expires_at: i64,
    },
    /// An enrolment token was used, producing this certificate.
    TokenUse {
        /// The token's ledger id.
        id: i64,
        /// The certificate's ledger id.
        certificate_id: i64,
        /// When, Unix seconds.
        at: i64,
    },
    /// An enrolment token was revoked.
    TokenRevoke {
        /// The token's ledger id.
        id: i64,
        /// When, Unix seconds.
        at: i64,
    },
    /// An ACME row (schema 6) was written: the SHA-256 of every column as it now is.
    AcmeRow {
        /// The table.
        table: String,
        /// The row's id.
        id: i64,
        /// SHA-256 over its columns (names and values), hex.
        sha256: String,
    },
}

/// An [`EntrySet`] as the chain stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// How many revocations.
    pub count: i64,
    /// Their order-independent digest, hex.
    pub digest: String,
}

/// An event row as stored, every column as text so that damage can be reported.
#[derive(Debug, Clone, Default)]
pub struct StoredEvent {
    /// Row id.
    pub id: i64,
    /// When, Unix seconds.
    pub at: i64,
    /// The action name.
    pub action: String,
    /// Its target.
    pub target: String,
    /// Its detail (JSON text).
    pub detail: String,
    /// The changes it records (JSON array); None on a row older than the chain.
    pub changes: Option<String>,
    /// The previous row's hash; None on a row older than the chain.
    pub prev_hash: Option<String>,
    /// This row's hash; None on a row older than the chain.
    pub hash: Option<String>,
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of a digest.
pub fn hex_digest(bytes: &[u8]) -> String {
    hex(bytes)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

fn feed_field(h: &mut Sha256, field: &[u8]) {
    h.update((field.len() as u64).to_be_bytes());
    h.update(field);
}

/// The hash of a chained row: every column, length-prefixed, after the previous row's hash.
pub fn event_hash(
    prev: &str,
    id: i64,
    at: i64,
    action: &str,
    target: &str,
    detail: &str,
    changes: &str,
) -> String {
    let mut h = Sha256::new();
    feed_field(&mut h, b"pkictl audit v1");
    feed_field(&mut h, prev.as_bytes());
    feed_field(&mut h, &id.to_be_bytes());
    feed_field(&mut h, &at.to_be_bytes());
    feed_field(&mut h, action.as_bytes());
    feed_field(&mut h, target.as_bytes());
    feed_field(&mut h, detail.as_bytes());
    feed_field(&mut h, changes.as_bytes());
    hex(&h.finalize())
}

/// Folds the unchained rows that predate the chain into one hash.
#[derive(Default, Clone)]
pub struct LegacyDigest {
    hasher: Sha256,
    count: i64,
}

impl std::fmt::Debug for LegacyDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyDigest").field("count", &self.count).finish()
    }
}

impl LegacyDigest {
    /// Adds one unchained row.
    pub fn add(&mut self, e: &StoredEvent) {
        feed_field(&mut self.hasher, &e.id.to_be_bytes());
        feed_field(&mut self.hasher, &e.at.to_be_bytes());
        feed_field(&mut self.hasher, e.action.as_bytes());
        feed_field(&mut self.hasher, e.target.as_bytes());
        feed_field(&mut self.hasher, e.detail.as_bytes());
        self.count += 1;
    }

    /// (rows, hash).
    pub fn finish(self) -> (i64, String) {
        (self.count, hex(&self.hasher.finalize()))
    }
}

/// What the chain says a certificate is.
#[derive(Debug, Clone)]
pub struct ExpectedCertificate {
    /// The issuing CA's id.
    pub issuer_id: i64,
    /// Serial in ledger form.
    pub serial: String,
    /// SHA-256 of its DER.
    pub der_sha256: String,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// When and why it was revoked.
    pub revoked: Option<(i64, String)>,
}

/// What the chain says a CA is.
#[derive(Debug, Clone)]
pub struct ExpectedAuthority {
    /// Its name.
    pub name: String,
    /// SHA-256 of its certificate.
    pub cert_sha256: String,
    /// CRL validity, seconds.
    pub crl_validity_secs: i64,
    /// The lowest value its CRL counter may have.
    pub next_crl_number: i64,
}

/// What the chain says a CRL is.
#[derive(Debug, Clone)]
pub struct ExpectedCrl {
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// Entries.
    pub entries: i64,
    /// SHA-256 of the DER.
    pub der_sha256: String,
}

/// What the chain says an enrolment token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedToken {
    /// SHA-256 of the token's text.
    pub token_sha256: String,
    /// The commonName it enrols.
    pub name: String,
    /// The profile.
    pub profile: String,
    /// The SANs, as stored.
    pub sans: Vec<String>,
    /// The issuing CA's id.
    pub issuer_id: i64,
    /// When it expires.
    pub expires_at: i64,
    /// When it was used and the certificate it produced.
    pub used: Option<(i64, i64)>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
}

/// The first link of the chain that does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The row where it breaks.
    pub event_id: i64,
    /// What is wrong there.
    pub problem: String,
}

/// The links of the chain, checked row by row: its head, its first break.
#[derive(Debug, Default)]
pub struct Links {
    /// The newest row's hash (GENESIS for an empty chain).
    pub head: String,
    /// Chained rows seen.
    pub chained: u64,
    /// Unchained rows seen before the chain's start.
    pub legacy: u64,
    /// Whether a chain-start row was seen.
    pub started: bool,
    /// The first link that does not hold.
    pub broken: Option<ChainBreak>,
    legacy_digest: LegacyDigest,
}

impl Links {
    /// Before the first row.
    pub fn new() -> Links {
        Links { head: GENESIS.to_string(), ..Links::default() }
    }

    /// Part-way through a chain that already started: the first row is taken to link to the
    /// hash it names (its own contents are still checked).
    pub fn resume() -> Links {
        Links { started: true, ..Links::default() }
    }

    fn break_at(&mut self, event_id: i64, problem: String) {
        if self.broken.is_none() {
            self.broken = Some(ChainBreak { event_id, problem });
        }
    }

    /// Checks the next row (in id order) and hands back the state changes it records (the
    /// chain start itself is checked here and not handed back).
    pub fn feed(&mut self, e: &StoredEvent) -> Vec<Change> {
        let (Some(prev), Some(hash), Some(changes)) = (&e.prev_hash, &e.hash, &e.changes) else {
            if self.chained == 0 && !self.started {
                self.legacy += 1;
                self.legacy_digest.add(e);
            } else {
                self.break_at(e.id, "it carries no hash although the chain had started".into());
            }
            return Vec::new();
        };
        if self.head.is_empty() {
            self.head = prev.clone();
        }
        if *prev != self.head {
            self.break_at(
                e.id,
                "it does not link to the row before it (a row was removed, changed or inserted)".into(),
            );
        }
        let computed = event_hash(prev, e.id, e.at, &e.action, &e.target, &e.detail, changes);
        if computed != *hash {
            self.break_at(e.id, "its hash does not match its contents (the row was edited)".into());
        }
        self.chained += 1;
        self.head = hash.clone();
        let list = match serde_json::from_str::<Vec<Change>>(changes) {
            Ok(list) => list,
            Err(err) => {
                self.break_at(e.id, format!("its recorded changes do not parse ({err})"));
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(list.len());
        for change in list {
            match change {
                Change::ChainStart { legacy_events, legacy_sha256 } => {
                    self.start(e.id, legacy_events, legacy_sha256)
                }
                other if !self.started => {
                    self.break_at(
                        e.id,
                        "the chain does not begin with its start record (earlier rows were removed)".into(),
                    );
                    out.push(other);
                }
                other => out.push(other),
            }
        }
        out
    }

    fn start(&mut self, event_id: i64, legacy_events: i64, legacy_sha256: String) {
        let digest = std::mem::take(&mut self.legacy_digest);
        if self.started {
            self.break_at(event_id, "a second chain start".into());
        } else if digest.finish() != (legacy_events, legacy_sha256) {
            self.break_at(event_id, "the events that predate the chain were changed".into());
        }
        self.started = true;
    }
}

/// The chain walked from its first row: its links, and the whole state it explains (for a
/// full audit).
#[derive(Debug, Default)]
pub struct Replay {
    /// The links.
    pub links: Links,
    /// CAs by id.
    pub authorities: BTreeMap<i64, ExpectedAuthority>,
    /// Certificates by id.
    pub certificates: HashMap<i64, ExpectedCertificate>,
    /// CRLs by (issuer id, number).
    pub crls: BTreeMap<(i64, i64), ExpectedCrl>,
    /// Enrolment tokens by id.
    pub tokens: BTreeMap<i64, ExpectedToken>,
    /// ACME rows by (table, id): the digest of their newest recorded state.
    pub acme_rows: BTreeMap<(String, i64), String>,
}

impl Replay {
    /// An empty replay, before the first row.
    pub fn new() -> Replay {
        Replay { links: Links::new(), ..Replay::default() }
    }

    /// Takes the next row (in id order).
    pub fn feed(&mut self, e: &StoredEvent) {
        for change in self.links.feed(e) {
            self.apply(e.id, change);
        }
    }

    fn apply(&mut self, event_id: i64, change: Change) {
        match change {
            Change::ChainStart { .. } => {}
            Change::Token { id, token_sha256, name, profile, sans, issuer_id, expires_at } => {
                let token = ExpectedToken {
                    token_sha256,
                    name,
                    profile,
                    sans,
                    issuer_id,
                    expires_at,
                    used: None,
                    revoked_at: None,
                };
                self.tokens.insert(id, token);
            }
            Change::TokenUse { id, certificate_id, at } => match self.tokens.get_mut(&id) {
                Some(t) => t.used = Some((at, certificate_id)),
                None => self
                    .links
                    .break_at(event_id, format!("it uses token #{id}, which the chain never created")),
            },
            Change::TokenRevoke { id, at } => match self.tokens.get_mut(&id) {
                Some(t) => t.revoked_at = Some(at),
                None => self
                    .links
                    .break_at(event_id, format!("it revokes token #{id}, which the chain never created")),
            },
            Change::Authority { id, name, cert_sha256, crl_validity_secs, next_crl_number } => {
                self.authorities
                    .insert(id, ExpectedAuthority { name, cert_sha256, crl_validity_secs, next_crl_number });
            }
            Change::CrlValidity { id, seconds } => match self.authorities.get_mut(&id) {
                Some(a) => a.crl_validity_secs = seconds,
                None => self
                    .links
                    .break_at(event_id, format!("it configures CA #{id}, which the chain never created")),
            },
            Change::Certificate { id, issuer_id, serial, der_sha256, not_after } => {
                self.certificates.insert(
                    id,
                    ExpectedCertificate { issuer_id, serial, der_sha256, not_after, revoked: None },
                );
            }
            Change::Revocation { id, at, reason, .. } => match self.certificates.get_mut(&id) {
                Some(c) => c.revoked = Some((at, reason)),
                None => self.links.break_at(
                    event_id,
                    format!("it revokes certificate #{id}, which the chain never issued"),
                ),
            },
            Change::Crl { issuer_id, number, this_update, entries, der_sha256, .. } => {
                if let Some(a) = self.authorities.get_mut(&issuer_id) {
                    a.next_crl_number = a.next_crl_number.max(number + 1);
                }
                self.crls.insert((issuer_id, number), ExpectedCrl { this_update, entries, der_sha256 });
            }
            Change::AcmeRow { table, id, sha256 } => {
                self.acme_rows.insert((table, id), sha256);
            }
        }
    }
}

/// What the chain says the next CRL of one CA must respect, gathered in one pass without
/// remembering every certificate: its newest CRL number and every revocation of the CA
/// (expired certificates included). It can start at the CA's newest CRL event, whose
/// checkpoint holds the revocations up to then, instead of at the chain's first row.
#[derive(Debug)]
pub struct CrlExpectation {
    /// The links.
    pub links: Links,
    issuer_id: i64,
    /// The newest CRL number the chain records for the CA.
    pub last_number: Option<i64>,
    /// Every revocation of the CA's certificates.
    pub entries: EntrySet,
    /// False while a resumed walk has not met its checkpoint (then it proves nothing).
    pub anchored: bool,
}

impl CrlExpectation {
    /// Before the first row of the chain, for a CRL of `issuer_id`.
    pub fn new(issuer_id: i64) -> CrlExpectation {
        CrlExpectation {
            links: Links::new(),
            issuer_id,
            last_number: None,
            entries: EntrySet::default(),
            anchored: true,
        }
    }

    /// Starting at an event that should hold a checkpoint of `issuer_id`'s revocations.
    pub fn resume(issuer_id: i64) -> CrlExpectation {
        CrlExpectation { links: Links::resume(), anchored: false, ..CrlExpectation::new(issuer_id) }
    }

    /// Takes the next row (in id order).
    pub fn feed(&mut self, e: &StoredEvent) {
        for change in self.links.feed(e) {
            match change {
                Change::Revocation { issuer_id, serial, at, reason, .. } if issuer_id == self.issuer_id => {
                    self.entries.add(&serial, at, &reason);
                }
                Change::Crl { issuer_id, number, revoked, .. } if issuer_id == self.issuer_id => {
                    self.last_number = Some(self.last_number.map_or(number, |n| n.max(number)));
                    if let Some(set) = revoked.as_ref().and_then(EntrySet::from_checkpoint) {
                        self.entries = set;
                        self.anchored = true;
                    }
                }
                _ => {}
            }
        }
    }
}

/// An order-independent digest of a set of CRL entries: two sets with the same digest and
/// count hold the same (serial, time, reason) triples, without keeping either set in memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntrySet {
    /// How many entries.
    pub count: i64,
    digest: [u8; 32],
}

impl EntrySet {
    /// As the chain stores it.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint { count: self.count, digest: hex(&self.digest) }
    }

    /// Back from the chain; None when the digest is not 64 hex digits.
    pub fn from_checkpoint(c: &Checkpoint) -> Option<EntrySet> {
        let bytes = c.digest.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut digest = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let text = std::str::from_utf8(pair).ok()?;
            digest[i] = u8::from_str_radix(text, 16).ok()?;
        }
        Some(EntrySet { count: c.count, digest })
    }

    /// Adds one entry.
    pub fn add(&mut self, serial: &str, revoked_at: i64, reason: &str) {
        let mut h = Sha256::new();
        feed_field(&mut h, serial.as_bytes());
        feed_field(&mut h, &revoked_at.to_be_bytes());
        feed_field(&mut h, reason.as_bytes());
        for (d, b) in self.digest.iter_mut().zip(h.finalize().iter()) {
            *d ^= b;
        }
        self.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chained(prev: &str, id: i64, changes: &[Change]) -> StoredEvent {
        let changes = serde_json::to_string(changes).unwrap();
        let hash = event_hash(prev, id, 1, "x", "t", "{}", &changes);
        StoredEvent {
            id,
            at: 1,
            action: "x".into(),
            target: "t".into(),
            detail: "{}".into(),
            changes: Some(changes),
            prev_hash: Some(prev.into()),
            hash: Some(hash),
        }
    }

    fn start() -> Change {
        let (n, h) = LegacyDigest::default().finish();
        Change::ChainStart { legacy_events: n, legacy_sha256: h }
    }

    #[test]
    fn an_intact_chain_replays_without_a_break() {
        let a = chained(GENESIS, 1, &[start()]);
        let b = chained(a.hash.as_deref().unwrap(), 2, &[]);
        let mut r = Replay::new();
        r.feed(&a);
        r.feed(&b);
        assert_eq!(r.links.broken, None);
        assert_eq!(r.links.head, b.hash.unwrap());
    }

    #[test]
    fn an_edited_or_removed_row_breaks_the_chain() {
        let a = chained(GENESIS, 1, &[start()]);
        let b = chained(a.hash.as_deref().unwrap(), 2, &[]);
        let c = chained(b.hash.as_deref().unwrap(), 3, &[]);
        let mut edited = b.clone();
        edited.target = "other".into();
        let mut r = Replay::new();
        r.feed(&a);
        r.feed(&edited);
        assert_eq!(r.links.broken.as_ref().map(|b| b.event_id), Some(2));
        let mut r = Replay::new();
        r.feed(&a);
        r.feed(&c);
        assert_eq!(r.links.broken.map(|b| b.event_id), Some(3));
    }

    #[test]
    fn entry_sets_compare_whatever_the_order() {
        let mut x = EntrySet::default();
        x.add("01", 5, "superseded");
        x.add("02", 6, "unspecified");
        let mut y = EntrySet::default();
        y.add("02", 6, "unspecified");
        y.add("01", 5, "superseded");
        assert_eq!(x, y);
        y.add("03", 6, "unspecified");
        assert_ne!(x, y);
    }
}
