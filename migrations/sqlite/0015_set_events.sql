-- Security Event Tokens (issue 19, RFC 9967): what a SET says that the
-- audit record did not keep, the streams' audience and poll token, and the
-- keys SETs are signed with.
--
-- `txn`: the change's transaction id (one per request, made by the server;
-- a Bulk operation's is the request's with `:<index>`). `via`: the SCIM
-- method that made a `*.updated` change (`PUT` or `PATCH`, then
-- ` activate` or ` deactivate` when it set `active`), none for the
-- bridge's own changes. Neither is in the record's hash: they say how the
-- change came, not what it was. Older records have neither.
ALTER TABLE audit_log ADD COLUMN txn TEXT;
ALTER TABLE audit_log ADD COLUMN via TEXT;

-- The `aud` of a stream's SETs; the SHA-256 (base64url) of a poll
-- stream's token, which is shown once.
ALTER TABLE event_streams ADD COLUMN audience TEXT;
ALTER TABLE event_streams ADD COLUMN poll_token_hash TEXT;

-- ES256 keys. The newest key not retired signs; every key not retired is
-- published at /.well-known/jwks.json, so a SET signed before a rotation
-- stays verifiable until its key is retired.
CREATE TABLE set_keys (
    kid         TEXT PRIMARY KEY NOT NULL,
    private_pem TEXT NOT NULL,
    -- The public key as a JWK (JSON).
    public_jwk  TEXT NOT NULL,
    created     INTEGER NOT NULL,
    retired     INTEGER
) STRICT;
