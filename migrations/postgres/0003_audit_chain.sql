-- pkictl ledger on PostgreSQL, schema 3: the hash-chained audit trail (see
-- migrations/0003_audit_chain.sql). Right after this file pkictl appends the chain-start row.

ALTER TABLE events ADD COLUMN changes   TEXT;
ALTER TABLE events ADD COLUMN prev_hash TEXT;
ALTER TABLE events ADD COLUMN hash      TEXT;

CREATE INDEX events_by_action ON events(action, target);
