//! Phones calling in: the allow-list, the number's route, the offer, the service's answer,
//! then 200 OK at once (a group call) or ringing until the callee answers (a person).

use confab_signaling::protocol::{CallId, ParticipantId};
use confab_signaling::{PhoneRefusal, PhoneRoute};
use rsipstack::sip::StatusCode;
use rsipstack::transaction::transaction::Transaction;

use super::{Gateway, GatewayRequest, Leg, Way, sdp_header};
use crate::invite;
use crate::outcome::{status_for_reason, status_for_refusal};
use crate::sdp;

/// Refuses a new INVITE outright (before any dialog exists).
fn refuse(mut tx: Transaction, status: u16) {
    tokio::spawn(async move {
        let _ = tx.reply(StatusCode::from(status)).await;
    });
}

impl Gateway {
    /// An INVITE outside any dialog: a phone calling in.
    pub(super) fn invite(&mut self, mut tx: Transaction) {
        let trunk = self.trunk.as_ref().map_or(&[][..], |(_, a)| a.as_slice());
        let accepted = match invite::decide(&tx.original, &self.checked, trunk) {
            Ok(accepted) => accepted,
            Err(refused) => {
                if let invite::Refused::Stranger(source) = &refused {
                    self.metrics
                        .refused_sources
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(?source, "INVITE from a source not on the allow-list: 403");
                } else {
                    tracing::info!("INVITE refused: {refused}");
                }
                return refuse(tx, refused.status());
            }
        };
        let invite::Accepted {
            caller: from,
            display_name,
            route,
            negotiated,
        } = accepted;
        let called = tx.original.uri.user().unwrap_or_default().to_string();
        let socket = match self.ports.bind() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("no RTP port for a phone: {e}");
                return refuse(tx, 503);
            }
        };
        let Ok(local) = socket.local_addr() else {
            return refuse(tx, 503);
        };
        let local_rtp = std::net::SocketAddr::new(self.advertised, local.port());
        let dialog = match self.dialogs.get_or_create_server_invite(
            &tx,
            self.states.clone(),
            None,
            Some(self.contact.clone()),
        ) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("cannot start a dialog for an INVITE: {e}");
                return refuse(tx, 500);
            }
        };
        let sip_call = super::sip_call_of(&dialog.id());
        let mut handler = dialog.clone();
        tokio::spawn(async move {
            if let Err(e) = handler.handle(&mut tx).await {
                tracing::debug!("INVITE transaction: {e}");
            }
        });
        let answer_now = matches!(route, PhoneRoute::Group(_));
        tracing::info!(%from, %called, ?route, "phone calling in");
        self.legs.insert(
            sip_call.clone(),
            Leg {
                dialog,
                way: Way::Inbound { answer_now },
                participant: None,
                socket: Some(socket),
                local_rtp,
                negotiated: Some(negotiated),
                session_id: uuid::Uuid::new_v4().as_u64_pair().0 >> 1,
                sdp_version: 0,
                answered: false,
                on_hold: negotiated.remote_direction.holds(),
                ending: false,
                attached: false,
            },
        );
        let token = self.next_token;
        self.next_token += 1;
        self.calling_in.insert(token, sip_call);
        self.tell(GatewayRequest::CallIn {
            token,
            from,
            display_name,
            route,
        });
    }

    /// The service put the phone's call through (or not).
    pub(super) fn call_in_done(
        &mut self,
        sip_call: &str,
        result: Result<(CallId, ParticipantId), PhoneRefusal>,
    ) {
        let Some(leg) = self.legs.get_mut(sip_call) else {
            return;
        };
        let (call_id, participant) = match result {
            Ok(placed) => placed,
            Err(refusal) => {
                tracing::info!(%sip_call, "phone's call refused: {refusal}");
                if !leg.ending {
                    let _ = leg
                        .dialog
                        .reject(Some(StatusCode::from(status_for_refusal(&refusal))), None);
                }
                self.forget(sip_call);
                return;
            }
        };
        if leg.ending {
            // The caller gave up while the service was deciding.
            self.tell(GatewayRequest::Ended {
                call_id,
                participant,
                reason: confab_signaling::EndReason::from_sip(
                    confab_signaling::EndKind::Cancelled,
                    487,
                ),
            });
            self.forget(sip_call);
            return;
        }
        leg.participant = Some((call_id, participant));
        self.by_participant
            .insert((call_id, participant), sip_call.to_string());
        let answer_now = leg.way == Way::Inbound { answer_now: true };
        let on_hold = leg.on_hold;
        if let Some(negotiated) = leg.negotiated {
            self.attach(sip_call, negotiated);
        }
        if on_hold {
            self.tell(GatewayRequest::Hold {
                call_id,
                participant,
                on: true,
            });
        }
        if answer_now {
            self.answer_inbound(call_id, participant);
        } else if let Some(leg) = self.legs.get(sip_call) {
            let _ = leg.dialog.ringing(None, None);
        }
    }

    /// Answers a phone's INVITE (200 OK with our SDP).
    pub(super) fn answer_inbound(&mut self, call_id: CallId, participant: ParticipantId) {
        let Some((_, leg)) = self.leg_of(call_id, participant) else {
            return;
        };
        if leg.answered || !matches!(leg.way, Way::Inbound { .. }) {
            return;
        }
        let Some(negotiated) = leg.negotiated else {
            return;
        };
        let local = Gateway::local_sdp(leg);
        let body = sdp::answer(&local, &negotiated, negotiated.remote_direction.answer());
        match leg
            .dialog
            .accept(Some(sdp_header()), Some(body.into_bytes()))
        {
            Ok(()) => {
                leg.answered = true;
                tracing::info!(%call_id, %participant, "phone's call answered");
            }
            Err(e) => tracing::warn!(%call_id, %participant, "cannot answer the phone: {e}"),
        }
    }

    /// The service ends a phone's participation: BYE when answered, CANCEL while a
    /// dial-out rings, a final error for a call not yet answered.
    pub(super) fn hang_up(
        &mut self,
        call_id: CallId,
        participant: ParticipantId,
        reason: &confab_signaling::EndReason,
    ) {
        let Some((sip_call, leg)) = self.leg_of(call_id, participant) else {
            return;
        };
        leg.ending = true;
        let dialog = leg.dialog.clone();
        tracing::info!(%call_id, %participant, kind = ?reason.kind, answered = leg.answered, "hanging up a phone");
        match (leg.way, leg.answered) {
            (Way::Inbound { .. }, false) => {
                let _ = dialog.reject(Some(StatusCode::from(status_for_reason(reason))), None);
                self.forget(&sip_call);
            }
            (Way::Outbound, false) => {
                tokio::spawn(async move {
                    if let Err(e) = dialog.cancel().await {
                        tracing::debug!("CANCEL: {e}");
                    }
                });
            }
            (_, true) => {
                tokio::spawn(async move {
                    if let Err(e) = dialog.bye().await {
                        tracing::debug!("BYE: {e}");
                    }
                });
                self.forget(&sip_call);
            }
        }
    }
}
