//! The gateway's sockets: the SIP port (every datagram screened before the stack reads it)
//! and one RTP port per phone leg, from the configured range.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::metrics::SipMetrics;
use crate::screen::{Verdict, screen};

/// The SIP UDP socket as the stack sees it: garbage never reaches it.
#[derive(Debug)]
pub(crate) struct ScreenedSocket {
    pub(crate) inner: tokio::net::UdpSocket,
    pub(crate) metrics: Arc<SipMetrics>,
}

#[async_trait::async_trait]
impl rsipstack::platform::net::UdpSocket for ScreenedSocket {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        loop {
            let (len, from) = self.inner.recv_from(buf).await?;
            self.metrics.datagrams.fetch_add(1, Ordering::Relaxed);
            match screen(&buf[..len]) {
                Verdict::Pass => return Ok((len, from)),
                Verdict::Drop => {
                    self.metrics.malformed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%from, len, "dropped a datagram that is not SIP");
                }
                Verdict::BadRequest(reply) => {
                    self.metrics.malformed.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%from, len, "malformed SIP request answered 400");
                    let _ = self.inner.send_to(&reply, from).await;
                }
            }
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        Ok(self.inner.send_to(buf, addr).await?)
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.inner.local_addr()?)
    }
}

/// Hands out RTP ports for phone legs.
#[derive(Debug)]
pub(crate) struct RtpPorts {
    ip: IpAddr,
    range: Option<(u16, u16)>,
    next: u16,
}

impl RtpPorts {
    /// Ports on `ip`, from `[first, last]` (`[0, 0]`: any).
    pub(crate) fn new(ip: IpAddr, [first, last]: [u16; 2]) -> Self {
        let range = (first != 0).then_some((first, last));
        RtpPorts {
            ip,
            range,
            next: first,
        }
    }

    /// A fresh socket for one leg (non-blocking: the media thread polls it).
    pub(crate) fn bind(&mut self) -> io::Result<UdpSocket> {
        let socket = match self.range {
            None => UdpSocket::bind(SocketAddr::new(self.ip, 0))?,
            Some((first, last)) => {
                let count = usize::from(last - first) + 1;
                let mut found = None;
                for _ in 0..count {
                    let port = self.next;
                    self.next = if port >= last { first } else { port + 1 };
                    if let Ok(socket) = UdpSocket::bind(SocketAddr::new(self.ip, port)) {
                        found = Some(socket);
                        break;
                    }
                }
                found.ok_or_else(|| {
                    io::Error::new(io::ErrorKind::AddrInUse, "every RTP port is taken")
                })?
            }
        };
        socket.set_nonblocking(true)?;
        Ok(socket)
    }
}

/// The address the far end should use to reach this machine: the one a socket bound to
/// `local` uses toward `toward` (no datagram is sent).
pub(crate) fn route_address(local: IpAddr, toward: SocketAddr) -> IpAddr {
    if !local.is_unspecified() {
        return local;
    }
    UdpSocket::bind(SocketAddr::new(local, 0))
        .and_then(|s| {
            s.connect(toward)?;
            s.local_addr()
        })
        .map_or(local, |a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_the_range_and_wrap() {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port();
        drop(probe);
        let mut ports = RtpPorts::new("127.0.0.1".parse().unwrap(), [base, base + 1]);
        let a = ports.bind().unwrap();
        let b = ports.bind().unwrap();
        let pa = a.local_addr().unwrap().port();
        let pb = b.local_addr().unwrap().port();
        assert_ne!(pa, pb);
        assert!([base, base + 1].contains(&pa) && [base, base + 1].contains(&pb));
        // Both taken: a clear error.
        assert_eq!(ports.bind().unwrap_err().kind(), io::ErrorKind::AddrInUse);
        drop(a);
        assert_eq!(ports.bind().unwrap().local_addr().unwrap().port(), pa);
    }

    #[test]
    fn route_address_of_loopback() {
        let ip = route_address(
            "0.0.0.0".parse().unwrap(),
            "127.0.0.1:5060".parse().unwrap(),
        );
        assert_eq!(ip, "127.0.0.1".parse::<IpAddr>().unwrap());
    }
}
