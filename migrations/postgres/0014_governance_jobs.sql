-- Governance jobs (issue 18): an account's re-evaluation mark, moved by
-- every re-evaluation that writes for it. A re-evaluation reads the mark
-- with the account and writes only if it has not moved since: one that
-- read the account's inputs before another re-evaluation wrote (a job's
-- batch before the account's own write) cannot put back a stale decision.
ALTER TABLE users ADD COLUMN policy_mark bigint NOT NULL DEFAULT 0;

-- Who started a job, as the audit log names actors (`iam:<id>`,
-- `user:<id>`, `cli`): an identity provider's write starts jobs too.
-- NULL for the jobs before, whose `actor_id` says it.
ALTER TABLE jobs ADD COLUMN actor text;
