//! The limits a request meets before its handler runs, in the order
//! STYLE.md fixes (see `http::app`): deadline, concurrency, body size per
//! route, per-token rate. Each one answers — a SCIM Error document on
//! /scim/v2, a JSON error on /api/v1 — and none lets work grow without
//! bound. Health endpoints are outside all of them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::AppState;
use super::admin::AdminError;
use super::error::{ApiError, scim_error_response};
use super::principal::Principal;
use crate::auth::rate_limit::{Rate, RateLimiter, Verdict, retry_after_secs};
use crate::config::Config;
use crate::deadline::Deadline;
use crate::scim::ScimError;

mod quota;

pub use quota::{Charge, Quota};

/// Buckets kept at most: one per SCIM token that was used recently.
const MAX_BUCKETS: usize = 100_000;

/// A request whose write has begun committing when its deadline passes is
/// given at most this much longer to answer (see `crate::deadline`).
const COMMIT_GRACE: Duration = Duration::from_secs(10);

pub struct Limits {
    deadline: Duration,
    header_timeout: Duration,
    permits: Option<Arc<Semaphore>>,
    queued: AtomicUsize,
    max_queued: usize,
    max_body_bytes: usize,
    bulk_max_payload_bytes: usize,
    /// The configured per-token rate; None: unlimited unless the IAM says.
    default_rate: Option<Rate>,
    buckets: RateLimiter<Uuid>,
    /// Per administrator on /api/v1; None: unlimited.
    admin_rate: Option<Rate>,
    admin_buckets: RateLimiter<Uuid>,
}

/// The limit settings that make no sense, named.
pub fn check(config: &Config) -> Result<(), String> {
    if config.rate_limit_per_second != 0.0 {
        Rate {
            per_second: config.rate_limit_per_second,
            burst: config.rate_limit_burst,
        }
        .check()
        .map_err(|e| format!("rate_limit_per_second / rate_limit_burst: {e}"))?;
    }
    if config.admin_rate_limit_per_second != 0.0 {
        Rate {
            per_second: config.admin_rate_limit_per_second,
            burst: config.admin_rate_limit_burst,
        }
        .check()
        .map_err(|e| format!("admin_rate_limit_per_second / admin_rate_limit_burst: {e}"))?;
    }
    if config.request_deadline_ms == 0 {
        return Err("request_deadline_ms must be at least 1".into());
    }
    if config.header_read_timeout_ms == 0 {
        return Err("header_read_timeout_ms must be at least 1".into());
    }
    if config.patch_max_operations == 0 {
        return Err("patch_max_operations must be at least 1".into());
    }
    if config.job_batch_size == 0 {
        return Err("job_batch_size must be at least 1".into());
    }
    Ok(())
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        Limits {
            deadline: Duration::from_millis(config.request_deadline_ms),
            header_timeout: Duration::from_millis(config.header_read_timeout_ms),
            permits: (config.max_concurrent_requests > 0)
                .then(|| Arc::new(Semaphore::new(config.max_concurrent_requests))),
            queued: AtomicUsize::new(0),
            max_queued: config.max_queued_requests,
            max_body_bytes: config.max_body_bytes,
            bulk_max_payload_bytes: config.bulk_max_payload_bytes,
            default_rate: (config.rate_limit_per_second > 0.0).then_some(Rate {
                per_second: config.rate_limit_per_second,
                burst: config.rate_limit_burst.max(1),
            }),
            buckets: RateLimiter::new(MAX_BUCKETS),
            admin_rate: (config.admin_rate_limit_per_second > 0.0).then_some(Rate {
                per_second: config.admin_rate_limit_per_second,
                burst: config.admin_rate_limit_burst.max(1),
            }),
            admin_buckets: RateLimiter::new(MAX_BUCKETS),
        }
    }

    /// A permit to run now, or after a wait in the bounded queue; None when
    /// the queue is full too.
    async fn admit(&self) -> Option<Option<OwnedSemaphorePermit>> {
        let Some(permits) = &self.permits else {
            return Some(None);
        };
        if let Ok(p) = permits.clone().try_acquire_owned() {
            return Some(Some(p));
        }
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        // Waiting is bounded by the deadline, which wraps this layer.
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _leave = Leave(&self.queued);
        permits.clone().acquire_owned().await.ok().map(Some)
    }

    /// Past `request_deadline_ms` the client gets 503; `run` (the handler's
    /// future) is dropped, which rolls its transaction back, and a write
    /// still queued is abandoned. A write that has begun committing is let
    /// finish (within `COMMIT_GRACE`) and answered.
    pub(super) async fn within_deadline(
        &self,
        api: Api,
        run: impl Future<Output = Response>,
    ) -> Response {
        let d = Deadline::new();
        let run = d.clone().scope(run);
        tokio::pin!(run);
        let ms = self.deadline.as_millis();
        tokio::select! {
            resp = &mut run => return resp,
            () = tokio::time::sleep(self.deadline) => {}
        }
        if d.expire() {
            tracing::warn!(deadline_ms = %ms, "request abandoned at its deadline");
            return refuse(
                api,
                503,
                format!(
                    "the request did not finish within {ms} ms and was abandoned; each change \
                     it was making is either completely applied or not at all (read the \
                     resource before retrying)"
                ),
                None,
            );
        }
        match tokio::time::timeout(COMMIT_GRACE.min(self.deadline), run).await {
            Ok(resp) => resp,
            Err(_) => {
                tracing::warn!(deadline_ms = %ms, "request abandoned while committing");
                refuse(
                    api,
                    503,
                    format!(
                        "the request did not finish within {ms} ms; its change may have been \
                         applied (read the resource before retrying)"
                    ),
                    None,
                )
            }
        }
    }

    /// At most `max_concurrent_requests` run; `max_queued_requests` more
    /// wait; any beyond get 503 with `Retry-After` at once.
    pub(super) async fn admitted(&self, api: Api, run: impl Future<Output = Response>) -> Response {
        match self.admit().await {
            Some(permit) => {
                let resp = run.await;
                drop(permit);
                resp
            }
            None => refuse(
                api,
                503,
                "the server is busy with other requests; retry shortly".into(),
                Some(1),
            ),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Api {
    Scim,
    Admin,
    /// Health and the like: no limits.
    Other,
}

pub(super) fn api(req: &Request) -> Api {
    let path = req.uri().path();
    if path.starts_with("/scim/v2/") || path == "/scim/v2" {
        Api::Scim
    } else if path.starts_with("/api/v1/") || path == "/api/v1" {
        Api::Admin
    } else {
        Api::Other
    }
}

/// An error in the form of the API asked.
fn refuse(api: Api, status: u16, detail: String, retry_after: Option<u64>) -> Response {
    let mut resp = match api {
        Api::Admin => AdminError::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            detail,
        )
        .into_response(),
        _ => scim_error_response(&ScimError::new(status, None, detail)),
    };
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// A body declared larger than its route takes is refused (the answer is
/// returned) before anything
/// reads it, authenticates or waits: this layer is outside the deadline
/// and the concurrency limit, so a client that declares a huge body and
/// sends none gets its 413 at once and holds no slot. SCIM resources and
/// the admin API take `max_body_bytes`, /Bulk its `maxPayloadSize`.
/// (Bodies without a length are held to the same limits by the extractors
/// as they read them, which happens only after authentication.)
pub(super) fn body_limit(l: &Limits, api: Api, req: &mut Request) -> Option<Response> {
    let (limit, which) = match api {
        Api::Other => return None,
        Api::Scim if req.uri().path() == "/scim/v2/Bulk" => {
            (l.bulk_max_payload_bytes, " (the bulk maxPayloadSize)")
        }
        Api::Scim | Api::Admin => (l.max_body_bytes, ""),
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        let detail = match api {
            Api::Admin => format!("the body is larger than {limit} bytes"),
            _ => format!("the request body is larger than {limit} bytes{which}"),
        };
        let expects_continue = req
            .headers()
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        // A client waiting for `100 Continue` sends no body: nothing to
        // drain, and reading would invite it to send.
        if !expects_continue {
            tokio::spawn(drain(
                std::mem::take(req.body_mut()),
                limit,
                l.header_timeout,
            ));
        }
        let mut resp = refuse(api, 413, detail, None);
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Some(resp);
    }
    None
}

/// A request body of at most `limit` bytes, read as it arrives; `None`
/// when it is larger (or breaks off). Over the limit, the rest is drained
/// in the background (see [`drain`]), so a client still streaming its
/// body reads the 413 rather than a connection reset. Every body reader
/// (SCIM, /Bulk, the admin API, console forms) goes through here.
pub(crate) async fn read_capped(
    mut body: axum::body::Body,
    limit: usize,
    config: &Config,
) -> Option<axum::body::Bytes> {
    use http_body_util::BodyExt;
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.ok()?.into_data() else {
            continue; // trailers carry no body bytes
        };
        if buf.len() + data.len() > limit {
            let within = Duration::from_millis(config.header_read_timeout_ms);
            tokio::spawn(drain(body, limit, within));
            return None;
        }
        buf.extend_from_slice(&data);
    }
    Some(buf.into())
}

/// Reads and discards what arrives of a refused body, up to `limit` bytes
/// and for at most the header-read timeout, while the 413 goes out: a
/// client that writes its whole body before it reads then sees the 413
/// instead of a connection reset. The connection closes when this ends
/// (the response said `Connection: close`); it holds no request slot.
async fn drain(mut body: axum::body::Body, limit: usize, within: Duration) {
    use http_body_util::BodyExt;
    let read = async {
        let mut seen = 0;
        while seen <= limit {
            match body.frame().await {
                Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
                _ => return,
            }
        }
    };
    let _ = tokio::time::timeout(within, read).await;
}

/// Each SCIM token has a bucket of `rate_limit_burst` requests refilled at
/// `rate_limit_per_second` (or its IAM's `rateLimit`), and each
/// administrator on /api/v1 one of `admin_rate_limit_burst` refilled at
/// `admin_rate_limit_per_second`; an empty bucket answers 429 with
/// `Retry-After`. Buckets are keyed by the principal authentication found
/// (see `principal`), so only verified callers cost memory; anyone else
/// passes on, to be answered by the handler.
pub(super) async fn rate_limit(
    l: &Arc<Limits>,
    s: &AppState,
    api: Api,
    mut req: Request,
) -> Result<Request, Response> {
    match (api, req.extensions().get::<Principal>()) {
        (Api::Scim, Some(&Principal::Iam { iam, token })) => {
            let rate = match s.dir.iam_settings(iam).await {
                Ok(settings) => settings.rate_limit.or(l.default_rate),
                Err(e) => return Err(ApiError::from(e).into_response()),
            };
            let Some(rate) = rate else {
                return Ok(req);
            };
            if let Verdict::Limited(wait) = l.buckets.check(&token, rate) {
                return Err(too_many(Api::Scim, rate, wait));
            }
            req.extensions_mut().insert(Quota {
                limits: l.clone(),
                token,
                rate,
            });
            Ok(req)
        }
        (Api::Admin, Some(Principal::Admin(admin))) => {
            if let Some(rate) = l.admin_rate
                && let Verdict::Limited(wait) = l.admin_buckets.check(&admin.id, rate)
            {
                return Err(too_many(Api::Admin, rate, wait));
            }
            Ok(req)
        }
        _ => Ok(req),
    }
}

fn too_many(api: Api, rate: Rate, wait: Duration) -> Response {
    let secs = retry_after_secs(wait);
    let who = match api {
        Api::Admin => "from this administrator",
        _ => "with this token",
    };
    refuse(
        api,
        429,
        format!(
            "too many requests {who}: it may make {} per second, {} at once; \
             retry after {secs} s",
            rate.per_second, rate.burst
        ),
        Some(secs),
    )
}
