//! Revocation: what the ledger says, and what the CA's latest CRL says (and whether that CRL
//! is itself signed, current and usable, since peers that check CRLs need all three).

use super::path::Cert;
use super::problem::Problem;
use crate::engine::serial::Serial;
use crate::x509::CrlInfo;

/// What the home knows about a certificate issued by one of its CAs.
#[derive(Debug, Clone)]
pub struct Facts {
    pub ca_name: String,
    /// None when the ledger has no record of this serial.
    pub ledger: Option<LedgerState>,
    pub latest_crl: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub enum LedgerState {
    Valid,
    /// The issuer is not a CA of this home: there is no ledger to ask, only a given CRL.
    NotAHomeCa,
    Revoked {
        at: i64,
        reason: String,
    },
}

/// Where the verifier looks up revocation; the command layer implements it over the ledger.
pub trait RevocationSource {
    /// Facts about `serial` issued by the CA whose certificate is `issuer_der`; None when that
    /// CA is not one of this home's.
    fn lookup(&self, issuer_der: &[u8], serial: &Serial) -> Option<Facts>;
}

/// The outcome for one certificate, with notes that do not make a peer refuse it.
pub struct Checked {
    pub notes: Vec<String>,
}

pub fn check(cert: &Cert, issuer: &Cert, source: &dyn RevocationSource, at: i64) -> Result<Checked, Problem> {
    let subject = cert.info.subject.clone();
    let serial = cert.info.serial.hex();
    let Some(facts) = source.lookup(&issuer.der, &cert.info.serial) else {
        return Ok(Checked {
            notes: vec![format!("{subject}: issuer is not a CA of this home; revocation not checked")],
        });
    };
    let mut notes = Vec::new();
    match &facts.ledger {
        Some(LedgerState::Revoked { at: revoked_at, reason }) => {
            return Err(Problem::Revoked {
                subject,
                serial,
                revoked_at: *revoked_at,
                reason: reason.clone(),
                origin: "recorded in the ledger".into(),
            });
        }
        Some(LedgerState::Valid | LedgerState::NotAHomeCa) => {}
        None => notes.push(format!("{subject}: serial {serial} is not in this home's ledger")),
    }
    match &facts.latest_crl {
        None => notes.push(format!(
            "{} has published no CRL yet: peers that check CRLs refuse its certificates (run `pkictl crl --ca \"{}\"`)",
            facts.ca_name, facts.ca_name
        )),
        Some(der) => {
            let note = check_crl(der, cert, issuer, &facts.ca_name, at)?;
            notes.push(note);
        }
    }
    Ok(Checked { notes })
}

fn check_crl(der: &[u8], cert: &Cert, issuer: &Cert, ca: &str, at: i64) -> Result<String, Problem> {
    let unusable = |reason: String| Problem::CrlUnusable { ca: ca.to_string(), reason };
    let crl = CrlInfo::from_der(der).map_err(|e| unusable(e.to_string()))?;
    crl.signed.verify(&issuer.info.spki_der).map_err(|e| unusable(format!("its signature: {e}")))?;
    if crl.issuer_der != issuer.info.subject_der {
        return Err(unusable("it names another issuer".into()));
    }
    if crl.this_update > at {
        return Err(Problem::CrlNotYetValid {
            ca: ca.to_string(),
            number: crl.number,
            this_update: crl.this_update,
            now: at,
        });
    }
    let next_update = crl.next_update.ok_or_else(|| unusable("it has no nextUpdate".into()))?;
    if next_update <= at {
        return Err(Problem::CrlExpired { ca: ca.to_string(), number: crl.number, next_update, now: at });
    }
    if let Some((_, revoked_at)) = crl.entries.iter().find(|(serial, _)| *serial == cert.info.serial) {
        return Err(Problem::Revoked {
            subject: cert.info.subject.clone(),
            serial: cert.info.serial.hex(),
            revoked_at: *revoked_at,
            reason: "listed".into(),
            origin: format!("on CRL #{} of {ca}", crl.number),
        });
    }
    Ok(format!(
        "not on CRL #{} of {ca}, current until {}",
        crl.number,
        crate::engine::format_time(next_update)
    ))
}
