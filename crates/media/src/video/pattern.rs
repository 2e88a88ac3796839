//! A moving test pattern: synthetic camera video whose frames can be identified after a
//! lossy codec, for tests, benches and synthetic participants.

use crate::{MediaTime, VideoFrame};

/// Bits of the frame counter stamped across the top of each picture.
const INDEX_BITS: u32 = 16;
/// Rows the counter stripe occupies.
const STRIPE_ROWS: u32 = 16;

/// Draws frame `n` of a moving picture: a scrolling luma gradient under eight chroma bars,
/// a bright square bouncing across it, and the frame number as a row of black and white
/// blocks along the top edge (readable back with [`TestPattern::read_index`], even after
/// lossy coding). Deterministic: the same `n` always gives the same picture.
#[derive(Debug, Clone)]
pub struct TestPattern {
    width: u32,
    height: u32,
}

impl TestPattern {
    /// A pattern of the given size, clamped to 2..=8192 each way. Sizes below 64x48 work
    /// but the counter stripe then becomes too small to read back.
    pub fn new(width: u32, height: u32) -> Self {
        TestPattern {
            width: width.clamp(2, 8192),
            height: height.clamp(2, 8192),
        }
    }

    /// Picture width.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Picture height.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Frame number `n`, stamped with `timestamp`.
    pub fn frame(&self, n: u32, timestamp: MediaTime) -> VideoFrame {
        let mut frame = VideoFrame::blank(self.width, self.height, timestamp);
        self.draw(n, &mut frame);
        frame
    }

    /// Draws frame `n` into an existing picture of this pattern's size (no allocation).
    pub fn draw(&self, n: u32, frame: &mut VideoFrame) {
        let (w, h) = (self.width as usize, self.height as usize);
        let (cw, ch) = frame.chroma_size();
        let (y, u, v, ys, uvs) = frame.planes_mut();
        let scroll = n as usize * 3;
        for row in 0..h {
            let line = &mut y[row * ys..row * ys + w];
            for (col, px) in line.iter_mut().enumerate() {
                *px = 40 + (((col + scroll) * 160 / w.max(1)) % 160) as u8 + (row * 20 / h) as u8;
            }
        }
        const BARS: [(u8, u8); 8] = [
            (128, 128),
            (44, 142),
            (156, 44),
            (72, 58),
            (184, 198),
            (212, 114),
            (100, 212),
            (128, 128),
        ];
        for row in 0..ch {
            for col in 0..cw {
                let (cb, cr) = BARS[col * BARS.len() / cw.max(1)];
                u[row * uvs + col] = cb;
                v[row * uvs + col] = cr;
            }
        }
        // The bouncing square.
        let side = (h / 6).max(2);
        let (span_x, span_y) = (
            w.saturating_sub(side).max(1),
            h.saturating_sub(side + STRIPE_ROWS as usize).max(1),
        );
        let bounce = |pos: usize, span: usize| {
            let p = pos % (2 * span);
            if p < span { p } else { 2 * span - p }
        };
        let sx = bounce(n as usize * 5, span_x);
        let sy = STRIPE_ROWS as usize + bounce(n as usize * 3, span_y);
        for row in sy..(sy + side).min(h) {
            y[row * ys + sx..row * ys + (sx + side).min(w)].fill(235);
        }
        // The frame counter: INDEX_BITS blocks, most significant first, white for 1.
        let block = w / INDEX_BITS as usize;
        if block > 0 {
            for row in 0..(STRIPE_ROWS as usize).min(h) {
                for bit in 0..INDEX_BITS as usize {
                    let on = (n >> (INDEX_BITS as usize - 1 - bit)) & 1 == 1;
                    let start = row * ys + bit * block;
                    y[start..start + block].fill(if on { 235 } else { 16 });
                }
            }
            for row in 0..(STRIPE_ROWS as usize / 2).min(ch) {
                u[row * uvs..row * uvs + cw].fill(128);
                v[row * uvs..row * uvs + cw].fill(128);
            }
        }
    }

    /// Reads the frame number stamped by [`TestPattern::frame`] (modulo 2^16) from a picture
    /// that may have been through a lossy codec. `None` if the stripe is unreadable.
    pub fn read_index(frame: &VideoFrame) -> Option<u32> {
        let w = frame.width() as usize;
        let block = w / INDEX_BITS as usize;
        if block < 2 || frame.height() < STRIPE_ROWS {
            return None;
        }
        let mut index = 0;
        for bit in 0..INDEX_BITS as usize {
            // Average the middle of the block, away from edges the codec may smear.
            let mut sum = 0u32;
            let mut count = 0u32;
            for row in 4..STRIPE_ROWS as usize - 4 {
                let line = frame.y_row(row);
                for &px in &line[bit * block + block / 4..bit * block + block - block / 4] {
                    sum += u32::from(px);
                    count += 1;
                }
            }
            let mean = sum / count.max(1);
            let value = match mean {
                0..=80 => 0,
                170..=255 => 1,
                _ => return None,
            };
            index = (index << 1) | value;
        }
        Some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_move_and_are_deterministic() {
        let pattern = TestPattern::new(320, 240);
        let a = pattern.frame(10, MediaTime::ZERO);
        let b = pattern.frame(11, MediaTime::ZERO);
        assert_ne!(a.y(), b.y(), "consecutive frames differ");
        assert_eq!(a, pattern.frame(10, MediaTime::ZERO));
    }

    #[test]
    fn frame_index_reads_back() {
        let pattern = TestPattern::new(320, 240);
        for n in [0, 1, 2, 255, 256, 40_000, 65_535] {
            assert_eq!(
                TestPattern::read_index(&pattern.frame(n, MediaTime::ZERO)),
                Some(n)
            );
        }
        assert_eq!(
            TestPattern::read_index(&TestPattern::new(8, 8).frame(3, MediaTime::ZERO)),
            None
        );
    }

    #[test]
    fn draw_into_reuses_the_picture() {
        let pattern = TestPattern::new(64, 48);
        let mut frame = pattern.frame(0, MediaTime::ZERO);
        pattern.draw(5, &mut frame);
        assert_eq!(frame, pattern.frame(5, MediaTime::ZERO));
    }
}
