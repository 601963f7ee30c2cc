//! The screens' flows as the server sees them, and what each admin sees
//! and may do by permission: the page hides what the server refuses.

use serde_json::json;

use super::Browser;
use crate::app::TestApp;
use crate::both;
use crate::bridge::admin;

both!(a_user_is_created_granted_disabled_migrated_and_deleted);
async fn a_user_is_created_granted_disabled_migrated_and_deleted(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let mut b = Browser::new(app);
    b.sign_in(&root.token).await;
    let csrf = b.csrf().await;

    // New User: a bad email comes back in the dialog, nothing created.
    let r = b
        .post(
            "/admin/users",
            &[
                ("_csrf", &csrf),
                ("fullName", "Compliance One"),
                ("email", "not-an-email"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("id=\"new-user-dialog\" open"),
        "the dialog stays open"
    );
    assert!(page.contains("role=\"alert\""), "with the error");
    assert!(
        page.contains("value=\"Compliance One\""),
        "keeping what was typed"
    );
    let (_, list) = root.get(app, "/users?search=compliance").await;
    assert_eq!(list["count"], 0);

    let r = b
        .post(
            "/admin/users",
            &[
                ("_csrf", &csrf),
                ("fullName", "Compliance One"),
                ("email", "c1@example.com"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let at = r.headers()["location"].to_str().unwrap().to_owned();
    let id = at.rsplit('/').next().unwrap().to_owned();
    let page = b.page(&at).await;
    assert!(
        page.contains("c1@example.com") && page.contains("CREATE_PROJECT"),
        "defaults shown"
    );

    // Add GOVERNANCE from the catalogue, then remove it with its icon.
    let r = b
        .post(
            &format!("{at}/permissions"),
            &[("_csrf", &csrf), ("permission", "GOVERNANCE")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = b.page(&at).await;
    assert!(page.contains(&format!("{at}/permissions/GOVERNANCE/remove")));
    assert!(
        page.contains(&format!("{at}/permissions/CREATE_PROJECT/remove")),
        "an IAM default is removed here too, as the API removes it"
    );
    assert!(
        page.contains(r#"<option value="" selected disabled>Choose a permission</option>"#),
        "no permission picked for the admin"
    );
    assert!(
        page.contains("GOVERNANCE — "),
        "each permission says what it allows"
    );
    let r = b
        .post(
            &format!("{at}/permissions/GOVERNANCE/remove"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, view) = root.get(app, &format!("/users/{id}")).await;
    assert!(
        !view["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("GOVERNANCE"))
    );

    // Managed attributes: add, then remove a value.
    let r = b
        .post(
            &format!("{at}/attributes"),
            &[
                ("_csrf", &csrf),
                ("op", "add"),
                ("key", "team"),
                ("value", "compliance"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(b.page(&at).await.contains("compliance"));
    b.post(
        &format!("{at}/attributes"),
        &[
            ("_csrf", &csrf),
            ("op", "remove"),
            ("key", "team"),
            ("value", "compliance"),
        ],
    )
    .await;
    let (_, view) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(view["attributes"]["managed"], json!({}));

    // Disable: gone from the list unless disabled accounts are included.
    assert!(
        b.page(&format!("{at}?dialog=disable"))
            .await
            .contains("id=\"dlg-disable\" class=\"modal\" aria-labelledby=\"dlg-disable-h\" open")
    );
    let r = b.post(&format!("{at}/disable"), &[("_csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert!(!b.page("/admin/users?q=c1").await.contains("c1@example.com"));
    assert!(
        b.page("/admin/users?q=c1&includeDisabled=on")
            .await
            .contains("c1@example.com")
    );
    b.post(&format!("{at}/enable"), &[("_csrf", &csrf)]).await;
    assert!(b.page("/admin/users?q=c1").await.contains("c1@example.com"));

    // Migrate: to an unknown IAM refused in the dialog; to idp done.
    let r = b
        .post(
            &format!("{at}/migrate"),
            &[("_csrf", &csrf), ("iam", "nope"), ("userName", "c1")],
        )
        .await;
    assert_eq!(r.status(), 404);
    let page = r.text().await.unwrap();
    assert!(page.contains("aria-labelledby=\"dlg-migrate-h\" open"));
    assert!(
        page.contains("role=\"alert\" data-server-error"),
        "the reason, in the dialog"
    );
    let r = b
        .post(
            &format!("{at}/migrate"),
            &[
                ("_csrf", &csrf),
                ("iam", "idp"),
                ("userName", "c1@idp.example"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, view) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(view["iam"], "idp");
    assert_eq!(view["userName"], "c1@idp.example");

    // Permanent delete: the button starts disabled; only the word deletes.
    let page = b.page(&format!("{at}?dialog=delete")).await;
    assert!(page.contains("id=\"confirm-delete\" disabled"));
    assert!(page.contains("cannot be undone"));
    for word in ["", "delete", "DELETE", "Delete "] {
        let r = b
            .post(
                &format!("{at}/delete"),
                &[("_csrf", &csrf), ("confirm", word)],
            )
            .await;
        assert_eq!(r.status(), 400, "{word:?}");
        assert_eq!(
            root.get(app, &format!("/users/{id}")).await.0,
            200,
            "still there after {word:?}"
        );
    }
    let r = b.post(&format!("{at}/delete"), &[("_csrf", &csrf)]).await;
    assert_eq!(r.status(), 400, "no confirmation field at all");
    let page = r.text().await.unwrap();
    assert!(
        page.contains("aria-labelledby=\"dlg-delete-h\" open")
            && page.contains("id=\"confirm-delete\" disabled"),
        "the dialog again, its button disabled"
    );
    let r = b
        .post(
            &format!("{at}/delete"),
            &[("_csrf", &csrf), ("confirm", "Delete")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(root.get(app, &format!("/users/{id}")).await.0, 404);
}

both!(what_an_admin_sees_and_may_do_follows_their_permissions);
async fn what_an_admin_sees_and_may_do_follows_their_permissions(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let target = root.new_user(app, "Target", "target@example.com").await;
    let governor = root.another(app, "gov@example.com", &["GOVERNANCE"]).await;
    let plain = root.another(app, "plain@example.com", &[]).await;

    let mut b = Browser::new(app);
    b.sign_in(&root.token).await;
    let page = b.page(&format!("/admin/users/{target}")).await;
    assert!(page.contains("Permanently Delete") && page.contains("Add Permissions"));
    assert!(b.page("/admin/users").await.contains("New User"));

    let mut g = Browser::new(app);
    g.sign_in(&governor.token).await;
    let list = g.page("/admin/users").await;
    assert!(
        list.contains("target@example.com"),
        "GOVERNANCE reads users"
    );
    assert!(!list.contains("New User"));
    assert!(
        !list.contains("href=\"/admin/iams\""),
        "no IAMs without USER_ADMIN or APPLICATION_ADMIN"
    );
    let page = g.page(&format!("/admin/users/{target}")).await;
    assert!(
        !page.contains("Permanently Delete")
            && !page.contains("Add Permissions")
            && !page.contains("Actions")
    );
    assert!(
        page.contains("Governance report"),
        "GOVERNANCE reads reports"
    );
    // Asking for the dialog does not show it either.
    assert!(
        !g.page(&format!("/admin/users/{target}?dialog=delete"))
            .await
            .contains("<dialog")
    );
    // And the server refuses what the page does not offer.
    let csrf = g.csrf().await;
    for (path, form) in [
        (
            format!("/admin/users/{target}/delete"),
            vec![("confirm", "Delete")],
        ),
        (format!("/admin/users/{target}/disable"), vec![]),
        (
            format!("/admin/users/{target}/permissions"),
            vec![("permission", "USER_ADMIN")],
        ),
        (
            "/admin/users".to_owned(),
            vec![("fullName", "X"), ("email", "x@example.com")],
        ),
        (
            "/admin/iams/idp/tokens".to_owned(),
            vec![("label", "stolen")],
        ),
    ] {
        let mut form = form;
        form.push(("_csrf", &csrf));
        let r = g.post(&path, &form).await;
        assert_eq!(r.status(), 403, "{path}");
    }
    assert_eq!(g.get("/admin/iams").await.status(), 403);
    assert_eq!(g.get("/admin/audit").await.status(), 403);
    let (_, view) = root.get(app, &format!("/users/{target}")).await;
    assert_eq!(view["disabled"], false);
    assert!(
        !view["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("USER_ADMIN"))
    );

    // Without any admin permission: signed in, but every screen refuses.
    let mut p = Browser::new(app);
    p.sign_in(&plain.token).await;
    assert_eq!(p.get("/admin/users").await.status(), 403);
    assert_eq!(p.get(&format!("/admin/users/{target}")).await.status(), 403);

    // AUDIT reads the audit log, filtered.
    let auditor = root.another(app, "audit@example.com", &["AUDIT"]).await;
    let mut a = Browser::new(app);
    a.sign_in(&auditor.token).await;
    let page = a
        .page(&format!("/admin/audit?person={target}&action=user.created"))
        .await;
    assert!(page.contains("Records 1–1 of 1,"), "{page}");
    assert_eq!(a.get("/admin/audit?from=yesterday").await.status(), 400);
}

both!(a_scim_token_is_shown_once_and_can_be_revoked);
async fn a_scim_token_is_shown_once_and_can_be_revoked(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let mut b = Browser::new(app);
    b.sign_in(&root.token).await;
    let csrf = b.csrf().await;
    let r = b
        .post(
            "/admin/iams",
            &[("_csrf", &csrf), ("name", "okta"), ("displayName", "Okta")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin/iams/okta");
    let r = b
        .post("/admin/iams", &[("_csrf", &csrf), ("name", "okta")])
        .await;
    assert_eq!(r.status(), 422, "taken");

    let r = b
        .post(
            "/admin/iams/okta/tokens",
            &[("_csrf", &csrf), ("label", "provisioning")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let page = r.text().await.unwrap();
    let at = page
        .find("id=\"new-token\" readonly value=\"")
        .expect("the token field")
        + 31;
    let token = page[at..at + page[at..].find('"').unwrap()].to_owned();
    assert!(
        page.contains(&format!("{}/scim/v2", app.origin)),
        "the SCIM base URL"
    );
    assert!(page.contains("data-copy=\"new-token\""), "a copy button");
    // It works (and its last use shows), and it is never shown again.
    assert!(b.page("/admin/iams/okta").await.contains("<td>never</td>"));
    let r = app
        .request(reqwest::Method::GET, "/Users", Some(&token), None)
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        !b.page("/admin/iams/okta").await.contains("<td>never</td>"),
        "last used"
    );
    for path in ["/admin/iams/okta", "/admin/iams", "/admin/users"] {
        assert!(!b.page(path).await.contains(&token), "{path}");
    }
    assert!(!b.page("/admin/iams/okta").await.contains(&token[..16]));

    // Revoke.
    let page = b.page("/admin/iams/okta").await;
    let at = page.find("/admin/tokens/").unwrap();
    let revoke = page[at..at + page[at..].find('"').unwrap()].to_owned();
    let r = b.post(&revoke, &[("_csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert!(b.page("/admin/iams/okta").await.contains("revoked"));
    let tokens = app
        .directory()
        .await
        .list_tokens(&scim_bridge::directory::accounts::Ctx::cli())
        .await
        .unwrap();
    let okta: Vec<_> = tokens.iter().filter(|t| t.iam_name == "okta").collect();
    assert_eq!(okta.len(), 1);
    assert!(okta[0].revoked.is_some());
    assert!(
        !b.page("/admin/iams/okta").await.contains("/admin/tokens/"),
        "nothing left to revoke"
    );
}

both!(the_metrics_screen_charts_downloads_and_counts_interface_touches);
async fn the_metrics_screen_charts_downloads_and_counts_interface_touches(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    root.new_user(app, "Counted", "counted@example.com").await;
    let mut b = Browser::new(app);
    b.sign_in(&root.token).await;
    let csrf = b.csrf().await;

    // Touches: only ui.click.* here, CSRF-checked like every POST.
    let post = |token: &str, body: serde_json::Value| {
        let req = b
            .client
            .post(format!("{}/admin/ui-events", app.origin))
            .header(
                "cookie",
                format!("scim_bridge_session={}", b.cookie.as_ref().unwrap()),
            )
            .header("x-csrf-token", token.to_owned())
            .json(&body);
        async move { req.send().await.unwrap().status() }
    };
    let touch = json!({"events": [{"name": "ui.click.new-user", "count": 2}]});
    assert_eq!(post("wrong", touch.clone()).await, 403);
    assert_eq!(
        post(&csrf, json!({"events": [{"name": "project.created"}]})).await,
        400
    );
    assert_eq!(post(&csrf, touch).await, 204);

    let page = b.page("/admin/metrics").await;
    assert_eq!(
        page.matches("<rect class=\"bar\"").count(),
        30,
        "30 days by default"
    );
    assert!(
        page.contains("user.created") && page.contains("new-user"),
        "{page}"
    );
    // Values and axes written out: today's bar says its count.
    assert!(
        page.contains("text-anchor=\"end\">0</text>"),
        "the y axis starts at 0"
    );
    assert!(
        page.contains("<text class=\"value\""),
        "a bar's value: {page}"
    );
    assert!(page.contains("Day (UTC, month-day)"));
    assert_eq!(
        b.page("/admin/metrics?days=7")
            .await
            .matches("<rect class=\"bar\"")
            .count(),
        7
    );
    assert_eq!(b.get("/admin/metrics?days=0").await.status(), 400);
    assert!(
        b.page("/admin/metrics?dialog=download")
            .await
            .contains("Number of Days")
    );

    let r = b.get("/admin/metrics/download?days=7").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=")
    );
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["schemaVersion"], 1);
    let days = doc["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    let today = days.last().unwrap();
    assert!(
        today["workflows"]["user.created"].as_i64().unwrap() >= 1,
        "{doc}"
    );
    assert_eq!(today["ui"]["new-user"], 2);
    let text = doc.to_string();
    assert!(
        !text.contains("counted@example.com") && !text.contains(&root.id),
        "anonymous"
    );

    // Not for an admin without USER_ADMIN or APPLICATION_ADMIN.
    let governor = root.another(app, "gov@example.com", &["GOVERNANCE"]).await;
    let mut g = Browser::new(app);
    g.sign_in(&governor.token).await;
    assert!(!g.page("/admin/users").await.contains("/admin/metrics"));
    assert_eq!(g.get("/admin/metrics").await.status(), 403);
    assert_eq!(g.get("/admin/metrics/download?days=7").await.status(), 403);
}

both!(states_and_safe_defaults_are_shown_as_they_are);
async fn states_and_safe_defaults_are_shown_as_they_are(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let user = app.create_user("ann@example.com").await;
    let id = user["id"].as_str().unwrap();
    app.create_group("Finance", &[id]).await;
    // The identity provider deactivates Ann; the bridge has not disabled her.
    let r = app
        .patch(
            &format!("/Users/{id}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "active", "value": false}]}),
        )
        .await;
    assert_eq!(r.status(), 200);

    let mut b = Browser::new(app);
    b.sign_in(&root.token).await;
    let list = b.page("/admin/users?q=ann").await;
    let row = &list[list.find("ann@example.com").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains(r#"<td data-ui="idp-state"><span class="badge warn">Deactivated</span></td>"#),
        "{row}"
    );
    assert!(
        row.contains(r#"<td data-ui="bridge-state"><span class="badge on">Enabled</span></td>"#),
        "{row}"
    );
    let page = b.page(&format!("/admin/users/{id}")).await;
    assert!(page.contains("Deactivated by its identity provider"));

    // Destructive confirmations start on Cancel: one Enter does nothing.
    let page = b.page(&format!("/admin/users/{id}?dialog=disable")).await;
    let dialog = &page[page.find("id=\"dlg-disable\"").unwrap()..];
    let dialog = &dialog[..dialog.find("</dialog>").unwrap()];
    assert!(
        dialog.contains("data-close autofocus>Cancel</a>"),
        "{dialog}"
    );
    assert!(!dialog.contains("autofocus data-ui=\"confirm-disable\""));
    let revoke = &page[page.find("id=\"dlg-revoke\"").unwrap()..];
    assert!(
        revoke[..revoke.find("</dialog>").unwrap()].contains("data-close autofocus>Cancel</a>")
    );

    // The migration dialog says what ends: the provider's groups.
    let migrate = &page[page.find("id=\"dlg-migrate\"").unwrap()..];
    let migrate = &migrate[..migrate.find("</dialog>").unwrap()];
    assert!(
        migrate.contains("Its memberships in 1 group of idp end: Finance."),
        "{migrate}"
    );
    assert!(migrate.contains("email addresses stay"));

    // A permission's source is named: the IAM's default, a group by name.
    let page = b.page(&format!("/admin/users/{id}")).await;
    assert!(page.contains("default of idp"), "{page}");
    assert!(!page.contains(">iam-default<"));

    // The last USER_ADMIN is not offered its own removal; with a second
    // one, it is.
    let me = format!("/admin/users/{}", root.id);
    let remove = format!("{me}/permissions/USER_ADMIN/remove");
    assert!(!b.page(&me).await.contains(&remove));
    root.another(app, "second@example.com", &["USER_ADMIN"])
        .await;
    assert!(b.page(&me).await.contains(&remove));
}
