-- Foundation: IAMs, SCIM tokens, users, groups, memberships, permissions.
-- Times are INTEGER microseconds since the Unix epoch (sortable, exact).
-- Ids are hyphenated lower-case UUID text (v7: ordered by creation).

CREATE TABLE iams (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    display_name TEXT,
    created      INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX iams_name ON iams (name);

CREATE TABLE scim_tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    iam_id      TEXT NOT NULL REFERENCES iams (id) ON DELETE CASCADE,
    label       TEXT,
    secret_hash BLOB NOT NULL,
    created     INTEGER NOT NULL,
    revoked     INTEGER
) STRICT;

CREATE TABLE users (
    id                  TEXT PRIMARY KEY NOT NULL,
    -- NULL once the identity provider deleted the account and it was kept
    -- (deprovisioned): no IAM's token reaches it, its userName is free.
    iam_id              TEXT REFERENCES iams (id),
    user_name           TEXT NOT NULL,
    user_name_folded    TEXT NOT NULL,
    external_id         TEXT,
    display_name_folded TEXT,
    active              INTEGER NOT NULL,
    doc                 TEXT NOT NULL,
    -- The search document filters and sorting read: case-insensitive
    -- strings folded, dateTimes as fixed-width UTC text (scim::search_doc).
    search              TEXT NOT NULL,
    password_hash       TEXT,
    created             INTEGER NOT NULL,
    last_modified       INTEGER NOT NULL,
    version             INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_iam_user_name ON users (iam_id, user_name_folded);
CREATE INDEX users_iam_id ON users (iam_id, id);
-- Each index ends in id, so a lookup also yields the list order (by id).
CREATE INDEX users_iam_external_id ON users (iam_id, external_id, id);
CREATE INDEX users_iam_display_name ON users (iam_id, display_name_folded, id);

CREATE TABLE groups (
    id                  TEXT PRIMARY KEY NOT NULL,
    iam_id              TEXT NOT NULL REFERENCES iams (id),
    display_name        TEXT NOT NULL,
    display_name_folded TEXT NOT NULL,
    external_id         TEXT,
    doc                 TEXT NOT NULL,
    search              TEXT NOT NULL,
    created             INTEGER NOT NULL,
    last_modified       INTEGER NOT NULL,
    version             INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX groups_iam_display_name ON groups (iam_id, display_name_folded);
CREATE INDEX groups_iam_id ON groups (iam_id, id);
CREATE INDEX groups_iam_external_id ON groups (iam_id, external_id, id);

-- The folded email addresses of each user: `emails.value eq` and
-- `emails[type eq "work"].value eq` look users up here instead of scanning
-- their documents. Rewritten on every write of the user.
CREATE TABLE user_emails (
    value   TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (value, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX user_emails_user ON user_emails (user_id);

-- Membership is a table, never an array in the group's document: adding one
-- member to a group of a million is one row.
CREATE TABLE group_members (
    group_id    TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    member_id   TEXT NOT NULL,
    member_kind TEXT NOT NULL CHECK (member_kind IN ('User', 'Group')),
    added       INTEGER NOT NULL,
    PRIMARY KEY (group_id, member_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX group_members_member ON group_members (member_id, group_id);

CREATE TABLE user_permissions (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    source     TEXT NOT NULL,
    granted    INTEGER NOT NULL,
    PRIMARY KEY (user_id, permission, source)
) STRICT, WITHOUT ROWID;

CREATE TABLE signing_keys (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    secret  BLOB NOT NULL,
    created INTEGER NOT NULL
) STRICT;

-- The built-in IAM: administered here, not by an identity provider.
INSERT INTO iams (id, name, display_name, created)
VALUES ('00000000-0000-0000-0000-000000000001', 'bim', 'Built-in IAM', 0);
