-- pkictl ledger, schema 6: ACME (RFC 8555) provisioners and everything ACME does.
--
-- Times are Unix seconds (UTC); JSON columns hold what RFC 8555 exchanges (identifiers,
-- problem documents, contacts, JWKs) as the server parsed and normalised it. Statuses are the
-- RFC 8555 §7.1.6 words, checked here and parsed into enums by the ledger code.
--
-- Nonces are NOT stored: a nonce lives in the server's memory only. After a restart a client's
-- old nonce is refused with `badNonce` and a fresh one, which every RFC 8555 client retries
-- (§6.5); storing them would cost a write per request for nothing a client needs.
--
-- acme_eab_keys.hmac_key is a secret the ledger must hold: External Account Binding is an
-- HMAC (RFC 8555 §7.3.4) that the server verifies by computing it again, so the key cannot be
-- stored hashed. `pkictl acme eab` prints it once; no command prints it again.

CREATE TABLE acme_provisioners (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT    NOT NULL,
    authority_id         INTEGER NOT NULL REFERENCES authorities(id),
    profile              TEXT    NOT NULL CHECK (profile IN ('server', 'client', 'peer')),
    allowed_dns          TEXT    NOT NULL DEFAULT '[]',   -- JSON array of patterns
    allowed_ips          TEXT    NOT NULL DEFAULT '[]',   -- JSON array of CIDRs
    max_validity_secs    INTEGER CHECK (max_validity_secs IS NULL OR max_validity_secs > 0),
    require_eab          INTEGER NOT NULL CHECK (require_eab IN (0, 1)),
    created_at           INTEGER NOT NULL,
    removed_at           INTEGER                           -- NULL: serving
);
-- A removed provisioner keeps its row (its accounts and orders refer to it); its name may be
-- used again by a new one.
CREATE UNIQUE INDEX acme_provisioners_active_name ON acme_provisioners(name) WHERE removed_at IS NULL;

CREATE TABLE acme_eab_keys (
    id                   INTEGER PRIMARY KEY,
    provisioner_id       INTEGER NOT NULL REFERENCES acme_provisioners(id),
    key_id               TEXT    NOT NULL UNIQUE,
    hmac_key             BLOB    NOT NULL,                 -- the secret; see above
    created_at           INTEGER NOT NULL,
    used_at              INTEGER,
    account_id           INTEGER REFERENCES acme_accounts(id),
    CHECK ((used_at IS NULL) = (account_id IS NULL))
);

CREATE TABLE acme_accounts (
    id                   INTEGER PRIMARY KEY,
    provisioner_id       INTEGER NOT NULL REFERENCES acme_provisioners(id),
    jwk_thumbprint       TEXT    NOT NULL,                 -- RFC 7638, base64url
    jwk                  TEXT    NOT NULL,                 -- JSON
    status               TEXT    NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
    contacts             TEXT    NOT NULL DEFAULT '[]',    -- JSON array of URLs
    eab_key_id           TEXT,
    created_at           INTEGER NOT NULL,
    UNIQUE (provisioner_id, jwk_thumbprint)
);

CREATE TABLE acme_orders (
    id                   INTEGER PRIMARY KEY,
    account_id           INTEGER NOT NULL REFERENCES acme_accounts(id),
    status               TEXT    NOT NULL
                         CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),
    expires_at           INTEGER NOT NULL,
    identifiers          TEXT    NOT NULL,                 -- JSON array of {type, value}
    not_before           INTEGER,
    not_after            INTEGER,
    error                TEXT,                             -- JSON problem document
    certificate_id       INTEGER REFERENCES certificates(id),
    created_at           INTEGER NOT NULL
);
CREATE INDEX acme_orders_by_account ON acme_orders(account_id, status);

CREATE TABLE acme_authorizations (
    id                   INTEGER PRIMARY KEY,
    order_id             INTEGER NOT NULL REFERENCES acme_orders(id),
    identifier_type      TEXT    NOT NULL CHECK (identifier_type IN ('dns', 'ip')),
    identifier_value     TEXT    NOT NULL,
    wildcard             INTEGER NOT NULL CHECK (wildcard IN (0, 1)),
    status               TEXT    NOT NULL
                         CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
    expires_at           INTEGER NOT NULL,
    created_at           INTEGER NOT NULL
);
CREATE INDEX acme_authorizations_by_order ON acme_authorizations(order_id);

CREATE TABLE acme_challenges (
    id                   INTEGER PRIMARY KEY,
    authorization_id     INTEGER NOT NULL REFERENCES acme_authorizations(id),
    type                 TEXT    NOT NULL CHECK (type IN ('http-01', 'dns-01', 'tls-alpn-01')),
    token                TEXT    NOT NULL UNIQUE,
    status               TEXT    NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
    validated_at         INTEGER,
    error                TEXT,                             -- JSON problem document
    validation_record    TEXT,                             -- JSON: what was fetched or resolved
    created_at           INTEGER NOT NULL
);
CREATE INDEX acme_challenges_by_authorization ON acme_challenges(authorization_id);

-- Which account and order a certificate was issued for: a table of its own, so the
-- certificates table is not touched.
CREATE TABLE acme_certificates (
    certificate_id       INTEGER PRIMARY KEY REFERENCES certificates(id),
    account_id           INTEGER NOT NULL REFERENCES acme_accounts(id),
    order_id             INTEGER NOT NULL UNIQUE REFERENCES acme_orders(id)
);
CREATE INDEX acme_certificates_by_account ON acme_certificates(account_id);
