//! [`PeerServer`]: many peers on one UDP port. ICE-lite peers, routed by the ufrag in a
//! STUN Binding request's USERNAME and, once known, by the remote address.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::timers::PeerTimers;
use super::{Peer, PeerError, PeerEvent, PeerOptions, Section, stun};
use crate::slab::PacketSlab;
use crate::udp::Transport;

/// A peer on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

/// Hashes a [`PeerId`] by one multiplication: ids are sequential numbers the server hands
/// out itself, looked up for every packet sent (SipHash showed up in profiles of the
/// egress path), and nobody outside can choose them.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct PeerIdHasher(u64);

impl std::hash::Hasher for PeerIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01B3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(super) type ByPeer<V> = HashMap<PeerId, V, std::hash::BuildHasherDefault<PeerIdHasher>>;

/// What came in on the shared port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Datagrams received.
    pub datagrams: u64,
    /// Datagrams handed to a peer.
    pub routed: u64,
    /// Datagrams from unknown addresses that were not a Binding request for a known ufrag:
    /// dropped (malformed packets, strays, attacks).
    pub dropped: u64,
    /// Datagrams sent.
    pub sent: u64,
}

/// Many ICE-lite peers behind one UDP port. Sans-IO.
#[derive(Debug)]
pub struct PeerServer {
    local_addr: SocketAddr,
    peers: ByPeer<Peer>,
    by_ufrag: HashMap<String, PeerId>,
    routes: HashMap<SocketAddr, PeerId>,
    /// Each peer's next timer, refreshed whenever the peer is touched: asking every peer's
    /// core on every datagram would cost O(peers) core walks per packet.
    timers: PeerTimers,
    /// The peers whose timers are due, reused across timeouts.
    due: Vec<PeerId>,
    next_id: u64,
    outgoing: VecDeque<(SocketAddr, BytesMut)>,
    /// Where the lean path seals audio for every peer: a tick's datagrams side by side in
    /// one buffer, reused in place once they have been sent.
    egress: PacketSlab,
    events: VecDeque<(PeerId, PeerEvent)>,
    stats: ServerStats,
}

/// The shared egress slab: a 350-party tick's mix (~100 bytes per listener) and more.
const EGRESS_SLAB_BYTES: usize = 64 * 1024;

impl PeerServer {
    /// A server whose peers advertise `local_addr` (the shared socket's public address).
    pub fn new(local_addr: SocketAddr) -> Self {
        PeerServer {
            local_addr,
            peers: ByPeer::default(),
            by_ufrag: HashMap::new(),
            routes: HashMap::new(),
            timers: PeerTimers::default(),
            due: Vec::new(),
            next_id: 1,
            outgoing: VecDeque::new(),
            egress: PacketSlab::new(EGRESS_SLAB_BYTES),
            events: VecDeque::new(),
            stats: ServerStats::default(),
        }
    }

    /// Answers a client's offer with a new peer; returns its id and the answer SDP.
    pub fn add_peer(
        &mut self,
        offer_sdp: &str,
        options: PeerOptions,
        now: Instant,
    ) -> Result<(PeerId, String), PeerError> {
        let (peer, answer) = Peer::answer(offer_sdp, self.local_addr, options, now)?;
        let id = PeerId(self.next_id);
        self.next_id += 1;
        self.by_ufrag.insert(peer.ufrag().to_owned(), id);
        self.peers.insert(id, peer);
        self.collect(id);
        tracing::debug!(?id, "peer added");
        Ok((id, answer))
    }

    /// Closes and forgets a peer.
    pub fn remove_peer(&mut self, id: PeerId) {
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.close();
        }
        self.collect(id);
        if let Some(peer) = self.peers.remove(&id) {
            self.by_ufrag.remove(peer.ufrag());
        }
        self.routes.retain(|_, p| *p != id);
        self.timers.set(id, None);
    }

    /// Counters of the shared port.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// Peers on the server.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// The next event of any peer.
    pub fn poll_event(&mut self) -> Option<(PeerId, PeerEvent)> {
        self.events.pop_front()
    }

    /// A peer, to read its layout and mids.
    pub fn peer(&self, id: PeerId) -> Option<&Peer> {
        self.peers.get(&id)
    }

    /// Runs `f` on a peer, then collects what it has to send.
    fn with_peer<R>(
        &mut self,
        id: PeerId,
        f: impl FnOnce(&mut Peer) -> Result<R, PeerError>,
    ) -> Result<R, PeerError> {
        let peer = self.peers.get_mut(&id).ok_or(PeerError::UnknownPeer)?;
        let result = f(peer);
        self.collect(id);
        result
    }

    /// Sends one Opus packet to a peer (see [`Peer::send_audio`]).
    pub fn send_audio(
        &mut self,
        id: PeerId,
        section: Section,
        now: Instant,
        payload: Bytes,
        timestamp: u32,
        level: Option<u8>,
    ) -> Result<(), PeerError> {
        let peer = self.peers.get_mut(&id).ok_or(PeerError::UnknownPeer)?;
        if !peer.sends_lean() {
            return self.with_peer(id, |p| {
                p.send_audio(section, now, payload, timestamp, level)
            });
        }
        // The hot path (the mix to every listener): the packet is sealed and queued by the
        // peer itself, so there is nothing of the core's to collect.
        // Room for this packet; once a tick's datagrams are sent and dropped, the slab takes
        // its buffer back in place.
        self.egress.make_room(1500);
        let result = peer.send_audio_in(
            section,
            now,
            payload,
            timestamp,
            level,
            Some(&mut self.egress),
        );
        let mut lean = false;
        while let Some(datagram) = peer.poll_lean_transmit() {
            self.outgoing.push_back(datagram);
            lean = true;
        }
        if !lean {
            self.collect(id);
        }
        result
    }

    /// Sends one H.264 access unit to a peer (see [`Peer::send_video`]).
    pub fn send_video(
        &mut self,
        id: PeerId,
        section: Section,
        now: Instant,
        access_unit: &[u8],
        timestamp: u32,
    ) -> Result<(), PeerError> {
        self.with_peer(id, |p| p.send_video(section, now, access_unit, timestamp))
    }

    /// Forwards a packet received from another peer to peer `to` (see [`Peer::forward`]).
    pub fn forward(
        &mut self,
        to: PeerId,
        section: Section,
        now: Instant,
        packet: &rtc::rtp::Packet,
        new_source: bool,
        level: Option<u8>,
    ) -> Result<(), PeerError> {
        self.forward_from(
            to,
            section,
            now,
            packet,
            new_source,
            level,
            super::Forwarded::default(),
        )
    }

    /// [`forward`](PeerServer::forward), re-stamped as `forwarded` says (see
    /// [`Peer::forward_from`]).
    #[allow(clippy::too_many_arguments)]
    pub fn forward_from(
        &mut self,
        to: PeerId,
        section: Section,
        now: Instant,
        packet: &rtc::rtp::Packet,
        new_source: bool,
        level: Option<u8>,
        forwarded: super::Forwarded,
    ) -> Result<(), PeerError> {
        self.with_peer(to, |p| {
            p.forward_from(section, now, packet, new_source, level, forwarded)
        })
    }

    /// Tells a peer's forwarded `section` that the current source's packet `source_seq`
    /// is left out on purpose (padding): see [`Peer::skip_forwarded`].
    pub fn skip_forwarded(&mut self, to: PeerId, section: Section, source_seq: u16) {
        let _ = self.with_peer(to, |p| {
            p.skip_forwarded(section, source_seq);
            Ok(())
        });
    }

    /// Asks a peer for a keyframe of the video it sends on `section`.
    pub fn request_keyframe(&mut self, id: PeerId, section: Section, now: Instant) {
        let _ = self.with_peer(id, |p| {
            p.request_keyframe(section, now);
            Ok(())
        });
    }

    /// Asks a peer for a keyframe on one stream (simulcast layer) of `section`.
    pub fn request_layer_keyframe(
        &mut self,
        id: PeerId,
        section: Section,
        ssrc: u32,
        now: Instant,
    ) {
        let _ = self.with_peer(id, |p| {
            p.request_layer_keyframe(section, ssrc, now);
            Ok(())
        });
    }

    /// Moves what a peer queued on its lean path, and its events, into the server's queues:
    /// [`collect`](PeerServer::collect) for when the core was not touched.
    fn collect_lean(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        while let Some(datagram) = peer.poll_lean_transmit() {
            self.outgoing.push_back(datagram);
        }
        while let Some(event) = peer.poll_event() {
            self.events.push_back((id, event));
        }
    }

    /// Moves a peer's outgoing datagrams and events into the server's queues, and learns
    /// routes from where the peer sends (STUN responses carry no USERNAME).
    fn collect(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        while let Some((to, data)) = peer.poll_transmit() {
            // Almost always known already: a lookup, not a write, per packet.
            if self.routes.get(&to) != Some(&id) {
                self.routes.insert(to, id);
            }
            self.outgoing.push_back((to, data));
        }
        while let Some(event) = peer.poll_event() {
            self.events.push_back((id, event));
        }
        self.timers.set(id, peer.poll_timeout());
    }
}

impl Transport for PeerServer {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.stats.datagrams += 1;
        let by_username = stun::binding_request_ufrag(data)
            .and_then(|ufrag| self.by_ufrag.get(ufrag))
            .copied();
        let id = match by_username {
            Some(id) => {
                // A browser may check from several addresses; each becomes a route.
                self.routes.insert(from, id);
                Some(id)
            }
            None => self.routes.get(&from).copied(),
        };
        let Some(id) = id.filter(|id| self.peers.contains_key(id)) else {
            self.stats.dropped += 1;
            return;
        };
        self.stats.routed += 1;
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.handle_datagram(now, from, data) {
            self.collect(id);
        } else {
            // Opened on the lean path (most of a room's incoming audio): the core was not
            // touched, so its timers stand — walking its queues and handlers cost more
            // than opening the packet.
            self.collect_lean(id);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let mut due = std::mem::take(&mut self.due);
        self.timers.take_due(now, &mut due);
        for id in due.drain(..) {
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            if peer.handle_timeout(now) {
                self.collect(id);
            } else {
                // Only the peer's own timers ran (its reports, sealed on the lean path):
                // the core has nothing new to send, and walking its queues for it cost
                // more than the reports.
                let next = peer.poll_timeout();
                self.collect_lean(id);
                self.timers.set(id, next);
            }
        }
        self.due = due;
    }

    fn poll_transmit(&mut self) -> Option<(SocketAddr, BytesMut)> {
        let out = self.outgoing.pop_front();
        if out.is_some() {
            self.stats.sent += 1;
        }
        out
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.timers.next()
    }
}

impl Transport for Peer {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let _ = Peer::handle_datagram(self, now, from, data);
    }

    fn handle_timeout(&mut self, now: Instant) {
        let _ = Peer::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self) -> Option<(SocketAddr, BytesMut)> {
        Peer::poll_transmit(self)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        Peer::poll_timeout(self)
    }
}
