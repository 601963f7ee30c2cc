//! HTTPS: a rustls configuration from PEM files (TLS 1.2 and 1.3 only) and
//! a listener that hands axum's serve loop finished TLS connections, so the
//! loop's graceful shutdown and HTTP/1 + HTTP/2 stay as they are.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::AppState;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// A TCP listener whose connections speak TLS.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> Self {
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(config),
        }
    }
}

/// Serves HTTPS until `stop` resolves, then lets in-flight requests finish.
pub async fn serve_until(
    listener: TlsListener,
    state: AppState,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The same accept loop and timeouts as plain HTTP; the handshake
    // counts against the header-read timeout (and at most HANDSHAKE_TIMEOUT).
    let timeout = Duration::from_millis(state.config.header_read_timeout_ms).min(HANDSHAKE_TIMEOUT);
    let state = state.listening_on(listener.tcp.local_addr()?);
    super::server::run(
        listener.tcp,
        super::app(state),
        timeout,
        Some(listener.acceptor),
        stop,
    )
    .await
}
