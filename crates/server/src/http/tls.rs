//! HTTPS: a listener that completes TLS handshakes off the accept loop (a slow or silent
//! client cannot hold up anyone else's) and hands axum finished TLS streams.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::gate::{Admitted, ConnectionGate};

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What can go wrong setting TLS up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate chain could not be read.
    #[error("TLS certificate {path}: {message}")]
    Certificate {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// The private key could not be read.
    #[error("TLS key {path}: {message}")]
    Key {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// rustls refused the pair.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// A TLS acceptor from PEM files: the certificate chain and its private key.
pub(crate) fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| TlsError::Certificate {
            path: cert.display().to_string(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.display().to_string(),
            message: "no certificate in the file".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        message: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts TCP connections, admits each at the gate (a refused one is closed at once: no
/// handshake is spent on it), and runs each handshake in its own task; the server loop
/// takes the finished streams.
#[derive(Debug)]
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(Admitted<TlsStream<TcpStream>>, SocketAddr)>,
    local_addr: SocketAddr,
}

impl TlsListener {
    pub(crate) fn new(
        listener: TcpListener,
        acceptor: TlsAcceptor,
        gate: Arc<ConnectionGate>,
    ) -> std::io::Result<TlsListener> {
        let local_addr = listener.local_addr()?;
        let (done, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => {
                        // Signaling is many small frames: no Nagle delays.
                        let _ = accepted.0.set_nodelay(true);
                        accepted
                    }
                    Err(e) => {
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let admission = match gate.admit(peer) {
                    Ok(admission) => admission,
                    Err(refusal) => {
                        tracing::debug!(%peer, ?refusal, "connection refused");
                        continue;
                    }
                };
                let (acceptor, handed) = (acceptor.clone(), done.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = handed
                                .send((Admitted::new(stream, Some(admission)), peer))
                                .await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
                if done.is_closed() {
                    return;
                }
            }
        });
        Ok(TlsListener { ready, local_addr })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = Admitted<TlsStream<TcpStream>>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept loop is gone (never, while the listener lives): wait forever.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
