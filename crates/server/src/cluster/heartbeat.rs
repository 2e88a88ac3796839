//! The node's heartbeat: every [`HEARTBEAT`] its record (load included) and the calls it
//! hosts are rewritten in Redis with a [`NODE_TTL`] expiry. A Redis outage is logged once
//! and retried every beat; the node's calls carry on meanwhile.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use confab_signaling::protocol::CallId;
use tokio::sync::{mpsc, oneshot};

use super::record::{LoadSampler, NodeRecord};
use super::{Cluster, HEARTBEAT, NODE_TTL};
use crate::metrics::Metrics;
use crate::signaling_service::SignalingCommand;

#[allow(clippy::disallowed_methods)] // the heartbeat stamps its record with the wall clock
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The calls this node hosts, from the switchboard.
async fn hosted(
    signaling: &mpsc::Sender<SignalingCommand>,
) -> Option<Vec<(CallId, Option<uuid::Uuid>)>> {
    let (tx, rx) = oneshot::channel();
    signaling.send(SignalingCommand::Calls(tx)).await.ok()?;
    let calls = rx.await.ok()?;
    Some(calls.into_iter().map(|c| (c.call_id, c.group_id)).collect())
}

/// Writes one heartbeat now (so the node is placeable as soon as it serves), then runs the
/// heartbeat until `stop`, when the node leaves the cluster (its record and calls removed).
#[allow(clippy::disallowed_methods)] // the heartbeat's driver reads the clock
pub(crate) async fn spawn(
    cluster: Arc<Cluster>,
    signaling: mpsc::Sender<SignalingCommand>,
    metrics: Arc<Metrics>,
    mut stop: oneshot::Receiver<oneshot::Sender<()>>,
) -> tokio::task::JoinHandle<()> {
    let mut sampler = LoadSampler::new(metrics.clone(), Instant::now());
    let mut store = cluster.store();
    let beat = {
        let cluster = cluster.clone();
        move |calls: &[(CallId, Option<uuid::Uuid>)], sampler: &mut LoadSampler| {
            let (cpu_percent, tick_mean_micros) = sampler.sample(Instant::now());
            NodeRecord {
                id: cluster.id.clone(),
                url: cluster.url.clone(),
                calls: calls.len() as u64,
                participants: metrics.participants.load(Ordering::Relaxed),
                connections: metrics.connections.load(Ordering::Relaxed),
                cpu_percent,
                tick_mean_micros,
                started_unix_ms: cluster.started_unix_ms,
                heartbeat_unix_ms: unix_ms(),
            }
        }
    };
    let first = hosted(&signaling).await.unwrap_or_default();
    if let Err(e) = store
        .heartbeat(&beat(&first, &mut sampler), &first, NODE_TTL)
        .await
    {
        tracing::warn!("first cluster heartbeat failed: {e}; retrying every {HEARTBEAT:?}");
    }
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(HEARTBEAT);
        ticker.tick().await;
        let mut failing = false;
        let mut last_calls = first;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                done = &mut stop => {
                    if let Err(e) = store.leave(&cluster.id, &last_calls).await {
                        tracing::warn!("leaving the cluster: {e}");
                    } else {
                        tracing::info!(node = %cluster.id, "left the cluster");
                    }
                    if let Ok(done) = done {
                        let _ = done.send(());
                    }
                    return;
                }
            }
            let Some(calls) = hosted(&signaling).await else {
                return;
            };
            let record = beat(&calls, &mut sampler);
            if let Ok((nodes, _)) = store.nodes().await {
                cluster.note_peers(&nodes).await;
            }
            match store.heartbeat(&record, &calls, NODE_TTL).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!(node = %cluster.id, "Redis is back: the node is in the cluster again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(node = %cluster.id, "cluster heartbeat failed: {e}; the node's calls carry on, retrying every {HEARTBEAT:?}");
                }
                Err(_) => {}
            }
            last_calls = calls;
        }
    })
}
