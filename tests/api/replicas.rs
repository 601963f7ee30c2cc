//! Three server processes on one PostgreSQL schema, requests spread across
//! them, as behind a load balancer: uniqueness, `If-Match`, member adds,
//! the audit chain and caches hold across replicas. PostgreSQL only (a
//! SQLite file is one machine's); skipped without SCIM_BRIDGE_TEST_POSTGRES.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::app::Backend;
use crate::fleet::{self, Database, Reply, Server, Tenants, call, send};
use crate::leak::Client;

const REPLICAS: usize = 3;

struct Fleet {
    db: Database,
    servers: Vec<Server>,
    t: Tenants,
    client: Client,
}

impl Fleet {
    /// Three replicas started at once on an empty schema (their migrations
    /// race too), or None without PostgreSQL.
    async fn start(env: &[(&str, &str)]) -> Option<Fleet> {
        let Some(db) = Database::new(Backend::Postgres).await else {
            eprintln!("SCIM_BRIDGE_TEST_POSTGRES is not set: replica test skipped");
            return None;
        };
        let servers = join_all((0..REPLICAS).map(|_| db.serve(env))).await;
        let t = fleet::tenants(&db).await;
        Some(Fleet {
            db,
            servers,
            t,
            client: fleet::client(),
        })
    }

    /// The SCIM URL of `path` on replica `i % REPLICAS`.
    fn scim(&self, i: usize, path: &str) -> String {
        self.servers[i % REPLICAS].scim(path)
    }

    fn admin(&self, i: usize, path: &str) -> String {
        self.servers[i % REPLICAS].admin(path)
    }

    async fn idp(&self, i: usize, method: Method, path: &str, body: Option<&Value>) -> Reply {
        call(&self.client, method, &self.scim(i, path), &self.t.idp, body).await
    }

    async fn create_user(&self, i: usize, user_name: &str) -> Value {
        let r = self
            .idp(i, Method::POST, "/Users", Some(&user(user_name)))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body
    }

    /// The usage export's workflow counts, summed over yesterday and
    /// today (a run may cross midnight UTC), read through replica `i`.
    async fn workflows(&self, i: usize) -> BTreeMap<String, u64> {
        let r = call(
            &self.client,
            Method::GET,
            &self.admin(i, "/metrics?days=2"),
            &self.t.admin,
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let mut out = BTreeMap::new();
        for day in r.body["days"].as_array().expect("days") {
            for (k, v) in day["workflows"].as_object().expect("workflows") {
                *out.entry(k.clone()).or_default() += v.as_u64().expect("a count");
            }
        }
        out
    }

    async fn finish(self) {
        let n = self.db.verify_audit();
        assert!(n > 0);
        drop(self.servers);
        self.db.finish().await;
    }
}

fn user(user_name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "emails": [{"value": "x@example.com", "type": "work"}],
    })
}

fn statuses(replies: &[Reply]) -> BTreeMap<u16, usize> {
    let mut out = BTreeMap::new();
    for r in replies {
        *out.entry(r.status).or_insert(0) += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_of_one_user_name_give_one_201() {
    let Some(f) = Fleet::start(&[]).await else {
        return;
    };
    for round in 0..4 {
        // The same name in different cases: userName is unique per IAM,
        // compared case-insensitively.
        let replies = join_all((0..24).map(|i| {
            let name = if i % 2 == 0 {
                format!("Racer{round}@Example.com")
            } else {
                format!("racer{round}@example.com")
            };
            let f = &f;
            async move { f.idp(i, Method::POST, "/Users", Some(&user(&name))).await }
        }))
        .await;
        assert_eq!(
            statuses(&replies),
            [(201, 1), (409, 23)].into(),
            "round {round}: {:?}",
            replies.iter().map(|r| &r.body).collect::<Vec<_>>()
        );
        for r in replies.iter().filter(|r| r.status == 409) {
            assert_eq!(r.body["scimType"], "uniqueness", "{}", r.body);
        }
        let filter = format!("/Users?filter=userName%20eq%20%22racer{round}@example.com%22");
        for i in 0..REPLICAS {
            let found = f.idp(i, Method::GET, &filter, None).await;
            assert_eq!(found.body["totalResults"], 1, "replica {i}: {}", found.body);
        }
    }
    // One audit record per account, none for the refusals.
    let audit = call(
        &f.client,
        Method::GET,
        &f.admin(0, "/audit?action=user.created&limit=1000"),
        &f.t.admin,
        None,
    )
    .await;
    let by_idp = audit.body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["actor"] != "cli")
        .count();
    assert_eq!(by_idp, 4, "{}", audit.body);
    f.finish().await;
}

/// How much each count grew.
fn grown(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// Fires `n` requests carrying one ETag at once, across the replicas.
async fn racing_updates(f: &Fleet, method: Method, id: &str, etag: &str, n: usize) -> Vec<Reply> {
    join_all((0..n).map(|i| {
        let method = method.clone();
        async move {
            let body = if method == Method::PUT {
                let mut u = user(&format!("target-{id}@example.com"));
                u["nickName"] = json!(format!("put-{i}"));
                u
            } else {
                json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "nickName", "value": format!("patch-{i}")}],
                })
            };
            send(
                &f.client,
                method,
                &f.scim(i, &format!("/Users/{id}")),
                &f.t.idp,
                Some(&body),
                Some(etag),
            )
            .await
            .expect("an answer")
        }
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_if_match_updates_give_one_success() {
    let Some(f) = Fleet::start(&[]).await else {
        return;
    };
    let created = f.create_user(0, "placeholder@example.com").await;
    let id = created["id"].as_str().unwrap().to_owned();
    // The PUTs rename the user to this.
    let r = f
        .idp(
            1,
            Method::PUT,
            &format!("/Users/{id}"),
            Some(&user(&format!("target-{id}@example.com"))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for round in 0..6 {
        let method = if round % 2 == 0 {
            Method::PATCH
        } else {
            Method::PUT
        };
        let before = f
            .idp(round, Method::GET, &format!("/Users/{id}"), None)
            .await;
        let etag = before.etag.clone().expect("ETag");
        let replies = racing_updates(&f, method.clone(), &id, &etag, 24).await;
        assert_eq!(
            statuses(&replies),
            [(200, 1), (412, 23)].into(),
            "round {round} ({method}): {:?}",
            replies.iter().map(|r| &r.body).collect::<Vec<_>>()
        );
        let winner = replies.iter().find(|r| r.status == 200).unwrap();
        for i in 0..REPLICAS {
            let after = f.idp(i, Method::GET, &format!("/Users/{id}"), None).await;
            assert_eq!(after.body["nickName"], winner.body["nickName"]);
            assert_eq!(after.etag, winner.etag, "one new version");
            assert_ne!(after.etag.as_deref(), Some(etag.as_str()));
        }
    }
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_without_if_match_all_apply() {
    let Some(f) = Fleet::start(&[]).await else {
        return;
    };
    let created = f.create_user(0, "many-ims@example.com").await;
    let id = created["id"].as_str().unwrap().to_owned();
    // Each PATCH adds its own instant-messaging address: a lost update
    // would drop one.
    let replies = join_all((0..24).map(|i| {
        let f = &f;
        let id = &id;
        async move {
            let body = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "ims", "value": [{"value": format!("im{i}")}]}],
            });
            f.idp(i, Method::PATCH, &format!("/Users/{id}"), Some(&body))
                .await
        }
    }))
    .await;
    assert_eq!(
        statuses(&replies),
        [(200, 24)].into(),
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    let after = f.idp(2, Method::GET, &format!("/Users/{id}"), None).await;
    let ims = after.body["ims"].as_array().unwrap();
    assert_eq!(ims.len(), 24, "{}", after.body);
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_member_adds_from_all_replicas_all_land() {
    let Some(f) = Fleet::start(&[]).await else {
        return;
    };
    let ids: Vec<String> = join_all((0..60).map(|i| {
        let f = &f;
        async move {
            f.create_user(i, &format!("member{i}@example.com")).await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    }))
    .await;
    let group = f
        .idp(
            0,
            Method::POST,
            "/Groups",
            Some(&json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Everyone",
            })),
        )
        .await;
    assert_eq!(group.status, 201, "{}", group.body);
    let gid = group.body["id"].as_str().unwrap().to_owned();
    let member_op = |op: &str, id: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": if op == "add" {
                json!([{"op": "add", "path": "members", "value": [{"value": id}]}])
            } else {
                json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}])
            },
        })
    };
    let before = f.workflows(0).await;
    // One PATCH per member, all at once.
    let path = format!("/Groups/{gid}");
    let replies = join_all(ids.iter().enumerate().map(|(i, id)| {
        let body = member_op("add", id);
        let (f, path) = (&f, &path);
        async move { f.idp(i, Method::PATCH, path, Some(&body)).await }
    }))
    .await;
    assert!(
        replies.iter().all(|r| r.status == 200 || r.status == 204),
        "{:?}",
        statuses(&replies)
    );
    let members = |g: &Value| -> std::collections::BTreeSet<String> {
        g["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|m| m["value"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    for i in 0..REPLICAS {
        let g = f.idp(i, Method::GET, &path, None).await;
        assert_eq!(members(&g.body), ids.iter().cloned().collect());
    }
    // Half leave at once while the group is renamed from every replica.
    let renames = (0..6).map(|i| {
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": format!("Everyone {i}")}],
        })
    });
    let bodies: Vec<Value> = ids
        .iter()
        .step_by(2)
        .map(|id| member_op("remove", id))
        .chain(renames)
        .collect();
    let replies = join_all(bodies.iter().enumerate().map(|(i, body)| {
        let (f, path) = (&f, &path);
        async move { f.idp(i, Method::PATCH, path, Some(body)).await }
    }))
    .await;
    assert!(
        replies.iter().all(|r| r.status == 200 || r.status == 204),
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    let g = f.idp(1, Method::GET, &path, None).await;
    assert_eq!(
        members(&g.body),
        ids.iter().skip(1).step_by(2).cloned().collect()
    );
    // The usage counts saw every change exactly once.
    let counted = grown(&before, &f.workflows(2).await);
    assert_eq!(counted.get("group.member_added"), Some(&60), "{counted:?}");
    assert_eq!(
        counted.get("group.member_removed"),
        Some(&30),
        "{counted:?}"
    );
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audit_chain_holds_under_writers_on_every_replica() {
    let Some(f) = Fleet::start(&[]).await else {
        return;
    };
    let base = f.db.verify_audit();
    let before = f.workflows(0).await;
    // Creates, PATCHes and admin grants from every replica at once, while
    // `audit verify` replays the chain (it must not mistake a record
    // committed during its run for a broken tail).
    let done = std::sync::atomic::AtomicBool::new(false);
    let writers = async {
        join_all((0..60).map(|i| {
            let f = &f;
            async move {
                let u = f.create_user(i, &format!("audited{i}@example.com")).await;
                let id = u["id"].as_str().unwrap();
                let patch = json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "nickName", "value": "n"}],
                });
                let r = f
                    .idp(i + 1, Method::PATCH, &format!("/Users/{id}"), Some(&patch))
                    .await;
                assert_eq!(r.status, 200, "{}", r.body);
                let r = call(
                    &f.client,
                    Method::POST,
                    &f.admin(i + 2, &format!("/users/{id}/permissions")),
                    &f.t.admin,
                    Some(&json!({"permissions": ["GOVERNANCE"]})),
                )
                .await;
                assert_eq!(r.status, 200, "{}", r.body);
                // Reported usage events, not audited but counted.
                let r = call(
                    &f.client,
                    Method::POST,
                    &f.admin(i, "/metrics/events"),
                    &f.t.admin,
                    Some(&json!({"events": [{"name": "project.created", "count": 2}]})),
                )
                .await;
                assert!(r.status < 300, "{}", r.body);
            }
        }))
        .await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let dir = f.db.directory().await;
    let verifier = async {
        let mut runs = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            match dir.verify_audit().await.expect("verify") {
                Ok(_) => runs += 1,
                Err(broken) => panic!("audit verify during writes: {broken}"),
            }
        }
        runs
    };
    let ((), runs) = tokio::join!(writers, verifier);
    assert!(runs > 0);
    // Every write left exactly one record, in one unbroken chain.
    assert_eq!(f.db.verify_audit(), base + 180);
    // The daily usage counts equal what was done, from whichever replica.
    let counted = grown(&before, &f.workflows(1).await);
    let expected: BTreeMap<String, u64> = [
        ("project.created", 120),
        ("permission.added", 60),
        ("user.created", 60),
        ("user.updated", 60),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(counted, expected);
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn token_revocation_and_settings_reach_every_replica() {
    // With the caches off, at once.
    let Some(f) = Fleet::start(&[("SCIM_BRIDGE_TOKEN_CACHE_MS", "0")]).await else {
        return;
    };
    check_caches(&f, false).await;
    f.finish().await;
    // With them on (the default: 1 s), within that bound; the test polls.
    let Some(f) = Fleet::start(&[]).await else {
        return;
    };
    check_caches(&f, true).await;
    f.finish().await;
}

async fn check_caches(f: &Fleet, cached: bool) {
    let minted = call(
        &f.client,
        Method::POST,
        &f.admin(0, "/iams/idp/tokens"),
        &f.t.admin,
        Some(&json!({"label": "short-lived"})),
    )
    .await;
    assert_eq!(minted.status, 201, "{}", minted.body);
    let token = minted.body["token"].as_str().expect("token").to_owned();
    let token_id = minted.body["id"].as_str().expect("id").to_owned();
    for i in 0..REPLICAS {
        let r = send(
            &f.client,
            Method::GET,
            &f.scim(i, "/Users"),
            &token,
            None,
            None,
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "replica {i}");
    }
    let r = call(
        &f.client,
        Method::DELETE,
        &f.admin(0, &format!("/tokens/{token_id}")),
        &f.t.admin,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);

    let settings = json!({"defaultPermissions": ["GOVERNANCE"]});
    let r = call(
        &f.client,
        Method::PUT,
        &f.admin(0, "/iams/idp/settings"),
        &f.t.admin,
        Some(&settings),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Admin tokens are checked against the account on every request: a
    // disabled administrator is refused by every replica at once.
    let (second, second_token) =
        f.db.directory()
            .await
            .bootstrap_admin(
                &format!("second-{cached}@example.com"),
                None,
                time::Duration::hours(1),
            )
            .await
            .expect("bootstrap");
    for i in 0..REPLICAS {
        let r = call(
            &f.client,
            Method::GET,
            &f.admin(i, "/me"),
            &second_token,
            None,
        )
        .await;
        assert_eq!(r.status, 200, "replica {i}: {}", r.body);
    }
    let r = call(
        &f.client,
        Method::POST,
        &f.admin(0, &format!("/users/{second}/disable")),
        &f.t.admin,
        None,
    )
    .await;
    assert!(r.status < 300, "{}", r.body);
    for i in 0..REPLICAS {
        let r = call(
            &f.client,
            Method::GET,
            &f.admin(i, "/me"),
            &second_token,
            None,
        )
        .await;
        assert_eq!(r.status, 401, "replica {i}: {}", r.body);
    }

    for i in 1..REPLICAS {
        eventually(cached, || async {
            send(
                &f.client,
                Method::GET,
                &f.scim(i, "/Users"),
                &token,
                None,
                None,
            )
            .await
            .unwrap()
            .status
                == 401
        })
        .await;
        let mut n = 0;
        eventually(cached, || {
            n += 1;
            let name = format!("after-settings-{cached}-{i}-{n}@example.com");
            async move {
                let u = f.create_user(i, &name).await;
                let id = u["id"].as_str().unwrap();
                let view = call(
                    &f.client,
                    Method::GET,
                    &f.admin(i, &format!("/users/{id}")),
                    &f.t.admin,
                    None,
                )
                .await;
                view.body["permissions"] == json!(["GOVERNANCE"])
            }
        })
        .await;
    }
}

/// `check` holds now (`cached` false) or within a few seconds (the
/// documented bound is `token_cache_ms`, 1 s by default).
async fn eventually<F, Fut>(cached: bool, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if check().await {
            return;
        }
        assert!(
            cached,
            "a change made on one replica is not seen on another at once"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "a change made on one replica never reached another"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
