//! Global subscription policies: the list, a builder for the common form
//! (circumstances by tag, any or all; anyone, approval, manual, or
//! entitlements by groups and attribute values, any or all; automatic
//! subscription, Share Responsibility, staged) with a text box for the
//! advanced language, delete, and the page of the job a change starts.
//! The form becomes the admin API's document: the directory validates it
//! and names the field at fault, shown beside that field.

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
use crate::directory::governance::{JobView, PolicyView};
use crate::directory::permissions::may;
use crate::http::AppState;
use crate::policy::model::{Access, Circumstance, Operator, RuleForm};

/// The builder as typed: every field a string, as a form posts it.
#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PolicyForm {
    #[serde(default)]
    policy_key: String,
    #[serde(default)]
    name: String,
    staged: Option<String>,
    /// `tags` (the tags and column tags listed), `anyTag`, `noTags`, `all`.
    #[serde(default)]
    scope: String,
    #[serde(default)]
    circumstance_operator: String,
    /// One tag a line.
    #[serde(default)]
    tags: String,
    #[serde(default)]
    column_tags: String,
    /// `anyone`, `approval`, `entitlements`, `manual`.
    #[serde(default, rename = "type")]
    kind: String,
    /// `entitlements` (the builder) or `advanced`.
    #[serde(default)]
    rule: String,
    #[serde(default)]
    entitlement_operator: String,
    /// One group a line.
    #[serde(default)]
    groups: String,
    /// One `Name=Value` a line.
    #[serde(default)]
    attributes: String,
    #[serde(default)]
    advanced: String,
    /// Approver permissions, one a line.
    #[serde(default)]
    approvals: String,
    automatic_subscription: Option<String>,
    share_responsibility: Option<String>,
}

/// The form's fields by the document paths the directory names.
const FIELDS: [(&str, &str); 12] = [
    ("policyKey", "policyKey"),
    ("name", "name"),
    ("staged", "staged"),
    ("circumstanceOperator", "circumstances"),
    ("circumstances", "circumstances"),
    ("actions.type", "type"),
    ("actions.advanced", "advanced"),
    ("actions.entitlements.groups", "groups"),
    ("actions.entitlements.attributes", "attributes"),
    ("actions.entitlements", "entitlements"),
    ("actions.approvals", "approvals"),
    ("actions", "type"),
];

fn operator(o: Operator) -> &'static str {
    match o {
        Operator::Any => "any",
        Operator::All => "all",
    }
}

fn checked(on: bool) -> Option<String> {
    on.then(|| "on".to_owned())
}

impl PolicyForm {
    /// A new policy's defaults: entitlements by the builder, any of them,
    /// subscribing automatically, no approvers (whoever the rule does not
    /// admit is denied).
    fn new_policy() -> PolicyForm {
        PolicyForm {
            scope: "tags".into(),
            circumstance_operator: "any".into(),
            kind: "entitlements".into(),
            rule: "entitlements".into(),
            entitlement_operator: "any".into(),
            automatic_subscription: checked(true),
            ..Default::default()
        }
    }

    /// A stored policy in the builder; `false` when its circumstances mix
    /// kinds the builder does not show together.
    fn of(v: &PolicyView) -> (PolicyForm, bool) {
        let p = &v.policy;
        let mut f = PolicyForm {
            policy_key: p.policy_key.clone(),
            name: p.name.clone(),
            staged: checked(p.staged),
            circumstance_operator: operator(p.circumstance_operator).into(),
            kind: p.actions.access.kind().into(),
            automatic_subscription: checked(p.actions.automatic_subscription),
            share_responsibility: checked(p.actions.share_responsibility),
            ..PolicyForm::new_policy()
        };
        let mut tags = Vec::new();
        let mut column_tags = Vec::new();
        let mut other = Vec::new();
        for c in &p.circumstances {
            match c {
                Circumstance::Tags { tag } => tags.push(tag.as_str()),
                Circumstance::ColumnTags { tag } => column_tags.push(tag.as_str()),
                Circumstance::AnyTag => other.push("anyTag"),
                Circumstance::NoTags => other.push("noTags"),
                Circumstance::All => other.push("all"),
            }
        }
        f.tags = tags.join("\n");
        f.column_tags = column_tags.join("\n");
        let shown = match other.as_slice() {
            [] => true,
            [one] if tags.is_empty() && column_tags.is_empty() => {
                f.scope = (*one).into();
                true
            }
            _ => false,
        };
        let approvals = match &p.actions.access {
            Access::Approval(a) => a.as_slice(),
            Access::Entitlements { rule, approvals } => {
                match &rule.form {
                    RuleForm::Entitlements(e) => {
                        f.entitlement_operator = operator(e.operator).into();
                        f.groups = e.groups.join("\n");
                        f.attributes = e
                            .attributes
                            .iter()
                            .map(|a| format!("{}={}", a.name, a.value))
                            .collect::<Vec<_>>()
                            .join("\n");
                    }
                    RuleForm::Advanced(text) => {
                        f.rule = "advanced".into();
                        f.advanced = text.clone();
                    }
                }
                approvals.as_slice()
            }
            Access::Anyone | Access::Manual => &[],
        };
        f.approvals = approvals
            .iter()
            .map(|a| a.required_permission.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        (f, shown)
    }

    /// The admin API's document for this form. Only the chosen type's
    /// fields go in; every check is the directory's.
    fn document(&self) -> Value {
        let circumstances: Vec<Value> = match self.scope.as_str() {
            kind @ ("anyTag" | "noTags" | "all") => vec![json!({ "type": kind })],
            _ => lines(&self.tags)
                .into_iter()
                .map(|t| json!({"type": "tags", "tag": t}))
                .chain(
                    lines(&self.column_tags)
                        .into_iter()
                        .map(|t| json!({"type": "columnTags", "tag": t})),
                )
                .collect(),
        };
        let approvals: Vec<Value> = lines(&self.approvals)
            .into_iter()
            .map(|p| json!({ "requiredPermission": p }))
            .collect();
        let mut actions = json!({
            "type": self.kind,
            "shareResponsibility": self.share_responsibility.is_some(),
        });
        if matches!(self.kind.as_str(), "anyone" | "entitlements") {
            actions["automaticSubscription"] = json!(self.automatic_subscription.is_some());
        }
        if self.kind == "entitlements" {
            if self.rule == "advanced" {
                actions["advanced"] = json!(self.advanced);
            } else {
                let attributes: Vec<Value> = lines(&self.attributes)
                    .iter()
                    .map(|l| {
                        let (name, value) = l.split_once('=').unwrap_or((l, ""));
                        json!({"name": name.trim(), "value": value.trim()})
                    })
                    .collect();
                actions["entitlements"] = json!({
                    "operator": self.entitlement_operator,
                    "groups": lines(&self.groups),
                    "attributes": attributes,
                });
            }
        }
        if matches!(self.kind.as_str(), "approval" | "entitlements") && !approvals.is_empty() {
            actions["approvals"] = json!(approvals);
        }
        json!({
            "policyKey": self.policy_key.trim(),
            "name": self.name.trim(),
            "staged": self.staged.is_some(),
            "circumstanceOperator": self.circumstance_operator,
            "circumstances": circumstances,
            "actions": actions,
        })
    }
}

/// One row of the list.
pub struct PolicyRow {
    pub key: String,
    pub name: String,
    pub kind: &'static str,
    pub staged: bool,
    pub applies_to: String,
    pub mode: &'static str,
    pub automatic: bool,
    pub updated: String,
}

impl From<&PolicyView> for PolicyRow {
    fn from(v: &PolicyView) -> Self {
        let p = &v.policy;
        let circumstances: Vec<String> = p
            .circumstances
            .iter()
            .map(|c| match c {
                Circumstance::Tags { tag } => format!("tag {tag}"),
                Circumstance::ColumnTags { tag } => format!("column tag {tag}"),
                Circumstance::AnyTag => "any tagged data source".into(),
                Circumstance::NoTags => "untagged data sources".into(),
                Circumstance::All => "every data source".into(),
            })
            .collect();
        let joiner = match p.circumstance_operator {
            Operator::Any => " or ",
            Operator::All => " and ",
        };
        PolicyRow {
            key: p.policy_key.clone(),
            name: p.name.clone(),
            kind: p.actions.access.kind(),
            staged: p.staged,
            applies_to: circumstances.join(joiner),
            mode: if p.actions.share_responsibility {
                "Share Responsibility"
            } else {
                "Always Required"
            },
            automatic: p.actions.automatic_subscription,
            updated: v.updated_at.day().to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/policies.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<PolicyRow>,
    may_govern: bool,
}

pub async fn list(State(s): State<AppState>, who: Who) -> Page {
    let list = s.dir.list_policies(&who.admin.ctx()).await?;
    html_status(
        StatusCode::OK,
        &ListPage {
            c: Chrome::new(&who, "policies"),
            rows: list.hits.iter().map(PolicyRow::from).collect(),
            may_govern: who.may(may::GOVERN),
        },
    )
}

#[derive(Template)]
#[template(path = "console/policy.html")]
struct EditPage {
    c: Chrome,
    f: PolicyForm,
    /// The stored policy's key; none for a new one.
    key: Option<String>,
    may_govern: bool,
    /// The stored policy mixes circumstances the builder cannot show.
    mixed: bool,
    job: Option<Uuid>,
    dialog: String,
    errors: Errors,
}

impl EditPage {
    fn action(&self) -> String {
        match &self.key {
            Some(k) => format!("/admin/policies/{}", urlencode(k)),
            None => "/admin/policies".to_owned(),
        }
    }

    fn enc(&self, s: &str) -> String {
        urlencode(s)
    }
}

fn edit_page(who: &Who, f: PolicyForm, key: Option<String>, errors: Errors) -> EditPage {
    EditPage {
        c: Chrome::new(who, "policies"),
        f,
        key,
        may_govern: who.may(may::GOVERN),
        mixed: false,
        job: None,
        dialog: String::new(),
        errors,
    }
}

/// New policy: the builder with its defaults.
pub async fn new(State(s): State<AppState>, who: Who) -> Page {
    // Asked first: whether this admin may read policies at all.
    s.dir.list_policies(&who.admin.ctx()).await?;
    let page = edit_page(&who, PolicyForm::new_policy(), None, Errors::default());
    html_status(StatusCode::OK, &page)
}

/// The builder again with the directory's refusal beside its field;
/// nothing changed.
fn refused(
    who: &Who,
    f: PolicyForm,
    key: Option<String>,
    e: crate::directory::Error,
    url: &str,
) -> Page {
    let (status, message) = form_error(e)?;
    let errors = if status == StatusCode::CONFLICT {
        Errors::at_field(message, "policyKey")
    } else {
        Errors::new(message, &FIELDS)
    };
    let page = edit_page(who, f, key, errors);
    Ok(stands_for(html_status(status, &page)?, url))
}

/// The policy's page after a change, with the job it started.
fn saved(v: &PolicyView) -> String {
    let at = format!("/admin/policies/{}", urlencode(&v.policy.policy_key));
    match v.job_id {
        Some(job) => format!("{at}?job={job}"),
        None => at,
    }
}

pub async fn create(
    State(s): State<AppState>,
    who: Who,
    axum::Form(f): axum::Form<PolicyForm>,
) -> Page {
    match s.dir.create_policy(&who.admin.ctx(), &f.document()).await {
        Ok(v) => see_other(
            &saved(&v),
            &format!("Created the policy {}.", v.policy.policy_key),
        ),
        Err(e) => refused(&who, f, None, e, "/admin/policies/new"),
    }
}

#[derive(Deserialize, Default)]
pub struct PageParams {
    job: Option<Uuid>,
    #[serde(default)]
    dialog: String,
}

/// A policy in the builder (read-only without GOVERNANCE).
pub async fn page(
    State(s): State<AppState>,
    who: Who,
    Path(key): Path<String>,
    Query(p): Query<PageParams>,
) -> Page {
    let v = s.dir.policy(&who.admin.ctx(), &key).await?;
    let (f, shown) = PolicyForm::of(&v);
    let mut page = edit_page(&who, f, Some(key), Errors::default());
    page.mixed = !shown;
    page.job = p.job;
    if page.may_govern && p.dialog == "delete" {
        page.dialog = p.dialog;
    }
    html_status(StatusCode::OK, &page)
}

pub async fn replace(
    State(s): State<AppState>,
    who: Who,
    Path(key): Path<String>,
    axum::Form(mut f): axum::Form<PolicyForm>,
) -> Page {
    // The key is the policy's for good: the address names it.
    f.policy_key = key.clone();
    match s
        .dir
        .replace_policy(&who.admin.ctx(), &key, &f.document())
        .await
    {
        Ok(v) => see_other(&saved(&v), &format!("Saved the policy {key}.")),
        Err(e) => {
            let url = format!("/admin/policies/{}", urlencode(&key));
            refused(&who, f, Some(key), e, &url)
        }
    }
}

pub async fn delete(State(s): State<AppState>, who: Who, Path(key): Path<String>) -> Page {
    s.dir.delete_policy(&who.admin.ctx(), &key).await?;
    see_other("/admin/policies", &format!("Deleted the policy {key}."))
}

#[derive(Template)]
#[template(path = "console/job.html")]
struct JobPage {
    c: Chrome,
    j: JobView,
}

impl JobPage {
    fn running(&self) -> bool {
        self.j.state != "done"
    }

    fn percent(&self) -> i64 {
        (self.j.done * 100)
            .checked_div(self.j.total)
            .map_or(100, |p| p.min(100))
    }
}

/// A job's progress (`GET /api/v1/jobs/{id}`); the page polls itself
/// while the job runs.
pub async fn job(State(s): State<AppState>, who: Who, Path(id): Path<String>) -> Page {
    let id = Uuid::parse_str(&id).map_err(|_| {
        ConsoleError::Status(StatusCode::NOT_FOUND, format!("There is no job {id}."))
    })?;
    let j = s.dir.job(&who.admin.ctx(), id).await?;
    html_status(
        StatusCode::OK,
        &JobPage {
            c: Chrome::new(&who, "policies"),
            j,
        },
    )
}
