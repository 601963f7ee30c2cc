//! Group members streamed into a response body. A group's document is small;
//! its members may be a million, so they never sit in memory as a list: the
//! body is the group's document without `members`, then the members as the
//! database returns them (`Members::stream_members`), written in chunks of
//! [`CHUNK`] bytes through a bounded channel. The shape is the one of a
//! document serialised whole (`members` comes last, and is left out when the
//! group has none).
//!
//! The status goes out before the members: a storage error after the first
//! chunk cannot become an error status. The writer ends the body with that
//! error instead, which aborts the response (the connection closes before
//! the body's end), so that a client never takes a truncated document for a
//! whole one. The first chunk is produced only once the first members were
//! read, so a query that fails to start is still an ordinary 500.

use std::collections::HashSet;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::ids::{GroupId, IamId};
use crate::scim::projection::Projection;
use crate::scim::schema::GROUP_RESOURCE;
use crate::store::{DynStore, Member, MemberKind, StoreError};

/// The body buffer is sent on once it holds this much.
pub const CHUNK: usize = 64 * 1024;

/// Chunks in flight between the writer and the connection: with [`CHUNK`],
/// what a response holds in memory, whatever the group's size.
const IN_FLIGHT: usize = 4;

/// A response body in chunks.
pub type Chunks = BoxStream<'static, Result<Vec<u8>, StoreError>>;

/// Which sub-attributes of each member the response carries, as the
/// projection decides them for one member that has them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberFields {
    reference: bool,
    display: bool,
    kind: bool,
    value: bool,
}

impl MemberFields {
    /// None when the projection leaves `members` out: no member is read.
    pub fn of(proj: &Projection) -> Option<MemberFields> {
        if !proj.includes(&GROUP_RESOURCE, None, "members") {
            return None;
        }
        let sample = json!({
            "members": [{"value": "v", "$ref": "r", "type": "User", "display": "d"}]
        });
        let out = proj.apply(&GROUP_RESOURCE, &sample);
        let member = out.get("members")?.get(0)?.as_object()?;
        Some(MemberFields {
            reference: member.contains_key("$ref"),
            display: member.contains_key("display"),
            kind: member.contains_key("type"),
            value: member.contains_key("value"),
        })
    }
}

/// The groups of a response whose members its body streams.
#[derive(Debug, Clone)]
pub struct MemberLists {
    pub iam: IamId,
    /// The SCIM base URL the members' `$ref`s start with.
    pub base_url: String,
    pub fields: MemberFields,
    pub groups: HashSet<GroupId>,
}

impl MemberLists {
    fn has(&self, doc: &Value) -> Option<GroupId> {
        let id = doc.get("id")?.as_str()?;
        let id = id.parse().ok()?;
        self.groups.contains(&id).then_some(id)
    }
}

/// One resource document, with its members when `lists` names it.
pub fn document(store: DynStore, lists: MemberLists, doc: Value) -> Chunks {
    spawn(store, lists, move |w| async move {
        w.resource(&doc).await?.finish().await
    })
}

/// A ListResponse: `envelope` (the response without `Resources`), then the
/// resources, each group in `lists` with its members.
pub fn list(store: DynStore, lists: MemberLists, envelope: Value, resources: Vec<Value>) -> Chunks {
    spawn(store, lists, move |mut w| async move {
        let head = serde_json::to_vec(&envelope).map_err(corrupt)?;
        let open = head.len().saturating_sub(1);
        w.buf.extend_from_slice(&head[..open]);
        w.buf.extend_from_slice(if open > 1 {
            b",\"Resources\":["
        } else {
            b"\"Resources\":["
        });
        for (i, doc) in resources.iter().enumerate() {
            if i > 0 {
                w.buf.push(b',');
            }
            w = w.resource(doc).await?;
        }
        w.buf.extend_from_slice(b"]}");
        w.finish().await
    })
}

/// Why a writer stopped early.
enum Stop {
    /// The client went away: nothing more to do.
    Gone,
    Failed(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Failed(e)
    }
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn spawn<F, Fut>(store: DynStore, lists: MemberLists, write: F) -> Chunks
where
    F: FnOnce(Writer) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), Stop>> + Send,
{
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let refs = |endpoint: &str| {
        let s = serde_json::to_string(&format!("{}/{endpoint}/", lists.base_url))
            .unwrap_or_else(|_| "\"".to_owned());
        // Without the closing quote: the member's id follows.
        s[..s.len() - 1].to_owned()
    };
    let writer = Writer {
        user_ref: refs("Users"),
        group_ref: refs("Groups"),
        store,
        lists,
        tx: tx.clone(),
        buf: Vec::with_capacity(CHUNK + 1024),
    };
    // In the request's span, so that its log line carries the request id.
    let span = tracing::Span::current();
    tokio::spawn(tracing::Instrument::instrument(
        async move {
            if let Err(Stop::Failed(e)) = write(writer).await {
                tracing::error!(cause = %e, "response body aborted: reading group members failed");
                let _ = tx.send(Err(e)).await;
            }
        },
        span,
    ));
    futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((chunk, rx))
    })
    .boxed()
}

struct Writer {
    store: DynStore,
    lists: MemberLists,
    tx: mpsc::Sender<Result<Vec<u8>, StoreError>>,
    buf: Vec<u8>,
    /// `"https://host/scim/v2/Users/` as a JSON string's start.
    user_ref: String,
    group_ref: String,
}

impl Writer {
    async fn flush(&mut self) -> Result<(), Stop> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK + 1024));
        self.tx.send(Ok(chunk)).await.map_err(|_| Stop::Gone)
    }

    async fn finish(mut self) -> Result<(), Stop> {
        if !self.buf.is_empty() {
            self.flush().await?;
        }
        Ok(())
    }

    /// Takes and gives back `self`, so that callers may hold it mutably
    /// across awaits without borrowing their own state.
    async fn resource(mut self, doc: &Value) -> Result<Self, Stop> {
        let bytes = serde_json::to_vec(doc).map_err(corrupt)?;
        let Some(group) = self.lists.has(doc) else {
            self.buf.extend_from_slice(&bytes);
            return Ok(self);
        };
        // Always non-empty: `id` is always returned.
        self.buf.extend_from_slice(&bytes[..bytes.len() - 1]);
        let store = self.store.clone();
        let mut members = store.stream_members(self.lists.iam, group);
        let mut first = true;
        while let Some(m) = members.next().await {
            let m = m?;
            self.buf
                .extend_from_slice(if first { b",\"members\":[" } else { b"," });
            first = false;
            self.member(&m);
            if self.buf.len() >= CHUNK {
                self.flush().await?;
            }
        }
        if !first {
            self.buf.push(b']');
        }
        self.buf.push(b'}');
        Ok(self)
    }

    /// A member as `serde_json` writes one: keys in its (sorted) order.
    fn member(&mut self, m: &Member) {
        let f = self.lists.fields;
        let mut id_buf = [0u8; 36];
        let id = m.id.hyphenated().encode_lower(&mut id_buf).as_bytes();
        let mut sep = b'{';
        let mut key = |buf: &mut Vec<u8>, k: &[u8]| {
            buf.push(sep);
            sep = b',';
            buf.extend_from_slice(k);
        };
        if f.reference {
            key(&mut self.buf, b"\"$ref\":");
            let base = match m.kind {
                MemberKind::User => &self.user_ref,
                MemberKind::Group => &self.group_ref,
            };
            self.buf.extend_from_slice(base.as_bytes());
            self.buf.extend_from_slice(id);
            self.buf.push(b'"');
        }
        if f.display
            && let Some(d) = &m.display
        {
            key(&mut self.buf, b"\"display\":");
            // Writing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut self.buf, d);
        }
        if f.kind {
            key(&mut self.buf, b"\"type\":\"");
            self.buf.extend_from_slice(m.kind.as_str().as_bytes());
            self.buf.push(b'"');
        }
        if f.value {
            key(&mut self.buf, b"\"value\":\"");
            self.buf.extend_from_slice(id);
            self.buf.push(b'"');
        }
        if sep == b'{' {
            self.buf.push(b'{');
        }
        self.buf.push(b'}');
    }
}
