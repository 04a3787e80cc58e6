//! Batch issuance (`issue … --batch`) and mass revocation (`revoke --from-file`), through the
//! binary, judged by OpenSSL and the ledger (pkictl's `--json` output and `pkictl::ledger_testing`).

mod common;

use std::fs;
use std::path::Path;

use common::*;

/// Every certificate of the ledger (the two CAs included), as `pkictl list` counts them.
fn certificate_rows(home: &Path) -> i64 {
    listed_certificates(home, &[]).len() as i64
}

fn root_and_chain(home: &Path) -> (String, String) {
    (
        ca_cert_path(home, "test-root-ca").to_string_lossy().to_string(),
        ca_cert_path(home, "test-root-ca-issuing-ca").to_string_lossy().to_string(),
    )
}

#[test]
fn a_batch_issues_every_line_with_its_sans() {
    let pki = Pki::init_unencrypted(ROOT_NAME);
    let home = pki.home.clone();
    let out = pki.path("out");
    let mut list = String::from("# devices of the fleet\n\n");
    for i in 0..40 {
        list.push_str(&format!("dev{i}.fleet.example.com\n"));
    }
    list.push_str("svc-a,spiffe://fleet.example.com/ns/a/sa/svc,ops@example.com\n");
    let file = pki.path("names.txt");
    fs::write(&file, &list).unwrap();
    let output = pkictl(&home)
        .args(["--json", "issue", "client", "--batch"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let lines: Vec<serde_json::Value> = stdout_of(&output)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    assert_eq!(lines.len(), 41, "one JSON line per certificate");
    assert_eq!(certificate_rows(&home), 2 + 41);
    assert_eq!(
        ledger_testing::event_count(&home, "certificate.issue"),
        41,
        "one audit event per certificate"
    );
    let serials: std::collections::HashSet<&str> =
        lines.iter().map(|l| l["serial"].as_str().unwrap()).collect();
    assert_eq!(serials.len(), 41);
    assert_eq!(fs::read_dir(&out).unwrap().count(), 41 * 4);

    let (root, chain) = root_and_chain(&home);
    for name in ["dev0.fleet.example.com", "dev39.fleet.example.com", "svc-a"] {
        let crt = out.join(format!("{name}.crt")).to_string_lossy().to_string();
        let verified = openssl([
            "verify",
            "-x509_strict",
            "-purpose",
            "sslclient",
            "-CAfile",
            &root,
            "-untrusted",
            &chain,
            &crt,
        ]);
        assert!(verified.status.success(), "{name}: {}", String::from_utf8_lossy(&verified.stderr));
        assert_mode(&out.join(format!("{name}.key")), 0o600);
    }
    let text = x509_text(&out.join("svc-a.crt"));
    assert!(text.contains("URI:spiffe://fleet.example.com/ns/a/sa/svc"), "{text}");
    assert!(text.contains("email:ops@example.com"), "{text}");
    assert!(!text.contains("DNS:svc-a"), "a one-word client NAME stays the CN only: {text}");
    let doctor = pkictl(&home).arg("doctor").arg("--scan").arg(&out).output().unwrap();
    assert!(doctor.status.success(), "{}", stdout_of(&doctor));
}

#[test]
fn a_batch_reads_stdin_and_server_lines_take_ips() {
    let pki = Pki::init_unencrypted(ROOT_NAME);
    let home = pki.home.clone();
    let out = pki.path("out");
    let output = pkictl(&home)
        .args(["issue", "server", "--batch", "-", "--out"])
        .arg(&out)
        .write_stdin("api.example.com,10.0.0.7,fd00::7\nweb.example.com\n")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(stdout_of(&output).contains("Issued 2 server certificates"), "{}", stdout_of(&output));
    let text = x509_text(&out.join("api.example.com.crt"));
    assert!(text.contains("IP Address:10.0.0.7") && text.contains("DNS:api.example.com"), "{text}");
}

#[test]
fn a_bad_line_stops_the_batch_before_anything_is_issued() {
    let pki = Pki::init_unencrypted(ROOT_NAME);
    let home = pki.home.clone();
    let out = pki.path("out");
    let cases = [
        ("ok.example.com\nalso-ok.example.com\nbad..name.example.com\nlast.example.com\n", "line 3"),
        ("a.example.com\nb.example.com\nA.example.com\n", "repeats line 1"),
        ("a.example.com,10.0.0.256\n", "line 1"),
        ("a.example.com,spiffe://Bad/Trust\n", "line 1"),
        ("\n# only comments\n", "no names"),
    ];
    let before = snapshot_dir(&home);
    for (list, expected) in cases {
        let file = pki.path("bad.txt");
        fs::write(&file, list).unwrap();
        let output = pkictl(&home)
            .args(["issue", "client", "--batch"])
            .arg(&file)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let stderr = assert_error(&output, 2);
        assert!(stderr.contains(expected), "{list:?}: {stderr}");
        assert_eq!(snapshot_dir(&home), before, "{list:?}: the home changed");
        assert!(!out.exists(), "{list:?}: --out was created");
    }
    let output = pkictl(&home).args(["issue", "client", "x.example.com", "--batch", "f"]).output().unwrap();
    assert_error(&output, 2);
}

#[test]
fn a_batch_refuses_to_overwrite_unless_forced() {
    let pki = Pki::init_unencrypted(ROOT_NAME);
    let home = pki.home.clone();
    let out = pki.path("out");
    let file = pki.path("names.txt");
    fs::write(&file, "a.example.com\nb.example.com\n").unwrap();
    let run = |force: bool| {
        let mut cmd = pkictl(&home);
        cmd.args(["issue", "peer", "--batch"]).arg(&file).arg("--out").arg(&out);
        if force {
            cmd.arg("--force");
        }
        cmd.output().unwrap()
    };
    assert!(run(false).status.success());
    let rows = certificate_rows(&home);
    let stderr = assert_error(&run(false), 2);
    assert!(stderr.contains("line 1") && stderr.contains("--force"), "{stderr}");
    assert_eq!(certificate_rows(&home), rows, "a refused batch added rows");
    assert!(run(true).status.success());
    assert_eq!(certificate_rows(&home), rows + 2);
}

/// Issues `n` clients one by one and returns their serials.
fn issue_clients(home: &Path, out: &Path, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let output = pkictl(home)
                .args(["--json", "issue", "client", &format!("c{i}.example.com"), "--out"])
                .arg(out)
                .output()
                .unwrap();
            assert!(output.status.success(), "{}", stderr_of(&output));
            json_object(&output)["serial"].as_str().unwrap().to_string()
        })
        .collect()
}

fn crl_serials(home: &Path) -> Vec<String> {
    let crl = crl_pem_path(home, "test-root-ca-issuing-ca").to_string_lossy().to_string();
    let text = openssl_ok(["crl", "-in", &crl, "-noout", "-text"]);
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(|s| s.to_ascii_lowercase())
        .collect()
}

#[test]
fn revoke_from_file_is_one_transaction_and_one_crl() {
    let pki = Pki::init_unencrypted(ROOT_NAME);
    let home = pki.home.clone();
    let out = pki.path("out");
    let serials = issue_clients(&home, &out, 6);
    let list = pki.path("revoke.txt");
    fs::write(
        &list,
        format!(
            "# compromised\n{}\n{}\n{}\n{}\n",
            serials[0],
            serials[1].to_uppercase(),
            serials[2],
            serials[0]
        ),
    )
    .unwrap();
    let output = pkictl(&home)
        .args(["--json", "revoke", "--from-file"])
        .arg(&list)
        .args(["--reason", "key-compromise"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let json = json_object(&output);
    assert_eq!(json["revoked"], 3, "{json}");
    assert_eq!(json["crls"][0]["number"], 1, "one CRL for the whole list: {json}");
    let mut on_crl = crl_serials(&home);
    on_crl.sort();
    let mut expected = serials[..3].to_vec();
    expected.sort();
    assert_eq!(on_crl, expected);
    assert_eq!(ledger_testing::event_count(&home, "crl.publish"), 1);

    // An unknown or already revoked serial: nothing at all is revoked.
    fs::write(&list, format!("{}\n{}\ndeadbeef\n", serials[3], serials[0])).unwrap();
    let before = snapshot_dir(&home);
    let output = pkictl(&home)
        .args(["revoke", "--from-file"])
        .arg(&list)
        .args(["--reason", "superseded"])
        .output()
        .unwrap();
    let stderr = assert_error(&output, 2);
    assert!(
        stderr.contains("nothing was revoked")
            && stderr.contains("deadbeef")
            && stderr.contains("already revoked"),
        "{stderr}"
    );
    assert_eq!(snapshot_dir(&home), before);

    // --skip-unknown revokes the rest, from stdin.
    let output = pkictl(&home)
        .args(["revoke", "--from-file", "-", "--reason", "superseded", "--skip-unknown"])
        .write_stdin(fs::read(&list).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("warning: skipped"), "{}", stderr_of(&output));
    assert_eq!(crl_serials(&home).len(), 4);
}

#[test]
fn ca_configure_sets_the_crl_lifetime_of_one_ca() {
    let pki = Pki::init_unencrypted(ROOT_NAME);
    let home = pki.home.clone();
    let output = pkictl(&home)
        .args(["--json", "ca", "configure", "Test Root CA Issuing CA", "--crl-next-update", "2d"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(json_object(&output)["crl_next_update"], "2d");
    let out = pki.path("c.pem");
    let crl = pkictl(&home).arg("crl").arg("--out").arg(&out).output().unwrap();
    assert!(crl.status.success(), "{}", stderr_of(&crl));
    let text = openssl_ok(["crl", "-in", out.to_str().unwrap(), "-noout", "-lastupdate", "-nextupdate"]);
    // "Nov 30 21:12:33 2026 GMT" (OpenSSL pads the day with a space).
    let date = |key: &str| -> i64 {
        let line = text.lines().find(|l| l.starts_with(key)).unwrap();
        let value = line.split_once('=').unwrap().1.split_whitespace().collect::<Vec<_>>().join(" ");
        let format = time::macros::format_description!(
            "[month repr:short] [day padding:none] [hour]:[minute]:[second] [year] GMT"
        );
        time::PrimitiveDateTime::parse(&value, &format).unwrap().assume_utc().unix_timestamp()
    };
    assert_eq!(date("nextUpdate") - date("lastUpdate"), 2 * 86_400, "{text}");
    // The root keeps the default 7 days.
    let root = pkictl(&home).args(["--json", "ca", "show", "Test Root CA"]).output().unwrap();
    assert_eq!(json_object(&root)["crl_next_update"], "1w");
    // Bad input changes nothing.
    let before = snapshot_dir(&home);
    for args in [
        vec!["ca", "configure", "No Such CA", "--crl-next-update", "2d"],
        vec!["ca", "configure", "Test Root CA", "--crl-next-update", "0d"],
        vec!["ca", "configure", "Test Root CA", "--crl-next-update", "-1d"],
    ] {
        assert_error(&pkictl(&home).args(&args).output().unwrap(), 2);
    }
    assert_eq!(snapshot_dir(&home), before);
}
