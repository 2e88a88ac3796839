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

mod batch;

/// Sends everything `transport` has queued: one datagram with `sendto`, more in batches of
/// up to 64 with one `sendmmsg` each (Linux).
pub fn flush(socket: &UdpSocket, transport: &mut impl Transport) -> io::Result<()> {
    let Some(first) = transport.poll_transmit() else {
        return Ok(());
    };
    let Some(second) = transport.poll_transmit() else {
        return match socket.send_to(&first.1, first.0) {
            // A full socket buffer or an unreachable peer loses one datagram, like the network.
            Err(e) if !batch::loses_one(e.kind()) => Err(e),
            _ => Ok(()),
        };
    };
    let mut queued = Vec::with_capacity(batch::BATCH);
    queued.push(first);
    queued.push(second);
    loop {
        while queued.len() < batch::BATCH {
            match transport.poll_transmit() {
                Some(datagram) => queued.push(datagram),
                None => break,
            }
        }
        batch::send_batch(socket, &queued)?;
        if queued.len() < batch::BATCH {
            return Ok(());
        }
        queued.clear();
    }
}

/// Runs `transport` on `socket` until `until`: receives, fires timers, sends. The socket's
/// read timeout is set to the next deadline. This is a driver: it reads the clock.
pub fn pump(socket: &UdpSocket, transport: &mut impl Transport, until: Instant) -> io::Result<()> {
    let mut buf = vec![0u8; 2048];
    // Every datagram, empty ones included, is the transport's to judge here.
    while pump_once(socket, transport, until, &mut buf, false)? {}
    Ok(())
}

/// Like [`pump`], but returns as soon as something arrived (`Ok(true)`) — a datagram, or a
/// wake-up — instead of at `until` (`Ok(false)`): for a driver that must act on each packet
/// at once. A zero-length datagram is a wake-up (see [`Waker`]), never given to `transport`:
/// no WebRTC peer sends empty datagrams.
pub fn pump_until_input(
    socket: &UdpSocket,
    transport: &mut impl Transport,
    until: Instant,
    buf: &mut [u8],
) -> io::Result<bool> {
    pump_once(socket, transport, until, buf, true)
}

/// Until the first datagram (handled, or a wake-up when empty and `empty_wakes`) or `until`.
#[allow(clippy::disallowed_methods)]
fn pump_once(
    socket: &UdpSocket,
    transport: &mut impl Transport,
    until: Instant,
    buf: &mut [u8],
    empty_wakes: bool,
) -> io::Result<bool> {
    loop {
        flush(socket, transport)?;
        let now = Instant::now();
        if now >= until {
            return Ok(false);
        }
        let deadline = transport.poll_timeout().map_or(until, |t| t.min(until));
        if deadline <= now {
            transport.handle_timeout(now);
            continue;
        }
        socket.set_read_timeout(Some((deadline - now).max(Duration::from_micros(100))))?;
        match socket.recv_from(buf) {
            Ok((0, _)) if empty_wakes => return Ok(true),
            Ok((len, from)) => {
                transport.handle_datagram(Instant::now(), from, &buf[..len]);
                flush(socket, transport)?;
                return Ok(true);
            }
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

/// Wakes a thread blocked in [`pump_until_input`] on a socket: sends that socket an empty
/// datagram from a clone of it (so it comes from the socket's own address).
#[derive(Debug)]
pub struct Waker {
    socket: UdpSocket,
    to: SocketAddr,
}

impl Waker {
    /// A waker for `socket`.
    pub fn new(socket: &UdpSocket) -> io::Result<Waker> {
        let mut to = socket.local_addr()?;
        if to.ip().is_unspecified() {
            to.set_ip(match to {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        Ok(Waker {
            socket: socket.try_clone()?,
            to,
        })
    }

    /// Wakes the thread (best effort: a full socket buffer means it is busy anyway).
    pub fn wake(&self) {
        let _ = self.socket.send_to(&[], self.to);
    }
}
