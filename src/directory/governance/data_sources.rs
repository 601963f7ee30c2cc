//! The data source registry: registering a data source (its columns, tags
//! and owners), reading it, tagging and untagging it, deleting it. Its
//! owners may tag, untag and delete it, as a GOVERNANCE holder may any.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{MAX_TAGS, member, members, string, tag_list, tagging_refused};
use crate::audit::Actor;
use crate::directory::accounts::Ctx;
use crate::directory::ids::DataSourceId;
use crate::directory::permissions::may;
use crate::directory::subscriptions::SubscriptionView;
use crate::directory::{Directory, Error, Result, Timestamp, changes, truncate};
use crate::policy::check_text;
use crate::store::StoreError;
use crate::store::governance::{Column, DataSource};

/// The most columns a data source lists.
pub const MAX_COLUMNS: usize = 1000;
/// The most owners a data source lists.
pub const MAX_OWNERS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ColumnView {
    pub name: String,
    pub tags: Vec<String>,
}

/// A data source as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceView {
    pub id: DataSourceId,
    pub name: String,
    /// The tags on the data source itself (deleted ones included: they
    /// stay where they are applied).
    pub tags: Vec<String>,
    pub columns: Vec<ColumnView>,
    /// The accounts that may tag, untag and delete it.
    pub owners: Vec<Uuid>,
    pub created_at: Timestamp,
    /// The job re-evaluating every account's automatic subscriptions that
    /// this change started (`GET /api/v1/jobs/{id}`); only in a change's
    /// answer, and only while a policy subscribes automatically.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<Uuid>,
}

impl From<&DataSource> for DataSourceView {
    fn from(s: &DataSource) -> Self {
        DataSourceView {
            id: s.id,
            name: s.name.clone(),
            tags: s.tags.clone(),
            columns: s
                .columns
                .iter()
                .map(|c| ColumnView {
                    name: c.name.clone(),
                    tags: c.tags.clone(),
                })
                .collect(),
            owners: s.owners.clone(),
            created_at: Timestamp(s.created),
            job_id: None,
        }
    }
}

/// A page of data sources, by name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DataSourcePage {
    pub hits: Vec<DataSourceView>,
    /// Every data source.
    pub count: u64,
}

/// A subscription to a data source, as its subscribers list shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriberView {
    pub user_id: Uuid,
    #[serde(flatten)]
    pub subscription: SubscriptionView,
}

/// A page of a data source's subscriptions, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriberPage {
    pub hits: Vec<SubscriberView>,
    /// Every subscription to the data source.
    pub count: u64,
}

/// A body's `columns`: each named once, its tags well formed.
pub(crate) fn columns(v: Option<&Value>) -> Result<Vec<Column>> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let items = v
        .as_array()
        .ok_or_else(|| Error::invalid_value("columns must be an array"))?;
    if items.len() > MAX_COLUMNS {
        return Err(Error::invalid_value(format!(
            "columns holds at most {MAX_COLUMNS} columns"
        )));
    }
    let mut out: Vec<Column> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("columns[{i}]");
        let c = members(item, &["name", "tags"])
            .map_err(|e| Error::invalid_value(format!("{at}: {}", e.detail())))?;
        let name = string(c, "name").map_err(|e| Error::invalid_value(format!("{at}.{e}")))?;
        check_text("a column name", name)
            .map_err(|m| Error::invalid_value(format!("{at}.name: {m}")))?;
        if out.iter().any(|c| c.name == name) {
            return Err(Error::invalid_value(format!(
                "{at}.name: the column '{}' is listed twice",
                truncate(name)
            )));
        }
        let tags = match member(c, "tags") {
            Some(v) => tag_list(v, &format!("{at}.tags"))?,
            None => Vec::new(),
        };
        out.push(Column {
            name: name.to_owned(),
            tags,
        });
    }
    Ok(out)
}

/// The owners named (account ids, repeats dropped) and the caller when it
/// is an administrator: whoever registers a data source owns it.
fn owners(v: Option<&Value>, ctx: &Ctx) -> Result<Vec<Uuid>> {
    let mut out = BTreeSet::new();
    if let Some(v) = v {
        let items = v
            .as_array()
            .ok_or_else(|| Error::invalid_value("owners must be an array of account ids"))?;
        if items.len() > MAX_OWNERS {
            return Err(Error::invalid_value(format!(
                "owners holds at most {MAX_OWNERS} accounts"
            )));
        }
        for (i, item) in items.iter().enumerate() {
            let id = item.as_str().and_then(|s| Uuid::parse_str(s).ok());
            out.insert(id.ok_or_else(|| {
                Error::invalid_value(format!("owners[{i}] must be an account id"))
            })?);
        }
    }
    if let Actor::Admin(me) = ctx.actor {
        out.insert(me);
    }
    Ok(out.into_iter().collect())
}

/// Forbidden unless the caller may change `source`: a GOVERNANCE holder,
/// or one of its owners. An unknown data source is forbidden alike to
/// whoever could not change it if it existed.
fn require_owner(ctx: &Ctx, source: Option<&DataSource>) -> Result<()> {
    if ctx.may(may::MANAGE_DATA_SOURCES) {
        return Ok(());
    }
    let owner = match (&ctx.actor, source) {
        (Actor::Admin(me), Some(s)) => s.owners.contains(me),
        _ => false,
    };
    if owner {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "this needs the GOVERNANCE permission, or to own the data source".into(),
        ))
    }
}

fn no_data_source(id: DataSourceId) -> Error {
    Error::not_found(format!("no data source with id {id}"))
}

impl Directory {
    /// Registers a data source: `{"name", "tags"?, "columns"?: [{"name",
    /// "tags"?}], "owners"?: [accountId]}`. The subscriptions that already
    /// name it (by its name) are linked to it.
    pub async fn create_data_source(&self, ctx: &Ctx, body: &Value) -> Result<DataSourceView> {
        ctx.require(may::CREATE_DATA_SOURCES)?;
        let body = members(body, &["name", "tags", "columns", "owners"])?;
        let source = self.new_data_source(ctx, body).await?;
        let record = changes::data_source_created(&ctx.entry(""), &source);
        self.store
            .create_data_source(&source, &[record], self.now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict("data_sources_name") => Error::duplicate(format!(
                    "a data source named '{}' already exists",
                    truncate(&source.name)
                )),
                StoreError::NotFound => {
                    Error::invalid_value("an owner's account was deleted meanwhile")
                }
                other => tagging_refused(other),
            })?;
        Ok(DataSourceView {
            job_id: self.tags_changed(ctx).await?,
            ..DataSourceView::from(&source)
        })
    }

    /// The data source a create body describes, checked: its tags can be
    /// applied, its owners are accounts.
    async fn new_data_source(&self, ctx: &Ctx, body: &Map<String, Value>) -> Result<DataSource> {
        let name = string(body, "name")?;
        check_text("a data source name", name)
            .map_err(|m| Error::invalid_value(format!("name: {m}")))?;
        let tags = match member(body, "tags") {
            Some(v) => tag_list(v, "tags")?,
            None => Vec::new(),
        };
        let columns = columns(member(body, "columns"))?;
        let mut applied: Vec<String> = tags.clone();
        applied.extend(columns.iter().flat_map(|c| c.tags.iter().cloned()));
        applied.sort();
        applied.dedup();
        self.check_applicable(&applied).await?;
        let owners = owners(member(body, "owners"), ctx)?;
        for owner in &owners {
            if self.store.account(*owner).await?.is_none() {
                return Err(Error::invalid_value(format!(
                    "owners: no account with id {owner}"
                )));
            }
        }
        Ok(DataSource {
            id: self.new_id(),
            name: name.to_owned(),
            tags,
            columns,
            owners,
            created: self.now(),
        })
    }

    pub async fn list_data_sources(
        &self,
        ctx: &Ctx,
        offset: u64,
        limit: u64,
    ) -> Result<DataSourcePage> {
        ctx.require(may::READ_GOVERNANCE)?;
        let (sources, count) = self.store.list_data_sources(offset, limit).await?;
        Ok(DataSourcePage {
            hits: sources.iter().map(DataSourceView::from).collect(),
            count,
        })
    }

    pub async fn data_source(&self, ctx: &Ctx, id: DataSourceId) -> Result<DataSourceView> {
        ctx.require(may::READ_GOVERNANCE)?;
        self.read_data_source(id).await
    }

    /// Puts tags on a data source, `{"tags": [..]}` (1 to [`MAX_TAGS`]);
    /// those it carries already change nothing.
    pub async fn tag_data_source(
        &self,
        ctx: &Ctx,
        id: DataSourceId,
        body: &Value,
    ) -> Result<DataSourceView> {
        let source = self.store.data_source(id).await?;
        require_owner(ctx, source.as_ref())?;
        let body = members(body, &["tags"])?;
        let tags = tag_list(
            member(body, "tags").ok_or_else(|| Error::invalid_value("tags is required"))?,
            "tags",
        )?;
        if tags.is_empty() {
            return Err(Error::invalid_value(format!(
                "tags names 1 to {MAX_TAGS} tags"
            )));
        }
        self.check_applicable(&tags).await?;
        let who = ctx.entry("");
        self.store
            .tag_data_source(
                id,
                &tags,
                &|added| changes::data_source_tagged(&who, id, added),
                self.now(),
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound => no_data_source(id),
                other => tagging_refused(other),
            })?;
        self.changed_data_source(ctx, id).await
    }

    /// Takes a tag off a data source (a deleted tag too: it cannot be put
    /// back).
    pub async fn untag_data_source(
        &self,
        ctx: &Ctx,
        id: DataSourceId,
        tag: &str,
    ) -> Result<DataSourceView> {
        let source = self.store.data_source(id).await?;
        require_owner(ctx, source.as_ref())?;
        let record = changes::data_source_untagged(&ctx.entry(""), id, tag);
        if !self
            .store
            .untag_data_source(id, tag, &record, self.now())
            .await?
        {
            return Err(Error::not_found(format!(
                "the data source does not carry the tag '{}'",
                truncate(tag)
            )));
        }
        self.changed_data_source(ctx, id).await
    }

    /// Removes a data source from the registry; its subscriptions stay,
    /// named by their text.
    pub async fn delete_data_source(&self, ctx: &Ctx, id: DataSourceId) -> Result<()> {
        let source = self.store.data_source(id).await?;
        require_owner(ctx, source.as_ref())?;
        let record = changes::data_source_deleted(&ctx.entry(""), id);
        if self
            .store
            .delete_data_source(id, &record, self.now())
            .await?
        {
            // It takes no more subscriptions.
            self.automatic_cache.forget();
            Ok(())
        } else {
            Err(no_data_source(id))
        }
    }

    /// A data source as a change of its tags answers: with the job it
    /// started.
    async fn changed_data_source(&self, ctx: &Ctx, id: DataSourceId) -> Result<DataSourceView> {
        Ok(DataSourceView {
            job_id: self.tags_changed(ctx).await?,
            ..self.read_data_source(id).await?
        })
    }

    /// A registered data source's subscriptions, each with its account
    /// and its source (`manual`, or the policy's).
    pub async fn data_source_subscribers(
        &self,
        ctx: &Ctx,
        id: DataSourceId,
        offset: u64,
        limit: u64,
    ) -> Result<SubscriberPage> {
        ctx.require(may::READ_GOVERNANCE)?;
        self.read_data_source(id).await?;
        let (subs, count) = self.store.subscribers(id, offset, limit).await?;
        let hits = subs
            .iter()
            .map(|l| SubscriberView {
                user_id: l.subscription.user_id,
                subscription: SubscriptionView::from(l),
            })
            .collect();
        Ok(SubscriberPage { hits, count })
    }

    async fn read_data_source(&self, id: DataSourceId) -> Result<DataSourceView> {
        let source = self.store.data_source(id).await?;
        source
            .as_ref()
            .map(DataSourceView::from)
            .ok_or_else(|| no_data_source(id))
    }
}
