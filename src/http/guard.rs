//! What every request meets inside the router, between its log span and
//! its handler, as one middleware: counted and timed, panics caught, then
//! the limits and authentication in the order `http::app` gives. One
//! middleware instead of one per step: each step of its own boxed a
//! future, cloned the rest of the stack and the state for every request.
//! Nothing here decides anything itself: `telemetry`, `limits` and
//! `principal` do.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::FutureExt;

use super::limits::{self, Api, Limits};
use super::telemetry::Telemetry;
use super::{AppState, error, principal, retry};
use crate::scim::ScimError;
use crate::store::{attempt, read_scaling};

/// What the middleware needs, shared by every request (one clone each).
pub struct Guard {
    pub state: AppState,
    pub limits: Arc<Limits>,
}

/// The middleware (see `http::app`). Counting is outside the panic
/// catcher, so that a panic counts as the 500 it is answered with.
pub async fn guard(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let timing = Telemetry::start(&req);
    let resp = match AssertUnwindSafe(limited(&g, req, next))
        .catch_unwind()
        .await
    {
        Ok(resp) => resp,
        Err(_) => panic_response(),
    };
    g.state.telemetry.finish(timing, &resp);
    resp
}

fn panic_response() -> Response<Body> {
    tracing::error!("a request handler panicked");
    error::scim_error_response(&ScimError::new(500, None, "internal server error"))
}

/// The limits of the SCIM and admin APIs (none elsewhere): first the body
/// limit on the declared length (before anyone reads, authenticates or
/// waits, and holding no slot), then the deadline, then the concurrency
/// limit (queueing counts against the deadline).
async fn limited(g: &Guard, mut req: Request, next: Next) -> Response {
    let api = limits::api(&req);
    if api == Api::Other {
        return Box::pin(authorized(g, api, req, next)).await;
    }
    if let Some(refused) = limits::body_limit(&g.limits, api, &mut req) {
        return refused;
    }
    // Boxed: the future is large, and the ones around it move it.
    let run = g
        .limits
        .admitted(api, Box::pin(authorized(g, api, req, next)));
    g.limits.within_deadline(api, run).await
}

/// Authentication (the credentials become the request's principal, once),
/// the rate limit keyed on that principal, then the handler, run again
/// while the database fails over (`retry`), as its principal's reader: a
/// principal that wrote reads its writes on its next requests
/// (`store::read_scaling`). Their futures are boxed: they hold database
/// calls and are large, and the futures around them are moved as they
/// are built.
async fn authorized(g: &Guard, api: Api, req: Request, next: Next) -> Response {
    let checked = attempt::run(async {
        let req = Box::pin(principal::authenticate(&g.state, req)).await?;
        Box::pin(limits::rate_limit(&g.limits, &g.state, api, req)).await
    });
    let req = match checked.await {
        (Ok(req), checked) => (req, checked),
        (Err(refused), outcome) => return retry::answer(refused, outcome),
    };
    let reader = req
        .0
        .extensions()
        .get::<principal::Principal>()
        .and_then(principal::Principal::reader);
    let reads_only = reads_only(&req.0);
    let handled = async move {
        match req {
            // The APIs' clients are programs; a probe or a page runs once.
            // Authentication met an unavailable database but let the
            // request on (the handler answers its refusal): nothing to run
            // again.
            (req, checked) if api != Api::Other && !checked.unavailable => {
                Box::pin(retry::replaying(req, next)).await
            }
            (req, checked) => {
                let (resp, outcome) = attempt::run(Box::pin(next.run(req))).await;
                retry::answer(resp, outcome.and(checked))
            }
        }
    };
    // Without a read replica every read is the primary's.
    if g.state
        .config
        .database_read_url
        .as_deref()
        .is_none_or(str::is_empty)
    {
        return handled.await;
    }
    let (resp, wrote) = read_scaling::as_reader(reader, reads_only, handled).await;
    // Before the response goes out: the client's next request may read.
    if wrote && let Some(reader) = reader {
        g.state.dir.store.wrote_as(reader).await;
    }
    resp
}

/// Whether a request only reads, so that its list reads may be served by
/// a read replica: a GET (or HEAD), or a SCIM search (`POST .../.search`).
fn reads_only(req: &Request) -> bool {
    use axum::http::Method;
    let method = req.method();
    *method == Method::GET
        || *method == Method::HEAD
        || (*method == Method::POST && req.uri().path().ends_with("/.search"))
}
