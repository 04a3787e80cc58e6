//! Hostile and broken input, through the binary only: every case must be refused with exit 2
//! (exit 1 only where the command's answer is a "no" verdict: `verify`, `doctor`), with one
//! `pkictl: …` line on stderr (or clap's `error: …` report for argument-parser refusals),
//! never a panic, a backtrace hint or a Rust debug dump, and without changing a single byte
//! under the case's directory: the home (ledger.db and any -wal/-shm), the issued files, the
//! input files, and the output directory (which must not even be created).
//!
//! The corpus is `testdata/hostile/` (re-created by `python3 testdata/hostile/make.py`). Each
//! case runs on its own copy of a home made once per run (`common::hardening::Template`).
//! Every case runs in CI: the bugs these cases found are fixed (README, "Hardening").

mod common;

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};

use common::hardening::*;
use common::{PASSPHRASE, ledger_testing, listed_certificates};

const NAME: &str = "hostile.example.com";
const CA_KEY: &str = "private/hostile-root-ca-issuing-ca.key";
const ROOT_KEY: &str = "private/hostile-root-ca.key";

// ---------------------------------------------------------------------------------------------
// CSRs and ASN.1: `issue client NAME --csr FILE` and `sign FILE --profile client`
// ---------------------------------------------------------------------------------------------

fn refuse_csr_via_issue(c: &Case, file: &str) -> String {
    let f = c.input(file);
    c.refuses(2, &args!["issue", "client", NAME, "--csr", f, "--out", c.out])
}

fn refuse_csr_via_sign(c: &Case, file: &str) -> String {
    let f = c.input(file);
    c.refuses(2, &args!["sign", f, "--profile", "client", "--out", c.out])
}

/// Both commands that read a CSR refuse it; the message names the file.
macro_rules! csr_cases {
    ($($(#[$meta:meta])* $name:ident => $file:literal),* $(,)?) => {$(
        #[test]
        $(#[$meta])*
        fn $name() {
            let c = Case::plain();
            let issue = refuse_csr_via_issue(&c, $file);
            let sign = refuse_csr_via_sign(&c, $file);
            for stderr in [issue, sign] {
                assert!(stderr.contains($file), "the message does not name the CSR file: {stderr}");
            }
        }
    )*};
}

csr_cases! {
    csr_truncated_pem_body => "csr-truncated-pem-body.csr",
    csr_truncated_pem_without_end_line => "csr-truncated-pem-no-end.csr",
    csr_truncated_der_half => "csr-truncated-der-half.der",
    csr_truncated_der_one_byte => "csr-truncated-der-one-byte.der",
    csr_truncated_der_last_byte => "csr-truncated-der-last-byte.der",
    csr_oversized_pem => "csr-oversized-pem.csr",
    csr_oversized_der => "csr-oversized-der.der",
    csr_oversized_leading_whitespace => "csr-oversized-whitespace.csr",
    csr_pem_label_private_key => "csr-label-private-key.csr",
    csr_pem_label_certificate => "csr-label-certificate.csr",
    csr_pem_label_x509_crl => "csr-label-x509-crl.csr",
    csr_pem_begin_end_labels_differ => "csr-label-mismatch.csr",
    csr_pem_label_empty => "csr-label-empty.csr",
    csr_pem_bad_base64 => "csr-pem-bad-base64.csr",
    csr_pem_utf16 => "csr-pem-utf16.csr",
    csr_signature_one_bit_flipped => "csr-bad-signature-flipped.der",
    csr_signature_by_another_key => "csr-bad-signature-other-key.der",
    csr_signature_empty => "csr-bad-signature-empty.der",
    csr_signature_r_s_zero => "csr-bad-signature-zeros.der",
    csr_signature_rsa_oid_on_ec_key => "csr-bad-signature-rsa-oid.der",
    csr_signature_hash_differs_from_oid => "csr-bad-signature-hash-mismatch.der",
    csr_signature_bitstring_unused_bits => "csr-bad-signature-bitstring-unused-bits.der",
    csr_trailing_garbage_der => "csr-trailing-garbage.der",
    csr_trailing_zero_byte => "csr-trailing-zero.der",
    csr_trailing_second_csr => "csr-trailing-second-csr.der",
    csr_trailing_garbage_after_pem => "csr-trailing-garbage-pem.csr",
    csr_trailing_second_pem_block => "csr-trailing-second-block.csr",
    csr_empty_file => "csr-empty.csr",
    csr_whitespace_only => "csr-whitespace.csr",
    csr_nul_bytes => "csr-nul-bytes.der",
    csr_with_10000_sans_der => "csr-san-10000.der",
    csr_with_10000_sans_pem => "csr-san-10000.csr",
    csr_san_dns_not_ascii => "csr-san-dns-non-ascii.der",
    csr_san_dns_control_character => "csr-san-dns-control.der",
    csr_san_dns_newline => "csr-san-dns-newline.der",
    csr_san_dns_empty => "csr-san-dns-empty.der",
    csr_san_dns_70000_bytes => "csr-san-dns-huge.der",
    csr_san_uri_with_space => "csr-san-uri-space.der",
    csr_san_email_without_at => "csr-san-email-no-at.der",
    asn1_length_4_gib => "asn1-length-4gib.der",
    asn1_length_8_octets => "asn1-length-8-octets.der",
    asn1_length_126_octets => "asn1-length-127-octets.der",
    asn1_indefinite_length => "asn1-length-indefinite.der",
    asn1_non_minimal_length => "asn1-length-non-minimal.der",
    asn1_inner_length_past_the_end => "asn1-inner-length-too-long.der",
    asn1_zero_length_sequence => "asn1-zero-length.der",
    asn1_set_instead_of_sequence => "asn1-wrong-outer-tag.der",
    asn1_high_tag_number => "asn1-high-tag-number.der",
    asn1_10000_nested_sequences_der => "asn1-nested-10000.der",
    asn1_10000_nested_sequences_pem => "asn1-nested-10000.csr",
    asn1_10000_nested_sequences_as_tbs => "asn1-nested-10000-in-tbs.der",
    asn1_5000_nested_sequences_in_a_signed_san => "asn1-nested-in-signed-san.der",
    asn1_signed_version_99 => "asn1-signed-version-99.der",
    asn1_random_bytes => "asn1-random-4k.der",
}

/// The CSR's CN is only used by `sign` without --name (`issue` takes NAME from the command
/// line), so these go through `sign`.
macro_rules! csr_cn_cases {
    ($($(#[$meta:meta])* $name:ident => $file:literal),* $(,)?) => {$(
        #[test]
        $(#[$meta])*
        fn $name() {
            let c = Case::plain();
            refuse_csr_via_sign(&c, $file);
        }
    )*};
}

csr_cn_cases! {
    csr_cn_not_utf8 => "csr-cn-non-utf8.der",
    csr_cn_overlong_utf8 => "csr-cn-overlong-utf8.der",
    csr_cn_escape_sequence => "csr-cn-escape.der",
    csr_cn_newline => "csr-cn-newline.der",
    csr_cn_nul => "csr-cn-nul.der",
    csr_cn_bell => "csr-cn-bell.der",
    csr_cn_del => "csr-cn-del.der",
    csr_cn_c1_control => "csr-cn-c1.der",
    csr_cn_bad_printable_string => "csr-cn-printable-bad.der",
    csr_cn_odd_length_bmp_string => "csr-cn-bmp-odd.der",
    csr_cn_65_characters => "csr-cn-too-long.der",
}

/// The corpus's own construction, unbroken, is accepted: what the cases above break is what
/// makes them fail, not the generator.
#[test]
fn control_the_unbroken_csr_is_accepted() {
    let c = Case::plain();
    for file in ["control-valid.csr", "control-valid.der"] {
        let f = c.input(file);
        let out = c.root.join(format!("ok-{file}"));
        c.succeeds(&args!["issue", "client", NAME, "--csr", f, "--out", out]);
        c.succeeds(&args!["sign", f, "--profile", "client", "--out", out, "--force"]);
    }
}

/// The snapshot sees what a successful command changes (so an unchanged snapshot means
/// something): the ledger, and the output directory with its four files.
#[test]
fn control_the_snapshot_sees_a_change() {
    let c = Case::plain();
    let before = snapshot(&c.root);
    c.succeeds(&args!["issue", "client", NAME, "--out", c.out]);
    let after = snapshot(&c.root);
    assert_ne!(
        before.get(std::path::Path::new("home/ledger.db")),
        after.get(std::path::Path::new("home/ledger.db"))
    );
    let new: Vec<_> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    assert_eq!(new.len(), 5, "out/ and its four files: {new:?}");
    let result = std::panic::catch_unwind(|| assert_unchanged(&before, &after, "control"));
    assert!(result.is_err(), "assert_unchanged did not notice the change");
}

// ---------------------------------------------------------------------------------------------
// NAME arguments
// ---------------------------------------------------------------------------------------------

macro_rules! name_cases {
    ($($(#[$meta:meta])* $name:ident => $arg:literal),* $(,)?) => {$(
        #[test]
        $(#[$meta])*
        fn $name() {
            let c = Case::plain();
            let name = corpus_arg($arg);
            c.refuses(2, &args!["issue", "client", name, "--out", c.out]);
            c.refuses(2, &args!["issue", "server", name, "--out", c.out]);
        }
    )*};
}

name_cases! {
    name_not_utf8 => "name-non-utf8",
    name_escape_sequence => "name-escape",
    name_newline => "name-newline",
    name_tab => "name-tab",
    name_bell => "name-bell",
    name_del => "name-del",
    name_c1_control => "name-c1",
    name_empty => "name-empty",
    name_spaces_only => "name-spaces",
    name_65_characters => "name-65-chars",
    name_10000_characters => "name-10k-chars",
}

// ---------------------------------------------------------------------------------------------
// Durations: --validity (issue, init), --next-update (crl), --expiring-within (list)
// ---------------------------------------------------------------------------------------------

macro_rules! duration_cases {
    ($($(#[$meta:meta])* $name:ident => $arg:literal),* $(,)?) => {$(
        #[test]
        $(#[$meta])*
        fn $name() {
            let c = Case::plain();
            let text = corpus_arg($arg);
            let eq = |flag: &str| -> OsString {
                let mut s = OsString::from(format!("{flag}="));
                s.push(&text);
                s
            };
            c.refuses(2, &args!["issue", "client", NAME, eq("--validity"), "--out", c.out]);
            c.refuses(2, &args!["crl", eq("--next-update")]);
            c.refuses(2, &args!["list", eq("--expiring-within")]);
            c.refuses(2, &args!["renew", c.known_serial(), "--rekey", eq("--validity"), "--out", c.out]);
            let new_home = c.root.join("new-home");
            c.refuses_in(Some(&new_home), 2, &args!["init", "--name", "New Root", "--no-passphrase", eq("--validity")]);
            assert!(!new_home.exists());
        }
    )*};
}

duration_cases! {
    duration_negative => "validity-negative",
    duration_99999_years => "validity-99999y",
    duration_exponent => "validity-exponent",
    duration_fraction => "validity-fraction",
    duration_zero => "validity-zero",
    duration_empty => "validity-empty",
    duration_unit_only => "validity-no-number",
    duration_number_only => "validity-no-unit",
    duration_i64_max_days => "validity-i64-max",
    duration_past_u64 => "validity-overflow",
    duration_arabic_indic_digits => "validity-arabic-digits",
    duration_upper_case_unit => "validity-upper-unit",
    duration_100_years_and_a_day => "validity-100y-and-a-day",
    duration_with_space => "validity-space",
    duration_not_utf8 => "validity-non-utf8",
}

/// `--validity -1d` (without `=`) is an unknown flag to clap: still a clean exit 2.
#[test]
fn duration_negative_as_separate_argument() {
    let c = Case::plain();
    c.refuses(2, &args!["issue", "client", NAME, "--validity", "-1d", "--out", c.out]);
}

// ---------------------------------------------------------------------------------------------
// Serials for `revoke`
// ---------------------------------------------------------------------------------------------

macro_rules! serial_cases {
    ($($(#[$meta:meta])* $name:ident => $arg:literal),* $(,)?) => {$(
        #[test]
        $(#[$meta])*
        fn $name() {
            let c = Case::plain();
            let serial = corpus_arg($arg);
            c.refuses(2, &args!["revoke", "--reason", "superseded", "--", serial]);
        }
    )*};
}

serial_cases! {
    serial_negative => "serial-negative",
    serial_zero => "serial-zero",
    serial_zero_with_colons => "serial-zeros",
    serial_41_hex_digits => "serial-41-digits",
    serial_bare_0x => "serial-0x",
    serial_not_hex => "serial-non-hex",
    serial_unknown => "serial-unknown-40-digits",
    serial_unknown_fingerprint => "serial-unknown-fingerprint",
    serial_with_newline => "serial-newline",
    serial_not_utf8 => "serial-non-utf8",
    serial_colons_only => "serial-colons-only",
}

/// `revoke -1` without `--`: clap sees an unknown flag.
#[test]
fn serial_negative_as_flag() {
    let c = Case::plain();
    c.refuses(2, &args!["revoke", "-1", "--reason", "superseded"]);
}

#[test]
fn revoke_already_revoked() {
    let c = Case::plain();
    let stderr = c.refuses(2, &args!["revoke", c.revoked_serial(), "--reason", "key-compromise"]);
    assert!(stderr.contains("already revoked"), "{stderr}");
}

#[test]
fn revoke_the_root() {
    let c = Case::plain();
    let root_serial = listed_certificates(&c.home, &["--profile", "root"])[0]["serial"]
        .as_str()
        .expect("the root's serial")
        .to_string();
    c.refuses(2, &args!["revoke", root_serial, "--reason", "key-compromise"]);
}

#[test]
fn revoke_unknown_reason() {
    let c = Case::plain();
    c.refuses(2, &args!["revoke", c.known_serial(), "--reason", "because"]);
}

#[test]
fn revoke_unknown_ca() {
    let c = Case::plain();
    c.refuses(2, &args!["revoke", c.known_serial(), "--reason", "superseded", "--ca", "No Such CA"]);
}

// ---------------------------------------------------------------------------------------------
// 10,000 SANs on the command line
// ---------------------------------------------------------------------------------------------

#[test]
fn sans_10000_dns_on_the_command_line() {
    let c = Case::plain();
    let many = corpus_args("dns-10000");
    assert_eq!(many.len(), 20_000);
    for profile in ["client", "server", "peer"] {
        let mut a = args!["issue", profile, NAME, "--out", c.out];
        a.extend(many.iter().cloned());
        let stderr = c.refuses(2, &a);
        assert!(stderr.contains("the limit is 100"), "{stderr}");
    }
}

#[test]
fn sans_10000_uris_on_the_command_line() {
    let c = Case::plain();
    let mut a = args!["issue", "client", "many", "--out", c.out];
    a.extend(corpus_args("uri-10000"));
    c.refuses(2, &a);
}

#[test]
fn sans_10000_dns_on_the_sign_command_line() {
    let c = Case::plain();
    let csr = c.input("control-valid.csr");
    let mut a = args!["sign", csr, "--profile", "server", "--out", c.out];
    a.extend(corpus_args("dns-10000"));
    c.refuses(2, &a);
}

// ---------------------------------------------------------------------------------------------
// issue --batch
// ---------------------------------------------------------------------------------------------

macro_rules! batch_cases {
    ($($(#[$meta:meta])* $name:ident => $file:literal $(, $needle:literal)?);* $(;)?) => {$(
        #[test]
        $(#[$meta])*
        fn $name() {
            let c = Case::plain();
            let f = c.input($file);
            let _stderr = c.refuses(2, &args!["issue", "client", "--batch", f, "--out", c.out]);
            $(assert!(_stderr.contains($needle), "stderr lacks {:?}: {}", $needle, _stderr);)?
        }
    )*};
}

batch_cases! {
    batch_bad_line_in_the_middle => "batch-bad-line-middle.txt", "line 21";
    batch_bad_san_in_the_middle => "batch-bad-san-middle.txt", "line 21";
    batch_duplicate_name => "batch-duplicate.txt", "line 11";
    batch_not_utf8 => "batch-non-utf8.txt";
    batch_control_character => "batch-control-char.txt", "line 6";
    batch_nul_byte => "batch-nul.txt", "line 6";
    batch_line_with_10000_sans => "batch-10000-sans.txt", "line 1";
    batch_comments_only => "batch-comments-only.txt";
    batch_name_too_long => "batch-long-name.txt", "line 6";
    batch_bad_last_line => "batch-bad-last-line.txt", "line 41";
}

#[test]
fn batch_from_stdin_with_a_bad_line_in_the_middle() {
    let mut c = Case::plain();
    c.stdin(&fs::read(corpus("batch-bad-line-middle.txt")).unwrap());
    let stderr = c.refuses(2, &args!["issue", "client", "--batch", "-", "--out", c.out]);
    assert!(stderr.contains("line 21"), "{stderr}");
}

/// A batch whose files would clobber an existing one is refused before anything is signed.
#[test]
fn batch_would_overwrite_an_issued_file() {
    let c = Case::plain();
    let f = c.write_input("batch.txt", b"a.example.com\nknown.example.com\nb.example.com\n", 0o644);
    c.refuses(2, &args!["issue", "client", "--batch", f, "--out", c.issued]);
}

// ---------------------------------------------------------------------------------------------
// revoke --from-file
// ---------------------------------------------------------------------------------------------

macro_rules! revoke_list_cases {
    ($($(#[$meta:meta])* $name:ident => $file:literal),* $(,)?) => {$(
        #[test]
        $(#[$meta])*
        fn $name() {
            let c = Case::plain();
            let f = c.input($file);
            c.refuses(2, &args!["revoke", "--from-file", f, "--reason", "key-compromise"]);
        }
    )*};
}

revoke_list_cases! {
    revoke_list_unknown_serials => "revoke-unknown.txt",
    revoke_list_malformed_serials => "revoke-malformed.txt",
    revoke_list_unknown_fingerprint => "revoke-unknown-fingerprint.txt",
    revoke_list_not_utf8 => "revoke-non-utf8.txt",
    revoke_list_comments_only => "revoke-comments-only.txt",
}

/// All or nothing: one unknown serial next to a known one revokes neither.
#[test]
fn revoke_list_known_and_unknown() {
    let c = Case::plain();
    let unknown = fs::read_to_string(corpus("revoke-unknown.txt")).unwrap();
    let text = format!("{}\n{unknown}", c.known_serial());
    let f = c.write_input("mixed.txt", text.as_bytes(), 0o644);
    let stderr = c.refuses(2, &args!["revoke", "--from-file", f, "--reason", "key-compromise"]);
    assert!(stderr.contains("nothing was revoked"), "{stderr}");
}

#[test]
fn revoke_list_known_and_already_revoked() {
    let c = Case::plain();
    let text = format!("{}\n{}\n", c.known_serial(), c.revoked_serial());
    let f = c.write_input("mixed.txt", text.as_bytes(), 0o644);
    c.refuses(2, &args!["revoke", "--from-file", f, "--reason", "key-compromise"]);
}

// ---------------------------------------------------------------------------------------------
// The ledger: not SQLite, from the future, truncated, empty
// ---------------------------------------------------------------------------------------------

/// Every command that opens the ledger refuses it.
fn refuse_ledger(c: &Case) {
    let known = c.known_serial().to_string();
    for a in [
        args!["list"],
        args!["issue", "client", NAME, "--out", c.out],
        args!["crl"],
        args!["revoke", known, "--reason", "superseded"],
        args!["show", known],
        args!["export", known, "--format", "pem"],
        args!["doctor"],
        args!["ca", "list"],
    ] {
        c.refuses(2, &a);
    }
}

macro_rules! ledger_cases {
    ($($(#[$meta:meta])* $name:ident => $file:literal),* $(,)?) => {$(
        #[test]
        $(#[$meta])*
        fn $name() {
            let c = Case::plain();
            fs::copy(corpus($file), c.home.join("ledger.db")).unwrap();
            refuse_ledger(&c);
        }
    )*};
}

ledger_cases! {
    ledger_random_bytes => "ledger-random.db",
    ledger_zeros => "ledger-zeros.db",
    ledger_text => "ledger-text.db",
    ledger_sqlite_header_then_garbage => "ledger-sqlite-header-garbage.db",
    ledger_empty_file => "ledger-empty.db",
}

#[test]
fn ledger_from_a_future_schema() {
    let c = Case::plain();
    ledger_testing::set_schema_version(&c.home, 99);
    refuse_ledger(&c);
    let stderr = c.refuses(2, &args!["list"]);
    assert!(stderr.contains("schema version 99"), "{stderr}");
}

#[test]
fn ledger_truncated() {
    let c = Case::plain();
    let path = c.home.join("ledger.db");
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    refuse_ledger(&c);
}

#[test]
fn ledger_is_a_directory() {
    let c = Case::plain();
    let path = c.home.join("ledger.db");
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    c.refuses(2, &args!["list"]);
    c.refuses(2, &args!["issue", "client", NAME, "--out", c.out]);
}

#[test]
fn ledger_is_a_dangling_symlink() {
    let c = Case::plain();
    let path = c.home.join("ledger.db");
    fs::remove_file(&path).unwrap();
    symlink(c.root.join("nowhere/ledger.db"), &path).unwrap();
    c.refuses(2, &args!["list"]);
    c.refuses(2, &args!["crl"]);
}

// ---------------------------------------------------------------------------------------------
// Paths that are directories, dangling symlinks or lead through a file. (Tests run as root,
// where chmod 000 does not stop a read, so "unreadable" is made of these instead; a FIFO
// without a writer would hang the reader and is left out on purpose.)
// ---------------------------------------------------------------------------------------------

/// A directory, a dangling symlink and a path through a regular file, under `inputs/`.
fn unreadable_paths(c: &Case) -> Vec<std::path::PathBuf> {
    let dir = c.inputs.join("a-directory");
    fs::create_dir(&dir).unwrap();
    let dangling = c.inputs.join("dangling");
    symlink(c.root.join("nowhere"), &dangling).unwrap();
    let file = c.write_input("plain-file", b"x", 0o644);
    vec![dir, dangling, file.join("child")]
}

#[test]
fn unreadable_csr() {
    let c = Case::plain();
    for p in unreadable_paths(&c) {
        c.refuses(2, &args!["issue", "client", NAME, "--csr", p, "--out", c.out]);
        c.refuses(2, &args!["sign", p, "--profile", "client", "--out", c.out]);
    }
}

#[test]
fn unreadable_batch_file() {
    let c = Case::plain();
    for p in unreadable_paths(&c) {
        c.refuses(2, &args!["issue", "client", "--batch", p, "--out", c.out]);
    }
}

#[test]
fn unreadable_revoke_list() {
    let c = Case::plain();
    for p in unreadable_paths(&c) {
        c.refuses(2, &args!["revoke", "--from-file", p, "--reason", "superseded"]);
    }
}

#[test]
fn unreadable_certificate_to_verify() {
    let c = Case::plain();
    for p in unreadable_paths(&c) {
        c.refuses(2, &args!["verify", p]);
    }
}

#[test]
fn unreadable_scan_directory() {
    let c = Case::plain();
    for p in unreadable_paths(&c).into_iter().skip(1) {
        c.refuses(2, &args!["doctor", "--scan", p]);
    }
    let file = c.inputs.join("plain-file");
    c.refuses(2, &args!["doctor", "--scan", file]);
}

#[test]
fn unreadable_passphrase_file() {
    let c = Case::encrypted();
    for p in unreadable_paths(&c) {
        c.refuses(2, &args!["--passphrase-file", p, "issue", "client", NAME, "--out", c.out]);
    }
}

#[test]
fn unreadable_key_for_p12() {
    let mut c = Case::plain();
    c.env("PKICTL_P12_PASSPHRASE", PASSPHRASE);
    let out = c.root.join("out.p12");
    for p in unreadable_paths(&c) {
        c.refuses(2, &args!["export", c.known_serial(), "--format", "p12", "--key", p, "--out", out]);
    }
    // A private (0700) directory passes the mode check and fails on read.
    let private_dir = c.inputs.join("private-dir");
    fs::create_dir(&private_dir).unwrap();
    fs::set_permissions(&private_dir, fs::Permissions::from_mode(0o700)).unwrap();
    c.refuses(2, &args!["export", c.known_serial(), "--format", "p12", "--key", private_dir, "--out", out]);
}

#[test]
fn home_is_a_file_or_missing() {
    let c = Case::plain();
    let file = c.write_input("not-a-home", b"x", 0o644);
    c.refuses_in(Some(&file), 2, &args!["list"]);
    let missing = c.root.join("missing-home");
    c.refuses_in(Some(&missing), 2, &args!["issue", "client", NAME, "--out", c.out]);
    c.refuses_in(Some(&missing), 2, &args!["crl"]);
    assert!(!missing.exists(), "a command other than init created the home");
}

/// `--out` that cannot be a directory must be refused before anything is signed.
#[test]
fn issue_out_is_not_a_directory() {
    let c = Case::plain();
    let file = c.write_input("plain-file", b"x", 0o644);
    let dangling = c.inputs.join("dangling-out");
    symlink(c.root.join("nowhere/out"), &dangling).unwrap();
    for out in [file.clone(), dangling, file.join("sub")] {
        c.refuses(2, &args!["issue", "client", NAME, "--out", out]);
    }
}

#[test]
fn crl_out_is_a_directory() {
    let c = Case::plain();
    let dir = c.inputs.join("a-directory");
    fs::create_dir(&dir).unwrap();
    c.refuses(2, &args!["crl", "--out", dir]);
    c.refuses(2, &args!["crl", "--out", c.root.join("missing/dir/crl.pem")]);
}

#[test]
fn export_out_is_a_directory() {
    let c = Case::plain();
    let dir = c.inputs.join("a-directory");
    fs::create_dir(&dir).unwrap();
    c.refuses(2, &args!["export", c.known_serial(), "--format", "pem", "--out", dir]);
}

/// Files that exist are never overwritten without --force.
#[test]
fn issue_would_overwrite_issued_files() {
    let c = Case::plain();
    c.refuses(2, &args!["issue", "client", "known.example.com", "--out", c.issued]);
    c.refuses(2, &args!["renew", c.known_serial(), "--rekey", "--out", c.issued]);
}

/// An endless input (a device, a pipe, a mistaken multi-gigabyte file) must be refused after
/// reading at most the size limit, not read to the end first. Run under a 1 GiB address-space
/// limit so that the unbounded read fails fast instead of eating the machine's memory.
#[test]
fn endless_inputs_are_read_with_a_bound() {
    let c = Case::encrypted();
    for a in [
        args!["issue", "client", NAME, "--csr", "/dev/zero", "--out", c.out],
        args!["sign", "/dev/zero", "--profile", "client", "--out", c.out],
        args!["issue", "client", "--batch", "/dev/zero", "--out", c.out],
        args!["revoke", "--from-file", "/dev/zero", "--reason", "superseded"],
        args!["verify", "/dev/zero"],
        args!["--passphrase-file", "/dev/zero", "crl"],
    ] {
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
            .arg(pkictl_bin())
            .arg("--home")
            .arg(&c.home)
            .args(&a);
        cmd.env_remove("PKICTL_PASSPHRASE").env_remove("RUST_BACKTRACE");
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let what = format!("pkictl {}", describe(&a));
        let before = snapshot(&c.root);
        let output = run_command(cmd, None, &what);
        let stderr = assert_refusal(&output, 2, &what);
        assert!(!stderr.contains("out of memory"), "{what}: read until memory ran out: {stderr}");
        assert_unchanged(&before, &snapshot(&c.root), &what);
    }
}

// ---------------------------------------------------------------------------------------------
// Passphrases (encrypted home)
// ---------------------------------------------------------------------------------------------

macro_rules! passphrase_cases {
    ($($(#[$meta:meta])* $name:ident => $file:literal),* $(,)?) => {$(
        #[test]
        $(#[$meta])*
        fn $name() {
            let c = Case::encrypted();
            let f = c.input_private($file);
            c.refuses(2, &args!["--passphrase-file", f, "issue", "client", NAME, "--out", c.out]);
            c.refuses(2, &args!["--passphrase-file", f, "crl"]);
            c.refuses(2, &args!["--passphrase-file", f, "revoke", c.known_serial(), "--reason", "superseded"]);
        }
    )*};
}

passphrase_cases! {
    passphrase_file_empty => "pass-empty.txt",
    passphrase_file_newline_only => "pass-newline-only.txt",
    passphrase_file_not_utf8 => "pass-non-utf8.txt",
    passphrase_file_wrong => "pass-wrong.txt",
}

#[test]
fn passphrase_env_not_utf8() {
    use std::os::unix::ffi::OsStringExt;
    let mut c = Case::encrypted();
    c.env("PKICTL_PASSPHRASE", OsString::from_vec(b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8".to_vec()));
    c.refuses(2, &args!["issue", "client", NAME, "--out", c.out]);
}

#[test]
fn passphrase_missing_without_a_terminal() {
    let c = Case::encrypted();
    c.refuses(2, &args!["issue", "client", NAME, "--out", c.out]);
    c.refuses(2, &args!["crl"]);
}

// ---------------------------------------------------------------------------------------------
// Key files given to export p12 and renew --key
// ---------------------------------------------------------------------------------------------

macro_rules! key_cases {
    ($($(#[$meta:meta])* $name:ident => $file:literal),* $(,)?) => {$(
        #[test]
        $(#[$meta])*
        fn $name() {
            let mut c = Case::plain();
            c.env("PKICTL_P12_PASSPHRASE", PASSPHRASE);
            let key = c.input_private($file);
            let p12 = c.root.join("out.p12");
            c.refuses(2, &args!["export", c.known_serial(), "--format", "p12", "--key", key, "--out", p12]);
            c.refuses(2, &args!["renew", c.known_serial(), "--key", key, "--out", c.out]);
        }
    )*};
}

key_cases! {
    key_truncated => "key-truncated.pem",
    key_random_bytes => "key-random.pem",
    key_wrong_pem_label => "key-wrong-label.pem",
    key_sec1_not_pkcs8 => "key-sec1.pem",
    key_10000_nested_sequences => "key-nested-10000.pem",
    key_of_another_certificate => "key-not-the-certificates.pem",
    key_of_another_type => "key-p384-not-the-certificates.pem",
    key_encrypted => "key-encrypted.pem",
    key_not_utf8 => "key-non-utf8.pem",
}

#[test]
fn key_readable_by_others() {
    let mut c = Case::plain();
    c.env("PKICTL_P12_PASSPHRASE", PASSPHRASE);
    let key = c.issued.join("known.example.com.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let stderr = c.refuses(
        2,
        &args!["export", c.known_serial(), "--format", "p12", "--key", key, "--out", c.root.join("o.p12")],
    );
    assert!(stderr.contains("chmod 600"), "{stderr}");
}

#[test]
fn p12_password_too_short() {
    let mut c = Case::plain();
    c.env("PKICTL_P12_PASSPHRASE", "short");
    let key = c.issued.join("known.example.com.key");
    c.refuses(
        2,
        &args!["export", c.known_serial(), "--format", "p12", "--key", key, "--out", c.root.join("o.p12")],
    );
}

// ---------------------------------------------------------------------------------------------
// A damaged home: the CA key file
// ---------------------------------------------------------------------------------------------

/// The commands that need the issuing CA's key.
fn refuse_without_ca_key(c: &Case) -> Vec<String> {
    vec![
        c.refuses(2, &args!["issue", "client", NAME, "--out", c.out]),
        c.refuses(2, &args!["crl"]),
        c.refuses(2, &args!["revoke", c.known_serial(), "--reason", "superseded"]),
        c.refuses(2, &args!["renew", c.known_serial(), "--rekey", "--out", c.out]),
    ]
}

#[test]
fn ca_key_readable_by_group() {
    let c = Case::plain();
    fs::set_permissions(c.home.join(CA_KEY), fs::Permissions::from_mode(0o640)).unwrap();
    for stderr in refuse_without_ca_key(&c) {
        assert!(stderr.contains("chmod 600"), "{stderr}");
    }
}

#[test]
fn root_key_readable_by_others() {
    let c = Case::plain();
    fs::set_permissions(c.home.join(ROOT_KEY), fs::Permissions::from_mode(0o604)).unwrap();
    let stderr = c.refuses(2, &args!["ca", "add-intermediate", "--name", "Another CA"]);
    assert!(stderr.contains("chmod 600"), "{stderr}");
    c.refuses(2, &args!["crl", "--ca", "Hostile Root CA"]);
}

#[test]
fn ca_key_is_a_directory() {
    let c = Case::plain();
    let key = c.home.join(CA_KEY);
    fs::remove_file(&key).unwrap();
    fs::create_dir(&key).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o700)).unwrap();
    refuse_without_ca_key(&c);
}

#[test]
fn ca_key_is_a_dangling_symlink() {
    let c = Case::plain();
    let key = c.home.join(CA_KEY);
    fs::remove_file(&key).unwrap();
    symlink(c.root.join("nowhere.key"), &key).unwrap();
    refuse_without_ca_key(&c);
}

#[test]
fn ca_key_is_missing() {
    let c = Case::plain();
    fs::remove_file(c.home.join(CA_KEY)).unwrap();
    refuse_without_ca_key(&c);
}

#[test]
fn ca_key_is_garbage() {
    let c = Case::plain();
    let key = c.home.join(CA_KEY);
    fs::write(&key, fs::read(corpus("key-random.pem")).unwrap()).unwrap();
    refuse_without_ca_key(&c);
}

#[test]
fn ca_key_is_truncated() {
    let c = Case::plain();
    let key = c.home.join(CA_KEY);
    let bytes = fs::read(&key).unwrap();
    fs::write(&key, &bytes[..bytes.len() / 2]).unwrap();
    refuse_without_ca_key(&c);
}

#[test]
fn ca_key_belongs_to_another_ca() {
    let c = Case::plain();
    fs::copy(c.home.join(ROOT_KEY), c.home.join(CA_KEY)).unwrap();
    refuse_without_ca_key(&c);
}

// ---------------------------------------------------------------------------------------------
// init: a refused init creates nothing
// ---------------------------------------------------------------------------------------------

#[test]
fn init_refusals_leave_nothing_behind() {
    let mut c = Case::plain();
    let new_home = c.root.join("new-home");
    for a in [
        args!["init", "--name", corpus_arg("name-newline"), "--no-passphrase"],
        args!["init", "--name", corpus_arg("name-escape"), "--no-passphrase"],
        args!["init", "--name", corpus_arg("name-non-utf8"), "--no-passphrase"],
        args!["init", "--name", "", "--no-passphrase"],
        args!["init", "--name", "X", "--crl-url", "not a url", "--no-passphrase"],
        args!["init", "--name", "X", "--validity", "1y", "--intermediate-validity", "5y", "--no-passphrase"],
        args!["init", "--name", "X", "--key-type", "rsa1024", "--no-passphrase"],
        args!["init", "--name", "X"], // no passphrase and no terminal
    ] {
        c.refuses_in(Some(&new_home), 2, &a);
        assert!(!new_home.exists());
    }
    c.env("PKICTL_PASSPHRASE", "short");
    c.refuses_in(Some(&new_home), 2, &args!["init", "--name", "X"]);
    assert!(!new_home.exists());
    // An existing home is never re-initialised.
    c.refuses(2, &args!["init", "--name", "X", "--no-passphrase"]);
}

// ---------------------------------------------------------------------------------------------
// verify: only a well-formed certificate gets a verdict (exit 1 for "a peer would refuse");
// anything else is bad input, exit 2 with one sentence on stderr and nothing on stdout
// ---------------------------------------------------------------------------------------------

/// The longest stderr a refusal may print: enough for a sentence with two paths, far less than
/// any hostile input quoted whole.
const MAX_STDERR_CHARS: usize = 500;

/// `Case::refuses`, and the one line is short.
fn refuses_briefly(c: &Case, code: i32, a: &[OsString]) -> String {
    let stderr = c.refuses(code, a);
    assert!(
        stderr.chars().count() <= MAX_STDERR_CHARS,
        "pkictl {}: stderr is {} characters: {stderr}",
        describe(a),
        stderr.chars().count()
    );
    stderr
}

fn refuse_as_not_a_certificate(c: &Case, file: &std::path::Path) {
    for a in [
        args!["verify", file],
        args!["verify", file, "--purpose", "client", "--host", NAME],
        args!["--json", "verify", file],
    ] {
        let output = c.run(&a);
        assert!(
            output.stdout.is_empty(),
            "pkictl {}: stdout: {}",
            describe(&a),
            String::from_utf8_lossy(&output.stdout)
        );
        let stderr = refuses_briefly(c, 2, &a);
        assert!(
            stderr.contains("is not a certificate") || stderr.contains("is larger than"),
            "pkictl {}: {stderr}",
            describe(&a)
        );
    }
    // The same file given as the chain, or the trust anchors, of a good certificate.
    let good = c.issued.join("known.example.com.crt");
    for flag in ["--chain", "--trust"] {
        let stderr = refuses_briefly(c, 2, &args!["verify", good, flag, file]);
        assert!(stderr.contains(file.file_name().unwrap().to_str().unwrap()), "{stderr}");
    }
}

macro_rules! verify_cases {
    ($($(#[$meta:meta])* $name:ident => $file:literal),* $(,)?) => {$(
        #[test]
        $(#[$meta])*
        fn $name() {
            let c = Case::plain();
            refuse_as_not_a_certificate(&c, &c.input($file));
        }
    )*};
}

verify_cases! {
    verify_truncated_pem => "cert-truncated.pem",
    verify_truncated_pem_without_end_line => "cert-pem-no-end.pem",
    verify_truncated_der => "cert-truncated.der",
    verify_10000_nested_sequences => "cert-nested-10000.der",
    verify_10000_nested_sequences_as_tbs => "cert-nested-10000-in-tbs.der",
    verify_random_bytes => "cert-random.der",
    verify_length_4_gib => "cert-length-4gib.der",
    verify_length_2_gib => "cert-length-2gib.der",
    verify_trailing_garbage => "cert-trailing-garbage.pem",
    verify_trailing_garbage_der => "cert-trailing-garbage.der",
    verify_trailing_text_after_pem => "cert-trailing-text.pem",
    verify_pem_bad_base64 => "cert-pem-bad-base64.pem",
    verify_empty_file => "cert-empty.pem",
    verify_text => "cert-text.txt",
    verify_csr_pem => "cert-csr.pem",
    verify_csr_der => "cert-csr.der",
    verify_csr_labelled_certificate => "cert-label-wraps-a-csr.pem",
    verify_private_key => "cert-private-key.pem",
    verify_public_key => "cert-label-public-key.pem",
}

/// Files made at run time: a CRL of the home (PEM and DER), whitespace, 200,000 nested
/// SEQUENCEs (past the size limit), a DER certificate with one byte cut off the end.
#[test]
fn verify_refuses_other_things_that_are_not_certificates() {
    let c = Case::plain();
    let crl_dir = c.home.join("crl");
    for entry in fs::read_dir(&crl_dir).unwrap() {
        let crl = entry.unwrap().path();
        let copy = c.write_input(crl.file_name().unwrap().to_str().unwrap(), &fs::read(&crl).unwrap(), 0o644);
        refuse_as_not_a_certificate(&c, &copy);
    }
    let whitespace = c.write_input("whitespace.pem", b" \n\t\n", 0o644);
    refuse_as_not_a_certificate(&c, &whitespace);
    let mut deep = vec![0x05, 0x00];
    for _ in 0..200_000 {
        let mut header = vec![0x30];
        let n = deep.len();
        match n {
            0..=0x7f => header.push(n as u8),
            0x80..=0xff => header.extend([0x81, n as u8]),
            0x100..=0xffff => header.extend([0x82, (n >> 8) as u8, n as u8]),
            _ => header.extend([0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]),
        }
        header.extend_from_slice(&deep);
        deep = header;
    }
    let deep = c.write_input("nested-200000.der", &deep, 0o644);
    refuse_as_not_a_certificate(&c, &deep);
}

/// A CRL whose thisUpdate lies after the time of the check (a CA clock that ran ahead, here
/// simulated with --at before the CRL was signed) makes OpenSSL refuse every client of that
/// CA: `verify` must say so at the revocation layer, as `openssl verify -crl_check` does.
#[test]
fn verify_flags_a_crl_that_is_not_yet_valid() {
    let c = Case::plain();
    let leaf = c.issued.join("known.example.com.crt");
    let chain = c.issued.join("known.example.com.chain.pem");
    let show = c.succeeds(&args!["--json", "show", c.known_serial()]);
    let json: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let not_before = json["not_before"].as_str().expect("not_before").to_string();
    let not_before =
        time::OffsetDateTime::parse(&not_before, &time::format_description::well_known::Rfc3339).unwrap();
    // notBefore is backdated 5 minutes; the CRL was signed after the certificate was issued.
    let at = not_before + time::Duration::seconds(60);
    let at_text = at.format(&time::format_description::well_known::Rfc3339).unwrap();
    let stdout = c.says_no(&args!["verify", leaf, "--chain", chain, "--at", at_text], "is not valid before");
    assert!(stdout.contains("REFUSE this certificate (revocation)"), "{stdout}");
    // A moment after the CRL, the same certificate is accepted.
    c.succeeds(&args!["verify", leaf, "--chain", chain]);
    // OpenSSL agrees: the CRL is not yet valid at that time.
    let root = c.home.join("ca/hostile-root-ca.pem");
    let crl = c.home.join("crl/hostile-root-ca-issuing-ca.crl.pem");
    let out = common::openssl(args![
        "verify",
        "-attime",
        at.unix_timestamp().to_string(),
        "-crl_check",
        "-CAfile",
        root,
        "-untrusted",
        chain,
        "-CRLfile",
        crl,
        leaf
    ]);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success() && said.contains("CRL is not yet valid"), "{said}");
}

/// `--crl` takes only CRLs: anything else is bad input, not a CRL that lists nothing.
#[test]
fn verify_refuses_a_crl_file_that_is_not_a_crl() {
    let c = Case::plain();
    let good = c.issued.join("known.example.com.crt");
    for file in [
        "cert-empty.pem",
        "cert-text.txt",
        "cert-random.der",
        "cert-csr.pem",
        "control-cert-untrusted.pem",
        "csr-label-x509-crl.csr",
    ] {
        let f = c.input(file);
        let stderr = refuses_briefly(&c, 2, &args!["verify", good, "--crl", f]);
        assert!(stderr.contains("is not a CRL"), "{file}: {stderr}");
    }
    let truncated = fs::read(c.home.join("crl/hostile-root-ca-issuing-ca.crl.der")).unwrap();
    let f = c.write_input("truncated.crl", &truncated[..truncated.len() - 1], 0o644);
    refuses_briefly(&c, 2, &args!["verify", good, "--crl", f]);
}

/// The control: a well-formed certificate nobody here trusts is a "no" verdict, exit 1.
#[test]
fn control_an_untrusted_certificate_is_a_no_not_bad_input() {
    let c = Case::plain();
    let f = c.input("control-cert-untrusted.pem");
    c.says_no(&args!["verify", f], "FAILED");
}

#[test]
fn doctor_scan_finds_broken_certificate_files() {
    let c = Case::plain();
    let scan = c.inputs.join("scan");
    fs::create_dir(&scan).unwrap();
    for (i, file) in
        ["cert-truncated.pem", "cert-nested-10000.der", "cert-random.der", "csr-label-certificate.csr"]
            .iter()
            .enumerate()
    {
        fs::copy(corpus(file), scan.join(format!("broken-{i}.crt"))).unwrap();
    }
    let stdout = c.says_no(&args!["doctor", "--scan", scan], "PROBLEM");
    assert_eq!(stdout.matches("PROBLEM").count(), 4, "{stdout}");
}

// ---------------------------------------------------------------------------------------------
// User input echoed in error messages: one line, no raw control characters
// ---------------------------------------------------------------------------------------------

/// Runs one refusal whose input carries a newline; "OUT" stands for the case's --out.
fn echo_case(a: &[&str]) {
    let c = Case::plain();
    let a: Vec<OsString> = a
        .iter()
        .map(|s| if *s == "OUT" { c.out.clone().into_os_string() } else { OsString::from(s) })
        .collect();
    c.refuses(2, &a);
}

macro_rules! one_line_cases {
    ($($(#[$meta:meta])* $name:ident => [$($arg:expr),* $(,)?]),* $(,)?) => {$(
        #[test]
        $(#[$meta])*
        fn $name() {
            echo_case(&[$($arg),*]);
        }
    )*};
}

one_line_cases! {
    echo_dns_with_newline => ["issue", "client", NAME, "--dns", "a\nb.example.com", "--out", "OUT"],
    echo_uri_with_newline => ["issue", "client", NAME, "--uri", "spiffe://a/\nb", "--out", "OUT"],
    echo_email_with_newline => ["issue", "client", NAME, "--email", "a\n@b.example.com", "--out", "OUT"],
    echo_ip_with_newline => ["issue", "server", NAME, "--ip", "10.0.0.1\nx", "--out", "OUT"],
    echo_ca_with_newline => ["crl", "--ca", "a\nb"],
    echo_reason_with_newline => ["revoke", "0123", "--reason", "a\nb"],
    echo_status_with_newline => ["list", "--status", "a\nb"],
    echo_show_with_newline => ["show", "a\nb"],
    echo_name_with_newline => ["issue", "client", "a\nb.example.com", "--out", "OUT"],
}

/// No stderr may carry a raw control character (other than its final newline) that came
/// from the input: an ESC sequence in a CSR, a batch file or an argument must not reach the
/// operator's terminal.
#[test]
fn stderr_never_carries_raw_control_characters() {
    let c = Case::plain();
    let esc = "esc\u{1b}[2J.example.com";
    let batch = c.write_input("esc-batch.txt", format!("ok.example.com,{esc}\n").as_bytes(), 0o644);
    let revoke = c.write_input("esc-revoke.txt", format!("{esc}\n").as_bytes(), 0o644);
    let csr = c.input("csr-san-dns-control.der");
    let cases = [
        args!["issue", "client", NAME, "--dns", esc, "--out", c.out],
        args!["issue", "client", NAME, "--uri", format!("spiffe://{esc}/x"), "--out", c.out],
        args!["issue", "client", NAME, "--email", format!("a@{esc}"), "--out", c.out],
        args!["issue", "client", "--batch", batch, "--out", c.out],
        args!["revoke", "--from-file", revoke, "--reason", "superseded"],
        args!["issue", "client", NAME, "--csr", csr, "--out", c.out],
        args!["issue", "client", esc, "--out", c.out],
    ];
    let mut offenders = Vec::new();
    for a in &cases {
        let stderr = c.refuses(2, a);
        let body = stderr.strip_suffix('\n').unwrap_or(&stderr);
        if body.chars().any(|ch| ch.is_control() && ch != '\n') {
            offenders.push(format!("pkictl {}: {stderr:?}", describe(a)));
        }
    }
    assert!(offenders.is_empty(), "raw control characters on stderr:\n{}", offenders.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Files that are not regular files: a FIFO (no writer: a plain open would block forever), a
// symlink to /dev/zero (never ends) or /dev/null, a socket, a directory. Every file pkictl
// reads goes through one reader that refuses them before reading a byte.
// ---------------------------------------------------------------------------------------------

/// Special files under `inputs/`; the socket's listener must live as long as the files.
fn special_files(c: &Case) -> (Vec<std::path::PathBuf>, std::os::unix::net::UnixListener) {
    let fifo = c.inputs.join("a-fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let zero = c.inputs.join("to-dev-zero");
    symlink("/dev/zero", &zero).unwrap();
    let null = c.inputs.join("to-dev-null");
    symlink("/dev/null", &null).unwrap();
    let socket = c.inputs.join("a-socket");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let dir = c.inputs.join("a-directory");
    fs::create_dir(&dir).unwrap();
    (vec![fifo, zero, null, socket, dir], listener)
}

/// Every command that reads a file, with F standing for the file.
fn file_readers(c: &Case, f: &std::path::Path) -> Vec<Vec<OsString>> {
    let good = c.issued.join("known.example.com.crt");
    vec![
        args!["issue", "client", NAME, "--csr", f, "--out", c.out],
        args!["sign", f, "--profile", "client", "--out", c.out],
        args!["verify", f],
        args!["verify", good, "--chain", f],
        args!["verify", good, "--trust", f],
        args!["verify", good, "--crl", f],
        args!["revoke", "--from-file", f, "--reason", "superseded"],
        args!["issue", "client", "--batch", f, "--out", c.out],
        args!["renew", c.known_serial(), "--key", f, "--out", c.out],
    ]
}

#[test]
fn special_files_are_refused_by_every_reader() {
    let c = Case::plain();
    let (files, _listener) = special_files(&c);
    for f in &files {
        for a in file_readers(&c, f) {
            let stderr = refuses_briefly(&c, 2, &a);
            assert!(stderr.contains("not a regular file"), "pkictl {}: {stderr}", describe(&a));
        }
    }
}

#[test]
fn special_files_are_refused_as_passphrase_files() {
    let c = Case::encrypted();
    let (files, _listener) = special_files(&c);
    for f in &files {
        for a in [
            args!["--passphrase-file", f, "crl"],
            args!["--passphrase-file", f, "issue", "client", NAME, "--out", c.out],
        ] {
            let stderr = refuses_briefly(&c, 2, &a);
            assert!(stderr.contains("not a regular file"), "pkictl {}: {stderr}", describe(&a));
        }
    }
}

/// An existing NAME.key is read to see whether it holds the certified key (`issue --csr`,
/// `renew` without --rekey): a FIFO or a symlink to /dev/zero there is refused, even with
/// --force, instead of hanging or filling the memory.
#[test]
fn special_file_at_the_existing_key_name_is_refused() {
    let c = Case::plain();
    let csr = c.input("control-valid.csr");
    // A certificate whose key came from a CSR, so `renew` without --rekey keeps (and checks) it.
    let signed =
        c.succeeds(&args!["--json", "sign", csr, "--profile", "client", "--out", c.root.join("signed")]);
    let json: serde_json::Value = serde_json::from_slice(&signed.stdout).unwrap();
    let serial = json["serial"].as_str().unwrap().to_string();
    for target in ["fifo", "/dev/zero"] {
        let out = c.root.join(format!("out-{}", target.replace('/', "-")));
        fs::create_dir(&out).unwrap();
        let key = out.join(format!("{NAME}.key"));
        if target == "fifo" {
            assert!(std::process::Command::new("mkfifo").arg(&key).status().unwrap().success());
        } else {
            symlink(target, &key).unwrap();
        }
        for force in [false, true] {
            let mut issue = args!["issue", "client", NAME, "--csr", csr, "--out", out];
            let mut renew = args!["renew", serial, "--out", out];
            if force {
                issue.push("--force".into());
                renew.push("--force".into());
            }
            for a in [issue, renew] {
                let stderr = refuses_briefly(&c, 2, &a);
                assert!(stderr.contains("not a regular file"), "pkictl {}: {stderr}", describe(&a));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CSRs that are well-formed and correctly signed but ask for what no certificate may carry
// ---------------------------------------------------------------------------------------------

csr_cases! {
    csr_rsa_2047_bits => "csr-rsa-2047.der",
    csr_rsa_2049_bits => "csr-rsa-2049.der",
    csr_san_ip_of_5_bytes => "csr-san-ip-5-bytes.der",
    csr_san_ip_of_8_bytes => "csr-san-ip-8-bytes.der",
    csr_san_ip_of_0_bytes => "csr-san-ip-empty.der",
    csr_two_subject_alt_names => "csr-san-twice.der",
    csr_key_usage_twice => "csr-key-usage-twice.der",
    csr_two_extension_requests => "csr-two-extension-requests.der",
    csr_san_invalid_punycode => "csr-san-punycode-invalid.der",
    csr_san_punycode_of_a_control_character => "csr-san-punycode-control.der",
}

csr_cn_cases! {
    csr_cn_invalid_punycode => "csr-cn-punycode-invalid.der",
    csr_cn_10000_characters => "csr-cn-10k.der",
}

/// An RSA-2048 CSR is accepted and recorded as rsa2048 (the modulus' real length).
#[test]
fn control_an_rsa_2048_csr_is_recorded_with_its_real_size() {
    let c = Case::plain();
    let csr = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/csr/rsa2048.csr");
    let out = c.succeeds(&args![
        "--json",
        "sign",
        csr,
        "--profile",
        "client",
        "--name",
        "rsa.example.com",
        "--out",
        c.out
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["key_type"], "rsa2048", "{json}");
}

// ---------------------------------------------------------------------------------------------
// Names: xn-- labels are decoded and checked (idna), never taken on trust
// ---------------------------------------------------------------------------------------------

#[test]
fn invalid_punycode_names_are_refused() {
    let c = Case::plain();
    for bad in
        ["xn--a.example.com", "xn--fa1v.example.com", "xn--99999999.example.com", "www.xn--zz.example.com"]
    {
        for a in [
            args!["issue", "server", bad, "--out", c.out],
            args!["issue", "client", bad, "--out", c.out],
            args!["issue", "client", NAME, "--dns", bad, "--out", c.out],
            args!["issue", "client", NAME, "--email", format!("a@{bad}"), "--out", c.out],
        ] {
            let stderr = refuses_briefly(&c, 2, &a);
            assert!(stderr.contains("internationalised"), "pkictl {}: {stderr}", describe(&a));
        }
    }
    c.succeeds(&args!["issue", "server", "xn--bcher-kva.example.com", "--out", c.out]);
}

// ---------------------------------------------------------------------------------------------
// Revocation reasons are taken as typed: no trimming of whitespace into acceptance
// ---------------------------------------------------------------------------------------------

#[test]
fn revocation_reason_with_whitespace_is_refused() {
    let c = Case::plain();
    for reason in [
        "key-compromise\n",
        " key-compromise",
        "key-compromise ",
        "key-compromise\t",
        "key-compromise\r",
        "key\ncompromise",
        "\u{a0}key-compromise",
    ] {
        for a in [
            args!["revoke", c.known_serial(), "--reason", reason],
            args![
                "revoke",
                "--from-file",
                c.write_input("list.txt", format!("{}\n", c.known_serial()).as_bytes(), 0o644),
                "--reason",
                reason
            ],
        ] {
            let stderr = refuses_briefly(&c, 2, &a);
            assert!(stderr.contains("unknown revocation reason"), "{reason:?}: {stderr}");
        }
    }
}

/// The same for serials, IP addresses and durations on the command line: a stray newline,
/// tab or space makes the value wrong, it is not silently dropped.
#[test]
fn other_values_with_whitespace_are_refused() {
    let c = Case::plain();
    let serial = c.known_serial();
    let cases = [
        args!["revoke", format!("{serial}\n"), "--reason", "superseded"],
        args!["revoke", format!("{serial}\t"), "--reason", "superseded"],
        args!["show", format!("{serial}\n")],
        args!["issue", "server", "x.example.com", "--ip", "10.0.0.7\n", "--out", c.out],
        args!["issue", "server", "x.example.com", "--ip", " 10.0.0.7", "--out", c.out],
        args!["issue", "client", NAME, "--validity", "90d\n", "--out", c.out],
        args!["issue", "client", NAME, "--validity", " 90d", "--out", c.out],
        args!["crl", "--next-update", "7d "],
    ];
    for a in &cases {
        refuses_briefly(&c, 2, a);
    }
}

// ---------------------------------------------------------------------------------------------
// Long input is quoted by a short prefix, never echoed whole
// ---------------------------------------------------------------------------------------------

#[test]
fn long_input_is_never_echoed_whole() {
    let mut c = Case::plain();
    let long = "a".repeat(10_000);
    let new_home = c.root.join("new-home");
    let cases = [
        args!["issue", "client", long, "--out", c.out],
        args!["issue", "server", long, "--out", c.out],
        args!["issue", "server", format!("{long}.example.com"), "--out", c.out],
        args!["issue", "client", NAME, "--dns", long, "--out", c.out],
        args!["issue", "client", NAME, "--dns", format!("{long}.example.com"), "--out", c.out],
        args!["issue", "client", NAME, "--email", format!("{long}@example.com"), "--out", c.out],
        args!["issue", "client", NAME, "--uri", format!("spiffe://{long}/x"), "--out", c.out],
        args!["issue", "server", "x.example.com", "--ip", long, "--out", c.out],
        args!["issue", "client", NAME, "--validity", long, "--out", c.out],
        args!["show", long],
        args!["revoke", long, "--reason", "superseded"],
        args!["revoke", c.known_serial(), "--reason", long],
        args!["crl", "--ca", long],
        args!["list", "--status", long],
        args!["verify", c.issued.join("known.example.com.crt"), "--at", long],
        args!["ca", "show", long],
        // Values refused by the argument parser: clap's report, with the value cut short too.
        args!["issue", "client", NAME, "--key-type", long, "--out", c.out],
        args!["verify", c.issued.join("known.example.com.crt"), "--purpose", long],
    ];
    for a in &cases {
        let stderr = refuses_briefly(&c, 2, a);
        assert!(!stderr.contains(&"a".repeat(100)), "pkictl {}: {stderr}", describe(a));
    }
    c.env("PKICTL_PASSPHRASE", PASSPHRASE);
    for a in [
        args!["init", "--name", long, "--no-passphrase"],
        args!["init", "--name", "Long Root", "--intermediate", long, "--no-passphrase"],
        args!["init", "--name", "Long Root", "--crl-url", format!("ftp://{long}"), "--no-passphrase"],
    ] {
        let stderr = c.refuses_in(Some(&new_home), 2, &a);
        assert!(stderr.chars().count() <= MAX_STDERR_CHARS && !stderr.contains(&"a".repeat(100)), "{stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// Small refusals that must say what happened
// ---------------------------------------------------------------------------------------------

/// A dangling symlink where an output file goes is a file in the way, like an existing one.
#[test]
fn dangling_symlink_at_an_output_name_is_refused_without_force() {
    let c = Case::plain();
    fs::create_dir(&c.out).unwrap();
    let nowhere = c.root.join("nowhere");
    for name in [format!("{NAME}.crt"), format!("{NAME}.key"), format!("{NAME}.chain.pem")] {
        let link = c.out.join(&name);
        symlink(&nowhere, &link).unwrap();
        let stderr = refuses_briefly(&c, 2, &args!["issue", "client", NAME, "--out", c.out]);
        assert!(stderr.contains("already exists") && stderr.contains(&name), "{stderr}");
        fs::remove_file(&link).unwrap();
    }
    // For a CSR's certificate NAME.key is not written, but an old one there is in the way too.
    symlink(&nowhere, c.out.join(format!("{NAME}.key"))).unwrap();
    let csr = c.input("control-valid.csr");
    refuses_briefly(&c, 2, &args!["issue", "client", NAME, "--csr", csr, "--out", c.out]);
    // --force replaces the link itself and never writes through it.
    c.succeeds(&args!["issue", "client", NAME, "--out", c.out, "--force"]);
    assert!(!nowhere.exists(), "a write went through the dangling symlink");
}

#[test]
fn empty_passphrase_variable_says_it_is_empty() {
    let mut c = Case::encrypted();
    c.env("PKICTL_PASSPHRASE", "");
    for a in [args!["crl"], args!["issue", "client", NAME, "--out", c.out]] {
        let stderr = refuses_briefly(&c, 2, &a);
        assert!(stderr.contains("PKICTL_PASSPHRASE") && stderr.contains("empty"), "{stderr}");
        assert!(!stderr.contains("wrong passphrase"), "{stderr}");
    }
}

/// A passphrase file others can read is used (refusing would break a running setup), with a
/// warning that says how to fix it; a private one gets no warning.
#[test]
fn passphrase_file_readable_by_others_is_used_with_a_warning() {
    let c = Case::encrypted();
    let file = c.write_input("pass.txt", format!("{PASSPHRASE}\n").as_bytes(), 0o644);
    let out = c.succeeds(&args!["--passphrase-file", file, "crl", "--out", c.root.join("crl.pem")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("readable by group or others") && warnings[0].contains("chmod 600"),
        "{stderr}"
    );
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let out = c.succeeds(&args!["--passphrase-file", file, "crl", "--out", c.root.join("crl2.pem")]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Several processes revoke the same certificate at once: one wins, every other one exits 2
/// ("already revoked", or lost the race inside its transaction), never 1.
#[test]
fn losing_a_revoke_race_exits_2() {
    let c = Case::plain();
    let children: Vec<_> = (0..6)
        .map(|_| {
            let mut cmd = command(Some(&c.home));
            cmd.args(["revoke", c.known_serial(), "--reason", "key-compromise"]);
            cmd.spawn().unwrap()
        })
        .collect();
    let outputs: Vec<_> =
        children.into_iter().map(|child| wait_with_timeout(child, COMMAND_TIMEOUT, "revoke race")).collect();
    let codes: Vec<_> = outputs.iter().map(|o| o.status.code()).collect();
    assert_eq!(codes.iter().filter(|c| **c == Some(0)).count(), 1, "{codes:?}");
    for o in outputs.iter().filter(|o| o.status.code() != Some(0)) {
        assert_refusal(o, 2, "revoke race");
    }
}

/// Wording: counts agree with their noun; key origins and OS errors are said in words.
#[test]
fn messages_are_worded_for_people() {
    let c = Case::plain();
    let out = c.succeeds(&args!["crl", "--out", c.root.join("crl.pem")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(": 1 entry,"), "{stderr}");
    let out = c.succeeds(&args!["show", "known.example.com"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key = stdout.lines().find(|l| l.starts_with("Key:")).unwrap_or_default();
    assert!(key.contains("generated by pkictl") && !key.contains("from generated"), "{stdout}");
    let stderr = refuses_briefly(&c, 2, &args!["issue", "server", "10.0.0.300", "--out", c.out]);
    assert!(stderr.contains("mistyped IP address"), "{stderr}");
    let stderr = refuses_briefly(
        &c,
        2,
        &args!["issue", "server", "x.example.com", "--dns", "10.0.0.7", "--out", c.out],
    );
    assert!(stderr.contains("--ip"), "{stderr}");
    let stderr = refuses_briefly(
        &c,
        2,
        &args!["issue", "client", NAME, "--csr", c.root.join("missing.csr"), "--out", c.out],
    );
    assert!(stderr.contains("no such file or directory") && !stderr.contains("os error"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// The corpus itself
// ---------------------------------------------------------------------------------------------

/// Every file of testdata/hostile is used by a case above, and there are at least 50.
#[test]
fn every_corpus_file_is_used() {
    let source = include_str!("hostile.rs");
    let mut count = 0;
    let mut unused = Vec::new();
    let root = corpus("");
    for dir in [root.clone(), root.join("args")] {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() || path.file_name().unwrap() == "make.py" {
                continue;
            }
            count += 1;
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let key = if dir == root {
                format!("\"{name}\"")
            } else {
                format!("\"{}\"", path.file_stem().unwrap().to_string_lossy())
            };
            if !source.contains(&key) {
                unused.push(name);
            }
        }
    }
    assert!(count >= 50, "only {count} corpus files");
    assert!(unused.is_empty(), "corpus files no case uses: {unused:?}");
}
