//! Extractors that turn a request into validated inputs, answering every
//! rejection with a SCIM Error document instead of axum's plain text.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde_json::Value;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::principal::Principal;
use crate::config::Config;
use crate::directory::search::SortRequest;
use crate::directory::{Paging, Scope};
use crate::ids::IamId;
use crate::scim::ScimError;
use crate::scim::projection::Projection;
use crate::scim::schema::ResourceTypeDef;

/// A JSON request body, size-limited and parsed with serde_json's bounded
/// recursion, refusing duplicate keys (see `json`). Content types
/// `application/scim+json` and `application/json` are what clients send; a
/// missing one is tolerated, any other is 415.
pub struct ScimBody(pub Value);

impl<S> FromRequest<S> for ScimBody
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let config = &AppState::from_ref(state).config;
        Ok(ScimBody(
            json_body(req, config, config.max_body_bytes, "").await?,
        ))
    }
}

/// A SCIM Bulk request body: as [`ScimBody`], limited by
/// `bulk_max_payload_bytes` (the advertised `maxPayloadSize`) instead.
pub struct BulkBody(pub Value);

impl<S> FromRequest<S> for BulkBody
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let config = &AppState::from_ref(state).config;
        let limit = config.bulk_max_payload_bytes;
        Ok(BulkBody(
            json_body(req, config, limit, " (the bulk maxPayloadSize)").await?,
        ))
    }
}

/// Reads and parses a JSON body of at most `limit` bytes (413 above it;
/// `limit_name` says which limit in the detail).
async fn json_body(
    req: Request,
    config: &Config,
    limit: usize,
    limit_name: &str,
) -> Result<Value, ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE)
        && !is_scim_json(ct)
    {
        return Err(ScimError::new(
            415,
            None,
            "send the body as application/scim+json (or application/json)",
        )
        .into());
    }
    let too_large = || {
        ScimError::new(
            413,
            None,
            format!("the request body is larger than {limit} bytes{limit_name}"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large().into());
    }
    let bytes: Bytes = super::limits::read_capped(req.into_body(), limit, config)
        .await
        .ok_or_else(too_large)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax(
            "the request body is empty; a JSON object is required",
        )
        .into());
    }
    let value: Value = super::json::parse(&bytes).map_err(|e| {
        ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
    })?;
    if has_nul(&value) {
        // PostgreSQL cannot store U+0000 in text; no identity needs it.
        return Err(ScimError::invalid_value(
            "strings must not contain the NUL character (U+0000)",
        )
        .into());
    }
    Ok(value)
}

/// `application/scim+json` or `application/json`, parameters such as
/// `charset` allowed; not any type that merely mentions json.
fn is_scim_json(content_type: &header::HeaderValue) -> bool {
    let Ok(value) = content_type.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case(super::SCIM_CONTENT_TYPE)
        || essence.eq_ignore_ascii_case("application/json")
}

/// Whether any string or key holds U+0000. serde_json's recursion limit
/// bounds the depth of what it parsed, so plain recursion is safe here.
fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// The IAM a SCIM token acts for (authenticated by `principal`). Anyone
/// else is a 401.
pub struct IamCaller(pub Uuid);

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn unauthorized(detail: &str) -> ApiError {
    ScimError::new(401, None, detail).into()
}

impl<S: Send + Sync> FromRequestParts<S> for IamCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Principal>() {
            Some(Principal::Iam { iam, .. }) => Ok(IamCaller(*iam)),
            None | Some(Principal::Anonymous) => Err(unauthorized("a bearer token is required")),
            // An administrator's token, or one that did not authenticate.
            Some(_) => Err(unauthorized("the bearer token is not valid")),
        }
    }
}

/// The query string, with parameter names matched case-insensitively
/// (identity providers' test tools vary the case).
pub struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(query)
            .ok_or_else(|| ScimError::invalid_syntax("the query string is malformed"))?;
        Ok(Params(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        ))
    }
}

/// Splits `a=1&b=x%20y` into decoded pairs; None on bad percent-encoding.
pub(crate) fn serde_urlencoded_pairs(query: &str) -> Option<Vec<(String, String)>> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    fn integer(&self, name: &str) -> Result<Option<i64>, ScimError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(None),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer"))),
        }
    }

    /// `startIndex`/`count`, or RFC 9865 `cursor`/`count` (a bare
    /// `cursor` or `cursor=` asks for the first page).
    pub fn paging(&self, max: u32) -> Result<Paging, ApiError> {
        Ok(Paging::parse(
            self.integer("startIndex")?,
            self.integer("count")?,
            self.get("cursor"),
            max,
        )?)
    }

    /// `sortBy` and `sortOrder`, validated by the directory.
    pub fn sort(&self) -> SortRequest {
        SortRequest {
            sort_by: self.get("sortBy").map(str::to_owned),
            sort_order: self.get("sortOrder").map(str::to_owned),
        }
    }

    pub fn projection(&self, rt: &ResourceTypeDef) -> Result<Projection, ScimError> {
        Projection::parse(rt, self.get("attributes"), self.get("excludedAttributes"))
    }
}

/// The absolute SCIM base URL (see `origin`: never a Host this server
/// does not answer for).
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    let mut base_url = super::origin::origin(state, headers);
    base_url.push_str("/scim/v2");
    base_url
}

/// What a SCIM request of `iam` acts in: its base URL, request and
/// transaction ids, and the IAM's resource types (with the schema
/// extensions it declared).
pub async fn scope(state: &AppState, headers: &HeaderMap, iam: Uuid) -> Result<Scope, ApiError> {
    Ok(Scope {
        iam: IamId::new(iam),
        base_url: base_url(state, headers),
        request_id: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        txn: Some(crate::audit::new_txn()),
        acting: None,
        types: state.dir.resource_types(iam).await?,
    })
}
