//! Any text as a client or server frame: an error or a message, never a panic; whatever
//! parses re-serialises to something that parses to the same message.
#![no_main]

use confab_signaling::protocol::{parse_client, parse_server};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(message) = parse_client(text) {
        assert_eq!(parse_client(&message.to_json()).ok(), Some(message));
    }
    if let Ok(message) = parse_server(text) {
        assert_eq!(parse_server(&message.to_json()).ok(), Some(message));
    }
});
