-- pkictl ledger, schema 3: a hash-chained audit trail. Every event row records the state
-- changes it made (`changes`, a JSON array: a certificate's DER hash, a revocation, a CRL's
-- number and DER hash, a CA, a CRL-validity change), the previous row's hash and its own, so
-- that a removed, inserted or edited row breaks the chain and a table row the chain does not
-- explain stands out.
--
-- Rows older than this schema keep NULL in the new columns. Right after this file, pkictl
-- appends a chain-start row that commits to those rows (SQL cannot hash), then one
-- `ledger.adopt` row per existing CA, certificate, revocation and CRL: the chain explains the
-- whole ledger from that point on.

ALTER TABLE events ADD COLUMN changes   TEXT;
ALTER TABLE events ADD COLUMN prev_hash TEXT;
ALTER TABLE events ADD COLUMN hash      TEXT;

-- The newest CRL event of a CA holds a checkpoint of its revocations: the next CRL's check
-- walks the chain from there, found through this index.
CREATE INDEX events_by_action ON events(action, target);
