-- Account search (console Users screen, admin API `q=`): a substring of
-- the userName or the displayName, both folded. A trigram index finds the
-- accounts that hold a substring of three or more characters without
-- reading the table; the query then checks each candidate against the
-- folded columns themselves (the index folds case its own way).
-- Contentless (it keeps only the trigrams, keyed by the users row's rowid)
-- with delete support, kept by the triggers below. A backup rebuilds it in
-- its copy (VACUUM INTO need not keep rowids).
CREATE VIRTUAL TABLE users_search USING fts5(
    uname, dname,
    content = '', contentless_delete = 1, tokenize = 'trigram'
);
INSERT INTO users_search (rowid, uname, dname)
    SELECT rowid, user_name_folded, display_name_folded FROM users;
CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, uname, dname)
        VALUES (new.rowid, new.user_name_folded, new.display_name_folded);
END;
CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    DELETE FROM users_search WHERE rowid = old.rowid;
END;
CREATE TRIGGER users_search_update AFTER UPDATE OF user_name_folded, display_name_folded ON users
    WHEN old.user_name_folded IS NOT new.user_name_folded
      OR old.display_name_folded IS NOT new.display_name_folded
BEGIN
    DELETE FROM users_search WHERE rowid = old.rowid;
    INSERT INTO users_search (rowid, uname, dname)
        VALUES (new.rowid, new.user_name_folded, new.display_name_folded);
END;
