//! The audit chain: each write appends its records in order, numbered
//! without gaps and linked by hash; refused and empty writes append none.

use scim_bridge::audit::{self, GENESIS, Record, Verifier};
use scim_bridge::store::GroupPatch;
use scim_bridge::store::accounts::AuditQuery;
use uuid::Uuid;

use super::{Db, assert_conflict, assert_mismatch, at, contract, group, records_of, user, users};

contract!(
    writes_append_a_linked_chain,
    audit_reads_page_and_filter,
    writes_together_chain_only_what_stands
);

/// Every record after `after`, read a few at a time.
async fn chain_after(db: &Db, after: i64) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    loop {
        let from = out.last().map_or(after, |r| r.seq);
        let page = db.audit_chain(from, 3).await.expect("chain");
        assert!(page.len() <= 3, "a page holds at most its limit");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

async fn writes_append_a_linked_chain(db: &Db) {
    let (head, head_hash) = db.audit_head().await.unwrap();
    let (a, b, c) = (db.user("a").await, db.user("b").await, db.user("c").await);
    let g = db.group("team", &users(&[a, b])).await;
    let (add, remove) = (users(&[c]), [a]);
    let p = GroupPatch {
        add: &add,
        remove: &remove,
        ..Default::default()
    };
    // The domain's records of the member delta the store finds.
    let change = db.group_change(g, None).await;
    db.patch_group(db.iam, g.into(), &p, Some(1), records_of(&change), at(2))
        .await
        .expect("patch");
    let after_writes = db.audit_head().await.unwrap();

    // Nothing is recorded for a refused write or one that changed nothing.
    assert_mismatch(
        db.patch_group(db.iam, g.into(), &p, Some(1), records_of(&change), at(3))
            .await,
    );
    db.patch_group(db.iam, g.into(), &p, None, records_of(&change), at(3))
        .await
        .expect("no-op");
    let taken = user("b");
    let renamed = db.user_updated(db.iam, a, &taken).await;
    let r = db
        .replace_user(db.iam, a.into(), &taken, None, &renamed, at(3))
        .await;
    assert!(r.is_err(), "taken name");
    assert_eq!(db.audit_head().await.unwrap(), after_writes);

    // In order: each user, the group, then one record per member it gained
    // or lost, removals before additions.
    let records = chain_after(db, head).await;
    let seen: Vec<_> = records.iter().map(|r| (&*r.action, r.target_id)).collect();
    let (user, added) = ("user.created", "group.member_added");
    let want = [
        (user, Some(a)),
        (user, Some(b)),
        (user, Some(c)),
        ("group.created", Some(g)),
        (added, Some(g)),
        (added, Some(g)),
        ("group.member_removed", Some(g)),
        (added, Some(g)),
    ];
    assert_eq!(seen, want);
    let member = |m: Uuid| vec![format!("members[value eq \"{m}\"]")];
    let named: Vec<_> = records[4..].iter().map(|r| r.attributes.clone()).collect();
    assert_eq!(named, [member(a), member(b), member(a), member(c)]);
    let actor = format!("iam:{}", db.iam);
    assert!(
        records
            .iter()
            .all(|r| r.actor == actor && r.outcome == "success")
    );
    let created = &records[0];
    assert_eq!(
        (created.target_kind.as_deref(), created.at),
        (Some("User"), at(1))
    );
    assert!(created.attributes.contains(&"userName".to_owned()));
    assert_eq!(
        records[0].prev_hash, head_hash,
        "the first links to the old head"
    );
    let last = records.last().unwrap();
    assert_eq!((last.seq, &last.hash), (after_writes.0, &after_writes.1));

    assert_intact(db).await;
}

/// Replays the whole log from its start: numbered without gaps, each record
/// hashing its content and its predecessor's hash, ending at the head.
async fn assert_intact(db: &Db) -> Vec<Record> {
    let all = chain_after(db, 0).await;
    assert_eq!((all[0].seq, &*all[0].prev_hash), (1, GENESIS));
    let mut v = Verifier::default();
    for r in &all {
        v.push(r).expect("intact chain");
        assert_eq!(r.hash, audit::hash(r));
    }
    let (seq, hash) = db.audit_head().await.unwrap();
    v.finish(seq, &hash).expect("head");
    all
}

/// Writes that arrive together (on SQLite one transaction, each behind its
/// own savepoint) chain in one line. A rename to a taken name is refused
/// after it appended its record: the record goes with it, and the next
/// write links to the last record that stands.
async fn writes_together_chain_only_what_stands(db: &Db) {
    db.group("taken", &[]).await;
    let mut renames = Vec::new();
    for i in 0..8 {
        let g = db.group(&format!("g{i}"), &[]).await;
        for name in [format!("free{i}"), "taken".to_owned()] {
            let w = group(&name);
            let change = db.group_change(g, Some(&w)).await;
            renames.push((g, w, change));
        }
    }
    let (head, _) = db.audit_head().await.unwrap();
    let writes = renames.iter().map(|(g, w, change)| {
        let p = GroupPatch {
            group: Some(w),
            ..Default::default()
        };
        async move {
            let r = db.patch_group(db.iam, (*g).into(), &p, None, records_of(change), at(5));
            r.await
        }
    });
    let done = futures_util::future::join_all(writes).await;
    for (r, (_, w, _)) in done.into_iter().zip(&renames) {
        if w.display_name == "taken" {
            assert_conflict(r, "groups_iam_display_name");
        } else {
            assert_eq!(r.expect("rename").doc["displayName"], w.display_name);
        }
    }
    let all = assert_intact(db).await;
    let appended: Vec<_> = all.iter().filter(|r| r.seq > head).collect();
    assert_eq!(appended.len(), 8, "one record per rename that stands");
    assert!(appended.iter().all(|r| r.action == "group.updated"));
}

async fn audit_reads_page_and_filter(db: &Db) {
    let u = db.user("a").await;
    let g = db.group("g", &users(&[u])).await;
    for t in 0..4 {
        let w = user(if t % 2 == 0 { "b" } else { "a" });
        let records = db.user_updated(db.iam, u, &w).await;
        db.replace_user(db.iam, u.into(), &w, None, &records, at(10 + t))
            .await
            .expect("replace");
    }
    let q = |target, offset, limit| AuditQuery {
        target,
        offset,
        limit,
        ..Default::default()
    };
    // Newest first, with the filter's total.
    let (page, total) = db.audit_records(&q(Some(u), 0, 10)).await.unwrap();
    assert_eq!(total, 5);
    let actions: Vec<&str> = page.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions[4], "user.created");
    assert!(actions[..4].iter().all(|a| *a == "user.updated"));
    assert!(page.windows(2).all(|w| w[0].seq > w[1].seq));
    let (second, total) = db.audit_records(&q(Some(u), 2, 2)).await.unwrap();
    assert_eq!(total, 5);
    assert_eq!(second, page[2..4].to_vec());
    let (of_group, total) = db.audit_records(&q(Some(g), 0, 10)).await.unwrap();
    assert_eq!((of_group.len(), total), (2, 2));

    let by_action = AuditQuery {
        action: Some("group.member_added".into()),
        limit: 10,
        ..Default::default()
    };
    let (added, total) = db.audit_records(&by_action).await.unwrap();
    assert_eq!((added.len(), total), (1, 1));
    assert_eq!(added[0].target_id, Some(g));
    let window = AuditQuery {
        from: Some(at(11)),
        to: Some(at(13)),
        limit: 10,
        ..Default::default()
    };
    let (between, total) = db.audit_records(&window).await.unwrap();
    assert_eq!(total, 2, "from is inclusive, to exclusive");
    assert_eq!(
        between.iter().map(|r| r.at).collect::<Vec<_>>(),
        [at(12), at(11)]
    );
    let all = db.audit_records(&q(None, 0, 0)).await.unwrap();
    assert_eq!(all.1 as i64, db.audit_head().await.unwrap().0);
    assert!(all.0.is_empty(), "limit 0 counts only");
}
