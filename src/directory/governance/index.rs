//! The registered data sources as policies see them, for re-evaluating
//! automatic subscriptions: grouped by their distinct tag sets (tags on
//! the data source, tags on its columns). A decision is a function of the
//! account and those two sets alone (`crate::policy::Decider`), so an
//! account is weighed once per distinct set, not once per data source.
//! Read in one statement and kept in memory: a change here forgets it; a
//! change on another node is seen within `token_cache_ms`; a job reads it
//! afresh when it starts (or resumes); and an account holding a policy
//! subscription to a data source it does not know has it read again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::directory::ids::DataSourceId;
use crate::policy::{self, Decider, Policy};
use crate::store::governance::TaggedSource;

/// A registered data source, as a subscription names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Registered {
    pub id: DataSourceId,
    pub name: String,
}

/// Policies and the decider made for them.
type Made = (Arc<Vec<Policy>>, Arc<Decider>);

/// The registered data sources by distinct tag set.
#[derive(Debug, Default)]
pub(super) struct SourceIndex {
    /// The decider for the last policies asked about, made once for them.
    decider: Mutex<Option<Made>>,
    /// Each distinct tag set once.
    pub sets: Vec<policy::DataSource>,
    /// The data sources carrying each set, in the order of `sets`.
    pub members: Vec<Vec<Registered>>,
    /// The set of each data source (an index into `sets`).
    set_of: HashMap<DataSourceId, usize>,
}

impl SourceIndex {
    pub fn new(sources: Vec<TaggedSource>) -> SourceIndex {
        let mut by_set: BTreeMap<(BTreeSet<String>, BTreeSet<String>), Vec<Registered>> =
            BTreeMap::new();
        for s in sources {
            let key = (
                s.tags.into_iter().collect(),
                s.column_tags.into_iter().collect(),
            );
            by_set.entry(key).or_default().push(Registered {
                id: s.id,
                name: s.name,
            });
        }
        let mut index = SourceIndex::default();
        for (i, ((tags, column_tags), members)) in by_set.into_iter().enumerate() {
            index.set_of.extend(members.iter().map(|m| (m.id, i)));
            index.sets.push(policy::DataSource { tags, column_tags });
            index.members.push(members);
        }
        index
    }

    /// [`SourceIndex::new`], keeping the decider of `before` when the tag
    /// sets are the same (the usual case: a data source registered or
    /// retagged with tags other data sources carry too).
    pub fn again(sources: Vec<TaggedSource>, before: Option<&SourceIndex>) -> SourceIndex {
        let index = SourceIndex::new(sources);
        if let Some(before) = before.filter(|b| b.sets == index.sets) {
            let made = lock(&before.decider).clone();
            *lock(&index.decider) = made;
        }
        index
    }

    /// Which policies apply to each set, worked out once for `policies`
    /// (the same value as last time: the same decider).
    pub fn decider(&self, policies: &Arc<Vec<Policy>>) -> Arc<Decider> {
        let mut last = lock(&self.decider);
        match last.as_ref() {
            Some((p, d)) if Arc::ptr_eq(p, policies) => d.clone(),
            _ => {
                let d = Arc::new(Decider::new(policies, &self.sets));
                *last = Some((policies.clone(), d.clone()));
                d
            }
        }
    }

    /// The tag set of a registered data source (an index into `sets`);
    /// None for one registered after this was read.
    pub fn set_of(&self, id: DataSourceId) -> Option<usize> {
        self.set_of.get(&id).copied()
    }
}

/// A lock's value, whatever a panic left it as (no update here is half
/// done).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A value read in the last `ttl` (none once forgotten), read again by
/// one caller at a time: when it is out of date, one caller reads it while
/// the others keep using the value before (or, when there is none — at
/// first, or forgotten after a change here — wait for that read), so that
/// many writes arriving together do not all read it at once.
pub(super) struct Kept<T> {
    ttl: Duration,
    entry: Arc<Mutex<Entry<T>>>,
    /// Held by the caller reading the value again.
    reading: Arc<tokio::sync::Mutex<()>>,
}

/// The value, when it was read, and how many times it was forgotten: a
/// read that started before a change here must not put back what it read.
struct Entry<T> {
    value: Option<(Instant, Arc<T>)>,
    forgotten: u64,
}

impl<T> Clone for Kept<T> {
    fn clone(&self) -> Self {
        Kept {
            ttl: self.ttl,
            entry: self.entry.clone(),
            reading: self.reading.clone(),
        }
    }
}

impl<T> Kept<T> {
    pub fn new(ttl: Duration) -> Self {
        Kept {
            ttl,
            entry: Arc::new(Mutex::new(Entry {
                value: None,
                forgotten: 0,
            })),
            reading: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entry<T>> {
        lock(&self.entry)
    }

    /// The value and whether it was read in the last `ttl`; and how many
    /// times it was forgotten so far.
    fn peek(&self) -> (Option<(Arc<T>, bool)>, u64) {
        let e = self.lock();
        let value = e
            .value
            .as_ref()
            .map(|(at, v)| (v.clone(), at.elapsed() < self.ttl));
        (value, e.forgotten)
    }

    /// The value if it was read in the last `ttl`; else `read` reads it
    /// (one caller at a time; the others take the value before, when
    /// there is one, or wait for that read). `read` is given the value
    /// before, if any, to keep what did not change.
    pub async fn get_or_read<E, F>(
        &self,
        read: impl FnOnce(Option<Arc<T>>) -> F,
    ) -> Result<Arc<T>, E>
    where
        F: std::future::Future<Output = Result<T, E>>,
    {
        let stale = match self.peek().0 {
            Some((v, true)) => return Ok(v),
            Some((v, false)) => Some(v),
            None => None,
        };
        let _reading = match (self.reading.try_lock(), stale) {
            (Ok(guard), _) => guard,
            // Another caller is reading it: the value before will do.
            (Err(_), Some(v)) => return Ok(v),
            (Err(_), None) => self.reading.lock().await,
        };
        // What the caller before read, if it finished meanwhile.
        let (before, forgotten) = match self.peek() {
            (Some((v, true)), _) => return Ok(v),
            (v, forgotten) => (v.map(|(v, _)| v), forgotten),
        };
        self.read_with(read(before), forgotten).await
    }

    /// The value read now by `read` (given the value before, if any), and
    /// kept.
    pub async fn read_now<E, F>(&self, read: impl FnOnce(Option<Arc<T>>) -> F) -> Result<Arc<T>, E>
    where
        F: std::future::Future<Output = Result<T, E>>,
    {
        let (before, forgotten) = self.peek();
        self.read_with(read(before.map(|(v, _)| v)), forgotten)
            .await
    }

    /// What `read` reads, kept unless it was forgotten since it began
    /// (after `forgotten` forgettings): a change here that the read may
    /// have missed.
    async fn read_with<E, F>(&self, read: F, forgotten: u64) -> Result<Arc<T>, E>
    where
        F: std::future::Future<Output = Result<T, E>>,
    {
        let value = Arc::new(read.await?);
        let mut e = self.lock();
        if e.forgotten == forgotten {
            e.value = Some((Instant::now(), value.clone()));
        }
        Ok(value)
    }

    /// Forgets what was read: it changed here.
    pub fn forget(&self) {
        let mut e = self.lock();
        e.value = None;
        e.forgotten += 1;
    }
}
