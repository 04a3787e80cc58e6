//! End-to-end tests of `pkictl init` and `pkictl ca list|show|cert`, through the binary only.
//! What pkictl writes is checked with the `openssl` binary (never with pkictl's own parser)
//! and the ledger with plain SQL.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;
use tempfile::TempDir;

const ROOT: &str = "Acme Root CA";
const ROOT_SLUG: &str = "acme-root-ca";
const INTERMEDIATE: &str = "Acme Root CA Issuing CA";
const INTERMEDIATE_SLUG: &str = "acme-root-ca-issuing-ca";
const WRONG_PASSPHRASE: &str = "definitely not the passphrase";

fn tempdir() -> TempDir {
    tempfile::tempdir().expect("create a temporary directory")
}

/// Exit status and output of `openssl pkey -in KEY -passin pass:PASS -noout`.
fn pkey_opens(key: &Path, pass: &str) -> bool {
    openssl([
        os("pkey"),
        os("-in"),
        key.as_os_str(),
        os("-passin"),
        os(&format!("pass:{pass}")),
        os("-noout"),
    ])
    .status
    .success()
}

/// The public key of a private key file, as PEM (via openssl).
fn pkey_public(key: &Path, pass: &str) -> String {
    openssl_ok([
        os("pkey"),
        os("-in"),
        key.as_os_str(),
        os("-passin"),
        os(&format!("pass:{pass}")),
        os("-pubout"),
    ])
}

fn verify_strict(ca_file: &Path, cert: &Path) -> std::process::Output {
    openssl([os("verify"), os("-x509_strict"), os("-CAfile"), ca_file.as_os_str(), cert.as_os_str()])
}

fn assert_verifies(ca_file: &Path, cert: &Path) {
    let out = verify_strict(ca_file, cert);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with(": OK"),
        "openssl verify -x509_strict -CAfile {} {} failed:\n{stdout}{}",
        ca_file.display(),
        cert.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn subject_and_issuer(cert: &Path) -> (String, String) {
    let mut fields = openssl_fields([
        os("x509"),
        os("-in"),
        cert.as_os_str(),
        os("-noout"),
        os("-subject"),
        os("-issuer"),
    ]);
    (fields.remove("subject").expect("subject line"), fields.remove("issuer").expect("issuer line"))
}

fn assert_key_type(text: &str, key_type: &str, what: &str) {
    let (bits, curve) = key_size_and_curve(key_type);
    let marker = curve.unwrap_or("rsaEncryption");
    assert!(text.contains(&format!("Public-Key: ({bits} bit)")), "{what}: not a {bits}-bit key:\n{text}");
    assert!(text.contains(marker), "{what}: no {marker} in:\n{text}");
}

#[derive(Clone, Copy, Debug)]
enum PassphraseFrom {
    File,
    Env,
}

/// Inits a default two-tier home with `key_type` and checks everything about it with OpenSSL.
fn check_two_tier_home(key_type: &str, from: PassphraseFrom) {
    let dir = tempdir();
    let home = dir.path().join("pki");
    let mut cmd = pkictl(&home);
    match from {
        PassphraseFrom::File => {
            let file = dir.path().join("ca.pass");
            // The trailing newline is not part of the passphrase.
            fs::write(&file, format!("{PASSPHRASE}\n")).unwrap();
            fs::set_permissions(
                &file,
                <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
            )
            .unwrap();
            cmd.arg("--passphrase-file").arg(&file);
        }
        PassphraseFrom::Env => {
            cmd.env("PKICTL_PASSPHRASE", PASSPHRASE);
        }
    }
    let out = cmd.args(["init", "--name", ROOT, "--key-type", key_type]).output().unwrap();
    assert!(out.status.success(), "init --key-type {key_type} ({from:?}) failed: {}", stderr_of(&out));

    let root = ca_cert_path(&home, ROOT_SLUG);
    let inter = ca_cert_path(&home, INTERMEDIATE_SLUG);
    let root_key = ca_key_path(&home, ROOT_SLUG);
    let inter_key = ca_key_path(&home, INTERMEDIATE_SLUG);

    // Layout and permissions.
    let files: Vec<PathBuf> = snapshot_dir(&home).into_keys().collect();
    let expected: Vec<PathBuf> = [
        format!("ca/{INTERMEDIATE_SLUG}.pem"),
        format!("ca/{ROOT_SLUG}.pem"),
        "ledger.db".to_string(),
        format!("private/{INTERMEDIATE_SLUG}.key"),
        format!("private/{ROOT_SLUG}.key"),
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(files, expected, "files of the new home");
    assert_mode(&home, 0o700);
    assert_mode(&home.join("private"), 0o700);
    assert_mode(&root_key, 0o600);
    assert_mode(&inter_key, 0o600);
    assert_mode(&home.join("ledger.db"), 0o600);

    // The chain, as OpenSSL sees it.
    assert_verifies(&root, &root);
    assert_verifies(&root, &inter);

    // The root.
    let root_text = x509_text(&root);
    assert!(root_text.contains("Version: 3 (0x2)"), "root is not v3:\n{root_text}");
    assert_eq!(subject_and_issuer(&root), (format!("CN = {ROOT}"), format!("CN = {ROOT}")));
    let (critical, bc) =
        extension(&root_text, "X509v3 Basic Constraints").expect("root has basicConstraints");
    assert!(critical, "root basicConstraints not critical");
    assert_eq!(bc, "CA:TRUE", "root basicConstraints");
    let (critical, ku) = extension(&root_text, "X509v3 Key Usage").expect("root has keyUsage");
    assert!(critical, "root keyUsage not critical");
    assert_eq!(ku, "Certificate Sign, CRL Sign", "root keyUsage");
    let (_, root_ski) = extension(&root_text, "X509v3 Subject Key Identifier").expect("root has a SKI");
    let (_, root_aki) =
        extension(&root_text, "X509v3 Authority Key Identifier").expect("root has an AKI (its own SKI)");
    assert_eq!(root_aki.trim_start_matches("keyid:"), root_ski, "the root's AKI is its own SKI");
    assert!(extension(&root_text, "X509v3 CRL Distribution Points").is_none(), "root has a CRL DP");
    assert_key_type(&root_text, key_type, "root");
    assert_good_serial(&root, &root_text);

    // The intermediate.
    let inter_text = x509_text(&inter);
    assert!(inter_text.contains("Version: 3 (0x2)"), "intermediate is not v3:\n{inter_text}");
    assert_eq!(subject_and_issuer(&inter), (format!("CN = {INTERMEDIATE}"), format!("CN = {ROOT}")));
    let (critical, bc) =
        extension(&inter_text, "X509v3 Basic Constraints").expect("intermediate has basicConstraints");
    assert!(critical, "intermediate basicConstraints not critical");
    assert_eq!(bc, "CA:TRUE, pathlen:0", "intermediate basicConstraints");
    let (critical, ku) = extension(&inter_text, "X509v3 Key Usage").expect("intermediate has keyUsage");
    assert!(critical, "intermediate keyUsage not critical");
    assert!(
        ku == "Certificate Sign, CRL Sign" || ku == "Digital Signature, Certificate Sign, CRL Sign",
        "intermediate keyUsage: {ku}"
    );
    let (_, inter_ski) =
        extension(&inter_text, "X509v3 Subject Key Identifier").expect("intermediate has a SKI");
    let (_, aki) =
        extension(&inter_text, "X509v3 Authority Key Identifier").expect("intermediate has an AKI");
    assert_eq!(key_id(&aki), key_id(&root_ski), "intermediate AKI is not the root's SKI");
    assert_ne!(key_id(&inter_ski), key_id(&root_ski), "intermediate and root share a SKI");
    assert!(extension(&inter_text, "X509v3 CRL Distribution Points").is_none(), "CRL DP without --crl-url");
    assert_key_type(&inter_text, key_type, "intermediate");
    assert_good_serial(&inter, &inter_text);
    assert_ne!(x509_serial(&root), x509_serial(&inter), "root and intermediate share a serial");
    assert!(
        x509_not_after(&inter) <= x509_not_after(&root),
        "intermediate notAfter {:?} is after the root's {:?}",
        x509_not_after(&inter),
        x509_not_after(&root)
    );

    // The keys: encrypted PKCS#8, open only with the right passphrase, match the certificates.
    for (key, cert) in [(&root_key, &root), (&inter_key, &inter)] {
        let pem = fs::read_to_string(key).unwrap();
        assert!(
            pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
            "{} is not encrypted PKCS#8",
            key.display()
        );
        assert!(pkey_opens(key, PASSPHRASE), "{} does not open with the passphrase", key.display());
        assert!(!pkey_opens(key, WRONG_PASSPHRASE), "{} opens with a wrong passphrase", key.display());
        assert_eq!(
            pkey_public(key, PASSPHRASE),
            cert_public(cert),
            "{} does not match {}",
            key.display(),
            cert.display()
        );
    }

    // What pkictl says about it.
    let list = json_object(&pkictl(&home).args(["ca", "list", "--json"]).output().unwrap());
    let authorities = list["authorities"].as_array().expect("authorities array");
    assert_eq!(authorities.len(), 2);
    for a in authorities {
        assert_eq!(a["key_type"], key_type);
        assert_eq!(a["key_encrypted"], true);
    }
}

#[test]
fn p256_with_passphrase_file() {
    check_two_tier_home("p256", PassphraseFrom::File);
}

#[test]
fn p256_with_env_passphrase() {
    check_two_tier_home("p256", PassphraseFrom::Env);
}

#[test]
fn p384_with_env_passphrase() {
    check_two_tier_home("p384", PassphraseFrom::Env);
}

#[test]
fn rsa2048_with_passphrase_file() {
    check_two_tier_home("rsa2048", PassphraseFrom::File);
}

#[test]
fn rsa3072_with_env_passphrase() {
    check_two_tier_home("rsa3072", PassphraseFrom::Env);
}

#[test]
fn rsa4096_with_passphrase_file() {
    check_two_tier_home("rsa4096", PassphraseFrom::File);
}

#[test]
fn default_key_type_is_p256() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    init_home(&home, &["--name", ROOT]);
    for slug in [ROOT_SLUG, INTERMEDIATE_SLUG] {
        assert_key_type(&x509_text(&ca_cert_path(&home, slug)), "p256", slug);
    }
}

#[test]
fn passphrase_file_wins_over_env_and_only_its_first_line_counts() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    let file = dir.path().join("ca.pass");
    fs::write(&file, format!("{PASSPHRASE}\nsecond line is ignored\n")).unwrap();
    fs::set_permissions(&file, <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600))
        .unwrap();
    let out = pkictl(&home)
        .env("PKICTL_PASSPHRASE", WRONG_PASSPHRASE)
        .arg("--passphrase-file")
        .arg(&file)
        .args(["init", "--name", ROOT])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    for slug in [ROOT_SLUG, INTERMEDIATE_SLUG] {
        let key = ca_key_path(&home, slug);
        assert!(pkey_opens(&key, PASSPHRASE), "{slug}: the file's first line does not open the key");
        assert!(
            !pkey_opens(&key, WRONG_PASSPHRASE),
            "{slug}: $PKICTL_PASSPHRASE was used over --passphrase-file"
        );
    }
}

#[test]
fn init_json_reports_what_it_made() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    let out = pkictl_with_passphrase(&home).args(["--json", "init", "--name", ROOT]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let report = json_object(&out);
    assert_eq!(report["home"], home.to_str().unwrap());
    assert_eq!(report["ledger"], home.join("ledger.db").to_str().unwrap());
    let authorities = report["authorities"].as_array().expect("authorities");
    assert_eq!(authorities.len(), 2);
    for (a, (name, slug, role)) in
        authorities.iter().zip([(ROOT, ROOT_SLUG, "root"), (INTERMEDIATE, INTERMEDIATE_SLUG, "intermediate")])
    {
        assert_eq!(a["name"], name);
        assert_eq!(a["role"], role);
        assert_eq!(a["key_type"], "p256");
        assert_eq!(a["key_encrypted"], true);
        assert_eq!(a["crl_url"], Value::Null);
        let cert = ca_cert_path(&home, slug);
        assert_eq!(a["certificate"], cert.to_str().unwrap());
        assert_eq!(a["key"], ca_key_path(&home, slug).to_str().unwrap());
        assert_eq!(a["serial"], x509_serial(&cert).to_ascii_lowercase());
        assert_eq!(a["fingerprint_sha256"], x509_sha256(&cert));
    }
}

#[test]
fn no_passphrase_writes_plain_keys_with_a_warning() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    let out = pkictl(&home).args(["init", "--name", ROOT, "--no-passphrase"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stderr = stderr_of(&out);
    assert!(stderr.contains("warning"), "no warning on stderr: {stderr:?}");
    assert!(
        stderr.contains("NOT encrypted"),
        "the warning does not say the keys are not encrypted: {stderr:?}"
    );

    let ledger_bytes = fs::read(home.join("ledger.db")).unwrap();
    for slug in [ROOT_SLUG, INTERMEDIATE_SLUG] {
        let key = ca_key_path(&home, slug);
        let pem = fs::read_to_string(&key).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{slug} key is not plain PKCS#8:\n{pem}");
        assert_mode(&key, 0o600);
        let opened = openssl([os("pkey"), os("-in"), key.as_os_str(), os("-noout")]);
        assert!(
            opened.status.success(),
            "openssl cannot read {slug}'s plain key: {}",
            String::from_utf8_lossy(&opened.stderr)
        );
        assert_eq!(pkey_public(&key, "unused"), cert_public(&ca_cert_path(&home, slug)));
        // The ledger never holds a private key.
        let der = openssl([os("pkey"), os("-in"), key.as_os_str(), os("-outform"), os("DER")]).stdout;
        assert!(der.len() > 32);
        assert!(
            !ledger_bytes.windows(der.len()).any(|w| w == der.as_slice()),
            "the ledger contains {slug}'s private key"
        );
    }
    assert_verifies(&ca_cert_path(&home, ROOT_SLUG), &ca_cert_path(&home, INTERMEDIATE_SLUG));

    let list = json_object(&pkictl(&home).args(["--json", "ca", "list"]).output().unwrap());
    for a in list["authorities"].as_array().unwrap() {
        assert_eq!(a["key_encrypted"], false, "{a}");
    }
}

#[test]
fn no_passphrase_source_and_no_tty_is_refused_and_creates_nothing() {
    let dir = tempdir();
    let home = dir.path().join("sub").join("pki");
    // pkictl() gives an empty, non-terminal stdin and no PKICTL_PASSPHRASE.
    let out = pkictl(&home).args(["init", "--name", ROOT]).output().unwrap();
    let stderr = assert_error(&out, 2);
    assert!(stderr.contains("--passphrase-file"), "{stderr}");
    assert!(stderr.contains("PKICTL_PASSPHRASE"), "{stderr}");
    assert!(out.stdout.is_empty(), "stdout: {}", stdout_of(&out));
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new(), "something was created");
}

#[test]
fn unusable_passphrases_are_refused_and_create_nothing() {
    let dir = tempdir();
    let empty_file = dir.path().join("empty.pass");
    fs::write(&empty_file, "\n").unwrap();
    fs::set_permissions(
        &empty_file,
        <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap();
    let missing_file = dir.path().join("missing.pass");
    type Setup<'a> = Box<dyn Fn(&mut assert_cmd::Command) + 'a>;
    let cases: Vec<(&str, Setup<'_>)> = vec![
        (
            "short env",
            Box::new(|c: &mut assert_cmd::Command| {
                c.env("PKICTL_PASSPHRASE", "short");
            }),
        ),
        (
            "empty env",
            Box::new(|c: &mut assert_cmd::Command| {
                c.env("PKICTL_PASSPHRASE", "");
            }),
        ),
        (
            "empty file",
            Box::new(|c: &mut assert_cmd::Command| {
                c.arg("--passphrase-file").arg(&empty_file);
            }),
        ),
        (
            "missing file",
            Box::new(|c: &mut assert_cmd::Command| {
                c.arg("--passphrase-file").arg(&missing_file);
            }),
        ),
    ];
    for (what, setup) in cases {
        let homes = tempdir();
        let home = homes.path().join("pki");
        let mut cmd = pkictl(&home);
        setup(&mut cmd);
        let out = cmd.args(["init", "--name", ROOT]).output().unwrap();
        assert_error(&out, 2);
        assert_eq!(dir_entries(homes.path()), Vec::<String>::new(), "{what}: something was created");
    }
}

#[test]
fn init_twice_is_refused_and_changes_nothing() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    init_home(&home, &["--name", ROOT]);
    let before = snapshot_dir(&home);
    let modes_before: Vec<u32> = before.keys().map(|p| mode(&home.join(p))).collect();
    for args in [
        vec!["init", "--name", ROOT],
        vec!["init", "--name", "Other Root CA", "--no-intermediate"],
        vec!["init", "--name", "Other Root CA", "--no-passphrase"],
    ] {
        let out = pkictl_with_passphrase(&home).args(&args).output().unwrap();
        let stderr = assert_error(&out, 2);
        assert!(stderr.contains("already holds files"), "{args:?}: {stderr}");
        assert_eq!(snapshot_dir(&home), before, "{args:?} changed the home");
        let modes_after: Vec<u32> = before.keys().map(|p| mode(&home.join(p))).collect();
        assert_eq!(modes_after, modes_before, "{args:?} changed file modes");
    }
    assert_eq!(dir_entries(dir.path()), vec!["pki".to_string()], "init left something next to the home");
}

#[test]
fn init_into_a_non_empty_directory_or_a_file_creates_nothing() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    fs::create_dir(&home).unwrap();
    fs::write(home.join("notes.txt"), "unrelated\n").unwrap();
    let before = snapshot_dir(dir.path());
    let out = pkictl_with_passphrase(&home).args(["init", "--name", ROOT]).output().unwrap();
    let stderr = assert_error(&out, 2);
    assert!(stderr.contains("already holds files"), "{stderr}");
    assert_eq!(snapshot_dir(dir.path()), before);
    assert_eq!(dir_entries(&home), vec!["notes.txt".to_string()]);

    let file_home = dir.path().join("a-file");
    fs::write(&file_home, "not a directory\n").unwrap();
    let before = snapshot_dir(dir.path());
    let out = pkictl_with_passphrase(&file_home).args(["init", "--name", ROOT]).output().unwrap();
    assert_error(&out, 2);
    assert_eq!(snapshot_dir(dir.path()), before);
}

#[test]
fn init_into_an_existing_empty_directory_makes_it_private() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    fs::create_dir(&home).unwrap();
    fs::set_permissions(&home, <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755))
        .unwrap();
    init_home(&home, &["--name", ROOT]);
    assert_mode(&home, 0o700);
    assert!(home.join("ledger.db").is_file());
    assert_verifies(&ca_cert_path(&home, ROOT_SLUG), &ca_cert_path(&home, INTERMEDIATE_SLUG));
}

#[test]
fn nested_home_path_is_created() {
    let dir = tempdir();
    let home = dir.path().join("a").join("b").join("pki");
    init_home(&home, &["--name", ROOT]);
    assert_mode(&home, 0o700);
    assert!(home.join("ledger.db").is_file());
}

#[test]
fn no_intermediate_makes_only_a_root() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    init_home(&home, &["--name", ROOT, "--no-intermediate"]);
    let files: Vec<PathBuf> = snapshot_dir(&home).into_keys().collect();
    assert_eq!(
        files,
        vec![
            PathBuf::from(format!("ca/{ROOT_SLUG}.pem")),
            PathBuf::from("ledger.db"),
            PathBuf::from(format!("private/{ROOT_SLUG}.key")),
        ]
    );
    let root = ca_cert_path(&home, ROOT_SLUG);
    assert_verifies(&root, &root);
    let text = x509_text(&root);
    assert_eq!(extension(&text, "X509v3 Basic Constraints"), Some((true, "CA:TRUE".to_string())));

    let list = json_object(&pkictl(&home).args(["ca", "list", "--json"]).output().unwrap());
    let authorities = list["authorities"].as_array().expect("authorities");
    assert_eq!(authorities.len(), 1, "{list}");
    assert_eq!(authorities[0]["name"], ROOT);
    assert_eq!(authorities[0]["role"], "root");
    assert_eq!(authorities[0]["default"], true);

    // The root is the default issuing CA, so `ca cert` prints it.
    let out = pkictl(&home).args(["ca", "cert"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(out.stdout, fs::read(&root).unwrap());
}

/// True when the certificate is still valid `seconds` from now (openssl x509 -checkend).
fn checkend(cert: &Path, seconds: u64) -> bool {
    openssl([
        os("x509"),
        os("-in"),
        cert.as_os_str(),
        os("-noout"),
        os("-checkend"),
        os(&seconds.to_string()),
    ])
    .status
    .success()
}

#[test]
fn custom_names_and_validities() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    init_home(
        &home,
        &[
            "--name",
            ROOT,
            "--intermediate",
            "Acme Issuing CA 1",
            "--validity",
            "2y",
            "--intermediate-validity",
            "1y",
        ],
    );
    let root = ca_cert_path(&home, ROOT_SLUG);
    let inter = ca_cert_path(&home, "acme-issuing-ca-1");
    assert_verifies(&root, &inter);
    assert_eq!(subject_and_issuer(&inter), ("CN = Acme Issuing CA 1".to_string(), format!("CN = {ROOT}")));
    let day = 86_400u64;
    assert!(checkend(&root, 729 * day), "root expires before 2y");
    assert!(!checkend(&root, 731 * day), "root lasts beyond 2y");
    assert!(checkend(&inter, 364 * day), "intermediate expires before 1y");
    assert!(!checkend(&inter, 366 * day), "intermediate lasts beyond 1y");
}

#[test]
fn intermediate_may_end_with_the_root() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    init_home(&home, &["--name", ROOT, "--validity", "1y", "--intermediate-validity", "1y"]);
    let root = ca_cert_path(&home, ROOT_SLUG);
    let inter = ca_cert_path(&home, INTERMEDIATE_SLUG);
    assert_verifies(&root, &inter);
    assert!(x509_not_after(&inter) <= x509_not_after(&root));
}

#[test]
fn a_short_root_shortens_the_default_intermediate() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    init_home(&home, &["--name", ROOT, "--validity", "1y"]);
    let root = ca_cert_path(&home, ROOT_SLUG);
    let inter = ca_cert_path(&home, INTERMEDIATE_SLUG);
    assert_verifies(&root, &inter);
    let day = 86_400u64;
    assert!(checkend(&inter, 364 * day), "intermediate expires before 1y");
    assert!(x509_not_after(&inter) <= x509_not_after(&root));
}

#[test]
fn crl_url_goes_into_the_intermediate() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    init_home(&home, &["--name", ROOT, "--crl-url", "http://pki.example.com/crl"]);
    let root = ca_cert_path(&home, ROOT_SLUG);
    let inter = ca_cert_path(&home, INTERMEDIATE_SLUG);
    assert_verifies(&root, &inter);
    let text = x509_text(&inter);
    let (_, dp) = extension(&text, "X509v3 CRL Distribution Points").expect("intermediate has a CRL DP");
    let uris: Vec<&str> = dp.lines().filter_map(|l| l.strip_prefix("URI:")).collect();
    assert_eq!(uris, vec![format!("http://pki.example.com/crl/{ROOT_SLUG}.crl")], "CRL DP:\n{dp}");
    assert!(
        extension(&x509_text(&root), "X509v3 CRL Distribution Points").is_none(),
        "the root has a CRL DP"
    );

    for (name, slug) in [(ROOT, ROOT_SLUG), (INTERMEDIATE, INTERMEDIATE_SLUG)] {
        let shown = json_object(&pkictl(&home).args(["--json", "ca", "show", name]).output().unwrap());
        assert_eq!(shown["crl_url"], format!("http://pki.example.com/crl/{slug}.crl"));
    }
}

#[test]
fn crl_url_with_a_trailing_slash() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    init_home(&home, &["--name", ROOT, "--crl-url", "https://pki.example.com/crl/"]);
    let text = x509_text(&ca_cert_path(&home, INTERMEDIATE_SLUG));
    let (_, dp) = extension(&text, "X509v3 CRL Distribution Points").expect("intermediate has a CRL DP");
    assert!(dp.contains(&format!("URI:https://pki.example.com/crl/{ROOT_SLUG}.crl")), "CRL DP:\n{dp}");
}

#[test]
fn bad_input_is_refused_and_creates_nothing() {
    let long_name = "x".repeat(65);
    let cases: Vec<Vec<&str>> = vec![
        vec!["--name", ""],
        vec!["--name", "   "],
        vec!["--name", &long_name],
        vec!["--name", ROOT, "--intermediate", ""],
        vec!["--name", ROOT, "--intermediate", "acme root ca"],
        vec!["--name", ROOT, "--intermediate", "X", "--no-intermediate"],
        vec!["--name", ROOT, "--validity", "-1d"],
        vec!["--name", ROOT, "--validity=-1d"],
        vec!["--name", ROOT, "--validity", "0d"],
        vec!["--name", ROOT, "--validity", "99999y"],
        vec!["--name", ROOT, "--validity", "10"],
        vec!["--name", ROOT, "--validity", "10y", "--intermediate-validity", "11y"],
        vec!["--name", ROOT, "--intermediate-validity", "0d"],
        vec!["--name", ROOT, "--key-type", "ed25519"],
        vec!["--name", ROOT, "--key-type", "rsa1024"],
        vec!["--name", ROOT, "--crl-url", "ftp://x"],
        vec!["--name", ROOT, "--crl-url", "http://"],
        vec!["--name", ROOT, "--crl-url", "pki.example.com/crl"],
        vec!["--name", ROOT, "--crl-url", "http://pki.example.com/a b"],
        vec!["--validity", "10y"],
    ];
    for args in cases {
        let dir = tempdir();
        let home = dir.path().join("sub").join("pki");
        let out = pkictl_with_passphrase(&home).arg("init").args(&args).output().unwrap();
        let stderr = assert_error(&out, 2);
        assert!(out.stdout.is_empty(), "{args:?}: stdout {}", stdout_of(&out));
        assert_eq!(dir_entries(dir.path()), Vec::<String>::new(), "{args:?} created something ({stderr})");
    }
}

#[test]
fn ca_list_show_and_cert() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    init_home(&home, &["--name", ROOT]);
    let root = ca_cert_path(&home, ROOT_SLUG);
    let inter = ca_cert_path(&home, INTERMEDIATE_SLUG);
    let before = snapshot_dir(&home);
    let ok = |args: &[&str]| {
        let out = pkictl(&home).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
        out
    };

    // ca list
    let text = stdout_of(&ok(&["ca", "list"]));
    let root_line =
        text.lines().find(|l| l.contains(ROOT) && !l.contains(INTERMEDIATE)).expect("root in ca list");
    let inter_line = text.lines().find(|l| l.contains(INTERMEDIATE)).expect("intermediate in ca list");
    assert!(inter_line.starts_with('*'), "the intermediate is not marked default:\n{text}");
    assert!(!root_line.starts_with('*'), "the root is marked default:\n{text}");

    let list = json_object(&ok(&["ca", "list", "--json"]));
    let authorities = list["authorities"].as_array().expect("authorities");
    assert_eq!(authorities.len(), 2);
    let expect = [
        (ROOT, ROOT_SLUG, "root", false, Value::Null, Value::Null, &root),
        (INTERMEDIATE, INTERMEDIATE_SLUG, "intermediate", true, Value::from(ROOT), Value::from(0), &inter),
    ];
    for (a, (name, slug, role, default, parent, path_len, cert)) in authorities.iter().zip(expect) {
        assert_eq!(a["name"], name, "{a}");
        assert_eq!(a["slug"], slug, "{a}");
        assert_eq!(a["role"], role, "{a}");
        assert_eq!(a["default"], default, "{a}");
        assert_eq!(a["parent"], parent, "{a}");
        assert_eq!(a["path_len"], path_len, "{a}");
        assert_eq!(a["status"], "valid", "{a}");
        assert_eq!(a["key_type"], "p256", "{a}");
        assert_eq!(a["key_encrypted"], true, "{a}");
        assert_eq!(a["key_file"], format!("private/{slug}.key"), "{a}");
        assert_eq!(a["serial"], x509_serial(cert).to_ascii_lowercase(), "{a}");
        assert_eq!(a["fingerprint_sha256"], x509_sha256(cert), "{a}");
        let (_, ski) = extension(&x509_text(cert), "X509v3 Subject Key Identifier").unwrap();
        assert_eq!(a["subject_key_id"], key_id(&ski), "{a}");
    }

    // ca show, by name and by slug
    for (name, slug, role) in [(ROOT, ROOT_SLUG, "root"), (INTERMEDIATE, INTERMEDIATE_SLUG, "intermediate")] {
        let by_name = stdout_of(&ok(&["ca", "show", name]));
        let by_slug = stdout_of(&ok(&["ca", "show", slug]));
        assert_eq!(by_name, by_slug, "ca show by name and by slug differ");
        assert!(by_name.lines().any(|l| l.starts_with("Name:") && l.ends_with(name)), "{by_name}");
        assert!(by_name.lines().any(|l| l.starts_with("Role:") && l.contains(role)), "{by_name}");
        let json_by_name = json_object(&ok(&["ca", "show", name, "--json"]));
        let json_by_slug = json_object(&ok(&["--json", "ca", "show", slug]));
        assert_eq!(json_by_name, json_by_slug);
        assert_eq!(json_by_name["name"], name);
        assert_eq!(json_by_name["slug"], slug);
        assert_eq!(json_by_name["role"], role);
    }

    // ca cert: the default issuing CA, then the root by name and by slug
    let pem = ok(&["ca", "cert"]).stdout;
    assert_eq!(pem, fs::read(&inter).unwrap(), "ca cert is not the intermediate");
    let subject = openssl_with_stdin(["x509", "-noout", "-subject"], &pem);
    assert!(subject.status.success());
    assert_eq!(String::from_utf8_lossy(&subject.stdout).trim(), format!("subject=CN = {INTERMEDIATE}"));
    for name in [ROOT, ROOT_SLUG] {
        let pem = ok(&["ca", "cert", name]).stdout;
        assert_eq!(pem, fs::read(&root).unwrap(), "ca cert {name} is not the root");
        let subject = openssl_with_stdin(["x509", "-noout", "-subject"], &pem);
        assert!(subject.status.success());
        assert_eq!(String::from_utf8_lossy(&subject.stdout).trim(), format!("subject=CN = {ROOT}"));
    }
    let cert_json = json_object(&ok(&["ca", "cert", "--json"]));
    assert_eq!(cert_json["name"], INTERMEDIATE);
    assert_eq!(cert_json["pem"].as_str().unwrap().as_bytes(), fs::read(&inter).unwrap().as_slice());
    let cert_json = json_object(&ok(&["--json", "ca", "cert", ROOT]));
    assert_eq!(cert_json["name"], ROOT);
    assert_eq!(cert_json["pem"].as_str().unwrap().as_bytes(), fs::read(&root).unwrap().as_slice());

    // Unknown names
    for args in [
        vec!["ca", "show", "Nope CA"],
        vec!["ca", "show", "Nope CA", "--json"],
        vec!["ca", "cert", "Nope CA"],
        vec!["--json", "ca", "cert", "Nope CA"],
    ] {
        let out = pkictl(&home).args(&args).output().unwrap();
        let stderr = assert_error(&out, 2);
        assert!(stderr.contains("Nope CA"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: stdout {}", stdout_of(&out));
    }

    assert_eq!(snapshot_dir(&home), before, "read-only ca commands changed the home");
}

#[test]
fn ca_commands_without_a_home_are_refused_and_create_nothing() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    for args in
        [vec!["ca", "list"], vec!["ca", "show", ROOT], vec!["ca", "cert"], vec!["--json", "ca", "list"]]
    {
        let out = pkictl(&home).args(&args).output().unwrap();
        let stderr = assert_error(&out, 2);
        assert!(stderr.contains("not a pkictl home"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
        assert_eq!(dir_entries(dir.path()), Vec::<String>::new(), "{args:?} created something");
    }
}

#[test]
fn ledger_records_the_cas() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    init_home(&home, &["--name", ROOT]);
    let root = ca_cert_path(&home, ROOT_SLUG);
    let inter = ca_cert_path(&home, INTERMEDIATE_SLUG);
    let der = |cert: &Path| cert_der(cert);

    let version = i64::from(ledger_testing::schema_version(&home));
    // Numbers may skip (0004 can land before 0003): the version is the highest one.
    let last_migration = fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.split('_').next()?.parse::<i64>().ok())
        .max()
        .expect("migrations");
    assert_eq!(version, last_migration, "the schema version is the number of the last migration");
    let journal = ledger_testing::journal_mode(&home);
    assert_eq!(journal.to_ascii_lowercase(), "wal");

    let counts = ledger_testing::row_counts(&home);
    assert_eq!(counts.authorities, 2);
    assert_eq!(counts.certificates, 2);
    assert!(counts.events >= 2);
    assert_eq!(ledger_testing::event_count(&home, "ca.create"), 2);
    assert_eq!(counts.crls, 0);

    // Each CA's own certificate row next to its authority row, in the order they were recorded.
    let authorities = ledger_testing::authorities(&home);
    type Row = (
        String,
        String,
        bool,
        bool,
        bool,
        String,
        Vec<u8>,
        String,
        String,
        Vec<u8>,
        String,
        String,
        String,
        i64,
        i64,
    );
    let rows: Vec<Row> = ledger_testing::certificates(&home)
        .into_iter()
        .filter_map(|c| {
            let a = authorities.iter().find(|a| Some(a.id) == c.authority_id)?.clone();
            Some((
                a.name,
                a.slug,
                a.parent_id.is_none(),
                a.is_default,
                a.key_encrypted,
                a.key_file,
                a.cert_der,
                c.profile,
                c.serial,
                c.der,
                c.status,
                c.fingerprint_sha256,
                c.key_source,
                c.issuer_id,
                a.id,
            ))
        })
        .collect();
    assert_eq!(rows.len(), 2);
    let profiles: Vec<&str> = rows.iter().map(|r| r.7.as_str()).collect();
    assert_eq!(profiles, vec!["root", "intermediate"]);
    let root_id = rows[0].14;
    for (row, (name, slug, is_root, is_default, cert, issuer_id)) in rows.iter().zip([
        (ROOT, ROOT_SLUG, true, false, &root, root_id),
        (INTERMEDIATE, INTERMEDIATE_SLUG, false, true, &inter, root_id),
    ]) {
        let (
            a_name,
            a_slug,
            a_is_root,
            a_default,
            encrypted,
            key_file,
            cert_der,
            _,
            serial,
            c_der,
            status,
            fp,
            source,
            c_issuer,
            _,
        ) = row;
        assert_eq!(a_name, name);
        assert_eq!(a_slug, slug);
        assert_eq!(*a_is_root, is_root, "{name}: parent");
        assert_eq!(*a_default, is_default, "{name}: is_default");
        assert!(*encrypted, "{name}: key_encrypted");
        assert_eq!(key_file, &format!("private/{slug}.key"));
        let file_der = der(cert);
        assert_eq!(cert_der, &file_der, "{name}: authorities.cert_der differs from the PEM file");
        assert_eq!(c_der, &file_der, "{name}: certificates.der differs from the PEM file");
        assert_eq!(serial, &format!("{:0>40}", x509_serial(cert).to_ascii_lowercase()), "{name}: serial");
        assert_eq!(status, "valid");
        assert_eq!(fp, &x509_sha256(cert), "{name}: fingerprint");
        assert_eq!(source, "ca");
        assert_eq!(*c_issuer, issuer_id, "{name}: issuer_id");
    }
}

#[test]
fn init_into_the_current_empty_directory() {
    let dir = tempdir();
    let home = dir.path().join("pki");
    fs::create_dir(&home).unwrap();
    let out = pkictl_with_passphrase(Path::new("."))
        .current_dir(&home)
        .args(["init", "--name", ROOT])
        .output()
        .unwrap();
    assert!(out.status.success(), "exit {}: {}", out.status, stderr_of(&out));
    assert!(home.join("ledger.db").is_file());
    assert_verifies(&ca_cert_path(&home, ROOT_SLUG), &ca_cert_path(&home, INTERMEDIATE_SLUG));
}

#[test]
fn init_through_a_symlink_to_an_empty_directory() {
    let dir = tempdir();
    let target = dir.path().join("secure-volume");
    fs::create_dir(&target).unwrap();
    let link = dir.path().join("pki");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = pkictl_with_passphrase(&link).args(["init", "--name", ROOT]).output().unwrap();
    assert!(out.status.success(), "exit {}: {}", out.status, stderr_of(&out));
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the symlink was replaced");
    assert!(target.join("ledger.db").is_file(), "the home was not created in the symlink's target");
    assert_verifies(&ca_cert_path(&link, ROOT_SLUG), &ca_cert_path(&link, INTERMEDIATE_SLUG));
}
