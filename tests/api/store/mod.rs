//! The storage contract: what every backend of `scim_bridge::store::Store`
//! must do, tested through the trait alone (never SQL or backend types) and
//! run on SQLite and PostgreSQL. A new backend must pass this suite.

mod audit;
mod batch;
mod governance;
mod groups;
mod lists;
mod sessions;
mod users;

use std::ops::Deref;

use scim_bridge::audit::{Actor, Entry};
use scim_bridge::directory::changes::{self, GroupChange};
use scim_bridge::ids::IamId;
use scim_bridge::scim::resource::{fold_case, normalize};
use scim_bridge::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use scim_bridge::scim::search_doc;
use scim_bridge::scim::user_name::UserName;
use scim_bridge::store::{
    self, DynStore, GroupRecords, GroupWrite, MemberKind, Store, StoreError, UserWrite,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::app::{Backend, TestDb};

/// A freshly migrated store of its own, with one IAM (`idp`) to write in.
pub struct Db {
    pub store: DynStore,
    pub iam: IamId,
    pub backend: Backend,
    db: TestDb,
}

impl Db {
    pub async fn open(backend: Backend) -> Option<Db> {
        let db = Db::blank(backend).await?;
        let iam = db.new_iam("idp").await;
        Some(Db { iam, ..db })
    }

    /// Migrated, with no IAM beyond the built-in one.
    pub async fn blank(backend: Backend) -> Option<Db> {
        let db = TestDb::create(backend).await?;
        let store = store::connect(&db.url, 4).await.expect("connect");
        store.migrate().await.expect("migrate");
        Some(Db {
            store,
            iam: IamId::new(Uuid::nil()),
            backend,
            db,
        })
    }

    pub async fn new_iam(&self, name: &str) -> IamId {
        let id = Uuid::new_v4();
        let record = Entry::new(Actor::Cli, "iam.created").target("Iam", id);
        self.create_iam(id, name, None, &record, at(0))
            .await
            .expect("create iam");
        IamId::new(id)
    }

    /// Creates a user named `name` in `iam`.
    pub async fn user_in(&self, iam: IamId, name: &str) -> Uuid {
        let (id, w) = (Uuid::new_v4(), user(name));
        self.create_user(iam, id.into(), &w, &[], &user_created(iam, id, &w), at(1))
            .await
            .expect("insert user");
        id
    }

    pub async fn user(&self, name: &str) -> Uuid {
        self.user_in(self.iam, name).await
    }

    /// Creates a group named `name` in the test IAM with these members.
    pub async fn group(&self, name: &str, members: &[(Uuid, MemberKind)]) -> Uuid {
        let (id, g) = (Uuid::new_v4(), group(name));
        let records = changes::group_created(&scim(self.iam), id, &g, members);
        self.insert_group(self.iam, id.into(), &g, members, &records, at(1))
            .await
            .expect("insert group");
        id
    }

    /// The users an IAM's list counts.
    pub async fn user_count(&self, iam: IamId) -> u64 {
        let page = self.list_users(iam, &Default::default()).await;
        page.expect("list").total
    }

    /// The record the domain makes of `id` replaced by `w` in `iam`, over
    /// the document stored now (what the domain would have read).
    pub async fn user_updated(&self, iam: IamId, id: Uuid, w: &UserWrite) -> [Entry; 1] {
        let old = self.get_user(iam, id.into()).await.unwrap();
        let old = old.map_or(Value::Null, |s| s.doc);
        [changes::user_updated(&scim(iam), id, &old, w)]
    }

    /// How the domain records a change of the group `g` of the test IAM
    /// (to `new`; None: its members only), over the document stored now.
    pub async fn group_change(&self, g: Uuid, new: Option<&GroupWrite>) -> GroupChange {
        let old = self.get_group(self.iam, g.into()).await.unwrap();
        let old = old.map_or(Value::Null, |s| s.doc);
        GroupChange::new(&scim(self.iam), g, new.map(|w| (&old, &w.doc)))
    }

    pub async fn finish(self) {
        drop(self.store);
        self.db.finish().await;
    }
}

impl Deref for Db {
    type Target = dyn Store;

    fn deref(&self) -> &Self::Target {
        &*self.store
    }
}

/// Declares contract tests, each run once per backend: `contract!(a, b)`
/// for `async fn a(db: &Db)`.
macro_rules! contract {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::store::Db::open($crate::app::Backend::Sqlite)
                    .await
                    .expect("sqlite");
                super::$name(&db).await;
                db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::store::Db::open($crate::app::Backend::Postgres).await {
                    Some(db) => {
                        super::$name(&db).await;
                        db.finish().await;
                    }
                    None => eprintln!(
                        "SCIM_BRIDGE_TEST_POSTGRES is not set: PostgreSQL variant skipped"
                    ),
                }
            }
        }
    )+};
}
use contract;

/// The records of `change`, as storage asks for them.
pub fn records_of(change: &GroupChange) -> GroupRecords {
    let change = change.clone();
    Box::new(move |d| change.records(d))
}

/// A fixed instant `secs` after a base, exact to the microsecond (what
/// both databases keep), so that what comes back can be compared.
pub fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_767_225_600 + secs).expect("time")
}

/// The audit entry of an identity provider's write.
pub fn scim(iam: IamId) -> Entry {
    Entry::new(Actor::Iam(iam.uuid()), "scim")
}

/// The record the domain makes of the user `id` created by the IAM.
pub fn user_created(iam: IamId, id: Uuid, w: &UserWrite) -> [Entry; 1] {
    [changes::user_created(&scim(iam), id, w)]
}

/// A user's write derived from a SCIM body, as the domain derives it.
pub fn user_from(body: &Value) -> UserWrite {
    let doc = normalize(&USER_RESOURCE, body).expect("valid user").doc;
    let name = doc["userName"].as_str().expect("userName");
    UserWrite {
        user_name: UserName::parse(name).expect("valid userName"),
        external_id: doc["externalId"].as_str().map(str::to_owned),
        display_name_folded: doc["displayName"].as_str().map(fold_case),
        active: doc["active"].as_bool().unwrap_or(true),
        search: search_doc::build(&USER_RESOURCE, &doc),
        doc,
        password_hash: Some(None),
        emails_unchanged: false,
        keys_unchanged: false,
    }
}

pub fn user(name: &str) -> UserWrite {
    user_from(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "emails": [{"value": name, "type": "work"}],
    }))
}

/// A group's write derived from a SCIM body (members go apart).
pub fn group_from(body: &Value) -> GroupWrite {
    let doc = normalize(&GROUP_RESOURCE, body).expect("valid group").doc;
    let name = doc["displayName"].as_str().expect("displayName").to_owned();
    GroupWrite {
        display_name_folded: fold_case(&name),
        display_name: name,
        external_id: doc["externalId"].as_str().map(str::to_owned),
        search: search_doc::build(&GROUP_RESOURCE, &doc),
        doc,
    }
}

pub fn group(name: &str) -> GroupWrite {
    group_from(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": name,
    }))
}

pub fn users(ids: &[Uuid]) -> Vec<(Uuid, MemberKind)> {
    ids.iter().map(|id| (*id, MemberKind::User)).collect()
}

/// Asserts a conflict on exactly this unique index.
#[track_caller]
pub fn assert_conflict<T: std::fmt::Debug>(r: store::Result<T>, index: &str) {
    match r {
        Err(StoreError::Conflict(i)) => assert_eq!(i, index),
        other => panic!("expected Conflict({index}), got {other:?}"),
    }
}

#[track_caller]
pub fn assert_mismatch<T: std::fmt::Debug>(r: store::Result<T>) {
    assert!(
        matches!(r, Err(StoreError::VersionMismatch)),
        "expected VersionMismatch, got {r:?}"
    );
}

#[track_caller]
pub fn assert_not_found<T: std::fmt::Debug>(r: store::Result<T>) {
    assert!(
        matches!(r, Err(StoreError::NotFound)),
        "expected NotFound, got {r:?}"
    );
}

/// The last-admin guard's input for a write that leaves no other admin to
/// account for (the domain's own lists are not part of these tests).
pub fn unguarded() -> scim_bridge::store::accounts::LastAdmin<'static> {
    scim_bridge::store::accounts::LastAdmin {
        permission: "USER_ADMIN",
        admins_after: &[],
    }
}
