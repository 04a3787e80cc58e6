//! Path building, as webpki, Go and BoringSSL do it: from the end-entity certificate up to a
//! trust anchor, trying every candidate issuer (by name, then key identifier) among the anchors
//! and the certificates that were sent, depth first, backing out of a candidate that fails
//! (a bad signature, an expired cross-sign, a constraint it breaks) and trying the next one.
//! Loops, depth and the number of signature checks are bounded so that no bundle can make the
//! search spin.

use std::collections::HashMap;

pub use super::cert::Cert;
use super::crypto;
use super::problem::Problem;

/// Signature checks one verification may spend (webpki spends at most 100).
pub const SIGNATURE_BUDGET: usize = 100;
/// Partial paths one verification may extend.
const STEP_BUDGET: usize = 2_000;
/// Abandoned paths worth telling about.
const MAX_ABANDONED_REPORTED: usize = 12;
/// Intermediates allowed between the certificate and its anchor unless told otherwise.
pub const DEFAULT_MAX_INTERMEDIATES: usize = 8;

/// A CA the verifier trusts, by name.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub name: String,
    pub cert: Cert,
}

/// A chain to an anchor: `certs[0]` is the end entity, the last one the trust anchor.
#[derive(Debug, Clone)]
pub struct Path {
    pub certs: Vec<Cert>,
    pub anchor: String,
}

impl Path {
    pub fn subjects(&self) -> Vec<String> {
        self.certs.iter().map(|c| c.info.subject.clone()).collect()
    }
}

/// A CA of the home: its subject (DER) and subjectKeyIdentifier.
pub type KnownCa = (Vec<u8>, Option<Vec<u8>>);

/// A candidate path given up, and why.
#[derive(Debug, Clone)]
pub struct Abandoned {
    pub path: Vec<String>,
    pub layer: &'static str,
    pub problem: Problem,
}

impl Abandoned {
    pub fn describe(&self) -> String {
        format!("tried {}: {} ({})", self.path.join(" -> "), self.problem, self.layer)
    }
}

/// How a complete path fared with the later layers: None when it passes, else the rank of the
/// layer that refused it (later layers rank higher: that path came closest), the layer and why.
pub type Judgement = Option<(usize, &'static str, Problem)>;

/// What the search found.
pub struct Built {
    /// The first path every layer accepts.
    pub accepted: Option<Path>,
    /// Otherwise the complete path that came closest, and what refused it.
    pub closest: Option<(Path, usize, &'static str, Problem)>,
    /// Why no complete path exists at all (when none does).
    pub chain_problem: Option<Problem>,
    pub abandoned: Vec<Abandoned>,
    pub signature_checks: usize,
}

pub struct Limits {
    pub max_intermediates: usize,
    pub signature_budget: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_intermediates: DEFAULT_MAX_INTERMEDIATES, signature_budget: SIGNATURE_BUDGET }
    }
}

/// Builds paths from `leaf` to any of `anchors` through `untrusted`, judging each complete one
/// with `judge`, until one passes or every candidate is spent.
pub fn build(
    leaf: &Cert,
    untrusted: &[Cert],
    anchors: &[Anchor],
    known_cas: &[KnownCa],
    limits: &Limits,
    judge: &mut dyn FnMut(&Path) -> Judgement,
) -> Built {
    let mut search = Search {
        untrusted,
        anchors,
        limits,
        judge,
        signatures: 0,
        steps: 0,
        cache: HashMap::new(),
        abandoned: Vec::new(),
        closest: None,
        dead_end: None,
        exhausted: None,
    };
    let accepted = match anchors.iter().find(|a| a.cert.der == leaf.der) {
        Some(anchor) => search.complete(Path { certs: vec![leaf.clone()], anchor: anchor.name.clone() }),
        None => search.extend(&mut vec![leaf]),
    };
    let chain_problem = match (&accepted, &search.closest) {
        (None, None) => Some(
            search
                .exhausted
                .clone()
                .or(search.dead_end.clone().map(|(_, p)| p))
                .unwrap_or_else(|| missing_issuer(leaf, known_cas)),
        ),
        _ => None,
    };
    let mut abandoned = search.abandoned;
    if let Some(problem) = &search.exhausted
        && accepted.is_none()
    {
        abandoned.push(Abandoned {
            path: vec![leaf.info.subject.clone()],
            layer: "chain",
            problem: problem.clone(),
        });
    }
    Built { accepted, closest: search.closest, chain_problem, abandoned, signature_checks: search.signatures }
}

struct Search<'a, 'j> {
    untrusted: &'a [Cert],
    anchors: &'a [Anchor],
    limits: &'a Limits,
    judge: &'j mut dyn FnMut(&Path) -> Judgement,
    signatures: usize,
    steps: usize,
    cache: HashMap<(String, String), Result<(), crypto::SignatureFailure>>,
    abandoned: Vec<Abandoned>,
    closest: Option<(Path, usize, &'static str, Problem)>,
    /// The longest partial path that led nowhere, and why.
    dead_end: Option<(usize, Problem)>,
    exhausted: Option<Problem>,
}

impl<'a> Search<'a, '_> {
    fn extend(&mut self, path: &mut Vec<&'a Cert>) -> Option<Path> {
        self.steps += 1;
        if self.steps > STEP_BUDGET {
            self.exhausted
                .get_or_insert(Problem::SearchBudget { what: format!("{STEP_BUDGET} partial paths") });
        }
        if self.exhausted.is_some() {
            return None;
        }
        let current: &'a Cert = path.last().copied()?;
        let mut any_candidate = false;
        for anchor in self.anchors.iter().filter(|a| current.named_by(&a.cert)) {
            any_candidate = true;
            if path.iter().any(|c| c.same_entity(&anchor.cert)) {
                continue;
            }
            if let Err(problem) = self.signature(current, &anchor.cert) {
                self.give_up(path, Some(&anchor.cert), problem);
                continue;
            }
            let mut certs: Vec<Cert> = path.iter().map(|c| (*c).clone()).collect();
            certs.push(anchor.cert.clone());
            if let Some(found) = self.complete(Path { certs, anchor: anchor.name.clone() }) {
                return Some(found);
            }
            if self.exhausted.is_some() {
                return None;
            }
        }
        let candidates = self.untrusted_candidates(current, path);
        if !candidates.is_empty() {
            any_candidate = true;
            if path.len() > self.limits.max_intermediates {
                let problem = Problem::TooDeep { max: self.limits.max_intermediates };
                self.give_up(path, None, problem);
                return None;
            }
        }
        for candidate in candidates {
            if let Err(problem) = self.signature(current, candidate) {
                self.give_up(path, Some(candidate), problem);
                if self.exhausted.is_some() {
                    return None;
                }
                continue;
            }
            path.push(candidate);
            let found = self.extend(path);
            path.pop();
            if found.is_some() || self.exhausted.is_some() {
                return found;
            }
        }
        if !any_candidate && path.len() > 1 {
            let problem = Problem::UnknownIssuer { issuer: current.info.issuer.clone() };
            self.give_up(path, None, problem);
        }
        None
    }

    /// The sent certificates that could have issued `current`, best first: key identifiers
    /// that agree, then ones valid longest. Copies of an anchor and certificates already on
    /// the path (a loop) are left out.
    fn untrusted_candidates(&self, current: &Cert, path: &[&Cert]) -> Vec<&'a Cert> {
        let mut candidates: Vec<&'a Cert> = self
            .untrusted
            .iter()
            .filter(|c| current.named_by(c))
            .filter(|c| !path.iter().any(|p| p.same_entity(c)))
            .filter(|c| !self.anchors.iter().any(|a| a.cert.same_entity(c)))
            .collect();
        candidates.dedup_by(|a, b| a.der == b.der);
        candidates.sort_by_key(|c| (!current.key_id_confirmed(c), std::cmp::Reverse(c.info.not_after)));
        candidates
    }

    fn complete(&mut self, path: Path) -> Option<Path> {
        match (self.judge)(&path) {
            None => Some(path),
            Some((rank, layer, problem)) => {
                self.record(Abandoned { path: path.subjects(), layer, problem: problem.clone() });
                if self.closest.as_ref().is_none_or(|(_, best, _, _)| rank > *best) {
                    self.closest = Some((path, rank, layer, problem));
                }
                None
            }
        }
    }

    fn signature(&mut self, cert: &Cert, issuer: &Cert) -> Result<(), Problem> {
        let key =
            (cert.info.fingerprint_sha256.clone(), crate::x509::fingerprint_sha256(&issuer.info.spki_der));
        let outcome = match self.cache.get(&key) {
            Some(outcome) => outcome.clone(),
            None => {
                if self.signatures >= self.limits.signature_budget {
                    let problem = Problem::SearchBudget {
                        what: format!("{} signature checks", self.limits.signature_budget),
                    };
                    self.exhausted = Some(problem.clone());
                    return Err(problem);
                }
                self.signatures += 1;
                let signed = &cert.info.signed;
                let outcome = crypto::verify(
                    &issuer.info.spki_der,
                    &signed.algorithm,
                    cert.signature_parameters.as_deref(),
                    &signed.message,
                    &signed.value,
                );
                self.cache.insert(key, outcome.clone());
                outcome
            }
        };
        outcome.map_err(|why| Problem::BadSignature {
            subject: cert.info.subject.clone(),
            issuer: issuer.info.subject.clone(),
            reason: why.to_string(),
        })
    }

    fn give_up(&mut self, path: &[&Cert], candidate: Option<&Cert>, problem: Problem) {
        let mut names: Vec<String> = path.iter().map(|c| c.info.subject.clone()).collect();
        if let Some(candidate) = candidate {
            names.push(candidate.info.subject.clone());
        }
        let depth = names.len();
        if self.dead_end.as_ref().is_none_or(|(best, _)| depth > *best) {
            self.dead_end = Some((depth, problem.clone()));
        }
        self.record(Abandoned { path: names, layer: "chain", problem });
    }

    fn record(&mut self, abandoned: Abandoned) {
        if self.abandoned.len() < MAX_ABANDONED_REPORTED {
            self.abandoned.push(abandoned);
        }
    }
}

fn missing_issuer(leaf: &Cert, known_cas: &[KnownCa]) -> Problem {
    let known = known_cas
        .iter()
        .any(|(subject, ski)| *subject == leaf.info.issuer_der && leaf.key_id_matches(ski.as_deref()));
    if known {
        Problem::IntermediateMissing { issuer: leaf.info.issuer.clone() }
    } else {
        Problem::UnknownIssuer { issuer: leaf.info.issuer.clone() }
    }
}
