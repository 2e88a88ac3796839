//! A UDP relay that puts an emulated network between real peers and a service, where the
//! kernel offers no netem: clients send to the relay's address; each client gets its own
//! socket towards the upstream (so the service sees one address per client, as on a real
//! network); each direction passes through a seeded [`NetworkEmulator`] (loss, bursts,
//! jitter, reordering, duplication, a rate limit). A service advertising the relay's address
//! as its own (`confab serve --public-ip`) gets all its peers' media through it.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::netem::{NetemConfig, NetemStats, NetworkEmulator};

/// The longest the relay sleeps between looks at its sockets.
const TICK: Duration = Duration::from_millis(1);

/// What a relay connects and how each direction misbehaves.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Where clients send (the address the service advertises).
    pub listen: SocketAddr,
    /// The service.
    pub upstream: SocketAddr,
    /// Client → service.
    pub up: NetemConfig,
    /// Service → client.
    pub down: NetemConfig,
    /// Seed of both emulators (the same seed, the same network).
    pub seed: u64,
    /// Impair only RTP and RTCP (first byte 128–191, RFC 7983); STUN and DTLS pass at once.
    /// For measuring media under loss without also testing the handshakes.
    pub media_only: bool,
}

/// Whether a datagram is RTP or RTCP by its first byte (RFC 7983 demultiplexing).
fn is_rtp(data: &[u8]) -> bool {
    data.first().is_some_and(|b| (128..=191).contains(b))
}

/// What the relay did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Client → service.
    pub up: NetemStats,
    /// Service → client.
    pub down: NetemStats,
    /// Distinct client addresses seen.
    pub clients: usize,
    /// Datagrams (either way) swallowed while the link was cut ([`Relay::cut`]).
    pub blackholed: u64,
}

/// A running relay; stops when dropped.
#[derive(Debug)]
pub struct Relay {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    cut: Arc<Mutex<Cut>>,
    links: Arc<Mutex<ClientLinks>>,
    seen: Arc<Mutex<Vec<SocketAddr>>>,
    stats: Arc<Mutex<RelayStats>>,
    join: Option<JoinHandle<()>>,
}

impl Relay {
    /// Binds `config.listen` and starts relaying on a thread of its own.
    pub fn start(config: RelayConfig) -> io::Result<Relay> {
        let front = UdpSocket::bind(config.listen)?;
        front.set_nonblocking(true)?;
        let local = front.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(Mutex::new(Cut::default()));
        let links = Arc::new(Mutex::new(ClientLinks::default()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stats = Arc::new(Mutex::new(RelayStats::default()));
        let worker = Worker {
            cut: cut.clone(),
            links: links.clone(),
            own_down: HashMap::new(),
            seen: seen.clone(),
            blackholed: 0,
            front,
            upstream: config.upstream,
            clients: HashMap::new(),
            up: NetworkEmulator::new(config.up, config.seed),
            down: NetworkEmulator::new(config.down, config.seed.wrapping_add(1)),
            stop: stop.clone(),
            stats: stats.clone(),
            media_only: config.media_only,
        };
        let join = std::thread::Builder::new()
            .name("confab-relay".into())
            .spawn(move || worker.run())?;
        Ok(Relay {
            local,
            stop,
            cut,
            links,
            seen,
            stats,
            join: Some(join),
        })
    }

    /// The address clients send to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Cuts every client's link (`true`: each datagram either way is swallowed, as when a
    /// network drops out) or restores it (`false`). Clients keep their upstream addresses.
    pub fn cut(&self, cut: bool) {
        if let Ok(mut c) = self.cut.lock() {
            c.all = cut;
        }
    }

    /// Keeps `client`'s link up through [`cut`](Relay::cut) (a participant whose network
    /// stays fine while everyone else's drops).
    pub fn spare(&self, client: SocketAddr) {
        if let Ok(mut c) = self.cut.lock() {
            c.spared.insert(client);
        }
    }

    /// Cuts (or restores) one client's link only.
    pub fn cut_client(&self, client: SocketAddr, cut: bool) {
        if let Ok(mut c) = self.cut.lock() {
            if cut {
                c.clients.insert(client);
            } else {
                c.clients.remove(&client);
            }
        }
    }

    /// Gives `client`'s downlink (service → that client) a network of its own from now on,
    /// e.g. a rate limit on one viewer while everyone else's link stays as configured;
    /// called again, it changes that network (packets in flight keep their times).
    pub fn set_client_down(&self, client: SocketAddr, config: NetemConfig) {
        if let Ok(mut links) = self.links.lock() {
            links.changes.push((client, config));
        }
    }

    /// What `client`'s own downlink (see [`set_client_down`](Relay::set_client_down)) did.
    pub fn client_down_stats(&self, client: SocketAddr) -> Option<NetemStats> {
        self.links.lock().ok()?.stats.get(&client).copied()
    }

    /// Client addresses, in the order they first sent.
    pub fn clients(&self) -> Vec<SocketAddr> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// What happened so far.
    pub fn stats(&self) -> RelayStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

type Datagram = (SocketAddr, Vec<u8>);

/// Whose links are cut.
#[derive(Debug, Clone, Default)]
struct Cut {
    all: bool,
    clients: HashSet<SocketAddr>,
    spared: HashSet<SocketAddr>,
}

/// Clients whose downlink has a network of its own: changes the worker has yet to apply,
/// and what each of those links did.
#[derive(Debug, Default)]
struct ClientLinks {
    changes: Vec<(SocketAddr, NetemConfig)>,
    stats: HashMap<SocketAddr, NetemStats>,
}

impl Cut {
    fn applies(&self, client: &SocketAddr) -> bool {
        (self.all && !self.spared.contains(client)) || self.clients.contains(client)
    }
}

struct Worker {
    front: UdpSocket,
    upstream: SocketAddr,
    /// Per client address, its socket towards the upstream.
    clients: HashMap<SocketAddr, UdpSocket>,
    up: NetworkEmulator<Datagram>,
    down: NetworkEmulator<Datagram>,
    stop: Arc<AtomicBool>,
    cut: Arc<Mutex<Cut>>,
    links: Arc<Mutex<ClientLinks>>,
    /// Downlinks of their own, by client (the rest share `down`).
    own_down: HashMap<SocketAddr, NetworkEmulator<Datagram>>,
    seen: Arc<Mutex<Vec<SocketAddr>>>,
    blackholed: u64,
    stats: Arc<Mutex<RelayStats>>,
    media_only: bool,
}

impl Worker {
    #[allow(clippy::disallowed_methods)] // the relay is a driver: it reads the clock and sleeps
    fn run(mut self) {
        let mut buf = vec![0u8; 65_536];
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            self.apply_link_changes();
            self.receive(now, &mut buf);
            self.deliver(now);
            if let Ok(mut stats) = self.stats.lock() {
                *stats = RelayStats {
                    up: self.up.stats(),
                    down: self.down.stats(),
                    clients: self.clients.len(),
                    blackholed: self.blackholed,
                };
            }
            let next = [self.up.next_arrival(), self.down.next_arrival()]
                .into_iter()
                .chain(self.own_down.values().map(|d| d.next_arrival()))
                .flatten()
                .fold(now + TICK, Instant::min);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    }

    /// Everything waiting on the sockets, into the emulators.
    fn receive(&mut self, now: Instant, buf: &mut [u8]) {
        let cut = self.cut.lock().map(|c| c.clone()).unwrap_or_default();
        while let Ok((len, from)) = self.front.recv_from(buf) {
            if !self.clients.contains_key(&from) {
                let Ok(socket) = self.client_socket() else {
                    continue;
                };
                self.clients.insert(from, socket);
                if let Ok(mut seen) = self.seen.lock() {
                    seen.push(from);
                }
            }
            if cut.applies(&from) {
                self.blackholed += 1;
                continue;
            }
            let data = &buf[..len];
            if self.media_only && !is_rtp(data) {
                if let Some(socket) = self.clients.get(&from) {
                    let _ = socket.send_to(data, self.upstream);
                }
                continue;
            }
            self.up.send_sized(now, (from, data.to_vec()), len);
        }
        for (client, socket) in &self.clients {
            while let Ok((len, from)) = socket.recv_from(buf) {
                let data = &buf[..len];
                if from != self.upstream {
                    continue;
                }
                if cut.applies(client) {
                    self.blackholed += 1;
                    continue;
                }
                if self.media_only && !is_rtp(data) {
                    let _ = self.front.send_to(data, client);
                    continue;
                }
                let down = self.own_down.get_mut(client).unwrap_or(&mut self.down);
                down.send_sized(now, (*client, data.to_vec()), len);
            }
        }
    }

    fn client_socket(&self) -> io::Result<UdpSocket> {
        let bind: SocketAddr = match self.upstream {
            SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(bind)?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    }

    /// Whatever the emulated network has delivered by `now`, onward.
    fn deliver(&mut self, now: Instant) {
        while let Some((client, data)) = self.up.poll(now) {
            if let Some(socket) = self.clients.get(&client) {
                let _ = socket.send_to(&data, self.upstream);
            }
        }
        while let Some((client, data)) = self.down.poll(now) {
            let _ = self.front.send_to(&data, client);
        }
        for down in self.own_down.values_mut() {
            while let Some((client, data)) = down.poll(now) {
                let _ = self.front.send_to(&data, client);
            }
        }
    }

    /// New or changed per-client downlinks; publishes what each did so far.
    fn apply_link_changes(&mut self) {
        let Ok(mut links) = self.links.lock() else {
            return;
        };
        for (client, config) in links.changes.drain(..) {
            match self.own_down.get_mut(&client) {
                Some(link) => link.set_config(config),
                None => {
                    let seed = self.own_down.len() as u64 + 2;
                    self.own_down
                        .insert(client, NetworkEmulator::new(config, seed));
                }
            }
        }
        for (client, link) in &self.own_down {
            links.stats.insert(*client, link.stats());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo service behind a relay that loses 20 % each way: what comes back is about
    /// 64 % of what was sent, each client gets its own upstream address, nothing corrupted.
    #[test]
    #[allow(clippy::unwrap_used, clippy::disallowed_methods)]
    fn relays_both_ways_through_the_emulated_network() {
        let service = UdpSocket::bind("127.0.0.1:0").unwrap();
        let service_addr = service.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let seen_by_service = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = service.recv_from(&mut buf) {
                seen_by_service.lock().unwrap().insert(from);
                let _ = service.send_to(&buf[..n], from);
            }
        });
        let lossy = NetemConfig {
            base_delay: Duration::from_millis(5),
            loss: 0.2,
            ..NetemConfig::default()
        };
        let relay = Relay::start(RelayConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            upstream: service_addr,
            up: lossy.clone(),
            down: lossy,
            seed: 7,
            media_only: false,
        })
        .unwrap();
        let mut back = 0;
        for client in 0..2 {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            for i in 0..500u32 {
                socket
                    .send_to(&i.to_be_bytes(), relay.local_addr())
                    .unwrap();
                if i % 50 == 49 {
                    // Paced like media, not a burst larger than a socket buffer.
                    std::thread::sleep(Duration::from_millis(3));
                }
            }
            let mut buf = [0u8; 16];
            while let Ok((n, _)) = socket.recv_from(&mut buf) {
                assert_eq!(n, 4, "client {client}: intact");
                assert!(u32::from_be_bytes(buf[..4].try_into().unwrap()) < 500);
                back += 1;
            }
        }
        let stats = relay.stats();
        assert_eq!(stats.clients, 2);
        assert_eq!(
            seen.lock().unwrap().len(),
            2,
            "one upstream address per client"
        );
        assert_eq!(stats.up.sent, 1000);
        assert!((560..=720).contains(&back), "about 64 % back: {back}");
        assert_eq!(back as u64, stats.down.delivered);
    }

    /// One client's downlink limited to 80 kbit/s with a 100 ms queue: of a 1000-byte burst
    /// of 40 echoes, about the queue's worth comes back to it, all of them to the other;
    /// lifted, it gets everything again.
    #[test]
    #[allow(clippy::unwrap_used, clippy::disallowed_methods)]
    fn one_clients_downlink_can_be_limited_alone() {
        let service = UdpSocket::bind("127.0.0.1:0").unwrap();
        let service_addr = service.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = service.recv_from(&mut buf) {
                let _ = service.send_to(&buf[..n], from);
            }
        });
        let relay = Relay::start(RelayConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            upstream: service_addr,
            up: NetemConfig::default(),
            down: NetemConfig::default(),
            seed: 1,
            media_only: false,
        })
        .unwrap();
        let client = || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(400)))
                .unwrap();
            socket
        };
        let echoes = |socket: &UdpSocket| {
            for _ in 0..40 {
                socket.send_to(&[0u8; 1000], relay.local_addr()).unwrap();
            }
            let mut buf = [0u8; 2048];
            let mut back = 0;
            while socket.recv_from(&mut buf).is_ok() {
                back += 1;
            }
            back
        };
        let (a, b) = (client(), client());
        assert_eq!((echoes(&a), echoes(&b)), (40, 40));
        let limited = NetemConfig {
            rate_bps: 80_000,
            queue_limit: Duration::from_millis(100),
            ..NetemConfig::default()
        };
        relay.set_client_down(a.local_addr().unwrap(), limited);
        std::thread::sleep(Duration::from_millis(20));
        // 100 ms of queue at 80 kbit/s holds one 1000-byte datagram, plus the one on the wire.
        let (through, other) = (echoes(&a), echoes(&b));
        assert!((1..=3).contains(&through), "{through} through the limit");
        assert_eq!(other, 40, "the other client's link is untouched");
        let stats = relay.client_down_stats(a.local_addr().unwrap()).unwrap();
        assert_eq!(stats.sent, 40);
        assert!(stats.dropped_by_rate >= 37);
        relay.set_client_down(a.local_addr().unwrap(), NetemConfig::default());
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(echoes(&a), 40, "lifted");
    }

    /// A cut client's datagrams vanish both ways while others' pass; restored, it carries
    /// on from the same upstream address.
    #[test]
    #[allow(clippy::unwrap_used, clippy::disallowed_methods)]
    fn a_cut_link_swallows_everything_until_restored() {
        let service = UdpSocket::bind("127.0.0.1:0").unwrap();
        let service_addr = service.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = service.recv_from(&mut buf) {
                let _ = service.send_to(&buf[..n], from);
            }
        });
        let relay = Relay::start(RelayConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            upstream: service_addr,
            up: NetemConfig::default(),
            down: NetemConfig::default(),
            seed: 1,
            media_only: false,
        })
        .unwrap();
        let client = || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(150)))
                .unwrap();
            socket
        };
        let echoes = |socket: &UdpSocket| {
            for i in 0..10u8 {
                socket.send_to(&[i], relay.local_addr()).unwrap();
            }
            let mut buf = [0u8; 16];
            let mut back = 0;
            while socket.recv_from(&mut buf).is_ok() {
                back += 1;
            }
            back
        };
        let (a, b) = (client(), client());
        assert_eq!((echoes(&a), echoes(&b)), (10, 10));
        assert_eq!(
            relay.clients(),
            vec![a.local_addr().unwrap(), b.local_addr().unwrap()]
        );
        relay.cut_client(a.local_addr().unwrap(), true);
        assert_eq!((echoes(&a), echoes(&b)), (0, 10), "only a is cut");
        relay.cut_client(a.local_addr().unwrap(), false);
        assert_eq!(echoes(&a), 10, "restored");
        relay.cut(true);
        assert_eq!((echoes(&a), echoes(&b)), (0, 0), "everyone cut");
        assert_eq!(relay.stats().blackholed, 30);
        assert_eq!(relay.stats().clients, 2, "no new upstream addresses");
        relay.spare(b.local_addr().unwrap());
        let c = client();
        assert_eq!(
            (echoes(&b), echoes(&c)),
            (10, 0),
            "all but the spared, new ones too"
        );
    }
}
