//! The managed attribute layer of users and groups: keys with sets of
//! values, changed by operations applied in order.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::{Backend, Record, SqlStore, Ty, audit, query};
use crate::audit::Entry;
use crate::store::accounts::{AttributeDelta, AttributeOp, AttributeRecords, Attributes, Discard};
use crate::store::{Result, StoreError};

#[async_trait]
impl<B: Backend> Attributes for SqlStore<B> {
    async fn attributes(&self, owners: &[Uuid]) -> Result<Vec<(Uuid, String, String)>> {
        if owners.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT owner_id, key, value FROM attributes WHERE owner_id IN ({})
             ORDER BY owner_id, key, value",
            B::DIALECT.each(1, Ty::Uuid)
        );
        let rows = self.read_all(query(sql).bind(owners)).await?;
        rows.iter()
            .map(|r| Ok((r.uuid("owner_id")?, r.text("key")?, r.text("value")?)))
            .collect()
    }

    async fn patch_attributes(
        &self,
        owner: Uuid,
        ops: &[AttributeOp],
        records: &AttributeRecords<'_>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let found = B::fetch_optional(
            &mut tx,
            query("SELECT 1 FROM users WHERE id = $1 UNION ALL SELECT 1 FROM groups WHERE id = $1")
                .bind(owner),
        )
        .await?;
        if found.is_none() {
            return Err(StoreError::NotFound);
        }
        let entries = patch_in::<B>(&mut tx, owner, ops, records, now).await?;
        audit::append_all::<B>(&mut tx, &entries, now).await?;
        B::commit(tx).await
    }
}

/// Applies attribute operations in order inside a transaction; the
/// domain's records of what each did, for the caller to append.
pub(super) async fn patch_in<B: Backend>(
    tx: &mut B::Conn,
    owner: Uuid,
    ops: &[AttributeOp],
    records: &AttributeRecords<'_>,
    now: OffsetDateTime,
) -> Result<Vec<Entry>> {
    let mut deltas = Vec::with_capacity(ops.len());
    for op in ops {
        let (key, values, drop) = match op {
            AttributeOp::Add { key, values } => (key, values, Discard::Nothing),
            AttributeOp::Replace { key, values } => (key, values, Discard::AllBut),
            AttributeOp::Remove { key, values } if values.is_empty() => {
                (key, values, Discard::AllBut)
            }
            AttributeOp::Remove { key, values } => (key, values, Discard::These),
        };
        let mut removed = 0;
        if drop != Discard::Nothing {
            let held = B::fetch_all(
                tx,
                query("SELECT value FROM attributes WHERE owner_id = $1 AND key = $2")
                    .bind(owner)
                    .bind(key),
            )
            .await?;
            for r in held {
                let v = r.text("value")?;
                let listed = values.contains(&v);
                if listed == (drop == Discard::These) {
                    removed += B::execute(
                        tx,
                        query(
                            "DELETE FROM attributes \
                             WHERE owner_id = $1 AND key = $2 AND value = $3",
                        )
                        .bind(owner)
                        .bind(key)
                        .bind(v),
                    )
                    .await?;
                }
            }
        }
        let mut added = 0;
        if !matches!(op, AttributeOp::Remove { .. }) {
            for v in values {
                added += B::execute(
                    tx,
                    query(
                        "INSERT INTO attributes (owner_id, key, value, added) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(owner)
                    .bind(key)
                    .bind(v)
                    .bind(now),
                )
                .await?;
            }
        }
        deltas.push(AttributeDelta {
            key,
            removed: removed > 0,
            added: added > 0,
        });
    }
    Ok(records(&deltas))
}
