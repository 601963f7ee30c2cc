//! The search document: what filters and sorting read in the database. A
//! copy of the stored document in which every case-insensitive string is
//! Unicode case-folded (`fold_case`, which no database can reproduce) and
//! every dateTime is one fixed-width UTC text whose order is instant order.
//! Pure: computed at write time by the directory, never read back by it.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::filter::parse_time;
use super::resource::fold_case;
use super::schema::{AttrDef, AttrType, ResourceTypeDef, common_attr};

/// The search document of `doc`, a canonical document of type `rt`. Keys
/// are kept as they are; values of unknown keys are kept verbatim.
pub fn build(rt: &ResourceTypeDef, doc: &Value) -> Value {
    let Some(obj) = doc.as_object() else {
        return doc.clone();
    };
    let mut out = Map::with_capacity(obj.len());
    for (key, v) in obj {
        let ext = rt
            .extensions
            .iter()
            .find(|(s, _)| s.id.eq_ignore_ascii_case(key))
            .map(|(s, _)| *s);
        let searchable = match (ext, v) {
            (Some(schema), Value::Object(inner)) => Value::Object(
                inner
                    .iter()
                    .map(|(k, v)| {
                        let v = match schema.attr(k) {
                            Some(def) => value(def, v),
                            None => v.clone(),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            _ => match rt.schema.attr(key).or_else(|| common_attr(key)) {
                Some(def) => value(def, v),
                None => v.clone(),
            },
        };
        out.insert(key.clone(), searchable);
    }
    Value::Object(out)
}

fn value(def: &AttrDef, v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(|x| value(def, x)).collect()),
        Value::Object(m) if def.ty == AttrType::Complex => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let x = match def.sub(k) {
                        Some(sub) => value(sub, x),
                        None => x.clone(),
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::String(s) if def.is_case_insensitive_string() => Value::String(fold_case(s)),
        Value::String(s) if def.ty == AttrType::DateTime => match parse_time(s) {
            Some(t) => Value::String(time_key(t)),
            None => v.clone(),
        },
        _ => v.clone(),
    }
}

/// One fixed-width UTC text per instant, nanoseconds included, so that text
/// order is instant order: `2026-11-28T06:00:00.000000000Z`. RFC 3339 years
/// are 0000–9999; an offset can push the UTC instant one year past either
/// end. Year -1 is written `-001` (it sorts before `0000`); an instant
/// after 9999 (not representable in UTC here) is written `:000` (after
/// `9999`) followed by the instant two days earlier, which keeps them
/// distinct and in order.
pub fn time_key(t: OffsetDateTime) -> String {
    let (year, u) = match t.checked_to_offset(time::UtcOffset::UTC) {
        Some(u) if u.year() >= 0 => (format!("{:04}", u.year()), u),
        Some(u) => ("-001".to_owned(), u),
        None => {
            let earlier = (t - time::Duration::days(2)).to_offset(time::UtcOffset::UTC);
            (":000".to_owned(), earlier)
        }
    };
    format!(
        "{year}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        u.month() as u8,
        u.day(),
        u.hour(),
        u.minute(),
        u.second(),
        u.nanosecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE};
    use serde_json::json;

    #[test]
    fn folds_case_insensitive_strings_only() {
        let doc = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "Straße",
            "externalId": "AbC",
            "active": true,
            "name": {"familyName": "ÉMILE"},
            "emails": [{"value": "B@Example.COM", "type": "work", "primary": true}],
            "x509Certificates": [{"value": "QUJD"}],
            ENTERPRISE_USER_SCHEMA: {"department": "TOUR", "manager": {"value": "M1"}},
            "unknown": "KeepMe",
        });
        let s = build(&USER_RESOURCE, &doc);
        assert_eq!(
            s,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "strasse",
                "externalId": "AbC",
                "active": true,
                "name": {"familyName": "émile"},
                "emails": [{"value": "b@example.com", "type": "work", "primary": true}],
                "x509Certificates": [{"value": "QUJD"}],
                ENTERPRISE_USER_SCHEMA: {"department": "tour", "manager": {"value": "m1"}},
                "unknown": "KeepMe",
            })
        );
    }

    #[test]
    fn group_display_name_is_folded() {
        let s = build(&GROUP_RESOURCE, &json!({"displayName": "İstanbul Team"}));
        assert_eq!(s["displayName"], fold_case("İstanbul Team"));
    }

    #[test]
    fn time_keys_order_as_instants() {
        let k = |s: &str| time_key(parse_time(s).unwrap());
        assert_eq!(
            k("2026-11-28T07:00:00+01:00"),
            "2026-11-28T06:00:00.000000000Z"
        );
        assert_eq!(k("2026-11-28T06:00:00"), "2026-11-28T06:00:00.000000000Z");
        assert!(k("2026-11-28T06:00:00.5Z") > k("2026-11-28T06:00:00Z"));
        assert!(k("2026-11-28T06:00:00.000000001Z") > k("2026-11-28T06:00:00Z"));
        assert!(k("0000-01-01T00:30:00+01:00") < k("0000-01-01T00:00:00Z"));
        assert!(k("9999-12-31T23:30:00-01:00") > k("9999-12-31T23:59:59Z"));
        assert!(k("9999-12-31T23:30:00-02:00") > k("9999-12-31T23:30:00-01:00"));
        assert_eq!(
            k("0000-01-01T00:30:00+01:00").len(),
            k("2026-01-01T00:00:00Z").len()
        );
    }
}
