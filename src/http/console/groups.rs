//! Groups: the list (by IAM, paged) and a group's page (its members,
//! paged: a group may have a million; its managed attributes).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use super::users::{AttributeForm, AttributeRow, attribute_change, attribute_rows};
use super::{Chrome, ConsoleError, Page, Who, html, see_other, urlencode};
use crate::directory::attributes::AttributeOwner;
use crate::directory::ids::{GroupId, IamId};
use crate::directory::permissions::may;
use crate::http::AppState;

const PAGE_SIZE: u64 = 50;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupRow {
    id: String,
    display_name: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created: time::OffsetDateTime,
}

impl GroupRow {
    fn created(&self) -> crate::directory::Timestamp {
        crate::directory::Timestamp(self.created)
    }
}

#[derive(Template)]
#[template(path = "console/groups.html")]
struct GroupsPage {
    c: Chrome,
    rows: Vec<GroupRow>,
    iams: Vec<String>,
    iam: String,
    count: u64,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    #[serde(default)]
    iam: String,
    page: Option<u64>,
}

pub async fn list(State(s): State<AppState>, who: Who, Query(mut p): Query<ListParams>) -> Page {
    let page = p.page.unwrap_or(1).max(1);
    let iams: Vec<String> = s
        .dir
        .list_iams()
        .await?
        .into_iter()
        .map(|i| i.name)
        .collect();
    if p.iam.is_empty() {
        p.iam = first_with_groups(&s, &who, &iams).await?;
    }
    let iam = Some(p.iam.as_str()).filter(|i| !i.is_empty());
    let list = s
        .dir
        .list_groups_of(&who.admin.ctx(), iam, (page - 1) * PAGE_SIZE, PAGE_SIZE)
        .await?;
    let count = list["count"].as_u64().unwrap_or(0);
    let rows: Vec<GroupRow> = serde_json::from_value(list["hits"].clone())
        .map_err(|e| crate::directory::Error::Internal(e.to_string()))?;
    let link = |n: u64| format!("/admin/groups?iam={}&page={n}", urlencode(&p.iam));
    html(&GroupsPage {
        c: Chrome::new(&who, "groups"),
        prev: (page > 1).then(|| link(page - 1)),
        next: (page * PAGE_SIZE < count).then(|| link(page + 1)),
        rows,
        iams,
        iam: iam
            .unwrap_or(crate::directory::iams::BUILT_IN_IAM)
            .to_owned(),
        count,
    })
}

/// The IAM the list opens on: the first identity provider's that has
/// groups, else the built-in IAM if it has some, else the first identity
/// provider's (the built-in IAM's internal groups are often none).
async fn first_with_groups(
    s: &AppState,
    who: &Who,
    iams: &[String],
) -> Result<String, ConsoleError> {
    let ctx = who.admin.ctx();
    let built_in = crate::directory::iams::BUILT_IN_IAM;
    let providers = iams.iter().filter(|i| *i != built_in);
    for name in providers.chain(std::iter::once(&built_in.to_owned())) {
        let list = s.dir.list_groups_of(&ctx, Some(name), 0, 1).await?;
        if list["count"].as_u64().unwrap_or(0) > 0 {
            return Ok(name.clone());
        }
    }
    Ok(iams
        .iter()
        .find(|i| *i != built_in)
        .cloned()
        .unwrap_or_else(|| built_in.to_owned()))
}

#[derive(Deserialize)]
struct MemberRow {
    id: String,
    kind: String,
    display: Option<String>,
}

#[derive(Template)]
#[template(path = "console/group.html")]
struct GroupPage {
    c: Chrome,
    id: String,
    name: String,
    members: Vec<MemberRow>,
    count: u64,
    first: u64,
    prev: Option<String>,
    next: Option<String>,
    attributes: Vec<AttributeRow>,
    may_manage: bool,
}

#[derive(Deserialize, Default)]
pub struct PageParams {
    page: Option<u64>,
}

fn parse_group(id: &str) -> Result<Uuid, ConsoleError> {
    Uuid::parse_str(id).map_err(|_| {
        ConsoleError::Status(StatusCode::NOT_FOUND, format!("There is no group {id}."))
    })
}

pub async fn page(
    State(s): State<AppState>,
    who: Who,
    Path(id): Path<String>,
    Query(p): Query<PageParams>,
) -> Page {
    let ctx = who.admin.ctx();
    let id = parse_group(&id)?;
    let attributes = s.dir.group_attributes(&ctx, GroupId::new(id)).await?;
    let page = p.page.unwrap_or(1).max(1);
    let members = s
        .dir
        .group_members_page(&ctx, id, (page - 1) * PAGE_SIZE, PAGE_SIZE)
        .await?;
    let count = members["count"].as_u64().unwrap_or(0);
    let rows: Vec<MemberRow> = serde_json::from_value(members["hits"].clone())
        .map_err(|e| crate::directory::Error::Internal(e.to_string()))?;
    // Its name: a read of the group itself (the directory has no view of
    // one group for administrators yet).
    let name = match s
        .dir
        .store
        .group_iam(id)
        .await
        .map_err(crate::directory::Error::from)?
    {
        Some(iam) => s
            .dir
            .store
            .get_group(IamId::new(iam), GroupId::new(id))
            .await
            .map_err(crate::directory::Error::from)?
            .and_then(|g| {
                g.doc
                    .get("displayName")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            }),
        None => None,
    };
    let link = |n: u64| format!("/admin/groups/{id}?page={n}");
    html(&GroupPage {
        c: Chrome::new(&who, "groups"),
        id: id.to_string(),
        name: name.unwrap_or_else(|| id.to_string()),
        first: (page - 1) * PAGE_SIZE,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page * PAGE_SIZE < count).then(|| link(page + 1)),
        members: rows,
        count,
        attributes: attribute_rows(&Default::default(), &attributes),
        may_manage: who.may(may::MANAGE_ACCOUNTS),
    })
}

pub async fn change_attribute(
    State(s): State<AppState>,
    who: Who,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<AttributeForm>,
) -> Page {
    let id = parse_group(&id)?;
    s.dir
        .patch_attributes(
            &who.admin.ctx(),
            AttributeOwner::Group(GroupId::new(id)),
            &attribute_change(&f),
        )
        .await?;
    see_other(
        &format!("/admin/groups/{id}#attributes"),
        &format!("Saved the attribute {}.", f.key.trim()),
    )
}
