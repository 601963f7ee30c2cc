//! Governance over the admin API (issue 18): tags, data sources, global
//! subscription policies and the decision, on both databases.

mod automatic;
pub(crate) mod reach;
mod refusals;
mod restart;
mod seed;
mod tags;

use serde_json::{Value, json};

use crate::app::TestApp;
use crate::bridge::{Admin, admin};

pub const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

impl Admin {
    /// Creates tags; each must be created.
    pub async fn tags(&self, app: &TestApp, names: &[&str]) {
        for name in names {
            let (status, body) = self.post(app, "/tags", &json!({ "name": name })).await;
            assert_eq!(status, 201, "{name}: {body}");
        }
    }

    /// Registers a data source; its id.
    pub async fn data_source(&self, app: &TestApp, body: &Value) -> String {
        let (status, body) = self.post(app, "/data-sources", body).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    /// Creates a policy; it must be created.
    pub async fn policy(&self, app: &TestApp, body: &Value) {
        let (status, answer) = self.post(app, "/policies", body).await;
        assert_eq!(status, 201, "{answer}");
    }

    /// The decision for a user and a data source (`{"id"}` or `{"tags"}`).
    pub async fn evaluate(&self, app: &TestApp, user: &str, source: Value) -> Value {
        let body = json!({"userId": user, "dataSource": source});
        let (status, answer) = self.post(app, "/policy/evaluate", &body).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }
}

/// A policy admitting the accounts with `attribute=value` on the data
/// sources tagged `tag` (or below it).
pub fn admitting(key: &str, tag: &str, attribute: &str, value: &str) -> Value {
    json!({
        "policyKey": key,
        "name": format!("{attribute} {value}"),
        "circumstances": [{"type": "tags", "tag": tag}],
        "actions": {
            "type": "entitlements",
            "entitlements": {"attributes": [{"name": attribute, "value": value}]},
        },
    })
}

/// The bootstrap administrator, a governor (GOVERNANCE and AUDIT) and
/// what the governor made: the tag `Environment.Dev`, the data source
/// `sales` tagged with it, and the policy `dev-only` admitting the
/// accounts with Environment=Dev there.
pub struct Governed {
    pub root: Admin,
    pub governor: Admin,
    /// The id of `sales`.
    pub sales: String,
}

pub async fn governed(app: &TestApp) -> Governed {
    let root = admin(app, "root@example.com").await;
    let governor = root
        .another(app, "gov@example.com", &["GOVERNANCE", "AUDIT"])
        .await;
    governor.tags(app, &["Environment.Dev"]).await;
    let sales = governor
        .data_source(app, &json!({"name": "sales", "tags": ["Environment.Dev"]}))
        .await;
    let dev_only = admitting("dev-only", "Environment.Dev", "Environment", "Dev");
    governor.policy(app, &dev_only).await;
    Governed {
        root,
        governor,
        sales,
    }
}
