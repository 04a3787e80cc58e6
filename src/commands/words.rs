//! The CLI's words for library errors: the library states the facts, the CLI adds what to
//! type next (its own flags and commands).

use crate::error::{Error, Field};

/// The message the CLI prints for `e`: one sentence that names the input and what to do.
pub fn describe(e: &Error) -> String {
    match e {
        Error::InvalidField { field, problem } => field_message(*field, problem),
        Error::HomeNotEmpty { path } => format!(
            "{} already holds files; `init` only creates a new home in an empty or missing directory (pick another --home, or move those files away)",
            path.display()
        ),
        Error::NoHome { path } => format!(
            "{} is not a pkictl home (no ledger.db); run `pkictl init --name \"My Root CA\"` first, or point --home / PKICTL_HOME at an existing home",
            path.display()
        ),
        Error::InterruptedInit { home, staging } => format!(
            "{} is not a pkictl home: {} is left from an interrupted `pkictl init` (CA keys that were never used); delete it with `rm -r {}`, or run `pkictl init` again, which removes it",
            home.display(),
            staging.display(),
            staging.display()
        ),
        Error::UnknownCa { .. } => format!("{e}; `pkictl ca list` shows the names"),
        Error::CaNameTaken { .. } => format!("{e}; choose another --name"),
        Error::UnknownAcmeProvisioner { .. } => format!("{e}; `pkictl acme list` shows the names"),
        Error::AcmeProvisionerTaken { .. } => {
            format!("{e}; choose another NAME, or `pkictl acme remove` the old one first")
        }
        Error::AcmeProvisionerInUse { .. } => {
            format!("{e}; pass --force to remove it anyway (its history stays in the ledger)")
        }
        Error::AcmePatternOutsideConstraints { .. } => {
            format!("{e}; give an --allow inside those names, or another --ca")
        }
        Error::ValidityBeyondIssuer { .. } => format!("{e}; ask for a shorter --validity"),
        Error::PathLength { ca, path_len, requested: None } if *path_len > 0 => format!(
            "CA {ca} has pathLen {path_len}: it may not have a sub-CA without a pathLen (give --path-len {} or less)",
            path_len - 1
        ),
        Error::CommonNameTooLong { .. } => {
            format!("{e}; use a short NAME and pass long names with --dns/--uri")
        }
        Error::NeedsHostName { .. } => format!("{e}, so add --dns NAME or --ip ADDRESS"),
        Error::BadName(name) if name.looks_like_ip() => format!("{e}; give IP addresses with --ip"),
        Error::NeedsSan { .. } => format!("{e}, so add --dns, --email or --uri"),
        Error::CsrWithoutName => "the CSR has no common name; give one with --name".into(),
        Error::FileExists { path } => format!(
            "{} already exists; pass --force to overwrite (an old key there is removed), or choose another --out",
            path.display()
        ),
        Error::NotADirectory { path } => {
            format!("{} is not a directory; give --out a directory", path.display())
        }
        Error::OutputInsideHome { .. } => format!("{e}; choose an --out (or DIR) outside the home"),
        Error::SecretIsCaPassphrase { .. } => {
            format!("{e} (the PKCS#12 password comes from --p12-passphrase-file or PKICTL_P12_PASSPHRASE)")
        }
        Error::Undelivered { serials, dir, keys_lost, problem } => {
            undelivered(serials, dir, *keys_lost, problem)
        }
        Error::Read { path, source } => format!("cannot read {}: {}", path.display(), io_words(source)),
        Error::Write { path, source } => format!("cannot write {}: {}", path.display(), io_words(source)),
        Error::IsADirectory { path } => format!("{} is a directory; give --out a file name", path.display()),
        Error::CertificateNotFound { .. } => format!("{e}; `pkictl list --status all` shows them"),
        Error::NoSuchCertificate { .. } => format!("{e}; `pkictl list --status all` shows them"),
        Error::NotASerial { .. } => format!("{e}; `pkictl list` shows serials"),
        Error::AmbiguousSerial { .. } => format!("{e}; choose one with --ca"),
        Error::RenewCa { serial } => format!(
            "{serial} is a CA certificate; renew CAs by adding a new one with `pkictl ca add-intermediate`"
        ),
        Error::OldKeyNotKept { .. } => {
            format!("{e}; pass it with --key FILE to keep it, or --rekey for a new one")
        }
        Error::NotTheCertifiedKey { .. } => format!("{e}; pass its own key, or --rekey"),
        Error::NotAllRevocable { problems } => format!(
            "{e} ({}); fix the list or pass --skip-unknown",
            summarize(&problems.iter().map(skipped_line).collect::<Vec<_>>())
        ),
        Error::CrlNotPublished { .. } => {
            format!("{e}; `pkictl doctor --repair` (or the next `pkictl crl`) writes them from the ledger")
        }
        Error::CrlRefused { .. } => format!("{e}; `pkictl doctor` shows what differs"),
        Error::InCsr { origin, problem } => format!("CSR {origin}: {}", describe(problem)),
        Error::AtLine { line, problem } => format!("line {line}: {}", describe(problem)),
        _ => e.to_string(),
    }
}

/// What to do about certificates that are recorded but whose files were not written.
fn undelivered(serials: &[String], dir: &std::path::Path, keys_lost: bool, problem: &Error) -> String {
    let example = serials.first().map(String::as_str).unwrap_or("SERIAL");
    let many = serials.len() > 1;
    // The library's sentence, with the cause in the CLI's words.
    let e = Error::Undelivered {
        serials: serials.to_vec(),
        dir: dir.to_path_buf(),
        keys_lost,
        problem: Box::new(Error::Invalid(describe(problem))),
    };
    let export = format!(
        "`pkictl export {example} --format pem|chain|fullchain --out FILE` re-creates {} files",
        if many { "each certificate's" } else { "the certificate's" }
    );
    if keys_lost {
        let revoke = if many {
            "revoke them (`pkictl revoke --from-file FILE --reason superseded`)".to_string()
        } else {
            format!("revoke it (`pkictl revoke {example} --reason superseded`)")
        };
        format!("{e}: {revoke} and issue again; {export}")
    } else {
        format!("{e}; {export}")
    }
}

/// An OS error in words, without Rust's " (os error N)" suffix.
pub fn io_words(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::StorageFull {
        return "no space left on device".into();
    }
    // The OS's words only: what follows them is the errno and, from tempfile, the name of
    // the temp file (the message already names the file meant).
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// One skipped line of a bulk revocation, as `revoke --from-file` reports it.
pub fn skipped_line(skipped: &crate::authority::Skipped) -> String {
    format!("line {} ({}): {}", skipped.line, skipped.text, describe(&skipped.problem))
}

fn field_message(field: Field, problem: &str) -> String {
    let flag = match field {
        Field::RootName => "--name",
        Field::IntermediateName => "--intermediate",
        Field::CaName => "--name",
        Field::Validity => "--validity",
        Field::CrlUrl => "--crl-url",
        Field::PublicUrl => "--public-url",
        Field::PermittedDns => "--permit-dns",
        Field::AcmeProvisionerName => "NAME",
        Field::AcmePattern => "--allow",
        Field::AcmeIpRange => "--allow-ip",
        Field::MaxValidity => "--max-validity",
    };
    // Messages about a value quote it ("--crl-url \"x\" is not…"); a parser's complaint
    // about a list value follows a colon ("--permit-dns: invalid DNS name …").
    if matches!(field, Field::PermittedDns | Field::AcmePattern | Field::AcmeIpRange)
        && !problem.starts_with('"')
    {
        format!("{flag}: {problem}")
    } else {
        format!("{flag} {problem}")
    }
}

/// "1 entry", "2 entries": a count with its noun in the right number.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The first few problems, and how many more.
pub fn summarize(problems: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = problems.iter().take(SHOWN).cloned().collect::<Vec<_>>().join("; ");
    if problems.len() > SHOWN {
        text.push_str(&format!("; and {} more", problems.len() - SHOWN));
    }
    text
}
