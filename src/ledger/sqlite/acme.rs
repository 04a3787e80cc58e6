//! ACME (schema 6): provisioners, EAB keys, accounts, orders, authorizations, challenges and
//! certificate links. Every row written is hashed whole into the audit chain (an `acme_row`
//! change), so that `doctor` sees any row changed outside pkictl.

use super::Cached;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, params};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{LedgerResult, SqliteLedger, Tx, parsed};
use crate::ledger::LedgerError;
use crate::ledger::acme::*;
use crate::ledger::chain::Change;

/// The ACME tables, in the order `doctor` walks them.
pub(super) const TABLES: &[&str] = &[
    "acme_provisioners",
    "acme_eab_keys",
    "acme_accounts",
    "acme_orders",
    "acme_authorizations",
    "acme_challenges",
    "acme_certificates",
];

/// An account's orders since a time, counted (served by the index on account and status).
const ORDER_WINDOW: &str = "SELECT count(*), min(created_at), \
     coalesce(sum(CASE WHEN status = 'invalid' THEN 1 ELSE 0 END), 0), \
     min(CASE WHEN status = 'invalid' THEN created_at END) \
     FROM acme_orders WHERE account_id = ?1 AND created_at > ?2";

const PROVISIONER: &str = "
    SELECT p.id, p.name, p.authority_id, a.name, p.profile, p.allowed_dns, p.allowed_ips,
           p.max_validity_secs, p.require_eab, p.created_at, p.removed_at,
           (SELECT count(*) FROM acme_accounts WHERE provisioner_id = p.id),
           (SELECT count(*) FROM acme_eab_keys WHERE provisioner_id = p.id),
           (SELECT count(*) FROM acme_eab_keys WHERE provisioner_id = p.id AND account_id IS NULL)
    FROM acme_provisioners p JOIN authorities a ON a.id = p.authority_id";

fn json_column<T: serde::de::DeserializeOwned>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn opt_json(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<serde_json::Value>> {
    match row.get::<_, Option<String>>(index)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
        }),
    }
}

/// A JSON array of strings parsed into typed values (patterns, CIDRs).
fn typed_list<T: std::str::FromStr<Err = String>>(row: &Row<'_>, index: usize) -> rusqlite::Result<Vec<T>> {
    let texts: Vec<String> = json_column(row, index)?;
    texts
        .iter()
        .map(|t| {
            t.parse().map_err(|e: String| {
                rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, e.into())
            })
        })
        .collect()
}

fn provisioner(row: &Row<'_>) -> rusqlite::Result<AcmeProvisionerRecord> {
    Ok(AcmeProvisionerRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        authority_id: row.get(2)?,
        ca_name: row.get(3)?,
        profile: parsed(row, 4)?,
        allowed_dns: typed_list(row, 5)?,
        allowed_ips: typed_list(row, 6)?,
        max_validity_secs: row.get(7)?,
        require_eab: row.get(8)?,
        created_at: row.get(9)?,
        removed_at: row.get(10)?,
        accounts: row.get(11)?,
        eab_keys: (row.get(12)?, row.get(13)?),
    })
}

const EAB: &str = "SELECT id, provisioner_id, key_id, created_at, used_at, account_id FROM acme_eab_keys";

fn eab(row: &Row<'_>) -> rusqlite::Result<AcmeEabKeyRecord> {
    Ok(AcmeEabKeyRecord {
        id: row.get(0)?,
        provisioner_id: row.get(1)?,
        key_id: row.get(2)?,
        created_at: row.get(3)?,
        used_at: row.get(4)?,
        account_id: row.get(5)?,
    })
}

const ACCOUNT: &str = "SELECT id, provisioner_id, jwk_thumbprint, jwk, status, contacts, eab_key_id, created_at FROM acme_accounts";

fn account(row: &Row<'_>) -> rusqlite::Result<AcmeAccountRecord> {
    Ok(AcmeAccountRecord {
        id: row.get(0)?,
        provisioner_id: row.get(1)?,
        jwk_thumbprint: row.get(2)?,
        jwk: row.get(3)?,
        status: parsed(row, 4)?,
        contacts: json_column(row, 5)?,
        eab_key_id: row.get(6)?,
        created_at: row.get(7)?,
    })
}

const ORDER: &str = "SELECT id, account_id, status, expires_at, identifiers, not_before, not_after, error,
                            certificate_id, created_at FROM acme_orders";

fn order(row: &Row<'_>) -> rusqlite::Result<AcmeOrderRecord> {
    Ok(AcmeOrderRecord {
        id: row.get(0)?,
        account_id: row.get(1)?,
        status: parsed(row, 2)?,
        expires_at: row.get(3)?,
        identifiers: json_column(row, 4)?,
        not_before: row.get(5)?,
        not_after: row.get(6)?,
        error: opt_json(row, 7)?,
        certificate_id: row.get(8)?,
        created_at: row.get(9)?,
    })
}

const AUTHORIZATION: &str =
    "SELECT id, order_id, identifier_type, identifier_value, wildcard, status, expires_at,
                                    created_at FROM acme_authorizations";

fn authorization(row: &Row<'_>) -> rusqlite::Result<AcmeAuthorizationRecord> {
    Ok(AcmeAuthorizationRecord {
        id: row.get(0)?,
        order_id: row.get(1)?,
        identifier: AcmeIdentifier { kind: parsed(row, 2)?, value: row.get(3)? },
        wildcard: row.get(4)?,
        status: parsed(row, 5)?,
        expires_at: row.get(6)?,
        created_at: row.get(7)?,
    })
}

const CHALLENGE: &str =
    "SELECT id, authorization_id, type, token, status, validated_at, error, validation_record,
                                created_at FROM acme_challenges";

fn challenge(row: &Row<'_>) -> rusqlite::Result<AcmeChallengeRecord> {
    Ok(AcmeChallengeRecord {
        id: row.get(0)?,
        authorization_id: row.get(1)?,
        kind: parsed(row, 2)?,
        token: row.get(3)?,
        status: parsed(row, 4)?,
        validated_at: row.get(5)?,
        error: opt_json(row, 6)?,
        validation_record: opt_json(row, 7)?,
        created_at: row.get(8)?,
    })
}

const LINK: &str = "SELECT l.certificate_id, l.account_id, l.order_id, p.id, p.name
    FROM acme_certificates l JOIN acme_accounts c ON c.id = l.account_id
    JOIN acme_provisioners p ON p.id = c.provisioner_id";

fn link(row: &Row<'_>) -> rusqlite::Result<AcmeCertificateLink> {
    Ok(AcmeCertificateLink {
        certificate_id: row.get(0)?,
        account_id: row.get(1)?,
        order_id: row.get(2)?,
        provisioner_id: row.get(3)?,
        provisioner_name: row.get(4)?,
    })
}

fn strings_json<T: ToString>(items: &[T]) -> String {
    serde_json::Value::from(items.iter().map(ToString::to_string).collect::<Vec<_>>()).to_string()
}

/// SHA-256 over every column of one row (name and value, length-prefixed), hex: what the
/// audit chain records of an ACME row, and what `doctor` recomputes.
fn row_digest(row: &Row<'_>) -> rusqlite::Result<String> {
    let mut h = Sha256::new();
    let feed = |h: &mut Sha256, bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    for index in 0..row.as_ref().column_count() {
        feed(&mut h, row.as_ref().column_name(index)?.as_bytes());
        match row.get_ref(index)? {
            ValueRef::Null => feed(&mut h, b"N"),
            ValueRef::Integer(i) => feed(&mut h, format!("I{i}").as_bytes()),
            ValueRef::Real(f) => feed(&mut h, format!("R{f}").as_bytes()),
            ValueRef::Text(t) => feed(&mut h, &[b"T".as_slice(), t].concat()),
            ValueRef::Blob(b) => feed(&mut h, &[b"B".as_slice(), b].concat()),
        }
    }
    Ok(crate::ledger::chain::hex_digest(&h.finalize()))
}

fn digest_of(conn: &Connection, table: &str, rowid: i64) -> rusqlite::Result<String> {
    conn.row(&format!("SELECT * FROM {table} WHERE rowid = ?1"), [rowid], row_digest)
}

fn unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(code, _)
        if code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

impl SqliteLedger {
    pub(super) fn acme_provisioners(
        &self,
        include_removed: bool,
    ) -> LedgerResult<Vec<AcmeProvisionerRecord>> {
        let filter = if include_removed { "" } else { " WHERE p.removed_at IS NULL" };
        let sql = format!("{PROVISIONER}{filter} ORDER BY p.name, p.id");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], provisioner).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    pub(super) fn acme_provisioner_by_name(&self, name: &str) -> LedgerResult<Option<AcmeProvisionerRecord>> {
        let sql = format!("{PROVISIONER} WHERE p.name = ?1 AND p.removed_at IS NULL");
        self.one(&sql, params![name], provisioner)
    }

    pub(super) fn acme_provisioner_by_id(&self, id: i64) -> LedgerResult<Option<AcmeProvisionerRecord>> {
        self.one(&format!("{PROVISIONER} WHERE p.id = ?1"), params![id], provisioner)
    }

    pub(super) fn acme_eab_keys(&self, provisioner_id: i64) -> LedgerResult<Vec<AcmeEabKeyRecord>> {
        self.many(&format!("{EAB} WHERE provisioner_id = ?1 ORDER BY id"), params![provisioner_id], eab)
    }

    pub(super) fn acme_eab_key(
        &self,
        key_id: &str,
    ) -> LedgerResult<Option<(AcmeEabKeyRecord, Zeroizing<Vec<u8>>)>> {
        let sql = "SELECT id, provisioner_id, key_id, created_at, used_at, account_id, hmac_key
                   FROM acme_eab_keys WHERE key_id = ?1";
        self.one(sql, params![key_id], |r| Ok((eab(r)?, Zeroizing::new(r.get::<_, Vec<u8>>(6)?))))
    }

    pub(super) fn acme_account_by_id(&self, id: i64) -> LedgerResult<Option<AcmeAccountRecord>> {
        self.one(&format!("{ACCOUNT} WHERE id = ?1"), params![id], account)
    }

    pub(super) fn acme_account_by_thumbprint(
        &self,
        provisioner_id: i64,
        thumbprint: &str,
    ) -> LedgerResult<Option<AcmeAccountRecord>> {
        let sql = format!("{ACCOUNT} WHERE provisioner_id = ?1 AND jwk_thumbprint = ?2");
        self.one(&sql, params![provisioner_id, thumbprint], account)
    }

    pub(super) fn acme_order_by_id(&self, id: i64) -> LedgerResult<Option<AcmeOrderRecord>> {
        self.one(&format!("{ORDER} WHERE id = ?1"), params![id], order)
    }

    pub(super) fn acme_orders_of_account(&self, account_id: i64) -> LedgerResult<Vec<AcmeOrderRecord>> {
        self.many(&format!("{ORDER} WHERE account_id = ?1 ORDER BY id"), params![account_id], order)
    }

    pub(super) fn acme_order_window(&self, account_id: i64, since: i64) -> LedgerResult<AcmeOrderWindow> {
        let window = self.one(ORDER_WINDOW, params![account_id, since], |r| {
            Ok(AcmeOrderWindow {
                orders: r.get(0)?,
                oldest: r.get(1)?,
                failed: r.get(2)?,
                oldest_failed: r.get(3)?,
            })
        })?;
        Ok(window.unwrap_or_default())
    }

    pub(super) fn acme_authorization_by_id(&self, id: i64) -> LedgerResult<Option<AcmeAuthorizationRecord>> {
        self.one(&format!("{AUTHORIZATION} WHERE id = ?1"), params![id], authorization)
    }

    pub(super) fn acme_authorizations_of_order(
        &self,
        order_id: i64,
    ) -> LedgerResult<Vec<AcmeAuthorizationRecord>> {
        self.many(
            &format!("{AUTHORIZATION} WHERE order_id = ?1 ORDER BY id"),
            params![order_id],
            authorization,
        )
    }

    pub(super) fn acme_challenge_by_id(&self, id: i64) -> LedgerResult<Option<AcmeChallengeRecord>> {
        self.one(&format!("{CHALLENGE} WHERE id = ?1"), params![id], challenge)
    }

    pub(super) fn acme_challenge_by_token(&self, token: &str) -> LedgerResult<Option<AcmeChallengeRecord>> {
        self.one(&format!("{CHALLENGE} WHERE token = ?1"), params![token], challenge)
    }

    pub(super) fn acme_challenges_of_authorization(&self, id: i64) -> LedgerResult<Vec<AcmeChallengeRecord>> {
        self.many(&format!("{CHALLENGE} WHERE authorization_id = ?1 ORDER BY id"), params![id], challenge)
    }

    pub(super) fn acme_certificate_link(
        &self,
        certificate_id: i64,
    ) -> LedgerResult<Option<AcmeCertificateLink>> {
        self.one(&format!("{LINK} WHERE l.certificate_id = ?1"), params![certificate_id], link)
    }

    pub(super) fn acme_certificates_of_provisioner(&self, provisioner_id: i64) -> LedgerResult<Vec<i64>> {
        let sql = "SELECT l.certificate_id FROM acme_certificates l
                   JOIN acme_accounts c ON c.id = l.account_id WHERE c.provisioner_id = ?1 ORDER BY 1";
        self.many(sql, params![provisioner_id], |r| r.get(0))
    }

    /// Calls `visit` with (table, rowid, digest) of every ACME row, for the audit.
    pub(super) fn acme_row_digests(&self, visit: &mut dyn FnMut(&str, i64, &str)) -> LedgerResult<()> {
        for table in TABLES {
            let mut stmt = self
                .conn
                .prepare(&format!("SELECT rowid, * FROM {table} ORDER BY rowid"))
                .map_err(|e| self.err(e))?;
            let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
            while let Some(row) = rows.next().map_err(|e| self.err(e))? {
                let rowid: i64 = row.get(0).map_err(|e| self.err(e))?;
                let digest = digest_of(&self.conn, table, rowid).map_err(|e| self.err(e))?;
                visit(table, rowid, &digest);
            }
        }
        Ok(())
    }

    fn one<T>(
        &self,
        sql: &str,
        values: impl rusqlite::Params,
        map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> LedgerResult<Option<T>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        stmt.query_row(values, map).optional().map_err(|e| self.err(e))
    }

    fn many<T>(
        &self,
        sql: &str,
        values: impl rusqlite::Params,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> LedgerResult<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let rows = stmt.query_map(values, map).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }
}

impl Tx<'_> {
    /// Hashes the row as it now is into the next event.
    fn chain_row(&self, table: &str, rowid: i64) -> LedgerResult<()> {
        let sha256 = digest_of(&self.tx, table, rowid).map_err(|e| self.err(e))?;
        self.pending_change(Change::AcmeRow { table: table.to_string(), id: rowid, sha256 });
        Ok(())
    }

    fn insert(&self, table: &str, what: &str, sql: &str, values: impl rusqlite::Params) -> LedgerResult<i64> {
        match self.tx.exec(sql, values) {
            Ok(_) => {
                let id = self.tx.last_insert_rowid();
                self.chain_row(table, id)?;
                Ok(id)
            }
            Err(e) if unique_violation(&e) => Err(LedgerError::Duplicate { what: what.to_string() }),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Runs an UPDATE of one row; true (and chained) when it changed a row.
    fn update(
        &self,
        table: &str,
        rowid: i64,
        sql: &str,
        values: impl rusqlite::Params,
    ) -> LedgerResult<bool> {
        match self.tx.exec(sql, values) {
            Ok(0) => Ok(false),
            Ok(_) => self.chain_row(table, rowid).map(|()| true),
            Err(e) if unique_violation(&e) => Err(LedgerError::Duplicate { what: table.to_string() }),
            Err(e) => Err(self.err(e)),
        }
    }

    pub(super) fn insert_acme_provisioner(&self, p: &NewAcmeProvisioner<'_>) -> LedgerResult<i64> {
        self.insert(
            "acme_provisioners",
            "an ACME provisioner with this name",
            "INSERT INTO acme_provisioners (name, authority_id, profile, allowed_dns, allowed_ips,
                 max_validity_secs, require_eab, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                p.name,
                p.authority_id,
                p.profile.as_str(),
                strings_json(p.allowed_dns),
                strings_json(p.allowed_ips),
                p.max_validity_secs,
                p.require_eab,
                p.now
            ],
        )
    }

    pub(super) fn remove_acme_provisioner(&self, id: i64, now: i64) -> LedgerResult<bool> {
        self.update(
            "acme_provisioners",
            id,
            "UPDATE acme_provisioners SET removed_at = ?2 WHERE id = ?1 AND removed_at IS NULL",
            params![id, now],
        )
    }

    pub(super) fn insert_acme_eab_key(
        &self,
        provisioner_id: i64,
        key_id: &str,
        hmac_key: &[u8],
        now: i64,
    ) -> LedgerResult<i64> {
        self.insert(
            "acme_eab_keys",
            "an EAB key with this key id",
            "INSERT INTO acme_eab_keys (provisioner_id, key_id, hmac_key, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![provisioner_id, key_id, hmac_key, now],
        )
    }

    pub(super) fn bind_acme_eab_key(&self, key_id: &str, account_id: i64, now: i64) -> LedgerResult<bool> {
        let rowid: Option<i64> = self
            .tx
            .row(
                "UPDATE acme_eab_keys SET used_at = ?3, account_id = ?2
                 WHERE key_id = ?1 AND account_id IS NULL RETURNING id",
                params![key_id, account_id, now],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        match rowid {
            Some(id) => self.chain_row("acme_eab_keys", id).map(|()| true),
            None => Ok(false),
        }
    }

    pub(super) fn insert_acme_account(&self, a: &NewAcmeAccount<'_>) -> LedgerResult<i64> {
        self.insert(
            "acme_accounts",
            "an ACME account with this key",
            "INSERT INTO acme_accounts (provisioner_id, jwk_thumbprint, jwk, status, contacts, eab_key_id, created_at)
             VALUES (?1, ?2, ?3, 'valid', ?4, ?5, ?6)",
            params![a.provisioner_id, a.jwk_thumbprint, a.jwk, strings_json(a.contacts), a.eab_key_id, a.now],
        )
    }

    pub(super) fn set_acme_account_status(
        &self,
        id: i64,
        from: AccountStatus,
        to: AccountStatus,
    ) -> LedgerResult<bool> {
        self.update(
            "acme_accounts",
            id,
            "UPDATE acme_accounts SET status = ?3 WHERE id = ?1 AND status = ?2",
            params![id, from.as_str(), to.as_str()],
        )
    }

    pub(super) fn set_acme_account_contacts(&self, id: i64, contacts: &[String]) -> LedgerResult<bool> {
        self.update(
            "acme_accounts",
            id,
            "UPDATE acme_accounts SET contacts = ?2 WHERE id = ?1 AND status = 'valid'",
            params![id, strings_json(contacts)],
        )
    }

    pub(super) fn set_acme_account_key(&self, id: i64, thumbprint: &str, jwk: &str) -> LedgerResult<bool> {
        self.update(
            "acme_accounts",
            id,
            "UPDATE acme_accounts SET jwk_thumbprint = ?2, jwk = ?3 WHERE id = ?1 AND status = 'valid'",
            params![id, thumbprint, jwk],
        )
    }

    pub(super) fn insert_acme_order(&self, o: &NewAcmeOrder<'_>) -> LedgerResult<i64> {
        let identifiers = serde_json::to_string(o.identifiers)
            .map_err(|e| LedgerError::Aborted(format!("identifiers do not encode: {e}")))?;
        self.insert(
            "acme_orders",
            "an ACME order",
            "INSERT INTO acme_orders (account_id, status, expires_at, identifiers, not_before, not_after, created_at)
             VALUES (?1, 'pending', ?2, ?3, ?4, ?5, ?6)",
            params![o.account_id, o.expires_at, identifiers, o.not_before, o.not_after, o.now],
        )
    }

    pub(super) fn set_acme_order_status(
        &self,
        id: i64,
        from: OrderStatus,
        to: OrderStatus,
        error: Option<&serde_json::Value>,
    ) -> LedgerResult<bool> {
        self.update(
            "acme_orders",
            id,
            "UPDATE acme_orders SET status = ?3, error = coalesce(?4, error) WHERE id = ?1 AND status = ?2",
            params![id, from.as_str(), to.as_str(), error.map(|e| e.to_string())],
        )
    }

    pub(super) fn link_acme_certificate(&self, order_id: i64, certificate_id: i64) -> LedgerResult<bool> {
        let account_id: Option<i64> = self
            .tx
            .row(
                "UPDATE acme_orders SET status = 'valid', certificate_id = ?2
                 WHERE id = ?1 AND status = 'processing' AND certificate_id IS NULL RETURNING account_id",
                params![order_id, certificate_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(account_id) = account_id else { return Ok(false) };
        self.chain_row("acme_orders", order_id)?;
        self.insert(
            "acme_certificates",
            "an ACME link for this certificate or order",
            "INSERT INTO acme_certificates (certificate_id, account_id, order_id) VALUES (?1, ?2, ?3)",
            params![certificate_id, account_id, order_id],
        )?;
        Ok(true)
    }

    pub(super) fn insert_acme_authorization(&self, a: &NewAcmeAuthorization<'_>) -> LedgerResult<i64> {
        self.insert(
            "acme_authorizations",
            "an ACME authorization",
            "INSERT INTO acme_authorizations (order_id, identifier_type, identifier_value, wildcard, status,
                 expires_at, created_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6)",
            params![
                a.order_id,
                a.identifier.kind.as_str(),
                a.identifier.value,
                a.wildcard,
                a.expires_at,
                a.now
            ],
        )
    }

    pub(super) fn set_acme_authorization_status(
        &self,
        id: i64,
        from: AuthorizationStatus,
        to: AuthorizationStatus,
    ) -> LedgerResult<bool> {
        self.update(
            "acme_authorizations",
            id,
            "UPDATE acme_authorizations SET status = ?3 WHERE id = ?1 AND status = ?2",
            params![id, from.as_str(), to.as_str()],
        )
    }

    pub(super) fn insert_acme_challenge(&self, c: &NewAcmeChallenge<'_>) -> LedgerResult<i64> {
        self.insert(
            "acme_challenges",
            "an ACME challenge with this token",
            "INSERT INTO acme_challenges (authorization_id, type, token, status, created_at)
             VALUES (?1, ?2, ?3, 'pending', ?4)",
            params![c.authorization_id, c.kind.as_str(), c.token, c.now],
        )
    }

    pub(super) fn update_acme_challenge(&self, id: i64, u: &ChallengeUpdate<'_>) -> LedgerResult<bool> {
        self.update(
            "acme_challenges",
            id,
            "UPDATE acme_challenges SET status = ?3, validated_at = coalesce(?4, validated_at),
                 error = coalesce(?5, error), validation_record = coalesce(?6, validation_record)
             WHERE id = ?1 AND status = ?2",
            params![
                id,
                u.from.as_str(),
                u.to.as_str(),
                u.validated_at,
                u.error.map(|e| e.to_string()),
                u.validation_record.map(|e| e.to_string())
            ],
        )
    }
}
