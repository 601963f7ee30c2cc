//! What the domain answers when an operation fails, in the domain's own
//! terms: what was wrong, not how a surface says it. Each surface maps it
//! once: the SCIM API with [`Error::to_scim`] (also the status of each bulk
//! operation), the admin API and the console in `http/admin/`, the
//! command line with `Display`.

use crate::scim::{ScimError, ScimType};
use crate::store::StoreError;

/// What the domain layer answers when an operation fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input is wrong, in the way `reason` says.
    #[error("{detail}")]
    Invalid { reason: Invalid, detail: String },
    /// What the operation names does not exist (or is not the caller's to
    /// see: another IAM's resource is not found either).
    #[error("{0}")]
    NotFound(String),
    /// The change would give a second resource a name that must be unique.
    #[error("{0}")]
    Duplicate(String),
    /// The change is refused by the state it meets: the last administrator,
    /// a group an identity provider owns, a permission that comes from a
    /// group.
    #[error("{0}")]
    Conflict(String),
    /// The resource is no longer at the version the request names.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The caller may not do this at all: it lacks the permission the
    /// operation needs (see `permissions::may`), whatever the input.
    #[error("{0}")]
    Forbidden(String),
    /// The caller may do the operation but not this change, whoever it is
    /// done to or by: a grant beyond its own permissions, an identity
    /// provider's attribute, the built-in IAM's tokens. Surfaces that show
    /// a form show this next to it, as they do invalid input.
    #[error("{0}")]
    Refused(String),
    /// Ours: logged with its cause, answered with a generic message.
    #[error("{0}")]
    Internal(String),
    /// The database cannot take the request now but may shortly (a
    /// failover): answered 503 with `Retry-After` (`http::retry`), the
    /// cause logged, never shown.
    #[error("{0}")]
    Unavailable(String),
}

/// What was wrong with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// A value of the wrong type, out of range, or not allowed here.
    Value,
    /// Not the shape the operation reads (a body, a request document).
    Syntax,
    /// A filter that does not parse or cannot be evaluated.
    Filter,
    /// An attribute path that does not parse or names nothing.
    Path,
    /// A path whose filter matches nothing to change.
    NoTarget,
    /// A change to what may not change (read-only or immutable).
    Mutability,
    /// More operations than one request may hold.
    TooMany,
    /// A cursor that is not ours, was altered, or belongs to another query.
    Cursor,
    /// A cursor older than the cursor timeout.
    ExpiredCursor,
}

impl Invalid {
    fn scim_type(self) -> ScimType {
        match self {
            Invalid::Value => ScimType::InvalidValue,
            Invalid::Syntax => ScimType::InvalidSyntax,
            Invalid::Filter => ScimType::InvalidFilter,
            Invalid::Path => ScimType::InvalidPath,
            Invalid::NoTarget => ScimType::NoTarget,
            Invalid::Mutability => ScimType::Mutability,
            Invalid::TooMany => ScimType::TooMany,
            Invalid::Cursor => ScimType::InvalidCursor,
            Invalid::ExpiredCursor => ScimType::ExpiredCursor,
        }
    }

    /// The reason a 400 with this `scimType` gives; None for the types
    /// the protocol core never answers a 400 with.
    fn of_scim_type(t: ScimType) -> Option<Self> {
        Some(match t {
            ScimType::InvalidValue => Invalid::Value,
            ScimType::InvalidSyntax => Invalid::Syntax,
            ScimType::InvalidFilter => Invalid::Filter,
            ScimType::InvalidPath => Invalid::Path,
            ScimType::NoTarget => Invalid::NoTarget,
            ScimType::Mutability => Invalid::Mutability,
            ScimType::TooMany => Invalid::TooMany,
            ScimType::InvalidCursor => Invalid::Cursor,
            ScimType::ExpiredCursor => Invalid::ExpiredCursor,
            ScimType::Uniqueness | ScimType::InvalidVers | ScimType::Sensitive => return None,
        })
    }
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn invalid(reason: Invalid, detail: impl Into<String>) -> Self {
        Error::Invalid {
            reason,
            detail: detail.into(),
        }
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::invalid(Invalid::Value, detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::invalid(Invalid::Syntax, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Error::NotFound(detail.into())
    }

    pub fn duplicate(detail: impl Into<String>) -> Self {
        Error::Duplicate(detail.into())
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Error::Conflict(detail.into())
    }

    pub fn refused(detail: impl Into<String>) -> Self {
        Error::Refused(detail.into())
    }

    /// What a write answers when the resource changed since the version
    /// the request names (If-Match, or a bulk operation's `version`).
    pub fn precondition_failed() -> Self {
        Error::PreconditionFailed(
            "the resource has changed since the version named in If-Match".into(),
        )
    }

    /// The message for whoever made the request (for `Internal`, the
    /// cause: only the command line, run on the host, shows it).
    pub fn detail(&self) -> &str {
        match self {
            Error::Invalid { detail, .. } => detail,
            Error::NotFound(d)
            | Error::Duplicate(d)
            | Error::Conflict(d)
            | Error::PreconditionFailed(d)
            | Error::Forbidden(d)
            | Error::Refused(d)
            | Error::Internal(d)
            | Error::Unavailable(d) => d,
        }
    }

    /// The SCIM Error document for this error (RFC 7644 §3.12): what the
    /// SCIM API answers, and what a failed bulk operation carries. An
    /// internal error's cause is not in it (the caller logs it).
    pub fn to_scim(&self) -> ScimError {
        let (status, scim_type) = match self {
            Error::Invalid { reason, .. } => (400, Some(reason.scim_type())),
            Error::NotFound(_) => (404, None),
            Error::Duplicate(_) => (409, Some(ScimType::Uniqueness)),
            Error::Conflict(_) => (409, None),
            Error::PreconditionFailed(_) => (412, None),
            Error::Forbidden(_) | Error::Refused(_) => (403, None),
            Error::Internal(_) => {
                return ScimError::new(
                    500,
                    None,
                    "internal server error; the server log has the cause",
                );
            }
            Error::Unavailable(_) => return ScimError::new(503, None, UNAVAILABLE),
        };
        ScimError::new(status, scim_type, self.detail())
    }
}

/// What the protocol core (`scim/`: parsing, PATCH, filters) refuses,
/// said in the domain's terms. It refuses only input (400 with a
/// `scimType`), a missing target (404), a duplicate (409 `uniqueness`) or
/// a version that cannot match (412); anything else reaching the domain
/// is a fault of ours.
impl From<ScimError> for Error {
    fn from(e: ScimError) -> Self {
        let reason = e.scim_type.and_then(Invalid::of_scim_type);
        match (e.status, e.scim_type, reason) {
            (400, _, Some(reason)) => Error::invalid(reason, e.detail),
            (404, None, _) => Error::NotFound(e.detail),
            (409, Some(ScimType::Uniqueness), _) => Error::Duplicate(e.detail),
            (409, None, _) => Error::Conflict(e.detail),
            (412, None, _) => Error::PreconditionFailed(e.detail),
            _ => Error::Internal(format!("a protocol error the domain does not expect: {e}")),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Filter(e) => e.into(),
            StoreError::Nesting(r) => Error::invalid_value(r.to_string()),
            StoreError::NotFound => Error::not_found("resource not found"),
            StoreError::VersionMismatch => Error::precondition_failed(),
            StoreError::Conflict(index) => Error::duplicate(conflict_detail(index)),
            StoreError::Unavailable(cause) => Error::Unavailable(cause),
            other => Error::Internal(other.to_string()),
        }
    }
}

/// What a client is told when the database is unavailable.
pub const UNAVAILABLE: &str =
    "the database is unavailable for a moment (a failover?); try again after Retry-After seconds";

fn conflict_detail(index: &str) -> &'static str {
    match index {
        "users_iam_user_name" => "a user with this userName already exists in this IAM",
        "groups_iam_display_name" => "a group with this displayName already exists in this IAM",
        "iams_name" => "an IAM with this name already exists",
        _ => "the value must be unique",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_protocol_error_the_domain_meets_comes_back_unchanged() {
        let errors = [
            ScimType::InvalidValue,
            ScimType::InvalidSyntax,
            ScimType::InvalidFilter,
            ScimType::InvalidPath,
            ScimType::NoTarget,
            ScimType::Mutability,
            ScimType::TooMany,
            ScimType::InvalidCursor,
            ScimType::ExpiredCursor,
        ]
        .into_iter()
        .map(|t| ScimError::bad(t, "d"))
        .chain([
            ScimError::not_found("d"),
            ScimError::uniqueness("d"),
            ScimError::new(409, None, "d"),
            ScimError::new(412, None, "d"),
        ]);
        for e in errors {
            assert_eq!(Error::from(e.clone()).to_scim(), e);
        }
    }

    #[test]
    fn a_protocol_error_the_domain_does_not_expect_is_internal() {
        let e = Error::from(ScimError::new(413, Some(ScimType::TooMany), "d"));
        assert!(matches!(e, Error::Internal(_)), "{e:?}");
        assert_eq!(e.to_scim().status, 500);
    }
}
