-- The account list (the console's Users screen, the admin API): each sort
-- (userName, created, lastModified; both ways) reads its order from an
-- index and stops after a page, instead of sorting every matching row.
-- Over all IAMs: (key, id). For one IAM: the IAM an account lists under
-- (its own, or the one it was detached from) first, the same expression
-- the query filters on. Disabled accounts are few: the enabled-only list
-- walks the same indexes and skips them. userName orders by code point
-- (COLLATE "C", as in 0005), whatever the database's collation.
-- (Not covering as in SQLite: with disabled and deprovisioned included,
-- the planner counted the enabled accounts' complement by scanning this
-- index instead of users_not_enabled below: 75 ms a page at 100,000.)
CREATE INDEX users_list_user_name ON users (user_name_folded COLLATE "C", id);
CREATE INDEX users_list_created ON users (created, id);
CREATE INDEX users_list_last_modified ON users (last_modified, id);
CREATE INDEX users_owner_user_name ON users (COALESCE(iam_id, deprovisioned_from), user_name_folded COLLATE "C", id);
CREATE INDEX users_owner_created ON users (COALESCE(iam_id, deprovisioned_from), created, id);
CREATE INDEX users_owner_last_modified ON users (COALESCE(iam_id, deprovisioned_from), last_modified, id);
-- The enabled accounts' total is the kept count (resource_counts) minus
-- the accounts that are not enabled, counted here.
CREATE INDEX users_not_enabled ON users (iam_id) WHERE disabled OR deprovisioned IS NOT NULL;
