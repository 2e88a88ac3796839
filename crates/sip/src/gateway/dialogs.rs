//! What happens in a phone's dialog: ringing and early media, the answer, hang-ups, hold by
//! re-INVITE, keys by SIP INFO.

use confab_signaling::{EndKind, EndReason};
use rsipstack::dialog::dialog::{DialogState, TerminatedReason};
use rsipstack::sip::{Header, StatusCode};

use super::{Gateway, GatewayRequest, Way, body_text, read_sdp, sdp_header, sip_call_of};
use crate::dtmf;
use crate::sdp::{self, Negotiated};

/// One dialog event.
pub(super) fn handle(gw: &mut Gateway, state: DialogState) {
    match state {
        DialogState::Early(id, response) => early(gw, &sip_call_of(&id), &response),
        DialogState::Confirmed(id, response) => confirmed(gw, &sip_call_of(&id), &response),
        DialogState::Terminated(id, reason) => terminated(gw, &sip_call_of(&id), &reason),
        DialogState::Updated(id, request, handle) => {
            let answer = reoffer(gw, &sip_call_of(&id), &request.body);
            tokio::spawn(async move {
                let _ = match answer {
                    Some(body) => {
                        handle
                            .respond(StatusCode::OK, Some(sdp_header()), Some(body.into_bytes()))
                            .await
                    }
                    None => handle.reply(StatusCode::NotAcceptableHere).await,
                };
            });
        }
        DialogState::Info(id, request, handle) => {
            let status = info(gw, &sip_call_of(&id), &request);
            tokio::spawn(async move {
                let _ = handle.reply(status).await;
            });
        }
        DialogState::Options(_, _, handle) => {
            tokio::spawn(async move {
                let _ = handle.reply(StatusCode::OK).await;
            });
        }
        DialogState::Refer(_, _, handle)
        | DialogState::Notify(_, _, handle)
        | DialogState::Message(_, _, handle)
        | DialogState::Publish(_, _, handle) => {
            tokio::spawn(async move {
                let _ = handle.reply(StatusCode::NotImplemented).await;
            });
        }
        _ => {}
    }
}

/// A provisional answer to a dial-out: ringing, or early media when it carries SDP.
fn early(gw: &mut Gateway, sip_call: &str, response: &rsipstack::sip::Response) {
    let Some(leg) = gw.legs.get(sip_call) else {
        return;
    };
    if leg.way != Way::Outbound || leg.ending {
        return;
    }
    let Some((call_id, participant)) = leg.participant else {
        return;
    };
    let attached = leg.negotiated.is_some();
    let media = body_text(&response.body).and_then(|text| sdp::accept_answer(&text).ok());
    match media {
        Some(negotiated) if !attached => {
            tracing::info!(%call_id, %participant, status = response.status_code.code(), "early media from a phone");
            // The participant joins the media first; then its leg is attached to it.
            gw.tell(GatewayRequest::Progress {
                call_id,
                participant,
                early_media: true,
            });
            gw.attach(sip_call, negotiated);
        }
        Some(_) => {}
        None => gw.tell(GatewayRequest::Progress {
            call_id,
            participant,
            early_media: false,
        }),
    }
}

/// A dial-out was answered (or the ACK of an answered inbound call arrived).
fn confirmed(gw: &mut Gateway, sip_call: &str, response: &rsipstack::sip::Response) {
    let Some(leg) = gw.legs.get_mut(sip_call) else {
        return;
    };
    if leg.way != Way::Outbound || leg.answered || leg.ending {
        return;
    }
    let Some((call_id, participant)) = leg.participant else {
        return;
    };
    leg.answered = true;
    let mut to_attach = None;
    if leg.negotiated.is_none() {
        match body_text(&response.body).map(|text| sdp::accept_answer(&text)) {
            Some(Ok(negotiated)) => to_attach = Some(negotiated),
            other => {
                tracing::warn!(%call_id, %participant, ?other, "answered without usable SDP: hanging up");
                gw.tell(GatewayRequest::Ended {
                    call_id,
                    participant,
                    reason: EndReason::from_sip(EndKind::Unavailable, 488),
                });
                if let Some(leg) = gw.legs.get_mut(sip_call) {
                    leg.ending = true;
                    let dialog = leg.dialog.clone();
                    tokio::spawn(async move {
                        let _ = dialog.bye().await;
                    });
                }
                gw.forget(sip_call);
                return;
            }
        }
    }
    tracing::info!(%call_id, %participant, "phone answered");
    // The participant joins the media first; then its leg is attached to it.
    gw.tell(GatewayRequest::Answered {
        call_id,
        participant,
    });
    if let Some(negotiated) = to_attach {
        gw.attach(sip_call, negotiated);
    }
}

/// The dialog is over.
fn terminated(gw: &mut Gateway, sip_call: &str, why: &TerminatedReason) {
    let Some(leg) = gw.legs.get_mut(sip_call) else {
        return;
    };
    if leg.participant.is_none() {
        // The caller gave up while the service is still deciding: the service's answer
        // finds the leg ending and ends the participation it made.
        leg.ending = true;
        return;
    }
    let ending = leg.ending;
    let participant = leg.participant;
    let way = leg.way;
    let reason = match why {
        TerminatedReason::UacBye | TerminatedReason::UasBye => EndReason::new(EndKind::HangUp),
        TerminatedReason::UacCancel => EndReason::from_sip(EndKind::Cancelled, 487),
        TerminatedReason::Timeout => EndReason::new(EndKind::NetworkLost),
        TerminatedReason::UasBusy | TerminatedReason::UacBusy => {
            EndReason::from_sip(EndKind::Busy, 486)
        }
        TerminatedReason::UasDecline => EndReason::from_sip(EndKind::Rejected, 603),
        TerminatedReason::ProxyAuthRequired => EndReason::from_sip(EndKind::Unavailable, 407),
        TerminatedReason::ProxyError(code)
        | TerminatedReason::UacOther(code)
        | TerminatedReason::UasOther(code) => crate::outcome::reason_for_status(code.code()),
    };
    // A dial-out's failure is reported when its INVITE transaction ends (with the status).
    let failed_dial = way == Way::Outbound && !gw.legs[sip_call].answered;
    if !ending && !failed_dial {
        if let Some((call_id, participant)) = participant {
            tracing::info!(%call_id, %participant, ?why, "phone's dialog ended");
            gw.tell(GatewayRequest::Ended {
                call_id,
                participant,
                reason,
            });
        }
        gw.forget(sip_call);
    } else if ending {
        gw.forget(sip_call);
    }
}

/// A re-INVITE or UPDATE: a new offer (hold, resume, a new address). Returns our answer.
fn reoffer(gw: &mut Gateway, sip_call: &str, body: &[u8]) -> Option<String> {
    let leg = gw.legs.get_mut(sip_call)?;
    let current = leg.negotiated?;
    let negotiated = match body_text(body) {
        // No offer: ours again, unchanged.
        None => current,
        Some(text) => {
            let offer = read_sdp(&text).ok()?;
            // Keep the codec if it is still offered, else take the first one we speak.
            let keep = offer.codecs.iter().find(|(_, c)| *c == current.codec).map(
                |&(payload_type, codec)| Negotiated {
                    codec,
                    payload_type,
                    telephone_event: offer.telephone_event,
                    remote: offer.addr,
                    remote_direction: offer.direction,
                },
            );
            match keep {
                Some(n) => n,
                None => sdp::negotiate(&offer).ok()?,
            }
        }
    };
    leg.negotiated = Some(negotiated);
    let local = Gateway::local_sdp(leg);
    let answer = sdp::answer(&local, &negotiated, negotiated.remote_direction.answer());
    let held = negotiated.remote_direction.holds();
    let hold_changed = held != leg.on_hold;
    leg.on_hold = held;
    if let Some((call_id, participant)) = leg.participant {
        tracing::info!(%call_id, %participant, held, "phone re-offered media");
        gw.tell(GatewayRequest::UpdateMedia {
            call_id,
            participant,
            negotiated,
        });
        if hold_changed {
            gw.tell(GatewayRequest::Hold {
                call_id,
                participant,
                on: held,
            });
        }
    }
    Some(answer)
}

/// A SIP INFO in a phone's dialog: a key, when it carries one.
fn info(gw: &mut Gateway, sip_call: &str, request: &rsipstack::sip::Request) -> StatusCode {
    let content_type = request
        .headers
        .iter()
        .find_map(|h| match h {
            Header::ContentType(ct) => Some(ct.value().to_string()),
            _ => None,
        })
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&request.body);
    let Some(key) = dtmf::parse_info(&content_type, &body) else {
        return if body.trim().is_empty() {
            // An empty INFO is a keep-alive.
            StatusCode::OK
        } else {
            StatusCode::UnsupportedMediaType
        };
    };
    let Some((call_id, participant)) = gw.legs.get(sip_call).and_then(|l| l.participant) else {
        return StatusCode::CallTransactionDoesNotExist;
    };
    gw.tell(GatewayRequest::Dtmf {
        call_id,
        participant,
        digit: key.digit,
        duration_ms: key.duration_ms.unwrap_or(100),
    });
    StatusCode::OK
}
