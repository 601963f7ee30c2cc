//! The event streams screens (issue 19, item 6): the list with each
//! stream's state and open deliveries, the create form (a refusal beside
//! its field, the secret shown once), a stream's delivery history by
//! status, retry, pause and enable, delete behind a dialog whose focus is
//! on Cancel; CSRF and the permission the admin API asks for.

use serde_json::Value;

use super::{Browser, csrf_in};
use crate::app::TestApp;
use crate::bridge::{Admin, admin};
use crate::events::{FAIL, Receiver, WAIT, verified};

async fn stream_list(a: &Admin, app: &TestApp) -> Vec<Value> {
    let (status, list) = a.get(app, "/event-streams").await;
    assert_eq!(status, 200, "{list}");
    list["hits"].as_array().unwrap().clone()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

async fn streams_through_the_console(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let ops = root
        .another(app, "ops@example.com", &["APPLICATION_ADMIN"])
        .await;
    let mut b = Browser::new(app);
    b.sign_in(&ops.token).await;
    let page = b.page("/admin/event-streams").await;
    assert!(
        page.contains("href=\"/admin/event-streams\""),
        "in the navigation"
    );
    assert!(page.contains("No event streams yet."));
    let csrf = csrf_in(&page);

    // Refusals beside their field, as typed; nothing created.
    for (endpoint, events, field) in [
        (
            "http://hooks.example.com/in",
            "user.created",
            "stream-endpoint-error",
        ),
        (
            "https://169.254.169.254/",
            "user.created",
            "stream-endpoint-error",
        ),
        (
            "https://hooks.example.com/in",
            "user.made",
            "stream-events-error",
        ),
    ] {
        let r = b
            .post(
                "/admin/event-streams",
                &[("_csrf", &csrf), ("endpoint", endpoint), ("events", events)],
            )
            .await;
        assert_eq!(r.status(), 400, "{endpoint} {events}");
        let page = r.text().await.unwrap();
        assert!(page.contains(&format!("id=\"{field}\"")), "{field}: {page}");
        assert!(
            page.contains(&format!("value=\"{endpoint}\"")),
            "kept as typed"
        );
    }
    let r = b
        .post(
            "/admin/event-streams",
            &[
                ("_csrf", &csrf),
                ("endpoint", "https://hooks.example.com/in"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400, "no event type ticked");
    assert!(stream_list(&ops, app).await.is_empty());

    // Created: the stream's page, with the secret this once.
    let rx = Receiver::start().await;
    let r = b
        .post(
            "/admin/event-streams",
            &[
                ("_csrf", &csrf),
                ("endpoint", &rx.url),
                ("events", "user.created"),
                ("events", "user.updated"),
                ("iam", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let streams = stream_list(&ops, app).await;
    assert_eq!(streams.len(), 1);
    let id = streams[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        streams[0]["events"],
        serde_json::json!(["user.created", "user.updated"])
    );
    let url = format!("/admin/event-streams/{id}");
    assert_eq!(r.headers()["hx-replace-url"], url.as_str());
    let page = r.text().await.unwrap();
    assert!(page.contains("shown only once"), "{page}");
    let at = page.find("value=\"whsec_").expect("the secret") + 7;
    let secret = page[at..at + page[at..].find('"').unwrap()].to_owned();
    crate::leak::note(crate::leak::Kind::Token, &secret);
    let again = b.page(&url).await;
    assert!(!again.contains("whsec_"), "shown once only");

    // The secret signs what the receiver gets.
    rx.script(&[FAIL]);
    let user = app.create_user("watched@example.com").await;
    let uid = user["id"].as_str().unwrap();
    let got = rx.until(WAIT, |g| !g.is_empty()).await;
    assert_eq!(verified(&secret, &got[0])["resource"]["id"], uid);

    // No retry window here: the failure is kept, shown, and retried.
    let failed_url = format!("{url}?status=failed");
    let deadline = std::time::Instant::now() + WAIT;
    let page = loop {
        let page = b.page(&failed_url).await;
        if page.contains("retry-delivery") {
            break page;
        }
        assert!(std::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(page.contains("HTTP 500"), "{page}");
    assert!(page.contains(&format!("User/{uid}")));
    let list = b.page("/admin/event-streams").await;
    assert!(
        list.contains(&rx.url) && list.contains(">enabled<"),
        "{list}"
    );
    assert!(
        list.contains(&format!("href=\"{failed_url}\">1</a>")),
        "{list}"
    );
    let event = got[0].id();
    let r = b
        .post(
            &format!("{url}/deliveries/{event}/retry"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), failed_url);
    let got = rx.until(WAIT, |g| g.len() >= 2).await;
    assert_eq!(got[1].id(), event);
    // A second retry has nothing failed to send: the refusal on the page.
    let r = b
        .post(
            &format!("{url}/deliveries/{event}/retry"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("no failed delivery"));
    let delivered = b.page(&format!("{url}?status=delivered")).await;
    assert!(
        delivered.contains(&event) && delivered.contains("HTTP 204"),
        "{delivered}"
    );

    // Paused, then enabled again.
    let r = b
        .post(
            &format!("{url}/status"),
            &[("_csrf", &csrf), ("status", "paused")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), url);
    let (_, s) = ops.get(app, &format!("/event-streams/{id}")).await;
    assert_eq!(s["status"], "paused");
    let page = b.page(&url).await;
    assert!(page.contains("id=\"stream-state\">paused<"));
    assert!(page.contains("value=\"enabled\"") && !page.contains("value=\"paused\""));
    let r = b
        .post(
            &format!("{url}/status"),
            &[("_csrf", &csrf), ("status", "sleeping")],
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = b
        .post(&format!("{url}/status"), &[("status", "enabled")])
        .await;
    assert_eq!(r.status(), 403, "no CSRF token");
    let (_, s) = ops.get(app, &format!("/event-streams/{id}")).await;
    assert_eq!(s["status"], "paused", "nothing changed");

    // Delete: a dialog whose focus is on Cancel.
    let page = b.page(&format!("{url}?dialog=delete")).await;
    let dialog = &page[page.find("<dialog id=\"dlg-delete\"").unwrap()..];
    assert!(dialog.starts_with(
        "<dialog id=\"dlg-delete\" class=\"modal\" aria-labelledby=\"dlg-delete-h\" open"
    ));
    let cancel = &dialog[dialog.find(">Cancel<").unwrap() - 120..];
    assert!(cancel.contains("data-close autofocus"), "{cancel}");
    let r = b.post(&format!("{url}/delete"), &[("_csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin/event-streams");
    assert!(stream_list(&ops, app).await.is_empty());
    let r = b.get(&url).await;
    assert_eq!(r.status(), 404);
}
crate::both_with!(streams_through_the_console, |c| {
    crate::events::loopback(c);
    c.event_retry_hours = 0;
});

/// Without USER_ADMIN or APPLICATION_ADMIN: no link, and every page and
/// form refused as the admin API refuses, nothing created.
async fn streams_need_their_permission(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let gov = root.another(app, "gov@example.com", &["GOVERNANCE"]).await;
    let mut b = Browser::new(app);
    b.sign_in(&gov.token).await;
    let page = b.page("/admin/tags").await;
    assert!(!page.contains("/admin/event-streams"), "no link");
    let csrf = csrf_in(&page);
    let (status, e) = gov.get(app, "/event-streams").await;
    assert_eq!(status, 403);
    let message = e["error"]["message"].as_str().unwrap();
    let r = b.get("/admin/event-streams").await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains(message));
    let r = b
        .post(
            "/admin/event-streams",
            &[
                ("_csrf", &csrf),
                ("endpoint", "https://hooks.example.com/in"),
                ("events", "*"),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert!(stream_list(&root, app).await.is_empty());
}
crate::both!(streams_need_their_permission);
