//! How the service is configured: embedded defaults, then a JSON config file, then
//! environment variables, then command-line flags (later wins).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

/// The service's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// HTTP and WebSocket address.
    pub http: SocketAddr,
    /// The media UDP port's address.
    pub media_udp: SocketAddr,
    /// The address advertised in ICE candidates (defaults to the media address's IP).
    pub public_ip: Option<IpAddr>,
    /// Where the signing key and admin key live.
    pub data_dir: PathBuf,
    /// TLS certificate (PEM) for HTTPS/WSS outside localhost.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Whether `POST /v1/guest` hands out voip tokens to anyone (the browser client's
    /// join flow). Defaults to on when HTTP listens on loopback only, off otherwise.
    pub guests: Option<bool>,
    /// Whether the service hosts the `8:echo123` echo test (on by default).
    pub echo_service: bool,
    /// How long an unanswered call or invitation rings (people and phones), in seconds.
    pub ring_timeout_secs: u64,
    /// The SIP trunk gateway for phone participants (off unless `sip.udp` is set).
    pub sip: confab_sip::SipConfig,
    /// Serve HTTP (the admin API among it) without TLS on an address other than loopback:
    /// only behind a TLS-terminating proxy. Off by default, and the service refuses to
    /// start so (the admin key and tokens would cross the network in clear text).
    pub insecure_http: bool,
    /// Offer browsers and bots AES_CM_128_HMAC_SHA1_80 SRTP beside AEAD_AES_128_GCM, for old
    /// peers without GCM. Off by default: GCM only (every current browser has it, and it
    /// costs a third of AES-CM per packet; decision 0002).
    pub srtp_aes_cm: bool,
    /// Abuse limits on the HTTP edge and signaling.
    pub limits: Limits,
    /// More than one node sharing a Redis (off unless `cluster.redis` is set).
    pub cluster: ClusterConfig,
}

/// Several `confab serve` nodes sharing one Redis: each call is hosted by one node, placed
/// on the least loaded; any node takes a client's WebSocket and relays its calls' signaling
/// to the nodes that host them (decision 0010).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS; `None`: one node,
    /// all state in memory.
    pub redis: Option<String>,
    /// For `rediss://`: a PEM file of the CA certificates that Redis's certificate must chain
    /// to, instead of the system's roots (a private CA).
    pub redis_ca: Option<PathBuf>,
    /// For `rediss://` to a Redis that asks for client certificates (`tls-auth-clients`):
    /// this node's certificate (PEM), with `redis_client_key`.
    pub redis_client_cert: Option<PathBuf>,
    /// The private key (PEM) of `redis_client_cert`.
    pub redis_client_key: Option<PathBuf>,
    /// CA certificates (PEM) trusted for the other nodes' `https://` URLs besides the
    /// system's (nodes whose certificates come from a private CA).
    pub node_ca: Option<PathBuf>,
    /// This node's name in the cluster (default: `node-` and 8 random hex digits).
    pub node_id: Option<String>,
    /// The URL other nodes reach this node's HTTP and WebSocket on (default: the HTTP
    /// address, `http://` or `https://`).
    pub advertise_url: Option<String>,
}

/// Limits that keep one source address or one identity from taking the service for itself.
/// Rates are token buckets: a burst, then a sustained rate. Requests over a rate get HTTP
/// 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Guest sign-ins (`POST /v1/guest`) per source address: burst.
    pub guest_burst: u32,
    /// Guest sign-ins per source address per minute, sustained.
    pub guests_per_minute: u32,
    /// WebSocket connects (`GET /ws`) per source address: burst.
    pub ws_connect_burst: u32,
    /// WebSocket connects per source address per second, sustained.
    pub ws_connects_per_second: u32,
    /// Requests with a wrong or missing admin key per source address before that address
    /// is refused (429) for a while: burst.
    pub admin_failure_burst: u32,
    /// Wrong admin keys forgiven per source address per minute.
    pub admin_failures_per_minute: u32,
    /// Tokens issued (`POST /v1/tokens`) for one identity: burst.
    pub token_burst: u32,
    /// Tokens issued for one identity per minute, sustained.
    pub tokens_per_minute: u32,
    /// Signed-in signaling sessions (devices) of one person (`8:` identity) at once; bots
    /// and phones are not limited.
    pub sessions_per_user: usize,
    /// Largest HTTP request body, in bytes (signaling messages have their own 64 KiB).
    pub max_body_bytes: usize,
    /// Seconds a client has to send a request's headers once its connection is open or its
    /// last response went out; then the connection is closed (silent and half-sent
    /// requests, idle keep-alive connections).
    pub header_read_secs: u64,
    /// Seconds a signaling WebSocket has to sign in (`hello`); then it is closed with 1008
    /// `hello_timeout`.
    pub hello_secs: u64,
    /// Seconds between the service's WebSocket pings.
    pub ws_ping_secs: u64,
    /// Seconds of hearing nothing at all (no frame, no pong) after which a WebSocket is
    /// closed as dead (1001 `ping_timeout`).
    pub ws_dead_secs: u64,
    /// Open TCP connections (HTTP, WebSockets, TLS handshakes) at once; the next is refused
    /// with 503 `too_many_connections`. Also held under the process's file descriptor limit.
    pub max_connections: usize,
    /// Open TCP connections from one source address (IPv6: its /64) at once; the next is
    /// refused with 429 `too_many_connections_from_address`.
    pub connections_per_address: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            guest_burst: 10,
            guests_per_minute: 20,
            // A load generator joins 50 participants a second from one address.
            ws_connect_burst: 100,
            ws_connects_per_second: 60,
            admin_failure_burst: 10,
            admin_failures_per_minute: 6,
            token_burst: 20,
            tokens_per_minute: 60,
            sessions_per_user: 10,
            max_body_bytes: 16 * 1024,
            header_read_secs: 10,
            hello_secs: 10,
            ws_ping_secs: 20,
            ws_dead_secs: 60,
            max_connections: 10_000,
            // An office behind one NAT address, or a load generator's few hundred clients.
            connections_per_address: 500,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
            media_udp: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 3478),
            public_ip: None,
            data_dir: PathBuf::from("confab-data"),
            tls_cert: None,
            tls_key: None,
            guests: None,
            echo_service: true,
            ring_timeout_secs: 30,
            sip: confab_sip::SipConfig::default(),
            insecure_http: false,
            srtp_aes_cm: false,
            limits: Limits::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid.
    #[error("invalid config {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// An environment variable does not parse.
    #[error("invalid {name}={value}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// Only one of the TLS certificate and key was given.
    #[error("--tls-cert and --tls-key go together")]
    HalfTls,
    /// The SIP gateway's settings do not hold together.
    #[error(transparent)]
    Sip(#[from] confab_sip::SipConfigError),
    /// Plain HTTP on a non-loopback address: the admin key would cross the network in
    /// clear text.
    #[error(
        "HTTP on {0} without TLS would carry the admin key and tokens in clear text: give \
         --tls-cert and --tls-key, listen on loopback, or pass --insecure-http (config \
         \"insecure_http\": true) if a TLS-terminating proxy sits in front"
    )]
    InsecureHttp(SocketAddr),
    /// A CA for Redis's certificate or a client certificate, but no `rediss://` URL.
    #[error(
        "--redis-ca and --redis-client-cert are for TLS to Redis: they need a rediss:// URL \
         in --redis"
    )]
    RedisCaWithoutTls,
    /// Only one of the Redis client certificate and key was given.
    #[error("--redis-client-cert and --redis-client-key go together")]
    HalfRedisClientCertificate,
}

impl ServerConfig {
    /// Loads a JSON config file over the defaults.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text).map_err(|e| match e {
            ConfigError::Parse { source, .. } => ConfigError::Parse {
                path: path.to_owned(),
                source,
            },
            other => other,
        })
    }

    /// Reads a config file's text over the defaults.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(text).map_err(|source| ConfigError::Parse {
            path: PathBuf::new(),
            source,
        })
    }

    /// Applies `CONFAB_HTTP`, `CONFAB_MEDIA_UDP`, `CONFAB_PUBLIC_IP`, `CONFAB_DATA_DIR`,
    /// `CONFAB_ECHO_SERVICE`, `CONFAB_SIP_UDP` and the trunk's credentials
    /// `CONFAB_SIP_USERNAME` / `CONFAB_SIP_PASSWORD` from `env` (a lookup function, so tests
    /// need not touch the process environment).
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(
            name: &'static str,
            value: String,
        ) -> Result<T, ConfigError> {
            value.parse().map_err(|_| ConfigError::Env { name, value })
        }
        if let Some(v) = env("CONFAB_HTTP") {
            self.http = parse("CONFAB_HTTP", v)?;
        }
        if let Some(v) = env("CONFAB_MEDIA_UDP") {
            self.media_udp = parse("CONFAB_MEDIA_UDP", v)?;
        }
        if let Some(v) = env("CONFAB_PUBLIC_IP") {
            self.public_ip = Some(parse("CONFAB_PUBLIC_IP", v)?);
        }
        if let Some(v) = env("CONFAB_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("CONFAB_ECHO_SERVICE") {
            self.echo_service = parse("CONFAB_ECHO_SERVICE", v)?;
        }
        if let Some(v) = env("CONFAB_REDIS") {
            self.cluster.redis = Some(v);
        }
        if let Some(v) = env("CONFAB_REDIS_CA") {
            self.cluster.redis_ca = Some(PathBuf::from(v));
        }
        if let Some(v) = env("CONFAB_REDIS_CLIENT_CERT") {
            self.cluster.redis_client_cert = Some(PathBuf::from(v));
        }
        if let Some(v) = env("CONFAB_REDIS_CLIENT_KEY") {
            self.cluster.redis_client_key = Some(PathBuf::from(v));
        }
        if let Some(v) = env("CONFAB_NODE_CA") {
            self.cluster.node_ca = Some(PathBuf::from(v));
        }
        if let Some(v) = env("CONFAB_NODE_ID") {
            self.cluster.node_id = Some(v);
        }
        if let Some(v) = env("CONFAB_SIP_UDP") {
            self.sip.udp = Some(parse("CONFAB_SIP_UDP", v)?);
        }
        let username = env("CONFAB_SIP_USERNAME");
        let password = env("CONFAB_SIP_PASSWORD");
        if let Some(trunk) = self.sip.trunk.as_mut() {
            trunk.username = username.or(trunk.username.take());
            trunk.password = password.or(trunk.password.take());
        }
        Ok(())
    }

    /// Whether guests may get tokens.
    pub fn guests_allowed(&self) -> bool {
        self.guests.unwrap_or_else(|| self.http.ip().is_loopback())
    }

    /// Checks the combination of settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::HalfTls);
        }
        if self.tls_cert.is_none() && !self.http.ip().is_loopback() && !self.insecure_http {
            return Err(ConfigError::InsecureHttp(self.http));
        }
        let cluster = &self.cluster;
        if cluster.redis_client_cert.is_some() != cluster.redis_client_key.is_some() {
            return Err(ConfigError::HalfRedisClientCertificate);
        }
        if (cluster.redis_ca.is_some() || cluster.redis_client_cert.is_some())
            && !self
                .cluster
                .redis
                .as_deref()
                .is_some_and(|url| url.starts_with("rediss://"))
        {
            return Err(ConfigError::RedisCaWithoutTls);
        }
        self.sip.check()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_then_file_then_env() {
        let dir = std::env::temp_dir().join(format!("confab-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("confab.json");
        std::fs::write(
            &file,
            r#"{"http":"127.0.0.1:9000","data_dir":"/var/lib/confab"}"#,
        )
        .unwrap();
        let mut config = ServerConfig::from_file(&file).unwrap();
        assert_eq!(config.http.port(), 9000);
        assert_eq!(config.media_udp, ServerConfig::default().media_udp);
        config
            .apply_env(|name| (name == "CONFAB_HTTP").then(|| "127.0.0.1:9100".to_string()))
            .unwrap();
        assert_eq!(config.http.port(), 9100);
        assert!(
            config
                .apply_env(|name| (name == "CONFAB_PUBLIC_IP").then(|| "nope".to_string()))
                .is_err()
        );
        std::fs::write(&file, r#"{"htp":"127.0.0.1:9000"}"#).unwrap();
        assert!(matches!(
            ServerConfig::from_file(&file),
            Err(ConfigError::Parse { .. })
        ));
        let half = ServerConfig {
            tls_cert: Some("c.pem".into()),
            ..ServerConfig::default()
        };
        assert!(half.validate().is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn plain_http_off_loopback_needs_consent() {
        let open = ServerConfig {
            http: "0.0.0.0:8080".parse().unwrap(),
            ..ServerConfig::default()
        };
        let refused = open.validate().unwrap_err();
        assert!(matches!(refused, ConfigError::InsecureHttp(_)));
        assert!(refused.to_string().contains("--insecure-http"), "{refused}");
        let consented = ServerConfig {
            insecure_http: true,
            ..open.clone()
        };
        assert!(consented.validate().is_ok());
        let with_tls = ServerConfig {
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            ..open
        };
        assert!(with_tls.validate().is_ok());
        assert!(ServerConfig::default().validate().is_ok());
        let ipv6_loopback = ServerConfig {
            http: "[::1]:8080".parse().unwrap(),
            ..ServerConfig::default()
        };
        assert!(ipv6_loopback.validate().is_ok());
    }

    #[test]
    fn a_redis_ca_goes_with_a_rediss_url() {
        let mut config = ServerConfig::default();
        config
            .apply_env(|name| match name {
                "CONFAB_REDIS" => Some("rediss://redis.internal:6380".into()),
                "CONFAB_REDIS_CA" => Some("/etc/confab/redis-ca.pem".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            config.cluster.redis_ca.as_deref(),
            Some(std::path::Path::new("/etc/confab/redis-ca.pem"))
        );
        assert!(config.validate().is_ok());
        for redis in [Some("redis://redis.internal:6379".to_owned()), None] {
            let clear = ServerConfig {
                cluster: ClusterConfig {
                    redis,
                    ..config.cluster.clone()
                },
                ..config.clone()
            };
            assert!(matches!(
                clear.validate(),
                Err(ConfigError::RedisCaWithoutTls)
            ));
        }
    }

    #[test]
    fn limits_come_from_the_config_file() {
        let config: ServerConfig =
            serde_json::from_str(r#"{"limits":{"guests_per_minute":5,"sessions_per_user":2}}"#)
                .unwrap();
        assert_eq!(config.limits.guests_per_minute, 5);
        assert_eq!(config.limits.sessions_per_user, 2);
        assert_eq!(config.limits.guest_burst, Limits::default().guest_burst);
        assert!(serde_json::from_str::<ServerConfig>(r#"{"limits":{"guests":5}}"#).is_err());
    }
}
