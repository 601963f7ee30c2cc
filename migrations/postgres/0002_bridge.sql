-- The bridge: what the internal IAM owns (permissions, attributes,
-- subscriptions, the account's fate) and the audit log.

-- Per-IAM settings: default permissions for new users, what a SCIM DELETE
-- means, attribute and group-to-permission mappings.
ALTER TABLE iams ADD COLUMN settings jsonb NOT NULL DEFAULT '{}';

-- Disabled by an administrator: stays so whatever the identity provider
-- sends (its own `active` is the `active` column).
ALTER TABLE users ADD COLUMN disabled boolean NOT NULL DEFAULT false;
-- When the identity provider deleted the account and it was kept, and the
-- IAM it was detached from (iam_id is then NULL).
ALTER TABLE users ADD COLUMN deprovisioned timestamptz;
ALTER TABLE users ADD COLUMN deprovisioned_from uuid REFERENCES iams (id);
CREATE INDEX users_deprovisioned_from ON users (deprovisioned_from) WHERE deprovisioned_from IS NOT NULL;

-- The catalogue of permissions: Immuta's, plus custom ones admins add.
CREATE TABLE permissions (
    name        text PRIMARY KEY,
    description text NOT NULL,
    builtin     boolean NOT NULL,
    created     timestamptz NOT NULL
);
INSERT INTO permissions (name, description, builtin, created) VALUES
    ('APPLICATION_ADMIN', 'Configure the application and download usage metrics', true, 'epoch'),
    ('AUDIT', 'Read the audit log', true, 'epoch'),
    ('CREATE_DATA_SOURCE', 'Create data sources', true, 'epoch'),
    ('CREATE_DATA_SOURCE_IN_PROJECT', 'Create data sources within a project', true, 'epoch'),
    ('CREATE_FILTER', 'Create and save filters', true, 'epoch'),
    ('CREATE_PROJECT', 'Create projects', true, 'epoch'),
    ('FETCH_POLICY_INFO', 'Read policy information of data sources', true, 'epoch'),
    ('GOVERNANCE', 'Manage tags and global policies; read governance reports', true, 'epoch'),
    ('IMPERSONATE_USER', 'Query data as another user', true, 'epoch'),
    ('PROJECT_MANAGEMENT', 'Manage every project', true, 'epoch'),
    ('USER_ADMIN', 'Manage users, groups, permissions and attributes; delete and migrate accounts', true, 'epoch');

-- Managed attributes (key -> set of values) of users and groups. The
-- identity provider's layer is not stored: it is read from the account's
-- document through its IAM's attribute mapping.
CREATE TABLE attributes (
    owner_id uuid NOT NULL,
    key      text NOT NULL,
    value    text NOT NULL,
    added    timestamptz NOT NULL,
    PRIMARY KEY (owner_id, key, value)
);

-- Data-source subscriptions, registered by the data platform.
CREATE TABLE subscriptions (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    data_source text NOT NULL,
    role        text NOT NULL,
    subscribed  timestamptz NOT NULL,
    expires     timestamptz
);
CREATE INDEX subscriptions_user ON subscriptions (user_id, subscribed);

-- The audit log: append-only, gapless `seq`, each record carrying the hash
-- of the one before it. People appear only as opaque ids.
CREATE TABLE audit_log (
    seq         bigint PRIMARY KEY,
    id          uuid NOT NULL,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    target_kind text,
    target_id   uuid,
    outcome     text NOT NULL,
    request_id  text,
    attributes  jsonb NOT NULL,
    prev_hash   text NOT NULL,
    hash        text NOT NULL
);
CREATE INDEX audit_log_target ON audit_log (target_id, seq);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- The chain's head: locked by each append (FOR UPDATE), so concurrent
-- writers on several replicas chain in one order, and compared by
-- `audit verify` to catch a removed tail.
CREATE TABLE audit_head (
    id   integer PRIMARY KEY CHECK (id = 1),
    seq  bigint NOT NULL,
    hash text NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
