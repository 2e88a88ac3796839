//! One signaling connection, many calls: server events are routed to the task of the call
//! they are about; incoming calls go to whoever waits for them. Events for a call that has
//! not registered yet (they can overtake the answer that names the call) are held for it.
//! When the connection drops and comes back, each call hears so; a call the service did not
//! give back (its `welcome` does not list it) loses its route, which ends it — unless its
//! node was lost (a cluster's) and it is a group call: that is told to join the group
//! afresh (a live node places the call anew) and is routed under its new id from then on.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use confab_signaling::Identity;
use confab_signaling::client::{Events, Link};
use confab_signaling::protocol::{CallId, ServerMessage};
use tokio::sync::{mpsc, watch};

use crate::client::IncomingCall;

/// Events held per unregistered call, and calls held for.
const HELD_PER_CALL: usize = 256;
const HELD_CALLS: usize = 64;
/// Events queued for one call's task.
const CALL_QUEUE: usize = 1024;

/// What a call's task hears from the connection.
#[derive(Debug)]
pub(crate) enum CallInput {
    /// A message of the service about the call.
    Server(ServerMessage),
    /// The connection dropped; it is being re-opened.
    LinkDown,
    /// The connection is back, and the call with it.
    LinkUp,
    /// The connection is back but the service did not give this group call back: join the
    /// group afresh.
    Rejoin(uuid::Uuid),
    /// The connection is back but this 1:1 call was lost with its node: its caller places
    /// it again, its callee waits for that call.
    Resume(OneToOne),
    /// The call resuming this lost 1:1 call rings: answer it.
    ResumeRings(CallId),
}

/// A 1:1 call as one of its two sides sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OneToOne {
    /// The other side.
    pub(crate) peer: Identity,
    /// Whether this side placed it.
    pub(crate) caller: bool,
}

#[derive(Debug, Default)]
struct Routes {
    calls: HashMap<CallId, mpsc::Sender<CallInput>>,
    /// The group of each group call joined by its group.
    groups: HashMap<CallId, uuid::Uuid>,
    /// The other side of each 1:1 call.
    one_to_one: HashMap<CallId, OneToOne>,
    held: HashMap<CallId, Vec<ServerMessage>>,
    /// Calls held for, oldest first (the oldest goes when room is needed).
    held_order: VecDeque<CallId>,
    /// Calls that finished here: their late messages are not held.
    finished: HashSet<CallId>,
    finished_order: VecDeque<CallId>,
}

impl Routes {
    fn hold(&mut self, call_id: CallId, message: ServerMessage) {
        if self.finished.contains(&call_id) {
            return;
        }
        if !self.held.contains_key(&call_id) {
            if self.held_order.len() >= HELD_CALLS
                && let Some(oldest) = self.held_order.pop_front()
            {
                self.held.remove(&oldest);
            }
            self.held_order.push_back(call_id);
        }
        let held = self.held.entry(call_id).or_default();
        if held.len() < HELD_PER_CALL {
            held.push(message);
        }
    }

    fn finish(&mut self, call_id: CallId) {
        self.calls.remove(&call_id);
        self.groups.remove(&call_id);
        self.one_to_one.remove(&call_id);
        self.held.remove(&call_id);
        self.held_order.retain(|c| *c != call_id);
        if self.finished.insert(call_id) {
            self.finished_order.push_back(call_id);
            if self.finished_order.len() > HELD_CALLS
                && let Some(old) = self.finished_order.pop_front()
            {
                self.finished.remove(&old);
            }
        }
    }
}

/// The routing table; the task that reads the connection's events holds one end.
#[derive(Debug, Clone, Default)]
pub(crate) struct Router {
    routes: Arc<Mutex<Routes>>,
}

impl Router {
    /// Starts routing `events`; incoming calls go to the returned receiver.
    pub(crate) fn start(
        events: Events,
        link: watch::Receiver<Link>,
        node_lost: Arc<AtomicBool>,
    ) -> (Router, mpsc::Receiver<IncomingCall>) {
        let router = Router::default();
        let (incoming_tx, incoming) = mpsc::channel(64);
        tokio::spawn(router.clone().run(events, link, node_lost, incoming_tx));
        (router, incoming)
    }

    /// The events of `call_id` from now on (and any held for it).
    pub(crate) fn register(&self, call_id: CallId) -> mpsc::Receiver<CallInput> {
        let (tx, rx) = mpsc::channel(CALL_QUEUE);
        if let Ok(mut routes) = self.routes.lock() {
            for message in routes.held.remove(&call_id).unwrap_or_default() {
                let _ = tx.try_send(CallInput::Server(message));
            }
            routes.held_order.retain(|c| *c != call_id);
            routes.calls.insert(call_id, tx);
        }
        rx
    }

    /// Notes that `call_id` was joined as `group`'s call (rejoined if the service loses it).
    pub(crate) fn set_group(&self, call_id: CallId, group: uuid::Uuid) {
        if let Ok(mut routes) = self.routes.lock() {
            routes.groups.insert(call_id, group);
        }
    }

    /// Notes that `call_id` is a 1:1 call with `peer` (resumed if the service loses it).
    pub(crate) fn set_one_to_one(&self, call_id: CallId, peer: Identity, caller: bool) {
        if let Ok(mut routes) = self.routes.lock() {
            routes.one_to_one.insert(call_id, OneToOne { peer, caller });
        }
    }

    /// Routes what was `old`'s to `new` (a call joined afresh or resumed), with anything
    /// held for `new` meanwhile; `old` is finished.
    pub(crate) fn rekey(&self, old: CallId, new: CallId) {
        if old == new {
            return;
        }
        let Ok(mut routes) = self.routes.lock() else {
            return;
        };
        let (Some(tx), group, one_to_one) = (
            routes.calls.remove(&old),
            routes.groups.remove(&old),
            routes.one_to_one.remove(&old),
        ) else {
            return;
        };
        routes.finish(old);
        for message in routes.held.remove(&new).unwrap_or_default() {
            let _ = tx.try_send(CallInput::Server(message));
        }
        routes.held_order.retain(|c| *c != new);
        routes.calls.insert(new, tx);
        if let Some(group) = group {
            routes.groups.insert(new, group);
        }
        if let Some(one_to_one) = one_to_one {
            routes.one_to_one.insert(new, one_to_one);
        }
    }

    /// The task of `lost`, if it is a 1:1 call this side answered from `caller` (whose
    /// call resuming it is then this side's to answer).
    fn resuming(&self, lost: CallId, caller: &Identity) -> Option<mpsc::Sender<CallInput>> {
        let routes = self.routes.lock().ok()?;
        let one_to_one = routes.one_to_one.get(&lost)?;
        if one_to_one.caller || &one_to_one.peer != caller {
            return None;
        }
        routes.calls.get(&lost).cloned()
    }

    /// Stops routing a finished call.
    pub(crate) fn unregister(&self, call_id: CallId) {
        if let Ok(mut routes) = self.routes.lock() {
            routes.finish(call_id);
        }
    }

    /// Tells every call (never waiting for one).
    fn tell_all(&self, input: impl Fn() -> CallInput) {
        if let Ok(routes) = self.routes.lock() {
            for tx in routes.calls.values() {
                let _ = tx.try_send(input());
            }
        }
    }

    /// The connection is back: the calls the service resumed hear so; the others are gone,
    /// or — calls whose node was lost — group calls are joined afresh and 1:1 calls
    /// resumed.
    fn reconnected(&self, resumed: &[CallId], node_lost: bool) {
        let Ok(mut routes) = self.routes.lock() else {
            return;
        };
        let lost: Vec<CallId> = routes
            .calls
            .keys()
            .filter(|c| !resumed.contains(c))
            .copied()
            .collect();
        for call_id in &lost {
            if let (true, Some(group), Some(tx)) = (
                node_lost,
                routes.groups.get(call_id),
                routes.calls.get(call_id),
            ) {
                tracing::warn!(%call_id, %group, "the service did not give this call back after the reconnect: joining the group afresh");
                let _ = tx.try_send(CallInput::Rejoin(*group));
            } else if let (true, Some(one_to_one), Some(tx)) = (
                node_lost,
                routes.one_to_one.get(call_id),
                routes.calls.get(call_id),
            ) {
                tracing::warn!(%call_id, peer = %one_to_one.peer, caller = one_to_one.caller, "the service did not give this 1:1 call back after the reconnect: resuming it");
                let _ = tx.try_send(CallInput::Resume(one_to_one.clone()));
            } else {
                tracing::warn!(%call_id, "the service did not give this call back after the reconnect");
                // Dropping its route ends the call as network-lost.
                routes.finish(*call_id);
            }
        }
        for (call_id, tx) in &routes.calls {
            if !lost.contains(call_id) {
                let _ = tx.try_send(CallInput::LinkUp);
            }
        }
    }

    async fn run(
        self,
        mut events: Events,
        mut link: watch::Receiver<Link>,
        node_lost: Arc<AtomicBool>,
        incoming: mpsc::Sender<IncomingCall>,
    ) {
        let mut link_open = true;
        let mut welcomed = false;
        loop {
            let message = tokio::select! {
                // The link first: a drop is told before the welcome of the next connection.
                biased;
                changed = link.changed(), if link_open => {
                    if changed.is_err() {
                        link_open = false;
                    } else if *link.borrow_and_update() == Link::Reconnecting {
                        self.tell_all(|| CallInput::LinkDown);
                    }
                    continue;
                }
                message = events.recv() => match message {
                    Some(message) => message,
                    None => break,
                },
            };
            if let ServerMessage::Welcome { resumed, .. } = &message {
                // The first message of every connection; every one after the first is a
                // reconnect, and says which calls came back.
                if std::mem::replace(&mut welcomed, true) {
                    self.reconnected(resumed, node_lost.swap(false, Ordering::Relaxed));
                }
                continue;
            }
            if let ServerMessage::IncomingCall {
                call_id,
                from,
                resumes: Some(lost),
                ..
            } = &message
                && let Some(tx) = self.resuming(*lost, from)
            {
                // Answered by the call it resumes, not by the bot (which answered already).
                let _ = tx.try_send(CallInput::ResumeRings(*call_id));
                continue;
            }
            if let ServerMessage::IncomingCall {
                call_id,
                from,
                from_name,
                group,
                video,
                ..
            } = &message
            {
                let call = IncomingCall {
                    call_id: *call_id,
                    from: from.clone(),
                    from_name: from_name.clone(),
                    group: *group,
                    video: *video,
                };
                if incoming.try_send(call).is_err() {
                    tracing::warn!(%call_id, "incoming call not taken: nobody is answering");
                }
                continue;
            }
            let Some(call_id) = message.call_id() else {
                if let ServerMessage::Error { code, message } = &message {
                    tracing::warn!(?code, "signaling error: {message}");
                }
                continue;
            };
            let route = {
                let Ok(mut routes) = self.routes.lock() else {
                    return;
                };
                match routes.calls.get(&call_id) {
                    Some(tx) => Some(tx.clone()),
                    None => {
                        // A call that stopped ringing here will never be registered.
                        if matches!(message, ServerMessage::IncomingCallEnded { .. }) {
                            routes.finish(call_id);
                        } else {
                            routes.hold(call_id, message.clone());
                        }
                        None
                    }
                }
            };
            // Never wait for one call's task: a bot too slow to take its signaling loses
            // messages (logged), the connection's other calls do not stall.
            if let Some(tx) = route {
                match tx.try_send(CallInput::Server(message)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::warn!(%call_id, "call task not keeping up: signaling message dropped");
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => self.unregister(call_id),
                }
            }
        }
        // The connection is gone: dropping every route tells each call task.
        if let Ok(mut routes) = self.routes.lock() {
            routes.calls.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot(name: &str) -> Identity {
        Identity::Bot(name.into())
    }

    #[test]
    fn only_the_callee_of_a_lost_call_answers_its_resumption_and_only_from_its_caller() {
        let router = Router::default();
        let (answered, placed, group) = (CallId::new(), CallId::new(), CallId::new());
        let _rx = [answered, placed, group].map(|c| router.register(c));
        router.set_one_to_one(answered, bot("alice"), false);
        router.set_one_to_one(placed, bot("carol"), true);
        router.set_group(group, uuid::Uuid::new_v4());
        assert!(router.resuming(answered, &bot("alice")).is_some());
        // Someone else naming the call, the caller's side, a group call, an unknown call.
        assert!(router.resuming(answered, &bot("mallory")).is_none());
        assert!(router.resuming(placed, &bot("carol")).is_none());
        assert!(router.resuming(group, &bot("alice")).is_none());
        assert!(router.resuming(CallId::new(), &bot("alice")).is_none());
        // Resumed as a new call: the new one is the 1:1 call from then on.
        let resumed = CallId::new();
        router.rekey(answered, resumed);
        assert!(router.resuming(answered, &bot("alice")).is_none());
        assert!(router.resuming(resumed, &bot("alice")).is_some());
    }
}
