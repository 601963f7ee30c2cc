//! Tags: creating one (and its missing ancestors), listing and searching
//! them, deleting one (and those below it).

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{members, string};
use crate::directory::accounts::Ctx;
use crate::directory::permissions::may;
use crate::directory::{Directory, Error, Result, Timestamp, changes, truncate};
use crate::policy::tags::check_tag;
use crate::scim::resource::fold_case;
use crate::store::StoreError;
use crate::store::governance::Tag;

/// The longest description of a tag, in characters.
pub const MAX_DESCRIPTION: usize = 1024;

/// A tag as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagView {
    pub name: String,
    pub description: Option<String>,
    /// The tag one level up; none for a root.
    pub parent: Option<String>,
    pub created_at: Timestamp,
}

impl From<&Tag> for TagView {
    fn from(t: &Tag) -> Self {
        TagView {
            name: t.name.clone(),
            description: t.description.clone(),
            parent: t.parent.clone(),
            created_at: Timestamp(t.created),
        }
    }
}

/// A page of tags, by name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TagPage {
    pub hits: Vec<TagView>,
    /// Every tag that matches.
    pub count: u64,
}

/// The tag of `name` and its ancestors, from the root down, each as a new
/// tag would be stored (only the last described).
fn chain(dir: &Directory, name: &str, description: Option<&str>) -> Vec<Tag> {
    let now = dir.now();
    let mut out: Vec<Tag> = Vec::new();
    let mut end = 0;
    for level in name.split('.') {
        end += level.len();
        let parent = out.last().map(|t| t.name.clone());
        out.push(Tag {
            id: dir.new_id(),
            name: name[..end].to_owned(),
            parent,
            description: None,
            created: now,
            deleted: None,
        });
        end += 1;
    }
    if let Some(last) = out.last_mut() {
        last.description = description.map(str::to_owned);
    }
    out
}

pub(crate) fn description(body: &serde_json::Map<String, Value>) -> Result<Option<&str>> {
    let Some(v) = super::member(body, "description") else {
        return Ok(None);
    };
    let d = v
        .as_str()
        .ok_or_else(|| Error::invalid_value("description must be a string"))?;
    if d.chars().count() > MAX_DESCRIPTION || d.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::invalid_value(format!(
            "description is at most {MAX_DESCRIPTION} characters, with no control characters but newlines"
        )));
    }
    Ok(Some(d))
}

impl Directory {
    /// Creates a tag, `{"name", "description"?}`, and whichever of its
    /// ancestors are missing (a deleted one is restored).
    pub async fn create_tag(&self, ctx: &Ctx, body: &Value) -> Result<TagView> {
        ctx.require(may::GOVERN)?;
        let body = members(body, &["name", "description"])?;
        let name = string(body, "name")?;
        check_tag(name).map_err(|m| Error::invalid_value(format!("name: {m}")))?;
        let chain = chain(self, name, description(body)?);
        let who = ctx.entry("");
        let made = self
            .store
            .create_tag(
                &chain,
                &|tags| changes::tags_changed(&who, "tag.created", tags),
                self.now(),
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    Error::duplicate(format!("the tag '{}' already exists", truncate(name)))
                }
                other => other.into(),
            })?;
        made.iter()
            .find(|t| t.name == name)
            .map(TagView::from)
            .ok_or_else(|| Error::Internal(format!("the tag {name} was not written")))
    }

    /// A page of the tags not deleted, by name; with `search`, those whose
    /// name holds it (compared case-insensitively).
    pub async fn list_tags(
        &self,
        ctx: &Ctx,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<TagPage> {
        ctx.require(may::READ_GOVERNANCE)?;
        let search = search.map(fold_case).filter(|s| !s.is_empty());
        let (tags, count) = self
            .store
            .list_tags(search.as_deref(), offset, limit)
            .await?;
        Ok(TagPage {
            hits: tags.iter().map(TagView::from).collect(),
            count,
        })
    }

    /// Deletes a tag and every tag below it: they stay on the data sources
    /// that carry them, and can no longer be applied.
    pub async fn delete_tag(&self, ctx: &Ctx, name: &str) -> Result<()> {
        ctx.require(may::GOVERN)?;
        let who = ctx.entry("");
        self.store
            .delete_tag(
                name,
                &|tags| changes::tags_changed(&who, "tag.deleted", tags),
                self.now(),
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound => {
                    Error::not_found(format!("no tag named '{}'", truncate(name)))
                }
                other => other.into(),
            })?;
        Ok(())
    }
}
