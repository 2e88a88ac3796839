//! Tokens that must not get in: expired, badly signed, wrong scope, and a token for someone
//! else — each refused with its own error code, and the connection closed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
use common::*;
use confab_signaling::protocol::{ClientEnvelope, ClientMessage, ErrorCode, ServerMessage};
use confab_signaling::{Identity, Scope, TokenKey};

/// Says hello with `token` as `identity`; returns the error code and whether the
/// connection was closed.
fn hello(h: &mut Harness, identity: &Identity, token: String) -> (ErrorCode, bool) {
    let conn = h.open();
    let reply = h.request(
        conn,
        ClientMessage::Hello {
            identity: identity.clone(),
            token,
            display_name: None,
            endpoint: None,
        },
    );
    let ServerMessage::Error { code, .. } = reply else {
        panic!("accepted: {reply:?}")
    };
    (code, h.closed.contains(&(conn, code)))
}

#[test]
fn expired_token() {
    let mut h = Harness::new();
    let alice = user();
    let token = h
        .key
        .mint(&alice, &[Scope::Voip], h.unix() - 7200, 3600)
        .unwrap();
    assert_eq!(
        hello(&mut h, &alice, token),
        (ErrorCode::TokenExpired, true)
    );
}

#[test]
fn bad_signature() {
    let mut h = Harness::new();
    let alice = user();
    let forged = TokenKey::from_secret(&[9u8; 32])
        .unwrap()
        .mint(&alice, &[Scope::Voip], h.unix(), 3600)
        .unwrap();
    assert_eq!(
        hello(&mut h, &alice, forged),
        (ErrorCode::TokenInvalidSignature, true)
    );
    // A token whose payload was edited after signing fails the same way.
    let genuine = h.token(&alice, &[Scope::Voip]);
    let mut parts: Vec<String> = genuine.split('.').map(str::to_string).collect();
    let other = h.token(&user(), &[Scope::Voip]);
    parts[1] = other.split('.').nth(1).unwrap().to_string();
    assert_eq!(
        hello(&mut h, &alice, parts.join(".")).0,
        ErrorCode::TokenInvalidSignature
    );
}

#[test]
fn wrong_scope() {
    let mut h = Harness::new();
    let alice = user();
    let bot_only = h.token(&alice, &[Scope::Bot]);
    assert_eq!(
        hello(&mut h, &alice, bot_only),
        (ErrorCode::TokenScope, true)
    );
    let bot: Identity = "28:recorder".parse().unwrap();
    let voip_only = h.token(&bot, &[Scope::Voip]);
    assert_eq!(
        hello(&mut h, &bot, voip_only),
        (ErrorCode::TokenScope, true)
    );
}

#[test]
fn token_for_another_identity() {
    let mut h = Harness::new();
    let (alice, mallory) = (user(), user());
    let alices = h.token(&alice, &[Scope::Voip]);
    assert_eq!(
        hello(&mut h, &mallory, alices),
        (ErrorCode::TokenIdentityMismatch, true)
    );
}

#[test]
fn garbage_token_and_requests_before_hello() {
    let mut h = Harness::new();
    let alice = user();
    assert_eq!(
        hello(&mut h, &alice, "garbage".into()),
        (ErrorCode::TokenMalformed, true)
    );
    let conn = h.open();
    h.refused(
        conn,
        ClientMessage::CreateCall {
            group_id: None,
            lobby: false,
            video: false,
        },
        ErrorCode::NotAuthenticated,
    );
    // A second hello on an authenticated connection is refused but does not close it.
    let ok = h.connect(&alice);
    let token = h.token(&alice, &[Scope::Voip]);
    h.refused(
        ok,
        ClientMessage::Hello {
            identity: alice,
            token,
            display_name: None,
            endpoint: None,
        },
        ErrorCode::AlreadyAuthenticated,
    );
    assert!(!h.closed.iter().any(|(c, _)| *c == ok));
    // Ping needs no authentication.
    h.raw(
        conn,
        &ClientEnvelope::new(Some(99), ClientMessage::Ping).to_json(),
    );
}
