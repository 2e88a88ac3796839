//! Real phones for the SIP gateway's scenarios: baresip (a SIP user agent that speaks a WAV
//! file, records what it hears, answers on its own, and is driven over its TCP control
//! port: dial, hang up, press keys, report events) and sipp (scripted SIP for what a phone
//! cannot be made to do: early media, busy, never answering). Both are Debian packages that
//! scripts/install-deps.sh installs; a missing one fails the test with that advice.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods
)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use confab_bot::{
    AudioFrame, Bot, BotConfig, CallEvent, CallHandle, EndReason, MediaTime, Participant,
};
use confab_media::{AudioFormat, AudioFrame as Frame, FrameDuration, Resampler, SampleRate};
use confab_server::{ServerConfig, ServerHandle};
use confab_signaling::{Identity, Scope};
use confab_sip::SipConfig;
use confab_sip::config::{DidRoute, Trunk};
#[allow(unused_imports)] // not every test binary places audio on the clock
pub use confab_testkit::signal::on_clock;

/// The number the phone in these tests has.
pub const PHONE_NUMBER: &str = "+15551230001";

pub fn phone_identity() -> Identity {
    format!("4:{PHONE_NUMBER}").parse().unwrap()
}

fn tool(name: &str) -> PathBuf {
    let path = Path::new("/usr/bin").join(name);
    assert!(
        path.exists(),
        "{name} is missing: run scripts/install-deps.sh (Debian packages sip-tester, baresip-core)"
    );
    path
}

/// A UDP port nobody uses now.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP port nobody uses now.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A service with the SIP gateway on loopback: `routes` (number → group or identity), the
/// trunk (dial-outs) at `trunk_port`, callers from 127.0.0.1 allowed.
pub async fn phone_server(
    routes: Vec<DidRoute>,
    trunk_port: Option<u16>,
    ring_timeout_secs: u64,
) -> ServerHandle {
    confab_server::start(phone_config(routes, trunk_port, ring_timeout_secs))
        .await
        .unwrap()
}

/// The settings [`phone_server`] starts with.
pub fn phone_config(
    routes: Vec<DidRoute>,
    trunk_port: Option<u16>,
    ring_timeout_secs: u64,
) -> ServerConfig {
    ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media_udp: "127.0.0.1:0".parse().unwrap(),
        data_dir: super::temp_dir(),
        echo_service: false,
        ring_timeout_secs,
        sip: SipConfig {
            udp: Some("127.0.0.1:0".parse().unwrap()),
            allow: vec!["127.0.0.1".into()],
            trunk: trunk_port.map(|port| Trunk {
                address: format!("127.0.0.1:{port}"),
                domain: None,
                username: Some("confab".into()),
                password: Some("trunk-secret".into()),
                caller_id: Some("+4930555999".into()),
            }),
            routes,
            rtp_timeout_secs: 10,
            ..SipConfig::default()
        },
        ..ServerConfig::default()
    }
}

pub fn group_route(number: &str, group: uuid::Uuid) -> DidRoute {
    DidRoute {
        number: number.into(),
        identity: None,
        group: Some(group),
    }
}

pub fn identity_route(number: &str, identity: Identity) -> DidRoute {
    DidRoute {
        number: number.into(),
        identity: Some(identity),
        group: None,
    }
}

/// 48 kHz speech taken to 8 kHz the way confab does it (FFT resampling, 20 ms frames).
pub fn to_8k(samples: &[i16]) -> Vec<i16> {
    let mut resampler = Resampler::new(
        AudioFormat::MONO_48K,
        SampleRate::Hz8000,
        FrameDuration::Ms20,
    )
    .unwrap();
    let mut out = Vec::with_capacity(samples.len() / 6);
    for chunk in samples.chunks(960) {
        let mut pcm = chunk.to_vec();
        pcm.resize(960, 0);
        let frame = Frame::new(AudioFormat::MONO_48K, MediaTime::ZERO, pcm).unwrap();
        out.extend_from_slice(resampler.process(&frame).unwrap().samples());
    }
    // The filter's delay: line the output up with the input.
    out.drain(..resampler.delay().min(out.len()));
    out
}

/// Writes 8 kHz mono PCM as a WAV, padded with silence to `seconds`.
pub fn write_wav_8k(path: &Path, samples: &[i16], seconds: f64) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let total = ((seconds * 8000.0) as usize).max(samples.len());
    for i in 0..total {
        w.write_sample(samples.get(i).copied().unwrap_or(0))
            .unwrap();
    }
    w.finalize().unwrap();
}

/// Writes 8 kHz PCM as a µ-law WAV (what sipp's `rtp_stream` plays).
pub fn write_ulaw_wav(path: &Path, samples: &[i16]) {
    let mut data = vec![0u8; samples.len()];
    confab_codecs::g711::encode(confab_codecs::G711Law::MuLaw, samples, &mut data);
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(4 + 26 + 8 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&18u32.to_le_bytes());
    out.extend_from_slice(&7u16.to_le_bytes()); // µ-law
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    std::fs::write(path, out).unwrap();
}

/// Reads a 16-bit WAV.
pub fn read_wav(path: &Path) -> (Vec<i16>, u32) {
    let mut r = hound::WavReader::open(path).unwrap();
    let rate = r.spec().sample_rate;
    (r.samples::<i16>().map(Result::unwrap).collect(), rate)
}

/// How well a piece of `heard` (8 kHz; `probe_s` seconds, starting `from_s` seconds after
/// the first speech in it) matches `reference` (8 kHz): the position in the reference where
/// the piece starts and the median correlation of its half-second windows, each located in
/// the reference on its own. Adaptive playout on either side may drop or repeat a 20 ms
/// frame when packets come late (two calls sharing two cores do that): the speech is still
/// intact, but one alignment across the slip would score the whole probe as noise.
pub fn correlation_8k(reference: &[i16], heard: &[i16], from_s: f64, probe_s: f64) -> (usize, f64) {
    let onset = heard
        .chunks(160)
        .position(|f| confab_testkit::signal::rms_dbfs(f) > -45.0)
        .unwrap_or(0)
        * 160;
    correlation_8k_at(reference, heard, onset as f64 / 8000.0 + from_s, probe_s)
}

/// [`correlation_8k`] with the probe `at_s` seconds into `heard`.
pub fn correlation_8k_at(
    reference: &[i16],
    heard: &[i16],
    at_s: f64,
    probe_s: f64,
) -> (usize, f64) {
    const WINDOW: usize = 4000;
    let from = ((at_s.max(0.0) * 8000.0) as usize).min(heard.len());
    let len = ((probe_s * 8000.0) as usize).min(heard.len() - from);
    let probe = &heard[from..from + len];
    if probe.len() < WINDOW || reference.len() <= WINDOW {
        return (0, 0.0);
    }
    // Windows in the speech's pauses say nothing; each voiced one is located on its own.
    let mut located: Vec<(usize, f64)> = probe
        .chunks_exact(WINDOW)
        .filter(|w| confab_testkit::signal::rms_dbfs(w) > -45.0)
        .map(|w| confab_testkit::signal::align(w, reference, reference.len() - WINDOW, WINDOW))
        .collect();
    let Some(&(at, _)) = located.first() else {
        return (0, 0.0);
    };
    located.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mid = located.len() / 2;
    let median = if located.len() % 2 == 1 {
        located[mid].1
    } else {
        (located[mid - 1].1 + located[mid].1) / 2.0
    };
    (at, median)
}

/// baresip as a phone.
pub struct Baresip {
    child: Child,
    pub dir: PathBuf,
    pub sip: SocketAddr,
    ctrl: Arc<Mutex<TcpStream>>,
    events: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Baresip {
    /// A phone with number [`PHONE_NUMBER`] on its own SIP port, speaking `speech` (8 kHz,
    /// padded to `seconds`; the call ends when the file does), answering calls itself when
    /// `auto_answer`.
    pub fn start(speech: &[i16], seconds: f64, auto_answer: bool) -> Baresip {
        let binary = tool("baresip");
        let dir = super::temp_dir();
        std::fs::create_dir_all(dir.join("rec")).unwrap();
        let source = dir.join("source.wav");
        write_wav_8k(&source, speech, seconds);
        let sip_port = free_udp_port();
        let ctrl_port = free_tcp_port();
        let config = format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\nsip_trans_def udp\n\
             audio_player aufile,/dev/null\naudio_source aufile,{}\naudio_alert aufile,/dev/null\n\
             ausrc_srate 8000\nauplay_srate 8000\nausrc_channels 1\nauplay_channels 1\n\
             jitter_buffer_delay 5-10\nrtp_stats no\nmodule_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule aufile.so\nmodule sndfile.so\nmodule_app account.so\n\
             module_app menu.so\nmodule ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl_port}\n\
             snd_path {}\n",
            source.display(),
            dir.join("rec").display()
        );
        std::fs::write(dir.join("config"), config).unwrap();
        let answer = if auto_answer { "auto" } else { "manual" };
        std::fs::write(
            dir.join("accounts"),
            format!("<sip:{PHONE_NUMBER}@127.0.0.1>;regint=0;answermode={answer};audio_codecs=PCMU,PCMA\n"),
        )
        .unwrap();
        std::fs::write(dir.join("contacts"), "").unwrap();
        let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
        let child = Command::new(binary)
            .arg("-f")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("baresip starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", ctrl_port)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("baresip's control port: {e}"),
            }
        };
        let events = Arc::new(Mutex::new(Vec::new()));
        let mut reader = stream.try_clone().unwrap();
        let sink = events.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n) = reader.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                // Netstrings: `<len>:<json>,`.
                while let Some(colon) = buf.iter().position(|&b| b == b':') {
                    let Ok(len) = std::str::from_utf8(&buf[..colon])
                        .unwrap_or("x")
                        .parse::<usize>()
                    else {
                        buf.clear();
                        break;
                    };
                    if buf.len() < colon + 1 + len + 1 {
                        break;
                    }
                    if let Ok(v) = serde_json::from_slice(&buf[colon + 1..colon + 1 + len]) {
                        sink.lock().unwrap().push(v);
                    }
                    buf.drain(..colon + 1 + len + 1);
                }
            }
        });
        Baresip {
            child,
            dir,
            sip: SocketAddr::from(([127, 0, 0, 1], sip_port)),
            ctrl: Arc::new(Mutex::new(stream)),
            events,
        }
    }

    /// Runs a control command (`dial`, `hangup`, `sndcode`, `accept`...).
    pub fn command(&self, command: &str, params: &str) {
        let json =
            serde_json::json!({ "command": command, "params": params, "token": "t" }).to_string();
        let mut ctrl = self.ctrl.lock().unwrap();
        write!(ctrl, "{}:{},", json.len(), json).unwrap();
        ctrl.flush().unwrap();
    }

    /// Event types seen so far (`CALL_ESTABLISHED`, `CALL_CLOSED`, `CALL_DTMF_START`...),
    /// with their `param`.
    pub fn events(&self) -> Vec<(String, String)> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v["event"] == true)
            .map(|v| {
                (
                    v["type"].as_str().unwrap_or_default().to_string(),
                    v["param"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Waits until an event of `kind` arrives; panics after `timeout`.
    pub async fn wait_for(&self, kind: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((_, param)) = self.events().into_iter().find(|(k, _)| k == kind) {
                return param;
            }
            assert!(
                Instant::now() < deadline,
                "baresip never reported {kind}; events {:?}\n{}",
                self.events(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Keys the phone heard (its `CALL_DTMF_START` events).
    pub fn heard_digits(&self) -> String {
        self.events()
            .into_iter()
            .filter(|(kind, _)| kind == "CALL_DTMF_START")
            .filter_map(|(_, param)| param.chars().next())
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }

    /// What the phone heard (8 kHz), once its call is over.
    pub fn recording(&self) -> Vec<i16> {
        let rec = self.dir.join("rec");
        let file = std::fs::read_dir(&rec)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .unwrap_or_else(|| panic!("no recording in {}\n{}", rec.display(), self.log()));
        let (samples, rate) = read_wav(&file);
        assert_eq!(rate, 8000);
        samples
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sipp run (scripted SIP peer) with a scenario file; its output in `dir`.
pub struct Sipp {
    child: Child,
    pub dir: PathBuf,
    pub port: u16,
}

impl Sipp {
    /// Starts sipp with `scenario` (XML text) and extra arguments.
    pub fn start(scenario: &str, args: &[&str]) -> Sipp {
        let dir = super::temp_dir();
        std::fs::create_dir_all(&dir).unwrap();
        Sipp::start_in(&dir, scenario, args, |_| {})
    }

    /// Starts sipp with one of its built-in scenarios (`uac`, `uas`).
    pub fn start_builtin(name: &str, args: &[&str]) -> Sipp {
        let binary = tool("sipp");
        let dir = super::temp_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_udp_port();
        let log = std::fs::File::create(dir.join("sipp.log")).unwrap();
        let child = Command::new(binary)
            .current_dir(&dir)
            .arg("-nostdin")
            .args([
                "-sn",
                name,
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-m",
                "1",
            ])
            .args(["-trace_err", "-trace_msg", "-timeout", "30"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("sipp starts");
        Sipp { child, dir, port }
    }

    /// Starts sipp in `dir` after `prepare` put its files there (RTP streams).
    pub fn start_in(
        dir: &Path,
        scenario: &str,
        args: &[&str],
        prepare: impl FnOnce(&Path),
    ) -> Sipp {
        let binary = tool("sipp");
        let dir = dir.to_path_buf();
        prepare(&dir);
        std::fs::write(dir.join("scenario.xml"), scenario).unwrap();
        let port = free_udp_port();
        let log = std::fs::File::create(dir.join("sipp.log")).unwrap();
        let child = Command::new(binary)
            .current_dir(&dir)
            .arg("-nostdin")
            .arg("-sf")
            .arg(dir.join("scenario.xml"))
            .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-m", "1"])
            .args(["-mp", &free_udp_port().to_string()])
            .args(["-trace_err", "-trace_msg", "-timeout", "30"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("sipp starts");
        Sipp { child, dir, port }
    }

    /// Waits for sipp to finish; returns whether its scenario passed.
    pub async fn finish(mut self, timeout: Duration) -> (bool, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let messages = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let name = p.to_string_lossy();
                name.ends_with("_messages.log")
                    || name.ends_with("_errors.log")
                    || name.ends_with("sipp.log")
            })
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        (status.is_some_and(|s| s.success()), messages)
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bot config on `server`.
pub fn bot_config(
    server: &ServerHandle,
    identity: Identity,
    name: &str,
    scopes: &[Scope],
) -> BotConfig {
    let token = server
        .token_key()
        .mint(&identity, scopes, super::unix_now(), 600)
        .unwrap();
    let mut config = BotConfig::new(server.base_url(), identity, token);
    config.display_name = name.to_owned();
    config
}

/// What a bot heard and saw in a call.
#[derive(Default)]
pub struct Heard {
    pub mixed: Vec<(MediaTime, Vec<i16>)>,
    pub unmixed: HashMap<Identity, Vec<(MediaTime, Vec<i16>)>>,
    pub events: Vec<CallEvent>,
    /// When each event came, on the call clock.
    pub event_times: Vec<MediaTime>,
    pub left: Option<EndReason>,
}

/// A bot that speaks `speech` (48 kHz) once media flows, and records everything.
pub struct PhoneCallBot {
    pub speech: Vec<i16>,
    pub heard: Arc<Mutex<Heard>>,
}

impl PhoneCallBot {
    pub fn new(speech: Vec<i16>) -> (PhoneCallBot, Arc<Mutex<Heard>>) {
        let heard = Arc::new(Mutex::new(Heard::default()));
        (
            PhoneCallBot {
                speech,
                heard: heard.clone(),
            },
            heard,
        )
    }
}

#[async_trait]
impl Bot for PhoneCallBot {
    async fn on_mixed_audio(&mut self, _call: &CallHandle, frame: &AudioFrame) {
        self.heard
            .lock()
            .unwrap()
            .mixed
            .push((frame.timestamp(), frame.samples().to_vec()));
    }

    async fn on_participant_audio(
        &mut self,
        _call: &CallHandle,
        who: &Participant,
        frame: &AudioFrame,
    ) {
        self.heard
            .lock()
            .unwrap()
            .unmixed
            .entry(who.identity.clone())
            .or_default()
            .push((frame.timestamp(), frame.samples().to_vec()));
    }

    async fn on_event(&mut self, call: &CallHandle, event: &CallEvent) {
        if *event == CallEvent::MediaConnected && !self.speech.is_empty() {
            let frames = confab_testkit::fixtures::frames(
                &std::mem::take(&mut self.speech),
                AudioFormat::MONO_48K,
            );
            let call = call.clone();
            tokio::spawn(async move {
                for frame in frames {
                    if call.send_audio(frame).await.is_err() {
                        break;
                    }
                }
            });
        }
        let mut heard = self.heard.lock().unwrap();
        heard.events.push(event.clone());
        heard.event_times.push(call.now());
    }

    async fn on_left(&mut self, _call: &CallHandle, reason: &EndReason) {
        self.heard.lock().unwrap().left = Some(reason.clone());
    }
}

/// Waits until `check` holds on what the bot saw; panics after `timeout`.
pub async fn wait_until(
    heard: &Arc<Mutex<Heard>>,
    timeout: Duration,
    what: &str,
    check: impl Fn(&Heard) -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        if check(&heard.lock().unwrap()) {
            return;
        }
        let events: Vec<String> = heard
            .lock()
            .unwrap()
            .events
            .iter()
            .map(|e| format!("{e:?}"))
            .collect();
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; events {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The phone participant the bot saw join.
pub fn phone_in(heard: &Heard) -> Option<Participant> {
    heard.events.iter().rev().find_map(|e| match e {
        CallEvent::Joined(p) | CallEvent::Changed(p) if p.identity == phone_identity() => {
            Some(p.clone())
        }
        _ => None,
    })
}
