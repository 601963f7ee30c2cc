//! One rule per operation, whichever surface asks (issue 16): the
//! directory decides what a caller may do, so the admin API, SCIM and the
//! console refuse the same caller in the same words and allow the same.

use reqwest::Method;
use serde_json::{Value, json};

use super::Browser;
use crate::app::TestApp;
use crate::both;
use crate::bridge::{admin, call};

both!(every_surface_refuses_alike);
async fn every_surface_refuses_alike(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let target = root.new_user(app, "T", "t@example.com").await;
    let governor = root.another(app, "gov@example.com", &["GOVERNANCE"]).await;
    let mut b = Browser::new(app);
    b.sign_in(&governor.token).await;
    let csrf = b.csrf().await;
    // (the admin API's call, the console's form for the same operation)
    let writes = [
        (
            format!("/users/{target}/disable"),
            format!("/admin/users/{target}/disable"),
        ),
        (
            "/iams/idp/tokens".to_owned(),
            "/admin/iams/idp/tokens".to_owned(),
        ),
    ];
    for (api, console) in writes {
        let (status, e) = call(
            app,
            Method::POST,
            &api,
            Some(&governor.token),
            Some(&json!({})),
        )
        .await;
        assert_eq!(status, 403, "{api}: {e}");
        let message = e["error"]["message"].as_str().unwrap();
        let r = b.post(&console, &[("_csrf", &csrf)]).await;
        assert_eq!(r.status(), 403, "{console}");
        let page = r.text().await.unwrap();
        assert!(page.contains(message), "{console} says {message}: {page}");
    }
    let (status, e) = governor.get(app, "/metrics?days=7").await;
    assert_eq!(status, 403, "{e}");
    let r = b.get("/admin/metrics/download?days=7").await;
    assert_eq!(r.status(), 403);
    let message = e["error"]["message"].as_str().unwrap();
    assert!(r.text().await.unwrap().contains(message));

    // SCIM for administrators: the admin API's rule, in SCIM's form.
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "entitlements", "value": ["AUDIT"]}],
    });
    let r = app
        .request(
            Method::PATCH,
            &format!("/Users/{target}"),
            Some(&governor.token),
            Some(&patch),
        )
        .await;
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    let (_, api) = call(
        app,
        Method::POST,
        &format!("/users/{target}/permissions"),
        Some(&governor.token),
        Some(&json!({"permissions": ["AUDIT"]})),
    )
    .await;
    assert_eq!(e["detail"], api["error"]["message"], "{e} {api}");
    let (_, view) = root.get(app, &format!("/users/{target}")).await;
    assert_eq!(view["disabled"], false);
    assert!(
        !view["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("AUDIT"))
    );
}

both!(anyone_ends_their_own_sessions_on_the_console_as_on_the_api);
async fn anyone_ends_their_own_sessions_on_the_console_as_on_the_api(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let governor = root.another(app, "gov@example.com", &["GOVERNANCE"]).await;
    let mut b = Browser::new(app);
    b.sign_in(&governor.token).await;
    let csrf = b.csrf().await;
    let theirs = format!("/admin/users/{}/revoke-sessions", root.id);
    assert_eq!(b.post(&theirs, &[("_csrf", &csrf)]).await.status(), 403);
    assert_eq!(root.get(app, "/me").await.0, 200, "nothing was revoked");
    let own = format!("/admin/users/{}/revoke-sessions", governor.id);
    assert_eq!(b.post(&own, &[("_csrf", &csrf)]).await.status(), 303);
    assert_eq!(governor.get(app, "/me").await.0, 401);
    let r = b.get("/admin/users").await;
    assert_eq!(r.status(), 303, "signed out");
    assert_eq!(root.get(app, "/me").await.0, 200);
}
