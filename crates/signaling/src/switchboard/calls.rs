//! Starting, joining, ringing, answering and leaving calls.

use std::time::Instant;

use uuid::Uuid;

use super::call::{Call, CallKind};
use super::{ConnectionId, MediaCommand, PhoneCommand, Refusal, Switchboard, refuse};
use crate::protocol::{CallId, ErrorCode, ParticipantId, ServerMessage};
use crate::{
    Action, CallEvent, CallState, EndKind, Identity, ParticipantEvent, ParticipantState, Role,
    Scope, authorize,
};

/// The answer to a request that created or joined a call.
fn joined(call_id: CallId, pid: ParticipantId) -> ServerMessage {
    ServerMessage::Ok {
        call_id: Some(call_id),
        participant: Some(pid),
    }
}

impl Switchboard {
    /// The caller's identity, display name, endpoint and role for a call it starts or joins.
    fn caller(
        &self,
        conn: ConnectionId,
        starts: bool,
    ) -> Result<(Identity, String, Option<String>, Role), Refusal> {
        let s = self.session(conn)?;
        let identity = s
            .identity
            .clone()
            .ok_or((ErrorCode::NotAuthenticated, String::new()))?;
        let role = if starts || s.scopes.contains(&Scope::Admin) {
            Role::Organizer
        } else if identity.is_bot() {
            Role::Bot
        } else {
            Role::Attendee
        };
        Ok((identity, s.display_name.clone(), s.endpoint.clone(), role))
    }

    /// Puts an Idle participant into the call proper on `conn` and tells everyone.
    fn enter(
        &mut self,
        call_id: CallId,
        pid: ParticipantId,
        conn: ConnectionId,
        endpoint: Option<String>,
        video: bool,
        lobby: bool,
    ) {
        let Some(p) = self.participant_mut(call_id, pid) else {
            return;
        };
        p.conn = Some(conn);
        p.endpoint = endpoint;
        p.video = video;
        p.ring_deadline = None;
        let event = if lobby {
            ParticipantEvent::EnterLobby
        } else {
            ParticipantEvent::Join
        };
        if let Ok(next) = p.state.on(event) {
            p.state = next;
        }
        let identity = p.identity.clone();
        self.send_call_state(call_id, pid);
        if !lobby {
            self.send_roster(call_id, pid);
            self.media(MediaCommand::Join {
                call_id,
                participant: pid,
                identity,
            });
        }
        self.announce(call_id, &[pid]);
    }

    pub(super) fn create_call(
        &mut self,
        conn: ConnectionId,
        group_id: Option<Uuid>,
        lobby: bool,
        video: bool,
    ) -> Result<ServerMessage, Refusal> {
        if let Some(existing) = group_id.and_then(|g| self.groups.get(&g).copied()) {
            return self.join_call(conn, Some(existing), None, video);
        }
        let (identity, name, endpoint, role) = self.caller(conn, true)?;
        let mut call = Call::new(CallKind::Group, group_id, lobby);
        let call_id = call.id;
        let pid = call.add(identity, name, role, CallState::Connecting);
        if let Some(p) = call.participants.get_mut(&pid) {
            p.established = true;
        }
        self.calls.insert(call_id, call);
        if let Some(group) = group_id {
            self.groups.insert(group, call_id);
        }
        tracing::info!(%call_id, ?group_id, lobby, "group call created");
        self.enter(call_id, pid, conn, endpoint, video, false);
        Ok(joined(call_id, pid))
    }

    pub(super) fn join_call(
        &mut self,
        conn: ConnectionId,
        call_id: Option<CallId>,
        group_id: Option<Uuid>,
        video: bool,
    ) -> Result<ServerMessage, Refusal> {
        let call_id = match (call_id, group_id) {
            (Some(id), _) => id,
            (None, Some(group)) => match self.groups.get(&group) {
                Some(id) => *id,
                None => {
                    return refuse(
                        ErrorCode::CallNotFound,
                        format!("no call for group {group}"),
                    );
                }
            },
            (None, None) => {
                return refuse(
                    ErrorCode::InvalidMessage,
                    "join_call needs call_id or group_id",
                );
            }
        };
        let (identity, name, endpoint, role) = self.caller(conn, false)?;
        let max = self.config.max_participants;
        let Some(call) = self.calls.get_mut(&call_id) else {
            return refuse(ErrorCode::CallNotFound, format!("no call {call_id}"));
        };
        if call.kind == CallKind::OneToOne {
            return refuse(
                ErrorCode::Forbidden,
                "a 1:1 call is joined by invitation only",
            );
        }
        if let Some(pid) = call.on_connection(conn) {
            // Already in it (a device that reconnected and got its place back, asking again
            // through another node of a cluster): that place, with the call's state anew.
            self.send_call_state(call_id, pid);
            self.send_roster(call_id, pid);
            return Ok(joined(call_id, pid));
        }
        // Someone invited who joins by id instead of answering: that is an answer.
        if let Some(pid) = call.ringing_for(&identity) {
            return self.answer(conn, call_id, pid, video);
        }
        if call.live_count() >= max {
            return refuse(
                ErrorCode::InvalidState,
                format!("the call is full ({max} participants)"),
            );
        }
        let waits = call.lobby && role != Role::Organizer;
        let pid = call.add(identity, name, role, CallState::Connecting);
        if let Some(p) = call.participants.get_mut(&pid) {
            p.established = true;
        }
        tracing::info!(%call_id, %pid, in_lobby = waits, "joined");
        self.enter(call_id, pid, conn, endpoint, video, waits);
        Ok(joined(call_id, pid))
    }

    pub(super) fn place_call(
        &mut self,
        conn: ConnectionId,
        to: &Identity,
        video: bool,
        resumes: Option<CallId>,
        now: Instant,
    ) -> Result<ServerMessage, Refusal> {
        let (identity, name, endpoint, role) = self.caller(conn, true)?;
        if to == &identity {
            return refuse(ErrorCode::InvalidMessage, "cannot call yourself");
        }
        let mut call = Call::new(CallKind::OneToOne, None, false);
        call.resumes = resumes;
        let call_id = call.id;
        let caller = call.add(identity.clone(), name, role, CallState::Connecting);
        let callee = call.add(
            to.clone(),
            to.to_string(),
            if to.is_bot() {
                Role::Bot
            } else {
                Role::Attendee
            },
            CallState::Incoming,
        );
        if let Some(p) = call.participants.get_mut(&callee) {
            p.ring_deadline = Some(now + self.config.ring_timeout);
            p.invited_by = Some(identity.clone());
        }
        self.calls.insert(call_id, call);
        tracing::info!(%call_id, from = %identity, %to, "1:1 call placed");
        self.enter(call_id, caller, conn, endpoint, video, false);
        self.ring(call_id, callee, video);
        self.wait_for_device(call_id, callee, now);
        Ok(joined(call_id, caller))
    }

    /// Rings every device of an Idle participant; ends it as unavailable if none is online.
    /// A participant rung with no device to ring yet waits `device_wait` for one.
    fn wait_for_device(&mut self, call_id: CallId, pid: ParticipantId, now: Instant) {
        let Some(wait) = self.config.device_wait else {
            return;
        };
        if let Some(p) = self.participant_mut(call_id, pid)
            && p.awaiting_device
        {
            p.ring_deadline = Some(now + wait);
        }
    }

    pub(super) fn ring(&mut self, call_id: CallId, pid: ParticipantId, video: bool) {
        let Some(call) = self.calls.get(&call_id) else {
            return;
        };
        let Some(p) = call.participants.get(&pid) else {
            return;
        };
        let group = call.kind == CallKind::Group;
        let resumes = call.resumes.filter(|_| !group);
        let from = p.invited_by.clone().unwrap_or_else(|| p.identity.clone());
        let from_name = self
            .online
            .get(&from)
            .and_then(|conns| conns.iter().next())
            .and_then(|c| self.sessions.get(c))
            .map_or_else(|| from.to_string(), |s| s.display_name.clone());
        if let Identity::Phone(number) = &p.identity {
            if number.is_empty() {
                // A withheld number cannot be dialled.
                self.end_participation(call_id, pid, EndKind::Unavailable);
                return;
            }
            // A phone rings through the SIP gateway; its answer comes back from there.
            let command = PhoneCommand::Dial {
                call_id,
                participant: pid,
                number: number.clone(),
                caller: from,
                caller_name: from_name,
            };
            if let Some(p) = self.participant_mut(call_id, pid) {
                p.phone = true;
            }
            self.phone_command(command);
            return;
        }
        let devices: Vec<ConnectionId> = self
            .online
            .get(&p.identity)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        if devices.is_empty() {
            if self.config.device_wait.is_none() {
                self.end_participation(call_id, pid, EndKind::Unavailable);
                return;
            }
            // Devices may come from other nodes: ring (the caller hears it) meanwhile.
            if let Some(p) = self.participant_mut(call_id, pid) {
                p.awaiting_device = true;
            }
        }
        for conn in devices {
            self.event(
                conn,
                ServerMessage::IncomingCall {
                    call_id,
                    from: from.clone(),
                    from_name: from_name.clone(),
                    group,
                    video,
                    resumes,
                },
            );
        }
        // The caller of a 1:1 call hears ringing.
        if !group {
            let callers: Vec<ParticipantId> = self
                .calls
                .get(&call_id)
                .into_iter()
                .flat_map(|c| c.participants.values())
                .filter(|q| q.id != pid && q.state != ParticipantState::Idle)
                .map(|q| q.id)
                .collect();
            for caller in callers {
                self.move_call_state(call_id, caller, CallEvent::Ringing);
            }
        }
    }

    /// The caller's own participation that is ringing in `call_id`.
    fn ringing_here(&self, conn: ConnectionId, call_id: CallId) -> Result<ParticipantId, Refusal> {
        let identity = self.caller(conn, false)?.0;
        let Some(call) = self.calls.get(&call_id) else {
            return refuse(
                ErrorCode::CallNotFound,
                format!("no call {call_id} (it may have ended)"),
            );
        };
        match call.ringing_for(&identity) {
            Some(pid) => Ok(pid),
            None => refuse(ErrorCode::InvalidState, "this call is not ringing for you"),
        }
    }

    pub(super) fn accept_call(
        &mut self,
        conn: ConnectionId,
        call_id: CallId,
        video: bool,
    ) -> Result<ServerMessage, Refusal> {
        let pid = self.ringing_here(conn, call_id)?;
        self.answer(conn, call_id, pid, video)
    }

    /// An invited participant answers on `conn`.
    fn answer(
        &mut self,
        conn: ConnectionId,
        call_id: CallId,
        pid: ParticipantId,
        video: bool,
    ) -> Result<ServerMessage, Refusal> {
        let session = self.session(conn)?;
        let (endpoint, name) = (session.endpoint.clone(), session.display_name.clone());
        let Some(p) = self.participant_mut(call_id, pid) else {
            return refuse(ErrorCode::CallNotFound, "the call ended");
        };
        p.established = true;
        // Until now the roster knew the callee only by identity; the answering device
        // says what it is called.
        if !name.is_empty() {
            p.display_name = name;
        }
        // Incoming → Connecting before the participant has a connection, so the first state
        // its device hears is Connecting.
        if let Ok(next) = p.call_state.on(CallEvent::Accept) {
            p.call_state = next;
        }
        let identity = p.identity.clone();
        // Other devices of the same identity stop ringing.
        let others: Vec<ConnectionId> = self
            .online
            .get(&identity)
            .into_iter()
            .flatten()
            .copied()
            .filter(|c| *c != conn)
            .collect();
        for other in others {
            self.event(
                other,
                ServerMessage::IncomingCallEnded {
                    call_id,
                    reason: crate::EndReason::new(EndKind::AnsweredElsewhere),
                },
            );
        }
        self.enter(call_id, pid, conn, endpoint, video, false);
        // The 1:1 caller's call is now answered.
        let waiting: Vec<(ParticipantId, bool, bool)> = self
            .calls
            .get_mut(&call_id)
            .into_iter()
            .flat_map(|c| c.participants.values_mut())
            .filter(|q| q.id != pid && !q.established && q.state != ParticipantState::Idle)
            .map(|q| {
                q.established = true;
                (q.id, q.media_connected, q.phone)
            })
            .collect();
        for (caller, media, phone) in waiting {
            if phone {
                // A phone that called in is answered now (SIP 200 OK).
                self.phone_command(PhoneCommand::Answer {
                    call_id,
                    participant: caller,
                });
            }
            if media {
                self.move_call_state(call_id, caller, CallEvent::Connected);
            }
        }
        tracing::info!(%call_id, %pid, "answered");
        Ok(joined(call_id, pid))
    }

    pub(super) fn reject_call(
        &mut self,
        conn: ConnectionId,
        call_id: CallId,
    ) -> Result<ServerMessage, Refusal> {
        let pid = self.ringing_here(conn, call_id)?;
        self.end_participation(call_id, pid, EndKind::Rejected);
        Ok(ServerMessage::Ok {
            call_id: Some(call_id),
            participant: None,
        })
    }

    pub(super) fn cancel_call(
        &mut self,
        conn: ConnectionId,
        call_id: CallId,
    ) -> Result<ServerMessage, Refusal> {
        let (call, pid) = self.own(conn, call_id)?;
        let unanswered = call.kind == CallKind::OneToOne
            && call
                .participants
                .values()
                .any(|p| p.state == ParticipantState::Idle);
        if !unanswered {
            return refuse(
                ErrorCode::InvalidState,
                "only an unanswered 1:1 call can be cancelled; use leave",
            );
        }
        self.end_call(call_id, EndKind::Cancelled, Some(pid));
        Ok(ServerMessage::Ok {
            call_id: Some(call_id),
            participant: None,
        })
    }

    pub(super) fn invite(
        &mut self,
        conn: ConnectionId,
        call_id: CallId,
        identity: &Identity,
        now: Instant,
    ) -> Result<ServerMessage, Refusal> {
        let ring_timeout = self.config.ring_timeout;
        let (call, pid) = self.own(conn, call_id)?;
        let me = &call.participants[&pid];
        if !me.is_active() {
            return refuse(
                ErrorCode::InvalidState,
                "wait to be admitted before inviting",
            );
        }
        let action = if identity.is_phone() {
            Action::DialOut
        } else {
            Action::Invite
        };
        authorize(me.role, action)
            .or_else(|code| refuse(code, format!("your role may not {action:?}")))?;
        if call.has_identity(identity) {
            return refuse(
                ErrorCode::InvalidState,
                format!("{identity} is already in the call"),
            );
        }
        let inviter = me.identity.clone();
        let video = me.video;
        if call.kind == CallKind::OneToOne {
            // Promotion in place: same call, same participants, same media.
            call.kind = CallKind::Group;
            tracing::info!(%call_id, "1:1 call promoted to a group call");
        }
        let role = if identity.is_bot() {
            Role::Bot
        } else {
            Role::Attendee
        };
        let invitee = call.add(
            identity.clone(),
            identity.to_string(),
            role,
            CallState::Incoming,
        );
        if let Some(p) = call.participants.get_mut(&invitee) {
            p.ring_deadline = Some(now + ring_timeout);
            p.invited_by = Some(inviter);
        }
        self.announce(call_id, &[invitee]);
        self.ring(call_id, invitee, video);
        self.wait_for_device(call_id, invitee, now);
        Ok(ServerMessage::Ok {
            call_id: Some(call_id),
            participant: Some(invitee),
        })
    }

    pub(super) fn leave(
        &mut self,
        conn: ConnectionId,
        call_id: CallId,
    ) -> Result<ServerMessage, Refusal> {
        let (_, pid) = self.own(conn, call_id)?;
        self.end_participation(call_id, pid, EndKind::HangUp);
        Ok(ServerMessage::Ok {
            call_id: Some(call_id),
            participant: None,
        })
    }

    pub(super) fn end_for_all(
        &mut self,
        conn: ConnectionId,
        call_id: CallId,
    ) -> Result<ServerMessage, Refusal> {
        let (call, pid) = self.own(conn, call_id)?;
        let role = call.participants[&pid].role;
        authorize(role, Action::EndForAll)
            .or_else(|code| refuse(code, "only an organizer can end the call for everyone"))?;
        self.end_call(call_id, EndKind::EndedByOrganizer, Some(pid));
        Ok(ServerMessage::Ok {
            call_id: Some(call_id),
            participant: None,
        })
    }
}
