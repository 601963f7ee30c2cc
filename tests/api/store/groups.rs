//! Groups: versions, the displayName index, member deltas (a PATCH changes
//! only what it must), member counts, reads and nesting.

use std::collections::BTreeSet;

use futures_util::TryStreamExt;
use scim_bridge::directory::changes;
use scim_bridge::ids::IamId;
use scim_bridge::store::nesting::NestingRefusal;
use scim_bridge::store::{GroupPatch, MemberKind, Result, StoreError, Stored};
use uuid::Uuid;

use super::{
    Db, assert_conflict, assert_mismatch, assert_not_found, at, contract, group, records_of, scim,
    users,
};

contract!(
    group_versions_and_names,
    member_deltas_change_only_what_they_must,
    member_reads_and_counts,
    nesting_is_read_through_and_cycles_refused
);

/// Replaces `id` with an empty group named `name`.
async fn replace(db: &Db, id: Uuid, name: &str, v: Option<i64>, t: i64) -> Result<Stored> {
    let g = group(name);
    let change = db.group_change(id, Some(&g)).await;
    db.replace_group(db.iam, id.into(), &g, &[], v, records_of(&change), at(t))
        .await
}

async fn insert(db: &Db, iam: IamId, name: &str) -> Result<Stored> {
    let (id, g) = (Uuid::new_v4(), group(name));
    let records = changes::group_created(&scim(iam), id, &g, &[]);
    db.insert_group(iam, id.into(), &g, &[], &records, at(2))
        .await
}

/// A PATCH of `g`: a new name, members to add and remove, remove all first.
async fn patch(
    db: &Db,
    g: Uuid,
    (add, remove, remove_all): (&[(Uuid, MemberKind)], &[Uuid], bool),
    name: Option<&str>,
    if_version: Option<i64>,
    t: i64,
) -> Result<Stored> {
    let doc = name.map(group);
    let p = GroupPatch {
        group: doc.as_ref(),
        add,
        remove,
        remove_all,
    };
    let change = db.group_change(g, doc.as_ref()).await;
    db.patch_group(db.iam, g.into(), &p, if_version, records_of(&change), at(t))
        .await
}

async fn group_versions_and_names(db: &Db) {
    const INDEX: &str = "groups_iam_display_name";
    let id = db.group("Admins", &[]).await;
    let deleted = [changes::group_deleted(&scim(db.iam), id)];
    assert_conflict(insert(db, db.iam, "ADMINS").await, INDEX);
    let other = db.new_iam("other").await;
    insert(db, other, "admins")
        .await
        .expect("the name in another IAM");
    assert!(db.get_group(other, id.into()).await.unwrap().is_none());

    let ops = db.group("Ops", &[]).await;
    assert_conflict(replace(db, ops, "admins", Some(1), 3).await, INDEX);
    let renamed = patch(db, ops, (&[], &[], false), Some("aDMINS"), None, 3);
    assert_conflict(renamed.await, INDEX);
    assert_eq!(
        db.get_group(db.iam, ops.into())
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );

    let v2 = replace(db, id, "Root", Some(1), 4).await.expect("replace");
    assert_eq!(
        (v2.version, v2.created, v2.last_modified),
        (2, at(1), at(4))
    );
    assert_mismatch(replace(db, id, "Root2", Some(1), 5).await);
    assert_eq!(
        db.get_group(db.iam, id.into()).await.unwrap().unwrap().doc,
        group("Root").doc
    );
    let missing = Uuid::new_v4();
    assert_not_found(replace(db, missing, "x", None, 5).await);
    assert_not_found(patch(db, missing, (&[], &[], false), None, None, 5).await);
    assert_not_found(
        db.delete_group(other, id.into(), None, &deleted, at(5))
            .await,
    );
    assert_mismatch(
        db.delete_group(db.iam, id.into(), Some(1), &deleted, at(5))
            .await,
    );
    let gone = db
        .delete_group(db.iam, id.into(), Some(2), &deleted, at(6))
        .await;
    gone.expect("delete at version 2");
    assert!(db.get_group(db.iam, id.into()).await.unwrap().is_none());
    assert_not_found(
        db.delete_group(db.iam, id.into(), None, &deleted, at(6))
            .await,
    );
    // Its name is free again.
    db.group("admins", &[]).await;
}

/// The members of a group, by id.
async fn member_ids(db: &Db, g: Uuid) -> BTreeSet<Uuid> {
    let members = db.group_members(db.iam, g.into()).await.unwrap();
    members.into_iter().map(|m| m.id).collect()
}

fn set(ids: &[Uuid]) -> BTreeSet<Uuid> {
    ids.iter().copied().collect()
}

async fn member_deltas_change_only_what_they_must(db: &Db) {
    let (a, b, c) = (db.user("a").await, db.user("b").await, db.user("c").await);
    let g = db.group("team", &users(&[a])).await;
    let delta = |add: &[Uuid], remove: &[Uuid], all, v, t| {
        let add = users(add);
        let remove = remove.to_vec();
        async move { patch(db, g, (&add, &remove, all), None, v, t).await }
    };

    // Adding a member already there, removing one that is not: no change.
    let same = delta(&[a], &[b], false, Some(1), 10).await.expect("no-op");
    assert_eq!((same.version, same.last_modified), (1, at(1)));
    assert_eq!(member_ids(db, g).await, set(&[a]));

    let added = delta(&[b, a], &[], false, Some(1), 20)
        .await
        .expect("add b");
    assert_eq!((added.version, added.last_modified), (2, at(20)));
    assert_eq!(member_ids(db, g).await, set(&[a, b]));
    assert_mismatch(delta(&[c], &[], false, Some(1), 21).await);
    assert_eq!(member_ids(db, g).await, set(&[a, b]));

    let removed = delta(&[], &[a], false, None, 30).await.expect("remove a");
    assert_eq!(removed.version, 3);
    assert_eq!(member_ids(db, g).await, set(&[b]));

    // Remove all, then add: b stays, c joins; the same again is no change.
    let v4 = delta(&[b, c], &[], true, Some(3), 40)
        .await
        .expect("replace all");
    assert_eq!(v4.version, 4);
    assert_eq!(member_ids(db, g).await, set(&[b, c]));
    assert_eq!(
        delta(&[c, b], &[], true, None, 45).await.unwrap().version,
        4
    );
    // Remove all with nothing to add empties the group, once.
    assert_eq!(delta(&[], &[], true, None, 50).await.unwrap().version, 5);
    assert!(member_ids(db, g).await.is_empty());
    assert_eq!(delta(&[], &[], true, None, 60).await.unwrap().version, 5);

    // replace_group replaces the whole list.
    let (team, ac) = (group("team"), users(&[a, c]));
    let change = db.group_change(g, Some(&team)).await;
    let records = records_of(&change);
    let r = db.replace_group(db.iam, g.into(), &team, &ac, Some(5), records, at(70));
    assert_eq!(r.await.expect("replace").version, 6);
    assert_eq!(member_ids(db, g).await, set(&[a, c]));
}

async fn member_reads_and_counts(db: &Db) {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(db.user(&format!("member{i}@example.com")).await);
    }
    let inner = db.group("Inner", &[]).await;
    let mut members = users(&ids);
    members.push((inner, MemberKind::Group));
    let g = db.group("Outer", &members).await;

    for (cap, want) in [(0, 0), (1, 1), (4, 4), (6, 6), (100, 6)] {
        let n = db.count_members(db.iam, g.into(), cap).await.unwrap();
        assert_eq!(n, want, "cap {cap}");
    }
    assert_eq!(db.count_members(db.iam, inner.into(), 10).await.unwrap(), 0);
    let other = db.new_iam("other").await;
    assert_eq!(db.count_members(other, g.into(), 10).await.unwrap(), 0);

    // Each member with its kind and display (userName or displayName).
    let read = db.group_members(db.iam, g.into()).await.unwrap();
    assert_eq!(read.len(), 6);
    for m in &read {
        let (kind, display) = match ids.iter().position(|id| *id == m.id) {
            Some(i) => (MemberKind::User, format!("member{i}@example.com")),
            None => (MemberKind::Group, "Inner".to_owned()),
        };
        assert_eq!((m.kind, m.display.as_deref()), (kind, Some(&*display)));
    }
    assert!(db.group_members(other, g.into()).await.unwrap().is_empty());

    // Streamed in id order, the same members.
    let streamed: Vec<_> = db
        .stream_members(db.iam, g.into())
        .try_collect()
        .await
        .unwrap();
    let mut by_id = read.clone();
    by_id.sort_by_key(|m| m.id);
    assert_eq!(streamed, by_id);
    let none: Vec<_> = db
        .stream_members(other, g.into())
        .try_collect()
        .await
        .unwrap();
    assert!(none.is_empty());

    let probe = [ids[0], inner, Uuid::new_v4()];
    let resolved = db.resolve_members(db.iam, &probe).await.unwrap();
    assert_eq!(resolved.len(), 2);
    assert_eq!(resolved[&ids[0]], MemberKind::User);
    assert_eq!(resolved[&inner], MemberKind::Group);
    assert!(db.resolve_members(other, &probe).await.unwrap().is_empty());
}

async fn nesting_is_read_through_and_cycles_refused(db: &Db) {
    let (u, v) = (db.user("u").await, db.user("v").await);
    let c = db.group("C", &users(&[u])).await;
    let b = db.group("B", &[(c, MemberKind::Group)]).await;
    let a = [(b, MemberKind::Group), (u, MemberKind::User)];
    let a = db.group("A", &a).await;

    let of = db.groups_of_users(db.iam, &[u, v]).await.unwrap();
    assert!(!of.contains_key(&v), "v is in no group");
    let seen: Vec<(Uuid, &str, bool)> = of[&u]
        .iter()
        .map(|g| (g.id, &*g.display_name, g.direct))
        .collect();
    // Once each, by displayName; direct when the user is itself a member.
    assert_eq!(seen, [(a, "A", true), (b, "B", false), (c, "C", true)]);
    // Read with the user in one go, the same groups in the same order.
    let (stored, with) = db
        .get_user_with_groups(db.iam, u.into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.id, u);
    assert_eq!(with, of[&u]);
    let (_, none) = db
        .get_user_with_groups(db.iam, v.into())
        .await
        .unwrap()
        .unwrap();
    assert!(none.is_empty(), "v is in no group");
    let other = db.new_iam("other").await;
    assert!(db.groups_of_users(other, &[u]).await.unwrap().is_empty());
    assert!(
        db.get_user_with_groups(other, u.into())
            .await
            .unwrap()
            .is_none()
    );

    // A into C would close C > A > B > C; C into C contains itself.
    let cycle = |r: Result<Stored>| match r {
        Err(StoreError::Nesting(NestingRefusal::Cycle { cycle, .. })) => cycle,
        other => panic!("expected a cycle refusal, got {other:?}"),
    };
    let into_c = [(a, MemberKind::Group)];
    let named = cycle(patch(db, c, (&into_c, &[], false), None, None, 5).await);
    assert_eq!(named, ["\"C\"", "\"A\"", "\"B\"", "\"C\""], "in order");
    let doc = group("C");
    let change = db.group_change(c, Some(&doc)).await;
    let records = records_of(&change);
    let r = db.replace_group(db.iam, c.into(), &doc, &into_c, None, records, at(5));
    cycle(r.await);
    let itself = [(c, MemberKind::Group)];
    cycle(patch(db, c, (&itself, &[], true), None, None, 5).await);

    // Refusals changed nothing.
    assert_eq!(
        db.get_group(db.iam, c.into())
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    assert_eq!(member_ids(db, c).await, set(&[u]));
}
