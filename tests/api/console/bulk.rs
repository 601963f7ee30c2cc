//! The users list's filters, bulk changes and export over HTTP: a bulk
//! change needs the CSRF token, asks once, then changes exactly the ticked
//! accounts and says how many, naming any it could not change.

use super::Browser;
use crate::app::TestApp;
use crate::both;
use crate::bridge::{Admin, admin};

async fn disabled(app: &TestApp, root: &Admin, id: &str) -> bool {
    let (status, view) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(status, 200);
    view["disabled"].as_bool().unwrap()
}

both!(a_bulk_change_applies_to_exactly_the_selected_accounts);
async fn a_bulk_change_applies_to_exactly_the_selected_accounts(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let mut ids = Vec::new();
    for n in ["ann", "bob", "cy", "dee"] {
        ids.push(
            root.new_user(app, &format!("{n} Person"), &format!("{n}@example.com"))
                .await,
        );
    }
    let mut b = Browser::new(app);
    b.sign_in(&root.token).await;
    let csrf = b.csrf().await;
    let ask = [
        ("_csrf", csrf.as_str()),
        ("op", "disable"),
        ("back", "/admin/users?q=example"),
        ("id", ids[0].as_str()),
        ("id", ids[1].as_str()),
    ];
    let confirmed = [&ask[..], &[("confirmed", "yes")]].concat();

    // Without the CSRF token: refused, nothing changed.
    let r = b.post("/admin/users/bulk", &confirmed[1..]).await;
    assert_eq!(r.status(), 403);
    assert!(!disabled(app, &root, &ids[0]).await);

    // First the confirmation, naming each account; nothing changed yet.
    let r = b.post("/admin/users/bulk", &ask).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Disable 2 accounts?"), "{page}");
    assert!(page.contains("<li>ann Person</li>") && page.contains("<li>bob Person</li>"));
    assert!(!page.contains("<li>cy Person</li>"));
    assert!(
        page.contains("data-close autofocus>Cancel</a>"),
        "focus on Cancel"
    );
    assert!(!disabled(app, &root, &ids[0]).await);

    // Confirmed: exactly those two.
    let r = b.post("/admin/users/bulk", &confirmed).await;
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(to, "/admin/users?q=example&includeDisabled=on");
    let page = b.page(&to).await;
    assert!(page.contains("Disabled 2 accounts."), "the notice: {page}");
    let mut states = Vec::new();
    for id in &ids {
        states.push(disabled(app, &root, id).await);
    }
    assert_eq!(states, [true, true, false, false]);

    // A grant where one id is no account: the rest change, it is named.
    let ghost = uuid::Uuid::new_v4().to_string();
    let form = [
        ("_csrf", csrf.as_str()),
        ("op", "grant"),
        ("permission", "GOVERNANCE"),
        ("id", ids[2].as_str()),
        ("id", ghost.as_str()),
        ("confirmed", "yes"),
    ];
    let r = b.post("/admin/users/bulk", &form).await;
    assert_eq!(r.status(), 303);
    let page = b.page("/admin/users").await;
    assert!(
        page.contains("Granted GOVERNANCE to 1 of 2 accounts. Not changed: "),
        "{page}"
    );
    assert!(page.contains(&ghost), "the failure is named");
    let (_, view) = root.get(app, &format!("/users/{}", ids[2])).await;
    assert!(
        view["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "GOVERNANCE" || p["permission"] == "GOVERNANCE"),
        "{view}"
    );

    // A row that is not an account: refused whole, nothing changed.
    let r = b
        .post(
            "/admin/users/bulk",
            &[
                ("_csrf", csrf.as_str()),
                ("op", "enable"),
                ("id", ids[0].as_str()),
                ("id", "not-an-id"),
                ("confirmed", "yes"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("are not accounts"));
    assert!(disabled(app, &root, &ids[0]).await);

    // Nothing selected: said so, nothing asked.
    let r = b
        .post(
            "/admin/users/bulk",
            &[("_csrf", csrf.as_str()), ("op", "enable")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("Select at least one user"));

    // The permission filter, and the list's export with it.
    let page = b.page("/admin/users?permission=GOVERNANCE").await;
    assert!(page.contains("cy@example.com") && !page.contains("dee@example.com"));
    let r = b.get("/admin/users/export?permission=GOVERNANCE").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with("id,userName,name,iam,identityProvider,bridge,"));
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains(&format!(
        "{},cy@example.com,cy Person,bim,active,enabled,",
        ids[2]
    )));
    let csv = b
        .get("/admin/users/export?includeDisabled=on&q=example")
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains(&format!(
        "{},ann@example.com,ann Person,bim,active,disabled,",
        ids[0]
    )));
}
