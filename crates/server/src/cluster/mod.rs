//! More than one node (`confab serve --redis URL`): nodes share one Redis, where each
//! announces itself and its load with a heartbeat that expires; a new call is placed on the
//! least loaded live node and lives there (its media, its mixer); any node takes any
//! client's WebSocket and relays the signaling of calls hosted elsewhere to their node
//! (decision 0010). The signing and admin keys are the cluster's, kept in Redis.
//!
//! This module owns the Redis side ([`store`]), the heartbeat, placement and the per-
//! connection relay. It must not touch media or the switchboard's rules: a relayed client
//! is, to the hosting node, one more WebSocket client.

mod heartbeat;
mod leg;
mod placement;
mod record;
mod relay;
mod ring;
mod store;

use std::path::{Path, PathBuf};
use std::time::Duration;

use confab_signaling::protocol::CallId;

pub(crate) use heartbeat::{spawn as spawn_heartbeat, unix_ms as heartbeat_unix_ms};
pub(crate) use leg::LEG_HEADER;
pub(crate) use record::NodeRecord;
pub(crate) use relay::Relay;
pub(crate) use ring::{RingRequest, spawn_listener as spawn_ring_listener};
use store::{Store, StoreError};

use crate::config::ClusterConfig;
use crate::keys::{Secrets, SecretsError};

/// How often a node rewrites its record.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(1);

/// How long a record (and a hosted call's entry) outlives its last heartbeat: a node silent
/// this long is dead, and its calls can be placed afresh.
pub(crate) const NODE_TTL: Duration = Duration::from_secs(4);

/// How long the first connection to Redis may take at start.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The node could not join its cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Redis did not answer.
    #[error("cannot reach Redis at {url}: {reason}")]
    Unreachable {
        /// The Redis URL (without its password).
        url: String,
        /// Why.
        reason: String,
    },
    /// The data directory's keys are not the cluster's.
    #[error(
        "{} holds a different signing key than the cluster at {url}: tokens of one would be \
         refused by the other. Remove that secrets.json to take the cluster's keys, or start \
         this node on the data directory the cluster's first node used",
        .path.display()
    )]
    SecretsDiffer {
        /// The node's secrets file.
        path: PathBuf,
        /// The Redis URL (without its password).
        url: String,
    },
    /// The data directory could not be read or written.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The CA for the other nodes' certificates is not usable.
    #[error("the node CA {}: {reason}", .path.display())]
    NodeCa {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file for TLS to Redis (CA, client certificate or key) could not be read.
    #[error("cannot read the Redis TLS file {}: {source}", .path.display())]
    RedisTlsFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// How relay legs trust other nodes' `https://` URLs: `None`, the system's roots alone.
#[derive(Clone, Default)]
pub(crate) struct NodeTls(pub(crate) Option<tokio_tungstenite::Connector>);

impl std::fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Some(_) => "NodeTls(the system's roots and the node CA)",
            None => "NodeTls(the system's roots)",
        })
    }
}

/// How this node's relay legs trust other nodes' `https://` URLs: the system's roots and
/// the CA in `config.node_ca`, or the system's alone without one.
pub(crate) fn node_tls(config: &ClusterConfig) -> Result<NodeTls, ClusterError> {
    let Some(path) = &config.node_ca else {
        return Ok(NodeTls(None));
    };
    let invalid = |reason: String| ClusterError::NodeCa {
        path: path.clone(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
    confab_signaling::tls::connector(&pem)
        .map(|connector| NodeTls(Some(connector)))
        .map_err(|e| invalid(e.to_string()))
}

/// A client for the cluster's Redis at `url`: in the clear for `redis://`, over TLS for
/// `rediss://`, where Redis's certificate must chain to the CAs in the PEM file
/// `tls.redis_ca` or, without one, to the system's roots, and this node shows
/// `tls.redis_client_cert` if Redis asks for one. Clear text to another machine is allowed
/// (a private network) but warned about: the cluster's signing and admin keys are kept in
/// Redis.
pub(crate) fn redis_client(url: &str, tls: &ClusterConfig) -> Result<redis::Client, ClusterError> {
    let invalid = |e: redis::RedisError| ClusterError::Unreachable {
        url: redacted(url),
        reason: e.to_string(),
    };
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| ClusterError::RedisTlsFile {
            path: path.to_owned(),
            source,
        })
    };
    let root_cert = tls.redis_ca.as_deref().map(read).transpose()?;
    let client_tls = match (&tls.redis_client_cert, &tls.redis_client_key) {
        (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
            client_cert: read(cert)?,
            client_key: read(key)?,
        }),
        _ => None,
    };
    let client = if root_cert.is_some() || client_tls.is_some() {
        let certificates = redis::TlsCertificates {
            client_tls,
            root_cert,
        };
        redis::Client::build_with_tls(url, certificates).map_err(invalid)?
    } else {
        redis::Client::open(url).map_err(invalid)?
    };
    if let redis::ConnectionAddr::Tcp(host, _) = client.get_connection_info().addr() {
        let loopback = host == "localhost"
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            tracing::warn!(
                url = %redacted(url),
                "Redis in clear text: the cluster's signing and admin keys cross the network \
                 unencrypted; use rediss:// (and --redis-ca for a private CA)"
            );
        }
    }
    Ok(client)
}

/// `url` with any password replaced by `***`, for messages and logs.
pub(crate) fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Where a call is (or goes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    /// On this node.
    Here,
    /// On another node, reached at `url`.
    There {
        /// Its name.
        node: String,
        /// Its HTTP base URL.
        url: String,
    },
}

/// This node's membership of the cluster.
#[derive(Debug)]
pub(crate) struct Cluster {
    /// This node's name.
    pub(crate) id: String,
    /// Where other nodes reach this one.
    pub(crate) url: String,
    /// When it started (Unix milliseconds).
    pub(crate) started_unix_ms: u64,
    /// This node's signed-in connections, for ringing across nodes.
    pub(crate) devices: std::sync::Arc<ring::Devices>,
    /// The other live nodes' addresses: their relay legs are held to no per-address limit.
    pub(crate) peer_addresses: crate::http::gate::PeerAddresses,
    /// The node's counters (relay legs and frames among them).
    pub(crate) metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// How relay legs trust other nodes' certificates.
    pub(crate) node_tls: NodeTls,
    store: Store,
}

/// Connects to the cluster's Redis and settles the node's secrets with the cluster's:
/// adopted (and written to `data_dir`) when the node has none, published when the cluster
/// has none, an error when both have and they differ.
pub(crate) async fn join(
    client: redis::Client,
    url: &str,
    data_dir: &Path,
) -> Result<(Store, Secrets), ClusterError> {
    let unreachable = |e: StoreError| ClusterError::Unreachable {
        url: redacted(url),
        reason: e.to_string(),
    };
    let mut store = Store::connect(client, CONNECT_TIMEOUT)
        .await
        .map_err(unreachable)?;
    let local = Secrets::load(data_dir)?;
    let cluster = match store.secrets().await.map_err(unreachable)? {
        Some(cluster) => cluster,
        None => {
            let mine = local.clone().unwrap_or_else(Secrets::generate);
            store.claim_secrets(&mine).await.map_err(unreachable)?
        }
    };
    match local {
        Some(local) if local != cluster => Err(ClusterError::SecretsDiffer {
            path: data_dir.join("secrets.json"),
            url: redacted(url),
        }),
        Some(_) => Ok((store, cluster)),
        None => {
            cluster.save(data_dir)?;
            tracing::info!(data_dir = %data_dir.display(), "took the cluster's signing and admin keys");
            Ok((store, cluster))
        }
    }
}

impl Cluster {
    pub(crate) fn new(
        id: String,
        url: String,
        started_unix_ms: u64,
        store: Store,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        node_tls: NodeTls,
    ) -> Cluster {
        Cluster {
            id,
            url,
            started_unix_ms,
            devices: std::sync::Arc::default(),
            peer_addresses: crate::http::gate::PeerAddresses::default(),
            metrics,
            node_tls,
            store,
        }
    }

    fn host(&self, node: &str, nodes: &[NodeRecord]) -> Host {
        if node == self.id {
            return Host::Here;
        }
        match nodes.iter().find(|n| n.id == node) {
            Some(n) => Host::There {
                node: n.id.clone(),
                url: n.url.clone(),
            },
            None => Host::Here,
        }
    }

    /// The live nodes, this one among them.
    pub(crate) async fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
        Ok(self.store.clone().nodes().await?.0)
    }

    /// Where a call being created goes: `group`'s running call's node if it is alive, else
    /// the least loaded live node (which then holds the group). With Redis out of reach the
    /// call stays here.
    pub(crate) async fn place(&self, group: Option<uuid::Uuid>) -> Host {
        match self.try_place(group).await {
            Ok(host) => host,
            Err(e) => {
                tracing::warn!("placing a call: {e}; hosting it here");
                Host::Here
            }
        }
    }

    async fn try_place(&self, group: Option<uuid::Uuid>) -> Result<Host, StoreError> {
        let mut store = self.store.clone();
        let (nodes, placed) = store.nodes().await?;
        let live = |id: &str| nodes.iter().any(|n| n.id == id);
        let holder = match group {
            Some(g) => store.group_host(g).await?,
            None => None,
        };
        if let Some(holder) = &holder
            && live(holder)
        {
            return Ok(self.host(holder, &nodes));
        }
        let chosen = placement::least_loaded(&nodes, &placed)
            .map_or_else(|| self.id.clone(), |n| n.id.clone());
        let host = match (group, holder) {
            (Some(g), Some(dead)) => {
                tracing::info!(group = %g, from = %dead, to = %chosen, "the group's node is gone: placing its call afresh");
                store.take_group(g, &dead, &chosen, NODE_TTL).await?
            }
            (Some(g), None) => store.claim_group(g, &chosen, NODE_TTL).await?,
            (None, _) => chosen.clone(),
        };
        if host == chosen {
            store.note_placed(&chosen, NODE_TTL).await?;
        }
        Ok(self.host(&host, &nodes))
    }

    /// Where `group`'s running call is, if anywhere alive.
    pub(crate) async fn group_host(&self, group: uuid::Uuid) -> Option<Host> {
        let mut store = self.store.clone();
        let holder = store.group_host(group).await.ok().flatten()?;
        let nodes = store.nodes().await.ok()?.0;
        nodes
            .iter()
            .any(|n| n.id == holder)
            .then(|| self.host(&holder, &nodes))
    }

    /// Where `call` is, if anywhere alive.
    pub(crate) async fn call_host(&self, call: CallId) -> Option<Host> {
        let mut store = self.store.clone();
        let holder = store.call_host(call).await.ok().flatten()?;
        let nodes = store.nodes().await.ok()?.0;
        nodes
            .iter()
            .any(|n| n.id == holder)
            .then(|| self.host(&holder, &nodes))
    }

    /// Whether `address` is another live node's (as of the last heartbeat).
    pub(crate) fn is_peer(&self, address: std::net::IpAddr) -> bool {
        self.peer_addresses
            .read()
            .is_ok_and(|peers| peers.contains(&address))
    }

    /// Notes the addresses of the live `nodes` other than this one (their URLs' hosts, when
    /// those are IP addresses or resolve).
    pub(crate) async fn note_peers(&self, nodes: &[NodeRecord]) {
        let mut addresses = std::collections::HashSet::new();
        for node in nodes.iter().filter(|n| n.id != self.id) {
            let Some(authority) = node
                .url
                .split("://")
                .nth(1)
                .map(|rest| rest.split('/').next().unwrap_or(rest))
            else {
                continue;
            };
            let with_port = if authority.contains(':') && !authority.ends_with(']') {
                authority.to_owned()
            } else {
                format!("{authority}:80")
            };
            if let Ok(found) = tokio::net::lookup_host(with_port).await {
                addresses.extend(found.map(|a| a.ip()));
            }
        }
        if let Ok(mut peers) = self.peer_addresses.write() {
            *peers = addresses;
        }
    }

    /// Asks the other nodes to bring `identity`'s devices to `node` (at `url`) to ring: a
    /// call to them was placed, or they were invited into a call, there.
    pub(crate) async fn ring_at(&self, identity: &str, node: String, url: String) {
        let request = RingRequest {
            identity: identity.to_owned(),
            node,
            url,
        };
        if let Err(e) = self.store.clone().publish_ring(&request).await {
            tracing::warn!(%identity, "cannot ring devices on other nodes: {e}");
        }
    }

    pub(crate) fn store(&self) -> Store {
        self.store.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redacted("redis://user:s3cret@db:6379/0"),
            "redis://user:***@db:6379/0"
        );
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redacted("redis://:pw@db"), "redis://:***@db");
    }
}
