//! Tags: created with their missing ancestors, deleted with everything
//! below them, never removed (a deleted tag stays where it is applied).

use async_trait::async_trait;
use time::OffsetDateTime;

use super::super::{Backend, Bind, Query, Record, SqlStore, Ty, audit, query};
use crate::store::account_list::like_anywhere;
use crate::store::governance::{Tag, TagRecords, Tags};
use crate::store::{Result, StoreError};

pub(in crate::store::sql) const TAG_COLUMNS: &str =
    "id, name, parent, description, created, deleted";

pub(in crate::store::sql) fn tag_row(r: &impl Record) -> Result<Tag> {
    Ok(Tag {
        id: r.uuid("id")?,
        name: r.text("name")?,
        parent: r.opt_text("parent")?,
        description: r.opt_text("description")?,
        created: r.time("created")?,
        deleted: r.opt_time("deleted")?,
    })
}

/// Inserts `tag` unless a tag of its name is there; whether it did.
async fn insert_new<B: Backend>(tx: &mut B::Conn, tag: &Tag) -> Result<bool> {
    let q = query(
        "INSERT INTO tags (id, name, parent, name_folded, description, created)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
    )
    .bind(tag.id)
    .bind(&tag.name)
    .bind(&tag.parent)
    .bind(crate::scim::resource::fold_case(&tag.name))
    .bind(&tag.description)
    .bind(tag.created);
    Ok(B::execute(tx, q).await? == 1)
}

/// Restores the deleted tag of `tag`'s name (with `tag`'s description
/// when `describe`); the restored tag, or None when it is not deleted.
async fn restore<B: Backend>(tx: &mut B::Conn, tag: &Tag, describe: bool) -> Result<Option<Tag>> {
    let description = if describe {
        "description = $2"
    } else {
        "description = description"
    };
    let sql = format!(
        "UPDATE tags SET deleted = NULL, {description}
         WHERE name = $1 AND deleted IS NOT NULL RETURNING {TAG_COLUMNS}"
    );
    let mut q = query(sql).bind(&tag.name);
    if describe {
        q = q.bind(&tag.description);
    }
    B::fetch_optional(tx, q)
        .await?
        .as_ref()
        .map(tag_row)
        .transpose()
}

/// The condition on `tags` of a list and its values: not deleted, and
/// the folded name holding the search (at `$1`) when there is one.
fn list_filter(search: Option<&str>) -> (&'static str, Vec<Bind>) {
    match search {
        Some(s) => (
            "deleted IS NULL AND name_folded LIKE $1 ESCAPE '\\'",
            vec![Bind::Text(like_anywhere(s))],
        ),
        None => ("deleted IS NULL", Vec::new()),
    }
}

#[async_trait]
impl<B: Backend> Tags for SqlStore<B> {
    async fn create_tag(
        &self,
        chain: &[Tag],
        records: &TagRecords<'_>,
        now: OffsetDateTime,
    ) -> Result<Vec<Tag>> {
        let mut tx = self.begin().await?;
        let mut changed = Vec::new();
        for (i, tag) in chain.iter().enumerate() {
            let last = i + 1 == chain.len();
            if insert_new::<B>(&mut tx, tag).await? {
                changed.push(tag.clone());
            } else if let Some(restored) = restore::<B>(&mut tx, tag, last).await? {
                changed.push(restored);
            } else if last {
                return Err(StoreError::Conflict("tags_name"));
            }
        }
        audit::append_all::<B>(&mut tx, &records(&changed), now).await?;
        B::commit(tx).await?;
        Ok(changed)
    }

    async fn delete_tag(
        &self,
        name: &str,
        records: &TagRecords<'_>,
        now: OffsetDateTime,
    ) -> Result<Vec<Tag>> {
        let mut tx = self.begin().await?;
        // The tag and those below it: their names start with its own and a dot.
        let sql = format!(
            "UPDATE tags SET deleted = $2
             WHERE deleted IS NULL AND (name = $1 OR substr(name, 1, length($1) + 1) = $1 || '.')
             RETURNING {TAG_COLUMNS}"
        );
        let rows = B::fetch_all(&mut tx, query(sql).bind(name).bind(now)).await?;
        let mut deleted = rows.iter().map(tag_row).collect::<Result<Vec<_>>>()?;
        if !deleted.iter().any(|t| t.name == name) {
            return Err(StoreError::NotFound);
        }
        deleted.sort_by(|a, b| a.name.cmp(&b.name));
        audit::append_all::<B>(&mut tx, &records(&deleted), now).await?;
        B::commit(tx).await?;
        Ok(deleted)
    }

    async fn list_tags(
        &self,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<Tag>, u64)> {
        let (filter, binds) = list_filter(search);
        let n = binds.len();
        let page = format!(
            "SELECT {TAG_COLUMNS} FROM tags WHERE {filter}
             ORDER BY name{} LIMIT ${} OFFSET ${}",
            B::DIALECT.bytewise(),
            n + 1,
            n + 2
        );
        let page = Query::with(page, binds.clone())
            .bind(limit.min(i64::MAX as u64) as i64)
            .bind(offset.min(i64::MAX as u64) as i64);
        let count = format!("SELECT COUNT(*) AS n FROM tags WHERE {filter}");
        let count = Query::with(count, binds);
        let mut c = self.read().await?;
        let rows = B::fetch_all(&mut c, page).await?;
        let total = B::fetch_one(&mut c, count).await?.int("n")?;
        let tags = rows.iter().map(tag_row).collect::<Result<_>>()?;
        Ok((tags, total as u64))
    }

    async fn tags_named(&self, names: &[String]) -> Result<Vec<Tag>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {TAG_COLUMNS} FROM tags WHERE name IN ({})",
            B::DIALECT.each(1, Ty::Text)
        );
        let rows = self.read_all(query(sql).bind(names.to_vec())).await?;
        rows.iter().map(tag_row).collect()
    }
}
