//! Data sources: the registry a page at a time, registering one (its tags,
//! columns and their tags, owners), a data source's page (its tags,
//! columns, owners and subscribers with each subscription's source),
//! tagging, untagging and deleting it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Chrome, ConsoleError, Errors, Page, Who, form_error, html_status, lines, see_other, stands_for,
    urlencode,
};
use crate::directory::governance::{DataSourceView, SubscriberView};
use crate::directory::ids::DataSourceId;
use crate::directory::permissions::may;
use crate::http::AppState;

const PAGE_SIZE: u64 = 50;

/// The register form as typed, kept when it is refused.
#[derive(Deserialize, Default)]
pub struct NewDataSource {
    #[serde(default)]
    name: String,
    /// One tag a line.
    #[serde(default)]
    tags: String,
    /// One column a line: `name: Tag, Tag`.
    #[serde(default)]
    columns: String,
    /// One account id a line (whoever registers owns it too).
    #[serde(default)]
    owners: String,
}

impl NewDataSource {
    /// The admin API's body for this form.
    fn body(&self) -> Value {
        let columns: Vec<Value> = lines(&self.columns)
            .iter()
            .map(|line| {
                let (name, tags) = line.split_once(':').unwrap_or((line, ""));
                let tags: Vec<&str> = tags
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .collect();
                json!({"name": name.trim(), "tags": tags})
            })
            .collect();
        json!({
            "name": self.name.trim(),
            "tags": lines(&self.tags),
            "columns": columns,
            "owners": lines(&self.owners),
        })
    }
}

#[derive(Template)]
#[template(path = "console/data_sources.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<DataSourceView>,
    count: u64,
    first: u64,
    prev: Option<String>,
    next: Option<String>,
    may_create: bool,
    new: NewDataSource,
    errors: Errors,
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    page: Option<u64>,
}

async fn list_page(
    s: &AppState,
    who: &Who,
    page: u64,
    new: NewDataSource,
    errors: Errors,
) -> Result<ListPage, ConsoleError> {
    let page = page.max(1);
    let list = s
        .dir
        .list_data_sources(&who.admin.ctx(), (page - 1) * PAGE_SIZE, PAGE_SIZE)
        .await?;
    let link = |n: u64| format!("/admin/data-sources?page={n}");
    Ok(ListPage {
        c: Chrome::new(who, "data-sources"),
        first: (page - 1) * PAGE_SIZE,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page * PAGE_SIZE < list.count).then(|| link(page + 1)),
        rows: list.hits,
        count: list.count,
        may_create: who.may(may::CREATE_DATA_SOURCES),
        new,
        errors,
    })
}

pub async fn list(State(s): State<AppState>, who: Who, Query(p): Query<ListParams>) -> Page {
    let page = list_page(
        &s,
        &who,
        p.page.unwrap_or(1),
        NewDataSource::default(),
        Errors::default(),
    )
    .await?;
    html_status(StatusCode::OK, &page)
}

/// Register a data source; a refusal comes back beside its field.
pub async fn create(
    State(s): State<AppState>,
    who: Who,
    axum::Form(f): axum::Form<NewDataSource>,
) -> Page {
    match s.dir.create_data_source(&who.admin.ctx(), &f.body()).await {
        Ok(v) => see_other(
            &changed(v.id, v.job_id),
            &format!("Registered the data source {}.", v.name),
        ),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let errors = if status == StatusCode::CONFLICT {
                Errors::at_field(message, "name")
            } else {
                Errors::new(
                    message,
                    &[
                        ("name", "name"),
                        ("tags", "tags"),
                        ("columns", "columns"),
                        ("owners", "owners"),
                    ],
                )
            };
            let page = list_page(&s, &who, 1, f, errors).await?;
            Ok(stands_for(
                html_status(status, &page)?,
                "/admin/data-sources",
            ))
        }
    }
}

/// A data source's page after a change: with the job it started, if any.
fn changed(id: DataSourceId, job: Option<Uuid>) -> String {
    match job {
        Some(job) => format!("/admin/data-sources/{id}?job={job}"),
        None => format!("/admin/data-sources/{id}"),
    }
}

#[derive(Template)]
#[template(path = "console/data_source.html")]
struct DataSourcePage {
    c: Chrome,
    d: DataSourceView,
    subscribers: Vec<SubscriberView>,
    count: u64,
    first: u64,
    prev: Option<String>,
    next: Option<String>,
    /// Tag, untag, delete: GOVERNANCE or an owner (the directory decides).
    may_change: bool,
    job: Option<Uuid>,
    dialog: String,
    add_tags: String,
    errors: Errors,
}

impl DataSourcePage {
    fn enc(&self, s: &str) -> String {
        urlencode(s)
    }
}

#[derive(Deserialize, Default)]
pub struct PageParams {
    page: Option<u64>,
    job: Option<Uuid>,
    #[serde(default)]
    dialog: String,
}

fn parse_id(id: &str) -> Result<DataSourceId, ConsoleError> {
    id.parse().map_err(|_| {
        ConsoleError::Status(
            StatusCode::NOT_FOUND,
            format!("There is no data source {id}."),
        )
    })
}

async fn data_source_page(
    s: &AppState,
    who: &Who,
    id: DataSourceId,
    p: &PageParams,
    add_tags: &str,
    errors: Errors,
) -> Result<DataSourcePage, ConsoleError> {
    let ctx = who.admin.ctx();
    let page = p.page.unwrap_or(1).max(1);
    let (d, subs) = tokio::try_join!(
        s.dir.data_source(&ctx, id),
        s.dir
            .data_source_subscribers(&ctx, id, (page - 1) * PAGE_SIZE, PAGE_SIZE),
    )?;
    let may_change = who.may(may::MANAGE_DATA_SOURCES) || d.owners.contains(&who.admin.id);
    let link = |n: u64| format!("/admin/data-sources/{id}?page={n}");
    Ok(DataSourcePage {
        c: Chrome::new(who, "data-sources"),
        first: (page - 1) * PAGE_SIZE,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page * PAGE_SIZE < subs.count).then(|| link(page + 1)),
        subscribers: subs.hits,
        count: subs.count,
        d,
        job: p.job,
        dialog: if may_change && p.dialog == "delete" {
            p.dialog.clone()
        } else {
            String::new()
        },
        may_change,
        add_tags: add_tags.to_owned(),
        errors,
    })
}

pub async fn page(
    State(s): State<AppState>,
    who: Who,
    Path(id): Path<String>,
    Query(p): Query<PageParams>,
) -> Page {
    let id = parse_id(&id)?;
    let page = data_source_page(&s, &who, id, &p, "", Errors::default()).await?;
    html_status(StatusCode::OK, &page)
}

/// After a change: back to the page (with its job), or the page again with
/// the refusal beside `field` (or in the `dialog` it came from).
async fn after(
    s: &AppState,
    who: &Who,
    id: DataSourceId,
    result: crate::directory::Result<Option<Uuid>>,
    (field, dialog, typed): (&'static str, &str, &str),
    done: &str,
) -> Page {
    match result {
        Ok(job) => see_other(&changed(id, job), done),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let p = PageParams {
                dialog: dialog.to_owned(),
                ..Default::default()
            };
            let page =
                data_source_page(s, who, id, &p, typed, Errors::at_field(message, field)).await?;
            Ok(stands_for(
                html_status(status, &page)?,
                &format!("/admin/data-sources/{id}"),
            ))
        }
    }
}

#[derive(Deserialize)]
pub struct TagsForm {
    #[serde(default)]
    tags: String,
}

/// Puts the tags typed (one a line) on the data source.
pub async fn tag(
    State(s): State<AppState>,
    who: Who,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<TagsForm>,
) -> Page {
    let id = parse_id(&id)?;
    let r = s
        .dir
        .tag_data_source(&who.admin.ctx(), id, &json!({"tags": lines(&f.tags)}))
        .await
        .map(|v| v.job_id);
    let done = "Saved the data source's tags.";
    after(&s, &who, id, r, ("tags", "", &f.tags), done).await
}

#[derive(Deserialize)]
pub struct UntagForm {
    tag: String,
}

pub async fn untag(
    State(s): State<AppState>,
    who: Who,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<UntagForm>,
) -> Page {
    let id = parse_id(&id)?;
    let r = s
        .dir
        .untag_data_source(&who.admin.ctx(), id, &f.tag)
        .await
        .map(|v| v.job_id);
    let done = format!("Removed the tag {}.", f.tag);
    after(&s, &who, id, r, ("on-tags", "", ""), &done).await
}

pub async fn delete(State(s): State<AppState>, who: Who, Path(id): Path<String>) -> Page {
    let id = parse_id(&id)?;
    match s.dir.delete_data_source(&who.admin.ctx(), id).await {
        Ok(()) => see_other("/admin/data-sources", "Deleted the data source."),
        Err(e) => after(&s, &who, id, Err(e), ("delete", "delete", ""), "").await,
    }
}
