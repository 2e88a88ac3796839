//! F9, signaling side: a bot's WebSocket to the service passes through a TCP proxy that the
//! test severs. Within the service's reconnect grace (5 s) the bot re-opens it as the same
//! device, gets its call back (`Reconnecting`, `Reconnected`), its media never stopped, and
//! it can use the call's signaling again; the recorder saw it join once. A drop longer than
//! the grace ends the call as network-lost as soon as the service says it is gone.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::drops::{
    Seen, bot_config, join_recorder, join_tone_speaker, manifest_entries, tone_windows, wait_for,
    wav,
};
use common::{server as start_server, temp_dir};
use confab_bot::{BotConfig, CallEvent, EndKind};
use confab_server::ServerHandle;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP proxy whose connections can be severed, and which can refuse new ones.
struct Proxy {
    addr: SocketAddr,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    refusing: Arc<AtomicBool>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let refusing = Arc::new(AtomicBool::new(false));
        let (conns, refuse) = (connections.clone(), refusing.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if refuse.load(Ordering::Relaxed) {
                    continue; // dropped: the client sees the connection closed
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns.lock().unwrap().push(task);
            }
        });
        Proxy {
            addr,
            connections,
            refusing,
        }
    }

    /// Cuts every open connection (both ends see it close, as when a network path dies).
    fn sever(&self) {
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// A bot `28:<name>` whose signaling goes to `base` (the proxy, or the service itself).
fn config(server: &ServerHandle, name: &str, base: String) -> BotConfig {
    let mut config = bot_config(server, name);
    config.server = base;
    config
}

/// The tone speaker of these scenarios: 8 s.
/// How long the speakers speak (s).
const SPEAKS_FOR: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_gets_its_call_back_after_its_websocket_drops() {
    let out = temp_dir();
    let server = start_server().await;
    let proxy = Proxy::start(server.http_addr()).await;
    let group = uuid::Uuid::new_v4();
    let recorder = join_recorder(config(&server, "recorder", server.base_url()), group, &out).await;
    let seen: Seen = Arc::default();
    let through_proxy = format!("http://{}", proxy.addr);
    let speaker = join_tone_speaker(
        config(&server, "speaker", through_proxy),
        group,
        &seen,
        SPEAKS_FOR,
    )
    .await;
    wait_for(&seen, CallEvent::MediaConnected, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let cut = Instant::now();
    proxy.sever();
    let noticed = wait_for(&seen, CallEvent::Reconnecting, Duration::from_secs(2)).await;
    let back = wait_for(&seen, CallEvent::Reconnected, Duration::from_secs(3)).await;
    println!(
        "WebSocket severed: noticed after {:?}, back after {:?}",
        noticed - cut,
        back - cut
    );
    // The call's signaling works again: a mute reaches the recorder's roster.
    speaker.handle().mute(true).await.unwrap();
    let me = speaker.handle().me().unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !recorder.handle().participant(me).is_some_and(|p| p.muted) {
        assert!(
            Instant::now() < deadline,
            "the mute after the reconnect arrives"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    speaker.handle().mute(false).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    speaker.handle().hang_up().await.unwrap();
    let spoke = speaker.finished().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    recorder.handle().hang_up().await.unwrap();
    recorder.finished().await.unwrap();
    server.shutdown().await;

    assert_eq!(spoke.reason.kind, EndKind::HangUp);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let speakers = manifest_entries(&manifest, "28:speaker");
    assert_eq!(speakers.len(), 1, "one participant, not two: {manifest}");
    assert_eq!(speakers[0]["left_reason"]["kind"], "hang_up", "{manifest}");
    // Media never stopped while signaling was down: the recorded tone has no gap until
    // the mute (a muted participant's audio is not forwarded).
    let tone = tone_windows(&wav(
        &out.join(speakers[0]["audio"]["file"].as_str().unwrap())
    ));
    let first = tone.iter().position(|t| *t).unwrap();
    let until_mute = first + 2_000 / 20; // 2 s of tone before the cut, then the drop
    let gaps = tone[first..until_mute].iter().filter(|t| !**t).count();
    assert!(
        gaps <= 2,
        "no gap in the media across the drop: {gaps} silent windows"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_longer_than_the_grace_ends_the_call_as_network_lost() {
    let server = start_server().await;
    let proxy = Proxy::start(server.http_addr()).await;
    let group = uuid::Uuid::new_v4();
    let other = join_tone_speaker(
        config(&server, "other", server.base_url()),
        group,
        &Arc::default(),
        SPEAKS_FOR,
    )
    .await;
    let seen: Seen = Arc::default();
    let bot = join_tone_speaker(
        config(&server, "far", format!("http://{}", proxy.addr)),
        group,
        &seen,
        SPEAKS_FOR,
    )
    .await;
    wait_for(&seen, CallEvent::MediaConnected, Duration::from_secs(10)).await;
    let me = bot.handle().me().unwrap();

    let cut = Instant::now();
    proxy.refusing.store(true, Ordering::Relaxed);
    proxy.sever();
    wait_for(&seen, CallEvent::Reconnecting, Duration::from_secs(2)).await;
    // The others see the bot leave as network-lost once the grace (5 s) runs out.
    let deadline = Instant::now() + Duration::from_secs(10);
    while other.handle().participant(me).is_some() {
        assert!(Instant::now() < deadline, "the service gives the bot up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gone = cut.elapsed();
    proxy.refusing.store(false, Ordering::Relaxed);
    let report = tokio::time::timeout(Duration::from_secs(10), bot.finished())
        .await
        .expect("the call ends once the service says it is gone, not after the SDK's limit")
        .unwrap();
    println!(
        "given up by the service after {gone:?}; the bot's call ended after {:?}: {:?}",
        cut.elapsed(),
        report.reason
    );
    assert_eq!(report.reason.kind, EndKind::NetworkLost);
    assert!(
        !seen
            .lock()
            .unwrap()
            .iter()
            .any(|(_, e)| *e == CallEvent::Reconnected),
        "never claimed to be back"
    );
    other.handle().hang_up().await.unwrap();
    server.shutdown().await;
}
