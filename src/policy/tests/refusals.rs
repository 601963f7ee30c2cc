//! Policy documents that are refused, each error naming its field.

use serde_json::{Value, json};

use super::model::{refused, valid};

/// `valid()` with one change at a JSON pointer (`None` removes).
fn with(pointer: &str, value: Option<Value>) -> Value {
    let mut v = valid();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = v.pointer_mut(parent).unwrap();
    match (target, value) {
        (Value::Object(m), Some(x)) => drop(m.insert(key.into(), x)),
        (Value::Object(m), None) => drop(m.remove(key)),
        (Value::Array(a), Some(x)) => a[key.parse::<usize>().unwrap()] = x,
        (t, _) => panic!("{t}"),
    }
    v
}

#[test]
fn each_error_names_its_field() {
    let long_key = "k".repeat(65);
    let many: Vec<Value> = (0..101).map(|_| json!({"type": "all"})).collect();
    for (doc, path, message) in [
        (json!([]), "", "must be a JSON object"),
        (
            with("/shareResponsibilty", Some(json!(true))),
            "shareResponsibilty",
            "unknown field; expected one of policyKey, name, staged, circumstanceOperator, circumstances, actions",
        ),
        (
            with("/actions/shareResponsibilty", Some(json!(true))),
            "actions.shareResponsibilty",
            "unknown field",
        ),
        (
            with("/circumstances/0/tags", Some(json!("A"))),
            "circumstances[0].tags",
            "unknown field; expected one of type, tag",
        ),
        (
            with(
                "/actions/entitlements/attributes/0/values",
                Some(json!(["x"])),
            ),
            "actions.entitlements.attributes[0].values",
            "unknown field",
        ),
        (with("/policyKey", None), "policyKey", "is required"),
        (
            with("/policyKey", Some(json!(7))),
            "policyKey",
            "must be a string",
        ),
        (
            with("/policyKey", Some(json!("Dev-Only"))),
            "policyKey",
            "is 1 to 64 characters of a-z, 0-9, '-' and '_'",
        ),
        (
            with("/policyKey", Some(json!(""))),
            "policyKey",
            "is 1 to 64",
        ),
        (
            with("/policyKey", Some(json!("-dev"))),
            "policyKey",
            "starting with a letter or digit",
        ),
        (
            with("/policyKey", Some(json!("dev/only"))),
            "policyKey",
            "is 1 to 64",
        ),
        (
            with("/policyKey", Some(json!(long_key))),
            "policyKey",
            "is 1 to 64",
        ),
        (with("/name", None), "name", "is required"),
        (
            with("/name", Some(json!("  "))),
            "name",
            "a policy name is 1 to 256 printable characters",
        ),
        (with("/name", Some(json!("a\u{7}"))), "name", "printable"),
        (
            with("/staged", Some(json!("yes"))),
            "staged",
            "must be true or false",
        ),
        (
            with("/circumstanceOperator", Some(json!("some"))),
            "circumstanceOperator",
            "unknown value 'some'; expected one of any, all",
        ),
        (with("/circumstances", None), "circumstances", "is required"),
        (
            with("/circumstances", Some(json!([]))),
            "circumstances",
            "holds at least one circumstance",
        ),
        (
            with("/circumstances", Some(json!({"type": "all"}))),
            "circumstances",
            "must be an array",
        ),
        (
            with("/circumstances", Some(json!(many))),
            "circumstances",
            "holds at most 100 items",
        ),
        (
            with("/circumstances/0", Some(json!("Environment.Dev"))),
            "circumstances[0]",
            "must be a JSON object",
        ),
        (
            with("/circumstances/0/type", Some(json!("tag"))),
            "circumstances[0].type",
            "unknown value 'tag'; expected one of tags, columnTags, anyTag, noTags, all",
        ),
        (
            with("/circumstances/0/type", None),
            "circumstances[0].type",
            "is required",
        ),
        (
            with("/circumstances/0/tag", Some(json!(["Environment.Dev"]))),
            "circumstances[0].tag",
            "must be a string",
        ),
        (
            with("/circumstances/0/tag", None),
            "circumstances[0].tag",
            "a tags circumstance names a tag",
        ),
        (
            with("/circumstances/0/tag", Some(json!("Environment..Dev"))),
            "circumstances[0].tag",
            "levels separated by single dots",
        ),
        (
            with(
                "/circumstances/0",
                Some(json!({"type": "anyTag", "tag": "A"})),
            ),
            "circumstances[0].tag",
            "only a tags or columnTags circumstance names a tag, not anyTag",
        ),
        (with("/actions", None), "actions", "is required"),
        (with("/actions/type", None), "actions.type", "is required"),
        (
            with("/actions/type", Some(json!("everyone"))),
            "actions.type",
            "unknown value 'everyone'; expected one of anyone, approval, entitlements, manual",
        ),
        (
            with("/actions/entitlements", None),
            "actions",
            "an entitlements policy needs entitlements or advanced",
        ),
        (
            with("/actions/advanced", Some(json!(["@isInGroups('a')"]))),
            "actions.advanced",
            "must be a string",
        ),
        (
            with("/actions/type", Some(json!("anyone"))),
            "actions.entitlements",
            "only a policy of type entitlements has entitlements (this one is of type anyone)",
        ),
        (
            json!({"policyKey": "a", "name": "A", "circumstances": [{"type": "all"}], "actions": {"type": "anyone", "approvals": [{"requiredPermission": "GOVERNANCE"}]}}),
            "actions.approvals",
            "only a policy of type approval or entitlements has approvals (this one is of type anyone)",
        ),
        (
            with("/actions/approvals", Some(json!([]))),
            "actions.approvals",
            "names at least one approver permission, or is left out",
        ),
        (
            json!({"policyKey": "a", "name": "A", "circumstances": [{"type": "all"}], "actions": {"type": "approval"}}),
            "actions.approvals",
            "an approval policy names at least one approver permission",
        ),
        (
            json!({"policyKey": "a", "name": "A", "circumstances": [{"type": "all"}], "actions": {"type": "approval", "approvals": []}}),
            "actions.approvals",
            "names at least one approver permission",
        ),
        (
            json!({"policyKey": "a", "name": "A", "circumstances": [{"type": "all"}], "actions": {"type": "approval", "approvals": [{"requiredPermission": "governance"}]}}),
            "actions.approvals[0].requiredPermission",
            "a permission name is 1 to 64 characters",
        ),
        (
            json!({"policyKey": "a", "name": "A", "circumstances": [{"type": "all"}], "actions": {"type": "manual", "automaticSubscription": true}}),
            "actions.automaticSubscription",
            "a policy of type manual cannot subscribe accounts automatically",
        ),
        (
            with("/actions/automaticSubscription", Some(json!(1))),
            "actions.automaticSubscription",
            "must be true or false",
        ),
        (
            with("/actions/entitlements", Some(json!({"operator": "all"}))),
            "actions.entitlements",
            "names at least one group or attribute value",
        ),
        (
            with(
                "/actions/entitlements",
                Some(json!({"groups": [], "attributes": []})),
            ),
            "actions.entitlements",
            "names at least one group or attribute value",
        ),
        (
            with("/actions/entitlements/operator", Some(json!("none"))),
            "actions.entitlements.operator",
            "unknown value 'none'",
        ),
        (
            with(
                "/actions/entitlements/groups",
                Some(json!(["Engineers", 3])),
            ),
            "actions.entitlements.groups[1]",
            "must be a string",
        ),
        (
            with("/actions/entitlements/groups", Some(json!([""]))),
            "actions.entitlements.groups[0]",
            "a group name is 1 to 256",
        ),
        (
            with("/actions/entitlements/attributes/0/value", None),
            "actions.entitlements.attributes[0].value",
            "is required",
        ),
    ] {
        let e = refused(&doc);
        assert_eq!(e.path(), path, "{doc}: {e}");
        assert!(e.to_string().contains(message), "{doc}: {e}");
        let expected_prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}: ")
        };
        assert!(e.to_string().starts_with(&expected_prefix), "{e}");
    }
}
