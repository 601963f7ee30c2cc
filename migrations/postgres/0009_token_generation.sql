-- Revocation of admin tokens and console sessions (issue 15, finding 7).
-- Every admin token carries its account's generation and every console
-- session the generation it was signed in under; disable, enable and an
-- explicit revoke bump it, so that nothing issued before works again.
-- Existing accounts start at 0, the generation of tokens minted before
-- this column existed (they carry none).

ALTER TABLE users ADD COLUMN token_generation bigint NOT NULL DEFAULT 0;
ALTER TABLE console_sessions ADD COLUMN token_generation bigint NOT NULL DEFAULT 0;
CREATE INDEX console_sessions_account ON console_sessions (account_id);
