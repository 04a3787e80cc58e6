//! ACME provisioners from the shell: `pkictl acme add | list | remove | eab` through the
//! binary, good and bad input, the EAB key shown once, and the ledger sound (`doctor` replays
//! the audit chain) after every command. A certificate linked to an ACME account and order
//! through the library shows up in `show` and `list --acme`; a provisioner row edited with the
//! sqlite3 binary is reported by `doctor`.

mod common;

use std::process::Command;

use common::*;
use pkictl::acme::{AccountStatus, AcmeIdentifier, AuthorizationStatus, ChallengeStatus, OrderStatus};
use pkictl::{Authority, FixedPassphrase, NewAccountRequest, NewOrderRequest};

const ROOT: &str = "Acme Admin Root";

fn home() -> Pki {
    Pki::init_unencrypted(ROOT)
}

fn doctor_clean(pki: &Pki, after: &str) {
    let out = pki.run(&["doctor"]);
    assert!(out.status.success(), "doctor after {after}:\n{}{}", stdout_of(&out), stderr_of(&out));
}

fn provisioners(pki: &Pki) -> Vec<serde_json::Value> {
    pki.json(&["acme", "list"])["provisioners"].as_array().expect("provisioners").clone()
}

#[test]
fn add_list_and_remove_a_provisioner() {
    let pki = home();
    let added = pki.json(&[
        "acme",
        "add",
        "web",
        "--profile",
        "server",
        "--allow",
        "*.Svc.Example.com",
        "--allow",
        "api.example.com",
        "--allow-ip",
        "10.0.0.0/8",
        "--allow-ip",
        "fd00::/8",
        "--max-validity",
        "30d",
    ]);
    assert_eq!(added["directory"], "/acme/web/directory");
    doctor_clean(&pki, "acme add");
    pki.ok(&[
        "acme",
        "add",
        "partners",
        "--profile",
        "client",
        "--allow",
        "*.partners.example.com",
        "--require-eab",
    ]);
    doctor_clean(&pki, "a second acme add");
    let listed = provisioners(&pki);
    assert_eq!(listed.len(), 2);
    let web = listed.iter().find(|p| p["name"] == "web").expect("web listed");
    assert_eq!(web["profile"], "server");
    assert_eq!(web["ca"], format!("{ROOT} Issuing CA"));
    assert_eq!(web["allow"], serde_json::json!(["*.svc.example.com", "api.example.com"]), "lower-cased");
    assert_eq!(web["allow_ip"], serde_json::json!(["10.0.0.0/8", "fd00::/8"]));
    assert_eq!((web["max_validity"].as_str(), web["require_eab"].as_bool()), (Some("30d"), Some(false)));
    assert_eq!((web["accounts"].as_i64(), web["directory"].as_str()), (Some(0), Some("/acme/web/directory")));
    let partners = listed.iter().find(|p| p["name"] == "partners").expect("partners listed");
    assert_eq!(
        (partners["profile"].as_str(), partners["require_eab"].as_bool()),
        (Some("client"), Some(true))
    );
    let text = stdout_of(&pki.ok(&["acme", "list"]));
    assert!(text.contains("/acme/web/directory") && text.contains("*.svc.example.com"), "{text}");

    let removed = pki.json(&["acme", "remove", "web"]);
    assert_eq!(removed["removed"], true);
    doctor_clean(&pki, "acme remove");
    assert_eq!(provisioners(&pki).len(), 1, "a removed provisioner is not listed");
    let again = pki.run(&["acme", "remove", "web"]);
    assert!(assert_error(&again, 2).contains("no ACME provisioner named \"web\""));
    // Its name may be used again; the old row stays in the ledger's history.
    pki.ok(&["acme", "add", "web", "--profile", "peer", "--allow", "*.nodes.example.com"]);
    doctor_clean(&pki, "re-adding a removed name");
    let events = ledger_testing::events(&pki.home);
    let actions: Vec<&str> =
        events.iter().map(|e| e.action.as_str()).filter(|a| a.starts_with("acme.")).collect();
    assert_eq!(
        actions,
        ["acme.provisioner.add", "acme.provisioner.add", "acme.provisioner.remove", "acme.provisioner.add"]
    );
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let pki = home();
    pki.ok(&["acme", "add", "web", "--profile", "server", "--allow", "api.example.com"]);
    let before = snapshot_dir(&pki.home);
    let cases: &[(&[&str], &str)] = &[
        (
            &["acme", "add", "x", "--profile", "server", "--allow", "api.*.example.com"],
            "--allow: pattern \"api.*.example.com\"",
        ),
        (&["acme", "add", "x", "--profile", "server", "--allow", "*.*.example.com"], "--allow"),
        (&["acme", "add", "x", "--profile", "server", "--allow", "example.com."], "trailing dot"),
        (&["acme", "add", "x", "--profile", "server", "--allow", "xn--zz.example.com"], "internationalised"),
        (&["acme", "add", "x", "--profile", "server", "--allow", "*.com."], "--allow"),
        (
            &["acme", "add", "x", "--profile", "server", "--allow-ip", "10.0.0.1/8"],
            "host bits set; the network is 10.0.0.0/8",
        ),
        (&["acme", "add", "x", "--profile", "server", "--allow-ip", "10.0.0.0"], "no /prefix length"),
        (&["acme", "add", "x", "--profile", "server", "--allow-ip", "10.0.0.0/33"], "prefix length"),
        (&["acme", "add", "x", "--profile", "server", "--allow-ip", "fd00::1/8"], "host bits"),
        (&["acme", "add", "x", "--profile", "server", "--allow-ip", "example.com/8"], "--allow-ip"),
        (&["acme", "add", "x", "--profile", "server"], "at least one DNS pattern or IP range"),
        (&["acme", "add", "web", "--profile", "server", "--allow", "b.example.com"], "already exists"),
        (
            &["acme", "add", "x", "--profile", "ocsp-responder", "--allow", "a.example.com"],
            "not an ACME profile",
        ),
        (
            &["acme", "add", "x", "--profile", "root", "--allow", "a.example.com"],
            "use server, client or peer",
        ),
        (
            &["acme", "add", "x/y", "--profile", "server", "--allow", "a.example.com"],
            "not a provisioner name",
        ),
        (
            &[
                "acme",
                "add",
                "x",
                "--profile",
                "server",
                "--allow",
                "a.example.com",
                "--max-validity",
                "soon",
            ],
            "--max-validity",
        ),
        (
            &["acme", "add", "x", "--profile", "server", "--allow", "a.example.com", "--ca", "Nope"],
            "no CA named \"Nope\"",
        ),
        (&["acme", "remove", "nope"], "no ACME provisioner named \"nope\""),
        (&["acme", "eab", "nope"], "no ACME provisioner named \"nope\""),
    ];
    for (args, words) in cases {
        let out = pki.run(args);
        let stderr = assert_error(&out, 2);
        assert!(stderr.contains(words), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed {}", stdout_of(&out));
    }
    assert_eq!(snapshot_dir(&pki.home), before, "a refused command changed the home");
    doctor_clean(&pki, "refused commands");
}

#[test]
fn patterns_outside_the_cas_name_constraints_are_refused() {
    let pki = home();
    pki.ok(&["ca", "add-intermediate", "--name", "Prod CA", "--permit-dns", "prod.example.com"]);
    pki.ok(&[
        "acme",
        "add",
        "prod",
        "--profile",
        "server",
        "--ca",
        "Prod CA",
        "--allow",
        "*.prod.example.com",
    ]);
    let out = pki.run(&[
        "acme",
        "add",
        "dev",
        "--profile",
        "server",
        "--ca",
        "Prod CA",
        "--allow",
        "*.dev.example.com",
    ]);
    let stderr = assert_error(&out, 2);
    assert!(
        stderr.contains("*.dev.example.com")
            && stderr.contains("Prod CA")
            && stderr.contains("prod.example.com"),
        "{stderr}"
    );
    assert_eq!(provisioners(&pki).len(), 1);
    doctor_clean(&pki, "constrained provisioners");
}

#[test]
fn eab_keys_are_printed_once_and_never_again() {
    let pki = home();
    pki.ok(&[
        "acme",
        "add",
        "partners",
        "--profile",
        "client",
        "--allow",
        "*.partners.example.com",
        "--require-eab",
    ]);
    let first = pki.json(&["acme", "eab", "partners"]);
    let (kid, hmac) =
        (first["key_id"].as_str().unwrap().to_string(), first["hmac_key"].as_str().unwrap().to_string());
    assert_eq!(hmac.len(), 43, "256 bits, base64url without padding: {hmac}");
    assert!(hmac.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{hmac}");
    let text = stdout_of(&pki.ok(&["acme", "eab", "partners"]));
    assert!(text.contains("key id:") && text.contains("HMAC key:"), "{text}");
    doctor_clean(&pki, "acme eab");
    // Nothing else ever prints it: not list, not doctor, not the audit trail.
    let mut everything = String::new();
    for args in [
        &["acme", "list"][..],
        &["--json", "acme", "list"],
        &["doctor"],
        &["--json", "doctor"],
        &["list", "--status", "all"],
    ] {
        let out = pki.ok(args);
        everything.push_str(&stdout_of(&out));
        everything.push_str(&stderr_of(&out));
    }
    for event in ledger_testing::events(&pki.home) {
        everything.push_str(&event.detail);
        everything.push_str(&event.target);
    }
    assert!(!everything.contains(&hmac), "the HMAC key was printed again");
    assert!(everything.contains(&kid), "the key id is not secret and is in the audit trail");
    let listed = &provisioners(&pki)[0];
    assert_eq!((listed["eab_keys"].as_i64(), listed["eab_keys_unused"].as_i64()), (Some(2), Some(2)));
    // The ledger holds the key (EAB verification needs it), as the library hands it to the server.
    let ca = Authority::open(&pki.home, Box::new(FixedPassphrase::new("unused"))).unwrap();
    let (record, key) = ca.acme_eab_hmac_key(&kid).unwrap().expect("the key is in the ledger");
    assert_eq!(record.account_id, None);
    use base64ct::Encoding as _;
    assert_eq!(base64ct::Base64UrlUnpadded::encode_string(&key), hmac);
}

/// A certificate issued through ACME (here: linked through the library, as the server will)
/// is shown with its account and order, listed by `list --acme`, and the ledger stays sound.
#[test]
fn show_and_list_name_a_certificates_acme_account_and_order() {
    let pki = home();
    pki.ok(&["acme", "add", "web", "--profile", "server", "--allow", "*.svc.example.com", "--require-eab"]);
    let eab = pki.json(&["acme", "eab", "web"]);
    let issued = pki.issue("server", "a.svc.example.com", &[], "tls");
    let other = pki.issue("server", "b.svc.example.com", &[], "tls");
    let (order_id, account_id) = {
        let mut ca = Authority::open(&pki.home, Box::new(FixedPassphrase::new("unused"))).unwrap();
        let provisioner = ca.acme_provisioner("web").unwrap();
        let mut request = NewAccountRequest {
            provisioner_id: provisioner.record.id,
            jwk_thumbprint: "thumb".into(),
            jwk: r#"{"kty":"EC"}"#.into(),
            contacts: vec!["mailto:ops@example.com".into()],
            eab_key_id: None,
        };
        assert!(ca.create_acme_account(&request).is_err(), "EAB is required");
        request.eab_key_id = Some(eab["key_id"].as_str().unwrap().to_string());
        let account = ca.create_acme_account(&request).unwrap();
        assert!(
            ca.create_acme_account(&NewAccountRequest { jwk_thumbprint: "other".into(), ..request.clone() })
                .is_err(),
            "an EAB key binds one account"
        );
        let order_request = |ids: Vec<AcmeIdentifier>| NewOrderRequest {
            account_id: account.id,
            identifiers: ids,
            not_before: None,
            not_after: None,
            lifetime: time::Duration::hours(1),
            limits: Default::default(),
        };
        let refused = ca.create_acme_order(&order_request(vec![AcmeIdentifier::dns("a.other.example.com")]));
        assert!(refused.unwrap_err().to_string().contains("not allowed by ACME provisioner \"web\""));
        let view =
            ca.create_acme_order(&order_request(vec![AcmeIdentifier::dns("a.svc.example.com")])).unwrap();
        let (authz, challenges) = &view.authorizations[0];
        assert_eq!(challenges.len(), 3);
        assert!(
            ca.set_acme_order_status(view.order.id, OrderStatus::Processing, None).is_err(),
            "not ready yet"
        );
        ca.update_acme_challenge(challenges[0].id, ChallengeStatus::Processing, None, None).unwrap();
        let record = serde_json::json!({ "url": "http://a.svc.example.com/.well-known/acme-challenge/x" });
        let valid =
            ca.update_acme_challenge(challenges[0].id, ChallengeStatus::Valid, None, Some(&record)).unwrap();
        assert!(valid.validated_at.is_some());
        ca.set_acme_authorization_status(authz.id, AuthorizationStatus::Valid).unwrap();
        ca.set_acme_order_status(view.order.id, OrderStatus::Ready, None).unwrap();
        ca.set_acme_order_status(view.order.id, OrderStatus::Processing, None).unwrap();
        let cert = ca.find_one(&issued.serial).unwrap();
        let done = ca.link_acme_certificate(view.order.id, cert.id).unwrap();
        assert_eq!((done.status, done.certificate_id), (OrderStatus::Valid, Some(cert.id)));
        assert!(
            ca.set_acme_account_status(account.id, AccountStatus::Valid).is_err(),
            "valid → valid is no move"
        );
        (view.order.id, account.id)
    };
    doctor_clean(&pki, "an ACME order through the library");
    let shown = shown_certificate(&pki.home, &issued.serial);
    assert_eq!(
        shown["acme"],
        serde_json::json!({ "provisioner": "web", "account": account_id, "order": order_id })
    );
    assert_eq!(shown_certificate(&pki.home, &other.serial)["acme"], serde_json::Value::Null);
    let text = stdout_of(&pki.ok(&["show", &issued.serial]));
    assert!(
        text.contains(&format!("ACME:           provisioner web, account #{account_id}, order #{order_id}")),
        "{text}"
    );
    let listed = pki.json(&["list", "--acme", "web"]);
    let serials: Vec<&str> =
        listed["certificates"].as_array().unwrap().iter().map(|c| c["serial"].as_str().unwrap()).collect();
    assert_eq!(serials, [issued.serial.as_str()]);
    assert_eq!(provisioners(&pki)[0]["accounts"], 1);
    // Removing a provisioner with accounts needs --force; the certificate stays valid.
    let refused = pki.run(&["acme", "remove", "web"]);
    assert!(assert_error(&refused, 2).contains("--force"));
    pki.ok(&["acme", "remove", "web", "--force"]);
    assert_eq!(shown_certificate(&pki.home, &issued.serial)["status"], "valid");
    assert_eq!(shown_certificate(&pki.home, &issued.serial)["acme"]["provisioner"], "web", "history stays");
    let gone = pki.run(&["list", "--acme", "web"]);
    assert!(assert_error(&gone, 2).contains("no ACME provisioner named \"web\""));
    doctor_clean(&pki, "acme remove --force");
}

#[test]
fn doctor_sees_acme_rows_changed_outside_pkictl() {
    let pki = home();
    pki.ok(&["acme", "add", "web", "--profile", "server", "--allow", "api.example.com"]);
    pki.ok(&["acme", "eab", "web"]);
    doctor_clean(&pki, "setup");
    let out = Command::new("sqlite3")
        .arg(pki.home.join("ledger.db"))
        .arg("UPDATE acme_provisioners SET allowed_dns = '[\"*.com\"]' WHERE name = 'web'")
        .output()
        .expect("run sqlite3 (tests/run.sh installs it)");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doctor = pki.run(&["doctor"]);
    let report = stdout_of(&doctor);
    assert_eq!(doctor.status.code(), Some(1), "{report}");
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("PROBLEM")
                && l.contains("acme_provisioners row #1 was changed outside pkictl")),
        "{report}"
    );
    let out = Command::new("sqlite3")
        .arg(pki.home.join("ledger.db"))
        .arg("DELETE FROM acme_eab_keys")
        .output()
        .expect("run sqlite3");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let report = stdout_of(&pki.run(&["doctor"]));
    assert!(report.contains("acme_eab_keys row #1 was recorded, but it is gone"), "{report}");
}
