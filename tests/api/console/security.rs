//! Security headers on every /admin response, assets cached by content
//! hash, no inline script, and CSRF: every state-changing request without
//! its session's token (or from another origin) is refused and changes
//! nothing.

use super::{Browser, csrf_in};
use crate::app::TestApp;
use crate::both;
use crate::bridge::admin;

fn assert_headers(r: &reqwest::Response, what: &str) {
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["referrer-policy"], "same-origin", "{what}");
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
}

/// No inline script and no inline event handler in a page.
fn assert_no_inline_script(page: &str, what: &str) {
    let lower = page.to_ascii_lowercase();
    for (i, _) in lower.match_indices("<script") {
        let tag = &lower[i..i + lower[i..].find('>').unwrap()];
        assert!(tag.contains(" src="), "{what}: inline script {tag}");
        assert!(
            lower[i..].starts_with(&format!("{tag}></script>")),
            "{what}: script with a body"
        );
    }
    for attr in [
        " onclick=",
        " onload=",
        " onerror=",
        " onsubmit=",
        " oninput=",
        "hx-on",
        "javascript:",
    ] {
        assert!(!lower.contains(attr), "{what}: {attr}");
    }
}

both!(every_admin_response_carries_the_security_headers);
async fn every_admin_response_carries_the_security_headers(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let mut b = Browser::new(app);
    // Signed out: the redirect, the sign-in page, a 404.
    for path in ["/admin/users", "/admin/signin", "/admin/nowhere"] {
        let r = b.get(path).await;
        assert_headers(&r, path);
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
    }
    b.sign_in(&root.token).await;
    let user = root.new_user(app, "Pat Doe", "pat@example.com").await;
    for path in [
        "/admin/users".to_owned(),
        format!("/admin/users/{user}"),
        format!("/admin/users/{user}?dialog=delete"),
        "/admin/groups".to_owned(),
        "/admin/iams".to_owned(),
        "/admin/iams/idp".to_owned(),
    ] {
        let r = b.get(&path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_headers(&r, &path);
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
        let page = r.text().await.unwrap();
        assert_no_inline_script(&page, &path);
    }
}

both!(assets_are_embedded_and_cached_by_content_hash);
async fn assets_are_embedded_and_cached_by_content_hash(app: &TestApp) {
    let mut b = Browser::new(app);
    let page = b.page("/admin/signin").await;
    let css = page
        .split('"')
        .find(|s| s.starts_with("/admin/assets/") && s.ends_with("console.css"))
        .expect("the stylesheet's URL")
        .to_owned();
    let r = b.get(&css).await;
    assert_eq!(r.status(), 200);
    assert_headers(&r, &css);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .client
        .get(format!("{}{css}", app.origin))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    // Another hash is not this file.
    let stale = css.replacen("/admin/assets/", "/admin/assets/0000", 1);
    assert_eq!(b.get(&stale).await.status(), 404);
    // htmx comes from the binary: the vendored file, byte for byte.
    let root = admin(app, "root@example.com").await;
    b.sign_in(&root.token).await;
    let page = b.page("/admin/users").await;
    let htmx = page
        .split('"')
        .find(|s| s.starts_with("/admin/assets/") && s.ends_with("htmx.min.js"))
        .expect("htmx's URL")
        .to_owned();
    let r = b.get(&htmx).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let body = r.bytes().await.unwrap();
    assert_eq!(
        &body[..],
        include_bytes!("../../../assets/vendor/htmx-2.0.11.min.js")
    );
}

both!(state_changes_without_the_sessions_csrf_token_are_refused);
async fn state_changes_without_the_sessions_csrf_token_are_refused(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let mut b = Browser::new(app);
    b.sign_in(&root.token).await;
    let csrf = b.csrf().await;
    let form = |t: &'static str| {
        [
            ("_csrf", t),
            ("fullName", "Eve"),
            ("email", "eve@example.com"),
        ]
    };
    // No token, a wrong token, another session's token.
    let mut other = Browser::new(app);
    other.sign_in(&root.token).await;
    let other_csrf = other.csrf().await;
    assert_ne!(csrf, other_csrf);
    for (what, token) in [
        ("none", ""),
        ("wrong", "x"),
        ("another session's", other_csrf.as_str()),
    ] {
        let token: &'static str = Box::leak(token.to_owned().into_boxed_str());
        let r = b.post("/admin/users", &form(token)).await;
        assert_eq!(r.status(), 403, "{what}");
        assert_headers(&r, what);
    }
    // The right token, but from another site.
    let r = b
        .client
        .post(format!("{}/admin/users", app.origin))
        .header(
            "cookie",
            format!("scim_bridge_session={}", b.cookie.as_ref().unwrap()),
        )
        .header("origin", "https://evil.example")
        .form(&[
            ("_csrf", csrf.as_str()),
            ("fullName", "Eve"),
            ("email", "eve@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "foreign origin");
    let (_, list) = root.get(app, "/users?search=eve").await;
    assert_eq!(list["count"], 0, "nothing was created: {list}");

    // The header htmx sends works as the form field does; so does the field.
    let r = b
        .client
        .post(format!("{}/admin/users", app.origin))
        .header(
            "cookie",
            format!("scim_bridge_session={}", b.cookie.as_ref().unwrap()),
        )
        .header("x-csrf-token", &csrf)
        .header("origin", &app.origin)
        .form(&[("fullName", "Eve"), ("email", "eve@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = b
        .post(
            "/admin/users",
            &[
                ("_csrf", csrf.as_str()),
                ("fullName", "Sam"),
                ("email", "sam@example.com"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, list) = root.get(app, "/users?search=example.com").await;
    assert_eq!(list["count"], 3, "{list}");

    // Sign-out is a state change too.
    let r = b.post("/admin/signout", &[]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(b.get("/admin/users").await.status(), 200, "still signed in");
    let page = b.page("/admin/users").await;
    assert_eq!(csrf_in(&page), csrf, "one token per session");
}
