//! `pkictl token create|list|revoke`: one-time enrolment tokens, stored hashed.

use serde_json::json;

use super::issue::NameFlags;
use super::{Context, Outcome, print_json};
use crate::authority::TokenRequest;
use crate::cli::{TokenCommand, TokenProfile};
use crate::duration::parse_duration;
use crate::engine::profile::Profile;
use crate::engine::{self, format_time};
use crate::error::{Error, Result};
use crate::ledger::TokenRecord;
use crate::names::San;

pub fn run(ctx: &Context, command: &TokenCommand) -> Result<Outcome> {
    match command {
        TokenCommand::Create { name, profile, dns, ip, uri, email, ttl, validity, ca } => {
            let sans = NameFlags { dns, ip, email, uri }.parse()?;
            let request = TokenRequest {
                name: name.clone(),
                profile: match profile {
                    TokenProfile::Server => Profile::Server,
                    TokenProfile::Client => Profile::Client,
                    TokenProfile::Peer => Profile::Peer,
                },
                sans,
                ttl: parse_duration(ttl).map_err(|e| Error::invalid(format!("--ttl: {e}")))?,
                validity: parse_duration(validity).map_err(|e| Error::invalid(format!("--validity: {e}")))?,
                ca: ca.clone(),
            };
            create(ctx, request)
        }
        TokenCommand::List => list(ctx),
        TokenCommand::Revoke { id } => {
            let record = ctx.authority()?.revoke_token(*id)?;
            if ctx.json {
                print_json(&token_json(&record));
            } else {
                outln!("revoked token #{} for {}", record.id, record.name);
            }
            Ok(Outcome::Success)
        }
    }
}

fn create(ctx: &Context, request: TokenRequest) -> Result<Outcome> {
    let made = ctx.authority()?.create_token(request)?;
    let record = &made.record;
    if ctx.json {
        let mut value = token_json(record);
        value["token"] = json!(made.token.as_str());
        print_json(&value);
    } else {
        eprintln!(
            "token #{} enrols one {} certificate for {} ({}); it expires {} and is shown only now",
            record.id,
            record.profile,
            record.name,
            sans_text(&record.sans),
            format_time(record.expires_at)
        );
        outln!("{}", made.token.as_str());
    }
    Ok(Outcome::Success)
}

fn list(ctx: &Context) -> Result<Outcome> {
    let tokens = ctx.read_only_authority()?.list_tokens()?;
    if ctx.json {
        print_json(&json!({ "tokens": tokens.iter().map(token_json).collect::<Vec<_>>() }));
        return Ok(Outcome::Success);
    }
    if tokens.is_empty() {
        outln!("No enrolment tokens");
        return Ok(Outcome::Success);
    }
    let now = engine::now().unix_timestamp();
    outln!("{:<5} {:<32} {:<7} {:<8} {:<20} SANS", "ID", "NAME", "PROFILE", "STATUS", "EXPIRES");
    for t in &tokens {
        outln!(
            "{:<5} {:<32} {:<7} {:<8} {:<20} {}",
            t.id,
            t.name,
            t.profile.as_str(),
            t.status(now).as_str(),
            format_time(t.expires_at),
            sans_text(&t.sans)
        );
    }
    Ok(Outcome::Success)
}

fn sans_text(sans: &[San]) -> String {
    sans.iter().map(San::to_string).collect::<Vec<_>>().join(", ")
}

fn token_json(t: &TokenRecord) -> serde_json::Value {
    let now = engine::now().unix_timestamp();
    json!({
        "id": t.id,
        "name": t.name,
        "profile": t.profile.as_str(),
        "sans": t.sans.iter().map(San::to_string).collect::<Vec<_>>(),
        "ca": t.issuer_name,
        "status": t.status(now).as_str(),
        "validity_secs": t.validity_secs,
        "created_at": format_time(t.created_at),
        "expires_at": format_time(t.expires_at),
        "used_at": t.used_at.map(format_time),
        "revoked_at": t.revoked_at.map(format_time),
        "certificate_id": t.certificate_id,
    })
}
