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
use crate::recovery::{Recovery, Step};
use crate::router::{CallInput, Router};
use crate::{
    Bot, BotConfig, BotError, CallEvent, CallHandle, CallReport, Participant, VideoSource,
};

mod takeover;
use takeover::{REJOIN_RETRY, RESUME_WAIT, Resuming, answer_resumed, place_resumed, rejoin_group};

/// How long the service may take to answer our offer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A negotiated call, ready to run.
pub(crate) struct Prepared {
    pub(crate) handle: CallHandle,
    events: mpsc::Receiver<CallInput>,
    held: VecDeque<CallInput>,
    media: MediaThread,
    frames: mpsc::Receiver<Frame>,
    control: mpsc::Receiver<Control>,
    mids: HashMap<String, Section>,
    router: Router,
    /// What a replacement connection is offered with.
    local: SocketAddr,
    layout: MediaLayout,
    options: PeerOptions,
    reconnect: Option<Duration>,
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
    mut events: mpsc::Receiver<CallInput>,
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
    let options = PeerOptions {
        camera_layers: if config.camera_simulcast { 2 } else { 1 },
        ..PeerOptions::default()
    };
    let (mut peer, offer) = Peer::offer(socket.local_addr()?, layout, options, origin)
        .map_err(|e| BotError::Media(e.to_string()))?;
    client
        .request(ClientMessage::SdpOffer {
            call_id,
            sdp: offer,
        })
        .await?;
    let mut held = VecDeque::new();
    let answer = tokio::time::timeout(ANSWER_TIMEOUT, async {
        while let Some(input) = events.recv().await {
            match input {
                CallInput::Server(ServerMessage::SdpAnswer { sdp, .. }) => return Some(sdp),
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
    let local = socket.local_addr()?;
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
        camera_layers: options.camera_layers,
        media_timeout: config.media_timeout,
    })?;
    let handle = CallHandle {
        inner: Arc::new(HandleInner {
            call_id: Mutex::new(call_id),
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
        local,
        layout,
        options,
        reconnect: config.reconnect,
    })
}

/// The call's view of signaling: roster and slots.
struct View {
    handle: CallHandle,
    /// Which participant each receive section carries now.
    slots: HashMap<Section, ParticipantId>,
    mids: HashMap<String, Section>,
    dominant: Option<ParticipantId>,
    /// The call is on hold (no media comes while it is).
    on_hold: bool,
}

impl View {
    fn participant(&self, id: ParticipantId) -> Option<Participant> {
        self.handle.participant(id)
    }

    fn in_slot(&self, section: Section) -> Option<Participant> {
        self.participant(*self.slots.get(&section)?)
    }

    /// Who spoke an unmixed slot's frame: the participant its packet named (CSRC), once
    /// the roster knows them; else, from a service that names none, the slot's occupant.
    fn speaker(&self, slot: u8, source: Option<u32>) -> Option<Participant> {
        match source {
            Some(id) => self.participant(ParticipantId(id)),
            None => self.in_slot(Section::UnmixedAudio(slot)),
        }
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
                tracing::debug!(call_id = %self.handle.call_id(), slots = ?self.slots, "media slots");
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
            ServerMessage::CallState { state, .. } => {
                self.on_hold = matches!(state, CallState::LocalHold | CallState::RemoteHold);
                events.push(CallEvent::State(state));
            }
            ServerMessage::Error { code, message } => {
                tracing::warn!(call_id = %self.handle.call_id(), ?code, "{message}");
            }
            _ => {}
        }
        (events, None)
    }
}

/// Unmixed frames held per slot while its occupant is not yet known (500 ms).
const UNPLACED_FRAMES: usize = 25;

/// Runs the bot until the call ends.
#[allow(clippy::disallowed_methods)] // the call task is a driver: recovery reads the clock
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
        local,
        layout,
        options,
        reconnect,
    } = prepared;
    let call = handle.clone();
    let mut view = View {
        handle: handle.clone(),
        slots: HashMap::new(),
        mids,
        dominant: None,
        on_hold: false,
    };
    let mut recovery = Recovery::new(reconnect);
    // A group call the service lost: its group, and when to try joining it afresh.
    let mut rejoin: Option<(uuid::Uuid, Instant)> = None;
    // A 1:1 call the service lost: what to do about it, and when.
    let mut resuming: Option<(Resuming, Instant)> = None;
    // A replacement connection offered, waiting for the service's answer.
    let mut offered: Option<Peer> = None;
    // Unmixed audio can outrun the notice saying whose it is (UDP against the WebSocket):
    // held here, briefly, until the slot's occupant is known.
    let mut unplaced: HashMap<u8, VecDeque<(AudioFrame, Option<u32>)>> = HashMap::new();
    let mut ended = None;
    for input in held {
        if let CallInput::Server(message) = input {
            let (happened, end) = view.apply(message);
            for event in &happened {
                bot.on_event(&call, event).await;
            }
            ended = ended.or(end);
        }
    }
    if ended.is_none() {
        bot.on_joined(&call).await;
    }
    while ended.is_none() {
        let recovery_due = recovery.deadline();
        tokio::select! {
            biased;
            input = events.recv() => match input {
                Some(CallInput::Server(ServerMessage::SdpAnswer { sdp, .. })) => {
                    if let Some(peer) = offered.take() {
                        replace_connection(&handle, &mut view, peer, &sdp);
                    }
                }
                Some(CallInput::Server(message)) => {
                    let (happened, end) = view.apply(message);
                    for event in &happened {
                        bot.on_event(&call, event).await;
                    }
                    ended = end;
                    for (slot, frames) in &mut unplaced {
                        for (frame, source) in std::mem::take(frames) {
                            match view.speaker(*slot, source) {
                                Some(who) => bot.on_participant_audio(&call, &who, &frame).await,
                                None => frames.push_back((frame, source)),
                            }
                        }
                    }
                }
                Some(CallInput::LinkDown) => {
                    tracing::info!(call_id = %call.call_id(), "signaling lost; reconnecting");
                    if let Some(event) = recovery.link_down(Instant::now()) {
                        bot.on_event(&call, &event).await;
                    }
                }
                Some(CallInput::LinkUp) => {
                    if let Some(event) = recovery.link_up() {
                        bot.on_event(&call, &event).await;
                    }
                }
                Some(CallInput::Rejoin(group)) => rejoin = Some((group, Instant::now())),
                Some(CallInput::Resume(one_to_one)) => {
                    let now = Instant::now();
                    resuming = Some(if one_to_one.caller {
                        (Resuming::Place(one_to_one.peer), now)
                    } else {
                        (Resuming::AwaitRing, now + RESUME_WAIT)
                    });
                }
                Some(CallInput::ResumeRings(new)) => {
                    if matches!(resuming, Some((Resuming::AwaitRing, _))) {
                        resuming = None;
                        match answer_resumed(&handle, &router, &mut view, new).await {
                            Ok(events) => went_on(&mut bot, &call, &mut recovery, &events, Instant::now()).await,
                            Err(e) => {
                                tracing::warn!(%new, "answering the call resuming this one: {e}");
                                ended = Some(EndReason::new(EndKind::NetworkLost));
                            }
                        }
                    }
                }
                None => ended = Some(EndReason::new(EndKind::NetworkLost)),
            },
            () = sleep_until(rejoin.map(|(_, at)| at)) => {
                if let Some((group, _)) = rejoin.take() {
                    match rejoin_group(&handle, &router, &mut view, group).await {
                        Ok(events) => {
                            for event in &events {
                                bot.on_event(&call, event).await;
                            }
                            if events.is_empty() {
                                // The same call (its node lives; the place came back).
                                if let Some(event) = recovery.link_up() {
                                    bot.on_event(&call, &event).await;
                                }
                            } else {
                                recovery.rejoined(Instant::now());
                            }
                        }
                        Err(e) => {
                            tracing::info!(%group, "joining the group afresh: {e}; trying again");
                            rejoin = Some((group, Instant::now() + REJOIN_RETRY));
                        }
                    }
                }
            },
            () = sleep_until(resuming.as_ref().map(|(_, at)| *at)) => match resuming.take() {
                Some((Resuming::Place(peer), _)) => {
                    match place_resumed(&handle, &router, &mut view, peer).await {
                        Ok(events) => went_on(&mut bot, &call, &mut recovery, &events, Instant::now()).await,
                        Err(e) => {
                            tracing::warn!(call_id = %call.call_id(), "placing the lost 1:1 call again: {e}");
                            ended = Some(EndReason::new(EndKind::NetworkLost));
                        }
                    }
                }
                Some((Resuming::AwaitRing, _)) => {
                    tracing::warn!(call_id = %call.call_id(), "the lost 1:1 call was not placed again in time");
                    ended = Some(EndReason::new(EndKind::NetworkLost));
                }
                None => {}
            },
            () = sleep_until(recovery_due) => match recovery.poll(Instant::now()) {
                Some(Step::Offer) => {
                    offered = offer_connection(&handle, local, layout, options).await;
                }
                Some(Step::GiveUp) => {
                    tracing::warn!(call_id = %call.call_id(), "network drop outlasted the reconnect limit");
                    let _ = handle
                        .inner
                        .client
                        .send(ClientMessage::Leave { call_id: call.call_id() })
                        .await;
                    ended = Some(EndReason::new(EndKind::NetworkLost));
                }
                None => {}
            },
            news = control.recv() => match news {
                Some(Control::Connected) => {
                    if recovery.recovering() {
                        tracing::info!(call_id = %call.call_id(), "media connection replaced");
                    }
                    if let Some(event) = recovery.media_connected() {
                        bot.on_event(&call, &event).await;
                    }
                }
                Some(news @ (Control::Failed | Control::Stalled)) if !view.on_hold => {
                    let failed = matches!(news, Control::Failed);
                    tracing::info!(call_id = %call.call_id(), failed, "media lost");
                    if let Some(event) = recovery.media_lost(Instant::now(), failed) {
                        bot.on_event(&call, &event).await;
                    }
                }
                Some(Control::Failed | Control::Stalled) => {}
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
                Some(Frame::Unmixed(slot, frame, source)) => {
                    match view.speaker(slot, source) {
                        Some(who) => bot.on_participant_audio(&call, &who, &frame).await,
                        None => {
                            let held = unplaced.entry(slot).or_default();
                            if held.len() == UNPLACED_FRAMES {
                                held.pop_front();
                            }
                            held.push_back((frame, source));
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

/// The call went on in a new one (a lost 1:1 call resumed): the bot hears of it, and a
/// media connection is offered there from `now`.
async fn went_on<B: Bot>(
    bot: &mut B,
    call: &CallHandle,
    recovery: &mut Recovery,
    events: &[CallEvent],
    now: Instant,
) {
    for event in events {
        bot.on_event(call, event).await;
    }
    recovery.rejoined(now);
}

/// Sleeps until `deadline`, or for ever.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Offers a new media connection from the call's socket (its answer replaces the old one).
#[allow(clippy::disallowed_methods)] // making a connection reads the clock
async fn offer_connection(
    handle: &CallHandle,
    local: SocketAddr,
    layout: MediaLayout,
    options: PeerOptions,
) -> Option<Peer> {
    let call_id = handle.call_id();
    let (peer, sdp) = match Peer::offer(local, layout, options, Instant::now()) {
        Ok(offer) => offer,
        Err(e) => {
            tracing::warn!(%call_id, "cannot offer a new connection: {e}");
            return None;
        }
    };
    tracing::info!(%call_id, "offering a new media connection");
    // Not waiting for the `ok`: the answer comes as an event, a refusal as an error.
    match handle
        .inner
        .client
        .send(ClientMessage::SdpOffer { call_id, sdp })
        .await
    {
        Ok(()) => Some(peer),
        Err(e) => {
            tracing::warn!(%call_id, "offer not sent: {e}");
            None
        }
    }
}

/// The service answered a replacement offer: the media thread carries on over it.
#[allow(clippy::disallowed_methods)] // see `offer_connection`
fn replace_connection(handle: &CallHandle, view: &mut View, mut peer: Peer, answer: &str) {
    if let Err(e) = peer.accept_answer(answer, Instant::now()) {
        tracing::warn!(call_id = %handle.call_id(), "replacement answer refused: {e}");
        return;
    }
    view.mids = peer
        .layout()
        .sections()
        .into_iter()
        .filter_map(|s| Some((peer.mid(s)?.to_owned(), s)))
        .collect();
    // Slots are announced anew for the new connection.
    view.slots.clear();
    if handle
        .inner
        .to_media
        .try_send(ToMedia::Restart(Box::new(peer)))
        .is_err()
    {
        tracing::warn!(call_id = %handle.call_id(), "media thread busy: replacement dropped");
    }
}

fn source_of(section: Section) -> VideoSource {
    if section == Section::ScreenSlot {
        VideoSource::Screen
    } else {
        VideoSource::Camera
    }
}
