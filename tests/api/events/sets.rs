//! Security Event Tokens (RFC 9967) as a receiver gets them: pushed (RFC
//! 8935) or polled (RFC 8936), each verified with the JWKS fetched from
//! the server by jsonwebtoken (JWK to DecodingKey), not with the server's
//! signing code; `iss`, `aud`, `jti`, `txn`, `sub_id` and the event URIs
//! checked for each kind of change; Bulk's shared `txn`; acknowledgement
//! and re-delivery; a refusal that is not retried; key rotation.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Method;
use serde_json::{Value, json};

use super::changes::{Made, every_change, names_no_one, patch};
use super::{Receiver, WAIT};
use crate::app::TestApp;
use crate::bridge::{Admin, admin, call};
use crate::leak;

pub(super) const ISSUER: &str = "https://scim.example.test";
pub(super) const PROV: &str = "urn:ietf:params:scim:event:prov:";
pub(super) const BRIDGE: &str = "urn:scim-bridge:event:";

/// Loopback receivers, and an issuer (`public_url`) to check `iss` by.
pub(super) fn config(c: &mut scim_bridge::config::Config) {
    super::loopback(c);
    c.public_url = Some(ISSUER.into());
}

/// The server's JWKS, fetched without credentials.
pub(super) async fn jwks(app: &TestApp) -> JwkSet {
    let r = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.origin))
        .send()
        .await
        .expect("jwks");
    assert_eq!(r.status(), 200);
    r.json().await.expect("a JWK set")
}

/// The claims of `jws` once its signature verifies with the key of its
/// `kid` in `keys`, as ES256, for `aud` from [`ISSUER`]; Err when it
/// does not.
pub(super) fn verify(jws: &str, keys: &JwkSet, aud: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(jws).map_err(|e| e.to_string())?;
    assert_eq!(header.typ.as_deref(), Some("secevent+jwt"));
    assert_eq!(header.alg, Algorithm::ES256);
    let kid = header.kid.ok_or("no kid")?;
    let jwk = keys.find(&kid).ok_or(format!("no key {kid} in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&[aud]);
    v.set_issuer(&[ISSUER]);
    v.set_required_spec_claims(&["iss", "aud"]);
    v.validate_exp = false;
    let data = jsonwebtoken::decode::<Value>(jws, &key, &v).map_err(|e| e.to_string())?;
    let c = data.claims;
    // RFC 8417 / RFC 9967: a jti, iat, txn; the subject in sub_id, not sub.
    assert!(c["jti"].as_str().is_some_and(|j| !j.is_empty()), "{c}");
    assert!(c["iat"].is_i64(), "{c}");
    assert!(c["txn"].as_str().is_some_and(|t| !t.is_empty()), "{c}");
    assert!(c.get("sub").is_none(), "{c}");
    Ok(c)
}

/// A SET stream: the answer to its create.
async fn set_stream(root: &Admin, app: &TestApp, body: Value) -> Value {
    let (status, s) = root.post(app, "/event-streams", &body).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(s["format"], "set");
    assert!(s.get("secret").is_none(), "{s}");
    if let Some(t) = s["pollToken"].as_str() {
        leak::note(leak::Kind::Token, t);
    }
    s
}

/// One poll: the status and the answer.
async fn poll(app: &TestApp, id: &str, token: &str, body: &Value) -> (u16, Value) {
    call(
        app,
        Method::POST,
        &format!("/event-streams/{id}/poll"),
        Some(token),
        Some(body),
    )
    .await
}

/// Polls (acknowledging each time what came) until `done` holds of every
/// SET received, then acknowledges the last; the SETs by jti, in the
/// order they came.
async fn poll_until(
    app: &TestApp,
    id: &str,
    token: &str,
    done: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let deadline = Instant::now() + WAIT;
    let mut got: Vec<(String, String)> = Vec::new();
    let mut ack: Vec<String> = Vec::new();
    loop {
        let body = json!({"ack": ack, "returnImmediately": true, "maxEvents": 100});
        let (status, answer) = poll(app, id, token, &body).await;
        assert_eq!(status, 200, "{answer}");
        ack.clear();
        for (jti, jws) in answer["sets"].as_object().expect("sets") {
            ack.push(jti.clone());
            got.push((jti.clone(), jws.as_str().expect("a JWS").to_owned()));
        }
        if done(&got) {
            // Acknowledged: the next poll starts after them.
            let body = json!({"ack": ack, "returnImmediately": true, "maxEvents": 0});
            let (status, answer) = poll(app, id, token, &body).await;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["sets"], json!({}));
            return got;
        }
        assert!(Instant::now() < deadline, "never came: {got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The one event URI of `claims` among `prefix`'s, with its payload.
pub(super) fn event<'a>(claims: &'a Value, uri: &str) -> Option<&'a Value> {
    claims["events"].get(uri)
}

pub(super) fn uri_of(claims: &Value) -> String {
    claims["sub_id"]["uri"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Whether `claims` (verified SETs) tell the last change of each resource
/// [`every_change`] made: the user's and `gone`'s deletes, the migration
/// and the group's third event (the member removed).
pub(super) fn all_came(m: &Made, claims: &[Value]) -> bool {
    let (deleted, migrated) = (format!("{PROV}delete"), format!("{BRIDGE}user.migrated"));
    let came = |uri: String, what: &str| {
        claims
            .iter()
            .any(|c| uri_of(c) == uri && event(c, what).is_some())
    };
    came(format!("/Users/{}", m.user), &deleted)
        && came(format!("/Users/{}", m.gone), &deleted)
        && came(format!("/Users/{}", m.moved), &migrated)
        && claims
            .iter()
            .filter(|c| uri_of(c) == format!("/Groups/{}", m.group))
            .count()
            >= 3
}

/// Every change a receiver must see ([`every_change`]), pushed as a SET to
/// a receiver that verifies it.
async fn each_change_is_a_signed_set(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let rx = Receiver::start().await;
    let stream = set_stream(
        &root,
        app,
        json!({"format": "set", "endpoint": rx.url, "events": ["*"],
               "audience": "urn:example:receiver"}),
    )
    .await;
    assert_eq!(stream["audience"], "urn:example:receiver");
    let aud = "urn:example:receiver";
    let made = every_change(app, &root).await;
    let Made {
        user: uid,
        group: gid,
        moved,
        gone,
    } = &made;
    let users = format!("/Users/{uid}");

    let keys = jwks(app).await;
    let claims_of = |got: &[super::Got]| -> Vec<Value> {
        let mut seen = HashSet::new();
        got.iter()
            .map(|g| {
                assert_eq!(g.header("content-type"), "application/secevent+jwt");
                verify(std::str::from_utf8(&g.body).unwrap(), &keys, aud).expect("verified")
            })
            .filter(|c| seen.insert(c["jti"].as_str().unwrap().to_owned()))
            .collect()
    };
    let deleted = format!("{PROV}delete");
    let migrated = format!("{BRIDGE}user.migrated");
    let got = rx.until(WAIT, |g| all_came(&made, &claims_of(g))).await;
    let all = claims_of(&got);
    for c in &all {
        assert_eq!(c["iss"], ISSUER);
        assert_eq!(c["aud"], aud);
        assert_eq!(c["sub_id"]["format"], "scim", "{c}");
        names_no_one(&c.to_string());
    }
    let mine: Vec<&Value> = all.iter().filter(|c| uri_of(c) == users).collect();
    let has = |c: &Value, name: &str| event(c, &format!("{PROV}{name}")).is_some();
    let find = |name: &str| {
        mine.iter()
            .find(|c| event(c, name).is_some())
            .unwrap_or_else(|| panic!("no {name} in {mine:#?}"))
    };
    // Created: the attributes it was created with, its externalId.
    let created = find(&format!("{PROV}create:notice"));
    assert_eq!(created["sub_id"]["externalId"], "ext-ada");
    let names = &event(created, &format!("{PROV}create:notice")).unwrap()["attributes"];
    assert!(
        names.as_array().unwrap().contains(&json!("userName")),
        "{names}"
    );
    // PATCH and PUT, told apart.
    let patched: Vec<&&Value> = mine.iter().filter(|c| has(c, "patch:notice")).collect();
    assert_eq!(
        event(patched[0], &format!("{PROV}patch:notice")).unwrap(),
        &json!({"attributes": ["nickName"]})
    );
    let put = find(&format!("{PROV}put:notice"));
    assert!(
        event(put, &format!("{PROV}put:notice")).unwrap()["attributes"]
            .as_array()
            .unwrap()
            .contains(&json!("displayName"))
    );
    // The bridge's own changes, in its namespace.
    assert_eq!(
        event(
            find(&format!("{BRIDGE}permission.added")),
            &format!("{BRIDGE}permission.added")
        ),
        Some(&json!({"attributes": ["permissions.GOVERNANCE"]}))
    );
    assert_eq!(
        event(
            find(&format!("{BRIDGE}attribute.added")),
            &format!("{BRIDGE}attribute.added")
        ),
        Some(&json!({"attributes": ["attributes.clearance"]}))
    );
    let disabled = find(&format!("{BRIDGE}user.disabled"));
    assert!(has(disabled, "deactivate"), "{disabled}");
    // A SCIM deactivation: the PATCH of `active`, and prov:deactivate.
    let deactivated = patched
        .iter()
        .find(|c| has(c, "deactivate"))
        .unwrap_or_else(|| panic!("no deactivation in {patched:#?}"));
    assert_eq!(
        event(deactivated, &format!("{PROV}patch:notice")).unwrap(),
        &json!({"attributes": ["active"]})
    );
    assert_eq!(event(find(&deleted), &deleted), Some(&json!({})));
    // In the order of the changes, each change its own transaction.
    let order: Vec<i64> = mine.iter().map(|c| c["toe"].as_i64().unwrap()).collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
    let changes = [created, patched[0], put, deactivated, find(&deleted)];
    let txns: HashSet<&str> = changes.iter().map(|c| c["txn"].as_str().unwrap()).collect();
    assert_eq!(txns.len(), changes.len(), "{changes:#?}");

    // The group: created (with its member, one transaction), the member
    // removed: `members` changed, never who.
    let theirs: Vec<&Value> = all
        .iter()
        .filter(|c| uri_of(c) == format!("/Groups/{gid}"))
        .collect();
    assert!(has(theirs[0], "create:notice"), "{theirs:#?}");
    let members = json!({"attributes": ["members"]});
    assert_eq!(
        event(theirs[1], &format!("{PROV}patch:notice")),
        Some(&members)
    );
    assert_eq!(theirs[0]["txn"], theirs[1]["txn"]);
    assert_eq!(
        event(theirs[2], &format!("{PROV}patch:notice")),
        Some(&members)
    );
    assert_ne!(theirs[1]["txn"], theirs[2]["txn"]);
    for c in &theirs {
        assert!(!c.to_string().contains(uid.as_str()), "a member in {c}");
    }

    // The migration, in the bridge's namespace; the permanent delete, a
    // SCIM delete for the receiver (the account is gone).
    let moved_sets: Vec<&Value> = all
        .iter()
        .filter(|c| uri_of(c) == format!("/Users/{moved}"))
        .collect();
    let m = moved_sets
        .iter()
        .find(|c| event(c, &migrated).is_some())
        .unwrap_or_else(|| panic!("no migration in {moved_sets:#?}"));
    assert!(event(m, &migrated).unwrap()["attributes"].is_array(), "{m}");
    let gone_sets: Vec<&Value> = all
        .iter()
        .filter(|c| uri_of(c) == format!("/Users/{gone}"))
        .collect();
    assert_eq!(gone_sets.len(), 2, "{gone_sets:#?}");
    assert!(has(gone_sets[0], "create:notice"), "{gone_sets:#?}");
    assert_eq!(event(gone_sets[1], &deleted), Some(&json!({})));
    assert_ne!(gone_sets[0]["txn"], gone_sets[1]["txn"]);
}
crate::both_with!(each_change_is_a_signed_set, super::config);

/// A Bulk request's operations share its transaction, each with its
/// index (RFC 9967 §2.5.1.2), batched creates as much as the others.
async fn bulk_operations_share_a_txn(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let s = set_stream(
        &root,
        app,
        json!({"format": "set", "delivery": "poll", "events": ["user.created", "user.updated"]}),
    )
    .await;
    let (id, token) = (s["id"].as_str().unwrap(), s["pollToken"].as_str().unwrap());
    let aud = s["audience"].as_str().unwrap().to_owned();
    assert_eq!(aud, id, "a poll stream's default audience is its id");
    let user = |name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": user("bulk-a@example.com")},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": user("bulk-b@example.com")},
            {"method": "PATCH", "path": "/Users/bulkId:a",
             "data": patch(json!([{"op": "replace", "path": "nickName", "value": "A"}]))},
        ]
    });
    let r = app.post("/Bulk", &bulk).await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    let locations: Vec<String> = answer["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            o["location"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    let single = app.create_user("single@example.com").await;

    let got = poll_until(app, id, token, |g| g.len() >= 4).await;
    let keys = jwks(app).await;
    let claims: Vec<Value> = got
        .iter()
        .map(|(jti, jws)| {
            let c = verify(jws, &keys, &aud).expect("verified");
            assert_eq!(&c["jti"], jti);
            c
        })
        .collect();
    let txn_of = |uri: &str, event: &str| -> String {
        claims
            .iter()
            .find(|c| uri_of(c) == uri && c["events"].get(event).is_some())
            .unwrap_or_else(|| panic!("no {event} of {uri} in {claims:#?}"))["txn"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let create = format!("{PROV}create:notice");
    let a = txn_of(&format!("/Users/{}", locations[0]), &create);
    let b = txn_of(&format!("/Users/{}", locations[1]), &create);
    let p = txn_of(
        &format!("/Users/{}", locations[0]),
        &format!("{PROV}patch:notice"),
    );
    let (base, index) = a.rsplit_once(':').expect("txn:index");
    assert_eq!(index, "0");
    assert_eq!(b, format!("{base}:1"));
    assert_eq!(p, format!("{base}:2"));
    let other = txn_of(
        &format!("/Users/{}", single["id"].as_str().unwrap()),
        &create,
    );
    assert!(!other.contains(base) && !other.contains(':'), "{other}");
}
crate::both_with!(bulk_operations_share_a_txn, super::config);

/// Polling: SETs come oldest first, `maxEvents` at a time with
/// `moreAvailable`; what is not acknowledged comes again, what is does
/// not; a refused SET (`setErrs`) is marked failed; a poll that waits
/// gets the SET committed while it waits; only the stream's token polls.
async fn poll_acknowledges_and_redelivers(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let s = set_stream(
        &root,
        app,
        json!({"format": "set", "delivery": "poll", "events": ["user.created"],
               "audience": "https://rx.example"}),
    )
    .await;
    let (id, token) = (s["id"].as_str().unwrap(), s["pollToken"].as_str().unwrap());
    assert!(s["endpoint"].is_null());
    for n in 0..3 {
        app.create_user(&format!("p{n}@example.com")).await;
    }
    let first = json!({"returnImmediately": true, "maxEvents": 2});
    let (status, one) = poll(app, id, token, &first).await;
    assert_eq!(status, 200, "{one}");
    let sets = one["sets"].as_object().unwrap().clone();
    assert_eq!(sets.len(), 2, "{one}");
    assert_eq!(one["moreAvailable"], true);
    // Not acknowledged: the same two again, the same tokens.
    let (_, again) = poll(app, id, token, &first).await;
    assert_eq!(again["sets"].as_object().unwrap(), &sets);
    // Acknowledged: the third, and no more.
    let acked: Vec<&String> = sets.keys().collect();
    let (_, rest) = poll(
        app,
        id,
        token,
        &json!({"ack": acked, "returnImmediately": true}),
    )
    .await;
    let rest_sets = rest["sets"].as_object().unwrap();
    assert_eq!(rest_sets.len(), 1, "{rest}");
    assert_eq!(rest["moreAvailable"], false);
    assert!(rest_sets.keys().all(|k| !sets.contains_key(k)));
    let third = rest_sets.keys().next().unwrap().clone();
    let keys = jwks(app).await;
    for jws in sets.values().chain(rest_sets.values()) {
        let c = verify(jws.as_str().unwrap(), &keys, "https://rx.example").expect("verified");
        assert!(c["events"].get(format!("{PROV}create:notice")).is_some());
    }
    // Refused: marked failed with what the receiver said; gone from polls.
    let errs = json!({"setErrs": {third.clone(): {"err": "invalid_request", "description": "cannot use it"}},
                      "returnImmediately": true});
    let (_, empty) = poll(app, id, token, &errs).await;
    assert_eq!(empty["sets"], json!({}), "{empty}");
    let (_, failed) = root
        .get(
            app,
            &format!("/event-streams/{id}/deliveries?status=failed"),
        )
        .await;
    assert_eq!(failed["hits"][0]["eventId"], third);
    assert_eq!(
        failed["hits"][0]["lastError"],
        "refused: invalid_request: cannot use it"
    );
    let (_, delivered) = root
        .get(
            app,
            &format!("/event-streams/{id}/deliveries?status=delivered"),
        )
        .await;
    assert_eq!(
        delivered["hits"].as_array().unwrap().len(),
        2,
        "{delivered}"
    );

    // A poll that waits answers with what is committed meanwhile.
    let waiting = {
        let (app_origin, client, id, token) = (
            app.origin.clone(),
            app.client.clone(),
            id.to_owned(),
            token.to_owned(),
        );
        tokio::spawn(async move {
            let r = client
                .post(format!("{app_origin}/api/v1/event-streams/{id}/poll"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(json!({"returnImmediately": false}).to_string())
                .send()
                .await
                .expect("poll");
            let v: Value = r.json().await.expect("json");
            v
        })
    };
    app.create_user("late@example.com").await;
    let late = waiting.await.expect("the poll");
    assert_eq!(late["sets"].as_object().unwrap().len(), 1, "{late}");

    // Only this stream's token polls it, before its body is read.
    let other = set_stream(
        &root,
        app,
        json!({"format": "set", "delivery": "poll", "events": ["*"]}),
    )
    .await;
    let other_token = other["pollToken"].as_str().unwrap();
    for t in [other_token, "spt_nope", root.token.as_str()] {
        let (status, body) = poll(app, id, t, &json!({})).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, _) = call(
        app,
        Method::POST,
        &format!("/event-streams/{id}/poll"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = poll(app, id, token, &json!({"maxEvents": -1})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = poll(app, id, token, &json!({"acks": []})).await;
    assert_eq!(status, 400, "{body}");
    // The token is never shown again.
    let (_, view) = root.get(app, &format!("/event-streams/{id}")).await;
    assert!(view.get("pollToken").is_none(), "{view}");
}
crate::both_with!(poll_acknowledges_and_redelivers, super::config);

/// A receiver that refuses a SET (400 with an RFC 8935 error) is not
/// sent it again: the delivery is failed with what it said.
async fn a_refused_set_is_not_retried(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let calls = Arc::new(Mutex::new(0usize));
    let counted = calls.clone();
    let refuse = axum::Router::new().route(
        "/set",
        axum::routing::post(move || {
            let counted = counted.clone();
            async move {
                *counted.lock().unwrap() += 1;
                (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"err": "invalid_audience", "description": "not ours"})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/set", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, refuse).await });
    let s = set_stream(
        &root,
        app,
        json!({"format": "set", "endpoint": url, "events": ["user.created"]}),
    )
    .await;
    assert_eq!(s["audience"], url, "a push stream's default audience");
    let id = s["id"].as_str().unwrap();
    app.create_user("refused@example.com").await;
    let deadline = Instant::now() + WAIT;
    let failed = loop {
        let (_, page) = root
            .get(
                app,
                &format!("/event-streams/{id}/deliveries?status=failed"),
            )
            .await;
        if let Some(hit) = page["hits"].as_array().and_then(|h| h.first()) {
            break hit.clone();
        }
        assert!(Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(failed["lastStatus"], 400);
    assert_eq!(failed["attempts"], 1);
    assert_eq!(failed["lastError"], "refused: invalid_audience: not ours");
    assert_eq!(failed["nextTry"], Value::Null);
    assert_eq!(*calls.lock().unwrap(), 1);
}
crate::both_with!(a_refused_set_is_not_retried, super::config);

/// After a rotation the new key signs, the old one stays published, so a
/// SET signed before still verifies; retired, it no longer does. The
/// signing key cannot be retired.
async fn rotation_keeps_old_sets_verifiable(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let s = set_stream(
        &root,
        app,
        json!({"format": "set", "delivery": "poll", "events": ["user.created"], "audience": "rx"}),
    )
    .await;
    let (id, token) = (s["id"].as_str().unwrap(), s["pollToken"].as_str().unwrap());
    app.create_user("before@example.com").await;
    let before = poll_until(app, id, token, |g| !g.is_empty()).await;
    let (status, keys) = root.get(app, "/event-keys").await;
    assert_eq!(status, 200, "{keys}");
    let old = keys["hits"][0]["kid"].as_str().unwrap().to_owned();
    assert_eq!(keys["hits"][0]["signing"], true);

    let (status, new) = root.post(app, "/event-keys", &json!({})).await;
    assert_eq!(status, 201, "{new}");
    let new = new["kid"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    app.create_user("after@example.com").await;
    let after = poll_until(app, id, token, |g| !g.is_empty()).await;
    let kid = |jws: &str| jsonwebtoken::decode_header(jws).unwrap().kid.unwrap();
    assert_eq!(kid(&before[0].1), old);
    assert_eq!(kid(&after[0].1), new);
    let published = jwks(app).await;
    assert!(published.find(&old).is_some() && published.find(&new).is_some());
    verify(&before[0].1, &published, "rx").expect("the old SET verifies");
    verify(&after[0].1, &published, "rx").expect("the new SET verifies");

    let (status, body) = root.delete(app, &format!("/event-keys/{new}")).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = root.delete(app, &format!("/event-keys/{old}")).await;
    assert_eq!(status, 204, "{body}");
    let published = jwks(app).await;
    assert!(published.find(&old).is_none());
    assert!(verify(&before[0].1, &published, "rx").is_err());
    let (status, _) = root.delete(app, &format!("/event-keys/{old}")).await;
    assert_eq!(status, 404);
}
crate::both_with!(rotation_keeps_old_sets_verifiable, super::config);

/// Bad stream input is refused with nothing created; the verification
/// event reaches push and poll streams; `/ServiceProviderConfig`
/// advertises `securityEvents` once a SET stream carries the IAM's events.
async fn set_streams_refuse_bad_input_and_verify(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    // With no SET stream, nothing to advertise (strict clients refuse the
    // attribute).
    let spc: Value = app
        .get("/ServiceProviderConfig")
        .await
        .json()
        .await
        .unwrap();
    assert!(spc.get("securityEvents").is_none(), "{spc}");
    let rx = Receiver::start().await;
    for (body, says) in [
        (
            json!({"format": "jwt", "endpoint": rx.url, "events": ["*"]}),
            "'format'",
        ),
        (
            json!({"format": "webhook", "delivery": "poll", "events": ["*"]}),
            "\"set\" streams",
        ),
        (
            json!({"format": "set", "delivery": "poll", "endpoint": rx.url, "events": ["*"]}),
            "push delivery only",
        ),
        (
            json!({"format": "set", "delivery": "pull", "events": ["*"]}),
            "'delivery'",
        ),
        (
            json!({"format": "webhook", "endpoint": rx.url, "events": ["*"], "audience": "x"}),
            "'audience'",
        ),
        (
            json!({"format": "set", "endpoint": "http://example.com/x", "events": ["*"]}),
            "https",
        ),
    ] {
        let (status, answer) = root.post(app, "/event-streams", &body).await;
        assert_eq!(status, 400, "{body} → {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{message} lacks {says}");
    }
    let (_, list) = root.get(app, "/event-streams").await;
    assert_eq!(list["count"], 0, "{list}");

    // Verification: a webhook's stream.verify, a SET stream's SSF event.
    let (_, hook) = root
        .post(
            app,
            "/event-streams",
            &json!({"endpoint": rx.url, "events": ["user.created"]}),
        )
        .await;
    let secret = hook["secret"].as_str().unwrap();
    leak::note(leak::Kind::Token, secret);
    let push = set_stream(
        &root,
        app,
        json!({"format": "set", "endpoint": rx.url, "events": ["user.created"]}),
    )
    .await;
    let pull = set_stream(
        &root,
        app,
        json!({"format": "set", "delivery": "poll", "events": ["user.created"]}),
    )
    .await;
    for s in [&hook, &push, &pull] {
        let (status, answer) = root
            .post(
                app,
                &format!("/event-streams/{}/verify", s["id"].as_str().unwrap()),
                &json!({}),
            )
            .await;
        assert_eq!(status, 202, "{answer}");
    }
    let got = rx.until(WAIT, |g| g.len() >= 2).await;
    let keys = jwks(app).await;
    let verification = "https://schemas.openid.net/secevent/ssf/event-type/verification";
    let mut kinds = HashMap::new();
    for g in &got {
        if g.header("content-type") == "application/secevent+jwt" {
            let c =
                verify(std::str::from_utf8(&g.body).unwrap(), &keys, &rx.url).expect("verified");
            assert_eq!(c["events"][verification]["state"], c["jti"]);
            assert_eq!(c["sub_id"], json!({"format": "opaque", "id": push["id"]}));
            kinds.insert("set", c["jti"].clone());
        } else {
            let body = super::verified(secret, g);
            assert_eq!(body["type"], "stream.verify");
            assert_eq!(body["resource"]["id"], hook["id"]);
            kinds.insert("webhook", body["id"].clone());
        }
    }
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    let (pid, token) = (
        pull["id"].as_str().unwrap(),
        pull["pollToken"].as_str().unwrap(),
    );
    let polled = poll_until(app, pid, token, |g| !g.is_empty()).await;
    let c = verify(&polled[0].1, &keys, pid).expect("verified");
    assert!(c["events"].get(verification).is_some(), "{c}");
    let (status, _) = root
        .post(
            app,
            "/event-streams/7f000000-0000-0000-0000-000000000000/verify",
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);

    let r = app.get("/ServiceProviderConfig").await;
    let spc: Value = r.json().await.unwrap();
    assert_eq!(spc["securityEvents"]["asyncRequest"], "none");
    let uris = spc["securityEvents"]["eventUris"].as_array().unwrap();
    for u in [
        "create:notice",
        "patch:notice",
        "put:notice",
        "delete",
        "deactivate",
    ] {
        assert!(
            uris.contains(&json!(format!("{PROV}{u}"))),
            "{u} in {uris:?}"
        );
    }
}
crate::both_with!(set_streams_refuse_bad_input_and_verify, super::config);
