//! Key hygiene, through the binary: no private key ever reaches the ledger (ledger.db, its
//! -wal, the events table), a `--json` output or stderr; key files are 0600 from the moment
//! they exist (checked under `umask 000`, with a watcher looking for a world-readable private
//! key while files are written), the home is 0700, and a CA key that group can read is
//! refused with exit 2 and a message that says `chmod 600`.
//!
//! Each private key's secret (the EC private scalar; the RSA private exponent, primes, CRT
//! exponents and coefficient) is read with `openssl pkey -text`, never with pkictl, and
//! searched for as raw bytes and as hex; every key file is also searched for as its base64
//! body, each line of it, and its DER.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::hardening::*;
use common::{PASSPHRASE, ledger_testing, mode, openssl, openssl_ok, os};

const EXPORT_PASSWORD: &str = "p12 export password 123";

/// A home and everything the commands printed about it.
struct Session {
    _dir: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    encrypted: bool,
    /// stdout and stderr of every command, with what ran.
    outputs: Vec<(String, Vec<u8>)>,
}

impl Session {
    fn new(encrypted: bool) -> Session {
        let dir = scratch("hygiene-");
        let root = dir.path().to_path_buf();
        Session { home: root.join("home"), root, _dir: dir, encrypted, outputs: Vec::new() }
    }

    fn cmd(&self) -> Command {
        let mut cmd = command(Some(&self.home));
        if self.encrypted {
            cmd.env("PKICTL_PASSPHRASE", PASSPHRASE);
        }
        cmd.env("PKICTL_P12_PASSPHRASE", EXPORT_PASSWORD);
        cmd
    }

    /// Runs pkictl (under `umask` when given); keeps its output; panics unless it exits 0.
    fn ok(&mut self, args: &[&OsStr]) -> Output {
        self.ok_with_umask(args, None)
    }

    fn ok_with_umask(&mut self, args: &[&OsStr], umask: Option<&str>) -> Output {
        let cmd = match umask {
            None => {
                let mut cmd = self.cmd();
                cmd.args(args);
                cmd
            }
            Some(mask) => {
                let inner = self.cmd();
                let mut cmd = Command::new("sh");
                cmd.arg("-c").arg(format!("umask {mask} && exec \"$0\" \"$@\"")).arg(inner.get_program());
                cmd.args(inner.get_args()).args(args);
                for (k, v) in inner.get_envs() {
                    match v {
                        Some(v) => cmd.env(k, v),
                        None => cmd.env_remove(k),
                    };
                }
                cmd.stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                cmd
            }
        };
        let what = args.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ");
        let out = run_command(cmd, None, &what);
        assert!(out.status.success(), "pkictl {what} failed: {}", String::from_utf8_lossy(&out.stderr));
        self.outputs.push((format!("stdout of {what}"), out.stdout.clone()));
        self.outputs.push((format!("stderr of {what}"), out.stderr.clone()));
        out
    }

    fn json(&mut self, args: &[&OsStr]) -> serde_json::Value {
        let mut full = vec![OsStr::new("--json")];
        full.extend_from_slice(args);
        let out = self.ok(&full);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        serde_json::from_str(text.lines().next().unwrap_or_default())
            .unwrap_or_else(|e| panic!("--json output ({e}): {text}"))
    }
}

/// The secret parts of a private key, as `openssl pkey -text` prints them.
fn key_secrets(key: &Path, passphrase: Option<&str>) -> Vec<Vec<u8>> {
    let mut args = vec![os("pkey"), os("-in"), key.as_os_str(), os("-noout"), os("-text")];
    let pass = passphrase.map(|p| format!("pass:{p}"));
    if let Some(p) = &pass {
        args.extend([os("-passin"), os(p)]);
    }
    let text = openssl_ok(&args);
    const SECRET: [&str; 7] =
        ["priv", "privateExponent", "prime1", "prime2", "exponent1", "exponent2", "coefficient"];
    let mut secrets = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') {
            if let Some(hex) = current.take() {
                secrets.push(hex);
            }
            let field = line.trim_end_matches(':');
            if line.ends_with(':') && SECRET.contains(&field) {
                current = Some(String::new());
            }
        } else if let Some(hex) = current.as_mut() {
            hex.push_str(&line.trim().replace(':', ""));
        }
    }
    if let Some(hex) = current.take() {
        secrets.push(hex);
    }
    let secrets: Vec<Vec<u8>> = secrets
        .into_iter()
        .map(|hex| {
            let bytes: Vec<u8> =
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
            let start = bytes.iter().position(|b| *b != 0).unwrap_or(0);
            bytes[start..].to_vec()
        })
        .collect();
    assert!(
        !secrets.is_empty(),
        "no private value found in `openssl pkey -text` of {}:\n{text}",
        key.display()
    );
    for s in &secrets {
        assert!(s.len() >= 24, "a private value of {} is suspiciously short", key.display());
    }
    secrets
}

/// Byte strings that must never leave a key file: secrets, their hex, the PEM body, each
/// line of it, and the DER it encodes.
fn needles(key: &Path, passphrase: Option<&str>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let name = key.display().to_string();
    for (i, secret) in key_secrets(key, passphrase).into_iter().enumerate() {
        out.push((format!("{name}: secret #{i} (raw)"), secret.clone()));
        out.push((format!("{name}: secret #{i} (hex)"), hex(&secret).into_bytes()));
        out.push((format!("{name}: secret #{i} (HEX)"), hex(&secret).to_uppercase().into_bytes()));
    }
    let pem = fs::read_to_string(key).unwrap();
    let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    out.push((format!("{name}: base64 body"), body.concat().into_bytes()));
    for (i, line) in body.iter().enumerate().filter(|(_, l)| l.len() >= 32) {
        out.push((format!("{name}: base64 line {i}"), line.as_bytes().to_vec()));
    }
    // The key's own DER (PKCS#8, decrypted when it is encrypted).
    let mut args = vec![os("pkey"), os("-in"), key.as_os_str(), os("-outform"), os("DER")];
    let pass = passphrase.map(|p| format!("pass:{p}"));
    if let Some(p) = &pass {
        args.extend([os("-passin"), os(p)]);
    }
    let der = openssl(&args);
    assert!(der.status.success(), "openssl pkey -outform DER {}", key.display());
    // Self-check of the needles: each secret is really inside the key it was read from.
    for (what, secret) in out.iter().filter(|(n, _)| n.ends_with("(raw)")) {
        assert!(
            contains(&der.stdout, secret),
            "{what} is not in the key's own DER: the parsing above is wrong"
        );
    }
    out.push((format!("{name}: PKCS#8 DER"), der.stdout));
    out
}

/// Every `.key` file under `dir`, recursively.
fn key_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                found.extend(key_files(&p));
            } else if p.extension().is_some_and(|x| x == "key") {
                found.push(p);
            }
        }
    }
    found.sort();
    found
}

fn events_text(home: &Path) -> Vec<u8> {
    let rows: Vec<String> = ledger_testing::events(home)
        .into_iter()
        .map(|e| format!("{} {} {} {}", e.at, e.action, e.target, e.detail))
        .collect();
    assert!(rows.len() >= 5, "the events table is nearly empty: {rows:?}");
    rows.join("\n").into_bytes()
}

/// Runs every key-handling command of the product on one home and checks that no key and no
/// passphrase shows up anywhere it should not.
fn no_secret_leaves_its_key_file(encrypted: bool) {
    let mut s = Session::new(encrypted);
    let home = s.home.clone();
    let out = s.root.join("out");
    let renewed = s.root.join("renewed");
    let batch_out = s.root.join("batch");
    // A reader kept open for the whole session: SQLite then never checkpoints and deletes the
    // -wal on close, so every page any command wrote stays there to be searched.
    let mut keep_wal: Option<ledger_testing::OpenLedger> = None;

    let mut init = vec![os("init"), os("--name"), os("Hygiene Root CA"), os("--key-type"), os("p384")];
    if !encrypted {
        init.push(os("--no-passphrase"));
    }
    s.json(&init);
    keep_wal.replace(ledger_testing::hold_open(&home));
    let generated = s.json(&[os("issue"), os("client"), os("gen.example.com"), os("--out"), out.as_os_str()]);
    let rsa = s.json(&[
        os("issue"),
        os("server"),
        os("rsa.example.com"),
        os("--key-type"),
        os("rsa2048"),
        os("--out"),
        out.as_os_str(),
    ]);
    s.json(&[
        os("issue"),
        os("peer"),
        os("p384.example.com"),
        os("--key-type"),
        os("p384"),
        os("--out"),
        out.as_os_str(),
    ]);
    // A CSR whose key pkictl never sees.
    let csr_key = s.root.join("csr-owner.key");
    let csr = s.root.join("owner.csr");
    openssl_ok([
        os("genpkey"),
        os("-algorithm"),
        os("EC"),
        os("-pkeyopt"),
        os("ec_paramgen_curve:P-256"),
        os("-out"),
        csr_key.as_os_str(),
    ]);
    openssl_ok([
        os("req"),
        os("-new"),
        os("-key"),
        csr_key.as_os_str(),
        os("-subj"),
        os("/CN=csr.example.com"),
        os("-addext"),
        os("subjectAltName=DNS:csr.example.com"),
        os("-out"),
        csr.as_os_str(),
    ]);
    s.json(&[
        os("issue"),
        os("client"),
        os("csr.example.com"),
        os("--csr"),
        csr.as_os_str(),
        os("--out"),
        out.as_os_str(),
    ]);
    s.json(&[
        os("sign"),
        csr.as_os_str(),
        os("--profile"),
        os("server"),
        os("--name"),
        os("signed.example.com"),
        os("--out"),
        out.as_os_str(),
    ]);
    let batch = s.root.join("batch.txt");
    fs::write(&batch, "b1.example.com\nb2.example.com\nb3.example.com,10.9.8.7\n").unwrap();
    s.ok(&[
        os("--json"),
        os("issue"),
        os("client"),
        os("--batch"),
        batch.as_os_str(),
        os("--out"),
        batch_out.as_os_str(),
    ]);
    let gen_serial = generated["serial"].as_str().unwrap().to_string();
    let renewal = s.json(&[os("renew"), os(&gen_serial), os("--rekey"), os("--out"), renewed.as_os_str()]);
    let renewed_serial = renewal["serial"].as_str().unwrap().to_string();
    let p12 = s.root.join("gen.p12");
    let renewed_key = renewed.join("gen.example.com.key");
    s.json(&[
        os("export"),
        os(&renewed_serial),
        os("--format"),
        os("p12"),
        os("--key"),
        renewed_key.as_os_str(),
        os("--out"),
        p12.as_os_str(),
    ]);
    s.json(&[os("revoke"), os(rsa["serial"].as_str().unwrap()), os("--reason"), os("key-compromise")]);
    s.json(&[os("crl")]);
    s.json(&[os("list"), os("--status"), os("all")]);
    s.json(&[os("show"), os(&renewed_serial)]);
    s.json(&[os("ca"), os("list")]);
    s.json(&[os("doctor"), os("--scan"), out.as_os_str()]);
    let gen_crt = renewed.join("gen.example.com.fullchain.pem");
    s.ok(&[os("--json"), os("verify"), gen_crt.as_os_str(), os("--purpose"), os("client")]);
    s.ok(&[os("export"), os(&renewed_serial), os("--format"), os("fullchain")]);

    // Haystacks: the ledger, its -wal, every other file of the home, the events, the outputs.
    let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = home.join(format!("ledger.db{suffix}"));
        if let Ok(bytes) = fs::read(&path) {
            haystacks.push((path.display().to_string(), bytes));
        }
    }
    assert!(
        haystacks.iter().any(|(n, b)| n.ends_with("-wal") && b.len() > 4096),
        "the ledger's -wal should have been kept for searching"
    );
    drop(keep_wal.take());
    haystacks.push(("the events table".into(), events_text(&home)));
    for dir in ["ca", "crl"] {
        for e in fs::read_dir(home.join(dir)).unwrap().flatten() {
            haystacks.push((e.path().display().to_string(), fs::read(e.path()).unwrap()));
        }
    }
    for (what, bytes) in &s.outputs {
        haystacks.push((what.clone(), bytes.clone()));
    }

    // Needles: every private key involved, and the passphrases.
    let mut keys: Vec<(PathBuf, Option<&str>)> = Vec::new();
    for ca_key in key_files(&home.join("private")) {
        keys.push((ca_key, encrypted.then_some(PASSPHRASE)));
    }
    for dir in [&out, &renewed, &batch_out] {
        for k in key_files(dir) {
            keys.push((k, None));
        }
    }
    keys.push((csr_key.clone(), None));
    assert_eq!(keys.len(), 2 + 3 + 1 + 3 + 1, "keys found: {keys:?}");
    let mut all_needles: Vec<(String, Vec<u8>)> = Vec::new();
    for (key, pass) in &keys {
        all_needles.extend(needles(key, *pass));
    }
    all_needles.push(("the CA passphrase".into(), PASSPHRASE.as_bytes().to_vec()));
    all_needles.push(("the p12 password".into(), EXPORT_PASSWORD.as_bytes().to_vec()));
    let mut leaks = Vec::new();
    for (needle_name, needle) in &all_needles {
        for (hay_name, hay) in &haystacks {
            if contains(hay, needle) {
                leaks.push(format!("{needle_name} found in {hay_name}"));
            }
        }
    }
    assert!(leaks.is_empty(), "private material leaked:\n{}", leaks.join("\n"));

    // Modes: keys 0600, the home and its directories 0700, the ledger 0600, the p12 0600.
    let mut modes = Vec::new();
    for (key, _) in keys.iter().filter(|(k, _)| *k != csr_key) {
        modes.push((key.clone(), 0o600));
    }
    modes.push((p12.clone(), 0o600));
    modes.push((home.join("ledger.db"), 0o600));
    for d in ["", "private", "ca", "crl"] {
        modes.push((home.join(d), 0o700));
    }
    for (path, expected) in modes {
        assert_eq!(mode(&path), expected, "{} has mode {:o}", path.display(), mode(&path));
    }
    // The encrypted home's CA keys are really encrypted (and the plain home's are not).
    for ca_key in key_files(&home.join("private")) {
        let text = fs::read_to_string(&ca_key).unwrap();
        assert_eq!(text.contains("ENCRYPTED PRIVATE KEY"), encrypted, "{}", ca_key.display());
    }
}

#[test]
fn no_secret_leaves_its_key_file_plain_home() {
    no_secret_leaves_its_key_file(false);
}

#[test]
fn no_secret_leaves_its_key_file_encrypted_home() {
    no_secret_leaves_its_key_file(true);
}

/// Under `umask 000` every file is created with exactly the mode pkictl asks for: a key is
/// never world-readable, not even for a moment (a watcher polls the output directory while
/// 120 keys are written, and reads every group/world-readable file it sees).
#[test]
fn keys_are_created_0600_even_under_umask_000() {
    let mut s = Session::new(true);
    let home = s.home.clone();
    s.ok_with_umask(&[os("init"), os("--name"), os("Umask Root CA")], Some("000"));
    assert_eq!(mode(&home), 0o700);
    for d in ["private", "ca", "crl"] {
        assert_eq!(mode(&home.join(d)), 0o700, "{d}");
    }
    assert_eq!(mode(&home.join("ledger.db")), 0o600);
    for k in key_files(&home.join("private")) {
        assert_eq!(mode(&k), 0o600, "{}", k.display());
    }

    let out = s.root.join("out");
    s.ok_with_umask(
        &[os("issue"), os("client"), os("umask.example.com"), os("--out"), out.as_os_str()],
        Some("000"),
    );
    assert_eq!(mode(&out), 0o700, "the output directory pkictl created");
    assert_eq!(mode(&out.join("umask.example.com.key")), 0o600);
    for f in ["crt", "chain.pem", "fullchain.pem"] {
        assert_eq!(mode(&out.join(format!("umask.example.com.{f}"))), 0o644, "{f}");
    }
    let p12 = s.root.join("umask.p12");
    let serial = {
        let v = s.json(&[os("show"), os("umask.example.com")]);
        v["serial"].as_str().unwrap().to_string()
    };
    s.ok_with_umask(
        &[
            os("export"),
            os(&serial),
            os("--format"),
            os("p12"),
            os("--key"),
            out.join("umask.example.com.key").as_os_str(),
            os("--out"),
            p12.as_os_str(),
        ],
        Some("000"),
    );
    assert_eq!(mode(&p12), 0o600);

    // The window: watch a directory while a batch and single issues write into it.
    let watched = s.root.join("watched");
    fs::create_dir(&watched).unwrap();
    fs::set_permissions(&watched, fs::Permissions::from_mode(0o755)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (dir, stop) = (watched.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen = 0usize;
            let mut exposed = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                if let Ok(entries) = fs::read_dir(&dir) {
                    for e in entries.flatten() {
                        let Ok(meta) = fs::symlink_metadata(e.path()) else { continue };
                        seen += 1;
                        if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
                            if let Ok(bytes) = fs::read(e.path()) {
                                if contains(&bytes, b"PRIVATE KEY") {
                                    exposed.push(format!(
                                        "{} (mode {:o})",
                                        e.path().display(),
                                        meta.permissions().mode() & 0o777
                                    ));
                                }
                            }
                        }
                    }
                }
            }
            (seen, exposed)
        })
    };
    let batch = s.root.join("many.txt");
    fs::write(&batch, (0..100).map(|i| format!("w{i}.example.com\n")).collect::<String>()).unwrap();
    s.ok_with_umask(
        &[os("issue"), os("client"), os("--batch"), batch.as_os_str(), os("--out"), watched.as_os_str()],
        Some("000"),
    );
    for i in 0..20 {
        let name = format!("single{i}.example.com");
        s.ok_with_umask(
            &[os("issue"), os("client"), os(&name), os("--out"), watched.as_os_str()],
            Some("000"),
        );
    }
    stop.store(true, Ordering::SeqCst);
    let (seen, exposed) = watcher.join().unwrap();
    assert!(seen > 0, "the watcher saw nothing");
    assert!(
        exposed.is_empty(),
        "private keys were readable by group or others while being written:\n{}",
        exposed.join("\n")
    );
    for k in key_files(&watched) {
        assert_eq!(mode(&k), 0o600, "{}", k.display());
    }
    assert_eq!(key_files(&watched).len(), 120);
}

/// A CA key that group can read is refused by every command that needs it (exit 2, a
/// message that says `chmod 600`, nothing changed), and `doctor` reports it.
#[test]
fn a_group_readable_ca_key_is_refused() {
    let mut s = Session::new(true);
    let home = s.home.clone();
    s.ok(&[os("init"), os("--name"), os("Chmod Root CA")]);
    let out = s.root.join("out");
    let known = s.json(&[os("issue"), os("client"), os("known.example.com"), os("--out"), out.as_os_str()]);
    let serial = known["serial"].as_str().unwrap().to_string();
    let issuing_key = home.join("private/chmod-root-ca-issuing-ca.key");
    let root_key = home.join("private/chmod-root-ca.key");
    fs::set_permissions(&issuing_key, fs::Permissions::from_mode(0o640)).unwrap();
    fs::set_permissions(&root_key, fs::Permissions::from_mode(0o640)).unwrap();
    let renewed = s.root.join("renewed");
    let before = snapshot(&s.root);
    let refusals: Vec<Vec<&OsStr>> = vec![
        vec![os("issue"), os("client"), os("new.example.com"), os("--out"), out.as_os_str()],
        vec![os("crl")],
        vec![os("crl"), os("--ca"), os("Chmod Root CA")],
        vec![os("revoke"), os(&serial), os("--reason"), os("superseded")],
        vec![os("renew"), os(&serial), os("--rekey"), os("--out"), renewed.as_os_str()],
        vec![os("ca"), os("add-intermediate"), os("--name"), os("Second CA")],
    ];
    for a in &refusals {
        let mut cmd = s.cmd();
        cmd.args(a);
        let what = format!("pkictl {:?}", a);
        let output = run_command(cmd, None, &what);
        let stderr = assert_refusal(&output, 2, &what);
        assert!(stderr.contains("chmod 600"), "{what}: {stderr}");
    }
    assert_unchanged(&before, &snapshot(&s.root), "commands refused for a group-readable CA key");
    let mut cmd = s.cmd();
    cmd.arg("doctor");
    let doctor = run_command(cmd, None, "doctor");
    assert_eq!(doctor.status.code(), Some(1));
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(report.contains("PROBLEM") && report.contains("chmod 600"), "{report}");
}
