//! Who is calling: SCIM tokens (one IAM each), admin tokens, passwords.
//! Secrets are only ever stored hashed and compared in constant time.

pub mod admin_token;
pub mod oidc;
pub mod password;
pub mod rate_limit;
pub mod scim_token;
pub mod token_cache;
