use serde_json::json;

use super::*;

fn req(ops: Value) -> Value {
    json!({ "schemas": [BULK_REQUEST_SCHEMA], "Operations": ops })
}

fn parse(ops: Value) -> Result<BulkRequest, ScimError> {
    BulkRequest::parse(&req(ops), 10)
}

fn post(bulk_id: &str, data: Value) -> Value {
    json!({ "method": "POST", "path": "/Users", "bulkId": bulk_id, "data": data })
}

#[test]
fn parses_methods_case_insensitively_and_collects_references() {
    let r = parse(json!([
        post("u1", json!({ "userName": "a" })),
        { "method": "patch", "path": "/groups/bulkId:g1", "version": "W/\"3\"",
          "data": { "Operations": [{ "op": "add", "path": "members",
                    "value": [{ "value": "bulkId:u1" }] }] } },
        { "method": "Delete", "path": "/Users/abc/" },
    ]))
    .unwrap();
    assert_eq!(r.fail_on_errors, None);
    let ops = &r.operations;
    assert_eq!(ops[0].method, Method::Post);
    assert_eq!(ops[0].target, None);
    assert_eq!(ops[1].method, Method::Patch);
    assert_eq!(ops[1].endpoint, Endpoint::Groups);
    assert_eq!(ops[1].target.as_deref(), Some("bulkId:g1"));
    assert_eq!(
        ops[1].refs.iter().cloned().collect::<Vec<_>>(),
        ["g1", "u1"]
    );
    assert_eq!(ops[1].version.as_deref(), Some("W/\"3\""));
    assert_eq!(ops[2].method, Method::Delete);
    assert_eq!(ops[2].target.as_deref(), Some("abc"));
    assert_eq!(ops[2].data, Value::Null);
}

#[test]
fn refuses_malformed_requests() {
    let cases = [
        json!({ "Operations": [] }),
        json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [] }),
        json!({ "schemas": [BULK_REQUEST_SCHEMA] }),
        json!({ "schemas": [BULK_REQUEST_SCHEMA], "Operations": {} }),
        json!({ "schemas": [BULK_REQUEST_SCHEMA], "Operations": [], "failOnErrors": 0 }),
        json!({ "schemas": [BULK_REQUEST_SCHEMA], "Operations": [], "failOnErrors": "x" }),
        req(json!([{ "method": "GET", "path": "/Users/x" }])),
        req(json!([{ "method": "POST", "path": "/Users/x", "bulkId": "a", "data": {} }])),
        req(json!([{ "method": "POST", "path": "/Users", "data": {} }])),
        req(json!([{ "method": "POST", "path": "/Users", "bulkId": "", "data": {} }])),
        req(json!([{ "method": "POST", "path": "/Me", "bulkId": "a", "data": {} }])),
        req(json!([{ "method": "PUT", "path": "/Users", "data": {} }])),
        req(json!([{ "method": "PUT", "path": "/Users/x/y", "data": {} }])),
        req(json!([{ "method": "PUT", "path": "/Users/x" }])),
        req(json!([{ "method": "PATCH", "path": "/Users/x", "data": [] }])),
        req(json!([{ "path": "/Users/x" }])),
        req(json!([{ "method": "DELETE" }])),
        req(json!([post("a", json!({})), post("a", json!({}))])),
        req(json!(["DELETE /Users/x"])),
    ];
    for c in cases {
        let e = BulkRequest::parse(&c, 10).unwrap_err();
        assert_eq!(e.status, 400, "{c}");
        assert!(
            matches!(
                e.scim_type,
                Some(ScimType::InvalidSyntax | ScimType::InvalidValue)
            ),
            "{c}"
        );
    }
}

#[test]
fn too_many_operations_is_413_too_many() {
    let ops: Vec<Value> = (0..11).map(|i| post(&i.to_string(), json!({}))).collect();
    let e = parse(json!(ops)).unwrap_err();
    assert_eq!((e.status, e.scim_type), (413, Some(ScimType::TooMany)));
    let ops: Vec<Value> = (0..10).map(|i| post(&i.to_string(), json!({}))).collect();
    assert_eq!(parse(json!(ops)).unwrap().operations.len(), 10);
}

#[test]
fn plan_keeps_request_order_and_runs_references_first() {
    let r = parse(json!([
        { "method": "POST", "path": "/Groups", "bulkId": "g",
          "data": { "displayName": "G", "members": [{ "value": "bulkId:u2" }, { "value": "bulkId:u1" }] } },
        { "method": "DELETE", "path": "/Users/x" },
        post("u1", json!({ "userName": "a" })),
        post("u2", json!({ "userName": "b", "manager": { "value": "bulkId:u1" } })),
        { "method": "DELETE", "path": "/Users/bulkId:nobody" },
    ]))
    .unwrap();
    let p = plan(&r.operations);
    assert_eq!(p.order, [1, 2, 3, 0, 4]);
    assert!(p.cyclic.is_empty());
}

#[test]
fn plan_sets_cycles_and_their_dependents_apart() {
    let group = |id: &str, member: &str| {
        json!({ "method": "POST", "path": "/Groups", "bulkId": id,
                "data": { "displayName": id, "members": [{ "value": format!("bulkId:{member}") }] } })
    };
    let r = parse(json!([
        group("a", "b"),
        group("b", "a"),
        post("self", json!({ "userName": "bulkId:self" })),
        group("c", "a"),
        post("free", json!({ "userName": "free" })),
    ]))
    .unwrap();
    let p = plan(&r.operations);
    assert_eq!(p.order, [4]);
    assert_eq!(p.cyclic, [0, 1, 2, 3]);
}

#[test]
fn a_long_chain_of_references_plans_without_recursion() {
    let n = 5000;
    let mut ops = vec![post("0", json!({ "userName": "u0" }))];
    for i in 1..n {
        ops.push(post(
            &i.to_string(),
            json!({ "userName": format!("u{i}"), "manager": { "value": format!("bulkId:{}", i - 1) } }),
        ));
    }
    ops.reverse();
    let r = BulkRequest::parse(&req(json!(ops)), n).unwrap();
    let p = plan(&r.operations);
    assert_eq!(p.order, (0..n).rev().collect::<Vec<_>>());
}

#[test]
fn substitutes_every_reference() {
    let ids = HashMap::from([("u1".to_owned(), "id-1".to_owned())]);
    let v =
        json!({ "members": [{ "value": "bulkId:u1" }, { "value": "x" }], "manager": "bulkId:u1" });
    assert_eq!(
        substitute(&v, &ids).unwrap(),
        json!({ "members": [{ "value": "id-1" }, { "value": "x" }], "manager": "id-1" })
    );
    assert_eq!(substitute(&json!(["bulkId:u2"]), &ids).unwrap_err(), "u2");
}

#[test]
fn versions_parse_as_if_match() {
    assert_eq!(parse_version("W/\"3\""), Ok(Some(3)));
    assert_eq!(parse_version("\"4\""), Ok(Some(4)));
    assert_eq!(parse_version("*"), Ok(None));
    assert_eq!(parse_version("abc").unwrap_err().status, 412);
}

#[test]
fn response_lists_results_in_request_order_with_string_statuses() {
    let ok = OpResult {
        index: 1,
        method: Method::Post,
        bulk_id: Some("u".into()),
        version: Some("W/\"1\"".into()),
        location: Some("https://h/scim/v2/Users/1".into()),
        status: 201,
        error: None,
    };
    let failed = OpResult {
        index: 0,
        method: Method::Put,
        bulk_id: None,
        version: None,
        location: None,
        status: 412,
        error: Some(ScimError::new(412, None, "changed")),
    };
    let doc = response_doc(&[ok, failed]);
    assert_eq!(
        doc,
        json!({
            "schemas": [BULK_RESPONSE_SCHEMA],
            "Operations": [
                { "method": "PUT", "status": "412",
                  "response": { "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                                "status": "412", "detail": "changed" } },
                { "method": "POST", "bulkId": "u", "status": "201", "version": "W/\"1\"",
                  "location": "https://h/scim/v2/Users/1" },
            ]
        })
    );
}
