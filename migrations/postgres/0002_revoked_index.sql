-- pkictl ledger on PostgreSQL, schema 2: a covering partial index for CRL generation (as
-- migrations/0002_revoked_index.sql): a CRL of a million entries is an index-only scan in
-- serial order.

CREATE INDEX certificates_crl_entries
    ON certificates(issuer_id, serial, not_after, revoked_at, revocation_reason)
    WHERE status = 'revoked';

DROP INDEX certificates_revoked_serial;
