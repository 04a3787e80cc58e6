//! `pkictl show SERIAL|SHA256|NAME`: one certificate, everything a human needs to debug it.

use serde_json::{Value, json};

use super::{Context, Outcome, print_json};
use crate::engine::serial::Serial;
use crate::engine::{self, format_time};
use crate::error::Result;
use crate::ledger::CertificateRecord;
use crate::ledger::acme::AcmeCertificateLink;
use crate::x509::{CertInfo, certificate_pem, colon_hex};

pub fn run(ctx: &Context, text: &str, pem: bool) -> Result<Outcome> {
    let authority = ctx.read_only_authority()?;
    let details = authority.certificate_details(text)?;
    let der = &details.der;
    if pem && !ctx.json {
        out!("{}", certificate_pem(der));
        return Ok(Outcome::Success);
    }
    let now = engine::now().unix_timestamp();
    let view = View {
        record: &details.record,
        info: &details.info,
        renewed_from: details.renewed_from.as_ref(),
        renewals: &details.renewals,
        acme: details.acme.as_ref(),
        now,
    };
    if ctx.json {
        let mut value = view.json();
        if pem {
            value["pem"] = Value::from(certificate_pem(der));
        }
        print_json(&value);
    } else {
        view.print();
    }
    Ok(Outcome::Success)
}

struct View<'a> {
    record: &'a CertificateRecord,
    info: &'a CertInfo,
    renewed_from: Option<&'a CertificateRecord>,
    renewals: &'a [CertificateRecord],
    acme: Option<&'a AcmeCertificateLink>,
    now: i64,
}

impl View<'_> {
    fn time_left(&self) -> String {
        let secs = self.info.not_after - self.now;
        if secs <= 0 {
            format!("expired {} days ago", (-secs) / 86_400)
        } else {
            format!("{} days left", secs / 86_400)
        }
    }

    fn key_description(&self) -> String {
        match self.record.key_type.as_str() {
            "p256" => "EC P-256 (256 bits)".into(),
            "p384" => "EC P-384 (384 bits)".into(),
            other => match other.strip_prefix("rsa") {
                Some(bits) => format!("RSA ({bits} bits)"),
                None => other.to_string(),
            },
        }
    }

    fn basic_constraints(&self) -> String {
        match &self.info.basic_constraints {
            None => "absent".into(),
            Some(bc) => format!(
                "{}CA:{}{}",
                if bc.critical { "critical, " } else { "" },
                if bc.value.ca { "TRUE" } else { "FALSE" },
                bc.value.path_len.map(|n| format!(", pathlen:{n}")).unwrap_or_default()
            ),
        }
    }

    fn key_usage(&self) -> String {
        match &self.info.key_usage {
            None => "absent".into(),
            Some(ku) => format!("{}{}", if ku.critical { "critical, " } else { "" }, ku.value.join(", ")),
        }
    }

    fn extended_key_usage(&self) -> Vec<String> {
        self.info
            .extended_key_usage
            .as_ref()
            .map(|eku| eku.value.iter().map(|oid| eku_name(oid)).collect())
            .unwrap_or_default()
    }

    /// authorityInfoAccess URIs (empty lists without the extension).
    fn access_urls(&self) -> crate::x509::AccessUrls {
        self.info.authority_info_access.as_ref().map(|a| a.value.clone()).unwrap_or_default()
    }

    fn json(&self) -> Value {
        let r = self.record;
        json!({
            "serial": serial_hex(&r.serial),
            "subject": self.info.subject,
            "issuer": self.info.issuer,
            "issuer_ca": r.issuer_name,
            "profile": r.profile.as_str(),
            "common_name": r.common_name,
            "sans": self.info.subject_alt_names.as_ref().map(|s| s.value.clone()).unwrap_or_default(),
            "not_before": format_time(self.info.not_before),
            "not_after": format_time(self.info.not_after),
            "seconds_left": self.info.not_after - self.now,
            "key_type": r.key_type.as_str(),
            "key": self.key_description(),
            "key_source": r.key_origin.as_str(),
            "basic_constraints": self.basic_constraints(),
            "key_usage": self.info.key_usage.as_ref().map(|k| k.value.clone()),
            "extended_key_usage": self.extended_key_usage(),
            "subject_key_id": self.info.subject_key_id.as_deref().map(colon_hex),
            "authority_key_id": self.info.authority_key_id.as_deref().map(colon_hex),
            "crl_distribution_points": self.info.crl_distribution_points,
            "ocsp_urls": self.access_urls().ocsp,
            "ca_issuers_urls": self.access_urls().ca_issuers,
            "fingerprint_sha256": r.fingerprint_sha256,
            "status": r.state_at(self.now).as_str(),
            "revoked_at": r.revoked_at.map(format_time),
            "revocation_reason": r.revocation_reason.map(|r| r.as_str()),
            "renewed_from": self.renewed_from.map(|c| serial_hex(&c.serial)),
            "renewed_by": self.renewals.iter().map(|c| serial_hex(&c.serial)).collect::<Vec<_>>(),
            "acme": self.acme.map(|l| json!({
                "provisioner": l.provisioner_name,
                "account": l.account_id,
                "order": l.order_id,
            })),
        })
    }

    fn print(&self) {
        let r = self.record;
        let sans =
            self.info.subject_alt_names.as_ref().map(|s| s.value.join(", ")).unwrap_or_else(|| "-".into());
        let mut rows: Vec<(&str, String)> = vec![
            ("Subject", self.info.subject.clone()),
            ("Issuer", format!("{} ({})", self.info.issuer, r.issuer_name)),
            ("Serial", serial_hex(&r.serial)),
            ("Profile", r.profile.to_string()),
            ("Status", r.state_at(self.now).as_str().to_string()),
        ];
        if let Some(at) = r.revoked_at {
            rows.push((
                "Revoked",
                format!(
                    "{} ({})",
                    format_time(at),
                    r.revocation_reason.map_or("unspecified", |r| r.as_str())
                ),
            ));
        }
        rows.extend([
            ("Not before", format_time(self.info.not_before)),
            ("Not after", format!("{} ({})", format_time(self.info.not_after), self.time_left())),
            ("Key", format!("{}, {}", self.key_description(), key_origin_words(r.key_origin))),
            ("SANs", sans),
            ("Basic constr.", self.basic_constraints()),
            ("Key usage", self.key_usage()),
            (
                "Ext. key usage",
                if self.extended_key_usage().is_empty() {
                    "-".into()
                } else {
                    self.extended_key_usage().join(", ")
                },
            ),
            (
                "Subject key ID",
                self.info.subject_key_id.as_deref().map(colon_hex).unwrap_or_else(|| "-".into()),
            ),
            (
                "Auth. key ID",
                self.info.authority_key_id.as_deref().map(colon_hex).unwrap_or_else(|| "-".into()),
            ),
            (
                "CRL DP",
                if self.info.crl_distribution_points.is_empty() {
                    "-".into()
                } else {
                    self.info.crl_distribution_points.join(", ")
                },
            ),
            ("OCSP", list_or_dash(&self.access_urls().ocsp)),
            ("CA issuers", list_or_dash(&self.access_urls().ca_issuers)),
            ("SHA-256", r.fingerprint_sha256.clone()),
        ]);
        if self.info.ocsp_nocheck.is_some() {
            rows.push(("OCSP nocheck", "yes (a responder certificate: not checked for revocation)".into()));
        }
        if let Some(old) = self.renewed_from {
            rows.push(("Renewed from", serial_hex(&old.serial)));
        }
        for newer in self.renewals {
            rows.push(("Renewed by", serial_hex(&newer.serial)));
        }
        if let Some(link) = self.acme {
            rows.push((
                "ACME",
                format!(
                    "provisioner {}, account #{}, order #{}",
                    link.provisioner_name, link.account_id, link.order_id
                ),
            ));
        }
        for (label, value) in rows {
            outln!("{:<15} {}", format!("{label}:"), value);
        }
    }
}

fn list_or_dash(items: &[String]) -> String {
    if items.is_empty() { "-".into() } else { items.join(", ") }
}

/// Where the certified key came from, in words ("from generated" said nothing).
fn key_origin_words(origin: crate::ledger::KeyOrigin) -> &'static str {
    match origin {
        crate::ledger::KeyOrigin::Generated => "generated by pkictl (pkictl keeps no copy)",
        crate::ledger::KeyOrigin::Csr => "the requester's own, from a CSR (pkictl never saw it)",
        crate::ledger::KeyOrigin::Ca => "a CA key, kept in this home",
    }
}

fn eku_name(oid: &str) -> String {
    match oid {
        crate::x509::OID_SERVER_AUTH => "serverAuth".into(),
        crate::x509::OID_CLIENT_AUTH => "clientAuth".into(),
        crate::x509::OID_OCSP_SIGNING => "OCSPSigning".into(),
        other => other.to_string(),
    }
}

fn serial_hex(serial: &Serial) -> String {
    serial.hex()
}
