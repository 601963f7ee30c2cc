//! Administrators signed in at the external IAM: its JWTs (ID or access
//! tokens) checked against the configured issuer, audience and JWKS.
//!
//! - algorithms: an allow-list (asymmetric only; `none` and HMAC never);
//! - `exp`, `nbf`, `iss` and `aud` are required and checked, with a small
//!   leeway for clock skew;
//! - the JWKS comes from a URL or a file, is cached, and is fetched again
//!   when a token names a key id the cache does not hold (at most once per
//!   `min_refresh`, so unknown kids cannot make us hammer the IdP); a fetch
//!   is bounded in time and size.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use crate::scim::user_name::UserName;

/// Largest JWKS document accepted.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// How long one JWKS fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A cached JWKS is fetched again after this, even if every kid is known.
pub const MAX_AGE: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub enum JwksSource {
    Url(String),
    File(std::path::PathBuf),
}

#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub audience: String,
    pub jwks: JwksSource,
    pub algorithms: Vec<Algorithm>,
    /// The claim whose value is the internal account's userName.
    pub user_claim: String,
    pub leeway_secs: u64,
    /// Least time between two fetches caused by unknown key ids.
    pub min_refresh: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OidcError {
    /// The token is not acceptable (signature, claims, algorithm, key).
    #[error("{0}")]
    Rejected(String),
    /// The JWKS could not be obtained.
    #[error("the identity provider's keys are unavailable: {0}")]
    Unavailable(String),
}

/// The userName a verified token names through `claim`: the one mapping
/// from an external IAM's claims to an account (admin API and console).
///
/// - `email` counts only with `email_verified` true: anyone may put any
///   address in a profile at many identity providers. JumpCloud and Apple
///   send the string "true", so that counts too.
/// - The claim must be a userName exactly as sent ([`UserName::parse_exact`]):
///   no compatibility characters, so KELVIN SIGN `\u{212A}ate` never
///   reaches `kate` through the NFKC fold that uniqueness uses.
pub fn claimed_user_name(claims: &Value, claim: &str) -> Result<UserName, OidcError> {
    let value = claims
        .get(claim)
        .and_then(Value::as_str)
        .ok_or_else(|| OidcError::Rejected(format!("the token has no '{claim}' claim")))?;
    let verified = matches!(claims.get("email_verified"), Some(v) if *v == true || *v == "true");
    if claim == "email" && !verified {
        return Err(OidcError::Rejected(
            "the token's email is not verified (email_verified is not true); an identity \
             provider that does not send email_verified (Entra ID, for some tokens) needs \
             oidc_user_claim set to preferred_username, upn or sub"
                .into(),
        ));
    }
    UserName::parse_exact(value).map_err(|e| {
        OidcError::Rejected(format!(
            "the '{claim}' claim names no userName: {}",
            e.detail
        ))
    })
}

struct Keys {
    by_kid: HashMap<String, (DecodingKey, Option<Algorithm>)>,
    /// Keys without a kid (usable only when the token names none).
    anonymous: Vec<(DecodingKey, Option<Algorithm>)>,
    fetched: Instant,
}

pub struct Oidc {
    settings: OidcSettings,
    http: reqwest::Client,
    keys: RwLock<Option<Keys>>,
    /// One fetch at a time; also remembers when the last one started.
    refresh: Mutex<Option<Instant>>,
}

/// Parses the configured algorithm names; only asymmetric ones.
pub fn parse_algorithms(names: &[String]) -> Result<Vec<Algorithm>, String> {
    names
        .iter()
        .map(|n| {
            let alg: Algorithm = n
                .parse()
                .map_err(|_| format!("unknown JWT algorithm {n}"))?;
            match alg {
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Err(format!(
                    "{n} is symmetric: an identity provider's tokens use RS*, PS*, ES* or EdDSA"
                )),
                a => Ok(a),
            }
        })
        .collect()
}

impl Oidc {
    pub fn new(settings: OidcSettings) -> Result<Self, String> {
        if settings.algorithms.is_empty() {
            return Err("oidc_algorithms must name at least one algorithm".into());
        }
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Oidc {
            settings,
            http,
            keys: RwLock::new(None),
            refresh: Mutex::new(None),
        })
    }

    pub fn user_claim(&self) -> &str {
        &self.settings.user_claim
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// Verifies a token; returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Value, OidcError> {
        self.verify_for(token, &self.settings.audience).await
    }

    /// Verifies a token issued to `audience` (the console's ID tokens are
    /// issued to its client id): the same checks, another `aud`.
    pub async fn verify_for(&self, token: &str, audience: &str) -> Result<Value, OidcError> {
        let header =
            decode_header(token).map_err(|e| OidcError::Rejected(format!("not a JWT: {e}")))?;
        if !self.settings.algorithms.contains(&header.alg) {
            return Err(OidcError::Rejected(format!(
                "algorithm {:?} is not allowed",
                header.alg
            )));
        }
        let (key, key_alg) = self.key_for(header.kid.as_deref()).await?;
        if key_alg.is_some_and(|a| a != header.alg) {
            return Err(OidcError::Rejected(
                "the token's algorithm is not its key's".into(),
            ));
        }
        let mut v = Validation::new(header.alg);
        v.algorithms = vec![header.alg];
        v.leeway = self.settings.leeway_secs;
        v.validate_exp = true;
        v.validate_nbf = true;
        v.set_issuer(&[&self.settings.issuer]);
        v.set_audience(&[audience]);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
        decode::<Value>(token, &key, &v)
            .map(|d| d.claims)
            .map_err(|e| OidcError::Rejected(format!("the token is not valid: {e}")))
    }

    async fn cached(&self, kid: Option<&str>) -> Option<(DecodingKey, Option<Algorithm>)> {
        let guard = self.keys.read().await;
        let keys = guard.as_ref()?;
        if keys.fetched.elapsed() > MAX_AGE {
            return None;
        }
        match kid {
            Some(k) => keys.by_kid.get(k).cloned(),
            None if keys.anonymous.len() + keys.by_kid.len() == 1 => keys
                .anonymous
                .first()
                .or_else(|| keys.by_kid.values().next())
                .cloned(),
            None => None,
        }
    }

    async fn key_for(
        &self,
        kid: Option<&str>,
    ) -> Result<(DecodingKey, Option<Algorithm>), OidcError> {
        if let Some(k) = self.cached(kid).await {
            return Ok(k);
        }
        {
            let mut last = self.refresh.lock().await;
            // Another request may have refreshed while we waited.
            if let Some(k) = self.cached(kid).await {
                return Ok(k);
            }
            let have_keys = self.keys.read().await.is_some();
            let too_soon = last.is_some_and(|t| t.elapsed() < self.settings.min_refresh);
            if !have_keys || !too_soon || self.expired().await {
                *last = Some(Instant::now());
                let fresh = self.fetch().await?;
                *self.keys.write().await = Some(fresh);
            }
        }
        self.cached(kid).await.ok_or_else(|| {
            OidcError::Rejected(match kid {
                Some(k) => format!("no key '{k}' in the identity provider's JWKS"),
                None => "the token names no key id and the JWKS has several keys".into(),
            })
        })
    }

    async fn expired(&self) -> bool {
        self.keys
            .read()
            .await
            .as_ref()
            .is_none_or(|k| k.fetched.elapsed() > MAX_AGE)
    }

    async fn fetch(&self) -> Result<Keys, OidcError> {
        let unavailable = |m: String| OidcError::Unavailable(m);
        let bytes = match &self.settings.jwks {
            JwksSource::File(path) => {
                let b = tokio::fs::read(path)
                    .await
                    .map_err(|e| unavailable(format!("{}: {e}", path.display())))?;
                if b.len() > MAX_JWKS_BYTES {
                    return Err(unavailable("the JWKS file is too large".into()));
                }
                b
            }
            JwksSource::Url(url) => {
                let mut resp = self
                    .http
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| unavailable(format!("fetching the JWKS: {e}")))?;
                if !resp.status().is_success() {
                    return Err(unavailable(format!(
                        "the JWKS URL answered {}",
                        resp.status()
                    )));
                }
                if resp
                    .content_length()
                    .is_some_and(|l| l > MAX_JWKS_BYTES as u64)
                {
                    return Err(unavailable("the JWKS is too large".into()));
                }
                let mut body = Vec::new();
                while let Some(chunk) = resp
                    .chunk()
                    .await
                    .map_err(|e| unavailable(format!("reading the JWKS: {e}")))?
                {
                    body.extend_from_slice(&chunk);
                    if body.len() > MAX_JWKS_BYTES {
                        return Err(unavailable("the JWKS is too large".into()));
                    }
                }
                body
            }
        };
        let set: JwkSet = serde_json::from_slice(&bytes)
            .map_err(|e| unavailable(format!("the JWKS is malformed: {e}")))?;
        let mut keys = Keys {
            by_kid: HashMap::new(),
            anonymous: Vec::new(),
            fetched: Instant::now(),
        };
        for jwk in &set.keys {
            // Keys for encryption, or of a kind we cannot use, are skipped.
            if jwk
                .common
                .public_key_use
                .as_ref()
                .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
            {
                continue;
            }
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok());
            match &jwk.common.key_id {
                Some(kid) => {
                    keys.by_kid.insert(kid.clone(), (key, alg));
                }
                None => keys.anonymous.push((key, alg)),
            }
        }
        tracing::info!(
            keys = keys.by_kid.len() + keys.anonymous.len(),
            "fetched the OIDC JWKS"
        );
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_email_claim_counts_only_verified_and_exact() {
        let name = |c: Value| claimed_user_name(&c, "email").map(|n| n.as_str().to_owned());
        let ok = |v: Value| json!({"email": "kate@example.com", "email_verified": v});
        assert_eq!(name(ok(json!(true))).unwrap(), "kate@example.com");
        assert!(name(ok(json!("true"))).is_ok(), "JumpCloud's string");
        for v in [
            json!(false),
            json!("false"),
            json!(1),
            json!("yes"),
            Value::Null,
        ] {
            assert!(name(ok(v.clone())).is_err(), "{v}");
        }
        let unverified = name(json!({"email": "kate@example.com"})).unwrap_err();
        assert!(unverified.to_string().contains("preferred_username"));
        let kelvin = json!({"email": "\u{212A}ate@example.com", "email_verified": true});
        assert!(name(kelvin).is_err());
        assert!(name(json!({"email": " kate@example.com", "email_verified": true})).is_err());
    }

    #[test]
    fn other_claims_need_no_verification() {
        let c = json!({"preferred_username": "kate@example.com", "sub": "s-1"});
        assert!(claimed_user_name(&c, "preferred_username").is_ok());
        assert!(claimed_user_name(&c, "sub").is_ok());
        assert!(claimed_user_name(&c, "upn").is_err());
    }
}
