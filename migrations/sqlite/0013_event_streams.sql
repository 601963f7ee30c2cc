-- Events out (issue 19): streams that receive the directory's changes, and
-- each stream's deliveries.
--
-- The outbox is the audit log itself: every audited change already writes
-- its record in its own transaction, and records are numbered (`seq`) in
-- the order their transactions commit (one writer). An event is derived
-- from a record, so it exists exactly when its change committed, and the
-- write path does nothing more for it. Each stream remembers how far it
-- has read (`cursor`, a `seq`); the delivery worker turns the records
-- after it into the stream's deliveries, a batch per transaction, and
-- moves the cursor with them.
CREATE TABLE event_streams (
    id        TEXT PRIMARY KEY NOT NULL,
    format    TEXT NOT NULL,
    delivery  TEXT NOT NULL,
    endpoint  TEXT,
    -- The event types it receives (a JSON array; ["*"]: every type).
    events    TEXT NOT NULL,
    -- Only this IAM's resources, when set.
    iam_id    TEXT,
    full_data INTEGER NOT NULL,
    -- enabled, paused (deliveries wait) or disabled (new events dropped).
    status    TEXT NOT NULL,
    -- The signing secret (`whsec_...`), kept to sign every delivery.
    secret    TEXT NOT NULL,
    -- The last audit record turned into deliveries (or skipped).
    cursor    INTEGER NOT NULL,
    created   INTEGER NOT NULL,
    updated   INTEGER NOT NULL
) STRICT;

-- One event for one stream. `resource` (`User/<id>`) orders deliveries:
-- only the oldest pending one of a resource is sent, so a resource's
-- events arrive in order while different resources go at once. `since`
-- starts the retry window (the event, or a retry by hand).
CREATE TABLE event_deliveries (
    stream_id   TEXT NOT NULL REFERENCES event_streams (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    resource    TEXT NOT NULL,
    body        TEXT NOT NULL,
    -- pending, delivered or failed.
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    next_at     INTEGER NOT NULL,
    since       INTEGER NOT NULL,
    last_status INTEGER,
    last_error  TEXT,
    updated     INTEGER NOT NULL,
    PRIMARY KEY (stream_id, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX event_deliveries_pending ON event_deliveries (stream_id, resource, seq)
    WHERE status = 'pending';
CREATE INDEX event_deliveries_event ON event_deliveries (stream_id, event_id);
CREATE INDEX event_deliveries_status ON event_deliveries (stream_id, status, seq);
