//! Per client connection: which node each of its frames is for. Frames about calls hosted
//! here (and everything else: `hello`, ringing, pings) go to this node's switchboard;
//! frames about a call hosted elsewhere go down a [`leg`](super::leg) to that node, one leg
//! per node, opened with the client's own `hello`.

use std::collections::HashMap;
use std::sync::Arc;

use confab_signaling::protocol::{
    CallId, ClientMessage, ErrorCode, ServerEnvelope, ServerMessage, parse_client,
};
use tokio::sync::mpsc;

use super::leg::{self, CallNodes};
use super::ring::{DeviceEntry, RingRequest};
use super::{Cluster, Host};
use crate::signaling_service::OutFrame;

/// One client connection's routing.
#[derive(Debug)]
pub(crate) struct Relay {
    cluster: Arc<Cluster>,
    outbox: mpsc::Sender<OutFrame>,
    hello: Option<String>,
    legs: HashMap<String, mpsc::Sender<String>>,
    calls: CallNodes,
    /// Signed in: this connection among the node's devices, and ring requests for it.
    device: Option<(DeviceEntry, mpsc::Receiver<RingRequest>)>,
    /// Someone this connection just called (or invited), and the node of the call, to ring
    /// their devices on other nodes too.
    to_ring: Option<(String, Host)>,
}

impl Relay {
    /// Routing for a connection whose frames to the client go to `outbox`.
    pub(crate) fn new(cluster: Arc<Cluster>, outbox: mpsc::Sender<OutFrame>) -> Relay {
        Relay {
            cluster,
            outbox,
            hello: None,
            legs: HashMap::new(),
            calls: CallNodes::default(),
            device: None,
            to_ring: None,
        }
    }

    /// The next request to bring this connection to another node to ring (never, before
    /// it signed in).
    pub(crate) async fn ring_request(&mut self) -> Option<RingRequest> {
        match &mut self.device {
            Some((_, requests)) => requests.recv().await,
            None => std::future::pending().await,
        }
    }

    /// Brings this connection to `request.node` to ring: a leg there (its `hello` makes it
    /// one more device of the called identity on that node).
    pub(crate) async fn ring_there(&mut self, request: RingRequest) {
        if self
            .legs
            .get(&request.node)
            .is_some_and(|leg| !leg.is_closed())
        {
            return;
        }
        let Some(hello) = self.hello.clone() else {
            return;
        };
        tracing::debug!(node = %request.node, "a leg to ring this device there");
        let leg = leg::open(
            &self.cluster,
            request.node.clone(),
            request.url,
            hello,
            self.outbox.clone(),
            self.calls.clone(),
        );
        self.legs.insert(request.node, leg);
    }

    /// After a frame went to this node's switchboard: a call placed (or invitation made)
    /// here rings the called person's devices on other nodes too.
    pub(crate) async fn handed_over(&mut self) {
        self.ring_elsewhere().await;
    }

    /// Asks the other nodes to bring the person just called or invited to the call's node.
    async fn ring_elsewhere(&mut self) {
        let Some((identity, host)) = self.to_ring.take() else {
            return;
        };
        match host {
            Host::Here => {
                let (node, url) = (self.cluster.id.clone(), self.cluster.url.clone());
                self.cluster.ring_at(&identity, node, url).await;
            }
            Host::There { node, url } => {
                let Some(url) = self.url_of(&node, url).await else {
                    return;
                };
                self.cluster.ring_at(&identity, node, url).await;
            }
        }
    }

    /// `url`, or if that is empty the URL the cluster has for `node` (`None`: it is gone).
    async fn url_of(&self, node: &str, url: String) -> Option<String> {
        if !url.is_empty() {
            return Some(url);
        }
        self.cluster
            .nodes()
            .await
            .ok()?
            .into_iter()
            .find(|n| n.id == node)
            .map(|n| n.url)
    }

    /// The node a call this connection is in lives on, as its legs learned it (its URL is
    /// looked up only if the leg must be opened again).
    fn known(&self, call: CallId) -> Option<Host> {
        let node = self.calls.lock().ok()?.get(&call).cloned()?;
        Some(Host::There {
            node,
            url: String::new(),
        })
    }

    /// Sends `text` on to the node it is for; gives it back if that is this node.
    pub(crate) async fn route(&mut self, text: String) -> Option<String> {
        let Ok(envelope) = parse_client(&text) else {
            return Some(text);
        };
        let host = match &envelope.message {
            ClientMessage::Hello { identity, .. } => {
                if self.hello.is_none() {
                    self.hello = Some(text.clone());
                    self.device = Some(self.cluster.devices.add(identity.to_string()));
                }
                return Some(text);
            }
            ClientMessage::PlaceCall { to, .. } if !to.is_phone() => {
                self.to_ring = Some((to.to_string(), Host::Here));
                return Some(text);
            }
            ClientMessage::Invite { call_id, identity } if !identity.is_phone() => {
                let host = self.known(*call_id).unwrap_or(Host::Here);
                self.to_ring = Some((identity.to_string(), host.clone()));
                host
            }
            ClientMessage::CreateCall { group_id, .. } => self.cluster.place(*group_id).await,
            ClientMessage::JoinCall {
                call_id: Some(call),
                ..
            } => match self.known(*call) {
                Some(host) => host,
                None => self.cluster.call_host(*call).await.unwrap_or(Host::Here),
            },
            ClientMessage::JoinCall {
                group_id: Some(group),
                ..
            } => self.cluster.group_host(*group).await.unwrap_or(Host::Here),
            other => match other.call_id().and_then(|c| self.known(c)) {
                Some(host) => host,
                None => Host::Here,
            },
        };
        match host {
            Host::Here => Some(text),
            // Not signed in yet: this node's switchboard says so.
            Host::There { .. } if self.hello.is_none() => Some(text),
            Host::There { node, url } => {
                self.send(node, url, text).await;
                self.ring_elsewhere().await;
                None
            }
        }
    }

    /// Sends `text` down the leg to `node` (at `url`), opening it if need be.
    async fn send(&mut self, node: String, url: String, text: String) {
        if let Some(leg) = self.legs.get(&node)
            && !leg.is_closed()
        {
            if let Err(mpsc::error::SendError(text)) = leg.send(text).await {
                self.legs.remove(&node);
                tracing::debug!(%node, "relay leg closed; opening another");
                return Box::pin(self.send(node, url, text)).await;
            }
            return;
        }
        let Some(url) = self.url_of(&node, url).await else {
            tracing::info!(%node, "a call's node is no longer in the cluster");
            let id = parse_client(&text).ok().and_then(|e| e.id);
            let error = ServerEnvelope::reply(
                id,
                ServerMessage::Error {
                    code: ErrorCode::CallNotFound,
                    message: format!("the node hosting this call ({node}) is gone"),
                },
            );
            let _ = self.outbox.try_send(OutFrame::Text(error.to_json()));
            return;
        };
        let hello = self.hello.clone().unwrap_or_default();
        let leg = leg::open(
            &self.cluster,
            node.clone(),
            url,
            hello,
            self.outbox.clone(),
            self.calls.clone(),
        );
        let _ = leg.send(text).await;
        self.legs.insert(node, leg);
    }
}
