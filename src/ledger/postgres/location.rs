//! Where a PostgreSQL ledger is: a `postgres://` URL, its TLS mode, and its password, found
//! by libpq's conventions. The password is never part of what a home records or a message
//! shows: [`PgLocation::redacted`] drops it.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use postgres::config::{Host, SslMode};
use postgres::{Client, Config};

use super::{Db, DbError, tls};
use crate::ledger::{LedgerError, LedgerResult};

/// How TLS to the database is used: libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP (loopback, a Unix socket, a trusted network).
    Disable,
    /// TLS when the server offers it, unauthenticated (libpq's default).
    Prefer,
    /// TLS always, the server's certificate not checked.
    Require,
    /// TLS always, the server's certificate chains to the trusted roots.
    VerifyCa,
    /// As `VerifyCa`, and the certificate names the host connected to.
    VerifyFull,
}

/// A parsed ledger URL: `postgres://[user[:password]@]host[:port]/dbname[?sslmode=…&sslrootcert=FILE]`.
#[derive(Clone)]
pub struct PgLocation {
    config: Config,
    tls: TlsMode,
    root_cert: Option<PathBuf>,
    redacted: String,
}

impl std::fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl PgLocation {
    /// Whether `text` is meant as a PostgreSQL URL (rather than a path).
    pub fn is_url(text: &str) -> bool {
        text.starts_with("postgres://") || text.starts_with("postgresql://")
    }

    /// Parses a URL; a password in it is used for this process only.
    pub fn parse(url: &str) -> LedgerResult<PgLocation> {
        let url = url.trim();
        let bad = |reason: &str| LedgerError::BadLocation {
            location: short(&redact(url)),
            reason: reason.to_string(),
        };
        if !PgLocation::is_url(url) {
            return Err(bad("it does not start with postgres:// or postgresql://"));
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut tls = TlsMode::Prefer;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => {
                    tls = match value {
                        "disable" => TlsMode::Disable,
                        "allow" | "prefer" => TlsMode::Prefer,
                        "require" => TlsMode::Require,
                        "verify-ca" => TlsMode::VerifyCa,
                        "verify-full" => TlsMode::VerifyFull,
                        _ => {
                            return Err(bad(
                                "sslmode must be disable, prefer, require, verify-ca or verify-full",
                            ));
                        }
                    }
                }
                "sslrootcert" => root_cert = Some(PathBuf::from(percent_decode(value))),
                "password" => {
                    return Err(bad(
                        "put the password in PGPASSWORD or a PGPASSFILE, not in a URL parameter",
                    ));
                }
                _ => kept.push(pair),
            }
        }
        let rebuilt = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
        let mut config = Config::from_str(&rebuilt).map_err(|e| bad(&e.to_string()))?;
        if config.get_hosts().is_empty() {
            return Err(bad("it names no host"));
        }
        if config.get_dbname().is_none() {
            return Err(bad("it names no database (postgres://HOST/DBNAME)"));
        }
        if config.get_user().is_none() {
            let user = std::env::var("PGUSER")
                .or_else(|_| std::env::var("USER"))
                .unwrap_or_else(|_| "postgres".into());
            config.user(&user);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_password().is_none()
            && let Some(password) = password_from_environment(&config)
        {
            config.password(password);
        }
        config.application_name("pkictl");
        config.ssl_mode(match tls {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        Ok(PgLocation { config, tls, root_cert, redacted: redact(url) })
    }

    /// The URL without its password: what the home records and messages show.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The same server with another database (tests and `ledger migrate` make databases).
    pub fn with_database(&self, dbname: &str) -> PgLocation {
        let mut other = self.clone();
        other.config.dbname(dbname);
        let (base, query) =
            self.redacted.split_once('?').map_or((self.redacted.as_str(), None), |(b, q)| (b, Some(q)));
        let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
        other.redacted = match query {
            Some(q) => format!("{prefix}/{dbname}?{q}"),
            None => format!("{prefix}/{dbname}"),
        };
        other
    }

    /// The database name.
    pub fn database(&self) -> &str {
        self.config.get_dbname().unwrap_or("")
    }

    /// Connects, with TLS as the URL asks.
    pub(super) fn connect(&self) -> Db<Client> {
        match self.tls {
            TlsMode::Disable => Ok(self.config.connect(postgres::NoTls)?),
            mode => {
                let connector = tls::connector(mode, self.root_cert.as_deref()).map_err(DbError::Setup)?;
                Ok(self.config.connect(connector)?)
            }
        }
    }
}

/// The password from PGPASSWORD, else from PGPASSFILE (or ~/.pgpass), as libpq finds it.
fn password_from_environment(config: &Config) -> Option<String> {
    if let Ok(password) = std::env::var("PGPASSWORD") {
        return Some(password);
    }
    let file = match std::env::var_os("PGPASSFILE") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".pgpass"),
    };
    password_from_file(&file, config)
}

/// The first matching `host:port:database:user:password` line of a password file. Like
/// libpq, a file that others can read is ignored.
fn password_from_file(file: &Path, config: &Config) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(file).ok()?;
    if meta.permissions().mode() & 0o077 != 0 {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let host = match config.get_hosts().first()? {
        Host::Tcp(h) => h.clone(),
        Host::Unix(_) => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432).to_string();
    let wanted =
        [host.as_str(), port.as_str(), config.get_dbname().unwrap_or(""), config.get_user().unwrap_or("")];
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .map(split_pgpass_line)
        .find(|fields| fields.len() == 5 && fields[..4].iter().zip(wanted).all(|(f, w)| f == "*" || f == w))
        .map(|mut fields| fields.remove(4))
}

/// Splits a password file line at unescaped colons, undoing `\:` and `\\`.
fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(field)) = (chars.next(), fields.last_mut()) {
                    field.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(field) = fields.last_mut() {
                    field.push(c);
                }
            }
        }
    }
    fields
}

/// `url` without the password of its user-info part.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

fn short(text: &str) -> String {
    if text.chars().count() <= 80 {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(80).collect::<String>())
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_survives_redaction() {
        assert_eq!(
            redact("postgres://ca:s3cret@db.example:5432/pki?sslmode=verify-full"),
            "postgres://ca@db.example:5432/pki?sslmode=verify-full"
        );
        assert_eq!(redact("postgres://db.example/pki"), "postgres://db.example/pki");
        let at = PgLocation::parse("postgres://ca:s3cret@db.example/pki?sslmode=require").unwrap();
        assert!(!format!("{at:?}").contains("s3cret"));
        assert_eq!(at.redacted(), "postgres://ca@db.example/pki?sslmode=require");
    }

    #[test]
    fn sslmodes_and_bad_urls() {
        assert_eq!(PgLocation::parse("postgres://h/d?sslmode=verify-full").unwrap().tls, TlsMode::VerifyFull);
        assert_eq!(PgLocation::parse("postgresql://h/d").unwrap().tls, TlsMode::Prefer);
        assert!(matches!(
            PgLocation::parse("postgres://h/d?sslmode=maybe"),
            Err(LedgerError::BadLocation { .. })
        ));
        assert!(matches!(PgLocation::parse("postgres://h"), Err(LedgerError::BadLocation { .. })));
        assert!(matches!(PgLocation::parse("mysql://h/d"), Err(LedgerError::BadLocation { .. })));
        let with = PgLocation::parse("postgres://u@h:1/d?sslmode=disable").unwrap().with_database("other");
        assert_eq!(with.redacted(), "postgres://u@h:1/other?sslmode=disable");
    }

    #[test]
    fn password_file_lines() {
        assert_eq!(split_pgpass_line(r"h:5432:*:u:pa\:ss"), ["h", "5432", "*", "u", "pa:ss"]);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "other:5432:*:u:no\n*:5433:pki:ca:yes\n").unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let config = Config::from_str("postgres://ca@db:5433/pki").unwrap();
        assert_eq!(password_from_file(&file, &config).as_deref(), Some("yes"));
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        assert_eq!(
            password_from_file(&file, &config),
            None,
            "a readable password file is ignored, as libpq does"
        );
    }
}
