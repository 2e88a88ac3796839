//! The media thread's loop.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use confab_codecs::{AudioEncoder, OpusEncoder, OpusEncoderConfig};
use confab_media::{AudioFormat, AudioFrame, AudioLevel, MediaTime, VideoFrame};
use confab_transport::jitter::AudioPacket;
use confab_transport::peer::{Peer, PeerEvent, Section};
use confab_transport::udp::{flush, pump_until_input};
use tokio::sync::mpsc;

use super::fec::FecPolicy;
use super::pacer::{FRAME, Paced, Pacer};
use super::receive::{AudioReceiver, CallClock};
use super::video::{VideoReceiver, VideoSender, fit};
use super::{AudioQueue, Control, Frame, SharedStats, Stats, ToMedia};
use crate::VideoSource;

/// The longest the thread sleeps in the socket without looking at its commands.
const COMMAND_POLL: Duration = Duration::from_millis(20);
/// How often the loss the service reports for our audio is looked at (its reception
/// reports come about once a second).
const LOSS_CHECK: Duration = Duration::from_secs(1);
/// Keyframe requests for one slot at most this often.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// What the media thread is given.
pub(crate) struct MediaThreadConfig {
    pub(crate) socket: UdpSocket,
    pub(crate) peer: Peer,
    pub(crate) format: AudioFormat,
    pub(crate) origin: Instant,
    pub(crate) queue: std::sync::Arc<AudioQueue>,
    pub(crate) commands: Receiver<ToMedia>,
    pub(crate) frames: mpsc::Sender<Frame>,
    pub(crate) control: mpsc::Sender<Control>,
    pub(crate) stats: Stats,
    pub(crate) video_encoded: bool,
    pub(crate) video_decoded: bool,
    pub(crate) max_video_size: (u32, u32),
    pub(crate) video_bitrate_bps: u32,
    /// The camera's simulcast layers (1: none; 2: as given and halved).
    pub(crate) camera_layers: u8,
    /// Media silent this long (while connected) is reported as stalled.
    pub(crate) media_timeout: Duration,
}

/// The running thread.
#[derive(Debug)]
pub(crate) struct MediaThread {
    join: Option<JoinHandle<()>>,
}

impl MediaThread {
    pub(crate) fn start(config: MediaThreadConfig) -> std::io::Result<MediaThread> {
        let join = std::thread::Builder::new()
            .name("confab-bot-media".into())
            .spawn(move || {
                if let Err(e) = Media::new(config).and_then(Media::run) {
                    tracing::error!("bot media thread: {e}");
                }
            })?;
        Ok(MediaThread { join: Some(join) })
    }

    /// Waits for the thread to end (after `ToMedia::Stop` or the command channel closing).
    pub(crate) fn join(mut self) {
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

/// Hands a frame to the bot's task; when the bot is slower than the media its frames go
/// (counted), the call's media does not.
fn deliver(c: &MediaThreadConfig, frame: Frame) {
    if c.frames.try_send(frame).is_err() {
        SharedStats::add(&c.stats.frames_dropped, 1);
    }
}

struct Media {
    c: MediaThreadConfig,
    encoder: OpusEncoder,
    pacer: Pacer,
    mix: AudioReceiver,
    unmixed: HashMap<u8, AudioReceiver>,
    /// One timeline for the mix and every unmixed slot (the service's room clock).
    call_clock: CallClock,
    video_in: HashMap<Section, VideoReceiver>,
    keyframe_asked: HashMap<Section, Instant>,
    video_out: HashMap<VideoSource, VideoSender>,
    /// With camera simulcast: the encoder of the halved camera (the lower layer).
    camera_half: Option<VideoSender>,
    payload: Vec<u8>,
    datagram: Vec<u8>,
    /// Decoded audio frames on their way to the bot (reused: no allocation per packet).
    ready: Vec<(AudioFrame, Option<u32>)>,
    next_tick: Instant,
    /// Connected, and when media last arrived (the service sends the mix every 20 ms).
    connected: bool,
    last_media: Instant,
    stall_reported: Option<Instant>,
    /// Loss and concealment counted on connections before the current one.
    lost_before: u64,
    concealed_before: u64,
    /// FEC strength from the reported loss, and when to look next.
    fec: FecPolicy,
    next_loss_check: Instant,
}

impl Media {
    #[allow(clippy::disallowed_methods)] // the media thread is a driver: it reads the clock
    fn new(c: MediaThreadConfig) -> Result<Media, String> {
        let encoder =
            OpusEncoder::new(c.format, OpusEncoderConfig::default()).map_err(|e| e.to_string())?;
        let mix = AudioReceiver::new(c.format)?;
        c.stats.audio_fec_percent.store(
            u64::from(encoder.config().expected_loss_percent),
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(Media {
            encoder,
            pacer: Pacer::default(),
            mix,
            unmixed: HashMap::new(),
            call_clock: CallClock::default(),
            video_in: HashMap::new(),
            keyframe_asked: HashMap::new(),
            video_out: HashMap::new(),
            camera_half: None,
            payload: Vec::with_capacity(1500),
            datagram: vec![0; 2048],
            ready: Vec::new(),
            next_tick: Instant::now() + FRAME,
            connected: false,
            last_media: Instant::now(),
            stall_reported: None,
            lost_before: 0,
            concealed_before: 0,
            fec: FecPolicy::default(),
            next_loss_check: Instant::now() + LOSS_CHECK,
            c,
        })
    }

    fn at(&self, now: Instant) -> MediaTime {
        MediaTime::from_micros(now.saturating_duration_since(self.c.origin).as_micros() as u64)
    }

    #[allow(clippy::disallowed_methods)] // see `new`
    fn run(mut self) -> Result<(), String> {
        loop {
            let now = Instant::now();
            // Wake for every datagram (audio is handed on as it arrives), the next paced
            // send, a missing packet's deadline, the 20 ms housekeeping tick, or a wake-up
            // (queued audio, commands).
            let mut until = self.next_tick.min(now + COMMAND_POLL);
            if let Some(due) = self.pacer.deadline(&self.c.queue) {
                until = until.min(due);
            }
            if let Some(due) = self.audio_deadline() {
                until = until.min(due);
            }
            pump_until_input(&self.c.socket, &mut self.c.peer, until, &mut self.datagram)
                .map_err(|e| e.to_string())?;
            self.peer_events();
            self.play_audio(Instant::now());
            loop {
                let stopping = self
                    .c
                    .stats
                    .stopping
                    .load(std::sync::atomic::Ordering::Relaxed);
                match self.c.commands.try_recv() {
                    _ if stopping => {
                        self.c.peer.close();
                        let _ = flush(&self.c.socket, &mut self.c.peer);
                        self.c.queue.space.close();
                        return Ok(());
                    }
                    Ok(ToMedia::Stop) | Err(TryRecvError::Disconnected) => {
                        self.c.peer.close();
                        let _ = flush(&self.c.socket, &mut self.c.peer);
                        self.c.queue.space.close();
                        return Ok(());
                    }
                    Ok(command) => self.command(command),
                    Err(TryRecvError::Empty) => break,
                }
            }
            let now = Instant::now();
            self.pace(now);
            if now >= self.next_tick {
                self.tick(now, self.next_tick);
                self.next_tick += FRAME;
                if now >= self.next_tick {
                    SharedStats::add(&self.c.stats.ticks_late, 1);
                    self.next_tick = now + FRAME;
                }
            }
        }
    }

    fn control(&self, control: Control) {
        if self.c.control.try_send(control).is_err() {
            tracing::warn!("bot control queue full");
        }
    }

    fn deliver(&self, frame: Frame) {
        deliver(&self.c, frame);
    }

    #[allow(clippy::disallowed_methods)] // see `new`
    fn peer_events(&mut self) {
        while let Some(event) = self.c.peer.poll_event() {
            let now = Instant::now();
            match event {
                PeerEvent::Connected => {
                    self.connected = true;
                    self.last_media = now;
                    self.control(Control::Connected);
                }
                PeerEvent::Failed | PeerEvent::Closed => {
                    self.connected = false;
                    self.control(Control::Failed);
                }
                PeerEvent::Rtp {
                    section,
                    packet,
                    audio_level,
                } => {
                    self.last_media = now;
                    self.stall_reported = None;
                    let audio = || AudioPacket {
                        seq: packet.header.sequence_number,
                        timestamp: packet.header.timestamp,
                        payload: packet.payload.clone(),
                        level: audio_level,
                    };
                    match section {
                        Section::Audio => self.mix.insert(audio(), None, now),
                        Section::UnmixedAudio(slot) => {
                            if !self.unmixed.contains_key(&slot) {
                                match AudioReceiver::new(self.c.format) {
                                    Ok(r) => {
                                        self.unmixed.insert(slot, r);
                                    }
                                    Err(e) => {
                                        tracing::error!("unmixed slot {slot}: {e}");
                                        continue;
                                    }
                                }
                            }
                            if let Some(r) = self.unmixed.get_mut(&slot) {
                                r.insert(audio(), packet.header.csrc.first().copied(), now);
                            }
                        }
                        Section::VideoSlot(_) | Section::ScreenSlot => {
                            self.video(section, &packet, now);
                        }
                        Section::Camera | Section::Screen => {}
                    }
                }
                PeerEvent::KeyframeRequest { section } => {
                    let source = if section == Section::Screen {
                        VideoSource::Screen
                    } else {
                        VideoSource::Camera
                    };
                    if let Some(sender) = self.video_out.get_mut(&source) {
                        sender.force_keyframe = true;
                    }
                    if let (VideoSource::Camera, Some(half)) = (source, &mut self.camera_half) {
                        half.force_keyframe = true;
                    }
                    self.control(Control::KeyframeRequested(source));
                }
                _ => {}
            }
        }
    }

    fn video(
        &mut self,
        section: Section,
        packet: &confab_transport::peer::RtpPacket,
        now: Instant,
    ) {
        let at = self.at(now);
        if !self.video_in.contains_key(&section) {
            match VideoReceiver::new(
                self.c.video_encoded,
                self.c.video_decoded,
                self.c.max_video_size,
            ) {
                Ok(r) => {
                    self.video_in.insert(section, r);
                }
                Err(e) => {
                    tracing::error!("video receiver: {e}");
                    return;
                }
            }
        }
        let Some(receiver) = self.video_in.get_mut(&section) else {
            return;
        };
        let received = receiver.push(
            packet.header.sequence_number,
            &packet.payload,
            packet.header.marker,
            at,
        );
        if received.wants_keyframe {
            let due = self
                .keyframe_asked
                .get(&section)
                .is_none_or(|t| now.saturating_duration_since(*t) >= KEYFRAME_REQUEST_INTERVAL);
            if due {
                self.keyframe_asked.insert(section, now);
                self.c.peer.request_keyframe(section, now);
            }
        }
        if let Some((data, keyframe)) = received.encoded {
            self.deliver(Frame::Encoded(section, data, keyframe, at));
        }
        if let Some(picture) = received.decoded {
            SharedStats::add(&self.c.stats.video_frames, 1);
            self.deliver(Frame::Video(section, picture));
        }
    }

    #[allow(clippy::disallowed_methods)] // see `new`
    fn command(&mut self, command: ToMedia) {
        let now = Instant::now();
        let timestamp = (now.saturating_duration_since(self.c.origin).as_micros() * 9 / 100) as u32;
        let (source, unit) = match command {
            ToMedia::Video(VideoSource::Camera, frame) if self.c.camera_layers > 1 => {
                self.send_simulcast_camera(&frame, now, timestamp);
                return;
            }
            ToMedia::Video(source, frame) => {
                let bitrate = self.c.video_bitrate_bps;
                let sender = self
                    .video_out
                    .entry(source)
                    .or_insert_with(|| VideoSender::new(bitrate));
                match sender.encode(&frame) {
                    Ok(Some(unit)) => (source, unit),
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!("video encode: {e}");
                        return;
                    }
                }
            }
            ToMedia::H264(source, unit) => (source, unit),
            ToMedia::Restart(peer) => {
                self.restart(*peer, now);
                return;
            }
            ToMedia::Stop => return,
        };
        let section = match source {
            VideoSource::Camera => Section::Camera,
            VideoSource::Screen => Section::Screen,
        };
        if self
            .c
            .peer
            .send_video(section, now, &unit, timestamp)
            .is_ok()
        {
            SharedStats::add(&self.c.stats.video_sent, 1);
        }
    }

    /// One camera frame in two simulcast layers: halved (layer 0) and as given (layer 1).
    fn send_simulcast_camera(&mut self, frame: &VideoFrame, now: Instant, timestamp: u32) {
        let bitrate = self.c.video_bitrate_bps;
        let half = fit(
            frame.clone(),
            ((frame.width() / 2).max(16), (frame.height() / 2).max(16)),
        );
        let full = self
            .video_out
            .entry(VideoSource::Camera)
            .or_insert_with(|| VideoSender::new(bitrate / 4 * 3));
        let full = full.encode(frame);
        let small = self
            .camera_half
            .get_or_insert_with(|| VideoSender::new(bitrate / 4))
            .encode(&half);
        for (layer, encoded) in [(0, small), (1, full)] {
            match encoded {
                Ok(Some(unit)) => {
                    let sent =
                        self.c
                            .peer
                            .send_video_layer(Section::Camera, layer, now, &unit, timestamp);
                    if sent.is_ok() && layer == 1 {
                        SharedStats::add(&self.c.stats.video_sent, 1);
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("video encode (layer {layer}): {e}"),
            }
        }
    }

    /// Moves to a new connection: what was received on the old one is gone (its streams
    /// end; the new ones are numbered afresh), senders go on and start with a keyframe.
    fn restart(&mut self, peer: Peer, now: Instant) {
        self.lost_before +=
            self.mix.lost() + self.unmixed.values().map(AudioReceiver::lost).sum::<u64>();
        self.concealed_before +=
            self.mix.concealed + self.unmixed.values().map(|r| r.concealed).sum::<u64>();
        match AudioReceiver::new(self.c.format) {
            Ok(mix) => self.mix = mix,
            Err(e) => tracing::error!("mixed audio receiver: {e}"),
        }
        self.unmixed.clear();
        self.video_in.clear();
        self.keyframe_asked.clear();
        for sender in self.video_out.values_mut().chain(self.camera_half.as_mut()) {
            sender.force_keyframe = true;
        }
        self.c.peer = peer;
        self.connected = false;
        self.last_media = now;
        self.stall_reported = None;
    }

    /// Sets the encoder's FEC strength from the loss the service reports for our audio.
    fn follow_reported_loss(&mut self) {
        let Some(lost) = self.c.peer.reported_loss(Section::Audio) else {
            return;
        };
        let expected = self.fec.report(lost);
        let s = &self.c.stats;
        s.audio_loss_reported_percent.store(
            (lost * 100.0).round() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        s.audio_fec_percent
            .store(u64::from(expected), std::sync::atomic::Ordering::Relaxed);
        let mut config = self.encoder.config();
        if config.expected_loss_percent != expected {
            tracing::debug!(reported = lost, expected, "audio FEC strength");
            config.expected_loss_percent = expected;
            if let Err(e) = self.encoder.apply(config) {
                tracing::warn!("encoder: {e}");
            }
        }
    }

    /// Sends every frame the pacer releases now (more than one when a late bot catches up).
    fn pace(&mut self, now: Instant) {
        while let Paced::Send(frame, timestamp) = self.pacer.poll(&self.c.queue, now) {
            self.payload.clear();
            if self.encoder.encode(&frame, &mut self.payload).is_ok() {
                let level = AudioLevel::measure(frame.samples()).wire_value();
                let payload = Bytes::copy_from_slice(&self.payload);
                let _ =
                    self.c
                        .peer
                        .send_audio(Section::Audio, now, payload, timestamp, Some(level));
            }
        }
        let s = &self.c.stats;
        s.audio_sent
            .store(self.pacer.sent, std::sync::atomic::Ordering::Relaxed);
        s.audio_late
            .store(self.pacer.late, std::sync::atomic::Ordering::Relaxed);
        s.audio_underruns
            .store(self.pacer.underruns, std::sync::atomic::Ordering::Relaxed);
        if let Some(queued) = self.pacer.poll_low(&self.c.queue) {
            self.control(Control::QueueLow(queued));
        }
    }

    /// The earliest deadline of a missing packet in any incoming audio stream.
    fn audio_deadline(&self) -> Option<Instant> {
        std::iter::once(&self.mix)
            .chain(self.unmixed.values())
            .filter_map(AudioReceiver::deadline)
            .min()
    }

    /// Hands on every audio frame ready now: the mix and each unmixed slot, in order.
    fn play_audio(&mut self, now: Instant) {
        let clock = self.at(now);
        let Media {
            c,
            mix,
            unmixed,
            call_clock,
            ready,
            ..
        } = self;
        mix.poll(now, clock, call_clock, ready);
        for (frame, _) in ready.drain(..) {
            SharedStats::add(&c.stats.mixed_frames, 1);
            deliver(c, Frame::Mixed(frame));
        }
        for (&slot, receiver) in unmixed {
            receiver.poll(now, clock, call_clock, ready);
            for (frame, source) in ready.drain(..) {
                SharedStats::add(&c.stats.unmixed_frames, 1);
                deliver(c, Frame::Unmixed(slot, frame, source));
            }
        }
    }

    /// The 20 ms housekeeping tick: loss counters for the handles.
    fn tick(&mut self, now: Instant, _scheduled: Instant) {
        SharedStats::add(&self.c.stats.ticks, 1);
        let timeout = self.c.media_timeout;
        if self.connected
            && now.saturating_duration_since(self.last_media) >= timeout
            && self
                .stall_reported
                .is_none_or(|t| now.saturating_duration_since(t) >= timeout)
        {
            self.stall_reported = Some(now);
            self.control(Control::Stalled);
        }
        if self.connected && now >= self.next_loss_check {
            self.next_loss_check = now + LOSS_CHECK;
            self.follow_reported_loss();
        }
        let lost = self.lost_before
            + self.mix.lost()
            + self.unmixed.values().map(AudioReceiver::lost).sum::<u64>();
        let concealed = self.concealed_before
            + self.mix.concealed
            + self.unmixed.values().map(|r| r.concealed).sum::<u64>();
        let s = &self.c.stats;
        s.packets_lost
            .store(lost, std::sync::atomic::Ordering::Relaxed);
        s.concealed
            .store(concealed, std::sync::atomic::Ordering::Relaxed);
    }
}
