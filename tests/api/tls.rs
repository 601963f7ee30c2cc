//! HTTPS: a certificate made here, a server over the test's database that
//! speaks TLS 1.3 and 1.2 (HTTP/1 and HTTP/2) and refuses TLS 1.1 and
//! plain HTTP; a bad certificate or key stops `serve` with a clear error.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::app::TestApp;
use crate::both;

struct Pems {
    _dir: tempfile::TempDir,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    cert_pem: String,
}

fn make_certificate() -> Pems {
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("certificate");
    let dir = tempfile::tempdir().expect("temp dir");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let cert_pem = made.cert.pem();
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    Pems {
        _dir: dir,
        cert,
        key,
        cert_pem,
    }
}

/// A TLS server over the same database as `app`; returns its address.
async fn spawn_tls(app: &TestApp, pems: &Pems) -> std::net::SocketAddr {
    let tls = scim_bridge::http::tls::server_config(&pems.cert, &pems.key).expect("tls config");
    let state = scim_bridge::build_state(app.config.clone())
        .await
        .expect("state");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(scim_bridge::http::tls::serve_until(
        scim_bridge::http::tls::TlsListener::new(tcp, tls),
        state,
        std::future::pending(),
    ));
    addr
}

fn client(pems: &Pems, version: reqwest::tls::Version, http2: bool) -> crate::leak::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(pems.cert_pem.as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .min_tls_version(version)
        .max_tls_version(version)
        .timeout(Duration::from_secs(20));
    // HTTP/2 comes from ALPN; without it, HTTP/1.1.
    if !http2 {
        b = b.http1_only();
    }
    crate::leak::Client::wrap(b.build().expect("client"))
}

/// A ClientHello offering only `version` (no supported_versions extension,
/// so it is what a TLS 1.1 or 1.2 client sends), with suites and
/// extensions a TLS 1.2 server accepts.
fn client_hello(version: [u8; 2]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&version);
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // no session id
    let suites: &[u16] = &[0xc02b, 0xc02f, 0xc009, 0xc013, 0x002f];
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // null compression
    let mut ext = Vec::new();
    let mut push_ext = |kind: u16, data: &[u8]| {
        ext.extend_from_slice(&kind.to_be_bytes());
        ext.extend_from_slice(&(data.len() as u16).to_be_bytes());
        ext.extend_from_slice(data);
    };
    push_ext(0x000a, &[0, 4, 0x00, 0x1d, 0x00, 0x17]); // x25519, P-256
    push_ext(0x000b, &[1, 0]); // uncompressed points
    push_ext(0x000d, &[0, 6, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01]); // sig algs
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1u8]; // ClientHello
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

/// The first bytes the server answers a raw ClientHello with.
fn answer_to_hello(addr: std::net::SocketAddr, version: [u8; 2]) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&client_hello(version)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while got.len() < 7 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

async fn scim_over_tls_1_3_and_1_2_only(app: &TestApp) {
    let pems = make_certificate();
    let addr = spawn_tls(app, &pems).await;
    let origin = format!("https://{addr}");
    let user = app.create_user("tls.user@example.com").await;
    let id = user["id"].as_str().unwrap();

    for (version, http2) in [
        (reqwest::tls::Version::TLS_1_3, false),
        (reqwest::tls::Version::TLS_1_3, true),
        (reqwest::tls::Version::TLS_1_2, false),
        (reqwest::tls::Version::TLS_1_2, true),
    ] {
        let r = client(&pems, version, http2)
            .get(format!("{origin}/scim/v2/Users/{id}"))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{version:?} http2={http2}: {e}"));
        assert_eq!(r.status(), 200, "{version:?} http2={http2}");
        let expected = if http2 {
            reqwest::Version::HTTP_2
        } else {
            reqwest::Version::HTTP_11
        };
        assert_eq!(r.version(), expected);
        assert!(r.headers().contains_key("x-request-id"));
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["userName"], "tls.user@example.com");
    }

    // The same hello, differing only in its version: 1.2 gets a
    // ServerHello, 1.1 a protocol_version alert.
    let tls12 = answer_to_hello(addr, [3, 3]);
    assert_eq!(tls12.first(), Some(&0x16), "handshake record: {tls12:?}");
    assert_eq!(tls12.get(5), Some(&0x02), "ServerHello: {tls12:?}");
    let tls11 = answer_to_hello(addr, [3, 2]);
    assert_eq!(tls11.first(), Some(&0x15), "alert record: {tls11:?}");
    assert_eq!(tls11.get(6), Some(&70), "protocol_version alert: {tls11:?}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = crate::leak::Client::new()
        .get(format!("http://{addr}/scim/v2/Users/{id}"))
        .bearer_auth(&app.token)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    // A client that does not trust the certificate is refused.
    let untrusting = reqwest::Client::builder()
        .use_rustls_tls()
        .build()
        .unwrap()
        .get(format!("{origin}/healthz"))
        .send()
        .await;
    assert!(untrusting.is_err());
    // The server still serves after all that.
    let r = client(&pems, reqwest::tls::Version::TLS_1_3, false)
        .get(format!("{origin}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
both!(scim_over_tls_1_3_and_1_2_only);

/// The binary with `--tls-cert/--tls-key`: HTTPS answers, and the start-up
/// line says TLS is on and the server is on loopback only.
async fn the_binary_serves_https(app: &TestApp) {
    let pems = make_certificate();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = pems._dir.path().join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--tls-cert")
        .arg(&pems.cert)
        .arg("--tls-key")
        .arg(&pems.key)
        .env("SCIM_BRIDGE_DATABASE_URL", &app.database_url)
        .env_remove("SCIM_BRIDGE_CONFIG")
        .env_remove("SCIM_BRIDGE_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start server");
    let client = client(&pems, reqwest::tls::Version::TLS_1_3, true);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let users = loop {
        if let Ok(r) = client
            .get(format!("https://127.0.0.1:{port}/scim/v2/Users"))
            .bearer_auth(&app.token)
            .send()
            .await
        {
            break r;
        }
        assert!(child.try_wait().unwrap().is_none(), "server exited");
        assert!(std::time::Instant::now() < deadline, "never answered");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(users.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
    crate::leak::keep_log(&log);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("TLS on (1.2 and 1.3)") && text.contains("loopback only"),
        "{text}"
    );
    assert!(
        text.contains(&format!("https://127.0.0.1:{port}/scim/v2")),
        "{text}"
    );
}
both!(the_binary_serves_https);

fn serve_error(args: &[&str], db: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
        .arg("serve")
        .args(args)
        .args(["--bind", "127.0.0.1:0"])
        .env(
            "SCIM_BRIDGE_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env_remove("SCIM_BRIDGE_CONFIG")
        .output()
        .expect("run scim-bridge");
    assert!(!out.status.success(), "serve {args:?} started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A missing file, a file without a certificate, a key that is not the
/// certificate's: `serve` exits at once naming the file and the fault.
#[test]
fn bad_certificates_stop_serve_with_a_clear_error() {
    let a = make_certificate();
    let b = make_certificate();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let s = |p: &Path| p.to_str().unwrap().to_owned();

    let e = serve_error(&["--tls-cert", &s(&a.cert), "--tls-key", &s(&b.key)], &db);
    assert!(
        e.contains("is not the private key of the certificate"),
        "{e}"
    );
    let e = serve_error(&["--tls-cert", &s(&missing), "--tls-key", &s(&a.key)], &db);
    assert!(
        e.contains("tls_cert: cannot read") && e.contains("missing.pem"),
        "{e}"
    );
    let e = serve_error(&["--tls-cert", &s(&junk), "--tls-key", &s(&a.key)], &db);
    assert!(e.contains("holds no PEM certificate"), "{e}");
    let e = serve_error(&["--tls-cert", &s(&a.cert), "--tls-key", &s(&a.cert)], &db);
    assert!(e.contains("holds no PEM private key"), "{e}");
    let e = serve_error(&["--tls-cert", &s(&a.cert)], &db);
    assert!(e.contains("--tls-key"), "{e}");
    assert!(!db.exists(), "nothing was created before the TLS check");
}
