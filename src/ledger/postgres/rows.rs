//! The ledger's rows on PostgreSQL: CAs, certificates, CRLs, tokens and the audit trail. Every
//! function takes any client (a connection or a transaction), so reads inside and outside a
//! write transaction share their SQL.

use postgres::types::ToSql;
use postgres::{GenericClient, Row};

use super::{Db, DbError};
use crate::engine::crl::Reason;
use crate::engine::serial::Serial;
use crate::ledger::chain::{Change, GENESIS, LegacyDigest, StoredEvent, event_hash, sha256_hex};
use crate::ledger::{
    CaRecord, CertFilter, CertSelector, CertificateRecord, CertificateSummary, CrlRecord, NewAuthority,
    NewCertificate, NewCrl, NewTokenRecord, StatusFilter, StoredAuthority, StoredCertificate, StoredCrl,
    TokenRecord,
};
use crate::names::San;

/// How many of each CA's newest CRLs keep their DER in the ledger (as on SQLite).
const KEEP_CRL_DER: i64 = 10;

pub(super) fn now() -> i64 {
    crate::engine::now().unix_timestamp()
}

/// A column of a row, its type mismatch reported as damage.
pub(super) fn get<'a, T: postgres::types::FromSql<'a>>(row: &'a Row, index: usize) -> Db<T> {
    row.try_get(index).map_err(|e| DbError::Damaged(format!("column {index}: {e}")))
}

/// A text column that must parse into a type.
pub(super) fn parsed<T: std::str::FromStr<Err = String>>(row: &Row, index: usize) -> Db<T> {
    let text: String = get(row, index)?;
    text.parse().map_err(DbError::Damaged)
}

fn ledger_serial(row: &Row, index: usize) -> Db<Serial> {
    let text: String = get(row, index)?;
    Serial::from_ledger_hex(&text).ok_or_else(|| DbError::Damaged(format!("malformed serial \"{text}\"")))
}

fn sans_column(row: &Row, index: usize) -> Db<Vec<San>> {
    let text: String = get(row, index)?;
    let sans: Vec<String> = serde_json::from_str(&text).map_err(|e| DbError::Damaged(e.to_string()))?;
    sans.iter().map(|s| s.parse::<San>()).collect::<Result<Vec<_>, _>>().map_err(DbError::Damaged)
}

fn all<T>(rows: Vec<Row>, map: impl Fn(&Row) -> Db<T>) -> Db<Vec<T>> {
    rows.iter().map(map).collect()
}

// ---- authorities ----

const CA_SELECT: &str = "
    SELECT a.id, a.name, a.slug, a.parent_id, p.name, a.subject, a.cert_der, a.ski, a.key_file,
           a.key_type, a.key_encrypted, a.path_len, a.crl_url, a.crl_validity_secs,
           a.next_crl_number, a.is_default, a.not_before, a.not_after, a.created_at,
           (SELECT status FROM certificates WHERE authority_id = a.id),
           (SELECT serial FROM certificates WHERE authority_id = a.id),
           a.permitted_dns, a.public_url
    FROM authorities a
    LEFT JOIN authorities p ON p.id = a.parent_id";

fn ca_from_row(row: &Row) -> Db<CaRecord> {
    let path_len: Option<i64> = get(row, 11)?;
    let path_len = path_len
        .map(|p| u8::try_from(p).map_err(|_| DbError::Damaged(format!("path length {p} out of range"))))
        .transpose()?;
    let permitted: String = get(row, 21)?;
    Ok(CaRecord {
        id: get(row, 0)?,
        name: get(row, 1)?,
        slug: get(row, 2)?,
        parent_id: get(row, 3)?,
        parent_name: get(row, 4)?,
        subject: get(row, 5)?,
        cert_der: get(row, 6)?,
        ski: get(row, 7)?,
        key_file: get(row, 8)?,
        key_type: parsed(row, 9)?,
        key_encrypted: get(row, 10)?,
        path_len,
        crl_url: get(row, 12)?,
        crl_validity_secs: get(row, 13)?,
        next_crl_number: get(row, 14)?,
        is_default: get(row, 15)?,
        not_before: get(row, 16)?,
        not_after: get(row, 17)?,
        created_at: get(row, 18)?,
        status: parsed(row, 19)?,
        serial: ledger_serial(row, 20)?,
        permitted_dns: serde_json::from_str(&permitted).unwrap_or_default(),
        public_url: get(row, 22)?,
    })
}

pub(super) fn authorities(c: &mut impl GenericClient) -> Db<Vec<CaRecord>> {
    let rows = c.query(&format!("{CA_SELECT} ORDER BY a.parent_id IS NOT NULL, a.id"), &[])?;
    all(rows, ca_from_row)
}

pub(super) fn authority_by_name(c: &mut impl GenericClient, name: &str) -> Db<Option<CaRecord>> {
    let sql = format!("{CA_SELECT} WHERE a.name = $1 OR a.slug = $1 ORDER BY a.name = $1 DESC LIMIT 1");
    c.query_opt(&sql, &[&name])?.as_ref().map(ca_from_row).transpose()
}

pub(super) fn authority_by_id(c: &mut impl GenericClient, id: i64) -> Db<Option<CaRecord>> {
    c.query_opt(&format!("{CA_SELECT} WHERE a.id = $1"), &[&id])?.as_ref().map(ca_from_row).transpose()
}

pub(super) fn default_authority(c: &mut impl GenericClient) -> Db<Option<CaRecord>> {
    c.query_opt(&format!("{CA_SELECT} WHERE a.is_default"), &[])?.as_ref().map(ca_from_row).transpose()
}

pub(super) fn insert_authority(c: &mut impl GenericClient, a: &NewAuthority<'_>) -> Db<(i64, Change)> {
    let permitted = serde_json::Value::from(a.permitted_dns.to_vec()).to_string();
    let path_len = a.path_len.map(i64::from);
    let row = c.query_one(
        "INSERT INTO authorities (name, slug, parent_id, subject, cert_der, ski, key_file,
             key_type, key_encrypted, path_len, crl_url, is_default, not_before,
             not_after, created_at, permitted_dns, public_url)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         RETURNING id, crl_validity_secs, next_crl_number",
        &[
            &a.name,
            &a.slug,
            &a.parent_id,
            &a.subject,
            &a.cert_der,
            &a.ski,
            &a.key_file,
            &a.key_type.as_str(),
            &a.key_encrypted,
            &path_len,
            &a.crl_url,
            &a.is_default,
            &a.not_before,
            &a.not_after,
            &a.now,
            &permitted,
            &a.public_url,
        ],
    )?;
    let id: i64 = get(&row, 0)?;
    let change = Change::Authority {
        id,
        name: a.name.to_string(),
        cert_sha256: sha256_hex(a.cert_der),
        crl_validity_secs: get(&row, 1)?,
        next_crl_number: get(&row, 2)?,
    };
    Ok((id, change))
}

// ---- certificates ----

const CERT_COLUMNS: &str = "c.id, c.issuer_id, a.name, c.serial, c.profile, c.subject, c.common_name, c.sans,
    c.key_type, c.key_source, c.not_before, c.not_after, c.fingerprint_sha256, c.status,
    c.revoked_at, c.revocation_reason, c.renewed_from, c.authority_id, c.created_at";

fn cert_from_row(row: &Row) -> Db<CertificateRecord> {
    let reason: Option<String> = get(row, 15)?;
    let revocation_reason = reason.map(|r| r.parse::<Reason>()).transpose().map_err(DbError::Damaged)?;
    Ok(CertificateRecord {
        id: get(row, 0)?,
        issuer_id: get(row, 1)?,
        issuer_name: get(row, 2)?,
        serial: ledger_serial(row, 3)?,
        profile: parsed(row, 4)?,
        subject: get(row, 5)?,
        common_name: get(row, 6)?,
        sans: sans_column(row, 7)?,
        key_type: parsed(row, 8)?,
        key_origin: parsed(row, 9)?,
        not_before: get(row, 10)?,
        not_after: get(row, 11)?,
        fingerprint_sha256: get(row, 12)?,
        status: parsed(row, 13)?,
        revoked_at: get(row, 14)?,
        revocation_reason,
        renewed_from: get(row, 16)?,
        authority_id: get(row, 17)?,
        created_at: get(row, 18)?,
    })
}

pub(super) fn certificate_summary(c: &mut impl GenericClient, now: i64) -> Db<CertificateSummary> {
    let row = c.query_one(
        "SELECT
            (SELECT count(*) FROM certificates WHERE status = 'valid' AND not_after > $1),
            (SELECT count(*) FROM certificates WHERE status = 'revoked'),
            (SELECT count(*) FROM certificates WHERE status = 'valid' AND not_after <= $1),
            (SELECT min(not_after) FROM certificates WHERE status = 'valid' AND not_after > $1)",
        &[&now],
    )?;
    Ok(CertificateSummary {
        valid: get(&row, 0)?,
        revoked: get(&row, 1)?,
        expired: get(&row, 2)?,
        next_expiry: get(&row, 3)?,
    })
}

pub(super) fn find_certificates(
    c: &mut impl GenericClient,
    selector: CertSelector<'_>,
    issuer_id: Option<i64>,
) -> Db<Vec<CertificateRecord>> {
    let serial;
    let (column, value) = match selector {
        CertSelector::Serial(s) => {
            serial = s.ledger_hex();
            ("c.serial", serial.as_str())
        }
        CertSelector::Fingerprint(f) => ("c.fingerprint_sha256", f),
        CertSelector::Name(n) => ("c.common_name", n),
    };
    let sql = format!(
        "SELECT {CERT_COLUMNS} FROM certificates c JOIN authorities a ON a.id = c.issuer_id
         WHERE {column} = $1 AND ($2::BIGINT IS NULL OR c.issuer_id = $2) ORDER BY c.id"
    );
    all(c.query(&sql, &[&value, &issuer_id])?, cert_from_row)
}

pub(super) fn certificate_by_id(c: &mut impl GenericClient, id: i64) -> Db<Option<CertificateRecord>> {
    let sql = format!(
        "SELECT {CERT_COLUMNS} FROM certificates c JOIN authorities a ON a.id = c.issuer_id WHERE c.id = $1"
    );
    c.query_opt(&sql, &[&id])?.as_ref().map(cert_from_row).transpose()
}

pub(super) fn renewals_of(c: &mut impl GenericClient, id: i64) -> Db<Vec<CertificateRecord>> {
    let sql = format!(
        "SELECT {CERT_COLUMNS} FROM certificates c JOIN authorities a ON a.id = c.issuer_id
         WHERE c.renewed_from = $1 ORDER BY c.id"
    );
    all(c.query(&sql, &[&id])?, cert_from_row)
}

/// Streams rows of `sql` to `visit` without holding them all in memory; `visit` false stops.
fn stream(
    c: &mut impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    visit: &mut dyn FnMut(&Row) -> Db<bool>,
) -> Db<()> {
    use fallible_iterator_shim::Next;
    let mut rows = c.query_raw(sql, params.iter().copied())?;
    while let Some(row) = rows.next_row()? {
        if !visit(&row)? {
            break;
        }
    }
    Ok(())
}

/// `postgres::RowIter` is a `FallibleIterator`; this names its one method we need without a
/// dependency on the `fallible-iterator` crate.
mod fallible_iterator_shim {
    pub trait Next {
        fn next_row(&mut self) -> Result<Option<postgres::Row>, postgres::Error>;
    }
    impl Next for postgres::RowIter<'_> {
        fn next_row(&mut self) -> Result<Option<postgres::Row>, postgres::Error> {
            postgres::fallible_iterator::FallibleIterator::next(self)
        }
    }
}

pub(super) fn scan_certificates(
    c: &mut impl GenericClient,
    visit: &mut dyn FnMut(&str, &str, &[u8]),
) -> Db<()> {
    stream(c, "SELECT serial, fingerprint_sha256, der FROM certificates ORDER BY id", &[], &mut |row| {
        let serial: &str = get(row, 0)?;
        let fingerprint: &str = get(row, 1)?;
        let der: &[u8] = get(row, 2)?;
        visit(serial, fingerprint, der);
        Ok(true)
    })
}

pub(super) fn list_certificates(
    c: &mut impl GenericClient,
    filter: &CertFilter,
) -> Db<Vec<CertificateRecord>> {
    let mut conditions = vec![match filter.status {
        StatusFilter::Valid => "c.status = 'valid' AND c.not_after > $1".to_string(),
        StatusFilter::Revoked => "c.status = 'revoked'".to_string(),
        StatusFilter::Expired => "c.status = 'valid' AND c.not_after <= $1".to_string(),
        StatusFilter::All => "TRUE".to_string(),
    }];
    let profile = filter.profile.map(|p| p.as_str());
    let mut values: Vec<&(dyn ToSql + Sync)> = vec![&filter.now];
    if let Some(limit) = &filter.expiring_before {
        values.push(limit);
        conditions
            .push(format!("c.status = 'valid' AND c.not_after > $1 AND c.not_after <= ${}", values.len()));
    }
    if let Some(issuer) = &filter.issuer_id {
        values.push(issuer);
        conditions.push(format!("c.issuer_id = ${}", values.len()));
    }
    if let Some(profile) = &profile {
        values.push(profile);
        conditions.push(format!("c.profile = ${}", values.len()));
    }
    // $1 is always bound: a condition list that does not use it still types it.
    conditions.push("$1::BIGINT IS NOT NULL".to_string());
    let sql = format!(
        "SELECT {CERT_COLUMNS} FROM certificates c JOIN authorities a ON a.id = c.issuer_id
         WHERE {} ORDER BY c.not_after, c.id",
        conditions.join(" AND ")
    );
    all(c.query(&sql, &values)?, cert_from_row)
}

pub(super) fn insert_certificate(
    c: &mut postgres::Transaction<'_>,
    n: &NewCertificate<'_>,
    serial: &str,
) -> Db<(i64, Change)> {
    let sans: Vec<String> = n.sans.iter().map(San::to_string).collect();
    let sans = serde_json::Value::from(sans).to_string();
    // A savepoint: a refused serial leaves the transaction usable (issuance draws another).
    let mut sp = c.savepoint("insert_certificate")?;
    let row = sp.query_one(
        "INSERT INTO certificates (issuer_id, serial, profile, subject, common_name, sans,
             key_type, key_source, not_before, not_after, fingerprint_sha256, der,
             renewed_from, authority_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
        &[
            &n.issuer_id,
            &serial,
            &n.profile.as_str(),
            &n.subject,
            &n.common_name,
            &sans,
            &n.key_type.as_str(),
            &n.key_origin.as_str(),
            &n.not_before,
            &n.not_after,
            &n.fingerprint_sha256,
            &n.der,
            &n.renewed_from,
            &n.authority_id,
            &n.now,
        ],
    )?;
    sp.commit()?;
    let id: i64 = get(&row, 0)?;
    let change = Change::Certificate {
        id,
        issuer_id: n.issuer_id,
        serial: serial.to_string(),
        der_sha256: sha256_hex(n.der),
        not_after: n.not_after,
    };
    Ok((id, change))
}

pub(super) fn revoke_certificate(
    c: &mut impl GenericClient,
    id: i64,
    at: i64,
    reason: Reason,
) -> Db<Option<Change>> {
    let row = c.query_opt(
        "UPDATE certificates SET status = 'revoked', revoked_at = $2, revocation_reason = $3
         WHERE id = $1 AND status = 'valid' RETURNING issuer_id, serial, not_after",
        &[&id, &at, &reason.as_str()],
    )?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Change::Revocation {
        id,
        issuer_id: get(&row, 0)?,
        serial: get(&row, 1)?,
        not_after: get(&row, 2)?,
        at,
        reason: reason.as_str().to_string(),
    }))
}

// ---- CRLs ----

/// Streams the revoked, unexpired certificates of an issuer in serial order (the partial
/// covering index of schema 2 holds exactly these rows); `visit` false stops.
pub(super) fn for_each_revoked(
    c: &mut impl GenericClient,
    issuer_id: i64,
    now: i64,
    visit: &mut dyn FnMut(&str, i64, Reason) -> bool,
) -> Db<()> {
    stream(
        c,
        "SELECT serial, revoked_at, revocation_reason FROM certificates
         WHERE issuer_id = $1 AND status = 'revoked' AND not_after > $2
         ORDER BY serial",
        &[&issuer_id, &now],
        &mut |row| {
            let serial: &str = get(row, 0)?;
            let at: i64 = get(row, 1)?;
            let reason: Option<&str> = get(row, 2)?;
            let reason = reason.unwrap_or("unspecified").parse().unwrap_or(Reason::Unspecified);
            Ok(visit(serial, at, reason))
        },
    )
}

pub(super) fn insert_crl(c: &mut impl GenericClient, crl: &NewCrl<'_>) -> Db<Change> {
    c.execute(
        "INSERT INTO crls (issuer_id, number, this_update, next_update, entries, der)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[&crl.issuer_id, &crl.number, &crl.this_update, &crl.next_update, &crl.entries, &crl.der],
    )?;
    // Keep the DER of the newest CRLs only; the metadata of every CRL stays.
    c.execute(
        "UPDATE crls SET der = '\\x'::BYTEA WHERE issuer_id = $1 AND number <= $2 AND length(der) > 0",
        &[&crl.issuer_id, &(crl.number - KEEP_CRL_DER)],
    )?;
    Ok(Change::Crl {
        issuer_id: crl.issuer_id,
        number: crl.number,
        this_update: crl.this_update,
        entries: crl.entries,
        der_sha256: sha256_hex(crl.der),
        revoked: Some(crl.revoked.checkpoint()),
    })
}

pub(super) fn latest_crls(c: &mut impl GenericClient) -> Db<Vec<CrlRecord>> {
    let rows = c.query(
        "SELECT k.issuer_id, a.name, k.number, k.this_update, k.next_update, k.entries
         FROM crls k JOIN authorities a ON a.id = k.issuer_id
         WHERE k.number = (SELECT max(number) FROM crls WHERE issuer_id = k.issuer_id)
         ORDER BY a.id",
        &[],
    )?;
    all(rows, |r| {
        Ok(CrlRecord {
            issuer_id: get(r, 0)?,
            issuer_name: get(r, 1)?,
            number: get(r, 2)?,
            this_update: get(r, 3)?,
            next_update: get(r, 4)?,
            entries: get(r, 5)?,
        })
    })
}

// ---- tokens ----

const TOKEN_COLUMNS: &str =
    "t.id, t.token_sha256, t.name, t.profile, t.sans, t.issuer_id, a.name, t.validity_secs,
    t.expires_at, t.created_at, t.used_at, t.revoked_at, t.certificate_id";

fn token_from_row(row: &Row) -> Db<TokenRecord> {
    Ok(TokenRecord {
        id: get(row, 0)?,
        token_sha256: get(row, 1)?,
        name: get(row, 2)?,
        profile: parsed(row, 3)?,
        sans: sans_column(row, 4)?,
        issuer_id: get(row, 5)?,
        issuer_name: get(row, 6)?,
        validity_secs: get(row, 7)?,
        expires_at: get(row, 8)?,
        created_at: get(row, 9)?,
        used_at: get(row, 10)?,
        revoked_at: get(row, 11)?,
        certificate_id: get(row, 12)?,
    })
}

pub(super) fn token_by_hash(c: &mut impl GenericClient, sha256: &str) -> Db<Option<TokenRecord>> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens t JOIN authorities a ON a.id = t.issuer_id WHERE t.token_sha256 = $1"
    );
    c.query_opt(&sql, &[&sha256])?.as_ref().map(token_from_row).transpose()
}

pub(super) fn token_by_id(c: &mut impl GenericClient, id: i64) -> Db<Option<TokenRecord>> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens t JOIN authorities a ON a.id = t.issuer_id WHERE t.id = $1"
    );
    c.query_opt(&sql, &[&id])?.as_ref().map(token_from_row).transpose()
}

pub(super) fn tokens(c: &mut impl GenericClient) -> Db<Vec<TokenRecord>> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens t JOIN authorities a ON a.id = t.issuer_id ORDER BY t.id DESC"
    );
    all(c.query(&sql, &[])?, token_from_row)
}

pub(super) fn insert_token(c: &mut impl GenericClient, t: &NewTokenRecord<'_>) -> Db<(i64, Change)> {
    let sans: Vec<String> = t.sans.iter().map(San::to_string).collect();
    let sans_json = serde_json::to_string(&sans).map_err(|e| DbError::Damaged(e.to_string()))?;
    let row = c.query_one(
        "INSERT INTO tokens (token_sha256, name, profile, sans, issuer_id, validity_secs, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        &[&t.token_sha256, &t.name, &t.profile.as_str(), &sans_json, &t.issuer_id, &t.validity_secs, &t.expires_at, &t.now],
    )?;
    let id: i64 = get(&row, 0)?;
    let change = Change::Token {
        id,
        token_sha256: t.token_sha256.to_string(),
        name: t.name.to_string(),
        profile: t.profile.as_str().to_string(),
        sans,
        issuer_id: t.issuer_id,
        expires_at: t.expires_at,
    };
    Ok((id, change))
}

// ---- the audit trail ----

pub(super) fn scan_events_from(
    c: &mut impl GenericClient,
    first_id: i64,
    visit: &mut dyn FnMut(&StoredEvent),
) -> Db<()> {
    stream(
        c,
        "SELECT id, at, action, target, detail, changes, prev_hash, hash FROM events WHERE id >= $1 ORDER BY id",
        &[&first_id],
        &mut |row| {
            let event = StoredEvent {
                id: get(row, 0)?,
                at: get(row, 1)?,
                action: get(row, 2)?,
                target: get(row, 3)?,
                detail: get(row, 4)?,
                changes: get(row, 5)?,
                prev_hash: get(row, 6)?,
                hash: get(row, 7)?,
            };
            visit(&event);
            Ok(true)
        },
    )
}

/// Appends one chained row after the newest one (the caller holds the write lock).
pub(super) fn append_event(
    c: &mut impl GenericClient,
    at: i64,
    action: &str,
    target: &str,
    detail: &str,
    changes: &[Change],
) -> Db<()> {
    let changes = serde_json::to_string(changes).map_err(|e| DbError::Damaged(e.to_string()))?;
    let row = c.query_one(
        "SELECT coalesce(max(id), 0) + 1, (SELECT hash FROM events ORDER BY id DESC LIMIT 1) FROM events",
        &[],
    )?;
    let id: i64 = get(&row, 0)?;
    let prev: Option<String> = get(&row, 1)?;
    let prev = prev.unwrap_or_else(|| GENESIS.to_string());
    let hash = event_hash(&prev, id, at, action, target, detail, &changes);
    c.execute(
        "INSERT INTO events (id, at, action, target, detail, changes, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[&id, &at, &action, &target, &detail, &changes, &prev, &hash],
    )?;
    Ok(())
}

/// Starts the chain when schema 3 is applied. A PostgreSQL ledger is always created at the
/// newest schema, so there is no older row to adopt: the chain-start row commits to no
/// legacy event, as on a new SQLite ledger.
pub(super) fn start_chain(c: &mut impl GenericClient) -> Db<()> {
    let mut legacy = LegacyDigest::default();
    scan_events_from(c, i64::MIN, &mut |e| legacy.add(e))?;
    let (legacy_events, legacy_sha256) = legacy.finish();
    append_event(
        c,
        now(),
        "chain.start",
        "ledger",
        "{}",
        &[Change::ChainStart { legacy_events, legacy_sha256 }],
    )
}

pub(super) fn scan_certificate_rows(
    c: &mut impl GenericClient,
    visit: &mut dyn FnMut(&StoredCertificate),
) -> Db<()> {
    stream(
        c,
        "SELECT id, issuer_id, serial, fingerprint_sha256, der, status, revoked_at, revocation_reason, not_after
         FROM certificates ORDER BY id",
        &[],
        &mut |row| {
            let record = StoredCertificate {
                id: get(row, 0)?,
                issuer_id: get(row, 1)?,
                serial: get(row, 2)?,
                fingerprint_sha256: get(row, 3)?,
                der: get(row, 4)?,
                status: get(row, 5)?,
                revoked_at: get(row, 6)?,
                revocation_reason: get(row, 7)?,
                not_after: get(row, 8)?,
                // The column types are the database's to enforce: none can hold a wrong type.
                damaged: Vec::new(),
            };
            visit(&record);
            Ok(true)
        },
    )
}

pub(super) fn authority_rows(c: &mut impl GenericClient) -> Db<Vec<StoredAuthority>> {
    let rows = c.query(
        "SELECT id, name, cert_der, crl_validity_secs, next_crl_number FROM authorities ORDER BY id",
        &[],
    )?;
    all(rows, |r| {
        let der: &[u8] = get(r, 2)?;
        Ok(StoredAuthority {
            id: get(r, 0)?,
            name: get(r, 1)?,
            cert_sha256: sha256_hex(der),
            crl_validity_secs: get(r, 3)?,
            next_crl_number: get(r, 4)?,
            damaged: Vec::new(),
        })
    })
}

pub(super) fn crl_rows(c: &mut impl GenericClient) -> Db<Vec<StoredCrl>> {
    let rows = c.query(
        "SELECT issuer_id, number, this_update, next_update, entries, der FROM crls ORDER BY id",
        &[],
    )?;
    all(rows, |r| {
        let der: &[u8] = get(r, 5)?;
        Ok(StoredCrl {
            issuer_id: get(r, 0)?,
            number: get(r, 1)?,
            this_update: get(r, 2)?,
            next_update: get(r, 3)?,
            entries: get(r, 4)?,
            der_sha256: if der.is_empty() { String::new() } else { sha256_hex(der) },
            damaged: Vec::new(),
        })
    })
}

/// What PostgreSQL itself can tell of damage: constraints not validated, indexes not valid,
/// tables of the schema missing. (The rows are checked against the audit chain elsewhere.)
pub(super) fn integrity_problems(c: &mut impl GenericClient) -> Db<Vec<String>> {
    let mut problems = Vec::new();
    for row in c.query(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint
         WHERE connamespace = current_schema()::regnamespace AND NOT convalidated",
        &[],
    )? {
        let (table, name): (String, String) = (get(&row, 0)?, get(&row, 1)?);
        problems.push(format!("constraint {name} of {table} is not validated"));
    }
    for row in c.query(
        "SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
         WHERE t.relnamespace = current_schema()::regnamespace AND NOT (i.indisvalid AND i.indisready)",
        &[],
    )? {
        let name: String = get(&row, 0)?;
        problems.push(format!("index {name} is not valid (rebuild it with REINDEX)"));
    }
    for table in super::copy::TABLES {
        let present: bool = get(&c.query_one("SELECT to_regclass($1) IS NOT NULL", &[table])?, 0)?;
        if !present {
            problems.push(format!("table {table} is missing"));
        }
    }
    Ok(problems)
}
