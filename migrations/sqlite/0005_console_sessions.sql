-- The admin console's server-side sessions and pending OIDC sign-ins.
-- A session is known by the SHA-256 of the random id its cookie holds:
-- reading this table never yields a usable cookie.

CREATE TABLE console_sessions (
    id_hash    BLOB PRIMARY KEY,
    account_id TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created    INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
) STRICT;

CREATE INDEX console_sessions_last_seen ON console_sessions (last_seen);

-- When each SCIM token last authenticated a request (to the minute: the
-- server writes it at most once a minute per token), for the console.
ALTER TABLE scim_tokens ADD COLUMN last_used INTEGER;

-- An OIDC authorization-code sign-in between the redirect to the identity
-- provider and its return: keyed by the hash of `state`, holding the
-- nonce and the PKCE verifier; taken (deleted) once.
CREATE TABLE console_logins (
    state_hash BLOB PRIMARY KEY,
    nonce      TEXT NOT NULL,
    verifier   TEXT NOT NULL,
    created    INTEGER NOT NULL
) STRICT;
