//! `pkictl demo`: the main job in one command, for a newcomer. It runs pkictl itself, step by
//! step, in a throwaway home, then lets rustls judge three mutual-TLS handshakes.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use super::Outcome as Verdict;
use super::demo_online::{ServeChild, wait_for_revoked, workload_files};
use super::{Context, print_json};
use crate::error::{Error, Result};
use crate::home;
use crate::tls::{Handshake, HandshakeError, Identity, mutual_tls};

const ROOT_NAME: &str = "Demo Root CA";
const SERVER: &str = "localhost";
const GOOD_CLIENT: &str = "good-client.demo.test";
const REVOKED_CLIENT: &str = "revoked-client.demo.test";
const WORKLOAD: &str = "workload.demo.test";

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
    let demo =
        Demo { base: base.clone(), home: base.join("pki"), certs: base.join("certs"), quiet: ctx.json };
    demo.say(&format!("pkictl demo: a throwaway CA in {}", base.display()));
    demo.build_pki()?;
    let mut outcomes = demo.handshakes()?;
    outcomes.extend(demo.online_ca()?);
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
    base: PathBuf,
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
        self.pkictl_with(args, &[])
    }

    /// [`Demo::pkictl`] with these environment variables (a token is a secret: not an argument).
    fn pkictl_with(&self, args: &[&str], env: &[(&str, &str)]) -> Result<Value> {
        let exe = std::env::current_exe().map_err(|source| Error::Read { path: "pkictl".into(), source })?;
        let output = Command::new(&exe)
            .arg("--home")
            .arg(&self.home)
            .arg("--json")
            .args(args)
            .env_remove(super::unlock::ENV_VAR)
            .envs(env.iter().copied())
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
        self.identity_in(&self.certs, name)
    }

    fn identity_in(&self, dir: &Path, name: &str) -> Result<Identity> {
        Ok(Identity {
            chain: crate::verify::input::certificates(
                &self.read(&dir.join(format!("{name}.fullchain.pem")))?,
            )
            .map_err(|e| Error::Internal(format!("the demo could not read its own chain: {e}")))?,
            key_pkcs8: pem_body(&self.read(&dir.join(format!("{name}.key")))?)?,
        })
    }

    /// The root (DER) and every CRL the home publishes, as a TLS server of this PKI trusts.
    fn trust(&self) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
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
        Ok((root, crls))
    }

    /// A handshake of `client` with the demo's server, as the PKI's CRLs say now.
    fn attempt(&self, client: Option<&Identity>) -> Result<std::result::Result<(), HandshakeError>> {
        let (root, crls) = self.trust()?;
        let server = self.identity(SERVER)?;
        Ok(mutual_tls(&Handshake { root: &root, crls: &crls, server: &server, client, server_name: SERVER }))
    }

    /// The online CA end to end: serve, a token, `pkictl enroll`, `pkictl agent` over mTLS, a
    /// revocation seen by OCSP, and a handshake after each step.
    fn online_ca(&self) -> Result<Vec<Outcome>> {
        let exe = std::env::current_exe().map_err(|source| Error::Read { path: "pkictl".into(), source })?;
        let serve = ServeChild::start(&exe, &self.home, &self.base.join("serve.log"))?;
        self.say(&format!(
            "  4. pkictl serve: OCSP and CRLs on {}, enrolment and renewal on {}",
            serve.http, serve.https
        ));
        let token = self.pkictl(&[
            "token",
            "create",
            WORKLOAD,
            "--profile",
            "client",
            "--ttl",
            "10m",
            "--validity",
            "1h",
        ])?;
        let token = token["token"].as_str().unwrap_or_default().to_string();
        let workload = self.base.join("workload");
        let root_pem = self.home.join("ca").join(format!("{}.pem", home::slug(ROOT_NAME)));
        let (root_arg, out_arg) =
            (root_pem.to_string_lossy().to_string(), workload.to_string_lossy().to_string());
        let enrolled = self.pkictl_with(
            &["enroll", "--server", &serve.https, "--root", &root_arg, "--out", &out_arg, "--name", WORKLOAD],
            &[("PKICTL_TOKEN", &token)],
        )?;
        let first = enrolled["serial"].as_str().unwrap_or_default().to_string();
        self.say(&format!(
            "  5. pkictl token create + pkictl enroll: {WORKLOAD} made its key and got {first} for a one-time token"
        ));
        let enrolled_ok = self.attempt(Some(&self.identity_in(&workload, WORKLOAD)?))?;
        let (crt, key, _) = workload_files(&workload, WORKLOAD);
        let (crt_arg, key_arg) = (crt.to_string_lossy().to_string(), key.to_string_lossy().to_string());
        self.pkictl(&[
            "agent",
            "--cert",
            &crt_arg,
            "--key",
            &key_arg,
            "--server",
            &serve.https,
            "--root",
            &root_arg,
            "--once",
            "--force",
        ])?;
        let renewed_der = pem_body(&self.read(&crt)?)?;
        let second =
            crate::x509::CertInfo::from_der(&renewed_der).map(|i| i.serial.hex()).unwrap_or_default();
        self.say(&format!(
            "  6. pkictl agent --once --server: renewed over mTLS with a new key: {second} (the old one just runs out)"
        ));
        let renewed_ok = self.attempt(Some(&self.identity_in(&workload, WORKLOAD)?))?;
        let issuing = self.identity_in(&workload, WORKLOAD)?.chain.get(1).cloned().unwrap_or_default();
        let revoked_at = std::time::Instant::now();
        self.pkictl(&["revoke", &second, "--reason", "key-compromise"])?;
        let seen = wait_for_revoked(&serve.http, &renewed_der, &issuing, revoked_at)?;
        self.say(&format!(
            "  7. pkictl revoke {second}: serve's OCSP says revoked {} ms later (nginx's ssl_ocsp would refuse it now)",
            seen.as_millis()
        ));
        let revoked_refused = self.attempt(Some(&self.identity_in(&workload, WORKLOAD)?))?;
        serve.stop();
        Ok(vec![
            outcome("enrolled by token", enrolled_ok, true),
            outcome("renewed by the agent", renewed_ok, true),
            outcome("renewed, then revoked", revoked_refused, false),
        ])
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        std::fs::read(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })
    }

    fn handshakes(&self) -> Result<Vec<Outcome>> {
        let good = self.identity(GOOD_CLIENT)?;
        let revoked = self.identity(REVOKED_CLIENT)?;
        Ok(vec![
            outcome("valid client certificate", self.attempt(Some(&good))?, true),
            outcome("revoked client certificate", self.attempt(Some(&revoked))?, false),
            outcome("no client certificate", self.attempt(None)?, false),
        ])
    }
}

fn outcome(label: &'static str, result: std::result::Result<(), HandshakeError>, expected: bool) -> Outcome {
    match result {
        Ok(()) => Outcome { label, accepted: true, expected, detail: "handshake complete".into() },
        Err(e) => Outcome { label, accepted: false, expected, detail: e.to_string() },
    }
}

fn pem_body(pem: &[u8]) -> Result<Vec<u8>> {
    der::pem::decode_vec(pem)
        .map(|(_, der)| der)
        .map_err(|e| Error::Internal(format!("the demo could not read its own PEM: {e}")))
}
