//! The nesting check of group writes on SQLite: the edges around a group,
//! read inside the write's transaction. The writer is one connection and
//! every write begins IMMEDIATE, so no other write can add a membership
//! between the check and the commit: two PATCHes that would each close half
//! of a cycle run one after the other, and the second sees the first.

use std::collections::HashMap;

use sqlx::SqliteConnection;
use uuid::Uuid;

use super::{id_text, parse_uuid};
use crate::store::nesting::{self, EDGES_ABOVE, EDGES_BELOW};
use crate::store::{MemberKind, Result, StoreError};

/// Refuses, before its transaction commits, a write that just added
/// `added` to `group` when a group among them closes a cycle or nests
/// groups deeper than the limit. Users added cost nothing here.
pub(super) async fn check(
    tx: &mut SqliteConnection,
    group: Uuid,
    members: &[(Uuid, MemberKind)],
    added: &[Uuid],
) -> Result<()> {
    let groups = nesting::added_groups(members, added);
    if groups.is_empty() {
        return Ok(());
    }
    let above = edges(tx, EDGES_ABOVE, group).await?;
    let below = edges(tx, EDGES_BELOW, group).await?;
    let Some(judgement) = nesting::judge(group, &groups, &above, &below) else {
        return Ok(());
    };
    let ids: Vec<String> = judgement.groups(group).into_iter().map(id_text).collect();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, display_name FROM groups WHERE id IN (SELECT value FROM json_each($1))",
    )
    .bind(serde_json::Value::from(ids).to_string())
    .fetch_all(&mut *tx)
    .await?;
    let names: HashMap<Uuid, String> = rows
        .into_iter()
        .map(|(id, name)| Ok((parse_uuid(&id)?, name)))
        .collect::<Result<_>>()?;
    Err(StoreError::Nesting(judgement.name(group, &names)))
}

async fn edges(
    tx: &mut SqliteConnection,
    sql: &'static str,
    group: Uuid,
) -> Result<Vec<(Uuid, Uuid)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(sql)
        .bind(id_text(group))
        .fetch_all(&mut *tx)
        .await?;
    rows.iter()
        .map(|(m, p)| Ok((parse_uuid(m)?, parse_uuid(p)?)))
        .collect()
}
