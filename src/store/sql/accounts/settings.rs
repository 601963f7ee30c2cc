//! An IAM's settings document (its delete mode, group mappings, default
//! grants) and the schema extensions it declares, which the domain reads
//! and validates: two JSON columns of `iams`, read and written alike.

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::{Backend, Record, SqlStore, audit, query};
use crate::audit::Entry;
use crate::store::accounts::IamSettings;
use crate::store::{Result, StoreError};

/// The JSON columns of `iams` the domain reads and replaces whole.
#[derive(Clone, Copy)]
enum Column {
    Settings,
    SchemaExtensions,
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::Settings => "settings",
            Column::SchemaExtensions => "schema_extensions",
        }
    }
}

impl<B: Backend> SqlStore<B> {
    async fn iam_json(&self, iam: Uuid, c: Column) -> Result<Option<Value>> {
        let sql = format!("SELECT {} FROM iams WHERE id = $1", c.name());
        let row = self.read_optional(query(sql).bind(iam)).await?;
        row.map(|r| r.json(c.name())).transpose()
    }

    async fn set_iam_json(
        &self,
        iam: Uuid,
        c: Column,
        value: &Value,
        entry: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let sql = format!("UPDATE iams SET {} = $1 WHERE id = $2", c.name());
        let n = B::execute(&mut tx, query(sql).bind(value).bind(iam)).await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        audit::append::<B>(&mut tx, entry, now).await?;
        B::commit(tx).await
    }
}

#[async_trait]
impl<B: Backend> IamSettings for SqlStore<B> {
    async fn iam_settings(&self, iam: Uuid) -> Result<Option<Value>> {
        self.iam_json(iam, Column::Settings).await
    }

    async fn set_iam_settings(
        &self,
        iam: Uuid,
        settings: &Value,
        entry: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.set_iam_json(iam, Column::Settings, settings, entry, now)
            .await
    }

    async fn iam_schema_extensions(&self, iam: Uuid) -> Result<Option<Value>> {
        self.iam_json(iam, Column::SchemaExtensions).await
    }

    async fn set_iam_schema_extensions(
        &self,
        iam: Uuid,
        extensions: &Value,
        entry: &Entry,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.set_iam_json(iam, Column::SchemaExtensions, extensions, entry, now)
            .await
    }
}
