//! The real binary's logs, as an operator ships them: `--log-format json`
//! at debug level. Every request's lines carry its request id, and none
//! holds a token, password, email or userName that the traffic carried.
//! (CI checks the same over the whole suite's traffic: see tests/api/leak
//! and tests/leak_scan.rs.)

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::app::TestApp;
use crate::both;

struct Server {
    child: std::process::Child,
    log: std::path::PathBuf,
    origin: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(app: &TestApp, dir: &std::path::Path, extra: &[&str]) -> Server {
    let log = dir.join("server.log");
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
        .args(["--log-format", "json", "serve", "--bind"])
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .env("SCIM_BRIDGE_DATABASE_URL", &app.database_url)
        .env("SCIM_BRIDGE_LOG", "debug")
        .env_remove("SCIM_BRIDGE_CONFIG")
        .stdout(Stdio::from(
            std::fs::File::create(dir.join("stdout.log")).unwrap(),
        ))
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .expect("start server");
    let mut server = Server {
        child,
        log,
        origin: format!("http://127.0.0.1:{port}"),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = app
            .client
            .get(format!("{}/readyz", server.origin))
            .send()
            .await
            && r.status() == 200
        {
            return server;
        }
        assert!(server.child.try_wait().unwrap().is_none(), "server exited");
        assert!(std::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn lines(server: &Server) -> Vec<Value> {
    std::fs::read_to_string(&server.log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The request id of a log line, from its spans.
fn request_id(line: &Value) -> Option<&str> {
    line["spans"]
        .as_array()?
        .iter()
        .find_map(|s| s["request_id"].as_str())
}

async fn json_logs_carry_request_ids_and_no_secrets(app: &TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(app, dir.path(), &[]).await;
    let scim = format!("{}/scim/v2", server.origin);
    let (admin_id, admin_token) = {
        let d = app.directory().await;
        let (admin, token) = d
            .bootstrap_admin("Root.Admin@example.com", None, time::Duration::hours(1))
            .await
            .unwrap();
        (admin.to_string(), token)
    };
    let user_name = "Leaky.Person@example.com";
    let email = "leaky.private@example.org";
    let password = "Corr3ct-Horse-Battery-Staple";
    let mut sent_ids = Vec::new();
    let mut send = async |req: crate::leak::RequestBuilder, id: Option<&str>| {
        let req = match id {
            Some(id) => req.header("x-request-id", id),
            None => req,
        };
        let r = req.send().await.unwrap();
        let got = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        if let Some(id) = id {
            assert_eq!(got, id);
        }
        sent_ids.push(got);
        r
    };
    let c = &app.client;
    let r = send(
        c.post(format!("{scim}/Users"))
            .bearer_auth(&app.token)
            .header("content-type", "application/scim+json")
            .body(
                json!({
                    "userName": user_name,
                    "password": password,
                    "emails": [{"value": email, "primary": true}],
                    "name": {"givenName": "Leaky", "familyName": "Person"},
                })
                .to_string(),
            ),
        Some("test-create-1"),
    )
    .await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let filter = format!("userName eq \"{user_name}\"");
    let r = send(
        c.get(format!("{scim}/Users"))
            .query(&[("filter", filter.as_str())])
            .bearer_auth(&app.token),
        Some("test-filter-2"),
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["totalResults"], 1);
    let r = send(
        c.get(format!("{scim}/Users"))
            .query(&[("filter", format!("emails.value eq \"{email}\"").as_str())])
            .bearer_auth(&app.token),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    // A conflict (its detail names the userName to the client only).
    let r = send(
        c.post(format!("{scim}/Users"))
            .bearer_auth(&app.token)
            .header("content-type", "application/scim+json")
            .body(json!({"userName": user_name, "password": password}).to_string()),
        Some("test-conflict-3"),
    )
    .await;
    assert_eq!(r.status(), 409);
    let r = send(
        c.patch(format!("{scim}/Users/{id}"))
            .bearer_auth(&app.token)
            .header("content-type", "application/scim+json")
            .body(
                json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "password", "value": password}],
                })
                .to_string(),
            ),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    // Refused credentials, an admin call, a malformed body.
    let r = send(
        c.get(format!("{scim}/Users"))
            .bearer_auth("not-a-real-token-SECRETVALUE"),
        None,
    )
    .await;
    assert_eq!(r.status(), 401);
    let r = send(
        c.get(format!("{}/api/v1/users", server.origin))
            .bearer_auth(&admin_token),
        Some("test-admin-4"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = send(
        c.post(format!("{scim}/Users"))
            .bearer_auth(&app.token)
            .header("content-type", "application/scim+json")
            .body(format!(
                "{{\"userName\": \"{user_name}\", \"password\": \"{password}\""
            )),
        None,
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = send(c.get(format!("{}/readyz", server.origin)), None).await;
    assert_eq!(r.status(), 200);

    // The audit log names people only by opaque id.
    let r = send(
        c.post(format!(
            "{}/api/v1/users/{admin_id}/permissions",
            server.origin
        ))
        .bearer_auth(&admin_token)
        .json(&json!({"permissions": ["AUDIT"]})),
        None,
    )
    .await;
    assert!(r.status().is_success(), "{}", r.status());
    let r = c
        .get(format!("{}/api/v1/audit", server.origin))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let audit = r.text().await.unwrap();
    assert!(audit.contains(&id), "the audit holds the create: {audit}");
    // Nor do the operational metrics or the usage export.
    let r = c
        .get(format!("{}/metrics", server.origin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let prometheus = r.text().await.unwrap();
    assert!(prometheus.contains("scim_bridge_http_requests_total"));
    let r = c
        .get(format!("{}/api/v1/metrics?days=1", server.origin))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let usage = r.text().await.unwrap();
    assert!(usage.contains("user.created"), "{usage}");

    // The lines are written synchronously: they are all there now.
    crate::leak::keep_log(&server.log);
    let logged = lines(&server);
    let text = std::fs::read_to_string(&server.log).unwrap();
    for secret in [
        app.token.as_str(),
        admin_token.as_str(),
        "SECRETVALUE",
        password,
        user_name,
        &user_name.to_lowercase(),
        email,
        "Leaky",
        "Root.Admin",
        "root.admin",
    ] {
        assert!(!text.contains(secret), "the logs hold {secret:?}");
        assert!(!audit.contains(secret), "the audit holds {secret:?}");
        assert!(!prometheus.contains(secret), "/metrics holds {secret:?}");
        assert!(!usage.contains(secret), "the usage export holds {secret:?}");
    }
    assert!(!prometheus.contains(&id) && !usage.contains(&id));
    // The start-up line says where it listens and that TLS is off.
    assert!(
        logged.iter().any(|l| {
            let m = l["fields"]["message"].as_str().unwrap_or("");
            m.contains("loopback only") && m.contains("TLS off")
        }),
        "{text}"
    );
    for id in &sent_ids {
        let mine: Vec<&Value> = logged
            .iter()
            .filter(|l| request_id(l) == Some(id.as_str()))
            .collect();
        assert!(
            mine.iter()
                .any(|l| l["fields"]["message"] == "finished processing request"),
            "request {id} has no response line: {mine:?}"
        );
        // Its route is the template, never the values.
        for l in &mine {
            let route = l["span"]["route"].as_str().unwrap_or("");
            assert!(!route.contains('?') && !route.contains('@'), "{l}");
        }
    }
    // Every line the server's request handling writes is in a request
    // span; lines outside one are start-up and background work.
    for l in &logged {
        let target = l["target"].as_str().unwrap_or("");
        if target.starts_with("tower_http") || target.starts_with("scim_bridge::http") {
            assert!(
                request_id(l).is_some(),
                "a request line without its id: {l}"
            );
        }
    }
    let with_id = logged.iter().filter(|l| request_id(l).is_some()).count();
    assert!(
        with_id >= 2 * sent_ids.len(),
        "{with_id} lines for {} requests",
        sent_ids.len()
    );
}
both!(json_logs_carry_request_ids_and_no_secrets);
