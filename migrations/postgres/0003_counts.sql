-- The number of users and groups of each IAM, kept by triggers in the
-- transaction of every insert, delete and move: an unfiltered list (an
-- identity provider's import, the first page of a cursor walk) reads its
-- totalResults here instead of counting a million index entries. (Writers
-- of one IAM already queue on the audit chain's head, so the counter row
-- adds no new wait.)

CREATE TABLE resource_counts (
    iam_id uuid NOT NULL,
    kind   text NOT NULL CHECK (kind IN ('User', 'Group')),
    n      bigint NOT NULL,
    PRIMARY KEY (iam_id, kind)
);

INSERT INTO resource_counts (iam_id, kind, n)
SELECT iam_id, 'User', COUNT(*) FROM users WHERE iam_id IS NOT NULL GROUP BY iam_id;
INSERT INTO resource_counts (iam_id, kind, n)
SELECT iam_id, 'Group', COUNT(*) FROM groups GROUP BY iam_id;

CREATE FUNCTION count_resources() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k text := CASE TG_TABLE_NAME WHEN 'users' THEN 'User' ELSE 'Group' END;
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.iam_id IS NOT NULL THEN
        UPDATE resource_counts SET n = n - 1 WHERE iam_id = OLD.iam_id AND kind = k;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.iam_id IS NOT NULL THEN
        INSERT INTO resource_counts (iam_id, kind, n) VALUES (NEW.iam_id, k, 1)
        ON CONFLICT (iam_id, kind) DO UPDATE SET n = resource_counts.n + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_count_insert_delete AFTER INSERT OR DELETE ON users
FOR EACH ROW EXECUTE FUNCTION count_resources();
CREATE TRIGGER users_count_move AFTER UPDATE OF iam_id ON users
FOR EACH ROW WHEN (OLD.iam_id IS DISTINCT FROM NEW.iam_id) EXECUTE FUNCTION count_resources();
CREATE TRIGGER groups_count AFTER INSERT OR DELETE ON groups
FOR EACH ROW EXECUTE FUNCTION count_resources();
