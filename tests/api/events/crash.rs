//! A server killed with SIGKILL while it delivers, again and again: after
//! the last restart every change it acknowledged has reached the receiver
//! (a delivery cut short comes again, with the same id), and each
//! resource's events came in the order of its changes.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::json;

use super::{Receiver, WAIT, about, types, verified};
use crate::app::Backend;
use crate::fleet::{self, Database, Server, call, send};

const ROUNDS: usize = 3;
const USERS_PER_ROUND: usize = 6;
const ENV: [(&str, &str); 2] = [
    ("SCIM_BRIDGE_EVENT_ALLOW_HTTP", "[\"127.0.0.1\"]"),
    ("SCIM_BRIDGE_EVENT_ALLOW_PRIVATE", "[\"127.0.0.1\"]"),
];

async fn run(backend: Backend) {
    let Some(db) = Database::new(backend).await else {
        eprintln!("SCIM_BRIDGE_TEST_POSTGRES is not set: PostgreSQL variant skipped");
        return;
    };
    let t = fleet::tenants(&db).await;
    let client = fleet::client();
    let rx = Receiver::start().await;
    let mut server: Server = db.serve(&ENV).await;
    let body = json!({"endpoint": rx.url, "events": ["user.created", "user.updated"]});
    let created = call(
        &client,
        Method::POST,
        &server.admin("/event-streams"),
        &t.admin,
        Some(&body),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    crate::leak::note(crate::leak::Kind::Token, &secret);

    // Each acknowledged user and how many of its nickName changes were.
    let mut acked: BTreeMap<String, usize> = BTreeMap::new();
    for round in 0..ROUNDS {
        for i in 0..USERS_PER_ROUND {
            let doc = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": format!("u{round}-{i}@example.com"),
            });
            let r = call(
                &client,
                Method::POST,
                &server.scim("/Users"),
                &t.idp,
                Some(&doc),
            )
            .await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            let id = r.body["id"].as_str().unwrap().to_owned();
            acked.insert(id.clone(), 0);
            for n in 0..2 {
                let op = json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "nickName", "value": format!("n{n}")}],
                });
                let url = server.scim(&format!("/Users/{id}"));
                let r = call(&client, Method::PATCH, &url, &t.idp, Some(&op)).await;
                assert_eq!(r.status, 200);
                *acked.get_mut(&id).unwrap() += 1;
            }
        }
        // Killed once deliveries are under way, while writes go on.
        let before = rx.got().len();
        rx.until(WAIT, |g| g.len() > before).await;
        let doc = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("in-flight-{round}@example.com"),
        });
        let url = server.scim("/Users");
        let in_flight = send(&client, Method::POST, &url, &t.idp, Some(&doc), None);
        let (_, answer) = tokio::join!(async { server.kill() }, in_flight);
        if let Ok(r) = answer
            && r.status == 201
        {
            acked.insert(r.body["id"].as_str().unwrap().to_owned(), 0);
        }
        server = db.serve(&ENV).await;
    }

    let got = rx
        .until(WAIT * 2, |g| {
            acked
                .iter()
                .all(|(id, patches)| about(g, id).len() > *patches)
        })
        .await;
    for g in &got {
        verified(&secret, g);
    }
    for (id, patches) in &acked {
        let events = about(&got, id);
        let mut expected = vec!["user.created".to_owned()];
        expected.extend(std::iter::repeat_n("user.updated".to_owned(), *patches));
        assert_eq!(types(&events), expected, "{id}");
        // Ids are UUID v7, made in commit order: first receipts ascend.
        let ids: Vec<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "{id}: out of order");
    }
    let duplicates = got.len()
        - got
            .iter()
            .map(|g| g.id())
            .collect::<std::collections::HashSet<_>>()
            .len();
    eprintln!(
        "{backend:?}: {} deliveries, {duplicates} repeated after a kill",
        got.len()
    );
    drop(server);
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    run(Backend::Postgres).await;
}
