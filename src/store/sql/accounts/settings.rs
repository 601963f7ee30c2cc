//! An IAM's settings document (its delete mode, group mappings, default
//! grants), which the domain reads and validates.

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::{Backend, Record, SqlStore, audit, query};
use crate::audit::Entry;
use crate::store::accounts::IamSettings;
use crate::store::{Result, StoreError};

#[async_trait]
impl<B: Backend> IamSettings for SqlStore<B> {
    async fn iam_settings(&self, iam: Uuid) -> Result<Option<Value>> {
        let row = self
            .read_optional(query("SELECT settings FROM iams WHERE id = $1").bind(iam))
            .await?;
        row.map(|r| r.json("settings")).transpose()
    }

    async fn set_iam_settings(
        &self,
        iam: Uuid,
        settings: &Value,
        entry: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let n = B::execute(
            &mut tx,
            query("UPDATE iams SET settings = $1 WHERE id = $2")
                .bind(settings)
                .bind(iam),
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        audit::append::<B>(&mut tx, entry, now).await?;
        B::commit(tx).await
    }
}
