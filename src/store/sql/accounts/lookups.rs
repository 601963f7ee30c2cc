//! The few looks at groups the internal IAM's screens need (whether a
//! group exists, its IAM, when a user joined each of its groups).

use std::collections::HashMap;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::{Backend, Record, SqlStore, query};
use crate::store::Result;
use crate::store::accounts::Lookups;

#[async_trait]
impl<B: Backend> Lookups for SqlStore<B> {
    async fn group_exists(&self, id: Uuid) -> Result<bool> {
        Ok(self
            .read_optional(query("SELECT 1 FROM groups WHERE id = $1").bind(id))
            .await?
            .is_some())
    }

    async fn group_iam(&self, id: Uuid) -> Result<Option<Uuid>> {
        let row = self
            .read_optional(query("SELECT iam_id FROM groups WHERE id = $1").bind(id))
            .await?;
        row.map(|r| r.uuid("iam_id")).transpose()
    }

    async fn membership_dates(&self, user: Uuid) -> Result<HashMap<Uuid, OffsetDateTime>> {
        let rows = self
            .read_all(
                query("SELECT group_id, added FROM group_members WHERE member_id = $1").bind(user),
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.uuid("group_id")?, r.time("added")?)))
            .collect()
    }
}
