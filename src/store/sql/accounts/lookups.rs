//! The few looks at groups the internal IAM's screens need (whether a
//! group exists, its IAM, when a user joined each of its groups).

use std::collections::HashMap;

use time::OffsetDateTime;
use uuid::Uuid;

use super::super::{Backend, Record, SqlStore, query};
use crate::store::Result;

pub(super) async fn group_exists<B: Backend>(s: &SqlStore<B>, id: Uuid) -> Result<bool> {
    Ok(
        s.read_optional(query("SELECT 1 FROM groups WHERE id = $1").bind(id))
            .await?
            .is_some(),
    )
}

pub(super) async fn group_iam<B: Backend>(s: &SqlStore<B>, id: Uuid) -> Result<Option<Uuid>> {
    let row = s
        .read_optional(query("SELECT iam_id FROM groups WHERE id = $1").bind(id))
        .await?;
    row.map(|r| r.uuid("iam_id")).transpose()
}

pub(super) async fn membership_dates<B: Backend>(
    s: &SqlStore<B>,
    user: Uuid,
) -> Result<HashMap<Uuid, OffsetDateTime>> {
    let rows = s
        .read_all(
            query("SELECT group_id, added FROM group_members WHERE member_id = $1").bind(user),
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.uuid("group_id")?, r.time("added")?)))
        .collect()
}
