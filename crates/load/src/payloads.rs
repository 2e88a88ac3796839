//! What synthetic participants send, made once and shared: a speech fixture's 20 ms Opus
//! packets with their RFC 6464 levels, a silent packet for DTX, and a camera's H.264 access
//! units. Nobody encodes per participant.

use bytes::Bytes;
use confab_codecs::{AudioEncoder, OpusEncoder, OpusEncoderConfig};
use confab_media::{AudioFormat, AudioFrame, AudioLevel, MediaTime};

const SPEECH_WAV: &[u8] = include_bytes!("../../../fixtures/speech-alice.wav");
const CAMERA_H264: &[u8] = include_bytes!("../../../fixtures/testsrc-320x240-60f.h264");

/// Everything participants send.
#[derive(Debug)]
pub(crate) struct Payloads {
    /// One packet per 20 ms of speech, with its level (−dBov).
    pub(crate) speech: Vec<(Bytes, u8)>,
    /// 20 ms of digital silence, as sent during DTX (every 400 ms).
    pub(crate) silence: Bytes,
    /// Camera pictures (Annex-B access units), 320x240.
    pub(crate) camera: Vec<Bytes>,
}

impl Payloads {
    pub(crate) fn new() -> Result<Payloads, String> {
        let reader = hound::WavReader::new(SPEECH_WAV).map_err(|e| e.to_string())?;
        let speech_pcm: Vec<i16> = reader
            .into_samples::<i16>()
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let mut encoder = OpusEncoder::new(AudioFormat::MONO_48K, OpusEncoderConfig::default())
            .map_err(|e| e.to_string())?;
        let mut speech = Vec::new();
        for chunk in speech_pcm.chunks_exact(960) {
            let frame = AudioFrame::new(AudioFormat::MONO_48K, MediaTime::ZERO, chunk.to_vec())
                .map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            encoder
                .encode(&frame, &mut out)
                .map_err(|e| e.to_string())?;
            speech.push((
                Bytes::from(out),
                AudioLevel::measure(frame.samples()).wire_value(),
            ));
        }
        let mut out = Vec::new();
        encoder
            .encode(
                &AudioFrame::silence(
                    AudioFormat::MONO_48K,
                    confab_media::FrameDuration::Ms20,
                    MediaTime::ZERO,
                ),
                &mut out,
            )
            .map_err(|e| e.to_string())?;
        let camera = confab_codecs::annexb::access_units(CAMERA_H264)
            .into_iter()
            .map(Bytes::copy_from_slice)
            .collect();
        Ok(Payloads {
            speech,
            silence: Bytes::from(out),
            camera,
        })
    }
}
