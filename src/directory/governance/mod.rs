//! Governance (issue 18): tags, the data source registry, global
//! subscription policies, and what the policies decide for an account and
//! a data source. Each operation checks its permission
//! (`permissions::may`), validates with the pure `crate::policy`, and
//! writes through the store's governance traits with its audit records
//! (`changes`). What a decision reads about an account is gathered once,
//! in `evaluate`, for whatever else needs it (automatic subscriptions).

mod automatic;
mod data_sources;
mod evaluate;
mod index;
mod jobs;
mod policies;
mod tags;

pub use automatic::{AutomaticCache, INLINE_MAX, Reached, Touched};
/// What an import checks of a data source and a tag, as their creation does.
pub(crate) use data_sources::columns;
pub use data_sources::{
    ColumnView, DataSourcePage, DataSourceView, SubscriberPage, SubscriberView,
};
pub use evaluate::{EvaluatedSource, EvaluationView};
pub use jobs::{JobPage, JobView};
pub use policies::{PolicyPage, PolicyView};
pub(crate) use tags::description as tag_description;
pub use tags::{TagPage, TagView};

use serde_json::{Map, Value};

use super::{Directory, Error, Result, truncate};
use crate::policy::tags::check_tag;
use crate::store::StoreError;
use crate::store::governance::TAG_NOT_APPLICABLE;

/// The most tags one list in a body names.
pub const MAX_TAGS: usize = 100;

/// A request body's members, refusing one it does not know: a misspelt
/// field must not be silently ignored.
fn members<'a>(body: &'a Value, known: &[&str]) -> Result<&'a Map<String, Value>> {
    let map = body
        .as_object()
        .ok_or_else(|| Error::invalid_syntax("the body must be a JSON object"))?;
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(Error::invalid_value(format!(
            "{}: unknown field; expected one of {}",
            truncate(k),
            known.join(", ")
        ))),
        None => Ok(map),
    }
}

/// A member that is absent or null counts as absent.
fn member<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

/// A required string member.
fn string<'a>(map: &'a Map<String, Value>, key: &str) -> Result<&'a str> {
    member(map, key)
        .ok_or_else(|| Error::invalid_value(format!("{key} is required")))?
        .as_str()
        .ok_or_else(|| Error::invalid_value(format!("{key} must be a string")))
}

/// A list of tag names (`field` names it in errors): each well formed,
/// at most [`MAX_TAGS`], repeats dropped, in the order given.
pub(crate) fn tag_list(v: &Value, field: &str) -> Result<Vec<String>> {
    let items = v
        .as_array()
        .ok_or_else(|| Error::invalid_value(format!("{field} must be an array of tag names")))?;
    if items.len() > MAX_TAGS {
        return Err(Error::invalid_value(format!(
            "{field} holds at most {MAX_TAGS} tags"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let name = item
            .as_str()
            .ok_or_else(|| Error::invalid_value(format!("{field}[{i}] must be a string")))?;
        check_tag(name).map_err(|m| Error::invalid_value(format!("{field}[{i}]: {m}")))?;
        if !out.iter().any(|t| t == name) {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

impl Directory {
    /// Refuses tags that cannot be applied, naming the first: one never
    /// created, or one deleted.
    async fn check_applicable(&self, names: &[String]) -> Result<()> {
        let known = self.store.tags_named(names).await?;
        for name in names {
            match known.iter().find(|t| &t.name == name) {
                None => return Err(unknown_tag(name)),
                Some(t) if t.deleted.is_some() => {
                    return Err(Error::invalid_value(format!(
                        "the tag '{}' was deleted: it can no longer be applied",
                        truncate(name)
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

fn unknown_tag(name: &str) -> Error {
    Error::invalid_value(format!(
        "no tag named '{}' (create it first: POST /api/v1/tags)",
        truncate(name)
    ))
}

/// A store refusal of a tagging write, in the domain's terms: a tag
/// deleted between the check and the write.
fn tagging_refused(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(TAG_NOT_APPLICABLE) => {
            Error::invalid_value("a tag named was deleted meanwhile: it can no longer be applied")
        }
        other => other.into(),
    }
}
