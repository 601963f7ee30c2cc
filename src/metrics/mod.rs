//! Anonymized usage metrics: the names of the workflows the server counts,
//! the rules for the events other systems report, and the daily export
//! document. Pure: the stores keep the counts (a trigger on the audit log
//! counts the server's own workflows in the transaction of the change), and
//! the directory asks for them by day range.
//!
//! The export holds names and counts only: never who did something, never
//! what it was done to.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::{Date, Duration, OffsetDateTime};

/// The workflows the server performs and counts, one per audit record of
/// that action. Stable names: documented in docs/BRIDGE.md, relied on by
/// the data platform.
pub const WORKFLOWS: &[&str] = &[
    "user.created",
    "user.updated",
    "user.disabled",
    "user.enabled",
    "user.sessions_revoked",
    "user.deprovisioned",
    "user.deleted",
    "user.migrated",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.member_added",
    "group.member_removed",
    "permission.added",
    "permission.removed",
    "permission.defined",
    "attribute.added",
    "attribute.removed",
    "subscription.created",
    "subscription.removed",
    "token.created",
    "token.revoked",
    "iam.created",
    "iam.updated",
    // `scim-bridge import`: one per record it created or changed (a run of
    // members of one group: one).
    "iam.imported",
    "permission.imported",
    "user.imported",
    "group.imported",
    "membership.imported",
    "subscription.imported",
    // Governance (docs/GOVERNANCE.md): tags, the data source registry,
    // global subscription policies, the subscriptions policies make.
    "tag.created",
    "tag.deleted",
    "data_source.created",
    "data_source.tagged",
    "data_source.untagged",
    "data_source.deleted",
    "policy.created",
    "policy.updated",
    "policy.deleted",
    "subscription.added",
    "tag.imported",
    "policy.imported",
    "data_source.imported",
    // Event streams (docs/EVENTS.md).
    "event_stream.created",
    "event_stream.updated",
    "event_stream.deleted",
    "event_stream.retried",
    "event_stream.verified",
    "event_stream.key_rotated",
    "event_stream.key_retired",
    // Roles (docs/BRIDGE.md): defined, changed, deleted; held or given up
    // by an account.
    "role.created",
    "role.updated",
    "role.deleted",
    "role.added",
    "role.removed",
];

/// Namespaces only the server counts in (every audit record's action is
/// in one, see [`WORKFLOWS`]): a reported event may not use them,
/// whatever the configuration allows, so that the server's counts always
/// equal its audit records and a reported count never adds to them.
pub const RESERVED_PREFIXES: &[&str] = &[
    "user.",
    "group.",
    "permission.",
    "attribute.",
    "subscription.",
    "token.",
    "iam.",
    "membership.",
    "audit.",
    "scim.",
    "tag.",
    "data_source.",
    "policy.",
    "job.",
    "event_stream.",
    "role.",
];

/// Interface touches: `ui.click.<element>`, exported under `ui` by element.
pub const UI_PREFIX: &str = "ui.click.";

/// The reported-event prefixes allowed when the configuration names none.
/// (`data_source.` and `policy.` were here until the server kept its own
/// data sources and policies: it counts those from its audit log now.)
pub const DEFAULT_EVENT_PREFIXES: &[&str] = &["project.", "purpose.", "query.", UI_PREFIX];

pub const MAX_NAME_LEN: usize = 128;
/// The most days one export covers.
pub const MAX_DAYS: i64 = 366;
pub const SCHEMA_VERSION: u64 = 1;

/// Checks a configured prefix allow-list: each prefix is a valid name
/// start ending in `.`, outside the server's own namespaces.
pub fn check_prefixes(prefixes: &[String]) -> Result<(), String> {
    for p in prefixes {
        if p.is_empty() || !p.ends_with('.') || !valid_chars(p) {
            return Err(format!(
                "metrics event prefix {p:?} must be lowercase letters, digits, '_', '-' and '.', ending in '.'"
            ));
        }
        if let Some(r) = RESERVED_PREFIXES
            .iter()
            .find(|r| p.starts_with(*r) || r.starts_with(p.as_str()))
        {
            return Err(format!(
                "metrics event prefix {p:?} overlaps {r:?}, which only the server counts"
            ));
        }
    }
    Ok(())
}

fn valid_chars(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'))
}

/// Why a reported event name is refused, if it is.
pub fn check_event_name(name: &str, prefixes: &[String]) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!("an event name has 1 to {MAX_NAME_LEN} characters"));
    }
    if !valid_chars(name) {
        return Err(format!(
            "event name {name:?}: only lowercase letters, digits, '_', '-' and '.' are allowed"
        ));
    }
    if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return Err(format!(
            "event name {name:?}: dot-separated parts may not be empty"
        ));
    }
    if let Some(r) = RESERVED_PREFIXES.iter().find(|r| name.starts_with(*r)) {
        return Err(format!(
            "event name {name:?} is in the server's own namespace {r:?}: the server counts \
             these from its audit log, so a reported one would add to its count; \
             report it under another prefix"
        ));
    }
    match prefixes
        .iter()
        .find(|p| name.starts_with(p.as_str()) && name.len() > p.len())
    {
        Some(_) => Ok(()),
        None => Err(format!(
            "event name {name:?} does not start with an allowed prefix ({})",
            prefixes.join(", ")
        )),
    }
}

/// The UTC days an export covers, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub from: Date,
    pub to: Date,
}

impl DayRange {
    /// The last `days` days, today (UTC) last.
    pub fn last(days: i64, today: Date) -> Result<Self, String> {
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(format!("days must be 1 to {MAX_DAYS}"));
        }
        Ok(DayRange {
            from: today - Duration::days(days - 1),
            to: today,
        })
    }

    /// `from` to `to`, inclusive, both `YYYY-MM-DD`.
    pub fn between(from: &str, to: &str) -> Result<Self, String> {
        let (from, to) = (parse_day(from)?, parse_day(to)?);
        if to < from {
            return Err("'to' is before 'from'".into());
        }
        let r = DayRange { from, to };
        if r.len() > MAX_DAYS {
            return Err(format!("a range covers at most {MAX_DAYS} days"));
        }
        Ok(r)
    }

    pub fn len(&self) -> i64 {
        (self.to - self.from).whole_days() + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The file name the export is downloaded as.
    pub fn file_name(&self) -> String {
        format!(
            "scim-bridge-metrics-{}-{}.json",
            day_text(self.from),
            day_text(self.to)
        )
    }
}

const DAY: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

pub fn parse_day(s: &str) -> Result<Date, String> {
    Date::parse(s, DAY).map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
}

pub fn day_text(d: Date) -> String {
    d.format(DAY).unwrap_or_default()
}

/// The export document: every day of the range, oldest first, days
/// without activity included with empty maps. `counts` are (day, name,
/// count) rows; names under [`UI_PREFIX`] go to `ui` by element, the rest
/// to `workflows`.
pub fn export(
    range: DayRange,
    generated_at: OffsetDateTime,
    counts: &[(Date, String, i64)],
) -> Value {
    // Each day's (workflows, ui) counts.
    type Counts<'a> = (BTreeMap<&'a str, i64>, BTreeMap<&'a str, i64>);
    let mut by_day: BTreeMap<Date, Counts> = BTreeMap::new();
    let mut d = range.from;
    while d <= range.to {
        by_day.insert(d, Default::default());
        match d.next_day() {
            Some(next) => d = next,
            None => break,
        }
    }
    for (day, name, n) in counts {
        let Some((workflows, ui)) = by_day.get_mut(day) else {
            continue;
        };
        match name.strip_prefix(UI_PREFIX) {
            Some(element) => *ui.entry(element).or_default() += n,
            None => *workflows.entry(name.as_str()).or_default() += n,
        }
    }
    let days: Vec<Value> = by_day
        .into_iter()
        .map(|(day, (workflows, ui))| {
            json!({"date": day_text(day), "workflows": workflows, "ui": ui})
        })
        .collect();
    json!({
        "schemaVersion": SCHEMA_VERSION,
        "generatedAt": generated_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        "from": day_text(range.from),
        "to": day_text(range.to),
        "days": days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn prefixes() -> Vec<String> {
        DEFAULT_EVENT_PREFIXES
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn reported_names_are_checked() {
        let p = prefixes();
        for ok in [
            "query.run",
            "ui.click.new-user",
            "project.created",
            "project.v2.created",
        ] {
            assert_eq!(check_event_name(ok, &p), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "user.created",
            "group.member_added",
            "Project.created",
            "project.",
            "project..x",
            "ui.click.",
            "other.thing",
            "project.created by alice@example.com",
            "project.ö",
            // The server's own, counted from its audit log.
            "data_source.created",
            "policy.created",
            "tag.created",
            "subscription.added",
        ] {
            assert!(check_event_name(bad, &p).is_err(), "{bad:?} accepted");
        }
        let long = format!("project.{}", "a".repeat(MAX_NAME_LEN));
        assert!(check_event_name(&long, &p).is_err());
        let fits = format!("project.{}", "a".repeat(MAX_NAME_LEN - "project.".len()));
        assert_eq!(check_event_name(&fits, &p), Ok(()));
    }

    #[test]
    fn prefixes_may_not_reach_into_the_servers_namespaces() {
        assert!(check_prefixes(&prefixes()).is_ok());
        for bad in [
            "user.",
            "us",
            "group.x.",
            "ui.click",
            "Ui.",
            "",
            "data_source.",
            "policy.",
            "tag.",
            "data_",
        ] {
            assert!(check_prefixes(&[bad.to_string()]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_workflow_is_in_a_reserved_namespace() {
        let p = vec![String::from("a.")];
        for w in WORKFLOWS {
            assert!(
                RESERVED_PREFIXES.iter().any(|r| w.starts_with(r)),
                "{w} is counted by the server but could be reported too"
            );
            assert!(check_event_name(w, &p).is_err(), "{w}");
        }
    }

    #[test]
    fn ranges() {
        let today = date!(2026 - 03 - 01);
        let r = DayRange::last(3, today).unwrap();
        assert_eq!((r.from, r.to), (date!(2026 - 02 - 27), today));
        assert_eq!(r.len(), 3);
        assert_eq!(DayRange::last(1, today).unwrap().from, today);
        assert!(DayRange::last(0, today).is_err());
        assert!(DayRange::last(367, today).is_err());
        assert_eq!(DayRange::last(366, today).unwrap().len(), 366);
        let r = DayRange::between("2026-01-01", "2026-12-31").unwrap();
        assert_eq!(r.len(), 365);
        assert_eq!(
            r.file_name(),
            "scim-bridge-metrics-2026-01-01-2026-12-31.json"
        );
        assert!(DayRange::between("2026-01-02", "2026-01-01").is_err());
        assert!(DayRange::between("2024-01-01", "2025-01-02").is_err());
        assert!(DayRange::between("2026-1-1", "2026-01-02").is_err());
        assert!(DayRange::between("2026-02-30", "2026-03-02").is_err());
    }

    #[test]
    fn export_has_every_day_oldest_first() {
        let r = DayRange::between("2026-02-27", "2026-03-01").unwrap();
        let counts = vec![
            (date!(2026 - 02 - 27), "user.created".to_string(), 3),
            (date!(2026 - 03 - 01), "ui.click.new-user".to_string(), 2),
            (date!(2026 - 03 - 01), "data_source.created".to_string(), 1),
            // Outside the range: left out.
            (date!(2026 - 03 - 02), "user.created".to_string(), 9),
        ];
        let doc = export(r, datetime!(2026-03-01 12:00 UTC), &counts);
        assert_eq!(doc["schemaVersion"], 1);
        assert_eq!(doc["generatedAt"], "2026-03-01T12:00:00Z");
        assert_eq!(doc["from"], "2026-02-27");
        assert_eq!(doc["to"], "2026-03-01");
        let days = doc["days"].as_array().unwrap();
        let dates: Vec<&str> = days.iter().map(|d| d["date"].as_str().unwrap()).collect();
        assert_eq!(dates, ["2026-02-27", "2026-02-28", "2026-03-01"]);
        assert_eq!(days[0]["workflows"], json!({"user.created": 3}));
        assert_eq!(
            days[1],
            json!({"date": "2026-02-28", "workflows": {}, "ui": {}})
        );
        assert_eq!(days[2]["ui"], json!({"new-user": 2}));
        assert_eq!(days[2]["workflows"], json!({"data_source.created": 1}));
    }
}
