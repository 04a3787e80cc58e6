//! `pkictl demo`: the main job in one command, for a newcomer. It runs pkictl itself, step by
//! step, in a throwaway home, then lets rustls judge three mutual-TLS handshakes.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use super::Outcome as Verdict;
use super::{Context, print_json};
use crate::error::{Error, Result};
use crate::home;
use crate::tls::{Handshake, HandshakeError, Identity, mutual_tls};

const ROOT_NAME: &str = "Demo Root CA";
const SERVER: &str = "localhost";
const GOOD_CLIENT: &str = "good-client.demo.test";
const REVOKED_CLIENT: &str = "revoked-client.demo.test";

pub fn run(ctx: &Context, dir: Option<&Path>) -> Result<Verdict> {
    let temp;
    let base = match dir {
        Some(d) => {
            if !home::is_missing_or_empty(d)? {
                return Err(Error::invalid(format!(
                    "{} is not empty; give --dir a new or empty directory",
                    d.display()
                )));
            }
            d.to_path_buf()
        }
        None => {
            temp =
                tempfile::tempdir().map_err(|source| Error::Write { path: std::env::temp_dir(), source })?;
            temp.path().to_path_buf()
        }
    };
    let demo = Demo { home: base.join("pki"), certs: base.join("certs"), quiet: ctx.json };
    demo.say(&format!("pkictl demo: a throwaway CA in {}", base.display()));
    demo.build_pki()?;
    let outcomes = demo.handshakes()?;
    let as_expected = outcomes.iter().all(|o| o.accepted == o.expected);
    if ctx.json {
        print_json(&json!({
            "dir": dir,
            "home": demo.home,
            "handshakes": outcomes.iter().map(|o| json!({
                "client": o.label,
                "accepted": o.accepted,
                "expected": o.expected,
                "detail": o.detail,
            })).collect::<Vec<_>>(),
        }));
    } else {
        outln!("mTLS handshakes (rustls server that requires a client certificate, checks CRLs):");
        for o in &outcomes {
            let verdict = if o.accepted { "ACCEPTED" } else { "REFUSED" };
            outln!("  {:<28} {verdict:<9} {}", o.label, o.detail);
        }
        if dir.is_none() {
            outln!("(the demo home is deleted; run `pkictl demo --dir DIR` to keep it)");
        }
    }
    Ok(if as_expected { Verdict::Success } else { Verdict::Negative })
}

struct Demo {
    home: PathBuf,
    certs: PathBuf,
    quiet: bool,
}

struct Outcome {
    label: &'static str,
    accepted: bool,
    expected: bool,
    detail: String,
}

impl Demo {
    fn say(&self, line: &str) {
        if !self.quiet {
            outln!("{line}");
        }
    }

    /// Runs `pkictl --home H --json ARGS` (this same binary) and returns its JSON.
    fn pkictl(&self, args: &[&str]) -> Result<Value> {
        let exe = std::env::current_exe().map_err(|source| Error::Read { path: "pkictl".into(), source })?;
        let output = Command::new(&exe)
            .arg("--home")
            .arg(&self.home)
            .arg("--json")
            .args(args)
            .env_remove(super::unlock::ENV_VAR)
            .output()
            .map_err(|source| Error::Read { path: exe.clone(), source })?;
        if !output.status.success() {
            return Err(Error::Internal(format!(
                "demo step `pkictl {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        serde_json::from_slice(&output.stdout).map_err(|e| {
            Error::Internal(format!("demo step `pkictl {}` printed no JSON: {e}", args.join(" ")))
        })
    }

    fn build_pki(&self) -> Result<()> {
        let certs = self.certs.to_string_lossy().to_string();
        let init = self.pkictl(&["init", "--name", ROOT_NAME, "--no-passphrase"])?;
        let names: Vec<&str> =
            init["authorities"].as_array().into_iter().flatten().filter_map(|a| a["name"].as_str()).collect();
        self.say(&format!("  1. pkictl init: {}", names.join(" -> ")));
        self.pkictl(&["issue", "server", SERVER, "--ip", "127.0.0.1", "--out", &certs])?;
        self.pkictl(&["issue", "client", GOOD_CLIENT, "--out", &certs])?;
        let revoked = self.pkictl(&["issue", "client", REVOKED_CLIENT, "--out", &certs])?;
        self.say(&format!(
            "  2. pkictl issue: server {SERVER}, clients {GOOD_CLIENT} and {REVOKED_CLIENT} (in {certs})"
        ));
        let serial = revoked["serial"].as_str().unwrap_or_default().to_string();
        let revocation = self.pkictl(&["revoke", &serial, "--reason", "key-compromise"])?;
        self.pkictl(&["crl", "--ca", ROOT_NAME])?;
        self.say(&format!(
            "  3. pkictl revoke {serial} --reason key-compromise: CRL #{} of {}; the root's CRL published too",
            revocation["crl"]["number"],
            revocation["crl"]["ca"].as_str().unwrap_or_default()
        ));
        Ok(())
    }

    fn identity(&self, name: &str) -> Result<Identity> {
        Ok(Identity {
            chain: pem_certificates(&self.read(&self.certs.join(format!("{name}.fullchain.pem")))?),
            key_pkcs8: pem_body(&self.read(&self.certs.join(format!("{name}.key")))?)?,
        })
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        std::fs::read(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })
    }

    fn handshakes(&self) -> Result<Vec<Outcome>> {
        let root =
            pem_body(&self.read(&self.home.join("ca").join(format!("{}.pem", home::slug(ROOT_NAME))))?)?;
        let mut crls = Vec::new();
        let crl_dir = self.home.join(home::CRL_DIR);
        let entries =
            std::fs::read_dir(&crl_dir).map_err(|source| Error::Read { path: crl_dir.clone(), source })?;
        for entry in entries.flatten() {
            if entry.path().to_string_lossy().ends_with(".crl.der") {
                crls.push(self.read(&entry.path())?);
            }
        }
        let server = self.identity(SERVER)?;
        let good = self.identity(GOOD_CLIENT)?;
        let revoked = self.identity(REVOKED_CLIENT)?;
        let attempt = |client: Option<&Identity>| {
            mutual_tls(&Handshake { root: &root, crls: &crls, server: &server, client, server_name: SERVER })
        };
        Ok(vec![
            outcome("valid client certificate", attempt(Some(&good)), true),
            outcome("revoked client certificate", attempt(Some(&revoked)), false),
            outcome("no client certificate", attempt(None), false),
        ])
    }
}

fn outcome(label: &'static str, result: std::result::Result<(), HandshakeError>, expected: bool) -> Outcome {
    match result {
        Ok(()) => Outcome { label, accepted: true, expected, detail: "handshake complete".into() },
        Err(e) => Outcome { label, accepted: false, expected, detail: e.to_string() },
    }
}

fn pem_certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(pem);
    text.split_inclusive("-----END CERTIFICATE-----")
        .filter_map(|block| der::pem::decode_vec(block.trim_start().as_bytes()).ok().map(|(_, der)| der))
        .collect()
}

fn pem_body(pem: &[u8]) -> Result<Vec<u8>> {
    der::pem::decode_vec(pem)
        .map(|(_, der)| der)
        .map_err(|e| Error::Internal(format!("the demo could not read its own PEM: {e}")))
}
