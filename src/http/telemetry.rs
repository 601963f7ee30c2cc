//! Operational metrics in the Prometheus text format (`GET /metrics`):
//! requests by route template, method and status, their latency, SCIM
//! errors by `scimType`, the database pools' use, and event delivery by
//! stream (pending, delivered, failed, latency from commit to delivery).
//!
//! Every label comes from a bounded set: the route *template*
//! (`/scim/v2/Users/{id}`, never the id), the method (one of the standard
//! ones, else `other`), the status code, the `scimType` keyword. No id,
//! userName, filter or token ever becomes a label.
//!
//! This is not the anonymized usage export (`/api/v1/metrics`): that one
//! counts workflows per day for people; this one is for the operator's
//! monitoring. Each server has its own recorder (no process-global state),
//! so tests running many servers in one process see their own numbers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use super::AppState;
use crate::directory::events::meter::{EventMeter, OpenDeliveries};
use uuid::Uuid;

const REQUESTS: &str = "scim_bridge_http_requests_total";
const LATENCY: &str = "scim_bridge_http_request_duration_seconds";
const SCIM_ERRORS: &str = "scim_bridge_scim_errors_total";
const POOL: &str = "scim_bridge_db_pool_connections";
const POOL_MAX: &str = "scim_bridge_db_pool_max_connections";
const SCALED_READS: &str = "scim_bridge_db_scaled_reads_total";
const EVENTS_PENDING: &str = "scim_bridge_events_pending";
const EVENTS_DELIVERED: &str = "scim_bridge_events_delivered_total";
const EVENTS_FAILED: &str = "scim_bridge_events_failed_total";
const EVENT_ATTEMPTS_FAILED: &str = "scim_bridge_event_attempts_failed_total";
const EVENT_LATENCY: &str = "scim_bridge_event_delivery_seconds";

/// Delivery latency buckets, in seconds: a live stream's tenth of a
/// second to a day of retries.
const EVENT_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0,
];

/// Latency buckets, in seconds: sub-millisecond lookups to Okta's 60 s.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// The `scimType` of a SCIM error response (`none` when it has none), set
/// by the error response for the metrics layer to count.
#[derive(Debug, Clone, Copy)]
pub struct ScimErrorType(pub &'static str);

pub struct Telemetry {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// The handles of each route template's series, registered on first
    /// use: looking a series up by its labels on every request cost more
    /// than the rest of the accounting.
    series: RwLock<HashMap<Box<str>, RouteSeries>>,
    /// Each event stream's series, registered on first use.
    streams: RwLock<HashMap<Uuid, StreamSeries>>,
    /// The streams whose pending gauge was set: a stream deleted since
    /// reads 0.
    pending_set: Mutex<HashSet<Uuid>>,
}

/// One event stream's series: labelled by its id, never its endpoint.
#[derive(Clone)]
struct StreamSeries {
    delivered: Counter,
    failed: Counter,
    attempts_failed: Counter,
    latency: Histogram,
}

/// One route template's series: requests by method and status, latency by
/// method. A handful each (bounded label sets), so a scan finds one.
#[derive(Default)]
struct RouteSeries {
    requests: Vec<(&'static str, u16, Counter)>,
    latency: Vec<(&'static str, Histogram)>,
}

/// A request being counted and timed (see [`Telemetry::start`]).
pub struct Timing {
    route: Option<MatchedPath>,
    method: &'static str,
    start: Instant,
}

impl Telemetry {
    pub fn new() -> Arc<Self> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(LATENCY.to_owned()), BUCKETS)
            .expect("the bucket list is not empty")
            .set_buckets_for_metric(Matcher::Full(EVENT_LATENCY.to_owned()), EVENT_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        let t = Arc::new(Telemetry {
            recorder,
            handle,
            series: RwLock::default(),
            streams: RwLock::default(),
            pending_set: Mutex::default(),
        });
        metrics::with_local_recorder(&t.recorder, || {
            metrics::describe_counter!(
                REQUESTS,
                "HTTP requests by route template, method and status"
            );
            metrics::describe_histogram!(
                LATENCY,
                metrics::Unit::Seconds,
                "Time to the response's head, by route template and method"
            );
            metrics::describe_counter!(SCIM_ERRORS, "SCIM error responses by status and scimType");
            metrics::describe_gauge!(
                POOL,
                "Database connections by pool and state (idle, in_use)"
            );
            metrics::describe_gauge!(POOL_MAX, "Most connections each database pool opens");
            metrics::describe_counter!(
                SCALED_READS,
                "List, search and report reads with a read replica configured, by where they \
                 were served (replica, primary) and why the primary (own_write, lagging, \
                 unavailable)"
            );
            metrics::describe_gauge!(EVENTS_PENDING, "Event deliveries waiting, by stream id");
            metrics::describe_counter!(
                EVENTS_DELIVERED,
                "Events their receiver accepted (2xx), by stream id"
            );
            metrics::describe_counter!(
                EVENTS_FAILED,
                "Event deliveries given up after the retry window (kept for a retry by hand), by stream id"
            );
            metrics::describe_counter!(
                EVENT_ATTEMPTS_FAILED,
                "Delivery attempts that failed (no answer, a timeout, non-2xx), by stream id"
            );
            metrics::describe_histogram!(
                EVENT_LATENCY,
                metrics::Unit::Seconds,
                "From an event's commit to its receiver's 2xx, by stream id"
            );
        });
        // Latency samples wait in the recorder until a scrape or upkeep
        // folds them into the buckets: keep them bounded when nobody
        // scrapes. The task ends with the server's telemetry.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&t);
            rt.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    match weak.upgrade() {
                        Some(t) => t.handle.run_upkeep(),
                        None => return,
                    }
                }
            });
        }
        t
    }

    /// Starts counting and timing a request. Must be called inside the
    /// router, where the matched route template is known.
    pub fn start(req: &Request) -> Timing {
        Timing {
            route: req.extensions().get::<MatchedPath>().cloned(),
            method: method_label(req.method()),
            start: Instant::now(),
        }
    }

    /// Counts the request `t` started with the response it got.
    pub fn finish(&self, t: Timing, resp: &Response) {
        let elapsed = t.start.elapsed();
        let route = t.route.as_ref().map_or("unmatched", MatchedPath::as_str);
        let status = resp.status().as_u16();
        let (requests, latency) = self.handles(route, t.method, status);
        requests.increment(1);
        latency.record(elapsed.as_secs_f64());
        if let Some(&ScimErrorType(kind)) = resp.extensions().get::<ScimErrorType>() {
            metrics::with_local_recorder(&self.recorder, || {
                metrics::counter!(SCIM_ERRORS, "status" => status.to_string(), "scim_type" => kind)
                    .increment(1);
            });
        }
    }

    /// The request counter and latency histogram of a series, registered
    /// the first time it is seen.
    fn handles(&self, route: &str, method: &'static str, status: u16) -> (Counter, Histogram) {
        let found = |series: &HashMap<Box<str>, RouteSeries>| {
            let r = series.get(route)?;
            let requests = r
                .requests
                .iter()
                .find(|(m, s, _)| *m == method && *s == status)?;
            let latency = r.latency.iter().find(|(m, _)| *m == method)?;
            Some((requests.2.clone(), latency.1.clone()))
        };
        if let Some(handles) = found(&self.series.read().unwrap_or_else(|p| p.into_inner())) {
            return handles;
        }
        let mut series = self.series.write().unwrap_or_else(|p| p.into_inner());
        if let Some(handles) = found(&series) {
            return handles;
        }
        let (requests, latency) = metrics::with_local_recorder(&self.recorder, || {
            (
                metrics::counter!(REQUESTS, "route" => route.to_owned(), "method" => method, "status" => status.to_string()),
                metrics::histogram!(LATENCY, "route" => route.to_owned(), "method" => method),
            )
        });
        let r = series.entry(route.into()).or_default();
        r.requests.push((method, status, requests.clone()));
        if !r.latency.iter().any(|(m, _)| *m == method) {
            r.latency.push((method, latency.clone()));
        }
        (requests, latency)
    }

    /// The text exposition, with the pools' use and the streams' pending
    /// deliveries (when they could be read) read now.
    pub fn render(
        &self,
        pools: &[crate::store::PoolStats],
        scaled: Option<crate::store::read_scaling::ScaledReads>,
        events: Option<&BTreeMap<Uuid, OpenDeliveries>>,
    ) -> String {
        metrics::with_local_recorder(&self.recorder, || {
            if let Some(r) = scaled {
                metrics::counter!(SCALED_READS, "served_by" => "replica").absolute(r.replica);
                for (reason, n) in [
                    ("own_write", r.own_write),
                    ("lagging", r.lagging),
                    ("unavailable", r.unavailable),
                ] {
                    metrics::counter!(SCALED_READS, "served_by" => "primary", "reason" => reason)
                        .absolute(n);
                }
            }
            for p in pools {
                let in_use = p.size.saturating_sub(p.idle);
                metrics::gauge!(POOL, "pool" => p.pool, "state" => "idle").set(p.idle as f64);
                metrics::gauge!(POOL, "pool" => p.pool, "state" => "in_use").set(in_use as f64);
                metrics::gauge!(POOL_MAX, "pool" => p.pool).set(p.max as f64);
            }
            if let Some(events) = events {
                let mut set = self.pending_set.lock().unwrap_or_else(|p| p.into_inner());
                for gone in set.iter().filter(|id| !events.contains_key(id)) {
                    metrics::gauge!(EVENTS_PENDING, "stream" => gone.to_string()).set(0.0);
                }
                set.clear();
                for (id, open) in events {
                    metrics::gauge!(EVENTS_PENDING, "stream" => id.to_string())
                        .set(open.pending as f64);
                    set.insert(*id);
                }
            }
        });
        self.handle.render()
    }

    /// A stream's series, registered the first time it is seen.
    fn stream_series(&self, stream: Uuid) -> StreamSeries {
        if let Some(s) = self
            .streams
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&stream)
        {
            return s.clone();
        }
        let mut streams = self.streams.write().unwrap_or_else(|p| p.into_inner());
        streams
            .entry(stream)
            .or_insert_with(|| {
                let id = stream.to_string();
                metrics::with_local_recorder(&self.recorder, || StreamSeries {
                    delivered: metrics::counter!(EVENTS_DELIVERED, "stream" => id.clone()),
                    failed: metrics::counter!(EVENTS_FAILED, "stream" => id.clone()),
                    attempts_failed: metrics::counter!(EVENT_ATTEMPTS_FAILED, "stream" => id.clone()),
                    latency: metrics::histogram!(EVENT_LATENCY, "stream" => id.clone()),
                })
            })
            .clone()
    }
}

impl EventMeter for Telemetry {
    fn delivered(&self, stream: Uuid, latency: Duration) {
        let s = self.stream_series(stream);
        s.delivered.increment(1);
        s.latency.record(latency.as_secs_f64());
    }

    fn attempt_failed(&self, stream: Uuid, gave_up: bool) {
        let s = self.stream_series(stream);
        s.attempts_failed.increment(1);
        if gave_up {
            s.failed.increment(1);
        }
    }
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `GET /metrics`.
pub async fn prometheus(State(s): State<AppState>) -> Response {
    let events = match s.dir.open_deliveries().await {
        Ok(open) => Some(open),
        Err(e) => {
            tracing::warn!(error = %e, "reading the event streams' pending deliveries");
            None
        }
    };
    let body = s.telemetry.render(
        &s.dir.store.pool_stats(),
        s.dir.store.scaled_reads(),
        events.as_ref(),
    );
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
