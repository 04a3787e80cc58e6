//! `pkictl enroll`: a key made here, a certificate from `pkictl serve` for a one-time token,
//! the four files `issue --out` writes.

use serde_json::json;
use zeroize::Zeroizing;

use super::issue::files_json;
use super::{Context, Outcome, print_json};
use crate::agent::{EnrollRequest, enroll};
use crate::authority::OutputDir;
use crate::cli::EnrollArgs;
use crate::engine::format_time;
use crate::error::{Error, Result};
use crate::home;

pub fn run(ctx: &Context, args: &EnrollArgs) -> Result<Outcome> {
    let request = EnrollRequest {
        server_url: args.server.clone(),
        root: args.root.clone(),
        token: token(args)?,
        key_type: args.key_type,
        name: args.name.clone(),
        out: OutputDir { dir: args.out.clone(), force: args.force },
    };
    let enrolled = enroll(&request)?;
    if ctx.json {
        print_json(&json!({
            "serial": enrolled.serial,
            "common_name": enrolled.common_name,
            "not_after": format_time(enrolled.not_after),
            "fingerprint_sha256": enrolled.fingerprint_sha256,
            "files": files_json(Some(&enrolled.files)),
        }));
    } else {
        outln!(
            "enrolled {} (serial {}, valid until {})",
            enrolled.common_name.as_deref().unwrap_or("-"),
            enrolled.serial,
            format_time(enrolled.not_after)
        );
        for file in enrolled.files.all() {
            outln!("  {}", file.display());
        }
    }
    Ok(Outcome::Success)
}

/// The token: --token, else the first line of --token-file, else $PKICTL_TOKEN. Never the CA
/// passphrase's sources.
fn token(args: &EnrollArgs) -> Result<Zeroizing<String>> {
    if let Some(t) = &args.token {
        return Ok(Zeroizing::new(t.trim().to_string()));
    }
    if let Some(path) = &args.token_file {
        let bytes = Zeroizing::new(home::read_input(path, home::limits::PASSPHRASE)?);
        let text = String::from_utf8_lossy(&bytes);
        let line = text.lines().next().unwrap_or("").trim();
        if line.is_empty() {
            return Err(Error::invalid(format!("{} holds no token on its first line", path.display())));
        }
        return Ok(Zeroizing::new(line.to_string()));
    }
    match std::env::var("PKICTL_TOKEN") {
        Ok(t) if !t.trim().is_empty() => Ok(Zeroizing::new(t.trim().to_string())),
        _ => Err(Error::invalid(
            "no enrolment token: give it with --token-file FILE, $PKICTL_TOKEN or --token",
        )),
    }
}
