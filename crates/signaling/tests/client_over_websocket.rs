//! The client against the switchboard over a real WebSocket on loopback: hello, a 1:1 call
//! rung and answered, refusals as typed errors, events in order, and a refused token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
#![allow(clippy::disallowed_methods)] // the little server here is a driver: it reads the clock

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use confab_signaling::client::{ClientConfig, ClientError, SignalingClient};
use confab_signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};
use confab_signaling::{
    ConnectionId, Identity, Output, Scope, Switchboard, SwitchboardConfig, TokenKey,
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const SECRET: [u8; 32] = [5; 32];

enum Event {
    Open(ConnectionId, mpsc::Sender<Message>),
    Text(ConnectionId, String),
    Closed(ConnectionId),
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A minimal service: one task owns the switchboard, one task per connection reads.
async fn serve(listener: TcpListener) {
    let (events, mut inbox) = mpsc::channel::<Event>(1024);
    tokio::spawn(async move {
        let mut next = 1;
        while let Ok((stream, _)) = listener.accept().await {
            let conn = ConnectionId(next);
            next += 1;
            let events = events.clone();
            tokio::spawn(async move {
                let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let (mut sink, mut stream) = ws.split();
                let (out_tx, mut out_rx) = mpsc::channel::<Message>(256);
                tokio::spawn(async move {
                    while let Some(m) = out_rx.recv().await {
                        let close = matches!(m, Message::Close(_));
                        if sink.send(m).await.is_err() || close {
                            break;
                        }
                    }
                });
                let _ = events.send(Event::Open(conn, out_tx)).await;
                while let Some(Ok(frame)) = stream.next().await {
                    if let Message::Text(text) = frame {
                        let _ = events.send(Event::Text(conn, text.to_string())).await;
                    }
                }
                let _ = events.send(Event::Closed(conn)).await;
            });
        }
    });
    let mut sb = Switchboard::new(
        SwitchboardConfig::default(),
        TokenKey::from_secret(&SECRET).unwrap(),
    );
    let mut writers: HashMap<ConnectionId, mpsc::Sender<Message>> = HashMap::new();
    while let Some(event) = inbox.recv().await {
        match event {
            Event::Open(conn, writer) => {
                writers.insert(conn, writer);
                sb.handle_connect(conn, Instant::now());
            }
            Event::Text(conn, text) => sb.handle_message(conn, &text, Instant::now(), unix_now()),
            Event::Closed(conn) => {
                writers.remove(&conn);
                sb.handle_disconnect(conn, Instant::now());
            }
        }
        while let Some(output) = sb.poll_output() {
            match output {
                Output::Send { to, message } => {
                    if let Some(w) = writers.get(&to) {
                        let _ = w.send(Message::text(message.to_json())).await;
                    }
                }
                Output::Close { conn, .. } => {
                    if let Some(w) = writers.remove(&conn) {
                        let _ = w.send(Message::Close(None)).await;
                    }
                }
                _ => {}
            }
        }
    }
}

async fn next_event(
    events: &mut mpsc::Receiver<ServerMessage>,
    want: impl Fn(&ServerMessage) -> bool,
) -> ServerMessage {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("event within 5 s")
            .expect("connection open");
        if want(&event) {
            return event;
        }
    }
}

#[tokio::test]
async fn a_call_over_real_websockets() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    tokio::spawn(serve(listener));
    let key = TokenKey::from_secret(&SECRET).unwrap();
    let config = |identity: &Identity, scope| {
        let token = key.mint(identity, &[scope], unix_now(), 600).unwrap();
        ClientConfig::new(url.clone(), identity.clone(), token)
    };

    let (alice, bob) = (Identity::new_user(), Identity::new_user());
    let (a, mut a_events) = SignalingClient::connect(&config(&alice, Scope::Voip))
        .await
        .unwrap();
    let (b, mut b_events) = SignalingClient::connect(&config(&bob, Scope::Voip))
        .await
        .unwrap();
    assert!(matches!(
        next_event(&mut a_events, |_| true).await,
        ServerMessage::Welcome { .. }
    ));

    let placed = a
        .request(ClientMessage::PlaceCall {
            to: bob.clone(),
            video: false,
            resumes: None,
        })
        .await
        .unwrap();
    let ServerMessage::Ok {
        call_id: Some(call_id),
        participant: Some(pa),
    } = placed
    else {
        panic!("{placed:?}")
    };
    let ring = next_event(&mut b_events, |e| {
        matches!(e, ServerMessage::IncomingCall { .. })
    })
    .await;
    assert!(
        matches!(ring, ServerMessage::IncomingCall { call_id: c, ref from, .. } if c == call_id && *from == alice)
    );

    let answered = b
        .request(ClientMessage::AcceptCall {
            call_id,
            video: false,
        })
        .await
        .unwrap();
    let ServerMessage::Ok {
        participant: Some(pb),
        ..
    } = answered
    else {
        panic!("{answered:?}")
    };
    let roster = next_event(&mut b_events, |e| matches!(e, ServerMessage::Roster { .. })).await;
    let ServerMessage::Roster {
        you, participants, ..
    } = roster
    else {
        unreachable!()
    };
    assert_eq!(you, pb);
    assert!(
        participants
            .iter()
            .any(|p| p.participant == pa && p.identity == alice)
    );

    // Refusals come back as typed errors on the request that caused them.
    let refused = b.request(ClientMessage::EndCall { call_id }).await;
    assert!(
        matches!(
            refused,
            Err(ClientError::Refused {
                code: ErrorCode::Forbidden,
                ..
            })
        ),
        "{refused:?}"
    );

    // Alice hangs up; Bob's call ends with the remote hang-up reason.
    a.request(ClientMessage::Leave { call_id }).await.unwrap();
    let ended = next_event(&mut b_events, |e| {
        matches!(
            e,
            ServerMessage::CallState {
                reason: Some(_),
                ..
            }
        )
    })
    .await;
    let ServerMessage::CallState {
        reason: Some(reason),
        ..
    } = ended
    else {
        unreachable!()
    };
    assert_eq!(reason.kind, confab_signaling::EndKind::RemoteHangUp);

    // A token signed by someone else is refused at connect time with its own code.
    let mut forged = config(&alice, Scope::Voip);
    forged.token = TokenKey::from_secret(&[6; 32])
        .unwrap()
        .mint(&alice, &[Scope::Voip], unix_now(), 600)
        .unwrap();
    let err = SignalingClient::connect(&forged).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Refused {
                code: ErrorCode::TokenInvalidSignature,
                ..
            }
        ),
        "{err:?}"
    );
}
