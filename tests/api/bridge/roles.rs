//! Roles (issue 20): bundles of permissions and of other roles, managed at
//! `/api/v1/roles`; an account holding one holds what it brings, shown
//! with source `role:<name>`; no cycles; the last USER_ADMIN is kept.

use serde_json::{Value, json};

use super::{admin, assert_audited};
use crate::app::TestApp;
use crate::both;

const BRIDGE: &str = "urn:scim-bridge:schemas:extension:bridge:2.0:User";

/// The sources of each permission an account view holds.
fn sources(view: &Value) -> Vec<(String, Vec<String>)> {
    view["permissionSources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let s = p["sources"].as_array().unwrap();
            (
                p["permission"].as_str().unwrap().to_owned(),
                s.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
            )
        })
        .collect()
}

fn held(view: &Value, permission: &str) -> Option<Vec<String>> {
    sources(view)
        .into_iter()
        .find(|(p, _)| p == permission)
        .map(|(_, s)| s)
}

both!(an_account_holding_a_role_holds_what_it_brings);
async fn an_account_holding_a_role_holds_what_it_brings(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let (status, reader) = root
        .post(
            app,
            "/roles",
            &json!({"name": "reader", "description": "Reads the audit", "permissions": ["AUDIT"]}),
        )
        .await;
    assert_eq!(status, 201, "{reader}");
    assert_eq!(reader["effectivePermissions"], json!(["AUDIT"]));
    let (status, analyst) = root
        .post(
            app,
            "/roles",
            &json!({"name": "analyst", "permissions": ["CREATE_FILTER"], "roles": ["reader"]}),
        )
        .await;
    assert_eq!(status, 201, "{analyst}");
    assert_eq!(
        analyst["effectivePermissions"],
        json!(["AUDIT", "CREATE_FILTER"])
    );

    let user = app.create_user("ada@example.com").await;
    let id = user["id"].as_str().unwrap();
    let (status, view) = root
        .post(
            app,
            &format!("/users/{id}/roles"),
            &json!({"roles": ["analyst"]}),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        view["roles"],
        json!([{"role": "analyst", "source": "direct"}])
    );
    assert_eq!(held(&view, "AUDIT"), Some(vec!["role:analyst".to_owned()]));
    assert_eq!(
        held(&view, "CREATE_FILTER"),
        Some(vec!["role:analyst".to_owned()])
    );

    // An identity provider reads the bridge extension once its IAM lets it.
    let (status, body) = root
        .put(app, "/iams/idp/settings", &json!({"bridgeExtension": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    // Over SCIM, in the bridge extension, with the same source.
    let r = app
        .get(&format!("/Users/{id}?attributes={BRIDGE}:permissions"))
        .await;
    let doc: Value = r.json().await.unwrap();
    assert!(
        doc[BRIDGE]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!({"value": "AUDIT", "source": "role:analyst"})),
        "{doc}"
    );

    // A permission that comes only from a role is not removed here.
    let (status, body) = root
        .delete(app, &format!("/users/{id}/permissions/AUDIT"))
        .await;
    assert_eq!(status, 409, "{body}");

    // Changing a contained role changes what its holders hold.
    let (status, body) = root
        .put(
            app,
            "/roles/reader",
            &json!({"description": "Governs", "permissions": ["GOVERNANCE"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["containedBy"], json!(["analyst"]));
    let (_, view) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(held(&view, "AUDIT"), None, "{view}");
    assert_eq!(
        held(&view, "GOVERNANCE"),
        Some(vec!["role:analyst".to_owned()])
    );

    let (status, list) = root.get(app, "/roles").await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 2);
    assert_eq!(list["hits"][0]["name"], "analyst");

    // Given up, the role takes what it brought with it.
    let (status, view) = root
        .delete(app, &format!("/users/{id}/roles/analyst"))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view.get("roles"), None);
    assert_eq!(held(&view, "GOVERNANCE"), None);
    assert_eq!(held(&view, "CREATE_FILTER"), None);

    // Deleting a role its holders hold takes it from them too.
    root.post(
        app,
        &format!("/users/{id}/roles"),
        &json!({"roles": ["analyst"]}),
    )
    .await;
    let (status, _) = root.delete(app, "/roles/analyst").await;
    assert_eq!(status, 204);
    let (_, view) = root.get(app, &format!("/users/{id}")).await;
    assert_eq!(view.get("roles"), None, "{view}");
    assert_eq!(held(&view, "CREATE_FILTER"), None);
    let (status, _) = root.get(app, "/roles/analyst").await;
    assert_eq!(status, 404);

    // Every change is audited.
    let every = [
        "role.created",
        "role.updated",
        "role.deleted",
        "role.added",
        "role.removed",
    ];
    assert_audited(app, &root, "auditor@example.com", "limit=1000", &every).await;
}

both!(role_cycles_and_bad_roles_are_refused_and_change_nothing);
async fn role_cycles_and_bad_roles_are_refused_and_change_nothing(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    for (name, roles) in [("a", json!([])), ("b", json!(["a"])), ("c", json!(["b"]))] {
        let (status, body) = root
            .post(app, "/roles", &json!({"name": name, "roles": roles}))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, before) = root.get(app, "/roles").await;
    let (status, body) = root.put(app, "/roles/a", &json!({"roles": ["c"]})).await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("a → c → b → a"), "{message}");
    let (status, body) = root.put(app, "/roles/a", &json!({"roles": ["a"]})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("a → a"));
    let many: Vec<String> = (0..101).map(|i| format!("r{i}")).collect();
    for (bad, status) in [
        (json!({"name": "x", "permissions": ["NO_SUCH"]}), 400),
        (json!({"name": "x", "roles": ["nope"]}), 400),
        (json!({"name": "bad name"}), 400),
        (json!({"name": "x", "colour": "red"}), 400),
        (json!({"name": "x", "roles": many}), 400),
        (json!({"permissions": ["AUDIT"]}), 400),
        (json!({"name": "a"}), 409),
    ] {
        let (got, body) = root.post(app, "/roles", &bad).await;
        assert_eq!(got, status, "{bad} → {body}");
        assert!(body["error"]["message"].is_string());
    }
    let (status, body) = root.put(app, "/roles/b", &json!({"name": "renamed"})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = root.delete(app, "/roles/a").await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains('b'));
    let (status, _) = root.put(app, "/roles/nope", &json!({})).await;
    assert_eq!(status, 404);

    // Someone without USER_ADMIN reads roles but changes none.
    let governor = root.another(app, "gov@example.com", &["GOVERNANCE"]).await;
    let (status, _) = governor.get(app, "/roles").await;
    assert_eq!(status, 200);
    let (status, _) = governor.post(app, "/roles", &json!({"name": "mine"})).await;
    assert_eq!(status, 403);

    let (_, after) = root.get(app, "/roles").await;
    assert_eq!(after, before);
}

both!(the_last_user_admin_keeps_it_whatever_happens_to_roles);
async fn the_last_user_admin_keeps_it_whatever_happens_to_roles(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let (status, _) = root
        .post(
            app,
            "/roles",
            &json!({"name": "admins", "permissions": ["USER_ADMIN"]}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, view) = root
        .post(
            app,
            &format!("/users/{}/roles", root.id),
            &json!({"roles": ["admins"]}),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    // Held through the role, the direct grant may go.
    let (status, view) = root
        .delete(app, &format!("/users/{}/permissions/USER_ADMIN", root.id))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        held(&view, "USER_ADMIN"),
        Some(vec!["role:admins".to_owned()])
    );
    // Now the role is all that makes an administrator: it stays.
    let (status, body) = root
        .put(app, "/roles/admins", &json!({"permissions": ["AUDIT"]}))
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = root.delete(app, "/roles/admins").await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = root
        .delete(app, &format!("/users/{}/roles/admins", root.id))
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, view) = root.get(app, &format!("/users/{}", root.id)).await;
    assert_eq!(status, 200);
    assert_eq!(
        held(&view, "USER_ADMIN"),
        Some(vec!["role:admins".to_owned()])
    );
    // With another administrator, it may go.
    let other = root.new_user(app, "Other", "other@example.com").await;
    let (status, _) = root
        .post(
            app,
            &format!("/users/{other}/permissions"),
            &json!({"permissions": ["USER_ADMIN"]}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = root
        .put(app, "/roles/admins", &json!({"permissions": ["AUDIT"]}))
        .await;
    assert_eq!(status, 200, "{body}");
}
