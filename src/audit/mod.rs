//! The audit log's records and their hash chain. Pure: the stores append
//! records with [`chain`] inside the transaction of the change they record,
//! and `scim-bridge audit verify` replays the chain with [`Verifier`].
//!
//! Each record's hash covers its sequence number, time, actor, action,
//! target, outcome, request id, changed attribute names and the previous
//! record's hash, so editing any field of a record, removing one, or
//! reordering them breaks every hash after it; the store's head row
//! (last `seq` and hash) catches a removed tail.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

/// The previous hash of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who performed a change, by opaque id only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An identity provider's SCIM token (the IAM's id).
    Iam(Uuid),
    /// An administrator (the internal user id).
    Admin(Uuid),
    /// The command line on the server's host.
    Cli,
}

impl Actor {
    pub fn render(&self) -> String {
        match self {
            Actor::Iam(id) => format!("iam:{id}"),
            Actor::Admin(id) => format!("user:{id}"),
            Actor::Cli => "cli".to_owned(),
        }
    }

    /// The actor [`Actor::render`] gave; None for any other text.
    pub fn parse(s: &str) -> Option<Actor> {
        let id = |rest: &str| Uuid::parse_str(rest).ok();
        if s == "cli" {
            Some(Actor::Cli)
        } else if let Some(rest) = s.strip_prefix("iam:") {
            id(rest).map(Actor::Iam)
        } else {
            id(s.strip_prefix("user:")?).map(Actor::Admin)
        }
    }
}

/// What a change records, before the store numbers and chains it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub actor: Actor,
    /// A stable dotted name: `user.created`, `permission.added`, ...
    pub action: &'static str,
    pub target_kind: Option<&'static str>,
    pub target_id: Option<Uuid>,
    /// `success`, or why an attempt was refused.
    pub outcome: &'static str,
    pub request_id: Option<String>,
    /// The names (never the values) of what changed.
    pub attributes: Vec<String>,
    /// What a reviewer should look at, such as
    /// [`crate::scim::user_name::MIXED_SCRIPT_FLAG`]: kept apart from
    /// `attributes` (which `attributes()` replaces) and stored after them
    /// as `flag:<name>`, so the record's columns and hash stay as they were.
    pub flags: Vec<&'static str>,
    /// The change's transaction (one per request; a Bulk operation's is
    /// its request's with `:<index>`), for the Security Event Tokens of
    /// its events (`txn`). Not in the record's hash.
    pub txn: Option<String>,
    /// The SCIM method that made an update (`PUT` or `PATCH`, then
    /// ` activate` or ` deactivate` when it set `active`), for its event's
    /// URIs. Not in the record's hash.
    pub via: Option<&'static str>,
}

/// A new transaction id: 32 hex digits, random (the thread's CSPRNG).
pub fn new_txn() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .simple()
        .to_string()
}

/// How a flag is spelled among a stored record's attributes.
pub const FLAG_PREFIX: &str = "flag:";

impl Entry {
    pub fn new(actor: Actor, action: &'static str) -> Self {
        Entry {
            actor,
            action,
            target_kind: None,
            target_id: None,
            outcome: "success",
            request_id: None,
            attributes: Vec::new(),
            flags: Vec::new(),
            txn: None,
            via: None,
        }
    }

    pub fn txn(mut self, txn: Option<String>) -> Self {
        self.txn = txn;
        self
    }

    pub fn via(mut self, method: &'static str) -> Self {
        self.via = Some(method);
        self
    }

    pub fn flags(mut self, flags: impl IntoIterator<Item = &'static str>) -> Self {
        self.flags.extend(flags);
        self.flags.sort_unstable();
        self.flags.dedup();
        self
    }

    pub fn target(mut self, kind: &'static str, id: Uuid) -> Self {
        self.target_kind = Some(kind);
        self.target_id = Some(id);
        self
    }

    pub fn request(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }

    pub fn attributes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.attributes = names.into_iter().map(Into::into).collect();
        self.attributes.sort();
        self.attributes.dedup();
        self
    }
}

/// The names of what differs between two documents: top-level attributes,
/// and `urn:…:attribute` for the attributes inside an extension object.
pub fn changed(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    let empty = serde_json::Map::new();
    let (a, b) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut out = Vec::new();
    for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
        let (x, y) = (a.get(key), b.get(key));
        if x == y || key == "schemas" {
            continue;
        }
        let ext = key.starts_with("urn:")
            && matches!(
                (x, y),
                (Some(Value::Object(_)) | None, Some(Value::Object(_)) | None)
            );
        if ext {
            let empty = Value::Object(serde_json::Map::new());
            for sub in changed(x.unwrap_or(&empty), y.unwrap_or(&empty)) {
                out.push(format!("{key}:{sub}"));
            }
        } else {
            out.push(key.clone());
        }
    }
    out.sort();
    out
}

/// The names of a new document's attributes (see [`changed`]).
pub fn present(doc: &serde_json::Value) -> Vec<String> {
    changed(&serde_json::Value::Null, doc)
}

/// A stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub seq: i64,
    pub id: Uuid,
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<Uuid>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub attributes: Vec<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The record that follows the head (`prev_seq`, `prev_hash`).
pub fn chain(
    entry: &Entry,
    id: Uuid,
    at: OffsetDateTime,
    prev_seq: i64,
    prev_hash: &str,
) -> Record {
    let mut r = Record {
        seq: prev_seq + 1,
        id,
        at,
        actor: entry.actor.render(),
        action: entry.action.to_owned(),
        target_kind: entry.target_kind.map(str::to_owned),
        target_id: entry.target_id,
        outcome: entry.outcome.to_owned(),
        request_id: entry.request_id.clone(),
        attributes: entry
            .attributes
            .iter()
            .cloned()
            .chain(entry.flags.iter().map(|f| format!("{FLAG_PREFIX}{f}")))
            .collect(),
        prev_hash: prev_hash.to_owned(),
        hash: String::new(),
    };
    r.hash = hash(&r);
    r
}

/// The hash of a record's content and its predecessor's hash: SHA-256 over
/// length-prefixed fields (no separator can be forged inside a field).
pub fn hash(r: &Record) -> String {
    let mut h = Sha256::new();
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    };
    field(&r.seq.to_string());
    field(&r.id.to_string());
    field(&(r.at.unix_timestamp_nanos() / 1000).to_string());
    field(&r.actor);
    field(&r.action);
    field(r.target_kind.as_deref().unwrap_or(""));
    field(&r.target_id.map(|t| t.to_string()).unwrap_or_default());
    field(&r.outcome);
    field(r.request_id.as_deref().unwrap_or(""));
    field(&r.attributes.join("\u{1f}"));
    field(&r.prev_hash);
    let digest = h.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What verification found wrong, at the first record where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    #[error("record {found} follows record {expected_prev}: records are missing")]
    Gap { expected_prev: i64, found: i64 },
    #[error("record {seq} does not name the hash of the record before it")]
    Link { seq: i64 },
    #[error("record {seq} was edited: its content does not match its hash")]
    Edited { seq: i64 },
    #[error("the log ends at record {last} but the head says {head}: records were removed")]
    Tail { last: i64, head: i64 },
}

/// Replays the chain record by record, in `seq` order.
#[derive(Debug)]
pub struct Verifier {
    seq: i64,
    hash: String,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

impl Verifier {
    pub fn push(&mut self, r: &Record) -> Result<(), Broken> {
        if r.seq != self.seq + 1 {
            return Err(Broken::Gap {
                expected_prev: self.seq,
                found: r.seq,
            });
        }
        if r.prev_hash != self.hash {
            return Err(Broken::Link { seq: r.seq });
        }
        if hash(r) != r.hash {
            return Err(Broken::Edited { seq: r.seq });
        }
        self.seq = r.seq;
        self.hash = r.hash.clone();
        Ok(())
    }

    /// Checks the end of the log against the head; returns the count.
    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<i64, Broken> {
        if head_seq != self.seq || head_hash != self.hash {
            return Err(Broken::Tail {
                last: self.seq,
                head: head_seq,
            });
        }
        Ok(self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: usize) -> Vec<Record> {
        let mut out: Vec<Record> = Vec::new();
        for i in 0..n {
            let (seq, prev) = out
                .last()
                .map(|r| (r.seq, r.hash.clone()))
                .unwrap_or((0, GENESIS.to_owned()));
            let e = Entry::new(Actor::Cli, "user.created")
                .target("User", Uuid::from_u128(i as u128))
                .attributes(["userName", "emails"]);
            out.push(chain(
                &e,
                Uuid::from_u128(1000 + i as u128),
                OffsetDateTime::UNIX_EPOCH,
                seq,
                &prev,
            ));
        }
        out
    }

    fn verify(records: &[Record], head: (i64, &str)) -> Result<i64, Broken> {
        let mut v = Verifier::default();
        for r in records {
            v.push(r)?;
        }
        v.finish(head.0, head.1)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let l = log(5);
        let head = (l[4].seq, l[4].hash.as_str());
        assert_eq!(verify(&l, head), Ok(5));
        assert_eq!(verify(&[], (0, GENESIS)), Ok(0));
    }

    #[test]
    fn edits_removals_and_a_cut_tail_are_found() {
        let l = log(5);
        let head = (l[4].seq, l[4].hash.clone());
        let mut edited = l.clone();
        edited[2].outcome = "denied".into();
        assert_eq!(
            verify(&edited, (head.0, &head.1)),
            Err(Broken::Edited { seq: 3 })
        );
        let mut removed = l.clone();
        removed.remove(1);
        assert_eq!(
            verify(&removed, (head.0, &head.1)),
            Err(Broken::Gap {
                expected_prev: 1,
                found: 3
            })
        );
        // Renumbering after a removal still breaks the link.
        let mut renumbered = removed.clone();
        for (i, r) in renumbered.iter_mut().enumerate() {
            r.seq = i as i64 + 1;
        }
        assert!(matches!(
            verify(&renumbered, (4, &head.1)),
            Err(Broken::Edited { .. } | Broken::Link { .. })
        ));
        assert_eq!(
            verify(&l[..4], (head.0, &head.1)),
            Err(Broken::Tail { last: 4, head: 5 })
        );
    }

    #[test]
    fn changed_names_what_differs() {
        let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let old = serde_json::json!({"userName": "a", "title": "x", "schemas": [1], ent: {"department": "d"}});
        let new = serde_json::json!({"userName": "a", "nickName": "n", "schemas": [2], ent: {"department": "e", "division": "v"}});
        assert_eq!(
            changed(&old, &new),
            vec![
                "nickName".to_owned(),
                "title".to_owned(),
                format!("{ent}:department"),
                format!("{ent}:division"),
            ]
        );
        assert_eq!(
            present(&serde_json::json!({"b": 1, "a": 2})),
            vec!["a", "b"]
        );
    }

    #[test]
    fn attribute_names_are_sorted_and_unique() {
        let e = Entry::new(Actor::Cli, "x").attributes(["b", "a", "b"]);
        assert_eq!(e.attributes, vec!["a", "b"]);
    }
}
