//! The HTTP server loop: hyper's HTTP/1 connection for every stream a listener accepts
//! (listeners admit or refuse at the [gate](super::gate) first), with a deadline on reading
//! each request's headers and upgrades for the WebSocket; graceful shutdown.
//!
//! axum's own `serve` has no header-read deadline: a client that connects and says nothing,
//! or sends half its headers, held its connection for ever.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};
use tower::ServiceExt;

use super::ClientAddr;
use crate::metrics::Metrics;

/// How long open requests may finish after the service stops accepting.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `app` on every connection `listener` yields until `stopped` fires: each request
/// carries its client's address; headers must arrive within `header_read` of the
/// connection opening or the last response.
pub(crate) async fn serve_until<L>(
    mut listener: L,
    app: Router,
    header_read: Duration,
    metrics: Arc<Metrics>,
    mut stopped: oneshot::Receiver<()>,
) where
    L: axum::serve::Listener<Addr = SocketAddr>,
    L::Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (stop, stopping) = watch::channel(false);
    // Each connection task holds a sender; when all are gone, every connection is done.
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    loop {
        let (io, from) = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stopped => break,
        };
        let app = app.clone();
        let client = ClientAddr(from);
        let service =
            hyper::service::service_fn(move |mut request: axum::http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(client));
                app.clone().oneshot(request)
            });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_read);
        let connection = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let (mut stopping, alive, metrics) = (stopping.clone(), alive.clone(), metrics.clone());
        tokio::spawn(async move {
            let _alive = alive;
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = async { stopping.wait_for(|stop| *stop).await.map(|_| ()) } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                if e.is_timeout() {
                    metrics.header_timeouts.fetch_add(1, Ordering::Relaxed);
                }
                tracing::debug!(%from, "HTTP connection: {e}");
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(alive);
    let _ = tokio::time::timeout(DRAIN, all_done.recv()).await;
}
