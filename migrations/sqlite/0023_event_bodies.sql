-- A delivery's body in a table of its own (issue 19's create bar). The
-- claim's lease and each attempt's record update a delivery row; SQLite
-- writes a WITHOUT ROWID row again whole, so with the body (a webhook's
-- JSON, a SET's JWS: hundreds of bytes to kilobytes) in it every update
-- rewrote the body too, twice an event, and a page of the table held
-- a handful of deliveries. The body is written once, read by the claim
-- (by primary key) and deleted with its delivery.
CREATE TABLE event_bodies (
    stream_id TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    body      TEXT NOT NULL,
    PRIMARY KEY (stream_id, seq)
) STRICT, WITHOUT ROWID;
INSERT INTO event_bodies (stream_id, seq, body)
    SELECT stream_id, seq, body FROM event_deliveries;
ALTER TABLE event_deliveries DROP COLUMN body;
