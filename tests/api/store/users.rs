//! Users and IAMs: versions on replace and delete, IAM isolation, and the
//! unique indexes (case-folded userName per IAM, IAM name).

use scim_bridge::audit::{Actor, Entry};
use scim_bridge::ids::IamId;
use scim_bridge::store::{Result, Stored, UserWrite};
use serde_json::json;
use uuid::Uuid;

use super::{
    Db, assert_conflict, assert_mismatch, assert_not_found, at, contract, scim, user, user_created,
    user_from,
};

contract!(
    replace_checks_the_version,
    delete_checks_the_version,
    user_names_are_unique_per_iam_folded,
    iam_names_are_unique
);

const INDEX: &str = "users_iam_user_name";

async fn insert(db: &Db, id: Uuid, name: &str, t: i64) -> Result<Stored> {
    let w = user(name);
    let records = user_created(db.iam, id, &w);
    db.create_user(db.iam, id.into(), &w, &[], &records, at(t))
        .await
}

async fn replace(db: &Db, iam: IamId, id: Uuid, w: &UserWrite, v: Option<i64>) -> Result<Stored> {
    let records = db.user_updated(iam, id, w).await;
    db.replace_user(iam, id.into(), w, v, &records, at(20 + v.unwrap_or(9)))
        .await
}

async fn replace_checks_the_version(db: &Db) {
    let id = Uuid::new_v4();
    let created = insert(db, id, "ada", 10).await.expect("insert");
    assert_eq!((created.id, created.version), (id, 1));
    assert_eq!((created.created, created.last_modified), (at(10), at(10)));
    let got = db
        .get_user(db.iam, id.into())
        .await
        .unwrap()
        .expect("stored");
    assert_eq!((got.version, got.created), (1, at(10)));
    assert_eq!((got.doc, got.last_modified), (user("ada").doc, at(10)));

    // Another IAM sees nothing of it.
    let other = db.new_iam("other").await;
    assert!(db.get_user(other, id.into()).await.unwrap().is_none());
    let renamed = user_from(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ada",
        "displayName": "Ada Lovelace",
    }));
    assert_not_found(replace(db, other, id, &renamed, None).await);

    // A matching version moves it on by one; a stale one changes nothing.
    let v2 = replace(db, db.iam, id, &renamed, Some(1)).await;
    let v2 = v2.expect("replace at version 1");
    assert_eq!(
        (v2.version, v2.created, v2.last_modified),
        (2, at(10), at(21))
    );
    assert_eq!(v2.doc, renamed.doc);
    assert_mismatch(replace(db, db.iam, id, &user("x"), Some(1)).await);
    let got = db
        .get_user(db.iam, id.into())
        .await
        .unwrap()
        .expect("stored");
    assert_eq!((got.version, got.last_modified), (2, at(21)));
    assert_eq!(got.doc, renamed.doc);

    // No version: unconditional, still counted.
    let v3 = replace(db, db.iam, id, &user("ada"), None).await;
    assert_eq!(v3.expect("replace").version, 3);
    let account = db.account(id).await.unwrap().expect("account");
    assert_eq!((&*account.user_name, account.version), ("ada", 3));
    assert_eq!(account.iam_id, Some(db.iam.uuid()));

    let missing = Uuid::new_v4();
    assert_not_found(replace(db, db.iam, missing, &user("y"), None).await);
    assert_not_found(replace(db, db.iam, missing, &user("y"), Some(1)).await);
    assert!(db.get_user(db.iam, missing.into()).await.unwrap().is_none());
}

async fn delete_checks_the_version(db: &Db) {
    let id = db.user("grace").await;
    let renamed = user("grace.hopper");
    replace(db, db.iam, id, &renamed, Some(1)).await.unwrap();
    let audit = scim(db.iam);
    let gone = |v| {
        db.delete_account(
            id.into(),
            Some((db.iam, v)),
            super::unguarded(),
            &audit,
            at(6),
        )
    };
    assert_mismatch(gone(Some(1)).await);
    assert!(db.get_user(db.iam, id.into()).await.unwrap().is_some());
    // Another IAM's token cannot delete it.
    let other = db.new_iam("other").await;
    let r = db.delete_account(
        id.into(),
        Some((other, None)),
        super::unguarded(),
        &audit,
        at(6),
    );
    assert_not_found(r.await);
    gone(Some(2)).await.expect("delete at version 2");
    assert!(db.get_user(db.iam, id.into()).await.unwrap().is_none());
    assert!(db.account(id).await.unwrap().is_none());
    assert_not_found(gone(None).await);
    // Its name is free again.
    db.user("grace.hopper").await;
}

async fn user_names_are_unique_per_iam_folded(db: &Db) {
    let ada = db.user("Ada@Example.com").await;
    for taken in ["ada@example.com", "ADA@EXAMPLE.COM"] {
        assert_conflict(insert(db, Uuid::new_v4(), taken, 2).await, INDEX);
    }
    // Folding is Unicode's, not ASCII's: ß folds to ss.
    db.user("strasse").await;
    assert_conflict(insert(db, Uuid::new_v4(), "STRAßE", 2).await, INDEX);

    // A replace onto a taken name is refused and leaves the user as it was.
    let bob = db.user("bob").await;
    let r = replace(db, db.iam, bob, &user("ADA@example.com"), Some(1)).await;
    assert_conflict(r, INDEX);
    let got = db.get_user(db.iam, bob.into()).await.unwrap().expect("bob");
    assert_eq!((got.version, got.doc), (1, user("bob").doc));
    // Its own name in another case is no conflict with itself.
    let again = replace(db, db.iam, ada, &user("ADA@example.COM"), Some(1)).await;
    assert_eq!(again.expect("same user, new case").version, 2);

    // The same name in another IAM is another user.
    let other = db.new_iam("other").await;
    db.user_in(other, "ada@example.com").await;
    db.user_in(other, "bob").await;
    assert_eq!(db.user_count(db.iam).await, 3);
    assert_eq!(db.user_count(other).await, 2);
}

async fn iam_names_are_unique(db: &Db) {
    let record = |id| Entry::new(Actor::Cli, "iam.created").target("Iam", id);
    let again = Uuid::new_v4();
    let r = db
        .create_iam(again, "idp", Some("again"), &record(again), at(1))
        .await;
    assert_conflict(r, "iams_name");
    let second = Uuid::new_v4();
    let r = db
        .create_iam(second, "second", Some("Second"), &record(second), at(2))
        .await;
    let iam = r.expect("create");
    assert_eq!((iam.id, &*iam.name, iam.created), (second, "second", at(2)));
    assert_eq!(iam.display_name.as_deref(), Some("Second"));
    let found = db.iam_by_name("second").await.unwrap().expect("by name");
    assert_eq!(found, iam);
    assert!(db.iam_by_name("third").await.unwrap().is_none());
    let iams = db.list_iams().await.unwrap();
    assert_eq!(iams.iter().filter(|i| i.name == "idp").count(), 1);
    assert!(iams.contains(&iam));
}
