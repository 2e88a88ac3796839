//! The picture size an H.264 sequence parameter set declares (ITU-T H.264 7.3.2.1.1), and
//! where a keyframe starts in RTP: what the SFU needs to know of each simulcast layer
//! without decoding it.

use confab_codecs::annexb::NalType;

use super::h264::STAP_A;

/// Why an SPS could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SpsError {
    /// The NAL unit is not a sequence parameter set.
    #[error("not an SPS (NAL unit type {0})")]
    NotSps(u8),
    /// It ends before the picture size.
    #[error("truncated SPS")]
    Truncated,
    /// A field holds a value the standard does not allow.
    #[error("invalid SPS field: {0}")]
    Invalid(&'static str),
}

/// The largest picture side accepted (H.264 level 6.2 allows 8,192 × 4,320).
const MAX_SIDE: u32 = 16_384;

/// Width and height (after cropping) of the SPS NAL unit `nal` (header byte included,
/// emulation-prevention bytes still in).
pub fn sps_picture_size(nal: &[u8]) -> Result<(u32, u32), SpsError> {
    let (&header, body) = nal.split_first().ok_or(SpsError::Truncated)?;
    if NalType::from_header(header) != NalType::Sps {
        return Err(SpsError::NotSps(header & 0x1F));
    }
    let rbsp = unescape(body);
    let mut r = Bits::new(&rbsp);
    let profile_idc = r.bits(8)?;
    r.bits(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return Err(SpsError::Invalid("chroma_format_idc"));
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()?;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bit()?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            let cycle = r.ue()?;
            if cycle > 255 {
                return Err(SpsError::Invalid("num_ref_frames_in_pic_order_cnt_cycle"));
            }
            for _ in 0..cycle {
                r.se()?;
            }
        }
        2 => {}
        _ => return Err(SpsError::Invalid("pic_order_cnt_type")),
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_map_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = r.bit()?;
    if !frame_mbs_only {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let (mut width, mut height) = (width_mbs * 16, field_factor * height_map_units * 16);
    if r.bit()? {
        // Cropping is counted in chroma samples (Table 6-1), of frames.
        let (sub_width, sub_height) = match (chroma_format_idc, separate_colour_plane) {
            (1, _) => (2, 2),
            (2, _) => (2, 1),
            _ => (1, 1),
        };
        let (unit_x, unit_y) = (sub_width, sub_height * field_factor);
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        let crop_x = unit_x * (u64::from(left) + u64::from(right));
        let crop_y = unit_y * (u64::from(top) + u64::from(bottom));
        if crop_x >= width || crop_y >= height {
            return Err(SpsError::Invalid("frame cropping"));
        }
        width -= crop_x;
        height -= crop_y;
    }
    match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) if w <= MAX_SIDE && h <= MAX_SIDE => Ok((w, h)),
        _ => Err(SpsError::Invalid("picture size")),
    }
}

/// If this H.264 RTP payload (RFC 6184) carries a sequence parameter set — a single SPS
/// NAL unit, or an aggregation packet holding one — the first packet of a keyframe as
/// browsers and OpenH264 send them (SPS, PPS, then the IDR picture): the picture size it
/// declares. A switch between simulcast layers happens there.
pub fn keyframe_start_size(payload: &[u8]) -> Option<(u32, u32)> {
    let is_sps = |unit: &[u8]| unit.first().map(|&h| NalType::from_header(h)) == Some(NalType::Sps);
    let &header = payload.first()?;
    if is_sps(payload) {
        return sps_picture_size(payload).ok();
    }
    if header & 0x1F != STAP_A {
        return None;
    }
    let mut rest = &payload[1..];
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let unit = tail.get(..len)?;
        if is_sps(unit) {
            return sps_picture_size(unit).ok();
        }
        rest = &tail[len..];
    }
    None
}

/// Removes emulation-prevention bytes (`00 00 03` → `00 00`).
fn unescape(escaped: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(escaped.len());
    let mut zeros = 0;
    for &b in escaped {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

fn skip_scaling_list(r: &mut Bits<'_>, size: usize) -> Result<(), SpsError> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            let delta = i64::from(r.se()?);
            next = (last + delta + 256).rem_euclid(256);
        }
        last = if next == 0 { last } else { next };
    }
    Ok(())
}

/// A big-endian bit reader with Exp-Golomb codes.
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits { data, at: 0 }
    }

    fn bit(&mut self) -> Result<bool, SpsError> {
        let byte = self.data.get(self.at / 8).ok_or(SpsError::Truncated)?;
        let bit = byte >> (7 - self.at % 8) & 1;
        self.at += 1;
        Ok(bit == 1)
    }

    fn bits(&mut self, n: u32) -> Result<u32, SpsError> {
        let mut v = 0;
        for _ in 0..n {
            v = v << 1 | u32::from(self.bit()?);
        }
        Ok(v)
    }

    /// Unsigned Exp-Golomb (9.1), at most 32 bits of value.
    fn ue(&mut self) -> Result<u32, SpsError> {
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(SpsError::Invalid("Exp-Golomb code longer than 32 bits"));
            }
        }
        Ok(((1u64 << zeros) - 1 + u64::from(self.bits(zeros)?)) as u32)
    }

    /// Signed Exp-Golomb (9.1.1).
    fn se(&mut self) -> Result<i32, SpsError> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(v).map_err(|_| SpsError::Invalid("signed Exp-Golomb code"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_codecs::annexb;
    use confab_codecs::{H264Encoder, H264EncoderConfig};
    use confab_media::{MediaTime, VideoFrame};

    /// The SPS NAL unit of a keyframe OpenH264 encodes at `width` × `height`.
    fn sps_of(width: u32, height: u32) -> Vec<u8> {
        let mut encoder = H264Encoder::new(H264EncoderConfig::default()).unwrap();
        let frame = VideoFrame::black(width, height, MediaTime::ZERO).unwrap();
        let unit = encoder.encode(&frame, true).unwrap().unwrap();
        annexb::nal_units(&unit.data)
            .find(|nal| NalType::of(nal) == Some(NalType::Sps))
            .unwrap()
            .to_vec()
    }

    #[test]
    fn sizes_of_real_encoder_output_including_cropped_ones() {
        for (w, h) in [
            (160, 120),
            (320, 240),
            (640, 360),
            (1280, 720),
            (176, 144),
            (642, 362),
        ] {
            assert_eq!(sps_picture_size(&sps_of(w, h)), Ok((w, h)), "{w}x{h}");
        }
    }

    #[test]
    fn a_keyframe_starts_at_a_single_sps_or_an_aggregate_holding_one() {
        let sps = sps_of(320, 240);
        assert_eq!(keyframe_start_size(&sps), Some((320, 240)));
        let pps = [0x68u8, 0xce, 0x3c, 0x80];
        let mut stap = vec![STAP_A | 0x60];
        for unit in [&sps[..], &pps[..]] {
            stap.extend_from_slice(&(unit.len() as u16).to_be_bytes());
            stap.extend_from_slice(unit);
        }
        assert_eq!(keyframe_start_size(&stap), Some((320, 240)));
        // An IDR slice, a PPS, an FU-A: no SPS, no switch point.
        assert_eq!(keyframe_start_size(&[0x65, 0x88, 0x84]), None);
        assert_eq!(keyframe_start_size(&pps), None);
        assert_eq!(keyframe_start_size(&[0x7c, 0x85, 0x00]), None);
    }

    #[test]
    fn malformed_parameter_sets_are_errors() {
        let sps = sps_of(640, 360);
        assert_eq!(sps_picture_size(&[]), Err(SpsError::Truncated));
        assert_eq!(sps_picture_size(&[0x68, 1, 2]), Err(SpsError::NotSps(8)));
        // Cut anywhere: an error or (cut only after the size fields) the right size.
        for cut in 1..sps.len() {
            let read = sps_picture_size(&sps[..cut]);
            assert!(
                read.is_err() || read == Ok((640, 360)),
                "cut at {cut}: {read:?}"
            );
        }
        assert_eq!(sps_picture_size(&sps[..5]), Err(SpsError::Truncated));
        // All-zero bits: an Exp-Golomb code that never ends.
        assert!(sps_picture_size(&[0x67, 66, 0, 30, 0, 0, 0, 0, 0, 0]).is_err());
        // A broken aggregate (length past the end) is no keyframe start.
        assert_eq!(keyframe_start_size(&[STAP_A, 0, 200, 0x67, 66]), None);
        assert_eq!(keyframe_start_size(&[]), None);
    }

    #[test]
    fn emulation_prevention_bytes_are_removed() {
        assert_eq!(
            unescape(&[0, 0, 3, 1, 0, 0, 3, 0, 0, 3]),
            vec![0, 0, 1, 0, 0, 0, 0]
        );
    }
}
