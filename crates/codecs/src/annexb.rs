//! H.264 Annex-B byte streams (ITU-T H.264 Annex B): NAL units behind `00 00 01` or
//! `00 00 00 01` start codes, grouped into access units (one picture each).
//!
//! Safe on any input: malformed bytes yield odd or empty NAL units, never a panic.

/// `nal_unit_type` values confab acts on (H.264 table 7-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NalType {
    /// Coded slice of a non-IDR picture (1).
    Slice,
    /// Coded slice of an IDR picture: a keyframe (5).
    Idr,
    /// Supplemental enhancement information (6).
    Sei,
    /// Sequence parameter set (7).
    Sps,
    /// Picture parameter set (8).
    Pps,
    /// Access unit delimiter (9).
    Aud,
    /// Any other type, with its number.
    Other(u8),
}

impl NalType {
    /// The type of a NAL unit from its first (header) byte.
    pub fn from_header(header: u8) -> NalType {
        match header & 0x1F {
            1 => NalType::Slice,
            5 => NalType::Idr,
            6 => NalType::Sei,
            7 => NalType::Sps,
            8 => NalType::Pps,
            9 => NalType::Aud,
            other => NalType::Other(other),
        }
    }

    /// The type of `nal` (a NAL unit without its start code), `None` if it is empty.
    pub fn of(nal: &[u8]) -> Option<NalType> {
        nal.first().map(|&h| NalType::from_header(h))
    }

    /// Whether this type carries picture data.
    pub fn is_slice(self) -> bool {
        matches!(self, NalType::Slice | NalType::Idr)
    }
}

/// Finds the next start code at or after `from`: `(start of the code, first byte after it)`.
fn next_start_code(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 3 <= data.len() {
        if data[i + 2] > 1 {
            // A start code cannot end here or at the two positions before: skip ahead.
            i += 3;
        } else if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            let start = if i > from && data[i - 1] == 0 {
                i - 1
            } else {
                i
            };
            return Some((start, i + 3));
        } else {
            i += 1;
        }
    }
    None
}

/// Iterator over the NAL units of an Annex-B stream, without their start codes. Bytes
/// before the first start code are skipped; trailing zero bytes belong to no unit.
#[derive(Debug, Clone)]
pub struct NalUnits<'a> {
    data: &'a [u8],
    next: Option<usize>,
}

/// The NAL units of `data`.
pub fn nal_units(data: &[u8]) -> NalUnits<'_> {
    NalUnits {
        data,
        next: next_start_code(data, 0).map(|(_, body)| body),
    }
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let body = self.next?;
        let (end, following) = match next_start_code(self.data, body) {
            Some((code, after)) => (code, Some(after)),
            None => (self.data.len(), None),
        };
        self.next = following;
        let mut nal = &self.data[body..end];
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        Some(nal)
    }
}

/// Whether `nal` begins a new picture: a slice whose `first_mb_in_slice` is 0 (the first
/// Exp-Golomb code of the slice header is a single `1` bit), or a parameter set, SEI or
/// delimiter, which may only come before a picture's first slice.
fn starts_access_unit(nal: &[u8]) -> bool {
    match NalType::of(nal) {
        Some(t) if t.is_slice() => nal.get(1).is_some_and(|b| b & 0x80 != 0),
        Some(NalType::Sps | NalType::Pps | NalType::Sei | NalType::Aud) => true,
        _ => false,
    }
}

/// Splits an Annex-B stream into access units: each item is a slice of `data`, start
/// codes included, holding one picture's slices and the parameter sets before them.
pub fn access_units(data: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let mut unit_start: Option<usize> = None;
    let mut seen_slice = false;
    let mut cursor = 0;
    while let Some((code, body)) = next_start_code(data, cursor) {
        let body_end = next_start_code(data, body).map_or(data.len(), |(c, _)| c);
        let nal = &data[body..body_end];
        if let Some(start) = unit_start {
            if seen_slice && starts_access_unit(nal) {
                units.push(&data[start..code]);
                unit_start = Some(code);
                seen_slice = false;
            }
        } else {
            unit_start = Some(code);
        }
        if NalType::of(nal).is_some_and(NalType::is_slice) {
            seen_slice = true;
        }
        cursor = body;
    }
    if let Some(start) = unit_start {
        units.push(&data[start..]);
    }
    units
}

/// Whether an access unit holds an IDR slice (a picture decodable on its own).
pub fn is_keyframe(access_unit: &[u8]) -> bool {
    nal_units(access_unit).any(|nal| NalType::of(nal) == Some(NalType::Idr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 0x88, 0, 0,
        ];
        let units: Vec<&[u8]> = nal_units(&data).collect();
        assert_eq!(units, vec![&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 0x88]]);
        assert_eq!(NalType::of(units[2]), Some(NalType::Idr));
        assert!(is_keyframe(&data));
    }

    #[test]
    fn groups_slices_into_pictures() {
        // SPS, PPS, IDR (first_mb 0), P (first_mb 0), P second slice (first_mb != 0), P.
        let data = [
            0, 0, 0, 1, 0x67, 0xAA, 0, 0, 1, 0x68, 0xBB, 0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x41, 0x9A,
            0, 0, 1, 0x41, 0x40, 0, 0, 1, 0x41, 0x9B,
        ];
        let units = access_units(&data);
        assert_eq!(units.len(), 3);
        assert_eq!(nal_units(units[0]).count(), 3);
        assert_eq!(nal_units(units[1]).count(), 2);
        assert!(is_keyframe(units[0]));
        assert!(!is_keyframe(units[1]));
        assert_eq!(units.iter().map(|u| u.len()).sum::<usize>(), data.len());
    }

    #[test]
    fn garbage_never_panics() {
        for data in [
            &[][..],
            &[0],
            &[0, 0],
            &[0, 0, 1],
            &[1, 2, 3, 4],
            &[0, 0, 1, 0, 0, 1],
        ] {
            let _ = nal_units(data).count();
            let _ = access_units(data);
            let _ = is_keyframe(data);
        }
        let units: Vec<&[u8]> = nal_units(&[0, 0, 1]).collect();
        assert_eq!(units, vec![&[][..]]);
    }
}
