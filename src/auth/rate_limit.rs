//! Token buckets for request rates, one per key (an authenticated SCIM
//! token's id), in memory per process. It owns only arithmetic and memory
//! bounds; who is limited at what rate is decided by `limits`.
//!
//! Memory stays bounded: a bucket that has refilled is the same as no
//! bucket, so refilled buckets are dropped whenever the map is swept, and
//! the map never holds more than its capacity.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A sustained rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rate {
    /// Requests per second, sustained (may be fractional: 0.5 is one
    /// request every two seconds).
    #[schema(exclusive_minimum = 0, maximum = 1e9)]
    pub per_second: f64,
    /// Requests allowed at once after a quiet spell (the bucket's size).
    #[schema(minimum = 1)]
    pub burst: u32,
}

impl Rate {
    /// A rate that makes sense: positive and finite, burst at least 1.
    pub fn check(&self) -> Result<(), String> {
        if !(self.per_second.is_finite() && self.per_second > 0.0) {
            return Err("perSecond must be a positive number".into());
        }
        if self.per_second > 1e9 {
            return Err("perSecond is at most 1000000000".into());
        }
        if self.burst == 0 {
            return Err("burst must be at least 1".into());
        }
        Ok(())
    }
}

/// Whether a request may go ahead now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Allowed,
    /// Over the rate: the next request fits in this long.
    Limited(Duration),
}

pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

struct Bucket {
    tokens: f64,
    at: Instant,
    rate: Rate,
}

impl Bucket {
    /// Refills for the time since it was last touched.
    fn refill(&mut self, now: Instant, rate: Rate) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(f64::from(rate.burst));
        self.at = now;
        self.rate = rate;
    }

    fn full_at(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens + elapsed * self.rate.per_second >= f64::from(self.rate.burst)
    }
}

pub struct RateLimiter<K> {
    clock: Clock,
    capacity: usize,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// At most `capacity` buckets are kept.
    pub fn new(capacity: usize) -> Self {
        Self::with_clock(capacity, Arc::new(Instant::now))
    }

    pub fn with_clock(capacity: usize, clock: Clock) -> Self {
        RateLimiter {
            clock,
            capacity: capacity.max(1),
            buckets: Mutex::default(),
        }
    }

    /// Takes one request from `key`'s bucket at `rate`. A changed rate
    /// applies from now on, to the tokens the bucket holds.
    pub fn check(&self, key: &K, rate: Rate) -> Verdict {
        self.take(key, rate, 1)
    }

    /// Takes `cost` requests' worth at once (a Bulk's operations), or
    /// nothing: the wait is until the bucket holds them all. A cost above
    /// the burst never fits; callers refuse it before asking.
    pub fn take(&self, key: &K, rate: Rate, cost: u32) -> Verdict {
        let cost = f64::from(cost);
        let now = (self.clock)();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !buckets.contains_key(key) && buckets.len() >= self.capacity {
            Self::make_room(&mut buckets, now, self.capacity);
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: f64::from(rate.burst),
            at: now,
            rate,
        });
        bucket.refill(now, rate);
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            Verdict::Allowed
        } else {
            let wait = (cost - bucket.tokens) / rate.per_second;
            Verdict::Limited(Duration::from_secs_f64(wait.min(1e9)))
        }
    }

    /// Drops refilled buckets (losing nothing); if every bucket is still
    /// draining, the one touched longest ago goes, so the map stays bounded.
    fn make_room(buckets: &mut HashMap<K, Bucket>, now: Instant, capacity: usize) {
        buckets.retain(|_, b| !b.full_at(now));
        while buckets.len() >= capacity {
            let Some(oldest) = buckets
                .iter()
                .min_by_key(|(_, b)| b.at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            buckets.remove(&oldest);
        }
    }

    /// Buckets held now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock the test moves by hand.
    fn manual() -> (Clock, Arc<Mutex<Instant>>) {
        let now = Arc::new(Mutex::new(Instant::now()));
        let read = now.clone();
        (Arc::new(move || *read.lock().unwrap()), now)
    }

    fn advance(now: &Mutex<Instant>, by: Duration) {
        let mut t = now.lock().unwrap();
        *t += by;
    }

    const TWO_PER_SEC_BURST_3: Rate = Rate {
        per_second: 2.0,
        burst: 3,
    };

    #[test]
    fn the_burst_passes_then_the_bucket_refills_at_the_rate() {
        let (clock, now) = manual();
        let l = RateLimiter::with_clock(10, clock);
        for _ in 0..3 {
            assert_eq!(l.check(&1, TWO_PER_SEC_BURST_3), Verdict::Allowed);
        }
        let Verdict::Limited(wait) = l.check(&1, TWO_PER_SEC_BURST_3) else {
            panic!("the fourth request is over the burst");
        };
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(retry_after_secs(wait), 1);
        // Refused requests take nothing: after the computed wait, one fits.
        advance(&now, Duration::from_millis(499));
        assert!(matches!(
            l.check(&1, TWO_PER_SEC_BURST_3),
            Verdict::Limited(_)
        ));
        advance(&now, Duration::from_millis(1));
        assert_eq!(l.check(&1, TWO_PER_SEC_BURST_3), Verdict::Allowed);
        assert!(matches!(
            l.check(&1, TWO_PER_SEC_BURST_3),
            Verdict::Limited(_)
        ));
        // A long pause refills to the burst, never beyond it.
        advance(&now, Duration::from_secs(3600));
        for _ in 0..3 {
            assert_eq!(l.check(&1, TWO_PER_SEC_BURST_3), Verdict::Allowed);
        }
        assert!(matches!(
            l.check(&1, TWO_PER_SEC_BURST_3),
            Verdict::Limited(_)
        ));
    }

    #[test]
    fn keys_are_independent_and_a_new_rate_applies_at_once() {
        let (clock, _) = manual();
        let l = RateLimiter::with_clock(10, clock);
        let one = Rate {
            per_second: 0.1,
            burst: 1,
        };
        assert_eq!(l.check(&"a", one), Verdict::Allowed);
        let Verdict::Limited(wait) = l.check(&"a", one) else {
            panic!("limited");
        };
        assert_eq!(retry_after_secs(wait), 10);
        assert_eq!(l.check(&"b", one), Verdict::Allowed);
        // Raised: the empty bucket still waits for its refill, but a
        // faster rate refills it sooner.
        let fast = Rate {
            per_second: 1000.0,
            burst: 5,
        };
        let Verdict::Limited(wait) = l.check(&"a", fast) else {
            panic!("limited");
        };
        assert_eq!(retry_after_secs(wait), 1);
    }

    #[test]
    fn a_cost_is_taken_whole_or_not_at_all() {
        let (clock, now) = manual();
        let l = RateLimiter::with_clock(10, clock);
        assert_eq!(l.take(&1, TWO_PER_SEC_BURST_3, 2), Verdict::Allowed);
        // One token left: a cost of two waits for one more, and takes
        // nothing meanwhile.
        assert_eq!(
            l.take(&1, TWO_PER_SEC_BURST_3, 2),
            Verdict::Limited(Duration::from_millis(500))
        );
        assert_eq!(l.check(&1, TWO_PER_SEC_BURST_3), Verdict::Allowed);
        advance(&now, Duration::from_secs(1));
        assert_eq!(l.take(&1, TWO_PER_SEC_BURST_3, 2), Verdict::Allowed);
        assert!(matches!(
            l.check(&1, TWO_PER_SEC_BURST_3),
            Verdict::Limited(_)
        ));
    }

    #[test]
    fn memory_is_bounded_and_refilled_buckets_go_first() {
        let (clock, now) = manual();
        let l = RateLimiter::with_clock(100, clock);
        let rate = Rate {
            per_second: 1.0,
            burst: 2,
        };
        for k in 0..10_000 {
            l.check(&k, rate);
            assert!(l.len() <= 100);
        }
        // Key 9_999 is draining; after a refill every bucket is full and a
        // sweep drops them all but the newcomer.
        advance(&now, Duration::from_secs(10));
        l.check(&-1, rate);
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn rates_are_validated() {
        for bad in [
            Rate {
                per_second: 0.0,
                burst: 1,
            },
            Rate {
                per_second: f64::NAN,
                burst: 1,
            },
            Rate {
                per_second: -1.0,
                burst: 1,
            },
            Rate {
                per_second: 1.0,
                burst: 0,
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        assert!(TWO_PER_SEC_BURST_3.check().is_ok());
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
