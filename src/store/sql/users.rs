//! Users: their rows (with the `user_emails` index and default grants),
//! replaces, bulk loads; reading one with the groups it is in. Every
//! write appends the records the domain gives it, all or nothing with it
//! (its own transaction, or its savepoint of a SQLite group commit).

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::lists::{self, conditional, created, stored, update_row, updated};
use super::{Backend, Bind, Query, Record, SqlStore, Ty, audit, query, unique};
use crate::audit::Entry;
use crate::ids::{IamId, UserId};
use crate::store::{GroupRef, Result, Stored, UserWrite, Users, email_values};

/// The unique index a user's write can hit (its userName in its IAM).
const INDEX: &str = "users_iam_user_name";

/// Rewrites the `user_emails` rows of a user from its search document.
pub async fn write_emails<B: Backend>(tx: &mut B::Conn, user: Uuid, search: &Value) -> Result<()> {
    B::execute(
        tx,
        query("DELETE FROM user_emails WHERE user_id = $1").bind(user),
    )
    .await?;
    insert_emails::<B>(tx, user, search).await
}

/// Adds the `user_emails` rows of a user's search document, in one
/// statement whatever their number.
pub async fn insert_emails<B: Backend>(tx: &mut B::Conn, user: Uuid, search: &Value) -> Result<()> {
    let values = email_values(search);
    if values.is_empty() {
        return Ok(());
    }
    // `WHERE true`: SQLite would read the ON of ON CONFLICT as a join's.
    let rows = B::DIALECT.rows(2, &[("value", Ty::Text)]);
    let sql = format!(
        "INSERT INTO user_emails (value, user_id) SELECT t.value, $1 FROM {rows}
         WHERE true ON CONFLICT DO NOTHING"
    );
    let values = Bind::Columns(vec![values.into()]);
    B::execute(tx, query(sql).bind(user).bind(values)).await?;
    Ok(())
}

/// The rows of a new user, inside the caller's transaction.
pub(super) async fn insert_user_rows<B: Backend>(
    tx: &mut B::Conn,
    iam: IamId,
    id: Uuid,
    u: &UserWrite,
    now: OffsetDateTime,
) -> Result<()> {
    let insert = query(
        "INSERT INTO users (id, iam_id, user_name, user_name_folded, external_id,
                            display_name_folded, active, doc, password_hash, created,
                            last_modified, version, search)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, 1, $11)",
    );
    let insert = bind_columns(insert.bind(id).bind(iam), u)
        .bind(u.password_hash.clone().flatten())
        .bind(now)
        .bind(&u.search);
    B::execute(tx, insert).await.map_err(|e| unique(e, INDEX))?;
    // A new user has no rows to delete first.
    insert_emails::<B>(tx, id, &u.search).await
}

/// A new user with its default grants, inside the caller's transaction.
pub(super) async fn create_user_rows<B: Backend>(
    tx: &mut B::Conn,
    iam: IamId,
    id: Uuid,
    u: &UserWrite,
    grants: &[String],
    now: OffsetDateTime,
) -> Result<()> {
    insert_user_rows::<B>(tx, iam, id, u, now).await?;
    super::accounts::grant_defaults::<B>(tx, id, grants, now).await
}

/// Binds a user's identity columns in the order every statement that
/// writes them lists them: userName (as given, and folded), externalId,
/// the folded displayName, active, the document.
pub(super) fn bind_columns(q: Query, u: &UserWrite) -> Query {
    q.bind(u.user_name.as_str())
        .bind(u.user_name.folded())
        .bind(&u.external_id)
        .bind(&u.display_name_folded)
        .bind(u.active)
        .bind(&u.doc)
}

/// The statement that sets a user's document and columns, moves its
/// version and lastModified, and returns when it was created and its new
/// version; no row when the user is not in the IAM or (`if_version`) is at
/// another version. The key columns (userName, externalId, displayName)
/// are assigned only when they may have changed (`keys_unchanged`).
fn update_user(
    iam: IamId,
    id: UserId,
    u: &UserWrite,
    if_version: Option<i64>,
    now: OffsetDateTime,
) -> Query {
    let (keys, first) = if u.keys_unchanged {
        ("", 1)
    } else {
        (
            "user_name = $1, user_name_folded = $2, external_id = $3, display_name_folded = $4,",
            5,
        )
    };
    let n = |i: usize| format!("${}", first + i);
    let sql = format!(
        "UPDATE users SET {keys} active = {}, doc = {},
                password_hash = CASE WHEN {} THEN {} ELSE password_hash END,
                last_modified = {}, version = version + 1, search = {}
         WHERE id = {} AND iam_id = {}{} RETURNING created, version",
        n(0),
        n(1),
        n(2),
        n(3),
        n(4),
        n(5),
        n(6),
        n(7),
        conditional(first + 8, if_version)
    );
    let update = if u.keys_unchanged {
        query(sql).bind(u.active).bind(&u.doc)
    } else {
        bind_columns(query(sql), u)
    };
    let update = update
        .bind(u.password_hash.is_some())
        .bind(u.password_hash.clone().flatten())
        .bind(now)
        .bind(&u.search)
        .bind(id)
        .bind(iam);
    match if_version {
        Some(v) => update.bind(v),
        None => update,
    }
}

#[async_trait]
impl<B: Backend> Users for SqlStore<B> {
    /// Creates a user through `Backend::write`: on SQLite one fsync covers
    /// the writes queued meanwhile (group commit).
    async fn create_user(
        &self,
        iam: IamId,
        id: UserId,
        u: &UserWrite,
        grants: &[String],
        records: &[Entry],
        now: OffsetDateTime,
    ) -> Result<Stored> {
        let (u, grants, records) = (u.clone(), grants.to_vec(), records.to_vec());
        self.write(move |tx| {
            Box::pin(async move {
                create_user_rows::<B>(tx, iam, id.uuid(), &u, &grants, now).await?;
                audit::append_all::<B>(tx, &records, now).await?;
                Ok(created(id.uuid(), u.doc, now))
            })
        })
        .await
    }

    async fn get_user(&self, iam: IamId, id: UserId) -> Result<Option<Stored>> {
        lists::get(self, "users", iam, id.uuid()).await
    }

    /// A user of the IAM and the groups it is in (directly or through
    /// nesting, ordered as `groups_of_users` orders them), in one
    /// statement: each statement is a round trip to the database's
    /// connection, and a GET by id is the hottest read. The user is the row
    /// of `part` 0, its groups those of `part` 1; the walk up the nesting
    /// is `groups_of_users`'s.
    async fn get_user_with_groups(
        &self,
        iam: IamId,
        id: UserId,
    ) -> Result<Option<(Stored, Vec<GroupRef>)>> {
        let sql = format!(
            "WITH RECURSIVE up(member_id, group_id, direct) AS (
                 SELECT member_id, group_id, 1 FROM group_members WHERE member_id = $1
                 UNION
                 SELECT up.member_id, gm.group_id, 0
                 FROM up JOIN group_members gm ON gm.member_id = up.group_id
             )
             SELECT CAST(0 AS BIGINT) AS part, id, doc, created, last_modified, version,
                    NULL AS display_name, NULL AS direct, NULL AS sort_name
             FROM users WHERE id = $1 AND iam_id = $2
             UNION ALL
             SELECT CAST(1 AS BIGINT), g.id, NULL, NULL, NULL, NULL, g.display_name, MAX(up.direct) = 1,
                    g.display_name_folded{}
             FROM up JOIN groups g ON g.id = up.group_id AND g.iam_id = $2
             GROUP BY g.id, g.display_name, g.display_name_folded
             ORDER BY part, sort_name, id",
            B::DIALECT.bytewise(),
        );
        let rows = self.read_all(query(sql).bind(id).bind(iam)).await?;
        let mut rows = rows.iter();
        let Some(first) = rows.next() else {
            return Ok(None);
        };
        if first.int("part")? != 0 {
            return Ok(None);
        }
        let groups = rows
            .map(|r| {
                Ok(GroupRef {
                    id: r.uuid("id")?,
                    display_name: r.text("display_name")?,
                    direct: r.bool("direct")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((stored(first)?, groups)))
    }

    /// Replaces a user's document and columns through `Backend::write`
    /// (group commit on SQLite). The UPDATE itself checks the IAM and the
    /// version (and, in PostgreSQL, waits for a concurrent writer of the
    /// row), so the write reads nothing first.
    async fn replace_user(
        &self,
        iam: IamId,
        id: UserId,
        u: &UserWrite,
        if_version: Option<i64>,
        records: &[Entry],
        now: OffsetDateTime,
    ) -> Result<Stored> {
        let (u, records) = (u.clone(), records.to_vec());
        self.write(move |tx| {
            Box::pin(async move {
                let update = update_user(iam, id, &u, if_version, now);
                let row = update_row::<B>(tx, "users", INDEX, iam, id.uuid(), update).await?;
                let stored = updated(&row, id.uuid(), u.doc, now)?;
                if !u.emails_unchanged {
                    write_emails::<B>(tx, id.uuid(), &u.search).await?;
                }
                audit::append_all::<B>(tx, &records, now).await?;
                Ok(stored)
            })
        })
        .await
    }

    async fn groups_of_users(
        &self,
        iam: IamId,
        users: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<GroupRef>>> {
        let mut out: HashMap<Uuid, Vec<GroupRef>> = HashMap::new();
        if users.is_empty() {
            return Ok(out);
        }
        // Walk up the nesting, each (member, group, direct) once: `UNION`
        // ends cycles stored before writes refused them, and counts no
        // depth, so a diamond costs nothing and nothing deep is cut.
        let sql = format!(
            "WITH RECURSIVE up(member_id, group_id, direct) AS (
                 SELECT member_id, group_id, 1 FROM group_members WHERE member_id IN ({})
                 UNION
                 SELECT up.member_id, gm.group_id, 0
                 FROM up JOIN group_members gm ON gm.member_id = up.group_id
             )
             SELECT up.member_id, g.id, g.display_name, MAX(up.direct) = 1 AS direct
             FROM up JOIN groups g ON g.id = up.group_id AND g.iam_id = $1
             GROUP BY up.member_id, g.id, g.display_name
             ORDER BY g.display_name_folded{}, g.id",
            B::DIALECT.each(2, Ty::Uuid),
            B::DIALECT.bytewise(),
        );
        let rows = self.read_all(query(sql).bind(iam).bind(users)).await?;
        for r in rows {
            out.entry(r.uuid("member_id")?).or_default().push(GroupRef {
                id: r.uuid("id")?,
                display_name: r.text("display_name")?,
                direct: r.bool("direct")?,
            });
        }
        Ok(out)
    }

    async fn insert_users(
        &self,
        iam: IamId,
        users: &[(Uuid, UserWrite)],
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        for (id, u) in users {
            insert_user_rows::<B>(&mut tx, iam, *id, u, now).await?;
        }
        B::commit(tx).await
    }
}
