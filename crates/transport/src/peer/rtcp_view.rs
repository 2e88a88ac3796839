//! Reading an RTCP compound's framing without parsing it: which packets it holds, so the
//! lean ingress path can tell reports it reads itself from feedback that is the core's.

/// Whether the RTCP compound `plain` is well framed (RFC 3550 6.1: each packet version 2,
/// its length in 32-bit words less one, the lengths adding up) and holds only sender
/// reports, receiver reports and source descriptions.
pub fn reports_only(plain: &[u8]) -> bool {
    let mut at = 0;
    while at < plain.len() {
        let Some(header) = plain.get(at..at + 4) else {
            return false;
        };
        if header[0] >> 6 != 2 || !(200..=202).contains(&header[1]) {
            return false;
        }
        at += (usize::from(u16::from_be_bytes([header[2], header[3]])) + 1) * 4;
    }
    at == plain.len() && at > 0
}

#[cfg(test)]
mod tests {
    use super::reports_only;

    fn packet(pt: u8, words: u16) -> Vec<u8> {
        let mut p = vec![0x80, pt];
        p.extend_from_slice(&words.to_be_bytes());
        p.resize(4 + usize::from(words) * 4, 0);
        p
    }

    #[test]
    fn only_well_framed_compounds_of_reports_take_the_lean_path() {
        let sr = packet(200, 6);
        let rr = packet(201, 7);
        let sdes = packet(202, 3);
        assert!(reports_only(&sr));
        assert!(reports_only(&[rr.clone(), sdes.clone()].concat()));
        assert!(reports_only(&[sr, rr.clone(), sdes].concat()));
        // Feedback, BYE and APP are the core's.
        for other in [203, 204, 205, 206, 207] {
            assert!(
                !reports_only(&[rr.clone(), packet(other, 2)].concat()),
                "{other}"
            );
            assert!(!reports_only(&packet(other, 2)), "{other}");
        }
        // Framing: empty, cut short, a length past the end, bytes left over, version 1.
        assert!(!reports_only(&[]));
        assert!(!reports_only(&rr[..3]));
        assert!(!reports_only(&rr[..rr.len() - 4]));
        assert!(!reports_only(&[rr.clone(), vec![0x80, 201]].concat()));
        let mut v1 = rr;
        v1[0] = 0x40;
        assert!(!reports_only(&v1));
    }
}
