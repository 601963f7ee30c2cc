//! RFC 9865 cursors: a position in a list's order, signed so that a client
//! can neither forge nor alter one, bound to the query that issued it
//! (resource type, IAM, filter, sort) and dated so that it expires. Nothing
//! is kept on the server. Pure: the key and the time are passed in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Error, Invalid};
use crate::store::{Direction, KeyValue, Keyset, ListPage, Seek};

type HmacSha256 = Hmac<Sha256>;

const VERSION: u64 = 1;
const TAG_LEN: usize = 32;
/// Longer input is no cursor of ours; refused before any decoding.
const MAX_LEN: usize = 4096;

/// The key cursors are signed with, derived from the server's signing key
/// so that a cursor tag can never pass for anything else it signs.
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl CursorKey {
    pub fn derive(signing_key: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(signing_key).expect("HMAC takes any key length");
        mac.update(b"scim-bridge/cursor/v1");
        CursorKey(mac.finalize().into_bytes().into())
    }

    fn mac(&self, fp: &Fingerprint, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(&fp.0);
        mac.update(payload);
        mac
    }
}

/// A digest of what a cursor is valid for. It is signed with the cursor
/// but not carried in it: another query, or another IAM, fails the tag.
/// `count` and the projection are not part of it: a position in the order
/// does not depend on them, so a client may change its page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn new(
        resource_type: &str,
        iam: Uuid,
        filter: Option<&str>,
        sort_by: Option<&str>,
        descending: bool,
    ) -> Self {
        let mut h = Sha256::new();
        let mut field = |s: &[u8]| {
            h.update((s.len() as u64).to_be_bytes());
            h.update(s);
        };
        field(resource_type.as_bytes());
        field(iam.as_bytes());
        field(filter.map(str::trim).unwrap_or("").as_bytes());
        field(
            sort_by
                .map(|s| s.trim().to_ascii_lowercase())
                .unwrap_or_default()
                .as_bytes(),
        );
        field(&[u8::from(descending)]);
        Fingerprint(h.finalize().into())
    }
}

fn invalid() -> Error {
    Error::invalid(
        Invalid::Cursor,
        "the cursor is not valid for this query: send the nextCursor or previousCursor of a \
         previous response unchanged, with the query's other parameters (filter, sortBy, \
         sortOrder) as they were; an empty cursor starts again",
    )
}

fn expired(timeout_secs: u64) -> Error {
    Error::invalid(
        Invalid::ExpiredCursor,
        format!(
            "the cursor has expired: cursors are valid for {timeout_secs} seconds; start again \
             with an empty cursor"
        ),
    )
}

/// The cursor text for a position: base64url (RFC 3986 unreserved
/// characters only) of a small JSON payload and its HMAC-SHA256 tag.
/// `total` is the walk's `totalResults`, counted once on its first page
/// and carried along so that no later page counts the whole result again.
pub fn encode(
    key: &CursorKey,
    fp: &Fingerprint,
    seek: &Seek,
    total: Option<u64>,
    now: OffsetDateTime,
) -> String {
    let mut p = Map::new();
    p.insert("v".into(), json!(VERSION));
    let d = match seek.direction {
        Direction::After => "a",
        Direction::Before => "b",
    };
    p.insert("d".into(), json!(d));
    if seek.inclusive {
        p.insert("x".into(), json!(true));
    }
    if let Some(k) = &seek.from.key {
        p.insert("k".into(), key_json(k));
    }
    p.insert("id".into(), json!(seek.from.id.simple().to_string()));
    if let Some(n) = total {
        p.insert("n".into(), json!(n));
    }
    p.insert("t".into(), json!(now.unix_timestamp()));
    let mut bytes = Value::Object(p).to_string().into_bytes();
    let tag = key.mac(fp, &bytes).finalize().into_bytes();
    bytes.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The position a cursor names, if it is ours, untouched, issued for this
/// query and younger than `timeout_secs`; and the total it carries.
pub fn decode(
    key: &CursorKey,
    fp: &Fingerprint,
    cursor: &str,
    now: OffsetDateTime,
    timeout_secs: u64,
) -> Result<(Seek, Option<u64>), Error> {
    if cursor.len() > MAX_LEN {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| invalid())?;
    if bytes.len() <= TAG_LEN {
        return Err(invalid());
    }
    let (payload, tag) = bytes.split_at(bytes.len() - TAG_LEN);
    // Constant time: `verify_slice` compares with `subtle`.
    key.mac(fp, payload)
        .verify_slice(tag)
        .map_err(|_| invalid())?;
    // Signed by us: what follows fails only across server versions.
    let p: Value = serde_json::from_slice(payload).map_err(|_| invalid())?;
    if p.get("v").and_then(Value::as_u64) != Some(VERSION) {
        return Err(invalid());
    }
    let issued = p.get("t").and_then(Value::as_i64).ok_or_else(invalid)?;
    let age = now.unix_timestamp().saturating_sub(issued);
    if age > i64::try_from(timeout_secs).unwrap_or(i64::MAX) {
        return Err(expired(timeout_secs));
    }
    let direction = match p.get("d").and_then(Value::as_str) {
        Some("a") => Direction::After,
        Some("b") => Direction::Before,
        _ => return Err(invalid()),
    };
    let id = p
        .get("id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(invalid)?;
    let key = p.get("k").map(key_value).transpose()?;
    let total = match p.get("n") {
        None => None,
        Some(n) => Some(n.as_u64().ok_or_else(invalid)?),
    };
    let seek = Seek {
        direction,
        inclusive: p.get("x").and_then(Value::as_bool).unwrap_or(false),
        from: Keyset { key, id },
    };
    Ok((seek, total))
}

fn key_json(k: &KeyValue) -> Value {
    match k {
        KeyValue::Null => Value::Null,
        KeyValue::Text(s) => json!({ "s": s }),
        KeyValue::Int(i) => json!({ "i": i }),
        KeyValue::Real(f) => json!({ "r": f }),
        KeyValue::Bool(b) => json!({ "b": b }),
        KeyValue::Time(t) => json!({ "t": (t.unix_timestamp_nanos() / 1000) as i64 }),
        KeyValue::Numeric(n) => json!({ "n": n }),
    }
}

fn key_value(v: &Value) -> Result<KeyValue, Error> {
    let Some(obj) = v.as_object() else {
        return if v.is_null() {
            Ok(KeyValue::Null)
        } else {
            Err(invalid())
        };
    };
    let (tag, v) = obj
        .iter()
        .next()
        .filter(|_| obj.len() == 1)
        .ok_or_else(invalid)?;
    let str_of = |v: &Value| v.as_str().map(str::to_owned).ok_or_else(invalid);
    Ok(match tag.as_str() {
        "s" => KeyValue::Text(str_of(v)?),
        "n" => KeyValue::Numeric(str_of(v)?),
        "i" => KeyValue::Int(v.as_i64().ok_or_else(invalid)?),
        "r" => KeyValue::Real(v.as_f64().ok_or_else(invalid)?),
        "b" => KeyValue::Bool(v.as_bool().ok_or_else(invalid)?),
        "t" => {
            let us = v.as_i64().ok_or_else(invalid)?;
            KeyValue::Time(
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
                    .map_err(|_| invalid())?,
            )
        }
        _ => return Err(invalid()),
    })
}

/// The positions of the next and previous pages of a page read from
/// `requested` (None: the first page). `nextCursor` is left out only on
/// the last page and `previousCursor` only on the first; an empty page
/// in the middle (its neighbours deleted meanwhile) points back across
/// its own boundary, inclusively.
pub fn neighbours(requested: Option<&Seek>, page: &ListPage) -> (Option<Seek>, Option<Seek>) {
    let seek = |direction, inclusive, from: &Keyset| Seek {
        direction,
        inclusive,
        from: from.clone(),
    };
    let first = page.bounds.as_ref().map(|b| &b.0);
    let last = page.bounds.as_ref().map(|b| &b.1);
    match requested {
        None => (
            last.filter(|_| page.more)
                .map(|l| seek(Direction::After, false, l)),
            None,
        ),
        Some(r) if r.direction == Direction::After => (
            last.filter(|_| page.more)
                .map(|l| seek(Direction::After, false, l)),
            Some(match first {
                Some(f) => seek(Direction::Before, false, f),
                None => seek(Direction::Before, !r.inclusive, &r.from),
            }),
        ),
        Some(r) => (
            Some(match last {
                Some(l) => seek(Direction::After, false, l),
                None => seek(Direction::After, !r.inclusive, &r.from),
            }),
            first
                .filter(|_| page.more)
                .map(|f| seek(Direction::Before, false, f)),
        ),
    }
}

#[cfg(test)]
mod tests;
