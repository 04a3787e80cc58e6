-- pkictl ledger, schema 1: the whole mission's tables.
-- Times are Unix seconds (UTC). Serials are lower-case hex, zero-padded to 40 digits so that
-- text order is numeric order (CRL entries are emitted in serial order).

CREATE TABLE authorities (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT    NOT NULL UNIQUE,
    slug                 TEXT    NOT NULL UNIQUE,
    parent_id            INTEGER REFERENCES authorities(id),
    subject              TEXT    NOT NULL,
    cert_der             BLOB    NOT NULL,
    ski                  BLOB    NOT NULL,
    key_file             TEXT    NOT NULL,          -- relative to the home
    key_type             TEXT    NOT NULL,
    key_encrypted        INTEGER NOT NULL CHECK (key_encrypted IN (0, 1)),
    path_len             INTEGER,                   -- NULL: unconstrained
    permitted_dns        TEXT    NOT NULL DEFAULT '[]',  -- JSON array of name constraints
    crl_url              TEXT,                      -- where this CA's CRL is published
    crl_validity_secs    INTEGER NOT NULL DEFAULT 604800,
    next_crl_number      INTEGER NOT NULL DEFAULT 1 CHECK (next_crl_number >= 1),
    is_default           INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    not_before           INTEGER NOT NULL,
    not_after            INTEGER NOT NULL,
    created_at           INTEGER NOT NULL
);
-- At most one default issuing CA.
CREATE UNIQUE INDEX authorities_one_default ON authorities(is_default) WHERE is_default = 1;

CREATE TABLE certificates (
    id                   INTEGER PRIMARY KEY,
    issuer_id            INTEGER NOT NULL REFERENCES authorities(id),
    serial               TEXT    NOT NULL CHECK (length(serial) = 40),
    profile              TEXT    NOT NULL
                         CHECK (profile IN ('root', 'intermediate', 'server', 'client', 'peer')),
    subject              TEXT    NOT NULL,
    common_name          TEXT,
    sans                 TEXT    NOT NULL DEFAULT '[]',  -- JSON array: "DNS:a", "IP:1.2.3.4", ...
    key_type             TEXT    NOT NULL,
    key_source           TEXT    NOT NULL CHECK (key_source IN ('generated', 'csr', 'ca')),
    not_before           INTEGER NOT NULL,
    not_after            INTEGER NOT NULL,
    fingerprint_sha256   TEXT    NOT NULL UNIQUE,
    der                  BLOB    NOT NULL,
    status               TEXT    NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
    revoked_at           INTEGER,
    revocation_reason    TEXT,
    renewed_from         INTEGER REFERENCES certificates(id),
    authority_id         INTEGER UNIQUE REFERENCES authorities(id),  -- set when this is a CA's own certificate
    created_at           INTEGER NOT NULL,
    UNIQUE (issuer_id, serial),
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE INDEX certificates_by_serial      ON certificates(serial);
CREATE INDEX certificates_by_name        ON certificates(common_name);
CREATE INDEX certificates_by_not_after   ON certificates(not_after);
CREATE INDEX certificates_by_status      ON certificates(status, not_after);
CREATE INDEX certificates_revoked_serial ON certificates(issuer_id, status, serial);
CREATE INDEX certificates_by_renewal     ON certificates(renewed_from);

CREATE TABLE crls (
    id                   INTEGER PRIMARY KEY,
    issuer_id            INTEGER NOT NULL REFERENCES authorities(id),
    number               INTEGER NOT NULL,
    this_update          INTEGER NOT NULL,
    next_update          INTEGER NOT NULL CHECK (next_update > this_update),
    entries              INTEGER NOT NULL,
    der                  BLOB    NOT NULL,
    UNIQUE (issuer_id, number)
);

-- The audit trail: every change to the ledger writes one row in the same transaction.
CREATE TABLE events (
    id                   INTEGER PRIMARY KEY,
    at                   INTEGER NOT NULL,
    action               TEXT    NOT NULL,
    target               TEXT    NOT NULL,
    detail               TEXT    NOT NULL DEFAULT '{}'  -- JSON object
);
CREATE INDEX events_by_time ON events(at);
