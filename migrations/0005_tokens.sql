-- pkictl ledger, schema 5: one-time enrolment tokens.
--
-- A token is stored only as the SHA-256 of its text (lower-case hex): the token itself is
-- printed once by `pkictl token create` and never kept. It binds a commonName, the exact SANs
-- (JSON array, as certificates.sans), a profile, a certificate lifetime and an issuing CA, and
-- expires at `expires_at`. It is used at most once: `used_at` and `certificate_id` are set
-- together, in the transaction that records the certificate it produced.

CREATE TABLE tokens (
    id                   INTEGER PRIMARY KEY,
    token_sha256         TEXT    NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
    name                 TEXT    NOT NULL,
    profile              TEXT    NOT NULL CHECK (profile IN ('server', 'client', 'peer')),
    sans                 TEXT    NOT NULL DEFAULT '[]',
    issuer_id            INTEGER NOT NULL REFERENCES authorities(id),
    validity_secs        INTEGER NOT NULL CHECK (validity_secs > 0),
    expires_at           INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    used_at              INTEGER,
    revoked_at           INTEGER,
    certificate_id       INTEGER UNIQUE REFERENCES certificates(id),
    CHECK ((used_at IS NULL) = (certificate_id IS NULL)),
    CHECK (used_at IS NULL OR revoked_at IS NULL)
);
