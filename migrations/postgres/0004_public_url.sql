-- pkictl ledger on PostgreSQL, schema 4: the online CA (see migrations/0004_public_url.sql):
-- certificates.profile also accepts 'ocsp-responder', and authorities.public_url.

ALTER TABLE certificates DROP CONSTRAINT certificates_profile_check;
ALTER TABLE certificates ADD CONSTRAINT certificates_profile_check
    CHECK (profile IN ('root', 'intermediate', 'server', 'client', 'peer', 'ocsp-responder'));

ALTER TABLE authorities ADD COLUMN public_url TEXT;
