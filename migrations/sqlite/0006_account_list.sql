-- The account list (the console's Users screen, the admin API): each sort
-- (userName, created, lastModified; both ways) reads its order from an
-- index and stops after a page, instead of sorting every matching row.
-- Over all IAMs: (key, id). For one IAM: the IAM an account lists under
-- (its own, or the one it was detached from) first, the same expression
-- the query filters on. Disabled accounts are few: the enabled-only list
-- walks the same indexes and skips them.
-- The default order (userName) also carries what a search and the
-- enabled-only filter read, so that a search walks this index alone.
CREATE INDEX users_list_user_name ON users (user_name_folded, id, display_name_folded, disabled, deprovisioned);
CREATE INDEX users_list_created ON users (created, id);
CREATE INDEX users_list_last_modified ON users (last_modified, id);
CREATE INDEX users_owner_user_name ON users (COALESCE(iam_id, deprovisioned_from), user_name_folded, id);
CREATE INDEX users_owner_created ON users (COALESCE(iam_id, deprovisioned_from), created, id);
CREATE INDEX users_owner_last_modified ON users (COALESCE(iam_id, deprovisioned_from), last_modified, id);
-- The enabled accounts' total is the kept count (resource_counts) minus
-- the accounts that are not enabled, counted here.
CREATE INDEX users_not_enabled ON users (iam_id) WHERE disabled <> 0 OR deprovisioned IS NOT NULL;
