//! Any datagram at the shared port through the STUN router: a ufrag or nothing, never a
//! panic, and any ufrag found lies inside the datagram.
#![no_main]

use confab_transport::peer::stun;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(ufrag) = stun::binding_request_ufrag(data) {
        assert!(stun::is_stun(data));
        let start = ufrag.as_ptr() as usize - data.as_ptr() as usize;
        assert!(start + ufrag.len() <= data.len());
    }
});
