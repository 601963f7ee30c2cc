//! The delivery worker: one task per stream, so that a stream whose
//! endpoint hangs or fails waits alone. Each task turns the audit records
//! after its stream's cursor into deliveries, then sends the due ones,
//! each the oldest pending one of its resource (in order per resource, at
//! once across resources), signed as Standard Webhooks says. At least
//! once: a delivery is marked done only after its receiver answered 2xx;
//! one claimed by a process that died is due again when its lease ends.
//! The SCIM write path never waits for any of this.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::join_all;
use time::OffsetDateTime;
use uuid::Uuid;

use super::check_endpoint;
use crate::directory::{Directory, Result};
use crate::events::{self, Change, Event};
use crate::store::events::{Attempt, Delivery, NewDelivery, Stream};

/// How often a stream with nothing to do looks again.
const POLL: Duration = Duration::from_millis(200);
/// How long a stream that has caught up (its round sent less than a
/// full batch) lets the next batch gather while requests use the
/// database: each round costs a few statements and three writer turns
/// however few events it carries, so under a steady stream of writes a
/// round every few milliseconds would take the writer from the SCIM
/// requests for a handful of events each. A backlog (full batches), or a
/// quiet database, goes on without pause.
const GATHER: Duration = Duration::from_millis(50);
/// How often the worker looks for streams created or deleted elsewhere.
const STREAMS_POLL: Duration = Duration::from_secs(2);
/// Audit records read per fan-out transaction.
const FAN_OUT_BATCH: i64 = 1000;
/// Deliveries sent at once per stream.
const SEND_BATCH: i64 = 128;
/// How long a delivered event is kept, to be seen in the stream's
/// deliveries; then it is deleted (failed ones stay until retried or the
/// stream goes). How often, and how many at a time (one write each).
const KEEP_DELIVERED: time::Duration = time::Duration::days(7);
const FORGET_EVERY: time::Duration = time::Duration::hours(1);
const FORGET_BATCH: i64 = 10_000;
/// The receiver's time to connect, and to answer in full.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claimed delivery is not due again: longer than one attempt
/// may take, so only a process that died leaves one to another.
const LEASE: Duration = Duration::from_secs(15);
/// The most of a receiver's answer that is read.
const MAX_RESPONSE: usize = 64 * 1024;

/// The HTTP client deliveries are sent with: no redirects followed,
/// bounded in time, connecting only to the addresses the SSRF guard
/// allows (no proxy from the environment, which would resolve for us).
fn client(allowed: crate::events::guard::Allowed) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(super::guard::Resolver::new(allowed))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TOTAL_TIMEOUT)
        .user_agent(concat!("scim-bridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

impl Directory {
    /// Delivers every stream's events for as long as the process lives:
    /// what was left pending before a restart first.
    pub async fn run_events(self) {
        let client = client(self.allowed_private());
        let mut tasks: HashMap<Uuid, tokio::task::JoinHandle<()>> = HashMap::new();
        loop {
            match self.store.streams().await {
                Ok(streams) => {
                    tasks.retain(|id, t| {
                        let keep = streams.iter().any(|s| s.id == *id) && !t.is_finished();
                        if !keep {
                            t.abort();
                        }
                        keep
                    });
                    for s in streams {
                        tasks.entry(s.id).or_insert_with(|| {
                            tokio::spawn(self.clone().run_stream(s.id, client.clone()))
                        });
                    }
                }
                Err(e) => tracing::error!(error = %e, "reading the event streams"),
            }
            let _ = tokio::time::timeout(STREAMS_POLL, self.events_wake.notified()).await;
        }
    }

    /// One stream's loop; ends when the stream is deleted.
    async fn run_stream(self, id: Uuid, client: reqwest::Client) {
        let mut forgot: Option<OffsetDateTime> = None;
        loop {
            if forgot.is_none_or(|t| self.now() - t >= FORGET_EVERY) {
                forgot = Some(self.now());
                if let Err(e) = self.forget_delivered(id).await {
                    tracing::error!(stream = %id, error = %e, "deleting old deliveries");
                }
            }
            match self.stream_round(id, &client).await {
                Ok(Some(sent)) if sent >= SEND_BATCH as usize => {}
                Ok(Some(0)) => tokio::time::sleep(POLL).await,
                Ok(Some(_)) if self.others_at_work() => tokio::time::sleep(GATHER).await,
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(e) => {
                    tracing::error!(stream = %id, error = %e, "delivering events");
                    tokio::time::sleep(STREAMS_POLL).await;
                }
            }
        }
    }

    /// Deletes what the stream delivered more than [`KEEP_DELIVERED`]
    /// ago, a batch a write, giving the writer back between batches.
    async fn forget_delivered(&self, id: Uuid) -> Result<()> {
        let before = self.now() - KEEP_DELIVERED;
        while self
            .store
            .forget_delivered(id, before, FORGET_BATCH)
            .await?
            == FORGET_BATCH as u64
        {
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    /// Fans out what is new, then sends what is due; how many were sent
    /// (None: the stream is gone).
    async fn stream_round(&self, id: Uuid, client: &reqwest::Client) -> Result<Option<usize>> {
        let Some(stream) = self.store.stream(id).await? else {
            return Ok(None);
        };
        if self.store.audit_seq().await? > stream.cursor {
            self.fan_out(&stream).await?;
        }
        // A poll stream's receiver comes for its events (`set::poll`).
        if stream.status != "enabled" || stream.delivery == "poll" {
            return Ok(Some(0));
        }
        let now = self.now();
        let due = self
            .store
            .claim_deliveries(id, now, now + LEASE, SEND_BATCH)
            .await?;
        if due.is_empty() {
            return Ok(Some(0));
        }
        let stream = &stream;
        // Checked once a round for every delivery it carries (each check
        // parses the URL).
        let target = &target(
            stream,
            &self.limits.event_allow_http,
            &self.allowed_private(),
        );
        let sends = due
            .iter()
            .map(|d| async move { (d.seq, self.attempt(stream, d, client, target).await) });
        let attempts = join_all(sends).await;
        self.store
            .record_attempts(id, &attempts, self.now())
            .await?;
        self.observe(id, &due, &attempts);
        Ok(Some(due.len()))
    }

    /// Turns the stream's new audit records into deliveries, a batch per
    /// transaction, until it has read them all.
    pub(super) async fn fan_out(&self, s: &Stream) -> Result<()> {
        if s.format == "set" {
            return self.fan_out_sets(s).await;
        }
        let names: HashMap<Uuid, String> = self
            .store
            .list_iams()
            .await?
            .into_iter()
            .map(|i| (i.id, i.name))
            .collect();
        let types = self.types_for(s).await?;
        let derive = |c: &Change| -> Option<NewDelivery> {
            let e = Event::of(c)?;
            if !events::wanted(&s.events, s.iam, &e) {
                return None;
            }
            let iam = e.iam.and_then(|i| names.get(&i)).map(String::as_str);
            Some(NewDelivery {
                event_id: e.id,
                event_type: e.kind.to_owned(),
                resource: e.resource_key(),
                body: e
                    .webhook_body(iam, self.event_data(s, &e, &types).as_ref())
                    .to_string(),
            })
        };
        self.fan_out_with(s, &derive).await
    }

    /// Fans out with `derive`, a batch per transaction, until every new
    /// record is read.
    pub(super) async fn fan_out_with(
        &self,
        s: &Stream,
        derive: &crate::store::events::Deriver<'_>,
    ) -> Result<()> {
        // Until the stream has read every record committed before this
        // call: a round that another one overtook (the worker's and a
        // poll's, or two replicas') stored nothing, and reads again from
        // where the other left the cursor.
        loop {
            match self
                .store
                .fan_out(s.id, FAN_OUT_BATCH, self.now(), derive)
                .await?
            {
                Some(read) if (read as i64) < FAN_OUT_BATCH => return Ok(()),
                Some(_) | None => {}
            }
        }
    }

    /// One attempt at a delivery: what happened, and when to try again.
    async fn attempt(
        &self,
        s: &Stream,
        d: &Delivery,
        client: &reqwest::Client,
        target: &std::result::Result<reqwest::Url, String>,
    ) -> Attempt {
        let (http_status, wait, error) = match send(s, d, client, target).await {
            Ok(answered) => {
                return Attempt {
                    status: "delivered",
                    http_status: Some(i64::from(answered)),
                    error: None,
                    next_at: self.now(),
                };
            }
            Err(Failure {
                status,
                refused: true,
                error,
                ..
            }) => {
                // Refused (RFC 8935 §2.3): never sent again by itself.
                return Attempt {
                    status: "failed",
                    http_status: status,
                    error: Some(error),
                    next_at: self.now(),
                };
            }
            Err(Failure {
                status,
                retry_after,
                error,
                ..
            }) => (status, retry_after, error),
        };
        let attempts = u32::try_from(d.attempts + 1).unwrap_or(u32::MAX);
        let wait = wait.unwrap_or_else(|| events::backoff(attempts, rand::random()));
        let next_at = self.now() + wait;
        let window = time::Duration::hours(self.limits.event_retry_hours as i64);
        Attempt {
            status: if next_at > d.since + window {
                "failed"
            } else {
                "pending"
            },
            http_status,
            error: Some(error),
            next_at,
        }
    }
}

/// Why an attempt failed.
pub(super) struct Failure {
    status: Option<i64>,
    /// The receiver's `Retry-After` (on 429 and 503).
    retry_after: Option<Duration>,
    error: String,
    /// The receiver refused the event for good (a SET's 400, RFC 8935).
    refused: bool,
}

impl Failure {
    pub(super) fn new(error: impl Into<String>) -> Self {
        Failure {
            status: None,
            retry_after: None,
            error: error.into(),
            refused: false,
        }
    }
}

/// Where a stream's deliveries go, if its endpoint may be reached now:
/// https (or plain http to a host `event_allow_http` names) and not an
/// internal address (see `guard`), checked at each round since either
/// may have changed.
fn target(
    s: &Stream,
    allow_http: &[String],
    allowed: &crate::events::guard::Allowed,
) -> std::result::Result<reqwest::Url, String> {
    let endpoint = s.endpoint.as_deref().unwrap_or("");
    check_endpoint(endpoint, allow_http)?;
    super::guard::check_host(endpoint, allowed)?;
    reqwest::Url::parse(endpoint).map_err(|_| "'endpoint' is not a URL".to_owned())
}

/// POSTs a delivery's body to its stream's `target`, as its format says:
/// a signed webhook, or a SET (`set::push_request`); the status when it
/// is 2xx.
async fn send(
    s: &Stream,
    d: &Delivery,
    client: &reqwest::Client,
    target: &std::result::Result<reqwest::Url, String>,
) -> std::result::Result<u16, Failure> {
    let endpoint = target.as_ref().map_err(|e| Failure::new(e.clone()))?;
    let request = if s.format == "set" {
        super::set::push_request(client, endpoint.clone(), d)
    } else {
        let id = d.event_id.to_string();
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let signature = events::sign(&s.secret, &id, timestamp, d.body.as_bytes())
            .ok_or_else(|| Failure::new("the stream's secret is not a key"))?;
        client
            .post(endpoint.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(d.body.clone())
    };
    let sent = request.send().await;
    let mut response = sent.map_err(|e| Failure::new(describe(&e)))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(events::retry_after)
        .filter(|_| matches!(status.as_u16(), 429 | 503));
    // Read at most 64 KiB of the answer.
    let mut answer = Vec::new();
    while answer.len() < MAX_RESPONSE {
        match response.chunk().await {
            Ok(Some(c)) => answer.extend_from_slice(&c[..c.len().min(MAX_RESPONSE - answer.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    if status.is_success() {
        return Ok(status.as_u16());
    }
    if s.format == "set"
        && status.as_u16() == 400
        && let Some(refusal) = events::set::refusal(&answer)
    {
        return Err(Failure {
            status: Some(400),
            retry_after: None,
            error: format!("refused: {refusal}"),
            refused: true,
        });
    }
    let error = if status.is_redirection() {
        format!("HTTP {} (redirects are not followed)", status.as_u16())
    } else {
        format!("HTTP {}", status.as_u16())
    };
    Err(Failure {
        status: Some(i64::from(status.as_u16())),
        retry_after,
        error,
        refused: false,
    })
}

/// What went wrong with a request, without its URL.
fn describe(e: &reqwest::Error) -> String {
    if let Some(why) = super::guard::refused(e) {
        return why.to_owned();
    }
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    }
    .to_owned()
}
