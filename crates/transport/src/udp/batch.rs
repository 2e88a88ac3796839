//! Sending many datagrams to many addresses in one system call (`sendmmsg`, Linux).
//!
//! The mix goes to every listener every 20 ms: in a 350-party room that is 350 datagrams to
//! 350 addresses per tick from one socket. Each `sendto` pays the system-call entry, the
//! file-descriptor lookup and the socket's setup once per datagram; `sendmmsg` pays them
//! once per batch. GSO (`UDP_SEGMENT`) does not apply: it needs one destination.

use std::io::{self, IoSlice};
use std::net::{SocketAddr, UdpSocket};

use bytes::BytesMut;

/// Datagrams handed to the kernel per call.
pub(crate) const BATCH: usize = 64;

/// Whether a send error loses only that datagram, like the network would: a full socket
/// buffer, or an unreachable peer reported on the socket.
pub(crate) fn loses_one(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::WouldBlock | io::ErrorKind::ConnectionRefused
    )
}

/// Sends `batch` (at most [`BATCH`]), each datagram to its own address, in as few calls as
/// the kernel allows. A datagram the kernel refuses is skipped and the rest still go; the
/// first refusal that is not a [`loses_one`] is returned once all were tried.
#[cfg(target_os = "linux")]
pub(crate) fn send_batch(socket: &UdpSocket, batch: &[(SocketAddr, BytesMut)]) -> io::Result<()> {
    use rustix::net::addr::SocketAddrArg;
    use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny};

    let addresses: Vec<SocketAddrAny> = batch.iter().map(|(to, _)| to.as_any()).collect();
    let payloads: Vec<[IoSlice<'_>; 1]> =
        batch.iter().map(|(_, data)| [IoSlice::new(data)]).collect();
    let mut no_control: Vec<SendAncillaryBuffer<'_, '_, '_>> = batch
        .iter()
        .map(|_| SendAncillaryBuffer::default())
        .collect();
    let mut messages: Vec<MMsgHdr<'_>> = addresses
        .iter()
        .zip(&payloads)
        .zip(no_control.iter_mut())
        .map(|((to, payload), control)| MMsgHdr::new_with_addr(to, payload, control))
        .collect();
    let mut sent = 0;
    let mut refused = None;
    while sent < messages.len() {
        match rustix::net::sendmmsg(socket, &mut messages[sent..], SendFlags::empty()) {
            // Short of all: the kernel stopped at a datagram it could not take; the next
            // call starts there and reports why.
            Ok(n) => sent += n.max(1),
            Err(e) => {
                let e = io::Error::from(e);
                if !loses_one(e.kind()) && refused.is_none() {
                    refused = Some(e);
                }
                sent += 1;
            }
        }
    }
    refused.map_or(Ok(()), Err)
}

/// Elsewhere, one `sendto` per datagram.
#[cfg(not(target_os = "linux"))]
pub(crate) fn send_batch(socket: &UdpSocket, batch: &[(SocketAddr, BytesMut)]) -> io::Result<()> {
    let mut refused = None;
    for (to, data) in batch {
        if let Err(e) = socket.send_to(data, to)
            && !loses_one(e.kind())
            && refused.is_none()
        {
            refused = Some(e);
        }
    }
    refused.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener() -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        socket
    }

    fn received(socket: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
        let mut buf = [0u8; 2048];
        (0..n)
            .map(|_| {
                let len = socket.recv(&mut buf).unwrap();
                buf[..len].to_vec()
            })
            .collect()
    }

    #[test]
    fn every_datagram_reaches_its_own_address_in_order() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a, b) = (listener(), listener());
        let batch: Vec<(SocketAddr, BytesMut)> = (0..BATCH as u8)
            .map(|i| {
                let to = if i % 3 == 0 { &b } else { &a };
                (to.local_addr().unwrap(), BytesMut::from(&[i; 3][..]))
            })
            .collect();
        send_batch(&sender, &batch).unwrap();
        let to_b: Vec<Vec<u8>> = (0..BATCH as u8)
            .filter(|i| i % 3 == 0)
            .map(|i| vec![i; 3])
            .collect();
        let to_a: Vec<Vec<u8>> = (0..BATCH as u8)
            .filter(|i| i % 3 != 0)
            .map(|i| vec![i; 3])
            .collect();
        assert_eq!(received(&b, to_b.len()), to_b);
        assert_eq!(received(&a, to_a.len()), to_a);
    }

    #[test]
    fn a_refused_datagram_is_reported_and_the_rest_still_go() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a = listener();
        let to = a.local_addr().unwrap();
        // An IPv6 destination from an IPv4 socket: the kernel refuses that one datagram.
        let unusable: SocketAddr = "[::1]:9".parse().unwrap();
        let batch = vec![
            (to, BytesMut::from(&b"one"[..])),
            (unusable, BytesMut::from(&b"lost"[..])),
            (to, BytesMut::from(&b"two"[..])),
        ];
        let refused = send_batch(&sender, &batch).unwrap_err();
        assert!(!loses_one(refused.kind()), "{refused}");
        assert_eq!(received(&a, 2), vec![b"one".to_vec(), b"two".to_vec()]);
    }
}
