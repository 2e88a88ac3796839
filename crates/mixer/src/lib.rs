//! confab's mixed-audio pipeline: what every participant hears.
//!
//! This crate owns:
//! - [`AudioMixer`]: one room's audio. Per 20 ms tick: one jitter-buffer decision per source,
//!   voice activity from RFC 6464 levels, top-K [`SpeakerSelector`] with hysteresis,
//!   [`DominantSpeaker`] detection on sustained speech, decoding of only the selected and
//!   recently active sources, one i32 sum, and K+1 Opus encodes (the shared mix plus one
//!   mix-minus per selected speaker) whatever the room size. [`MixOutput::payload_for`]
//!   routes each listener to its packet.
//! - [`MediaScheduler`]: dedicated media threads ticking many rooms on a 20 ms deadline,
//!   counting overruns, parking idle rooms.
//!
//! It must not do I/O: packets and the time go in, packets and events come out, and the
//! scheduler's threads are the only place a clock is read.

mod decoder;
mod dominant;
mod error;
mod mixer;
mod narrowband;
mod output;
mod packet_inbox;
mod scheduler;
mod selector;
mod source;

pub use dominant::{DominantConfig, DominantSpeaker};
pub use error::MixerError;
pub use mixer::{AudioMixer, MixerConfig, MixerCounters};
pub use output::{MixOutput, MixerEvent};
pub use scheduler::{
    MAX_RETIME, MediaScheduler, QueueFull, RoomClock, RoomHandle, SchedulerStats, TICK, Tick,
};
pub use selector::{Candidate, SelectorConfig, SpeakerSelector};
pub use source::SourceId;
