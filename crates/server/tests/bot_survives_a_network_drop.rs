//! F9: a bot's network drops out for 3 s (the relay in front of the service swallows all its
//! datagrams, both ways) while it speaks a steady tone into a group call that the recorder
//! bot records. The bot notices within about a second (`Reconnecting`), offers new media
//! connections until one comes up once the network is back (`Reconnected`), and goes on as
//! the same participant: the recorder's file of it has one gap of about 3 s and the tone
//! continues after it, the recorder saw it join once and never leave until it hung up.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::drops::{
    Seen, bot_config as config, join_recorder, join_tone_speaker, manifest_entries,
    server_behind_relay, tone_windows, wait_for, wav,
};
use common::temp_dir;
use confab_bot::{CallEvent, EndKind};
use confab_testkit::NetemConfig;

const SPEAK: Duration = Duration::from_secs(9);
const CUT_AT: Duration = Duration::from_secs(2);
const CUT_FOR: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_rides_out_a_three_second_network_drop() {
    let out = temp_dir();
    let (server, relay) = server_behind_relay(NetemConfig::default(), 1, false).await;
    let group = uuid::Uuid::new_v4();

    // The recorder first: the relay's first client.
    let recorder = join_recorder(config(&server, "recorder"), group, &out).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while relay.clients().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let speaker = join_tone_speaker(
        config(&server, "speaker"),
        group,
        &seen,
        SPEAK.as_secs() as usize,
    )
    .await;
    let connected = wait_for(
        &seen,
        CallEvent::MediaConnected,
        deadline.saturating_duration_since(Instant::now()),
    )
    .await;
    let clients = relay.clients();
    assert_eq!(clients.len(), 2, "recorder and speaker: {clients:?}");
    let speaker_addr = clients[1];

    tokio::time::sleep_until((connected + CUT_AT).into()).await;
    relay.cut_client(speaker_addr, true);
    let cut = Instant::now();
    tokio::time::sleep(CUT_FOR).await;
    relay.cut_client(speaker_addr, false);
    let restored = Instant::now();

    tokio::time::sleep_until((connected + SPEAK + Duration::from_millis(300)).into()).await;
    speaker.handle().hang_up().await.unwrap();
    let spoke = speaker.finished().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    recorder.handle().hang_up().await.unwrap();
    let recorded = recorder.finished().await.unwrap();
    let network = relay.stats();
    server.shutdown().await;

    let seen = seen.lock().unwrap().clone();
    let timeline: Vec<(i64, &CallEvent)> = seen
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                CallEvent::MediaConnected | CallEvent::Reconnecting | CallEvent::Reconnected
            )
        })
        .map(|(at, e)| {
            let ms = |d: Duration| d.as_millis() as i64;
            (
                ms(at.saturating_duration_since(cut)) - ms(cut.saturating_duration_since(*at)),
                e,
            )
        })
        .collect();
    println!("relay {network:?}\nspeaker's events (ms after the cut): {timeline:?}");
    println!("speaker {:?}\nrecorder {:?}", spoke, recorded);
    assert!(network.blackholed > 100, "the drop swallowed the media");
    assert_eq!(spoke.reason.kind, EndKind::HangUp, "the bot hung up itself");
    let kinds: Vec<&CallEvent> = timeline.iter().map(|(_, e)| *e).collect();
    assert_eq!(
        kinds,
        [
            &CallEvent::MediaConnected,
            &CallEvent::Reconnecting,
            &CallEvent::Reconnected
        ],
        "one drop, one recovery"
    );
    let noticed = seen
        .iter()
        .find(|(_, e)| *e == CallEvent::Reconnecting)
        .unwrap()
        .0;
    let back = seen
        .iter()
        .find(|(_, e)| *e == CallEvent::Reconnected)
        .unwrap()
        .0;
    assert!(
        noticed > cut && noticed.duration_since(cut) < Duration::from_millis(2_000),
        "the drop is noticed within 2 s"
    );
    assert!(
        back > restored && back.duration_since(restored) < Duration::from_millis(2_000),
        "back within 2 s of the network: {:?}",
        back.saturating_duration_since(restored)
    );

    // The recording: the speaker joined once and left once (hanging up), its file has the
    // tone, one gap of about the drop, and the tone again.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let speakers = manifest_entries(&manifest, "28:speaker");
    assert_eq!(speakers.len(), 1, "one participant, not two: {manifest}");
    assert_eq!(speakers[0]["left_reason"]["kind"], "hang_up", "{manifest}");
    let samples = wav(&out.join(speakers[0]["audio"]["file"].as_str().unwrap()));
    let tone = tone_windows(&samples);
    let first = tone.iter().position(|t| *t).unwrap();
    let last = tone.iter().rposition(|t| *t).unwrap();
    // Gaps inside the tone, in 20 ms windows.
    let mut gaps = Vec::new();
    let mut run = 0;
    for &t in &tone[first..=last] {
        if t {
            if run > 0 {
                gaps.push(run);
            }
            run = 0;
        } else {
            run += 1;
        }
    }
    let longest = gaps.iter().max().copied().unwrap_or(0);
    let after = tone[first..=last].len()
        - tone[first..=last]
            .iter()
            .rposition(|t| !*t)
            .map_or(0, |i| i + 1);
    println!(
        "recorded tone {:.2} s; gaps (ms) {:?}; tone after the last gap {:.2} s",
        tone.iter().filter(|t| **t).count() as f64 * 0.02,
        gaps.iter().map(|g| g * 20).collect::<Vec<_>>(),
        after as f64 * 0.02
    );
    assert!(
        (2_800..=4_600).contains(&(longest * 20)),
        "one gap of about the drop: {} ms",
        longest * 20
    );
    assert!(
        gaps.iter().filter(|g| **g >= 5).count() == 1,
        "no other gap of 100 ms or more: {gaps:?}"
    );
    assert!(after * 20 >= 2_500, "the tone goes on after the drop");
    let _ = std::fs::remove_dir_all(&out);
}

/// The recorder's own network drops for 2 s: its manifest says so (when it went and came
/// back), and the speaker's file has the gap, not an end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorder_notes_its_own_drop_in_the_manifest() {
    let out = temp_dir();
    let (server, relay) = server_behind_relay(NetemConfig::default(), 1, false).await;
    let group = uuid::Uuid::new_v4();
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let speaker = join_tone_speaker(
        config(&server, "speaker"),
        group,
        &seen,
        SPEAK.as_secs() as usize,
    )
    .await;
    let recorder = join_recorder(config(&server, "recorder"), group, &out).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while relay.clients().len() < 2 {
        assert!(Instant::now() < deadline, "both connect through the relay");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let recorder_addr = relay.clients()[1];
    relay.cut_client(recorder_addr, true);
    tokio::time::sleep(Duration::from_secs(2)).await;
    relay.cut_client(recorder_addr, false);
    tokio::time::sleep(Duration::from_secs(3)).await;
    recorder.handle().hang_up().await.unwrap();
    recorder.finished().await.unwrap();
    speaker.handle().hang_up().await.unwrap();
    speaker.finished().await.unwrap();
    server.shutdown().await;

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let drops: Vec<(&str, u64)> = manifest["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let kind = e["kind"].as_str()?;
            kind.starts_with("recorder_")
                .then(|| (kind, e["at_ms"].as_u64().unwrap()))
        })
        .collect();
    println!("recorder's drops: {drops:?}");
    assert_eq!(
        drops.iter().map(|d| d.0).collect::<Vec<_>>(),
        ["recorder_reconnecting", "recorder_reconnected"],
        "{manifest}"
    );
    let away = drops[1].1 - drops[0].1;
    assert!((1_000..=4_000).contains(&away), "away {away} ms");
    let speakers = manifest_entries(&manifest, "28:speaker");
    assert_eq!(speakers.len(), 1);
    let samples = wav(&out.join(speakers[0]["audio"]["file"].as_str().unwrap()));
    let tone = tone_windows(&samples);
    let last = tone.iter().rposition(|t| *t).unwrap();
    let before_end = tone[..=last].iter().rev().take_while(|t| **t).count();
    assert!(
        before_end * 20 >= 1_500,
        "the tone goes on after the recorder is back: {} ms",
        before_end * 20
    );
    let _ = std::fs::remove_dir_all(&out);
}
