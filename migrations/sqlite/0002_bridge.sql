-- The bridge: what the internal IAM owns (permissions, attributes,
-- subscriptions, the account's fate) and the audit log.

-- Per-IAM settings (JSON): default permissions for new users, what a SCIM
-- DELETE means, attribute and group-to-permission mappings.
ALTER TABLE iams ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

-- Disabled by an administrator: stays so whatever the identity provider
-- sends (its own `active` is the `active` column).
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
-- When the identity provider deleted the account and it was kept, and the
-- IAM it was detached from (iam_id is then NULL).
ALTER TABLE users ADD COLUMN deprovisioned INTEGER;
ALTER TABLE users ADD COLUMN deprovisioned_from TEXT REFERENCES iams (id);
CREATE INDEX users_deprovisioned_from ON users (deprovisioned_from) WHERE deprovisioned_from IS NOT NULL;

-- The catalogue of permissions: Immuta's, plus custom ones admins add.
CREATE TABLE permissions (
    name        TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL,
    builtin     INTEGER NOT NULL,
    created     INTEGER NOT NULL
) STRICT;
INSERT INTO permissions (name, description, builtin, created) VALUES
    ('APPLICATION_ADMIN', 'Configure the application and download usage metrics', 1, 0),
    ('AUDIT', 'Read the audit log', 1, 0),
    ('CREATE_DATA_SOURCE', 'Create data sources', 1, 0),
    ('CREATE_DATA_SOURCE_IN_PROJECT', 'Create data sources within a project', 1, 0),
    ('CREATE_FILTER', 'Create and save filters', 1, 0),
    ('CREATE_PROJECT', 'Create projects', 1, 0),
    ('FETCH_POLICY_INFO', 'Read policy information of data sources', 1, 0),
    ('GOVERNANCE', 'Manage tags and global policies; read governance reports', 1, 0),
    ('IMPERSONATE_USER', 'Query data as another user', 1, 0),
    ('PROJECT_MANAGEMENT', 'Manage every project', 1, 0),
    ('USER_ADMIN', 'Manage users, groups, permissions and attributes; delete and migrate accounts', 1, 0);

-- Managed attributes (key -> set of values) of users and groups. The
-- identity provider's layer is not stored: it is read from the account's
-- document through its IAM's attribute mapping.
CREATE TABLE attributes (
    owner_id TEXT NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    added    INTEGER NOT NULL,
    PRIMARY KEY (owner_id, key, value)
) STRICT, WITHOUT ROWID;

-- Data-source subscriptions, registered by the data platform.
CREATE TABLE subscriptions (
    id          TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    data_source TEXT NOT NULL,
    role        TEXT NOT NULL,
    subscribed  INTEGER NOT NULL,
    expires     INTEGER
) STRICT;
CREATE INDEX subscriptions_user ON subscriptions (user_id, subscribed);

-- The audit log: append-only, gapless `seq`, each record carrying the hash
-- of the one before it. People appear only as opaque ids.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY NOT NULL,
    id          TEXT NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_kind TEXT,
    target_id   TEXT,
    outcome     TEXT NOT NULL,
    request_id  TEXT,
    attributes  TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_target ON audit_log (target_id, seq);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- The chain's head: locked by each append, so concurrent writers chain in
-- one order, and compared by `audit verify` to catch a removed tail.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
) STRICT;
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
