//! "Why can this person see this data source": the evaluate answer for an
//! account and a registered data source, picked on the user's page: the
//! decision, each policy's part with its reasons, and what the policies
//! read about the account.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::{Chrome, ConsoleError, Page, Who, form_error, html_status};
use crate::directory::governance::EvaluationView;
use crate::directory::ids::UserId;
use crate::http::AppState;
use crate::policy::{Decision, Mode};

/// The data sources the picker offers, by name.
pub const PICKER_SIZE: u64 = 500;

/// A data source in the picker.
pub struct Choice {
    pub id: String,
    pub name: String,
}

/// The picker's data sources (the first [`PICKER_SIZE`], by name) and
/// whether there are more.
pub async fn choices(s: &AppState, who: &Who) -> Result<(Vec<Choice>, bool), ConsoleError> {
    let list = s
        .dir
        .list_data_sources(&who.admin.ctx(), 0, PICKER_SIZE)
        .await?;
    let more = list.count > list.hits.len() as u64;
    let choices = list
        .hits
        .into_iter()
        .map(|d| Choice {
            id: d.id.to_string(),
            name: d.name,
        })
        .collect();
    Ok((choices, more))
}

/// The decision, in words.
fn decision_text(d: Decision) -> (&'static str, &'static str) {
    match d {
        Decision::Subscribe => ("subscribe", "May subscribe"),
        Decision::Approval => ("approval", "May ask; an approver grants it"),
        Decision::Manual => ("manual", "Only by a subscription added by hand"),
        Decision::Deny => ("deny", "May not subscribe"),
        Decision::NoPolicy => ("noPolicy", "No policy applies to this data source"),
    }
}

pub struct AttributeLine {
    pub name: String,
    pub value: String,
    pub sources: String,
}

#[derive(Template)]
#[template(path = "console/access.html")]
struct AccessPage {
    c: Chrome,
    user_id: String,
    user: String,
    choices: Vec<Choice>,
    more: bool,
    picked: String,
    /// The answer, or why there is none (beside the picker).
    answer: Result<Answer, String>,
}

struct Answer {
    e: EvaluationView,
    decision: (&'static str, &'static str),
    attributes: Vec<AttributeLine>,
}

impl Answer {
    fn of(e: EvaluationView) -> Answer {
        let attributes = e
            .inputs
            .attributes
            .iter()
            .flat_map(|(name, values)| {
                values.iter().map(move |(value, sources)| AttributeLine {
                    name: name.clone(),
                    value: value.clone(),
                    sources: sources
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                })
            })
            .collect();
        Answer {
            decision: decision_text(e.evaluation.decision),
            e,
            attributes,
        }
    }
}

impl AccessPage {
    fn mode(&self, m: &Mode) -> &'static str {
        match m {
            Mode::Required => "Always Required",
            Mode::Shared => "Share Responsibility",
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Params {
    #[serde(default)]
    data_source: String,
}

pub async fn page(
    State(s): State<AppState>,
    who: Who,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Page {
    let user: UserId = id.parse().map_err(|_| {
        ConsoleError::Status(StatusCode::NOT_FOUND, format!("There is no user {id}."))
    })?;
    let ctx = who.admin.ctx();
    let picked = p.data_source.trim().to_owned();
    let body = json!({"userId": user.to_string(), "dataSource": {"id": picked}});
    let (view, (choices, more)) = tokio::try_join!(
        async { Ok::<_, ConsoleError>(s.dir.account_view(&ctx, user).await?) },
        choices(&s, &who),
    )?;
    // A data source not chosen, or gone since: said beside the picker.
    let (status, answer) = match s.dir.evaluate(&ctx, &body).await {
        Ok(e) => (StatusCode::OK, Ok(Answer::of(e))),
        Err(e) => {
            let (status, message) = form_error(e)?;
            (status, Err(message))
        }
    };
    html_status(
        status,
        &AccessPage {
            c: Chrome::new(&who, "users"),
            user_id: user.to_string(),
            user: view.account.name().to_owned(),
            choices,
            more,
            picked,
            answer,
        },
    )
}
