//! A cluster on loopback: a real `redis-server` and `confab serve` processes pointed at it.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use confab_bot::{BotConfig, Identity};
use confab_server::Secrets;
use confab_signaling::{Scope, TokenKey};

use super::phones::{free_tcp_port, free_udp_port};

/// A `redis-server` on a free loopback port, nothing saved to disk.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
}

impl Redis {
    pub fn start() -> Redis {
        let mut redis = Redis {
            child: None,
            port: free_tcp_port(),
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A `redis-server` that speaks only TLS, on a free loopback port, with a certificate
    /// for 127.0.0.1 issued by `ca`; with `client_certificates` it asks every client for a
    /// certificate from `ca`.
    pub fn start_tls(ca: &TestCa, client_certificates: bool) -> Redis {
        assert!(
            which("redis-server"),
            "run scripts/install-deps.sh: redis-server is missing"
        );
        let dir = super::temp_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = ca.issue(&["127.0.0.1", "localhost"], &dir, "redis");
        let port = free_tcp_port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args([
                "--tls-auth-clients",
                if client_certificates { "yes" } else { "no" },
            ])
            .arg("--tls-cert-file")
            .arg(cert)
            .arg("--tls-key-file")
            .arg(key)
            .arg("--tls-ca-cert-file")
            .arg(&ca.pem)
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis {
            child: Some(child),
            port,
        }
    }

    /// The `rediss://` URL of a [`Redis::start_tls`] server.
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }

    /// Starts it (again, on the same port, empty) and waits until it answers.
    pub fn restart(&mut self) {
        assert!(
            which("redis-server"),
            "run scripts/install-deps.sh: redis-server is missing"
        );
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every key under `confab:` with its value (a set's members joined by spaces).
    pub fn keys(&self) -> Vec<(String, String)> {
        let cli = |args: &[&str]| -> String {
            let out = Command::new("redis-cli")
                .args(["-p", &self.port.to_string()])
                .args(args)
                .output()
                .expect("redis-cli runs");
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        cli(&["--scan", "--pattern", "confab:*"])
            .lines()
            .map(|key| {
                let value = match cli(&["TYPE", key]).as_str() {
                    "set" => cli(&["SMEMBERS", key]).replace('\n', " "),
                    _ => cli(&["GET", key]),
                };
                (key.to_owned(), value)
            })
            .collect()
    }

    /// Kills it (its data goes with it).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A certificate authority of a test's own: its certificate in a PEM file (`pem`), and
/// certificates it issues.
pub struct TestCa {
    /// The CA's certificate (PEM).
    pub pem: PathBuf,
    params: rcgen::CertificateParams,
    key_pem: String,
}

impl TestCa {
    /// A fresh CA, its certificate written beside the test's temporary files.
    pub fn new() -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(
            DnType::CommonName,
            format!("confab test CA {}", uuid::Uuid::new_v4()),
        );
        let certificate = params.self_signed(&key).unwrap();
        let pem = super::temp_dir().with_extension("ca.pem");
        std::fs::write(&pem, certificate.pem()).unwrap();
        TestCa {
            pem,
            params,
            key_pem: key.serialize_pem(),
        }
    }

    /// A certificate for `names` issued by this CA, and its key, written to `dir` as
    /// `{name}.pem` and `{name}.key`.
    pub fn issue(&self, names: &[&str], dir: &std::path::Path, name: &str) -> (PathBuf, PathBuf) {
        use rcgen::{CertificateParams, Issuer, KeyPair};
        let issuer = Issuer::new(
            self.params.clone(),
            KeyPair::from_pem(&self.key_pem).unwrap(),
        );
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let certificate = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let (cert, key_file) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert, certificate.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        (cert, key_file)
    }
}

fn which(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A `confab serve` process in a cluster.
pub struct Node {
    child: Option<Child>,
    pub id: String,
    pub http: SocketAddr,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    /// Serves HTTPS (started with `--tls-cert`).
    pub tls: bool,
}

/// The `confab serve` command line of a node `id` on `redis_url`.
pub fn serve_command(redis_url: &str, id: &str, http: SocketAddr, data_dir: &PathBuf) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_confab"));
    command
        .arg("serve")
        .args(["--http", &http.to_string()])
        .args(["--media-udp", &format!("127.0.0.1:{}", free_udp_port())])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--redis", redis_url, "--node-id", id, "--no-echo"])
        .env("RUST_LOG", "info,confab_server=debug,rtc=warn,rtc_ice=warn,rtc_dtls=warn,rtc_srtp=warn,rtc_sctp=warn");
    command
}

impl Node {
    /// Starts node `id` on `redis_url` and waits until it serves.
    pub fn start(redis_url: &str, id: &str) -> Node {
        Node::start_with(redis_url, id, &[])
    }

    /// Starts node `id` on `redis_url` with more `confab serve` arguments, and waits until
    /// it serves.
    pub fn start_with(redis_url: &str, id: &str, args: &[&str]) -> Node {
        let http: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
        let data_dir = super::temp_dir();
        let log = data_dir.with_extension(format!("{id}.log"));
        let child = serve_command(redis_url, id, http, &data_dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("confab serve runs");
        let mut node = Node {
            child: Some(child),
            id: id.to_owned(),
            http,
            data_dir,
            log,
            tls: args.contains(&"--tls-cert"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // Over HTTPS the log says when it serves (the test helpers speak plain HTTP).
            let up = if node.tls {
                node.log_text().contains("confab is serving")
            } else {
                std::net::TcpStream::connect(http).is_ok()
                    && super::http(http, "GET", "/healthz", None, None).0 == 200
            };
            if up {
                break;
            }
            if let Some(status) = node.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("node {id} exited ({status}): {}", node.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "node {id} did not serve: {}",
                node.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }

    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.http)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn secrets(&self) -> Secrets {
        Secrets::load(&self.data_dir)
            .unwrap()
            .expect("the node's data dir has secrets")
    }

    /// The cluster's signing key, as this node keeps it.
    pub fn token_key(&self) -> TokenKey {
        self.secrets().token_key().unwrap()
    }

    pub fn admin_key(&self) -> String {
        self.secrets().admin_key
    }

    /// `GET /v1/nodes` on this node.
    pub fn nodes(&self) -> serde_json::Value {
        let (status, body) =
            super::http(self.http, "GET", "/v1/nodes", Some(&self.admin_key()), None);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// `GET /v1/calls` on this node: the calls it hosts.
    pub fn calls(&self) -> Vec<serde_json::Value> {
        let (status, body) =
            super::http(self.http, "GET", "/v1/calls", Some(&self.admin_key()), None);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// A bot `28:<name>` connecting to this node.
    pub fn bot_config(&self, name: &str) -> BotConfig {
        let identity = Identity::Bot(name.into());
        let token = self
            .token_key()
            .mint(&identity, &[Scope::Bot], super::unix_now(), 600)
            .unwrap();
        let mut config = BotConfig::new(self.base_url(), identity, token);
        config.display_name = name.to_owned();
        config
    }

    /// Kills the process at once (no goodbye to the cluster).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // A clean stop (SIGINT): the node leaves the cluster.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }
}

/// Redis and `n` nodes `a`, `b`, `c`, … on it.
pub fn start(n: usize) -> (Redis, Vec<Node>) {
    let redis = Redis::start();
    let nodes = (0..n)
        .map(|i| Node::start(&redis.url(), &((b'a' + i as u8) as char).to_string()))
        .collect();
    (redis, nodes)
}
