//! Findings 1, 3, 4, 5, 12 and 13 (part) of the hostile probe: nobody
//! grants what they do not hold; the built-in IAM takes no SCIM tokens; an
//! identity provider that is not the admins' source never changes an
//! administrator; no path leaves the directory without a USER_ADMIN;
//! `/Me` is an administrator's, disabled means 401; an administrator's
//! SCIM PATCH is all or nothing; inactive accounts administer nothing;
//! attribute mappings never read secrets; usage events need a permission.

use reqwest::Method;
use serde_json::{Value, json};

use crate::app::TestApp;
use crate::both;
use crate::bridge::{admin, call};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BRIDGE: &str = "urn:scim-bridge:schemas:extension:bridge:2.0:User";

async fn settings_of(app: &TestApp, token: &str, iam: &str) -> Value {
    let (status, body) = call(app, Method::GET, "/iams", Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == iam)
        .expect("the IAM")["settings"]
        .clone()
}

async fn permissions_of(app: &TestApp, token: &str, id: &str) -> Vec<String> {
    let (status, view) = call(app, Method::GET, &format!("/users/{id}"), Some(token), None).await;
    assert_eq!(status, 200, "{view}");
    serde_json::from_value(view["permissions"].clone()).unwrap()
}

async fn scim(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let r = app.request(method, path, Some(token), body).await;
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    (status, body)
}

/// An admin token for any account, as `admin bootstrap` signs them.
async fn admin_token(app: &TestApp, id: &str) -> String {
    let dir = app.directory().await;
    let key = dir.signing_key().await.unwrap().to_vec();
    let generation = dir
        .account(id.parse().unwrap())
        .await
        .unwrap()
        .token_generation;
    scim_bridge::auth::admin_token::mint(
        &key,
        id.parse().unwrap(),
        generation,
        time::OffsetDateTime::now_utc(),
        time::Duration::hours(1),
    )
    .unwrap()
}

fn deactivate() -> Value {
    json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]})
}

/// A server whose administrators sign in from the IAM `idp` (OIDC set up,
/// `oidc_iam = "idp"`): that identity provider is the admins' source.
async fn with_idp_as_admin_source(app: &TestApp) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, r#"{"keys": []}"#).unwrap();
    let app = TestApp::spawn_with(app.backend, move |c| {
        c.oidc_issuer = Some("https://idp.example.test".into());
        c.oidc_audience = Some("scim-bridge-admin-api".into());
        c.oidc_jwks_file = Some(jwks);
        c.oidc_algorithms = vec!["ES256".into()];
        c.oidc_iam = "idp".into();
    })
    .await
    .expect("app");
    (app, dir)
}

both!(application_admin_grants_only_what_it_holds);
async fn application_admin_grants_only_what_it_holds(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let apps = root
        .another(app, "apps@example.com", &["APPLICATION_ADMIN"])
        .await;
    let bim_before = settings_of(app, &root.token, "bim").await;

    // The probe's path to USER_ADMIN: a SCIM token for the built-in IAM,
    // and a group mapping that grants USER_ADMIN. Both refused, for
    // everyone: the built-in IAM takes no tokens at all.
    for who in [&apps, &root] {
        let (status, body) = who.post(app, "/iams/bim/tokens", &json!({})).await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("built-in IAM")
        );
    }
    for settings in [
        json!({"groupPermissions": {"pwn": ["USER_ADMIN"]}}),
        json!({"defaultPermissions": ["USER_ADMIN"]}),
        json!({"groupPermissions": {"pwn": ["AUDIT", "GOVERNANCE"]}}),
    ] {
        for iam in ["bim", "idp"] {
            let (status, body) = apps
                .put(app, &format!("/iams/{iam}/settings"), &settings)
                .await;
            assert_eq!(status, 403, "{iam} {settings}: {body}");
        }
    }
    assert_eq!(settings_of(app, &root.token, "bim").await, bim_before);

    // What it holds it may hand out; a USER_ADMIN may hand out anything.
    let (status, body) = apps
        .put(
            app,
            "/iams/idp/settings",
            &json!({"groupPermissions": {"Integrators": ["APPLICATION_ADMIN"]}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = root
        .put(app, "/iams/idp/settings", &json!({"groupPermissions": {"Integrators": ["APPLICATION_ADMIN"], "Admins": ["USER_ADMIN"]}}))
        .await;
    assert_eq!(status, 200, "{body}");
    // Withdrawing a grant it does not hold is granting too.
    let (status, body) = apps
        .put(
            app,
            "/iams/idp/settings",
            &json!({"groupPermissions": {"Integrators": ["APPLICATION_ADMIN"]}}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // Changing a mapping's case is no change (names compare folded).
    let (status, body) = apps
        .put(app, "/iams/idp/settings", &json!({"groupPermissions": {"integrators": ["APPLICATION_ADMIN"], "ADMINS": ["USER_ADMIN"]}}))
        .await;
    assert_eq!(status, 200, "{body}");

    // A token minted for the built-in IAM before this rule (planted in the
    // database) authenticates nothing.
    let dir = app.directory().await;
    let id = uuid::Uuid::new_v4();
    let (token, secret_hash) = scim_bridge::auth::scim_token::mint(id);
    dir.store
        .create_token(
            &scim_bridge::store::NewToken {
                id,
                iam_id: scim_bridge::store::accounts::BUILT_IN_IAM_ID.uuid(),
                label: None,
                secret_hash,
                created: time::OffsetDateTime::now_utc(),
            },
            &scim_bridge::audit::Entry::new(scim_bridge::audit::Actor::Cli, "token.created"),
        )
        .await
        .unwrap();
    let (status, _) = scim(app, Method::GET, "/Users", &token, None).await;
    assert_eq!(status, 401);
    let (status, _) = scim(
        app,
        Method::PATCH,
        &format!("/Users/{}", root.id),
        &token,
        Some(&json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "userName", "value": "apps@example.com"}]})),
    )
    .await;
    assert_eq!(status, 401);
}

both!(identity_providers_do_not_change_administrators);
async fn identity_providers_do_not_change_administrators(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let ops = app.create_user("ops@example.com").await;
    let steward = app.create_user("steward@example.com").await;
    let ops_id = ops["id"].as_str().unwrap();
    let steward_id = steward["id"].as_str().unwrap();
    for (id, p) in [(ops_id, "APPLICATION_ADMIN"), (steward_id, "GOVERNANCE")] {
        let (status, body) = root
            .post(
                app,
                &format!("/users/{id}/permissions"),
                &json!({"permissions": [p]}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let path = format!("/Users/{ops_id}");

    // The probe's takeover: the provider renames an administrator.
    let rename = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "userName", "value": "root@example.com"}]});
    let (status, body) = scim(app, Method::PATCH, &path, &app.token, Some(&rename)).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("APPLICATION_ADMIN"),
        "{body}"
    );
    let put = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x@example.com", "active": true});
    let (status, _) = scim(app, Method::PUT, &path, &app.token, Some(&put)).await;
    assert_eq!(status, 403);
    // The same through Bulk.
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "PATCH", "path": path, "data": rename}],
    });
    let (status, body) = scim(app, Method::POST, "/Bulk", &app.token, Some(&bulk)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Operations"][0]["status"], "403", "{body}");
    let (status, user) = scim(app, Method::GET, &path, &app.token, None).await;
    assert_eq!(status, 200);
    assert_eq!(user["userName"], "ops@example.com");

    // Read-only personas are ordinary accounts to their provider.
    let (status, body) = scim(
        app,
        Method::PATCH,
        &format!("/Users/{steward_id}"),
        &app.token,
        Some(
            &rename
                .to_string()
                .replace("root@", "stew@")
                .parse::<Value>()
                .unwrap(),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Another IAM's token still sees 404, as for any id it does not know.
    let other = app.token_for_new_iam("other").await;
    let (status, _) = scim(app, Method::PATCH, &path, &other, Some(&rename)).await;
    assert_eq!(status, 404);
    let (status, _) = scim(app, Method::PUT, &path, &other, Some(&put)).await;
    assert_eq!(status, 404);
    // A leaver always loses access: deactivation and DELETE go through.
    let (status, body) = scim(app, Method::PATCH, &path, &app.token, Some(&deactivate())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], false);
    let (status, _) = scim(app, Method::DELETE, &path, &app.token, None).await;
    assert_eq!(status, 204);

    // Where administrators sign in from that provider, it manages them.
    let (app2, _jwks) = with_idp_as_admin_source(app).await;
    let root2 = admin(&app2, "root@example.com").await;
    let ops = app2.create_user("ops@example.com").await;
    let ops_id = ops["id"].as_str().unwrap();
    root2
        .post(
            &app2,
            &format!("/users/{ops_id}/permissions"),
            &json!({"permissions": ["APPLICATION_ADMIN"]}),
        )
        .await;
    let rename = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "userName", "value": "ops2@example.com"}]});
    let (status, body) = scim(
        &app2,
        Method::PATCH,
        &format!("/Users/{ops_id}"),
        &app2.token,
        Some(&rename),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    app2.finish().await;
}

both!(the_last_user_admin_survives_every_path);
async fn the_last_user_admin_survives_every_path(app: &TestApp) {
    let (owned, _jwks) = with_idp_as_admin_source(app).await;
    let app = &owned;
    let root = admin(app, "root@example.com").await;
    let (status, body) = root
        .post(
            app,
            &format!("/users/{}/permissions", root.id),
            &json!({"permissions": ["APPLICATION_ADMIN"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The identity provider's account becomes the only USER_ADMIN.
    let boss = app.create_user("boss@example.com").await;
    let boss_id = boss["id"].as_str().unwrap().to_owned();
    let (status, body) = root
        .post(
            app,
            &format!("/users/{boss_id}/permissions"),
            &json!({"permissions": ["USER_ADMIN"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = root
        .delete(app, &format!("/users/{}/permissions/USER_ADMIN", root.id))
        .await;
    assert_eq!(status, 200, "{body}");

    let path = format!("/Users/{boss_id}");
    // PATCH and PUT `active` false, DELETE (deprovision, then delete mode).
    let (status, body) = scim(app, Method::PATCH, &path, &app.token, Some(&deactivate())).await;
    assert_eq!(status, 409, "{body}");
    let put = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "boss@example.com", "active": false});
    let (status, body) = scim(app, Method::PUT, &path, &app.token, Some(&put)).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = scim(app, Method::DELETE, &path, &app.token, None).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = root
        .put(app, "/iams/idp/settings", &json!({"deleteMode": "delete"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = scim(app, Method::DELETE, &path, &app.token, None).await;
    assert_eq!(status, 409, "{body}");
    let (status, user) = scim(app, Method::GET, &path, &app.token, None).await;
    assert_eq!(status, 200);
    assert_eq!(user["active"], true);

    // Group membership loss: USER_ADMIN through the provider's group only.
    let group = app.create_group("Admins", &[&boss_id]).await;
    let gid = group["id"].as_str().unwrap().to_owned();
    let (status, body) = root
        .put(
            app,
            "/iams/idp/settings",
            &json!({"deleteMode": "delete", "groupPermissions": {"admins": ["USER_ADMIN"]}}),
        )
        .await;
    assert_eq!(
        status, 403,
        "APPLICATION_ADMIN cannot map USER_ADMIN: {body}"
    );
    // The boss, a USER_ADMIN, maps it, and then holds it through the group.
    let boss_token = admin_token(app, &boss_id).await;
    let mapping = json!({"deleteMode": "delete", "groupPermissions": {"admins": ["USER_ADMIN"]}});
    let (status, body) = call(
        app,
        Method::PUT,
        "/iams/idp/settings",
        Some(&boss_token),
        Some(&mapping),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        app,
        Method::DELETE,
        &format!("/users/{boss_id}/permissions/USER_ADMIN"),
        Some(&boss_token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sources = body["permissionSources"].to_string();
    assert!(
        sources.contains("USER_ADMIN") && sources.contains("group:"),
        "{body}"
    );
    let gpath = format!("/Groups/{gid}");
    let remove = json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": format!("members[value eq \"{boss_id}\"]")}]});
    let (status, body) = scim(app, Method::PATCH, &gpath, &app.token, Some(&remove)).await;
    assert_eq!(status, 409, "{body}");
    let rename = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "Former admins"}]});
    let (status, body) = scim(app, Method::PATCH, &gpath, &app.token, Some(&rename)).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = scim(app, Method::DELETE, &gpath, &app.token, None).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = scim(app, Method::PATCH, &path, &app.token, Some(&deactivate())).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = call(
        app,
        Method::PUT,
        "/iams/idp/settings",
        Some(&boss_token),
        Some(&json!({"groupPermissions": {}})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    // Migration away from the admins' source ends the sign-in: refused.
    let migrate = json!({"iam": "bim", "userName": "boss@example.com"});
    let (status, body) = call(
        app,
        Method::POST,
        &format!("/users/{boss_id}/migrate"),
        Some(&boss_token),
        Some(&migrate),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    // Adding a second admin to the group frees the first.
    let second = app.create_user("second@example.com").await;
    let second_id = second["id"].as_str().unwrap();
    let add = json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": second_id}]}]});
    let (status, body) = scim(app, Method::PATCH, &gpath, &app.token, Some(&add)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = scim(app, Method::PATCH, &gpath, &app.token, Some(&remove)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = scim(app, Method::DELETE, &path, &app.token, None).await;
    assert_eq!(status, 204, "{body}");
    owned.finish().await;
}

both!(me_follows_the_admin_rules);
async fn me_follows_the_admin_rules(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let other = root.another(app, "other@example.com", &[]).await;
    let (status, me) = scim(app, Method::GET, "/Me", &other.token, None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], other.id.as_str());
    let (status, body) = root
        .post(app, &format!("/users/{}/disable", other.id), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    for (method, body) in [
        (Method::GET, None),
        (
            Method::PATCH,
            Some(
                json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "userName", "value": "root@example.com"}]}),
            ),
        ),
        (
            Method::PUT,
            Some(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "evil@example.com"}),
            ),
        ),
    ] {
        let (status, _) = scim(app, method.clone(), "/Me", &other.token, body.as_ref()).await;
        assert_eq!(status, 401, "{method}");
    }
    let (_, view) = root.get(app, &format!("/users/{}", other.id)).await;
    assert_eq!(view["userName"], "other@example.com");
    // An enabled admin's change is audited as that admin, not as an IAM.
    let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "Root"}]});
    let (status, body) = scim(app, Method::PATCH, "/Me", &root.token, Some(&patch)).await;
    assert_eq!(status, 200, "{body}");
    // Reading the audit needs AUDIT.
    let (status, body) = root
        .post(
            app,
            &format!("/users/{}/permissions", root.id),
            &json!({"permissions": ["AUDIT"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, log) = root
        .get(
            app,
            &format!("/audit?target={}&action=user.updated", root.id),
        )
        .await;
    assert_eq!(status, 200, "{log}");
    assert_eq!(
        log["hits"][0]["actor"],
        format!("user:{}", root.id),
        "{log}"
    );
}

both!(an_admins_scim_patch_is_all_or_nothing);
async fn an_admins_scim_patch_is_all_or_nothing(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let path = format!("/Users/{}", root.id);
    let before = permissions_of(app, &root.token, &root.id).await;
    assert!(before.contains(&"CREATE_PROJECT".to_owned()), "{before:?}");
    let patch = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": format!("{BRIDGE}:attributes"), "value": [{"name": "team", "value": "red"}]},
        {"op": "remove", "path": "entitlements[value eq \"CREATE_PROJECT\"]"},
        {"op": "remove", "path": "entitlements"},
    ]});
    let (status, body) = scim(app, Method::PATCH, &path, &root.token, Some(&patch)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(permissions_of(app, &root.token, &root.id).await, before);
    let (_, view) = root.get(app, &format!("/users/{}", root.id)).await;
    assert_eq!(view["attributes"]["managed"], json!({}), "{view}");
    // The same operations without the refused one all apply.
    let patch = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": format!("{BRIDGE}:attributes"), "value": [{"name": "team", "value": "red"}]},
        {"op": "remove", "path": "entitlements[value eq \"CREATE_PROJECT\"]"},
    ]});
    let (status, body) = scim(app, Method::PATCH, &path, &root.token, Some(&patch)).await;
    assert_eq!(status, 200, "{body}");
    let after = permissions_of(app, &root.token, &root.id).await;
    assert!(
        !after.contains(&"CREATE_PROJECT".to_owned()) && after.contains(&"USER_ADMIN".to_owned())
    );
    let (_, view) = root.get(app, &format!("/users/{}", root.id)).await;
    assert_eq!(
        view["attributes"]["managed"],
        json!({"team": ["red"]}),
        "{view}"
    );
}

both!(inactive_accounts_administer_nothing);
async fn inactive_accounts_administer_nothing(app: &TestApp) {
    let (owned, _jwks) = with_idp_as_admin_source(app).await;
    let app = &owned;
    let root = admin(app, "root@example.com").await;
    let boss = app.create_user("boss@example.com").await;
    let boss_id = boss["id"].as_str().unwrap();
    root.post(
        app,
        &format!("/users/{boss_id}/permissions"),
        &json!({"permissions": ["USER_ADMIN"]}),
    )
    .await;
    let token = admin_token(app, boss_id).await;
    let (status, _) = call(app, Method::GET, "/users", Some(&token), None).await;
    assert_eq!(status, 200);
    // The provider's standard deactivation (root is still a USER_ADMIN).
    let (status, body) = scim(
        app,
        Method::PATCH,
        &format!("/Users/{boss_id}"),
        &app.token,
        Some(&deactivate()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(app, Method::GET, "/users", Some(&token), None).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = scim(app, Method::GET, "/Me", &token, None).await;
    assert_eq!(status, 401);
    owned.finish().await;
}

both!(mappings_and_usage_reports_are_bounded);
async fn mappings_and_usage_reports_are_bounded(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    for path in [
        "password",
        "PASSWORD",
        "urn:ietf:params:scim:schemas:core:2.0:User:password",
        "entitlements",
        "entitlements.value",
        "Entitlements[type eq \"x\"].value",
        "urn:scim-bridge:schemas:extension:bridge:2.0:User:permissions",
    ] {
        let (status, body) = root
            .put(
                app,
                "/iams/idp/settings",
                &json!({"attributeMapping": {path: "k"}}),
            )
            .await;
        assert_eq!(status, 400, "{path}: {body}");
    }
    let (status, body) = root
        .put(
            app,
            "/iams/idp/settings",
            &json!({"attributeMapping": {"title": "job", "emails.value": "mail"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let nobody = root.another(app, "nobody@example.com", &[]).await;
    let events = json!({"events": [{"name": "project.created", "count": 1}]});
    let (status, body) = nobody.post(app, "/metrics/events", &events).await;
    assert_eq!(status, 403, "{body}");
    let platform = root
        .another(app, "platform@example.com", &["APPLICATION_ADMIN"])
        .await;
    let (status, body) = platform.post(app, "/metrics/events", &events).await;
    assert_eq!(status, 200, "{body}");
}
