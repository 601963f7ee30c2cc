//! A policy document from JSON: every field checked, every error naming
//! its field by JSON path. `null` counts as absent.

use serde_json::{Map, Value};

use super::{
    Access, Actions, Approval, AttributeValue, Circumstance, Entitlements, Operator, Policy,
    PolicyError, Rule, RuleForm,
};
use crate::policy::check_text;
use crate::policy::lang::{self, Limits};
use crate::policy::tags::check_tag;

/// The longest `policyKey`.
pub const MAX_POLICY_KEY: usize = 64;
/// The most circumstances a policy has.
pub const MAX_CIRCUMSTANCES: usize = 100;
/// The most groups, and the most attribute values, in `entitlements`.
pub const MAX_ENTITLEMENTS: usize = 100;
/// The most approvals an approval policy lists.
pub const MAX_APPROVALS: usize = 10;

type Result<T> = std::result::Result<T, PolicyError>;

/// A JSON object being read: refuses keys it does not know, and names each
/// field by its path.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Fields<'a> {
    fn of(value: &'a Value, path: &str, known: &[&str]) -> Result<Fields<'a>> {
        let map = value
            .as_object()
            .ok_or_else(|| PolicyError::field(path, "must be a JSON object"))?;
        let fields = Fields {
            map,
            path: path.to_owned(),
        };
        if let Some(key) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(PolicyError::field(
                fields.path(key),
                format!("unknown field; expected one of {}", known.join(", ")),
            ));
        }
        Ok(fields)
    }

    fn path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn error(&self, key: &str, message: impl Into<String>) -> PolicyError {
        PolicyError::field(self.path(key), message)
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>> {
        self.get(key)
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| self.error(key, "must be a string"))
            })
            .transpose()
    }

    fn required_string(&self, key: &str) -> Result<&'a str> {
        self.string(key)?
            .ok_or_else(|| self.error(key, "is required"))
    }

    /// A name or value under the common text rule.
    fn text(&self, key: &str, what: &str) -> Result<String> {
        let s = self.required_string(key)?;
        check_text(what, s).map_err(|m| self.error(key, m))?;
        Ok(s.to_owned())
    }

    fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.get(key)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| self.error(key, "must be true or false"))
            })
            .transpose()
    }

    /// An array of at most `max` items, each read by `item` with its path
    /// (`key[i]`).
    fn list<T>(
        &self,
        key: &str,
        max: usize,
        item: impl Fn(&'a Value, String) -> Result<T>,
    ) -> Result<Option<Vec<T>>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let items = v
            .as_array()
            .ok_or_else(|| self.error(key, "must be an array"))?;
        if items.len() > max {
            return Err(self.error(key, format!("holds at most {max} items")));
        }
        let path = self.path(key);
        items
            .iter()
            .enumerate()
            .map(|(i, v)| item(v, format!("{path}[{i}]")))
            .collect::<Result<_>>()
            .map(Some)
    }

    /// A string naming one of `choices`.
    fn choice<T: Copy>(&self, key: &str, choices: &[(&str, T)]) -> Result<Option<T>> {
        let Some(s) = self.string(key)? else {
            return Ok(None);
        };
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        choices
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, t)| Some(*t))
            .ok_or_else(|| {
                self.error(
                    key,
                    format!("unknown value '{s}'; expected one of {}", names.join(", ")),
                )
            })
    }

    /// A string that is one of `words`.
    fn word(&self, key: &str, words: &[&'static str]) -> Result<Option<&'static str>> {
        let pairs: Vec<(&str, &'static str)> = words.iter().map(|w| (*w, *w)).collect();
        self.choice(key, &pairs)
    }
}

const OPERATORS: [(&str, Operator); 2] = [("any", Operator::Any), ("all", Operator::All)];

impl Policy {
    /// A policy from a JSON body, with the advanced language's default
    /// [`Limits`].
    pub fn parse(body: &Value) -> Result<Policy> {
        Policy::parse_with(body, &Limits::DEFAULT)
    }

    /// A policy from a JSON body; `limits` bound its `advanced` expression.
    pub fn parse_with(body: &Value, limits: &Limits) -> Result<Policy> {
        let f = Fields::of(
            body,
            "",
            &[
                "policyKey",
                "name",
                "staged",
                "circumstanceOperator",
                "circumstances",
                "actions",
            ],
        )?;
        let circumstances = f
            .list("circumstances", MAX_CIRCUMSTANCES, circumstance)?
            .ok_or_else(|| {
                f.error(
                    "circumstances",
                    "is required (use [{\"type\": \"all\"}] for every data source)",
                )
            })?;
        if circumstances.is_empty() {
            return Err(f.error(
                "circumstances",
                "holds at least one circumstance (use {\"type\": \"all\"} for every data source)",
            ));
        }
        let actions = f
            .get("actions")
            .ok_or_else(|| f.error("actions", "is required"))?;
        Ok(Policy {
            policy_key: policy_key(&f)?,
            name: f.text("name", "a policy name")?,
            staged: f.bool("staged")?.unwrap_or(false),
            circumstance_operator: f
                .choice("circumstanceOperator", &OPERATORS)?
                .unwrap_or(Operator::Any),
            circumstances,
            actions: parse_actions(actions, limits)?,
        })
    }
}

fn policy_key(f: &Fields) -> Result<String> {
    let key = f.required_string("policyKey")?;
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    let first_ok = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !first_ok || key.len() > MAX_POLICY_KEY || !key.chars().all(ok_char) {
        return Err(f.error(
            "policyKey",
            format!(
                "is 1 to {MAX_POLICY_KEY} characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
            ),
        ));
    }
    Ok(key.to_owned())
}

fn circumstance(v: &Value, path: String) -> Result<Circumstance> {
    let f = Fields::of(v, &path, &["type", "tag"])?;
    let kind = f
        .word("type", &["tags", "columnTags", "anyTag", "noTags", "all"])?
        .ok_or_else(|| f.error("type", "is required"))?;
    let tag = || -> Result<String> {
        let tag = f
            .string("tag")?
            .ok_or_else(|| f.error("tag", format!("a {kind} circumstance names a tag")))?;
        check_tag(tag).map_err(|m| f.error("tag", m))?;
        Ok(tag.to_owned())
    };
    let out = match kind {
        "tags" => Circumstance::Tags { tag: tag()? },
        "columnTags" => Circumstance::ColumnTags { tag: tag()? },
        "anyTag" => Circumstance::AnyTag,
        "noTags" => Circumstance::NoTags,
        _ => Circumstance::All,
    };
    if f.get("tag").is_some() && !matches!(kind, "tags" | "columnTags") {
        return Err(f.error(
            "tag",
            format!("only a tags or columnTags circumstance names a tag, not {kind}"),
        ));
    }
    Ok(out)
}

fn parse_actions(v: &Value, limits: &Limits) -> Result<Actions> {
    let f = Fields::of(
        v,
        "actions",
        &[
            "type",
            "entitlements",
            "advanced",
            "approvals",
            "automaticSubscription",
            "shareResponsibility",
        ],
    )?;
    let kind = f
        .word("type", &["anyone", "approval", "entitlements", "manual"])?
        .ok_or_else(|| f.error("type", "is required"))?;
    // Fields that belong to another type are refused, not ignored.
    for (field, owners) in [
        ("entitlements", "entitlements"),
        ("advanced", "entitlements"),
        ("approvals", "approval or entitlements"),
    ] {
        if f.get(field).is_some() && !owners.split(" or ").any(|o| o == kind) {
            return Err(f.error(
                field,
                format!("only a policy of type {owners} has {field} (this one is of type {kind})"),
            ));
        }
    }
    let access = match kind {
        "anyone" => Access::Anyone,
        "manual" => Access::Manual,
        "approval" => Access::Approval(
            approvals(&f)?.ok_or_else(|| {
                f.error(
                    "approvals",
                    "an approval policy names at least one approver permission: [{\"requiredPermission\": \"GOVERNANCE\"}]",
                )
            })?,
        ),
        _ => Access::Entitlements {
            rule: rule(&f, limits)?,
            approvals: approvals(&f)?.unwrap_or_default(),
        },
    };
    let automatic = f.bool("automaticSubscription")?;
    let can_be_automatic = matches!(access, Access::Anyone | Access::Entitlements { .. });
    if automatic == Some(true) && !can_be_automatic {
        return Err(f.error(
            "automaticSubscription",
            format!("a policy of type {kind} cannot subscribe accounts automatically"),
        ));
    }
    Ok(Actions {
        access,
        automatic_subscription: automatic.unwrap_or(can_be_automatic),
        share_responsibility: f.bool("shareResponsibility")?.unwrap_or(false),
    })
}

/// `approvals`, if given: at least one.
fn approvals(f: &Fields) -> Result<Option<Vec<Approval>>> {
    let list = f.list("approvals", MAX_APPROVALS, |v, path| {
        let a = Fields::of(v, &path, &["requiredPermission"])?;
        let p = a.required_string("requiredPermission")?;
        let ok = p.len() <= 64
            && p.starts_with(|c: char| c.is_ascii_uppercase())
            && p.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(a.error(
                "requiredPermission",
                "a permission name is 1 to 64 characters: A-Z, 0-9 and '_', starting with a letter",
            ));
        }
        Ok(Approval {
            required_permission: p.to_owned(),
        })
    })?;
    match list {
        Some(list) if list.is_empty() => Err(f.error(
            "approvals",
            "names at least one approver permission, or is left out",
        )),
        list => Ok(list),
    }
}

fn rule(f: &Fields, limits: &Limits) -> Result<Rule> {
    match (f.get("entitlements"), f.string("advanced")?) {
        (Some(_), Some(_)) => {
            Err(f.error("advanced", "give either entitlements or advanced, not both"))
        }
        (None, None) => Err(PolicyError::field(
            "actions",
            "an entitlements policy needs entitlements or advanced",
        )),
        (None, Some(text)) => {
            let expr = lang::parse(text, limits).map_err(PolicyError::Advanced)?;
            Ok(Rule::new(RuleForm::Advanced(text.to_owned()), expr))
        }
        (Some(v), None) => {
            let e = entitlements(v)?;
            let expr = e.to_expr();
            Ok(Rule::new(RuleForm::Entitlements(e), expr))
        }
    }
}

fn entitlements(v: &Value) -> Result<Entitlements> {
    let f = Fields::of(
        v,
        "actions.entitlements",
        &["operator", "groups", "attributes"],
    )?;
    let groups = f
        .list("groups", MAX_ENTITLEMENTS, |v, path| {
            let g = v
                .as_str()
                .ok_or_else(|| PolicyError::field(&path, "must be a string"))?;
            check_text("a group name", g).map_err(|m| PolicyError::field(&path, m))?;
            Ok(g.to_owned())
        })?
        .unwrap_or_default();
    let attributes = f
        .list("attributes", MAX_ENTITLEMENTS, |v, path| {
            let a = Fields::of(v, &path, &["name", "value"])?;
            Ok(AttributeValue {
                name: a.text("name", "an attribute name")?,
                value: a.text("value", "an attribute value")?,
            })
        })?
        .unwrap_or_default();
    if groups.is_empty() && attributes.is_empty() {
        return Err(PolicyError::field(
            "actions.entitlements",
            "names at least one group or attribute value",
        ));
    }
    Ok(Entitlements {
        operator: f.choice("operator", &OPERATORS)?.unwrap_or(Operator::Any),
        groups,
        attributes,
    })
}
