-- Events with the resource (`"full": true`, issue 19): the resource as its
-- change committed, kept for the streams that send it.
--
-- Written by the change's own transaction (audit append), only while a
-- stream that is not disabled asks for `full`, for each audit record of a
-- user or a group that still exists after the change (deletes and member
-- changes have none): so an event's `data` is what the change made, never
-- what a later change made of it before the event was delivered. `seq` is
-- the audit record's. Rows go once every `full` stream has read past
-- them (they hold names and addresses: kept no longer than needed).
CREATE TABLE event_snapshots (
    seq           bigint PRIMARY KEY,
    doc           jsonb NOT NULL,
    created       timestamptz NOT NULL,
    last_modified timestamptz NOT NULL,
    version       bigint NOT NULL
);
