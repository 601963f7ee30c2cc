//! Operational metrics in the Prometheus text format (`GET /metrics`):
//! requests by route template, method and status, their latency, SCIM
//! errors by `scimType`, and the database pools' use.
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

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use super::AppState;

const REQUESTS: &str = "scim_bridge_http_requests_total";
const LATENCY: &str = "scim_bridge_http_request_duration_seconds";
const SCIM_ERRORS: &str = "scim_bridge_scim_errors_total";
const POOL: &str = "scim_bridge_db_pool_connections";
const POOL_MAX: &str = "scim_bridge_db_pool_max_connections";

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
}

impl Telemetry {
    pub fn new() -> Arc<Self> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(LATENCY.to_owned()), BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        let t = Arc::new(Telemetry { recorder, handle });
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

    fn record(
        &self,
        route: &str,
        method: &Method,
        status: u16,
        elapsed: Duration,
        scim: Option<ScimErrorType>,
    ) {
        let method = method_label(method);
        let status = status.to_string();
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!(REQUESTS, "route" => route.to_owned(), "method" => method, "status" => status.clone())
                .increment(1);
            metrics::histogram!(LATENCY, "route" => route.to_owned(), "method" => method)
                .record(elapsed.as_secs_f64());
            if let Some(ScimErrorType(t)) = scim {
                metrics::counter!(SCIM_ERRORS, "status" => status, "scim_type" => t).increment(1);
            }
        });
    }

    /// The text exposition, with the pools' use read now.
    pub fn render(&self, pools: &[crate::store::PoolStats]) -> String {
        metrics::with_local_recorder(&self.recorder, || {
            for p in pools {
                let in_use = p.size.saturating_sub(p.idle);
                metrics::gauge!(POOL, "pool" => p.pool, "state" => "idle").set(p.idle as f64);
                metrics::gauge!(POOL, "pool" => p.pool, "state" => "in_use").set(in_use as f64);
                metrics::gauge!(POOL_MAX, "pool" => p.pool).set(p.max as f64);
            }
        });
        self.handle.render()
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

/// Counts and times every request. Must run inside the router (as a
/// `Router::layer`), where the matched route template is known.
pub async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    let start = Instant::now();
    let resp = next.run(req).await;
    let scim = resp.extensions().get::<ScimErrorType>().copied();
    s.telemetry.record(
        &route,
        &method,
        resp.status().as_u16(),
        start.elapsed(),
        scim,
    );
    resp
}

/// `GET /metrics`.
pub async fn prometheus(State(s): State<AppState>) -> Response {
    let body = s.telemetry.render(&s.dir.store.pool_stats());
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
