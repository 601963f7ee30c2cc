//! Every dialect shape of issue 4 on users, one test each, plus Entra's and
//! Okta's typical user sequences.

use serde_json::{Value, json};

use super::{ENT, get, ops, patch_ok, user_path};
use crate::app::TestApp;
use crate::both;

async fn op_in_any_case_and_delete_as_remove(app: &TestApp) {
    let p = user_path(app, "ops@example.com").await;
    for (op, title) in [
        ("add", "a"),
        ("Add", "b"),
        ("REPLACE", "c"),
        ("Replace", "d"),
    ] {
        let doc = patch_ok(
            app,
            &p,
            json!([{ "op": op, "path": "title", "value": title }]),
        )
        .await;
        assert_eq!(doc["title"], title, "{op}");
    }
    let doc = patch_ok(app, &p, json!([{ "op": "Remove", "path": "title" }])).await;
    assert!(doc.get("title").is_none());
    patch_ok(
        app,
        &p,
        json!([{ "op": "add", "path": "title", "value": "x" }]),
    )
    .await;
    let doc = patch_ok(app, &p, json!([{ "op": "delete", "path": "title" }])).await;
    assert!(doc.get("title").is_none());
}
both!(op_in_any_case_and_delete_as_remove);

async fn booleans_as_strings_on_write_and_in_filters(app: &TestApp) {
    let p = user_path(app, "bools@example.com").await;
    for (v, want) in [
        ("False", false),
        ("True", true),
        ("false", false),
        ("true", true),
    ] {
        let doc = patch_ok(
            app,
            &p,
            json!([{ "op": "Replace", "path": "active", "value": v }]),
        )
        .await;
        assert_eq!(doc["active"], want, "{v}");
        assert_eq!(get(app, &p).await["active"], want);
    }
    // The created user's work email is primary: select it with a string.
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "replace", "path": "emails[primary eq \"True\"].display", "value": "Work" }]),
    )
    .await;
    assert_eq!(doc["emails"][0]["display"], "Work");
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "add", "path": "ims[primary eq \"True\"].value", "value": "admin" }]),
    )
    .await;
    assert_eq!(doc["ims"], json!([{ "primary": true, "value": "admin" }]));
}
both!(booleans_as_strings_on_write_and_in_filters);

async fn pathless_dotted_and_urn_qualified_keys(app: &TestApp) {
    let p = user_path(app, "pathless@example.com").await;
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "replace", "value": {
            "name.givenName": "Barbara",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "701984",
            "urn:ietf:params:scim:schemas:core:2.0:User:title": "Guide",
            ENT: { "department": "Tour" },
        } }]),
    )
    .await;
    assert_eq!(
        doc["name"],
        json!({ "givenName": "Barbara", "familyName": "Family" })
    );
    assert_eq!(
        doc[ENT],
        json!({ "employeeNumber": "701984", "department": "Tour" })
    );
    assert_eq!(doc["title"], "Guide");
    assert!(doc["schemas"].as_array().unwrap().contains(&json!(ENT)));
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "add", "value": { "name.middleName": "J", "nickName": "Babs" } }]),
    )
    .await;
    assert_eq!(doc["name"]["middleName"], "J");
    assert_eq!(doc["nickName"], "Babs");
    assert_eq!(get(app, &p).await["name"]["givenName"], "Barbara");
}
both!(pathless_dotted_and_urn_qualified_keys);

async fn manager_shapes(app: &TestApp) {
    let p = user_path(app, "managed@example.com").await;
    let boss = app.create_user("boss@example.com").await;
    let boss = boss["id"].as_str().unwrap();
    let path = format!("{ENT}:manager");
    for v in [
        json!(boss),
        json!({ "value": boss }),
        json!([{ "value": boss }]),
        json!([boss]),
    ] {
        patch_ok(app, &p, json!([{ "op": "remove", "path": path }])).await;
        let doc = patch_ok(
            app,
            &p,
            json!([{ "op": "Replace", "path": path, "value": v }]),
        )
        .await;
        assert_eq!(doc[ENT]["manager"]["value"], boss, "{v}");
    }
    for v in [json!(""), Value::Null] {
        patch_ok(
            app,
            &p,
            json!([{ "op": "add", "path": path, "value": boss }]),
        )
        .await;
        let doc = patch_ok(
            app,
            &p,
            json!([{ "op": "Replace", "path": path, "value": v }]),
        )
        .await;
        assert!(doc.get(ENT).is_none(), "{v} removes the manager: {doc}");
        assert!(!doc["schemas"].as_array().unwrap().contains(&json!(ENT)));
    }
    // Path-less, URN-qualified, as a string.
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "replace", "value": { path.clone(): boss } }]),
    )
    .await;
    assert_eq!(doc[ENT]["manager"]["value"], boss);
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "replace", "value": { path.clone(): "" } }]),
    )
    .await;
    assert!(doc.get(ENT).is_none());
}
both!(manager_shapes);

async fn add_to_an_unmatched_value_filter_creates_the_value(app: &TestApp) {
    let p = user_path(app, "filters@example.com").await;
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555" }]),
    )
    .await;
    assert_eq!(
        doc["phoneNumbers"],
        json!([{ "type": "work", "value": "+1 555" }])
    );
    // A second add with the filter now matching edits that value.
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 556" }]),
    )
    .await;
    assert_eq!(
        doc["phoneNumbers"],
        json!([{ "type": "work", "value": "+1 556" }])
    );
    // Entra sends replace for an address or email it never created.
    let doc = patch_ok(
        app,
        &p,
        json!([
            { "op": "Replace", "path": "emails[type eq \"home\"].value", "value": "h@example.com" },
            { "op": "Replace", "path": "addresses[type eq \"work\"].locality", "value": "Paris" },
        ]),
    )
    .await;
    assert_eq!(
        doc["emails"][1],
        json!({ "type": "home", "value": "h@example.com" })
    );
    assert_eq!(
        doc["addresses"],
        json!([{ "type": "work", "locality": "Paris" }])
    );
}
both!(add_to_an_unmatched_value_filter_creates_the_value);

async fn one_primary_and_one_value_per_type(app: &TestApp) {
    let p = user_path(app, "multi@example.com").await;
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "add", "path": "emails", "value": [{ "value": "h@example.com", "type": "home", "primary": "True" }] }]),
    )
    .await;
    let emails = doc["emails"].as_array().unwrap().clone();
    assert_eq!(emails.len(), 2);
    assert_eq!(emails.iter().filter(|e| e["primary"] == true).count(), 1);
    assert_eq!(emails[1]["value"], "h@example.com");
    // A new work email replaces the old one: the newest wins.
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "add", "path": "emails", "value": [{ "value": "w2@example.com", "type": "WORK" }] }]),
    )
    .await;
    let works: Vec<_> = doc["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "work")
        .collect();
    assert_eq!(works.len(), 1);
    assert_eq!(works[0]["value"], "w2@example.com");
    // Two primaries in one value are refused.
    super::patch_err(
        app,
        &p,
        json!([{ "op": "replace", "path": "emails", "value": [
            { "value": "a@x", "primary": true }, { "value": "b@x", "primary": true }] }]),
        400,
        Some("invalidValue"),
    )
    .await;
}
both!(one_primary_and_one_value_per_type);

async fn unknown_keys_nulls_meta_and_id_are_ignored(app: &TestApp) {
    let u = app.create_user("echo@example.com").await;
    let id = u["id"].as_str().unwrap();
    let p = format!("/Users/{id}");
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "replace", "path": "title", "value": "T", "x-unknown": 1, "display": "?" }]),
    )
    .await;
    assert_eq!(doc["title"], "T");
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "replace", "value": {
            "id": id, "meta": { "resourceType": "User", "version": "W/\"1\"" },
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "nickName": null, "displayName": "Echo", "notAnAttribute": "x",
        } }]),
    )
    .await;
    assert_eq!(doc["id"], id);
    assert_eq!(doc["displayName"], "Echo");
    assert!(doc.get("nickName").is_none() && doc.get("notAnAttribute").is_none());
    // add with a null value adds nothing.
    let before = get(app, &p).await;
    let after = patch_ok(
        app,
        &p,
        json!([{ "op": "add", "path": "nickName", "value": null }]),
    )
    .await;
    assert_eq!(
        before, after,
        "a no-op PATCH does not even bump the version"
    );
}
both!(unknown_keys_nulls_meta_and_id_are_ignored);

async fn pascal_case_names_lower_case_routes_trailing_slashes(app: &TestApp) {
    let u = app.create_user("pascal@example.com").await;
    let id = u["id"].as_str().unwrap();
    for path in [format!("/users/{id}/"), format!("/USERS/{id}")] {
        let r = app
            .patch(
                &path,
                &ops(json!([{ "Op": "Replace", "Path": "DisplayName", "Value": "Pascal" }])),
            )
            .await;
        assert_eq!(r.status(), 200, "{path}");
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["displayName"], "Pascal");
    }
    let doc = patch_ok(
        app,
        &format!("/Users/{id}"),
        json!([{ "op": "add", "path": "Name.GivenName", "value": "P" },
               { "op": "add", "path": "Emails[Type eq \"work\"].Display", "value": "W" }]),
    )
    .await;
    assert_eq!(doc["name"]["givenName"], "P");
    assert_eq!(doc["emails"][0]["display"], "W");
    // The PatchOp schema may be omitted; its URN matches in any case.
    let r = app
        .patch(
            &format!("/Users/{id}"),
            &json!({ "Operations": [{ "op": "add", "path": "title", "value": "A" }] }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .patch(
            &format!("/Users/{id}"),
            &json!({ "schemas": [super::PATCH_OP.to_uppercase()], "Operations": [{ "op": "add", "path": "title", "value": "B" }] }),
        )
        .await;
    assert_eq!(r.status(), 200);
}
both!(pascal_case_names_lower_case_routes_trailing_slashes);

/// Entra ID: disable with `Replace active "False"`, update attributes with
/// path-less and filtered operations, then the user stays readable and
/// filterable while inactive.
async fn entra_user_sequence(app: &TestApp) {
    let p = user_path(app, "entra@example.com").await;
    patch_ok(
        app,
        &p,
        json!([
            { "op": "Replace", "path": "displayName", "value": "Entra User" },
            { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "entra2@example.com" },
            { "op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales" },
            { "op": "Replace", "value": { "name.givenName": "En", "name.familyName": "Tra" } },
        ]),
    )
    .await;
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "Replace", "path": "active", "value": "False" }]),
    )
    .await;
    assert_eq!(doc["active"], false);
    let doc = get(app, &p).await;
    assert_eq!(doc["active"], false);
    assert_eq!(doc["displayName"], "Entra User");
    assert_eq!(doc["emails"][0]["value"], "entra2@example.com");
    assert_eq!(doc[ENT]["department"], "Sales");
    assert_eq!(
        doc["name"],
        json!({ "givenName": "En", "familyName": "Tra" })
    );
    let l: Value = app
        .get(&format!(
            "/Users?filter={}",
            crate::users::urlencode("active eq false")
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 1);
}
both!(entra_user_sequence);

/// Okta: deactivate with a path-less replace of `{"active": false}`.
async fn okta_user_sequence(app: &TestApp) {
    let p = user_path(app, "okta@example.com").await;
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "replace", "value": { "active": false } }]),
    )
    .await;
    assert_eq!(doc["active"], false);
    let doc = patch_ok(
        app,
        &p,
        json!([{ "op": "replace", "value": { "name": { "givenName": "O", "familyName": "K" }, "active": true } }]),
    )
    .await;
    assert_eq!(doc["active"], true);
    assert_eq!(
        get(app, &p).await["name"],
        json!({ "givenName": "O", "familyName": "K" })
    );
}
both!(okta_user_sequence);

async fn password_is_hashed_never_returned(app: &TestApp) {
    let u = app.create_user("pw@example.com").await;
    let id = u["id"].as_str().unwrap();
    let doc = patch_ok(
        app,
        &format!("/Users/{id}"),
        json!([{ "op": "replace", "path": "password", "value": "t1meMa$heen" }]),
    )
    .await;
    assert!(doc.get("password").is_none());
    let hash = app.stored_password_hash(id).await.expect("a hash");
    assert!(hash.starts_with("$argon2"), "{hash}");
    patch_ok(
        app,
        &format!("/Users/{id}"),
        json!([{ "op": "remove", "path": "password" }]),
    )
    .await;
    assert_eq!(app.stored_password_hash(id).await, None);
}
both!(password_is_hashed_never_returned);
