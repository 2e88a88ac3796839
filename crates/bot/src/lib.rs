//! The confab bot SDK: what a robot needs to take part in a call.
//!
//! A [`BotClient`] signs in to a confab service (one WebSocket) and runs any number of calls
//! on it: it joins group calls, places 1:1 calls and answers incoming ones. Each call gets
//! its own peer connection in confab's fixed media layout and its own media thread, and is
//! driven by a [`Bot`] — the trait the robot implements (every method has a no-op default).
//!
//! What a bot receives, at the same time: the call's **mixed audio** (20 ms PCM frames at
//! 16 or 48 kHz, its own voice never in it), **each participant's own audio** in up to
//! `unmixed_slots` (default 16) slots, tagged with the participant's identity and display
//! name, **decoded video** (I420, scaled down to a preferred size) or the **H.264** itself
//! per participant and for the screen share, and **events**: roster, states, mute, dominant
//! speaker, screen share, end of call.
//!
//! What a bot sends, through its [`CallHandle`]: **audio**, paced by the SDK on a steady
//! 20 ms clock from a bounded queue (a bot late by less than a frame leaves no gap; a
//! low-queue event says when to hurry), **video** from I420 frames (encoded here) or
//! pre-encoded H.264, as camera or screen share, and **control**: mute, hold, invite, remove,
//! subscribe to someone's video, hang up.
//!
//! Media never runs on the async runtime: decoding, jitter buffering, pacing and encoding
//! happen on the call's media thread; frames reach the bot through bounded queues, and a
//! bot too slow to take them loses its own frames (counted in [`CallStats`]), never the
//! call's media.
//!
//! ```no_run
//! use confab_bot::{async_trait, AudioFrame, Bot, BotClient, BotConfig, CallHandle, Identity, Participant};
//!
//! struct Transcriber;
//!
//! #[async_trait]
//! impl Bot for Transcriber {
//!     async fn on_participant_audio(&mut self, _call: &CallHandle, who: &Participant, frame: &AudioFrame) {
//!         // 20 ms of one person's own voice (16 or 48 kHz), tagged with who it is.
//!         println!("{} ({}): {} samples", who.display_name, who.identity, frame.samples().len());
//!     }
//!     async fn on_mixed_audio(&mut self, _call: &CallHandle, _frame: &AudioFrame) {
//!         // The whole call, never the bot's own voice; answer with call.send_audio(frame).await.
//!     }
//! }
//!
//! async fn run(token: String, group: uuid::Uuid) -> Result<(), confab_bot::BotError> {
//!     let config = BotConfig::new("http://127.0.0.1:8080", Identity::Bot("transcriber".into()), token);
//!     let client = BotClient::connect(config).await?;
//!     let call = client.join_group(group, Transcriber).await?;
//!     println!("call over: {:?}", call.finished().await?.reason);
//!     Ok(())
//! }
//! ```
//!
//! This crate must not know the service's internals: it speaks the public protocol
//! (`docs/protocol.md`) over WebSocket and WebRTC, like any other client.

mod bot;
mod call;
mod client;
mod config;
mod error;
mod events;
mod handle;
mod media;
mod recovery;
mod router;

pub use bot::Bot;
pub use client::{BotClient, CallTask, IncomingCall};
pub use config::{AudioRate, BotConfig, VideoReception};
pub use error::{BotError, SendError};
pub use events::{CallEvent, CallReport, EncodedPicture, Participant, VideoSource};
pub use handle::{CallHandle, CallStats};

/// The attribute for implementing [`Bot`] (re-exported so bots need no extra dependency).
pub use async_trait::async_trait;
pub use confab_media::{AudioFrame, MediaTime, VideoFrame};
pub use confab_signaling::protocol::{CallId, ParticipantId};
pub use confab_signaling::{EndKind, EndReason, Identity, ParticipantState, token_identity};
