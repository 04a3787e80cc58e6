//! `pkictl agent` through the binary, against a local home (`--home`): `--once` exit codes,
//! a running agent renewing at two thirds of the lifetime from issuance, the reload command,
//! readers and SIGKILL never seeing a key without its certificate, and nginx reloaded by the
//! agent while a client keeps connecting. Certificates are checked with openssl.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::interop::{ChildGuard, free_port, port_accepts, wait_until};
use common::*;

const ROOT: &str = "Agent Root CA";
const ROOT_SLUG: &str = "agent-root-ca";

/// `pkictl --home HOME agent --cert … --key … EXTRA…` for a leaf issued into `tls/`.
fn agent(pki: &Pki, leaf: &Issued, extra: &[&str]) -> assert_cmd::Command {
    let mut cmd = pki.cmd();
    cmd.arg("agent").arg("--cert").arg(&leaf.crt).arg("--key").arg(leaf.key()).args(extra);
    cmd
}

/// The same as a plain process (for the tests that run it in the background or kill it).
fn agent_process(pki: &Pki, leaf: &Issued, extra: &[&str], log: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pkictl"));
    cmd.arg("--home")
        .arg(&pki.home)
        .arg("agent")
        .arg("--cert")
        .arg(&leaf.crt)
        .arg("--key")
        .arg(leaf.key())
        .args(extra)
        .env("PKICTL_PASSPHRASE", PASSPHRASE)
        .env_remove("PKICTL_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(log).expect("agent log"));
    cmd
}

/// The SubjectPublicKeyInfo of the first certificate of a PEM text.
fn cert_spki(pem: &[u8]) -> Option<Vec<u8>> {
    let der = pem_blocks(pem, "CERTIFICATE").into_iter().next()?;
    Some(pkictl::fuzzing::CertInfo::from_der(&der).ok()?.spki_der)
}

/// The SubjectPublicKeyInfo of the private key in a PEM text.
fn key_spki(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN PRIVATE KEY-----")?;
    let end = text.find("-----END PRIVATE KEY-----")? + "-----END PRIVATE KEY-----".len();
    Some(pkictl::KeyPair::from_pkcs8_pem(&text[start..end], None).ok()?.spki_der().to_vec())
}

fn pem_blocks(pem: &[u8], label: &str) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(pem);
    let (begin, end) = (format!("-----BEGIN {label}-----"), format!("-----END {label}-----"));
    let mut out = Vec::new();
    let mut rest = text.as_ref();
    while let Some(s) = rest.find(&begin) {
        let Some(e) = rest[s..].find(&end) else { break };
        let block = &rest[s..s + e + end.len()];
        let body: String = block.lines().filter(|l| !l.starts_with("-----")).collect();
        use base64ct::Encoding;
        if let Ok(der) = base64ct::Base64::decode_vec(&body) {
            out.push(der);
        }
        rest = &rest[s + e + end.len()..];
    }
    out
}

/// Key, certificate, chain and fullchain as the user's paths show them now agree: the key is
/// the certificate's, and the fullchain is the certificate followed by the chain.
fn assert_consistent(leaf: &Issued) {
    let crt = fs::read(&leaf.crt).expect("read the certificate");
    let key = fs::read(leaf.key()).expect("read the key");
    assert_eq!(cert_spki(&crt), key_spki(&key), "the key does not belong to the certificate");
    assert!(cert_spki(&crt).is_some(), "no certificate in {}", leaf.crt.display());
    let chain = pem_blocks(&fs::read(&leaf.chain).expect("chain"), "CERTIFICATE");
    let full = pem_blocks(&fs::read(&leaf.fullchain).expect("fullchain"), "CERTIFICATE");
    let mut expected = pem_blocks(&crt, "CERTIFICATE");
    expected.extend(chain);
    assert_eq!(full, expected, "the fullchain is not the certificate and its chain");
}

fn serial_of(cert: &Path) -> String {
    x509_serial(cert).to_ascii_lowercase()
}

fn verify_with_openssl(pki: &Pki, leaf: &Issued) {
    let root = pki.ca_cert(ROOT_SLUG);
    let out = openssl_ok([
        os("verify"),
        os("-x509_strict"),
        os("-CAfile"),
        root.as_os_str(),
        os("-untrusted"),
        leaf.chain.as_os_str(),
        leaf.crt.as_os_str(),
    ]);
    assert!(out.contains(": OK"), "{out}");
    assert_eq!(cert_public(&leaf.crt), key_public(leaf.key()), "openssl: the key does not match");
}

fn unencrypted() -> Pki {
    Pki::init_unencrypted(ROOT)
}

#[test]
fn once_says_not_due_renewed_or_failed_in_its_exit_code() {
    let pki = unencrypted();
    let leaf = pki.issue("server", "api.agent.test", &["--validity", "1h"], "tls");
    let first_serial = serial_of(&leaf.crt);

    // Not due: exit 3, nothing changed.
    let before = snapshot_dir(&pki.path("tls"));
    let out = agent(&pki, &leaf, &["--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stdout_of(&out).starts_with("not due: renewal at "), "{}", stdout_of(&out));
    assert_eq!(snapshot_dir(&pki.path("tls")), before, "a renewal that is not due changed files");
    let report = json_object(&agent(&pki, &leaf, &["--once", "--json"]).output().unwrap());
    assert_eq!(report["outcome"], "not_due", "{report}");
    // Due at 2/3 of the hour from issuance (notBefore + 5 min), less at most 3% jitter.
    let issued = time_of(report["issued_at"].as_str().unwrap());
    let due = time_of(report["renew_at"].as_str().unwrap());
    let not_after = time_of(report["not_after"].as_str().unwrap());
    assert_eq!(not_after - issued, 3600, "{report}");
    assert!((2400 - 108..=2400).contains(&(due - issued)), "{report}");

    // Renewed: exit 0, a new key and certificate that openssl accepts, the hook ran after it.
    let marker = pki.path("hook.out");
    let hook = format!("echo \"$PKICTL_AGENT_SERIAL\" >> {}", marker.display());
    let out = agent(&pki, &leaf, &["--once", "--force", "--exec", &hook]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let second_serial = serial_of(&leaf.crt);
    assert_ne!(second_serial, first_serial);
    assert!(
        stdout_of(&out).starts_with(&format!("renewed: {second_serial} replaces {first_serial}")),
        "{}",
        stdout_of(&out)
    );
    assert_eq!(
        fs::read_to_string(&marker).unwrap().trim(),
        second_serial,
        "the hook ran once, after the renewal"
    );
    verify_with_openssl(&pki, &leaf);
    assert_consistent(&leaf);
    let stderr = stderr_of(&out);
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    // The ledger links the two, and the old one is not revoked (passive revocation).
    let shown = pki.json(&["show", &second_serial]);
    assert!(shown.to_string().contains(&first_serial), "no renewal link: {shown}");
    assert_eq!(pki.json(&["show", &first_serial])["status"], "valid");

    // --keep-key certifies the same key again.
    let key_before = key_public(leaf.key());
    let out = agent(&pki, &leaf, &["--once", "--force", "--keep-key"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(key_public(leaf.key()), key_before);
    assert_ne!(serial_of(&leaf.crt), second_serial);
    verify_with_openssl(&pki, &leaf);

    // Failed: a revoked certificate is not renewed (exit 1), the files stay as they were.
    let current = serial_of(&leaf.crt);
    pki.revoke(&current, "key-compromise");
    let before = snapshot_dir(&pki.path("tls"));
    let out = agent(&pki, &leaf, &["--once", "--force"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let stderr = stderr_of(&out);
    assert!(stderr.contains("renewal failed") && stderr.contains("revoked"), "{stderr}");
    assert!(stderr.contains("the certificate expires at"), "{stderr}");
    assert_eq!(snapshot_dir(&pki.path("tls")), before);
    let report = json_object(&agent(&pki, &leaf, &["--once", "--force", "--json"]).output().unwrap());
    assert_eq!(report["outcome"], "failed", "{report}");
}

#[test]
fn once_fails_when_the_home_cannot_be_used_and_refuses_bad_input() {
    let pki = unencrypted();
    let leaf = pki.issue("client", "billing.agent.test", &["--validity", "1h"], "tls");
    // The home is missing: the renewal fails (exit 1), nothing changes.
    let before = snapshot_dir(&pki.path("tls"));
    let mut cmd = pkictl(&pki.path("no-such-home"));
    let out = cmd
        .args(["agent", "--once", "--force", "--cert", arg(&leaf.crt), "--key", arg(leaf.key())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("not a pkictl home"), "{}", stderr_of(&out));
    assert_eq!(snapshot_dir(&pki.path("tls")), before);

    // A certificate of another home is refused by this one.
    let other = Pki::init_unencrypted("Other Root CA");
    let stranger = other.issue("client", "x.agent.test", &["--validity", "1h"], "tls");
    let out = agent(&pki, &stranger, &["--once", "--force"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("not issued by this CA"), "{}", stderr_of(&out));

    // Bad usage and bad input: exit 2.
    let out = agent(&pki, &leaf, &["--once", "--renew-at", "3/2"]).output().unwrap();
    assert_error(&out, 2);
    let wrong_key = Issued { key: stranger.key.clone(), ..leaf.clone() };
    let out = agent(&pki, &wrong_key, &["--once"]).output().unwrap();
    assert!(assert_error(&out, 2).contains("does not belong to the certificate"));
    let missing = Issued { crt: pki.path("tls/missing.crt"), ..leaf.clone() };
    assert_error(&agent(&pki, &missing, &["--once"]).output().unwrap(), 2);
    let out = agent(&pki, &leaf, &["--once", "--server", "https://127.0.0.1:1"]).output().unwrap();
    assert_error(&out, 2); // --server needs --root
    assert_eq!(snapshot_dir(&pki.path("tls")), before);

    // An online CA that cannot be reached: exit 1, nothing changed.
    let root = pki.ca_cert(ROOT_SLUG);
    let out =
        agent(&pki, &leaf, &["--once", "--force", "--server", "https://127.0.0.1:1", "--root", arg(&root)])
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(snapshot_dir(&pki.path("tls")), before);

    // An expired certificate is not renewed: renewal is due, and refused.
    let short = pki.issue("client", "short.agent.test", &["--validity", "1s"], "short");
    wait_until(
        "the 1-second certificate to expire",
        Duration::from_secs(10),
        || time_of_openssl(&x509_field(&short.crt, "-enddate")) < now_unix() - 1,
        String::new,
    );
    let out = agent(&pki, &short, &["--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("expired"), "{}", stderr_of(&out));
}

fn time_of(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .unix_timestamp()
}

/// Reads the user's paths in a loop. Whenever the certificate read before and after the key
/// is the same, that key must be its key (no rotation can have slipped in between); the
/// bundle, one file, must always be consistent. Returns (checks, rotations seen).
fn reader(leaf: Issued, bundle: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(usize, usize)> {
    std::thread::spawn(move || {
        let (mut checks, mut serials) = (0, std::collections::BTreeSet::new());
        while !stop.load(Ordering::Relaxed) {
            let (Ok(c1), Ok(k), Ok(c2)) = (fs::read(&leaf.crt), fs::read(leaf.key()), fs::read(&leaf.crt))
            else {
                panic!("a file of the pair could not be read during a rotation");
            };
            if c1 == c2 {
                assert_eq!(
                    cert_spki(&c1),
                    key_spki(&k),
                    "a reader saw a key that does not match the certificate"
                );
                checks += 1;
                serials.insert(c1);
            }
            if let Ok(b) = fs::read(&bundle) {
                assert_eq!(
                    cert_spki(&b),
                    key_spki(&b),
                    "the bundle holds a key that does not match its certificate"
                );
            }
        }
        (checks, serials.len())
    })
}

#[test]
fn a_running_agent_renews_at_two_thirds_of_the_lifetime_from_issuance() {
    // Passphrase-protected home: the passphrase comes from $PKICTL_PASSPHRASE at each renewal.
    let pki = Pki::init(&["--name", ROOT]);
    let leaf = pki.issue("peer", "node1.agent.test", &["--validity", "15s"], "tls");
    let original_not_before = time_of_openssl(&x509_field(&leaf.crt, "-startdate"));
    let log = pki.path("agent.log");
    let hooks = pki.path("hooks.log");
    let bundle = pki.path("tls/node1.pem");
    let hook = format!("echo \"$PKICTL_AGENT_SERIAL\" >> {}", hooks.display());
    let mut cmd = agent_process(&pki, &leaf, &["--exec", &hook, "--bundle", arg(&bundle)], &log);
    let stop = Arc::new(AtomicBool::new(false));
    let reading = reader(leaf.clone(), bundle.clone(), stop.clone());
    let mut process = ChildGuard::spawn("pkictl agent", &mut cmd);
    let read_log = || fs::read_to_string(&log).unwrap_or_default();
    let hook_lines = || fs::read_to_string(&hooks).unwrap_or_default().lines().count();
    wait_until("two renewals by the agent", Duration::from_secs(60), || hook_lines() >= 2, read_log);
    assert!(process.try_status().is_none(), "the agent stopped:\n{}", read_log());
    drop(process);
    stop.store(true, Ordering::Relaxed);
    let (checks, seen) = reading.join().expect("the reader found a mismatch");
    assert!(checks > 10 && seen >= 3, "the reader checked {checks} pairs of {seen} certificates");

    // The first renewal was scheduled at 2/3 of 15 s counted from issuance (notBefore + 5 min),
    // not from the backdated notBefore, less at most 3% jitter; and it did not happen before.
    let text = read_log();
    let watching = text.lines().find(|l| l.contains("watching")).unwrap_or_else(|| panic!("{text}"));
    let due = time_of(watching.rsplit("renewal due at ").next().unwrap().trim());
    let issued = original_not_before + 300;
    assert!((issued + 9..=issued + 10).contains(&due), "due at {due}, issued at {issued}:\n{text}");
    let history = pki.json(&["list", "--status", "all", "--profile", "peer"]);
    let starts: Vec<i64> = history["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap().to_string())
        .filter(|s| *s != serial_of_issued(&leaf))
        .map(|s| time_of(pki.json(&["show", &s])["not_before"].as_str().unwrap()) + 300)
        .collect();
    assert!(
        starts.len() >= 2 && starts.iter().all(|t| *t >= due),
        "renewed before it was due: {starts:?} < {due}\n{text}"
    );
    assert!(text.contains("ran the reload command"), "{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    verify_with_openssl(&pki, &leaf);
    assert_consistent(&leaf);
    // The bundle is key + fullchain of the current certificate.
    let b = fs::read(&bundle).unwrap();
    assert_eq!(pem_blocks(&b, "CERTIFICATE"), pem_blocks(&fs::read(&leaf.fullchain).unwrap(), "CERTIFICATE"));
    assert_mode(&bundle, 0o600);
    assert_mode(leaf.key(), 0o600);
}

fn serial_of_issued(leaf: &Issued) -> String {
    leaf.serial.clone()
}

/// "Dec  1 10:55:06 2026 GMT" as Unix seconds.
fn time_of_openssl(value: &str) -> i64 {
    let (y, m, d, hms) = parse_openssl_date(value);
    let month = time::Month::try_from(m as u8).unwrap();
    let date = time::Date::from_calendar_date(y as i32, month, d as u8).unwrap();
    let parts: Vec<u8> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    let t = time::Time::from_hms(parts[0], parts[1], parts[2]).unwrap();
    time::PrimitiveDateTime::new(date, t).assume_utc().unix_timestamp()
}

#[test]
fn sigkill_at_any_point_never_leaves_a_mismatched_pair() {
    let pki = unencrypted();
    let leaf = pki.issue("client", "crash.agent.test", &["--validity", "1h"], "tls");
    let work = pki.work();
    // How long one renewal takes here, to spread the kills over it.
    let started = Instant::now();
    let out = agent(&pki, &leaf, &["--once", "--force"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let span = started.elapsed().as_micros().max(1000) as u64 * 3 / 2;
    let seed = std::env::var("PKICTL_AGENT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("seed {seed} (PKICTL_AGENT_SEED replays it), kills spread over {span} µs");
    let mut rng = seed | 1;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let stop = Arc::new(AtomicBool::new(false));
    let bundle = pki.path("tls/unused.pem");
    let reading = reader(leaf.clone(), bundle, stop.clone());
    let (mut changed, kills) = (0, 30);
    for i in 0..kills {
        let before = serial_of(&leaf.crt);
        let mut cmd = agent_process(&pki, &leaf, &["--once", "--force"], &work.join(format!("kill-{i}.log")));
        let mut child = ChildGuard::spawn("pkictl agent --once", &mut cmd);
        std::thread::sleep(Duration::from_micros(next() % span));
        let _ = Command::new("kill").arg("-KILL").arg(child.id().to_string()).status();
        child.wait_timeout(Duration::from_secs(20)).expect("the killed agent is reaped");
        assert_consistent(&leaf);
        if serial_of(&leaf.crt) != before {
            changed += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (checks, _) = reading.join().expect("the reader found a mismatch");
    eprintln!(
        "{changed} of {kills} killed renewals had swapped the files; the reader checked {checks} pairs"
    );
    // Whatever was left behind, the next renewal works and cleans up old generations.
    let out = agent(&pki, &leaf, &["--once", "--force"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    verify_with_openssl(&pki, &leaf);
    let state = pki.path("tls/.crash.agent.test.crt.pkictl-agent");
    let generations = dir_entries(&state).iter().filter(|n| n.starts_with("g-")).count();
    assert!(generations <= 2, "old generations are not cleaned up: {:?}", dir_entries(&state));
}

/// nginx serves a short-lived pkictl certificate while the agent renews it and reloads nginx:
/// the serial a client sees changes at least twice and no handshake fails.
#[test]
fn nginx_reloaded_by_the_agent_serves_each_new_certificate_without_a_failed_handshake() {
    let pki = unencrypted();
    let leaf = pki.issue("server", "localhost", &["--ip", "127.0.0.1", "--validity", "12s"], "tls");
    let root = pki.ca_cert(ROOT_SLUG);
    let dir = pki.path("nginx");
    fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let conf = dir.join("nginx.conf");
    let pid = dir.join("nginx.pid");
    let d = dir.display();
    fs::write(
        &conf,
        format!(
            r#"daemon off;
master_process on;
worker_processes 1;
pid {pid};
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {d}/cb; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
    access_log {d}/access.log;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {fullchain};
        ssl_certificate_key {key};
        location / {{ return 200 "ok\n"; }}
    }}
}}
"#,
            pid = pid.display(),
            fullchain = leaf.fullchain.display(),
            key = leaf.key().display(),
        ),
    )
    .unwrap();
    let mut cmd = Command::new(common::interop::nginx_binary());
    cmd.arg("-p").arg(&dir).arg("-c").arg(&conf).arg("-e").arg(dir.join("error.log")).stdin(Stdio::null());
    let _nginx = Nginx(ChildGuard::spawn("nginx", &mut cmd));
    let error_log = || fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    wait_until("nginx to listen", Duration::from_secs(10), || port_accepts(port) && pid.exists(), error_log);

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let client = {
        let (stop, failures, root) = (stop.clone(), failures.clone(), root.clone());
        let work = pki.work();
        std::thread::spawn(move || {
            let mut serials: Vec<String> = Vec::new();
            let mut handshakes = 0;
            while !stop.load(Ordering::Relaxed) {
                match handshake(port, &root, &work) {
                    Ok(serial) => {
                        handshakes += 1;
                        if serials.last() != Some(&serial) {
                            serials.push(serial);
                        }
                    }
                    Err(e) => {
                        eprintln!("failed handshake: {e}");
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            (handshakes, serials)
        })
    };
    let log = pki.path("agent.log");
    let reload = format!("kill -HUP $(cat {})", pid.display());
    let mut agent_cmd = agent_process(&pki, &leaf, &["--exec", &reload], &log);
    let agent = ChildGuard::spawn("pkictl agent", &mut agent_cmd);
    let renewals = || fs::read_to_string(&log).unwrap_or_default().matches("ran the reload command").count();
    wait_until(
        "three renewals and reloads",
        Duration::from_secs(60),
        || renewals() >= 3,
        || format!("{}\n{}", fs::read_to_string(&log).unwrap_or_default(), error_log()),
    );
    // Give the last reload time to be seen by the client.
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let (handshakes, serials) = client.join().expect("client thread");
    drop(agent);
    let failed = failures.load(Ordering::Relaxed);
    assert_eq!(failed, 0, "{failed} of {handshakes} handshakes failed during rotations\n{}", error_log());
    eprintln!("{handshakes} handshakes, none failed; serials served: {serials:?}");
    assert!(
        serials.len() >= 3,
        "the served serial changed {} times: {serials:?}\n{}",
        serials.len() - 1,
        error_log()
    );
    assert_eq!(serials.last(), Some(&serial_of(&leaf.crt)), "nginx serves the current certificate");
}

/// nginx with a master process: stopped with SIGTERM, so that the master takes its workers
/// down with it (SIGKILL would leave them running, holding the port and the test's pipes).
struct Nginx(ChildGuard);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let _ = self.0.wait_timeout(Duration::from_secs(10));
    }
}

/// One TLS handshake with `openssl s_client`, verified against `root` for localhost; the
/// serial of the certificate the server presented.
fn handshake(port: u16, root: &Path, work: &Path) -> Result<String, String> {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "localhost"])
        .args(["-verify_return_error", "-verify_hostname", "localhost", "-CAfile"])
        .arg(root)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || !text.contains("Verify return code: 0 (ok)") {
        return Err(format!("{}\n{text}\n{}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    let pem_path = work.join(format!("served-{port}.pem"));
    fs::write(&pem_path, &text).map_err(|e| e.to_string())?;
    Ok(serial_of(&pem_path))
}

/// While the CA cannot be used (here: its home has been moved away), a running agent logs each
/// failure with when the certificate expires if it keeps failing, backs off, and renews once the
/// home is back.
#[test]
fn a_running_agent_retries_with_backoff_and_says_when_the_certificate_expires() {
    let pki = unencrypted();
    let leaf = pki.issue("client", "retry.agent.test", &["--validity", "1h"], "tls");
    let first = serial_of(&leaf.crt);
    let away = pki.path("pki-away");
    fs::rename(&pki.home, &away).unwrap();
    let log = pki.path("agent.log");
    let mut cmd = agent_process(&pki, &leaf, &["--force"], &log);
    let process = ChildGuard::spawn("pkictl agent", &mut cmd);
    let read_log = || fs::read_to_string(&log).unwrap_or_default();
    wait_until(
        "a logged failure",
        Duration::from_secs(30),
        || read_log().contains("renewal failed"),
        read_log,
    );
    let text = read_log();
    let failure = text.lines().find(|l| l.contains("renewal failed")).unwrap();
    assert!(failure.contains("not a pkictl home"), "{failure}");
    assert!(failure.contains("retrying in 10 s"), "{failure}");
    assert!(failure.contains("if renewal keeps failing, the certificate expires at"), "{failure}");
    assert_eq!(serial_of(&leaf.crt), first, "a failed renewal changed the certificate");
    fs::rename(&away, &pki.home).unwrap();
    wait_until(
        "the renewal after the home is back",
        Duration::from_secs(60),
        || read_log().contains("renewed:"),
        read_log,
    );
    drop(process);
    assert_ne!(serial_of(&leaf.crt), first);
    verify_with_openssl(&pki, &leaf);
    assert_consistent(&leaf);
}

/// `--server`: renewal over mutual TLS against `pkictl serve`'s `/v1/renew`, authenticated by
/// the current certificate; refused once it is revoked.
#[test]
fn the_agent_renews_over_mutual_tls_against_serve() {
    let pki = unencrypted();
    let leaf = pki.issue("client", "remote.agent.test", &[], "tls");
    let serve = common::serve::Serve::start(&pki, &["--name", "localhost"]);
    let https = serve.https.clone().expect("an HTTPS listener");
    let root = pki.ca_cert(ROOT_SLUG);
    let first = serial_of(&leaf.crt);
    let out = agent(&pki, &leaf, &["--once", "--force", "--server", &https, "--root", arg(&root)]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stderr_of(&out), serve.log());
    let second = serial_of(&leaf.crt);
    assert_ne!(second, first, "a new certificate");
    verify_with_openssl(&pki, &leaf);
    assert_consistent(&leaf);
    assert!(serve.log().contains("POST /v1/renew 200"), "{}", serve.log());
    let shown = pki.json(&["show", &second]);
    assert!(shown.to_string().contains(&first), "the renewal is linked to the old certificate: {shown}");

    pki.revoke(&second, "key-compromise");
    let before = snapshot_dir(&pki.path("tls"));
    let out = agent(&pki, &leaf, &["--once", "--force", "--server", &https, "--root", arg(&root)]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("revoked"), "{}", stderr_of(&out));
    assert_eq!(snapshot_dir(&pki.path("tls")), before, "a refused renewal changes no file");
    assert!(serve.stop().success());
}
