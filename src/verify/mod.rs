//! `verify`: would a TLS peer accept this certificate, and if not, why? The layers are walked
//! in the order a peer checks them, stopping at the first that fails.

pub mod cert;
pub mod crypto;
pub mod hostname;
pub mod input;
pub mod names;
pub mod path;
pub mod policy;
pub mod problem;
pub mod revocation;

use std::fmt;

use path::{Abandoned, Anchor, Cert, Limits, Path};
use problem::Problem;
use revocation::RevocationSource;

use crate::engine::format_time;
use crate::x509::{OID_CLIENT_AUTH, OID_SERVER_AUTH};

const ANY_EXTENDED_KEY_USAGE: &str = "2.5.29.37.0";

/// What the certificate is to be accepted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Purpose {
    /// A TLS server (serverAuth).
    Server,
    /// A TLS client (clientAuth).
    Client,
}

impl Purpose {
    fn eku(self) -> &'static str {
        match self {
            Purpose::Server => OID_SERVER_AUTH,
            Purpose::Client => OID_CLIENT_AUTH,
        }
    }

    fn eku_name(self) -> &'static str {
        match self {
            Purpose::Server => "serverAuth",
            Purpose::Client => "clientAuth",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Purpose::Server => "server",
            Purpose::Client => "client",
        }
    }
}

/// Everything the verifier looks at; the command layer gathers it.
pub struct Request<'a> {
    /// The certificate, then whatever else the file held (sent along, as a peer would).
    pub presented: Vec<Vec<u8>>,
    /// Extra untrusted certificates (--chain).
    pub chain: Vec<Vec<u8>>,
    pub anchors: Vec<(String, Vec<u8>)>,
    /// Every CA of the home (to recognise a missing intermediate).
    pub known_cas: Vec<path::KnownCa>,
    pub purpose: Option<Purpose>,
    pub host: Option<&'a str>,
    pub at: i64,
    pub revocation: &'a dyn RevocationSource,
    /// CRLs given to check against (DER); they take the place of the home's for their CA.
    pub crls: Vec<Vec<u8>>,
    /// At most this many intermediates between the certificate and its anchor.
    pub max_intermediates: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Failed,
    Skipped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // pad, not write_str, so that "{:<8}" aligns the report's columns.
        f.pad(match self {
            Status::Ok => "ok",
            Status::Failed => "FAILED",
            Status::Skipped => "skipped",
        })
    }
}

pub struct Layer {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    pub problem: Option<Problem>,
    pub notes: Vec<String>,
}

pub struct Report {
    pub layers: Vec<Layer>,
    /// The path the verdict is about (accepted, or the one that came closest), leaf first.
    pub path: Vec<String>,
    pub anchor: Option<String>,
    /// Candidate paths given up on the way, and why.
    pub abandoned: Vec<Abandoned>,
    pub signature_checks: usize,
}

impl Report {
    pub fn accepted(&self) -> bool {
        self.layers.iter().all(|l| l.status != Status::Failed)
    }

    fn push(&mut self, name: &'static str, outcome: Result<Passed, Problem>) -> bool {
        let layer = match outcome {
            Ok(passed) => Layer {
                name,
                status: passed.status,
                detail: passed.detail,
                problem: None,
                notes: passed.notes,
            },
            Err(problem) => Layer {
                name,
                status: Status::Failed,
                detail: problem.to_string(),
                problem: Some(problem),
                notes: Vec::new(),
            },
        };
        let failed = layer.status == Status::Failed;
        self.layers.push(layer);
        !failed
    }
}

/// A layer that did not fail.
struct Passed {
    status: Status,
    detail: String,
    notes: Vec<String>,
}

impl Passed {
    fn ok(detail: String) -> Passed {
        Passed { status: Status::Ok, detail, notes: Vec::new() }
    }

    fn skipped(detail: &str) -> Passed {
        Passed { status: Status::Skipped, detail: detail.to_string(), notes: Vec::new() }
    }
}

/// The layers that depend on the path chosen, in order, with the rank path building uses to
/// tell which failed path came closest.
const PATH_LAYERS: [&str; 4] = ["validity", "constraints", "usage", "revocation"];

/// No ledger to ask: revocation comes from the CRLs given, as for a partner's chain.
pub struct NoLedger;

impl RevocationSource for NoLedger {
    fn lookup(
        &self,
        _issuer_der: &[u8],
        _serial: &crate::engine::serial::Serial,
    ) -> Option<revocation::Facts> {
        None
    }
}

/// Verifies a chain against anchors of its own, with no home: `verify CERT --chain … --trust …
/// --crl …` as a library call, true when every layer passes. `presented` is the certificate
/// and what was sent with it (DER), `anchors` the trusted certificates, `crls` the CRLs to
/// check (DER).
pub fn verify_with_anchors(
    presented: Vec<Vec<u8>>,
    chain: Vec<Vec<u8>>,
    anchors: Vec<Vec<u8>>,
    crls: Vec<Vec<u8>>,
    purpose: Option<Purpose>,
    host: Option<&str>,
    at: i64,
) -> bool {
    let anchors =
        anchors.into_iter().enumerate().map(|(n, der)| (format!("anchor {}", n + 1), der)).collect();
    verify(&Request {
        presented,
        chain,
        anchors,
        known_cas: Vec::new(),
        purpose,
        host,
        at,
        revocation: &NoLedger,
        crls,
        max_intermediates: None,
    })
    .accepted()
}

/// Walks the layers for `req`: parse, then path building (which judges every complete
/// candidate path with the path-dependent layers), then the layers of the path chosen.
pub fn verify(req: &Request<'_>) -> Report {
    let mut report = Report {
        layers: Vec::new(),
        path: Vec::new(),
        anchor: None,
        abandoned: Vec::new(),
        signature_checks: 0,
    };
    let (leaf, untrusted, ignored) = match parse(req) {
        Ok(parsed) => parsed,
        Err(problem) => {
            report.push("parse", Err(problem));
            return report;
        }
    };
    let mut parse_passed = parse_detail(&leaf);
    parse_passed.notes.extend(ignored);
    let anchors = anchors(req, &mut parse_passed.notes);
    report.push("parse", Ok(parse_passed));
    let limits = Limits {
        max_intermediates: req.max_intermediates.unwrap_or(path::DEFAULT_MAX_INTERMEDIATES),
        signature_budget: path::SIGNATURE_BUDGET,
    };
    let mut judge = |p: &Path| -> path::Judgement {
        let layers = path_layers(p, req);
        layers.iter().enumerate().find_map(|(rank, (name, outcome))| {
            outcome.as_ref().err().map(|problem| (rank, *name, problem.clone()))
        })
    };
    let built = path::build(&leaf, &untrusted, &anchors, &req.known_cas, &limits, &mut judge);
    report.signature_checks = built.signature_checks;
    report.abandoned = built.abandoned.clone();
    match built.accepted.clone().or_else(|| built.closest.as_ref().map(|(p, ..)| p.clone())) {
        Some(chosen) => report_path(&mut report, &built, &chosen, req),
        None => report_no_path(&mut report, &built, &leaf),
    }
    report
}

/// The trust anchors that parse; a note for each that does not.
fn anchors(req: &Request<'_>, notes: &mut Vec<String>) -> Vec<Anchor> {
    req.anchors
        .iter()
        .filter_map(|(name, der)| match Cert::from_der(der.clone()) {
            Ok(cert) => Some(Anchor { name: name.clone(), cert }),
            Err(problem) => {
                notes.push(format!("trust anchor {name} ignored: {problem}"));
                None
            }
        })
        .collect()
}

fn report_no_path(report: &mut Report, built: &path::Built, leaf: &Cert) {
    let problem =
        built.chain_problem.clone().unwrap_or(Problem::UnknownIssuer { issuer: leaf.info.issuer.clone() });
    report.path = vec![leaf.info.subject.clone()];
    report.layers.push(Layer {
        name: "chain",
        status: Status::Failed,
        detail: problem.to_string(),
        problem: Some(problem),
        notes: built.abandoned.iter().map(Abandoned::describe).collect(),
    });
}

/// The chain layer for the path chosen (with the candidates abandoned on the way), then its
/// other layers, host before revocation, up to the first that fails.
fn report_path(report: &mut Report, built: &path::Built, chosen: &Path, req: &Request<'_>) {
    report.path = chosen.subjects();
    report.anchor = Some(chosen.anchor.clone());
    let mut chain = chain_detail(chosen);
    // The path reported as failing is told by its own layer, not again as a note.
    let reported = built.accepted.is_none().then(|| chosen.subjects());
    chain.notes.extend(
        built
            .abandoned
            .iter()
            .filter(|a| Some(&a.path) != reported.as_ref() || a.layer == "chain")
            .map(Abandoned::describe),
    );
    report.push("chain", Ok(chain));
    for (name, outcome) in path_layers(chosen, req) {
        if name == "revocation" && !report.push("host", host(chosen, req.host)) {
            return;
        }
        if !report.push(name, outcome) {
            return;
        }
    }
}

/// The path-dependent layers of `path`, in order, up to the first that fails.
fn path_layers(path: &Path, req: &Request<'_>) -> Vec<(&'static str, Result<Passed, Problem>)> {
    let mut layers = Vec::new();
    for name in PATH_LAYERS {
        let outcome = match name {
            "validity" => validity(path, req.at),
            "constraints" => constraints(path, req.purpose),
            "usage" => usage(path, req.purpose),
            _ => revocation_layer(path, req.revocation, &req.crls, req.at),
        };
        let failed = outcome.is_err();
        layers.push((name, outcome));
        if failed {
            break;
        }
    }
    layers
}

/// The certificate, and the other certificates sent (those that cannot be read are left out,
/// with a note: a peer would not use them either).
fn parse(req: &Request<'_>) -> Result<(Cert, Vec<Cert>, Vec<String>), Problem> {
    let mut presented = req.presented.iter();
    let leaf_der = presented
        .next()
        .ok_or_else(|| Problem::Unparseable { reason: "the file holds no certificate".into() })?;
    let leaf = Cert::from_der(leaf_der.clone())?;
    let mut untrusted = Vec::new();
    let mut notes = Vec::new();
    for (index, der) in presented.chain(req.chain.iter()).enumerate() {
        match Cert::from_der(der.clone()) {
            Ok(cert) => untrusted.push(cert),
            Err(problem) => notes.push(format!("sent certificate #{} ignored: {problem}", index + 2)),
        }
    }
    Ok((leaf, untrusted, notes))
}

fn parse_detail(leaf: &Cert) -> Passed {
    Passed::ok(format!(
        "{}, serial {}, issued by {}",
        leaf.info.subject,
        leaf.info.serial.hex(),
        leaf.info.issuer
    ))
}

fn chain_detail(path: &Path) -> Passed {
    let names: Vec<&str> = path.certs.iter().map(|c| c.info.subject.as_str()).collect();
    Passed::ok(format!("{} (trusted: {}); every signature verifies", names.join(" -> "), path.anchor))
}

/// RFC 5280 6.1.3 (a)(2): every certificate, the anchor included, within its validity, both
/// ends inclusive.
fn validity(path: &Path, at: i64) -> Result<Passed, Problem> {
    for cert in &path.certs {
        let info = &cert.info;
        if at < info.not_before {
            return Err(Problem::NotYetValid {
                subject: info.subject.clone(),
                not_before: info.not_before,
                now: at,
            });
        }
        if at > info.not_after {
            return Err(Problem::Expired {
                subject: info.subject.clone(),
                not_after: info.not_after,
                now: at,
            });
        }
    }
    let leaf = &path.certs[0].info;
    Ok(Passed::ok(format!(
        "all {} certificates valid at {}; the end entity until {} ({} days left)",
        path.certs.len(),
        format_time(at),
        format_time(leaf.not_after),
        leaf.not_after.saturating_sub(at) / 86_400
    )))
}

fn constraints(path: &Path, purpose: Option<Purpose>) -> Result<Passed, Problem> {
    let mut notes = Vec::new();
    let last = path.certs.len() - 1;
    for (index, cert) in path.certs.iter().enumerate().skip(1) {
        let info = &cert.info;
        if index == last && info.version < 3 && cert.is_self_issued() {
            notes.push(format!(
                "the anchor \"{}\" is a version {} certificate: trusted as a CA only because it was given as a trust anchor",
                info.subject, info.version
            ));
        } else {
            ca_checks(path, index)?;
        }
    }
    for (index, cert) in path.certs.iter().enumerate() {
        let info = &cert.info;
        if let Some(defect) = cert.defects.first() {
            return Err(Problem::Defect { subject: info.subject.clone(), reason: defect.clone() });
        }
        if index < last && info.version == 3 && info.authority_key_id.is_none() {
            return Err(Problem::MissingAki { subject: info.subject.clone() });
        }
    }
    let mut comparisons = 0;
    for index in 1..path.certs.len() {
        name_constraints(path, index, &mut comparisons)?;
    }
    policy::check(path).map_err(|reason| Problem::Policy { reason })?;
    let leaf = &path.certs[0];
    if purpose.is_some() && leaf.is_ca() {
        return Err(Problem::CaAsEndEntity { subject: leaf.info.subject.clone() });
    }
    let mut passed =
        Passed::ok("basicConstraints, keyUsage, pathLen and name constraints hold along the chain".into());
    passed.notes = notes;
    Ok(passed)
}

/// RFC 5280 6.1.4 (k), (l), (m), (n) for the CA at `index`.
fn ca_checks(path: &Path, index: usize) -> Result<(), Problem> {
    let ca = &path.certs[index];
    let info = &ca.info;
    if info.version < 3 {
        return Err(Problem::NotV3Ca { subject: info.subject.clone(), version: info.version });
    }
    if !ca.is_ca() {
        return Err(Problem::IssuerNotCa { subject: info.subject.clone() });
    }
    if info.key_usage.is_some() && !ca.has_key_usage("keyCertSign") {
        return Err(Problem::NoKeyCertSign { subject: info.subject.clone() });
    }
    let below = path.certs[1..index].iter().filter(|c| !c.is_self_issued()).count();
    if let Some(limit) = info.basic_constraints.as_ref().and_then(|bc| bc.value.path_len)
        && below > limit as usize
    {
        return Err(Problem::PathLength { ca: info.subject.clone(), path_len: limit, below });
    }
    Ok(())
}

/// Name-constraint comparisons one path may cost (Go's limit).
const MAX_CONSTRAINT_COMPARISONS: usize = 250_000;

/// RFC 5280 6.1.3 (b), (c): the constraints of the CA at `index` hold for every certificate
/// below it, except self-issued intermediates.
fn name_constraints(path: &Path, index: usize, comparisons: &mut usize) -> Result<(), Problem> {
    let ca = &path.certs[index];
    let Some(constraints) = &ca.constraints else { return Ok(()) };
    let constraints = constraints.as_ref().map_err(|reason| Problem::UnusableConstraints {
        ca: ca.info.subject.clone(),
        reason: reason.clone(),
    })?;
    for (below, cert) in path.certs[..index].iter().enumerate() {
        if below > 0 && cert.is_self_issued() {
            continue;
        }
        for name in &cert.names {
            if below > 0 && matches!(name, names::Asserted::CommonName(_)) {
                continue;
            }
            *comparisons += constraints.size();
            if *comparisons > MAX_CONSTRAINT_COMPARISONS {
                return Err(Problem::UnusableConstraints {
                    ca: ca.info.subject.clone(),
                    reason: format!(
                        "checking them would take more than {MAX_CONSTRAINT_COMPARISONS} name comparisons (as Go, a verifier gives up rather than spin)"
                    ),
                });
            }
            constraints.allows(name).map_err(|reason| Problem::NameConstraint {
                ca: ca.info.subject.clone(),
                subject: cert.info.subject.clone(),
                reason,
            })?;
        }
    }
    Ok(())
}

/// extKeyUsage as TLS stacks apply it: the end entity must list the purpose itself; a CA that
/// lists purposes must include it (or anyExtendedKeyUsage), or it cannot vouch for it.
fn usage(path: &Path, purpose: Option<Purpose>) -> Result<Passed, Problem> {
    let Some(purpose) = purpose else {
        return Ok(Passed::skipped("no --purpose given"));
    };
    for (index, cert) in path.certs.iter().enumerate() {
        let Some(eku) = &cert.info.extended_key_usage else { continue };
        let allowed =
            eku.value.iter().any(|oid| oid == purpose.eku() || (index > 0 && oid == ANY_EXTENDED_KEY_USAGE));
        if !allowed {
            return Err(Problem::WrongExtendedKeyUsage {
                subject: cert.info.subject.clone(),
                have: eku_names(&eku.value),
                need: purpose.eku_name(),
                purpose: purpose.as_str(),
            });
        }
    }
    let leaf = &path.certs[0].info;
    if let Some(ku) = &leaf.key_usage {
        let rsa = path.certs[0].key.as_ref().is_ok_and(crypto::KeyKind::is_rsa);
        let ok = ku.value.contains(&"digitalSignature") || (rsa && ku.value.contains(&"keyEncipherment"));
        if !ok {
            return Err(Problem::WrongKeyUsage {
                subject: leaf.subject.clone(),
                have: ku.value.join(", "),
                need: "digitalSignature",
            });
        }
    }
    Ok(Passed::ok(format!("extKeyUsage and keyUsage allow a TLS {}", purpose.as_str())))
}

fn eku_names(oids: &[String]) -> String {
    oids.iter()
        .map(|oid| match oid.as_str() {
            OID_SERVER_AUTH => "serverAuth".to_string(),
            OID_CLIENT_AUTH => "clientAuth".to_string(),
            ANY_EXTENDED_KEY_USAGE => "anyExtendedKeyUsage".to_string(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn host(path: &Path, host: Option<&str>) -> Result<Passed, Problem> {
    let Some(host) = host else {
        return Ok(Passed::skipped("no --host given"));
    };
    let sans = path.certs[0].info.subject_alt_names.as_ref().map(|s| s.value.clone()).unwrap_or_default();
    if hostname::matches(host, &sans) {
        Ok(Passed::ok(format!("{host} matches the certificate's subjectAltName")))
    } else {
        Err(Problem::HostMismatch {
            host: host.to_string(),
            names: if sans.is_empty() { "it has no subjectAltName".into() } else { sans.join(", ") },
        })
    }
}

fn revocation_layer(
    path: &Path,
    source: &dyn RevocationSource,
    crls: &[Vec<u8>],
    at: i64,
) -> Result<Passed, Problem> {
    let mut notes = Vec::new();
    let mut checked = false;
    for pair in path.certs.windows(2) {
        let outcome = revocation::check(&pair[0], &pair[1], source, crls, at)?;
        checked |= outcome.checked;
        notes.extend(outcome.notes);
    }
    if !checked {
        return Ok(Passed {
            status: Status::Skipped,
            detail: "not checked: no CRL or ledger speaks for any CA of the path".into(),
            notes,
        });
    }
    Ok(Passed { status: Status::Ok, detail: "no certificate in the chain is revoked".into(), notes })
}
