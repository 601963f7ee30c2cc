-- The admin console's server-side sessions and pending OIDC sign-ins.
-- A session is known by the SHA-256 of the random id its cookie holds:
-- reading this table never yields a usable cookie. Every replica on this
-- database sees every session.

CREATE TABLE console_sessions (
    id_hash    bytea PRIMARY KEY,
    account_id uuid NOT NULL,
    csrf       text NOT NULL,
    created    timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL
);

CREATE INDEX console_sessions_last_seen ON console_sessions (last_seen);

-- When each SCIM token last authenticated a request (to the minute: the
-- server writes it at most once a minute per token), for the console.
ALTER TABLE scim_tokens ADD COLUMN last_used timestamptz;

-- An OIDC authorization-code sign-in between the redirect to the identity
-- provider and its return: keyed by the hash of `state`, holding the
-- nonce and the PKCE verifier; taken (deleted) once.
CREATE TABLE console_logins (
    state_hash bytea PRIMARY KEY,
    nonce      text NOT NULL,
    verifier   text NOT NULL,
    created    timestamptz NOT NULL
);
