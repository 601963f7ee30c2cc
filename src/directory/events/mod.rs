//! Event streams (issue 19): administrators create, read, pause, disable
//! and delete the streams the directory's changes are pushed to, and read
//! and retry their deliveries. The events themselves come from the audit
//! log (`crate::events`); `worker` delivers them.

pub mod guard;
pub mod meter;
pub mod set;
pub mod worker;

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::accounts::Ctx;
use super::permissions::may;
use super::{Directory, Error, Result, Timestamp, changes, truncate};
use crate::events;
use crate::scim::schema::custom::ResourceTypes;
use crate::store::events::{Delivery, Stream};

/// The members a new stream's body may hold.
const CREATE_MEMBERS: [&str; 7] = [
    "format", "delivery", "endpoint", "events", "iam", "full", "audience",
];
/// The statuses a stream may be set to.
const STATUSES: [&str; 3] = ["enabled", "paused", "disabled"];
/// The delivery statuses a list may ask for.
const DELIVERY_STATUSES: [&str; 3] = ["pending", "delivered", "failed"];
/// The longest endpoint URL a stream keeps.
const MAX_ENDPOINT: usize = 2048;

/// A stream as administrators read it (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamView {
    pub id: Uuid,
    /// `webhook` or `set` (Security Event Tokens, RFC 9967).
    pub format: String,
    /// `push`, or `poll` (SETs only, RFC 8936).
    pub delivery: String,
    pub endpoint: Option<String>,
    /// The `aud` of its SETs (SET streams only): as given, else the
    /// endpoint (push) or the stream's id (poll).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// The event types it receives; `["*"]`: all of them.
    pub events: Vec<String>,
    /// Only this IAM's resources, when set (its name).
    pub iam: Option<String>,
    /// Whether each event carries the resource as its change left it
    /// (the webhook's `data`, the SETs' `…:full` events).
    pub full: bool,
    /// `enabled`, `paused` (deliveries wait) or `disabled` (new events
    /// dropped).
    pub status: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Its deliveries by status: `pending`, `delivered` and `failed` when
    /// one stream is read, `pending` and `failed` in the list.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub deliveries: Option<Map<String, Value>>,
    /// The signing secret (`whsec_...`): only in the answer to a create,
    /// never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// A poll stream's token, for `POST .../poll` (`Authorization:
    /// Bearer`): only in the answer to a create, never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreamPage {
    pub hits: Vec<StreamView>,
    pub count: u64,
}

/// One event's delivery to a stream.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    /// `User/<id>` or `Group/<id>`.
    pub resource: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// The receiver's last HTTP status, when it answered.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    /// When it is tried next (pending only).
    pub next_try: Option<Timestamp>,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub hits: Vec<DeliveryView>,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        DeliveryView {
            event_id: d.event_id,
            event_type: d.event_type.clone(),
            resource: d.resource.clone(),
            status: d.status.clone(),
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            next_try: (d.status == "pending").then_some(Timestamp(d.next_at)),
            updated_at: Timestamp(d.updated),
        }
    }
}

fn bad(detail: impl Into<String>) -> Error {
    Error::invalid_value(detail)
}

fn no_stream(id: Uuid) -> Error {
    Error::not_found(format!("no event stream with id {id}"))
}

/// `body[key]` as a string, if present.
fn text<'a>(body: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("'{key}' must be a string"))),
    }
}

/// Whether the delivery worker may send to `url`: https, or http to a host
/// `allow_http` names; no credentials in it.
pub fn check_endpoint(url: &str, allow_http: &[String]) -> std::result::Result<(), String> {
    if url.len() > MAX_ENDPOINT {
        return Err(format!(
            "'endpoint' is longer than {MAX_ENDPOINT} characters"
        ));
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| "'endpoint' is not a URL".to_owned())?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("'endpoint' may not carry credentials".into());
    }
    let host = parsed.host_str().unwrap_or("");
    match parsed.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if allow_http.iter().any(|h| h.eq_ignore_ascii_case(host)) => Ok(()),
        _ => Err(format!(
            "'endpoint' must be an https URL (plain http only to the hosts event_allow_http names), not '{}'",
            truncate(url)
        )),
    }
}

impl Directory {
    /// The internal hosts and networks streams may reach
    /// (`event_allow_private`).
    pub(crate) fn allowed_private(&self) -> events::guard::Allowed {
        events::guard::Allowed::new(&self.limits.event_allow_private)
    }

    fn stream_view(&self, s: &Stream, iams: &[crate::store::Iam]) -> StreamView {
        StreamView {
            id: s.id,
            format: s.format.clone(),
            delivery: s.delivery.clone(),
            endpoint: s.endpoint.clone(),
            audience: (s.format == "set").then(|| Self::audience_of(s)),
            events: s.events.clone(),
            iam: s
                .iam
                .and_then(|i| iams.iter().find(|x| x.id == i).map(|x| x.name.clone())),
            full: s.full,
            status: s.status.clone(),
            created_at: Timestamp(s.created),
            updated_at: Timestamp(s.updated),
            deliveries: None,
            secret: None,
            poll_token: None,
        }
    }

    /// Creates a stream from `{"format", "delivery", "endpoint", "events",
    /// "iam"?, "full"?}`; its answer alone shows the secret.
    pub async fn create_event_stream(&self, ctx: &Ctx, body: &Value) -> Result<StreamView> {
        ctx.require(may::MANAGE_EVENTS)?;
        let Some(b) = body.as_object() else {
            return Err(bad("the body must be a JSON object"));
        };
        if let Some(k) = b.keys().find(|k| !CREATE_MEMBERS.contains(&k.as_str())) {
            return Err(bad(format!("unknown member '{}'", truncate(k))));
        }
        let format = text(b, "format")?.unwrap_or("webhook");
        if format != "webhook" && format != "set" {
            return Err(bad(format!(
                "'format' must be \"webhook\" or \"set\", not '{}'",
                truncate(format)
            )));
        }
        let delivery = text(b, "delivery")?.unwrap_or("push");
        let poll = match delivery {
            "push" => false,
            "poll" if format == "set" => true,
            "poll" => return Err(bad("'delivery' \"poll\" is for \"set\" streams (RFC 8936)")),
            _ => {
                return Err(bad(format!(
                    "'delivery' must be \"push\" or \"poll\", not '{}'",
                    truncate(delivery)
                )));
            }
        };
        let endpoint = match (text(b, "endpoint")?, poll) {
            (Some(_), true) => return Err(bad("'endpoint' is for push delivery only")),
            (None, true) => None,
            (None, false) => return Err(bad("'endpoint' is required for push delivery")),
            (Some(e), false) => {
                check_endpoint(e, &self.limits.event_allow_http).map_err(bad)?;
                guard::check_endpoint(e, &self.allowed_private())
                    .await
                    .map_err(bad)?;
                Some(e)
            }
        };
        let audience = match text(b, "audience")? {
            Some(_) if format != "set" => {
                return Err(bad("'audience' is for \"set\" streams only"));
            }
            Some(a) if a.is_empty() || a.len() > MAX_ENDPOINT => {
                return Err(bad(format!(
                    "'audience' must be 1 to {MAX_ENDPOINT} characters"
                )));
            }
            a => a.map(str::to_owned),
        };
        let types: Vec<String> = match b.get("events") {
            Some(Value::Array(a)) if !a.is_empty() => a
                .iter()
                .map(|t| t.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("'events' must be a list of event types"))?,
            _ => {
                return Err(bad(
                    "'events' must be a non-empty list of event types, or [\"*\"]",
                ));
            }
        };
        if let Some(t) = events::unknown_type(&types) {
            return Err(bad(format!(
                "unknown event type '{}' (known: {})",
                truncate(t),
                events::types().collect::<Vec<_>>().join(", ")
            )));
        }
        let iams = self.store.list_iams().await?;
        let iam = match text(b, "iam")? {
            None => None,
            Some(name) => Some(
                iams.iter()
                    .find(|i| i.name == name)
                    .ok_or_else(|| bad(format!("no IAM named '{}'", truncate(name))))?
                    .id,
            ),
        };
        let full = match b.get("full") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(f)) => *f,
            Some(_) => return Err(bad("'full' must be true or false")),
        };
        let now = self.now();
        let poll_token = poll.then(set::new_poll_token);
        let stream = Stream {
            id: self.new_id(),
            format: format.to_owned(),
            delivery: delivery.to_owned(),
            endpoint: endpoint.map(str::to_owned),
            events: types,
            iam,
            full,
            status: "enabled".into(),
            // A SET is signed with the server's key (`set`), not a secret.
            secret: if format == "webhook" {
                events::new_secret(rand::random())
            } else {
                String::new()
            },
            audience,
            poll_token_hash: poll_token.as_deref().map(set::token_hash),
            cursor: 0,
            created: now,
            updated: now,
        };
        let names = b.keys().map(String::as_str);
        let record =
            changes::event_stream(&ctx.entry(""), "event_stream.created", stream.id, names);
        self.store.create_stream(&stream, &record).await?;
        self.events_wake.notify_one();
        let mut view = self.stream_view(&stream, &iams);
        view.secret = Some(stream.secret).filter(|s| !s.is_empty());
        view.poll_token = poll_token;
        Ok(view)
    }

    /// Every stream, each with its pending and failed deliveries counted.
    pub async fn event_streams(&self, ctx: &Ctx) -> Result<StreamPage> {
        ctx.require(may::MANAGE_EVENTS)?;
        let (streams, iams, counts) = tokio::try_join!(
            self.store.streams(),
            self.store.list_iams(),
            self.store.open_delivery_counts()
        )?;
        let open = meter::tally(&streams, counts);
        let hits: Vec<StreamView> = streams
            .iter()
            .map(|s| {
                let mut v = self.stream_view(s, &iams);
                let o = open.get(&s.id).copied().unwrap_or_default();
                let mut counts = Map::new();
                counts.insert("pending".into(), o.pending.into());
                counts.insert("failed".into(), o.failed.into());
                v.deliveries = Some(counts);
                v
            })
            .collect();
        Ok(StreamPage {
            count: hits.len() as u64,
            hits,
        })
    }

    async fn stream_of(&self, id: Uuid) -> Result<Stream> {
        self.store.stream(id).await?.ok_or_else(|| no_stream(id))
    }

    /// One stream, with its deliveries counted by status.
    pub async fn event_stream(&self, ctx: &Ctx, id: Uuid) -> Result<StreamView> {
        ctx.require(may::MANAGE_EVENTS)?;
        let s = self.stream_of(id).await?;
        let (counts, iams) =
            tokio::try_join!(self.store.delivery_counts(id), self.store.list_iams())?;
        let mut view = self.stream_view(&s, &iams);
        let mut by_status = Map::new();
        for status in DELIVERY_STATUSES {
            let n = counts.iter().find(|(s, _)| s == status).map_or(0, |c| c.1);
            by_status.insert(status.into(), n.into());
        }
        view.deliveries = Some(by_status);
        Ok(view)
    }

    /// Sets a stream's status from `{"status": "enabled" | "paused" |
    /// "disabled"}`.
    pub async fn set_event_stream_status(
        &self,
        ctx: &Ctx,
        id: Uuid,
        body: &Value,
    ) -> Result<StreamView> {
        ctx.require(may::MANAGE_EVENTS)?;
        let Some(b) = body.as_object() else {
            return Err(bad("the body must be a JSON object"));
        };
        if let Some(k) = b.keys().find(|k| k.as_str() != "status") {
            return Err(bad(format!("unknown member '{}'", truncate(k))));
        }
        let status = text(b, "status")?
            .filter(|s| STATUSES.contains(s))
            .ok_or_else(|| bad("'status' must be \"enabled\", \"paused\" or \"disabled\""))?;
        let record = changes::event_stream(&ctx.entry(""), "event_stream.updated", id, ["status"]);
        let s = self
            .store
            .set_stream_status(id, status, &record, self.now())
            .await?
            .ok_or_else(|| no_stream(id))?;
        self.events_wake.notify_one();
        Ok(self.stream_view(&s, &self.store.list_iams().await?))
    }

    pub async fn delete_event_stream(&self, ctx: &Ctx, id: Uuid) -> Result<()> {
        ctx.require(may::MANAGE_EVENTS)?;
        let record = changes::event_stream(
            &ctx.entry(""),
            "event_stream.deleted",
            id,
            std::iter::empty::<&str>(),
        );
        if self.store.delete_stream(id, &record, self.now()).await? {
            Ok(())
        } else {
            Err(no_stream(id))
        }
    }

    /// A stream's deliveries, newest first, of one status or all.
    pub async fn event_deliveries(
        &self,
        ctx: &Ctx,
        id: Uuid,
        status: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<DeliveryPage> {
        ctx.require(may::MANAGE_EVENTS)?;
        if let Some(s) = status.filter(|s| !DELIVERY_STATUSES.contains(s)) {
            return Err(bad(format!(
                "'status' must be pending, delivered or failed, not '{}'",
                truncate(s)
            )));
        }
        self.stream_of(id).await?;
        let rows = self
            .store
            .deliveries(id, status, offset as i64, limit as i64)
            .await?;
        Ok(DeliveryPage {
            hits: rows.iter().map(DeliveryView::from).collect(),
        })
    }

    /// Sends a failed delivery again, with a new retry window.
    pub async fn retry_event_delivery(&self, ctx: &Ctx, id: Uuid, event: Uuid) -> Result<()> {
        ctx.require(may::MANAGE_EVENTS)?;
        self.stream_of(id).await?;
        let record = changes::event_stream(
            &ctx.entry(""),
            "event_stream.retried",
            id,
            [format!("deliveries.{event}")],
        );
        if self
            .store
            .retry_delivery(id, event, &record, self.now())
            .await?
        {
            self.events_wake.notify_one();
            Ok(())
        } else {
            Err(Error::conflict(format!(
                "event {event} has no failed delivery to this stream"
            )))
        }
    }
}

impl Directory {
    /// Each IAM's resource types (with the extensions it declared), to
    /// render a `full` stream's resources as that IAM's GET would; none
    /// for a stream without `full`.
    pub(super) async fn types_for(&self, s: &Stream) -> Result<HashMap<Uuid, ResourceTypes>> {
        let mut types = HashMap::new();
        if s.full {
            for iam in self.store.list_iams().await? {
                types.insert(iam.id, self.resource_types(iam.id).await?);
            }
        }
        Ok(types)
    }

    /// An event's `data` for stream `s`: none unless it asks for `full`;
    /// else the resource as its change left it (kept in the change's
    /// transaction: a later change before delivery does not show), as
    /// the SCIM GET answers it: the stored document with `id`, `schemas`
    /// and `meta` (`location` under the issuer's `/scim/v2`), the
    /// attributes that are never returned left out. What the GET adds
    /// from elsewhere (`groups`, a group's `members`, `entitlements` and
    /// the bridge's extension, read at the time of the GET) is not in it.
    pub(super) fn event_data(
        &self,
        s: &Stream,
        e: &events::Event,
        types: &HashMap<Uuid, ResourceTypes>,
    ) -> Option<Value> {
        if !s.full {
            return None;
        }
        let snap = e.snapshot.as_ref()?;
        let stored = crate::store::Stored {
            id: e.resource_id,
            doc: snap.doc.clone(),
            created: snap.created,
            last_modified: snap.last_modified,
            version: snap.version,
        };
        let scope = super::Scope {
            iam: crate::ids::IamId::new(e.iam.unwrap_or_default()),
            base_url: format!("{}/scim/v2", self.set_issuer()),
            request_id: None,
            txn: None,
            acting: None,
            types: e
                .iam
                .and_then(|i| types.get(&i))
                .copied()
                .unwrap_or_default(),
        };
        let proj = crate::scim::projection::Projection::default();
        let mut resource = match e.resource_type {
            "Group" => super::groups::group_head(&scope, &stored, &proj),
            _ => super::users::user_resource(&scope, &stored, &[], &proj),
        };
        if let Some(doc) = resource.doc.as_object_mut() {
            // What an identity provider sent; the GET answers what the
            // account holds instead, which is not kept with the change.
            doc.remove("entitlements");
        }
        Some(resource.doc)
    }
}
