//! Locally signed admin tokens (HS256 JWTs) for setups without OIDC. The key
//! lives in the database, so every process on that database can check them.
//! Every claim that matters is validated explicitly.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub const ISSUER: &str = "scim-bridge";
pub const AUDIENCE: &str = "scim-bridge-admin";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AdminClaims {
    /// The internal user id of the administrator.
    pub sub: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: Uuid,
}

pub fn mint(
    key: &[u8],
    user: Uuid,
    now: OffsetDateTime,
    valid_for: time::Duration,
) -> Result<String, String> {
    let claims = AdminClaims {
        sub: user,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: now.unix_timestamp(),
        nbf: now.unix_timestamp(),
        exp: (now + valid_for).unix_timestamp(),
        jti: Uuid::new_v4(),
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .map_err(|e| format!("signing the admin token failed: {e}"))
}

pub fn verify(key: &[u8], token: &str) -> Option<AdminClaims> {
    let mut v = Validation::new(Algorithm::HS256);
    v.algorithms = vec![Algorithm::HS256];
    v.leeway = 30;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[AUDIENCE]);
    v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    decode::<AdminClaims>(token, &DecodingKey::from_secret(key), &v)
        .ok()
        .map(|d| d.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let key = [7u8; 32];
        let user = Uuid::new_v4();
        let now = OffsetDateTime::now_utc();
        let t = mint(&key, user, now, time::Duration::hours(1)).unwrap();
        assert_eq!(verify(&key, &t).unwrap().sub, user);
        assert!(verify(&[8u8; 32], &t).is_none(), "other key");
        let expired = mint(
            &key,
            user,
            now - time::Duration::hours(2),
            time::Duration::hours(1),
        )
        .unwrap();
        assert!(verify(&key, &expired).is_none(), "expired");
        let future = mint(
            &key,
            user,
            now + time::Duration::hours(2),
            time::Duration::hours(1),
        )
        .unwrap();
        assert!(verify(&key, &future).is_none(), "not yet valid");
        // alg=none must never pass.
        let parts: Vec<&str> = t.split('.').collect();
        let none_header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            r#"{"alg":"none","typ":"JWT"}"#,
        );
        assert!(verify(&key, &format!("{none_header}.{}.", parts[1])).is_none());
    }
}
