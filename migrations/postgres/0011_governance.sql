-- Governance (issue 18): tags, the data source registry, global
-- subscription policies, and subscriptions naming a registered data
-- source by id.

-- Tags: dotted hierarchies (`Environment` is the parent of
-- `Environment.Dev`), named by their full name everywhere (data sources,
-- policies); `id` names one in the audit log. A deleted tag is kept: it
-- stays on the data sources that carry it (and counts in decisions) but
-- can no longer be applied. `name_folded` is what a search matches.
CREATE TABLE tags (
    name        text PRIMARY KEY,
    id          uuid NOT NULL CONSTRAINT tags_id UNIQUE,
    parent      text REFERENCES tags (name),
    name_folded text NOT NULL,
    description text,
    created     timestamptz NOT NULL,
    deleted     timestamptz
);

-- The registry of data sources (what they are called and how they are
-- tagged, not their data). Names are unique: a subscription that names a
-- data source by its name is linked to it by that name.
CREATE TABLE data_sources (
    id      uuid PRIMARY KEY,
    name    text NOT NULL CONSTRAINT data_sources_name UNIQUE,
    created timestamptz NOT NULL
);

CREATE TABLE data_source_columns (
    data_source_id uuid NOT NULL REFERENCES data_sources (id) ON DELETE CASCADE,
    name           text NOT NULL,
    position       bigint NOT NULL,
    PRIMARY KEY (data_source_id, name)
);

CREATE TABLE data_source_tags (
    data_source_id uuid NOT NULL REFERENCES data_sources (id) ON DELETE CASCADE,
    tag            text NOT NULL REFERENCES tags (name),
    added          timestamptz NOT NULL,
    PRIMARY KEY (data_source_id, tag)
);
-- Which data sources carry a tag (a tag or policy change finds the data
-- sources it touches).
CREATE INDEX data_source_tags_tag ON data_source_tags (tag, data_source_id);

CREATE TABLE column_tags (
    data_source_id uuid NOT NULL,
    column_name    text NOT NULL,
    tag            text NOT NULL REFERENCES tags (name),
    added          timestamptz NOT NULL,
    PRIMARY KEY (data_source_id, column_name, tag),
    FOREIGN KEY (data_source_id, column_name)
        REFERENCES data_source_columns (data_source_id, name) ON DELETE CASCADE
);
CREATE INDEX column_tags_tag ON column_tags (tag, data_source_id);

-- Owners may tag their data sources. An account deleted for good owns
-- nothing any more.
CREATE TABLE data_source_owners (
    data_source_id uuid NOT NULL REFERENCES data_sources (id) ON DELETE CASCADE,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (data_source_id, user_id)
);
CREATE INDEX data_source_owners_user ON data_source_owners (user_id);

-- Global subscription policies: the canonical document `policy::Policy`
-- writes, by its key.
CREATE TABLE policies (
    id         uuid PRIMARY KEY,
    policy_key text NOT NULL CONSTRAINT policies_key UNIQUE,
    document   jsonb NOT NULL,
    created    timestamptz NOT NULL,
    updated    timestamptz NOT NULL
);

-- A subscription names its data source by id once that data source is
-- registered. The free text stays (every row written before keeps it,
-- and a data source not yet registered is still named by it); the id is
-- filled from it, by name, when the subscription is written and when a
-- data source of that name is registered. A data source deleted leaves
-- its subscriptions named by their text again.
ALTER TABLE subscriptions ADD COLUMN data_source_id uuid REFERENCES data_sources (id) ON DELETE SET NULL;
CREATE INDEX subscriptions_data_source ON subscriptions (data_source_id, user_id)
    WHERE data_source_id IS NOT NULL;
CREATE INDEX subscriptions_unregistered ON subscriptions (data_source)
    WHERE data_source_id IS NULL;
