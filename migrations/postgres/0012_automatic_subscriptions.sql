-- Automatic subscriptions (issue 18, item 5): where a subscription comes
-- from. `manual` for one an administrator or an import added (every row
-- written before); `policy:<policyKey>` for one a policy with
-- `automaticSubscription` added, which that re-evaluation alone removes.
ALTER TABLE subscriptions ADD COLUMN source TEXT NOT NULL DEFAULT 'manual';
-- At most one policy subscription per account and data source: two
-- re-evaluations of the same account at once add it once.
CREATE UNIQUE INDEX subscriptions_policy ON subscriptions (user_id, data_source_id)
    WHERE source <> 'manual';

-- Durable jobs: a policy or tag change re-evaluates every account in
-- small batches, each its own transaction; `cursor` is the last account
-- done (accounts in id order), so a restart resumes after it.
CREATE TABLE jobs (
    id       uuid PRIMARY KEY,
    kind     text NOT NULL,
    state    text NOT NULL,
    actor_id uuid,
    cursor   uuid,
    done     bigint NOT NULL,
    total    bigint NOT NULL,
    created  timestamptz NOT NULL,
    updated  timestamptz NOT NULL
);
CREATE INDEX jobs_running ON jobs (created) WHERE state = 'running';
