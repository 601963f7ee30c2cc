//! Slow and idle connections are closed; other clients are served.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::app::{Backend, TestApp};

/// Reads until the server closes the connection; what it sent.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await {
            Err(_) => panic!("the server kept the connection open"),
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_and_others_served() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.header_read_timeout_ms = 300)
        .await
        .expect("sqlite");
    let addr = app.origin.trim_start_matches("http://").to_owned();

    // Headers begun but never finished.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Nothing sent at all.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // One request answered, then idle.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();

    // Meanwhile others are served. (A fresh connection each: a pooled one
    // left idle longer than 300 ms on a busy machine is closed, by design.)
    let others = crate::leak::Client::wrap(
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
    );
    let served = || async {
        others
            .get(format!("{}/Users", app.scim()))
            .bearer_auth(&app.token)
            .send()
            .await
            .expect("served")
            .status()
    };
    for _ in 0..3 {
        assert_eq!(served().await, 200);
    }
    let got = read_until_closed(&mut slow).await;
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    read_until_closed(&mut silent).await;
    let got = read_until_closed(&mut idle).await;
    assert!(got.starts_with(b"HTTP/1.1 200"), "the request was answered");
    assert_eq!(served().await, 200);
    app.finish().await;
}
