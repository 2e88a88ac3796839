//! Access tokens from outside: any text as a token is refused or verified, never a panic; a
//! genuine token with any bytes changed never verifies to different claims (no forgery by
//! editing the payload, the header or the signature).
#![no_main]

use confab_signaling::{Identity, Scope, TokenKey};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let key = TokenKey::from_secret(b"fuzzing-secret-of-32-bytes-long!").expect("a key");
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        // Arbitrary text as a token, for an arbitrary identity.
        let Ok(text) = std::str::from_utf8(rest) else { return };
        let (token, who) = text.split_once('\n').unwrap_or((text, "8:echo123"));
        let _ = key.verify(token, NOW);
        if let Ok(identity) = who.parse::<Identity>() {
            let _ = key.authenticate(token, &identity, &[Scope::Voip, Scope::Bot], NOW);
        }
        return;
    }
    // A genuine token, edited: each pair of input bytes is (position, xor).
    let identity: Identity = "28:fuzzbot".parse().expect("an identity");
    let token = key.mint(&identity, &[Scope::Bot], NOW, 600).expect("a token");
    let original = key.verify(&token, NOW).expect("its own token verifies");
    let mut bytes = token.clone().into_bytes();
    for pair in rest.chunks_exact(2) {
        let at = usize::from(pair[0]) * bytes.len() / 256;
        bytes[at] ^= pair[1];
    }
    let Ok(edited) = String::from_utf8(bytes) else { return };
    if let Ok(claims) = key.verify(&edited, NOW) {
        assert_eq!(claims, original, "an edited token verified to other claims: {edited}");
    }
});
