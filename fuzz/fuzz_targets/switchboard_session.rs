//! Arbitrary frames from three connections (two of them authenticated, in a call) into one
//! switchboard, with time moving: the core must never panic, whatever arrives.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use confab_signaling::protocol::{ClientEnvelope, ClientMessage};
use confab_signaling::{ConnectionId, Identity, Scope, Switchboard, SwitchboardConfig, TokenKey};
use libfuzzer_sys::fuzz_target;

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    let key = TokenKey::from_secret(&[1; 32]).expect("32-byte secret");
    let mut sb = Switchboard::new(SwitchboardConfig::default(), key.clone());
    let mut now = origin();
    let unix = 1_800_000_000;
    for (i, identity) in [Identity::new_user(), "28:fuzz".parse().expect("valid")].into_iter().enumerate() {
        let conn = ConnectionId(i as u64);
        sb.handle_connect(conn, now);
        let scope = if identity.is_bot() { Scope::Bot } else { Scope::Voip };
        let token = key.mint(&identity, &[scope], unix, 3600).expect("mint");
        let hello = ClientMessage::Hello { identity, token, display_name: None, endpoint: Some("e".into()) };
        sb.handle_message(conn, &ClientEnvelope::new(Some(1), hello).to_json(), now, unix);
    }
    let create = ClientMessage::CreateCall { group_id: None, lobby: data.first().is_some_and(|b| b & 1 == 1), video: false };
    sb.handle_message(ConnectionId(0), &ClientEnvelope::new(Some(2), create).to_json(), now, unix);
    sb.handle_connect(ConnectionId(2), now);
    // Frames separated by 0xFF; the byte after each separator picks the connection and action.
    for chunk in data.split(|b| *b == 0xFF) {
        let Some((&control, frame)) = chunk.split_first() else { continue };
        let conn = ConnectionId(u64::from(control % 3));
        match control >> 5 {
            0 => sb.handle_disconnect(conn, now),
            1 => {
                now += Duration::from_secs(u64::from(control & 0x1F));
                sb.handle_timeout(now);
            }
            _ => {
                if let Ok(text) = std::str::from_utf8(frame) {
                    sb.handle_message(conn, text, now, unix);
                }
            }
        }
        while sb.poll_output().is_some() {}
    }
    sb.shutdown();
    while sb.poll_output().is_some() {}
});
