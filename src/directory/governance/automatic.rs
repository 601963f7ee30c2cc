//! Automatic subscriptions (issue 18, item 5): an account re-evaluated
//! against every policy and every registered data source, its policy
//! subscriptions (`source: "policy:<policyKey>"`) made to match what the
//! policies with `automaticSubscription` admit. Manual subscriptions are
//! never touched. Writes that change what policies see of an account call
//! [`Directory::resubscribe`] before they answer; while no active policy
//! subscribes automatically that costs one cached check. Accounts are
//! re-evaluated a batch at a time: their inputs and subscriptions read in
//! a few statements for the whole batch, each weighed once per distinct
//! tag set of the data sources (`index`), the differences written in one
//! transaction.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::index::{Kept, SourceIndex};
use crate::audit::{Actor, Entry};
use crate::directory::Directory;
use crate::directory::Result;
use crate::directory::changes::{self, GroupChange};
use crate::directory::ids::{DataSourceId, UserId};
use crate::policy::Policy;
use crate::store::GroupRecords;
use crate::store::StoreError;
use crate::store::accounts::{Account, LinkedSubscription, PolicySubscription, Subscription};
use crate::store::governance::{JOB_MOVED, MarkedAccount, Progress};
use uuid::Uuid;

/// The most accounts one request's re-evaluation writes in one
/// transaction (a group write may touch many members).
const BATCH: usize = 500;

/// Every policy as recently read, parsed, and whether an active one
/// subscribes automatically (every SCIM write asks; an evaluation weighs
/// them all). Beside them, the registered data sources by tag set.
#[derive(Clone)]
pub struct AutomaticCache {
    policies: Kept<PolicySet>,
    sources: Kept<SourceIndex>,
}

/// Every policy, parsed, in key order.
pub(super) struct PolicySet {
    pub all: Arc<Vec<Policy>>,
    /// Whether an active one subscribes automatically.
    automatic: bool,
}

impl PolicySet {
    /// `all`, as the same value as `before` when they are the same
    /// policies (so that what was worked out for them is kept).
    fn new(all: Vec<Policy>, before: Option<Arc<PolicySet>>) -> PolicySet {
        let automatic = all
            .iter()
            .any(|p| !p.staged && p.actions.automatic_subscription);
        let all = match before {
            Some(b) if *b.all == all => b.all.clone(),
            _ => Arc::new(all),
        };
        PolicySet { all, automatic }
    }
}

impl AutomaticCache {
    pub fn new(ttl: Duration) -> Self {
        AutomaticCache {
            policies: Kept::new(ttl),
            sources: Kept::new(ttl),
        }
    }

    /// Forgets what was read: a policy or a data source changed here.
    pub(super) fn forget(&self) {
        self.policies.forget();
        self.sources.forget();
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
    /// Every policy, parsed, as read in the last `token_cache_ms` (or
    /// since a policy changed here).
    pub(super) async fn policy_set(&self) -> Result<Arc<PolicySet>> {
        self.automatic_cache
            .policies
            .get_or_read(|before| async move {
                Ok(PolicySet::new(self.stored_policies().await?, before))
            })
            .await
    }

    /// Every policy, when an active one subscribes automatically; none
    /// otherwise (then nothing is re-evaluated).
    pub(super) async fn automatic_policies(&self) -> Result<Arc<Vec<Policy>>> {
        let set = self.policy_set().await?;
        Ok(if set.automatic {
            set.all.clone()
        } else {
            Arc::default()
        })
    }

    /// The registered data sources by tag set, as read in the last
    /// `token_cache_ms` (or since one changed here).
    pub(super) async fn source_index(&self) -> Result<Arc<SourceIndex>> {
        self.automatic_cache
            .sources
            .get_or_read(|before| self.index_again(before))
            .await
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
        self.resubscribe_accounts(audit, &ids).await?;
        Ok(None)
    }

    /// The registered data sources by tag set, read now.
    pub(super) async fn read_source_index(&self) -> Result<Arc<SourceIndex>> {
        self.automatic_cache
            .sources
            .read_now(|before| self.index_again(before))
            .await
    }

    /// The registered data sources by tag set, read now, with what was
    /// worked out for the same sets `before`.
    async fn index_again(&self, before: Option<Arc<SourceIndex>>) -> Result<SourceIndex> {
        let sources = self.store.tagged_sources().await?;
        Ok(SourceIndex::again(sources, before.as_deref()))
    }

    /// Re-evaluates the accounts of `ids` (an id that is no account's is
    /// skipped), after one cached check, a batch at a time.
    async fn resubscribe_accounts(&self, audit: &Entry, ids: &[Uuid]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let policies = self.automatic_policies().await?;
        if policies.is_empty() {
            return Ok(());
        }
        let index = self.source_index().await?;
        for batch in ids.chunks(BATCH) {
            let accounts = self.store.accounts_by_id(batch).await?;
            self.reconcile(audit, accounts, policies.clone(), index.clone(), None)
                .await?;
        }
        Ok(())
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
        self.resubscribe_accounts(audit, &[user.uuid()]).await
    }

    /// [`Directory::resubscribe`] for `accounts` at once, against the
    /// policies and data sources given (with no automatic policy it
    /// removes every policy subscription); every change in one
    /// transaction, with a job's `progress` when a job runs it. An account
    /// re-evaluated by another meanwhile (its mark moved since it was
    /// read) is read and re-evaluated again: a decision is written only
    /// from inputs read after every re-evaluation written before it.
    pub(super) async fn reconcile(
        &self,
        audit: &Entry,
        accounts: Vec<MarkedAccount>,
        policies: Arc<Vec<Policy>>,
        index: Arc<SourceIndex>,
        progress: Option<Progress>,
    ) -> Result<()> {
        let (mut accounts, mut progress) = (accounts, progress);
        for _ in 0..=RETRIES {
            let moved = self
                .reconcile_once(
                    audit,
                    &accounts,
                    policies.clone(),
                    index.clone(),
                    progress.take(),
                )
                .await?;
            if moved.is_empty() {
                return Ok(());
            }
            accounts = self.store.accounts_by_id(&moved).await?;
        }
        tracing::warn!(
            accounts = accounts.len(),
            "re-evaluated by others {RETRIES} times in a row meanwhile: left to them"
        );
        Ok(())
    }

    /// One try of [`Directory::reconcile`]: the accounts whose mark moved
    /// meanwhile, for which nothing was written.
    async fn reconcile_once(
        &self,
        audit: &Entry,
        accounts: &[MarkedAccount],
        policies: Arc<Vec<Policy>>,
        index: Arc<SourceIndex>,
        progress: Option<Progress>,
    ) -> Result<Vec<Uuid>> {
        let plain: Vec<&Account> = accounts.iter().map(|a| &a.account).collect();
        let ids: Vec<Uuid> = plain.iter().map(|a| a.id).collect();
        let (inputs, held) = tokio::try_join!(self.policy_accounts(&plain), async {
            Ok(self.store.policy_subscriptions(&ids).await?)
        })?;
        // A subscription to a data source registered after the index was
        // read: read it again, so as not to take that subscription away.
        let unknown = held
            .iter()
            .any(|h| h.data_source_id.is_some_and(|d| index.set_of(d).is_none()));
        let index = if unknown {
            self.read_source_index().await?
        } else {
            index
        };
        let mut held_by: HashMap<Uuid, Vec<&LinkedSubscription>> = HashMap::new();
        for h in &held {
            held_by.entry(h.subscription.user_id).or_default().push(h);
        }
        let decider = index.decider(&policies);
        let mut changes = Changes {
            audit,
            index: &index,
            now: self.now(),
            add: Vec::new(),
            remove: Vec::new(),
        };
        let mut marks = Vec::new();
        let mut unchanged = Vec::new();
        for (account, inputs) in accounts.iter().zip(&inputs) {
            let id = account.account.id;
            let held = held_by.remove(&id).unwrap_or_default();
            let keys = decider.automatic(&policies, &index.sets, inputs);
            let before = (changes.add.len(), changes.remove.len());
            changes.account(id, &keys, &held, || self.new_id());
            if before == (changes.add.len(), changes.remove.len()) {
                unchanged.push((id, account.mark));
            } else {
                marks.push((id, account.mark));
            }
        }
        // While a job runs, an account's own re-evaluation marks it even
        // when nothing changes: a batch that read the account before the
        // write that led here must not write what it decided then.
        if progress.is_none() && !unchanged.is_empty() && self.store.job_running().await? {
            marks.extend(unchanged);
        }
        let Changes {
            add, remove, now, ..
        } = changes;
        if marks.is_empty() && progress.is_none() {
            return Ok(Vec::new());
        }
        match self
            .store
            .resubscribe(add, remove, marks, progress, now)
            .await
        {
            // Another node did this batch of the job first: nothing of it
            // was written; the job goes on from where that node left it.
            Err(StoreError::Conflict(JOB_MOVED)) => Ok(Vec::new()),
            done => Ok(done?),
        }
    }
}

/// How many times an account re-evaluated by others meanwhile is read
/// and re-evaluated again.
const RETRIES: usize = 8;

/// What re-evaluating a batch of accounts changes.
struct Changes<'a> {
    audit: &'a Entry,
    index: &'a SourceIndex,
    now: time::OffsetDateTime,
    add: Vec<PolicySubscription>,
    remove: Vec<(Uuid, Uuid, Entry)>,
}

impl Changes<'_> {
    /// One account's changes: `keys`, for each tag set of the index, the
    /// automatic policies admitting the account to its data sources;
    /// `held`, its policy subscriptions. Each admitted data source keeps
    /// the subscription of a policy that still admits the account there;
    /// every other policy subscription goes; each admitted data source
    /// without one gets one, in the name of the first policy admitting.
    /// A policy subscription whose data source was deleted from the
    /// registry is not held here: it stays, like any other
    /// (docs/GOVERNANCE.md).
    fn account(
        &mut self,
        user: Uuid,
        keys: &[Vec<&str>],
        held: &[&LinkedSubscription],
        mut new_id: impl FnMut() -> Uuid,
    ) {
        let mut kept: HashSet<DataSourceId> = HashSet::new();
        for h in held.iter().filter(|h| h.source.starts_with("policy:")) {
            let Some(d) = h.data_source_id else { continue };
            let still = !kept.contains(&d)
                && self
                    .index
                    .set_of(d)
                    .is_some_and(|i| keys[i].iter().any(|k| source_of(k) == h.source));
            if still {
                kept.insert(d);
            } else {
                let record = changes::policy_subscription(
                    self.audit,
                    "subscription.removed",
                    user,
                    &h.source,
                );
                self.remove.push((h.subscription.id, user, record));
            }
        }
        for (i, keys) in keys.iter().enumerate() {
            let Some(first) = keys.first() else { continue };
            let source = source_of(first);
            for s in self.index.members[i]
                .iter()
                .filter(|s| !kept.contains(&s.id))
            {
                self.add.push(PolicySubscription {
                    subscription: Subscription {
                        id: new_id(),
                        user_id: user,
                        data_source: s.name.clone(),
                        role: "subscriber".to_owned(),
                        subscribed: self.now,
                        expires: None,
                    },
                    data_source_id: s.id,
                    audit: changes::policy_subscription(
                        self.audit,
                        "subscription.added",
                        user,
                        &source,
                    ),
                    source: source.clone(),
                });
            }
        }
    }
}
