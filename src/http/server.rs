//! The accept loop: hyper's HTTP/1 and HTTP/2 server with the timeouts
//! `axum::serve` does not set. A client that has not sent a request's
//! headers within the header-read timeout — after connecting, or after its
//! previous request on a kept-alive connection — is disconnected; nobody
//! else waits for it. It owns connections only, never requests.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tower::ServiceExt;

/// Serves `service` on `listener` until `stop` resolves, then stops
/// accepting and lets connections finish their requests.
///
/// With `tls`, each connection first completes its TLS handshake, within
/// the header-read timeout, in its own task: a slow client delays only
/// itself.
pub async fn run<S>(
    listener: TcpListener,
    service: S,
    header_timeout: Duration,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    // Connections watch `closing` to shut down gracefully and hold a clone
    // of `alive`; when every clone is gone, every connection has ended.
    let (closing_tx, closing_rx) = watch::channel(false);
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: pause, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let (service, closing, alive) = (service.clone(), closing_rx.clone(), alive_tx.clone());
        match tls.clone() {
            None => {
                tokio::spawn(connection(stream, service, header_timeout, closing, alive));
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            connection(stream, service, header_timeout, closing, alive).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    let _ = closing_tx.send(true);
    drop(alive_tx);
    let _ = alive_rx.recv().await;
    Ok(())
}

async fn connection<S, IO>(
    stream: IO,
    service: S,
    header_timeout: Duration,
    mut closing: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
) where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let started = Arc::new(AtomicBool::new(false));
    let seen = started.clone();
    let hyper_service = hyper::service::service_fn(move |req: Request<Incoming>| {
        seen.store(true, Ordering::Release);
        service.clone().oneshot(req.map(Body::new))
    });
    let mut builder = Builder::new(TokioExecutor::new());
    // HTTP/1: the timeout covers each request's headers and the idle time
    // before them on a kept-alive connection.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    // HTTP/2: peers that stop answering pings are dropped.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(header_timeout)
        .keep_alive_timeout(header_timeout);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), hyper_service);
    tokio::pin!(conn);
    // Before hyper knows the protocol (a client that sends nothing, or a
    // partial HTTP/2 preface), its HTTP/1 timer is not running: this one
    // ends a connection that has not delivered a first request in time.
    let first_request = tokio::time::sleep(header_timeout);
    tokio::pin!(first_request);
    let mut waiting_first = true;
    let mut shutting_down = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = &mut first_request, if waiting_first => {
                if !started.load(Ordering::Acquire) {
                    tracing::debug!("no request within the header-read timeout: closing");
                    return;
                }
                waiting_first = false;
            }
            changed = closing.changed(), if !shutting_down => {
                shutting_down = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
