//! The data source registry: a data source's columns, the tags on it and
//! on its columns, and its owners, each in its own table.

use std::collections::HashMap;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::{Backend, Bind, Record, SqlStore, Ty, audit, query, unique};
use super::require_live_tags;
use crate::audit::Entry;
use crate::ids::DataSourceId;
use crate::store::governance::{Column, DataSource, DataSources, TaggedRecords, TaggedSource};
use crate::store::{Result, StoreError};

/// Every tag a new data source applies, on itself and on its columns.
fn applied_tags(s: &DataSource) -> Vec<String> {
    let on_columns = s.columns.iter().flat_map(|c| c.tags.iter());
    s.tags.iter().chain(on_columns).cloned().collect()
}

/// The rows of a new data source beside its own: columns, tags, owners.
pub(in crate::store::sql) async fn insert_parts<B: Backend>(
    tx: &mut B::Conn,
    s: &DataSource,
) -> Result<()> {
    let rows = B::DIALECT.rows(2, &[("name", Ty::Text), ("position", Ty::Int)]);
    let names: Vec<String> = s.columns.iter().map(|c| c.name.clone()).collect();
    let positions: Vec<i64> = (0..names.len() as i64).collect();
    let sql = format!(
        "INSERT INTO data_source_columns (data_source_id, name, position)
         SELECT $1, t.name, t.position FROM {rows}"
    );
    let columns = Bind::Columns(vec![names.into(), positions.into()]);
    B::execute(tx, query(sql).bind(s.id).bind(columns)).await?;

    let rows = B::DIALECT.rows(3, &[("column_name", Ty::Text), ("tag", Ty::Text)]);
    let (columns, tags): (Vec<String>, Vec<String>) = s
        .columns
        .iter()
        .flat_map(|c| c.tags.iter().map(|t| (c.name.clone(), t.clone())))
        .unzip();
    let sql = format!(
        "INSERT INTO column_tags (data_source_id, column_name, tag, added)
         SELECT $1, t.column_name, t.tag, $2 FROM {rows} WHERE true ON CONFLICT DO NOTHING"
    );
    let pairs = Bind::Columns(vec![columns.into(), tags.into()]);
    B::execute(tx, query(sql).bind(s.id).bind(s.created).bind(pairs)).await?;
    put_tags::<B>(tx, s.id, &s.tags, s.created).await?;

    let sql = format!(
        "INSERT INTO data_source_owners (data_source_id, user_id)
         SELECT $1, id FROM users WHERE id IN ({})",
        B::DIALECT.each(2, Ty::Uuid)
    );
    let owned = B::execute(tx, query(sql).bind(s.id).bind(s.owners.as_slice())).await?;
    if owned != s.owners.len() as u64 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Puts tags on a data source (checked live by the caller); the ones it
/// did not carry yet.
async fn put_tags<B: Backend>(
    tx: &mut B::Conn,
    id: DataSourceId,
    tags: &[String],
    now: OffsetDateTime,
) -> Result<Vec<String>> {
    let sql = format!(
        "INSERT INTO data_source_tags (data_source_id, tag, added)
         SELECT $1, t.value, $2 FROM {} WHERE true ON CONFLICT DO NOTHING RETURNING tag",
        B::DIALECT.rows(3, &[("value", Ty::Text)])
    );
    let list = Bind::Columns(vec![tags.to_vec().into()]);
    let rows = B::fetch_all(tx, query(sql).bind(id).bind(now).bind(list)).await?;
    rows.iter().map(|r| r.text("tag")).collect()
}

/// The data sources of these base rows (id, name, created), with their
/// columns, tags and owners, read on one connection.
pub(in crate::store::sql) async fn assemble<B: Backend>(
    c: &mut B::Conn,
    base: Vec<B::Row>,
) -> Result<Vec<DataSource>> {
    let mut out = Vec::with_capacity(base.len());
    let mut at = HashMap::with_capacity(base.len());
    for r in &base {
        let id = r.uuid("id")?;
        at.insert(id, out.len());
        out.push(DataSource {
            id: DataSourceId::new(id),
            name: r.text("name")?,
            tags: Vec::new(),
            columns: Vec::new(),
            owners: Vec::new(),
            created: r.time("created")?,
        });
    }
    if out.is_empty() {
        return Ok(out);
    }
    let ids: Vec<Uuid> = out.iter().map(|s| s.id.uuid()).collect();
    let each = B::DIALECT.each(1, Ty::Uuid);
    // One row per data source tag (no column), per column tag, and per
    // column without tags (no tag).
    let sql = format!(
        "SELECT data_source_id, NULL AS column_name, tag, 0 AS position
         FROM data_source_tags WHERE data_source_id IN ({each})
         UNION ALL
         SELECT c.data_source_id, c.name, t.tag, c.position
         FROM data_source_columns c
         LEFT JOIN column_tags t ON t.data_source_id = c.data_source_id AND t.column_name = c.name
         WHERE c.data_source_id IN ({each})"
    );
    let mut columns: HashMap<(Uuid, String), (i64, Vec<String>)> = HashMap::new();
    for r in B::fetch_all(c, query(sql).bind(ids.clone())).await? {
        let s = &mut out[at[&r.uuid("data_source_id")?]];
        let tag = r.opt_text("tag")?;
        match (r.opt_text("column_name")?, tag) {
            (None, Some(tag)) => s.tags.push(tag),
            (Some(name), tag) => {
                let position = r.int("position")?;
                let column = columns
                    .entry((s.id.uuid(), name))
                    .or_insert_with(|| (position, Vec::new()));
                column.1.extend(tag);
            }
            (None, None) => {}
        }
    }
    let mut columns: Vec<_> = columns.into_iter().collect();
    columns.sort_by_key(|((_, _), (position, _))| *position);
    for ((id, name), (_, mut tags)) in columns {
        tags.sort();
        out[at[&id]].columns.push(Column { name, tags });
    }
    let sql = format!(
        "SELECT data_source_id, user_id FROM data_source_owners WHERE data_source_id IN ({each})"
    );
    for r in B::fetch_all(c, query(sql).bind(ids)).await? {
        out[at[&r.uuid("data_source_id")?]]
            .owners
            .push(r.uuid("user_id")?);
    }
    for s in &mut out {
        s.tags.sort();
        s.owners.sort();
    }
    Ok(out)
}

/// Data sources as policies see them, from rows of `id`, `name`, and a
/// `tag` or a `column_tag` (or neither), in the order first seen.
fn tagged(rows: &[impl Record]) -> Result<Vec<TaggedSource>> {
    let mut out: Vec<TaggedSource> = Vec::new();
    let mut at: HashMap<Uuid, usize> = HashMap::new();
    for r in rows {
        let id = r.uuid("id")?;
        let i = match at.get(&id) {
            Some(&i) => i,
            None => {
                at.insert(id, out.len());
                out.push(TaggedSource {
                    id: DataSourceId::new(id),
                    name: r.text("name")?,
                    tags: Vec::new(),
                    column_tags: Vec::new(),
                });
                out.len() - 1
            }
        };
        out[i].tags.extend(r.opt_text("tag")?);
        out[i].column_tags.extend(r.opt_text("column_tag")?);
    }
    Ok(out)
}

#[async_trait]
impl<B: Backend> DataSources for SqlStore<B> {
    async fn create_data_source(
        &self,
        s: &DataSource,
        records: &[Entry],
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        require_live_tags::<B>(&mut tx, &applied_tags(s)).await?;
        B::execute(
            &mut tx,
            query("INSERT INTO data_sources (id, name, created) VALUES ($1, $2, $3)")
                .bind(s.id)
                .bind(&s.name)
                .bind(s.created),
        )
        .await
        .map_err(|e| unique(e, "data_sources_name"))?;
        insert_parts::<B>(&mut tx, s).await?;
        // The subscriptions written before it was registered, by its name.
        B::execute(
            &mut tx,
            query(
                "UPDATE subscriptions SET data_source_id = $1
                 WHERE data_source_id IS NULL AND data_source = $2",
            )
            .bind(s.id)
            .bind(&s.name),
        )
        .await?;
        audit::append_all::<B>(&mut tx, records, now).await?;
        B::commit(tx).await
    }

    async fn list_data_sources(&self, offset: u64, limit: u64) -> Result<(Vec<DataSource>, u64)> {
        let sql = format!(
            "SELECT id, name, created FROM data_sources ORDER BY name{} LIMIT $1 OFFSET $2",
            B::DIALECT.bytewise()
        );
        let mut c = self.read().await?;
        let base = B::fetch_all(
            &mut c,
            query(sql)
                .bind(limit.min(i64::MAX as u64) as i64)
                .bind(offset.min(i64::MAX as u64) as i64),
        )
        .await?;
        let total = B::fetch_one(&mut c, query("SELECT COUNT(*) AS n FROM data_sources"))
            .await?
            .int("n")?;
        Ok((assemble::<B>(&mut c, base).await?, total as u64))
    }

    async fn tagged_sources(&self) -> Result<Vec<TaggedSource>> {
        // One row per data source without tags, per tag on a data source
        // (`tag`) and per tag on a column of one (`column_tag`).
        let sql = "SELECT d.id, d.name, t.tag, NULL AS column_tag
                   FROM data_sources d LEFT JOIN data_source_tags t ON t.data_source_id = d.id
                   UNION ALL
                   SELECT d.id, d.name, NULL, c.tag
                   FROM column_tags c JOIN data_sources d ON d.id = c.data_source_id";
        tagged(&self.read_all(query(sql)).await?)
    }

    async fn tagged_source(&self, id: DataSourceId) -> Result<Option<TaggedSource>> {
        // As `tagged_sources`, for one: a statement, not three.
        let sql = "SELECT d.id, d.name, t.tag, NULL AS column_tag
                   FROM data_sources d LEFT JOIN data_source_tags t ON t.data_source_id = d.id
                   WHERE d.id = $1
                   UNION ALL
                   SELECT d.id, d.name, NULL, c.tag
                   FROM column_tags c JOIN data_sources d ON d.id = c.data_source_id
                   WHERE d.id = $1";
        Ok(tagged(&self.read_all(query(sql).bind(id)).await?)?.pop())
    }

    async fn data_source(&self, id: DataSourceId) -> Result<Option<DataSource>> {
        let mut c = self.read().await?;
        let base = B::fetch_all(
            &mut c,
            query("SELECT id, name, created FROM data_sources WHERE id = $1").bind(id),
        )
        .await?;
        Ok(assemble::<B>(&mut c, base).await?.pop())
    }

    async fn tag_data_source(
        &self,
        id: DataSourceId,
        tags: &[String],
        records: &TaggedRecords<'_>,
        now: OffsetDateTime,
    ) -> Result<Vec<String>> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "SELECT id FROM data_sources WHERE id = $1{}",
            B::DIALECT.for_update()
        );
        if B::fetch_optional(&mut tx, query(sql).bind(id))
            .await?
            .is_none()
        {
            return Err(StoreError::NotFound);
        }
        require_live_tags::<B>(&mut tx, tags).await?;
        let added = put_tags::<B>(&mut tx, id, tags, now).await?;
        audit::append_all::<B>(&mut tx, &records(&added), now).await?;
        B::commit(tx).await?;
        Ok(added)
    }

    async fn untag_data_source(
        &self,
        id: DataSourceId,
        tag: &str,
        record: &Entry,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let q = query("DELETE FROM data_source_tags WHERE data_source_id = $1 AND tag = $2")
            .bind(id)
            .bind(tag);
        if B::execute(&mut tx, q).await? == 0 {
            return Ok(false);
        }
        audit::append::<B>(&mut tx, record, now).await?;
        B::commit(tx).await?;
        Ok(true)
    }

    async fn delete_data_source(
        &self,
        id: DataSourceId,
        record: &Entry,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        // Its columns, tags and owners go with it; its subscriptions stay,
        // named by their text (the foreign key sets their id to NULL).
        let q = query("DELETE FROM data_sources WHERE id = $1").bind(id);
        if B::execute(&mut tx, q).await? == 0 {
            return Ok(false);
        }
        audit::append::<B>(&mut tx, record, now).await?;
        B::commit(tx).await?;
        Ok(true)
    }
}
