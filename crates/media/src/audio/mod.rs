//! PCM audio: formats, frames and the per-sample arithmetic on them.

pub(crate) mod convert;
pub(crate) mod format;
pub(crate) mod frame;
pub(crate) mod level;
pub(crate) mod mix;
pub(crate) mod resample;
pub(crate) mod vad;
