//! Packet-loss concealment for narrowband PCM, after ITU-T G.711 Appendix I: a lost frame
//! is rebuilt by repeating the last pitch period of the signal, then two and three periods
//! (so a long loss does not buzz), faded out from 10 ms on and silent after 60 ms; the first
//! good frame after a loss is cross-faded in from the concealment, so neither edge clicks.
//!
//! Unlike Appendix I this concealer adds no delay: the start of a loss is not cross-faded
//! with the signal before it (that would need 3.75 ms of look-back held from the output).
//! The repeated period starts one period back, so a good pitch estimate keeps the seam
//! small; the seam inside the repetition is cross-faded over a quarter period.

/// Sample rate the tuning below assumes (8 kHz, G.711).
const RATE_HZ: usize = 8000;
/// Shortest pitch period searched: 200 Hz.
const MIN_PITCH: usize = RATE_HZ / 200;
/// Longest pitch period searched: 66⅔ Hz.
const MAX_PITCH: usize = RATE_HZ * 3 / 200;
/// Samples correlated to find the pitch (20 ms).
const CORRELATION_WINDOW: usize = RATE_HZ / 50;
/// Up to three periods repeat; the loop's seam is cross-faded with the period before it.
const MAX_PERIODS: usize = 3;
/// History kept: two loops of the longest period, and the correlation window behind the
/// longest lag.
const HISTORY: usize = {
    let loops = 2 * MAX_PERIODS * MAX_PITCH;
    let search = CORRELATION_WINDOW + MAX_PITCH;
    if loops > search { loops } else { search }
};
/// Each further period joins the loop after this many concealed samples (10 ms).
const PERIOD_STEP: usize = RATE_HZ / 100;
/// Full level for the first 10 ms, then 20 % less per 10 ms: silent at 60 ms.
const FADE_START: usize = RATE_HZ / 100;
const FADE_LENGTH: usize = 5 * RATE_HZ / 100;
/// The cross-fade into the first good frame: 4 ms, plus 1 ms per 10 ms lost beyond the
/// first 10 ms, at most 10 ms.
const RECOVERY_MIN: usize = RATE_HZ * 4 / 1000;
const RECOVERY_MAX: usize = RATE_HZ / 100;

/// Conceals lost frames of one 8 kHz stream. Feed every good frame through
/// [`good_frame`](PitchConcealer::good_frame) (which may smooth its start after a loss) and
/// fill each lost one with [`conceal`](PitchConcealer::conceal).
#[derive(Debug, Clone)]
pub struct PitchConcealer {
    /// The last `HISTORY` samples played, oldest first.
    history: Vec<f32>,
    /// The history as it was when the loss under way began: what the loops are cut from.
    pre_loss: Vec<f32>,
    /// Samples concealed in the loss under way (0: no loss).
    concealed: usize,
    pitch: usize,
    periods: usize,
    /// The loop being repeated (its end already cross-faded into its start).
    loop_buf: Vec<f32>,
    /// Where in the loop the next sample comes from.
    position: usize,
}

impl Default for PitchConcealer {
    fn default() -> Self {
        PitchConcealer::new()
    }
}

impl PitchConcealer {
    /// A concealer with a silent history.
    pub fn new() -> Self {
        PitchConcealer {
            history: vec![0.0; HISTORY],
            pre_loss: vec![0.0; HISTORY],
            concealed: 0,
            pitch: MIN_PITCH,
            periods: 1,
            loop_buf: Vec::with_capacity(MAX_PERIODS * MAX_PITCH),
            position: 0,
        }
    }

    /// Whether the last frame was concealed.
    pub fn in_loss(&self) -> bool {
        self.concealed > 0
    }

    /// A good frame is about to be played: after a loss its start is cross-faded from the
    /// concealment; then it joins the history.
    pub fn good_frame(&mut self, samples: &mut [i16]) {
        if self.concealed > 0 {
            let extra_ms = self.concealed.saturating_sub(PERIOD_STEP) / PERIOD_STEP;
            let length = (RECOVERY_MIN + extra_ms * RATE_HZ / 1000)
                .min(RECOVERY_MAX)
                .min(samples.len());
            for (i, s) in samples.iter_mut().take(length).enumerate() {
                let synthetic = self.next_synthetic();
                let w = (i + 1) as f32 / (length + 1) as f32;
                *s = to_i16(w * f32::from(*s) + (1.0 - w) * synthetic);
            }
            self.concealed = 0;
        }
        self.remember(samples);
    }

    /// Fills `out` with the concealment of a lost frame, continuing the last one.
    pub fn conceal(&mut self, out: &mut [i16]) {
        if self.concealed == 0 {
            self.pre_loss.copy_from_slice(&self.history);
            self.pitch = self.find_pitch();
            self.periods = 1;
            self.build_loop();
            self.position = 0;
        }
        for s in out.iter_mut() {
            let periods = (1 + self.concealed / PERIOD_STEP).min(MAX_PERIODS);
            if periods != self.periods {
                self.grow_loop(periods);
            }
            *s = to_i16(self.next_synthetic());
            self.concealed += 1;
        }
        // What was played is what the next good frame is compared with.
        self.remember(out);
    }

    /// The next sample of the repeated loop, at the fade's level for this point of the loss.
    fn next_synthetic(&mut self) -> f32 {
        let Some(&sample) = self.loop_buf.get(self.position) else {
            return 0.0;
        };
        self.position = (self.position + 1) % self.loop_buf.len();
        let gain = if self.concealed < FADE_START {
            1.0
        } else {
            1.0 - (self.concealed - FADE_START) as f32 / FADE_LENGTH as f32
        };
        sample * gain.max(0.0)
    }

    /// The pitch period (in samples) that best explains the end of the history: the lag of
    /// the highest normalised correlation of the last 20 ms with the signal before it.
    fn find_pitch(&self) -> usize {
        let end = self.history.len();
        let window = &self.history[end - CORRELATION_WINDOW..];
        let mut best = (MIN_PITCH, f32::MIN);
        for lag in MIN_PITCH..=MAX_PITCH {
            let earlier = &self.history[end - CORRELATION_WINDOW - lag..end - lag];
            let (mut cross, mut energy) = (0.0f32, 0.0f32);
            for (a, b) in window.iter().zip(earlier) {
                cross += a * b;
                energy += b * b;
            }
            let score = if energy > 0.0 {
                cross / energy.sqrt()
            } else {
                0.0
            };
            if score > best.1 {
                best = (lag, score);
            }
        }
        best.0
    }

    /// The loop: the last `periods × pitch` samples, whose last quarter period is
    /// cross-faded into the samples one loop earlier, so the loop's end runs smoothly into
    /// its start.
    fn build_loop(&mut self) {
        let length = self.periods * self.pitch;
        self.loop_buf.clear();
        self.loop_buf
            .extend_from_slice(&self.loop_from_history(length)[..length]);
    }

    /// Lengthens the loop to `periods` periods, keeping the phase in the pitch cycle, and
    /// cross-fades from the old loop into the new one over a quarter period.
    fn grow_loop(&mut self, periods: usize) {
        self.periods = periods;
        let length = periods * self.pitch;
        let phase = self.position % self.pitch;
        let mut fresh = self.loop_from_history(length);
        // Every loop starts a whole number of periods before the loss, so the same phase
        // sits at the same index; the old loop's continuation fades into the new one.
        let fade = (self.pitch / 4).max(1);
        for i in 0..fade {
            let w = (i + 1) as f32 / (fade + 1) as f32;
            let from_old = self.loop_buf[(self.position + i) % self.loop_buf.len()];
            let at = (phase + i) % length;
            fresh[at] = (1.0 - w) * from_old + w * fresh[at];
        }
        self.loop_buf.clear();
        self.loop_buf.extend_from_slice(&fresh[..length]);
        self.position = phase;
    }

    /// The last `length` samples before the loss, their last quarter period cross-faded
    /// into the samples one loop earlier, so the loop's end runs smoothly into its start.
    fn loop_from_history(&self, length: usize) -> [f32; MAX_PERIODS * MAX_PITCH] {
        let mut out = [0.0; MAX_PERIODS * MAX_PITCH];
        let end = self.pre_loss.len();
        out[..length].copy_from_slice(&self.pre_loss[end - length..end]);
        let fade = (self.pitch / 4).max(1);
        for i in 0..fade {
            let at = length - fade + i;
            let w = (i + 1) as f32 / (fade + 1) as f32;
            out[at] = (1.0 - w) * out[at] + w * self.pre_loss[end - 2 * length + at];
        }
        out
    }

    fn remember(&mut self, samples: &[i16]) {
        let n = samples.len().min(self.history.len());
        let recent = &samples[samples.len() - n..];
        self.history.rotate_left(n);
        let keep = self.history.len() - n;
        for (h, &s) in self.history[keep..].iter_mut().zip(recent) {
            *h = f32::from(s);
        }
    }
}

fn to_i16(x: f32) -> i16 {
    x.round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A voiced-speech-like signal: a 140 Hz fundamental with falling harmonics.
    fn voiced(len: usize, start: usize) -> Vec<i16> {
        (start..start + len)
            .map(|n| {
                let t = n as f64 / RATE_HZ as f64;
                let s: f64 = (1..=8)
                    .map(|h| {
                        (2.0 * std::f64::consts::PI * 140.0 * h as f64 * t).sin() * 6000.0
                            / h as f64
                    })
                    .sum();
                s as i16
            })
            .collect()
    }

    fn snr_db(reference: &[i16], other: &[i16]) -> f64 {
        let (mut signal, mut noise) = (0.0f64, 0.0f64);
        for (&r, &o) in reference.iter().zip(other) {
            signal += f64::from(r).powi(2);
            noise += (f64::from(r) - f64::from(o)).powi(2);
        }
        10.0 * (signal / noise.max(1.0)).log10()
    }

    #[test]
    fn finds_the_pitch_of_a_voiced_signal() {
        let mut plc = PitchConcealer::new();
        let mut history = voiced(800, 0);
        plc.good_frame(&mut history);
        // 8000 / 140 = 57.1 samples.
        let pitch = plc.find_pitch();
        assert!((56..=58).contains(&pitch), "{pitch}");
    }

    #[test]
    fn a_lost_voiced_frame_is_rebuilt_close_to_the_original() {
        let signal = voiced(160 * 12, 0);
        let mut plc = PitchConcealer::new();
        let mut out = Vec::new();
        for (i, frame) in signal.chunks(160).enumerate() {
            let mut frame = frame.to_vec();
            if i == 8 {
                plc.conceal(&mut frame);
            } else {
                plc.good_frame(&mut frame);
            }
            out.extend_from_slice(&frame);
        }
        let lost = 8 * 160..9 * 160;
        let snr = snr_db(&signal[lost.clone()], &out[lost]);
        // Repeating the period keeps the waveform; a repeated frame or silence would not
        // (silence scores 0 dB, a 20 ms repeat of a 57.1-sample period about 0 dB too).
        assert!(snr > 15.0, "concealed frame SNR {snr:.1} dB");
        // No click at either seam: the signal bends no more there than anywhere in the
        // original.
        let natural = confab_testkit_free_bend(&signal, 2..signal.len());
        let seams = confab_testkit_free_bend(&out, [8 * 160, 8 * 160 + 1, 9 * 160, 9 * 160 + 1]);
        assert!(
            seams < natural * 1.5,
            "seam bend {seams} vs natural {natural}"
        );
    }

    /// Largest absolute second difference at `positions` (a click bends sharply).
    fn confab_testkit_free_bend(s: &[i16], positions: impl IntoIterator<Item = usize>) -> f64 {
        positions
            .into_iter()
            .filter(|&n| n >= 2 && n < s.len())
            .map(|n| (f64::from(s[n]) - 2.0 * f64::from(s[n - 1]) + f64::from(s[n - 2])).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn a_long_loss_fades_to_silence_and_recovers_smoothly() {
        let signal = voiced(160 * 20, 0);
        let mut plc = PitchConcealer::new();
        let mut out = Vec::new();
        for (i, frame) in signal.chunks(160).enumerate() {
            let mut frame = frame.to_vec();
            if (5..10).contains(&i) {
                plc.conceal(&mut frame);
            } else {
                plc.good_frame(&mut frame);
            }
            out.extend_from_slice(&frame);
        }
        let rms = |s: &[i16]| {
            (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
        };
        let before = rms(&signal[4 * 160..5 * 160]);
        // Full level in the first 10 ms, fading after, silent from 60 ms (frame 8 ends at
        // 60 ms of loss).
        assert!(rms(&out[5 * 160..5 * 160 + 80]) > before * 0.8);
        assert!(rms(&out[7 * 160..8 * 160]) < before * 0.7);
        assert!(rms(&out[8 * 160 + 80..10 * 160]) < 1.0);
        // The good frames after the loss fade in: no step at the seam.
        let natural = confab_testkit_free_bend(&signal, 2..signal.len());
        let seam = confab_testkit_free_bend(&out, 10 * 160..10 * 160 + 4);
        assert!(
            seam < natural * 1.5,
            "seam bend {seam} vs natural {natural}"
        );
        assert_eq!(&out[11 * 160..], &signal[11 * 160..]);
    }

    #[test]
    fn silence_conceals_as_silence() {
        let mut plc = PitchConcealer::new();
        let mut frame = vec![0i16; 160];
        plc.good_frame(&mut frame);
        plc.conceal(&mut frame);
        assert!(frame.iter().all(|&s| s == 0));
        assert!(plc.in_loss());
        let mut next = vec![100i16; 160];
        plc.good_frame(&mut next);
        assert!(!plc.in_loss());
        assert!(next[0] < 100 && next[159] == 100);
    }
}
