//! The audit log as administrators read it (filtered pages, one record's
//! JSON shape) and the replay that verifies its hash chain.

use serde_json::{Value, json};

use super::accounts::Ctx;
use super::permissions::may;
use super::{Directory, Result, rfc3339};

impl Directory {
    pub async fn audit_log(
        &self,
        ctx: &Ctx,
        q: &crate::store::accounts::AuditQuery,
    ) -> Result<Value> {
        ctx.require(may::READ_AUDIT)?;
        let (items, count) = self.store.audit_records(q).await?;
        Ok(json!({
            "hits": items.iter().map(audit_json).collect::<Vec<_>>(),
            "count": count,
        }))
    }

    /// Replays the audit chain from the first record; the number of records
    /// when intact, else what is broken where.
    /// Replays the chain up to the head as it was when the check began:
    /// servers may go on writing meanwhile (the head is read first, since
    /// a record committed between reading the log and reading the head
    /// looked like a removed tail), and what they add is checked next time.
    pub async fn verify_audit(&self) -> Result<std::result::Result<i64, crate::audit::Broken>> {
        let (head_seq, head_hash) = self.store.audit_head().await?;
        let mut v = crate::audit::Verifier::default();
        let mut after = 0;
        while after < head_seq {
            let batch = self.store.audit_chain(after, 1000).await?;
            let Some(last) = batch.last() else { break };
            after = last.seq;
            for r in batch.iter().take_while(|r| r.seq <= head_seq) {
                if let Err(broken) = v.push(r) {
                    return Ok(Err(broken));
                }
            }
        }
        Ok(v.finish(head_seq, &head_hash))
    }
}

pub fn audit_json(r: &crate::audit::Record) -> Value {
    use crate::audit::FLAG_PREFIX;
    json!({
        "seq": r.seq,
        "id": r.id,
        "at": rfc3339(r.at),
        "actor": r.actor,
        "action": r.action,
        "targetKind": r.target_kind,
        "target": r.target_id,
        "outcome": r.outcome,
        "requestId": r.request_id,
        "attributes": r.attributes.iter().filter(|a| !a.starts_with(FLAG_PREFIX)).collect::<Vec<_>>(),
        "flags": r.attributes.iter().filter_map(|a| a.strip_prefix(FLAG_PREFIX)).collect::<Vec<_>>(),
    })
}
