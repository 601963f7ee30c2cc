-- Anonymized daily usage counts: how many times each workflow ran on each
-- UTC day, and the workflows and interface touches other systems report.
-- Names and counts only: no actor, no target, nothing that names a person.
--
-- The server's own workflows are counted by a statement trigger on the
-- audit log, in the transaction that appends the records, so a day's count
-- of `name` always equals the number of successful audit records with
-- action `name` on that day. Each backend adds to its own shard row
-- (pg_backend_pid() % 16), so concurrent writers on any number of replicas
-- never wait on one counter row; the export sums the shards.
CREATE TABLE usage_counts (
    day   date NOT NULL,
    name  text NOT NULL,
    shard smallint NOT NULL,
    n     bigint NOT NULL,
    PRIMARY KEY (day, name, shard)
);

INSERT INTO usage_counts (day, name, shard, n)
SELECT (at AT TIME ZONE 'UTC')::date, action, 0, COUNT(*)
FROM audit_log WHERE outcome = 'success'
GROUP BY 1, 2;

CREATE FUNCTION audit_log_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_counts (day, name, shard, n)
    SELECT (at AT TIME ZONE 'UTC')::date, action, pg_backend_pid() % 16, COUNT(*)
    FROM new_rows WHERE outcome = 'success'
    GROUP BY 1, 2
    ON CONFLICT (day, name, shard) DO UPDATE SET n = usage_counts.n + EXCLUDED.n;
    RETURN NULL;
END;
$$;
CREATE TRIGGER audit_log_usage AFTER INSERT ON audit_log
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_usage();
