-- sortBy on text attributes orders by code point (COLLATE "C"), whatever
-- the database's own collation, so that both databases and the in-memory
-- evaluator agree. An index in another collation cannot serve that ORDER
-- BY; these can, so a sorted cursor page is an index range seek from its
-- position, as an unsorted one is. (The equality lookups keep using the
-- indexes of 0001, in the database's collation.)
CREATE INDEX users_iam_user_name_c ON users (iam_id, user_name_folded COLLATE "C", id);
CREATE INDEX users_iam_display_name_c ON users (iam_id, display_name_folded COLLATE "C", id);
CREATE INDEX groups_iam_display_name_c ON groups (iam_id, display_name_folded COLLATE "C", id);
