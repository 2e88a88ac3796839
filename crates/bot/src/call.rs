//! One call's task: negotiates the peer connection, starts the media thread, then feeds the
//! bot signaling events and media frames until the call ends.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confab_media::AudioFrame;
use confab_signaling::client::SignalingClient;
use confab_signaling::protocol::{CallId, ClientMessage, ParticipantId, ServerMessage};
use confab_signaling::{CallState, EndKind, EndReason};
use confab_transport::peer::{MediaLayout, Peer, PeerOptions, Section};
use confab_transport::udp::Waker;
use tokio::sync::mpsc;

use crate::events::EncodedPicture;
use crate::handle::HandleInner;
use crate::media::{
    AudioQueue, Control, Frame, MediaThread, MediaThreadConfig, SharedStats, ToMedia,
};
use crate::router::Router;
use crate::{
    Bot, BotConfig, BotError, CallEvent, CallHandle, CallReport, Participant, VideoSource,
};

/// How long the service may take to answer our offer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A negotiated call, ready to run.
pub(crate) struct Prepared {
    pub(crate) handle: CallHandle,
    events: mpsc::Receiver<ServerMessage>,
    held: VecDeque<ServerMessage>,
    media: MediaThread,
    frames: mpsc::Receiver<Frame>,
    control: mpsc::Receiver<Control>,
    mids: HashMap<String, Section>,
    router: Router,
}

/// The local address to use towards `host`: the interface the OS routes to it from.
fn local_ip_towards(server: &str) -> IpAddr {
    let host = server
        .split("://")
        .nth(1)
        .unwrap_or(server)
        .split('/')
        .next()
        .unwrap_or("127.0.0.1");
    // The host with a port (the scheme's default when the URL has none).
    let has_port = host.rsplit_once(':').is_some_and(|(h, p)| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (!h.contains(':') || h.ends_with(']'))
    });
    let target = if has_port {
        host.to_owned()
    } else if server.starts_with("https") || server.starts_with("wss") {
        format!("{host}:443")
    } else {
        format!("{host}:80")
    };
    let probe = || -> std::io::Result<IpAddr> {
        let socket = UdpSocket::bind("0.0.0.0:0")?;
        socket.connect(target.as_str())?;
        Ok(socket.local_addr()?.ip())
    };
    probe().unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// Offers the layout, waits for the answer (holding other events of the call), starts the
/// media thread.
#[allow(clippy::disallowed_methods)] // setting a call up reads the clock
pub(crate) async fn prepare(
    client: SignalingClient,
    router: Router,
    config: &BotConfig,
    call_id: CallId,
    me: Option<ParticipantId>,
    mut events: mpsc::Receiver<ServerMessage>,
) -> Result<Prepared, BotError> {
    let origin = Instant::now();
    let server = config.server.clone();
    let ip = tokio::task::spawn_blocking(move || local_ip_towards(&server))
        .await
        .map_err(|e| BotError::Media(e.to_string()))?;
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0))?;
    let layout = MediaLayout {
        video_slots: config.video_slots,
        unmixed_slots: config.unmixed_slots,
    };
    let (mut peer, offer) =
        Peer::offer(socket.local_addr()?, layout, PeerOptions::default(), origin)
            .map_err(|e| BotError::Media(e.to_string()))?;
    client
        .request(ClientMessage::SdpOffer {
            call_id,
            sdp: offer,
        })
        .await?;
    let mut held = VecDeque::new();
    let answer = tokio::time::timeout(ANSWER_TIMEOUT, async {
        while let Some(message) = events.recv().await {
            match message {
                ServerMessage::SdpAnswer { sdp, .. } => return Some(sdp),
                other => held.push_back(other),
            }
        }
        None
    })
    .await
    .map_err(|_| BotError::Protocol("no SDP answer within 10 s".into()))?
    .ok_or_else(|| BotError::Protocol("the call ended before media was set up".into()))?;
    peer.accept_answer(&answer, Instant::now())
        .map_err(|e| BotError::Media(e.to_string()))?;
    let mids = layout
        .sections()
        .into_iter()
        .filter_map(|s| Some((peer.mid(s)?.to_owned(), s)))
        .collect();
    let waker = Waker::new(&socket).ok();
    let queue = Arc::new(AudioQueue::new(config.audio_queue_frames.max(2), waker));
    let stats = Arc::new(SharedStats::default());
    let (to_media, commands) = std::sync::mpsc::sync_channel(64);
    let (frames_tx, frames) = mpsc::channel(config.delivery_queue.max(8));
    let (control_tx, control) = mpsc::channel(64);
    let media = MediaThread::start(MediaThreadConfig {
        socket,
        peer,
        format: config.audio_rate.format(),
        origin,
        queue: queue.clone(),
        commands,
        frames: frames_tx,
        control: control_tx,
        stats: stats.clone(),
        video_encoded: config.video.encoded(),
        video_decoded: config.video.decoded(),
        max_video_size: config.preferred_video_size,
        video_bitrate_bps: config.video_bitrate_bps,
    })?;
    let handle = CallHandle {
        inner: Arc::new(HandleInner {
            call_id,
            client,
            to_media,
            queue,
            rate: config.audio_rate,
            stats,
            roster: Mutex::new(HashMap::new()),
            me: Mutex::new(me),
            origin,
            ended: AtomicBool::new(false),
            max_video: config.preferred_video_size,
        }),
    };
    Ok(Prepared {
        handle,
        events,
        held,
        media,
        frames,
        control,
        mids,
        router,
    })
}

/// The call's view of signaling: roster and slots.
struct View {
    handle: CallHandle,
    /// Which participant each receive section carries now.
    slots: HashMap<Section, ParticipantId>,
    mids: HashMap<String, Section>,
    dominant: Option<ParticipantId>,
}

impl View {
    fn participant(&self, id: ParticipantId) -> Option<Participant> {
        self.handle.participant(id)
    }

    fn in_slot(&self, section: Section) -> Option<Participant> {
        self.participant(*self.slots.get(&section)?)
    }

    /// Applies a signaling message; returns the events it means, or the end of the call.
    fn apply(&mut self, message: ServerMessage) -> (Vec<CallEvent>, Option<EndReason>) {
        let mut events = Vec::new();
        let inner = &self.handle.inner;
        match message {
            ServerMessage::Roster {
                you, participants, ..
            } => {
                if let Ok(mut me) = inner.me.lock() {
                    *me = Some(you);
                }
                if let Ok(mut roster) = inner.roster.lock() {
                    for entry in &participants {
                        let p = Participant::from(entry);
                        if roster.insert(p.id, p.clone()).is_none() && p.id != you {
                            events.push(CallEvent::Joined(p));
                        }
                    }
                }
            }
            ServerMessage::RosterUpdate {
                updated, removed, ..
            } => {
                let me = self.handle.me();
                if let Ok(mut roster) = inner.roster.lock() {
                    for entry in &updated {
                        let p = Participant::from(entry);
                        match roster.insert(p.id, p.clone()) {
                            None if Some(p.id) != me => events.push(CallEvent::Joined(p)),
                            None => {}
                            Some(old) => {
                                if old.muted != p.muted {
                                    events.push(CallEvent::Muted {
                                        participant: p.clone(),
                                        muted: p.muted,
                                    });
                                }
                                if old.screen_sharing != p.screen_sharing {
                                    events.push(CallEvent::ScreenShare {
                                        participant: p.clone(),
                                        active: p.screen_sharing,
                                    });
                                }
                                if old.state != p.state || old.video != p.video {
                                    events.push(CallEvent::Changed(p));
                                }
                            }
                        }
                    }
                    for departure in removed {
                        if let Some(p) = roster.remove(&departure.participant) {
                            events.push(CallEvent::Left {
                                participant: p,
                                reason: departure.reason,
                            });
                        }
                    }
                }
            }
            ServerMessage::MediaSlots { slots, .. } => {
                self.slots.clear();
                for slot in slots {
                    if let (Some(section), Some(p)) = (self.mids.get(&slot.mid), slot.participant) {
                        self.slots.insert(*section, p);
                    }
                }
                tracing::debug!(call_id = %inner.call_id, slots = ?self.slots, "media slots");
            }
            ServerMessage::DominantSpeakers { speakers, .. } => {
                let first = speakers.first().copied();
                if first != self.dominant {
                    self.dominant = first;
                    if let Some(p) = first.and_then(|id| self.participant(id)) {
                        events.push(CallEvent::DominantSpeaker(p));
                    }
                }
            }
            ServerMessage::MutedBy { by, .. } => {
                if let Some(p) = self.participant(by) {
                    events.push(CallEvent::MutedBy(p));
                }
            }
            ServerMessage::Dtmf {
                participant,
                digit,
                duration_ms,
                ..
            } => {
                if let Some(p) = self.participant(participant) {
                    events.push(CallEvent::Dtmf {
                        participant: p,
                        digit,
                        duration_ms,
                    });
                }
            }
            ServerMessage::CallState {
                state: CallState::Disconnected,
                reason,
                ..
            } => {
                return (
                    events,
                    Some(reason.unwrap_or_else(|| EndReason::new(EndKind::HangUp))),
                );
            }
            ServerMessage::CallState { state, .. } => events.push(CallEvent::State(state)),
            ServerMessage::Error { code, message } => {
                tracing::warn!(call_id = %inner.call_id, ?code, "{message}");
            }
            _ => {}
        }
        (events, None)
    }
}

/// Unmixed frames held per slot while its occupant is not yet known (500 ms).
const UNPLACED_FRAMES: usize = 25;

/// Runs the bot until the call ends.
pub(crate) async fn run<B: Bot>(mut bot: B, prepared: Prepared) -> Result<CallReport, BotError> {
    let Prepared {
        handle,
        mut events,
        held,
        media,
        mut frames,
        mut control,
        mids,
        router,
    } = prepared;
    let call = handle.clone();
    let mut view = View {
        handle: handle.clone(),
        slots: HashMap::new(),
        mids,
        dominant: None,
    };
    // Unmixed audio can outrun the notice saying whose it is (UDP against the WebSocket):
    // held here, briefly, until the slot's occupant is known.
    let mut unplaced: HashMap<u8, VecDeque<AudioFrame>> = HashMap::new();
    let mut ended = None;
    for message in held {
        let (happened, end) = view.apply(message);
        for event in &happened {
            bot.on_event(&call, event).await;
        }
        ended = ended.or(end);
    }
    if ended.is_none() {
        bot.on_joined(&call).await;
    }
    while ended.is_none() {
        tokio::select! {
            biased;
            message = events.recv() => match message {
                Some(message) => {
                    let (happened, end) = view.apply(message);
                    for event in &happened {
                        bot.on_event(&call, event).await;
                    }
                    ended = end;
                    for (slot, frames) in &mut unplaced {
                        if let Some(who) = view.in_slot(Section::UnmixedAudio(*slot)) {
                            for frame in frames.drain(..) {
                                bot.on_participant_audio(&call, &who, &frame).await;
                            }
                        }
                    }
                }
                None => ended = Some(EndReason::new(EndKind::NetworkLost)),
            },
            news = control.recv() => match news {
                Some(Control::Connected) => bot.on_event(&call, &CallEvent::MediaConnected).await,
                Some(Control::Failed) => {
                    tracing::warn!(call_id = %call.call_id(), "media connection failed");
                }
                Some(Control::QueueLow(queued)) => {
                    bot.on_event(&call, &CallEvent::AudioQueueLow { queued }).await;
                }
                Some(Control::KeyframeRequested(source)) => {
                    bot.on_event(&call, &CallEvent::KeyframeRequested(source)).await;
                }
                None => ended = Some(EndReason::new(EndKind::NetworkLost)),
            },
            frame = frames.recv() => match frame {
                Some(Frame::Mixed(frame)) => bot.on_mixed_audio(&call, &frame).await,
                Some(Frame::Unmixed(slot, frame)) => {
                    match view.in_slot(Section::UnmixedAudio(slot)) {
                        Some(who) => bot.on_participant_audio(&call, &who, &frame).await,
                        None => {
                            let held = unplaced.entry(slot).or_default();
                            if held.len() == UNPLACED_FRAMES {
                                held.pop_front();
                            }
                            held.push_back(frame);
                        }
                    }
                }
                Some(Frame::Video(section, frame)) => {
                    if let Some(who) = view.in_slot(section) {
                        bot.on_video(&call, &who, source_of(section), &frame).await;
                    }
                }
                Some(Frame::Encoded(section, data, keyframe, at)) => {
                    if let Some(who) = view.in_slot(section) {
                        let picture = EncodedPicture { data, keyframe, at };
                        bot.on_encoded_video(&call, &who, source_of(section), &picture).await;
                    }
                }
                None => ended = Some(EndReason::new(EndKind::NetworkLost)),
            },
        }
    }
    let reason = ended.unwrap_or_else(|| EndReason::new(EndKind::HangUp));
    handle.inner.ended.store(true, Ordering::Relaxed);
    // Wake anyone waiting for queue room, and stop the media thread (never blocking here).
    handle.inner.queue.space.close();
    handle.inner.stats.stopping.store(true, Ordering::Relaxed);
    let _ = handle.inner.to_media.try_send(ToMedia::Stop);
    tokio::task::spawn_blocking(move || media.join())
        .await
        .map_err(|e| BotError::Media(e.to_string()))?;
    router.unregister(handle.call_id());
    bot.on_left(&call, &reason).await;
    Ok(CallReport {
        reason,
        stats: handle.stats(),
    })
}

fn source_of(section: Section) -> VideoSource {
    if section == Section::ScreenSlot {
        VideoSource::Screen
    } else {
        VideoSource::Camera
    }
}
