-- pkictl ledger, schema 4: the online CA.
--
-- 1. authorities.public_url: the base URL of `pkictl serve`'s HTTP listener for this CA. What
--    the CA signs from then on carries CDP <URL>/crl/<slug>.crl, AIA OCSP <URL>/ocsp and AIA
--    caIssuers <URL>/ca/<slug>.crt. NULL: none.
-- 2. certificates.profile also accepts 'ocsp-responder' (the delegated OCSP signing
--    certificates `serve` issues for itself).
--
-- The CHECK is widened in place, by SQLite's documented procedure for loosening a constraint
-- without a table rebuild (https://www.sqlite.org/lang_altertable.html, "otheralter"): every
-- stored row already satisfies the wider constraint, so the file's content is unchanged. It
-- costs nothing on a ledger of a million certificates (a rebuild would copy every DER), and it
-- depends only on the profile list, not on which other columns other migrations have added.
-- The ALTER TABLE below bumps the schema cookie, so other open connections reload the schema.

PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''client'', ''peer'')', '''client'', ''peer'', ''ocsp-responder'')')
 WHERE type = 'table' AND name = 'certificates';
PRAGMA writable_schema = RESET;

ALTER TABLE authorities ADD COLUMN public_url TEXT;
