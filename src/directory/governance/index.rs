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

    /// Which policies apply to each set, worked out once for `policies`
    /// (the same value as last time: the same decider).
    pub fn decider(&self, policies: &Arc<Vec<Policy>>) -> Arc<Decider> {
        let mut last = match self.decider.lock() {
            Ok(last) => last,
            Err(poisoned) => poisoned.into_inner(),
        };
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

/// A value read in the last `ttl` (none once forgotten).
pub(super) struct Kept<T> {
    ttl: Duration,
    entry: Arc<Mutex<Option<Read<T>>>>,
}

/// A value and when it was read.
type Read<T> = (Instant, Arc<T>);

impl<T> Clone for Kept<T> {
    fn clone(&self) -> Self {
        Kept {
            ttl: self.ttl,
            entry: self.entry.clone(),
        }
    }
}

impl<T> Kept<T> {
    pub fn new(ttl: Duration) -> Self {
        Kept {
            ttl,
            entry: Arc::default(),
        }
    }

    /// The value if it was read in the last `ttl`.
    pub fn get(&self) -> Option<Arc<T>> {
        let entry = self.entry.lock().ok()?;
        let (at, value) = entry.as_ref()?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    pub fn put(&self, value: Arc<T>) {
        if let Ok(mut entry) = self.entry.lock() {
            *entry = Some((Instant::now(), value));
        }
    }

    /// Forgets what was read: it changed here.
    pub fn forget(&self) {
        if let Ok(mut entry) = self.entry.lock() {
            *entry = None;
        }
    }
}
