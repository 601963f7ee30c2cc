//! How an import batch is applied: per item, compare with what is stored
//! and create, leave or update it through the row operations of
//! `import.rs`, inside the batch's one write transaction.

use std::collections::HashMap;

use time::OffsetDateTime;
use uuid::Uuid;

use super::*;
use crate::store::accounts::{Grant, LinkedSubscription, PermissionDef};
use crate::store::governance::{DataSource, StoredPolicy, Tag};
use crate::store::{GroupWrite, UserWrite};

/// What an operator reads when an item is refused.
pub(crate) fn describe(e: &StoreError) -> String {
    match e {
        StoreError::Conflict("users_iam_user_name") => {
            "another user of this IAM already has this userName".into()
        }
        StoreError::Conflict("groups_iam_display_name") => {
            "another group of this IAM already has this displayName".into()
        }
        StoreError::Conflict("iams_name") => "an IAM with this name already exists".into(),
        StoreError::Conflict("data_sources_name") => {
            "another data source here already has this name".into()
        }
        StoreError::Conflict("subscriptions_policy") => {
            "the account already holds a policy's subscription to this data source".into()
        }
        StoreError::Conflict(other) => format!("unique constraint {other} violated"),
        other => other.to_string(),
    }
}

fn refused(reason: impl Into<String>) -> StoreError {
    StoreError::Config(reason.into())
}

/// Applies a batch through `w` (one transaction, which the caller commits
/// or rolls back): the outcome of every item, or the first that failed.
pub(crate) async fn apply_batch<B: Backend>(
    w: &mut SqlTx<B>,
    items: &[ImportItem],
    now: OffsetDateTime,
) -> std::result::Result<Vec<Outcome>, ItemFailed> {
    let fail = |index: usize, e: StoreError| ItemFailed {
        index,
        reason: describe(&e),
    };
    let (mut user_ids, mut group_ids) = (Vec::new(), Vec::new());
    for item in items {
        match item {
            ImportItem::User(b) => user_ids.push(b.0.id),
            ImportItem::Group(b) => group_ids.push(b.0.id),
            _ => {}
        }
    }
    let (users, groups) = w
        .stored(&user_ids, &group_ids)
        .await
        .map_err(|e| fail(0, e))?;
    let mut users: HashMap<Uuid, UserRecord> = users.into_iter().map(|u| (u.id, u)).collect();
    let mut groups: HashMap<Uuid, GroupRecord> = groups.into_iter().map(|g| (g.id, g)).collect();
    let mut known = Known::new();
    let mut outcomes = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let done = match item {
            ImportItem::Iam(r) => apply_iam(w, r).await,
            ImportItem::Permission(p) => apply_permission(w, p, now).await,
            ImportItem::User(b) => {
                let (r, write) = &**b;
                let done = apply_user(w, &mut known, users.get(&r.id), r, write).await;
                if done.is_ok() {
                    users.insert(r.id, r.clone());
                }
                done
            }
            ImportItem::Group(b) => {
                let (r, write) = &**b;
                let done = apply_group(w, groups.get(&r.id), r, write).await;
                if done.is_ok() {
                    groups.insert(r.id, r.clone());
                }
                done
            }
            ImportItem::Membership(m) => apply_membership(w, m).await,
            ImportItem::Subscription(s) => apply_subscription(w, s).await,
            ImportItem::Tag(t) => apply_tag(w, t).await,
            ImportItem::Policy(p) => apply_policy(w, p).await,
            ImportItem::DataSource(s) => apply_data_source(w, s).await,
        };
        outcomes.push(done.map_err(|e| fail(index, e))?);
    }
    Ok(outcomes)
}

async fn apply_iam<B: Backend>(w: &mut SqlTx<B>, r: &IamRecord) -> Result<Outcome> {
    match w.iam_by_name(&r.name).await? {
        Some(old)
            if old.display_name == r.display_name
                && old.settings == r.settings
                && old.schema_extensions == r.schema_extensions =>
        {
            Ok(Outcome::Unchanged)
        }
        Some(old) => {
            w.update_iam(old.id, r).await?;
            Ok(Outcome::Updated)
        }
        None => {
            w.insert_iam(r).await?;
            Ok(Outcome::Created)
        }
    }
}

async fn apply_permission<B: Backend>(
    w: &mut SqlTx<B>,
    p: &PermissionDef,
    now: OffsetDateTime,
) -> Result<Outcome> {
    match w.permission(&p.name).await? {
        Some(old) if old.builtin || old.description == p.description => Ok(Outcome::Unchanged),
        Some(_) => {
            w.update_permission(p).await?;
            Ok(Outcome::Updated)
        }
        None => {
            w.insert_permission(p, now).await?;
            Ok(Outcome::Created)
        }
    }
}

/// Permission names already found in the catalogue during this batch.
type Known = std::collections::HashSet<String>;

async fn check_grants<B: Backend>(
    w: &mut SqlTx<B>,
    known: &mut Known,
    grants: &[Grant],
) -> Result<()> {
    for g in grants {
        if known.contains(&g.permission) {
            continue;
        }
        if w.permission(&g.permission).await?.is_some() {
            known.insert(g.permission.clone());
        } else {
            return Err(refused(format!(
                "permission {} is not in the catalogue (a Permission line must come first)",
                g.permission
            )));
        }
    }
    Ok(())
}

async fn apply_user<B: Backend>(
    w: &mut SqlTx<B>,
    known: &mut Known,
    old: Option<&UserRecord>,
    r: &UserRecord,
    write: &UserWrite,
) -> Result<Outcome> {
    let Some(old) = old else {
        check_grants(w, known, &r.grants).await?;
        w.insert_user(r, write).await?;
        w.put_grants(r.id, &r.grants, false).await?;
        w.put_attributes(r.id, &r.attributes, false).await?;
        return Ok(Outcome::Created);
    };
    if old == r {
        return Ok(Outcome::Unchanged);
    }
    w.update_user(r, write).await?;
    if old.grants != r.grants {
        check_grants(w, known, &r.grants).await?;
        w.put_grants(r.id, &r.grants, true).await?;
    }
    if old.attributes != r.attributes {
        w.put_attributes(r.id, &r.attributes, true).await?;
    }
    Ok(Outcome::Updated)
}

async fn apply_group<B: Backend>(
    w: &mut SqlTx<B>,
    old: Option<&GroupRecord>,
    r: &GroupRecord,
    write: &GroupWrite,
) -> Result<Outcome> {
    let Some(old) = old else {
        w.insert_group(r, write).await?;
        w.put_attributes(r.id, &r.attributes, false).await?;
        return Ok(Outcome::Created);
    };
    if old == r {
        return Ok(Outcome::Unchanged);
    }
    if old.iam != r.iam {
        return Err(refused(format!(
            "group {} exists here in another IAM (groups never move between IAMs)",
            r.id
        )));
    }
    w.update_group(r, write).await?;
    if old.attributes != r.attributes {
        w.put_attributes(r.id, &r.attributes, true).await?;
    }
    Ok(Outcome::Updated)
}

async fn apply_membership<B: Backend>(w: &mut SqlTx<B>, m: &MembershipRecord) -> Result<Outcome> {
    match w.membership(m.group, m.member).await? {
        Some(old) if old == *m => return Ok(Outcome::Unchanged),
        Some(old) => {
            w.put_membership(m).await?;
            if m.kind == MemberKind::Group && old.kind != MemberKind::Group {
                w.check_nesting(m.group, m.member).await?;
            }
            return Ok(Outcome::Updated);
        }
        None => {}
    }
    if !w.exists(MemberKind::Group, m.group).await? {
        return Err(refused(format!(
            "no group {} (its Group line must come first)",
            m.group
        )));
    }
    if !w.exists(m.kind, m.member).await? {
        return Err(refused(format!(
            "member {} is not a {} here (its line must come first)",
            m.member,
            m.kind.as_str()
        )));
    }
    if m.kind == MemberKind::Group && m.member == m.group {
        return Err(refused("a group cannot contain itself"));
    }
    w.put_membership(m).await?;
    if m.kind == MemberKind::Group {
        w.check_nesting(m.group, m.member).await?;
    }
    Ok(Outcome::Created)
}

/// Whether the stored subscription is `s`: one that names no data source
/// (an older export's) is linked by its name, so any link is the same.
fn same_subscription(old: &LinkedSubscription, s: &LinkedSubscription) -> bool {
    old.subscription == s.subscription
        && old.source == s.source
        && (s.data_source_id.is_none() || old.data_source_id == s.data_source_id)
}

async fn apply_subscription<B: Backend>(
    w: &mut SqlTx<B>,
    s: &LinkedSubscription,
) -> Result<Outcome> {
    let old = w.subscription(s.subscription.id).await?;
    if old.as_ref().is_some_and(|old| same_subscription(old, s)) {
        return Ok(Outcome::Unchanged);
    }
    let user = s.subscription.user_id;
    if !w.exists(MemberKind::User, user).await? {
        return Err(refused(format!(
            "no user {user} (its User line must come first)"
        )));
    }
    if let Some(id) = s.data_source_id
        && !w.data_source_exists(id.uuid()).await?
    {
        return Err(refused(format!(
            "no data source {id} (its DataSource line must come first)"
        )));
    }
    let exists = old.is_some();
    w.put_subscription(s, exists).await?;
    Ok(if exists {
        Outcome::Updated
    } else {
        Outcome::Created
    })
}

async fn apply_tag<B: Backend>(w: &mut SqlTx<B>, t: &Tag) -> Result<Outcome> {
    match w.tag(&t.name).await? {
        Some(old)
            if (&old.description, old.created, old.deleted)
                == (&t.description, t.created, t.deleted) =>
        {
            Ok(Outcome::Unchanged)
        }
        Some(_) => {
            w.update_tag(t).await?;
            Ok(Outcome::Updated)
        }
        None => {
            if let Some(parent) = &t.parent
                && w.tag(parent).await?.is_none()
            {
                return Err(refused(format!(
                    "no tag {parent} here (the parent's Tag line must come first)"
                )));
            }
            w.insert_tag(t).await?;
            Ok(Outcome::Created)
        }
    }
}

async fn apply_policy<B: Backend>(w: &mut SqlTx<B>, p: &StoredPolicy) -> Result<Outcome> {
    let old = w.policy(&p.key).await?;
    if let Some(old) = &old
        && (&old.document, old.created, old.updated) == (&p.document, p.created, p.updated)
    {
        return Ok(Outcome::Unchanged);
    }
    w.put_policy(p, old.is_some()).await?;
    Ok(if old.is_some() {
        Outcome::Updated
    } else {
        Outcome::Created
    })
}

async fn apply_data_source<B: Backend>(w: &mut SqlTx<B>, s: &DataSource) -> Result<Outcome> {
    let old = w.data_source(s.id.uuid()).await?;
    if old.as_ref() == Some(s) {
        return Ok(Outcome::Unchanged);
    }
    let tags: Vec<String> = s
        .tags
        .iter()
        .chain(s.columns.iter().flat_map(|c| c.tags.iter()))
        .cloned()
        .collect();
    if let Some(tag) = w.unknown_tags(&tags).await?.first() {
        return Err(refused(format!(
            "no tag {tag} here (its Tag line must come first)"
        )));
    }
    let exists = old.is_some();
    w.put_data_source(s, exists).await.map_err(|e| match e {
        StoreError::NotFound => refused(format!(
            "an owner of data source {} is no user here (its User line must come first)",
            s.id
        )),
        other => other,
    })?;
    Ok(if exists {
        Outcome::Updated
    } else {
        Outcome::Created
    })
}
