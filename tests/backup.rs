//! `pkictl backup DIR`: a consistent, complete copy of a home that works as a home.

mod common;

use std::fs;

use common::*;

#[test]
fn a_backup_is_a_working_copy_of_the_home() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("pki");
    assert!(init_home(&home, &[]).status.success());
    let out = dir.path().join("out");
    for name in ["a.example.com", "b.example.com"] {
        let issued = pkictl_with_passphrase(&home)
            .args(["issue", "server", name, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(issued.status.success(), "{}", stderr_of(&issued));
    }
    let serial =
        json_object(&pkictl(&home).args(["--json", "show", "a.example.com"]).output().unwrap())["serial"]
            .as_str()
            .unwrap()
            .to_string();
    let revoked =
        pkictl_with_passphrase(&home).args(["revoke", &serial, "--reason", "superseded"]).output().unwrap();
    assert!(revoked.status.success(), "{}", stderr_of(&revoked));

    let copy = dir.path().join("backup");
    let backup = pkictl(&home).arg("backup").arg(&copy).output().unwrap();
    assert!(backup.status.success(), "{}", stderr_of(&backup));
    assert_mode(&copy, 0o700);
    assert_mode(&copy.join("ledger.db"), 0o600);
    for sub in ["private", "ca", "crl"] {
        for entry in fs::read_dir(home.join(sub)).unwrap().flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            assert_eq!(
                fs::read(entry.path()).unwrap(),
                fs::read(copy.join(sub).join(&name)).unwrap(),
                "{sub}/{name:?} differs in the backup"
            );
        }
    }
    for key in fs::read_dir(copy.join("private")).unwrap().flatten() {
        assert_mode(&key.path(), 0o600);
    }
    let listing = |h: &std::path::Path| {
        json_object(&pkictl(h).args(["--json", "list", "--status", "all"]).output().unwrap())
    };
    assert_eq!(listing(&home), listing(&copy));
    let doctor = pkictl(&copy).arg("doctor").arg("--scan").arg(&out).output().unwrap();
    assert!(doctor.status.success(), "{}", stdout_of(&doctor));
    // The copy is a home: it issues (with the same passphrase) and its certificates verify.
    let more = pkictl_with_passphrase(&copy)
        .args(["issue", "client", "c.example.com", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(more.status.success(), "{}", stderr_of(&more));

    // Never into a directory that holds something.
    let before = snapshot_dir(&copy);
    assert_error(&pkictl(&home).arg("backup").arg(&copy).output().unwrap(), 2);
    assert_eq!(snapshot_dir(&copy), before);
}
