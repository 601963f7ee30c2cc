-- Foundation: IAMs, SCIM tokens, users, groups, memberships, permissions.

CREATE TABLE iams (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    display_name text,
    created      timestamptz NOT NULL
);
CREATE UNIQUE INDEX iams_name ON iams (name);

CREATE TABLE scim_tokens (
    id          uuid PRIMARY KEY,
    iam_id      uuid NOT NULL REFERENCES iams (id) ON DELETE CASCADE,
    label       text,
    secret_hash bytea NOT NULL,
    created     timestamptz NOT NULL,
    revoked     timestamptz
);

CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    -- NULL once the identity provider deleted the account and it was kept
    -- (deprovisioned): no IAM's token reaches it, its userName is free.
    iam_id              uuid REFERENCES iams (id),
    user_name           text NOT NULL,
    user_name_folded    text NOT NULL,
    external_id         text,
    display_name_folded text,
    active              boolean NOT NULL,
    doc                 jsonb NOT NULL,
    -- The search document filters and sorting read: case-insensitive
    -- strings folded, dateTimes as fixed-width UTC text (scim::search_doc).
    search              jsonb NOT NULL,
    password_hash       text,
    created             timestamptz NOT NULL,
    last_modified       timestamptz NOT NULL,
    version             bigint NOT NULL
);
CREATE UNIQUE INDEX users_iam_user_name ON users (iam_id, user_name_folded);
CREATE INDEX users_iam_id ON users (iam_id, id);
-- Each index ends in id, so a lookup also yields the list order (by id).
CREATE INDEX users_iam_external_id ON users (iam_id, external_id, id);
CREATE INDEX users_iam_display_name ON users (iam_id, display_name_folded, id);

CREATE TABLE groups (
    id                  uuid PRIMARY KEY,
    iam_id              uuid NOT NULL REFERENCES iams (id),
    display_name        text NOT NULL,
    display_name_folded text NOT NULL,
    external_id         text,
    doc                 jsonb NOT NULL,
    search              jsonb NOT NULL,
    created             timestamptz NOT NULL,
    last_modified       timestamptz NOT NULL,
    version             bigint NOT NULL
);
CREATE UNIQUE INDEX groups_iam_display_name ON groups (iam_id, display_name_folded);
CREATE INDEX groups_iam_id ON groups (iam_id, id);
CREATE INDEX groups_iam_external_id ON groups (iam_id, external_id, id);

-- The folded email addresses of each user: `emails.value eq` and
-- `emails[type eq "work"].value eq` look users up here instead of scanning
-- their documents. Rewritten on every write of the user.
CREATE TABLE user_emails (
    value   text NOT NULL,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (value, user_id)
);
CREATE INDEX user_emails_user ON user_emails (user_id);

CREATE TABLE group_members (
    group_id    uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    member_id   uuid NOT NULL,
    member_kind text NOT NULL CHECK (member_kind IN ('User', 'Group')),
    added       timestamptz NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_members_member ON group_members (member_id, group_id);

CREATE TABLE user_permissions (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission text NOT NULL,
    source     text NOT NULL,
    granted    timestamptz NOT NULL,
    PRIMARY KEY (user_id, permission, source)
);

CREATE TABLE signing_keys (
    id      integer PRIMARY KEY CHECK (id = 1),
    secret  bytea NOT NULL,
    created timestamptz NOT NULL
);

INSERT INTO iams (id, name, display_name, created)
VALUES ('00000000-0000-0000-0000-000000000001', 'bim', 'Built-in IAM', to_timestamp(0));
