-- Governance (issue 18): tags, the data source registry, global
-- subscription policies, and subscriptions naming a registered data
-- source by id.

-- Tags: dotted hierarchies (`Environment` is the parent of
-- `Environment.Dev`), named by their full name everywhere (data sources,
-- policies); `id` names one in the audit log. A deleted tag is kept: it
-- stays on the data sources that carry it (and counts in decisions) but
-- can no longer be applied. `name_folded` is what a search matches.
CREATE TABLE tags (
    name        TEXT PRIMARY KEY NOT NULL,
    id          TEXT NOT NULL UNIQUE,
    parent      TEXT REFERENCES tags (name),
    name_folded TEXT NOT NULL,
    description TEXT,
    created     INTEGER NOT NULL,
    deleted     INTEGER
) STRICT;

-- The registry of data sources (what they are called and how they are
-- tagged, not their data). Names are unique: a subscription that names a
-- data source by its name is linked to it by that name.
CREATE TABLE data_sources (
    id      TEXT PRIMARY KEY NOT NULL,
    name    TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL
) STRICT;

CREATE TABLE data_source_columns (
    data_source_id TEXT NOT NULL REFERENCES data_sources (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    position       INTEGER NOT NULL,
    PRIMARY KEY (data_source_id, name)
) STRICT, WITHOUT ROWID;

CREATE TABLE data_source_tags (
    data_source_id TEXT NOT NULL REFERENCES data_sources (id) ON DELETE CASCADE,
    tag            TEXT NOT NULL REFERENCES tags (name),
    added          INTEGER NOT NULL,
    PRIMARY KEY (data_source_id, tag)
) STRICT, WITHOUT ROWID;
-- Which data sources carry a tag (a tag or policy change finds the data
-- sources it touches).
CREATE INDEX data_source_tags_tag ON data_source_tags (tag, data_source_id);

CREATE TABLE column_tags (
    data_source_id TEXT NOT NULL,
    column_name    TEXT NOT NULL,
    tag            TEXT NOT NULL REFERENCES tags (name),
    added          INTEGER NOT NULL,
    PRIMARY KEY (data_source_id, column_name, tag),
    FOREIGN KEY (data_source_id, column_name)
        REFERENCES data_source_columns (data_source_id, name) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX column_tags_tag ON column_tags (tag, data_source_id);

-- Owners may tag their data sources. An account deleted for good owns
-- nothing any more.
CREATE TABLE data_source_owners (
    data_source_id TEXT NOT NULL REFERENCES data_sources (id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (data_source_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX data_source_owners_user ON data_source_owners (user_id);

-- Global subscription policies: the canonical document `policy::Policy`
-- writes, by its key.
CREATE TABLE policies (
    id         TEXT PRIMARY KEY NOT NULL,
    policy_key TEXT NOT NULL UNIQUE,
    document   TEXT NOT NULL,
    created    INTEGER NOT NULL,
    updated    INTEGER NOT NULL
) STRICT;

-- A subscription names its data source by id once that data source is
-- registered. The free text stays (every row written before keeps it,
-- and a data source not yet registered is still named by it); the id is
-- filled from it, by name, when the subscription is written and when a
-- data source of that name is registered. A data source deleted leaves
-- its subscriptions named by their text again.
ALTER TABLE subscriptions ADD COLUMN data_source_id TEXT REFERENCES data_sources (id) ON DELETE SET NULL;
CREATE INDEX subscriptions_data_source ON subscriptions (data_source_id, user_id)
    WHERE data_source_id IS NOT NULL;
CREATE INDEX subscriptions_unregistered ON subscriptions (data_source)
    WHERE data_source_id IS NULL;
