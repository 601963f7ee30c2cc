//! What a request costs beyond the one request the rate limiter charged:
//! a Bulk of N operations costs N from its token's bucket, all or nothing.
//! It only charges; the handler decides what the cost is.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;
use uuid::Uuid;

use super::{Api, Limits, refuse};
use crate::auth::rate_limit::{Rate, Verdict, retry_after_secs};
use crate::http::error::scim_error_response;
use crate::scim::{ScimError, ScimType};

/// A rate-limited SCIM token's bucket, for a request that costs more than
/// the one request the rate limiter charged: a Bulk of N operations costs
/// N, or a token limited to a few requests a second could create
/// thousands of users in one.
#[derive(Clone)]
pub struct Quota {
    pub(super) limits: Arc<Limits>,
    pub(super) token: Uuid,
    pub(super) rate: Rate,
}

/// The request's [`Quota`], if its token is rate-limited.
pub struct Charge(Option<Quota>);

impl<S: Send + Sync> FromRequestParts<S> for Charge {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Charge(parts.extensions.get::<Quota>().cloned()))
    }
}

impl Charge {
    /// Charges `operations` requests in all (the request itself counted),
    /// or nothing: Some is the answer to send instead, and nothing may run.
    /// More operations than the burst can never fit: 413 `tooMany` saying
    /// how many fit; otherwise an empty bucket is 429 with `Retry-After`.
    pub fn operations(&self, operations: usize) -> Option<Response> {
        let q = self.0.as_ref()?;
        let Rate { per_second, burst } = q.rate;
        if operations > burst as usize {
            return Some(scim_error_response(&ScimError::new(
                413,
                Some(ScimType::TooMany),
                format!(
                    "the request has {operations} operations and each counts against this \
                     token's rate limit ({per_second} per second, {burst} at once): send at \
                     most {burst} operations per Bulk"
                ),
            )));
        }
        let extra = u32::try_from(operations.saturating_sub(1)).unwrap_or(u32::MAX);
        if extra == 0 {
            return None;
        }
        match q.limits.buckets.take(&q.token, q.rate, extra) {
            Verdict::Allowed => None,
            Verdict::Limited(wait) => {
                let secs = retry_after_secs(wait);
                Some(refuse(
                    Api::Scim,
                    429,
                    format!(
                        "too many requests with this token: the request's {operations} \
                         operations count as {operations} requests, and it may make \
                         {per_second} per second, {burst} at once; nothing was done; retry \
                         after {secs} s"
                    ),
                    Some(secs),
                ))
            }
        }
    }
}
