//! The RTCP a [`Peer`] reads and writes itself, beside webrtc-rs's interceptors: reception
//! reports about our streams, sender reports heard from the remote and sent for the lean
//! streams (whose packets the core never sees), and keyframe requests.

use std::time::Instant;

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::{RTCRtpReceiverId, RTCRtpSenderId};
use rtc::shared::marshal::Marshal;
use rtc::shared::time::SystemInstant;

use super::Peer;
use crate::peer::Section;

/// How often a lean stream's sender report goes out (RFC 3550's 5 s minimum is for large
/// sessions; webrtc-rs's own interceptor reports every second).
pub(super) const LEAN_REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A stream silent this long is left out of receiver reports (a paused simulcast layer, a
/// sender that left).
const FORGET_SILENT_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

impl Peer {
    /// Reception report blocks (in receiver or sender reports) about our streams.
    pub(super) fn note_reception_reports(&mut self, packet: &dyn std::any::Any, now: Instant) {
        use rtc::rtcp::receiver_report::ReceiverReport;
        use rtc::rtcp::sender_report::SenderReport;
        let blocks = if let Some(rr) = packet.downcast_ref::<ReceiverReport>() {
            &rr.reports
        } else if let Some(sr) = packet.downcast_ref::<SenderReport>() {
            self.reception.sender_report(sr.ssrc, sr.ntp_time, now);
            if let Some(section) = self.incoming_ssrcs.get(&sr.ssrc) {
                self.sender_reports
                    .insert(*section, (sr.packet_count, sr.octet_count));
            }
            &sr.reports
        } else {
            return;
        };
        for block in blocks {
            if let Some(out) = self.outgoing.values_mut().find(|o| o.ssrc == block.ssrc) {
                out.reported_loss = Some(f64::from(block.fraction_lost) / 256.0);
            }
        }
    }

    /// The packets and payload octets the remote's latest RTCP sender report about its
    /// `section` stream stated; `None` until one came.
    pub fn sender_report(&self, section: Section) -> Option<(u32, u32)> {
        self.sender_reports.get(&section).copied()
    }

    /// This side's RTCP of the second: sender reports for the streams that went out on the
    /// lean path and reception reports about the streams heard. Sealed and sent by the lean
    /// path as one compound when this side has sent on it (the first report's sender is a
    /// lean stream, whose SSRC webrtc-rs never protects RTCP for); otherwise through the
    /// core's RTCP writers, a receiver report on its own. Returns whether the core was
    /// written to.
    pub(super) fn send_reports(&mut self, now: Instant) -> bool {
        self.reception
            .forget_silent(now.checked_sub(FORGET_SILENT_AFTER).unwrap_or(now));
        let mut senders = self.lean_sender_reports(now);
        if senders.is_empty() || !self.lean.ready() {
            for (sender, report) in senders {
                if let Some(mut sender) = self.pc.rtp_sender(sender) {
                    let _ = sender.write_rtcp(now, vec![Box::new(report)]);
                }
            }
            self.send_receiver_reports(now);
            return true;
        }
        let mut blocks = self.reception.reports(now);
        // RFC 3550 6.4: at most 31 reception report blocks a report; more follow in
        // receiver reports from the same sender.
        let first = blocks.len().min(31);
        senders[0].1.reports = blocks.drain(..first).collect();
        let sender_ssrc = senders[0].1.ssrc;
        self.rtcp_plain.clear();
        let mut marshalled =
            senders
                .iter()
                .map(|(_, report)| report.marshal())
                .chain(blocks.chunks(31).map(|chunk| {
                    rtc::rtcp::receiver_report::ReceiverReport {
                        ssrc: sender_ssrc,
                        reports: chunk.to_vec(),
                        ..Default::default()
                    }
                    .marshal()
                }));
        let compound = marshalled.try_for_each(|packet| {
            self.rtcp_plain.extend_from_slice(&packet?);
            Ok::<_, rtc::shared::error::Error>(())
        });
        if let Err(e) = compound {
            tracing::debug!("reports not written: {e}");
            return false;
        }
        match self.lean.send_rtcp(&self.rtcp_plain) {
            Ok(true) => self.lean_reports_out += 1,
            Ok(false) => {}
            Err(e) => tracing::debug!("reports not sealed: {e}"),
        }
        false
    }

    /// A sender report (without reception blocks) for each stream that went out on the
    /// lean path, with the sender of that stream.
    fn lean_sender_reports(
        &mut self,
        now: Instant,
    ) -> Vec<(RTCRtpSenderId, rtc::rtcp::sender_report::SenderReport)> {
        use rtc::rtcp::sender_report::SenderReport;
        let wall = *self
            .wall_clock
            .get_or_insert_with(|| SystemInstant::now(now));
        let mut reports = Vec::new();
        for (_, out) in self.outgoing.iter() {
            let sent = out.lean_sent;
            let Some((timestamp, at)) = sent.last else {
                continue;
            };
            let elapsed = now.saturating_duration_since(at).as_micros() as u64 * 48 / 1000;
            reports.push((
                out.sender,
                SenderReport {
                    ssrc: out.ssrc,
                    ntp_time: wall.ntp(now),
                    rtp_time: timestamp.wrapping_add(elapsed as u32),
                    packet_count: sent.packets,
                    octet_count: sent.octets,
                    ..Default::default()
                },
            ));
        }
        reports
    }

    /// Compounds of reports sealed and sent by the lean path so far (see
    /// [`Peer::lean_reports_in`] for the other direction).
    pub fn lean_reports_out(&self) -> u64 {
        self.lean_reports_out
    }

    /// A receiver report with a block for each stream heard (written through the core's
    /// RTCP path by any receiver: the transport is shared), once a second. webrtc-rs's own
    /// report interceptor is not installed: the lean ingress path's packets never reach it.
    fn send_receiver_reports(&mut self, now: Instant) {
        use rtc::rtcp::receiver_report::ReceiverReport;
        let reports = self.reception.reports(now);
        if reports.is_empty() {
            return;
        }
        let Some(&(_, receiver, _)) = self.incoming.values().next() else {
            return;
        };
        let report = ReceiverReport {
            ssrc: self.report_ssrc,
            reports,
            ..Default::default()
        };
        if let Some(mut receiver) = self.pc.rtp_receiver(receiver) {
            let _ = receiver.write_rtcp(now, vec![Box::new(report)]);
        }
    }

    /// The share (0.0–1.0) of this side's `section` packets that the remote's latest RTCP
    /// reception report counted lost; `None` until one came (or for a section this side
    /// does not send).
    pub fn reported_loss(&self, section: Section) -> Option<f64> {
        self.outgoing.get(&section)?.reported_loss
    }

    /// Asks the remote sender of an incoming video `section` for a keyframe (PLI) on every
    /// stream it sends there (each simulcast layer).
    pub fn request_keyframe(&mut self, section: Section, now: Instant) {
        self.send_pli(section, None, now);
    }

    /// Asks for a keyframe on one stream (simulcast layer) of an incoming video `section`.
    pub fn request_layer_keyframe(&mut self, section: Section, ssrc: u32, now: Instant) {
        self.send_pli(section, Some(ssrc), now);
    }

    fn send_pli(&mut self, section: Section, only: Option<u32>, now: Instant) {
        let receivers: Vec<RTCRtpReceiverId> = self
            .incoming
            .values()
            .filter(|(s, ..)| *s == section)
            .map(|(_, r, _)| *r)
            .collect();
        for id in receivers {
            if let Some(mut receiver) = self.pc.rtp_receiver(id) {
                let ssrcs: Vec<u32> = match only {
                    Some(ssrc) => vec![ssrc],
                    None => receiver.track().ssrcs().collect(),
                };
                let plis: Vec<Box<dyn rtc::rtcp::Packet>> = ssrcs
                    .into_iter()
                    .map(|media_ssrc| {
                        Box::new(PictureLossIndication {
                            sender_ssrc: 0,
                            media_ssrc,
                        }) as Box<dyn rtc::rtcp::Packet>
                    })
                    .collect();
                if !plis.is_empty() {
                    let _ = receiver.write_rtcp(now, plis);
                }
            }
        }
    }
}
