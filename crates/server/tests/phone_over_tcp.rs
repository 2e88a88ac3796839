//! SIP over TCP (`sip.tcp`): sipp's built-in client calls a group's number over TCP, the
//! phone shows in the call and leaves when the client sends its BYE.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use common::phones::*;
use confab_bot::{BotClient, CallEvent, Identity};
use confab_signaling::{EndKind, Scope};

const DID: &str = "+4930555000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_calls_in_over_tcp() {
    let group = uuid::Uuid::new_v4();
    let port = free_tcp_port();
    let mut config = phone_config(vec![group_route(DID, group)], None, 30);
    config.sip.tcp = Some(format!("127.0.0.1:{port}").parse().unwrap());
    let server = confab_server::start(config).await.unwrap();
    let client = BotClient::connect(bot_config(
        &server,
        Identity::Bot("host".into()),
        "Host bot",
        &[Scope::Bot],
    ))
    .await
    .unwrap();
    let (bot, heard) = PhoneCallBot::new(Vec::new());
    let call = client.join_group(group, bot).await.unwrap();
    let sipp = Sipp::start_builtin(
        "uac",
        &[
            "-t",
            "t1",
            "-s",
            DID,
            "-d",
            "1500",
            &format!("127.0.0.1:{port}"),
        ],
    );
    let (passed, log) = sipp.finish(Duration::from_secs(10)).await;
    assert!(passed, "a whole call over TCP: {log}");
    wait_until(
        &heard,
        Duration::from_secs(3),
        "the phone came and went",
        |h| {
            h.events
                .iter()
                .any(|e| matches!(e, CallEvent::Joined(p) if p.identity.is_phone()))
                && h.events.iter().any(|e| {
                    matches!(e, CallEvent::Left { participant, reason }
                if participant.identity.is_phone() && reason.kind == EndKind::HangUp)
                })
        },
    )
    .await;
    call.handle().hang_up().await.unwrap();
    server.shutdown().await;
}
