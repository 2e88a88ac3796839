//! Three browser pages, each with its own tone as the microphone: every page hears the other
//! two tones and not its own — the service's mix-minus, checked by an FFT in each page.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use common::browser::{open_page, result, tone_wav};
use common::*;

const TONES: [u32; 3] = [440, 700, 1100];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_hears_its_own_tone() {
    let server = server().await;
    let group = uuid::Uuid::new_v4();
    let tones = TONES.map(|t| t.to_string()).join(",");
    let pages: Vec<_> = TONES
        .iter()
        .map(|&hz| {
            let url = format!(
                "http://{}/?group={group}&name=tone{hz}&seconds=5&expect=3&video=0&tones={tones}",
                server.http_addr()
            );
            open_page(&url, &tone_wav(hz, 10), 60)
        })
        .collect();
    let results =
        tokio::task::spawn_blocking(move || pages.into_iter().map(result).collect::<Vec<_>>())
            .await
            .unwrap();
    for (i, r) in results.iter().enumerate() {
        let values = |key: &str| -> Vec<f64> {
            r[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        let (mean, peak) = (values("toneDb"), values("toneMaxDb"));
        println!(
            "page with {} Hz hears {:?} dB (peaks {:?}) at {TONES:?} Hz",
            TONES[i],
            mean.iter().map(|d| d.round()).collect::<Vec<_>>(),
            peak.iter().map(|d| d.round()).collect::<Vec<_>>()
        );
        for j in (0..TONES.len()).filter(|j| *j != i) {
            // Its own tone never rises out of the noise; each other tone clearly does.
            assert!(
                peak[j] >= peak[i] + 25.0,
                "page {} Hz: tone {} Hz peaks at {:.0} dB, its own at {:.0} dB",
                TONES[i],
                TONES[j],
                peak[j],
                peak[i]
            );
            assert!(
                mean[j] >= mean[i] + 10.0,
                "page {} Hz: tone {} Hz averages {:.0} dB, its own {:.0} dB",
                TONES[i],
                TONES[j],
                mean[j],
                mean[i]
            );
        }
    }
    server.shutdown().await;
}
