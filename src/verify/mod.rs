//! `verify`: would a TLS peer accept this certificate, and if not, why? The layers are walked
//! in the order a peer checks them, stopping at the first that fails.

pub mod hostname;
pub mod input;
pub mod path;
pub mod problem;
pub mod revocation;

use std::fmt;

use path::{Anchor, Cert, Path};
use problem::Problem;
use revocation::RevocationSource;

use crate::engine::format_time;
use crate::x509::{OID_CLIENT_AUTH, OID_SERVER_AUTH};

const ANY_EXTENDED_KEY_USAGE: &str = "2.5.29.37.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Purpose {
    Server,
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

pub fn verify(req: &Request<'_>) -> Report {
    let mut report = Report { layers: Vec::new() };
    let parsed = parse(req);
    let leaf = match &parsed {
        Ok((leaf, _)) => Some(leaf.clone()),
        Err(_) => None,
    };
    if !report.push("parse", parsed.as_ref().map(|(leaf, _)| parse_detail(leaf)).map_err(Clone::clone)) {
        return report;
    }
    let (Some(leaf), Ok((_, untrusted))) = (leaf, parsed) else { return report };
    let anchors: Vec<Anchor> = req
        .anchors
        .iter()
        .filter_map(|(name, der)| {
            Cert::from_der(der.clone()).ok().map(|cert| Anchor { name: name.clone(), cert })
        })
        .collect();
    let built = path::build(&leaf, &untrusted, &anchors, &req.known_cas);
    let chain_outcome = built.as_ref().map(chain_detail).map_err(Clone::clone);
    if !report.push("chain", chain_outcome) {
        return report;
    }
    let Ok(path) = built else { return report };
    let _ = report.push("validity", validity(&path, req.at))
        && report.push("constraints", constraints(&path, req.purpose))
        && report.push("usage", usage(&path, req.purpose))
        && report.push("host", host(&path, req.host))
        && report.push("revocation", revocation_layer(&path, req.revocation, req.at));
    report
}

fn parse(req: &Request<'_>) -> Result<(Cert, Vec<Cert>), Problem> {
    let mut presented = req.presented.iter();
    let leaf_der = presented
        .next()
        .ok_or_else(|| Problem::Unparseable { reason: "the file holds no certificate".into() })?;
    let leaf = Cert::from_der(leaf_der.clone())?;
    let mut untrusted = Vec::new();
    for der in presented.chain(req.chain.iter()) {
        untrusted.push(Cert::from_der(der.clone())?);
    }
    Ok((leaf, untrusted))
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
        (leaf.not_after - at) / 86_400
    )))
}

fn constraints(path: &Path, purpose: Option<Purpose>) -> Result<Passed, Problem> {
    let leaf = &path.certs[0];
    let leaf_is_ca = leaf.info.basic_constraints.as_ref().is_some_and(|bc| bc.value.ca);
    if purpose.is_some() && leaf_is_ca && path.certs.len() > 1 {
        return Err(Problem::CaAsEndEntity { subject: leaf.info.subject.clone() });
    }
    for (index, ca) in path.certs.iter().enumerate().skip(1) {
        let info = &ca.info;
        let is_ca = info.basic_constraints.as_ref().is_some_and(|bc| bc.value.ca);
        let can_sign = info.key_usage.as_ref().is_none_or(|ku| ku.value.contains(&"keyCertSign"));
        if !is_ca || !can_sign {
            return Err(Problem::IssuerNotCa { subject: info.subject.clone() });
        }
        let below = path.certs[1..index].iter().filter(|c| !c.info.is_self_issued()).count();
        if let Some(limit) = info.basic_constraints.as_ref().and_then(|bc| bc.value.path_len)
            && below > limit as usize
        {
            return Err(Problem::PathLength { ca: info.subject.clone(), path_len: limit, below });
        }
        if let Some(permitted) = &info.permitted_dns {
            check_name_constraints(leaf, &info.subject, permitted)?;
        }
    }
    Ok(Passed::ok("basicConstraints, pathLen and name constraints hold along the chain".into()))
}

fn check_name_constraints(leaf: &Cert, ca: &str, permitted: &[String]) -> Result<(), Problem> {
    let names = leaf.info.subject_alt_names.as_ref().map(|s| s.value.clone()).unwrap_or_default();
    for name in names.iter().filter_map(|s| s.strip_prefix("DNS:")) {
        if !permitted.iter().any(|p| crate::engine::policy::dns_name_within(name, p)) {
            return Err(Problem::NameConstraint {
                name: name.to_string(),
                ca: ca.to_string(),
                permitted: permitted.join(", "),
            });
        }
    }
    Ok(())
}

fn usage(path: &Path, purpose: Option<Purpose>) -> Result<Passed, Problem> {
    let Some(purpose) = purpose else {
        return Ok(Passed::skipped("no --purpose given"));
    };
    for cert in &path.certs {
        let Some(eku) = &cert.info.extended_key_usage else { continue };
        let allowed = eku.value.iter().any(|oid| oid == purpose.eku() || oid == ANY_EXTENDED_KEY_USAGE);
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
        let rsa = leaf.spki_der.windows(9).any(|w| w == RSA_ENCRYPTION_OID_DER);
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

/// The DER contents of the rsaEncryption OID (1.2.840.113549.1.1.1).
const RSA_ENCRYPTION_OID_DER: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

fn eku_names(oids: &[String]) -> String {
    oids.iter()
        .map(|oid| match oid.as_str() {
            OID_SERVER_AUTH => "serverAuth".to_string(),
            OID_CLIENT_AUTH => "clientAuth".to_string(),
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

fn revocation_layer(path: &Path, source: &dyn RevocationSource, at: i64) -> Result<Passed, Problem> {
    let mut notes = Vec::new();
    for pair in path.certs.windows(2) {
        let checked = revocation::check(&pair[0], &pair[1], source, at)?;
        notes.extend(checked.notes);
    }
    Ok(Passed { status: Status::Ok, detail: "no certificate in the chain is revoked".into(), notes })
}
