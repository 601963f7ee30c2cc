//! The export format: JSON lines, one record each, a SCIM resource document
//! (or a small record for what SCIM has no resource for) in an envelope
//! naming its type and IAM. Rendering here; parsing and validation in
//! `parse`. Times are RFC 3339 with every stored digit, so a record read
//! back compares equal to the row it came from.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::directory::etag;
use crate::scim::schema::{BRIDGE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use crate::store::accounts::{LinkedSubscription, PermissionDef};
use crate::store::governance::{DataSource, StoredPolicy, Tag};
use crate::store::transfer::{
    AttributeValue, GroupRecord, IamRecord, MembershipRecord, UserRecord,
};

/// Where a group's managed attributes go in its document (no SCIM schema
/// serves them; the export keeps them beside the group they belong to).
pub const BRIDGE_GROUP_KEY: &str = "urn:scim-bridge:schemas:extension:bridge:2.0:Group";

/// The format's version, on the first line of an export (`{"type":
/// "Format", "version": 2}`). 1: a file without that line (before
/// governance: no `Tag`, `Policy` or `DataSource` lines, subscriptions
/// without `source`). 2: those added. An import reads every version up to
/// this one and refuses a later one.
pub const FORMAT_VERSION: u64 = 2;

pub fn format_line() -> Value {
    json!({"type": "Format", "version": FORMAT_VERSION})
}

/// Members per `Members` line: a group of a million members is a thousand
/// lines, never one line of a million.
pub const MEMBERS_PER_LINE: usize = 1000;

pub fn time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn attributes(list: &[AttributeValue]) -> Value {
    list.iter()
        .map(|a| json!({"name": a.key, "value": a.value, "added": time(a.added)}))
        .collect()
}

fn meta(resource_type: &str, created: OffsetDateTime, modified: OffsetDateTime, v: i64) -> Value {
    json!({
        "resourceType": resource_type,
        "created": time(created),
        "lastModified": time(modified),
        "version": etag(v),
    })
}

/// The stored document with `id`, `meta` and `schemas` as SCIM shows them.
fn resource(doc: &Value, id: Uuid, schema: &str, meta: Value) -> Map<String, Value> {
    let mut obj = doc.as_object().cloned().unwrap_or_default();
    obj.insert("id".into(), Value::String(id.to_string()));
    if !obj.contains_key("schemas") {
        obj.insert("schemas".into(), json!([schema]));
    }
    obj.insert("meta".into(), meta);
    obj
}

pub fn iam_line(r: &IamRecord) -> Value {
    json!({"type": "Iam", "resource": {
        "id": r.id.to_string(),
        "name": r.name,
        "displayName": r.display_name,
        "created": time(r.created),
        "settings": r.settings,
        "schemaExtensions": r.schema_extensions,
    }})
}

pub fn permission_line(p: &PermissionDef) -> Value {
    json!({"type": "Permission", "resource": {"name": p.name, "description": p.description}})
}

/// `iam_name` names an IAM id by its name (IAM ids differ between
/// databases; names do not).
pub fn user_line(r: &UserRecord, iam_name: &dyn Fn(Uuid) -> Option<String>) -> Value {
    let mut obj = resource(
        &r.doc,
        r.id,
        USER_SCHEMA,
        meta("User", r.created, r.last_modified, r.version),
    );
    // What roles and identity providers grant follows them (roles are
    // not exported yet); only what was granted here travels.
    let grants: Vec<Value> = r
        .grants
        .iter()
        .filter(|g| {
            g.source == crate::store::accounts::SOURCE_DIRECT
                || g.source == crate::store::accounts::SOURCE_IAM_DEFAULT
        })
        .map(|g| json!({"value": g.permission, "source": g.source, "granted": time(g.granted)}))
        .collect();
    obj.insert(
        BRIDGE_USER_SCHEMA.into(),
        json!({"permissions": grants, "attributes": attributes(&r.attributes), "disabled": r.disabled}),
    );
    let mut line = json!({"type": "User", "iam": r.iam.and_then(iam_name)});
    if let Some(at) = r.deprovisioned {
        line["deprovisioned"] = json!({
            "at": time(at),
            "from": r.deprovisioned_from.and_then(iam_name),
        });
    }
    line["resource"] = Value::Object(obj);
    line
}

pub fn group_line(r: &GroupRecord, iam: Option<String>) -> Value {
    let mut obj = resource(
        &r.doc,
        r.id,
        GROUP_SCHEMA,
        meta("Group", r.created, r.last_modified, r.version),
    );
    if !r.attributes.is_empty() {
        obj.insert(
            BRIDGE_GROUP_KEY.into(),
            json!({"attributes": attributes(&r.attributes)}),
        );
    }
    json!({"type": "Group", "iam": iam, "resource": obj})
}

/// Members of one group (consecutive rows of the export's membership
/// order), as the group's `members` with the date each joined.
pub fn members_line(group: Uuid, rows: &[MembershipRecord]) -> Value {
    let members: Vec<Value> = rows
        .iter()
        .map(|m| json!({"value": m.member.to_string(), "type": m.kind.as_str(), "added": time(m.added)}))
        .collect();
    json!({"type": "Members", "resource": {"id": group.to_string(), "members": members}})
}

pub fn subscription_line(linked: &LinkedSubscription) -> Value {
    let s = &linked.subscription;
    json!({"type": "Subscription", "resource": {
        "id": s.id.to_string(),
        "userId": s.user_id.to_string(),
        "dataSource": s.data_source,
        "dataSourceId": linked.data_source_id.map(|d| d.to_string()),
        "source": linked.source,
        "role": s.role,
        "subscribed": time(s.subscribed),
        "expires": s.expires.map(time),
    }})
}

/// A tag, deleted or not (its parent is its name's).
pub fn tag_line(t: &Tag) -> Value {
    json!({"type": "Tag", "resource": {
        "id": t.id.to_string(),
        "name": t.name,
        "description": t.description,
        "created": time(t.created),
        "deleted": t.deleted.map(time),
    }})
}

/// A policy: its canonical document, as `GET /policies/{key}` shows it.
pub fn policy_line(p: &StoredPolicy) -> Value {
    json!({"type": "Policy", "resource": {
        "id": p.id.to_string(),
        "document": p.document,
        "created": time(p.created),
        "updated": time(p.updated),
    }})
}

pub fn data_source_line(s: &DataSource) -> Value {
    let columns: Vec<Value> = s
        .columns
        .iter()
        .map(|c| json!({"name": c.name, "tags": c.tags}))
        .collect();
    json!({"type": "DataSource", "resource": {
        "id": s.id.to_string(),
        "name": s.name,
        "tags": s.tags,
        "columns": columns,
        "owners": s.owners,
        "created": time(s.created),
    }})
}
