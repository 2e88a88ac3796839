//! A call lost with the node that hosted it, taken over by a new one: a group call joined
//! afresh by its group, a 1:1 call placed again by its caller (the new call names the lost
//! one, `resumes`) and answered by its callee without asking the bot. Either way the call's
//! task goes on under the new call's id: the old roster leaves, [`CallEvent::Rejoined`]
//! follows, and a new media connection is offered.

use std::time::Duration;

use confab_signaling::Identity;
use confab_signaling::protocol::{CallId, ClientMessage, ParticipantId, ServerMessage};
use confab_signaling::{EndKind, EndReason};

use super::View;
use crate::router::Router;
use crate::{BotError, CallEvent, CallHandle};

/// How soon a failed attempt to join a lost group call afresh is repeated (the cluster
/// takes a few seconds to see a dead node as dead).
pub(super) const REJOIN_RETRY: Duration = Duration::from_millis(500);

/// How long the callee of a lost 1:1 call waits for its caller to place it again (both
/// reconnect after the same loss; the service gives a called person who is not yet back
/// a few seconds more to come).
pub(super) const RESUME_WAIT: Duration = Duration::from_secs(15);

/// What a 1:1 call lost with its node does next.
#[derive(Debug)]
pub(super) enum Resuming {
    /// Its caller: place it again, to the other side.
    Place(Identity),
    /// Its callee: wait for that call to ring.
    AwaitRing,
}

/// Joins `group` afresh after the service lost its call: the events for the bot (those of
/// the old instance leaving, then [`CallEvent::Rejoined`]), or none when the service gave
/// the same call back.
pub(super) async fn rejoin_group(
    handle: &CallHandle,
    router: &Router,
    view: &mut View,
    group: uuid::Uuid,
) -> Result<Vec<CallEvent>, BotError> {
    let reply = handle
        .inner
        .client
        .request(ClientMessage::CreateCall {
            group_id: Some(group),
            lobby: false,
            video: false,
        })
        .await?;
    let (new, participant) = joined(reply)?;
    if new == handle.call_id() && participant == handle.me() {
        // The same place (the call's node lives; this device's own node was lost).
        return Ok(Vec::new());
    }
    tracing::info!(old = %handle.call_id(), %new, %group, "the group's call goes on in a fresh instance");
    Ok(take_over(handle, router, view, new, participant))
}

/// Places the lost 1:1 call again, to `peer`, naming the lost one: the events for the bot.
pub(super) async fn place_resumed(
    handle: &CallHandle,
    router: &Router,
    view: &mut View,
    peer: Identity,
) -> Result<Vec<CallEvent>, BotError> {
    let lost = handle.call_id();
    let reply = handle
        .inner
        .client
        .request(ClientMessage::PlaceCall {
            to: peer.clone(),
            video: false,
            resumes: Some(lost),
        })
        .await?;
    let (new, participant) = joined(reply)?;
    tracing::info!(%lost, %new, %peer, "the 1:1 call goes on in a new call");
    Ok(take_over(handle, router, view, new, participant))
}

/// Answers `new`, the call the other side placed to resume the lost 1:1 call: the events
/// for the bot.
pub(super) async fn answer_resumed(
    handle: &CallHandle,
    router: &Router,
    view: &mut View,
    new: CallId,
) -> Result<Vec<CallEvent>, BotError> {
    let reply = handle
        .inner
        .client
        .request(ClientMessage::AcceptCall {
            call_id: new,
            video: false,
        })
        .await?;
    let (new, participant) = joined(reply)?;
    tracing::info!(lost = %handle.call_id(), %new, "answered the call resuming the 1:1 call");
    Ok(take_over(handle, router, view, new, participant))
}

/// The call and this side's participant in it, from the service's answer to joining.
fn joined(reply: ServerMessage) -> Result<(CallId, Option<ParticipantId>), BotError> {
    match reply {
        ServerMessage::Ok {
            call_id: Some(call_id),
            participant,
        } => Ok((call_id, participant)),
        other => Err(BotError::Protocol(format!("unexpected answer {other:?}"))),
    }
}

/// The call's task goes on as `new` (this side `participant` in it): routed there, the old
/// roster leaves, the slots are empty until the new call fills them.
fn take_over(
    handle: &CallHandle,
    router: &Router,
    view: &mut View,
    new: CallId,
    participant: Option<ParticipantId>,
) -> Vec<CallEvent> {
    let old = handle.call_id();
    let me = handle.me();
    router.rekey(old, new);
    if let Ok(mut id) = handle.inner.call_id.lock() {
        *id = new;
    }
    if let Ok(mut mine) = handle.inner.me.lock() {
        *mine = participant;
    }
    let mut events = Vec::new();
    if let Ok(mut roster) = handle.inner.roster.lock() {
        for (id, p) in roster.drain() {
            if Some(id) != me {
                events.push(CallEvent::Left {
                    participant: p,
                    reason: EndReason::new(EndKind::NetworkLost),
                });
            }
        }
    }
    view.slots.clear();
    view.dominant = None;
    events.push(CallEvent::Rejoined { call_id: new });
    events
}
