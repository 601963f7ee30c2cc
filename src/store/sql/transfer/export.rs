//! The reads of an export, each a page in key order after the last key
//! read (keyset, never OFFSET), with the grants and attributes of a page's
//! users and groups read in one statement each. The import reads the rows
//! it compares with through the same `users_of` / `groups_of`.

use std::collections::HashMap;

use futures_util::stream::{self, StreamExt};
use uuid::Uuid;

use super::*;
use crate::store::accounts::{Grant, LinkedSubscription, PermissionDef};
use crate::store::governance::{DataSource, StoredPolicy, Tag};
use crate::store::sql::accounts::permission_def;
use crate::store::sql::governance::{POLICY_COLUMNS, TAG_COLUMNS, assemble, policy_row, tag_row};
use crate::store::sql::{Query, Ty};

/// The page of `select` (a SELECT with no WHERE) whose `key` (one column
/// or several) follows `after` in key order (the first page without it):
/// at most `limit` rows.
fn keyset_page(select: &str, key: &str, after: &[Uuid], limit: u64) -> Query {
    let mut sql = select.to_owned();
    if !after.is_empty() {
        let params: Vec<String> = (0..after.len()).map(|i| format!("${}", i + 2)).collect();
        sql.push_str(&format!(" WHERE ({key}) > ({})", params.join(", ")));
    }
    sql.push_str(&format!(" ORDER BY {key} LIMIT $1"));
    let mut q = query(sql).bind(limit as i64);
    for id in after {
        q = q.bind(*id);
    }
    q
}

impl<B: Backend> SqlTx<B> {
    /// The managed attributes of these owners, by owner.
    async fn attributes_of(&mut self, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<AttributeValue>>> {
        let sql = format!(
            "SELECT owner_id, key, value, added FROM attributes WHERE owner_id IN ({})",
            B::DIALECT.each(1, Ty::Uuid)
        );
        let rows = B::fetch_all(&mut self.0, query(sql).bind(ids)).await?;
        let mut out: HashMap<Uuid, Vec<AttributeValue>> = HashMap::new();
        for r in rows {
            out.entry(r.uuid("owner_id")?)
                .or_default()
                .push(AttributeValue {
                    key: r.text("key")?,
                    value: r.text("value")?,
                    added: r.time("added")?,
                });
        }
        Ok(out)
    }

    /// The users of `USER_COLUMNS` rows, with their grants and attributes.
    pub(super) async fn users_of(&mut self, rows: Vec<B::Row>) -> Result<Vec<UserRecord>> {
        let mut users = rows.iter().map(user_record).collect::<Result<Vec<_>>>()?;
        if users.is_empty() {
            return Ok(users);
        }
        let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
        let sql = format!(
            "SELECT user_id, permission, source, granted FROM user_permissions
             WHERE user_id IN ({})",
            B::DIALECT.each(1, Ty::Uuid)
        );
        let rows = B::fetch_all(&mut self.0, query(sql).bind(&ids[..])).await?;
        let mut grants: HashMap<Uuid, Vec<Grant>> = HashMap::new();
        for r in rows {
            grants.entry(r.uuid("user_id")?).or_default().push(Grant {
                permission: r.text("permission")?,
                source: r.text("source")?,
                granted: r.time("granted")?,
            });
        }
        let mut attributes = self.attributes_of(&ids).await?;
        for u in &mut users {
            u.grants = grants.remove(&u.id).unwrap_or_default();
            u.attributes = attributes.remove(&u.id).unwrap_or_default();
            canonical_order(&mut u.grants, &mut u.attributes);
        }
        Ok(users)
    }

    /// The groups of `GROUP_COLUMNS` rows, with their attributes.
    pub(super) async fn groups_of(&mut self, rows: Vec<B::Row>) -> Result<Vec<GroupRecord>> {
        let mut groups = rows.iter().map(group_record).collect::<Result<Vec<_>>>()?;
        if groups.is_empty() {
            return Ok(groups);
        }
        let ids: Vec<Uuid> = groups.iter().map(|g| g.id).collect();
        let mut attributes = self.attributes_of(&ids).await?;
        for g in &mut groups {
            g.attributes = attributes.remove(&g.id).unwrap_or_default();
            canonical_order(&mut [], &mut g.attributes);
        }
        Ok(groups)
    }
}

/// The reads of an export's pages, from one snapshot.
impl<B: Backend> SqlTx<B> {
    async fn iams(&mut self) -> Result<Vec<IamRecord>> {
        let sql = format!("SELECT {IAM_COLUMNS} FROM iams ORDER BY name");
        let rows = B::fetch_all(&mut self.0, query(sql)).await?;
        rows.iter().map(iam_record).collect()
    }

    async fn custom_permissions(&mut self) -> Result<Vec<PermissionDef>> {
        let rows = B::fetch_all(
            &mut self.0,
            query(
                "SELECT name, description, builtin FROM permissions \
                 WHERE NOT builtin ORDER BY name",
            ),
        )
        .await?;
        rows.iter().map(permission_def).collect()
    }

    async fn users(&mut self, after: Option<Uuid>, limit: u64) -> Result<Vec<UserRecord>> {
        let select = format!("SELECT {USER_COLUMNS} FROM users");
        let q = keyset_page(&select, "id", after.as_slice(), limit);
        let rows = B::fetch_all(&mut self.0, q).await?;
        self.users_of(rows).await
    }

    async fn groups(&mut self, after: Option<Uuid>, limit: u64) -> Result<Vec<GroupRecord>> {
        let select = format!("SELECT {GROUP_COLUMNS} FROM groups");
        let q = keyset_page(&select, "id", after.as_slice(), limit);
        let rows = B::fetch_all(&mut self.0, q).await?;
        self.groups_of(rows).await
    }

    async fn memberships(
        &mut self,
        after: Option<(Uuid, Uuid)>,
        limit: u64,
    ) -> Result<Vec<MembershipRecord>> {
        let select = format!("SELECT {MEMBERSHIP_COLUMNS} FROM group_members");
        let after: Vec<Uuid> = after.map(|(g, m)| vec![g, m]).unwrap_or_default();
        let q = keyset_page(&select, "group_id, member_id", &after, limit);
        let rows = B::fetch_all(&mut self.0, q).await?;
        rows.iter().map(membership_record).collect()
    }

    async fn subscriptions(
        &mut self,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<LinkedSubscription>> {
        let select = format!("SELECT {LINKED_COLUMNS} FROM subscriptions");
        let q = keyset_page(&select, "id", after.as_slice(), limit);
        let rows = B::fetch_all(&mut self.0, q).await?;
        rows.iter().map(linked_row).collect()
    }

    /// Every tag, deleted or not, each parent before its children (a
    /// name sorts after its prefixes, bytewise).
    async fn tags(&mut self) -> Result<Vec<Tag>> {
        let sql = format!(
            "SELECT {TAG_COLUMNS} FROM tags ORDER BY name{}",
            B::DIALECT.bytewise()
        );
        let rows = B::fetch_all(&mut self.0, query(sql)).await?;
        rows.iter().map(tag_row).collect()
    }

    async fn policies(&mut self) -> Result<Vec<StoredPolicy>> {
        let sql = format!(
            "SELECT {POLICY_COLUMNS} FROM policies ORDER BY policy_key{}",
            B::DIALECT.bytewise()
        );
        let rows = B::fetch_all(&mut self.0, query(sql)).await?;
        rows.iter().map(policy_row).collect()
    }

    /// Data sources with their columns, tags and owners.
    pub(super) async fn data_sources(
        &mut self,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<DataSource>> {
        let select = "SELECT id, name, created FROM data_sources";
        let q = keyset_page(select, "id", after.as_slice(), limit);
        let rows = B::fetch_all(&mut self.0, q).await?;
        assemble::<B>(&mut self.0, rows).await
    }
}

/// Where an export stands: the next table and the key read last in it.
enum Phase {
    Start,
    Users(Option<Uuid>),
    Groups(Option<Uuid>),
    Members(Option<(Uuid, Uuid)>),
    DataSources(Option<Uuid>),
    Subscriptions(Option<Uuid>),
    Done,
}

/// The pages of an export, read in key order through the snapshot
/// transaction `open` begins (when the stream is first polled).
pub(super) fn export_pages<'a, B, F>(open: F, page: u64) -> ExportStream<'a>
where
    B: Backend,
    F: std::future::Future<Output = Result<SqlTx<B>>> + Send + 'a,
{
    let page = page.max(1);
    let start = (None::<SqlTx<B>>, Phase::Start, Some(open));
    stream::try_unfold(start, move |(reader, phase, open)| async move {
        let mut reader = match reader {
            Some(r) => r,
            None => match open {
                Some(f) => f.await?,
                None => return Ok(None),
            },
        };
        let mut phase = phase;
        loop {
            let (rows, next) = match phase {
                Phase::Start => {
                    let mut rows: Vec<ExportRecord> = reader
                        .iams()
                        .await?
                        .into_iter()
                        .map(ExportRecord::Iam)
                        .collect();
                    rows.extend(
                        reader
                            .custom_permissions()
                            .await?
                            .into_iter()
                            .map(ExportRecord::Permission),
                    );
                    let tags = reader.tags().await?;
                    rows.extend(tags.into_iter().map(ExportRecord::Tag));
                    let policies = reader.policies().await?;
                    rows.extend(policies.into_iter().map(ExportRecord::Policy));
                    (rows, Phase::Users(None))
                }
                Phase::Users(after) => {
                    let rows = reader.users(after, page).await?;
                    let next = match rows.last() {
                        Some(last) if rows.len() as u64 == page => Phase::Users(Some(last.id)),
                        _ => Phase::Groups(None),
                    };
                    (rows.into_iter().map(ExportRecord::User).collect(), next)
                }
                Phase::Groups(after) => {
                    let rows = reader.groups(after, page).await?;
                    let next = match rows.last() {
                        Some(last) if rows.len() as u64 == page => Phase::Groups(Some(last.id)),
                        _ => Phase::Members(None),
                    };
                    (rows.into_iter().map(ExportRecord::Group).collect(), next)
                }
                Phase::Members(after) => {
                    let rows = reader.memberships(after, page).await?;
                    let next = match rows.last() {
                        Some(last) if rows.len() as u64 == page => {
                            Phase::Members(Some((last.group, last.member)))
                        }
                        _ => Phase::DataSources(None),
                    };
                    (
                        rows.into_iter().map(ExportRecord::Membership).collect(),
                        next,
                    )
                }
                Phase::DataSources(after) => {
                    let rows = reader.data_sources(after, page).await?;
                    let next = match rows.last() {
                        Some(last) if rows.len() as u64 == page => {
                            Phase::DataSources(Some(last.id.uuid()))
                        }
                        _ => Phase::Subscriptions(None),
                    };
                    (
                        rows.into_iter().map(ExportRecord::DataSource).collect(),
                        next,
                    )
                }
                Phase::Subscriptions(after) => {
                    let rows = reader.subscriptions(after, page).await?;
                    let next = match rows.last() {
                        Some(last) if rows.len() as u64 == page => {
                            Phase::Subscriptions(Some(last.subscription.id))
                        }
                        _ => Phase::Done,
                    };
                    (
                        rows.into_iter().map(ExportRecord::Subscription).collect(),
                        next,
                    )
                }
                Phase::Done => return Ok(None),
            };
            phase = next;
            if !rows.is_empty() {
                return Ok(Some((rows, (Some(reader), phase, None))));
            }
        }
    })
    .boxed()
}
