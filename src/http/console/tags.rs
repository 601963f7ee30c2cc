//! Tags: the tree (each tag under its parent), search, create (its missing
//! parents too, as the directory does) and delete (with those below it).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::{
    Chrome, ConsoleError, Errors, Page, Who, form_error, html_status, see_other, stands_for,
    urlencode,
};
use crate::directory::governance::TagView;
use crate::directory::permissions::may;
use crate::http::AppState;

/// Tags a page shows: the tree of a large registry comes a page at a time.
const PAGE_SIZE: u64 = 500;

/// The deepest indentation the stylesheet draws.
const MAX_INDENT: usize = 8;

pub struct TagRow {
    pub t: TagView,
    /// Its level below the root (0 for a root), for the indentation.
    pub depth: usize,
    /// Its last level (`Dev` of `Environment.Dev`).
    pub leaf: String,
}

#[derive(Template)]
#[template(path = "console/tags.html")]
struct TagsPage {
    c: Chrome,
    rows: Vec<TagRow>,
    count: u64,
    q: String,
    may_govern: bool,
    new_name: String,
    new_description: String,
    errors: Errors,
    /// The tag whose delete dialog the page opens (without the script).
    delete: Option<String>,
    prev: Option<String>,
    next: Option<String>,
}

impl TagsPage {
    fn enc(&self, s: &str) -> String {
        urlencode(s)
    }
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    #[serde(default)]
    q: String,
    page: Option<u64>,
    /// Prefills New tag (a child of this one: `Environment.`).
    #[serde(default)]
    new: String,
    delete: Option<String>,
}

/// The page's tags in tree order: each under its parent, by level.
fn tree(mut tags: Vec<TagView>) -> Vec<TagRow> {
    tags.sort_by(|a, b| a.name.split('.').cmp(b.name.split('.')));
    tags.into_iter()
        .map(|t| TagRow {
            depth: t.name.matches('.').count().min(MAX_INDENT),
            leaf: t.name.rsplit('.').next().unwrap_or_default().to_owned(),
            t,
        })
        .collect()
}

async fn tags_page(
    s: &AppState,
    who: &Who,
    p: &ListParams,
    new: (&str, &str),
    errors: Errors,
) -> Result<TagsPage, ConsoleError> {
    let page = p.page.unwrap_or(1).max(1);
    let list = s
        .dir
        .list_tags(
            &who.admin.ctx(),
            Some(p.q.as_str()),
            (page - 1) * PAGE_SIZE,
            PAGE_SIZE,
        )
        .await?;
    let link = |n: u64| format!("/admin/tags?q={}&page={n}", urlencode(&p.q));
    let may_govern = who.may(may::GOVERN);
    Ok(TagsPage {
        c: Chrome::new(who, "tags"),
        prev: (page > 1).then(|| link(page - 1)),
        next: (page * PAGE_SIZE < list.count).then(|| link(page + 1)),
        rows: tree(list.hits),
        count: list.count,
        q: p.q.clone(),
        may_govern,
        new_name: new.0.to_owned(),
        new_description: new.1.to_owned(),
        errors,
        delete: p.delete.clone().filter(|_| may_govern),
    })
}

pub async fn list(State(s): State<AppState>, who: Who, Query(p): Query<ListParams>) -> Page {
    let page = tags_page(&s, &who, &p, (&p.new, ""), Errors::default()).await?;
    html_status(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct NewTag {
    name: String,
    #[serde(default)]
    description: String,
}

/// New tag: `Environment.Dev` creates `Environment` too when it is
/// missing. A refusal comes back beside the field, nothing created.
pub async fn create(
    State(s): State<AppState>,
    who: Who,
    axum::Form(f): axum::Form<NewTag>,
) -> Page {
    let name = f.name.trim();
    let description = f.description.trim();
    let mut body = json!({ "name": name });
    if !description.is_empty() {
        body["description"] = json!(description);
    }
    match s.dir.create_tag(&who.admin.ctx(), &body).await {
        Ok(t) => see_other(
            &format!("/admin/tags?q={}", urlencode(&t.name)),
            &format!("Created the tag {}.", t.name),
        ),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let errors = if status == StatusCode::CONFLICT {
                Errors::at_field(message, "name")
            } else {
                Errors::new(message, &[("name", "name"), ("description", "description")])
            };
            let page = tags_page(
                &s,
                &who,
                &ListParams::default(),
                (name, description),
                errors,
            )
            .await?;
            Ok(stands_for(html_status(status, &page)?, "/admin/tags"))
        }
    }
}

/// Deletes a tag and those below it; they stay on the data sources that
/// carry them.
pub async fn delete(State(s): State<AppState>, who: Who, Path(name): Path<String>) -> Page {
    match s.dir.delete_tag(&who.admin.ctx(), &name).await {
        Ok(()) => see_other(
            "/admin/tags",
            &format!("Deleted the tag {name} and those below it."),
        ),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let page = tags_page(
                &s,
                &who,
                &ListParams::default(),
                ("", ""),
                Errors::new(message, &[]),
            )
            .await?;
            Ok(stands_for(html_status(status, &page)?, "/admin/tags"))
        }
    }
}
