//! Durable jobs: their state and progress, and the accounts they walk in
//! id order.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::{Backend, Record, SqlStore, query};
use crate::store::Result;
use crate::store::governance::{Job, Jobs};

const JOB_COLUMNS: &str = "id, kind, state, actor_id, cursor, done, total, created, updated";

fn job_row(r: &impl Record) -> Result<Job> {
    Ok(Job {
        id: r.uuid("id")?,
        kind: r.text("kind")?,
        state: r.text("state")?,
        actor: r.opt_uuid("actor_id")?,
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
        actor: Option<Uuid>,
        now: OffsetDateTime,
    ) -> Result<Job> {
        let sql = format!(
            "INSERT INTO jobs ({JOB_COLUMNS})
             VALUES ($1, $2, 'running', $3, NULL, 0, (SELECT COUNT(*) FROM users), $4, $4)
             RETURNING {JOB_COLUMNS}"
        );
        let mut tx = self.begin().await?;
        let row = B::fetch_one(
            &mut tx,
            query(sql).bind(id).bind(kind).bind(actor).bind(now),
        )
        .await?;
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

    async fn accounts_after(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<Uuid>> {
        let q = query("SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after.unwrap_or(Uuid::nil()))
            .bind(limit.min(i64::MAX as u64) as i64);
        let rows = self.read_all(q).await?;
        rows.iter().map(|r| r.uuid("id")).collect()
    }

    async fn advance_job(
        &self,
        id: Uuid,
        cursor: Option<Uuid>,
        n: i64,
        finished: bool,
        now: OffsetDateTime,
    ) -> Result<()> {
        let state = if finished { "done" } else { "running" };
        let q = query(
            "UPDATE jobs SET cursor = COALESCE($2, cursor), done = done + $3, state = $4,
             updated = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(cursor)
        .bind(n)
        .bind(state)
        .bind(now);
        let mut tx = self.begin().await?;
        B::execute(&mut tx, q).await?;
        B::commit(tx).await
    }
}
