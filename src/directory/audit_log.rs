//! The audit log as administrators read it (filtered pages, one record's
//! JSON shape) and the replay that verifies its hash chain.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::accounts::Ctx;
use super::permissions::may;
use super::{Directory, Result, Timestamp};
use crate::audit::{FLAG_PREFIX, Record};

impl Directory {
    pub async fn audit_log(
        &self,
        ctx: &Ctx,
        q: &crate::store::accounts::AuditQuery,
    ) -> Result<AuditPage> {
        ctx.require(may::READ_AUDIT)?;
        let (items, count) = self.store.audit_records(q).await?;
        Ok(AuditPage {
            hits: items.iter().map(AuditView::from).collect(),
            count,
        })
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

/// A page of the audit log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditPage {
    pub hits: Vec<AuditView>,
    pub count: u64,
}

/// One audit record as administrators read it: the flags (what the
/// change carried, e.g. a userName that looks like another) apart from
/// the attributes changed; the chain's hashes left out.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditView {
    pub seq: i64,
    pub id: Uuid,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub target_kind: Option<String>,
    pub target: Option<Uuid>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub attributes: Vec<String>,
    pub flags: Vec<String>,
}

impl From<&Record> for AuditView {
    fn from(r: &Record) -> Self {
        AuditView {
            seq: r.seq,
            id: r.id,
            at: Timestamp(r.at),
            actor: r.actor.clone(),
            action: r.action.clone(),
            target_kind: r.target_kind.clone(),
            target: r.target_id,
            outcome: r.outcome.clone(),
            request_id: r.request_id.clone(),
            attributes: r
                .attributes
                .iter()
                .filter(|a| !a.starts_with(FLAG_PREFIX))
                .cloned()
                .collect(),
            flags: r
                .attributes
                .iter()
                .filter_map(|a| a.strip_prefix(FLAG_PREFIX))
                .map(str::to_owned)
                .collect(),
        }
    }
}
