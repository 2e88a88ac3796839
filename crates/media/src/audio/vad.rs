//! Voice-activity decision from frame levels, with an adaptive noise floor and hangover.

use crate::AudioLevel;

/// Tuning of the [`VoiceActivityDetector`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadConfig {
    /// Speech must be at least this many dB above the tracked noise floor.
    pub margin_db: f32,
    /// Anything quieter than this (dBov) is never speech, whatever the noise floor.
    pub min_speech_dbov: f32,
    /// Consecutive loud frames needed before speech starts (rejects clicks).
    pub onset_frames: u32,
    /// Frames speech is held after the level drops (bridges gaps between words).
    pub hangover_frames: u32,
    /// How fast the noise floor rises towards louder frames, in dB per frame.
    pub floor_rise_db_per_frame: f32,
}

impl Default for VadConfig {
    /// Tuned for 20 ms frames: 40 ms onset, 300 ms hangover, a floor rising 1.5 dB/s.
    fn default() -> Self {
        VadConfig {
            margin_db: 12.0,
            min_speech_dbov: -60.0,
            onset_frames: 2,
            hangover_frames: 15,
            floor_rise_db_per_frame: 0.03,
        }
    }
}

/// Decides, frame by frame, whether a stream carries speech.
///
/// Energy based: a frame is loud when it clears both an absolute threshold and the noise
/// floor by a margin. The floor follows quieter frames at once and rises only slowly, so a
/// long sentence does not become the floor. Speech starts after `onset_frames` loud frames
/// in a row and ends `hangover_frames` after the last loud one. Sans-IO: feed one level per
/// frame, in order.
#[derive(Debug, Clone)]
pub struct VoiceActivityDetector {
    config: VadConfig,
    noise_floor_db: f32,
    loud_run: u32,
    hangover_left: u32,
    active: bool,
}

impl VoiceActivityDetector {
    /// A detector that starts in silence with its floor at the absolute threshold.
    pub fn new(config: VadConfig) -> Self {
        VoiceActivityDetector {
            noise_floor_db: config.min_speech_dbov - config.margin_db,
            config,
            loud_run: 0,
            hangover_left: 0,
            active: false,
        }
    }

    /// Feeds the next frame's level; returns whether the stream is speaking now.
    pub fn update(&mut self, level: AudioLevel) -> bool {
        let db = level.dbov();
        if db < self.noise_floor_db {
            self.noise_floor_db = db;
        } else {
            self.noise_floor_db += self.config.floor_rise_db_per_frame;
        }
        let loud =
            db >= self.config.min_speech_dbov && db >= self.noise_floor_db + self.config.margin_db;

        if loud {
            self.loud_run = self.loud_run.saturating_add(1);
            if self.active || self.loud_run >= self.config.onset_frames {
                self.active = true;
                self.hangover_left = self.config.hangover_frames;
            }
        } else {
            self.loud_run = 0;
            if self.active {
                if self.hangover_left == 0 {
                    self.active = false;
                } else {
                    self.hangover_left -= 1;
                }
            }
        }
        self.active
    }

    /// Whether the last frame fed was judged speech.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The tracked noise floor in dBov.
    pub fn noise_floor_dbov(&self) -> f32 {
        self.noise_floor_db
    }
}

impl Default for VoiceActivityDetector {
    fn default() -> Self {
        VoiceActivityDetector::new(VadConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(dbov: u8) -> AudioLevel {
        AudioLevel::from_wire(dbov).unwrap()
    }

    #[test]
    fn speech_starts_after_onset_and_holds_through_hangover() {
        let mut vad = VoiceActivityDetector::default();
        for _ in 0..50 {
            assert!(!vad.update(level(80)), "background noise is not speech");
        }
        assert!(!vad.update(level(25)), "one loud frame is not yet speech");
        assert!(vad.update(level(25)), "two loud frames start speech");
        for _ in 0..15 {
            assert!(
                vad.update(level(80)),
                "hangover holds speech through a pause"
            );
        }
        assert!(!vad.update(level(80)), "speech ends after the hangover");
    }

    #[test]
    fn a_single_click_is_not_speech() {
        let mut vad = VoiceActivityDetector::default();
        for i in 0..100 {
            let l = if i % 10 == 0 { level(10) } else { level(90) };
            assert!(!vad.update(l));
        }
    }

    #[test]
    fn steady_loud_noise_becomes_the_floor() {
        let mut vad = VoiceActivityDetector::default();
        // Noise at -45 dBov clears the absolute threshold; the floor is below it at first,
        // so it reads as speech, but the floor climbs to it and speech ends.
        let mut last = true;
        for _ in 0..3000 {
            last = vad.update(level(45));
        }
        assert!(!last, "floor {} dBov", vad.noise_floor_dbov());
        // Speech well above that floor is still detected.
        vad.update(level(20));
        assert!(vad.update(level(20)));
    }

    #[test]
    fn silence_is_never_speech() {
        let mut vad = VoiceActivityDetector::default();
        assert!((0..100).all(|_| !vad.update(AudioLevel::SILENCE)));
    }
}
