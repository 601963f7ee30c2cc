//! Events out (issue 19), the pure part: which audit records are events and
//! of which type, the webhook body an event is sent as, its Standard
//! Webhooks signature, and when a failed delivery is tried again. No I/O:
//! the delivery worker (`directory::events::worker`) does the sending.
//!
//! An event is derived from its change's audit record, so it exists exactly
//! when the change committed; its id is the record's id, its type the
//! record's action (the usage export's names), its `changed` the record's
//! attribute names. Nothing that names a person is in it: audit records
//! hold opaque ids and attribute names only.

pub mod guard;
pub mod set;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use time::OffsetDateTime;
use uuid::Uuid;

/// The namespaces of event types: the usage export's workflows on users
/// and groups.
const NAMESPACES: [&str; 5] = [
    "user.",
    "group.",
    "permission.",
    "attribute.",
    "subscription.",
];

/// The event types a stream may ask for: the usage export's workflows
/// (`metrics::WORKFLOWS`, the audit actions) on users and groups, but
/// imports by the command line and the permission catalogue's changes.
pub fn types() -> impl Iterator<Item = &'static str> {
    crate::metrics::WORKFLOWS.iter().copied().filter(|w| {
        NAMESPACES.iter().any(|n| w.starts_with(n))
            && !w.ends_with(".imported")
            && *w != "permission.defined"
    })
}

/// Whether the change of an audit record is kept with the resource as it
/// left it, for the streams that send the resource (`full`): a successful
/// change of a user or a group of an event type, but a member's joining
/// or leaving (a group's members are never sent; a group of a million
/// members changed at once would keep a million copies). A delete keeps
/// nothing: there is no resource left for its receiver (a deprovisioned
/// account is kept by the bridge, but its identity provider deleted it).
pub fn snapshots(action: &str, target_kind: &str, outcome: &str) -> bool {
    outcome == "success"
        && matches!(target_kind, "User" | "Group")
        && !action.starts_with("group.member_")
        && !matches!(
            action,
            "user.deprovisioned" | "user.deleted" | "group.deleted"
        )
        && types().any(|t| t == action)
}

/// A stream that asks for every type names this one.
pub const ALL: &str = "*";

/// An audit record, as the delivery worker reads it to find events.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub seq: i64,
    pub id: Uuid,
    pub at: OffsetDateTime,
    /// `iam:<id>`, `user:<id>` or `cli` (`audit::Actor::render`).
    pub actor: String,
    pub action: String,
    pub outcome: String,
    pub target_kind: Option<String>,
    pub target_id: Option<Uuid>,
    pub attributes: Vec<String>,
    /// The IAM of the target as storage holds it now (None once deleted).
    pub target_iam: Option<Uuid>,
    /// The change's transaction (`audit::Entry::txn`), when recorded.
    pub txn: Option<String>,
    /// `PUT` or `PATCH` for a SCIM update (`audit::Entry::via`).
    pub via: Option<String>,
    /// The target's externalId as storage holds it now.
    pub external_id: Option<String>,
    /// The resource as the change left it, kept in the change's
    /// transaction while a stream asks for `full` ([`snapshots`]).
    pub snapshot: Option<Snapshot>,
}

/// A resource as storage held it when its change committed: its stored
/// document and the facts its `meta` is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub doc: Value,
    pub created: OffsetDateTime,
    pub last_modified: OffsetDateTime,
    pub version: i64,
}

/// One event, as a stream receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Uuid,
    pub kind: &'static str,
    pub occurred_at: OffsetDateTime,
    /// The IAM whose resource changed: the identity provider that changed
    /// it, else the one that holds it.
    pub iam: Option<Uuid>,
    pub resource_type: &'static str,
    pub resource_id: Uuid,
    pub changed: Vec<String>,
    /// The change's transaction: the record's, else the event's own id.
    pub txn: String,
    /// `PUT` or `PATCH` for a SCIM update.
    pub via: Option<String>,
    pub external_id: Option<String>,
    /// The resource as its change left it, when kept.
    pub snapshot: Option<Snapshot>,
}

impl Event {
    /// The event an audit record is, if it is one: a successful change of
    /// a user or a group of one of the [`types`].
    pub fn of(c: &Change) -> Option<Event> {
        if c.outcome != "success" {
            return None;
        }
        let kind = types().find(|t| *t == c.action)?;
        let resource_type = match c.target_kind.as_deref()? {
            "User" => "User",
            "Group" => "Group",
            _ => return None,
        };
        let acting_iam = c
            .actor
            .strip_prefix("iam:")
            .and_then(|s| Uuid::parse_str(s).ok());
        Some(Event {
            id: c.id,
            kind,
            occurred_at: c.at,
            iam: acting_iam.or(c.target_iam),
            resource_type,
            resource_id: c.target_id?,
            changed: c
                .attributes
                .iter()
                .filter(|a| !a.starts_with(crate::audit::FLAG_PREFIX))
                .cloned()
                .collect(),
            txn: c.txn.clone().unwrap_or_else(|| c.id.simple().to_string()),
            via: c.via.clone(),
            external_id: c.external_id.clone(),
            snapshot: c.snapshot.clone(),
        })
    }

    /// What orders a stream's deliveries: one resource's events in turn.
    pub fn resource_key(&self) -> String {
        format!("{}/{}", self.resource_type, self.resource_id)
    }

    /// The webhook body: `{"id", "type", "occurredAt", "iam", "resource":
    /// {"type", "id"}, "changed"}`, `iam` by name (null when unknown), and
    /// `data`, the resource as its change left it, for a `full` stream.
    pub fn webhook_body(&self, iam_name: Option<&str>, data: Option<&Value>) -> Value {
        let mut body = json!({
            "id": self.id,
            "type": self.kind,
            "occurredAt": self
                .occurred_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            "iam": iam_name,
            "resource": {"type": self.resource_type, "id": self.resource_id},
            "changed": self.changed,
        });
        if let Some(d) = data {
            body["data"] = d.clone();
        }
        body
    }
}

/// What a stream receives: the types it names (or every one) and, when it
/// names one, only that IAM's resources.
pub fn wanted(types: &[String], iam: Option<Uuid>, e: &Event) -> bool {
    let typed = types.iter().any(|t| t == ALL || t == e.kind);
    typed && iam.is_none_or(|i| e.iam == Some(i))
}

/// The first type a stream may not ask for, if any.
pub fn unknown_type(asked: &[String]) -> Option<&str> {
    asked
        .iter()
        .map(String::as_str)
        .find(|t| *t != ALL && !types().any(|k| k == *t))
}

/// How a webhook secret is spelled: `whsec_` and the key in base64.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new webhook secret from 32 random bytes.
pub fn new_secret(bytes: [u8; 32]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The Standard Webhooks signature of a delivery: `v1,` and the base64
/// HMAC-SHA256, keyed with the secret's bytes, of `id.timestamp.body`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The first retry comes after a second, the longest wait is an hour.
pub const MIN_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// How long to wait after the `attempts`-th failed attempt: doubling from
/// a second up to an hour, plus up to half again (`jitter` in 0..1) so
/// that the deliveries failed together do not come back together.
pub fn backoff(attempts: u32, jitter: f64) -> Duration {
    let base = MIN_BACKOFF.saturating_mul(1u32 << attempts.saturating_sub(1).min(12));
    let base = base.min(MAX_BACKOFF);
    base.mul_f64(1.0 + jitter.clamp(0.0, 1.0) / 2.0)
        .min(MAX_BACKOFF)
}

/// A `Retry-After` header's wait (RFC 9110 §10.2.3, in seconds; an HTTP
/// date is not honoured), at most [`MAX_BACKOFF`].
pub fn retry_after(value: &str) -> Option<Duration> {
    let secs: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_BACKOFF))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(action: &str, kind: &str) -> Change {
        Change {
            seq: 7,
            id: Uuid::from_u128(1),
            at: OffsetDateTime::UNIX_EPOCH,
            actor: format!("iam:{}", Uuid::from_u128(9)),
            action: action.into(),
            outcome: "success".into(),
            target_kind: Some(kind.into()),
            target_id: Some(Uuid::from_u128(2)),
            attributes: vec!["nickName".into(), "flag:mixed_script".into()],
            target_iam: Some(Uuid::from_u128(8)),
            txn: None,
            via: None,
            external_id: None,
            snapshot: None,
        }
    }

    #[test]
    fn only_changes_of_users_and_groups_are_events() {
        let e = Event::of(&change("user.updated", "User")).expect("event");
        assert_eq!(e.kind, "user.updated");
        assert_eq!(e.changed, vec!["nickName"]);
        // The identity provider that acted, not where the user is now.
        assert_eq!(e.iam, Some(Uuid::from_u128(9)));
        assert_eq!(e.resource_key(), format!("User/{}", Uuid::from_u128(2)));
        assert!(Event::of(&change("policy.created", "Policy")).is_none());
        assert!(Event::of(&change("user.imported", "User")).is_none());
        assert!(Event::of(&change("permission.defined", "User")).is_none());
        assert!(types().any(|t| t == "subscription.added"));
        assert!(types().all(|t| !t.starts_with("token.")));
        let mut refused = change("user.created", "User");
        refused.outcome = "denied".into();
        assert!(Event::of(&refused).is_none());
        assert!(snapshots("user.updated", "User", "success"));
        assert!(snapshots("permission.added", "User", "success"));
        assert!(!snapshots("group.member_added", "Group", "success"));
        assert!(!snapshots("user.deprovisioned", "User", "success"));
        assert!(!snapshots("user.updated", "User", "denied"));
        assert!(!snapshots("policy.created", "Policy", "success"));
        let mut by_admin = change("permission.added", "User");
        by_admin.actor = "user:x".into();
        assert_eq!(
            Event::of(&by_admin).expect("event").iam,
            Some(Uuid::from_u128(8))
        );
    }

    #[test]
    fn streams_get_the_types_and_the_iam_they_ask_for() {
        let e = Event::of(&change("user.created", "User")).expect("event");
        let types = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(wanted(&types(&["*"]), None, &e));
        assert!(wanted(
            &types(&["user.created"]),
            Some(Uuid::from_u128(9)),
            &e
        ));
        assert!(!wanted(&types(&["user.deleted"]), None, &e));
        assert!(!wanted(&types(&["*"]), Some(Uuid::from_u128(8)), &e));
        assert_eq!(unknown_type(&types(&["*", "user.created"])), None);
        assert_eq!(unknown_type(&types(&["user.made"])), Some("user.made"));
    }

    #[test]
    fn the_signature_is_the_standard_webhooks_one() {
        // The Standard Webhooks specification's example.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(
            sig.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert!(new_secret([0; 32]).starts_with(SECRET_PREFIX));
    }

    #[test]
    fn backoff_doubles_from_a_second_to_an_hour() {
        assert_eq!(backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(2, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(4, 1.0), Duration::from_secs(12));
        assert_eq!(backoff(40, 1.0), MAX_BACKOFF);
        assert_eq!(retry_after(" 5 "), Some(Duration::from_secs(5)));
        assert_eq!(retry_after("99999"), Some(MAX_BACKOFF));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
