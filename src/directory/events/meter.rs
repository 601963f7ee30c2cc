//! Operational metrics of event delivery: what the worker tells a meter
//! after each batch (deliveries accepted, with their latency from the
//! change's commit; attempts failed; deliveries given up), and the
//! pending and failed deliveries of every stream, counted when asked. The
//! meter is the HTTP layer's Prometheus recorder (`GET /metrics`); every
//! series is labelled by stream id only, never by endpoint.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::directory::{Directory, Result};
use crate::store::events::{Attempt, Delivery, Stream};

/// Where delivery outcomes are counted.
pub trait EventMeter: Send + Sync {
    /// A delivery its receiver accepted, `latency` after its change
    /// committed.
    fn delivered(&self, stream: Uuid, latency: Duration);
    /// An attempt that failed; `gave_up`: the delivery is marked failed
    /// (its retry window is over), else it is tried again.
    fn attempt_failed(&self, stream: Uuid, gave_up: bool);
}

/// Counts nothing (a directory no server serves: tests, the CLI).
pub struct NoMeter;

impl EventMeter for NoMeter {
    fn delivered(&self, _: Uuid, _: Duration) {}
    fn attempt_failed(&self, _: Uuid, _: bool) {}
}

/// A stream's deliveries waiting or given up, for the pending gauge and
/// the console's list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenDeliveries {
    pub pending: i64,
    pub failed: i64,
}

/// When an event's change committed: its id is its audit record's, a
/// UUIDv7 stamped at the append, inside the change's transaction.
fn committed(event: Uuid) -> Option<OffsetDateTime> {
    let (secs, nanos) = event.get_timestamp()?.to_unix();
    let at = OffsetDateTime::from_unix_timestamp(i64::try_from(secs).ok()?).ok()?;
    Some(at + Duration::from_nanos(u64::from(nanos)))
}

impl Directory {
    /// Counts delivery outcomes with `meter` (the server's metrics).
    pub fn with_event_meter(mut self, meter: Arc<dyn EventMeter>) -> Self {
        self.event_meter = meter;
        self
    }

    /// Tells the meter how a batch of attempts went.
    pub(super) fn observe(&self, stream: Uuid, due: &[Delivery], attempts: &[(i64, Attempt)]) {
        let now = self.now();
        for (seq, a) in attempts {
            match a.status {
                "delivered" => {
                    let event = due.iter().find(|d| d.seq == *seq).map(|d| d.event_id);
                    let latency = event
                        .and_then(committed)
                        .map_or(Duration::ZERO, |at| (now - at).unsigned_abs());
                    self.event_meter.delivered(stream, latency);
                }
                status => self.event_meter.attempt_failed(stream, status == "failed"),
            }
        }
    }

    /// Every stream's pending and failed deliveries (operational: the
    /// `/metrics` gauge; no permission asked, no stream named).
    pub async fn open_deliveries(&self) -> Result<BTreeMap<Uuid, OpenDeliveries>> {
        let (streams, counts) =
            tokio::try_join!(self.store.streams(), self.store.open_delivery_counts())?;
        Ok(tally(&streams, counts))
    }
}

/// Each stream's open deliveries from the store's counts (`(stream,
/// status, count)`); a stream with none has zeros.
pub(super) fn tally(
    streams: &[Stream],
    counts: Vec<(Uuid, String, i64)>,
) -> BTreeMap<Uuid, OpenDeliveries> {
    let mut open: BTreeMap<Uuid, OpenDeliveries> = streams
        .iter()
        .map(|s| (s.id, OpenDeliveries::default()))
        .collect();
    for (stream, status, n) in counts {
        if let Some(o) = open.get_mut(&stream) {
            match status.as_str() {
                "pending" => o.pending = n,
                _ => o.failed = n,
            }
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_events_commit_time_is_in_its_id() {
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, 1_700_000_000, 250_000_000);
        let at = committed(Uuid::new_v7(ts)).expect("a v7 id");
        assert_eq!(at.unix_timestamp(), 1_700_000_000);
        assert_eq!(at.millisecond(), 250);
        assert_eq!(committed(Uuid::from_u128(1)), None);
    }
}
