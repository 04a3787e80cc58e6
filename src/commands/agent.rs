//! `pkictl agent`: keep one certificate renewed (the loop is in `agent::renewal`).

use serde_json::json;

use super::{CliUnlock, Context, Outcome, print_json};
use crate::agent::renewal::{Agent, AgentFiles, Attempt, LocalRenewer, RemoteRenewer, Renewer, Settings};
use crate::agent::renewal::{failure_line, parse_fraction, words};
use crate::cli::AgentArgs;
use crate::engine::{self, format_time};
use crate::error::{Error, Result};

pub fn run(ctx: &Context, args: &AgentArgs) -> Result<Outcome> {
    let renew_at = parse_fraction(&args.renew_at).map_err(|e| Error::invalid(format!("--renew-at: {e}")))?;
    let renewer: Box<dyn Renewer> = match (&args.server, &args.root) {
        (Some(server), Some(root)) => Box::new(RemoteRenewer { server: server.clone(), root: root.clone() }),
        _ => {
            let source = ctx.passphrase.clone();
            Box::new(LocalRenewer::new(
                ctx.home.clone(),
                Box::new(move || Box::new(CliUnlock::new(source.clone())) as Box<dyn crate::keys::Unlock>),
            ))
        }
    };
    let settings = Settings {
        files: files(args),
        renew_at,
        keep_key: args.keep_key,
        force: args.force,
        exec: args.exec.clone(),
    };
    let log = |line: &str| eprintln!("pkictl agent: {}", crate::error::one_line(line));
    let agent = Agent::new(settings, renewer.as_ref(), &log);
    if args.once {
        return once(ctx, &agent, args.force, &log);
    }
    match agent.run()? {}
}

fn files(args: &AgentArgs) -> AgentFiles {
    let mut files = AgentFiles::beside(&args.cert, &args.key);
    if let Some(chain) = &args.chain {
        files.chain = chain.clone();
    }
    if let Some(fullchain) = &args.fullchain {
        files.fullchain = fullchain.clone();
    }
    files.bundle = args.bundle.clone();
    files
}

/// One look, reported on stdout (or as JSON); the outcome is the exit code.
fn once(ctx: &Context, agent: &Agent<'_>, force: bool, log: &dyn Fn(&str)) -> Result<Outcome> {
    match agent.once(force)? {
        Attempt::Renewed { old_serial, info, next } => {
            if ctx.json {
                print_json(&json!({
                    "outcome": "renewed",
                    "renewed_from": old_serial,
                    "serial": info.serial.hex(),
                    "not_after": format_time(info.not_after),
                    "renew_at": format_time(next.due_at),
                }));
            } else {
                outln!("renewed: {} replaces {old_serial}", info.serial.hex());
                outln!(
                    "  valid until {}; next renewal due at {}",
                    format_time(info.not_after),
                    format_time(next.due_at)
                );
            }
            Ok(Outcome::Success)
        }
        Attempt::NotDue(schedule) => {
            let left = schedule.due_at - engine::now().unix_timestamp();
            if ctx.json {
                print_json(&json!({
                    "outcome": "not_due",
                    "issued_at": format_time(schedule.issued_at),
                    "renew_at": format_time(schedule.due_at),
                    "not_after": format_time(schedule.not_after),
                }));
            } else {
                outln!(
                    "not due: renewal at {} (in {}); the certificate is valid until {}",
                    format_time(schedule.due_at),
                    words(left),
                    format_time(schedule.not_after)
                );
            }
            Ok(Outcome::NotDue)
        }
        Attempt::Failed { error, schedule } => {
            log(&failure_line(&error, &schedule, 0).replace("; retrying in 0 s", ""));
            if ctx.json {
                print_json(&json!({
                    "outcome": "failed",
                    "error": crate::error::one_line(&error.to_string()),
                    "not_after": format_time(schedule.not_after),
                }));
            }
            Ok(Outcome::Negative)
        }
    }
}
