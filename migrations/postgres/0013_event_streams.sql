-- Events out (issue 19): streams that receive the directory's changes, and
-- each stream's deliveries.
--
-- The outbox is the audit log itself: every audited change already writes
-- its record in its own transaction, and records are numbered (`seq`) in
-- the order their transactions commit (each append locks `audit_head`
-- until its commit). An event is derived from a record, so it exists
-- exactly when its change committed, and the write path does nothing more
-- for it. Each stream remembers how far it has read (`cursor`, a `seq`);
-- the delivery worker turns the records after it into the stream's
-- deliveries, a batch per transaction, and moves the cursor with them.
CREATE TABLE event_streams (
    id        uuid PRIMARY KEY,
    format    text NOT NULL,
    delivery  text NOT NULL,
    endpoint  text,
    -- The event types it receives (a JSON array; ["*"]: every type).
    events    jsonb NOT NULL,
    -- Only this IAM's resources, when set.
    iam_id    uuid,
    full_data boolean NOT NULL,
    -- enabled, paused (deliveries wait) or disabled (new events dropped).
    status    text NOT NULL,
    -- The signing secret (`whsec_...`), kept to sign every delivery.
    secret    text NOT NULL,
    -- The last audit record turned into deliveries (or skipped).
    cursor    bigint NOT NULL,
    created   timestamptz NOT NULL,
    updated   timestamptz NOT NULL
);

-- One event for one stream. `resource` (`User/<id>`) orders deliveries:
-- only the oldest pending one of a resource is sent, so a resource's
-- events arrive in order while different resources go at once. `since`
-- starts the retry window (the event, or a retry by hand).
CREATE TABLE event_deliveries (
    stream_id   uuid NOT NULL REFERENCES event_streams (id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    event_id    uuid NOT NULL,
    event_type  text NOT NULL,
    resource    text NOT NULL,
    body        text NOT NULL,
    -- pending, delivered or failed.
    status      text NOT NULL,
    attempts    bigint NOT NULL,
    next_at     timestamptz NOT NULL,
    since       timestamptz NOT NULL,
    last_status bigint,
    last_error  text,
    updated     timestamptz NOT NULL,
    PRIMARY KEY (stream_id, seq)
);
CREATE INDEX event_deliveries_pending ON event_deliveries (stream_id, resource, seq)
    WHERE status = 'pending';
CREATE INDEX event_deliveries_event ON event_deliveries (stream_id, event_id);
CREATE INDEX event_deliveries_status ON event_deliveries (stream_id, status, seq);
