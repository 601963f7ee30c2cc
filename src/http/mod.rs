//! HTTP: routes, middleware and the server loop. Handlers are thin: extract,
//! authorize, call one directory method, shape the response.

pub mod admin;
pub mod body;
pub mod bulk;
pub mod catalogue;
pub mod console;
pub mod discovery;
pub mod error;
pub mod events;
pub mod extract;
pub mod governance;
pub mod guard;
pub mod json;
pub mod jwks;
pub mod limits;
pub mod me;
pub mod observe;
pub mod openapi;
pub mod origin;
pub mod principal;
mod retry;
pub mod scim;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod usage;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use tower::ServiceBuilder;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;
use crate::directory::Directory;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

#[derive(Clone)]
pub struct AppState {
    pub dir: Directory,
    pub config: Arc<Config>,
    /// Verifies the external IAM's tokens for the admin API, when set up.
    pub oidc: Option<Arc<crate::auth::oidc::Oidc>>,
    /// The operational metrics `GET /metrics` serves.
    pub telemetry: Arc<telemetry::Telemetry>,
}

impl AppState {
    /// The state of a server listening on `addr` (port 0 resolved): the
    /// address it names itself by when no Host may (see `origin`).
    pub fn listening_on(mut self, addr: std::net::SocketAddr) -> Self {
        if self.config.bind != addr {
            let mut config = (*self.config).clone();
            config.bind = addr;
            self.config = Arc::new(config);
        }
        self
    }
}

/// A JSON body served as `application/scim+json`. Written into a buffer
/// the size of a typical resource, not grown from nothing.
pub fn scim_response(status: StatusCode, body: &Value) -> Response {
    let mut bytes = Vec::with_capacity(1024);
    if serde_json::to_writer(&mut bytes, body).is_err() {
        bytes.clear();
    }
    let mut resp = (status, bytes).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    resp
}

fn scim_routes() -> Router<AppState> {
    use axum::routing::{MethodRouter, post};
    let readonly = |m: MethodRouter<AppState>| m.fallback(error::method_not_allowed);
    Router::new()
        .route("/Users", get(scim::list_users).post(scim::create_user))
        .route(
            "/Users/{id}",
            get(scim::get_user)
                .put(scim::replace_user)
                .delete(scim::delete_user)
                .patch(scim::patch_user),
        )
        .route("/Groups", get(scim::list_groups).post(scim::create_group))
        .route(
            "/Groups/{id}",
            get(scim::get_group)
                .put(scim::replace_group)
                .delete(scim::delete_group)
                .patch(scim::patch_group),
        )
        .route(
            "/ServiceProviderConfig",
            readonly(get(discovery::service_provider_config)),
        )
        .route("/ResourceTypes", readonly(get(discovery::resource_types)))
        .route(
            "/ResourceTypes/{name}",
            readonly(get(discovery::resource_type)),
        )
        .route("/Schemas", readonly(get(discovery::schemas)))
        .route("/Entitlements", readonly(get(catalogue::list::<false>)))
        .route(
            "/Entitlements/{id}",
            readonly(get(catalogue::get_one::<false>)),
        )
        .route("/Roles", readonly(get(catalogue::list::<true>)))
        .route("/Roles/{id}", readonly(get(catalogue::get_one::<true>)))
        .route("/Schemas/{id}", readonly(get(discovery::schema)))
        .route("/Users/.search", post(scim::search_users))
        .route("/Groups/.search", post(scim::search_groups))
        .route("/.search", post(scim::search_all))
        .route("/Bulk", post(bulk::bulk))
        .route(
            "/Me",
            get(me::get_me)
                .put(me::put_me)
                .patch(me::patch_me)
                .post(me::post_me)
                .delete(me::delete_me)
                .fallback(me::other),
        )
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
}

/// The admin API: its routes and its OpenAPI document from one list (each
/// `routes!` takes the handlers of one path, whose `#[utoipa::path]`
/// gives the router its path and method), so a route cannot be served
/// undocumented. The document itself needs no token.
fn admin_routes() -> Router<AppState> {
    let (router, api) = admin_api().split_for_parts();
    let document = Bytes::from(serde_json::to_vec(&openapi::document(api)).unwrap_or_default());
    router
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], document) }),
        )
        .fallback(admin::not_found)
        .method_not_allowed_fallback(admin::method_not_allowed)
}

fn admin_api() -> OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    OpenApiRouter::new()
        .routes(routes!(admin::me))
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(admin::get_user, admin::delete_user))
        .routes(routes!(admin::add_permissions))
        .routes(routes!(admin::remove_permission))
        .routes(routes!(admin::patch_user_attributes))
        .routes(routes!(admin::disable_user))
        .routes(routes!(admin::enable_user))
        .routes(routes!(admin::revoke_sessions))
        .routes(routes!(admin::migrate_user))
        .routes(routes!(admin::list_subscriptions, admin::add_subscription))
        .routes(routes!(admin::remove_subscription))
        .routes(routes!(admin::report))
        .routes(routes!(admin::list_groups, admin::create_group))
        .routes(routes!(admin::group_members, admin::add_group_members))
        .routes(routes!(admin::remove_group_member))
        .routes(routes!(
            admin::get_group_attributes,
            admin::patch_group_attributes
        ))
        .routes(routes!(admin::audit))
        .routes(routes!(admin::audit_export))
        .routes(routes!(usage::export))
        .routes(routes!(usage::report))
        .routes(routes!(admin::list_iams, admin::create_iam))
        .routes(routes!(admin::put_iam_settings))
        .routes(routes!(
            admin::get_schema_extensions,
            admin::put_schema_extensions
        ))
        .routes(routes!(admin::create_token))
        .routes(routes!(admin::revoke_token))
        .routes(routes!(admin::list_permissions, admin::create_permission))
        .routes(routes!(admin::list_roles, admin::create_role))
        .routes(routes!(
            admin::get_role,
            admin::replace_role,
            admin::delete_role
        ))
        .routes(routes!(admin::add_roles))
        .routes(routes!(admin::remove_role))
        .routes(routes!(governance::list_tags, governance::create_tag))
        .routes(routes!(governance::delete_tag))
        .routes(routes!(
            governance::list_data_sources,
            governance::create_data_source
        ))
        .routes(routes!(
            governance::get_data_source,
            governance::delete_data_source
        ))
        .routes(routes!(governance::tag_data_source))
        .routes(routes!(governance::untag_data_source))
        .routes(routes!(
            governance::list_policies,
            governance::create_policy
        ))
        .routes(routes!(
            governance::get_policy,
            governance::replace_policy,
            governance::delete_policy
        ))
        .routes(routes!(governance::evaluate))
        .routes(routes!(governance::list_jobs))
        .routes(routes!(governance::get_job))
        .routes(routes!(governance::data_source_subscribers))
        .routes(routes!(events::list_streams, events::create_stream))
        .routes(routes!(
            events::get_stream,
            events::patch_stream,
            events::delete_stream
        ))
        .routes(routes!(events::list_deliveries))
        .routes(routes!(events::retry_delivery))
        .routes(routes!(events::set::verify))
        .routes(routes!(events::poll::poll))
        .routes(routes!(events::set::list_keys, events::set::rotate_key))
        .routes(routes!(events::set::retire_key))
}

/// The canonical spelling of each SCIM endpoint segment: clients send
/// `/users`, `/Users/`, `/SCIM/V2/USERS`; routing sees one form.
const SEGMENTS: &[&str] = &[
    "Users",
    "Groups",
    "Me",
    "Bulk",
    "Schemas",
    "ResourceTypes",
    "ServiceProviderConfig",
    "Entitlements",
    "Roles",
    ".search",
];

fn normalize_path(mut req: Request) -> Request {
    let uri = req.uri();
    let path = uri.path();
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let mut parts: Vec<&str> = trimmed.split('/').collect();
    // ["", "scim", "v2", resource, id?, ".search"?]
    let is_scim = parts.len() >= 3
        && parts[1].eq_ignore_ascii_case("scim")
        && parts[2].eq_ignore_ascii_case("v2");
    if is_scim {
        parts[1] = "scim";
        parts[2] = "v2";
        for i in [3, 4] {
            if let Some(p) = parts.get_mut(i)
                && let Some(canon) = SEGMENTS.iter().find(|s| s.eq_ignore_ascii_case(p))
                && (i == 3 || *canon == ".search")
            {
                *p = canon;
            }
        }
        // The plural spelling some clients use for the config endpoint.
        if parts
            .get(3)
            .is_some_and(|p| p.eq_ignore_ascii_case("ServiceProviderConfigs"))
        {
            parts[3] = "ServiceProviderConfig";
        }
    }
    let new_path = parts.join("/");
    if new_path != path {
        let pq = match uri.query() {
            Some(q) => format!("{new_path}?{q}"),
            None => new_path,
        };
        if let Ok(new_uri) = Uri::builder().path_and_query(pq).build() {
            *req.uri_mut() = new_uri;
        }
    }
    req
}

/// The whole application. Middleware from the outside in: path
/// normalisation (before routing, so it must wrap the router), request id,
/// trace, then `guard` (see `guard`), one middleware that does in order:
/// metrics (inside the router, where the route template is known), the
/// panic catcher, the limits (see `limits`): the body limit on the
/// declared length (before anyone reads, authenticates or waits, and
/// holding no slot), the deadline, the concurrency limit (queueing counts
/// against the deadline), then authentication (see `principal`: the
/// credentials become the request's principal, once), the rate limit per
/// SCIM token and per administrator (keyed on that principal), then the
/// routes, whose extractors read the principal and whose directory calls
/// decide what it may do. Authentication reads no body, and every handler
/// takes its caller before its body, so an unauthenticated client never
/// holds a slot while it trickles one: it is answered 401 as soon as its
/// headers are in.
pub fn app(
    state: AppState,
) -> impl tower::Service<
    Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    let request_id = HeaderName::from_static("x-request-id");
    let guard = Arc::new(guard::Guard {
        state: state.clone(),
        limits: Arc::new(limits::Limits::new(&state.config)),
    });
    let router = Router::new()
        .route("/healthz", get(observe::healthz))
        .route("/readyz", get(observe::readyz))
        .route("/metrics", get(telemetry::prometheus))
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .nest("/scim/v2", scim_routes())
        .nest(openapi::BASE, admin_routes())
        .nest("/admin", console::routes(state.clone()))
        .fallback(error::not_found)
        .layer(
            ServiceBuilder::new()
                // A client's id is kept only if sane (else one is made), and
                // returned on every response.
                .map_request(observe::sanitize_request_id)
                .layer(SetRequestIdLayer::new(
                    request_id.clone(),
                    observe::RandomRequestId,
                ))
                .layer(PropagateRequestIdLayer::new(request_id))
                // Every log line of the request is inside its span (id,
                // method, route template: never the query or headers); one
                // INFO line per response with status and latency.
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(observe::RequestSpan)
                        .on_response(
                            tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
                        ),
                )
                .layer(from_fn_with_state(guard, guard::guard)),
        )
        .with_state(state);
    ServiceBuilder::new()
        .map_request(normalize_path)
        .service(router)
}

/// Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    serve_until(listener, state, shutdown_signal()).await
}

/// Like `serve`, but stops when `stop` resolves (tests, embedding).
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    state: AppState,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let header_timeout = std::time::Duration::from_millis(state.config.header_read_timeout_ms);
    let state = state.listening_on(listener.local_addr()?);
    server::run(listener, app(state), header_timeout, None, stop).await
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::body::Body;

    use super::*;

    /// Every path the admin router serves is in its OpenAPI document (its
    /// own `/openapi.json` aside). axum lists a router's paths only in its
    /// `Debug` output (`path_router: … RouteId(n): "/path"`, then the
    /// fallbacks'); should that change, no path is found and this fails
    /// rather than passes empty.
    #[test]
    fn the_admin_document_lists_every_admin_route() {
        let debug = format!("{:?}", super::admin_routes());
        let (routes, _fallbacks) = debug.split_once("fallback_router").unwrap();
        let served: BTreeSet<String> = routes
            .split("RouteId(")
            .filter_map(|s| s.split_once("): \"")?.1.split('"').next())
            .map(str::to_owned)
            .collect();
        let documented: BTreeSet<String> = super::admin_api()
            .into_openapi()
            .paths
            .paths
            .into_keys()
            .chain(["/openapi.json".to_owned()])
            .collect();
        assert_eq!(served, documented);
    }

    fn normalized(uri: &str) -> String {
        let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
        normalize_path(req).uri().to_string()
    }

    #[test]
    fn paths_are_spelled_one_way() {
        for (sent, routed) in [
            ("/scim/v2/Users/abc", "/scim/v2/Users/abc"),
            ("/scim/v2/Users?filter=x", "/scim/v2/Users?filter=x"),
            ("/SCIM/V2/users/", "/scim/v2/Users"),
            ("/scim/v2/USERS/AbC/?x=1", "/scim/v2/Users/AbC?x=1"),
            ("/scim/v2/users/.SEARCH", "/scim/v2/Users/.search"),
            ("/scim/v2/Users/Groups", "/scim/v2/Users/Groups"),
            ("/scim/v2/.Search", "/scim/v2/.search"),
            (
                "/scim/v2/serviceproviderconfigs",
                "/scim/v2/ServiceProviderConfig",
            ),
            ("/scim/v2/resourcetypes/user", "/scim/v2/ResourceTypes/user"),
            ("/scim/v2//", "/scim/v2"),
            ("/scim/v2", "/scim/v2"),
            ("/Scim", "/Scim"),
            ("/api/v1/users/", "/api/v1/users"),
            ("/admin/Users", "/admin/Users"),
            ("/", "/"),
        ] {
            assert_eq!(normalized(sent), routed, "{sent}");
        }
    }
}
