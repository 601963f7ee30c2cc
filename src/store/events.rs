//! Event streams and their deliveries as storage keeps them (issue 19).
//! The outbox is the audit log: a stream's `cursor` is the last audit
//! record it has turned into deliveries, and [`Events::fan_out`] moves it
//! in the transaction that writes them. Which records are events, and
//! what a delivery's body is, the domain's closure decides.

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Result;
use crate::audit::Entry;
use crate::events::Change;

/// A stream: where its events go, which ones, and how far it has read.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub id: Uuid,
    pub format: String,
    pub delivery: String,
    pub endpoint: Option<String>,
    pub events: Vec<String>,
    pub iam: Option<Uuid>,
    pub full: bool,
    pub status: String,
    pub secret: String,
    /// The `aud` of its Security Event Tokens.
    pub audience: Option<String>,
    /// A poll stream's token, hashed (`events::set::token_hash`).
    pub poll_token_hash: Option<String>,
    pub cursor: i64,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
}

/// A delivery the domain derived from an audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub event_id: Uuid,
    pub event_type: String,
    /// Orders the deliveries of one resource (`User/<id>`).
    pub resource: String,
    pub body: String,
}

/// One event for one stream, and how its delivery went.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub stream_id: Uuid,
    pub seq: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub resource: String,
    /// What is sent (empty in [`Events::deliveries`], which lists
    /// deliveries without their bodies).
    pub body: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_at: OffsetDateTime,
    /// When its retry window started.
    pub since: OffsetDateTime,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub updated: OffsetDateTime,
}

/// What an attempt found.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub status: &'static str,
    /// The receiver's HTTP status, when it answered.
    pub http_status: Option<i64>,
    pub error: Option<String>,
    /// When to try again (pending only).
    pub next_at: OffsetDateTime,
}

/// The domain's judgement of an audit record for one stream: the delivery
/// it makes, if any.
pub type Deriver<'a> = dyn Fn(&Change) -> Option<NewDelivery> + Sync + 'a;

#[async_trait]
pub trait Events: Send + Sync {
    /// Creates a stream reading from the record `record` appends (its own
    /// creation): it receives the changes committed after it.
    async fn create_stream(&self, s: &Stream, record: &Entry) -> Result<()>;
    async fn streams(&self) -> Result<Vec<Stream>>;
    async fn stream(&self, id: Uuid) -> Result<Option<Stream>>;
    /// Sets a stream's status; one coming back from `disabled` reads from
    /// now on. None when there is no such stream.
    async fn set_stream_status(
        &self,
        id: Uuid,
        status: &str,
        record: &Entry,
        now: OffsetDateTime,
    ) -> Result<Option<Stream>>;
    /// Deletes a stream and its deliveries; whether there was one.
    async fn delete_stream(&self, id: Uuid, record: &Entry, now: OffsetDateTime) -> Result<bool>;

    /// The last audit record's number.
    async fn audit_seq(&self) -> Result<i64>;
    /// Turns up to `limit` audit records after the stream's cursor into
    /// its deliveries (none while it is disabled) and moves the cursor
    /// past them, in one write; how many records it read. None when the
    /// stream moved meanwhile (another round, or another replica, fanned
    /// out first, or its status changed): nothing was stored, and what
    /// it read may not be all there is.
    async fn fan_out(
        &self,
        stream: Uuid,
        limit: i64,
        now: OffsetDateTime,
        derive: &Deriver<'_>,
    ) -> Result<Option<usize>>;
    /// Up to `limit` deliveries of an enabled stream that are due, each the
    /// oldest pending one of its resource, held (not due) until `lease`.
    async fn claim_deliveries(
        &self,
        stream: Uuid,
        now: OffsetDateTime,
        lease: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Delivery>>;
    /// Records attempts at deliveries (by `seq`), in one transaction.
    async fn record_attempts(
        &self,
        stream: Uuid,
        attempts: &[(i64, Attempt)],
        now: OffsetDateTime,
    ) -> Result<()>;
    /// Deletes up to `limit` of a stream's deliveries that were delivered
    /// before `before`, oldest first; how many.
    async fn forget_delivered(
        &self,
        stream: Uuid,
        before: OffsetDateTime,
        limit: i64,
    ) -> Result<u64>;
    /// A stream's deliveries, newest first, of one status or all, without
    /// their bodies.
    async fn deliveries(
        &self,
        stream: Uuid,
        status: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>>;
    /// Makes a failed delivery of `event` pending again, due now, with a
    /// new retry window; whether there was one.
    async fn retry_delivery(
        &self,
        stream: Uuid,
        event: Uuid,
        record: &Entry,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// How many deliveries of each status a stream has.
    async fn delivery_counts(&self, stream: Uuid) -> Result<Vec<(String, i64)>>;
    /// Every stream's pending and failed deliveries, counted: `(stream,
    /// status, count)` (none for a stream with neither).
    async fn open_delivery_counts(&self) -> Result<Vec<(Uuid, String, i64)>>;

    /// Records `record` and queues `delivery` (a verification event) for
    /// the stream, numbered as that record; whether there was a stream.
    async fn queue_verification(
        &self,
        stream: Uuid,
        delivery: &NewDelivery,
        record: &Entry,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// A poll (RFC 8936): marks the pending deliveries of `acks` delivered
    /// and those of `errors` (event, what the receiver said) failed, then
    /// answers up to `max` pending ones, oldest first, and whether more
    /// are pending.
    async fn poll(
        &self,
        stream: Uuid,
        acks: &[Uuid],
        errors: &[(Uuid, String)],
        max: i64,
        now: OffsetDateTime,
    ) -> Result<(Vec<Delivery>, bool)>;

    /// The SET signing keys not retired, newest first.
    async fn set_keys(&self) -> Result<Vec<SetKey>>;
    /// Adds a signing key (it signs from now on).
    async fn add_set_key(&self, key: &SetKey, record: Option<&Entry>) -> Result<()>;
    /// Retires a key (it is published no more); whether it was live.
    async fn retire_set_key(&self, kid: &str, record: &Entry, now: OffsetDateTime) -> Result<bool>;
}

/// A key Security Event Tokens are signed with.
#[derive(Debug, Clone, PartialEq)]
pub struct SetKey {
    pub kid: String,
    pub private_pem: String,
    /// The public key as a JWK (JSON text).
    pub public_jwk: String,
    pub created: OffsetDateTime,
}

/// A stream's `events` column.
pub fn types_of(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
