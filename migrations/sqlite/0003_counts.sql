-- The number of users and groups of each IAM, kept by triggers in the
-- transaction of every insert, delete and move: an unfiltered list (an
-- identity provider's import, the first page of a cursor walk) reads its
-- totalResults here instead of counting a million index entries.

CREATE TABLE resource_counts (
    iam_id TEXT NOT NULL,
    kind   TEXT NOT NULL CHECK (kind IN ('User', 'Group')),
    n      INTEGER NOT NULL,
    PRIMARY KEY (iam_id, kind)
) STRICT, WITHOUT ROWID;

INSERT INTO resource_counts (iam_id, kind, n)
SELECT iam_id, 'User', COUNT(*) FROM users WHERE iam_id IS NOT NULL GROUP BY iam_id;
INSERT INTO resource_counts (iam_id, kind, n)
SELECT iam_id, 'Group', COUNT(*) FROM groups GROUP BY iam_id;

CREATE TRIGGER users_count_insert AFTER INSERT ON users WHEN NEW.iam_id IS NOT NULL
BEGIN
    INSERT INTO resource_counts (iam_id, kind, n) VALUES (NEW.iam_id, 'User', 1)
    ON CONFLICT (iam_id, kind) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER users_count_delete AFTER DELETE ON users WHEN OLD.iam_id IS NOT NULL
BEGIN
    UPDATE resource_counts SET n = n - 1 WHERE iam_id = OLD.iam_id AND kind = 'User';
END;
CREATE TRIGGER users_count_move AFTER UPDATE OF iam_id ON users
WHEN OLD.iam_id IS NOT NEW.iam_id
BEGIN
    UPDATE resource_counts SET n = n - 1 WHERE iam_id = OLD.iam_id AND kind = 'User';
    INSERT INTO resource_counts (iam_id, kind, n)
    SELECT NEW.iam_id, 'User', 1 WHERE NEW.iam_id IS NOT NULL
    ON CONFLICT (iam_id, kind) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER groups_count_insert AFTER INSERT ON groups
BEGIN
    INSERT INTO resource_counts (iam_id, kind, n) VALUES (NEW.iam_id, 'Group', 1)
    ON CONFLICT (iam_id, kind) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER groups_count_delete AFTER DELETE ON groups
BEGIN
    UPDATE resource_counts SET n = n - 1 WHERE iam_id = OLD.iam_id AND kind = 'Group';
END;
