//! A cursor that is not this query's, altered, or too old is refused with
//! the RFC 9865 scimTypes.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::Value;

use super::{enc, get_ok, ids};
use crate::app::{Backend, TestApp};
use crate::both;

async fn refused(app: &TestApp, token: &str, path: &str) -> (String, String) {
    let r = app
        .request(reqwest::Method::GET, path, Some(token), None)
        .await;
    assert_eq!(r.status(), 400, "{path}");
    let e: Value = r.json().await.unwrap();
    (
        e["scimType"].as_str().unwrap_or("").to_owned(),
        e["detail"].as_str().unwrap().to_owned(),
    )
}

async fn foreign_and_altered_cursors_are_invalid(app: &TestApp) {
    for i in 0..5 {
        app.create_user(&format!("u{i}@x")).await;
        app.create_group(&format!("g{i}"), &[]).await;
    }
    let t = &app.token;
    let sorted = "/Users?sortBy=userName";
    let cursor = get_ok(app, &format!("{sorted}&cursor=&count=2")).await["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let plain = get_ok(app, "/Users?cursor=&count=2").await["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let filter = enc(r#"userName sw "u""#);
    for (path, why) in [
        (format!("/Users?cursor={cursor}"), "without the sortBy"),
        (
            format!("{sorted}&sortOrder=descending&cursor={cursor}"),
            "another sortOrder",
        ),
        (
            format!("/Users?sortBy=displayName&cursor={cursor}"),
            "another sortBy",
        ),
        (
            format!("{sorted}&filter={filter}&cursor={cursor}"),
            "another filter",
        ),
        (format!("/Groups?cursor={plain}"), "another resource type"),
        (format!("{sorted}&cursor={}", &cursor[1..]), "truncated"),
        (format!("{sorted}&cursor=x{cursor}"), "extended"),
        (format!("{sorted}&cursor=abc"), "made up"),
        (format!("{sorted}&cursor={}", enc("a b/c")), "not base64url"),
    ] {
        let (scim_type, detail) = refused(app, t, &path).await;
        assert_eq!(scim_type, "invalidCursor", "{why}: {detail}");
    }
    // Altered anywhere.
    for i in [0, cursor.len() / 2, cursor.len() - 2] {
        let mut b = cursor.clone().into_bytes();
        b[i] = if b[i] == b'a' { b'b' } else { b'a' };
        let altered = String::from_utf8(b).unwrap();
        let (scim_type, _) = refused(app, t, &format!("{sorted}&cursor={altered}")).await;
        assert_eq!(scim_type, "invalidCursor", "altered at {i}");
    }
    // A cursor of one IAM is refused to another, for the very same query.
    let other = app.token_for_new_iam("other").await;
    let (scim_type, _) = refused(app, &other, &format!("{sorted}&cursor={cursor}")).await;
    assert_eq!(scim_type, "invalidCursor");
    // startIndex and cursor together: two paging methods at once.
    let (scim_type, detail) = refused(app, t, "/Users?startIndex=1&cursor=").await;
    assert_eq!(scim_type, "invalidValue");
    assert!(
        detail.contains("startIndex") && detail.contains("cursor"),
        "{detail}"
    );
    // The valid one still works, and the page continues the first.
    let p = get_ok(app, &format!("{sorted}&cursor={cursor}&count=2")).await;
    let all = ids(&get_ok(app, sorted).await);
    assert_eq!(ids(&p), all[2..4]);
}
both!(foreign_and_altered_cursors_are_invalid);

/// A server whose clock the test moves.
async fn expired(backend: Backend) {
    let offset = Arc::new(AtomicI64::new(0));
    let shift = offset.clone();
    let clock = Arc::new(move || {
        time::OffsetDateTime::now_utc() + time::Duration::seconds(shift.load(Ordering::SeqCst))
    });
    let Some(app) = TestApp::spawn_with_clock(backend, |_| {}, Some(clock)).await else {
        return;
    };
    for i in 0..5 {
        app.create_user(&format!("u{i}@x")).await;
    }
    let first = get_ok(&app, "/Users?cursor=&count=2").await;
    let next = first["nextCursor"].as_str().unwrap().to_owned();
    offset.store(3590, Ordering::SeqCst);
    let second = get_ok(&app, &format!("/Users?cursor={next}&count=2")).await;
    assert_eq!(ids(&second).len(), 2, "still valid just before the timeout");
    offset.store(3660, Ordering::SeqCst);
    let (scim_type, detail) =
        refused(&app, &app.token, &format!("/Users?cursor={next}&count=2")).await;
    assert_eq!(scim_type, "expiredCursor");
    assert!(detail.contains("3600"), "{detail}");
    // Each page issues fresh cursors: the second page's are still good.
    let third = second["nextCursor"].as_str().unwrap();
    let p = get_ok(&app, &format!("/Users?cursor={third}&count=2")).await;
    assert_eq!(ids(&p).len(), 1);
    app.finish().await;
}

mod expired_cursors {
    use crate::app::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::expired(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::expired(Backend::Postgres).await;
    }
}
