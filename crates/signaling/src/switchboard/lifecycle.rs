//! Connections coming and going, time passing, media events, and the ends of
//! participations and calls.

use std::collections::BTreeSet;
use std::time::Instant;

use super::call::CallKind;
use super::{ConnectionId, MediaCommand, PhoneCommand, Refusal, Session, Switchboard, refuse};
use crate::protocol::{CallId, Departure, ErrorCode, ParticipantId, ServerEnvelope, ServerMessage};
use crate::{CallEvent, EndKind, EndReason, Identity, ParticipantEvent, ParticipantState, Scope};

impl Switchboard {
    #[allow(clippy::too_many_arguments)] // the hello's fields, and both clocks
    pub(super) fn hello(
        &mut self,
        conn: ConnectionId,
        identity: &Identity,
        token: &str,
        display_name: Option<String>,
        endpoint: Option<&str>,
        unix_secs: u64,
        now: Instant,
    ) -> Result<ServerMessage, Refusal> {
        if self
            .sessions
            .get(&conn)
            .is_some_and(|s| s.identity.is_some())
        {
            return refuse(
                ErrorCode::AlreadyAuthenticated,
                "hello was already accepted",
            );
        }
        // People need a voip token, bots a bot token; admin tokens work for either.
        let scopes = if identity.is_bot() {
            [Scope::Bot, Scope::Admin]
        } else {
            [Scope::Voip, Scope::Admin]
        };
        let claims = match self.key.authenticate(token, identity, &scopes, unix_secs) {
            Ok(claims) => claims,
            Err(e) => {
                tracing::info!(?conn, %identity, "refused hello: {e}");
                return Err((ErrorCode::from(&e), format!("authentication failed: {e}")));
            }
        };
        let signed_in = self.online.get(identity).map_or(0, BTreeSet::len);
        if !identity.is_bot()
            && !identity.is_phone()
            && signed_in >= self.config.max_sessions_per_user
        {
            tracing::info!(?conn, %identity, signed_in, "refused hello: too many sessions");
            return Err((
                ErrorCode::TooManySessions,
                format!(
                    "{identity} is signed in on {signed_in} connections already, the most \
                     allowed; sign out elsewhere first"
                ),
            ));
        }
        let Some(session) = self.sessions.get_mut(&conn) else {
            return refuse(ErrorCode::Internal, "unknown connection");
        };
        session.identity = Some(identity.clone());
        session.scopes = claims.scope;
        session.display_name = display_name.unwrap_or_else(|| identity.to_string());
        session.endpoint = endpoint.map(str::to_string);
        self.online
            .entry(identity.clone())
            .or_default()
            .insert(conn);
        tracing::info!(?conn, %identity, "authenticated");
        let resumed = self.resume(conn, identity, endpoint);
        self.send(
            conn,
            ServerEnvelope::event(ServerMessage::Welcome {
                identity: identity.clone(),
                protocol: crate::protocol::PROTOCOL_VERSION,
                resumed: resumed.iter().map(|(call_id, _)| *call_id).collect(),
            }),
        );
        for (call_id, pid) in resumed {
            self.send_call_state(call_id, pid);
            self.send_roster(call_id, pid);
        }
        self.ring_new_device(conn, identity, now);
        // The welcome above already answered; the reply for `re` is a plain ok.
        Ok(ServerMessage::Ok {
            call_id: None,
            participant: None,
        })
    }

    /// A reconnecting device gets back the participations it held on this endpoint (each
    /// is then sent its call's state and roster, after the welcome that lists them).
    fn resume(
        &mut self,
        conn: ConnectionId,
        identity: &Identity,
        endpoint: Option<&str>,
    ) -> Vec<(CallId, ParticipantId)> {
        let mut resumed = Vec::new();
        let Some(endpoint) = endpoint else {
            return resumed;
        };
        for call in self.calls.values_mut() {
            for p in call.participants.values_mut() {
                if p.conn.is_none()
                    && p.lost_deadline.is_some()
                    && &p.identity == identity
                    && p.endpoint.as_deref() == Some(endpoint)
                {
                    p.conn = Some(conn);
                    p.lost_deadline = None;
                    tracing::info!(call_id = %call.id, pid = %p.id, "participant resumed on a new connection");
                    resumed.push((call.id, p.id));
                }
            }
        }
        resumed
    }

    /// A device coming online while a call rings for its identity rings too.
    fn ring_new_device(&mut self, conn: ConnectionId, identity: &Identity, now: Instant) {
        // A call that waited for a device of this identity rings for its full time now.
        let ring_timeout = self.config.ring_timeout;
        for call in self.calls.values_mut() {
            if let Some(pid) = call.ringing_for(identity)
                && let Some(p) = call.participants.get_mut(&pid)
                && std::mem::take(&mut p.awaiting_device)
            {
                p.ring_deadline = Some(now + ring_timeout);
            }
        }
        let ringing: Vec<(CallId, Identity, bool, Option<CallId>)> = self
            .calls
            .values()
            .filter(|c| c.ringing_for(identity).is_some())
            .map(|c| {
                let from = c
                    .ringing_for(identity)
                    .and_then(|pid| c.participants.get(&pid))
                    .and_then(|p| p.invited_by.clone())
                    .unwrap_or_else(|| identity.clone());
                let group = c.kind == CallKind::Group;
                (c.id, from, group, c.resumes.filter(|_| !group))
            })
            .collect();
        for (call_id, from, group, resumes) in ringing {
            let from_name = from.to_string();
            self.event(
                conn,
                ServerMessage::IncomingCall {
                    call_id,
                    from,
                    from_name,
                    group,
                    video: false,
                    resumes,
                },
            );
        }
    }

    /// The connection closed (or was dropped). Its participations wait for a reconnect
    /// until the grace period ends.
    pub fn handle_disconnect(&mut self, conn: ConnectionId, now: Instant) {
        let Some(session) = self.sessions.remove(&conn) else {
            return;
        };
        if let Some(identity) = &session.identity
            && let Some(conns) = self.online.get_mut(identity)
        {
            conns.remove(&conn);
            if conns.is_empty() {
                self.online.remove(identity);
            }
        }
        let deadline = now + self.config.reconnect_grace;
        for call in self.calls.values_mut() {
            for p in call.participants.values_mut() {
                if p.conn == Some(conn) {
                    p.conn = None;
                    p.lost_deadline = Some(deadline);
                    tracing::info!(call_id = %call.id, pid = %p.id, "connection lost; waiting for reconnect");
                }
            }
        }
    }

    /// Time passed: connections that did not sign in in time, ring timeouts and lost
    /// connections whose grace ran out.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(deadline, conn)) = self.hello_deadlines.front() {
            if deadline > now {
                break;
            }
            self.hello_deadlines.pop_front();
            if self
                .sessions
                .get(&conn)
                .is_some_and(|s| s.identity.is_none())
            {
                tracing::debug!(?conn, "no hello in time: closing");
                self.close(conn, ErrorCode::HelloTimeout, now);
            }
        }
        let mut expired = Vec::new();
        for call in self.calls.values() {
            for p in call.participants.values() {
                if p.ring_deadline.is_some_and(|d| d <= now) {
                    let kind = if p.awaiting_device {
                        EndKind::Unavailable
                    } else {
                        EndKind::RingTimeout
                    };
                    expired.push((call.id, p.id, kind));
                } else if p.lost_deadline.is_some_and(|d| d <= now) {
                    expired.push((call.id, p.id, EndKind::NetworkLost));
                }
            }
        }
        for (call_id, pid, kind) in expired {
            self.end_participation(call_id, pid, kind);
        }
    }

    /// The media plane reports a participant's media flowing.
    pub fn media_connected(&mut self, call_id: CallId, pid: ParticipantId) {
        let Some(p) = self.participant_mut(call_id, pid) else {
            return;
        };
        p.media_connected = true;
        if p.state == ParticipantState::Connecting
            && let Ok(next) = p.state.on(ParticipantEvent::MediaConnected)
        {
            p.state = next;
        }
        let established = p.established;
        if established {
            self.move_call_state(call_id, pid, CallEvent::Connected);
        }
        self.announce(call_id, &[pid]);
    }

    /// The media plane reports a participant's media gone for good (ICE failed).
    pub fn media_lost(&mut self, call_id: CallId, pid: ParticipantId) {
        self.end_participation(call_id, pid, EndKind::NetworkLost);
    }

    /// Sends a message from the media plane to one participant (SDP answers, candidates,
    /// slot assignments).
    pub fn deliver(&mut self, call_id: CallId, pid: ParticipantId, message: ServerMessage) {
        let conn = self
            .calls
            .get(&call_id)
            .and_then(|c| c.participants.get(&pid))
            .and_then(|p| p.conn);
        if let Some(conn) = conn {
            self.event(conn, message);
        }
    }

    /// Sends a message from the media plane to everyone in the call (dominant speakers).
    pub fn deliver_to_call(&mut self, call_id: CallId, message: &ServerMessage) {
        self.broadcast(call_id, message);
    }

    /// Ends every call: the service is going down.
    pub fn shutdown(&mut self) {
        let calls: Vec<CallId> = self.calls.keys().copied().collect();
        for call_id in calls {
            self.end_call(call_id, EndKind::ServerShutdown, None);
        }
    }

    /// Ends one participation with `kind` and tells everyone concerned; ends the call when
    /// it was 1:1 or nobody is left.
    pub(super) fn end_participation(&mut self, call_id: CallId, pid: ParticipantId, kind: EndKind) {
        self.end_participation_with(call_id, pid, EndReason::new(kind));
    }

    /// [`end_participation`](Switchboard::end_participation) with a reason of its own (a
    /// phone leg's SIP status as subcode).
    pub(super) fn end_participation_with(
        &mut self,
        call_id: CallId,
        pid: ParticipantId,
        reason: EndReason,
    ) {
        let kind = reason.kind;
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let Some(mut p) = call.participants.remove(&pid) else {
            return;
        };
        let was_ringing = p.state == ParticipantState::Idle;
        let was_active = p.is_active();
        if let Ok(next) = p.state.on(ParticipantEvent::Leave) {
            p.state = next;
        }
        let kind_of_call = call.kind;
        tracing::info!(%call_id, %pid, identity = %p.identity, ?kind, subcode = reason.subcode, "participation ended");
        if p.phone {
            self.phone_command(PhoneCommand::HangUp {
                call_id,
                participant: pid,
                reason: reason.clone(),
            });
        }

        if was_ringing {
            self.stop_ringing(call_id, &p.identity, kind);
        } else {
            self.tell_ended(call_id, p.conn, p.call_state, reason.clone());
        }
        if was_active {
            self.media(MediaCommand::Leave {
                call_id,
                participant: pid,
            });
        }
        let departure = Departure {
            participant: pid,
            identity: p.identity,
            reason: reason.clone(),
        };
        self.broadcast(
            call_id,
            &ServerMessage::RosterUpdate {
                call_id,
                updated: Vec::new(),
                removed: vec![departure],
            },
        );

        let Some(call) = self.calls.get(&call_id) else {
            return;
        };
        let nobody_left = call
            .participants
            .values()
            .all(|q| q.state == ParticipantState::Idle);
        if kind_of_call == CallKind::OneToOne || nobody_left {
            let for_others = match kind {
                // The caller hears why the callee did not take the call, SIP status included.
                EndKind::Rejected | EndKind::RingTimeout | EndKind::Unavailable | EndKind::Busy => {
                    reason
                }
                EndKind::Cancelled | EndKind::AnsweredElsewhere => {
                    EndReason::new(EndKind::Cancelled)
                }
                _ if kind_of_call == CallKind::OneToOne => EndReason::new(EndKind::RemoteHangUp),
                _ => EndReason::new(EndKind::Cancelled),
            };
            self.end_call_with(call_id, &for_others, None);
        }
    }

    /// Ends the whole call: every participant gets `kind` (except `except`, who gets a
    /// plain hang-up), ringing devices stop ringing.
    pub(super) fn end_call(
        &mut self,
        call_id: CallId,
        kind: EndKind,
        except: Option<ParticipantId>,
    ) {
        self.end_call_with(call_id, &EndReason::new(kind), except);
    }

    /// [`end_call`](Switchboard::end_call) with a reason of its own.
    pub(super) fn end_call_with(
        &mut self,
        call_id: CallId,
        reason: &EndReason,
        except: Option<ParticipantId>,
    ) {
        let kind = reason.kind;
        let Some(call) = self.calls.remove(&call_id) else {
            return;
        };
        if let Some(group) = call.group_id {
            self.groups.remove(&group);
        }
        for p in call.participants.into_values() {
            if p.state == ParticipantState::Idle {
                let ring_kind = if kind == EndKind::RemoteHangUp {
                    EndKind::Cancelled
                } else {
                    kind
                };
                if p.phone {
                    self.phone_command(PhoneCommand::HangUp {
                        call_id,
                        participant: p.id,
                        reason: EndReason::new(ring_kind),
                    });
                }
                self.stop_ringing(call_id, &p.identity, ring_kind);
                continue;
            }
            let own = if Some(p.id) == except {
                EndReason::new(EndKind::HangUp)
            } else {
                reason.clone()
            };
            if p.phone {
                self.phone_command(PhoneCommand::HangUp {
                    call_id,
                    participant: p.id,
                    reason: own.clone(),
                });
            }
            self.tell_ended(call_id, p.conn, p.call_state, own);
            self.media(MediaCommand::Leave {
                call_id,
                participant: p.id,
            });
        }
        self.media(MediaCommand::CallEnded { call_id });
        tracing::info!(%call_id, ?kind, "call ended");
    }

    fn tell_ended(
        &mut self,
        call_id: CallId,
        conn: Option<ConnectionId>,
        state: crate::CallState,
        reason: EndReason,
    ) {
        let Some(conn) = conn else { return };
        if state.on(CallEvent::HangUp).is_ok() {
            self.event(
                conn,
                ServerMessage::CallState {
                    call_id,
                    state: crate::CallState::Disconnecting,
                    reason: None,
                },
            );
        }
        self.event(
            conn,
            ServerMessage::CallState {
                call_id,
                state: crate::CallState::Disconnected,
                reason: Some(reason),
            },
        );
    }

    /// Tells every device of `identity` that the call no longer rings.
    pub(super) fn stop_ringing(&mut self, call_id: CallId, identity: &Identity, kind: EndKind) {
        let conns: Vec<ConnectionId> = self
            .online
            .get(identity)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        for conn in conns {
            self.event(
                conn,
                ServerMessage::IncomingCallEnded {
                    call_id,
                    reason: EndReason::new(kind),
                },
            );
        }
    }

    pub(super) fn session(&self, conn: ConnectionId) -> Result<&Session, Refusal> {
        match self.sessions.get(&conn) {
            Some(s) if s.identity.is_some() => Ok(s),
            _ => refuse(ErrorCode::NotAuthenticated, "send hello first"),
        }
    }
}

/// A call as the service's HTTP API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallSummary {
    /// The call.
    pub call_id: CallId,
    /// Its group, if it has one.
    pub group_id: Option<uuid::Uuid>,
    /// Still a 1:1 call (not promoted).
    pub one_to_one: bool,
    /// Joiners wait in a lobby.
    pub lobby: bool,
    /// Everyone in it, ringing ones included.
    pub participants: Vec<crate::protocol::RosterEntry>,
}

impl Switchboard {
    fn summary(call: &super::call::Call) -> CallSummary {
        CallSummary {
            call_id: call.id,
            group_id: call.group_id,
            one_to_one: call.kind == CallKind::OneToOne,
            lobby: call.lobby,
            participants: call.roster(),
        }
    }

    /// Every running call.
    pub fn calls(&self) -> Vec<CallSummary> {
        let mut calls: Vec<CallSummary> = self.calls.values().map(Switchboard::summary).collect();
        calls.sort_by_key(|c| c.call_id);
        calls
    }

    /// One call, if it runs.
    pub fn call(&self, call_id: CallId) -> Option<CallSummary> {
        self.calls.get(&call_id).map(Switchboard::summary)
    }

    /// Ends a call from the service's side (an administrator); participants hear "ended by
    /// the organizer". Returns whether the call existed.
    pub fn end_call_from_service(&mut self, call_id: CallId) -> bool {
        let existed = self.calls.contains_key(&call_id);
        self.end_call(call_id, EndKind::EndedByOrganizer, None);
        existed
    }

    /// Open connections (authenticated or not).
    pub fn connection_count(&self) -> usize {
        self.sessions.len()
    }
}
