//! The service's secrets, generated on first start and kept in the data directory: the
//! token signing secret and the administrator key of the HTTP API.

use std::path::{Path, PathBuf};

use confab_signaling::TokenKey;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The service's secrets.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets {
    /// 32 random bytes, hex: signs every access token.
    signing_secret: String,
    /// Bearer key of the administrative HTTP API.
    pub admin_key: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

/// Secrets could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The secrets file is corrupt.
    #[error("{path} is not a confab secrets file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// 32 bytes from the OS's random source (two v4 UUIDs), hex.
fn random_hex32() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

impl Secrets {
    const FILE: &'static str = "secrets.json";

    /// Loads the secrets from `data_dir`, creating the directory and fresh secrets on first
    /// start (the file is readable by its owner only).
    pub fn load_or_create(data_dir: &Path) -> Result<Secrets, SecretsError> {
        let path = data_dir.join(Secrets::FILE);

        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| SecretsError::Corrupt {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secrets = Secrets::generate();
                secrets.save(data_dir)?;
                tracing::info!(path = %path.display(), "generated the service's signing and admin keys");
                Ok(secrets)
            }
            Err(e) => Err(SecretsError::Io { path, source: e }),
        }
    }

    /// Fresh random secrets.
    pub(crate) fn generate() -> Secrets {
        Secrets {
            signing_secret: random_hex32(),
            admin_key: random_hex32(),
        }
    }

    /// Writes the secrets to `data_dir` (created if missing), readable by its owner only.
    pub(crate) fn save(&self, data_dir: &Path) -> Result<(), SecretsError> {
        let path = data_dir.join(Secrets::FILE);
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| SecretsError::Io { path, source }
        };
        std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        std::fs::write(&path, text).map_err(io(&path))?;
        restrict(&path).map_err(io(&path))
    }

    /// Loads the secrets from `data_dir`; `Ok(None)` if there are none yet (a data directory
    /// no service has started on).
    pub fn load(data_dir: &Path) -> Result<Option<Secrets>, SecretsError> {
        let path = data_dir.join(Secrets::FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| SecretsError::Corrupt {
                    path,
                    reason: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SecretsError::Io { path, source: e }),
        }
    }

    /// The token key derived from the signing secret.
    pub fn token_key(&self) -> Result<TokenKey, SecretsError> {
        TokenKey::from_secret(self.signing_secret.as_bytes()).map_err(|e| SecretsError::Corrupt {
            path: PathBuf::from(Secrets::FILE),
            reason: e.to_string(),
        })
    }
}

#[cfg(unix)]
fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reloaded() {
        let dir = std::env::temp_dir().join(format!("confab-secrets-{}", Uuid::new_v4()));
        let first = Secrets::load_or_create(&dir).unwrap();
        let again = Secrets::load_or_create(&dir).unwrap();
        assert_eq!(first.admin_key, again.admin_key);
        assert_eq!(first.signing_secret.len(), 64);
        let id = confab_signaling::Identity::new_user();
        let token = first
            .token_key()
            .unwrap()
            .mint(&id, &[confab_signaling::Scope::Voip], 100, 60)
            .unwrap();
        assert!(again.token_key().unwrap().verify(&token, 120).is_ok());
        std::fs::write(dir.join(Secrets::FILE), "{}").unwrap();
        assert!(matches!(
            Secrets::load_or_create(&dir),
            Err(SecretsError::Corrupt { .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}
