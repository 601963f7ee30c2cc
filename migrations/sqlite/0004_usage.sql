-- Anonymized daily usage counts: how many times each workflow ran on each
-- UTC day, and the workflows and interface touches other systems report.
-- Names and counts only: no actor, no target, nothing that names a person.
--
-- The server's own workflows are counted by a trigger on the audit log, in
-- the transaction that appends the record, so a day's count of `name`
-- always equals the number of successful audit records with action `name`
-- on that day. `shard` spreads concurrent writers over several rows on
-- PostgreSQL; SQLite has one writer and always writes shard 0.
CREATE TABLE usage_counts (
    day   TEXT NOT NULL,
    name  TEXT NOT NULL,
    shard INTEGER NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (day, name, shard)
) STRICT, WITHOUT ROWID;

INSERT INTO usage_counts (day, name, shard, n)
SELECT date(at / 1000000, 'unixepoch'), action, 0, COUNT(*)
FROM audit_log WHERE outcome = 'success'
GROUP BY 1, 2;

CREATE TRIGGER audit_log_usage AFTER INSERT ON audit_log WHEN NEW.outcome = 'success'
BEGIN
    INSERT INTO usage_counts (day, name, shard, n)
    VALUES (date(NEW.at / 1000000, 'unixepoch'), NEW.action, 0, 1)
    ON CONFLICT (day, name, shard) DO UPDATE SET n = n + 1;
END;
