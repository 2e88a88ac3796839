//! Requests within a call: media negotiation, subscriptions, mute, hold, video, screen
//! share, lobby and removal — each checked against the caller's role.

use std::time::Instant;

use super::{ConnectionId, MediaCommand, Refusal, Switchboard, refuse};
use crate::protocol::{CallId, ClientMessage, ErrorCode, ParticipantId, ServerMessage};
use crate::{Action, CallEvent, EndKind, ParticipantEvent, ParticipantState, authorize};

fn ok(call_id: CallId) -> ServerMessage {
    ServerMessage::Ok {
        call_id: Some(call_id),
        participant: None,
    }
}

impl Switchboard {
    /// Handles every message after `hello` (and except `ping`).
    pub(super) fn request(
        &mut self,
        conn: ConnectionId,
        message: ClientMessage,
        now: Instant,
    ) -> Result<ServerMessage, Refusal> {
        use ClientMessage as M;
        match message {
            M::Hello { .. } => refuse(
                ErrorCode::AlreadyAuthenticated,
                "hello was already accepted",
            ),
            M::Ping => Ok(ServerMessage::Pong),
            M::CreateCall {
                group_id,
                lobby,
                video,
            } => self.create_call(conn, group_id, lobby, video),
            M::JoinCall {
                call_id,
                group_id,
                video,
            } => self.join_call(conn, call_id, group_id, video),
            M::PlaceCall { to, video, resumes } => self.place_call(conn, &to, video, resumes, now),
            M::AcceptCall { call_id, video } => self.accept_call(conn, call_id, video),
            M::RejectCall { call_id } => self.reject_call(conn, call_id),
            M::CancelCall { call_id } => self.cancel_call(conn, call_id),
            M::Invite { call_id, identity } => self.invite(conn, call_id, &identity, now),
            M::Leave { call_id } => self.leave(conn, call_id),
            M::EndCall { call_id } => self.end_for_all(conn, call_id),
            M::SdpOffer { call_id, sdp } => {
                let participant = self.in_media(conn, call_id)?;
                self.media(MediaCommand::Offer {
                    call_id,
                    participant,
                    sdp,
                });
                Ok(ok(call_id))
            }
            M::SdpAnswer { call_id, sdp } => {
                let participant = self.in_media(conn, call_id)?;
                self.media(MediaCommand::Answer {
                    call_id,
                    participant,
                    sdp,
                });
                Ok(ok(call_id))
            }
            M::IceCandidate { call_id, candidate } => {
                let participant = self.in_media(conn, call_id)?;
                self.media(MediaCommand::Candidate {
                    call_id,
                    participant,
                    candidate,
                });
                Ok(ok(call_id))
            }
            M::SubscribeVideo {
                call_id,
                participant: target,
                max_width,
                max_height,
            } => {
                let participant = self.in_media(conn, call_id)?;
                self.existing(call_id, target)?;
                self.media(MediaCommand::Subscribe {
                    call_id,
                    participant,
                    target,
                    max_width,
                    max_height,
                });
                Ok(ok(call_id))
            }
            M::UnsubscribeVideo {
                call_id,
                participant: target,
            } => {
                let participant = self.in_media(conn, call_id)?;
                self.media(MediaCommand::Unsubscribe {
                    call_id,
                    participant,
                    target,
                });
                Ok(ok(call_id))
            }
            M::MuteSelf { call_id, muted } => {
                let pid = self.in_media(conn, call_id)?;
                self.set_flag(call_id, pid, |p| p.muted = muted);
                Ok(ok(call_id))
            }
            M::MuteParticipant {
                call_id,
                participant: target,
            } => self.mute_other(conn, call_id, target),
            M::Hold { call_id, on } => self.hold(conn, call_id, on),
            M::Video { call_id, on } => {
                let pid = self.in_media(conn, call_id)?;
                self.set_flag(call_id, pid, |p| p.video = on);
                Ok(ok(call_id))
            }
            M::ScreenShare { call_id, active } => self.screen_share(conn, call_id, active),
            M::Admit {
                call_id,
                participant,
            } => self.lobby_decision(conn, call_id, participant, true),
            M::RejectLobby {
                call_id,
                participant,
            } => self.lobby_decision(conn, call_id, participant, false),
            M::RemoveParticipant {
                call_id,
                participant,
            } => self.remove(conn, call_id, participant),
            M::SendDtmf {
                call_id,
                digits,
                participant,
            } => self.send_dtmf(conn, call_id, &digits, participant),
        }
    }

    /// The caller's participant id, if it is in the call proper (not ringing, not waiting
    /// in the lobby).
    pub(super) fn in_media(
        &mut self,
        conn: ConnectionId,
        call_id: CallId,
    ) -> Result<ParticipantId, Refusal> {
        let (call, pid) = self.own(conn, call_id)?;
        if call.participants[&pid].is_active() {
            Ok(pid)
        } else {
            refuse(ErrorCode::InvalidState, "not admitted to the call yet")
        }
    }

    fn existing(&self, call_id: CallId, pid: ParticipantId) -> Result<(), Refusal> {
        match self
            .calls
            .get(&call_id)
            .and_then(|c| c.participants.get(&pid))
        {
            Some(_) => Ok(()),
            None => refuse(
                ErrorCode::ParticipantNotFound,
                format!("no participant {pid}"),
            ),
        }
    }

    /// Checks the caller's role for `action` in the call and returns its id.
    fn permitted(
        &mut self,
        conn: ConnectionId,
        call_id: CallId,
        action: Action,
    ) -> Result<ParticipantId, Refusal> {
        let pid = self.in_media(conn, call_id)?;
        let role = self.calls[&call_id].participants[&pid].role;
        authorize(role, action)
            .or_else(|code| refuse(code, format!("a {role:?} may not {action:?}")))?;
        Ok(pid)
    }

    /// Changes a participant's flags, then tells the roster and the media plane.
    fn set_flag(
        &mut self,
        call_id: CallId,
        pid: ParticipantId,
        change: impl FnOnce(&mut super::Participant),
    ) {
        if let Some(p) = self.participant_mut(call_id, pid) {
            change(p);
        }
        self.announce(call_id, &[pid]);
        self.flags(call_id, pid);
    }

    fn mute_other(
        &mut self,
        conn: ConnectionId,
        call_id: CallId,
        target: ParticipantId,
    ) -> Result<ServerMessage, Refusal> {
        let by = self.permitted(conn, call_id, Action::MuteOthers)?;
        self.existing(call_id, target)?;
        self.set_flag(call_id, target, |p| p.muted = true);
        self.deliver(call_id, target, ServerMessage::MutedBy { call_id, by });
        Ok(ok(call_id))
    }

    fn hold(
        &mut self,
        conn: ConnectionId,
        call_id: CallId,
        on: bool,
    ) -> Result<ServerMessage, Refusal> {
        let pid = self.in_media(conn, call_id)?;
        let (event, own, remote) = if on {
            (
                ParticipantEvent::Hold,
                CallEvent::LocalHold,
                CallEvent::RemoteHold,
            )
        } else {
            (
                ParticipantEvent::Unhold,
                CallEvent::LocalUnhold,
                CallEvent::RemoteUnhold,
            )
        };
        let Some(p) = self.participant_mut(call_id, pid) else {
            return refuse(ErrorCode::CallNotFound, "the call ended");
        };
        match (p.state.on(event), p.call_state.on(own)) {
            (Ok(state), Ok(call_state)) => {
                p.state = state;
                p.call_state = call_state;
            }
            _ => {
                return refuse(
                    ErrorCode::InvalidState,
                    format!(
                        "cannot {} now ({:?})",
                        if on { "hold" } else { "resume" },
                        p.state
                    ),
                );
            }
        }
        self.send_call_state(call_id, pid);
        // In a 1:1 call the other side sees a remote hold.
        if self.calls[&call_id].kind == super::call::CallKind::OneToOne {
            let others: Vec<ParticipantId> = self.calls[&call_id]
                .participants
                .keys()
                .copied()
                .filter(|q| *q != pid)
                .collect();
            for other in others {
                self.move_call_state(call_id, other, remote);
            }
        }
        self.announce(call_id, &[pid]);
        self.flags(call_id, pid);
        Ok(ok(call_id))
    }

    fn screen_share(
        &mut self,
        conn: ConnectionId,
        call_id: CallId,
        active: bool,
    ) -> Result<ServerMessage, Refusal> {
        let pid = self.permitted(conn, call_id, Action::ShareScreen)?;
        if active {
            // One screen share per call: a new one takes over.
            let previous: Vec<ParticipantId> = self.calls[&call_id]
                .participants
                .values()
                .filter(|p| p.screen_sharing && p.id != pid)
                .map(|p| p.id)
                .collect();
            for other in previous {
                self.set_flag(call_id, other, |p| p.screen_sharing = false);
            }
        }
        self.set_flag(call_id, pid, |p| p.screen_sharing = active);
        Ok(ok(call_id))
    }

    fn lobby_decision(
        &mut self,
        conn: ConnectionId,
        call_id: CallId,
        target: ParticipantId,
        admit: bool,
    ) -> Result<ServerMessage, Refusal> {
        self.permitted(conn, call_id, Action::ManageLobby)?;
        self.existing(call_id, target)?;
        let Some(p) = self.participant_mut(call_id, target) else {
            return refuse(
                ErrorCode::ParticipantNotFound,
                format!("no participant {target}"),
            );
        };
        if p.state != ParticipantState::InLobby {
            return refuse(
                ErrorCode::InvalidState,
                format!("{target} is not in the lobby"),
            );
        }
        if !admit {
            self.end_participation(call_id, target, EndKind::LobbyRejected);
            return Ok(ok(call_id));
        }
        if let Ok(next) = p.state.on(ParticipantEvent::Admit) {
            p.state = next;
        }
        let identity = p.identity.clone();
        tracing::info!(%call_id, %target, "admitted from the lobby");
        self.send_roster(call_id, target);
        self.media(MediaCommand::Join {
            call_id,
            participant: target,
            identity,
        });
        self.announce(call_id, &[target]);
        Ok(ok(call_id))
    }

    fn remove(
        &mut self,
        conn: ConnectionId,
        call_id: CallId,
        target: ParticipantId,
    ) -> Result<ServerMessage, Refusal> {
        let me = self.permitted(conn, call_id, Action::Remove)?;
        self.existing(call_id, target)?;
        if me == target {
            return refuse(ErrorCode::InvalidState, "use leave to leave the call");
        }
        self.end_participation(call_id, target, EndKind::Removed);
        Ok(ok(call_id))
    }
}
