//! `pkictl acme add | list | remove | eab`: the ACME provisioners of `serve`.

use serde_json::{Value, json};

use super::{Context, Outcome, print_json};
use crate::authority::{AcmeProvisionerRequest, Provisioner};
use crate::cli::AcmeCommand;
use crate::duration::{format_duration, parse_duration};
use crate::engine::format_time;
use crate::engine::profile::Profile;
use crate::error::{Error, Field, Result, excerpt};

pub fn run(ctx: &Context, command: &AcmeCommand) -> Result<Outcome> {
    match command {
        AcmeCommand::Add { name, profile, allow, allow_ip, max_validity, require_eab, ca } => {
            let request = AcmeProvisionerRequest {
                name: name.clone(),
                profile: parse_profile(profile)?,
                ca: ca.clone(),
                allow: allow.clone(),
                allow_ip: allow_ip.clone(),
                max_validity: max_validity.as_deref().map(parse_max_validity).transpose()?,
                require_eab: *require_eab,
            };
            add(ctx, &request)
        }
        AcmeCommand::List => list(ctx),
        AcmeCommand::Remove { name, force } => remove(ctx, name, *force),
        AcmeCommand::Eab { name } => eab(ctx, name),
    }
}

fn parse_profile(text: &str) -> Result<Profile> {
    match text {
        "server" => Ok(Profile::Server),
        "client" => Ok(Profile::Client),
        "peer" => Ok(Profile::Peer),
        other => Err(Error::invalid(format!(
            "--profile \"{}\" is not an ACME profile; use server, client or peer",
            excerpt(other)
        ))),
    }
}

fn parse_max_validity(text: &str) -> Result<time::Duration> {
    parse_duration(text).map_err(|problem| Error::InvalidField { field: Field::MaxValidity, problem })
}

fn provisioner_json(p: &Provisioner) -> Value {
    let r = &p.record;
    json!({
        "name": r.name,
        "profile": r.profile.as_str(),
        "ca": r.ca_name,
        "allow": r.allowed_dns.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "allow_ip": r.allowed_ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "max_validity": r.max_validity_secs.map(|s| format_duration(time::Duration::seconds(s))),
        "require_eab": r.require_eab,
        "accounts": r.accounts,
        "eab_keys": r.eab_keys.0,
        "eab_keys_unused": r.eab_keys.1,
        "directory": p.directory_path(),
        "created_at": format_time(r.created_at),
    })
}

fn allowed_words(p: &Provisioner) -> String {
    let r = &p.record;
    let all: Vec<String> = r
        .allowed_dns
        .iter()
        .map(ToString::to_string)
        .chain(r.allowed_ips.iter().map(ToString::to_string))
        .collect();
    all.join(", ")
}

fn add(ctx: &Context, request: &AcmeProvisionerRequest) -> Result<Outcome> {
    let mut authority = ctx.authority()?;
    let p = authority.add_acme_provisioner(request)?;
    if ctx.json {
        print_json(&provisioner_json(&p));
        return Ok(Outcome::Success);
    }
    let r = &p.record;
    outln!("Added ACME provisioner {}: {} certificates from {}", r.name, r.profile, r.ca_name);
    outln!("  allows:    {}", allowed_words(&p));
    if let Some(secs) = r.max_validity_secs {
        outln!("  validity:  at most {}", format_duration(time::Duration::seconds(secs)));
    }
    if r.require_eab {
        outln!("  EAB:       required; make keys with `pkictl acme eab {}`", r.name);
    }
    outln!("  directory: https://HOST:PORT{} (pkictl serve's HTTPS listener)", p.directory_path());
    Ok(Outcome::Success)
}

fn list(ctx: &Context) -> Result<Outcome> {
    let authority = ctx.read_only_authority()?;
    let provisioners = authority.acme_provisioners()?;
    if ctx.json {
        print_json(&json!({ "provisioners": provisioners.iter().map(provisioner_json).collect::<Vec<_>>() }));
        return Ok(Outcome::Success);
    }
    if provisioners.is_empty() {
        outln!("No ACME provisioners; add one with `pkictl acme add NAME --profile server --allow PATTERN`.");
        return Ok(Outcome::Success);
    }
    outln!(
        "{:<20} {:<7} {:<24} {:<4} {:>8} {:<28} ALLOWS",
        "NAME",
        "PROFILE",
        "CA",
        "EAB",
        "ACCOUNTS",
        "DIRECTORY"
    );
    for p in &provisioners {
        let r = &p.record;
        outln!(
            "{:<20} {:<7} {:<24} {:<4} {:>8} {:<28} {}{}",
            r.name,
            r.profile.as_str(),
            r.ca_name,
            if r.require_eab { "yes" } else { "no" },
            r.accounts,
            p.directory_path(),
            allowed_words(p),
            r.max_validity_secs
                .map(|s| format!(" (at most {})", format_duration(time::Duration::seconds(s))))
                .unwrap_or_default()
        );
    }
    Ok(Outcome::Success)
}

fn remove(ctx: &Context, name: &str, force: bool) -> Result<Outcome> {
    let mut authority = ctx.authority()?;
    let removed = authority.remove_acme_provisioner(name, force)?;
    let r = &removed.record;
    if ctx.json {
        print_json(&json!({ "name": r.name, "removed": true, "accounts": r.accounts }));
    } else {
        outln!(
            "Removed ACME provisioner {}: it serves no more; its {} account(s), orders and certificates stay in the ledger (certificates stay valid).",
            r.name,
            r.accounts
        );
    }
    Ok(Outcome::Success)
}

fn eab(ctx: &Context, name: &str) -> Result<Outcome> {
    let mut authority = ctx.authority()?;
    let key = authority.create_eab_key(name)?;
    if ctx.json {
        print_json(
            &json!({ "provisioner": key.provisioner, "key_id": key.key_id, "hmac_key": key.hmac_key.as_str() }),
        );
    } else {
        outln!("EAB key for ACME provisioner {} (the HMAC key is shown only now):", key.provisioner);
        outln!("  key id:   {}", key.key_id);
        outln!("  HMAC key: {}", key.hmac_key.as_str());
    }
    Ok(Outcome::Success)
}
