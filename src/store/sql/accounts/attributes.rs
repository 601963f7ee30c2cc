//! The managed attribute layer of users and groups: keys with sets of
//! values, changed by operations applied in order.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::{Backend, Record, SqlStore, Ty, audit, query};
use crate::audit::Entry;
use crate::ids::IamId;
use crate::store::GroupRef;
use crate::store::accounts::{
    AccountInputs, AttributeDelta, AttributeOp, AttributeRecords, Attributes, BUILT_IN_IAM_ID,
    Discard, Grant,
};
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

    async fn account_inputs(&self, user: Uuid, attributes: bool) -> Result<AccountInputs> {
        // One row per group (`g`), per grant (`p`) and per managed
        // attribute (`a`). The groups walk up the nesting as
        // `groups_of_users` does, kept to the account's identity provider
        // and the built-in IAM (`$2`).
        let owned = if attributes {
            "UNION ALL
             SELECT 'a', owner_id, NULL, key, value, NULL, NULL FROM attributes
             WHERE owner_id = $1 OR owner_id IN (SELECT id FROM mine)"
        } else {
            ""
        };
        let sql = format!(
            "WITH RECURSIVE up(group_id, direct) AS (
                 SELECT group_id, 1 FROM group_members WHERE member_id = $1
                 UNION
                 SELECT gm.group_id, 0 FROM up JOIN group_members gm ON gm.member_id = up.group_id
             ),
             mine AS (
                 SELECT g.id, g.iam_id, g.display_name, g.display_name_folded,
                        MAX(up.direct) = 1 AS direct
                 FROM up JOIN groups g ON g.id = up.group_id
                 WHERE g.iam_id = $2 OR g.iam_id = (SELECT iam_id FROM users WHERE id = $1)
                 GROUP BY g.id, g.iam_id, g.display_name, g.display_name_folded
             )
             SELECT 'g' AS part, id AS owner, iam_id AS iam, display_name AS name,
                    display_name_folded AS value, direct, NULL AS granted
             FROM mine
             UNION ALL
             SELECT 'p', NULL, NULL, permission, source, NULL, granted
             FROM user_permissions WHERE user_id = $1
             {owned}"
        );
        let rows = self
            .read_all(query(sql).bind(user).bind(BUILT_IN_IAM_ID))
            .await?;
        let mut out = AccountInputs::default();
        let mut folded = Vec::new();
        for r in rows {
            match r.text("part")?.as_str() {
                "g" => {
                    let group = GroupRef {
                        id: r.uuid("owner")?,
                        display_name: r.text("name")?,
                        direct: r.bool("direct")?,
                    };
                    folded.push((r.text("value")?, group.id));
                    out.groups.push((IamId::new(r.uuid("iam")?), group));
                }
                "p" => out.grants.push(Grant {
                    permission: r.text("name")?,
                    source: r.text("value")?,
                    granted: r.time("granted")?,
                }),
                _ => out
                    .attributes
                    .push((r.uuid("owner")?, r.text("name")?, r.text("value")?)),
            }
        }
        // In the orders the separate reads give (the text bytewise).
        let mut order: Vec<usize> = (0..out.groups.len()).collect();
        order.sort_by(|&a, &b| folded[a].cmp(&folded[b]));
        out.groups = order.into_iter().map(|i| out.groups[i].clone()).collect();
        out.grants
            .sort_by(|a, b| (&a.permission, &a.source).cmp(&(&b.permission, &b.source)));
        out.attributes.sort();
        Ok(out)
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
