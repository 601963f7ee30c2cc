-- The pending deliveries of a stream in order, for the claim (the oldest
-- due ones, each the first pending one of its resource). Without it the
-- claim walked every delivery the stream ever had, delivered ones
-- included, and for each pending one every earlier delivery of the
-- stream: SQLite, with no statistics gathered, preferred the primary key.
-- The claim names this index and event_deliveries_pending (see
-- store/sql/events.rs).
CREATE INDEX event_deliveries_due ON event_deliveries (stream_id, seq)
    WHERE status = 'pending';
