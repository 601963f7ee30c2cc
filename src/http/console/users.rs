//! Users: the list (search, IAM filter, sort, pages, disabled accounts on
//! request), New User, the user page (profile, permissions, attributes,
//! groups, subscriptions, governance report, audit trail) and its actions
//! (disable / enable, migrate, permanent delete).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Chrome, ConsoleError, Page, Who, form_error, html, html_status, see_other, stands_for,
};
use crate::directory::account_view::{AccountSummary, AccountView};
use crate::directory::accounts::parse_sort;
use crate::directory::attributes::{AttributeOwner, Layer};
use crate::directory::audit_log::AuditView;
use crate::directory::audit_search::AuditNames;
use crate::directory::ids::UserId;
use crate::directory::permissions::may;
use crate::http::AppState;
use crate::store::accounts::{AccountQuery, Position};

pub const PAGE_SIZE: u64 = 50;
/// A user's page shows this many of the latest changes to the account.
const HISTORY_ROWS: usize = 50;
/// A search counts its matches up to this many ("more than 10,000").
pub const SEARCH_COUNT_CAP: u64 = 10_000;

/// A sortable column header: its link and its `aria-sort`.
pub struct Column {
    pub label: &'static str,
    pub href: String,
    pub aria_sort: &'static str,
}

#[derive(Template)]
#[template(path = "console/users.html")]
pub(super) struct UsersPage {
    c: Chrome,
    rows: Vec<AccountSummary>,
    count: u64,
    /// The total as the caption shows it ("1,234", "more than 10,000").
    count_text: String,
    /// A search or filter narrows the list (for the empty state's advice).
    filtered: bool,
    first: u64,
    last: u64,
    q: String,
    iam: String,
    permission: String,
    include_disabled: bool,
    iams: Vec<String>,
    /// The permission names the filter and the bulk grant offer.
    permissions: Vec<String>,
    /// "page 2 of 7", when the count is exact.
    page_text: Option<String>,
    /// This list's own address (where a bulk change returns to), and its
    /// CSV export's.
    pub(super) back: String,
    export: String,
    /// The rows ticked for a bulk change (kept while it is confirmed).
    pub(super) selected: Vec<String>,
    /// A bulk change waiting for its confirmation.
    pub(super) bulk: Option<super::users_bulk::Confirm>,
    /// Why a bulk change could not be asked for.
    pub(super) bulk_error: Option<String>,
    columns: Vec<Column>,
    prev: Option<String>,
    next: Option<String>,
    dialog: bool,
    new_name: String,
    new_email: String,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    #[serde(default)]
    pub(super) q: String,
    #[serde(default)]
    pub(super) iam: String,
    /// Holders of this permission only.
    #[serde(default)]
    pub(super) permission: String,
    #[serde(default)]
    pub(super) include_disabled: Option<String>,
    #[serde(default)]
    pub(super) sort: String,
    #[serde(default)]
    page: Option<u64>,
    /// The page starts after this row (Next page) ...
    #[serde(default)]
    after: Option<String>,
    /// ... or ends before it (Previous page).
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    dialog: Option<String>,
}

/// 12345 → "12,345".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn query_string(p: &ListParams, sort: &str, page: u64) -> String {
    paged_query_string(p, sort, page, None)
}

/// The list's address; `cursor` is ("after" | "before", row id).
fn paged_query_string(
    p: &ListParams,
    sort: &str,
    page: u64,
    cursor: Option<(&str, &str)>,
) -> String {
    let mut pairs = vec![];
    let enc = |s: &str| super::urlencode(s);
    if !p.q.is_empty() {
        pairs.push(format!("q={}", enc(&p.q)));
    }
    if !p.iam.is_empty() {
        pairs.push(format!("iam={}", enc(&p.iam)));
    }
    if !p.permission.is_empty() {
        pairs.push(format!("permission={}", enc(&p.permission)));
    }
    if p.include_disabled.is_some() {
        pairs.push("includeDisabled=on".to_owned());
    }
    if !sort.is_empty() {
        pairs.push(format!("sort={}", enc(sort)));
    }
    if page > 1 {
        pairs.push(format!("page={page}"));
        if let Some((k, id)) = cursor {
            pairs.push(format!("{k}={}", enc(id)));
        }
    }
    if pairs.is_empty() {
        "/admin/users".to_owned()
    } else {
        format!("/admin/users?{}", pairs.join("&"))
    }
}

pub(super) async fn users_page(
    s: &AppState,
    who: &Who,
    p: &ListParams,
    dialog: bool,
    new: (&str, &str),
    error: Option<String>,
) -> Result<UsersPage, ConsoleError> {
    let (sort, descending) = parse_sort(Some(&p.sort))?;
    let iam = Some(p.iam.as_str()).filter(|i| !i.is_empty());
    let mut page = p.page.unwrap_or(1).max(1);
    // Next and Previous carry the row they continue from: the page is an
    // index range read from there, however deep. A bare `page=N` skips.
    let position = |id: &Option<String>, before| {
        id.as_deref()
            .and_then(|i| Uuid::parse_str(i).ok())
            .map(|id| Position { id, before })
    };
    let from = match position(&p.after, false) {
        Some(f) if page > 1 => Some(f),
        _ => position(&p.before, true).filter(|_| page > 1),
    };
    let search = Some(p.q.clone()).filter(|q| !q.trim().is_empty());
    let permission = Some(p.permission.clone()).filter(|p| !p.is_empty());
    let filtered_count = search.is_some() || permission.is_some();
    let list = s
        .dir
        .list_accounts(
            &who.admin.ctx(),
            iam,
            AccountQuery {
                include_disabled: p.include_disabled.is_some(),
                count_cap: filtered_count.then_some(SEARCH_COUNT_CAP),
                search,
                permission,
                offset: if from.is_some() {
                    0
                } else {
                    (page - 1) * PAGE_SIZE
                },
                // One more than a page: whether there is another.
                limit: PAGE_SIZE + 1,
                sort,
                descending,
                from,
                ..Default::default()
            },
        )
        .await?;
    let count = list.count;
    let count_text = if list.count_is_lower_bound {
        format!("more than {}", thousands(count))
    } else {
        thousands(count)
    };
    let mut rows = list.hits;
    let extra = rows.len() as u64 > PAGE_SIZE;
    let backwards = from.is_some_and(|f| f.before);
    let (has_prev, has_next) = if backwards {
        if extra {
            rows.remove(0);
        } else {
            // Nothing before these: they are the first page.
            page = 1;
        }
        (extra, true)
    } else {
        rows.truncate(PAGE_SIZE as usize);
        (page > 1, extra)
    };
    let columns = [
        ("Username", "userName"),
        ("Created", "created"),
        ("Last modified", "lastModified"),
    ]
    .into_iter()
    .map(|(label, key)| {
        let (current, desc) = match p.sort.strip_prefix('-') {
            Some(k) => (k == key, true),
            None => (
                p.sort == key || (p.sort.is_empty() && key == "userName"),
                false,
            ),
        };
        let next_sort = if current && !desc {
            format!("-{key}")
        } else {
            key.to_owned()
        };
        Column {
            label,
            href: query_string(p, &next_sort, 1),
            aria_sort: match (current, desc) {
                (false, _) => "none",
                (true, false) => "ascending",
                (true, true) => "descending",
            },
        }
    })
    .collect();
    let first = (page - 1) * PAGE_SIZE;
    let prev = has_prev.then(|| match rows.first() {
        Some(r) if page > 2 => {
            paged_query_string(p, &p.sort, page - 1, Some(("before", &r.id.to_string())))
        }
        _ => query_string(p, &p.sort, page - 1),
    });
    let next = has_next.then(|| match rows.last() {
        Some(r) => paged_query_string(p, &p.sort, page + 1, Some(("after", &r.id.to_string()))),
        None => query_string(p, &p.sort, page + 1),
    });
    let pages = count.div_ceil(PAGE_SIZE).max(1);
    let page_text = (!list.count_is_lower_bound && pages > 1)
        .then(|| format!("page {page} of {}", thousands(pages)));
    // The address this page was asked for, as its links write it.
    let cursor = match (&p.after, &p.before) {
        (Some(a), _) => Some(("after", a.as_str())),
        (None, Some(b)) => Some(("before", b.as_str())),
        _ => None,
    };
    let back = paged_query_string(p, &p.sort, p.page.unwrap_or(1).max(1), cursor);
    let export = query_string(p, &p.sort, 1).replacen("/admin/users", "/admin/users/export", 1);
    Ok(UsersPage {
        c: Chrome::new(who, "users"),
        page_text,
        back,
        export,
        selected: Vec::new(),
        bulk: None,
        bulk_error: None,
        permission: p.permission.clone(),
        permissions: s
            .dir
            .permission_catalogue()
            .await?
            .into_iter()
            .map(|d| d.name)
            .collect(),
        first: if rows.is_empty() { 0 } else { first + 1 },
        last: first + rows.len() as u64,
        prev,
        next,
        count_text,
        filtered: !p.q.trim().is_empty() || !p.iam.is_empty() || !p.permission.is_empty(),
        rows,
        count,
        q: p.q.clone(),
        iam: p.iam.clone(),
        include_disabled: p.include_disabled.is_some(),
        iams: s
            .dir
            .list_iams()
            .await?
            .into_iter()
            .map(|i| i.name)
            .collect(),
        columns,
        dialog,
        new_name: new.0.to_owned(),
        new_email: new.1.to_owned(),
        error,
    })
}

impl UsersPage {
    /// Whether this row is ticked for a bulk change.
    fn ticked(&self, id: impl std::fmt::Display) -> bool {
        let id = id.to_string();
        self.selected.contains(&id)
    }
}

pub async fn list(State(s): State<AppState>, who: Who, Query(p): Query<ListParams>) -> Page {
    let dialog = p.dialog.as_deref() == Some("new-user") && who.may(may::MANAGE_ACCOUNTS);
    html(&users_page(&s, &who, &p, dialog, ("", ""), None).await?)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    full_name: String,
    email: String,
}

/// New User: the email becomes the username. A refusal re-renders the
/// dialog with the error; nothing was created.
pub async fn create(
    State(s): State<AppState>,
    who: Who,
    axum::Form(f): axum::Form<NewUser>,
) -> Page {
    let name = f.full_name.trim();
    let email = f.email.trim();
    // Asked even for an empty name (which it refuses, creating nothing):
    // whether this caller may create users at all comes first.
    let result = match s
        .dir
        .create_bim_user(&who.admin.ctx(), Some(name), email)
        .await
    {
        Ok(id) => Ok(id),
        Err(e @ crate::directory::Error::Forbidden(_)) => return Err(e.into()),
        Err(_) if name.is_empty() => Err("Enter the person's full name.".to_owned()),
        Err(e) => Err(match form_error(e) {
            Ok((_, message)) => message,
            Err(cause) => {
                tracing::error!(%cause, "creating a user failed");
                "The user could not be created (server error).".to_owned()
            }
        }),
    };
    match result {
        Ok(id) => see_other(&format!("/admin/users/{id}"), &format!("Created {email}.")),
        Err(message) => {
            let page = users_page(
                &s,
                &who,
                &ListParams::default(),
                true,
                (name, email),
                Some(message),
            )
            .await?;
            Ok(stands_for(
                html_status(StatusCode::UNPROCESSABLE_ENTITY, &page)?,
                "/admin/users?dialog=new-user",
            ))
        }
    }
}

/// One attribute key: the identity provider's values and the managed ones.
pub struct AttributeRow {
    pub key: String,
    pub idp: String,
    pub managed: Vec<String>,
}

pub fn attribute_rows(idp: &Layer, managed: &Layer) -> Vec<AttributeRow> {
    let mut keys: Vec<&String> = idp.keys().chain(managed.keys()).collect();
    keys.sort();
    keys.dedup();
    let values = |layer: &Layer, k: &str| -> Vec<String> {
        layer.get(k).into_iter().flatten().cloned().collect()
    };
    keys.into_iter()
        .map(|k| AttributeRow {
            idp: values(idp, k).join(", "),
            managed: values(managed, k),
            key: k.clone(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage {
    c: Chrome,
    u: AccountView,
    /// Changes to the account, newest first (with the governance report
    /// only), the first `HISTORY_ROWS` of `history_count`.
    audit_trail: Vec<AuditView>,
    history_count: usize,
    audit_names: AuditNames,
    attributes: Vec<AttributeRow>,
    inherited: Vec<AttributeRow>,
    /// The permissions that may be granted, with what each allows.
    catalogue: Vec<crate::store::accounts::PermissionDef>,
    iams: Vec<String>,
    /// The account is the only one holding USER_ADMIN: its removal is
    /// not offered (the directory would refuse it).
    last_admin: bool,
    may_manage: bool,
    may_report: bool,
    dialog: String,
    error: Option<String>,
    migrate_iam: String,
    migrate_name: String,
    /// "Why can this person see this data source" (EVALUATE_POLICIES).
    may_evaluate: bool,
    user_id: String,
    choices: Vec<super::access::Choice>,
    more: bool,
    picked: String,
}

impl UserPage {
    fn name(&self) -> &str {
        self.u.account.name()
    }

    /// Who made a change in the account's history, by name.
    fn actor(&self, r: &AuditView) -> Option<super::audit::Link> {
        self.audit_names
            .actor(&r.actor)
            .map(|n| super::audit::link(n, true, self.c.can_iams))
    }

    /// A permission's source as a person reads it: the group by its name
    /// (with a link), the IAM whose default it was, or granted here.
    fn source(&self, source: &str) -> Source {
        let text = |t: String| Source {
            text: t,
            href: None,
        };
        match source.split_once(':') {
            Some(("group", id)) => match self.u.groups.iter().find(|g| g.id.to_string() == id) {
                Some(g) => Source {
                    text: format!("group {}", g.display_name),
                    href: Some(format!("/admin/groups/{id}")),
                },
                None => text("a group".to_owned()),
            },
            _ if source == crate::store::accounts::SOURCE_DIRECT => text("granted here".to_owned()),
            _ if source == crate::store::accounts::SOURCE_IAM_DEFAULT => {
                text(match &self.u.account.iam {
                    Some(iam) => format!("default of {iam}"),
                    None => "an IAM's default".to_owned(),
                })
            }
            _ => text(source.to_owned()),
        }
    }

    /// The groups of the account's own IAM it is a direct member of: what
    /// a migration away from that IAM ends.
    fn provider_groups(&self) -> Vec<&str> {
        let iam = self.u.account.iam.as_deref();
        self.u
            .groups
            .iter()
            .filter(|g| g.direct && iam.is_some() && g.iam.as_deref() == iam)
            .map(|g| g.display_name.as_str())
            .collect()
    }
}

/// What a page shows for a permission's source.
struct Source {
    text: String,
    href: Option<String>,
}

fn parse_user(id: &str) -> Result<UserId, ConsoleError> {
    id.parse()
        .map_err(|_| ConsoleError::Status(StatusCode::NOT_FOUND, format!("There is no user {id}.")))
}

#[derive(Deserialize, Default)]
pub struct PageParams {
    dialog: Option<String>,
}

async fn user_page(
    s: &AppState,
    who: &Who,
    id: UserId,
    dialog: &str,
    error: Option<String>,
    migrate: (&str, &str),
) -> Result<UserPage, ConsoleError> {
    let ctx = who.admin.ctx();
    let may_report = ctx.may(may::READ_REPORTS);
    let may_manage = ctx.may(may::MANAGE_ACCOUNTS);
    // The governance report is the account's view plus join dates and its
    // audit trail; without the right to read reports, the plain view.
    let (u, mut audit_trail) = if may_report {
        let report = s.dir.report(&ctx, id).await?;
        (report.view, report.audit_trail)
    } else {
        (s.dir.account_view(&ctx, id).await?, Vec::new())
    };
    let history_count = audit_trail.len();
    audit_trail.truncate(HISTORY_ROWS);
    let audit_names = if may_report {
        s.dir.audit_names(&ctx, &audit_trail).await?
    } else {
        AuditNames::default()
    };
    let may_evaluate = ctx.may(may::EVALUATE_POLICIES);
    let (choices, more) = if may_evaluate {
        super::access::choices(s, who).await?
    } else {
        (Vec::new(), false)
    };
    let holds_user_admin = u
        .permissions
        .0
        .iter()
        .any(|p| p.permission == crate::directory::permissions::USER_ADMIN);
    let last_admin = may_manage && holds_user_admin && s.dir.is_last_user_admin(id).await?;
    let dialog = match dialog {
        "permissions" | "disable" | "enable" | "revoke" | "migrate" | "delete" if may_manage => {
            dialog.to_owned()
        }
        _ => String::new(),
    };
    Ok(UserPage {
        c: Chrome::new(who, "users"),
        attributes: attribute_rows(&u.attributes.identity_provider, &u.attributes.managed),
        inherited: attribute_rows(&u.attributes.inherited, &Layer::new()),
        catalogue: s.dir.permission_catalogue().await?,
        last_admin,
        iams: s
            .dir
            .list_iams()
            .await?
            .into_iter()
            .map(|i| i.name)
            .collect(),
        migrate_iam: if migrate.0.is_empty() {
            u.account.iam.clone().unwrap_or_default()
        } else {
            migrate.0.to_owned()
        },
        migrate_name: migrate.1.to_owned(),
        may_evaluate,
        user_id: id.to_string(),
        choices,
        more,
        picked: String::new(),
        u,
        audit_trail,
        history_count,
        audit_names,
        may_manage,
        may_report,
        dialog,
        error,
    })
}

pub async fn page(
    State(s): State<AppState>,
    who: Who,
    Path(id): Path<String>,
    Query(p): Query<PageParams>,
) -> Page {
    let id = parse_user(&id)?;
    html(
        &user_page(
            &s,
            &who,
            id,
            p.dialog.as_deref().unwrap_or(""),
            None,
            ("", ""),
        )
        .await?,
    )
}

/// Runs a change; on a refusal the page comes back with the dialog open
/// and the reason in it, else back to the user's page.
async fn act(
    s: &AppState,
    who: &Who,
    id: UserId,
    dialog: &str,
    migrate: (&str, &str),
    result: crate::directory::Result<()>,
    (then, done): (String, &str),
) -> Page {
    match result {
        Ok(()) => see_other(&then, done),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let page = user_page(s, who, id, dialog, Some(message), migrate).await?;
            let mut resp = html(&page)?;
            *resp.status_mut() = status;
            let url = match dialog {
                "" => format!("/admin/users/{id}"),
                d => format!("/admin/users/{id}?dialog={d}"),
            };
            Ok(stands_for(resp, &url))
        }
    }
}

#[derive(Deserialize)]
pub struct PermissionForm {
    permission: String,
}

pub async fn add_permission(
    State(s): State<AppState>,
    who: Who,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<PermissionForm>,
) -> Page {
    let ctx = who.admin.ctx();
    let id = parse_user(&id)?;
    let r = s
        .dir
        .add_permissions(&ctx, id, std::slice::from_ref(&f.permission))
        .await;
    act(
        &s,
        &who,
        id,
        "permissions",
        ("", ""),
        r,
        (
            format!("/admin/users/{id}"),
            &format!("Granted {}.", f.permission),
        ),
    )
    .await
}

pub async fn remove_permission(
    State(s): State<AppState>,
    who: Who,
    Path((id, name)): Path<(String, String)>,
) -> Page {
    let ctx = who.admin.ctx();
    let id = parse_user(&id)?;
    let r = s.dir.remove_permission(&ctx, id, &name).await;
    act(
        &s,
        &who,
        id,
        "",
        ("", ""),
        r,
        (
            format!("/admin/users/{id}"),
            &format!("Removed the permission {name}."),
        ),
    )
    .await
}

#[derive(Deserialize)]
pub struct AttributeForm {
    op: String,
    pub(super) key: String,
    #[serde(default)]
    value: String,
}

/// The body `Directory::patch_attributes` takes for one form submission.
pub fn attribute_change(f: &AttributeForm) -> Value {
    let values: Vec<&str> = Some(f.value.trim())
        .filter(|v| !v.is_empty())
        .into_iter()
        .collect();
    json!({"operations": [{"op": f.op, "name": f.key.trim(), "values": values}]})
}

pub async fn change_attribute(
    State(s): State<AppState>,
    who: Who,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<AttributeForm>,
) -> Page {
    let ctx = who.admin.ctx();
    let id = parse_user(&id)?;
    let r = s
        .dir
        .patch_attributes(&ctx, AttributeOwner::User(id), &attribute_change(&f))
        .await;
    act(
        &s,
        &who,
        id,
        "",
        ("", ""),
        r,
        (
            format!("/admin/users/{id}#attributes"),
            &format!("Saved the attribute {}.", f.key.trim()),
        ),
    )
    .await
}

pub async fn disable(State(s): State<AppState>, who: Who, Path(id): Path<String>) -> Page {
    let ctx = who.admin.ctx();
    let id = parse_user(&id)?;
    let r = s.dir.set_disabled(&ctx, id, true).await;
    act(
        &s,
        &who,
        id,
        "disable",
        ("", ""),
        r,
        (
            format!("/admin/users/{id}"),
            "Disabled the account: it cannot sign in, whatever its identity provider sends.",
        ),
    )
    .await
}

pub async fn enable(State(s): State<AppState>, who: Who, Path(id): Path<String>) -> Page {
    let ctx = who.admin.ctx();
    let id = parse_user(&id)?;
    let r = s.dir.set_disabled(&ctx, id, false).await;
    act(
        &s,
        &who,
        id,
        "enable",
        ("", ""),
        r,
        (format!("/admin/users/{id}"), "Enabled the account."),
    )
    .await
}

/// Ends every admin token and console session of the account (this one's
/// too, when it is the admin's own: the next page is the sign-in).
pub async fn revoke_sessions(State(s): State<AppState>, who: Who, Path(id): Path<String>) -> Page {
    let ctx = who.admin.ctx();
    let id = parse_user(&id)?;
    let r = s.dir.revoke_sessions(&ctx, id).await;
    act(
        &s,
        &who,
        id,
        "revoke",
        ("", ""),
        r,
        (
            format!("/admin/users/{id}"),
            "Revoked every admin token and console session of the account.",
        ),
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrateForm {
    iam: String,
    user_name: String,
}

pub async fn migrate(
    State(s): State<AppState>,
    who: Who,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<MigrateForm>,
) -> Page {
    let ctx = who.admin.ctx();
    let id = parse_user(&id)?;
    let r = s.dir.migrate(&ctx, id, &f.iam, f.user_name.trim()).await;
    act(
        &s,
        &who,
        id,
        "migrate",
        (&f.iam, &f.user_name),
        r,
        (
            format!("/admin/users/{id}"),
            &format!("Moved the account to {} as {}.", f.iam, f.user_name.trim()),
        ),
    )
    .await
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

/// Permanent delete: the directory refuses anything but the word `Delete`.
pub async fn delete(
    State(s): State<AppState>,
    who: Who,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<DeleteForm>,
) -> Page {
    let ctx = who.admin.ctx();
    let id = parse_user(&id)?;
    let r = s.dir.delete_permanently(&ctx, id, Some(&f.confirm)).await;
    act(
        &s,
        &who,
        id,
        "delete",
        ("", ""),
        r,
        (
            "/admin/users".to_owned(),
            "Permanently deleted the account. The audit log keeps a record of the deletion.",
        ),
    )
    .await
}
