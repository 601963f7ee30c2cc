//! Finding 8 (userName normalisation): one rule on every path that sets a
//! userName (SCIM POST, PUT, PATCH with and without a path, Bulk; the admin
//! API's users and migration; bootstrap; import): control characters, bidi
//! controls, invisible-only or padded names and overlong names are refused;
//! fullwidth and case variants collide; look-alike scripts mixed in one name
//! are accepted and flagged in the audit, which never holds the name.
//! Group displayName keeps the control/bidi/length part of the rule.
//! Finding 9 (OIDC claim folding): a claim names an account only exactly
//! (KELVIN SIGN is not K) and, for `email`, only with `email_verified`.

use serde_json::{Value, json};

use crate::app::{Backend, TestApp};
use crate::both;
use crate::bridge::admin;
use crate::bridge::oidc::{Key, claims, me, serve_jwks, spawn};
use crate::console::Browser;
use crate::console::oidc::{CLIENT_ID, finish, provider, start};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const MIXED: &str = "mixed-script-userName";

/// What the probe sent, each refused by the rule.
fn hostile() -> Vec<String> {
    vec![
        "bob\u{7}@example.com".into(),
        "bo\u{0}b@example.com".into(),
        "\u{202E}moc.elpmaxe@bob".into(),
        "bob\u{2066}@example.com".into(),
        "bob@example.com\u{200F}".into(),
        "\u{200B}".into(),
        "\u{200D}\u{FEFF}".into(),
        "   ".into(),
        "".into(),
        " bob@example.com".into(),
        "bob@example.com\u{3000}".into(),
        "bo\u{200B}b@example.com".into(),
        format!("{}@example.com", "b".repeat(5_000)),
    ]
}

async fn answer(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn refused_as_invalid((status, body): &(u16, Value), name: &str) {
    assert_eq!(*status, 400, "{name:?}: {body}");
    assert_eq!(body["scimType"], "invalidValue", "{name:?}: {body}");
}

both!(scim_refuses_hostile_user_names_on_every_write);
async fn scim_refuses_hostile_user_names_on_every_write(app: &TestApp) {
    let bob = app.create_user("bob@example.com").await;
    let id = bob["id"].as_str().unwrap();
    let path = format!("/Users/{id}");
    for name in hostile() {
        let body = json!({"schemas": [USER], "userName": name});
        refused_as_invalid(&answer(app.post("/Users", &body).await).await, &name);
        refused_as_invalid(&answer(app.put(&path, &body).await).await, &name);
        let with_path = json!({"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "userName", "value": name}]});
        refused_as_invalid(&answer(app.patch(&path, &with_path).await).await, &name);
        let no_path = json!({"schemas": [PATCH], "Operations": [
            {"op": "replace", "value": {"userName": name}}]});
        refused_as_invalid(&answer(app.patch(&path, &no_path).await).await, &name);
        let bulk = json!({"schemas": [BULK], "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "x", "data": body}]});
        // NUL is refused for the whole request, before any operation.
        let (status, doc) = answer(app.post("/Bulk", &bulk).await).await;
        let refused = if status == 200 {
            let op = &doc["Operations"][0];
            assert_eq!(op["status"], "400", "{name:?}: {op}");
            op["response"].clone()
        } else {
            doc
        };
        assert_eq!(refused["scimType"], "invalidValue", "{name:?}: {refused}");
    }
    // Nothing changed: bob is as created, and alone.
    let (_, doc) = answer(app.get(&path).await).await;
    assert_eq!(doc["userName"], "bob@example.com");
    let (_, list) = answer(app.get("/Users?count=10").await).await;
    assert_eq!(list["totalResults"], 1, "{list}");
}

both!(compatibility_and_case_variants_of_a_name_collide);
async fn compatibility_and_case_variants_of_a_name_collide(app: &TestApp) {
    let bob = app.create_user("bob@example.com").await;
    app.create_user("kate@example.com").await;
    for twin in [
        "ｂｏｂ@example.com",
        "BOB@EXAMPLE.COM",
        "\u{212A}ate@example.com",
        "ｋａｔｅ@ｅｘａｍｐｌｅ.ｃｏｍ",
    ] {
        let body = json!({"schemas": [USER], "userName": twin});
        let (status, e) = answer(app.post("/Users", &body).await).await;
        assert_eq!(status, 409, "{twin}: {e}");
        assert_eq!(e["scimType"], "uniqueness");
    }
    // Another user renamed to bob's fullwidth twin: refused alike.
    let alice = app.create_user("alice@example.com").await;
    let rename = json!({"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "userName", "value": "ＢＯＢ@example.com"}]});
    let path = format!("/Users/{}", alice["id"].as_str().unwrap());
    assert_eq!(answer(app.patch(&path, &rename).await).await.0, 409);
    // The filter compares the same way the uniqueness index does.
    let (_, found) = answer(
        app.get("/Users?filter=userName%20eq%20%22%EF%BD%82%EF%BD%8F%EF%BD%82@example.com%22")
            .await,
    )
    .await;
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["id"], bob["id"]);
    // A Cyrillic о is another letter: a different user, not a twin.
    let body = json!({"schemas": [USER], "userName": "b\u{043E}b@example.com"});
    assert_eq!(answer(app.post("/Users", &body).await).await.0, 201);
}

/// The flags of the newest audit record of `target` with `action`.
async fn flags(auditor: &crate::bridge::Admin, app: &TestApp, target: &str, action: &str) -> Value {
    let (status, log) = auditor
        .get(
            app,
            &format!("/audit?target={target}&action={action}&limit=1"),
        )
        .await;
    assert_eq!(status, 200, "{log}");
    log["hits"][0]["flags"].clone()
}

both!(look_alike_scripts_are_accepted_and_flagged_in_the_audit);
async fn look_alike_scripts_are_accepted_and_flagged_in_the_audit(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let auditor = root.another(app, "auditor@example.com", &["AUDIT"]).await;
    let spoof = app.create_user("p\u{0430}ypal@example.com").await;
    let plain = app.create_user("paypal@example.com").await;
    let (spoof, plain) = (spoof["id"].as_str().unwrap(), plain["id"].as_str().unwrap());
    assert_eq!(
        flags(&auditor, app, spoof, "user.created").await,
        json!([MIXED])
    );
    assert_eq!(flags(&auditor, app, plain, "user.created").await, json!([]));

    // A rename into mixed scripts is flagged; an update that keeps the name is not.
    let patch = |op: Value| json!({"schemas": [PATCH], "Operations": [op]});
    let path = format!("/Users/{plain}");
    let to_greek =
        patch(json!({"op": "replace", "path": "userName", "value": "\u{0391}lice@example.com"}));
    assert_eq!(answer(app.patch(&path, &to_greek).await).await.0, 200);
    assert_eq!(
        flags(&auditor, app, plain, "user.updated").await,
        json!([MIXED])
    );
    let other = patch(json!({"op": "replace", "path": "displayName", "value": "P"}));
    assert_eq!(answer(app.patch(&path, &other).await).await.0, 200);
    assert_eq!(flags(&auditor, app, plain, "user.updated").await, json!([]));

    // Migration under a mixed-script name is flagged too.
    let (status, body) = root
        .post(
            app,
            &format!("/users/{spoof}/migrate"),
            &json!({"iam": "bim", "userName": "s\u{0441}ott@example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        flags(&auditor, app, spoof, "user.migrated").await,
        json!([MIXED])
    );

    // The audit names people by id only: no name, no look-alike.
    let (_, all) = auditor.get(app, "/audit?limit=1000").await;
    let text = all.to_string();
    assert!(
        !text.contains("ypal@") && !text.contains("ott@example"),
        "{text}"
    );
}

both!(the_admin_paths_share_the_rule);
async fn the_admin_paths_share_the_rule(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    for email in [
        "\u{202E}x@example.com",
        " x@example.com",
        "x@example.com\u{200B}",
        "x\u{2066}@example.com",
    ] {
        let body = json!({"fullName": "X", "email": email});
        let (status, e) = root.post(app, "/users", &body).await;
        assert_eq!(status, 400, "{email:?}: {e}");
    }
    let (status, _) = root
        .post(
            app,
            "/users",
            &json!({"fullName": "X\u{202E}", "email": "x@example.com"}),
        )
        .await;
    assert_eq!(status, 400, "a bidi control in fullName");
    let kate = root.new_user(app, "Kate", "kate@example.com").await;
    let twin = json!({"fullName": "K", "email": "ｋａｔｅ@example.com"});
    assert_eq!(root.post(app, "/users", &twin).await.0, 409);

    // Migration refuses what SCIM refuses, padding included (no trimming).
    let path = format!("/users/{kate}/migrate");
    for name in [
        " kate@example.com".to_owned(),
        "k\u{202E}@x.com".into(),
        "k".repeat(300),
    ] {
        let (status, e) = root
            .post(app, &path, &json!({"iam": "idp", "userName": name}))
            .await;
        assert_eq!(status, 400, "{name:?}: {e}");
    }
    let ok = json!({"iam": "idp", "userName": "kate@example.com"});
    assert_eq!(root.post(app, &path, &ok).await.0, 200);

    // The bootstrap command goes through the same door.
    let dir = app.directory().await;
    let hour = time::Duration::hours(1);
    assert!(
        dir.bootstrap_admin("\u{202E}evil@example.com", None, hour)
            .await
            .is_err()
    );
    assert!(
        dir.bootstrap_admin("evil@example.com ", None, hour)
            .await
            .is_err()
    );

    // Group names keep the control, bidi and length part of the rule.
    for name in ["G\u{7}".to_owned(), "G\u{202E}".into(), "g".repeat(300)] {
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                          "displayName": name});
        refused_as_invalid(&answer(app.post("/Groups", &body).await).await, &name);
        assert_eq!(
            root.post(app, "/groups", &json!({"displayName": name}))
                .await
                .0,
            400
        );
    }
}

both!(names_from_before_the_rule_still_take_updates);
async fn names_from_before_the_rule_still_take_updates(app: &TestApp) {
    let user = app.create_user("legacy@example.com").await;
    let id = user["id"].as_str().unwrap();
    let old = " legacy@example.com";
    // Bound, not spliced into the statement: the suite's own SQL is logged
    // too, and the leak scan reads those logs for every name sent.
    match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            sqlx::query(
                "UPDATE users SET user_name = $1, doc = json_set(doc, '$.userName', $1) \
                 WHERE id = $2",
            )
            .bind(old)
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            sqlx::query(
                "UPDATE users SET user_name = $1, \
                 doc = jsonb_set(doc, '{userName}', to_jsonb($1::text)) WHERE id = $2::uuid",
            )
            .bind(old)
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
    }
    let path = format!("/Users/{id}");
    // The identity provider can still deprovision it, by PATCH or PUT.
    let off = json!({"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "active", "value": false}]});
    let (status, body) = answer(app.patch(&path, &off).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["userName"], old);
    let put = json!({"schemas": [USER], "userName": old, "active": false});
    assert_eq!(answer(app.put(&path, &put).await).await.0, 200);
    // But no one can choose such a name anew.
    let put = json!({"schemas": [USER], "userName": " other@example.com"});
    refused_as_invalid(&answer(app.put(&path, &put).await).await, "padded");
}

both!(import_applies_the_rule);
async fn import_applies_the_rule(app: &TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    let id = uuid::Uuid::now_v7().to_string();
    let line = json!({"type": "User", "iam": "idp", "resource": {
        "schemas": [USER], "id": id, "userName": "bob\u{202E}@example.com"}});
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let (ok, _, err) = crate::transfer::cli(
        &app.database_url,
        &["import", "--input", file.to_str().unwrap()],
    );
    assert!(!ok, "{err}");
    assert!(
        err.contains("line 1") && err.contains("bidirectional"),
        "{err}"
    );
    assert_eq!(app.get(&format!("/Users/{id}")).await.status(), 404);
}

both!(an_oidc_claim_names_an_account_only_verified_and_exact);
async fn an_oidc_claim_names_an_account_only_verified_and_exact(app: &TestApp) {
    let k1 = Key::new("k1");
    let jwks = serve_jwks(json!({"keys": [k1.jwk()]})).await;
    let app = spawn(app, &jwks.url, 0).await;
    let root = admin(&app, "root@example.com").await;
    let kate = root.new_user(&app, "Kate", "kate@example.com").await;
    let (status, body) = me(&app, &k1.sign(&claims("kate@example.com"))).await;
    assert_eq!((status, body["id"].as_str()), (200, Some(kate.as_str())));

    // Look-alikes NFKC would fold into kate's name: no one.
    for claim in ["\u{212A}ate@example.com", "ｋａｔｅ@example.com"] {
        let (status, body) = me(&app, &k1.sign(&claims(claim))).await;
        assert_eq!(status, 401, "{claim}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("compatibility")
        );
    }
    // An email the identity provider did not verify names no one either.
    let mut unverified = claims("kate@example.com");
    unverified.as_object_mut().unwrap().remove("email_verified");
    let (status, body) = me(&app, &k1.sign(&unverified)).await;
    assert_eq!(status, 401);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("email_verified") && message.contains("preferred_username"));
    for not_true in [json!(false), json!("false"), json!(1)] {
        unverified["email_verified"] = not_true.clone();
        assert_eq!(me(&app, &k1.sign(&unverified)).await.0, 401, "{not_true}");
    }
    // JumpCloud's string "true" counts.
    unverified["email_verified"] = json!("true");
    assert_eq!(me(&app, &k1.sign(&unverified)).await.0, 200);
    app.finish().await;
}

both!(the_console_sign_in_refuses_the_kelvin_sign);
async fn the_console_sign_in_refuses_the_kelvin_sign(app: &TestApp) {
    let idp = provider().await;
    let issuer = idp.0.lock().await.issuer.clone();
    let app = TestApp::spawn_with(app.backend, move |c| {
        c.oidc_issuer = Some(issuer.clone());
        c.oidc_audience = Some("scim-bridge-api".into());
        c.oidc_jwks_url = Some(format!("{issuer}/jwks"));
        c.oidc_algorithms = vec!["ES256".into()];
        c.oidc_client_id = Some(CLIENT_ID.into());
    })
    .await
    .unwrap();
    admin(&app, "kate@example.com").await;
    for (email, status) in [("\u{212A}ate@example.com", 401), ("kate@example.com", 200)] {
        idp.0.lock().await.email = email.into();
        let mut b = Browser::new(&app);
        let (cookie, callback) = start(&mut b).await;
        let r = finish(&mut b, &cookie, &callback).await;
        assert_eq!(r.status(), status, "{email}");
        assert_eq!(b.cookie.is_some(), status == 200, "{email}");
    }
    app.finish().await;
}
