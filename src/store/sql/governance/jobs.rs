//! Durable jobs: their state and progress, the accounts they walk in id
//! order, and the policy subscriptions a batch of accounts holds and
//! changes, written in bulk.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use std::collections::HashSet;

use super::super::accounts::{ACCOUNT_COLUMNS, SUBSCRIPTION_COLUMNS, account_row, linked_row};
use super::super::{Backend, Bind, Record, SqlStore, Ty, audit, query};
use crate::audit::{Actor, Entry};
use crate::store::accounts::{LinkedSubscription, PolicySubscription};
use crate::store::governance::{JOB_MOVED, Job, Jobs, MarkedAccount, Progress};
use crate::store::{Result, StoreError};

/// The most subscriptions one statement inserts.
const CHUNK: usize = 2_000;

const JOB_COLUMNS: &str = "id, kind, state, actor, actor_id, cursor, done, total, created, updated";

/// A job's row. A job from before `actor` was kept names an
/// administrator by `actor_id`, or else the command line.
fn job_row(r: &impl Record) -> Result<Job> {
    let actor = match r.opt_text("actor")? {
        Some(a) => {
            Actor::parse(&a).ok_or_else(|| StoreError::Corrupt(format!("a job's actor: {a}")))?
        }
        None => r.opt_uuid("actor_id")?.map_or(Actor::Cli, Actor::Admin),
    };
    Ok(Job {
        id: r.uuid("id")?,
        kind: r.text("kind")?,
        state: r.text("state")?,
        actor,
        cursor: r.opt_uuid("cursor")?,
        done: r.int("done")?,
        total: r.int("total")?,
        created: r.time("created")?,
        updated: r.time("updated")?,
    })
}

#[async_trait]
impl<B: Backend> Jobs for SqlStore<B> {
    async fn create_job(
        &self,
        id: Uuid,
        kind: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Job> {
        let sql = format!(
            "INSERT INTO jobs ({JOB_COLUMNS})
             VALUES ($1, $2, 'running', $3, $4, NULL, 0, (SELECT COUNT(*) FROM users), $5, $5)
             RETURNING {JOB_COLUMNS}"
        );
        let admin = match actor {
            Actor::Admin(id) => Some(*id),
            _ => None,
        };
        let mut tx = self.begin().await?;
        let q = query(sql)
            .bind(id)
            .bind(kind)
            .bind(actor.render())
            .bind(admin)
            .bind(now);
        let row = B::fetch_one(&mut tx, q).await?;
        B::commit(tx).await?;
        job_row(&row)
    }

    async fn job(&self, id: Uuid) -> Result<Option<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row = self.read_optional(query(sql).bind(id)).await?;
        row.as_ref().map(job_row).transpose()
    }

    async fn jobs(&self, state: Option<&str>, limit: u64) -> Result<Vec<Job>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE $1 IS NULL OR state = $1
             ORDER BY created DESC, id DESC LIMIT $2"
        );
        let q = query(sql)
            .bind(state)
            .bind(limit.min(i64::MAX as u64) as i64);
        let rows = self.read_all(q).await?;
        rows.iter().map(job_row).collect()
    }

    async fn next_job(&self) -> Result<Option<Job>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE state = 'running' ORDER BY created, id LIMIT 1"
        );
        let row = self.read_optional(query(sql)).await?;
        row.as_ref().map(job_row).transpose()
    }

    async fn job_running(&self) -> Result<bool> {
        let q = query("SELECT id FROM jobs WHERE state = 'running' LIMIT 1");
        Ok(self.read_optional(q).await?.is_some())
    }

    async fn accounts_after(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<MarkedAccount>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, policy_mark FROM users WHERE id > $1 ORDER BY id LIMIT $2"
        );
        let q = query(sql)
            .bind(after.unwrap_or(Uuid::nil()))
            .bind(limit.min(i64::MAX as u64) as i64);
        let rows = self.read_all(q).await?;
        rows.iter().map(marked_row).collect()
    }

    async fn accounts_by_id(&self, ids: &[Uuid]) -> Result<Vec<MarkedAccount>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, policy_mark FROM users WHERE id IN ({}) ORDER BY id",
            B::DIALECT.each(1, Ty::Uuid)
        );
        let rows = self.read_all(query(sql).bind(ids.to_vec())).await?;
        rows.iter().map(marked_row).collect()
    }

    async fn policy_subscriptions(&self, users: &[Uuid]) -> Result<Vec<LinkedSubscription>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS}, data_source_id, source FROM subscriptions
             WHERE user_id IN ({}) AND source <> 'manual' AND data_source_id IS NOT NULL
             ORDER BY user_id, subscribed, id",
            B::DIALECT.each(1, Ty::Uuid)
        );
        let rows = self.read_all(query(sql).bind(users.to_vec())).await?;
        rows.iter().map(linked_row).collect()
    }

    async fn resubscribe(
        &self,
        add: Vec<PolicySubscription>,
        remove: Vec<(Uuid, Uuid, Entry)>,
        marks: Vec<(Uuid, i64)>,
        progress: Option<Progress>,
        now: OffsetDateTime,
    ) -> Result<Vec<Uuid>> {
        self.write(move |tx| {
            Box::pin(async move {
                let moved = mark::<B>(tx, marks).await?;
                let (add, remove) = if moved.is_empty() {
                    (add, remove)
                } else {
                    let users: HashSet<Uuid> = moved.iter().copied().collect();
                    let add = add
                        .into_iter()
                        .filter(|p| !users.contains(&p.subscription.user_id))
                        .collect();
                    let remove = remove
                        .into_iter()
                        .filter(|(_, user, _)| !users.contains(user))
                        .collect();
                    (add, remove)
                };
                // Removals first: one replaced by another policy's frees
                // its data source.
                let mut records = unsubscribe::<B>(tx, remove).await?;
                records.extend(subscribe::<B>(tx, add, now).await?);
                audit::append_all::<B>(tx, &records, now).await?;
                if let Some(p) = progress {
                    advance::<B>(tx, p, now).await?;
                }
                Ok(moved)
            })
        })
        .await
    }
}

fn marked_row(r: &impl Record) -> Result<MarkedAccount> {
    Ok(MarkedAccount {
        account: account_row(r)?,
        mark: r.int("policy_mark")?,
    })
}

/// Moves the re-evaluation mark of each account of `marks` still at the
/// mark given; the others (re-evaluated meanwhile), in no order.
async fn mark<B: Backend>(tx: &mut B::Conn, marks: Vec<(Uuid, i64)>) -> Result<Vec<Uuid>> {
    if marks.is_empty() {
        return Ok(Vec::new());
    }
    let rows = B::DIALECT.rows(1, &[("user_id", Ty::Uuid), ("mark", Ty::Int)]);
    let sql = format!(
        "UPDATE users SET policy_mark = policy_mark + 1 FROM {rows}
         WHERE users.id = t.user_id AND users.policy_mark = t.mark
         RETURNING id"
    );
    let (ids, values): (Vec<Uuid>, Vec<i64>) = marks.iter().copied().unzip();
    let q = query(sql).bind(Bind::Columns(vec![ids.into(), values.into()]));
    let moved: HashSet<Uuid> = B::fetch_all(tx, q)
        .await?
        .iter()
        .map(|r| r.uuid("id"))
        .collect::<Result<_>>()?;
    Ok(marks
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| !moved.contains(id))
        .collect())
}

/// Deletes the subscriptions of `remove` that are still there and a
/// policy's; the records of those deleted.
async fn unsubscribe<B: Backend>(
    tx: &mut B::Conn,
    remove: Vec<(Uuid, Uuid, Entry)>,
) -> Result<Vec<Entry>> {
    if remove.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = remove.iter().map(|(id, _, _)| *id).collect();
    let sql = format!(
        "DELETE FROM subscriptions WHERE id IN ({}) AND source <> 'manual' RETURNING id",
        B::DIALECT.each(1, Ty::Uuid)
    );
    let gone: HashSet<Uuid> = B::fetch_all(tx, query(sql).bind(ids))
        .await?
        .iter()
        .map(|r| r.uuid("id"))
        .collect::<Result<_>>()?;
    Ok(remove
        .into_iter()
        .filter(|(id, _, _)| gone.contains(id))
        .map(|(_, _, e)| e)
        .collect())
}

/// Inserts the subscriptions of `add` but those whose account holds a
/// policy subscription to that data source already (migration 0012's
/// unique index); the records of those inserted.
async fn subscribe<B: Backend>(
    tx: &mut B::Conn,
    add: Vec<PolicySubscription>,
    now: OffsetDateTime,
) -> Result<Vec<Entry>> {
    if add.is_empty() {
        return Ok(Vec::new());
    }
    let rows = B::DIALECT.rows(
        3,
        &[
            ("id", Ty::Uuid),
            ("user_id", Ty::Uuid),
            ("data_source", Ty::Text),
            ("data_source_id", Ty::Uuid),
            ("source", Ty::Text),
        ],
    );
    let sql = format!(
        "INSERT INTO subscriptions
             (id, user_id, data_source, role, subscribed, expires, data_source_id, source)
         SELECT t.id, t.user_id, t.data_source, $1, $2, NULL, t.data_source_id, t.source
         FROM {rows} WHERE true
         ON CONFLICT (user_id, data_source_id) WHERE source <> 'manual' DO NOTHING
         RETURNING id"
    );
    let mut inserted = HashSet::new();
    for chunk in add.chunks(CHUNK) {
        let column =
            |f: fn(&PolicySubscription) -> Uuid| -> Vec<Uuid> { chunk.iter().map(f).collect() };
        let text = |f: fn(&PolicySubscription) -> &String| -> Vec<String> {
            chunk.iter().map(|p| f(p).clone()).collect()
        };
        let columns = Bind::Columns(vec![
            column(|p| p.subscription.id).into(),
            column(|p| p.subscription.user_id).into(),
            text(|p| &p.subscription.data_source).into(),
            column(|p| p.data_source_id.uuid()).into(),
            text(|p| &p.source).into(),
        ]);
        // Every subscription a policy adds is a subscriber's, from now on.
        let q = query(sql.clone())
            .bind("subscriber")
            .bind(now)
            .bind(columns);
        for r in B::fetch_all(tx, q).await? {
            inserted.insert(r.uuid("id")?);
        }
    }
    Ok(add
        .into_iter()
        .filter(|p| inserted.contains(&p.subscription.id))
        .map(|p| p.audit)
        .collect())
}

async fn advance<B: Backend>(tx: &mut B::Conn, p: Progress, now: OffsetDateTime) -> Result<()> {
    let state = if p.finished { "done" } else { "running" };
    let q = query(
        "UPDATE jobs SET cursor = COALESCE($2, cursor), done = done + $3, state = $4,
         updated = $5
         WHERE id = $1 AND state = 'running' AND COALESCE(cursor, $6) = $7",
    )
    .bind(p.job)
    .bind(p.cursor)
    .bind(p.n)
    .bind(state)
    .bind(now)
    .bind(Uuid::nil())
    .bind(p.from.unwrap_or(Uuid::nil()));
    match B::execute(tx, q).await? {
        0 => Err(StoreError::Conflict(JOB_MOVED)),
        _ => Ok(()),
    }
}
