//! The recorder bot: joins a call and writes, in one directory,
//! - `mixed.wav` — the call's mix (everyone but the recorder), 48 kHz mono;
//! - `participants/<identity>.wav` — each participant's own audio from the unmixed slots,
//!   48 kHz mono, silence where they were not heard; every WAV starts at the same instant,
//!   so sample n of any file is the same moment of the call: participants' files to the
//!   sample (placed by the service's room clock, never stretched), the mix within a frame;
//! - `participants/<identity>.h264` (and `<identity>-screen.h264`) — their camera (and screen
//!   share) as received, H.264 Annex-B from the first keyframe, playable by ffmpeg/ffprobe;
//! - `manifest.json` — participants, joins and leaves with reasons, mute changes, the
//!   recorder's own reconnects (its files are silent while it was away), the
//!   dominant-speaker timeline, screen shares, the files, frame and loss counters; all times
//!   in milliseconds on the recording's clock.
//!
//! Identities become file names with `:` replaced by `_` (`8:confab:…` → `8_confab_…`).
//! Files are valid at every moment (WAV headers are fixed up every second, the manifest is
//! rewritten atomically every two seconds), so a killed recorder loses at most a second.

mod wav;

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use confab_bot::{
    AudioFrame, AudioRate, Bot, BotConfig, CallEvent, CallHandle, EncodedPicture, EndReason,
    Identity, MediaTime, Participant, ParticipantId, VideoReception, VideoSource,
};
use serde_json::{Value, json};

use crate::wav::{ClockWav, RATE};

/// How often the manifest is rewritten.
const MANIFEST_EVERY_MS: u64 = 2000;

/// The recorder could not write its output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecorderError {
    /// A file or directory could not be made or written.
    #[error("{path}: {message}")]
    Io {
        /// Which.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// What one participant left in the recording.
#[derive(Debug)]
struct Track {
    /// File-name stem of its files.
    stem: String,
    participant: Participant,
    joined_ms: u64,
    left: Option<(u64, EndReason)>,
    audio: Option<ClockWav>,
    audio_file: String,
    audio_frames: u64,
    audio_seconds: f64,
    video: HashMap<VideoSource, (File, String, u64)>,
}

/// The recorder bot; see the crate docs for what it writes.
#[derive(Debug)]
pub struct Recorder {
    out: PathBuf,
    mixed: Option<ClockWav>,
    mixed_frames: u64,
    mixed_seconds: f64,
    /// One per participant (an identity on two devices is two participants).
    tracks: HashMap<ParticipantId, Track>,
    events: Vec<Value>,
    dominant: Vec<Value>,
    call_id: Option<String>,
    last_manifest_ms: u64,
    ended: Option<(u64, EndReason)>,
    errors: Vec<String>,
}

/// File-name form of an identity.
pub fn file_stem(identity: &Identity) -> String {
    identity
        .to_string()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '+' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> RecorderError {
    RecorderError::Io {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn ms(t: MediaTime) -> u64 {
    t.as_micros() / 1000
}

fn sample_at(t: MediaTime) -> u64 {
    t.as_micros() * u64::from(RATE) / 1_000_000
}

impl Recorder {
    /// A recorder writing into `out` (created if missing).
    pub fn new(out: impl Into<PathBuf>) -> Result<Recorder, RecorderError> {
        let out = out.into();
        let participants = out.join("participants");
        std::fs::create_dir_all(&participants).map_err(|e| io_error(&participants, e))?;
        let mixed_path = out.join("mixed.wav");
        let mixed = ClockWav::create(&mixed_path).map_err(|e| io_error(&mixed_path, e))?;
        Ok(Recorder {
            out,
            mixed: Some(mixed),
            mixed_frames: 0,
            mixed_seconds: 0.0,
            tracks: HashMap::new(),
            events: Vec::new(),
            dominant: Vec::new(),
            call_id: None,
            last_manifest_ms: 0,
            ended: None,
            errors: Vec::new(),
        })
    }

    /// The settings a recorder needs from the SDK: 48 kHz, 16 unmixed slots, H.264 as
    /// received from up to 10 cameras.
    pub fn configure(config: &mut BotConfig) {
        config.audio_rate = AudioRate::Hz48000;
        config.unmixed_slots = config.unmixed_slots.max(16);
        config.video_slots = 10;
        config.video = VideoReception::Encoded;
    }

    fn note_error(&mut self, e: impl std::fmt::Display) {
        let message = e.to_string();
        tracing::warn!("recorder: {message}");
        if self.errors.len() < 100 {
            self.errors.push(message);
        }
    }

    fn track(&mut self, who: &Participant, now_ms: u64) -> &mut Track {
        // Files are named by identity; a second participant with the same identity (another
        // device) gets its participant id added.
        let mut stem = file_stem(&who.identity);
        if self
            .tracks
            .values()
            .any(|t| t.participant.identity == who.identity && t.participant.id != who.id)
        {
            stem = format!("{stem}-p{}", who.id.0);
        }
        self.tracks.entry(who.id).or_insert_with(|| Track {
            stem: stem.clone(),
            participant: who.clone(),
            joined_ms: now_ms,
            left: None,
            audio: None,
            audio_file: format!("participants/{stem}.wav"),
            audio_frames: 0,
            audio_seconds: 0.0,
            video: HashMap::new(),
        })
    }

    fn event(&mut self, at_ms: u64, kind: &str, who: &Participant, extra: Value) {
        let mut event = json!({
            "at_ms": at_ms,
            "kind": kind,
            "participant": who.id.0,
            "identity": who.identity.to_string(),
            "display_name": who.display_name,
        });
        if let (Value::Object(e), Value::Object(x)) = (&mut event, extra) {
            e.extend(x);
        }
        self.events.push(event);
    }

    /// The manifest as it stands.
    pub fn manifest(&self, call: &CallHandle) -> Value {
        let stats = call.stats();
        let mut participants: Vec<&Track> = self.tracks.values().collect();
        participants.sort_by_key(|t| t.participant.id);
        let mut files = vec![
            json!({"file": "mixed.wav", "kind": "mixed_audio", "seconds": self.mixed_seconds}),
        ];
        let participants: Vec<Value> = participants
            .iter()
            .map(|t| {
                let video: serde_json::Map<String, Value> = t
                    .video
                    .iter()
                    .map(|(source, (_, file, frames))| {
                        let key = match source {
                            VideoSource::Camera => "camera",
                            VideoSource::Screen => "screen",
                        };
                        (key.to_owned(), json!({"file": file, "frames": frames}))
                    })
                    .collect();
                if t.audio_frames > 0 {
                    files.push(json!({"file": t.audio_file, "kind": "participant_audio", "identity": t.participant.identity.to_string(), "seconds": t.audio_seconds}));
                }
                for (source, (_, file, frames)) in &t.video {
                    files.push(json!({"file": file, "kind": if *source == VideoSource::Screen { "screen_h264" } else { "camera_h264" }, "identity": t.participant.identity.to_string(), "frames": frames}));
                }
                json!({
                    "participant": t.participant.id.0,
                    "identity": t.participant.identity.to_string(),
                    "display_name": t.participant.display_name,
                    "role": t.participant.role,
                    "joined_ms": t.joined_ms,
                    "left_ms": t.left.as_ref().map(|l| l.0),
                    "left_reason": t.left.as_ref().map(|l| &l.1),
                    "audio": (t.audio_frames > 0).then(|| json!({"file": t.audio_file, "frames": t.audio_frames})),
                    "video": video,
                })
            })
            .collect();
        json!({
            "call_id": self.call_id,
            "clock": "milliseconds since the recording started; sample n of every WAV is n/48000 s after it",
            "sample_rate": RATE,
            "participants": participants,
            "events": self.events,
            "dominant_speakers": self.dominant,
            "files": files,
            "counters": {
                "mixed_frames": self.mixed_frames,
                "unmixed_frames": stats.unmixed_frames,
                "frames_dropped": stats.frames_dropped,
                "audio_packets_lost": stats.packets_lost,
                "audio_frames_concealed": stats.concealed,
                "late_ticks": stats.ticks_late,
            },
            "ended": self.ended.as_ref().map(|(at, reason)| json!({"at_ms": at, "reason": reason})),
            "errors": self.errors,
        })
    }

    /// Writes `manifest.json` atomically (a temporary file renamed over it).
    fn write_manifest(&mut self, call: &CallHandle) {
        let path = self.out.join("manifest.json");
        let tmp = self.out.join("manifest.json.tmp");
        let text = match serde_json::to_vec_pretty(&self.manifest(call)) {
            Ok(t) => t,
            Err(e) => return self.note_error(e),
        };
        let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            self.note_error(io_error(&path, e));
        }
    }

    fn maybe_write_manifest(&mut self, call: &CallHandle) {
        let now = ms(call.now());
        if now >= self.last_manifest_ms + MANIFEST_EVERY_MS {
            self.last_manifest_ms = now;
            self.write_manifest(call);
        }
    }
}

#[async_trait]
impl Bot for Recorder {
    async fn on_joined(&mut self, call: &CallHandle) {
        self.call_id = Some(call.call_id().0.to_string());
        self.write_manifest(call);
    }

    async fn on_mixed_audio(&mut self, call: &CallHandle, frame: &AudioFrame) {
        self.mixed_frames += 1;
        if let Some(wav) = &mut self.mixed {
            let written = wav.write_at(sample_at(frame.timestamp()), frame.samples());
            self.mixed_seconds = wav.seconds();
            if let Err(e) = written {
                self.note_error(e);
            }
        }
        self.maybe_write_manifest(call);
    }

    async fn on_participant_audio(
        &mut self,
        _call: &CallHandle,
        who: &Participant,
        frame: &AudioFrame,
    ) {
        let now_ms = ms(frame.timestamp());
        let out = self.out.clone();
        let track = self.track(who, now_ms);
        if track.audio.is_none() {
            let path = out.join(&track.audio_file);
            match ClockWav::create(&path) {
                Ok(wav) => track.audio = Some(wav),
                Err(e) => return self.note_error(io_error(&path, e)),
            }
        }
        track.audio_frames += 1;
        let written = track.audio.as_mut().map(|wav| {
            let written = wav.write_at(sample_at(frame.timestamp()), frame.samples());
            (written, wav.seconds())
        });
        if let Some((_, seconds)) = &written {
            track.audio_seconds = *seconds;
        }
        if let Some((Err(e), _)) = written {
            self.note_error(e);
        }
    }

    async fn on_encoded_video(
        &mut self,
        _call: &CallHandle,
        who: &Participant,
        source: VideoSource,
        picture: &EncodedPicture,
    ) {
        let out = self.out.clone();
        let track = self.track(who, ms(picture.at));
        let stem = track.stem.clone();
        if let std::collections::hash_map::Entry::Vacant(slot) = track.video.entry(source) {
            // Start at a keyframe: the file decodes from its first byte.
            if !picture.keyframe {
                return;
            }
            let file = match source {
                VideoSource::Camera => format!("participants/{stem}.h264"),
                VideoSource::Screen => format!("participants/{stem}-screen.h264"),
            };
            let path = out.join(&file);
            match File::create(&path) {
                Ok(f) => {
                    slot.insert((f, file, 0));
                }
                Err(e) => return self.note_error(io_error(&path, e)),
            }
        }
        if let Some((file, _, frames)) = track.video.get_mut(&source) {
            *frames += 1;
            if let Err(e) = file.write_all(&picture.data) {
                self.note_error(e);
            }
        }
    }

    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        let now_ms = ms(call.now());
        match event {
            CallEvent::Joined(p) => {
                self.track(p, now_ms).participant = p.clone();
                self.event(now_ms, "joined", p, json!({}));
            }
            CallEvent::Left {
                participant,
                reason,
            } => {
                self.track(participant, now_ms).left = Some((now_ms, reason.clone()));
                self.event(now_ms, "left", participant, json!({ "reason": reason }));
            }
            CallEvent::Muted { participant, muted } => {
                let kind = if *muted { "muted" } else { "unmuted" };
                self.event(now_ms, kind, participant, json!({}));
            }
            CallEvent::DominantSpeaker(p) => {
                self.dominant.push(json!({
                    "at_ms": now_ms,
                    "participant": p.id.0,
                    "identity": p.identity.to_string(),
                    "display_name": p.display_name,
                }));
            }
            CallEvent::ScreenShare {
                participant,
                active,
            } => {
                let kind = if *active {
                    "screen_share_started"
                } else {
                    "screen_share_stopped"
                };
                self.event(now_ms, kind, participant, json!({}));
            }
            CallEvent::Changed(p) => {
                self.track(p, now_ms).participant = p.clone();
                self.event(
                    now_ms,
                    "changed",
                    p,
                    json!({ "state": p.state, "video": p.video }),
                );
            }
            CallEvent::Dtmf {
                participant,
                digit,
                duration_ms,
            } => {
                self.event(
                    now_ms,
                    "dtmf",
                    participant,
                    json!({ "digit": digit.to_string(), "duration_ms": duration_ms }),
                );
            }
            // The recorder's own network dropped and came back: what it missed meanwhile is
            // silence in the files, and the manifest says why.
            CallEvent::Reconnecting | CallEvent::Reconnected => {
                let kind = if *event == CallEvent::Reconnecting {
                    "recorder_reconnecting"
                } else {
                    "recorder_reconnected"
                };
                self.events.push(json!({ "at_ms": now_ms, "kind": kind }));
            }
            // The call's node was lost and the call goes on, in a fresh instance on a live
            // node: the same files carry on (with a gap), the participants rejoin under new ids.
            CallEvent::Rejoined { call_id } => {
                self.events.push(json!({
                    "at_ms": now_ms,
                    "kind": "call_rejoined",
                    "call_id": call_id,
                }));
            }
            _ => {}
        }
        self.maybe_write_manifest(call);
    }

    async fn on_left(&mut self, call: &CallHandle, reason: &EndReason) {
        self.ended = Some((ms(call.now()), reason.clone()));
        let mut errors = Vec::new();
        if let Some(Err(e)) = self.mixed.take().map(ClockWav::finish) {
            errors.push(e.to_string());
        }
        for track in self.tracks.values_mut() {
            if let Some(Err(e)) = track.audio.take().map(ClockWav::finish) {
                errors.push(e.to_string());
            }
            for (file, _, _) in track.video.values_mut() {
                if let Err(e) = file.flush() {
                    errors.push(e.to_string());
                }
            }
        }
        for e in errors {
            self.note_error(e);
        }
        self.write_manifest(call);
    }
}
