//! Driving a sans-IO transport from a real UDP socket: the thin I/O layer under the peers.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use bytes::BytesMut;

/// A sans-IO datagram protocol: what [`pump`] drives.
pub trait Transport {
    /// A datagram arrived from `from` at `now`.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]);
    /// Time passed.
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram to send.
    fn poll_transmit(&mut self) -> Option<(SocketAddr, BytesMut)>;
    /// When `handle_timeout` must next run.
    fn poll_timeout(&mut self) -> Option<Instant>;
}

/// Sends everything `transport` has queued.
pub fn flush(socket: &UdpSocket, transport: &mut impl Transport) -> io::Result<()> {
    while let Some((to, data)) = transport.poll_transmit() {
        match socket.send_to(&data, to) {
            Ok(_) => {}
            // A full socket buffer or an unreachable peer loses one datagram, like the network.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Runs `transport` on `socket` until `until`: receives, fires timers, sends. The socket's
/// read timeout is set to the next deadline. This is a driver: it reads the clock.
#[allow(clippy::disallowed_methods)]
pub fn pump(socket: &UdpSocket, transport: &mut impl Transport, until: Instant) -> io::Result<()> {
    let mut buf = vec![0u8; 2048];
    loop {
        flush(socket, transport)?;
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        let deadline = transport.poll_timeout().map_or(until, |t| t.min(until));
        if deadline <= now {
            transport.handle_timeout(now);
            continue;
        }
        socket.set_read_timeout(Some((deadline - now).max(Duration::from_micros(100))))?;
        match socket.recv_from(&mut buf) {
            Ok((len, from)) => transport.handle_datagram(Instant::now(), from, &buf[..len]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                transport.handle_timeout(Instant::now());
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => return Err(e),
        }
    }
}
