//! Many writes at once: a SCIM Bulk batch (a failing item undone alone),
//! and export then import into an empty database, which must read back
//! the same rows and import again as no change.

use futures_util::TryStreamExt;
use scim_bridge::audit::{Actor, Entry};
use scim_bridge::directory::changes;
use scim_bridge::store::accounts::{AttributeOp, SOURCE_IAM_DEFAULT, Subscription};
use scim_bridge::store::transfer::{
    ExportRecord, IamRecord, ImportItem, ItemFailed, MembershipRecord, Outcome,
};
use scim_bridge::store::{MemberKind, NewResource, UserWrite};
use uuid::Uuid;

use super::{Db, assert_conflict, at, contract, group, group_from, scim, user, user_from, users};

contract!(
    a_failing_batch_item_is_undone_alone,
    export_then_import_reads_back_the_same
);

async fn a_failing_batch_item_is_undone_alone(db: &Db) {
    db.user("taken").await;
    let (head, _) = db.audit_head().await.unwrap();
    let [a, dup, g, b] = [(); 4].map(|_| Uuid::new_v4());
    let (ua, ut, ub, gw) = (user("a"), user("TAKEN"), user("b"), group("g"));
    let members = users(&[a]);
    let (ra, rdup, rb) = (
        created(db, a, &ua),
        created(db, dup, &ut),
        created(db, b, &ub),
    );
    let rg = changes::group_created(&scim(db.iam), g, &gw, &members);
    let in_group = NewResource::Group {
        id: g,
        group: &gw,
        members: &members,
        records: &rg,
    };
    let items = [
        new(a, &ua, &ra),
        new(dup, &ut, &rdup),
        in_group,
        new(b, &ub, &rb),
    ];
    let out = db.insert_batch(db.iam, &items, 10, at(5)).await;
    let mut out = out.expect("batch");
    assert_eq!(out.len(), 4);
    assert_conflict(out.remove(1), "users_iam_user_name");
    for (slot, id) in out.into_iter().zip([a, g, b]) {
        let stored = slot.expect("created");
        assert_eq!((stored.id, stored.version, stored.created), (id, 1, at(5)));
    }
    assert!(db.get_user(db.iam, dup.into()).await.unwrap().is_none());
    assert_eq!(
        db.get_user(db.iam, a.into()).await.unwrap().unwrap().doc,
        ua.doc
    );
    assert_eq!(db.group_members(db.iam, g.into()).await.unwrap()[0].id, a);
    assert_eq!(db.user_count(db.iam).await, 3);
    // The committed items' records, in item order; none for the failed one.
    let records = db.audit_chain(head, 100).await.unwrap();
    let seen: Vec<_> = records.iter().map(|r| (&*r.action, r.target_id)).collect();
    let want = [
        ("user.created", Some(a)),
        ("group.created", Some(g)),
        ("group.member_added", Some(g)),
        ("user.created", Some(b)),
    ];
    assert_eq!(seen, want);

    // After `max_errors` failures the rest is not attempted and gets no slot.
    let (c, uc, again) = (Uuid::new_v4(), user("c"), Uuid::new_v4());
    let (ragain, rc) = (created(db, again, &ut), created(db, c, &uc));
    let items = [new(again, &ut, &ragain), new(c, &uc, &rc)];
    let out = db.insert_batch(db.iam, &items, 1, at(6)).await;
    assert_eq!(out.expect("batch").len(), 1);
    assert!(db.get_user(db.iam, c.into()).await.unwrap().is_none());
}

fn new<'a>(id: Uuid, user: &'a UserWrite, records: &'a [Entry]) -> NewResource<'a> {
    NewResource::User {
        id,
        user,
        grants: &[],
        records,
    }
}

fn created(db: &Db, id: Uuid, w: &UserWrite) -> [Entry; 1] {
    super::user_created(db.iam, id, w)
}

/// Every row of an export, read `page` rows at a time.
async fn export(db: &Db, page: u64) -> Vec<ExportRecord> {
    let pages: Vec<Vec<ExportRecord>> = db.export(page).try_collect().await.expect("export");
    pages.concat()
}

/// The import of an export, each user and group with the write the domain
/// would derive from its document.
fn import_items(records: &[ExportRecord]) -> Vec<ImportItem> {
    let item = |r: &ExportRecord| match r.clone() {
        ExportRecord::Iam(r) => ImportItem::Iam(r),
        ExportRecord::Permission(p) => ImportItem::Permission(p),
        ExportRecord::User(r) => {
            let w = user_from(&r.doc);
            ImportItem::User(Box::new((r, w)))
        }
        ExportRecord::Group(r) => {
            let w = group_from(&r.doc);
            ImportItem::Group(Box::new((r, w)))
        }
        ExportRecord::Membership(m) => ImportItem::Membership(m),
        ExportRecord::Subscription(s) => ImportItem::Subscription(s),
        ExportRecord::Tag(t) => ImportItem::Tag(t),
        ExportRecord::Policy(p) => ImportItem::Policy(p),
        ExportRecord::DataSource(s) => ImportItem::DataSource(s),
    };
    records.iter().map(item).collect()
}

async fn export_then_import_reads_back_the_same(db: &Db) {
    let catalogue = db.permission_catalogue().await.unwrap();
    let granted = catalogue[0].name.clone();
    let a = Uuid::new_v4();
    let grants = [granted.clone(), "NO_SUCH_PERMISSION".to_owned()];
    let ua = user("a");
    let records = created(db, a, &ua);
    let r = db.create_user(db.iam, a.into(), &ua, &grants, &records, at(1));
    r.await.unwrap();
    let held: Vec<_> = db.grants(a).await.unwrap();
    let held: Vec<_> = held.iter().map(|g| (&*g.permission, &*g.source)).collect();
    assert_eq!(
        held,
        [(&*granted, SOURCE_IAM_DEFAULT)],
        "unknown names skipped"
    );
    let b = db.user("b").await;
    let inner = db.group("inner", &users(&[b])).await;
    let outer = [(inner, MemberKind::Group), (a, MemberKind::User)];
    db.group("outer", &outer).await;
    let cli = Entry::new(Actor::Cli, "change");
    let op = AttributeOp::Add {
        key: "dept".into(),
        values: vec!["x".into(), "y".into()],
    };
    db.patch_attributes(
        a,
        &[op],
        &|d| changes::attributes_changed(&cli, "User", a, d),
        at(2),
    )
    .await
    .unwrap();
    let sub = Subscription {
        id: Uuid::new_v4(),
        user_id: b,
        data_source: "sales".into(),
        role: "reader".into(),
        subscribed: at(3),
        expires: Some(at(4)),
    };
    db.add_subscription(&sub, &cli, at(3)).await.unwrap();

    // Pages of any size read the same rows.
    let first = export(db, 2).await;
    let count = |k: fn(&ExportRecord) -> bool| first.iter().filter(|r| k(r)).count();
    assert_eq!(count(|r| matches!(r, ExportRecord::User(_))), 2);
    assert_eq!(count(|r| matches!(r, ExportRecord::Membership(_))), 3);
    assert_eq!(count(|r| matches!(r, ExportRecord::Subscription(_))), 1);
    let text = format!("{first:?}");
    assert_eq!(text, format!("{:?}", export(db, 1000).await));

    // Into an empty database: every user, group and membership created,
    // and it exports exactly what it imported.
    let fresh = Db::blank(db.backend).await.expect("a second database");
    let items = import_items(&first);
    let imports = |o: &[Outcome]| changes::imports(&cli, &items, o);
    let out = fresh.import(&items, &imports, at(9)).await.unwrap();
    let out = out.expect("import");
    assert_eq!(out.len(), items.len());
    for (item, outcome) in items.iter().zip(&out) {
        if !matches!(item, ImportItem::Iam(_) | ImportItem::Permission(_)) {
            assert_eq!(*outcome, Outcome::Created, "{item:?}");
        }
    }
    assert_eq!(text, format!("{:?}", export(&fresh, 3).await));
    assert_eq!(fresh.user_count(db.iam).await, 2);
    let groups = fresh.list_groups(db.iam, &Default::default()).await;
    assert_eq!(groups.unwrap().total, 2);
    let of_b = fresh.groups_of_users(db.iam, &[b]).await.unwrap();
    assert_eq!(of_b[&b].len(), 2);

    // Again: nothing to do, nothing written.
    let head = fresh.audit_head().await.unwrap();
    let out = fresh.import(&items, &imports, at(10)).await.unwrap();
    let out = out.expect("again");
    assert!(out.iter().all(|o| *o == Outcome::Unchanged), "{out:?}");
    assert_eq!(fresh.audit_head().await.unwrap(), head);

    // A batch with a failing item writes none of it.
    let third = ImportItem::Iam(IamRecord {
        id: Uuid::new_v4(),
        name: "third".into(),
        display_name: None,
        created: at(11),
        settings: serde_json::json!({}),
        schema_extensions: serde_json::json!([]),
    });
    let orphan = ImportItem::Membership(MembershipRecord {
        group: Uuid::new_v4(),
        member: b,
        kind: MemberKind::User,
        added: at(11),
    });
    let items = [third, orphan];
    let imports = |o: &[Outcome]| changes::imports(&cli, &items, o);
    let out = fresh.import(&items, &imports, at(11)).await.unwrap();
    assert!(matches!(out, Err(ItemFailed { index: 1, .. })), "{out:?}");
    assert!(fresh.iam_by_name("third").await.unwrap().is_none());
    assert_eq!(fresh.audit_head().await.unwrap(), head);
    fresh.finish().await;
}
