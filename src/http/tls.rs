//! HTTPS: a rustls configuration from PEM files (TLS 1.2 and 1.3 only) and
//! a listener that hands axum's serve loop finished TLS connections, so the
//! loop's graceful shutdown and HTTP/1 + HTTP/2 stay as they are.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::AppState;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; beyond it, new connections wait in the
/// kernel's backlog.
const MAX_PENDING_HANDSHAKES: usize = 1024;

/// The server's TLS settings from a PEM certificate chain and private key.
/// Errors name the file and what is wrong with it.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("tls_cert: cannot read {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls_cert: {} is not PEM: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_cert: {} holds no PEM certificate",
            cert.display()
        ));
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            format!("tls_key: {} holds no PEM private key", key.display())
        }
        e => format!("tls_key: cannot read {}: {e}", key.display()),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing_key = provider
        .key_provider
        .load_private_key(private_key.clone_key())
        .map_err(|e| format!("tls_key: {} is not a usable key: {e}", key.display()))?;
    rustls::sign::CertifiedKey::new(certs.clone(), signing_key)
        .keys_match()
        .map_err(|_| {
            format!(
                "tls_key: {} is not the private key of the certificate in {}",
                key.display(),
                cert.display()
            )
        })?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, private_key)
        .map_err(|e| format!("tls_cert/tls_key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts TCP connections and yields them once their TLS handshake is
/// done. Handshakes run concurrently: a slow client delays only itself.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> Self {
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(config),
            handshakes: JoinSet::new(),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // Both branches are cancel-safe: a dropped accept loses nothing.
            tokio::select! {
                accepted = self.tcp.accept(), if self.handshakes.len() < MAX_PENDING_HANDSHAKES => {
                    match accepted {
                        Ok((stream, addr)) => {
                            let acceptor = self.acceptor.clone();
                            self.handshakes.spawn(async move {
                                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                    Ok(Ok(tls)) => Some((tls, addr)),
                                    Ok(Err(e)) => {
                                        tracing::debug!(%addr, error = %e, "TLS handshake failed");
                                        None
                                    }
                                    Err(_) => {
                                        tracing::debug!(%addr, "TLS handshake timed out");
                                        None
                                    }
                                }
                            });
                        }
                        Err(e) => accept_error(e).await,
                    }
                }
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(conn)) = done {
                        return conn;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Per-connection errors are the client's; others (out of file
/// descriptors) pass with time, so wait before accepting again.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Serves HTTPS until `stop` resolves, then lets in-flight requests finish.
pub async fn serve_until(
    listener: TlsListener,
    state: AppState,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, tower::make::Shared::new(super::app(state)))
        .with_graceful_shutdown(stop)
        .await
}
