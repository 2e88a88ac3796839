//! The connection gate: how many TCP connections the HTTP edge holds open at once, overall
//! and per source address, decided at accept (before any TLS handshake or HTTP parsing).
//!
//! An admitted connection carries its [`Admission`] inside its stream ([`Admitted`]), so the
//! place it holds is given back when the stream is dropped — also after it became a
//! WebSocket. A refused one gets a short HTTP error where that costs nothing (plain HTTP:
//! 503 `too_many_connections` or 429 `too_many_connections_from_address`) and is closed.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::ClientAddr;
use crate::metrics::Metrics;

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The service holds its most connections.
    Total,
    /// The source address holds its most connections.
    Address,
}

impl Refusal {
    /// The plain-HTTP reply: status line, headers and a JSON error body.
    pub(crate) fn response(self) -> String {
        let (status, code, message) = match self {
            Refusal::Total => (
                "503 Service Unavailable",
                "too_many_connections",
                "the service holds as many connections as it takes; try again shortly",
            ),
            Refusal::Address => (
                "429 Too Many Requests",
                "too_many_connections_from_address",
                "too many open connections from this address",
            ),
        };
        let body = format!(r#"{{"error":"{code}","message":"{message}","retry_after_secs":5}}"#);
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: 5\r\n\
             connection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    }
}

/// Addresses held to no per-address limit: the other nodes of this node's cluster, whose
/// relay legs carry many clients each (kept up to date by the cluster heartbeat).
pub(crate) type PeerAddresses = Arc<std::sync::RwLock<HashSet<IpAddr>>>;

/// Counts open connections against the limits.
#[derive(Debug)]
pub(crate) struct ConnectionGate {
    max_total: usize,
    per_address: usize,
    peers: Option<PeerAddresses>,
    open: AtomicUsize,
    by_address: Mutex<HashMap<IpAddr, usize>>,
    metrics: Arc<Metrics>,
}

/// One admitted connection's place; given back on drop.
#[derive(Debug)]
pub(crate) struct Admission {
    gate: Arc<ConnectionGate>,
    key: IpAddr,
}

impl ConnectionGate {
    pub(crate) fn new(
        max_total: usize,
        per_address: usize,
        peers: Option<PeerAddresses>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(ConnectionGate {
            max_total,
            per_address,
            peers,
            open: AtomicUsize::new(0),
            by_address: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    /// Admits a connection from `from`, or says why not (and counts the refusal).
    pub(crate) fn admit(self: &Arc<Self>, from: SocketAddr) -> Result<Admission, Refusal> {
        let key = ClientAddr(from).key();
        let mut by_address = self
            .by_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let refusal = if self.open.load(Ordering::Relaxed) >= self.max_total {
            Some(Refusal::Total)
        } else if by_address.get(&key).copied().unwrap_or(0) >= self.per_address
            && !self.is_peer(key)
        {
            Some(Refusal::Address)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            let counter = match refusal {
                Refusal::Total => &self.metrics.connections_refused_total,
                Refusal::Address => &self.metrics.connections_refused_address,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            return Err(refusal);
        }
        *by_address.entry(key).or_insert(0) += 1;
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.metrics
            .connections_open
            .store(open as u64, Ordering::Relaxed);
        Ok(Admission {
            gate: self.clone(),
            key,
        })
    }

    fn is_peer(&self, address: IpAddr) -> bool {
        self.peers
            .as_ref()
            .and_then(|p| p.read().ok().map(|p| p.contains(&address)))
            .unwrap_or(false)
    }

    /// Connections open now.
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let gate = &self.gate;
        let mut by_address = gate
            .by_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = by_address.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                by_address.remove(&self.key);
            }
        }
        let open = gate.open.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
        gate.metrics
            .connections_open
            .store(open as u64, Ordering::Relaxed);
    }
}

/// A stream that holds its connection's place at the gate for as long as it lives.
#[derive(Debug)]
pub(crate) struct Admitted<S> {
    inner: S,
    _admission: Option<Admission>,
}

impl<S> Admitted<S> {
    /// `inner` holding `admission` (`None`: a listener without a gate).
    pub(crate) fn new(inner: S, admission: Option<Admission>) -> Self {
        Admitted {
            inner,
            _admission: admission,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Admitted<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Admitted<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Tells a refused plain-TCP client why, then closes: the reply is written at once (a new
/// socket's send buffer takes it), what the client already sent is read away so the close
/// is a FIN rather than a reset that could discard the reply, and the socket is dropped.
pub(crate) fn refuse_plain(tcp: tokio::net::TcpStream, refusal: Refusal) {
    let mut scratch = [0u8; 4096];
    while matches!(tcp.try_read(&mut scratch), Ok(n) if n > 0) {}
    let _ = tcp.try_write(refusal.response().as_bytes());
    if let Ok(std) = tcp.into_std() {
        let _ = std.shutdown(std::net::Shutdown::Write);
    }
}

/// Raises this process's soft limit on open files to its hard limit, and returns the
/// number of connections the limit leaves room for (keeping some for the media socket,
/// the SIP gateway, files and logs).
pub(crate) fn connection_budget(configured: usize) -> usize {
    const RESERVED: u64 = 256;
    let limit = match rustix::process::getrlimit(rustix::process::Resource::Nofile) {
        rustix::process::Rlimit {
            current: Some(current),
            maximum,
        } => {
            let wanted = maximum.unwrap_or(current).max(current);
            if wanted > current {
                let raised = rustix::process::Rlimit {
                    current: Some(wanted),
                    maximum,
                };
                match rustix::process::setrlimit(rustix::process::Resource::Nofile, raised) {
                    Ok(()) => wanted,
                    Err(_) => current,
                }
            } else {
                current
            }
        }
        _ => return configured,
    };
    let room = usize::try_from(limit.saturating_sub(RESERVED)).unwrap_or(usize::MAX);
    if room < configured {
        tracing::warn!(
            open_files = limit,
            configured,
            "the open-file limit allows {room} connections, fewer than limits.max_connections"
        );
    }
    configured.min(room)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(total: usize, per: usize) -> Arc<ConnectionGate> {
        ConnectionGate::new(total, per, None, Arc::new(Metrics::default()))
    }

    #[test]
    fn other_nodes_of_the_cluster_have_no_per_address_limit() {
        let peers = PeerAddresses::default();
        let g = ConnectionGate::new(4, 1, Some(peers.clone()), Arc::new(Metrics::default()));
        let node: SocketAddr = "10.0.0.12:40000".parse().unwrap();
        let _first = g.admit(node).unwrap();
        assert_eq!(g.admit(node).unwrap_err(), Refusal::Address);
        peers.write().unwrap().insert(node.ip());
        let _legs: Vec<Admission> = (0..3).map(|_| g.admit(node).unwrap()).collect();
        // The whole service's limit still holds.
        assert_eq!(g.admit(node).unwrap_err(), Refusal::Total);
    }

    #[test]
    fn each_address_and_the_whole_have_their_limits() {
        let g = gate(5, 2);
        let a: SocketAddr = "192.0.2.1:1000".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:1000".parse().unwrap();
        let a1 = g.admit(a).unwrap();
        let _a2 = g.admit(a).unwrap();
        assert_eq!(g.admit(a).unwrap_err(), Refusal::Address);
        drop(a1);
        let _a3 = g.admit(a).expect("a place was given back");
        let _b: Vec<Admission> = (0..2).map(|_| g.admit(b).unwrap()).collect();
        let c: SocketAddr = "192.0.2.3:1000".parse().unwrap();
        let _c = g.admit(c).unwrap();
        assert_eq!(g.open(), 5);
        assert_eq!(g.admit(c).unwrap_err(), Refusal::Total);
        assert_eq!(
            g.metrics.connections_refused_total.load(Ordering::Relaxed),
            1
        );
        assert_eq!(
            g.metrics
                .connections_refused_address
                .load(Ordering::Relaxed),
            1
        );
    }

    #[test]
    fn one_ipv6_host_is_its_64() {
        let g = gate(100, 1);
        let _x = g.admit("[2001:db8::1]:1".parse().unwrap()).unwrap();
        assert_eq!(
            g.admit("[2001:db8::2]:1".parse().unwrap()).unwrap_err(),
            Refusal::Address
        );
        assert!(g.admit("[2001:db8:0:1::1]:1".parse().unwrap()).is_ok());
    }

    #[test]
    fn refusals_are_well_formed_http() {
        for r in [Refusal::Total, Refusal::Address] {
            let text = r.response();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.contains(&format!("content-length: {}", body.len())));
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            assert!(
                json["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("too_many_connections")
            );
        }
    }
}
