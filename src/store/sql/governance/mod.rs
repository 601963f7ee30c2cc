//! Governance as storage keeps it, written once for both databases: each
//! trait of `store::governance::Governance` in the module of its concept.

mod data_sources;
mod jobs;
mod policies;
mod tags;

pub(super) use data_sources::{assemble, insert_parts};
pub(super) use policies::{POLICY_COLUMNS, policy_row};
pub(super) use tags::{TAG_COLUMNS, tag_row};

use super::{Backend, Ty, query};
use crate::store::governance::TAG_NOT_APPLICABLE;
use crate::store::{Result, StoreError};

/// Conflict([`TAG_NOT_APPLICABLE`]) unless every tag named is there and
/// not deleted, inside a write's transaction; their rows stay locked
/// (PostgreSQL) until it ends, so that none is deleted meanwhile.
async fn require_live_tags<B: Backend>(tx: &mut B::Conn, names: &[String]) -> Result<()> {
    let mut distinct: Vec<&String> = names.iter().collect();
    distinct.sort();
    distinct.dedup();
    if distinct.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT name FROM tags WHERE name IN ({}) AND deleted IS NULL{}",
        B::DIALECT.each(1, Ty::Text),
        B::DIALECT.for_update()
    );
    let live = B::fetch_all(tx, query(sql).bind(names.to_vec())).await?;
    if live.len() == distinct.len() {
        Ok(())
    } else {
        Err(StoreError::Conflict(TAG_NOT_APPLICABLE))
    }
}
