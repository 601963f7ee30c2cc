//! Reading accounts: one by id, and the account list (console Users
//! screen, admin API) through the statements `store::account_list` builds
//! for each database.

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::super::{Backend, Bind, Dialect, Query, Record, SqlStore, query};
use crate::store::Result;
use crate::store::account_list::{self, AccountSeek, SearchPlan, Statement};
use crate::store::accounts::{Account, AccountList, AccountQuery, AccountSort};

pub(crate) const ACCOUNT_COLUMNS: &str = "id, iam_id, deprovisioned_from, deprovisioned, user_name, doc, \
     active, disabled, created, last_modified, version, token_generation";

#[async_trait]
impl<B: Backend> AccountList for SqlStore<B> {
    async fn account(&self, id: Uuid) -> Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE id = $1");
        let row = self.read_optional(query(sql).bind(id)).await?;
        row.as_ref().map(account_row).transpose()
    }

    /// A read a replica may serve (`Backend::scaled`).
    async fn list_accounts(&self, q: &AccountQuery) -> Result<(Vec<Account>, u64)> {
        let q = Arc::new(q.clone());
        self.scaled(move |c| {
            let q = q.clone();
            Box::pin(async move { list_on::<B>(c, &q).await })
        })
        .await
    }

    async fn explain_accounts(&self, q: &AccountQuery) -> Result<String> {
        let (seek, plan) = {
            let mut c = self.read().await?;
            (
                seek::<B>(&mut c, q).await?,
                search_plan::<B>(&mut c, q).await?,
            )
        };
        let page = account_list::page(q, seek.as_ref(), ACCOUNT_COLUMNS, B::DIALECT, plan);
        let mut out = Vec::new();
        for st in [page, total::<B>(q, plan)] {
            out.push(self.explain(Query::with(st.sql, st.binds)).await?);
            out.push("--".to_owned());
        }
        Ok(out.join("\n"))
    }
}

/// A page of the account list and its total, read on `c`.
async fn list_on<B: Backend>(c: &mut B::Conn, q: &AccountQuery) -> Result<(Vec<Account>, u64)> {
    let seek = seek::<B>(c, q).await?;
    let plan = search_plan::<B>(c, q).await?;
    let page = account_list::page(q, seek.as_ref(), ACCOUNT_COLUMNS, B::DIALECT, plan);
    let rows = B::fetch_all(c, statement::<B>(page, q)).await?;
    let mut items: Vec<Account> = rows.iter().map(account_row).collect::<Result<_>>()?;
    if seek.as_ref().is_some_and(|s| s.before) {
        items.reverse();
    }
    let total = B::fetch_one(c, statement::<B>(total::<B>(q, plan), q))
        .await?
        .int(0)?;
    Ok((items, total.max(0) as u64))
}

/// A list statement to run. A search's is planned for its pattern each
/// time: one generic plan cannot serve both a rare substring (the trigram
/// index) and a common one (the list index); PostgreSQL may settle on one
/// after five runs (40 ms instead of 2 for a capped count at 100,000 users).
fn statement<B: Backend>(st: Statement, q: &AccountQuery) -> Query {
    let stmt = Query::with(st.sql, st.binds);
    // SQLite plans each statement once and has no generic plan to fear.
    if q.search.is_some() && B::DIALECT == Dialect::Postgres {
        stmt.planned_each_time()
    } else {
        stmt
    }
}

/// The total a list shows: kept counts for an unfiltered list, else a
/// count (capped when asked).
fn total<B: Backend>(q: &AccountQuery, plan: SearchPlan) -> Statement {
    if account_list::kept_total(q) {
        account_list::kept_total_statement(q, B::DIALECT)
    } else {
        account_list::count_statement(q, q.count_cap, B::DIALECT, plan)
    }
}

/// How the list finds a search's rows: through SQLite's trigram index when
/// it holds few candidates for the substring (PostgreSQL's planner chooses
/// by itself).
async fn search_plan<B: Backend>(c: &mut B::Conn, q: &AccountQuery) -> Result<SearchPlan> {
    let Some(probe) = account_list::trigram_probe(q, B::DIALECT) else {
        return Ok(SearchPlan::Walk);
    };
    let n = B::fetch_one(c, Query::with(probe.sql, probe.binds))
        .await?
        .int(0)?;
    Ok(account_list::plan_for(Some(n.max(0) as u64)))
}

/// The sort key of the row a page starts from; None when the row is gone
/// (the page then starts at the beginning).
async fn seek<B: Backend>(c: &mut B::Conn, q: &AccountQuery) -> Result<Option<AccountSeek>> {
    let Some(from) = q.from else { return Ok(None) };
    let sql = format!(
        "SELECT {} FROM users WHERE id = $1",
        account_list::key_column(q.sort)
    );
    let Some(row) = B::fetch_optional(c, query(sql).bind(from.id)).await? else {
        return Ok(None);
    };
    let key = match q.sort {
        AccountSort::UserName => Bind::Text(row.text(0)?),
        AccountSort::Created | AccountSort::LastModified => Bind::Time(row.time(0)?),
    };
    Ok(Some(AccountSeek {
        key,
        id: from.id,
        before: from.before,
    }))
}

pub(crate) fn account_row(r: &impl Record) -> Result<Account> {
    Ok(Account {
        id: r.uuid("id")?,
        iam_id: r.opt_uuid("iam_id")?,
        deprovisioned_from: r.opt_uuid("deprovisioned_from")?,
        deprovisioned: r.opt_time("deprovisioned")?,
        user_name: r.text("user_name")?,
        doc: r.json("doc")?,
        active: r.bool("active")?,
        disabled: r.bool("disabled")?,
        created: r.time("created")?,
        last_modified: r.time("last_modified")?,
        version: r.int("version")?,
        token_generation: r.int("token_generation")?,
    })
}
