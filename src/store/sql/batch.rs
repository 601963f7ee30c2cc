//! A run of creates (SCIM Bulk POSTs) in one transaction, each behind its
//! own savepoint: an item that fails is undone alone, and the transaction
//! stays usable for the next (a failed statement aborts a PostgreSQL one).

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::groups::insert_group_rows;
use super::users::create_user_rows;
use super::{Backend, SqlStore, audit, query};
use crate::ids::IamId;
use crate::store::{Bulk, MemberKind, NewResource, Result, Stored};

/// One create of a batch, behind its own savepoint.
async fn insert_item<B: Backend>(
    tx: &mut B::Conn,
    iam: IamId,
    item: &NewResource<'_>,
    now: OffsetDateTime,
) -> Result<Result<Stored>> {
    B::execute(tx, query("SAVEPOINT batch_item")).await?;
    let done = match *item {
        NewResource::User {
            id, user, grants, ..
        } => create_user_rows::<B>(tx, iam, id, user, grants, now).await,
        NewResource::Group {
            id, group, members, ..
        } => insert_group_rows::<B>(tx, iam, id, group, members, now).await,
    };
    if done.is_err() {
        B::execute(tx, query("ROLLBACK TO SAVEPOINT batch_item")).await?;
    }
    B::execute(tx, query("RELEASE SAVEPOINT batch_item")).await?;
    Ok(done)
}

#[async_trait]
impl<B: Backend> Bulk for SqlStore<B> {
    async fn insert_batch(
        &self,
        iam: IamId,
        items: &[NewResource<'_>],
        max_errors: usize,
        now: OffsetDateTime,
    ) -> Result<Vec<Result<Stored>>> {
        let mut out = Vec::with_capacity(items.len());
        if items.is_empty() {
            return Ok(out);
        }
        let mut errors = 0;
        let mut entries = Vec::new();
        let mut tx = self.begin().await?;
        // The nesting lock, before any item writes rows and outside their
        // savepoints (rolling one back would give the lock back early).
        let nests: Vec<(Uuid, MemberKind)> = items
            .iter()
            .filter_map(|i| match i {
                NewResource::Group { members, .. } => members
                    .iter()
                    .find(|(_, k)| *k == MemberKind::Group)
                    .copied(),
                NewResource::User { .. } => None,
            })
            .take(1)
            .collect();
        super::nesting::lock::<B>(&mut tx, iam, &nests).await?;
        for item in items {
            let done = insert_item::<B>(&mut tx, iam, item, now).await?;
            errors += usize::from(done.is_err());
            if done.is_ok() {
                let (NewResource::User { records, .. } | NewResource::Group { records, .. }) = item;
                entries.extend_from_slice(records);
            }
            out.push(done);
            if errors >= max_errors {
                break;
            }
        }
        audit::append_all::<B>(&mut tx, &entries, now).await?;
        B::commit(tx).await?;
        Ok(out)
    }
}
