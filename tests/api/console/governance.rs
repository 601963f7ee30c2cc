//! The governance screens (issue 18, item 7): tags, data sources and
//! policies through their forms, the job a change starts, and "why can
//! this person see this data source" on a user's page; refusals beside
//! the field they are about, nothing changed; an admin without
//! GOVERNANCE refused as the admin API refuses it.

use serde_json::{Value, json};

use super::{Browser, csrf_in};
use crate::app::TestApp;
use crate::both;
use crate::bridge::{Admin, admin};

/// A governor signed in to the console, with its CSRF token.
async fn governor(app: &TestApp) -> (Admin, Admin, Browser, String) {
    let root = admin(app, "root@example.com").await;
    let gov = root.another(app, "gov@example.com", &["GOVERNANCE"]).await;
    let mut b = Browser::new(app);
    b.sign_in(&gov.token).await;
    let csrf = b.csrf().await;
    (root, gov, b, csrf)
}

/// The tag names the admin API lists.
async fn tag_names(gov: &Admin, app: &TestApp) -> Vec<String> {
    let (status, list) = gov.get(app, "/tags").await;
    assert_eq!(status, 200, "{list}");
    list["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

both!(tags_are_created_searched_and_deleted_through_the_form);
async fn tags_are_created_searched_and_deleted_through_the_form(app: &TestApp) {
    let (_, gov, mut b, csrf) = governor(app).await;
    let page = b.page("/admin/tags").await;
    assert!(page.contains("href=\"/admin/tags\""), "in the navigation");
    assert!(page.contains("No tags yet."));

    // A child creates its missing parent.
    let r = b
        .post(
            "/admin/tags",
            &[
                ("_csrf", &csrf),
                ("name", "Environment.Dev"),
                ("description", "Development data"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        tag_names(&gov, app).await,
        ["Environment", "Environment.Dev"]
    );
    let page = b.page("/admin/tags").await;
    let root_at = page
        .find("<span class=\"leaf\">Environment</span>")
        .unwrap();
    let child_at = page.find("<span class=\"leaf\">Dev</span>").unwrap();
    assert!(root_at < child_at, "the child under its parent");
    assert!(page.contains("class=\"depth-1\"") && page.contains("Development data"));

    // Refusals beside the field, nothing created.
    for (name, status) in [("Environment..Dev", 400), ("Environment.Dev", 409)] {
        let r = b
            .post("/admin/tags", &[("_csrf", &csrf), ("name", name)])
            .await;
        assert_eq!(r.status(), status, "{name}");
        let page = r.text().await.unwrap();
        assert!(page.contains("id=\"tag-name-error\""), "{name}: {page}");
        assert!(page.contains("aria-invalid=\"true\""));
        assert!(page.contains(&format!("value=\"{name}\"")), "kept as typed");
    }
    // Without the CSRF token: refused, nothing created.
    let r = b.post("/admin/tags", &[("name", "Forged")]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(tag_names(&gov, app).await.len(), 2);

    // Search: the matches only.
    let r = b
        .post("/admin/tags", &[("_csrf", &csrf), ("name", "Region.EU")])
        .await;
    assert_eq!(r.status(), 303);
    let page = b.page("/admin/tags?q=dev").await;
    assert!(page.contains("<span class=\"leaf\">Dev</span>"));
    assert!(!page.contains("<span class=\"leaf\">EU</span>"));
    assert!(!page.contains("<span class=\"leaf\">Environment</span>"));

    // Delete: the tag and those below it.
    let r = b
        .post("/admin/tags/Environment/delete", &[("_csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(tag_names(&gov, app).await, ["Region", "Region.EU"]);
    let r = b
        .post("/admin/tags/Nothing/delete", &[("_csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("no tag named"));
}

both!(data_sources_are_registered_tagged_and_deleted_through_the_forms);
async fn data_sources_are_registered_tagged_and_deleted_through_the_forms(app: &TestApp) {
    let (root, gov, mut b, csrf) = governor(app).await;
    gov.tags(app, &["Environment.Dev", "Environment.Test", "PII.Email"])
        .await;
    let page = b.page("/admin/data-sources").await;
    assert!(page.contains("No data sources yet."));

    // Refusals: beside the field the directory names, nothing registered.
    let cases = [
        ("", "Environment.Dev", "", "ds-name-error"),
        ("Sales", "Nope", "", "role=\"alert\">no tag named"),
        ("Sales", "", "email: PII..Email", "ds-columns-error"),
    ];
    for (name, tags, columns, shown) in cases {
        let r = b
            .post(
                "/admin/data-sources",
                &[
                    ("_csrf", &csrf),
                    ("name", name),
                    ("tags", tags),
                    ("columns", columns),
                ],
            )
            .await;
        assert_eq!(r.status(), 400, "{name} {tags} {columns}");
        let page = r.text().await.unwrap();
        assert!(page.contains(shown), "{shown}: {page}");
    }
    let (_, list) = gov.get(app, "/data-sources").await;
    assert_eq!(list["count"], 0);

    let r = b
        .post(
            "/admin/data-sources",
            &[
                ("_csrf", &csrf),
                ("name", "Sales"),
                ("tags", "Environment.Dev\n"),
                ("columns", "email: PII.Email\nregion"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let at = location(&r);
    let id = at.trim_start_matches("/admin/data-sources/").to_owned();
    let (_, view) = gov.get(app, &format!("/data-sources/{id}")).await;
    assert_eq!(view["tags"], json!(["Environment.Dev"]));
    assert_eq!(
        view["columns"],
        json!([{"name": "email", "tags": ["PII.Email"]}, {"name": "region", "tags": []}])
    );
    assert_eq!(view["owners"], json!([gov.id]));
    let page = b.page(&at).await;
    assert!(page.contains("<h1>Sales</h1>") && page.contains(&gov.id));
    assert!(page.contains("Remove tag Environment.Dev") && page.contains("PII.Email"));
    assert!(b.page("/admin/data-sources").await.contains(&at));

    // A subscriber, with its subscription's source.
    let user = root.new_user(app, "Dana", "dana@example.com").await;
    let ops = json!({"operations": [{"op": "add", "name": "Environment", "values": ["Dev"]}]});
    let (status, e) = root
        .patch(app, &format!("/users/{user}/attributes"), &ops)
        .await;
    assert_eq!(status, 200, "{e}");
    gov.policy(
        app,
        &super::super::governance::admitting("dev-only", "Environment", "Environment", "Dev"),
    )
    .await;
    let mut page = String::new();
    for _ in 0..200 {
        page = b.page(&at).await;
        if page.contains("/admin/policies/dev-only") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(page.contains(&format!("/admin/users/{user}")), "{page}");
    assert!(page.contains("policy <a href=\"/admin/policies/dev-only\">dev-only</a>"));

    // Add tags: refused beside the field, then added; untag.
    let r = b
        .post(&format!("{at}/tags"), &[("_csrf", &csrf), ("tags", "Nope")])
        .await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"add-tags-error\"") && page.contains(">Nope</textarea>"));
    let r = b
        .post(
            &format!("{at}/tags"),
            &[("_csrf", &csrf), ("tags", "Environment.Test")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(
        location(&r).starts_with(&format!("{at}?job=")),
        "a job started"
    );
    let r = b
        .post(
            &format!("{at}/untag"),
            &[("_csrf", &csrf), ("tag", "Environment.Dev")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, view) = gov.get(app, &format!("/data-sources/{id}")).await;
    assert_eq!(view["tags"], json!(["Environment.Test"]));

    // Delete.
    assert!(
        b.page(&format!("{at}?dialog=delete"))
            .await
            .contains("id=\"dlg-delete\" class=\"modal\" aria-labelledby=\"dlg-delete-h\" open")
    );
    let r = b.post(&format!("{at}/delete"), &[("_csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(gov.get(app, &format!("/data-sources/{id}")).await.0, 404);
}

/// The builder's fields for a policy admitting `Environment=Dev` on data
/// sources tagged `Environment`.
fn builder<'a>(csrf: &'a str, key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("_csrf", csrf),
        ("policyKey", key),
        ("name", "Dev data only"),
        ("scope", "tags"),
        ("circumstanceOperator", "any"),
        ("tags", "Environment"),
        ("columnTags", ""),
        ("type", "entitlements"),
        ("rule", "entitlements"),
        ("entitlementOperator", "any"),
        ("groups", ""),
        ("attributes", "Environment=Dev"),
        ("advanced", ""),
        ("approvals", ""),
        ("automaticSubscription", "on"),
    ]
}

/// The same fields with `field` set to `value`.
fn with<'a>(
    mut fields: Vec<(&'a str, &'a str)>,
    changes: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    for (k, v) in changes {
        fields.retain(|(f, _)| f != k);
        fields.push((k, v));
    }
    fields
}

both!(policies_are_built_edited_and_deleted_through_the_forms);
async fn policies_are_built_edited_and_deleted_through_the_forms(app: &TestApp) {
    let (_, gov, mut b, csrf) = governor(app).await;
    gov.tags(app, &["Environment.Dev"]).await;
    let page = b.page("/admin/policies").await;
    assert!(page.contains("No policies yet") && page.contains("/admin/policies/new"));
    let page = b.page("/admin/policies/new").await;
    assert!(page.contains("id=\"type-entitlements\" checked") && page.contains("id=\"advanced\""));

    // Refusals beside their fields, nothing created: the advanced rule's
    // parse error with its position, an unknown tag, a bad key, an
    // approval policy without approvers, an attribute without a value.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 5] = [
        (
            &[
                ("rule", "advanced"),
                ("advanced", "@hasAttribute('Environment', 'Dev') AND"),
            ],
            "id=\"advanced-error\"",
            "actions.advanced: at column 40",
        ),
        (
            &[("tags", "Nope")],
            "id=\"circumstances-error\"",
            "no tag named",
        ),
        (
            &[("policyKey", "Dev Only")],
            "id=\"policyKey-error\"",
            "policyKey:",
        ),
        (
            &[("type", "approval")],
            "id=\"approvals-error\"",
            "actions.approvals: an approval policy names at least one",
        ),
        (
            &[("attributes", "Environment")],
            "id=\"attributes-error\"",
            "attributes[0].value",
        ),
    ];
    for (changes, field, says) in cases {
        let r = b
            .post(
                "/admin/policies",
                &with(builder(&csrf, "dev-only"), changes),
            )
            .await;
        assert_eq!(r.status(), 400, "{changes:?}");
        let page = r.text().await.unwrap();
        assert!(page.contains(field), "{field}: {page}");
        assert!(page.contains(says), "{says}: {page}");
        assert!(page.contains("Dev data only"), "kept as typed");
    }
    let (_, list) = gov.get(app, "/policies").await;
    assert_eq!(list["count"], 0);

    // Created from the builder: the admin API's document.
    let r = b.post("/admin/policies", &builder(&csrf, "dev-only")).await;
    assert_eq!(r.status(), 303);
    let at = location(&r);
    assert!(at.starts_with("/admin/policies/dev-only?job="), "{at}");
    let (_, p) = gov.get(app, "/policies/dev-only").await;
    assert_eq!(
        p["circumstances"],
        json!([{"type": "tags", "tag": "Environment"}])
    );
    assert_eq!(
        p["actions"],
        json!({"type": "entitlements",
               "entitlements": {"operator": "any", "groups": [],
                                "attributes": [{"name": "Environment", "value": "Dev"}]},
               "automaticSubscription": true, "shareResponsibility": false})
    );
    let page = b.page(&at).await;
    assert!(page.contains("follow the job") && page.contains(">Environment=Dev</textarea>"));
    let r = b.post("/admin/policies", &builder(&csrf, "dev-only")).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("id=\"policyKey-error\""));

    // The job's page, until it is done.
    let job = at.split("job=").nth(1).unwrap().to_owned();
    let mut page = String::new();
    for _ in 0..400 {
        page = b.page(&format!("/admin/jobs/{job}")).await;
        if page.contains("data-job-state>done<") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(page.contains("data-job-state>done<"), "{page}");
    assert!(page.contains(" re-evaluated</label>") && !page.contains("hx-trigger"));

    // Edit: advanced rule, Share Responsibility, staged.
    let edit = with(
        builder(&csrf, "dev-only"),
        &[
            ("rule", "advanced"),
            (
                "advanced",
                "@hasAttribute('Environment', 'Dev') OR @isInGroups('Ops')",
            ),
            ("shareResponsibility", "on"),
            ("staged", "on"),
        ],
    );
    let r = b.post("/admin/policies/dev-only", &edit).await;
    assert_eq!(r.status(), 303);
    let (_, p) = gov.get(app, "/policies/dev-only").await;
    assert_eq!(p["staged"], true);
    assert_eq!(p["actions"]["shareResponsibility"], true);
    assert_eq!(
        p["actions"]["advanced"],
        "@hasAttribute('Environment', 'Dev') OR @isInGroups('Ops')"
    );
    let page = b.page("/admin/policies/dev-only").await;
    assert!(
        page.contains("id=\"rule-advanced\" checked"),
        "shown as saved"
    );
    let page = b.page("/admin/policies").await;
    assert!(page.contains("Staged") && page.contains("Share Responsibility"));
    let r = b
        .post(
            "/admin/policies/dev-only",
            &with(edit.clone(), &[("advanced", "@isInGroups(")]),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("id=\"advanced-error\""));
    let (_, p) = gov.get(app, "/policies/dev-only").await;
    assert_eq!(p["staged"], true, "unchanged");

    // Delete.
    let r = b
        .post("/admin/policies/dev-only/delete", &[("_csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(gov.get(app, "/policies/dev-only").await.0, 404);
}

both!(a_users_page_explains_what_the_policies_decide);
async fn a_users_page_explains_what_the_policies_decide(app: &TestApp) {
    let (root, gov, mut b, _) = governor(app).await;
    gov.tags(app, &["Environment.Dev"]).await;
    let ds = gov
        .data_source(app, &json!({"name": "Sales", "tags": ["Environment.Dev"]}))
        .await;
    gov.policy(
        app,
        &super::super::governance::admitting("dev-only", "Environment", "Environment", "Dev"),
    )
    .await;
    let user = root.new_user(app, "Dana", "dana@example.com").await;
    let ops = json!({"operations": [{"op": "add", "name": "Environment", "values": ["Dev"]}]});
    assert_eq!(
        root.patch(app, &format!("/users/{user}/attributes"), &ops)
            .await
            .0,
        200
    );
    let page = b.page(&format!("/admin/users/{user}")).await;
    assert!(page.contains("Why can this person see a data source?"));
    assert!(
        page.contains(&format!("<option value=\"{ds}\" >Sales</option>")),
        "{page}"
    );

    let page = b
        .page(&format!("/admin/users/{user}/access?dataSource={ds}"))
        .await;
    let answer = gov.evaluate(app, &user, json!({ "id": ds })).await;
    assert_eq!(answer["decision"], "subscribe");
    assert!(page.contains("Why can Dana see Sales?"));
    assert!(page.contains("May subscribe") && page.contains("<code>subscribe</code>"));
    assert!(page.contains(">dev-only</a>") && page.contains(">matched<"));
    for line in answer["policies"][0]["because"].as_array().unwrap() {
        assert!(page.contains(line.as_str().unwrap()), "{line}: {page}");
    }
    assert!(page.contains("<th scope=\"row\">Environment</th><td>Dev</td><td>managed</td>"));

    // No data source chosen, or one that is not registered: said beside
    // the picker, which stays.
    for (picked, status, says) in [
        (String::new(), 400, "dataSource.id"),
        (uuid::Uuid::nil().to_string(), 404, "no data source with id"),
    ] {
        let r = b
            .get(&format!("/admin/users/{user}/access?dataSource={picked}"))
            .await;
        assert_eq!(r.status(), status, "{picked}");
        let page = r.text().await.unwrap();
        assert!(
            page.contains("id=\"dataSource-error\"") && page.contains(says),
            "{page}"
        );
        assert!(page.contains("<select id=\"dataSource\""));
    }

    // Disabled: denied, and the page says why.
    assert_eq!(
        root.post(app, &format!("/users/{user}/disable"), &json!({}))
            .await
            .0,
        200
    );
    let page = b
        .page(&format!("/admin/users/{user}/access?dataSource={ds}"))
        .await;
    assert!(
        page.contains("May not subscribe")
            && page.contains("an administrator disabled the account")
    );
}

both!(an_admin_without_governance_is_refused);
async fn an_admin_without_governance_is_refused(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let gov = root.another(app, "gov@example.com", &["GOVERNANCE"]).await;
    gov.tags(app, &["Environment.Dev"]).await;
    let ds = gov
        .data_source(app, &json!({"name": "Sales", "tags": ["Environment.Dev"]}))
        .await;
    let mut b = Browser::new(app);
    b.sign_in(&root.token).await;
    let csrf = b.csrf().await;
    let users = b.page("/admin/users").await;
    assert!(!users.contains("/admin/tags") && !users.contains("/admin/policies"));
    let page = b.page(&format!("/admin/users/{}", gov.id)).await;
    assert!(
        !page.contains("Why can this person"),
        "no evaluate without the permission"
    );
    for path in [
        "/admin/tags".to_owned(),
        "/admin/data-sources".to_owned(),
        format!("/admin/data-sources/{ds}"),
        "/admin/policies".to_owned(),
        "/admin/policies/new".to_owned(),
        format!("/admin/users/{}/access?dataSource={ds}", gov.id),
    ] {
        assert_eq!(b.get(&path).await.status(), 403, "{path}");
    }
    let writes: [(String, Vec<(&str, &str)>); 5] = [
        ("/admin/tags".into(), vec![("name", "Forbidden")]),
        ("/admin/tags/Environment/delete".into(), vec![]),
        ("/admin/data-sources".into(), vec![("name", "Forbidden")]),
        (format!("/admin/data-sources/{ds}/delete"), vec![]),
        ("/admin/policies".into(), builder(&csrf, "forbidden")),
    ];
    for (path, mut form) in writes {
        form.push(("_csrf", &csrf));
        let r = b.post(&path, &form).await;
        assert_eq!(r.status(), 403, "{path}");
    }
    assert_eq!(
        tag_names(&gov, app).await,
        ["Environment", "Environment.Dev"]
    );
    let (_, list) = gov.get(app, "/data-sources").await;
    assert_eq!(list["count"], 1);
    let (_, list) = gov.get(app, "/policies").await;
    assert_eq!(list["count"], 0);

    // CREATE_DATA_SOURCE: reads tags, registers data sources, creates no
    // tag; the console refuses in the admin API's words.
    let creator = root
        .another(app, "creator@example.com", &["CREATE_DATA_SOURCE"])
        .await;
    let mut b = Browser::new(app);
    let r = b.post("/admin/signin", &[("token", &creator.token)]).await;
    assert_eq!(r.status(), 303);
    let page = b.page("/admin/tags").await;
    let csrf = csrf_in(&page);
    assert!(page.contains("Environment.Dev") && !page.contains("Create tag"));
    let (status, e) = creator.post(app, "/tags", &json!({"name": "Mine"})).await;
    assert_eq!(status, 403);
    let r = b
        .post("/admin/tags", &[("_csrf", &csrf), ("name", "Mine")])
        .await;
    assert_eq!(r.status(), 403);
    let message: &Value = &e["error"]["message"];
    assert!(r.text().await.unwrap().contains(message.as_str().unwrap()));
    let r = b
        .post(
            "/admin/data-sources",
            &[
                ("_csrf", &csrf),
                ("name", "Mine"),
                ("tags", "Environment.Dev"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
}
