//! Governance's storage: tags form a tree that is created top down and
//! deleted bottom up (a deleted tag stays where it is applied and cannot
//! be applied again), data source names are unique and link the
//! subscriptions that name them, policy keys are unique; every write
//! appends the domain's records, and a refused one appends none.

use scim_bridge::audit::{Actor, Entry};
use scim_bridge::directory::changes;
use scim_bridge::ids::DataSourceId;
use scim_bridge::store::accounts::{LinkedSubscription, PolicySubscription, Subscription};
use scim_bridge::store::governance::{
    Column, DataSource, RESUBSCRIBE, StoredPolicy, TAG_NOT_APPLICABLE, Tag,
};
use serde_json::json;
use uuid::Uuid;

use super::{Db, assert_conflict, assert_not_found, at, contract, unguarded};

contract!(
    tags_are_a_tree_created_down_and_deleted_up,
    a_deleted_tag_stays_applied_and_cannot_be_applied,
    data_sources_link_subscriptions_by_name,
    policies_are_unique_by_key_and_records_see_the_old_one,
    a_reevaluation_read_before_another_writes_nothing,
    jobs_keep_who_started_them,
);

fn admin() -> Entry {
    Entry::new(Actor::Cli, "")
}

/// The tags of `name` and its ancestors, from the root down, as the domain
/// would hand them to storage.
fn chain(name: &str, secs: i64) -> Vec<Tag> {
    let mut out: Vec<Tag> = Vec::new();
    let levels: Vec<&str> = name.split('.').collect();
    for i in 1..=levels.len() {
        out.push(Tag {
            id: Uuid::new_v4(),
            name: levels[..i].join("."),
            parent: out.last().map(|t| t.name.clone()),
            description: (i == levels.len()).then(|| format!("about {name}")),
            created: at(secs),
            deleted: None,
        });
    }
    out
}

async fn create(db: &Db, name: &str) -> scim_bridge::store::Result<Vec<Tag>> {
    db.create_tag(
        &chain(name, 1),
        &|tags| changes::tags_changed(&admin(), "tag.created", tags),
        at(1),
    )
    .await
}

async fn delete(db: &Db, name: &str) -> scim_bridge::store::Result<Vec<Tag>> {
    db.delete_tag(
        name,
        &|tags| changes::tags_changed(&admin(), "tag.deleted", tags),
        at(2),
    )
    .await
}

fn names(tags: &[Tag]) -> Vec<&str> {
    tags.iter().map(|t| t.name.as_str()).collect()
}

async fn head(db: &Db) -> i64 {
    db.audit_head().await.unwrap().0
}

async fn tags_are_a_tree_created_down_and_deleted_up(db: &Db) {
    let start = head(db).await;
    let made = create(db, "Environment.Dev.Eu").await.unwrap();
    assert_eq!(
        names(&made),
        ["Environment", "Environment.Dev", "Environment.Dev.Eu"]
    );
    assert_eq!(made[1].parent.as_deref(), Some("Environment"));
    assert_eq!(head(db).await, start + 3, "one record per tag made");
    // A sibling creates only itself; the same tag again is refused.
    assert_eq!(
        names(&create(db, "Environment.Prod").await.unwrap()),
        ["Environment.Prod"]
    );
    let before = head(db).await;
    assert_conflict(create(db, "Environment.Dev").await, "tags_name");
    assert_eq!(head(db).await, before, "a refusal appends nothing");

    let (page, total) = db.list_tags(Some("dev"), 0, 10).await.unwrap();
    assert_eq!(names(&page), ["Environment.Dev", "Environment.Dev.Eu"]);
    assert_eq!(total, 2);
    let (page, total) = db.list_tags(None, 1, 2).await.unwrap();
    assert_eq!(names(&page), ["Environment.Dev", "Environment.Dev.Eu"]);
    assert_eq!(total, 4);

    // Deleting a tag deletes those below it, not its siblings nor a tag
    // that merely starts with the same letters.
    create(db, "Environment.Development").await.unwrap();
    let gone = delete(db, "Environment.Dev").await.unwrap();
    assert_eq!(names(&gone), ["Environment.Dev", "Environment.Dev.Eu"]);
    assert!(gone.iter().all(|t| t.deleted == Some(at(2))));
    let (page, _) = db.list_tags(None, 0, 10).await.unwrap();
    assert_eq!(
        names(&page),
        ["Environment", "Environment.Development", "Environment.Prod"]
    );
    let before = head(db).await;
    assert_not_found(delete(db, "Environment.Dev").await);
    assert_not_found(delete(db, "Nothing").await);
    assert_eq!(head(db).await, before);

    // Creating a child of a deleted tag restores it (same id).
    let restored = create(db, "Environment.Dev.Us").await.unwrap();
    assert_eq!(names(&restored), ["Environment.Dev", "Environment.Dev.Us"]);
    assert_eq!(restored[0].id, gone[0].id);
    assert_eq!(restored[0].deleted, None);
    let known = db
        .tags_named(&["Environment.Dev.Eu".into(), "Nope".into()])
        .await
        .unwrap();
    assert_eq!(names(&known), ["Environment.Dev.Eu"]);
    assert!(known[0].deleted.is_some(), "still deleted");
}

fn source(name: &str, tags: &[&str], owners: &[Uuid]) -> DataSource {
    DataSource {
        id: DataSourceId::new(Uuid::new_v4()),
        name: name.to_owned(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        columns: vec![
            Column {
                name: "email".into(),
                tags: vec!["PII".into()],
            },
            Column {
                name: "amount".into(),
                tags: Vec::new(),
            },
        ],
        owners: owners.to_vec(),
        created: at(3),
    }
}

async fn register(db: &Db, s: &DataSource) -> scim_bridge::store::Result<()> {
    let record = changes::data_source_created(&admin(), s);
    db.create_data_source(s, &[record], at(3)).await
}

async fn a_deleted_tag_stays_applied_and_cannot_be_applied(db: &Db) {
    create(db, "Environment.Dev").await.unwrap();
    create(db, "Environment.Test").await.unwrap();
    create(db, "PII").await.unwrap();
    let owner = db.user("owner").await;
    let s = source("sales", &["Environment.Dev"], &[owner]);
    register(db, &s).await.unwrap();
    assert_eq!(db.data_source(s.id).await.unwrap().as_ref(), Some(&s));

    delete(db, "Environment.Dev").await.unwrap();
    let kept = db.data_source(s.id).await.unwrap().unwrap();
    assert_eq!(
        kept.tags,
        ["Environment.Dev"],
        "a deleted tag stays applied"
    );

    let before = head(db).await;
    let tagged = |tags: Vec<String>| {
        let id = s.id;
        async move {
            db.tag_data_source(
                id,
                &tags,
                &|added| changes::data_source_tagged(&admin(), id, added),
                at(4),
            )
            .await
        }
    };
    let refused = tagged(vec!["Environment.Test".into(), "Environment.Dev".into()]).await;
    assert_conflict(refused, TAG_NOT_APPLICABLE);
    assert_conflict(
        tagged(vec!["Never.Created".into()]).await,
        TAG_NOT_APPLICABLE,
    );
    let other = source("other", &["Environment.Dev"], &[]);
    assert_conflict(register(db, &other).await, TAG_NOT_APPLICABLE);
    assert_eq!(db.data_source(other.id).await.unwrap(), None);
    assert_eq!(head(db).await, before, "refusals append nothing");

    // Applying a tag carried already changes nothing and records nothing.
    let added = tagged(vec!["Environment.Test".into(), "PII".into()])
        .await
        .unwrap();
    assert_eq!(added.len(), 2);
    assert_eq!(head(db).await, before + 2);
    assert!(tagged(vec!["PII".into()]).await.unwrap().is_empty());
    assert_eq!(head(db).await, before + 2);
    let record = changes::data_source_untagged(&admin(), s.id, "PII");
    assert!(
        db.untag_data_source(s.id, "PII", &record, at(5))
            .await
            .unwrap()
    );
    assert!(
        !db.untag_data_source(s.id, "PII", &record, at(5))
            .await
            .unwrap()
    );
    let now = db.data_source(s.id).await.unwrap().unwrap();
    assert_eq!(now.tags, ["Environment.Dev", "Environment.Test"]);
    assert_eq!(now.columns, s.columns, "column tags untouched");
    assert_not_found(
        db.tag_data_source(
            DataSourceId::new(Uuid::new_v4()),
            &["PII".into()],
            &|_| Vec::new(),
            at(5),
        )
        .await,
    );
}

/// Subscribes `user` to `data_source` (by name); the registered data
/// source it is linked to.
async fn subscribe(db: &Db, user: Uuid, data_source: &str) -> Option<DataSourceId> {
    let s = Subscription {
        id: Uuid::new_v4(),
        user_id: user,
        data_source: data_source.to_owned(),
        role: "subscriber".into(),
        subscribed: at(2),
        expires: None,
    };
    db.add_subscription(&s, &admin(), at(2)).await.unwrap()
}

/// The user's subscriptions: each one's text and data source, by text.
async fn links(db: &Db, user: Uuid) -> Vec<(String, Option<DataSourceId>)> {
    let subs: Vec<LinkedSubscription> = db.subscriptions(user).await.unwrap();
    let mut out: Vec<_> = subs
        .into_iter()
        .map(|l| (l.subscription.data_source, l.data_source_id))
        .collect();
    out.sort();
    out
}

async fn data_sources_link_subscriptions_by_name(db: &Db) {
    create(db, "PII").await.unwrap();
    let (u, owner) = (db.user("u").await, db.user("owner").await);
    // Free text written before the data source is registered.
    assert_eq!(subscribe(db, u, "sales").await, None);
    assert_eq!(subscribe(db, u, "unregistered").await, None);
    let s = source("sales", &[], &[owner]);
    register(db, &s).await.unwrap();
    assert_eq!(
        links(db, u).await,
        [("sales".into(), Some(s.id)), ("unregistered".into(), None)]
    );
    // Written after: linked as it is written.
    assert_eq!(subscribe(db, u, "sales").await, Some(s.id));

    let before = head(db).await;
    assert_conflict(
        register(db, &source("sales", &[], &[])).await,
        "data_sources_name",
    );
    assert_not_found(register(db, &source("ghost-owned", &[], &[Uuid::new_v4()])).await);
    assert_eq!(head(db).await, before);
    let (page, total) = db.list_data_sources(0, 10).await.unwrap();
    assert_eq!((page.len(), total), (1, 1));

    // An owner deleted for good owns nothing; the data source stays.
    db.delete_account(owner.into(), None, unguarded(), &admin(), at(6))
        .await
        .unwrap();
    assert!(
        db.data_source(s.id)
            .await
            .unwrap()
            .unwrap()
            .owners
            .is_empty()
    );
    // The data source deleted: its subscriptions stay, named by their text.
    let record = changes::data_source_deleted(&admin(), s.id);
    assert!(db.delete_data_source(s.id, &record, at(7)).await.unwrap());
    assert!(!db.delete_data_source(s.id, &record, at(7)).await.unwrap());
    let left = links(db, u).await;
    assert_eq!(left.len(), 3);
    assert!(left.iter().all(|(_, id)| id.is_none()), "{left:?}");
}

fn policy(key: &str, name: &str) -> StoredPolicy {
    StoredPolicy {
        id: Uuid::new_v4(),
        key: key.to_owned(),
        document: json!({"policyKey": key, "name": name}),
        created: at(1),
        updated: at(1),
    }
}

async fn policies_are_unique_by_key_and_records_see_the_old_one(db: &Db) {
    let p = policy("dev-only", "Dev");
    db.create_policy(&p, &changes::policy_created(&admin(), &p))
        .await
        .unwrap();
    let before = head(db).await;
    let again = policy("dev-only", "Again");
    assert_conflict(
        db.create_policy(&again, &changes::policy_created(&admin(), &again))
            .await,
        "policies_key",
    );
    assert_eq!(head(db).await, before);
    let z = policy("a-first", "A");
    db.create_policy(&z, &changes::policy_created(&admin(), &z))
        .await
        .unwrap();
    let keys: Vec<String> = db
        .policies()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.key)
        .collect();
    assert_eq!(keys, ["a-first", "dev-only"]);

    let new = json!({"policyKey": "dev-only", "name": "Dev data"});
    let seen = std::sync::Mutex::new(None);
    let replaced = db
        .replace_policy(
            "dev-only",
            &new,
            &|old| {
                *seen.lock().unwrap() = Some(old.clone());
                changes::policy_updated(&admin(), old, &new)
            },
            at(9),
        )
        .await
        .unwrap();
    assert_eq!(seen.into_inner().unwrap(), Some(p.clone()));
    assert_eq!(
        (replaced.id, replaced.created, replaced.updated),
        (p.id, at(1), at(9))
    );
    assert_eq!(db.policy("dev-only").await.unwrap(), Some(replaced));
    assert_not_found(
        db.replace_policy(
            "nope",
            &new,
            &|old| changes::policy_deleted(&admin(), old),
            at(9),
        )
        .await,
    );
    db.delete_policy(
        "dev-only",
        &|old| changes::policy_deleted(&admin(), old),
        at(10),
    )
    .await
    .unwrap();
    assert_eq!(db.policy("dev-only").await.unwrap(), None);
    assert_not_found(
        db.delete_policy(
            "dev-only",
            &|old| changes::policy_deleted(&admin(), old),
            at(10),
        )
        .await,
    );
}

/// The account's mark, as a re-evaluation reads it with the account.
async fn mark(db: &Db, user: Uuid) -> i64 {
    let read = db.accounts_by_id(&[user]).await.unwrap();
    assert_eq!(read.len(), 1);
    read[0].mark
}

fn policy_subscription(user: Uuid, s: &DataSource) -> PolicySubscription {
    PolicySubscription {
        subscription: Subscription {
            id: Uuid::new_v4(),
            user_id: user,
            data_source: s.name.clone(),
            role: "subscriber".into(),
            subscribed: at(4),
            expires: None,
        },
        data_source_id: s.id,
        source: "policy:p".into(),
        audit: changes::policy_subscription(&admin(), "subscription.added", user, "policy:p"),
    }
}

/// A job's batch reads an account, then the account's own write and
/// re-evaluation happen, then the batch writes: the batch's decision, made
/// on what it read before, is not written, and the account is returned to
/// be read again. Here the interleaving is spelt out: the batch is the
/// write with the older mark.
async fn a_reevaluation_read_before_another_writes_nothing(db: &Db) {
    create(db, "PII").await.unwrap();
    let (u, v) = (db.user("u").await, db.user("v").await);
    let s = source("sales", &[], &[]);
    register(db, &s).await.unwrap();
    let (batch_read, v_read) = (mark(db, u).await, mark(db, v).await);

    // The account's own re-evaluation, read after its write, subscribes it.
    let own = policy_subscription(u, &s);
    let moved = db
        .resubscribe(
            vec![own.clone()],
            Vec::new(),
            vec![(u, batch_read)],
            None,
            at(4),
        )
        .await
        .unwrap();
    assert!(moved.is_empty());
    assert_eq!(mark(db, u).await, batch_read + 1);

    // The batch decided on what it read before: take it away, and
    // subscribe `v` (read and decided alike, not re-evaluated meanwhile).
    let before = head(db).await;
    let record = changes::policy_subscription(&admin(), "subscription.removed", u, "policy:p");
    let other = policy_subscription(v, &s);
    let moved = db
        .resubscribe(
            vec![other],
            vec![(own.subscription.id, u, record.clone())],
            vec![(u, batch_read), (v, v_read)],
            None,
            at(5),
        )
        .await
        .unwrap();
    assert_eq!(moved, [u], "u was re-evaluated since the batch read it");
    let held = db.policy_subscriptions(&[u, v]).await.unwrap();
    let holders: Vec<Uuid> = held.iter().map(|h| h.subscription.user_id).collect();
    assert_eq!(holders.len(), 2, "u keeps its subscription, v gets its own");
    assert!(holders.contains(&u) && holders.contains(&v));
    assert_eq!(head(db).await, before + 1, "only v's change is recorded");
    assert_eq!(mark(db, u).await, batch_read + 1, "a refused mark stays");

    // Read again, the batch's decision stands.
    let again = mark(db, u).await;
    let moved = db
        .resubscribe(
            Vec::new(),
            vec![(own.subscription.id, u, record)],
            vec![(u, again)],
            None,
            at(6),
        )
        .await
        .unwrap();
    assert!(moved.is_empty());
    assert_eq!(db.policy_subscriptions(&[u]).await.unwrap().len(), 0);
}

/// A job keeps who started it, an identity provider too, to record its
/// changes in their name.
async fn jobs_keep_who_started_them(db: &Db) {
    let iam = Actor::Iam(db.iam.uuid());
    let admin_id = db.user("admin").await;
    for (i, actor) in [iam, Actor::Admin(admin_id), Actor::Cli]
        .into_iter()
        .enumerate()
    {
        let made = db
            .create_job(Uuid::new_v4(), RESUBSCRIBE, &actor, at(i as i64))
            .await
            .unwrap();
        assert_eq!(made.actor, actor);
        let read = db.job(made.id).await.unwrap().unwrap();
        assert_eq!(read.actor, actor);
    }
    assert!(db.job_running().await.unwrap());
}
