//! The one place a request meets a database that is failing over: a
//! request whose attempt found the database unavailable and sent it no
//! write (`store::attempt`) runs again after a short wait, a few times;
//! otherwise, or once the waits are spent, its 503 goes out with
//! `Retry-After`. Reads are always safe to run again; a write whose
//! transaction never reached COMMIT changed nothing. A write that may
//! have committed is never run again here: the client sees the 503 and
//! decides (a SCIM create sent again meets its own userName and gets 409).
//!
//! Runs after authentication and the rate limit (see `guard`), so an
//! unauthenticated client never holds a slot while its body is buffered,
//! and inside the request deadline, which bounds the waits.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::principal::Principal;
use crate::store::attempt::{self, Outcome};

/// The waits before each new attempt: about 6 s in all, within which a
/// Patroni failover (ttl 10 s, a loop of 1 s) usually completes.
const WAITS_MS: [u64; 6] = [100, 250, 500, 1000, 2000, 2000];

/// What a 503 for an unavailable database asks the client to wait, in
/// seconds.
pub const RETRY_AFTER_SECS: u64 = 2;

/// Runs the handler (`next`), again while the database is unavailable and
/// the attempt wrote nothing. A body is buffered to be sent again only
/// when its exact length is known (none, or a declared `Content-Length`,
/// which the body limit has checked); a streamed one runs once, so that
/// nothing here reads more than the handler's own limits allow.
pub async fn replaying(req: Request, next: Next) -> Response {
    use axum::body::HttpBody as _;
    // Only an authenticated caller's body is buffered: a refused one is
    // answered by its handler before any body is read (see `guard`).
    let authenticated = matches!(
        req.extensions().get::<Principal>(),
        Some(Principal::Iam { .. } | Principal::Admin(_) | Principal::ConsoleSession(_))
    );
    if !authenticated || req.body().size_hint().exact().is_none() {
        let (resp, outcome) = attempt::run(Box::pin(next.run(req))).await;
        return answer(resp, outcome);
    }
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => {
            return Response::builder()
                .status(StatusCode::BAD_REQUEST)
                .body(Body::from("the request body could not be read"))
                .unwrap_or_default();
        }
    };
    let mut waits = WAITS_MS.iter();
    loop {
        let req = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
        let (resp, outcome) = attempt::run(Box::pin(next.clone().run(req))).await;
        if !again(&resp, outcome) {
            return answer(resp, outcome);
        }
        let Some(wait) = waits.next() else {
            return answer(resp, outcome);
        };
        tracing::info!(
            wait_ms = wait,
            "database unavailable; running the request again"
        );
        tokio::time::sleep(Duration::from_millis(*wait)).await;
    }
}

/// Whether an attempt may run again: it was answered 503 because the
/// database was unavailable, and it sent no write.
fn again(resp: &Response, o: Outcome) -> bool {
    resp.status() == StatusCode::SERVICE_UNAVAILABLE && o.unavailable && !o.wrote
}

/// The response, with `Retry-After` when it is a 503 for an unavailable
/// database (and has none yet).
pub fn answer(mut resp: Response, o: Outcome) -> Response {
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE
        && o.unavailable
        && !resp.headers().contains_key(header::RETRY_AFTER)
    {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    resp
}
