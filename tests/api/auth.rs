//! Who may call: every SCIM token sees only its own IAM.

use reqwest::Method;
use serde_json::{Value, json};

use crate::app::TestApp;
use crate::both;

async fn bad_tokens_get_401_with_www_authenticate(app: &TestApp) {
    let revoked = {
        let dir = app.directory().await;
        let (info, token) = dir.create_token("idp", Some("to revoke")).await.unwrap();
        dir.revoke_token(&info.id.to_string()).await.unwrap();
        token
    };
    let forged = {
        // Right shape and a real token id, wrong secret.
        let mut t = app.token.clone();
        let last = t.pop().unwrap();
        t.push(if last == 'A' { 'B' } else { 'A' });
        t
    };
    for token in [
        None,
        Some("garbage"),
        Some("scb_x_y"),
        Some(forged.as_str()),
        Some(revoked.as_str()),
    ] {
        for path in ["/Users", "/Groups", "/ServiceProviderConfig", "/Schemas"] {
            let r = app.request(Method::GET, path, token, None).await;
            assert_eq!(r.status(), 401, "{path} with {token:?}");
            assert!(
                r.headers()["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer")
            );
            let e: Value = r.json().await.unwrap();
            assert_eq!(e["status"], "401");
        }
        let r = app
            .request(
                Method::POST,
                "/Users",
                token,
                Some(&json!({"userName": "mallory"})),
            )
            .await;
        assert_eq!(r.status(), 401);
    }
    // Basic auth is not a bearer token.
    let r = app
        .client
        .get(format!("{}/Users", app.scim()))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let l: Value = app.get("/Users").await.json().await.unwrap();
    assert_eq!(l["totalResults"], 0, "no refused request created anything");
}
both!(bad_tokens_get_401_with_www_authenticate);

async fn another_iams_resources_are_invisible(app: &TestApp) {
    let other = app.token_for_new_iam("okta").await;
    let mine = app.create_user("shared@example.com").await;
    let my_id = mine["id"].as_str().unwrap();
    let group = app.create_group("Admins", &[my_id]).await;
    let group_id = group["id"].as_str().unwrap();

    for path in [format!("/Users/{my_id}"), format!("/Groups/{group_id}")] {
        let r = app.request(Method::GET, &path, Some(&other), None).await;
        assert_eq!(r.status(), 404, "{path}");
        let r = app.request(Method::DELETE, &path, Some(&other), None).await;
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = app
        .request(
            Method::PUT,
            &format!("/Users/{my_id}"),
            Some(&other),
            Some(&json!({"userName": "stolen@example.com"})),
        )
        .await;
    assert_eq!(r.status(), 404);

    // The same userName is a different account in another IAM.
    let r = app
        .request(
            Method::POST,
            "/Users",
            Some(&other),
            Some(&json!({"userName": "SHARED@example.com"})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let theirs: Value = r.json().await.unwrap();
    assert_ne!(theirs["id"], mine["id"]);

    // Another IAM's members cannot be added to my group.
    let r = app
        .put(
            &format!("/Groups/{group_id}"),
            &json!({"displayName": "Admins", "members": [{"value": theirs["id"]}, {"value": my_id}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let g: Value = r.json().await.unwrap();
    assert_eq!(g["members"].as_array().unwrap().len(), 1);
    assert_eq!(g["members"][0]["value"], my_id);

    let l: Value = app
        .request(Method::GET, "/Users", Some(&other), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 1);
    assert_eq!(l["Resources"][0]["id"], theirs["id"]);
    let f = crate::users::urlencode(r#"userName eq "shared@example.com""#);
    let l: Value = app
        .request(
            Method::GET,
            &format!("/Users?filter={f}"),
            Some(&other),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 1);
    assert_eq!(l["Resources"][0]["id"], theirs["id"]);
    let l: Value = app
        .request(Method::GET, "/Groups", Some(&other), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 0);

    // My user is untouched.
    let now: Value = app
        .get(&format!("/Users/{my_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["meta"]["version"], mine["meta"]["version"]);
}
both!(another_iams_resources_are_invisible);

async fn admin_bootstrap_token_is_checked(app: &TestApp) {
    let dir = app.directory().await;
    let (id, token) = dir
        .bootstrap_admin("root@example.com", Some("Root"), time::Duration::hours(1))
        .await
        .unwrap();
    let me = format!("{}/api/v1/me", app.origin);
    let r = app
        .client
        .get(&me)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["id"], id.to_string());
    // The built-in IAM's default permissions, plus USER_ADMIN.
    assert_eq!(
        body["permissions"],
        json!([
            "CREATE_DATA_SOURCE_IN_PROJECT",
            "CREATE_PROJECT",
            "USER_ADMIN"
        ])
    );
    // Bootstrapping again reuses the account.
    let (again, _) = dir
        .bootstrap_admin("ROOT@example.com", None, time::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(again, id);
    // Admin tokens are not SCIM tokens, and SCIM tokens are not admin tokens.
    let r = app.request(Method::GET, "/Users", Some(&token), None).await;
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .get(&me)
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let mut tampered = token.clone();
    tampered.push('x');
    let r = app
        .client
        .get(&me)
        .bearer_auth(&tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = dir
        .bootstrap_admin("not-an-email", None, time::Duration::hours(1))
        .await;
    assert!(r.is_err());
}
both!(admin_bootstrap_token_is_checked);
