//! Event streams (docs/EVENTS.md): the streams with their state and their
//! pending and failed deliveries, creating one (its signing secret shown
//! in that answer only), a stream's page with its delivery history by
//! status, enabling, pausing and disabling it, retrying a failed
//! delivery, and deleting it after a confirmation. The same directory
//! methods as the admin API, which ask for USER_ADMIN or
//! APPLICATION_ADMIN.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Chrome, ConsoleError, Errors, Page, Who, form_error, html_status, see_other, stands_for,
};
use crate::directory::events::{DeliveryView, StreamView};
use crate::http::AppState;

const PAGE_SIZE: u64 = 50;
/// The delivery statuses the history filters by.
const FILTERS: [&str; 3] = ["pending", "delivered", "failed"];

/// The create form as typed, kept when it is refused.
#[derive(Default)]
pub struct NewStream {
    endpoint: String,
    /// The event types ticked; `*` for all of them.
    events: Vec<String>,
    iam: String,
}

impl NewStream {
    fn from_form(form: &[(String, String)]) -> NewStream {
        let field = |k: &str| {
            form.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        NewStream {
            endpoint: field("endpoint"),
            events: form
                .iter()
                .filter(|(k, _)| k == "events")
                .map(|(_, v)| v.clone())
                .collect(),
            iam: field("iam"),
        }
    }

    /// The admin API's body for this form.
    fn body(&self) -> Value {
        let mut b = json!({
            "format": "webhook",
            "delivery": "push",
            "endpoint": self.endpoint,
            "events": self.events,
        });
        if !self.iam.is_empty() {
            b["iam"] = json!(self.iam);
        }
        b
    }

    fn ticked(&self, t: &str) -> bool {
        self.events.iter().any(|e| e == t)
    }
}

#[derive(Template)]
#[template(path = "console/event_streams.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<StreamView>,
    types: Vec<&'static str>,
    iams: Vec<String>,
    new: NewStream,
    errors: Errors,
}

/// A stream's count of deliveries in `status`, as the directory gave it.
fn count(v: &StreamView, status: &str) -> i64 {
    v.deliveries
        .as_ref()
        .and_then(|d| d.get(status))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

impl ListPage {
    fn pending(&self, v: &StreamView) -> i64 {
        count(v, "pending")
    }

    fn failed(&self, v: &StreamView) -> i64 {
        count(v, "failed")
    }
}

async fn list_page(
    s: &AppState,
    who: &Who,
    new: NewStream,
    errors: Errors,
) -> Result<ListPage, ConsoleError> {
    let list = s.dir.event_streams(&who.admin.ctx()).await?;
    let iams = s.dir.list_iams().await?;
    Ok(ListPage {
        c: Chrome::new(who, "event-streams"),
        rows: list.hits,
        types: crate::events::types().collect(),
        iams: iams.into_iter().map(|i| i.name).collect(),
        new,
        errors,
    })
}

pub async fn list(State(s): State<AppState>, who: Who) -> Page {
    let page = list_page(&s, &who, NewStream::default(), Errors::default()).await?;
    html_status(StatusCode::OK, &page)
}

/// Creates a stream; its page answers, with the secret shown this once.
/// A refusal comes back beside its field, the form as typed.
pub async fn create(
    State(s): State<AppState>,
    who: Who,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Page {
    let new = NewStream::from_form(&form);
    match s
        .dir
        .create_event_stream(&who.admin.ctx(), &new.body())
        .await
    {
        Ok(created) => {
            let p = PageParams::default();
            let page =
                stream_page(&s, &who, created.id, &p, created.secret, Errors::default()).await?;
            Ok(stands_for(
                html_status(StatusCode::OK, &page)?,
                &format!("/admin/event-streams/{}", created.id),
            ))
        }
        Err(e) => {
            let (status, message) = form_error(e)?;
            let field = if message.contains("event type") || message.contains("'events'") {
                "events"
            } else if message.contains("IAM") {
                "iam"
            } else {
                "endpoint"
            };
            let page = list_page(&s, &who, new, Errors::at_field(message, field)).await?;
            Ok(stands_for(
                html_status(status, &page)?,
                "/admin/event-streams",
            ))
        }
    }
}

#[derive(Template)]
#[template(path = "console/event_stream.html")]
struct StreamPage {
    c: Chrome,
    s: StreamView,
    /// The signing secret: in the answer to the create only.
    secret: Option<String>,
    deliveries: Vec<DeliveryView>,
    /// The status the history shows (empty: all).
    filter: String,
    filters: [&'static str; 3],
    first: u64,
    prev: Option<String>,
    next: Option<String>,
    dialog: String,
    errors: Errors,
}

impl StreamPage {
    fn counted(&self, status: &str) -> i64 {
        count(&self.s, status)
    }

    /// The states the stream may be set to from its own, with their
    /// buttons' labels.
    fn moves(&self) -> Vec<(&'static str, &'static str)> {
        [
            ("enabled", "Enable"),
            ("paused", "Pause"),
            ("disabled", "Disable"),
        ]
        .into_iter()
        .filter(|(to, _)| *to != self.s.status)
        .collect()
    }
}

#[derive(Deserialize, Default)]
pub struct PageParams {
    #[serde(default)]
    status: String,
    page: Option<u64>,
    #[serde(default)]
    dialog: String,
}

fn parse_id(id: &str) -> Result<Uuid, ConsoleError> {
    Uuid::parse_str(id).map_err(|_| {
        ConsoleError::Status(
            StatusCode::NOT_FOUND,
            format!("There is no event stream {id}."),
        )
    })
}

async fn stream_page(
    s: &AppState,
    who: &Who,
    id: Uuid,
    p: &PageParams,
    secret: Option<String>,
    errors: Errors,
) -> Result<StreamPage, ConsoleError> {
    let ctx = who.admin.ctx();
    let filter = FILTERS
        .iter()
        .find(|f| **f == p.status)
        .map_or("", |f| *f)
        .to_owned();
    let page = p.page.unwrap_or(1).max(1);
    let (view, deliveries) = tokio::try_join!(
        s.dir.event_stream(&ctx, id),
        s.dir.event_deliveries(
            &ctx,
            id,
            Some(filter.as_str()).filter(|f| !f.is_empty()),
            (page - 1) * PAGE_SIZE,
            PAGE_SIZE,
        ),
    )?;
    let link = |n: u64| {
        let status = if filter.is_empty() {
            String::new()
        } else {
            format!("status={filter}&")
        };
        format!("/admin/event-streams/{id}?{status}page={n}")
    };
    Ok(StreamPage {
        c: Chrome::new(who, "event-streams"),
        s: view,
        secret,
        first: (page - 1) * PAGE_SIZE,
        prev: (page > 1).then(|| link(page - 1)),
        next: (deliveries.hits.len() as u64 == PAGE_SIZE).then(|| link(page + 1)),
        deliveries: deliveries.hits,
        filter,
        filters: FILTERS,
        dialog: if p.dialog == "delete" {
            p.dialog.clone()
        } else {
            String::new()
        },
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
    let page = stream_page(&s, &who, id, &p, None, Errors::default()).await?;
    html_status(StatusCode::OK, &page)
}

/// After a change: back to the stream's page (`then`), or the page again
/// with the refusal in `dialog` (or at the top).
async fn after(
    s: &AppState,
    who: &Who,
    id: Uuid,
    result: crate::directory::Result<()>,
    (then, done): (&str, &str),
    dialog: &str,
) -> Page {
    match result {
        Ok(()) => see_other(then, done),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let p = PageParams {
                dialog: dialog.to_owned(),
                ..Default::default()
            };
            let errors = if dialog.is_empty() {
                Errors::new(message, &[])
            } else {
                Errors::at_field(message, "delete")
            };
            let page = stream_page(s, who, id, &p, None, errors).await?;
            Ok(stands_for(
                html_status(status, &page)?,
                &format!("/admin/event-streams/{id}"),
            ))
        }
    }
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: String,
}

/// Enables, pauses or disables the stream.
pub async fn set_status(
    State(s): State<AppState>,
    who: Who,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<StatusForm>,
) -> Page {
    let id = parse_id(&id)?;
    let r = s
        .dir
        .set_event_stream_status(&who.admin.ctx(), id, &json!({"status": f.status}))
        .await
        .map(|_| ());
    let done = match f.status.as_str() {
        "enabled" => "Enabled the stream: its events are delivered.",
        "paused" => "Paused the stream: its events are kept until it is enabled.",
        _ => "Disabled the stream: new events are not kept for it.",
    };
    let then = format!("/admin/event-streams/{id}");
    after(&s, &who, id, r, (&then, done), "").await
}

/// Makes a failed delivery due again; the history of failed ones next.
pub async fn retry(
    State(s): State<AppState>,
    who: Who,
    Path((id, event)): Path<(String, String)>,
) -> Page {
    let id = parse_id(&id)?;
    let event = Uuid::parse_str(&event).map_err(|_| {
        ConsoleError::Status(StatusCode::NOT_FOUND, "There is no such delivery.".into())
    })?;
    let r = s
        .dir
        .retry_event_delivery(&who.admin.ctx(), id, event)
        .await;
    let then = format!("/admin/event-streams/{id}?status=failed");
    let done = "The delivery is due again.";
    after(&s, &who, id, r, (&then, done), "").await
}

pub async fn delete(State(s): State<AppState>, who: Who, Path(id): Path<String>) -> Page {
    let id = parse_id(&id)?;
    let r = s.dir.delete_event_stream(&who.admin.ctx(), id).await;
    let done = "Deleted the stream and its deliveries.";
    after(&s, &who, id, r, ("/admin/event-streams", done), "delete").await
}
