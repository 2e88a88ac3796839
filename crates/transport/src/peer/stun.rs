//! Just enough STUN (RFC 8489) to route a datagram on a shared port: is it a Binding
//! request, and which of our ICE username fragments does its USERNAME name?

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const BINDING_REQUEST: u16 = 0x0001;
const ATTR_USERNAME: u16 = 0x0006;
const HEADER_LEN: usize = 20;

/// Whether the datagram looks like STUN (RFC 7983 demultiplexing: first byte 0..=3, and
/// the magic cookie in place).
pub fn is_stun(datagram: &[u8]) -> bool {
    datagram.len() >= HEADER_LEN && datagram[0] < 4 && datagram[4..8] == MAGIC_COOKIE
}

/// For a Binding request, the receiver's (our) ufrag: the part of USERNAME before `:`.
/// `None` for anything else, including malformed messages.
pub fn binding_request_ufrag(datagram: &[u8]) -> Option<&str> {
    if !is_stun(datagram) {
        return None;
    }
    let kind = u16::from_be_bytes([datagram[0], datagram[1]]);
    if kind != BINDING_REQUEST {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    let body = datagram.get(HEADER_LEN..HEADER_LEN + length)?;
    let mut rest = body;
    while rest.len() >= 4 {
        let attr = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let value = rest.get(4..4 + len)?;
        if attr == ATTR_USERNAME {
            let username = std::str::from_utf8(value).ok()?;
            return username.split_once(':').map(|(ours, _)| ours);
        }
        // Attributes are padded to 4 bytes.
        rest = rest.get(4 + len.div_ceil(4) * 4..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(username: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        // A PRIORITY attribute first, then USERNAME (padded).
        attrs.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 1, 2, 3, 4]);
        attrs.extend_from_slice(&ATTR_USERNAME.to_be_bytes());
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username.as_bytes());
        attrs.resize(attrs.len().div_ceil(4) * 4, 0);
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&attrs);
        m
    }

    #[test]
    fn finds_our_ufrag() {
        assert_eq!(
            binding_request_ufrag(&binding_request("srvA:brwsr")),
            Some("srvA")
        );
        assert_eq!(
            binding_request_ufrag(&binding_request("abcdefg:x")),
            Some("abcdefg")
        );
    }

    #[test]
    fn everything_else_is_none() {
        let good = binding_request("srvA:brwsr");
        // Truncated anywhere.
        for cut in 0..good.len() {
            let _ = binding_request_ufrag(&good[..cut]);
        }
        assert_eq!(
            binding_request_ufrag(&good[..good.len() - 4]),
            None,
            "length field overruns"
        );
        // A Binding response, DTLS, RTP.
        let mut response = good;
        response[1] = 0x01;
        response[0] = 0x01;
        assert_eq!(binding_request_ufrag(&response), None);
        assert!(!is_stun(&[
            22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        ]));
        assert!(!is_stun(&[0x80; 40]));
        // USERNAME without a colon, or not UTF-8.
        assert_eq!(binding_request_ufrag(&binding_request("nocolon")), None);
        let mut bad = binding_request("ab:cd");
        let at = bad.len() - 8;
        bad[at] = 0xFF;
        assert_eq!(binding_request_ufrag(&bad), None);
    }
}
