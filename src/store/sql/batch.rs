//! A run of creates (SCIM Bulk POSTs) in one write, each behind its own
//! savepoint: an item that fails is undone alone, and the transaction
//! stays usable for the next (a failed statement aborts a PostgreSQL one).
//! The run goes through `Backend::write`, so on SQLite it shares its fsync
//! with the writes queued meanwhile (group commit).

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::groups::insert_group_rows;
use super::lists::created;
use super::users::create_user_rows;
use super::{Backend, SqlStore, audit, query};
use crate::audit::Entry;
use crate::ids::IamId;
use crate::store::{Bulk, GroupWrite, MemberKind, NewResource, Result, Stored, UserWrite};

/// One create of a batch, owned: the write may run on another task.
struct Item {
    id: Uuid,
    records: Vec<Entry>,
    what: What,
}

enum What {
    User {
        user: UserWrite,
        grants: Vec<String>,
    },
    Group {
        group: GroupWrite,
        members: Vec<(Uuid, MemberKind)>,
    },
}

impl From<&NewResource<'_>> for Item {
    fn from(r: &NewResource<'_>) -> Self {
        let (id, records, what) = match *r {
            NewResource::User {
                id,
                user,
                grants,
                records,
            } => {
                let (user, grants) = (user.clone(), grants.to_vec());
                (id, records, What::User { user, grants })
            }
            NewResource::Group {
                id,
                group,
                members,
                records,
            } => {
                let (group, members) = (group.clone(), members.to_vec());
                (id, records, What::Group { group, members })
            }
        };
        let records = records.to_vec();
        Item { id, records, what }
    }
}

impl What {
    /// The first group it adds as a member, if any.
    fn nests(&self) -> Option<(Uuid, MemberKind)> {
        match self {
            What::Group { members, .. } => members
                .iter()
                .find(|(_, k)| *k == MemberKind::Group)
                .copied(),
            What::User { .. } => None,
        }
    }

    /// Writes the rows of `id` behind their own savepoint: what it stored,
    /// or why it was undone.
    async fn insert<B: Backend>(
        self,
        tx: &mut B::Conn,
        iam: IamId,
        id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Result<Stored>> {
        B::execute(tx, query("SAVEPOINT batch_item")).await?;
        let (done, doc) = match self {
            What::User { user, grants } => (
                create_user_rows::<B>(tx, iam, id, &user, &grants, now).await,
                user.doc,
            ),
            What::Group { group, members } => (
                insert_group_rows::<B>(tx, iam, id, &group, &members, now).await,
                group.doc,
            ),
        };
        if done.is_err() {
            B::execute(tx, query("ROLLBACK TO SAVEPOINT batch_item")).await?;
        }
        B::execute(tx, query("RELEASE SAVEPOINT batch_item")).await?;
        Ok(done.map(|()| created(id, doc, now)))
    }
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
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let items: Vec<Item> = items.iter().map(Item::from).collect();
        self.write(move |tx| {
            Box::pin(async move {
                let mut out = Vec::with_capacity(items.len());
                let mut errors = 0;
                let mut entries = Vec::new();
                // The nesting lock, before any item writes rows and outside
                // their savepoints (rolling one back would give the lock
                // back early).
                let nests: Vec<(Uuid, MemberKind)> = items
                    .iter()
                    .filter_map(|i| i.what.nests())
                    .take(1)
                    .collect();
                super::nesting::lock::<B>(tx, iam, &nests).await?;
                for Item { id, records, what } in items {
                    let done = what.insert::<B>(tx, iam, id, now).await?;
                    match done {
                        Ok(_) => entries.extend(records),
                        Err(_) => errors += 1,
                    }
                    out.push(done);
                    if errors >= max_errors {
                        break;
                    }
                }
                audit::append_all::<B>(tx, &entries, now).await?;
                Ok(out)
            })
        })
        .await
    }
}
