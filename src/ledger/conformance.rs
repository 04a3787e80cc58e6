//! The conformance suite every ledger backend must pass, written against the [`Ledger`]
//! and [`LedgerTx`] traits only. A backend's tests call [`run_all`] with a constructor of
//! empty ledgers.

use super::{
    CertFilter, CertSelector, CertStatus, EventKind, KeyOrigin, Ledger, LedgerError, NewAuthority,
    NewCertificate, NewCrl, NewTokenRecord, StatusFilter, TokenStatus,
};
use crate::engine::crl::Reason;
use crate::engine::profile::Profile;
use crate::engine::serial::Serial;
use crate::keys::KeyType;
use crate::names::San;

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

type Check = fn(&mut dyn Ledger);

/// Runs every check on fresh ledgers from `make`.
pub fn run_all(make: &dyn Fn() -> Box<dyn Ledger>) {
    let checks: [(&str, Check); 20] = [
        ("authorities round trip", authorities_round_trip),
        ("certificates round trip", certificates_round_trip),
        ("duplicate serial is refused", duplicate_serial_is_refused),
        ("revocation happens once", revocation_happens_once),
        ("CRL numbers increase", crl_numbers_increase),
        ("revoked entries in serial order", revoked_entries_in_serial_order),
        ("aborted transaction leaves nothing", aborted_transaction_leaves_nothing),
        ("list filters", list_filters),
        ("revision moves on commit only", revision_moves_on_commit_only),
        ("every profile round trips", every_profile_round_trips),
        ("every change is on the audit chain", every_change_is_chained),
        ("tokens round trip by hash only", tokens_round_trip),
        ("a token is used once, never after expiry or revocation", token_used_once),
        ("token changes are on the audit chain", token_changes_are_chained),
        ("ACME provisioners round trip", acme_provisioners_round_trip),
        ("ACME account keys are unique per provisioner", acme_thumbprints_unique_per_provisioner),
        ("ACME order, authorizations and challenges round trip", acme_order_round_trip),
        ("ACME certificate link", acme_certificate_link),
        ("ACME orders counted in a window", acme_order_window_counts),
        ("every ACME change is on the audit chain", acme_changes_are_chained),
    ];
    for (name, check) in checks {
        let mut ledger = make();
        eprintln!("conformance: {name}");
        check(ledger.as_mut());
    }
}

/// A root CA and its own certificate row, as `init` records them.
fn new_root(ledger: &mut dyn Ledger) -> i64 {
    let serial = Serial::from_be_bytes(&[0x11; 16]);
    ledger
        .write(|tx| {
            let id = tx.insert_authority(&NewAuthority {
                name: "Root",
                slug: "root",
                parent_id: None,
                subject: "CN=Root",
                cert_der: b"root-der",
                ski: &[1; 20],
                key_file: "private/root.key",
                key_type: KeyType::P256,
                key_encrypted: true,
                path_len: None,
                permitted_dns: &["example.com".to_string()],
                crl_url: Some("http://pki.example/crl/root.crl"),
                public_url: None,
                is_default: true,
                not_before: NOW - DAY,
                not_after: NOW + 3650 * DAY,
                now: NOW,
            })?;
            tx.insert_certificate(&NewCertificate {
                issuer_id: id,
                serial: &serial,
                profile: Profile::Root,
                subject: "CN=Root",
                common_name: Some("Root"),
                sans: &[],
                key_type: KeyType::P256,
                key_origin: KeyOrigin::Ca,
                not_before: NOW - DAY,
                not_after: NOW + 3650 * DAY,
                fingerprint_sha256: &"a".repeat(64),
                der: b"root-der",
                renewed_from: None,
                authority_id: Some(id),
                now: NOW,
            })?;
            Ok(id)
        })
        .expect("insert a CA")
}

fn serial(n: u8) -> Serial {
    Serial::from_be_bytes(&[0x40, n, n, n])
}

fn new_leaf(ledger: &mut dyn Ledger, issuer_id: i64, n: u8, not_after: i64) -> LedgerResultId {
    let sans = [San::Dns(format!("host{n}.example.com"))];
    let fingerprint = format!("{n:064x}");
    let der = vec![n; 8];
    let serial = serial(n);
    ledger.write(|tx| {
        tx.insert_certificate(&NewCertificate {
            issuer_id,
            serial: &serial,
            profile: Profile::Server,
            subject: "CN=host",
            common_name: Some("host"),
            sans: &sans,
            key_type: KeyType::P384,
            key_origin: KeyOrigin::Csr,
            not_before: NOW - DAY,
            not_after,
            fingerprint_sha256: &fingerprint,
            der: &der,
            renewed_from: None,
            authority_id: None,
            now: NOW,
        })
    })
}

type LedgerResultId = Result<i64, LedgerError>;

/// Every leaf profile, the OCSP responder's included, is stored and read back as itself.
fn every_profile_round_trips(ledger: &mut dyn Ledger) {
    let ca = new_root(ledger);
    let profiles = [Profile::Server, Profile::Client, Profile::Peer, Profile::OcspResponder];
    for (n, profile) in (1u8..).zip(profiles) {
        let fingerprint = format!("{n:064x}");
        let serial = serial(n);
        ledger
            .write(|tx| {
                tx.insert_certificate(&NewCertificate {
                    issuer_id: ca,
                    serial: &serial,
                    profile,
                    subject: "CN=x",
                    common_name: Some("x"),
                    sans: &[],
                    key_type: KeyType::P256,
                    key_origin: KeyOrigin::Generated,
                    not_before: NOW - DAY,
                    not_after: NOW + DAY,
                    fingerprint_sha256: &fingerprint,
                    der: &[n; 8],
                    renewed_from: None,
                    authority_id: None,
                    now: NOW,
                })
            })
            .unwrap_or_else(|e| panic!("insert a {profile} certificate: {e}"));
        let found = ledger.find_certificates(CertSelector::Serial(&serial), None).unwrap();
        assert_eq!(found[0].profile, profile);
    }
}

fn authorities_round_trip(ledger: &mut dyn Ledger) {
    let id = new_root(ledger);
    let by_name = ledger.authority_by_name("Root").unwrap().expect("by name");
    let by_slug = ledger.authority_by_name("root").unwrap().expect("by slug");
    let default = ledger.default_authority().unwrap().expect("default");
    for ca in [&by_name, &by_slug, &default] {
        assert_eq!(ca.id, id);
        assert_eq!(ca.key_type, KeyType::P256);
        assert_eq!(ca.permitted_dns, ["example.com"]);
        assert_eq!(ca.next_crl_number, 1);
    }
    assert!(ledger.authority_by_name("nope").unwrap().is_none());
    assert_eq!(ledger.authorities().unwrap().len(), 1);
    ledger.write(|tx| tx.set_crl_validity(id, 3600)).unwrap();
    assert_eq!(ledger.authority_by_id(id).unwrap().unwrap().crl_validity_secs, 3600);
    assert_eq!(by_name.public_url, None);
    ledger.write(|tx| tx.set_public_url(id, Some("http://ca.example:8080"))).unwrap();
    assert_eq!(
        ledger.authority_by_id(id).unwrap().unwrap().public_url.as_deref(),
        Some("http://ca.example:8080")
    );
    ledger.write(|tx| tx.set_public_url(id, None)).unwrap();
    assert_eq!(ledger.authority_by_id(id).unwrap().unwrap().public_url, None);
}

fn certificates_round_trip(ledger: &mut dyn Ledger) {
    let ca = new_root(ledger);
    let id = new_leaf(ledger, ca, 7, NOW + 90 * DAY).unwrap();
    let found = ledger.find_certificates(CertSelector::Serial(&serial(7)), None).unwrap();
    assert_eq!(found.len(), 1);
    let record = &found[0];
    assert_eq!(record.id, id);
    assert_eq!(record.profile, Profile::Server);
    assert_eq!(record.key_type, KeyType::P384);
    assert_eq!(record.key_origin, KeyOrigin::Csr);
    assert_eq!(record.status, CertStatus::Valid);
    assert_eq!(record.sans, [San::Dns("host7.example.com".into())]);
    assert_eq!(record.serial, serial(7));
    assert_eq!(ledger.certificate_der(id).unwrap(), vec![7; 8]);
    let by_fingerprint =
        ledger.find_certificates(CertSelector::Fingerprint(&format!("{:064x}", 7)), None).unwrap();
    assert_eq!(by_fingerprint.len(), 1);
    assert_eq!(ledger.find_certificates(CertSelector::Name("host"), Some(ca)).unwrap().len(), 1);
    assert_eq!(ledger.certificate_count().unwrap(), 2);
}

fn duplicate_serial_is_refused(ledger: &mut dyn Ledger) {
    let ca = new_root(ledger);
    new_leaf(ledger, ca, 1, NOW + DAY).unwrap();
    // Same serial, other fingerprint: the issuer's serial must be unique.
    let sans = [San::Dns("other.example.com".into())];
    let serial = serial(1);
    let again = ledger.write(|tx| {
        tx.insert_certificate(&NewCertificate {
            issuer_id: ca,
            serial: &serial,
            profile: Profile::Client,
            subject: "CN=other",
            common_name: Some("other"),
            sans: &sans,
            key_type: KeyType::P256,
            key_origin: KeyOrigin::Generated,
            not_before: NOW,
            not_after: NOW + DAY,
            fingerprint_sha256: &"f".repeat(64),
            der: b"other",
            renewed_from: None,
            authority_id: None,
            now: NOW,
        })
    });
    assert!(matches!(again, Err(LedgerError::DuplicateSerial { .. })), "{again:?}");
    assert_eq!(ledger.certificate_count().unwrap(), 2);
}

fn revocation_happens_once(ledger: &mut dyn Ledger) {
    let ca = new_root(ledger);
    let id = new_leaf(ledger, ca, 2, NOW + DAY).unwrap();
    assert!(ledger.write(|tx| tx.revoke_certificate(id, NOW, Reason::KeyCompromise)).unwrap());
    assert!(!ledger.write(|tx| tx.revoke_certificate(id, NOW + 1, Reason::Superseded)).unwrap());
    let record = ledger.certificate_by_id(id).unwrap().unwrap();
    assert_eq!(record.status, CertStatus::Revoked);
    assert_eq!(record.revoked_at, Some(NOW));
    assert_eq!(record.revocation_reason, Some(Reason::KeyCompromise));
}

fn crl_numbers_increase(ledger: &mut dyn Ledger) {
    let ca = new_root(ledger);
    let mut last = 0;
    for round in 0..3 {
        let number = ledger
            .write(|tx| {
                let number = tx.allocate_crl_number(ca)?;
                tx.insert_crl(&NewCrl {
                    issuer_id: ca,
                    number,
                    this_update: NOW + round,
                    next_update: NOW + round + DAY,
                    entries: 0,
                    der: &[round as u8; 4],
                    revoked: super::chain::EntrySet::default(),
                })?;
                tx.record_event(&super::Event {
                    at: NOW,
                    kind: EventKind::CrlPublish,
                    target: "Root",
                    detail: serde_json::json!({ "number": number }),
                })?;
                Ok(number)
            })
            .unwrap();
        assert!(number > last);
        last = number;
    }
    assert_eq!(ledger.latest_crl_number(ca).unwrap(), Some(last));
    assert_eq!(ledger.latest_crl_der(ca).unwrap(), Some(vec![2; 4]));
    assert_eq!(ledger.latest_crls().unwrap().len(), 1);
}

fn revoked_entries_in_serial_order(ledger: &mut dyn Ledger) {
    let ca = new_root(ledger);
    let mut ids = Vec::new();
    for n in [9u8, 3, 6] {
        ids.push(new_leaf(ledger, ca, n, NOW + DAY).unwrap());
    }
    let expired = new_leaf(ledger, ca, 1, NOW - 1).unwrap();
    ledger
        .write(|tx| {
            for id in ids.iter().chain([&expired]) {
                tx.revoke_certificate(*id, NOW - 10, Reason::Superseded)?;
            }
            Ok(())
        })
        .unwrap();
    let mut seen = Vec::new();
    ledger
        .write(|tx| {
            tx.for_each_revoked(ca, NOW, &mut |serial, _, reason| {
                assert_eq!(reason, Reason::Superseded);
                seen.push(serial.to_string());
                Ok(())
            })
        })
        .unwrap();
    let expected: Vec<String> = [3u8, 6, 9].iter().map(|n| serial(*n).ledger_hex()).collect();
    assert_eq!(seen, expected, "unexpired revoked entries, in serial order");
}

fn aborted_transaction_leaves_nothing(ledger: &mut dyn Ledger) {
    let ca = new_root(ledger);
    let outcome: Result<(), LedgerError> = ledger.write(|tx| {
        tx.allocate_crl_number(ca)?;
        Err(LedgerError::Aborted("changed my mind".into()))
    });
    assert!(matches!(outcome, Err(LedgerError::Aborted(_))));
    assert_eq!(ledger.authority_by_id(ca).unwrap().unwrap().next_crl_number, 1);
}

fn revision_moves_on_commit_only(ledger: &mut dyn Ledger) {
    let ca = new_root(ledger);
    let before = ledger.revision().unwrap();
    assert_eq!(ledger.revision().unwrap(), before, "reading changes nothing");
    let _ = ledger.write(|tx| -> Result<(), LedgerError> {
        tx.allocate_crl_number(ca)?;
        Err(LedgerError::Aborted("changed my mind".into()))
    });
    assert_eq!(ledger.revision().unwrap(), before, "a rolled-back transaction changes nothing");
    ledger.write(|tx| tx.allocate_crl_number(ca)).unwrap();
    assert_ne!(ledger.revision().unwrap(), before, "a commit moves the revision");
}

fn list_filters(ledger: &mut dyn Ledger) {
    let ca = new_root(ledger);
    let soon = new_leaf(ledger, ca, 1, NOW + DAY).unwrap();
    new_leaf(ledger, ca, 2, NOW + 100 * DAY).unwrap();
    new_leaf(ledger, ca, 3, NOW - DAY).unwrap();
    let revoked = new_leaf(ledger, ca, 4, NOW + DAY).unwrap();
    ledger.write(|tx| tx.revoke_certificate(revoked, NOW, Reason::Unspecified)).unwrap();
    let count = |status, expiring_before| {
        let filter = CertFilter {
            status,
            expiring_before,
            issuer_id: Some(ca),
            profile: Some(Profile::Server),
            now: NOW,
        };
        ledger.list_certificates(&filter).unwrap()
    };
    assert_eq!(count(StatusFilter::Valid, None).len(), 2);
    assert_eq!(count(StatusFilter::Expired, None).len(), 1);
    assert_eq!(count(StatusFilter::Revoked, None).len(), 1);
    assert_eq!(count(StatusFilter::All, None).len(), 4);
    let expiring = count(StatusFilter::Valid, Some(NOW + 7 * DAY));
    assert_eq!(expiring.iter().map(|c| c.id).collect::<Vec<_>>(), [soon]);
}

/// Every state change is hashed into the chain, even one recorded without an event, and the
/// replay explains every row; an aborted transaction leaves no link.
fn every_change_is_chained(ledger: &mut dyn Ledger) {
    let root = new_root(ledger);
    let leaf = new_leaf(ledger, root, 1, NOW + DAY).unwrap();
    ledger.write(|tx| tx.revoke_certificate(leaf, NOW, Reason::KeyCompromise)).unwrap();
    ledger.write(|tx| tx.set_crl_validity(root, 3600)).unwrap();
    let _ = ledger.write(|tx| {
        tx.revoke_certificate(leaf, NOW, Reason::Superseded)?;
        Err::<(), _>(LedgerError::Aborted("no".into()))
    });
    let replay = super::replay(|v| ledger.scan_events(v)).unwrap();
    assert_eq!(replay.links.broken, None);
    assert!(replay.links.started);
    assert_eq!(replay.authorities[&root].crl_validity_secs, 3600);
    let cert = &replay.certificates[&leaf];
    assert_eq!(cert.revoked, Some((NOW, "key-compromise".to_string())));
    assert_eq!(cert.der_sha256, super::chain::sha256_hex(&ledger.certificate_der(leaf).unwrap()));
    let mut head = String::new();
    ledger.scan_events(&mut |e| head = e.hash.clone().unwrap_or_default()).unwrap();
    assert_eq!(replay.links.head, head);
}

fn new_token(ledger: &mut dyn Ledger, issuer_id: i64, n: u8, expires_at: i64) -> i64 {
    let sans = [San::Dns(format!("node{n}.example.com")), San::Ip([10, 0, 0, n].into())];
    let hash = format!("{:064x}", u64::from(n) + 0xabc);
    let name = format!("node{n}.example.com");
    ledger
        .write(|tx| {
            tx.insert_token(&NewTokenRecord {
                token_sha256: &hash,
                name: &name,
                profile: Profile::Peer,
                sans: &sans,
                issuer_id,
                validity_secs: 3600,
                expires_at,
                now: NOW,
            })
        })
        .expect("insert a token")
}

fn tokens_round_trip(ledger: &mut dyn Ledger) {
    let root = new_root(ledger);
    let id = new_token(ledger, root, 1, NOW + 600);
    let hash = format!("{:064x}", 1u64 + 0xabc);
    let t = ledger.token_by_hash(&hash).unwrap().expect("found by its hash");
    assert_eq!(t.id, id);
    assert_eq!(t.name, "node1.example.com");
    assert_eq!(t.profile, Profile::Peer);
    assert_eq!(t.sans, vec![San::Dns("node1.example.com".into()), San::Ip([10, 0, 0, 1].into())]);
    assert_eq!((t.issuer_id, t.issuer_name.as_str()), (root, "Root"));
    assert_eq!((t.validity_secs, t.expires_at, t.created_at), (3600, NOW + 600, NOW));
    assert_eq!((t.used_at, t.revoked_at, t.certificate_id), (None, None, None));
    assert_eq!(t.status(NOW), TokenStatus::Unused);
    assert_eq!(t.status(NOW + 600), TokenStatus::Expired);
    assert!(ledger.token_by_hash(&"0".repeat(64)).unwrap().is_none());
    assert_eq!(ledger.token_by_id(id).unwrap().map(|t| t.token_sha256), Some(hash.clone()));
    let same_hash = ledger.write(|tx| {
        tx.insert_token(&NewTokenRecord {
            token_sha256: &hash,
            name: "x",
            profile: Profile::Client,
            sans: &[],
            issuer_id: root,
            validity_secs: 60,
            expires_at: NOW + 60,
            now: NOW,
        })
    });
    assert!(same_hash.is_err(), "two tokens with one hash");
    new_token(ledger, root, 2, NOW + 600);
    let all: Vec<i64> = ledger.tokens().unwrap().iter().map(|t| t.id).collect();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1], id, "newest first");
}

fn token_used_once(ledger: &mut dyn Ledger) {
    let root = new_root(ledger);
    let leaf = new_leaf(ledger, root, 1, NOW + DAY).unwrap();
    let other = new_leaf(ledger, root, 2, NOW + DAY).unwrap();
    let token = new_token(ledger, root, 1, NOW + 600);
    assert!(!ledger.write(|tx| tx.use_token(token, NOW + 600, leaf)).unwrap(), "used at its expiry");
    assert!(ledger.write(|tx| tx.use_token(token, NOW + 1, leaf)).unwrap());
    assert!(!ledger.write(|tx| tx.use_token(token, NOW + 2, other)).unwrap(), "used twice");
    assert!(!ledger.write(|tx| tx.revoke_token(token, NOW + 3)).unwrap(), "revoked after use");
    let t = ledger.token_by_id(token).unwrap().unwrap();
    assert_eq!((t.used_at, t.certificate_id, t.revoked_at), (Some(NOW + 1), Some(leaf), None));
    assert_eq!(t.status(NOW + 9999), TokenStatus::Used);

    let revoked = new_token(ledger, root, 2, NOW + 600);
    assert!(ledger.write(|tx| tx.revoke_token(revoked, NOW)).unwrap());
    assert!(!ledger.write(|tx| tx.revoke_token(revoked, NOW)).unwrap(), "revoked twice");
    assert!(!ledger.write(|tx| tx.use_token(revoked, NOW + 1, other)).unwrap(), "used after revocation");
    assert_eq!(ledger.token_by_id(revoked).unwrap().unwrap().status(NOW), TokenStatus::Revoked);

    // A use inside a transaction that aborts leaves the token unused.
    let third = new_token(ledger, root, 3, NOW + 600);
    let _ = ledger.write(|tx| {
        assert!(tx.use_token(third, NOW, other)?);
        assert_eq!(tx.token_in_tx(third)?.and_then(|t| t.used_at), Some(NOW));
        Err::<(), _>(LedgerError::Aborted("no".into()))
    });
    assert_eq!(ledger.token_by_id(third).unwrap().unwrap().status(NOW), TokenStatus::Unused);
}

fn token_changes_are_chained(ledger: &mut dyn Ledger) {
    let root = new_root(ledger);
    let leaf = new_leaf(ledger, root, 1, NOW + DAY).unwrap();
    let token = new_token(ledger, root, 1, NOW + 600);
    ledger.write(|tx| tx.use_token(token, NOW, leaf)).unwrap();
    let revoked = new_token(ledger, root, 2, NOW + 600);
    ledger.write(|tx| tx.revoke_token(revoked, NOW)).unwrap();
    let replay = super::replay(|v| ledger.scan_events(v)).unwrap();
    assert_eq!(replay.links.broken, None);
    let mut changes = String::new();
    ledger.scan_events(&mut |e| changes.push_str(e.changes.as_deref().unwrap_or(""))).unwrap();
    assert!(changes.contains(r#""change":"token""#), "{changes}");
    assert!(changes.contains(r#""change":"token_use""#), "{changes}");
    assert!(changes.contains(r#""change":"token_revoke""#), "{changes}");
    assert!(changes.contains(&format!("{:064x}", 1u64 + 0xabc)), "the token's hash is chained");
}

use super::acme::*;
use crate::patterns::{DnsPattern, IpCidr};

fn new_provisioner(ledger: &mut dyn Ledger, ca: i64, name: &str) -> LedgerResultId {
    let dns =
        [DnsPattern::parse("*.svc.example.com").unwrap(), DnsPattern::parse("api.example.com").unwrap()];
    let ips = [IpCidr::parse("10.0.0.0/8").unwrap()];
    ledger.write(|tx| {
        tx.insert_acme_provisioner(&NewAcmeProvisioner {
            name,
            authority_id: ca,
            profile: Profile::Peer,
            allowed_dns: &dns,
            allowed_ips: &ips,
            max_validity_secs: Some(30 * DAY),
            require_eab: true,
            now: NOW,
        })
    })
}

fn new_account(ledger: &mut dyn Ledger, provisioner: i64, thumbprint: &str) -> LedgerResultId {
    let contacts = ["mailto:ops@example.com".to_string()];
    ledger.write(|tx| {
        tx.insert_acme_account(&NewAcmeAccount {
            provisioner_id: provisioner,
            jwk_thumbprint: thumbprint,
            jwk: r#"{"kty":"EC","crv":"P-256","x":"x","y":"y"}"#,
            contacts: &contacts,
            eab_key_id: None,
            now: NOW,
        })
    })
}

/// An order for a name and a wildcard, with an authorization each and one challenge each.
fn new_order(ledger: &mut dyn Ledger, account: i64, token_prefix: &str) -> (i64, Vec<i64>, Vec<i64>) {
    let identifiers = [AcmeIdentifier::dns("a.svc.example.com"), AcmeIdentifier::dns("*.svc.example.com")];
    ledger
        .write(|tx| {
            let order = tx.insert_acme_order(&NewAcmeOrder {
                account_id: account,
                expires_at: NOW + DAY,
                identifiers: &identifiers,
                not_before: None,
                not_after: Some(NOW + 7 * DAY),
                now: NOW,
            })?;
            let (mut authzs, mut challenges) = (Vec::new(), Vec::new());
            for (n, (id, wildcard)) in
                [(&identifiers[0], false), (&AcmeIdentifier::dns("svc.example.com"), true)]
                    .into_iter()
                    .enumerate()
            {
                let authz = tx.insert_acme_authorization(&NewAcmeAuthorization {
                    order_id: order,
                    identifier: id,
                    wildcard,
                    expires_at: NOW + DAY,
                    now: NOW,
                })?;
                authzs.push(authz);
                let kind = if wildcard { ChallengeType::Dns01 } else { ChallengeType::Http01 };
                let token = format!("{token_prefix}-{n}");
                challenges.push(tx.insert_acme_challenge(&NewAcmeChallenge {
                    authorization_id: authz,
                    kind,
                    token: &token,
                    now: NOW,
                })?);
            }
            Ok((order, authzs, challenges))
        })
        .expect("insert an order")
}

fn acme_provisioners_round_trip(ledger: &mut dyn Ledger) {
    let ca = new_root(ledger);
    let id = new_provisioner(ledger, ca, "web").unwrap();
    let p = ledger.acme_provisioner_by_name("web").unwrap().expect("by name");
    assert_eq!(p.id, id);
    assert_eq!((p.profile, p.ca_name.as_str(), p.require_eab), (Profile::Peer, "Root", true));
    assert_eq!(
        p.allowed_dns.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["*.svc.example.com", "api.example.com"]
    );
    assert_eq!(p.allowed_ips, [IpCidr::parse("10.0.0.0/8").unwrap()]);
    assert_eq!(p.max_validity_secs, Some(30 * DAY));
    assert!(matches!(new_provisioner(ledger, ca, "web"), Err(LedgerError::Duplicate { .. })), "name taken");
    ledger.write(|tx| tx.insert_acme_eab_key(id, "kid-1", &[7; 32], NOW)).unwrap();
    assert!(matches!(
        ledger.write(|tx| tx.insert_acme_eab_key(id, "kid-1", &[8; 32], NOW)),
        Err(LedgerError::Duplicate { .. })
    ));
    let (key, hmac) = ledger.acme_eab_key("kid-1").unwrap().expect("eab key");
    assert_eq!((key.provisioner_id, hmac.as_slice()), (id, [7u8; 32].as_slice()));
    assert_eq!(ledger.acme_provisioner_by_id(id).unwrap().unwrap().eab_keys, (1, 1));
    let account = new_account(ledger, id, "thumb").unwrap();
    assert!(ledger.write(|tx| tx.bind_acme_eab_key("kid-1", account, NOW)).unwrap());
    assert!(
        !ledger.write(|tx| tx.bind_acme_eab_key("kid-1", account, NOW)).unwrap(),
        "an EAB key binds once"
    );
    assert_eq!(ledger.acme_eab_keys(id).unwrap()[0].account_id, Some(account));
    assert!(ledger.write(|tx| tx.remove_acme_provisioner(id, NOW + 1)).unwrap());
    assert!(!ledger.write(|tx| tx.remove_acme_provisioner(id, NOW + 2)).unwrap());
    assert!(ledger.acme_provisioner_by_name("web").unwrap().is_none(), "removed: not served");
    assert_eq!(
        ledger.acme_provisioner_by_id(id).unwrap().unwrap().removed_at,
        Some(NOW + 1),
        "history stays"
    );
    assert_eq!(ledger.acme_provisioners(true).unwrap().len(), 1);
    assert!(ledger.acme_provisioners(false).unwrap().is_empty());
    let again = new_provisioner(ledger, ca, "web").expect("a removed name can be used again");
    assert_ne!(again, id);
    assert_eq!(ledger.acme_account_by_id(account).unwrap().unwrap().provisioner_id, id);
}

fn acme_thumbprints_unique_per_provisioner(ledger: &mut dyn Ledger) {
    let ca = new_root(ledger);
    let web = new_provisioner(ledger, ca, "web").unwrap();
    let other = new_provisioner(ledger, ca, "other").unwrap();
    let account = new_account(ledger, web, "same-key").unwrap();
    assert!(matches!(new_account(ledger, web, "same-key"), Err(LedgerError::Duplicate { .. })));
    let elsewhere = new_account(ledger, other, "same-key").expect("another provisioner may hold the key");
    assert_ne!(account, elsewhere);
    let found = ledger.acme_account_by_thumbprint(web, "same-key").unwrap().unwrap();
    assert_eq!((found.id, found.status), (account, AccountStatus::Valid));
    assert_eq!(found.contacts, ["mailto:ops@example.com"]);
    assert!(
        ledger
            .write(|tx| tx.set_acme_account_status(account, AccountStatus::Valid, AccountStatus::Deactivated))
            .unwrap()
    );
    assert!(
        !ledger
            .write(|tx| tx.set_acme_account_status(account, AccountStatus::Valid, AccountStatus::Revoked))
            .unwrap(),
        "not at valid any more"
    );
    assert!(
        !ledger.write(|tx| tx.set_acme_account_contacts(account, &[])).unwrap(),
        "a deactivated account is frozen"
    );
    assert!(ledger.write(|tx| tx.set_acme_account_key(elsewhere, "new-key", "{}")).unwrap());
    assert!(matches!(ledger.write(|tx| tx.set_acme_account_key(account, "x", "{}")), Ok(false)));
    let second = new_account(ledger, other, "second").unwrap();
    assert!(
        matches!(
            ledger.write(|tx| tx.set_acme_account_key(second, "new-key", "{}")),
            Err(LedgerError::Duplicate { .. })
        ),
        "keyChange to a taken key"
    );
}

fn acme_order_round_trip(ledger: &mut dyn Ledger) {
    let ca = new_root(ledger);
    let web = new_provisioner(ledger, ca, "web").unwrap();
    let account = new_account(ledger, web, "k").unwrap();
    let (order, authzs, challenges) = new_order(ledger, account, "tok");
    let o = ledger.acme_order_by_id(order).unwrap().unwrap();
    assert_eq!((o.status, o.account_id, o.not_after), (OrderStatus::Pending, account, Some(NOW + 7 * DAY)));
    assert_eq!(o.identifiers[1], AcmeIdentifier::dns("*.svc.example.com"));
    let listed = ledger.acme_authorizations_of_order(order).unwrap();
    assert_eq!(listed.iter().map(|a| a.id).collect::<Vec<_>>(), authzs);
    assert!(listed[1].wildcard && listed[1].identifier.value == "svc.example.com");
    let by_token = ledger.acme_challenge_by_token("tok-1").unwrap().unwrap();
    assert_eq!(
        (by_token.id, by_token.kind, by_token.authorization_id),
        (challenges[1], ChallengeType::Dns01, authzs[1])
    );
    assert_eq!(ledger.acme_challenges_of_authorization(authzs[0]).unwrap().len(), 1);
    // Tokens are unique in the whole ledger.
    let dup = ledger.write(|tx| {
        tx.insert_acme_challenge(&NewAcmeChallenge {
            authorization_id: authzs[0],
            kind: ChallengeType::TlsAlpn01,
            token: "tok-0",
            now: NOW,
        })
    });
    assert!(matches!(dup, Err(LedgerError::Duplicate { .. })), "{dup:?}");
    // Updates only apply from the status the caller saw.
    let record = serde_json::json!({ "url": "http://a.svc.example.com/.well-known/acme-challenge/tok-0" });
    let to_processing = ChallengeUpdate {
        from: ChallengeStatus::Pending,
        to: ChallengeStatus::Processing,
        validated_at: None,
        error: None,
        validation_record: None,
    };
    assert!(ledger.write(|tx| tx.update_acme_challenge(challenges[0], &to_processing)).unwrap());
    assert!(!ledger.write(|tx| tx.update_acme_challenge(challenges[0], &to_processing)).unwrap(), "raced");
    let to_valid = ChallengeUpdate {
        from: ChallengeStatus::Processing,
        to: ChallengeStatus::Valid,
        validated_at: Some(NOW + 5),
        error: None,
        validation_record: Some(&record),
    };
    assert!(ledger.write(|tx| tx.update_acme_challenge(challenges[0], &to_valid)).unwrap());
    let c = ledger.acme_challenge_by_id(challenges[0]).unwrap().unwrap();
    assert_eq!(
        (c.status, c.validated_at, c.validation_record.as_ref()),
        (ChallengeStatus::Valid, Some(NOW + 5), Some(&record))
    );
    assert!(
        ledger
            .write(|tx| tx.set_acme_authorization_status(
                authzs[0],
                AuthorizationStatus::Pending,
                AuthorizationStatus::Valid
            ))
            .unwrap()
    );
    assert!(
        !ledger
            .write(|tx| tx.set_acme_authorization_status(
                authzs[0],
                AuthorizationStatus::Pending,
                AuthorizationStatus::Invalid
            ))
            .unwrap()
    );
    let problem =
        serde_json::json!({ "type": "urn:ietf:params:acme:error:unauthorized", "detail": "no TXT record" });
    assert!(
        ledger
            .write(|tx| tx.set_acme_order_status(
                order,
                OrderStatus::Pending,
                OrderStatus::Invalid,
                Some(&problem)
            ))
            .unwrap()
    );
    let o = ledger.acme_order_by_id(order).unwrap().unwrap();
    assert_eq!((o.status, o.error.as_ref()), (OrderStatus::Invalid, Some(&problem)));
    assert_eq!(ledger.acme_orders_of_account(account).unwrap().len(), 1);
}

fn acme_order_window_counts(ledger: &mut dyn Ledger) {
    let ca = new_root(ledger);
    let web = new_provisioner(ledger, ca, "web").unwrap();
    let account = new_account(ledger, web, "k").unwrap();
    assert_eq!(ledger.acme_order_window(account, NOW - DAY).unwrap(), AcmeOrderWindow::default());
    let (first, _, _) = new_order(ledger, account, "a");
    new_order(ledger, account, "b");
    assert!(
        ledger
            .write(|tx| tx.set_acme_order_status(first, OrderStatus::Pending, OrderStatus::Invalid, None))
            .unwrap()
    );
    let window = ledger.acme_order_window(account, NOW - 1).unwrap();
    assert_eq!(window, AcmeOrderWindow { orders: 2, oldest: Some(NOW), failed: 1, oldest_failed: Some(NOW) });
    assert_eq!(ledger.acme_order_window(account, NOW).unwrap().orders, 0, "created after `since` only");
    let other = new_account(ledger, web, "other").unwrap();
    assert_eq!(ledger.acme_order_window(other, NOW - 1).unwrap().orders, 0, "the account's own orders only");
}

fn acme_certificate_link(ledger: &mut dyn Ledger) {
    let ca = new_root(ledger);
    let web = new_provisioner(ledger, ca, "web").unwrap();
    let account = new_account(ledger, web, "k").unwrap();
    let (order, _, _) = new_order(ledger, account, "t");
    let cert = new_leaf(ledger, ca, 9, NOW + DAY).unwrap();
    assert!(
        !ledger.write(|tx| tx.link_acme_certificate(order, cert)).unwrap(),
        "a pending order takes no certificate"
    );
    ledger
        .write(|tx| tx.set_acme_order_status(order, OrderStatus::Pending, OrderStatus::Ready, None))
        .unwrap();
    ledger
        .write(|tx| tx.set_acme_order_status(order, OrderStatus::Ready, OrderStatus::Processing, None))
        .unwrap();
    assert!(ledger.write(|tx| tx.link_acme_certificate(order, cert)).unwrap());
    assert!(!ledger.write(|tx| tx.link_acme_certificate(order, cert)).unwrap(), "linked once");
    let o = ledger.acme_order_by_id(order).unwrap().unwrap();
    assert_eq!((o.status, o.certificate_id), (OrderStatus::Valid, Some(cert)));
    let link = ledger.acme_certificate_link(cert).unwrap().expect("link");
    assert_eq!((link.account_id, link.order_id, link.provisioner_name.as_str()), (account, order, "web"));
    assert_eq!(ledger.acme_certificates_of_provisioner(web).unwrap(), [cert]);
    let other = new_leaf(ledger, ca, 10, NOW + DAY).unwrap();
    assert!(ledger.acme_certificate_link(other).unwrap().is_none());
}

/// Every ACME row written is hashed into the chain as it now is; the replay and the rows agree.
fn acme_changes_are_chained(ledger: &mut dyn Ledger) {
    let ca = new_root(ledger);
    let web = new_provisioner(ledger, ca, "web").unwrap();
    ledger.write(|tx| tx.insert_acme_eab_key(web, "kid", &[1; 32], NOW)).unwrap();
    let account = new_account(ledger, web, "k").unwrap();
    ledger.write(|tx| tx.bind_acme_eab_key("kid", account, NOW)).unwrap();
    let (order, _, _) = new_order(ledger, account, "t");
    ledger
        .write(|tx| tx.set_acme_order_status(order, OrderStatus::Pending, OrderStatus::Invalid, None))
        .unwrap();
    let replay = super::replay(|v| ledger.scan_events(v)).unwrap();
    assert_eq!(replay.links.broken, None);
    let mut rows = std::collections::BTreeMap::new();
    ledger
        .acme_row_digests(&mut |table, id, digest| {
            rows.insert((table.to_string(), id), digest.to_string());
        })
        .unwrap();
    assert_eq!(
        rows.len(),
        1 + 1 + 1 + 1 + 2 + 2,
        "provisioner, EAB key, account, order, 2 authorizations, 2 challenges"
    );
    assert_eq!(replay.acme_rows, rows);
}
