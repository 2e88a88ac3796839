//! The echo bot, two ways:
//! - [`LiveEcho`] plays back the call's mixed audio after a set delay, for as long as the call
//!   lasts (a latency and audio-path check anyone in a group call can hear);
//! - [`EchoTest`] is the `8:echo123` test service: it answers a call, speaks a prompt, beeps,
//!   records about five seconds, plays them back and hangs up. [`serve_echo_test`] answers
//!   every call to the service's identity with one.
//!
//! It owns no media code: everything goes through the bot SDK.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use confab_bot::{
    AudioFrame, AudioRate, Bot, BotClient, BotConfig, BotError, CallEvent, CallHandle, MediaTime,
};
use confab_media::{AudioFormat, FrameDuration, Resampler, SampleRate};

/// The prompt, 16 kHz mono (made by `assets/make-prompt.sh`).
const PROMPT_WAV: &[u8] = include_bytes!("../assets/prompt.wav");

/// Plays back the mix `delay` later.
#[derive(Debug)]
pub struct LiveEcho {
    delay_frames: usize,
    line: VecDeque<AudioFrame>,
    /// Frames the pacer refused (the bot ran a full queue ahead).
    pub refused: u64,
}

impl LiveEcho {
    /// An echo `delay` behind (rounded to 20 ms frames).
    pub fn new(delay: Duration) -> LiveEcho {
        LiveEcho {
            delay_frames: (delay.as_millis() / 20) as usize,
            line: VecDeque::new(),
            refused: 0,
        }
    }
}

#[async_trait]
impl Bot for LiveEcho {
    async fn on_mixed_audio(&mut self, call: &CallHandle, frame: &AudioFrame) {
        self.line.push_back(frame.clone());
        while self.line.len() > self.delay_frames {
            if let Some(frame) = self.line.pop_front()
                && call.try_send_audio(frame).is_err()
            {
                self.refused += 1;
            }
        }
    }
}

/// Phases of an echo test call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for media, then speaking the prompt and the tone.
    Prompting,
    /// Recording the caller.
    Recording,
    /// Playing the recording back; then hanging up.
    PlayingBack,
}

#[derive(Debug)]
struct TestState {
    phase: Phase,
    recorded: Vec<AudioFrame>,
}

/// The `8:echo123` test service for one call.
#[derive(Debug)]
pub struct EchoTest {
    prompt: Vec<AudioFrame>,
    record_frames: usize,
    state: Arc<Mutex<TestState>>,
}

/// The bot's audio rate: full band, so what is played back is what was heard.
pub const ECHO_RATE: AudioRate = AudioRate::Hz48000;

/// The prompt could not be read.
#[derive(Debug, thiserror::Error)]
#[error("echo prompt: {0}")]
pub struct PromptError(String);

/// 20 ms frames of the prompt at 48 kHz, then 400 ms of a 1 kHz tone at −12 dBFS and
/// 200 ms of silence.
fn prompt_frames() -> Result<Vec<AudioFrame>, PromptError> {
    let error = |e: &dyn std::fmt::Display| PromptError(e.to_string());
    let reader = hound::WavReader::new(PROMPT_WAV).map_err(|e| error(&e))?;
    let spec = reader.spec();
    if spec.sample_rate != 16_000 || spec.channels != 1 {
        return Err(PromptError(format!("{spec:?} is not 16 kHz mono")));
    }
    let mut speech: Vec<i16> = reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(|e| error(&e))?;
    speech.resize(speech.len().div_ceil(320) * 320, 0);
    let mut resampler = Resampler::new(
        AudioFormat::MONO_16K,
        SampleRate::Hz48000,
        FrameDuration::Ms20,
    )
    .map_err(|e| error(&e))?;
    let mut samples = Vec::with_capacity(speech.len() * 3 + 28_800);
    for chunk in speech.chunks(320) {
        let frame = AudioFrame::new(AudioFormat::MONO_16K, MediaTime::ZERO, chunk.to_vec())
            .map_err(|e| error(&e))?;
        let up = resampler.process(&frame).map_err(|e| error(&e))?;
        samples.extend_from_slice(up.samples());
    }
    samples.extend((0..19_200).map(|n| {
        let phase = 2.0 * std::f64::consts::PI * 1000.0 * f64::from(n) / 48_000.0;
        (phase.sin() * 8200.0) as i16
    }));
    samples.extend(std::iter::repeat_n(0, 9_600));
    let per_frame = ECHO_RATE.samples_per_frame();
    samples.resize(samples.len().div_ceil(per_frame) * per_frame, 0);
    samples
        .chunks(per_frame)
        .enumerate()
        .map(|(i, chunk)| {
            AudioFrame::new(
                ECHO_RATE.format(),
                MediaTime::from_millis(i as u64 * 20),
                chunk.to_vec(),
            )
            .map_err(|e| error(&e))
        })
        .collect()
}

impl EchoTest {
    /// An echo test that records `record` of the caller.
    pub fn new(record: Duration) -> Result<EchoTest, PromptError> {
        Ok(EchoTest {
            prompt: prompt_frames()?,
            record_frames: (record.as_millis() / 20) as usize,
            state: Arc::new(Mutex::new(TestState {
                phase: Phase::Prompting,
                recorded: Vec::new(),
            })),
        })
    }

    /// Sends `frames` paced, waits until they have all gone out, then runs `then`.
    fn play<F>(call: &CallHandle, frames: Vec<AudioFrame>, then: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let call = call.clone();
        tokio::spawn(async move {
            for frame in frames {
                if call.send_audio(frame).await.is_err() {
                    return;
                }
            }
            while call.audio_queued() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // The last frame is on the wire once the pacer took it.
            tokio::time::sleep(Duration::from_millis(40)).await;
            then();
        });
    }
}

#[async_trait]
impl Bot for EchoTest {
    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        if *event != CallEvent::MediaConnected {
            return;
        }
        let state = self.state.clone();
        EchoTest::play(call, std::mem::take(&mut self.prompt), move || {
            if let Ok(mut s) = state.lock() {
                s.phase = Phase::Recording;
            }
        });
    }

    async fn on_mixed_audio(&mut self, call: &CallHandle, frame: &AudioFrame) {
        let playback = {
            let Ok(mut s) = self.state.lock() else {
                return;
            };
            if s.phase != Phase::Recording {
                return;
            }
            s.recorded.push(frame.clone());
            if s.recorded.len() < self.record_frames {
                return;
            }
            s.phase = Phase::PlayingBack;
            std::mem::take(&mut s.recorded)
        };
        tracing::info!(call_id = %call.call_id(), frames = playback.len(), "echo test: playing back");
        let hang_up = call.clone();
        EchoTest::play(call, playback, move || {
            tokio::spawn(async move {
                let _ = hang_up.hang_up().await;
            });
        });
    }
}

/// The echo test service: signed in, answering every call with an [`EchoTest`].
#[derive(Debug)]
pub struct EchoService {
    client: BotClient,
    record: Duration,
}

impl EchoService {
    /// Signs in as `config.identity` (its audio settings are the echo's own).
    pub async fn connect(mut config: BotConfig, record: Duration) -> Result<EchoService, BotError> {
        config.audio_rate = ECHO_RATE;
        config.unmixed_slots = 0;
        config.video_slots = 1;
        // Fail now, not on the first call, if the prompt is broken.
        EchoTest::new(record).map_err(|e| BotError::Config(e.to_string()))?;
        let client = BotClient::connect(config).await?;
        Ok(EchoService { client, record })
    }

    /// Answers calls until the connection closes.
    pub async fn serve(self) -> Result<(), BotError> {
        tracing::info!("echo test service answering");
        while let Some(incoming) = self.client.next_incoming().await {
            let bot = EchoTest::new(self.record).map_err(|e| BotError::Config(e.to_string()))?;
            match self.client.answer(incoming.clone(), bot).await {
                Ok(task) => {
                    tokio::spawn(async move {
                        match task.finished().await {
                            Ok(report) => tracing::info!(?report.reason, "echo test call over"),
                            Err(e) => tracing::warn!("echo test call: {e}"),
                        }
                    });
                }
                Err(e) => tracing::warn!(from = %incoming.from, "echo test could not answer: {e}"),
            }
        }
        Ok(())
    }
}

/// Signs in and answers every call to `config.identity` with an [`EchoTest`] recording
/// `record`, until the connection closes.
pub async fn serve_echo_test(config: BotConfig, record: Duration) -> Result<(), BotError> {
    EchoService::connect(config, record).await?.serve().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_is_speech_then_a_tone() {
        let frames = prompt_frames().unwrap();
        assert!(frames.len() > 250, "{} frames", frames.len());
        assert!(frames.iter().all(|f| f.samples().len() == 960));
        let loud = frames
            .iter()
            .filter(|f| f.samples().iter().any(|s| s.unsigned_abs() > 3000))
            .count();
        assert!(loud > 100, "{loud} loud frames");
    }
}
