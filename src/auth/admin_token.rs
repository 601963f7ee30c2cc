//! Locally signed admin tokens (HS256 JWTs) for setups without OIDC. The key
//! comes from the configuration (`admin_token_key`/`_file`) or else lives in
//! the database, so every process on that database can check them. Every
//! claim that matters is validated explicitly; a token lives at most
//! `MAX_VALIDITY` and names its account's token generation, so that it can
//! be revoked (see `Directory::revoke_sessions`).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub const ISSUER: &str = "scim-bridge";
pub const AUDIENCE: &str = "scim-bridge-admin";

/// What `admin bootstrap` issues unless told otherwise.
pub const DEFAULT_VALIDITY: time::Duration = time::Duration::hours(24);
/// The longest an admin token may live: a leaked token is a USER_ADMIN
/// for this long unless its account is revoked.
pub const MAX_VALIDITY: time::Duration = time::Duration::hours(720);
/// How far `exp` and `nbf` may miss (clocks of replicas differ).
const LEEWAY_SECS: i64 = 30;

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
    /// The account's token generation when minted. Tokens minted before
    /// generations existed carry none: they count as generation 0, every
    /// account's first, so that they work until the account's first bump.
    #[serde(default, rename = "gen")]
    pub generation: i64,
}

/// Whether a token may live this long: more than zero, at most
/// `MAX_VALIDITY`.
pub fn check_validity(valid_for: time::Duration) -> Result<(), String> {
    let hours = |d: time::Duration| d.whole_hours();
    if valid_for <= time::Duration::ZERO {
        Err("an admin token must be valid for at least 1 hour".into())
    } else if valid_for > MAX_VALIDITY {
        Err(format!(
            "an admin token is valid for at most {} hours (30 days); {} hours were asked for",
            hours(MAX_VALIDITY),
            hours(valid_for)
        ))
    } else {
        Ok(())
    }
}

pub fn mint(
    key: &[u8],
    user: Uuid,
    generation: i64,
    now: OffsetDateTime,
    valid_for: time::Duration,
) -> Result<String, String> {
    check_validity(valid_for)?;
    let claims = AdminClaims {
        sub: user,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: now.unix_timestamp(),
        nbf: now.unix_timestamp(),
        exp: (now + valid_for).unix_timestamp(),
        jti: Uuid::new_v4(),
        generation,
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
    v.leeway = LEEWAY_SECS as u64;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[AUDIENCE]);
    v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    let claims = decode::<AdminClaims>(token, &DecodingKey::from_secret(key), &v)
        .ok()?
        .claims;
    // A token minted for longer than the cap allows (before there was one,
    // or by a holder of the key) is refused, not trusted for the cap.
    let lifetime = claims.exp.saturating_sub(claims.iat.min(claims.nbf));
    (lifetime <= MAX_VALIDITY.whole_seconds() + LEEWAY_SECS).then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let key = [7u8; 32];
        let user = Uuid::new_v4();
        let now = OffsetDateTime::now_utc();
        let t = mint(&key, user, 3, now, time::Duration::hours(1)).unwrap();
        let claims = verify(&key, &t).unwrap();
        assert_eq!((claims.sub, claims.generation), (user, 3));
        assert!(verify(&[8u8; 32], &t).is_none(), "other key");
        let expired = mint(
            &key,
            user,
            0,
            now - time::Duration::hours(2),
            time::Duration::hours(1),
        )
        .unwrap();
        assert!(verify(&key, &expired).is_none(), "expired");
        let future = mint(
            &key,
            user,
            0,
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

    #[test]
    fn validity_is_capped_when_minting_and_when_verifying() {
        let key = [7u8; 32];
        let user = Uuid::new_v4();
        let now = OffsetDateTime::now_utc();
        assert!(mint(&key, user, 0, now, MAX_VALIDITY).is_ok());
        let err = mint(&key, user, 0, now, time::Duration::hours(876_000)).unwrap_err();
        assert!(err.contains("at most 720 hours"), "{err}");
        assert!(mint(&key, user, 0, now, time::Duration::ZERO).is_err());
        // A century-long token signed with the key (as before the cap).
        let long = AdminClaims {
            sub: user,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now.unix_timestamp(),
            nbf: now.unix_timestamp(),
            exp: (now + time::Duration::days(36_500)).unix_timestamp(),
            jti: Uuid::new_v4(),
            generation: 0,
        };
        let t = encode(
            &Header::new(Algorithm::HS256),
            &long,
            &EncodingKey::from_secret(&key),
        )
        .unwrap();
        assert!(verify(&key, &t).is_none(), "lives longer than the cap");
    }

    #[test]
    fn a_token_without_a_generation_is_generation_zero() {
        let key = [7u8; 32];
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let old = serde_json::json!({
            "sub": Uuid::new_v4(), "iss": ISSUER, "aud": AUDIENCE,
            "iat": now, "nbf": now, "exp": now + 3600, "jti": Uuid::new_v4(),
        });
        let t = encode(
            &Header::new(Algorithm::HS256),
            &old,
            &EncodingKey::from_secret(&key),
        )
        .unwrap();
        assert_eq!(verify(&key, &t).unwrap().generation, 0);
    }
}
