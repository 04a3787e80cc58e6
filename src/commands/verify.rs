//! `pkictl verify CERT`: say, layer by layer, whether and why a TLS peer would accept CERT.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Context, Outcome, print_json};
use crate::engine::serial::Serial;
use crate::error::{Error, Result};
use crate::home::{self, Home};
use crate::ledger::{CertSelector, Ledger};
use crate::verify::path::KnownCa;
use crate::verify::revocation::{Facts, LedgerState, RevocationSource};
use crate::verify::{self, Purpose, Report, Request, Status};

pub struct VerifyArgs<'a> {
    pub cert: &'a Path,
    pub chain: Option<&'a PathBuf>,
    pub ca: Option<&'a str>,
    pub trust: Option<&'a PathBuf>,
    pub crls: &'a [PathBuf],
    pub purpose: Option<Purpose>,
    pub host: Option<&'a str>,
    pub at: Option<&'a str>,
    pub max_depth: Option<usize>,
}

pub fn run(ctx: &Context, args: &VerifyArgs<'_>) -> Result<Outcome> {
    let at = match args.at {
        Some(text) => parse_time(text)?,
        None => crate::engine::now().unix_timestamp(),
    };
    let presented = certificates_in(args.cert)?;
    let chain = match args.chain {
        Some(path) => certificates_in(path)?,
        None => Vec::new(),
    };
    let given_anchors = match args.trust {
        Some(path) => Some(anchors_in(path)?),
        None => None,
    };
    let crls = args.crls.iter().map(|path| crls_in(path)).collect::<Result<Vec<_>>>()?.concat();
    // A partner's anchors stand alone: no home is opened, so none can interfere.
    let ledger = match (&given_anchors, Home::open(&ctx.home)) {
        (Some(_), _) => None,
        (None, Ok(home)) => Some(home.open_ledger(crate::ledger::OpenMode::ReadOnly)?),
        (None, Err(_)) if args.ca.is_none() => None,
        (None, Err(e)) => return Err(e),
    };
    let (anchors, known_cas) = match given_anchors {
        Some(anchors) => (anchors, Vec::new()),
        None => trust(ledger.as_deref(), args.ca, &presented, &chain)?,
    };
    let source = LedgerSource { ledger: ledger.as_deref() };
    let report = verify::verify(&Request {
        presented,
        chain,
        anchors,
        known_cas,
        purpose: args.purpose,
        host: args.host,
        at,
        revocation: &source,
        crls,
        max_intermediates: args.max_depth,
    });
    if ctx.json {
        print_json(&report_json(&report));
    } else {
        print_report(&report, args.purpose);
    }
    Ok(if report.accepted() { Outcome::Success } else { Outcome::Negative })
}

/// Every certificate of a file (a PEM bundle, or one DER certificate). Anything else is bad
/// input (exit 2), not a peer's refusal: only a well-formed certificate gets a verdict.
fn certificates_in(path: &Path) -> Result<Vec<Vec<u8>>> {
    let bytes = home::read_input(path, home::limits::CERTIFICATE)?;
    verify::input::certificates(&bytes)
        .map_err(|reason| Error::NotACertificate { path: path.to_path_buf(), reason })
}

/// The trust anchors of a `--trust` PEM bundle, each named by its subject.
fn anchors_in(path: &Path) -> Result<Vec<Anchor>> {
    let ders = certificates_in(path)?;
    let named = |der: Vec<u8>| {
        let subject = crate::x509::CertInfo::from_der(&der).map(|i| i.subject).unwrap_or_default();
        (format!("{subject} from {}", path.display()), der)
    };
    Ok(ders.into_iter().map(named).collect())
}

/// Every CRL of a file (PEM blocks "X509 CRL", or one DER CRL); anything else is bad input.
fn crls_in(path: &Path) -> Result<Vec<Vec<u8>>> {
    let bytes = home::read_input(path, home::limits::CRL)?;
    verify::input::crls(&bytes)
        .map_err(|why| Error::invalid(format!("{} is not a CRL: {why}", path.display())))
}

/// A trusted CA: how to name it, and its certificate (DER).
type Anchor = (String, Vec<u8>);

/// Trust anchors: --ca, else the home's roots, else (no home) the self-signed certificates
/// that were given.
fn trust(
    ledger: Option<&dyn Ledger>,
    ca: Option<&str>,
    presented: &[Vec<u8>],
    chain: &[Vec<u8>],
) -> Result<(Vec<Anchor>, Vec<KnownCa>)> {
    let Some(ledger) = ledger else {
        let anchors: Vec<Anchor> = presented
            .iter()
            .chain(chain)
            .skip(1)
            .filter(|der| crate::x509::CertInfo::from_der(der).is_ok_and(|i| i.is_self_issued()))
            .map(|der| ("the root given with --chain".to_string(), der.clone()))
            .collect();
        if anchors.is_empty() {
            return Err(Error::invalid(
                "there is no pkictl home here to trust; point --home at one, or include the root in --chain",
            ));
        }
        return Ok((anchors, Vec::new()));
    };
    let known = known_cas(Some(ledger))?;
    let authorities = ledger.authorities()?;
    let anchors = match ca {
        Some(name) => {
            let a = crate::authority::find_ca_in(ledger, Some(name))?;
            vec![(format!("CA {} of this home", a.name), a.cert_der)]
        }
        None => authorities
            .into_iter()
            .filter(|a| a.parent_id.is_none())
            .map(|a| (format!("root {} of this home", a.name), a.cert_der))
            .collect(),
    };
    Ok((anchors, known))
}

/// Every CA of the home, to recognise a missing intermediate.
fn known_cas(ledger: Option<&dyn Ledger>) -> Result<Vec<KnownCa>> {
    let Some(ledger) = ledger else { return Ok(Vec::new()) };
    Ok(ledger
        .authorities()?
        .iter()
        .filter_map(|a| {
            crate::x509::CertInfo::from_der(&a.cert_der).ok().map(|i| (i.subject_der, i.subject_key_id))
        })
        .collect())
}

struct LedgerSource<'a> {
    ledger: Option<&'a dyn Ledger>,
}

impl RevocationSource for LedgerSource<'_> {
    fn lookup(&self, issuer_der: &[u8], serial: &Serial) -> Option<Facts> {
        let ledger = self.ledger?;
        let authority = ledger.authorities().ok()?.into_iter().find(|a| a.cert_der == issuer_der)?;
        let records = ledger.find_certificates(CertSelector::Serial(serial), Some(authority.id)).ok()?;
        let state = records.first().map(|r| match (r.status.as_str(), r.revoked_at) {
            ("revoked", Some(at)) => LedgerState::Revoked {
                at,
                reason: r.revocation_reason.map_or("unspecified", |r| r.as_str()).to_string(),
            },
            _ => LedgerState::Valid,
        });
        Some(Facts {
            ca_name: authority.name.clone(),
            ledger: state,
            latest_crl: ledger.latest_crl_der(authority.id).ok().flatten(),
        })
    }
}

/// RFC 3339 ("2027-01-31T12:00:00Z") or a date ("2027-01-31", midnight UTC).
fn parse_time(text: &str) -> Result<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format).map(|d| d.midnight().assume_utc().unix_timestamp()).map_err(|_| {
        Error::invalid(format!(
            "--at \"{}\" is not a time; use 2027-01-31 or 2027-01-31T12:00:00Z",
            crate::error::excerpt(text)
        ))
    })
}

fn report_json(report: &Report) -> serde_json::Value {
    let layers: Vec<serde_json::Value> = report
        .layers
        .iter()
        .map(|l| {
            json!({
                "layer": l.name,
                "status": l.status.to_string().to_lowercase(),
                "detail": l.detail,
                "fix": l.problem.as_ref().map(|p| p.fix()),
                "notes": l.notes,
            })
        })
        .collect();
    let abandoned: Vec<serde_json::Value> = report
        .abandoned
        .iter()
        .map(|a| json!({ "path": a.path, "layer": a.layer, "reason": a.problem.to_string() }))
        .collect();
    json!({
        "accepted": report.accepted(),
        "layers": layers,
        "path": report.path,
        "anchor": report.anchor,
        "abandoned": abandoned,
        "signature_checks": report.signature_checks,
    })
}

fn print_report(report: &Report, purpose: Option<Purpose>) {
    for layer in &report.layers {
        outln!("{:<12} {:<8} {}", layer.name, layer.status, layer.detail);
        for note in &layer.notes {
            outln!("{:<21} note: {note}", "");
        }
        if let Some(problem) = &layer.problem {
            outln!("{:<21} fix: {}", "", problem.fix());
        }
    }
    let peer = match purpose {
        Some(Purpose::Server) => "A TLS client",
        Some(Purpose::Client) => "A TLS server",
        None => "A TLS peer",
    };
    if report.accepted() {
        outln!("{peer} would accept this certificate.");
    } else {
        let failed = report.layers.iter().find(|l| l.status == Status::Failed).map(|l| l.name).unwrap_or("?");
        outln!("{peer} would REFUSE this certificate ({failed}).");
    }
}
