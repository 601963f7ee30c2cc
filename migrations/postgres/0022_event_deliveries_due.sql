-- The pending deliveries of a stream in order, for the claim (the oldest
-- due ones, each the first pending one of its resource), as in SQLite's
-- 0022: a partial index holding only what is still to be sent, however
-- many deliveries the stream has made.
CREATE INDEX event_deliveries_due ON event_deliveries (stream_id, seq)
    WHERE status = 'pending';
