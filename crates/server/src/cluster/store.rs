//! The cluster's shared state in Redis, and nothing else: key names, and one method per
//! question or update, each bounded by a timeout so a Redis outage slows no client for long.
//!
//! Keys (all under `confab:`): `nodes` (a set of node ids), `node:<id>` (its
//! [`NodeRecord`] as JSON, expiring unless its heartbeat rewrites it), `placed:<id>` (calls
//! placed on it lately), `group:<uuid>` and `call:<uuid>` (the node hosting a group's call,
//! a call), `secrets` (the cluster's signing and admin keys).

use std::collections::HashMap;
use std::time::Duration;

use confab_signaling::protocol::CallId;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::record::NodeRecord;
use super::ring::RingRequest;
use crate::keys::Secrets;

/// How long one Redis exchange may take before it counts as failed.
const OP_TIMEOUT: Duration = Duration::from_secs(1);

/// A Redis request failed or timed out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// Redis answered with an error, or the connection failed.
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    /// No answer in time.
    #[error("no answer from Redis within {OP_TIMEOUT:?}")]
    Timeout,
    /// A value in Redis is not what confab writes there.
    #[error("unexpected value under {key}: {reason}")]
    Corrupt { key: String, reason: String },
}

/// The connection to the cluster's Redis (reconnecting on its own after an outage).
#[derive(Clone)]
pub(crate) struct Store {
    redis: ConnectionManager,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store(..)")
    }
}

fn node_key(id: &str) -> String {
    format!("confab:node:{id}")
}

fn placed_key(id: &str) -> String {
    format!("confab:placed:{id}")
}

fn group_key(group: uuid::Uuid) -> String {
    format!("confab:group:{group}")
}

fn call_key(call: CallId) -> String {
    format!("confab:call:{}", call.0)
}

const NODES: &str = "confab:nodes";
/// The pub/sub channel on which a node asks the others to bring a called person's devices
/// to it to ring.
pub(crate) const RING_CHANNEL: &str = "confab:ring";
const SECRETS: &str = "confab:secrets";

async fn bounded<T>(op: impl Future<Output = redis::RedisResult<T>>) -> Result<T, StoreError> {
    match tokio::time::timeout(OP_TIMEOUT, op).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(StoreError::Timeout),
    }
}

impl Store {
    /// Connects through `client` and checks that Redis answers (within `within`).
    pub(crate) async fn connect(
        client: redis::Client,
        within: Duration,
    ) -> Result<Store, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(within))
            .set_response_timeout(Some(OP_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let redis =
            match tokio::time::timeout(within, ConnectionManager::new_with_config(client, config))
                .await
            {
                Ok(redis) => redis?,
                Err(_) => return Err(StoreError::Timeout),
            };
        let mut store = Store { redis };
        let _: String = bounded(redis::cmd("PING").query_async(&mut store.redis)).await?;
        Ok(store)
    }

    /// The cluster's secrets, or `None` if no node published any yet.
    pub(crate) async fn secrets(&mut self) -> Result<Option<Secrets>, StoreError> {
        let text: Option<String> =
            bounded(redis::cmd("GET").arg(SECRETS).query_async(&mut self.redis)).await?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| StoreError::Corrupt {
                key: SECRETS.into(),
                reason: e.to_string(),
            })
        })
        .transpose()
    }

    /// Publishes `secrets` as the cluster's unless some are there already; the cluster's
    /// secrets either way.
    pub(crate) async fn claim_secrets(&mut self, secrets: &Secrets) -> Result<Secrets, StoreError> {
        let text = serde_json::to_string(secrets).unwrap_or_default();
        let _: Option<String> = bounded(
            redis::cmd("SET")
                .arg(SECRETS)
                .arg(text)
                .arg("NX")
                .query_async(&mut self.redis),
        )
        .await?;
        self.secrets().await?.ok_or_else(|| StoreError::Corrupt {
            key: SECRETS.into(),
            reason: "gone right after it was set".into(),
        })
    }

    /// One heartbeat: the node's record and the calls it hosts, each expiring after `ttl`
    /// unless the next heartbeat comes.
    pub(crate) async fn heartbeat(
        &mut self,
        record: &NodeRecord,
        calls: &[(CallId, Option<uuid::Uuid>)],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let ms = ttl.as_millis() as u64;
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(node_key(&record.id))
            .arg(serde_json::to_string(record).unwrap_or_default())
            .arg("PX")
            .arg(ms)
            .ignore();
        pipe.cmd("SADD").arg(NODES).arg(&record.id).ignore();
        for (call, group) in calls {
            pipe.cmd("SET")
                .arg(call_key(*call))
                .arg(&record.id)
                .arg("PX")
                .arg(ms)
                .ignore();
            if let Some(group) = group {
                pipe.cmd("SET")
                    .arg(group_key(*group))
                    .arg(&record.id)
                    .arg("PX")
                    .arg(ms)
                    .ignore();
            }
        }
        bounded(pipe.query_async::<()>(&mut self.redis)).await
    }

    /// Removes this node and the calls it hosted (a clean shutdown: no need to wait for
    /// them to expire).
    pub(crate) async fn leave(
        &mut self,
        node: &str,
        calls: &[(CallId, Option<uuid::Uuid>)],
    ) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("DEL")
            .arg(node_key(node))
            .arg(placed_key(node))
            .ignore();
        pipe.cmd("SREM").arg(NODES).arg(node).ignore();
        for (call, group) in calls {
            pipe.cmd("DEL").arg(call_key(*call)).ignore();
            if let Some(group) = group {
                // Only if it still names this node.
                pipe.cmd("EVAL")
                    .arg("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0")
                    .arg(1)
                    .arg(group_key(*group))
                    .arg(node)
                    .ignore();
            }
        }
        bounded(pipe.query_async::<()>(&mut self.redis)).await
    }

    /// Every live node (its record has not expired), with the calls placed on each lately.
    /// Nodes whose record expired are dropped from the set on the way.
    pub(crate) async fn nodes(
        &mut self,
    ) -> Result<(Vec<NodeRecord>, HashMap<String, u64>), StoreError> {
        let ids: Vec<String> = bounded(
            redis::cmd("SMEMBERS")
                .arg(NODES)
                .query_async(&mut self.redis),
        )
        .await?;
        if ids.is_empty() {
            return Ok((Vec::new(), HashMap::new()));
        }
        let mut get = redis::cmd("MGET");
        for id in &ids {
            get.arg(node_key(id));
        }
        for id in &ids {
            get.arg(placed_key(id));
        }
        let values: Vec<Option<String>> = bounded(get.query_async(&mut self.redis)).await?;
        let (records, placed) = values.split_at(ids.len().min(values.len()));
        let mut nodes = Vec::new();
        let mut recent = HashMap::new();
        let mut gone = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            match records.get(i).cloned().flatten() {
                Some(text) => match serde_json::from_str::<NodeRecord>(&text) {
                    Ok(record) => nodes.push(record),
                    Err(e) => tracing::warn!(node = %id, "unreadable node record: {e}"),
                },
                None => gone.push(id.clone()),
            }
            if let Some(Some(n)) = placed.get(i) {
                recent.insert(id.clone(), n.parse().unwrap_or(0));
            }
        }
        if !gone.is_empty() {
            tracing::info!(nodes = ?gone, "nodes whose heartbeat expired leave the cluster");
            let _: Result<(), _> = bounded(
                redis::cmd("SREM")
                    .arg(NODES)
                    .arg(&gone)
                    .query_async(&mut self.redis),
            )
            .await;
        }
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok((nodes, recent))
    }

    /// Notes a call placed on `node` (counted for `ttl`, until its heartbeats report it).
    pub(crate) async fn note_placed(
        &mut self,
        node: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("INCR").arg(placed_key(node)).ignore();
        pipe.cmd("PEXPIRE")
            .arg(placed_key(node))
            .arg(ttl.as_millis() as u64)
            .ignore();
        bounded(pipe.query_async::<()>(&mut self.redis)).await
    }

    /// The node hosting `group`'s call, if one does.
    pub(crate) async fn group_host(
        &mut self,
        group: uuid::Uuid,
    ) -> Result<Option<String>, StoreError> {
        bounded(
            redis::cmd("GET")
                .arg(group_key(group))
                .query_async(&mut self.redis),
        )
        .await
    }

    /// Claims `group` for `node` for `ttl` unless another node holds it; the holder.
    pub(crate) async fn claim_group(
        &mut self,
        group: uuid::Uuid,
        node: &str,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let _: Option<String> = bounded(
            redis::cmd("SET")
                .arg(group_key(group))
                .arg(node)
                .arg("NX")
                .arg("PX")
                .arg(ttl.as_millis() as u64)
                .query_async(&mut self.redis),
        )
        .await?;
        Ok(self
            .group_host(group)
            .await?
            .unwrap_or_else(|| node.to_owned()))
    }

    /// Gives `group` to `node` in place of a dead holder `from` (only if `from` still holds
    /// it); the holder afterwards.
    pub(crate) async fn take_group(
        &mut self,
        group: uuid::Uuid,
        from: &str,
        node: &str,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let _: i64 = bounded(
            redis::cmd("EVAL")
                .arg("if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0")
                .arg(1)
                .arg(group_key(group))
                .arg(from)
                .arg(node)
                .arg(ttl.as_millis() as u64)
                .query_async(&mut self.redis),
        )
        .await?;
        Ok(self
            .group_host(group)
            .await?
            .unwrap_or_else(|| node.to_owned()))
    }

    /// Asks every node to bring `request.identity`'s devices to `request.node` to ring.
    pub(crate) async fn publish_ring(&mut self, request: &RingRequest) -> Result<(), StoreError> {
        let text = serde_json::to_string(request).unwrap_or_default();
        bounded(
            redis::cmd("PUBLISH")
                .arg(RING_CHANNEL)
                .arg(text)
                .query_async::<i64>(&mut self.redis),
        )
        .await
        .map(|_| ())
    }

    /// The node hosting `call`, if one does.
    pub(crate) async fn call_host(&mut self, call: CallId) -> Result<Option<String>, StoreError> {
        bounded(
            redis::cmd("GET")
                .arg(call_key(call))
                .query_async(&mut self.redis),
        )
        .await
    }
}
