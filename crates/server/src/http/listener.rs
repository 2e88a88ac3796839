//! The plain HTTP listener and the client address every request carries (for the abuse
//! limits), for plain and TLS listeners alike.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

use super::gate::{Admitted, ConnectionGate, refuse_plain};

/// Plain TCP with Nagle off (signaling is many small frames: 40 ms per request otherwise),
/// each connection admitted at the gate first, if there is one.
#[derive(Debug)]
pub(crate) struct PlainListener {
    listener: TcpListener,
    gate: Option<Arc<ConnectionGate>>,
}

impl PlainListener {
    pub(crate) fn new(listener: TcpListener, gate: Option<Arc<ConnectionGate>>) -> Self {
        PlainListener { listener, gate }
    }
}

impl axum::serve::Listener for PlainListener {
    type Io = Admitted<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (tcp, addr) = axum::serve::Listener::accept(&mut self.listener).await;
            let admission = match self.gate.as_ref().map(|gate| gate.admit(addr)) {
                None => None,
                Some(Ok(admission)) => Some(admission),
                Some(Err(refusal)) => {
                    tracing::debug!(%addr, ?refusal, "connection refused");
                    refuse_plain(tcp, refusal);
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            return (Admitted::new(tcp, admission), addr);
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// The address a request came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) SocketAddr);

impl ClientAddr {
    /// The address limits are keyed by: the IP, with IPv6 grouped by /64 (one host
    /// usually holds a whole /64) and IPv4-mapped IPv6 as IPv4.
    pub(crate) fn key(self) -> IpAddr {
        match self.0.ip() {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
            v4 => v4,
        }
    }
}
