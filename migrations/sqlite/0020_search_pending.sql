-- The trigram index of account search (0007) is brought up to date once
-- per write transaction instead of at every write. FTS5 writes what it
-- holds in memory out to a new segment of its index whenever a statement
-- opens a savepoint, and every statement of a write after the users row's
-- does: each create, rename or delete wrote a segment of its own (and
-- the merges that follow), ~13 % of a create. Now the triggers only note
-- which users rows changed; the writer applies the notes to the index just
-- before its COMMIT (src/store/sqlite/group_commit.rs), in the same
-- transaction, so a reader never sees a users row the index disagrees
-- with, and a batch of writes costs one segment.
CREATE TABLE users_search_pending (
    id INTEGER PRIMARY KEY,   -- the users row's rowid
    indexed INTEGER NOT NULL  -- 1: the index holds an entry for it (remove it first)
);
DROP TRIGGER users_search_insert;
DROP TRIGGER users_search_delete;
DROP TRIGGER users_search_update;
-- The first note of a row in a transaction tells whether the index had it
-- then; later ones change nothing (OR IGNORE).
CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT OR IGNORE INTO users_search_pending (id, indexed) VALUES (new.rowid, 0);
END;
CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    INSERT OR IGNORE INTO users_search_pending (id, indexed) VALUES (old.rowid, 1);
END;
CREATE TRIGGER users_search_update AFTER UPDATE OF user_name_folded, display_name_folded ON users
    WHEN old.user_name_folded IS NOT new.user_name_folded
      OR old.display_name_folded IS NOT new.display_name_folded
BEGIN
    INSERT OR IGNORE INTO users_search_pending (id, indexed) VALUES (old.rowid, 1);
END;
