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
use crate::audit::{Actor, Entry};
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

/// The most accounts a write re-evaluates before it is answered: past
/// this, it starts the durable job over every account instead (a group of
/// thousands renamed must not hold its SCIM answer for seconds).
pub const INLINE_MAX: usize = 300;

/// What a group write reaches: the members it added or removed (accounts
/// and nested groups), as its records closure sees the delta (storage
/// finds it inside the write's transaction), and the group itself when
/// what its members inherit from it changed (its name).
#[derive(Clone, Default)]
pub struct Touched(Arc<Mutex<Vec<Uuid>>>);

impl Touched {
    /// `change`'s records, noting the members the write touched.
    pub fn records(&self, change: GroupChange) -> GroupRecords {
        let touched = self.clone();
        Box::new(move |d| {
            touched.note(d.added.iter().chain(d.removed).copied());
            change.records(d)
        })
    }

    /// Notes accounts or groups whose accounts the write reaches.
    pub fn note(&self, ids: impl IntoIterator<Item = Uuid>) {
        if let Ok(mut held) = self.0.lock() {
            held.extend(ids);
        }
    }

    fn take(&self) -> Vec<Uuid> {
        let mut ids = self
            .0
            .lock()
            .map(|mut ids| std::mem::take(&mut *ids))
            .unwrap_or_default();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// The accounts a write reaches, as read before it is answered.
pub enum Reached {
    /// None, or no policy subscribes automatically.
    Nobody,
    /// These (at most [`INLINE_MAX`]): re-evaluated inline.
    Accounts(Vec<Uuid>),
    /// More than [`INLINE_MAX`]: a job re-evaluates every account.
    Many,
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

    /// The accounts among `ids` and those in the groups among `ids`
    /// (directly or through nested groups): whom a change to those groups'
    /// memberships, name or attributes reaches; after one cached check.
    /// Read before a group's deletion, which takes its memberships along.
    pub(crate) async fn reached(&self, ids: &[Uuid]) -> Result<Reached> {
        if ids.is_empty() || self.automatic_policies().await?.is_empty() {
            return Ok(Reached::Nobody);
        }
        let cap = INLINE_MAX as u64 + 1;
        let accounts = self.store.accounts_within(ids, cap).await?;
        Ok(match accounts.len() {
            0 => Reached::Nobody,
            n if n > INLINE_MAX => Reached::Many,
            _ => Reached::Accounts(accounts),
        })
    }

    /// Re-evaluates what a write reached: the accounts inline, against
    /// the policies and data sources read once; or, for many, starts the
    /// job over every account (its id).
    pub(crate) async fn resubscribe_reached(
        &self,
        audit: &Entry,
        reached: Reached,
    ) -> Result<Option<Uuid>> {
        let ids = match reached {
            Reached::Nobody => return Ok(None),
            Reached::Many => return Ok(Some(self.start_resubscribe_job(&audit.actor).await?)),
            Reached::Accounts(ids) => ids,
        };
        let (policies, sources) =
            tokio::try_join!(self.automatic_policies(), self.all_data_sources())?;
        if policies.is_empty() {
            return Ok(None);
        }
        for id in ids {
            self.reconcile(audit, UserId::new(id), &policies, &sources)
                .await?;
        }
        Ok(None)
    }

    /// After a change to what policies see of every account of an IAM
    /// (its attribute mapping): the job over every account, while a
    /// policy subscribes automatically (its id).
    pub(crate) async fn resubscribe_everyone(&self, actor: &Actor) -> Result<Option<Uuid>> {
        if self.automatic_policies().await?.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.start_resubscribe_job(actor).await?))
    }

    /// Re-evaluates the accounts among `ids` and in the groups among
    /// them (see [`Directory::reached`]).
    pub(crate) async fn resubscribe_all(&self, audit: &Entry, ids: &[Uuid]) -> Result<()> {
        let reached = self.reached(ids).await?;
        self.resubscribe_reached(audit, reached).await?;
        Ok(())
    }

    /// Re-evaluates what a group write touched.
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
