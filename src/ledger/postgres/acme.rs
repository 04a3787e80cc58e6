//! ACME (schema 6) on PostgreSQL. Every row written is hashed whole into the audit chain (an
//! `acme_row` change) exactly as on SQLite: column name and value, with SQLite's type tags
//! (a BOOLEAN as the integer it is there), so that a ledger copied from SQLite keeps its chain.

use postgres::types::{ToSql, Type};
use postgres::{GenericClient, Row};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::rows::{get, parsed};
use super::{Db, DbError, Tx};
use crate::ledger::acme::*;
use crate::ledger::chain::Change;
use crate::ledger::{LedgerError, LedgerResult};

/// The ACME tables and the column that identifies a row, in the order `doctor` walks them.
const TABLES: &[(&str, &str)] = &[
    ("acme_provisioners", "id"),
    ("acme_eab_keys", "id"),
    ("acme_accounts", "id"),
    ("acme_orders", "id"),
    ("acme_authorizations", "id"),
    ("acme_challenges", "id"),
    ("acme_certificates", "certificate_id"),
];

const PROVISIONER: &str = "
    SELECT p.id, p.name, p.authority_id, a.name, p.profile, p.allowed_dns, p.allowed_ips,
           p.max_validity_secs, p.require_eab, p.created_at, p.removed_at,
           (SELECT count(*) FROM acme_accounts WHERE provisioner_id = p.id),
           (SELECT count(*) FROM acme_eab_keys WHERE provisioner_id = p.id),
           (SELECT count(*) FROM acme_eab_keys WHERE provisioner_id = p.id AND account_id IS NULL)
    FROM acme_provisioners p JOIN authorities a ON a.id = p.authority_id";

fn json_column<T: serde::de::DeserializeOwned>(row: &Row, index: usize) -> Db<T> {
    let text: String = get(row, index)?;
    serde_json::from_str(&text).map_err(|e| DbError::Damaged(format!("column {index}: {e}")))
}

fn opt_json(row: &Row, index: usize) -> Db<Option<serde_json::Value>> {
    let text: Option<String> = get(row, index)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| DbError::Damaged(format!("column {index}: {e}"))))
        .transpose()
}

fn typed_list<T: std::str::FromStr<Err = String>>(row: &Row, index: usize) -> Db<Vec<T>> {
    let texts: Vec<String> = json_column(row, index)?;
    texts.iter().map(|t| t.parse().map_err(DbError::Damaged)).collect()
}

fn provisioner(row: &Row) -> Db<AcmeProvisionerRecord> {
    Ok(AcmeProvisionerRecord {
        id: get(row, 0)?,
        name: get(row, 1)?,
        authority_id: get(row, 2)?,
        ca_name: get(row, 3)?,
        profile: parsed(row, 4)?,
        allowed_dns: typed_list(row, 5)?,
        allowed_ips: typed_list(row, 6)?,
        max_validity_secs: get(row, 7)?,
        require_eab: get(row, 8)?,
        created_at: get(row, 9)?,
        removed_at: get(row, 10)?,
        accounts: get(row, 11)?,
        eab_keys: (get(row, 12)?, get(row, 13)?),
    })
}

const EAB: &str = "SELECT id, provisioner_id, key_id, created_at, used_at, account_id FROM acme_eab_keys";

fn eab(row: &Row) -> Db<AcmeEabKeyRecord> {
    Ok(AcmeEabKeyRecord {
        id: get(row, 0)?,
        provisioner_id: get(row, 1)?,
        key_id: get(row, 2)?,
        created_at: get(row, 3)?,
        used_at: get(row, 4)?,
        account_id: get(row, 5)?,
    })
}

const ACCOUNT: &str = "SELECT id, provisioner_id, jwk_thumbprint, jwk, status, contacts, eab_key_id, created_at FROM acme_accounts";

fn account(row: &Row) -> Db<AcmeAccountRecord> {
    Ok(AcmeAccountRecord {
        id: get(row, 0)?,
        provisioner_id: get(row, 1)?,
        jwk_thumbprint: get(row, 2)?,
        jwk: get(row, 3)?,
        status: parsed(row, 4)?,
        contacts: json_column(row, 5)?,
        eab_key_id: get(row, 6)?,
        created_at: get(row, 7)?,
    })
}

const ORDER: &str = "SELECT id, account_id, status, expires_at, identifiers, not_before, not_after, error,
                            certificate_id, created_at FROM acme_orders";

fn order(row: &Row) -> Db<AcmeOrderRecord> {
    Ok(AcmeOrderRecord {
        id: get(row, 0)?,
        account_id: get(row, 1)?,
        status: parsed(row, 2)?,
        expires_at: get(row, 3)?,
        identifiers: json_column(row, 4)?,
        not_before: get(row, 5)?,
        not_after: get(row, 6)?,
        error: opt_json(row, 7)?,
        certificate_id: get(row, 8)?,
        created_at: get(row, 9)?,
    })
}

const AUTHORIZATION: &str =
    "SELECT id, order_id, identifier_type, identifier_value, wildcard, status, expires_at,
                                    created_at FROM acme_authorizations";

fn authorization(row: &Row) -> Db<AcmeAuthorizationRecord> {
    Ok(AcmeAuthorizationRecord {
        id: get(row, 0)?,
        order_id: get(row, 1)?,
        identifier: AcmeIdentifier { kind: parsed(row, 2)?, value: get(row, 3)? },
        wildcard: get(row, 4)?,
        status: parsed(row, 5)?,
        expires_at: get(row, 6)?,
        created_at: get(row, 7)?,
    })
}

const CHALLENGE: &str =
    "SELECT id, authorization_id, type, token, status, validated_at, error, validation_record,
                                created_at FROM acme_challenges";

fn challenge(row: &Row) -> Db<AcmeChallengeRecord> {
    Ok(AcmeChallengeRecord {
        id: get(row, 0)?,
        authorization_id: get(row, 1)?,
        kind: parsed(row, 2)?,
        token: get(row, 3)?,
        status: parsed(row, 4)?,
        validated_at: get(row, 5)?,
        error: opt_json(row, 6)?,
        validation_record: opt_json(row, 7)?,
        created_at: get(row, 8)?,
    })
}

const LINK: &str = "SELECT l.certificate_id, l.account_id, l.order_id, p.id, p.name
    FROM acme_certificates l JOIN acme_accounts c ON c.id = l.account_id
    JOIN acme_provisioners p ON p.id = c.provisioner_id";

fn link(row: &Row) -> Db<AcmeCertificateLink> {
    Ok(AcmeCertificateLink {
        certificate_id: get(row, 0)?,
        account_id: get(row, 1)?,
        order_id: get(row, 2)?,
        provisioner_id: get(row, 3)?,
        provisioner_name: get(row, 4)?,
    })
}

fn strings_json<T: ToString>(items: &[T]) -> String {
    serde_json::Value::from(items.iter().map(ToString::to_string).collect::<Vec<_>>()).to_string()
}

fn one<T>(
    c: &mut impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    map: impl Fn(&Row) -> Db<T>,
) -> Db<Option<T>> {
    c.query_opt(sql, params)?.as_ref().map(map).transpose()
}

fn many<T>(
    c: &mut impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    map: impl Fn(&Row) -> Db<T>,
) -> Db<Vec<T>> {
    c.query(sql, params)?.iter().map(map).collect()
}

pub(super) fn provisioners(
    c: &mut impl GenericClient,
    include_removed: bool,
) -> Db<Vec<AcmeProvisionerRecord>> {
    let filter = if include_removed { "" } else { " WHERE p.removed_at IS NULL" };
    many(c, &format!("{PROVISIONER}{filter} ORDER BY p.name, p.id"), &[], provisioner)
}

pub(super) fn provisioner_by_name(
    c: &mut impl GenericClient,
    name: &str,
) -> Db<Option<AcmeProvisionerRecord>> {
    one(c, &format!("{PROVISIONER} WHERE p.name = $1 AND p.removed_at IS NULL"), &[&name], provisioner)
}

pub(super) fn provisioner_by_id(c: &mut impl GenericClient, id: i64) -> Db<Option<AcmeProvisionerRecord>> {
    one(c, &format!("{PROVISIONER} WHERE p.id = $1"), &[&id], provisioner)
}

pub(super) fn eab_keys(c: &mut impl GenericClient, provisioner_id: i64) -> Db<Vec<AcmeEabKeyRecord>> {
    many(c, &format!("{EAB} WHERE provisioner_id = $1 ORDER BY id"), &[&provisioner_id], eab)
}

pub(super) fn eab_key(
    c: &mut impl GenericClient,
    key_id: &str,
) -> Db<Option<(AcmeEabKeyRecord, Zeroizing<Vec<u8>>)>> {
    let sql = "SELECT id, provisioner_id, key_id, created_at, used_at, account_id, hmac_key
               FROM acme_eab_keys WHERE key_id = $1";
    one(c, sql, &[&key_id], |r| Ok((eab(r)?, Zeroizing::new(get::<Vec<u8>>(r, 6)?))))
}

pub(super) fn account_by_id(c: &mut impl GenericClient, id: i64) -> Db<Option<AcmeAccountRecord>> {
    one(c, &format!("{ACCOUNT} WHERE id = $1"), &[&id], account)
}

pub(super) fn account_by_thumbprint(
    c: &mut impl GenericClient,
    provisioner_id: i64,
    thumbprint: &str,
) -> Db<Option<AcmeAccountRecord>> {
    one(
        c,
        &format!("{ACCOUNT} WHERE provisioner_id = $1 AND jwk_thumbprint = $2"),
        &[&provisioner_id, &thumbprint],
        account,
    )
}

pub(super) fn order_by_id(c: &mut impl GenericClient, id: i64) -> Db<Option<AcmeOrderRecord>> {
    one(c, &format!("{ORDER} WHERE id = $1"), &[&id], order)
}

pub(super) fn orders_of_account(c: &mut impl GenericClient, account_id: i64) -> Db<Vec<AcmeOrderRecord>> {
    many(c, &format!("{ORDER} WHERE account_id = $1 ORDER BY id"), &[&account_id], order)
}

pub(super) fn order_window(c: &mut impl GenericClient, account_id: i64, since: i64) -> Db<AcmeOrderWindow> {
    let sql = "SELECT count(*), min(created_at), \
               coalesce(sum(CASE WHEN status = 'invalid' THEN 1 ELSE 0 END), 0)::BIGINT, \
               min(CASE WHEN status = 'invalid' THEN created_at END) \
               FROM acme_orders WHERE account_id = $1 AND created_at > $2";
    let window = one(c, sql, &[&account_id, &since], |row| {
        Ok(AcmeOrderWindow {
            orders: get(row, 0)?,
            oldest: get(row, 1)?,
            failed: get(row, 2)?,
            oldest_failed: get(row, 3)?,
        })
    })?;
    Ok(window.unwrap_or_default())
}

pub(super) fn authorization_by_id(
    c: &mut impl GenericClient,
    id: i64,
) -> Db<Option<AcmeAuthorizationRecord>> {
    one(c, &format!("{AUTHORIZATION} WHERE id = $1"), &[&id], authorization)
}

pub(super) fn authorizations_of_order(
    c: &mut impl GenericClient,
    order_id: i64,
) -> Db<Vec<AcmeAuthorizationRecord>> {
    many(c, &format!("{AUTHORIZATION} WHERE order_id = $1 ORDER BY id"), &[&order_id], authorization)
}

pub(super) fn challenge_by_id(c: &mut impl GenericClient, id: i64) -> Db<Option<AcmeChallengeRecord>> {
    one(c, &format!("{CHALLENGE} WHERE id = $1"), &[&id], challenge)
}

pub(super) fn challenge_by_token(c: &mut impl GenericClient, token: &str) -> Db<Option<AcmeChallengeRecord>> {
    one(c, &format!("{CHALLENGE} WHERE token = $1"), &[&token], challenge)
}

pub(super) fn challenges_of_authorization(
    c: &mut impl GenericClient,
    id: i64,
) -> Db<Vec<AcmeChallengeRecord>> {
    many(c, &format!("{CHALLENGE} WHERE authorization_id = $1 ORDER BY id"), &[&id], challenge)
}

pub(super) fn certificate_link(
    c: &mut impl GenericClient,
    certificate_id: i64,
) -> Db<Option<AcmeCertificateLink>> {
    one(c, &format!("{LINK} WHERE l.certificate_id = $1"), &[&certificate_id], link)
}

pub(super) fn certificates_of_provisioner(c: &mut impl GenericClient, provisioner_id: i64) -> Db<Vec<i64>> {
    let sql = "SELECT l.certificate_id FROM acme_certificates l
               JOIN acme_accounts c ON c.id = l.account_id WHERE c.provisioner_id = $1 ORDER BY 1";
    many(c, sql, &[&provisioner_id], |r| get(r, 0))
}

/// SHA-256 over every column of one row (name and value, length-prefixed, SQLite's type
/// tags), hex: what the audit chain records of an ACME row.
fn row_digest(row: &Row) -> Db<String> {
    let mut h = Sha256::new();
    let feed = |h: &mut Sha256, bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    for (index, column) in row.columns().iter().enumerate() {
        feed(&mut h, column.name().as_bytes());
        let value: Option<Vec<u8>> = match *column.type_() {
            Type::INT8 => get::<Option<i64>>(row, index)?.map(|i| format!("I{i}").into_bytes()),
            Type::INT4 => get::<Option<i32>>(row, index)?.map(|i| format!("I{i}").into_bytes()),
            Type::BOOL => get::<Option<bool>>(row, index)?.map(|b| format!("I{}", i64::from(b)).into_bytes()),
            Type::TEXT => {
                get::<Option<String>>(row, index)?.map(|t| [b"T".as_slice(), t.as_bytes()].concat())
            }
            Type::BYTEA => get::<Option<Vec<u8>>>(row, index)?.map(|b| [b"B".as_slice(), &b].concat()),
            ref other => {
                return Err(DbError::Damaged(format!(
                    "column {} has the unexpected type {other}",
                    column.name()
                )));
            }
        };
        feed(&mut h, value.as_deref().unwrap_or(b"N"));
    }
    Ok(crate::ledger::chain::hex_digest(&h.finalize()))
}

fn key_column(table: &str) -> &'static str {
    TABLES.iter().find(|(t, _)| *t == table).map(|(_, k)| *k).unwrap_or("id")
}

fn digest_of(c: &mut impl GenericClient, table: &str, id: i64) -> Db<String> {
    let key = key_column(table);
    row_digest(&c.query_one(&format!("SELECT * FROM {table} WHERE {key} = $1"), &[&id])?)
}

pub(super) fn row_digests(c: &mut impl GenericClient, visit: &mut dyn FnMut(&str, i64, &str)) -> Db<()> {
    for (table, key) in TABLES {
        for row in c.query(&format!("SELECT * FROM {table} ORDER BY {key}"), &[])? {
            let id: i64 = get(&row, row.columns().iter().position(|col| col.name() == *key).unwrap_or(0))?;
            visit(table, id, &row_digest(&row)?);
        }
    }
    Ok(())
}

impl Tx<'_> {
    /// Hashes the row as it now is into the next event.
    fn chain_row(&self, table: &str, id: i64) -> LedgerResult<()> {
        let sha256 = self.run(|tx| digest_of(tx, table, id))?;
        self.pending_change(Change::AcmeRow { table: table.to_string(), id, sha256 });
        Ok(())
    }

    /// Runs one statement under a savepoint (a refused unique value leaves the transaction
    /// usable, as on SQLite); `Ok(None)` when a unique constraint refused it.
    fn guarded(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> LedgerResult<Option<Option<Row>>> {
        let mut tx = self.tx.borrow_mut();
        let attempt = (|| -> Db<Option<Row>> {
            let mut sp = tx.savepoint("acme")?;
            let row = sp.query_opt(sql, params)?;
            sp.commit()?;
            Ok(row)
        })();
        drop(tx);
        match attempt {
            Ok(row) => Ok(Some(row)),
            Err(e) if e.is_unique_violation() => Ok(None),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// An INSERT … RETURNING of one row; its id is chained.
    fn insert(
        &self,
        table: &str,
        what: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> LedgerResult<i64> {
        let row =
            self.guarded(sql, params)?.ok_or_else(|| LedgerError::Duplicate { what: what.to_string() })?;
        let row =
            row.ok_or_else(|| LedgerError::Aborted(format!("an insert into {table} returned no row")))?;
        let id: i64 = get(&row, 0).map_err(|e| self.fail(e))?;
        self.chain_row(table, id)?;
        Ok(id)
    }

    /// An UPDATE … RETURNING of one row; true (and chained) when it changed the row.
    fn update(&self, table: &str, id: i64, sql: &str, params: &[&(dyn ToSql + Sync)]) -> LedgerResult<bool> {
        match self.guarded(sql, params)? {
            None => Err(LedgerError::Duplicate { what: table.to_string() }),
            Some(None) => Ok(false),
            Some(Some(_)) => self.chain_row(table, id).map(|()| true),
        }
    }
}

pub(super) fn insert_provisioner(tx: &Tx<'_>, p: &NewAcmeProvisioner<'_>) -> LedgerResult<i64> {
    tx.insert(
        "acme_provisioners",
        "an ACME provisioner with this name",
        "INSERT INTO acme_provisioners (name, authority_id, profile, allowed_dns, allowed_ips,
             max_validity_secs, require_eab, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        &[
            &p.name,
            &p.authority_id,
            &p.profile.as_str(),
            &strings_json(p.allowed_dns),
            &strings_json(p.allowed_ips),
            &p.max_validity_secs,
            &p.require_eab,
            &p.now,
        ],
    )
}

pub(super) fn remove_provisioner(tx: &Tx<'_>, id: i64, now: i64) -> LedgerResult<bool> {
    tx.update(
        "acme_provisioners",
        id,
        "UPDATE acme_provisioners SET removed_at = $2 WHERE id = $1 AND removed_at IS NULL RETURNING id",
        &[&id, &now],
    )
}

pub(super) fn insert_eab_key(
    tx: &Tx<'_>,
    provisioner_id: i64,
    key_id: &str,
    hmac_key: &[u8],
    now: i64,
) -> LedgerResult<i64> {
    tx.insert(
        "acme_eab_keys",
        "an EAB key with this key id",
        "INSERT INTO acme_eab_keys (provisioner_id, key_id, hmac_key, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        &[&provisioner_id, &key_id, &hmac_key, &now],
    )
}

pub(super) fn bind_eab_key(tx: &Tx<'_>, key_id: &str, account_id: i64, now: i64) -> LedgerResult<bool> {
    let row = tx.run(|t| {
        Ok(t.query_opt(
            "UPDATE acme_eab_keys SET used_at = $3, account_id = $2
             WHERE key_id = $1 AND account_id IS NULL RETURNING id",
            &[&key_id, &account_id, &now],
        )?)
    })?;
    match row {
        Some(row) => {
            let id: i64 = get(&row, 0).map_err(|e| tx.fail(e))?;
            tx.chain_row("acme_eab_keys", id).map(|()| true)
        }
        None => Ok(false),
    }
}

pub(super) fn insert_account(tx: &Tx<'_>, a: &NewAcmeAccount<'_>) -> LedgerResult<i64> {
    tx.insert(
        "acme_accounts",
        "an ACME account with this key",
        "INSERT INTO acme_accounts (provisioner_id, jwk_thumbprint, jwk, status, contacts, eab_key_id, created_at)
         VALUES ($1, $2, $3, 'valid', $4, $5, $6) RETURNING id",
        &[&a.provisioner_id, &a.jwk_thumbprint, &a.jwk, &strings_json(a.contacts), &a.eab_key_id, &a.now],
    )
}

pub(super) fn set_account_status(
    tx: &Tx<'_>,
    id: i64,
    from: AccountStatus,
    to: AccountStatus,
) -> LedgerResult<bool> {
    tx.update(
        "acme_accounts",
        id,
        "UPDATE acme_accounts SET status = $3 WHERE id = $1 AND status = $2 RETURNING id",
        &[&id, &from.as_str(), &to.as_str()],
    )
}

pub(super) fn set_account_contacts(tx: &Tx<'_>, id: i64, contacts: &[String]) -> LedgerResult<bool> {
    tx.update(
        "acme_accounts",
        id,
        "UPDATE acme_accounts SET contacts = $2 WHERE id = $1 AND status = 'valid' RETURNING id",
        &[&id, &strings_json(contacts)],
    )
}

pub(super) fn set_account_key(tx: &Tx<'_>, id: i64, thumbprint: &str, jwk: &str) -> LedgerResult<bool> {
    tx.update(
        "acme_accounts",
        id,
        "UPDATE acme_accounts SET jwk_thumbprint = $2, jwk = $3 WHERE id = $1 AND status = 'valid' RETURNING id",
        &[&id, &thumbprint, &jwk],
    )
}

pub(super) fn insert_order(tx: &Tx<'_>, o: &NewAcmeOrder<'_>) -> LedgerResult<i64> {
    let identifiers = serde_json::to_string(o.identifiers)
        .map_err(|e| LedgerError::Aborted(format!("identifiers do not encode: {e}")))?;
    tx.insert(
        "acme_orders",
        "an ACME order",
        "INSERT INTO acme_orders (account_id, status, expires_at, identifiers, not_before, not_after, created_at)
         VALUES ($1, 'pending', $2, $3, $4, $5, $6) RETURNING id",
        &[&o.account_id, &o.expires_at, &identifiers, &o.not_before, &o.not_after, &o.now],
    )
}

pub(super) fn set_order_status(
    tx: &Tx<'_>,
    id: i64,
    from: OrderStatus,
    to: OrderStatus,
    error: Option<&serde_json::Value>,
) -> LedgerResult<bool> {
    tx.update(
        "acme_orders",
        id,
        "UPDATE acme_orders SET status = $3, error = coalesce($4, error) WHERE id = $1 AND status = $2 RETURNING id",
        &[&id, &from.as_str(), &to.as_str(), &error.map(|e| e.to_string())],
    )
}

pub(super) fn link_certificate(tx: &Tx<'_>, order_id: i64, certificate_id: i64) -> LedgerResult<bool> {
    let row = tx.run(|t| {
        Ok(t.query_opt(
            "UPDATE acme_orders SET status = 'valid', certificate_id = $2
             WHERE id = $1 AND status = 'processing' AND certificate_id IS NULL RETURNING account_id",
            &[&order_id, &certificate_id],
        )?)
    })?;
    let Some(row) = row else { return Ok(false) };
    let account_id: i64 = get(&row, 0).map_err(|e| tx.fail(e))?;
    tx.chain_row("acme_orders", order_id)?;
    tx.insert(
        "acme_certificates",
        "an ACME link for this certificate or order",
        "INSERT INTO acme_certificates (certificate_id, account_id, order_id) VALUES ($1, $2, $3) RETURNING certificate_id",
        &[&certificate_id, &account_id, &order_id],
    )?;
    Ok(true)
}

pub(super) fn insert_authorization(tx: &Tx<'_>, a: &NewAcmeAuthorization<'_>) -> LedgerResult<i64> {
    tx.insert(
        "acme_authorizations",
        "an ACME authorization",
        "INSERT INTO acme_authorizations (order_id, identifier_type, identifier_value, wildcard, status,
             expires_at, created_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6) RETURNING id",
        &[&a.order_id, &a.identifier.kind.as_str(), &a.identifier.value, &a.wildcard, &a.expires_at, &a.now],
    )
}

pub(super) fn set_authorization_status(
    tx: &Tx<'_>,
    id: i64,
    from: AuthorizationStatus,
    to: AuthorizationStatus,
) -> LedgerResult<bool> {
    tx.update(
        "acme_authorizations",
        id,
        "UPDATE acme_authorizations SET status = $3 WHERE id = $1 AND status = $2 RETURNING id",
        &[&id, &from.as_str(), &to.as_str()],
    )
}

pub(super) fn insert_challenge(tx: &Tx<'_>, c: &NewAcmeChallenge<'_>) -> LedgerResult<i64> {
    tx.insert(
        "acme_challenges",
        "an ACME challenge with this token",
        "INSERT INTO acme_challenges (authorization_id, type, token, status, created_at)
         VALUES ($1, $2, $3, 'pending', $4) RETURNING id",
        &[&c.authorization_id, &c.kind.as_str(), &c.token, &c.now],
    )
}

pub(super) fn update_challenge(tx: &Tx<'_>, id: i64, u: &ChallengeUpdate<'_>) -> LedgerResult<bool> {
    tx.update(
        "acme_challenges",
        id,
        "UPDATE acme_challenges SET status = $3, validated_at = coalesce($4, validated_at),
             error = coalesce($5, error), validation_record = coalesce($6, validation_record)
         WHERE id = $1 AND status = $2 RETURNING id",
        &[
            &id,
            &u.from.as_str(),
            &u.to.as_str(),
            &u.validated_at,
            &u.error.map(|e| e.to_string()),
            &u.validation_record.map(|e| e.to_string()),
        ],
    )
}
