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
}

impl ServerConfig {
    /// Loads a JSON config file over the defaults.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
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
}
