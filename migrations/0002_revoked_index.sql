-- pkictl ledger, schema 2: a covering partial index for CRL generation. It holds only revoked
-- certificates and every column a CRL entry needs, so building a CRL of a million entries walks
-- this index in serial order without touching a single table row.

CREATE INDEX certificates_crl_entries
    ON certificates(issuer_id, serial, not_after, revoked_at, revocation_reason)
    WHERE status = 'revoked';

DROP INDEX certificates_revoked_serial;
