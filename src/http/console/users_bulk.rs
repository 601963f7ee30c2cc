//! The users list's bulk changes and export. A bulk change (disable,
//! enable, grant a permission) is asked for once, confirmed once in a
//! dialog that names every account, then applied account by account with
//! the same directory methods as the user page (each its own transaction
//! and audit record); the notice says how many changed and names any that
//! did not, with why. The export is the list's own query, as CSV.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::IntoResponse;

use super::users::{ListParams, users_page};
use super::{ConsoleError, Page, Who, html_status, see_other, stands_for};
use crate::directory::accounts::parse_sort;
use crate::directory::ids::UserId;
use crate::directory::permissions::may;
use crate::http::AppState;
use crate::store::accounts::AccountQuery;

/// At most this many accounts change in one bulk request.
pub const BULK_LIMIT: usize = 500;
/// An export holds at most this many accounts.
pub const EXPORT_LIMIT: u64 = 100_000;

/// A bulk change as its dialog shows it.
pub struct Confirm {
    pub op: String,
    pub permission: String,
    pub title: String,
    pub explain: &'static str,
    pub button: String,
    pub danger: bool,
    /// (id, name) of each account.
    pub people: Vec<(String, String)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Disable,
    Enable,
    Grant,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        match s {
            "disable" => Some(Op::Disable),
            "enable" => Some(Op::Enable),
            "grant" => Some(Op::Grant),
            _ => None,
        }
    }
}

fn accounts(n: usize) -> String {
    if n == 1 {
        "1 account".to_owned()
    } else {
        format!("{n} accounts")
    }
}

/// Where a bulk change returns to: a users list address, or the list.
fn back_to(form: &[(String, String)]) -> String {
    field(form, "back")
        .filter(|b| {
            (b == &"/admin/users" || b.starts_with("/admin/users?"))
                && !b.contains(['\r', '\n', '#'])
        })
        .unwrap_or("/admin/users")
        .to_owned()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The list's filter, read back from its address.
fn list_params(back: &str) -> ListParams {
    back.parse::<Uri>()
        .ok()
        .and_then(|u| Query::<ListParams>::try_from_uri(&u).ok())
        .map(|Query(p)| p)
        .unwrap_or_default()
}

/// POST /admin/users/bulk: `op`, `permission` (for grant), `id` once per
/// account, `back` (the list), and `confirmed=yes` once confirmed.
pub async fn bulk(
    State(s): State<AppState>,
    who: Who,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Page {
    let ctx = who.admin.ctx();
    ctx.require(may::MANAGE_ACCOUNTS)
        .map_err(ConsoleError::from)?;
    let back = back_to(&form);
    let mut ids: Vec<UserId> = Vec::new();
    let mut not_ids = 0;
    for (_, v) in form.iter().filter(|(k, _)| k == "id") {
        match v.parse::<UserId>() {
            Ok(id) if !ids.contains(&id) => ids.push(id),
            Ok(_) => {}
            Err(_) => not_ids += 1,
        }
    }
    let op = field(&form, "op").and_then(Op::parse);
    let permission = field(&form, "permission").unwrap_or("").trim().to_owned();
    let refusal = if ids.is_empty() && not_ids == 0 {
        Some("Select at least one user first: tick the box at the start of its row.".to_owned())
    } else if not_ids > 0 {
        Some("Some of the selected rows are not accounts; nothing was changed.".to_owned())
    } else if ids.len() > BULK_LIMIT {
        Some(format!(
            "At most {BULK_LIMIT} accounts change at once; {} are selected.",
            ids.len()
        ))
    } else if op.is_none() {
        Some("Choose what to do with the selected users.".to_owned())
    } else if op == Some(Op::Grant) && permission.is_empty() {
        Some("Choose the permission to grant.".to_owned())
    } else {
        None
    };
    let op = match (op, refusal) {
        (Some(op), None) => op,
        (_, Some(message)) => {
            let mut page = users_page(&s, &who, &list_params(&back), false, ("", ""), None).await?;
            page.selected = ids.iter().map(|i| i.to_string()).collect();
            page.bulk_error = Some(message);
            return Ok(stands_for(
                html_status(StatusCode::UNPROCESSABLE_ENTITY, &page)?,
                &back,
            ));
        }
        (None, None) => unreachable!("no operation is refused above"),
    };
    if field(&form, "confirmed") != Some("yes") {
        return confirm(&s, &who, &back, op, &permission, &ids).await;
    }
    let mut changed = Vec::new();
    let mut failed = Vec::new();
    for id in &ids {
        let result = match op {
            Op::Disable => s.dir.set_disabled(&ctx, *id, true).await,
            Op::Enable => s.dir.set_disabled(&ctx, *id, false).await,
            Op::Grant => {
                s.dir
                    .add_permissions(&ctx, *id, std::slice::from_ref(&permission))
                    .await
            }
        };
        match result {
            Ok(()) => changed.push(*id),
            Err(e @ crate::directory::Error::Internal(_)) => return Err(e.into()),
            Err(e) => failed.push((name_of(&s, &who, *id).await, e.to_string())),
        }
    }
    let done = match op {
        Op::Disable => "Disabled",
        Op::Enable => "Enabled",
        Op::Grant => "Granted",
    };
    let what = match op {
        Op::Grant => format!("{permission} to "),
        _ => String::new(),
    };
    let mut notice = if failed.is_empty() {
        format!("{done} {what}{}.", accounts(changed.len()))
    } else {
        format!("{done} {what}{} of {}.", changed.len(), accounts(ids.len()))
    };
    if !failed.is_empty() {
        let names: Vec<String> = failed
            .iter()
            .map(|(name, why)| format!("{name} ({why})"))
            .collect();
        notice.push_str(&format!(" Not changed: {}.", names.join("; ")));
    }
    // Disabled accounts show only with disabled accounts included: the
    // list comes back with them, so the changed badges are in sight.
    let to = if op == Op::Disable && !back.contains("includeDisabled=") {
        let sep = if back.contains('?') { '&' } else { '?' };
        format!("{back}{sep}includeDisabled=on")
    } else {
        back
    };
    see_other(&to, &notice)
}

async fn name_of(s: &AppState, who: &Who, id: UserId) -> String {
    match s.dir.account_view(&who.admin.ctx(), id).await {
        Ok(v) => v.account.name().to_owned(),
        Err(_) => id.to_string(),
    }
}

/// The list with the confirmation dialog open, naming every account.
async fn confirm(
    s: &AppState,
    who: &Who,
    back: &str,
    op: Op,
    permission: &str,
    ids: &[UserId],
) -> Page {
    let mut people = Vec::with_capacity(ids.len());
    for id in ids {
        people.push((id.to_string(), name_of(s, who, *id).await));
    }
    let n = accounts(ids.len());
    let (op_name, title, explain, button, danger) = match op {
        Op::Disable => (
            "disable",
            format!("Disable {n}?"),
            "They cannot sign in, whatever their identity provider sends, until enabled again.",
            format!("Disable {n}"),
            true,
        ),
        Op::Enable => (
            "enable",
            format!("Enable {n}?"),
            "They can sign in again, as far as their identity provider lets them.",
            format!("Enable {n}"),
            false,
        ),
        Op::Grant => (
            "grant",
            format!("Grant {permission} to {n}?"),
            "Granted directly, on top of what their IAM and groups give.",
            format!("Grant {permission}"),
            false,
        ),
    };
    let mut page = users_page(s, who, &list_params(back), false, ("", ""), None).await?;
    page.selected = people.iter().map(|(id, _)| id.clone()).collect();
    page.bulk = Some(Confirm {
        op: op_name.to_owned(),
        permission: permission.to_owned(),
        title,
        explain,
        button,
        danger,
        people,
    });
    Ok(stands_for(html_status(StatusCode::OK, &page)?, back))
}

/// GET /admin/users/export: the list as its filter selects it (every
/// page), as CSV.
pub async fn export(State(s): State<AppState>, who: Who, Query(p): Query<ListParams>) -> Page {
    let ctx = who.admin.ctx();
    let (sort, descending) = parse_sort(Some(&p.sort))?;
    let iam = Some(p.iam.as_str()).filter(|i| !i.is_empty());
    let base = AccountQuery {
        include_disabled: p.include_disabled.is_some(),
        search: Some(p.q.clone()).filter(|q| !q.trim().is_empty()),
        permission: Some(p.permission.clone()).filter(|p| !p.is_empty()),
        sort,
        descending,
        limit: 1000,
        ..Default::default()
    };
    let mut rows = Vec::new();
    loop {
        let q = AccountQuery {
            offset: rows.len() as u64,
            ..base.clone()
        };
        let page = s.dir.list_accounts(&ctx, iam, q).await?;
        let got = page.hits.len();
        rows.extend(page.hits);
        if got < 1000 {
            break;
        }
        if rows.len() as u64 >= EXPORT_LIMIT {
            return Err(ConsoleError::Status(
                StatusCode::BAD_REQUEST,
                format!(
                    "This list holds more than {EXPORT_LIMIT} accounts: narrow it (an IAM, a permission, a search) to export it."
                ),
            ));
        }
    }
    let mut out =
        String::from("id,userName,name,iam,identityProvider,bridge,created,lastModified\r\n");
    for r in &rows {
        let idp = if r.deprovisioned.is_some() {
            "detached"
        } else if r.active {
            "active"
        } else {
            "deactivated"
        };
        let bridge = if r.disabled_by_admin {
            "disabled"
        } else {
            "enabled"
        };
        let cells = [
            r.id.to_string(),
            r.user_name.clone(),
            r.name().to_owned(),
            r.iam.clone().unwrap_or_default(),
            idp.to_owned(),
            bridge.to_owned(),
            r.created.to_string(),
            r.last_modified.to_string(),
        ];
        let line: Vec<String> = cells
            .iter()
            .map(|c| crate::http::admin::audit_export::cell(c))
            .collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    let mut resp = out.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"users.csv\""),
    );
    Ok(resp)
}
