//! Group memberships: adding and removing members inside a group write
//! (each in one statement, whatever the number, and judged for nesting
//! before the write commits), and reading, streaming and counting them.

use std::collections::HashMap;

use async_trait::async_trait;
use futures_util::{StreamExt, stream};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Backend, Bind, Record, SqlStore, Ty, query};
use crate::ids::{GroupId, IamId};
use crate::store::{Keep, Member, MemberKind, MemberStream, Members, Result, StoreError};

/// A group's members with what `members[].display` shows, by member id
/// (the primary key's order, so the database reads no more than it sends).
const MEMBERS_SQL: &str =
    "SELECT m.member_id, m.member_kind, COALESCE(u.user_name, g.display_name) AS display
     FROM group_members m
     JOIN groups owner ON owner.id = m.group_id AND owner.iam_id = $2
     LEFT JOIN users u ON m.member_kind = 'User' AND u.id = m.member_id
     LEFT JOIN groups g ON m.member_kind = 'Group' AND g.id = m.member_id
     WHERE m.group_id = $1 ORDER BY m.member_id";

/// The members one read of [`Members::stream_members`] brings.
const MEMBER_PAGE: usize = 1024;

/// A page of [`MEMBERS_SQL`]: the members after `after` (from the first),
/// at most [`MEMBER_PAGE`] (written in, not bound: see `sql_filter::page`).
fn member_page(group: GroupId, iam: IamId, after: Option<Uuid>) -> super::Query {
    let after_sql = if after.is_some() {
        "WHERE m.group_id = $1 AND m.member_id > $3 ORDER BY"
    } else {
        "WHERE m.group_id = $1 ORDER BY"
    };
    let sql = MEMBERS_SQL.replace("WHERE m.group_id = $1 ORDER BY", after_sql);
    let page = query(format!("{sql} LIMIT {MEMBER_PAGE}"))
        .bind(group)
        .bind(iam);
    match after {
        Some(id) => page.bind(id),
        None => page,
    }
}

/// A stored `member_kind`.
pub(super) fn kind(s: &str) -> Result<MemberKind> {
    MemberKind::parse(s).ok_or_else(|| StoreError::Corrupt(format!("member kind {s}")))
}

/// A row of the member queries.
fn member_row(r: &impl Record) -> Result<Member> {
    Ok(Member {
        id: r.uuid("member_id")?,
        kind: kind(&r.text("member_kind")?)?,
        display: r.opt_text("display")?,
    })
}

/// Adds members in one statement; members already in the group keep their
/// row. The members it added come back, after the groups among them are
/// judged (under the nesting lock the caller took first, `nesting::lock`).
pub(super) async fn insert<B: Backend>(
    tx: &mut B::Conn,
    group: Uuid,
    members: &[(Uuid, MemberKind)],
    now: OffsetDateTime,
) -> Result<Vec<Uuid>> {
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let rows = B::DIALECT.rows(3, &[("id", Ty::Uuid), ("kind", Ty::Text)]);
    // `WHERE true`: SQLite would read the ON of ON CONFLICT as a join's.
    let sql = format!(
        "INSERT INTO group_members (group_id, member_id, member_kind, added)
         SELECT $1, t.id, t.kind, $2 FROM {rows}
         WHERE true ON CONFLICT DO NOTHING RETURNING member_id"
    );
    let ids: Vec<Uuid> = members.iter().map(|(id, _)| *id).collect();
    let kinds: Vec<String> = members.iter().map(|(_, k)| k.as_str().to_owned()).collect();
    let cols = Bind::Columns(vec![ids.into(), kinds.into()]);
    let rows = B::fetch_all(tx, query(sql).bind(group).bind(now).bind(cols)).await?;
    let added = rows
        .iter()
        .map(|r| r.uuid("member_id"))
        .collect::<Result<Vec<_>>>()?;
    super::nesting::check::<B>(tx, group, members, &added).await?;
    Ok(added)
}

/// Removes members of a group and returns those that were there: the
/// members listed in `ids`, or, with `Keep::Listed`, every member not
/// listed (all of them when `ids` is empty).
pub(super) async fn delete<B: Backend>(
    tx: &mut B::Conn,
    group: Uuid,
    ids: &[Uuid],
    keep: Keep,
) -> Result<Vec<Uuid>> {
    if ids.is_empty() && keep == Keep::Others {
        return Ok(Vec::new());
    }
    let not = match keep {
        Keep::Others => "",
        Keep::Listed => "NOT ",
    };
    let sql = format!(
        "DELETE FROM group_members WHERE group_id = $1 AND member_id {not}IN ({})
         RETURNING member_id",
        B::DIALECT.each(2, Ty::Uuid)
    );
    let rows = B::fetch_all(tx, query(sql).bind(group).bind(ids)).await?;
    rows.iter().map(|r| r.uuid("member_id")).collect()
}

#[async_trait]
impl<B: Backend> Members for SqlStore<B> {
    async fn group_members(&self, iam: IamId, group: GroupId) -> Result<Vec<Member>> {
        let rows = self
            .read_all(query(MEMBERS_SQL).bind(group).bind(iam))
            .await?;
        rows.iter().map(member_row).collect()
    }

    /// The members a page at a time (keyset on the member id), every page
    /// read in one snapshot: a read per page rather than a hand-over from
    /// the database's thread per member (a million-member group is 977
    /// reads, not a million wake-ups).
    fn stream_members(&self, iam: IamId, group: GroupId) -> MemberStream<'_> {
        enum Next<T> {
            Begin,
            After(T, Option<Uuid>),
            Done,
        }
        let pages = stream::unfold(Next::Begin, move |next| async move {
            let (mut tx, after) = match next {
                Next::Begin => match self.snapshot().await {
                    Ok(tx) => (tx, None),
                    Err(e) => return Some((Err(e), Next::Done)),
                },
                Next::After(tx, after) => (tx, after),
                Next::Done => return None,
            };
            let page = async {
                let rows = B::fetch_all(&mut tx, member_page(group, iam, after)).await?;
                rows.iter().map(member_row).collect::<Result<Vec<_>>>()
            }
            .await;
            let next = match &page {
                Ok(p) if p.len() == MEMBER_PAGE => Next::After(tx, p.last().map(|m| m.id)),
                Ok(_) => match B::rollback(tx).await {
                    Ok(()) => Next::Done,
                    Err(e) => return Some((Err(e), Next::Done)),
                },
                Err(_) => Next::Done,
            };
            Some((page, next))
        });
        pages
            .flat_map(|page| {
                let members: Vec<Result<Member>> = match page {
                    Ok(p) => p.into_iter().map(Ok).collect(),
                    Err(e) => vec![Err(e)],
                };
                stream::iter(members)
            })
            .boxed()
    }

    async fn count_members(&self, iam: IamId, group: GroupId, cap: u64) -> Result<u64> {
        // The cap written in, not bound (see `sql_filter::page`: a bound
        // LIMIT re-prepares the statement each time in SQLite).
        let cap = cap.min(i64::MAX as u64);
        let row = self
            .read_one(
                query(format!(
                    "SELECT COUNT(*) AS n FROM (SELECT 1 FROM group_members m
                         JOIN groups g ON g.id = m.group_id AND g.iam_id = $2
                         WHERE m.group_id = $1 LIMIT {cap}) AS capped"
                ))
                .bind(group)
                .bind(iam),
            )
            .await?;
        Ok(row.int("n")? as u64)
    }

    async fn resolve_members(&self, iam: IamId, ids: &[Uuid]) -> Result<HashMap<Uuid, MemberKind>> {
        let mut out = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let each = B::DIALECT.each(2, Ty::Uuid);
        let sql = format!(
            "SELECT id, 'User' AS kind FROM users WHERE iam_id = $1 AND id IN ({each})
             UNION ALL
             SELECT id, 'Group' FROM groups WHERE iam_id = $1 AND id IN ({each})"
        );
        for r in self.read_all(query(sql).bind(iam).bind(ids)).await? {
            out.insert(r.uuid("id")?, kind(&r.text("kind")?)?);
        }
        Ok(out)
    }

    async fn accounts_within(&self, ids: &[Uuid], cap: u64) -> Result<Vec<Uuid>> {
        if ids.is_empty() || cap == 0 {
            return Ok(Vec::new());
        }
        // Down the nesting from the groups among `ids`, each group once
        // (`UNION` ends a cycle stored before writes refused them), along
        // the partial index of group members; then their user members.
        let each = B::DIALECT.each(1, Ty::Uuid);
        let sql = format!(
            "WITH RECURSIVE down(id) AS (
                 SELECT id FROM groups WHERE id IN ({each})
                 UNION
                 SELECT gm.member_id FROM down JOIN group_members gm
                     ON gm.group_id = down.id AND gm.member_kind = 'Group'
             )
             SELECT id FROM users WHERE id IN ({each})
             UNION
             SELECT gm.member_id FROM down JOIN group_members gm
                 ON gm.group_id = down.id AND gm.member_kind = 'User'
             LIMIT $2"
        );
        let q = query(sql).bind(ids).bind(cap.min(i64::MAX as u64) as i64);
        let rows = self.read_all(q).await?;
        rows.iter().map(|r| r.uuid("id")).collect()
    }
}
