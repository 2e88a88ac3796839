//! Dialling phones through the trunk (digest credentials when it asks), and keys toward
//! phones: RFC 4733 in their RTP, or SIP INFO where they did not negotiate it.

use confab_signaling::protocol::{CallId, ParticipantId};
use confab_signaling::{EndKind, EndReason, Identity};
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::invitation::InviteOption;

use super::{Gateway, GatewayRequest, Internal, Leg, Way};
use crate::dtmf::{self, Digit};
use crate::outcome::reason_for_status;
use crate::sdp::{self, Direction, LocalAudio};

/// How long one key sounds when sent by SIP INFO.
const INFO_DIGIT_MS: u32 = 100;

impl Gateway {
    fn dial_failed(&self, call_id: CallId, participant: ParticipantId, reason: EndReason) {
        self.tell(GatewayRequest::Ended {
            call_id,
            participant,
            reason,
        });
    }

    /// Rings a number through the trunk.
    pub(super) fn dial(
        &mut self,
        call_id: CallId,
        participant: ParticipantId,
        number: &str,
        caller: &Identity,
        caller_name: &str,
    ) {
        let Some((target, _)) = self.trunk.clone() else {
            tracing::warn!(%number, "dial-out with no sip.trunk configured");
            return self.dial_failed(
                call_id,
                participant,
                EndReason::from_sip(EndKind::Unavailable, 503),
            );
        };
        let trunk = self
            .config
            .trunk
            .clone()
            .unwrap_or_else(|| crate::config::Trunk {
                address: String::new(),
                domain: None,
                username: None,
                password: None,
                caller_id: None,
            });
        let domain = trunk
            .domain
            .clone()
            .unwrap_or_else(|| target.addr.to_string());
        let socket = match self.ports.bind() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("no RTP port to dial {number}: {e}");
                return self.dial_failed(
                    call_id,
                    participant,
                    EndReason::from_sip(EndKind::Unavailable, 503),
                );
            }
        };
        let Ok(local) = socket.local_addr() else {
            return self.dial_failed(call_id, participant, EndReason::new(EndKind::Unavailable));
        };
        let local_rtp = std::net::SocketAddr::new(self.advertised, local.port());
        let session_id = uuid::Uuid::new_v4().as_u64_pair().0 >> 1;
        let offer = sdp::offer(
            &LocalAudio {
                addr: local_rtp,
                session_id,
                version: 1,
            },
            Direction::SendRecv,
        );
        // Caller id: a phone's own number, else the trunk's.
        let from_user = match caller {
            Identity::Phone(digits) if !digits.is_empty() => format!("+{digits}"),
            _ => trunk.caller_id.clone().unwrap_or_else(|| "confab".into()),
        };
        let uri = |text: String| -> Option<rsipstack::sip::Uri> { text.as_str().try_into().ok() };
        let (Some(from), Some(to)) = (
            uri(format!("sip:{from_user}@{domain}")),
            uri(format!("sip:+{number}@{domain}")),
        ) else {
            return self.dial_failed(call_id, participant, EndReason::new(EndKind::Unavailable));
        };
        let credential = trunk.username.clone().map(|username| Credential {
            username,
            password: trunk.password.clone().unwrap_or_default(),
            realm: None,
            ..Default::default()
        });
        let option = InviteOption {
            caller_display_name: (!caller_name.is_empty())
                .then(|| caller_name.chars().take(64).collect()),
            caller: from,
            callee: to,
            destination: Some(target),
            content_type: Some("application/sdp".into()),
            offer: Some(offer.into_bytes()),
            contact: self.contact.clone(),
            credential,
            ..Default::default()
        };
        let (dialog, outcome) = match self.dialogs.do_invite_async(option, self.states.clone()) {
            Ok(started) => started,
            Err(e) => {
                tracing::warn!(%number, "cannot dial: {e}");
                return self.dial_failed(
                    call_id,
                    participant,
                    EndReason::new(EndKind::Unavailable),
                );
            }
        };
        let sip_call = super::sip_call_of(&dialog.id());
        tracing::info!(%call_id, %participant, %number, %sip_call, "dialling a phone");
        self.legs.insert(
            sip_call.clone(),
            Leg {
                dialog,
                way: Way::Outbound,
                participant: Some((call_id, participant)),
                socket: Some(socket),
                local_rtp,
                negotiated: None,
                session_id,
                sdp_version: 1,
                answered: false,
                on_hold: false,
                ending: false,
                attached: false,
            },
        );
        self.by_participant
            .insert((call_id, participant), sip_call.clone());
        let internal = self.internal.clone();
        tokio::spawn(async move {
            let status = match outcome.await {
                Ok(Ok((_, Some(response)))) => Ok(response.status_code.code()),
                Ok(Ok((_, None))) => Err("no final response".to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let _ = internal.send(Internal::DialDone { sip_call, status }).await;
        });
    }

    /// The dial-out's INVITE transaction is over.
    pub(super) fn dial_done(&mut self, sip_call: &str, status: Result<u16, String>) {
        let Some(leg) = self.legs.get(sip_call) else {
            return;
        };
        let Some((call_id, participant)) = leg.participant else {
            return;
        };
        match status {
            Ok(code) if (200..300).contains(&code) => {
                // The Confirmed dialog state answers the call.
            }
            Ok(code) => {
                if !leg.ending {
                    tracing::info!(%call_id, %participant, code, "dial-out failed");
                    self.dial_failed(call_id, participant, reason_for_status(code));
                }
                self.forget(sip_call);
            }
            Err(e) => {
                if !leg.ending {
                    tracing::info!(%call_id, %participant, "dial-out failed: {e}");
                    self.dial_failed(
                        call_id,
                        participant,
                        EndReason::from_sip(EndKind::Unavailable, 408),
                    );
                }
                self.forget(sip_call);
            }
        }
    }

    /// Keys toward a phone.
    pub(super) fn send_dtmf(&mut self, call_id: CallId, participant: ParticipantId, digits: &str) {
        let Ok(keys) = Digit::parse_all(digits, confab_signaling::MAX_DTMF_DIGITS) else {
            return;
        };
        let Some((_, leg)) = self.leg_of(call_id, participant) else {
            tracing::debug!(%call_id, %participant, "keys for a phone with no leg");
            return;
        };
        tracing::debug!(%call_id, %participant, digits, negotiated = ?leg.negotiated, "keys to a phone");
        if leg.negotiated.is_some_and(|n| n.telephone_event.is_some()) {
            self.tell(GatewayRequest::SendDtmf {
                call_id,
                participant,
                digits: keys,
            });
            return;
        }
        // No RFC 4733 on this leg: one INFO per key, in order.
        let dialog = leg.dialog.clone();
        tokio::spawn(async move {
            for key in keys {
                let headers = vec![rsipstack::sip::Header::ContentType(
                    "application/dtmf-relay".into(),
                )];
                let body = dtmf::info_body(key, INFO_DIGIT_MS).into_bytes();
                if let Err(e) = dialog.info(Some(headers), Some(body)).await {
                    tracing::info!("DTMF by SIP INFO failed: {e}");
                    break;
                }
            }
        });
    }
}
