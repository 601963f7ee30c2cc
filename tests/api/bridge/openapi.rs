//! The admin API's OpenAPI document against the API itself: every
//! documented operation answers, no undocumented method does, and what the
//! API takes and answers fits the documented schemas. (That the router
//! serves no undocumented path is a unit test beside the router.)

use reqwest::Method;
use serde_json::{Value, json};

use super::{Admin, admin, call};
use crate::app::TestApp;
use crate::both;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// A documented path, relative to the API, with `id` for every id.
fn concrete(path: &str, id: &str) -> String {
    path.trim_start_matches("/api/v1")
        .replace("{id}", id)
        .replace("{name}", "idp")
        .replace("{subscriptionId}", id)
        .replace("{member}", id)
        .replace("{policyKey}", "dev-only")
        .replace("{tag}", "Environment")
}

async fn document(app: &TestApp) -> Value {
    let (status, doc) = call(app, Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    doc
}

both!(the_openapi_document_lists_every_endpoint);
async fn the_openapi_document_lists_every_endpoint(app: &TestApp) {
    let (status, doc) = call(app, Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let root = admin(app, "root@example.com").await;
    let id = &root.id;
    // Each documented path with each documented method answers something
    // other than "no such endpoint" / "method not allowed".
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let concrete = concrete(path, id);
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = (method != "get" && method != "delete").then(|| json!({}));
            let (status, resp) = call(app, m, &concrete, Some(&root.token), body.as_ref()).await;
            let unknown = resp["error"]["message"] == "no such endpoint";
            assert!(
                !unknown && status != 405,
                "{method} {path}: {status} {resp}"
            );
        }
    }
}

both!(no_undocumented_method_answers_on_a_documented_path);
async fn no_undocumented_method_answers_on_a_documented_path(app: &TestApp) {
    let doc = document(app).await;
    let root = admin(app, "root@example.com").await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = concrete(path, &root.id);
        for method in METHODS.iter().filter(|m| item.get(**m).is_none()) {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, resp) = call(app, m, &concrete, Some(&root.token), Some(&json!({}))).await;
            assert_eq!(status, 405, "{method} {path}: {resp}");
        }
    }
}

both!(the_document_holds_together);
async fn the_document_holds_together(app: &TestApp) {
    let doc = document(app).await;
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        assert!(doc.pointer(&r[1..]).is_some(), "{r} names nothing");
    }
    let mut ids = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for op in METHODS.iter().filter_map(|m| item.get(*m)) {
            assert!(op["summary"].is_string(), "{path}: no summary");
            assert_eq!(
                op["responses"]["401"]["$ref"], "#/components/responses/Error",
                "{path}"
            );
            ids.push(op["operationId"].as_str().unwrap().to_owned());
        }
    }
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "operation ids repeat");
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Calls the API through its document: the body sent must fit the
/// documented request body, the status must be documented, and the answer
/// must fit the schema documented for that status.
struct Documented<'a> {
    app: &'a TestApp,
    doc: Value,
    admin: &'a Admin,
}

impl Documented<'_> {
    /// A call that succeeds; its answer.
    async fn call(&self, method: &str, template: &str, path: &str, body: Option<Value>) -> Value {
        let (status, resp) = self.answer(method, template, path, body).await;
        assert!(status < 400, "{method} {path}: {status} {resp}");
        resp
    }

    async fn answer(
        &self,
        method: &str,
        template: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let op = &self.doc["paths"][format!("/api/v1{template}")][method];
        assert!(op.is_object(), "{method} {template} is not documented");
        let at = format!("{method} {template}");
        if let Some(b) = &body {
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            fits(&self.doc, schema, b).unwrap_or_else(|e| panic!("{at} request: {e}"));
        }
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, resp) = call(self.app, m, path, Some(&self.admin.token), body.as_ref()).await;
        let mut documented = &op["responses"][status.to_string()];
        assert!(
            documented.is_object(),
            "{at}: {status} is not documented: {resp}"
        );
        if let Some(r) = documented["$ref"].as_str() {
            documented = self.doc.pointer(&r[1..]).unwrap();
        }
        match documented["content"]["application/json"].get("schema") {
            Some(schema) => fits(&self.doc, schema, &resp),
            None if resp.is_null() => Ok(()),
            None => Err("a body where none is documented".into()),
        }
        .unwrap_or_else(|e| panic!("{at} → {status}: {e}\n{resp:#}"));
        (status, resp)
    }
}

/// Whether `v` fits `schema`, for the parts of JSON Schema the document
/// uses. Stricter in one way: an object's member must be among the
/// documented properties unless the schema allows others, so a field the
/// API answers with and the document lacks is caught too.
fn fits(doc: &Value, schema: &Value, v: &Value) -> Result<(), String> {
    if let Some(r) = schema["$ref"].as_str() {
        return fits(
            doc,
            doc.pointer(&r[1..]).ok_or(format!("{r} names nothing"))?,
            v,
        );
    }
    if let Some(alternatives) = schema["oneOf"].as_array() {
        let fitting = alternatives.iter().filter(|s| fits(doc, s, v).is_ok());
        return match fitting.count() {
            1 => Ok(()),
            n => Err(format!("{v} fits {n} of {schema}")),
        };
    }
    if let Some(types) = schema.get("type") {
        let names: Vec<&str> = match types {
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            t => t.as_str().into_iter().collect(),
        };
        if !names.iter().any(|t| is_a(v, t)) {
            return Err(format!("{v} is not {types}"));
        }
    }
    if let Some(values) = schema["enum"].as_array()
        && !values.contains(v)
    {
        return Err(format!("{v} is not one of {values:?}"));
    }
    if let Some(items) = schema.get("items")
        && let Some(a) = v.as_array()
    {
        a.iter().try_for_each(|x| fits(doc, items, x))?;
    }
    if let Some(o) = v.as_object() {
        let (properties, required, others) = object_parts(doc, schema);
        for name in required {
            if !o.contains_key(&name) {
                return Err(format!("'{name}' is missing"));
            }
        }
        for (k, x) in o {
            match properties.iter().find(|(name, _)| name == k) {
                Some((_, s)) => fits(doc, s, x).map_err(|e| format!("{k}: {e}"))?,
                None => match &others {
                    Some(s) => fits(doc, s, x).map_err(|e| format!("{k}: {e}"))?,
                    None => return Err(format!("'{k}' is not documented")),
                },
            }
        }
    }
    Ok(())
}

/// An object schema's properties, required members and the schema of
/// other members (None: no others), its `allOf` parts merged.
type ObjectParts = (Vec<(String, Value)>, Vec<String>, Option<Value>);

fn object_parts(doc: &Value, schema: &Value) -> ObjectParts {
    if let Some(r) = schema["$ref"].as_str() {
        return object_parts(doc, doc.pointer(&r[1..]).unwrap());
    }
    let mut parts: ObjectParts = (Vec::new(), Vec::new(), None);
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let (p, r, o) = object_parts(doc, part);
        parts.0.extend(p);
        parts.1.extend(r);
        parts.2 = parts.2.or(o);
    }
    if let Some(p) = schema["properties"].as_object() {
        parts
            .0
            .extend(p.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if let Some(r) = schema["required"].as_array() {
        parts
            .1
            .extend(r.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    match schema.get("additionalProperties") {
        Some(Value::Bool(false)) => {}
        Some(s) => parts.2 = Some(s.clone()),
        None if schema.get("properties").is_none() && schema.get("allOf").is_none() => {
            parts.2 = Some(json!({}));
        }
        None => {}
    }
    parts
}

fn is_a(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

both!(what_the_api_takes_and_answers_fits_the_document);
async fn what_the_api_takes_and_answers_fits_the_document(app: &TestApp) {
    let root = admin(app, "root@example.com").await;
    let api = Documented {
        app,
        doc: document(app).await,
        admin: &root,
    };
    api.call("get", "/me", "/me", None).await;
    let user = api
        .call(
            "post",
            "/users",
            "/users",
            Some(json!({"fullName": "Pat Doe", "email": "pat@example.com"})),
        )
        .await;
    let u = user["id"].as_str().unwrap().to_owned();
    let at = |rest: &str| format!("/users/{u}{rest}");
    api.call("get", "/users", "/users?limit=10&sort=-created", None)
        .await;
    api.call("get", "/users/{id}", &at(""), None).await;
    let (status, _) = api
        .answer("get", "/users/{id}", "/users/not-an-id", None)
        .await;
    assert_eq!(status, 404);
    let grant = json!({"permissions": ["GOVERNANCE", "AUDIT"]});
    let t = "/users/{id}/permissions";
    api.call("post", t, &at("/permissions"), Some(grant)).await;
    let t = "/users/{id}/permissions/{name}";
    api.call("delete", t, &at("/permissions/AUDIT"), None).await;
    let ops = json!({"operations": [
        {"op": "add", "name": "team", "values": ["blue"]},
        {"op": "remove", "name": "floor"},
    ]});
    let t = "/users/{id}/attributes";
    api.call("patch", t, &at("/attributes"), Some(ops.clone()))
        .await;
    let subscription =
        json!({"dataSource": "sales_eu", "role": "owner", "expires": "2999-01-01T00:00:00Z"});
    let t = "/users/{id}/subscriptions";
    let sub = api
        .call("post", t, &at("/subscriptions"), Some(subscription))
        .await;
    api.call("get", t, &at("/subscriptions"), None).await;
    api.call("get", "/users/{id}/report", &at("/report"), None)
        .await;
    let t = "/users/{id}/subscriptions/{subscriptionId}";
    let sub = format!("/subscriptions/{}", sub["id"].as_str().unwrap());
    api.call("delete", t, &at(&sub), None).await;
    api.call("post", "/users/{id}/disable", &at("/disable"), None)
        .await;
    api.call("post", "/users/{id}/enable", &at("/enable"), None)
        .await;
    let t = "/users/{id}/revoke-sessions";
    api.call("post", t, &at("/revoke-sessions"), None).await;

    let group = api
        .call(
            "post",
            "/groups",
            "/groups",
            Some(json!({"displayName": "Ops"})),
        )
        .await;
    let g = group["id"].as_str().unwrap().to_owned();
    api.call("get", "/groups", "/groups?iam=bim&offset=0", None)
        .await;
    let t = "/groups/{id}/members";
    let members = format!("/groups/{g}/members");
    api.call("post", t, &members, Some(json!({"members": [u]})))
        .await;
    api.call("get", t, &members, None).await;
    let t = "/groups/{id}/attributes";
    let attributes = format!("/groups/{g}/attributes");
    api.call("patch", t, &attributes, Some(ops)).await;
    api.call("get", t, &attributes, None).await;
    let t = "/groups/{id}/members/{member}";
    api.call("delete", t, &format!("{members}/{u}"), None).await;

    let iam = json!({"name": "idp2", "displayName": "IdP 2"});
    api.call("post", "/iams", "/iams", Some(iam)).await;
    api.call("get", "/iams", "/iams", None).await;
    let settings = json!({
        "defaultPermissions": [],
        "deleteMode": "delete",
        "attributeMapping": {"title": "title"},
        "groupPermissions": {"Admins": ["GOVERNANCE"]},
        "rateLimit": {"perSecond": 5, "burst": 10},
        "rolesDialect": "okta",
        "permissionsSource": "idp",
        "idpGrantable": ["AUDIT"],
    });
    let t = "/iams/{name}/settings";
    api.call("put", t, "/iams/idp2/settings", Some(settings))
        .await;
    let t = "/iams/{name}/tokens";
    let token = api
        .call("post", t, "/iams/idp2/tokens", Some(json!({"label": "ci"})))
        .await;
    let token = format!("/tokens/{}", token["id"].as_str().unwrap());
    api.call("delete", "/tokens/{id}", &token, None).await;
    let to = json!({"iam": "idp2", "userName": "pat@idp2.example"});
    api.call("post", "/users/{id}/migrate", &at("/migrate"), Some(to))
        .await;

    api.call("get", "/permissions", "/permissions", None).await;
    let custom = json!({"name": "VIEW_BILLING", "description": "Billing, read only"});
    api.call("post", "/permissions", "/permissions", Some(custom))
        .await;
    let role = json!({"name": "billing", "description": "Bills", "permissions": ["VIEW_BILLING"]});
    api.call("post", "/roles", "/roles", Some(role)).await;
    api.call("get", "/roles", "/roles", None).await;
    api.call("get", "/roles/{name}", "/roles/billing", None)
        .await;
    let role = json!({"permissions": ["VIEW_BILLING", "AUDIT"], "roles": []});
    api.call("put", "/roles/{name}", "/roles/billing", Some(role))
        .await;
    let held = json!({"roles": ["billing"]});
    api.call("post", "/users/{id}/roles", &at("/roles"), Some(held))
        .await;
    let t = "/users/{id}/roles/{name}";
    api.call("delete", t, &at("/roles/billing"), None).await;
    api.call("delete", "/roles/{name}", "/roles/billing", None)
        .await;
    let grant = json!({"permissions": ["AUDIT"]});
    let own = format!("/users/{}/permissions", root.id);
    api.call("post", "/users/{id}/permissions", &own, Some(grant))
        .await;
    api.call("get", "/audit", "/audit?limit=5", None).await;
    api.call("get", "/metrics", "/metrics?days=2", None).await;
    let events = json!({"events": [{"name": "project.created", "count": 2}]});
    api.call("post", "/metrics/events", "/metrics/events", Some(events))
        .await;
    governance(&api, &u, &own).await;
    api.call("delete", "/users/{id}", &at("?confirm=Delete"), None)
        .await;
}

/// Every governance operation, as a governor (the caller, once it holds
/// GOVERNANCE) makes it; `u` an account, `own` the caller's permissions.
async fn governance(api: &Documented<'_>, u: &str, own: &str) {
    let grant = json!({"permissions": ["GOVERNANCE"]});
    api.call("post", "/users/{id}/permissions", own, Some(grant))
        .await;
    let tag = json!({"name": "Environment.Dev", "description": "Development"});
    api.call("post", "/tags", "/tags", Some(tag)).await;
    api.call("get", "/tags", "/tags?search=env&limit=5", None)
        .await;
    let source = json!({
        "name": "sales",
        "tags": ["Environment.Dev"],
        "columns": [{"name": "email", "tags": ["Environment"]}, {"name": "amount"}],
        "owners": [u],
    });
    let source = api
        .call("post", "/data-sources", "/data-sources", Some(source))
        .await;
    let id = source["id"].as_str().unwrap().to_owned();
    let d = format!("/data-sources/{id}");
    api.call("get", "/data-sources", "/data-sources?limit=5", None)
        .await;
    api.call("get", "/data-sources/{id}", &d, None).await;
    let tags = json!({"tags": ["Environment"]});
    let t = "/data-sources/{id}/tags";
    api.call("post", t, &format!("{d}/tags"), Some(tags)).await;
    let t = "/data-sources/{id}/tags/{tag}";
    api.call("delete", t, &format!("{d}/tags/Environment"), None)
        .await;
    let required = json!({
        "policyKey": "dev-only", "name": "Dev data only", "staged": false,
        "circumstanceOperator": "any",
        "circumstances": [{"type": "tags", "tag": "Environment.Dev"}, {"type": "noTags"}],
        "actions": {"type": "entitlements",
                    "entitlements": {"operator": "all", "groups": ["Engineers"],
                                     "attributes": [{"name": "Environment", "value": "Dev"}]},
                    "approvals": [{"requiredPermission": "GOVERNANCE"}],
                    "automaticSubscription": true, "shareResponsibility": false},
    });
    api.call("post", "/policies", "/policies", Some(required))
        .await;
    let shared = json!({
        "policyKey": "shared", "name": "Shared",
        "circumstances": [{"type": "columnTags", "tag": "Environment"}],
        "actions": {"type": "entitlements", "shareResponsibility": true,
                    "advanced": "@hasTagAsAttribute('Environment', 'dataSource') OR NOT @isInGroups('Ops')"},
    });
    api.call("post", "/policies", "/policies", Some(shared))
        .await;
    api.call("get", "/policies", "/policies", None).await;
    api.call("get", "/jobs", "/jobs?state=running&limit=5", None)
        .await;
    let t = "/policies/{policyKey}";
    let read = api.call("get", t, "/policies/dev-only", None).await;
    api.call("put", t, "/policies/dev-only", Some(read)).await;
    let ask = json!({"userId": u, "dataSource": {"id": id}});
    let t = "/policy/evaluate";
    api.call("post", t, t, Some(ask)).await;
    let ask = json!({"userId": u, "dataSource": {"tags": ["Environment"], "columnTags": ["Environment.Dev"]}});
    api.call("post", t, t, Some(ask)).await;
    let t = "/users/{id}/subscriptions";
    let subscriptions = format!("/users/{u}/subscriptions");
    api.call("post", t, &subscriptions, Some(json!({"dataSourceId": id})))
        .await;
    api.call(
        "delete",
        "/policies/{policyKey}",
        "/policies/dev-only",
        None,
    )
    .await;
    api.call("delete", "/data-sources/{id}", &d, None).await;
    api.call("delete", "/tags/{name}", "/tags/Environment.Dev", None)
        .await;
}
