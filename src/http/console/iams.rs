//! IAMs: the list, creating one, an IAM's settings (default permissions,
//! what a SCIM DELETE means, attribute and group mappings) and its SCIM
//! tokens (issued and shown once with the SCIM base URL, revoked).

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{
    Chrome, ConsoleError, Page, Who, form_error, html, html_status, see_other, stands_for,
    urlencode,
};
use crate::directory::accounts::{DeleteMode, IamSettings};
use crate::http::AppState;

struct IamRow {
    name: String,
    display_name: String,
    created: crate::directory::Timestamp,
    /// The built-in IAM (no creation date worth showing).
    builtin: bool,
    tokens: usize,
}

#[derive(Template)]
#[template(path = "console/iams.html")]
struct IamsPage {
    c: Chrome,
    rows: Vec<IamRow>,
    error: Option<String>,
    new_name: String,
    new_display: String,
}

async fn iams_page(
    s: &AppState,
    who: &Who,
    error: Option<String>,
    new: (&str, &str),
) -> Result<IamsPage, ConsoleError> {
    let rows = s
        .dir
        .managed_iams(&who.admin.ctx())
        .await?
        .into_iter()
        .map(|m| IamRow {
            tokens: m.tokens.iter().filter(|t| t.revoked.is_none()).count(),
            display_name: m.iam.display_name.clone().unwrap_or_default(),
            created: crate::directory::Timestamp(m.iam.created),
            builtin: m.iam.id == crate::store::accounts::BUILT_IN_IAM_ID.uuid(),
            name: m.iam.name,
        })
        .collect();
    Ok(IamsPage {
        c: Chrome::new(who, "iams"),
        rows,
        error,
        new_name: new.0.to_owned(),
        new_display: new.1.to_owned(),
    })
}

pub async fn list(State(s): State<AppState>, who: Who) -> Page {
    html(&iams_page(&s, &who, None, ("", "")).await?)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewIam {
    name: String,
    #[serde(default)]
    display_name: String,
}

pub async fn create(
    State(s): State<AppState>,
    who: Who,
    axum::Form(f): axum::Form<NewIam>,
) -> Page {
    let display = Some(f.display_name.trim()).filter(|d| !d.is_empty());
    match s
        .dir
        .create_iam_as(&who.admin.ctx(), f.name.trim(), display)
        .await
    {
        Ok(iam) => see_other(
            &format!("/admin/iams/{}", urlencode(&iam.name)),
            &format!("Created the IAM {}.", iam.name),
        ),
        Err(e) => {
            let (_, message) = form_error(e)?;
            let page = iams_page(&s, &who, Some(message), (&f.name, &f.display_name)).await?;
            Ok(stands_for(
                html_status(StatusCode::UNPROCESSABLE_ENTITY, &page)?,
                "/admin/iams",
            ))
        }
    }
}

#[derive(Clone)]
struct TokenRow {
    id: String,
    label: String,
    created: crate::directory::Timestamp,
    revoked: Option<String>,
    last_used: Option<crate::directory::Timestamp>,
}

#[derive(Template)]
#[template(path = "console/iam.html")]
struct IamPage {
    c: Chrome,
    name: String,
    display_name: String,
    scim_url: String,
    /// Each permission: its name, what it allows, whether new users get it.
    catalogue: Vec<(String, String, bool)>,
    delete_mode: &'static str,
    attribute_mapping: String,
    group_permissions: String,
    tokens: Vec<TokenRow>,
    /// A token just issued: shown in this response only.
    new_token: Option<String>,
    error: Option<String>,
    /// Why the settings were refused, shown in the settings form (which
    /// keeps what was typed).
    settings_error: Option<String>,
    /// The settings field that error is about (its id), shown beside it,
    /// marked invalid and focused; empty when it is about the whole form.
    settings_field: &'static str,
    /// The dialog the address asks for (`issue`), rendered open.
    dialog: String,
    /// The token whose revoke confirmation the address asks for.
    revoke: Option<TokenRow>,
}

impl IamPage {
    fn any_active(&self) -> bool {
        self.tokens.iter().any(|t| t.revoked.is_none())
    }
}

#[derive(Deserialize, Default)]
pub struct PageParams {
    #[serde(default)]
    dialog: String,
    #[serde(default)]
    revoke: String,
}

async fn iam_page(
    s: &AppState,
    who: &Who,
    headers: &HeaderMap,
    name: &str,
    new_token: Option<String>,
    error: Option<String>,
    p: &PageParams,
) -> Result<IamPage, ConsoleError> {
    let crate::directory::iams::ManagedIam {
        iam,
        settings,
        tokens,
    } = s.dir.managed_iam(&who.admin.ctx(), name).await?;
    let tokens: Vec<TokenRow> = tokens
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.to_string(),
            label: t.label.unwrap_or_default(),
            created: crate::directory::Timestamp(t.created),
            revoked: t.revoked.map(crate::directory::rfc3339),
            last_used: t.last_used.map(crate::directory::Timestamp),
        })
        .collect();
    let catalogue = s
        .dir
        .permission_catalogue()
        .await?
        .into_iter()
        .map(|p| {
            let on = settings.default_permissions.contains(&p.name);
            (p.name, p.description, on)
        })
        .collect();
    Ok(IamPage {
        c: Chrome::new(who, "iams"),
        scim_url: crate::http::extract::base_url(s, headers),
        display_name: iam.display_name.unwrap_or_default(),
        name: iam.name,
        catalogue,
        delete_mode: match settings.delete_mode {
            DeleteMode::Deprovision => "deprovision",
            DeleteMode::Delete => "delete",
        },
        attribute_mapping: settings
            .attribute_mapping
            .iter()
            .map(|(path, key)| format!("{path} = {key}\n"))
            .collect(),
        group_permissions: settings
            .group_permissions
            .iter()
            .map(|(g, p)| format!("{g} = {}\n", p.join(", ")))
            .collect(),
        revoke: tokens
            .iter()
            .find(|t| t.revoked.is_none() && t.id == p.revoke)
            .cloned(),
        dialog: if p.dialog == "issue" {
            p.dialog.clone()
        } else {
            String::new()
        },
        tokens,
        new_token,
        error,
        settings_error: None,
        settings_field: "",
    })
}

pub async fn page(
    State(s): State<AppState>,
    who: Who,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(p): Query<PageParams>,
) -> Page {
    html(&iam_page(&s, &who, &headers, &name, None, None, &p).await?)
}

/// `a = b` lines → a map; a line without `=` is an error.
fn lines(text: &str, what: &str) -> Result<BTreeMap<String, String>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.rsplit_once('=')
                .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
                .ok_or_else(|| format!("{what}: each line is 'left = right' ('{l}' is not)"))
        })
        .collect()
}

/// The field a settings refusal is about, by what it says: the form's
/// own parse errors name their field; the directory's refusals name an
/// attribute mapping, or a permission (only group permissions are typed:
/// default permissions are ticked from the catalogue).
fn settings_field(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.contains("attribute mapping") || m.contains("mapped") {
        "attributeMapping"
    } else if m.starts_with("group permissions") || m.contains("no permission named") {
        "groupPermissions"
    } else {
        ""
    }
}

pub async fn settings(
    State(s): State<AppState>,
    who: Who,
    headers: HeaderMap,
    Path(name): Path<String>,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Page {
    let ctx = who.admin.ctx();
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    // The form has no rate limit, roles dialect, permissions source or
    // idpGrantable: keep those set through the admin API.
    let current = match s.dir.iam(&name).await {
        Ok(iam) => s.dir.iam_settings(iam.id).await.ok(),
        Err(_) => None,
    }
    .unwrap_or_default();
    let parsed = (|| {
        let groups = lines(field("groupPermissions"), "Group permissions")?
            .into_iter()
            .map(|(g, p)| {
                (
                    g,
                    p.split(',')
                        .map(|p| p.trim().to_owned())
                        .filter(|p| !p.is_empty())
                        .collect(),
                )
            })
            .collect();
        Ok::<_, String>(IamSettings {
            default_permissions: form
                .iter()
                .filter(|(k, _)| k == "defaultPermissions")
                .map(|(_, v)| v.clone())
                .collect(),
            delete_mode: if field("deleteMode") == "delete" {
                DeleteMode::Delete
            } else {
                DeleteMode::Deprovision
            },
            attribute_mapping: lines(field("attributeMapping"), "Attribute mapping")?,
            group_permissions: groups,
            ..current
        })
    })();
    let result = match parsed {
        Ok(settings) => s
            .dir
            .set_iam_settings(&ctx, &name, &json!(settings))
            .await
            .map(|_| ())
            .map_err(|e| form_error(e).map(|(_, message)| message)),
        Err(m) => Err(Ok(m)),
    };
    match result {
        Ok(()) => see_other(
            &format!("/admin/iams/{}", urlencode(&name)),
            &format!("Saved the settings of {name}."),
        ),
        Err(Ok(message)) => {
            let mut page = iam_page(
                &s,
                &who,
                &headers,
                &name,
                None,
                None,
                &PageParams::default(),
            )
            .await?;
            // The form as it was sent, not as stored: nothing typed is lost.
            for (p, _, on) in &mut page.catalogue {
                *on = form
                    .iter()
                    .any(|(k, v)| k == "defaultPermissions" && v == p);
            }
            page.delete_mode = if field("deleteMode") == "delete" {
                "delete"
            } else {
                "deprovision"
            };
            page.attribute_mapping = field("attributeMapping").to_owned();
            page.group_permissions = field("groupPermissions").to_owned();
            page.settings_field = settings_field(&message);
            page.settings_error = Some(message);
            Ok(stands_for(
                html_status(StatusCode::UNPROCESSABLE_ENTITY, &page)?,
                &format!("/admin/iams/{}", urlencode(&name)),
            ))
        }
        Err(Err(e)) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    label: String,
}

/// Issues a SCIM token and shows it in this response only: it is never
/// stored but as a hash, and never shown again.
pub async fn issue_token(
    State(s): State<AppState>,
    who: Who,
    headers: HeaderMap,
    Path(name): Path<String>,
    axum::Form(f): axum::Form<TokenForm>,
) -> Page {
    let label = Some(f.label.trim()).filter(|l| !l.is_empty());
    let (_, secret) = s
        .dir
        .create_token_as(&who.admin.ctx(), &name, label)
        .await?;
    let page = html(
        &iam_page(
            &s,
            &who,
            &headers,
            &name,
            Some(secret),
            None,
            &PageParams::default(),
        )
        .await?,
    )?;
    Ok(stands_for(
        page,
        &format!("/admin/iams/{}", urlencode(&name)),
    ))
}

/// A reload of the address a token was issued at: the IAM's page.
pub async fn tokens(Path(name): Path<String>) -> Page {
    Ok(Redirect::to(&format!("/admin/iams/{}", urlencode(&name))).into_response())
}

pub async fn revoke_token(State(s): State<AppState>, who: Who, Path(id): Path<String>) -> Page {
    let ctx = who.admin.ctx();
    let id = Uuid::parse_str(&id).map_err(|_| {
        ConsoleError::Status(StatusCode::NOT_FOUND, "There is no such token.".into())
    })?;
    let iam = s
        .dir
        .list_tokens(&ctx)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .map(|t| t.iam_name)
        .ok_or_else(|| {
            ConsoleError::Status(StatusCode::NOT_FOUND, "There is no such token.".into())
        })?;
    s.dir.revoke_token_as(&ctx, id).await?;
    see_other(
        &format!("/admin/iams/{}", urlencode(&iam)),
        "Revoked the token: the identity provider using it is refused from now on.",
    )
}
