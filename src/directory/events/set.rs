//! Security Event Token streams (RFC 9967): their signing keys (made at
//! first start, rotated without breaking verification, published as a
//! JWKS), the SETs the worker signs when it fans a stream out, the push
//! request (RFC 8935), the poll endpoint's work (RFC 8936) and the
//! verification event. The claims themselves are `crate::events::set`.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use uuid::Uuid;

use super::super::accounts::Ctx;
use super::super::permissions::may;
use super::super::{Directory, Error, Result, Timestamp, changes, truncate};
use crate::events::set::{self, Signer};
use crate::events::{self, Change, Event};
use crate::store::events::{Delivery, NewDelivery, SetKey, Stream};

/// The most SETs one poll answers.
pub const MAX_POLL_EVENTS: i64 = 1000;
/// How many SETs a poll answers when it does not say (`maxEvents`).
const DEFAULT_POLL_EVENTS: i64 = 100;
/// The longest a poll waits for a SET (`returnImmediately: false`).
pub const LONG_POLL: Duration = Duration::from_secs(30);
/// How often a waiting poll looks again.
const LONG_POLL_STEP: Duration = Duration::from_millis(200);
/// The members a poll request may hold (RFC 8936 §2.4).
const POLL_MEMBERS: [&str; 4] = ["ack", "setErrs", "maxEvents", "returnImmediately"];

/// A poll token: `spt_` and 32 random bytes, base64url.
pub fn new_poll_token() -> String {
    format!("spt_{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()))
}

/// How a poll token is kept: its SHA-256, base64url.
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// A SET signing key as administrators read it (never its private half).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetKeyView {
    pub kid: String,
    /// Whether it signs new SETs (the newest key does).
    pub signing: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SetKeyPage {
    pub hits: Vec<SetKeyView>,
}

fn bad(detail: impl Into<String>) -> Error {
    Error::invalid_value(detail)
}

/// The request of a SET push (RFC 8935 §2): the JWS as the body.
pub fn push_request(
    client: &reqwest::Client,
    endpoint: reqwest::Url,
    d: &Delivery,
) -> reqwest::RequestBuilder {
    client
        .post(endpoint)
        .header("content-type", set::CONTENT_TYPE)
        .header("accept", "application/json")
        .body(d.body.clone())
}

impl Directory {
    /// The issuer (`iss`) of this server's SETs.
    pub fn set_issuer(&self) -> &str {
        &self.limits.event_issuer
    }

    /// The keys not retired, newest (the signing one) first; one is made
    /// when there is none (the first start).
    async fn live_set_keys(&self) -> Result<Vec<SetKey>> {
        let keys = self.store.set_keys().await?;
        if !keys.is_empty() {
            return Ok(keys);
        }
        self.add_set_key(None).await?;
        Ok(self.store.set_keys().await?)
    }

    /// Makes a key; it signs from now on.
    async fn add_set_key(&self, record: Option<&crate::audit::Entry>) -> Result<SetKey> {
        let pair = set::new_key().map_err(Error::Internal)?;
        let key = SetKey {
            kid: pair.kid,
            private_pem: pair.private_pem,
            public_jwk: pair.public_jwk.to_string(),
            created: self.now(),
        };
        self.store.add_set_key(&key, record).await?;
        Ok(key)
    }

    /// Makes the first signing key if there is none (at start).
    pub async fn ensure_set_key(&self) -> Result<()> {
        self.live_set_keys().await.map(|_| ())
    }

    /// The signer of new SETs: the newest key's.
    async fn set_signer(&self) -> Result<Signer> {
        let keys = self.live_set_keys().await?;
        let key = keys
            .first()
            .ok_or_else(|| Error::Internal("no SET signing key".into()))?;
        Signer::new(&key.kid, &key.private_pem).map_err(Error::Internal)
    }

    /// `GET /.well-known/jwks.json`: every key not retired.
    pub async fn set_jwks(&self) -> Result<Value> {
        let keys: Vec<Value> = self
            .live_set_keys()
            .await?
            .iter()
            .filter_map(|k| serde_json::from_str(&k.public_jwk).ok())
            .collect();
        Ok(json!({ "keys": keys }))
    }

    pub async fn set_keys(&self, ctx: &Ctx) -> Result<SetKeyPage> {
        ctx.require(may::MANAGE_EVENTS)?;
        let keys = self.live_set_keys().await?;
        Ok(SetKeyPage {
            hits: keys
                .iter()
                .enumerate()
                .map(|(i, k)| SetKeyView {
                    kid: k.kid.clone(),
                    signing: i == 0,
                    created_at: Timestamp(k.created),
                })
                .collect(),
        })
    }

    /// A new signing key; the others stay published until retired, so
    /// that what they signed still verifies.
    pub async fn rotate_set_key(&self, ctx: &Ctx) -> Result<SetKeyView> {
        ctx.require(may::MANAGE_EVENTS)?;
        let record = ctx
            .entry("event_stream.key_rotated")
            .target("EventStream", Uuid::nil());
        let key = self.add_set_key(Some(&record)).await?;
        Ok(SetKeyView {
            kid: key.kid,
            signing: true,
            created_at: Timestamp(key.created),
        })
    }

    /// Retires a key that no longer signs: it is published no more, and
    /// what it signed no longer verifies.
    pub async fn retire_set_key(&self, ctx: &Ctx, kid: &str) -> Result<()> {
        ctx.require(may::MANAGE_EVENTS)?;
        let keys = self.live_set_keys().await?;
        match keys.iter().position(|k| k.kid == kid) {
            None => Err(Error::not_found(format!(
                "no live SET signing key '{}'",
                truncate(kid)
            ))),
            Some(0) => Err(Error::conflict(
                "this key signs new SETs: rotate first, then retire it",
            )),
            Some(_) => {
                let record = ctx
                    .entry("event_stream.key_retired")
                    .target("EventStream", Uuid::nil())
                    .attributes([format!("keys.{kid}")]);
                self.store.retire_set_key(kid, &record, self.now()).await?;
                Ok(())
            }
        }
    }

    /// The `aud` of a stream's SETs: its audience, else its endpoint, else
    /// its id.
    pub(super) fn audience_of(s: &Stream) -> String {
        s.audience
            .clone()
            .or_else(|| s.endpoint.clone())
            .unwrap_or_else(|| s.id.to_string())
    }

    /// Fans a SET stream out: each event signed as it becomes a delivery,
    /// so every attempt sends the same token.
    pub(super) async fn fan_out_sets(&self, s: &Stream) -> Result<()> {
        let signer = self.set_signer().await?;
        let (iss, aud) = (self.set_issuer(), Self::audience_of(s));
        let iat = self.now().unix_timestamp();
        let types = self.types_for(s).await?;
        let derive = |c: &Change| -> Option<NewDelivery> {
            let e = Event::of(c)?;
            if !events::wanted(&s.events, s.iam, &e) {
                return None;
            }
            let data = self.event_data(s, &e, &types);
            let body = match signer.sign(&set::claims(&e, iss, &aud, iat, data.as_ref())) {
                Ok(jws) => jws,
                Err(error) => {
                    tracing::error!(stream = %s.id, %error, "signing a SET");
                    return None;
                }
            };
            Some(NewDelivery {
                event_id: e.id,
                event_type: e.kind.to_owned(),
                resource: e.resource_key(),
                body,
            })
        };
        self.fan_out_with(s, &derive).await
    }

    /// Whether an enabled or paused Security Event Token stream carries
    /// the events of `iam` (one for that IAM, or for every IAM): what
    /// `/ServiceProviderConfig` advertises `securityEvents` to. Strict
    /// clients (scim2-tester) refuse that attribute, so a caller with no
    /// SETs to receive is not shown it.
    pub async fn sets_cover(&self, iam: Uuid) -> Result<bool> {
        let streams = self.store.streams().await?;
        Ok(streams
            .iter()
            .any(|s| s.format == "set" && s.status != "disabled" && s.iam.is_none_or(|i| i == iam)))
    }

    /// Queues a verification event: `stream.verify` for a webhook stream,
    /// the Shared Signals verification event for a SET stream; pushed
    /// like any event, or answered to the next poll.
    pub async fn verify_event_stream(&self, ctx: &Ctx, id: Uuid) -> Result<Uuid> {
        ctx.require(may::MANAGE_EVENTS)?;
        let s = self
            .store
            .stream(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("no event stream with id {id}")))?;
        let event: Uuid = self.new_id();
        let now = self.now();
        let body = if s.format == "set" {
            let claims = set::verification_claims(
                &event.to_string(),
                &id.to_string(),
                self.set_issuer(),
                &Self::audience_of(&s),
                now.unix_timestamp(),
            );
            self.set_signer()
                .await?
                .sign(&claims)
                .map_err(Error::Internal)?
        } else {
            json!({
                "id": event,
                "type": "stream.verify",
                "occurredAt": now
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                "iam": null,
                "resource": {"type": "EventStream", "id": id},
                "changed": [],
            })
            .to_string()
        };
        let delivery = NewDelivery {
            event_id: event,
            event_type: "stream.verify".into(),
            resource: format!("EventStream/{id}"),
            body,
        };
        let record = changes::event_stream(
            &ctx.entry(""),
            "event_stream.verified",
            id,
            [format!("deliveries.{event}")],
        );
        if !self
            .store
            .queue_verification(id, &delivery, &record, now)
            .await?
        {
            return Err(Error::not_found(format!("no event stream with id {id}")));
        }
        self.events_wake.notify_one();
        Ok(event)
    }

    /// The poll stream `id` when `token` is its poll token; None when it
    /// is not (or there is no such stream).
    pub async fn poll_stream(&self, id: Uuid, token: &str) -> Result<Option<Stream>> {
        let Some(s) = self.store.stream(id).await? else {
            return Ok(None);
        };
        let Some(hash) = s.poll_token_hash.as_deref() else {
            return Ok(None);
        };
        let good = bool::from(token_hash(token).as_bytes().ct_eq(hash.as_bytes()));
        Ok(good.then_some(s))
    }

    /// A poll (RFC 8936 §2.4) by the receiver of poll stream `s` (see
    /// [`Self::poll_stream`]): acknowledges and refuses what it names,
    /// then answers `{"sets": {jti: SET}, "moreAvailable"}`, waiting up to
    /// 30 s for one unless `returnImmediately`.
    pub async fn poll_event_stream(&self, s: &Stream, body: &Value) -> Result<Value> {
        let (s, id) = (s.clone(), s.id);
        let request = PollRequest::parse(body)?;
        let deadline = tokio::time::Instant::now() + LONG_POLL;
        let mut acks = request.ack;
        let mut errors = request.errors;
        loop {
            if s.status != "disabled" {
                self.fan_out(&s).await?;
            }
            let max = if s.status == "enabled" {
                request.max
            } else {
                0
            };
            let (due, more) = self.store.poll(id, &acks, &errors, max, self.now()).await?;
            (acks, errors) = (Vec::new(), Vec::new());
            let waiting = due.is_empty()
                && max > 0
                && !request.immediately
                && tokio::time::Instant::now() + LONG_POLL_STEP < deadline;
            if !waiting {
                let sets: Map<String, Value> = due
                    .into_iter()
                    .map(|d| (d.event_id.to_string(), Value::String(d.body)))
                    .collect();
                return Ok(json!({"sets": sets, "moreAvailable": more}));
            }
            tokio::time::sleep(LONG_POLL_STEP).await;
        }
    }
}

/// A poll request's members (RFC 8936 §2.4).
struct PollRequest {
    ack: Vec<Uuid>,
    /// Refused SETs: their jti, and `err: description`.
    errors: Vec<(Uuid, String)>,
    max: i64,
    immediately: bool,
}

impl PollRequest {
    fn parse(body: &Value) -> Result<Self> {
        let b = match body {
            Value::Null => &Map::new(),
            Value::Object(b) => b,
            _ => return Err(bad("the body must be a JSON object")),
        };
        if let Some(k) = b.keys().find(|k| !POLL_MEMBERS.contains(&k.as_str())) {
            return Err(bad(format!("unknown member '{}'", truncate(k))));
        }
        // An id that is no event of ours names nothing to acknowledge.
        let jti = |s: &str| Uuid::parse_str(s).ok();
        let ack = match b.get("ack") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(jti))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("'ack' must be a list of SET ids (jti)"))?
                .into_iter()
                .flatten()
                .collect(),
            Some(_) => return Err(bad("'ack' must be a list of SET ids (jti)")),
        };
        let mut errors = Vec::new();
        match b.get("setErrs") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                let mut seen = HashMap::new();
                for (k, v) in m {
                    let e = v
                        .as_object()
                        .and_then(|o| o.get("err"))
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            bad("each of 'setErrs' must be {\"err\", \"description\"}")
                        })?;
                    let d = v.get("description").and_then(Value::as_str).unwrap_or("");
                    let text: String = if d.is_empty() {
                        e.to_owned()
                    } else {
                        format!("{e}: {d}")
                    };
                    if let Some(id) = jti(k) {
                        seen.insert(id, format!("refused: {}", truncate(&text)));
                    }
                }
                errors.extend(seen);
            }
            Some(_) => return Err(bad("'setErrs' must be an object keyed by jti")),
        }
        let max = match b.get("maxEvents") {
            None | Some(Value::Null) => DEFAULT_POLL_EVENTS,
            Some(v) => v
                .as_i64()
                .filter(|n| (0..=MAX_POLL_EVENTS).contains(n))
                .ok_or_else(|| {
                    bad(format!(
                        "'maxEvents' must be an integer from 0 to {MAX_POLL_EVENTS}"
                    ))
                })?,
        };
        let immediately = match b.get("returnImmediately") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(x)) => *x,
            Some(_) => return Err(bad("'returnImmediately' must be true or false")),
        };
        Ok(PollRequest {
            ack,
            errors,
            max,
            immediately,
        })
    }
}
