//! A WAV file written on the call clock: sample n is n/48000 s after the recording started;
//! gaps are silence, overlaps are dropped, and a frame stamped within 10 ms of the file's end
//! continues it seamlessly (tick jitter must not click). The header is fixed up as it goes (every second),
//! so a killed recorder leaves a valid file.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use hound::{SampleFormat, WavSpec, WavWriter};

/// Samples per second of every recording.
pub(crate) const RATE: u32 = 48_000;
/// Frames stamped this close to the end of the file continue it.
const SEAMLESS: u64 = 480;

pub(crate) struct ClockWav {
    writer: WavWriter<BufWriter<File>>,
    /// Samples written so far (the file's length on the clock).
    written: u64,
    /// Samples written since the header was last fixed up.
    unflushed: u64,
}

impl std::fmt::Debug for ClockWav {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClockWav")
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl ClockWav {
    pub(crate) fn create(path: &Path) -> Result<ClockWav, hound::Error> {
        let spec = WavSpec {
            channels: 1,
            sample_rate: RATE,
            bits_per_sample: 16,
            sample_format: SampleFormat::Int,
        };
        let mut writer = WavWriter::create(path, spec)?;
        // A valid (empty) file from the start.
        writer.flush()?;
        Ok(ClockWav {
            writer,
            written: 0,
            unflushed: 0,
        })
    }

    /// Writes `samples` starting at sample `at` of the clock.
    pub(crate) fn write_at(&mut self, at: u64, samples: &[i16]) -> Result<(), hound::Error> {
        let at = if at.abs_diff(self.written) < SEAMLESS {
            self.written
        } else {
            at
        };
        let skip = self.written.saturating_sub(at) as usize;
        if skip >= samples.len() {
            return Ok(());
        }
        for _ in self.written..at {
            self.writer.write_sample(0i16)?;
        }
        let gap = at.saturating_sub(self.written);
        for &s in &samples[skip..] {
            self.writer.write_sample(s)?;
        }
        let added = gap + (samples.len() - skip) as u64;
        self.written += added;
        self.unflushed += added;
        if self.unflushed >= u64::from(RATE) {
            self.writer.flush()?;
            self.unflushed = 0;
        }
        Ok(())
    }

    /// Seconds on the clock the file covers.
    pub(crate) fn seconds(&self) -> f64 {
        self.written as f64 / f64::from(RATE)
    }

    pub(crate) fn finish(self) -> Result<(), hound::Error> {
        self.writer.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_silence_and_overlaps_are_dropped_and_the_file_is_always_valid() {
        let dir = std::env::temp_dir().join(format!("confab-wav-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.wav");
        let mut wav = ClockWav::create(&path).unwrap();
        wav.write_at(1000, &[1; 10]).unwrap();
        wav.write_at(1005, &[2; 10]).unwrap(); // jitter: continues at 1010
        wav.write_at(500, &[9; 10]).unwrap(); // long past: dropped
        wav.write_at(2000, &vec![3; 48_000]).unwrap(); // a gap; crosses a flush
        // Read while still open: the header already covers what was flushed.
        let open: Vec<i16> = hound::WavReader::open(&path)
            .unwrap()
            .into_samples()
            .map(Result::unwrap)
            .collect();
        assert!(
            open.len() >= 48_000,
            "{} samples readable mid-way",
            open.len()
        );
        wav.finish().unwrap();
        let all: Vec<i16> = hound::WavReader::open(&path)
            .unwrap()
            .into_samples()
            .map(Result::unwrap)
            .collect();
        assert_eq!(all.len(), 2000 + 48_000);
        assert!(all[..1000].iter().all(|&s| s == 0));
        assert!(all[1000..1010].iter().all(|&s| s == 1));
        assert!(all[1010..1020].iter().all(|&s| s == 2));
        assert!(all[1020..2000].iter().all(|&s| s == 0));
        assert!(all[2000..].iter().all(|&s| s == 3));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
