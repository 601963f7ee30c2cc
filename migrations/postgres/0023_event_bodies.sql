-- A delivery's body in a table of its own, as in SQLite's 0023: the
-- claim's lease and each attempt's record update a delivery row, and
-- PostgreSQL writes a new version of the whole row at each update, the
-- body (a webhook's JSON, a SET's JWS) included. The body is written
-- once, read by the claim (by primary key) and deleted with its delivery.
CREATE TABLE event_bodies (
    stream_id uuid NOT NULL,
    seq       bigint NOT NULL,
    body      text NOT NULL,
    PRIMARY KEY (stream_id, seq)
);
INSERT INTO event_bodies (stream_id, seq, body)
    SELECT stream_id, seq, body FROM event_deliveries;
ALTER TABLE event_deliveries DROP COLUMN body;
