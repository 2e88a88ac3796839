//! Phone participants: people on `4:+E.164` numbers whose legs live in the SIP gateway, not
//! on a signaling connection. The gateway tells the switchboard what the phone did (called
//! in, rang, sent early media, answered, hung up, held, pressed a key) and hears back what
//! the call wants of the phone ([`PhoneCommand`]s: dial, answer, hang up, send keys).

use std::time::Instant;

use uuid::Uuid;

use super::call::{Call, CallKind};
use super::{MediaCommand, Output, Switchboard};
use crate::protocol::{CallId, ErrorCode, ParticipantId, ServerMessage};
use crate::{CallEvent, CallState, EndReason, Identity, ParticipantEvent, ParticipantState, Role};

/// Most keys one `send_dtmf` may carry.
pub const MAX_DTMF_DIGITS: usize = 32;

/// What the call wants of a phone; the SIP gateway carries it out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhoneCommand {
    /// Ring a phone number (an outgoing SIP INVITE); report back with
    /// [`Switchboard::phone_progress`], [`Switchboard::phone_answered`] or
    /// [`Switchboard::phone_ended`].
    Dial {
        /// The call.
        call_id: CallId,
        /// The phone's participant (state Idle until it answers).
        participant: ParticipantId,
        /// E.164 digits without the `+`.
        number: String,
        /// Who calls (shown to the phone as caller id where the trunk allows).
        caller: Identity,
        /// The caller's display name.
        caller_name: String,
    },
    /// The person a phone called answered: answer the phone's INVITE (200 OK).
    Answer {
        /// The call.
        call_id: CallId,
        /// The phone.
        participant: ParticipantId,
    },
    /// The phone's participation is over: hang up (BYE), cancel a ringing dial-out
    /// (CANCEL) or refuse a call not yet answered (a final error response).
    HangUp {
        /// The call.
        call_id: CallId,
        /// The phone.
        participant: ParticipantId,
        /// Why.
        reason: EndReason,
    },
    /// Press keys toward the phone (RFC 4733, or SIP INFO).
    SendDtmf {
        /// The call.
        call_id: CallId,
        /// The phone.
        participant: ParticipantId,
        /// The keys, already checked.
        digits: String,
    },
}

/// Where a call from a phone goes (the gateway's routing table picks one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneRoute {
    /// Ring this identity: a 1:1 call from the phone.
    Identity(Identity),
    /// Join the group's call (starting it if none runs).
    Group(Uuid),
}

/// Why a phone's call could not be put through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct PhoneRefusal {
    /// The code a client would get.
    pub code: ErrorCode,
    /// Words for the log.
    pub message: String,
}

fn refusal(code: ErrorCode, message: impl Into<String>) -> PhoneRefusal {
    PhoneRefusal {
        code,
        message: message.into(),
    }
}

impl Switchboard {
    pub(super) fn phone_command(&mut self, command: PhoneCommand) {
        self.outputs.push_back(Output::Phone(command));
    }

    /// A phone's participant, if it is one.
    fn phone_mut(
        &mut self,
        call_id: CallId,
        pid: ParticipantId,
    ) -> Option<&mut super::Participant> {
        self.participant_mut(call_id, pid).filter(|p| p.phone)
    }

    /// A phone calls in (an incoming INVITE the gateway routed): it joins a group call, or
    /// places a 1:1 call to an identity, which rings. The gateway answers the INVITE at
    /// once for a group, and on [`PhoneCommand::Answer`] for an identity.
    pub fn phone_call_in(
        &mut self,
        from: &Identity,
        display_name: String,
        route: &PhoneRoute,
        now: Instant,
    ) -> Result<(CallId, ParticipantId), PhoneRefusal> {
        if !from.is_phone() {
            return Err(refusal(
                ErrorCode::InvalidMessage,
                format!("{from} is not a phone number"),
            ));
        }
        let name = if display_name.is_empty() {
            from.to_string()
        } else {
            display_name
        };
        match route {
            PhoneRoute::Group(group) => {
                let max = self.config.max_participants;
                let call_id = match self.groups.get(group) {
                    Some(id) => *id,
                    None => {
                        let call = Call::new(CallKind::Group, Some(*group), false);
                        let id = call.id;
                        self.calls.insert(id, call);
                        self.groups.insert(*group, id);
                        tracing::info!(call_id = %id, %group, "group call started by a phone");
                        id
                    }
                };
                let Some(call) = self.calls.get_mut(&call_id) else {
                    return Err(refusal(ErrorCode::CallNotFound, "the call ended"));
                };
                if call.live_count() >= max {
                    return Err(refusal(
                        ErrorCode::InvalidState,
                        format!("the call is full ({max} participants)"),
                    ));
                }
                let pid = call.add(from.clone(), name, Role::Attendee, CallState::Connecting);
                if let Some(p) = call.participants.get_mut(&pid) {
                    p.phone = true;
                    p.established = true;
                }
                tracing::info!(%call_id, %pid, %from, "phone joined a group call");
                self.enter_phone(call_id, pid);
                Ok((call_id, pid))
            }
            PhoneRoute::Identity(to) => {
                if to == from {
                    return Err(refusal(ErrorCode::InvalidMessage, "cannot call yourself"));
                }
                let mut call = Call::new(CallKind::OneToOne, None, false);
                let call_id = call.id;
                let caller = call.add(from.clone(), name, Role::Organizer, CallState::Connecting);
                if let Some(p) = call.participants.get_mut(&caller) {
                    p.phone = true;
                }
                let role = if to.is_bot() {
                    Role::Bot
                } else {
                    Role::Attendee
                };
                let callee = call.add(to.clone(), to.to_string(), role, CallState::Incoming);
                if let Some(p) = call.participants.get_mut(&callee) {
                    p.ring_deadline = Some(now + self.config.ring_timeout);
                    p.invited_by = Some(from.clone());
                }
                self.calls.insert(call_id, call);
                tracing::info!(%call_id, %from, %to, "phone placed a 1:1 call");
                self.enter_phone(call_id, caller);
                self.ring(call_id, callee, false);
                if !self.calls.contains_key(&call_id) {
                    // Nobody to ring: the call ended at once. The gateway hears a refusal,
                    // not a hang-up of a leg it does not know yet.
                    self.outputs.retain(|o| {
                        !matches!(o, Output::Phone(PhoneCommand::HangUp { call_id: c, participant: p, .. })
                            if *c == call_id && *p == caller)
                    });
                    return Err(refusal(
                        ErrorCode::ParticipantNotFound,
                        format!("{to} is not available"),
                    ));
                }
                Ok((call_id, caller))
            }
        }
    }

    /// Puts a phone participant into the call proper: roster, media.
    fn enter_phone(&mut self, call_id: CallId, pid: ParticipantId) {
        let Some(p) = self.participant_mut(call_id, pid) else {
            return;
        };
        p.ring_deadline = None;
        if let Ok(next) = p.state.on(ParticipantEvent::Join) {
            p.state = next;
        }
        let identity = p.identity.clone();
        self.media(MediaCommand::Join {
            call_id,
            participant: pid,
            identity,
        });
        self.announce(call_id, &[pid]);
    }

    /// A dialled phone rings (180) or plays early media (183 with SDP: ringback or an
    /// announcement, heard in the call before the answer).
    pub fn phone_progress(&mut self, call_id: CallId, pid: ParticipantId, early_media: bool) {
        let Some(p) = self.phone_mut(call_id, pid) else {
            return;
        };
        if early_media && p.state == ParticipantState::Idle {
            if let Ok(next) = p.state.on(ParticipantEvent::EarlyMedia) {
                p.state = next;
            }
            let identity = p.identity.clone();
            self.media(MediaCommand::Join {
                call_id,
                participant: pid,
                identity,
            });
            self.announce(call_id, &[pid]);
        }
        // The 1:1 caller hears the phone ringing, or its early media.
        if self.calls.get(&call_id).map(|c| c.kind) == Some(CallKind::OneToOne) {
            let event = if early_media {
                CallEvent::EarlyMedia
            } else {
                CallEvent::Ringing
            };
            for caller in self.others(call_id, pid) {
                self.move_call_state(call_id, caller, event);
            }
        }
    }

    /// A dialled phone answered (200 OK).
    pub fn phone_answered(&mut self, call_id: CallId, pid: ParticipantId) {
        let Some(p) = self.phone_mut(call_id, pid) else {
            return;
        };
        let had_media = p.state == ParticipantState::EarlyMedia;
        p.established = true;
        p.ring_deadline = None;
        if let Ok(next) = p.call_state.on(CallEvent::Accept) {
            p.call_state = next;
        }
        if had_media {
            // Media already flows: the phone is in the call proper as soon as it answers.
            if let Ok(next) = p.state.on(ParticipantEvent::Join) {
                p.state = next;
            }
            let media = p.media_connected;
            if media && let Ok(next) = p.state.on(ParticipantEvent::MediaConnected) {
                p.state = next;
            }
            self.announce(call_id, &[pid]);
        } else {
            self.enter_phone(call_id, pid);
        }
        tracing::info!(%call_id, %pid, "phone answered");
        // The 1:1 caller's call is answered now.
        let waiting: Vec<(ParticipantId, bool)> = self
            .calls
            .get_mut(&call_id)
            .into_iter()
            .flat_map(|c| c.participants.values_mut())
            .filter(|q| q.id != pid && !q.established && q.state != ParticipantState::Idle)
            .map(|q| {
                q.established = true;
                (q.id, q.media_connected)
            })
            .collect();
        for (caller, media) in waiting {
            if media {
                self.move_call_state(call_id, caller, CallEvent::Connected);
            }
        }
        if self
            .participant_mut(call_id, pid)
            .is_some_and(|p| p.media_connected)
        {
            self.move_call_state(call_id, pid, CallEvent::Connected);
        }
    }

    /// The phone's side ended its participation: it hung up (BYE), gave up calling
    /// (CANCEL), or a dial-out failed (busy, declined, no answer...) — `reason` carries the
    /// SIP status as subcode. The gateway already knows: no [`PhoneCommand`] comes back.
    pub fn phone_ended(&mut self, call_id: CallId, pid: ParticipantId, reason: EndReason) {
        let Some(p) = self.phone_mut(call_id, pid) else {
            return;
        };
        // The leg is gone already: nothing to hang up.
        p.phone = false;
        self.end_participation_with(call_id, pid, reason);
    }

    /// The phone put the call on hold (re-INVITE with `sendonly`/`inactive`) or resumed.
    pub fn phone_hold(&mut self, call_id: CallId, pid: ParticipantId, on: bool) {
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
        let Some(p) = self.phone_mut(call_id, pid) else {
            return;
        };
        match (p.state.on(event), p.call_state.on(own)) {
            (Ok(state), Ok(call_state)) => {
                p.state = state;
                p.call_state = call_state;
            }
            _ => {
                tracing::debug!(%call_id, %pid, on, state = ?p.state, "phone hold ignored");
                return;
            }
        }
        if self.calls.get(&call_id).map(|c| c.kind) == Some(CallKind::OneToOne) {
            for other in self.others(call_id, pid) {
                self.move_call_state(call_id, other, remote);
            }
        }
        self.announce(call_id, &[pid]);
        self.flags(call_id, pid);
    }

    /// The phone pressed a key: everyone in the call hears of it.
    pub fn phone_dtmf(
        &mut self,
        call_id: CallId,
        pid: ParticipantId,
        digit: char,
        duration_ms: u32,
    ) {
        if self.phone_mut(call_id, pid).is_none() {
            return;
        }
        tracing::info!(%call_id, %pid, %digit, duration_ms, "DTMF from a phone");
        self.broadcast(
            call_id,
            &ServerMessage::Dtmf {
                call_id,
                participant: pid,
                digit,
                duration_ms,
            },
        );
    }

    /// The service (its administrator, through the HTTP API) rings `identity` into a call:
    /// a phone number is dialled out, anyone else rings on their devices. A 1:1 call is
    /// promoted to a group in place.
    pub fn invite_from_service(
        &mut self,
        call_id: CallId,
        identity: &Identity,
        now: Instant,
    ) -> Result<ParticipantId, PhoneRefusal> {
        let ring_timeout = self.config.ring_timeout;
        let Some(call) = self.calls.get_mut(&call_id) else {
            return Err(refusal(
                ErrorCode::CallNotFound,
                format!("no call {call_id}"),
            ));
        };
        if call.has_identity(identity) {
            return Err(refusal(
                ErrorCode::InvalidState,
                format!("{identity} is already in the call"),
            ));
        }
        if call.kind == CallKind::OneToOne {
            call.kind = CallKind::Group;
            tracing::info!(%call_id, "1:1 call promoted to a group call by the service");
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
        }
        self.announce(call_id, &[invitee]);
        self.ring(call_id, invitee, false);
        Ok(invitee)
    }

    /// Everyone else in the call.
    fn others(&self, call_id: CallId, pid: ParticipantId) -> Vec<ParticipantId> {
        self.calls
            .get(&call_id)
            .into_iter()
            .flat_map(|c| c.participants.keys())
            .copied()
            .filter(|q| *q != pid)
            .collect()
    }

    /// `send_dtmf` from a participant: keys toward one phone or every phone in the call.
    pub(super) fn send_dtmf(
        &mut self,
        conn: super::ConnectionId,
        call_id: CallId,
        digits: &str,
        target: Option<ParticipantId>,
    ) -> Result<ServerMessage, super::Refusal> {
        let valid = !digits.is_empty()
            && digits.chars().count() <= MAX_DTMF_DIGITS
            && digits
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D' | 'a'..='d'));
        if !valid {
            return super::refuse(
                ErrorCode::InvalidMessage,
                format!("digits must be 1–{MAX_DTMF_DIGITS} of 0-9, *, #, A-D"),
            );
        }
        self.in_media(conn, call_id)?;
        let Some(call) = self.calls.get(&call_id) else {
            return super::refuse(ErrorCode::CallNotFound, "the call ended");
        };
        let phones: Vec<ParticipantId> = call
            .participants
            .values()
            .filter(|p| {
                p.phone
                    && matches!(
                        p.state,
                        ParticipantState::EarlyMedia
                            | ParticipantState::Connecting
                            | ParticipantState::Connected
                            | ParticipantState::OnHold
                    )
            })
            .filter(|p| target.is_none_or(|t| t == p.id))
            .map(|p| p.id)
            .collect();
        if phones.is_empty() {
            return super::refuse(
                ErrorCode::ParticipantNotFound,
                match target {
                    Some(t) => format!("{t} is not a phone in this call"),
                    None => "no phone in this call".to_string(),
                },
            );
        }
        let digits = digits.to_ascii_uppercase();
        for participant in phones {
            self.phone_command(PhoneCommand::SendDtmf {
                call_id,
                participant,
                digits: digits.clone(),
            });
        }
        Ok(ServerMessage::Ok {
            call_id: Some(call_id),
            participant: None,
        })
    }
}
