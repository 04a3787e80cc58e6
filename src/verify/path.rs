//! Path building: from the end-entity certificate up to a trust anchor, through the
//! intermediates the peer was given, checking each signature on the way.

use super::problem::Problem;
use crate::x509::CertInfo;

/// Longest chain we will try to build (leaf, intermediates, anchor).
const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone)]
pub struct Cert {
    pub der: Vec<u8>,
    pub info: CertInfo,
}

impl Cert {
    pub fn from_der(der: Vec<u8>) -> Result<Cert, Problem> {
        let info = CertInfo::from_der(&der).map_err(|e| Problem::Unparseable { reason: e.to_string() })?;
        Ok(Cert { der, info })
    }

    /// Whether `issuer` could have signed this: its subject is our issuer name and, when both
    /// carry key identifiers, its SKI is our AKI (two CAs may share a name, never a key).
    fn issued(&self, issuer: &Cert) -> bool {
        self.info.issuer_der == issuer.info.subject_der
            && self.key_id_matches(issuer.info.subject_key_id.as_deref())
    }

    fn key_id_matches(&self, issuer_ski: Option<&[u8]>) -> bool {
        match (self.info.authority_key_id.as_deref(), issuer_ski) {
            (Some(aki), Some(ski)) => aki == ski,
            _ => true,
        }
    }
}

/// A CA the verifier trusts, by name.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub name: String,
    pub cert: Cert,
}

/// A verified chain: `certs[0]` is the end entity, the last one the trust anchor.
#[derive(Debug)]
pub struct Path {
    pub certs: Vec<Cert>,
    pub anchor: String,
}

/// A CA of the home: its subject (DER) and subjectKeyIdentifier.
pub type KnownCa = (Vec<u8>, Option<Vec<u8>>);

/// Builds and checks the chain. `known_cas` are the CAs of the home, to tell "intermediate
/// not sent" apart from "unknown CA".
pub fn build(
    leaf: &Cert,
    untrusted: &[Cert],
    anchors: &[Anchor],
    known_cas: &[KnownCa],
) -> Result<Path, Problem> {
    let mut certs = vec![leaf.clone()];
    let mut bad_signature = None;
    'climb: while certs.len() < MAX_DEPTH {
        let Some(current) = certs.last().cloned() else { break };
        if let Some(anchor) = anchors.iter().find(|a| a.cert.der == current.der) {
            return Ok(Path { certs, anchor: anchor.name.clone() });
        }
        for anchor in anchors.iter().filter(|a| current.issued(&a.cert)) {
            match current.info.signed.verify(&anchor.cert.info.spki_der) {
                Ok(()) => {
                    certs.push(anchor.cert.clone());
                    return Ok(Path { certs, anchor: anchor.name.clone() });
                }
                Err(_) => bad_signature = Some(signature_problem(&current, &anchor.cert)),
            }
        }
        for candidate in untrusted.iter().filter(|c| current.issued(c)) {
            if certs.iter().any(|c| c.der == candidate.der) {
                continue;
            }
            match current.info.signed.verify(&candidate.info.spki_der) {
                Ok(()) => {
                    certs.push(candidate.clone());
                    continue 'climb;
                }
                Err(_) => bad_signature = Some(signature_problem(&current, candidate)),
            }
        }
        if let Some(problem) = bad_signature {
            return Err(problem);
        }
        let known = known_cas.iter().any(|(subject, ski)| {
            *subject == current.info.issuer_der && current.key_id_matches(ski.as_deref())
        });
        return Err(if known {
            Problem::IntermediateMissing { issuer: current.info.issuer.clone() }
        } else {
            Problem::UnknownIssuer { issuer: current.info.issuer.clone() }
        });
    }
    Err(Problem::UnknownIssuer { issuer: certs.last().map(|c| c.info.issuer.clone()).unwrap_or_default() })
}

fn signature_problem(cert: &Cert, issuer: &Cert) -> Problem {
    Problem::BadSignature { subject: cert.info.subject.clone(), issuer: issuer.info.subject.clone() }
}
