//! Automatic subscriptions (issue 18, item 5): an account re-evaluated
//! against every policy and every registered data source, its policy
//! subscriptions (`source: "policy:<policyKey>"`) made to match what the
//! policies with `automaticSubscription` admit. Manual subscriptions are
//! never touched. Writes that change what policies see of an account call
//! [`Directory::resubscribe`] before they answer; while no active policy
//! subscribes automatically that costs one cached check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::evaluate::tags_of;
use crate::audit::Entry;
use crate::directory::Directory;
use crate::directory::Result;
use crate::directory::changes::{self, GroupChange};
use crate::directory::ids::{DataSourceId, UserId};
use crate::policy::{self, Policy};
use crate::store::GroupRecords;
use crate::store::accounts::{PolicySubscription, Subscription};
use crate::store::governance::DataSource;
use uuid::Uuid;

/// How many data sources one read brings.
const PAGE: u64 = 1000;

/// Every policy (or none, see [`AutomaticCache`]) and when it was read.
type Read = (Instant, Arc<Vec<Policy>>);

/// The policies as recently read, when one of them subscribes
/// automatically (none otherwise): every SCIM write asks.
#[derive(Clone)]
pub struct AutomaticCache {
    ttl: Duration,
    entry: Arc<Mutex<Option<Read>>>,
}

impl AutomaticCache {
    pub fn new(ttl: Duration) -> Self {
        AutomaticCache {
            ttl,
            entry: Arc::default(),
        }
    }

    fn get(&self) -> Option<Arc<Vec<Policy>>> {
        let entry = self.entry.lock().ok()?;
        let (at, p) = entry.as_ref()?;
        (at.elapsed() < self.ttl).then(|| p.clone())
    }

    fn put(&self, p: Option<Arc<Vec<Policy>>>) {
        if let Ok(mut entry) = self.entry.lock() {
            *entry = p.map(|p| (Instant::now(), p));
        }
    }

    /// Forgets what was read: a policy changed here.
    pub(super) fn forget(&self) {
        self.put(None);
    }
}

/// The members a group write added or removed, as its records closure
/// sees the delta (storage finds it inside the write's transaction).
#[derive(Clone, Default)]
pub struct Touched(Arc<Mutex<Vec<Uuid>>>);

impl Touched {
    /// `change`'s records, noting the members the write touched.
    pub fn records(&self, change: GroupChange) -> GroupRecords {
        let touched = self.clone();
        Box::new(move |d| {
            if let Ok(mut ids) = touched.0.lock() {
                ids.extend(d.added.iter().chain(d.removed));
            }
            change.records(d)
        })
    }

    fn take(&self) -> Vec<Uuid> {
        self.0
            .lock()
            .map(|mut ids| std::mem::take(&mut *ids))
            .unwrap_or_default()
    }
}

/// The `source` of a subscription `key`'s policy added.
fn source_of(key: &str) -> String {
    format!("policy:{key}")
}

impl Directory {
    /// Every policy, when an active one subscribes automatically; none
    /// otherwise (then nothing is re-evaluated).
    pub(super) async fn automatic_policies(&self) -> Result<Arc<Vec<Policy>>> {
        if let Some(p) = self.automatic_cache.get() {
            return Ok(p);
        }
        let all = self.stored_policies().await?;
        let automatic = all
            .iter()
            .any(|p| !p.staged && p.actions.automatic_subscription);
        let p = Arc::new(if automatic { all } else { Vec::new() });
        self.automatic_cache.put(Some(p.clone()));
        Ok(p)
    }

    /// Every registered data source, a page at a time.
    pub(super) async fn all_data_sources(&self) -> Result<Vec<DataSource>> {
        let mut out = Vec::new();
        loop {
            let (page, total) = self.store.list_data_sources(out.len() as u64, PAGE).await?;
            let done = page.is_empty() || out.len() + page.len() >= total as usize;
            out.extend(page);
            if done {
                return Ok(out);
            }
        }
    }

    /// Re-evaluates each account of `ids` (a group write's members; a
    /// nested group's id is skipped), after one cached check.
    pub(crate) async fn resubscribe_all(&self, audit: &Entry, ids: &[Uuid]) -> Result<()> {
        if ids.is_empty() || self.automatic_policies().await?.is_empty() {
            return Ok(());
        }
        for id in ids {
            self.resubscribe(audit, UserId::new(*id)).await?;
        }
        Ok(())
    }

    /// Re-evaluates the members a group write touched.
    pub(crate) async fn resubscribe_touched(&self, audit: &Entry, touched: &Touched) -> Result<()> {
        self.resubscribe_all(audit, &touched.take()).await
    }

    /// Re-evaluates `user`'s automatic subscriptions: subscribes it to each
    /// data source an automatic policy admits it to, and removes each of
    /// its policy subscriptions no longer admitted, in one transaction with
    /// a `subscription.added` / `subscription.removed` record (naming the
    /// policy) for each. `audit` says who acts.
    pub(crate) async fn resubscribe(&self, audit: &Entry, user: UserId) -> Result<()> {
        let policies = self.automatic_policies().await?;
        if policies.is_empty() {
            return Ok(());
        }
        let sources = self.all_data_sources().await?;
        self.reconcile(audit, user, &policies, &sources).await
    }

    /// [`Directory::resubscribe`] against the policies and data sources
    /// given (a job reads them once a batch); with no automatic policy it
    /// removes every policy subscription.
    pub(super) async fn reconcile(
        &self,
        audit: &Entry,
        user: UserId,
        policies: &[Policy],
        sources: &[DataSource],
    ) -> Result<()> {
        // Gone (its subscriptions went with it), or the id of a group
        // member that is a group: nothing to re-evaluate.
        let Some(account) = self.store.account(user.uuid()).await? else {
            return Ok(());
        };
        let (inputs, held) = tokio::try_join!(self.policy_account(&account), async {
            Ok(self.store.subscriptions(user.uuid()).await?)
        },)?;
        // Each data source admitted, with the keys of the automatic
        // policies that admit the account to it.
        let admitted: HashMap<DataSourceId, (&DataSource, Vec<&str>)> = sources
            .iter()
            .filter_map(|s| {
                let keys = policy::decide(policies, &inputs, &tags_of(s)).automatic_policies;
                (!keys.is_empty()).then_some((s.id, (s, keys)))
            })
            .collect();
        let mut kept = Vec::new();
        let mut remove = Vec::new();
        // A policy subscription whose data source was deleted from the
        // registry stays, like any other (docs/GOVERNANCE.md).
        let policy_held = held
            .iter()
            .filter(|h| h.source.starts_with("policy:") && h.data_source_id.is_some());
        for h in policy_held {
            let still = h
                .data_source_id
                .and_then(|d| admitted.get(&d))
                .is_some_and(|(s, keys)| {
                    !kept.contains(&s.id) && keys.iter().any(|k| source_of(k) == h.source)
                });
            match h.data_source_id {
                Some(d) if still => kept.push(d),
                _ => remove.push((
                    h.subscription.id,
                    changes::policy_subscription(
                        audit,
                        "subscription.removed",
                        user.uuid(),
                        &h.source,
                    ),
                )),
            }
        }
        let now = self.now();
        let add: Vec<PolicySubscription> = admitted
            .values()
            .filter(|(s, _)| !kept.contains(&s.id))
            .map(|(s, keys)| {
                let source = source_of(keys[0]);
                PolicySubscription {
                    subscription: Subscription {
                        id: self.new_id(),
                        user_id: user.uuid(),
                        data_source: s.name.clone(),
                        role: "subscriber".to_owned(),
                        subscribed: now,
                        expires: None,
                    },
                    data_source_id: s.id,
                    audit: changes::policy_subscription(
                        audit,
                        "subscription.added",
                        user.uuid(),
                        &source,
                    ),
                    source,
                }
            })
            .collect();
        if add.is_empty() && remove.is_empty() {
            return Ok(());
        }
        Ok(self
            .store
            .reconcile_policy_subscriptions(&add, &remove, now)
            .await?)
    }
}
