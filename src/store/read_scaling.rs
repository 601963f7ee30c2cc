//! Read scaling: list, search and report reads may be served by a read-only
//! PostgreSQL (a hot standby, or HAProxy's port in front of several) while
//! every write, and every other read, goes to the primary. What it owns:
//! the decision, per read, between the two, and what it needs to keep
//! read-your-writes for the client that wrote:
//!
//! - Only a request that reads (a GET, a search) may read a replica, and
//!   only from within its scope ([`as_reader`]): authentication, the
//!   lookups a write makes before it writes, jobs and the command line
//!   read the primary.
//! - A request runs as its reader (the principal's id); once it has sent
//!   a write ([`wrote`], called where `attempt` notes one) its own reads
//!   all go to the primary, and when it ends the reader is pinned to the
//!   primary's WAL position after the write ([`ReadRoute::pin`]): the
//!   reader's next reads use a replica connection only once that
//!   connection's server has replayed it.
//! - Every replica read first asks its connection how far its server has
//!   replayed (one cheap statement on that connection: behind HAProxy,
//!   each connection may reach a different standby). The answer is
//!   compared with the reader's pin and with a short history of the
//!   primary's WAL position, sampled at most every [`SAMPLE_EVERY`]: a
//!   server further behind than the lag bound is not used.
//! - A replica that cannot be reached, or fails a read, is left alone for
//!   [`DOWN_FOR`] and the read runs on the primary: the client never sees
//!   a replica's failure.
//!
//! Pins live in this process's memory: behind a load balancer spreading
//! one client over several scim-bridge servers, read-your-writes holds
//! only if the balancer keeps a client on one server (see docs/HA.md).
//! Nothing here knows HTTP: the caller hands in an opaque id.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::{Result, StoreError};

/// How often, at most, the primary's WAL position is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// How long a replica that failed is not tried again.
pub const DOWN_FOR: Duration = Duration::from_secs(5);
/// How long a replica connection may take to come: past it, the read
/// runs on the primary (and the replica counts as down).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);
/// Most readers pinned at once: past it the oldest pins go first (a
/// reader whose pin is dropped early may then see a replica that has
/// not replayed its write only if that replica lags, within the bound).
const MAX_PINS: usize = 100_000;

/// Where to read from, as configured (`database_read_url`).
#[derive(Debug, Clone)]
pub struct ReadReplica {
    /// `postgres://...` of a read-only server (or the same as the primary).
    pub url: String,
    /// A replica further behind the primary than this is not read.
    pub max_lag: Duration,
}

tokio::task_local! {
    static READER: Reader;
}

struct Reader {
    id: Option<Uuid>,
    reads_only: bool,
    wrote: Cell<bool>,
}

/// Runs a request's `f` as the reader `id` (None: an anonymous request,
/// which is never pinned); `reads_only` when the request is one that only
/// reads (its list reads may then go to a replica). Returns also whether
/// it sent a write.
pub async fn as_reader<F: Future>(id: Option<Uuid>, reads_only: bool, f: F) -> (F::Output, bool) {
    let reader = Reader {
        id,
        reads_only,
        wrote: Cell::new(false),
    };
    READER
        .scope(reader, async {
            let out = f.await;
            (out, READER.with(|r| r.wrote.get()))
        })
        .await
}

/// Notes that the current request sends a write (see `attempt::writing`).
pub(crate) fn wrote() {
    let _ = READER.try_with(|r| r.wrote.set(true));
}

/// The current request's reader, if it only reads, and whether it has
/// written nonetheless.
fn current() -> Option<(Option<Uuid>, bool)> {
    READER
        .try_with(|r| r.reads_only.then(|| (r.id, r.wrote.get())))
        .ok()
        .flatten()
}

/// Why a scaled read went where it went: the counters of `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScaledReads {
    /// Served by the replica.
    pub replica: u64,
    /// On the primary: the reader wrote and the replica had not replayed it.
    pub own_write: u64,
    /// On the primary: the replica was further behind than the lag bound.
    pub lagging: u64,
    /// On the primary: the replica could not be reached or failed the read.
    pub unavailable: u64,
}

#[derive(Default)]
struct Counters {
    replica: AtomicU64,
    own_write: AtomicU64,
    lagging: AtomicU64,
    unavailable: AtomicU64,
}

/// Where a read goes, decided by [`ReadRoute::replica`].
pub enum Route {
    Replica(sqlx::pool::PoolConnection<sqlx::Postgres>),
    Primary,
}

/// A pin: the reader's last write is at `lsn` on the primary (None: not
/// known, the primary is read until `until`).
#[derive(Clone, Copy)]
struct Pin {
    lsn: Option<u64>,
    until: Instant,
}

/// The replica pool and what decides, per read, whether to use it.
pub struct ReadRoute {
    replica: PgPool,
    primary: PgPool,
    max_lag: Duration,
    pins: Mutex<HashMap<Uuid, Pin>>,
    /// (when, the primary's WAL position then), oldest first, kept back to
    /// one sample older than `max_lag`.
    history: Mutex<VecDeque<(Instant, u64)>>,
    down_until: Mutex<Option<Instant>>,
    counters: Counters,
}

/// The WAL position a server has: replayed, on a standby; written, on a
/// primary (the same database given twice, or a standby promoted).
const SERVER_LSN: &str = "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
     ELSE pg_current_wal_lsn() END - '0/0'::pg_lsn)::bigint AS lsn";
/// The primary's WAL position (written: at or past every commit it
/// acknowledged).
const PRIMARY_LSN: &str = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint AS lsn";

impl ReadRoute {
    pub fn new(replica: PgPool, primary: PgPool, max_lag: Duration) -> Self {
        ReadRoute {
            replica,
            primary,
            max_lag,
            pins: Mutex::default(),
            history: Mutex::default(),
            down_until: Mutex::default(),
            counters: Counters::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.replica
    }

    /// How long a pin is needed at most: past the lag bound (and a sample
    /// or two), every replica that passes the lag check has the write.
    fn pin_ttl(&self) -> Duration {
        self.max_lag + 2 * SAMPLE_EVERY
    }

    /// Pins `reader` to the primary until a replica has replayed what it
    /// wrote: called when its request, which wrote, ends.
    pub async fn pin(&self, reader: Uuid) {
        let lsn = primary_lsn(&self.primary).await.ok();
        let until = Instant::now() + self.pin_ttl();
        let mut pins = lock(&self.pins);
        if pins.len() >= MAX_PINS {
            let now = Instant::now();
            pins.retain(|_, p| p.until > now);
            if pins.len() >= MAX_PINS {
                pins.clear();
            }
        }
        pins.insert(reader, Pin { lsn, until });
    }

    /// The current reader's pin, if it still holds (an expired one goes).
    fn pin_of(&self, reader: Uuid) -> Option<Pin> {
        let mut pins = lock(&self.pins);
        match pins.get(&reader).copied() {
            Some(p) if p.until > Instant::now() => Some(p),
            Some(_) => {
                pins.remove(&reader);
                None
            }
            None => None,
        }
    }

    /// Where the current read goes: a replica connection that has replayed
    /// the reader's writes and is within the lag bound, else the primary.
    pub async fn replica(&self) -> Route {
        // Outside a request that only reads: not a scaled read at all.
        let Some((reader, wrote)) = current() else {
            return Route::Primary;
        };
        if wrote {
            self.counters.own_write.fetch_add(1, Ordering::Relaxed);
            return Route::Primary;
        }
        let pin = reader.and_then(|id| self.pin_of(id));
        if pin.is_some_and(|p| p.lsn.is_none()) {
            self.counters.own_write.fetch_add(1, Ordering::Relaxed);
            return Route::Primary;
        }
        if lock(&self.down_until).is_some_and(|t| t > Instant::now()) {
            self.counters.unavailable.fetch_add(1, Ordering::Relaxed);
            return Route::Primary;
        }
        let Some(bound) = self.lag_bound().await else {
            // The primary did not answer: its own read will say so.
            self.counters.unavailable.fetch_add(1, Ordering::Relaxed);
            return Route::Primary;
        };
        let conn = tokio::time::timeout(ACQUIRE_TIMEOUT, self.replica.acquire()).await;
        let mut conn = match conn {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return self.down(&e.to_string()),
            Err(_) => return self.down("no connection within the timeout"),
        };
        let replayed = match sqlx::query(SERVER_LSN).fetch_one(&mut *conn).await {
            Ok(row) => row.try_get::<Option<i64>, _>("lsn").ok().flatten(),
            Err(e) => return self.down(&e.to_string()),
        };
        // A standby that has replayed nothing yet says NULL.
        let replayed = replayed.map_or(0, |l| l as u64);
        if pin.and_then(|p| p.lsn).is_some_and(|l| replayed < l) {
            self.counters.own_write.fetch_add(1, Ordering::Relaxed);
            return Route::Primary;
        }
        if replayed < bound {
            self.counters.lagging.fetch_add(1, Ordering::Relaxed);
            return Route::Primary;
        }
        Route::Replica(conn)
    }

    /// The replica served the read.
    pub fn served(&self) {
        self.counters.replica.fetch_add(1, Ordering::Relaxed);
    }

    /// The replica failed the read (`e`): it is left alone for a while
    /// when it is unavailable, and the read runs on the primary.
    pub fn failed(&self, e: &StoreError) {
        if matches!(e, StoreError::Unavailable(_)) {
            let _ = self.down(&e.to_string());
        } else {
            self.counters.unavailable.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "a read failed on the read replica; reading the primary");
        }
    }

    fn down(&self, why: &str) -> Route {
        tracing::warn!(
            cause = why,
            secs = DOWN_FOR.as_secs(),
            "the read replica is unavailable; reading the primary"
        );
        *lock(&self.down_until) = Some(Instant::now() + DOWN_FOR);
        self.counters.unavailable.fetch_add(1, Ordering::Relaxed);
        Route::Primary
    }

    /// The least WAL position a replica must have replayed to be within
    /// the lag bound: the primary's position `max_lag` ago (or as long ago
    /// as the history reaches: the stricter, early on). Samples the
    /// primary when the newest sample is older than [`SAMPLE_EVERY`].
    async fn lag_bound(&self) -> Option<u64> {
        let now = Instant::now();
        let fresh = lock(&self.history)
            .back()
            .is_some_and(|(t, _)| now.duration_since(*t) < SAMPLE_EVERY);
        if !fresh {
            // Concurrent reads may sample together: a few cheap reads.
            let lsn = primary_lsn(&self.primary).await.ok()?;
            let mut h = lock(&self.history);
            h.push_back((Instant::now(), lsn));
            // Keep one sample at or before the horizon, drop the older.
            if let Some(horizon) = now.checked_sub(self.max_lag) {
                while h.len() > 1 && h[1].0 <= horizon {
                    h.pop_front();
                }
            }
        }
        let h = lock(&self.history);
        let horizon = now.checked_sub(self.max_lag);
        let at_horizon = h
            .iter()
            .rev()
            .find(|(t, _)| horizon.is_some_and(|hz| *t <= hz))
            .or(h.front());
        at_horizon.map(|(_, lsn)| *lsn)
    }

    pub fn counts(&self) -> ScaledReads {
        let c = &self.counters;
        ScaledReads {
            replica: c.replica.load(Ordering::Relaxed),
            own_write: c.own_write.load(Ordering::Relaxed),
            lagging: c.lagging.load(Ordering::Relaxed),
            unavailable: c.unavailable.load(Ordering::Relaxed),
        }
    }
}

async fn primary_lsn(primary: &PgPool) -> Result<u64> {
    let row = sqlx::query(PRIMARY_LSN).fetch_one(primary).await?;
    Ok(row.try_get::<i64, _>("lsn")? as u64)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
