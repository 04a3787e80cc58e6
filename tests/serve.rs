//! `pkictl serve` as a process, judged by clients we did not write: `openssl ocsp` (POST and
//! GET, nonce on and off), curl, Python `cryptography`, nginx (`ssl_ocsp`, `ssl_stapling`).
//! Revocations come from separate `pkictl revoke` processes on the same home, as operators make
//! them. Every server is stopped by its pid.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::interop::{ChildGuard, curl_binary, free_port, port_accepts, python, run_bounded, wait_until};
use base64ct::Encoding;
use common::serve::{Serve, serve_command};
use common::*;

const ROOT_SLUG: &str = "test-root-ca";

struct Home {
    pki: Pki,
    issuing_slug: String,
    root_pem: PathBuf,
    issuing_pem: PathBuf,
}

/// A passphrase-protected home, with its root and issuing CA certificates written out.
fn home() -> Home {
    let pki = Pki::init(&[]);
    let cas = pki.json(&["ca", "list"]);
    let issuing_slug = cas["authorities"]
        .as_array()
        .expect("authorities")
        .iter()
        .find(|ca| ca["default"] == true)
        .and_then(|ca| ca["slug"].as_str())
        .expect("a default issuing CA")
        .to_string();
    let root_pem = pki.ca_cert(ROOT_SLUG);
    let issuing_pem = pki.ca_cert(&issuing_slug);
    Home { pki, issuing_slug, root_pem, issuing_pem }
}

/// `openssl ocsp` about `cert` (issued by `issuer`) at the server; the whole output.
fn openssl_ocsp(h: &Home, serve: &Serve, issuer: &Path, cert: &Path, extra: &[&str]) -> String {
    let mut args: Vec<String> = vec![
        "ocsp".into(),
        "-issuer".into(),
        arg(issuer).into(),
        "-cert".into(),
        arg(cert).into(),
        "-url".into(),
        format!("{}/ocsp", serve.http),
        "-CAfile".into(),
        arg(&h.root_pem).into(),
        "-timeout".into(),
        "10".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = openssl(&args);
    let text = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(out.status.success(), "openssl {args:?} failed:\n{text}\nserve log:\n{}", serve.log());
    text
}

fn status_line(text: &str, cert: &Path) -> String {
    let prefix = format!("{}: ", cert.display());
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no status line for {} in:\n{text}", cert.display()))
        .to_string()
}

fn curl(args: &[&str], scratch: &Path) -> common::interop::Finished {
    let mut cmd = Command::new(curl_binary());
    cmd.args(["-sS", "--max-time", "10", "--noproxy", "*"]).args(args);
    run_bounded("curl", &mut cmd, b"", scratch, Duration::from_secs(20))
}

/// GET `url` into `file`; returns the response headers, lower-cased.
fn fetch(url: &str, file: &Path, extra: &[&str]) -> String {
    let scratch = file.parent().expect("a directory").join("curl");
    let mut args = vec!["-D", "-", "-o", arg(file), url];
    args.extend_from_slice(extra);
    let done = curl(&args, &scratch);
    assert!(done.status.success(), "curl {url} failed: {}", done.all());
    done.stdout.to_lowercase()
}

#[test]
fn ocsp_answers_good_revoked_and_unknown_and_sees_cli_revocations_within_a_second() {
    let h = home();
    let leaf = h.pki.issue("server", "api.test", &[], "tls");
    let serve = Serve::start(&h.pki, &["--no-https"]);

    let text = openssl_ocsp(&h, &serve, &h.issuing_pem, &leaf.crt, &["-resp_text"]);
    assert!(text.contains("Response verify OK"), "{text}");
    assert_eq!(status_line(&text, &leaf.crt), "good");
    // Signed by a delegated responder the issuing CA certified, sent along, recorded.
    assert!(text.contains("OCSP Signing") && text.contains("OCSP No Check"), "{text}");
    assert!(text.contains("OCSP Responder"), "{text}");
    let responders = listed_certificates(&h.pki.home, &["--profile", "ocsp-responder"]);
    assert_eq!(responders.len(), 2, "one responder per CA: {responders:?}");
    let text = openssl_ocsp(&h, &serve, &h.issuing_pem, &leaf.crt, &["-no_nonce"]);
    assert_eq!(status_line(&text, &leaf.crt), "good", "{text}");

    // The intermediate is answered too (nginx asks about every certificate but the root).
    let text = openssl_ocsp(&h, &serve, &h.root_pem, &h.issuing_pem, &[]);
    assert_eq!(status_line(&text, &h.issuing_pem), "good", "{text}");

    // A serial this CA never issued.
    let mut args: Vec<String> = ["ocsp", "-issuer", arg(&h.issuing_pem), "-serial", "0x1234abcd", "-CAfile"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend([arg(&h.root_pem).to_string(), "-url".into(), format!("{}/ocsp", serve.http)]);
    let out = openssl(&args);
    assert!(stdout_of(&out).contains("0x1234abcd: unknown"), "{}{}", stdout_of(&out), stderr_of(&out));

    // Revoked by another process: served within a second, with time and reason.
    h.pki.revoke(&leaf.serial, "key-compromise");
    let revoked_at = Instant::now();
    let mut text = String::new();
    while revoked_at.elapsed() < Duration::from_secs(1) {
        text = openssl_ocsp(&h, &serve, &h.issuing_pem, &leaf.crt, &["-no_nonce"]);
        if status_line(&text, &leaf.crt) == "revoked" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status_line(&text, &leaf.crt), "revoked", "not revoked within 1 s:\n{text}");
    assert!(text.contains("Reason: keyCompromise"), "{text}");
    assert!(text.contains("Revocation Time:"), "{text}");
    assert!(serve.stop().success());
}

#[test]
fn ocsp_get_form_is_cacheable_and_parsed_by_python_cryptography() {
    let h = home();
    let leaf = h.pki.issue("server", "get.test", &[], "tls");
    let serve = Serve::start(&h.pki, &["--no-https", "--ocsp-validity", "10m"]);
    let work = h.pki.work();
    let request = work.join("request.der");
    openssl_ok([
        "ocsp", "-issuer", arg(&h.issuing_pem), "-cert", arg(&leaf.crt), "-no_nonce", "-reqout", arg(&request),
    ]);
    let der = fs::read(&request).expect("the request");
    // nginx's form: standard base64 with its '+', '/' and '=' percent-escaped.
    let escaped: String = base64ct::Base64::encode_string(&der)
        .chars()
        .map(|c| match c {
            '+' => "%2B".to_string(),
            '/' => "%2F".to_string(),
            '=' => "%3D".to_string(),
            c => c.to_string(),
        })
        .collect();
    let response = work.join("response.der");
    let headers = fetch(&format!("{}/ocsp/{escaped}", serve.http), &response, &["-0"]);
    assert!(headers.contains("content-type: application/ocsp-response"), "{headers}");
    let max_age: i64 = headers
        .lines()
        .find_map(|l| l.strip_prefix("cache-control: max-age="))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no max-age in {headers}"));
    assert!((1..=600).contains(&max_age), "max-age {max_age} must not reach past nextUpdate (10 min)");
    let text = stdout_of(&openssl([
        "ocsp", "-respin", arg(&response), "-issuer", arg(&h.issuing_pem), "-CAfile", arg(&h.root_pem), "-resp_text",
    ]));
    assert!(text.contains("Cert Status: good"), "{text}");

    let script = r#"
import sys
from cryptography import x509
from cryptography.x509 import ocsp
resp = ocsp.load_der_ocsp_response(open(sys.argv[1], "rb").read())
assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL, resp.response_status
leaf = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
assert resp.serial_number == leaf.serial_number
left = (resp.next_update_utc - resp.this_update_utc).total_seconds()
print(resp.certificate_status.name, int(left))
"#;
    let out = Command::new(python()).arg("-c").arg(script).arg(&response).arg(&leaf.crt).output().expect("python");
    assert!(out.status.success(), "python: {}", stderr_of(&out));
    assert_eq!(stdout_of(&out).trim(), "GOOD 600");
    assert!(serve.stop().success());
}

#[test]
fn malformed_ocsp_requests_are_answered_not_crashed_on() {
    let h = home();
    let serve = Serve::start(&h.pki, &["--no-https"]);
    let work = h.pki.work();
    let body = work.join("garbage.der");
    fs::write(&body, b"\x30\x03\x02\x01").expect("write");
    let response = work.join("malformed.der");
    let done = curl(
        &[
            "-o",
            arg(&response),
            "-w",
            "%{http_code}",
            "-H",
            "Content-Type: application/ocsp-request",
            "--data-binary",
            &format!("@{}", arg(&body)),
            &format!("{}/ocsp", serve.http),
        ],
        &work.join("curl"),
    );
    assert_eq!(done.stdout, "200", "{}", done.all());
    // OCSPResponse { responseStatus malformedRequest (1) }
    assert_eq!(fs::read(&response).expect("response"), [0x30, 0x03, 0x0a, 0x01, 0x01]);
    let done = curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("{}/ocsp/%%%not-base64", serve.http)], &work.join("curl"));
    assert_eq!(done.stdout, "400", "{}", done.all());
    // Still serving.
    let done = curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("{}/healthz", serve.http)], &work.join("curl"));
    assert_eq!(done.stdout, "200", "{}\n{}", done.all(), serve.log());
    assert!(serve.stop().success());
}

#[test]
fn crls_and_ca_certificates_are_served_with_caching_headers() {
    let h = home();
    let serve = Serve::start(&h.pki, &["--no-https"]);
    let work = h.pki.work();
    let crl = work.join("issuing.crl");
    let headers = fetch(&format!("{}/crl/{}.crl", serve.http, h.issuing_slug), &crl, &[]);
    assert!(headers.contains("content-type: application/pkix-crl"), "{headers}");
    let etag = headers.lines().find_map(|l| l.strip_prefix("etag: ")).expect("an ETag").trim().to_string();
    assert!(headers.contains("last-modified: "), "{headers}");
    openssl_ok(["crl", "-inform", "DER", "-in", arg(&crl), "-CAfile", arg(&h.issuing_pem), "-noout"]);
    // The ledger's newest CRL is what is served.
    assert_eq!(fs::read(&crl).expect("crl"), fs::read(h.pki.crl_der(&h.issuing_slug)).expect("crl file"));
    let again = fetch(&format!("{}/crl/{}.crl", serve.http, h.issuing_slug), &work.join("again.crl"), &["-H", &format!("If-None-Match: {etag}")]);
    assert!(again.starts_with("http/1.1 304"), "{again}");

    let ca = work.join("root.crt");
    let headers = fetch(&format!("{}/ca/{ROOT_SLUG}.crt", serve.http), &ca, &[]);
    assert!(headers.contains("content-type: application/pkix-cert"), "{headers}");
    assert_eq!(fs::read(&ca).expect("ca"), cert_der(&h.root_pem));
    let missing = fetch(&format!("{}/crl/nobody.crl", serve.http), &work.join("none"), &[]);
    assert!(missing.starts_with("http/1.1 404"), "{missing}");
    assert!(serve.stop().success());
}

#[test]
fn a_crl_past_half_of_its_lifetime_is_resigned_without_any_command() {
    let h = home();
    let serve = Serve::start(&h.pki, &["--no-https", "--crl-next-update", "4s"]);
    let work = h.pki.work();
    let number = |file: &Path| {
        let text = openssl_ok(["crl", "-inform", "DER", "-in", arg(file), "-noout", "-crlnumber"]);
        i64::from_str_radix(text.trim().trim_start_matches("crlNumber=0x").trim_start_matches("crlNumber="), 16)
            .unwrap_or_else(|_| panic!("no CRL number in {text}"))
    };
    let first = work.join("first.crl");
    fetch(&format!("{}/crl/{}.crl", serve.http, h.issuing_slug), &first, &[]);
    let start = number(&first);
    let later = work.join("later.crl");
    wait_until(
        "a CRL re-signed by serve",
        Duration::from_secs(15),
        || {
            fetch(&format!("{}/crl/{}.crl", serve.http, h.issuing_slug), &later, &[]);
            number(&later) > start
        },
        || serve.log(),
    );
    let text = openssl_ok(["crl", "-inform", "DER", "-in", arg(&later), "-noout", "-lastupdate", "-nextupdate"]);
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).map(openssl_date_unix).expect(name);
    assert_eq!(field("nextUpdate=") - field("lastUpdate="), 4, "{text}");
    assert!(serve.stop().success());
}

#[test]
fn healthz_and_metrics_report_freshness_and_counts() {
    let h = home();
    h.pki.issue("server", "m.test", &[], "tls");
    let serve = Serve::start(&h.pki, &["--no-https"]);
    let work = h.pki.work();
    let health = work.join("health.json");
    let headers = fetch(&format!("{}/healthz", serve.http), &health, &[]);
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&health).expect("health")).expect("JSON");
    assert_eq!(json["ok"], true, "{json}");
    assert_eq!(json["cas"].as_array().map(Vec::len), Some(2), "{json}");
    assert!(json["cas"].as_array().unwrap().iter().all(|ca| ca["can_sign"] == true && ca["crl_next_update"].is_i64()));

    let leaf = h.pki.issue("server", "n.test", &[], "tls");
    openssl_ocsp(&h, &serve, &h.issuing_pem, &leaf.crt, &["-no_nonce"]);
    let metrics = work.join("metrics.txt");
    fetch(&format!("{}/metrics", serve.http), &metrics, &[]);
    let text = fs::read_to_string(&metrics).expect("metrics");
    assert!(text.contains(&format!("pkictl_crl_age_seconds{{ca=\"{}\"}}", h.issuing_slug)), "{text}");
    assert!(text.contains("pkictl_certificates{status=\"valid\"} "), "{text}");
    assert!(text.contains("pkictl_next_expiry_seconds "), "{text}");
    assert!(text.contains("pkictl_ocsp_responses_total{method=\"POST\",status=\"good\"} 1"), "{text}");
    assert!(serve.stop().success());
}

#[test]
fn a_wrong_passphrase_stops_serve_before_it_listens() {
    let h = home();
    let log = h.pki.path("wrong.log");
    let mut cmd = serve_command(&h.pki.home, &log);
    cmd.env("PKICTL_PASSPHRASE", "not the passphrase").args(["--http", "127.0.0.1:0", "--no-https"]);
    let mut process = ChildGuard::spawn("pkictl serve", &mut cmd);
    let status = process.wait_timeout(Duration::from_secs(30)).expect("serve exits by itself");
    let text = fs::read_to_string(&log).expect("log");
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(text.contains("passphrase"), "{text}");
    assert!(!text.contains("http://"), "it must not listen: {text}");
}

#[test]
fn https_serves_health_with_its_own_certificate_and_renews_it_in_place() {
    let h = home();
    let serve = Serve::start(&h.pki, &["--name", "localhost", "--https-validity", "9s"]);
    let https = serve.https.clone().expect("an HTTPS listener");
    let port = common::serve::port_of(&https);
    let work = h.pki.work();
    let served_serial = || {
        let out = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "localhost", "-CAfile"])
            .arg(&h.root_pem)
            .args(["-verify_return_error", "-verify_hostname", "localhost"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl s_client");
        let text = stdout_of(&out);
        assert!(text.contains("Verify return code: 0 (ok)"), "{text}{}", stderr_of(&out));
        let pem_start = text.find("-----BEGIN CERTIFICATE-----").expect("a certificate");
        let pem_end = text.find("-----END CERTIFICATE-----").expect("its end") + 25;
        let file = work.join("served.pem");
        fs::write(&file, &text[pem_start..pem_end]).expect("write");
        x509_serial(&file)
    };
    let first = served_serial();
    let done = curl(&["--cacert", arg(&h.root_pem), "-o", "/dev/null", "-w", "%{http_code}", &format!("https://localhost:{port}/healthz"), "--resolve", &format!("localhost:{port}:127.0.0.1")], &work.join("curl"));
    assert_eq!(done.stdout, "200", "{}", done.all());
    let text = x509_text(&work.join("served.pem"));
    assert!(text.contains("DNS:localhost") && text.contains("IP Address:127.0.0.1"), "{text}");
    // Recorded in the ledger like any certificate.
    assert!(listed_certificates(&h.pki.home, &[]).iter().any(|c| c["serial"].as_str() == Some(first.to_lowercase().as_str())));
    wait_until("the HTTPS certificate renewed in place", Duration::from_secs(20), || served_serial() != first, || serve.log());
    assert!(serve.stop().success());
}

#[test]
fn sigterm_drains_and_exits_zero_and_the_port_is_released() {
    let h = home();
    let serve = Serve::start(&h.pki, &["--no-https"]);
    let port = serve.http_port();
    assert!(port_accepts(port));
    let status = serve.stop();
    assert!(status.success(), "{status}");
    assert!(!port_accepts(port), "still listening after exit");
}

/// nginx checks client certificates against serve's OCSP responder (`ssl_ocsp on`, GET form,
/// HTTP/1.0, no nonce) and staples serve's answer about its own certificate.
#[test]
fn nginx_checks_clients_by_ocsp_and_staples_its_own_status() {
    let h = home();
    let server = h.pki.issue("server", "localhost", &["--ip", "127.0.0.1"], "tls");
    let good = h.pki.issue("client", "good@example.test", &[], "tls");
    let bad = h.pki.issue("client", "bad@example.test", &[], "tls");
    h.pki.revoke(&bad.serial, "key-compromise");
    let serve = Serve::start(&h.pki, &["--no-https"]);
    let dir = h.pki.path("nginx");
    fs::create_dir_all(&dir).expect("nginx dir");
    let chain = dir.join("ca-chain.pem");
    let mut both = fs::read(&h.issuing_pem).expect("issuing");
    both.extend(fs::read(&h.root_pem).expect("root"));
    fs::write(&chain, both).expect("chain");
    let port = free_port();
    let conf = dir.join("nginx.conf");
    let d = dir.display();
    fs::write(
        &conf,
        format!(
            r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {d}/cb; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
    access_log {d}/access.log;
    resolver 127.0.0.1 valid=1s;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {fullchain};
        ssl_certificate_key {key};
        ssl_client_certificate {root};
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_ocsp on;
        ssl_ocsp_responder {ocsp};
        ssl_stapling on;
        ssl_stapling_responder {ocsp};
        ssl_stapling_verify on;
        ssl_trusted_certificate {chain};
        location / {{ return 200 "verify=$ssl_client_verify\n"; }}
    }}
}}
"#,
            fullchain = server.fullchain.display(),
            key = server.key().display(),
            root = h.root_pem.display(),
            ocsp = format!("{}/ocsp", serve.http),
            chain = chain.display(),
        ),
    )
    .expect("nginx.conf");
    let mut cmd = Command::new(common::interop::nginx_binary());
    cmd.arg("-p").arg(&dir).arg("-c").arg(&conf).arg("-e").arg(dir.join("error.log"));
    cmd.stdin(std::process::Stdio::null());
    let _nginx = ChildGuard::spawn("nginx", &mut cmd);
    let error_log = || fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    wait_until("nginx to listen", Duration::from_secs(10), || port_accepts(port), error_log);

    let work = h.pki.work();
    let client = |leaf: &common::Issued| {
        curl(
            &[
                "--cacert", arg(&h.root_pem), "--cert", arg(&leaf.fullchain), "--key", arg(leaf.key()),
                "-w", "\n%{http_code}", &format!("https://localhost:{port}/"),
                "--resolve", &format!("localhost:{port}:127.0.0.1"),
            ],
            &work.join("curl"),
        )
    };
    let ok = client(&good);
    assert!(ok.stdout.ends_with("\n200") && ok.stdout.contains("verify=SUCCESS"), "{}\n{}", ok.all(), error_log());
    let refused = client(&bad);
    assert!(refused.stdout.ends_with("\n400"), "a revoked client must be refused: {}\n{}", refused.all(), error_log());
    assert!(error_log().contains("revoked"), "{}", error_log());

    // Stapling: nginx fetches its own status in the background after the first handshake.
    let stapled = || {
        let out = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "localhost", "-status", "-CAfile"])
            .arg(&h.root_pem)
            .arg("-cert").arg(&good.crt).arg("-key").arg(good.key()).arg("-cert_chain").arg(&good.chain)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl s_client");
        stdout_of(&out)
    };
    let last = std::cell::RefCell::new(String::new());
    wait_until(
        "nginx to staple an OCSP response",
        Duration::from_secs(20),
        || {
            *last.borrow_mut() = stapled();
            last.borrow().contains("Cert Status: good")
        },
        || format!("{}\n{}\n{}", last.borrow(), error_log(), serve.log()),
    );
    let text = last.into_inner();
    assert!(text.contains("OCSP Response Status: successful"), "{text}");
    assert!(serve.log().contains("GET /ocsp/"), "nginx uses the GET form:\n{}", serve.log());
    drop(_nginx);
    assert!(serve.stop().success());
}

#[test]
fn kill_9_under_load_leaves_a_consistent_ledger_and_serve_starts_again() {
    let h = home();
    let leaf = h.pki.issue("server", "load.test", &[], "tls");
    let work = h.pki.work();
    let request = work.join("load.der");
    openssl_ok(["ocsp", "-issuer", arg(&h.issuing_pem), "-cert", arg(&leaf.crt), "-no_nonce", "-reqout", arg(&request)]);
    for round in 0..3u64 {
        // Short lifetimes: serve signs CRLs and renews its HTTPS certificate while it is killed.
        let serve = Serve::start(&h.pki, &["--crl-next-update", "2s", "--https-validity", "3s"]);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for worker in 0..3 {
                let (url, stop, work, request) = (format!("{}/ocsp", serve.http), &stop, &work, &request);
                s.spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let body = format!("@{}", arg(request));
                        let args = ["-o", "/dev/null", "-H", "Content-Type: application/ocsp-request", "--data-binary", &body, &url];
                        let _ = curl(&args, &work.join(format!("load-{worker}")));
                    }
                });
            }
            std::thread::sleep(Duration::from_millis(700 + 400 * round));
            let log = serve.log.clone();
            drop(serve); // SIGKILL, mid-load
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let log = fs::read_to_string(log).unwrap_or_default();
            assert!(log.contains("POST /ocsp 200"), "round {round}: no load was answered:\n{log}");
        });
        let doctor = h.pki.run(&["doctor"]);
        assert!(doctor.status.success(), "round {round}: doctor after kill -9:\n{}{}", stdout_of(&doctor), stderr_of(&doctor));
    }
    let serve = Serve::start(&h.pki, &["--no-https"]);
    let text = openssl_ocsp(&h, &serve, &h.issuing_pem, &leaf.crt, &[]);
    assert_eq!(status_line(&text, &leaf.crt), "good", "{text}");
    assert!(serve.stop().success());
}

/// A certificate issued after `ca configure --public-url` names serve's CRL: `openssl verify
/// -crl_download` fetches it from there and sees the revocation.
#[test]
fn openssl_verify_downloads_the_crl_from_the_distribution_point() {
    let h = home();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let issuing_name = h.pki.json(&["ca", "show", &h.issuing_slug])["name"].as_str().expect("name").to_string();
    h.pki.ok(&["ca", "configure", &issuing_name, "--public-url", &url]);
    let good = h.pki.issue("server", "cdp-good.test", &[], "tls");
    let bad = h.pki.issue("server", "cdp-bad.test", &[], "tls");
    h.pki.revoke(&bad.serial, "superseded");
    let serve = Serve::start(&h.pki, &["--http", &format!("127.0.0.1:{port}"), "--no-https"]);
    let text = x509_text(&good.crt);
    assert!(text.contains(&format!("URI:{url}/crl/{}.crl", h.issuing_slug)), "{text}");
    assert!(text.contains(&format!("OCSP - URI:{url}/ocsp")), "{text}");
    let verify = |leaf: &common::Issued| {
        openssl([
            "verify", "-crl_download", "-crl_check", "-CAfile", arg(&h.root_pem), "-untrusted", arg(&h.issuing_pem),
            arg(&leaf.crt),
        ])
    };
    let ok = verify(&good);
    assert!(ok.status.success(), "{}{}\n{}", stdout_of(&ok), stderr_of(&ok), serve.log());
    let refused = verify(&bad);
    assert!(!refused.status.success());
    assert!(format!("{}{}", stdout_of(&refused), stderr_of(&refused)).contains("certificate revoked"));
    assert!(serve.log().contains(&format!("GET /crl/{}.crl 200", h.issuing_slug)), "{}", serve.log());
    // And the AIA OCSP URL is the one openssl asks when told to use the certificate's.
    let ocsp_uri = stdout_of(&openssl(["x509", "-in", arg(&good.crt), "-noout", "-ocsp_uri"]));
    assert_eq!(ocsp_uri.trim(), format!("{url}/ocsp"));
    assert!(serve.stop().success());
}
