//! Security Event Tokens (RFC 8417) for the SCIM profile (RFC 9967): the
//! claims an event is sent as, their JWS (ES256) and the keys they are
//! signed with. Pure: the delivery worker signs a SET when it turns an
//! audit record into a delivery, and sends or queues what it signed.
//!
//! The SCIM provisioning events (`urn:ietf:params:scim:event:prov:*`) say
//! what a SCIM client could have done; the bridge's own changes (a
//! permission, a managed attribute, a disable, a migration, a
//! subscription, ...) are named `urn:scim-bridge:event:<type>` with the
//! webhook's type, in the namespace of the bridge's schema extension.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::Event;

/// The media type of a SET (RFC 8417 §2.3), its JWS `typ`.
pub const SET_TYPE: &str = "secevent+jwt";
/// The content type a SET is pushed with (RFC 8935 §2).
pub const CONTENT_TYPE: &str = "application/secevent+jwt";

const PROV: &str = "urn:ietf:params:scim:event:prov:";
/// The bridge's own events: `urn:scim-bridge:event:permission.added`, ...
pub const BRIDGE_EVENT: &str = "urn:scim-bridge:event:";
/// The verification event of the OpenID Shared Signals Framework, which
/// RFC 8935 receivers commonly take to check a stream.
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// The SCIM event URIs this server issues (`securityEvents.eventUris` of
/// `/ServiceProviderConfig`).
pub const EVENT_URIS: [&str; 9] = [
    "urn:ietf:params:scim:event:prov:create:notice",
    "urn:ietf:params:scim:event:prov:patch:notice",
    "urn:ietf:params:scim:event:prov:put:notice",
    "urn:ietf:params:scim:event:prov:create:full",
    "urn:ietf:params:scim:event:prov:patch:full",
    "urn:ietf:params:scim:event:prov:put:full",
    "urn:ietf:params:scim:event:prov:delete",
    "urn:ietf:params:scim:event:prov:activate",
    "urn:ietf:params:scim:event:prov:deactivate",
];

/// The SCIM endpoint of a resource type.
fn endpoint(resource_type: &str) -> &'static str {
    match resource_type {
        "Group" => "/Groups",
        _ => "/Users",
    }
}

/// `{"attributes": names}`: a notice's payload (RFC 9967 §2.4).
fn notice(names: Vec<String>) -> Value {
    json!({ "attributes": names })
}

/// `{"ref", "data"}`: a full event's payload (RFC 9967 §2.4), the
/// resource as the SCIM GET answers it, at the time of the change.
fn full(data: &Value) -> Value {
    let mut payload = json!({ "data": data });
    if let Some(r) = data.pointer("/meta/location") {
        payload["ref"] = r.clone();
    }
    payload
}

/// The `events` claim of an event: its SCIM provisioning events, and the
/// bridge's own one when the change is not a SCIM one (or says more).
/// With `data` (a `full` stream), a create, PATCH or PUT is the `:full`
/// event carrying the resource; without, the `:notice` naming what
/// changed.
pub fn events(e: &Event, data: Option<&Value>) -> Map<String, Value> {
    let mut out = Map::new();
    let mut prov = |name: &str, payload: Value| {
        out.insert(format!("{PROV}{name}"), payload);
    };
    let described = |name: &str, names: Vec<String>| match data {
        Some(d) => (format!("{name}:full"), full(d)),
        None => (format!("{name}:notice"), notice(names)),
    };
    let via = e.via.as_deref().unwrap_or("");
    let method = if via.starts_with("PUT") {
        "put"
    } else {
        "patch"
    };
    match e.kind {
        "user.created" | "group.created" => {
            let (uri, payload) = described("create", e.changed.clone());
            prov(&uri, payload);
        }
        "user.updated" | "group.updated" => {
            let (uri, payload) = described(method, e.changed.clone());
            prov(&uri, payload);
            if via.ends_with(" activate") {
                prov("activate", json!({}));
            } else if via.ends_with(" deactivate") {
                prov("deactivate", json!({}));
            }
        }
        // A member joined or left: the attribute, never who.
        "group.member_added" | "group.member_removed" => {
            prov(&format!("{method}:notice"), notice(vec!["members".into()]));
        }
        "user.deleted" | "group.deleted" => prov("delete", json!({})),
        "user.deprovisioned" => prov("delete", json!({})),
        "user.disabled" => prov("deactivate", json!({})),
        "user.enabled" => prov("activate", json!({})),
        _ => {}
    }
    let scim_only = matches!(
        e.kind,
        "user.created"
            | "group.created"
            | "user.updated"
            | "group.updated"
            | "group.member_added"
            | "group.member_removed"
            | "user.deleted"
            | "group.deleted"
    );
    if !scim_only {
        out.insert(
            format!("{BRIDGE_EVENT}{}", e.kind),
            notice(e.changed.clone()),
        );
    }
    out
}

/// The `sub_id` of an event's resource (RFC 9967 §2.1).
pub fn subject(e: &Event) -> Value {
    let mut sub = json!({
        "format": "scim",
        "uri": format!("{}/{}", endpoint(e.resource_type), e.resource_id),
    });
    if let Some(x) = &e.external_id {
        sub["externalId"] = json!(x);
    }
    sub
}

/// The claims of an event's SET: `iss`, `aud`, `jti` (the event's id),
/// `iat`, `toe` (when the change was made), `txn`, `sub_id`, `events`.
/// `data`: the resource, for a `full` stream.
pub fn claims(e: &Event, iss: &str, aud: &str, iat: i64, data: Option<&Value>) -> Value {
    json!({
        "iss": iss,
        "aud": aud,
        "jti": e.id.to_string(),
        "iat": iat,
        "toe": e.occurred_at.unix_timestamp(),
        "txn": e.txn,
        "sub_id": subject(e),
        "events": events(e, data),
    })
}

/// The claims of a stream's verification event: its subject is the
/// stream (an opaque id), its `state` the event's id.
pub fn verification_claims(jti: &str, stream: &str, iss: &str, aud: &str, iat: i64) -> Value {
    json!({
        "iss": iss,
        "aud": aud,
        "jti": jti,
        "iat": iat,
        "txn": jti,
        "sub_id": {"format": "opaque", "id": stream},
        "events": { VERIFICATION: { "state": jti } },
    })
}

/// A signing key: its id, its private key (PKCS#8 PEM) and its public
/// key as a JWK.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPair {
    pub kid: String,
    pub private_pem: String,
    pub public_jwk: Value,
}

/// A new P-256 key; its id is the JWK thumbprint (RFC 7638) of its public
/// key, so the same key always has the same id.
pub fn new_key() -> Result<KeyPair, String> {
    let signing = SigningKey::random(&mut rand::rngs::OsRng);
    let pem = signing
        .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
        .map_err(|e| format!("encoding a signing key: {e}"))?;
    let point = signing.verifying_key().to_encoded_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err("a P-256 public key without coordinates".into());
    };
    let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
    // RFC 7638 §3.2: the required members, in lexicographic order.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    let public_jwk = json!({
        "kty": "EC", "crv": "P-256", "x": x, "y": y,
        "use": "sig", "alg": "ES256", "kid": kid,
    });
    Ok(KeyPair {
        kid,
        private_pem: pem.to_string(),
        public_jwk,
    })
}

/// Signs SETs under one key (read once per batch).
pub struct Signer {
    header: Header,
    key: EncodingKey,
}

impl Signer {
    pub fn new(kid: &str, private_pem: &str) -> Result<Self, String> {
        // ES256 (ECDSA P-256): no RSA private key is ever held (see
        // tests/api/supply_chain.rs).
        let key = EncodingKey::from_ec_pem(private_pem.as_bytes())
            .map_err(|e| format!("reading the SET signing key: {e}"))?;
        let header = Header {
            alg: Algorithm::ES256,
            typ: Some(SET_TYPE.to_owned()),
            kid: Some(kid.to_owned()),
            ..Header::default()
        };
        Ok(Signer { header, key })
    }

    /// The compact JWS of `claims`.
    pub fn sign(&self, claims: &Value) -> Result<String, String> {
        jsonwebtoken::encode(&self.header, claims, &self.key)
            .map_err(|e| format!("signing a SET: {e}"))
    }
}

/// What a receiver's 400 says (RFC 8935 §2.3): `err: description`, or
/// None when the answer is not an RFC 8935 error.
pub fn refusal(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let err = v.get("err")?.as_str()?;
    let description = v.get("description").and_then(Value::as_str).unwrap_or("");
    let text = if description.is_empty() {
        err.to_owned()
    } else {
        format!("{err}: {description}")
    };
    Some(text.chars().take(512).collect())
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation, jwk::Jwk};
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;

    fn event(kind: &'static str, via: Option<&str>) -> Event {
        Event {
            id: Uuid::from_u128(1),
            kind,
            occurred_at: OffsetDateTime::UNIX_EPOCH,
            iam: None,
            resource_type: "User",
            resource_id: Uuid::from_u128(2),
            changed: vec!["active".into()],
            txn: "t1".into(),
            via: via.map(str::to_owned),
            external_id: Some("ext-2".into()),
            snapshot: None,
        }
    }

    fn uris(e: &Event) -> Vec<String> {
        events(e, None).keys().cloned().collect()
    }

    #[test]
    fn events_are_named_as_rfc_9967_says() {
        let put = event("user.updated", Some("PUT deactivate"));
        assert_eq!(
            uris(&put),
            [
                "urn:ietf:params:scim:event:prov:deactivate",
                "urn:ietf:params:scim:event:prov:put:notice"
            ]
        );
        let patch = event("user.updated", Some("PATCH"));
        assert_eq!(
            events(&patch, None)["urn:ietf:params:scim:event:prov:patch:notice"],
            json!({"attributes": ["active"]})
        );
        let mut joined = event("group.member_added", Some("PATCH"));
        joined.changed = vec![format!("members[value eq \"{}\"]", Uuid::nil())];
        assert_eq!(
            events(&joined, None),
            json!({"urn:ietf:params:scim:event:prov:patch:notice": {"attributes": ["members"]}})
                .as_object()
                .unwrap()
                .clone()
        );
        assert_eq!(
            uris(&event("user.deleted", None)),
            [format!("{PROV}delete")]
        );
        let disabled = uris(&event("user.disabled", None));
        assert!(disabled.contains(&format!("{PROV}deactivate")));
        assert!(disabled.contains(&"urn:scim-bridge:event:user.disabled".to_owned()));
        assert_eq!(
            uris(&event("permission.added", None)),
            ["urn:scim-bridge:event:permission.added"]
        );
        // A full stream: the resource instead of the notice; a member's
        // change stays a notice.
        let data = json!({"userName": "ada", "meta": {"location": "https://x/Users/2"}});
        let full = events(&put, Some(&data));
        assert_eq!(
            full["urn:ietf:params:scim:event:prov:put:full"],
            json!({"ref": "https://x/Users/2", "data": data})
        );
        assert!(full.contains_key("urn:ietf:params:scim:event:prov:deactivate"));
        assert!(!full.contains_key("urn:ietf:params:scim:event:prov:put:notice"));
        let created = events(&event("user.created", None), Some(&data));
        assert!(created.contains_key("urn:ietf:params:scim:event:prov:create:full"));
        assert!(events(&joined, Some(&data)).contains_key(&format!("{PROV}patch:notice")));
        let c = claims(&put, "https://scim.example", "rx", 7, None);
        assert_eq!(
            c["sub_id"],
            json!({"format": "scim", "uri": format!("/Users/{}", Uuid::from_u128(2)), "externalId": "ext-2"})
        );
        assert_eq!(c["txn"], "t1");
        assert_eq!(c["jti"], Uuid::from_u128(1).to_string());
    }

    #[test]
    fn a_set_verifies_with_the_published_key() {
        let k = new_key().expect("a key");
        let signer = Signer::new(&k.kid, &k.private_pem).expect("a signer");
        let claims = claims(&event("user.created", None), "iss", "aud", 1, None);
        let jws = signer.sign(&claims).expect("signed");
        let header = jsonwebtoken::decode_header(&jws).expect("a header");
        assert_eq!(header.kid.as_deref(), Some(k.kid.as_str()));
        assert_eq!(header.typ.as_deref(), Some(SET_TYPE));
        let jwk: Jwk = serde_json::from_value(k.public_jwk).expect("a JWK");
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&["aud"]);
        v.set_required_spec_claims(&["iss", "aud"]);
        v.validate_exp = false;
        let got = jsonwebtoken::decode::<Value>(&jws, &DecodingKey::from_jwk(&jwk).unwrap(), &v)
            .expect("verified");
        assert_eq!(got.claims, claims);
        assert_eq!(
            refusal(br#"{"err":"invalid_audience","description":"no"}"#).as_deref(),
            Some("invalid_audience: no")
        );
        assert_eq!(refusal(b"nope"), None);
    }
}
