//! `pkictl init`: a new home with its ledger, root CA and (by default) issuing intermediate.

use serde_json::json;

use super::{CliUnlock, Context, Outcome, print_json};
use crate::authority::{Authority, CaCreated, InitRequest};
use crate::cli::InitArgs;
use crate::duration::parse_duration;
use crate::engine::format_time;
use crate::error::{Error, Result};
use crate::home::{self, Home};

pub fn run(ctx: &Context, args: &InitArgs) -> Result<Outcome> {
    let request = request(ctx, args)?;
    let unlock = CliUnlock::new(ctx.passphrase.clone());
    let made = Authority::init(&request, &unlock).map_err(|e| match e {
        Error::IntermediateOutlivesRoot => Error::invalid(format!(
            "--intermediate-validity {} is longer than the root's --validity {}; an intermediate cannot outlive its root",
            args.intermediate_validity.as_deref().unwrap_or_default(),
            args.validity
        )),
        other => other,
    })?;
    if args.no_passphrase {
        eprintln!(
            "warning: the CA keys in {} are NOT encrypted (--no-passphrase); anyone who can read them can issue certificates",
            ctx.home.join(home::PRIVATE_DIR).display()
        );
    }
    for warning in &made.warnings {
        eprintln!("warning: {}", crate::error::one_line(&warning.to_string()));
    }
    report(ctx, &made.cas, made.encrypted);
    Ok(Outcome::Success)
}

fn request(ctx: &Context, args: &InitArgs) -> Result<InitRequest> {
    let validity = parse_duration(&args.validity).map_err(|e| Error::invalid(format!("--validity: {e}")))?;
    let intermediate_validity = args
        .intermediate_validity
        .as_deref()
        .map(|text| parse_duration(text).map_err(|e| Error::invalid(format!("--intermediate-validity: {e}"))))
        .transpose()?;
    Ok(InitRequest {
        home: ctx.home.clone(),
        root_name: args.name.clone(),
        intermediate_name: args.intermediate.clone(),
        with_intermediate: !args.no_intermediate,
        key_type: args.key_type,
        validity,
        intermediate_validity,
        crl_url: args.crl_url.clone(),
        public_url: args.public_url.clone(),
        encrypt_keys: !args.no_passphrase,
        ledger: args.ledger.as_deref().map(crate::ledger::PgLocation::parse).transpose()?,
    })
}

fn report(ctx: &Context, cas: &[CaCreated], encrypted: bool) {
    let home = Home::at(&ctx.home);
    if ctx.json {
        let authorities: Vec<_> = cas
            .iter()
            .map(|ca| {
                let info = &ca.signed.info;
                json!({
                    "name": ca.name,
                    "role": ca.profile.as_str(),
                    "key_type": ca.key_type.as_str(),
                    "serial": info.serial.hex(),
                    "subject": info.subject,
                    "not_before": format_time(info.not_before),
                    "not_after": format_time(info.not_after),
                    "fingerprint_sha256": info.fingerprint_sha256,
                    "certificate": home.resolve(&Home::ca_cert_relative(&ca.slug)),
                    "key": home.resolve(&Home::ca_key_relative(&ca.slug)),
                    "key_encrypted": encrypted,
                    "crl_url": ca.crl_url,
                    "public_url": ca.public_url,
                })
            })
            .collect();
        print_json(&json!({
            "home": ctx.home,
            "ledger": ledger_shown(&home),
            "authorities": authorities,
        }));
        return;
    }
    outln!("Created pkictl home {}", ctx.home.display());
    for ca in cas {
        let info = &ca.signed.info;
        outln!(
            "  {:<13} {}  ({}, serial {}, expires {})",
            ca.profile.as_str(),
            ca.name,
            ca.key_type,
            info.serial.hex(),
            format_time(info.not_after)
        );
    }
    outln!("  ledger        {}", ledger_shown(&home));
    outln!(
        "  CA keys       {} ({})",
        ctx.home.join(home::PRIVATE_DIR).display(),
        if encrypted { "encrypted" } else { "NOT encrypted" }
    );
}

/// The home's ledger as the report shows it: the SQLite file, or the URL without password.
fn ledger_shown(home: &Home) -> String {
    match home.ledger_location() {
        Ok(crate::ledger::LedgerLocation::Postgres(at)) => at.redacted().to_string(),
        _ => home.ledger_path().display().to_string(),
    }
}
