//! A webhook receiver inside the test process: an axum server on loopback
//! that keeps every request it gets and answers as the test scripts it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::oneshot;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Got {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Got {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn id(&self) -> String {
        self.header("webhook-id")
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// An answer the receiver gives: a status and, maybe, `Retry-After`.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<u64>,
}

pub const FAIL: Reply = Reply {
    status: 500,
    retry_after: None,
};

#[derive(Default)]
struct Inner {
    got: Vec<Got>,
    /// The answers to give next, in turn; then 204.
    script: VecDeque<Reply>,
}

pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    _stop: oneshot::Sender<()>,
}

async fn hook(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: Bytes) -> Response {
    let reply = {
        let mut i = inner.lock().unwrap();
        i.got.push(Got {
            headers,
            body,
            at: Instant::now(),
        });
        i.script.pop_front()
    };
    match reply {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(r) => {
            let status = StatusCode::from_u16(r.status).unwrap();
            match r.retry_after {
                Some(s) => (status, [("retry-after", s.to_string())]).into_response(),
                None => status.into_response(),
            }
        }
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Receiver {
            url,
            inner,
            _stop: tx,
        }
    }

    /// The next requests are answered with these, in turn.
    pub fn script(&self, replies: &[Reply]) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    pub fn got(&self) -> Vec<Got> {
        self.inner.lock().unwrap().got.clone()
    }

    /// Waits (polling, up to `limit`) until what was received satisfies
    /// `done`; what was received then.
    pub async fn until(&self, limit: Duration, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.got();
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver did not get what was expected in {limit:?}; it got: {:#?}",
                got.iter().map(Got::json).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
