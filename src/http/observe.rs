//! What operators see of requests: the request id (accepted from the client
//! when it is sane, else made here) on every response and on every log line
//! of the request, a log span that names the route but never its query or
//! headers (filters carry userNames, headers carry tokens), and the probes
//! `/healthz` (the process answers) and `/readyz` (the database answers and
//! has this binary's schema).

use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tower_http::request_id::{MakeRequestId, RequestId};
use tower_http::trace::MakeSpan;
use tracing::Span;

use super::AppState;

pub const REQUEST_ID: &str = "x-request-id";
/// Longest inbound request id kept; longer ones are replaced.
const MAX_REQUEST_ID: usize = 128;

/// An inbound id is kept only if it is short and plain (letters, digits,
/// `-_.:`), so that a client cannot write arbitrary text into the logs;
/// otherwise it is dropped and the next layer makes one.
pub fn sanitize_request_id(mut req: Request) -> Request {
    let sane = |v: &HeaderValue| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= MAX_REQUEST_ID
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
    };
    let headers = req.headers_mut();
    let mut all = headers.get_all(REQUEST_ID).iter();
    let keep = match (all.next(), all.next()) {
        (None, _) => true,
        (Some(one), None) => sane(one),
        (Some(_), Some(_)) => false,
    };
    if !keep {
        headers.remove(REQUEST_ID);
    }
    req
}

/// Makes the ids of requests that came without a sane one: random (v4)
/// UUIDs like tower-http's `MakeRequestUuid`, but drawn from the thread's
/// CSPRNG (`rand::thread_rng`) instead of one `getrandom` system call each.
#[derive(Clone, Copy)]
pub struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = uuid::Uuid::encode_buffer();
        let text = id.hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

/// The span every log line of a request is written in: its id, method and
/// route template (`/scim/v2/Users/{id}`), never the path's values or the
/// query.
#[derive(Clone, Copy)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &axum::http::Request<B>) -> Span {
        let id = req
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str)
            .unwrap_or("(no route)");
        // ERROR level so that the span is on whenever any event is: the id
        // must be on every line of the request, whatever SCIM_BRIDGE_LOG says.
        tracing::error_span!(
            "request",
            request_id = %id,
            method = %req.method(),
            route = %route,
        )
    }
}

/// Alive: answers without touching the database.
pub async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
}

/// How long `/readyz` waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(3);

/// Ready: the database answers within `READY_TIMEOUT` and its migrations
/// are exactly this binary's. 503 with the reason otherwise; the reason
/// never holds connection details (the probe is unauthenticated).
pub async fn readyz(State(s): State<AppState>) -> Response {
    let store = &s.dir.store;
    let probe = async {
        store.ping().await.map_err(|e| {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            "the database does not answer".to_owned()
        })?;
        let applied = store.applied_migrations().await.map_err(|e| {
            tracing::warn!(error = %e, "readiness: cannot read the applied migrations");
            "cannot read the database's migrations".to_owned()
        })?;
        crate::store::migrations::compare(store.embedded_migrations(), &applied)
    };
    let outcome = match tokio::time::timeout(READY_TIMEOUT, probe).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "the database did not answer within {} s",
            READY_TIMEOUT.as_secs()
        )),
    };
    match outcome {
        Ok(()) => (StatusCode::OK, axum::Json(json!({"status": "ready"}))).into_response(),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"status": "unavailable", "reason": reason})),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_ids_are_distinct_v4_uuids() {
        let req = axum::http::Request::new(());
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|_| {
                let id = RandomRequestId.make_request_id(&req).unwrap();
                id.header_value().to_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 4, "{id}");
            assert_eq!(
                parsed.hyphenated().to_string(),
                *id,
                "lower case, hyphenated"
            );
        }
    }
}
