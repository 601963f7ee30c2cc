//! Durable jobs (issue 18, item 5): a change to policies or to data
//! sources' tags may change what every account is admitted to, so it
//! starts a job that re-evaluates every account, a batch at a time
//! (`job_batch_size`), each batch's changes and progress in one
//! transaction: short, so that SCIM writes are never held up for long
//! (on SQLite it is one of the group commit's writes). A restarted
//! process resumes after the last batch done (`run_jobs`); a node
//! configured with `jobs = false` runs none.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use uuid::Uuid;

use super::index::SourceIndex;
use crate::audit::{Actor, Entry};
use crate::directory::accounts::Ctx;
use crate::directory::permissions::may;
use crate::directory::{Directory, Error, Result, Timestamp};
use crate::policy::Policy;
use crate::store::governance::{Job, Progress, RESUBSCRIBE};

/// How long the worker waits for news before it looks again (a job
/// another process started).
const IDLE: Duration = Duration::from_secs(5);

/// A job as `GET /api/v1/jobs/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub id: Uuid,
    /// What it does: `resubscribe` (every account's automatic
    /// subscriptions re-evaluated).
    pub kind: String,
    /// `running` or `done`.
    pub state: String,
    /// The accounts re-evaluated so far.
    pub done: i64,
    /// The accounts there were when it started.
    pub total: i64,
    pub created: Timestamp,
    pub updated: Timestamp,
}

/// The latest jobs, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobPage {
    pub hits: Vec<JobView>,
    pub count: u64,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        JobView {
            id: j.id,
            kind: j.kind,
            state: j.state,
            done: j.done,
            total: j.total,
            created: Timestamp(j.created),
            updated: Timestamp(j.updated),
        }
    }
}

impl Directory {
    /// Starts re-evaluating every account for a change `actor` made; the
    /// job's id.
    pub(super) async fn start_resubscribe_job(&self, actor: &Actor) -> Result<Uuid> {
        let job = self
            .store
            .create_job(self.new_id(), RESUBSCRIBE, actor, self.now())
            .await?;
        self.jobs_wake.notify_one();
        Ok(job.id)
    }

    /// Whether an active policy subscribes automatically (cached).
    pub(super) async fn automatic_now(&self) -> Result<bool> {
        Ok(!self.automatic_policies().await?.is_empty())
    }

    /// After a change of data sources' tags: re-evaluates every account
    /// while a policy subscribes automatically (the job's id).
    pub(super) async fn tags_changed(&self, ctx: &Ctx) -> Result<Option<Uuid>> {
        self.policies_changed(ctx, false).await
    }

    /// After a policy change (`before`: whether a policy subscribed
    /// automatically before it): re-evaluates every account if one does
    /// before or after (the job's id).
    pub(super) async fn policies_changed(&self, ctx: &Ctx, before: bool) -> Result<Option<Uuid>> {
        self.automatic_cache.forget();
        if !before && !self.automatic_now().await? {
            return Ok(None);
        }
        Ok(Some(self.start_resubscribe_job(&ctx.actor).await?))
    }

    pub async fn job(&self, ctx: &Ctx, id: Uuid) -> Result<JobView> {
        ctx.require(may::READ_GOVERNANCE)?;
        let job = self.store.job(id).await?;
        Ok(job
            .ok_or_else(|| Error::not_found(format!("no job with id {id}")))?
            .into())
    }

    /// The latest jobs (`state`: only those `running` or `done`), newest
    /// first: the jobs a change started without naming them in its answer
    /// (a SCIM group write that reached many accounts).
    pub async fn jobs(&self, ctx: &Ctx, state: Option<&str>, limit: u64) -> Result<JobPage> {
        ctx.require(may::READ_GOVERNANCE)?;
        if let Some(s) = state.filter(|s| !matches!(*s, "running" | "done")) {
            return Err(Error::invalid_value(format!(
                "state is running or done, not '{}'",
                crate::directory::truncate(s)
            )));
        }
        let hits: Vec<JobView> = self
            .store
            .jobs(state, limit)
            .await?
            .into_iter()
            .map(JobView::from)
            .collect();
        Ok(JobPage {
            count: hits.len() as u64,
            hits,
        })
    }

    /// Runs the jobs, oldest first, a batch at a time, for as long as the
    /// process lives: what was left running before a restart first.
    /// Between batches it yields to other work (see [`pause`]).
    pub async fn run_jobs(self) {
        let mut running: Option<Running> = None;
        loop {
            let started = Instant::now();
            match self.job_batch(&mut running).await {
                Ok(Some(n)) => match pause(n, started.elapsed(), self.others_working().await) {
                    Some(d) => tokio::time::sleep(d).await,
                    None => tokio::task::yield_now().await,
                },
                Ok(None) => {
                    let _ = tokio::time::timeout(IDLE, self.jobs_wake.notified()).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "running a job");
                    let _ = tokio::time::timeout(IDLE, self.jobs_wake.notified()).await;
                }
            }
        }
    }

    /// Whether others use the database: asked a few times over a couple
    /// of milliseconds, since between two requests' statements an
    /// instant can find every connection idle under a steady load.
    async fn others_working(&self) -> bool {
        for _ in 0..3 {
            if self.others_at_work() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        false
    }

    /// One batch of the oldest running job: how many accounts it took
    /// (None: there was none).
    async fn job_batch(&self, running: &mut Option<Running>) -> Result<Option<usize>> {
        let Some(job) = self.store.next_job().await? else {
            return Ok(None);
        };
        let batch = self.limits.job_batch_size.max(1);
        let (policies, accounts) = tokio::try_join!(self.stored_policies(), async {
            Ok(self.store.accounts_after(job.cursor, batch).await?)
        })?;
        let run = match running.take() {
            Some(r) if r.job == job.id => r.again(policies),
            _ => Running {
                job: job.id,
                sources: self.read_source_index().await?,
                policies: Arc::new(policies),
            },
        };
        let audit = Entry::new(job.actor.clone(), "");
        let n = accounts.len();
        let progress = Progress {
            job: job.id,
            from: job.cursor,
            cursor: accounts.last().map(|a| a.account.id),
            n: accounts.len() as i64,
            finished: (accounts.len() as u64) < batch,
        };
        let done = self
            .reconcile(
                &audit,
                accounts,
                run.policies.clone(),
                run.sources.clone(),
                Some(progress),
            )
            .await;
        *running = Some(run);
        done.map(|()| Some(n))
    }
}

/// What the running job weighs: the data sources as read when it started
/// (or resumed here), after the change that started it; the policies as
/// read for its last batch.
struct Running {
    job: Uuid,
    sources: Arc<SourceIndex>,
    policies: Arc<Vec<Policy>>,
}

impl Running {
    /// The policies read for the next batch: the same value as before when
    /// they did not change, so that what was worked out for them is kept.
    fn again(self, policies: Vec<Policy>) -> Running {
        if *self.policies == policies {
            self
        } else {
            Running {
                policies: Arc::new(policies),
                ..self
            }
        }
    }
}

/// The pace of a job while other work uses the database, in accounts a
/// second: 100,000 accounts in 40 s. A job that could go faster pauses
/// between batches to keep to it, leaving the rest of the time to SCIM
/// traffic; one that cannot goes as fast as it can.
const PACE: f64 = 2_500.0;

/// The longest pause between two batches.
const MOST_PAUSE: Duration = Duration::from_secs(2);

/// How long the job pauses after a batch of `n` accounts that took
/// `took`: while others use the database (`busy`), what keeps it to
/// [`PACE`]; otherwise not at all (None), a quiet database being all the
/// job's.
fn pause(n: usize, took: Duration, busy: bool) -> Option<Duration> {
    let paced = Duration::from_secs_f64(n as f64 / PACE);
    busy.then(|| paced.saturating_sub(took).min(MOST_PAUSE))
}
