//! Ringing across nodes. A call placed on one node to someone whose devices are signed in on
//! others: the placing node publishes a [`RingRequest`] on Redis; every node that holds a
//! connection of that person opens a relay leg from it to the placing node, where the
//! switchboard sees one more device of theirs and rings it (and tells it when the ringing
//! ends, answered here or elsewhere). Answering goes down that leg like any call message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::Cluster;
use super::store::RING_CHANNEL;

/// "Bring `identity`'s devices to `node` (at `url`) to ring."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RingRequest {
    /// Whose devices.
    pub(crate) identity: String,
    /// The node where the call rings.
    pub(crate) node: String,
    /// Its HTTP base URL.
    pub(crate) url: String,
}

/// One signed-in connection: its number here, and where its ring requests go.
type Device = (u64, mpsc::Sender<RingRequest>);

/// The connections of this node by the identity they signed in as.
#[derive(Debug, Default)]
pub(crate) struct Devices {
    next: std::sync::atomic::AtomicU64,
    by_identity: Mutex<HashMap<String, Vec<Device>>>,
}

/// A connection's place in [`Devices`]: removed when dropped.
#[derive(Debug)]
pub(crate) struct DeviceEntry {
    devices: Arc<Devices>,
    identity: String,
    id: u64,
}

impl Devices {
    /// Notes a connection signed in as `identity`; ring requests for it come on the receiver.
    pub(crate) fn add(
        self: &Arc<Self>,
        identity: String,
    ) -> (DeviceEntry, mpsc::Receiver<RingRequest>) {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(8);
        if let Ok(mut map) = self.by_identity.lock() {
            map.entry(identity.clone()).or_default().push((id, tx));
        }
        let entry = DeviceEntry {
            devices: self.clone(),
            identity,
            id,
        };
        (entry, rx)
    }

    /// Hands `request` to every connection of its identity here; how many there were.
    pub(crate) fn ring(&self, request: &RingRequest) -> usize {
        let Ok(map) = self.by_identity.lock() else {
            return 0;
        };
        let connections = map.get(&request.identity).map_or(&[][..], Vec::as_slice);
        for (_, tx) in connections {
            let _ = tx.try_send(request.clone());
        }
        connections.len()
    }
}

impl Drop for DeviceEntry {
    fn drop(&mut self) {
        if let Ok(mut map) = self.devices.by_identity.lock()
            && let Some(list) = map.get_mut(&self.identity)
        {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                map.remove(&self.identity);
            }
        }
    }
}

/// Listens for ring requests of other nodes until the process ends, re-subscribing after a
/// Redis outage.
pub(crate) fn spawn_listener(cluster: Arc<Cluster>, redis: redis::Client) {
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            match listen(&cluster, &redis).await {
                Ok(()) => {}
                Err(e) if !failing => {
                    tracing::warn!("ring listener: {e}; re-subscribing");
                    failing = true;
                }
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn listen(cluster: &Cluster, redis: &redis::Client) -> Result<(), redis::RedisError> {
    let mut pubsub = redis.get_async_pubsub().await?;
    pubsub.subscribe(RING_CHANNEL).await?;
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let Ok(text) = message.get_payload::<String>() else {
            continue;
        };
        let Ok(request) = serde_json::from_str::<RingRequest>(&text) else {
            tracing::warn!("unreadable ring request on {RING_CHANNEL}");
            continue;
        };
        if request.node == cluster.id {
            continue;
        }
        let rung = cluster.devices.ring(&request);
        if rung > 0 {
            tracing::debug!(identity = %request.identity, node = %request.node, rung, "bringing devices to ring");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_reach_the_connections_of_their_identity_only() {
        let devices = Arc::new(Devices::default());
        let (alice_phone, mut phone) = devices.add("8:confab:alice".into());
        let (_alice_laptop, mut laptop) = devices.add("8:confab:alice".into());
        let (_bob, mut bob) = devices.add("8:confab:bob".into());
        let request = RingRequest {
            identity: "8:confab:alice".into(),
            node: "b".into(),
            url: "http://b".into(),
        };
        assert_eq!(devices.ring(&request), 2);
        assert_eq!(phone.try_recv().unwrap(), request);
        assert_eq!(laptop.try_recv().unwrap(), request);
        assert!(bob.try_recv().is_err());
        drop(alice_phone);
        assert_eq!(devices.ring(&request), 1);
    }
}
