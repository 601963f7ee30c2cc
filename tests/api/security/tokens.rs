//! Finding 7 (disabling is not revocation): an admin token or console
//! session outlives a disable → enable (as `admin bootstrap` does), cannot
//! be revoked alone, and may be minted for a century. Finding 13, in part
//! (the admin-token key lives in the database, so a backup can mint
//! USER_ADMIN tokens): in `tokens/key.rs`.

use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};

use crate::app::TestApp;
use crate::both;
use crate::bridge::{Admin, admin, call};
use crate::console::Browser;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BRIDGE: &str = scim_bridge::scim::schema::BRIDGE_USER_SCHEMA;

/// What a token holder reaches: the admin API, `/Me` and SCIM-for-admins.
async fn reaches(app: &TestApp, token: &str, user: &str) -> [u16; 3] {
    let me = call(app, Method::GET, "/me", Some(token), None).await.0;
    let scim_me = app
        .client
        .get(format!("{}/Me", app.scim()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    let patch = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": format!("{BRIDGE}:disabled"), "value": false}
    ]});
    let scim_admin = app
        .client
        .patch(format!("{}/Users/{user}", app.scim()))
        .bearer_auth(token)
        .header("content-type", "application/scim+json")
        .body(patch.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    [me, scim_me, scim_admin]
}

/// Whether the browser's console session still opens a page.
async fn signed_in(b: &mut Browser) -> bool {
    let r = b.get("/admin/users").await;
    match r.status().as_u16() {
        200 => true,
        303 => {
            assert_eq!(r.headers()["location"], "/admin/signin");
            false
        }
        other => panic!("console answered {other}"),
    }
}

both!(disable_then_enable_does_not_revive_tokens_or_sessions);
async fn disable_then_enable_does_not_revive_tokens_or_sessions(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let ops = admin(app, "ops@example.com").await;
    let mut browser = Browser::new(app);
    browser.sign_in(&ops.token).await;
    let target = root.new_user(app, "Target", "target@example.com").await;
    assert_eq!(reaches(app, &ops.token, &target).await, [200, 200, 200]);
    assert!(signed_in(&mut browser).await);

    let (status, body) = root
        .post(app, &format!("/users/{}/disable", ops.id), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = root
        .post(app, &format!("/users/{}/enable", ops.id), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reaches(app, &ops.token, &target).await, [401, 401, 401]);
    assert!(!signed_in(&mut browser).await, "the session ended");

    // `admin bootstrap` disables nothing but enables: its new token works,
    // the one from before the disable stays dead.
    let (status, _) = root
        .post(app, &format!("/users/{}/disable", ops.id), &json!({}))
        .await;
    assert_eq!(status, 200);
    let again = admin(app, "ops@example.com").await;
    assert_eq!(again.id, ops.id);
    assert_eq!(reaches(app, &again.token, &target).await, [200, 200, 200]);
    assert_eq!(reaches(app, &ops.token, &target).await, [401, 401, 401]);
    // Enabling an enabled account (a routine SCIM sync) revokes nothing.
    let (status, _) = root
        .post(app, &format!("/users/{}/enable", ops.id), &json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(reaches(app, &again.token, &target).await, [200, 200, 200]);
}

both!(revoke_sessions_ends_one_accounts_tokens_and_sessions);
async fn revoke_sessions_ends_one_accounts_tokens_and_sessions(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let ops = admin(app, "ops@example.com").await;
    let mut browser = Browser::new(app);
    browser.sign_in(&ops.token).await;
    let mut root_browser = Browser::new(app);
    root_browser.sign_in(&root.token).await;
    let target = root.new_user(app, "Target", "target@example.com").await;

    let (status, body) = root
        .post(
            app,
            &format!("/users/{}/revoke-sessions", ops.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(reaches(app, &ops.token, &target).await, [401, 401, 401]);
    assert!(!signed_in(&mut browser).await);
    // The sign-in page takes the revoked token no more.
    let r = browser
        .post("/admin/signin", &[("token", &ops.token)])
        .await;
    assert_eq!(r.status(), 401);
    // Only that account's: root's token and session go on.
    assert_eq!(reaches(app, &root.token, &target).await, [200, 200, 200]);
    assert!(signed_in(&mut root_browser).await);
    // A token issued afterwards works.
    let fresh = admin(app, "ops@example.com").await;
    assert_eq!(reaches(app, &fresh.token, &target).await, [200, 200, 200]);

    // Audited, naming who revoked whose.
    let auditor = root.another(app, "auditor@example.com", &["AUDIT"]).await;
    let (status, log) = auditor
        .get(app, "/audit?action=user.sessions_revoked")
        .await;
    assert_eq!(status, 200, "{log}");
    let hits = log["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{log}");
    assert_eq!(hits[0]["actor"], format!("user:{}", root.id));
    assert_eq!(hits[0]["target"], ops.id);

    let (status, _) = root
        .post(
            app,
            &format!("/users/{}/revoke-sessions", uuid::Uuid::new_v4()),
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
}

both!(the_console_revokes_an_accounts_sessions);
async fn the_console_revokes_an_accounts_sessions(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let ops = admin(app, "ops@example.com").await;
    let mut theirs = Browser::new(app);
    theirs.sign_in(&ops.token).await;
    let mut ours = Browser::new(app);
    ours.sign_in(&root.token).await;
    let at = format!("/admin/users/{}", ops.id);
    let page = ours.page(&format!("{at}?dialog=revoke")).await;
    assert!(
        page.contains(&format!("action=\"{at}/revoke-sessions\"")),
        "{page}"
    );
    let r = ours
        .post(
            &format!("{at}/revoke-sessions"),
            &[("_csrf", &crate::console::csrf_in(&page))],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(!signed_in(&mut theirs).await);
    assert_eq!(ops.get(app, "/me").await.0, 401);
    assert!(signed_in(&mut ours).await);
}

both!(only_a_user_admin_revokes_anothers_sessions_anyone_their_own);
async fn only_a_user_admin_revokes_anothers_sessions_anyone_their_own(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let governor: Admin = root.another(app, "gov@example.com", &["GOVERNANCE"]).await;
    let (status, body) = governor
        .post(
            app,
            &format!("/users/{}/revoke-sessions", root.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(root.get(app, "/me").await.0, 200, "nothing was revoked");

    let (status, body) = governor
        .post(
            app,
            &format!("/users/{}/revoke-sessions", governor.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(governor.get(app, "/me").await.0, 401);
    assert_eq!(root.get(app, "/me").await.0, 200);
}

/// An HS256 admin token with these claims, signed with `key`.
fn forge(key: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .unwrap()
}

both!(admin_tokens_live_thirty_days_at_most);
async fn admin_tokens_live_thirty_days_at_most(app: &TestApp) {
    let dir = app.directory().await;
    let hours = |h: i64| time::Duration::hours(h);
    let err = dir
        .bootstrap_admin("long@example.com", None, hours(876_000))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at most 720 hours"), "{err}");
    let none = dir
        .account_by_user_name(
            "bim",
            &scim_bridge::scim::user_name::UserName::parse("long@example.com").unwrap(),
        )
        .await
        .unwrap();
    assert!(none.is_none(), "a refused bootstrap creates no account");
    let (id, token) = dir
        .bootstrap_admin("long@example.com", None, hours(720))
        .await
        .unwrap();
    assert_eq!(
        call(app, Method::GET, "/me", Some(&token), None).await.0,
        200
    );

    // Signed with the key, but for longer than the cap (as before it):
    // refused. A token from before generations (no `gen`) is generation
    // 0, the first, and works until the account's first bump.
    let key = dir.signing_key().await.unwrap().to_vec();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |exp: i64| {
        json!({"sub": id, "iss": "scim-bridge", "aud": "scim-bridge-admin",
               "iat": now, "nbf": now, "exp": exp, "jti": uuid::Uuid::new_v4()})
    };
    let century = forge(&key, &claims(now + 100 * 365 * 86_400));
    let old_style = forge(&key, &claims(now + 3_600));
    assert_eq!(
        call(app, Method::GET, "/me", Some(&century), None).await.0,
        401
    );
    assert_eq!(
        call(app, Method::GET, "/me", Some(&old_style), None)
            .await
            .0,
        200
    );
}

/// `scim-bridge` on this database with these extra variables.
pub(super) fn cli(app: &TestApp, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scim-bridge"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SCIM_BRIDGE_") {
            cmd.env_remove(name);
        }
    }
    let out = cmd
        .args(args)
        .env("SCIM_BRIDGE_DATABASE_URL", &app.database_url)
        .envs(env.iter().copied())
        .output()
        .expect("run scim-bridge");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

both!(the_cli_refuses_a_token_longer_than_thirty_days);
async fn the_cli_refuses_a_token_longer_than_thirty_days(app: &TestApp) {
    let args = |h: &'static str| {
        [
            "admin",
            "bootstrap",
            "--email",
            "ops@example.com",
            "--valid-hours",
            h,
        ]
    };
    let (ok, out, err) = cli(app, &[], &args("876000"));
    assert!(!ok && out.is_empty(), "{out}");
    assert!(err.contains("at most 720 hours (30 days)"), "{err}");
    let (ok, out, err) = cli(app, &[], &args("720"));
    assert!(ok, "{err}");
    assert_eq!(
        call(app, Method::GET, "/me", Some(out.trim()), None)
            .await
            .0,
        200
    );
}

mod key;
