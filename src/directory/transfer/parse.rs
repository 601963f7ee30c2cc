//! Reading one line of an export back: validates it as the same write over
//! SCIM or the admin API would (the SCIM schema for documents, the
//! catalogue for permissions, the attribute rules) and turns it into the
//! store's import items. A bad line yields a reason an operator can act on.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::lines::{BRIDGE_GROUP_KEY, FORMAT_VERSION};
use crate::directory::Directory;
use crate::directory::accounts::{IamSettings, check_attribute_text, check_permission_name};
use crate::directory::governance::{columns, tag_description, tag_list};
use crate::ids::DataSourceId;
use crate::policy::Policy;
use crate::policy::tags::check_tag;
use crate::scim::schema::BRIDGE_USER_SCHEMA;
use crate::scim::schema::custom::{self, ResourceTypes};
use crate::store::MemberKind;
use crate::store::accounts::{
    Grant, LinkedSubscription, PermissionDef, SOURCE_DIRECT, SOURCE_IAM_DEFAULT, Subscription,
};
use crate::store::governance::{DataSource, StoredPolicy, Tag};
use crate::store::transfer::{
    AttributeValue, GroupRecord, IamRecord, ImportItem, MembershipRecord, UserRecord,
    canonical_order,
};

/// What lines name by name, as far as the import has read: IAMs (by name:
/// the database's own id, or the file's for one it will create) and the
/// permission catalogue.
#[derive(Debug, Default)]
pub struct Names {
    pub iams: HashMap<String, Uuid>,
    /// Each IAM's resource types, as its Iam line declares them.
    pub types: HashMap<Uuid, ResourceTypes>,
    pub permissions: HashSet<String>,
}

/// A line's record type, as the summary counts it.
pub type Kind = &'static str;

type Parsed = std::result::Result<(Kind, Vec<ImportItem>), String>;

/// The type a line says it is, for counting a refused one.
pub fn kind_of(line: &str) -> Kind {
    let v: Option<Value> = serde_json::from_str(line).ok();
    match v
        .as_ref()
        .and_then(|v| v.get("type"))
        .and_then(Value::as_str)
    {
        Some("Iam") => "Iam",
        Some("Permission") => "Permission",
        Some("User") => "User",
        Some("Group") => "Group",
        Some("Members") => "Membership",
        Some("Subscription") => "Subscription",
        Some("Tag") => "Tag",
        Some("Policy") => "Policy",
        Some("DataSource") => "DataSource",
        Some("Format") => "Format",
        _ => "(unreadable)",
    }
}

fn text<'a>(obj: &'a Map<String, Value>, key: &str) -> std::result::Result<&'a str, String> {
    obj.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("'{key}' must be a string"))
}

fn uuid(obj: &Map<String, Value>, key: &str) -> std::result::Result<Uuid, String> {
    Uuid::parse_str(text(obj, key)?).map_err(|_| format!("'{key}' must be a UUID"))
}

/// An RFC 3339 time, or `default` when absent.
fn when(
    obj: &Map<String, Value>,
    key: &str,
    default: Option<OffsetDateTime>,
) -> std::result::Result<OffsetDateTime, String> {
    match (obj.get(key), default) {
        (None | Some(Value::Null), Some(d)) => Ok(d),
        (Some(Value::String(s)), _) => OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|_| format!("'{key}' must be an RFC 3339 date-time")),
        _ => Err(format!("'{key}' must be an RFC 3339 date-time")),
    }
}

fn object<'a>(
    v: Option<&'a Value>,
    what: &str,
) -> std::result::Result<&'a Map<String, Value>, String> {
    v.and_then(Value::as_object)
        .ok_or_else(|| format!("'{what}' must be an object"))
}

fn array<'a>(obj: &'a Map<String, Value>, key: &str) -> std::result::Result<&'a [Value], String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(format!("'{key}' must be an array")),
    }
}

/// Removes a key matched case-insensitively (SCIM names and URNs are).
fn take(obj: &mut Map<String, Value>, key: &str) -> Option<Value> {
    let found = obj.keys().find(|k| k.eq_ignore_ascii_case(key))?.clone();
    obj.remove(&found)
}

/// `meta` of a resource: created, lastModified, version (`W/"n"`).
fn meta(
    meta: Option<Value>,
    now: OffsetDateTime,
) -> std::result::Result<(OffsetDateTime, OffsetDateTime, i64), String> {
    let Some(Value::Object(m)) = meta else {
        return Ok((now, now, 1));
    };
    let created = when(&m, "created", Some(now))?;
    let modified = when(&m, "lastModified", Some(created))?;
    let version = match m.get("version") {
        None | Some(Value::Null) => 1,
        Some(Value::String(s)) => s
            .trim_start_matches("W/")
            .trim_matches('"')
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 1)
            .ok_or_else(|| "'meta.version' must be W/\"<n>\" with n ≥ 1".to_owned())?,
        Some(_) => return Err("'meta.version' must be a string".into()),
    };
    Ok((created, modified, version))
}

fn attribute_values(
    list: &[Value],
    now: OffsetDateTime,
) -> std::result::Result<Vec<AttributeValue>, String> {
    list.iter()
        .map(|a| {
            let a = object(Some(a), "attributes[]")?;
            let key = text(a, "name")?;
            let value = text(a, "value")?;
            check_attribute_text("key", key).map_err(|e| e.to_string())?;
            check_attribute_text("value", value).map_err(|e| e.to_string())?;
            Ok(AttributeValue {
                key: key.to_owned(),
                value: value.to_owned(),
                added: when(a, "added", Some(now))?,
            })
        })
        .collect()
}

impl Names {
    /// The resource types users and groups of `iam` are read with.
    fn types(&self, iam: Option<Uuid>) -> ResourceTypes {
        iam.and_then(|i| self.types.get(&i).copied())
            .unwrap_or_default()
    }

    fn iam(&self, name: &str) -> std::result::Result<Uuid, String> {
        self.iams
            .get(name)
            .copied()
            .ok_or_else(|| format!("unknown IAM '{name}' (its Iam line must come first)"))
    }
}

impl Directory {
    /// One line of an export as import items, or why it is refused.
    pub(super) async fn parse_line(&self, line: &str, names: &mut Names) -> Parsed {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let env = object(Some(&v), "the line")?;
        let kind = text(env, "type")?;
        if kind == "Format" {
            return parse_format(env);
        }
        let resource = object(env.get("resource"), "resource")?;
        let now = self.now();
        match kind {
            "Iam" => parse_iam(resource, names, now),
            "Permission" => parse_permission(resource, names),
            "User" => self.parse_user(env, resource.clone(), names, now).await,
            "Group" => parse_group(env, resource.clone(), names, now),
            "Members" => parse_members(resource, now),
            "Subscription" => parse_subscription(resource, now),
            "Tag" => parse_tag(resource, now),
            "Policy" => parse_policy(resource, now),
            "DataSource" => parse_data_source(resource, now),
            other => Err(format!(
                "unknown type '{}' (Format, Iam, Permission, Tag, Policy, User, Group, \
                 Members, DataSource, Subscription)",
                crate::directory::truncate(other)
            )),
        }
    }

    async fn parse_user(
        &self,
        env: &Map<String, Value>,
        mut obj: Map<String, Value>,
        names: &Names,
        now: OffsetDateTime,
    ) -> Parsed {
        let id = uuid(&obj, "id")?;
        let (created, last_modified, version) = meta(take(&mut obj, "meta"), now)?;
        let bridge = take(&mut obj, BRIDGE_USER_SCHEMA).unwrap_or(Value::Null);
        let empty = Map::new();
        let bridge = match &bridge {
            Value::Null => &empty,
            other => object(Some(other), BRIDGE_USER_SCHEMA)?,
        };
        let mut grants = Vec::new();
        for g in array(bridge, "permissions")? {
            let g = object(Some(g), "permissions[]")?;
            let name = text(g, "value")?;
            let source = text(g, "source")?;
            if source != SOURCE_DIRECT && source != SOURCE_IAM_DEFAULT {
                return Err(format!(
                    "a permission's source is '{SOURCE_DIRECT}' or '{SOURCE_IAM_DEFAULT}' \
                     (group permissions follow the groups), not '{}'",
                    crate::directory::truncate(source)
                ));
            }
            if !names.permissions.contains(name) {
                return Err(format!(
                    "permission {} is not in the catalogue (its Permission line must come first)",
                    crate::directory::truncate(name)
                ));
            }
            grants.push(Grant {
                permission: name.to_owned(),
                source: source.to_owned(),
                granted: when(g, "granted", Some(now))?,
            });
        }
        let mut attributes = attribute_values(array(bridge, "attributes")?, now)?;
        let disabled = match bridge.get("disabled") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("'disabled' must be a boolean".into()),
        };
        let iam = match env.get("iam") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(names.iam(name)?),
            Some(_) => return Err("'iam' must be an IAM's name or null".into()),
        };
        let (deprovisioned, deprovisioned_from) = match env.get("deprovisioned") {
            None | Some(Value::Null) => (None, None),
            Some(d) => {
                let d = object(Some(d), "deprovisioned")?;
                let from = match d.get("from") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(name)) => Some(names.iam(name)?),
                    Some(_) => return Err("'deprovisioned.from' must be an IAM's name".into()),
                };
                (Some(when(d, "at", None)?), from)
            }
        };
        if iam.is_none() && deprovisioned.is_none() {
            return Err("a user belongs to an IAM ('iam') unless it was deprovisioned".into());
        }
        let write = self
            .user_write(
                names.types(iam.or(deprovisioned_from)).user,
                &Value::Object(obj),
                true,
                crate::directory::users::Kept::None,
            )
            .await
            .map_err(|e| e.to_string())?;
        canonical_order(&mut grants, &mut attributes);
        let record = UserRecord {
            id,
            iam,
            deprovisioned_from,
            deprovisioned,
            doc: write.doc.clone(),
            disabled,
            created,
            last_modified,
            version,
            grants,
            attributes,
        };
        Ok(("User", vec![ImportItem::User(Box::new((record, write)))]))
    }
}

fn parse_iam(r: &Map<String, Value>, names: &mut Names, now: OffsetDateTime) -> Parsed {
    let id = uuid(r, "id")?;
    let name = text(r, "name")?;
    crate::directory::iams::validate_iam_name(name).map_err(|e| e.to_string())?;
    let display_name = match r.get("displayName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("'displayName' must be a string".into()),
    };
    let settings = r
        .get("settings")
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    serde_json::from_value::<IamSettings>(settings.clone())
        .map_err(|e| format!("'settings': {e}"))?;
    let declared = r.get("schemaExtensions").cloned().unwrap_or(json!([]));
    let schema_extensions = custom::parse(&json!({ "extensions": declared }))
        .map_err(|e| format!("'schemaExtensions': {}", e.detail))?;
    let types = ResourceTypes::of(&schema_extensions)
        .map_err(|e| format!("'schemaExtensions': {}", e.detail))?;
    let known = *names.iams.entry(name.to_owned()).or_insert(id);
    names.types.insert(known, types);
    let record = IamRecord {
        id,
        name: name.to_owned(),
        display_name,
        created: when(r, "created", Some(now))?,
        settings,
        schema_extensions,
    };
    Ok(("Iam", vec![ImportItem::Iam(record)]))
}

fn parse_permission(r: &Map<String, Value>, names: &mut Names) -> Parsed {
    let name = text(r, "name")?;
    check_permission_name(name).map_err(|e| e.to_string())?;
    let description = text(r, "description")?;
    if description.chars().count() > 512 {
        return Err("a description is at most 512 characters".into());
    }
    names.permissions.insert(name.to_owned());
    let def = PermissionDef {
        name: name.to_owned(),
        description: description.to_owned(),
        builtin: false,
    };
    Ok(("Permission", vec![ImportItem::Permission(def)]))
}

fn parse_group(
    env: &Map<String, Value>,
    mut obj: Map<String, Value>,
    names: &Names,
    now: OffsetDateTime,
) -> Parsed {
    let id = uuid(&obj, "id")?;
    let (created, last_modified, version) = meta(take(&mut obj, "meta"), now)?;
    let bridge = take(&mut obj, BRIDGE_GROUP_KEY).unwrap_or(Value::Null);
    let mut attributes = match &bridge {
        Value::Null => Vec::new(),
        other => attribute_values(
            array(object(Some(other), BRIDGE_GROUP_KEY)?, "attributes")?,
            now,
        )?,
    };
    if matches!(take(&mut obj, "members"), Some(Value::Array(m)) if !m.is_empty()) {
        return Err("a Group line carries no members: they go in Members lines".into());
    }
    let iam = match env.get("iam") {
        Some(Value::String(name)) => names.iam(name)?,
        _ => return Err("'iam' must name the group's IAM".into()),
    };
    let (write, _) = crate::directory::groups::group_write(
        names.types(Some(iam)).group,
        &Value::Object(obj),
        None,
    )
    .map_err(|e| e.to_string())?;
    canonical_order(&mut [], &mut attributes);
    let record = GroupRecord {
        id,
        iam,
        doc: write.doc.clone(),
        created,
        last_modified,
        version,
        attributes,
    };
    Ok(("Group", vec![ImportItem::Group(Box::new((record, write)))]))
}

fn parse_members(r: &Map<String, Value>, now: OffsetDateTime) -> Parsed {
    let group = uuid(r, "id")?;
    let mut items = Vec::new();
    for m in array(r, "members")? {
        let m = object(Some(m), "members[]")?;
        let kind = match m.get("type") {
            None | Some(Value::Null) => MemberKind::User,
            Some(Value::String(s)) => {
                MemberKind::parse(s).ok_or_else(|| "a member's type is User or Group".to_owned())?
            }
            Some(_) => return Err("a member's type is User or Group".into()),
        };
        items.push(ImportItem::Membership(MembershipRecord {
            group,
            member: uuid(m, "value")?,
            kind,
            added: when(m, "added", Some(now))?,
        }));
    }
    Ok(("Membership", items))
}

/// The format line: a version this import reads (see
/// [`FORMAT_VERSION`]); nothing to write.
fn parse_format(env: &Map<String, Value>) -> Parsed {
    match env.get("version").and_then(Value::as_u64) {
        Some(v) if (1..=FORMAT_VERSION).contains(&v) => Ok(("Format", Vec::new())),
        Some(v) if v > FORMAT_VERSION => Err(format!(
            "this file is export format {v}; this scim-bridge reads formats 1 to \
             {FORMAT_VERSION}: import it with the version that exported it or a later one"
        )),
        _ => Err("'version' must be a whole number from 1".into()),
    }
}

/// An optional string member (absent or null: None).
fn optional_text(
    obj: &Map<String, Value>,
    key: &str,
) -> std::result::Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("'{key}' must be a string")),
    }
}

/// An optional time member (absent or null: None).
fn optional_time(
    obj: &Map<String, Value>,
    key: &str,
) -> std::result::Result<Option<OffsetDateTime>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => when(obj, key, None).map(Some),
    }
}

fn parse_tag(r: &Map<String, Value>, now: OffsetDateTime) -> Parsed {
    let name = text(r, "name")?;
    check_tag(name).map_err(|m| format!("'name': {m}"))?;
    let description = tag_description(r).map_err(|e| e.to_string())?;
    let tag = Tag {
        id: uuid(r, "id")?,
        name: name.to_owned(),
        parent: name.rsplit_once('.').map(|(parent, _)| parent.to_owned()),
        description: description.map(str::to_owned),
        created: when(r, "created", Some(now))?,
        deleted: optional_time(r, "deleted")?,
    };
    Ok(("Tag", vec![ImportItem::Tag(tag)]))
}

/// A policy's document, validated as a create would, kept canonical.
fn parse_policy(r: &Map<String, Value>, now: OffsetDateTime) -> Parsed {
    let document = r.get("document").ok_or("'document' is required")?;
    let policy = Policy::parse(document).map_err(|e| format!("'document': {e}"))?;
    let created = when(r, "created", Some(now))?;
    let stored = StoredPolicy {
        id: uuid(r, "id")?,
        key: policy.policy_key.clone(),
        document: serde_json::to_value(&policy).map_err(|e| e.to_string())?,
        created,
        updated: when(r, "updated", Some(created))?,
    };
    Ok(("Policy", vec![ImportItem::Policy(stored)]))
}

/// A data source, checked as a registration would be (its tags may be
/// deleted ones: they stay where they were applied); tags and owners in
/// the order storage reads them back.
fn parse_data_source(r: &Map<String, Value>, now: OffsetDateTime) -> Parsed {
    let name = text(r, "name")?;
    crate::policy::check_text("a data source name", name).map_err(|m| format!("'name': {m}"))?;
    let mut tags = match r.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => tag_list(v, "tags").map_err(|e| e.to_string())?,
    };
    tags.sort();
    let mut columns =
        columns(r.get("columns").filter(|v| !v.is_null())).map_err(|e| e.to_string())?;
    for c in &mut columns {
        c.tags.sort();
    }
    let mut owners = Vec::new();
    for (i, o) in array(r, "owners")?.iter().enumerate() {
        let id = o.as_str().and_then(|s| Uuid::parse_str(s).ok());
        owners.push(id.ok_or_else(|| format!("'owners[{i}]' must be an account id"))?);
    }
    owners.sort();
    owners.dedup();
    let source = DataSource {
        id: DataSourceId::new(uuid(r, "id")?),
        name: name.to_owned(),
        tags,
        columns,
        owners,
        created: when(r, "created", Some(now))?,
    };
    Ok(("DataSource", vec![ImportItem::DataSource(source)]))
}

fn parse_subscription(r: &Map<String, Value>, now: OffsetDateTime) -> Parsed {
    let s = Subscription {
        id: uuid(r, "id")?,
        user_id: uuid(r, "userId")?,
        data_source: text(r, "dataSource")?.to_owned(),
        role: text(r, "role")?.to_owned(),
        subscribed: when(r, "subscribed", Some(now))?,
        expires: match r.get("expires") {
            None | Some(Value::Null) => None,
            Some(_) => Some(when(r, "expires", None)?),
        },
    };
    for (what, t) in [("dataSource", &s.data_source), ("role", &s.role)] {
        if t.is_empty() || t.chars().count() > 256 || t.chars().any(char::is_control) {
            return Err(format!("'{what}' is 1 to 256 printable characters"));
        }
    }
    // Format 1 has neither: an administrator's, linked by its name.
    let source = optional_text(r, "source")?.unwrap_or_else(|| "manual".to_owned());
    let by_policy = source
        .strip_prefix("policy:")
        .is_some_and(|k| !k.is_empty());
    if source != "manual" && !by_policy {
        return Err(format!(
            "'source' is manual or policy:<policyKey>, not '{}'",
            crate::directory::truncate(&source)
        ));
    }
    let data_source_id = match optional_text(r, "dataSourceId")? {
        None => None,
        Some(id) => Some(DataSourceId::new(
            Uuid::parse_str(&id).map_err(|_| "'dataSourceId' must be a UUID".to_owned())?,
        )),
    };
    if by_policy && data_source_id.is_none() {
        return Err("a policy's subscription names its data source ('dataSourceId')".into());
    }
    let linked = LinkedSubscription {
        subscription: s,
        data_source_id,
        source,
    };
    Ok(("Subscription", vec![ImportItem::Subscription(linked)]))
}
