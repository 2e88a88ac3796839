//! Access tokens: HS256-signed, expiring JWTs naming an identity and its scopes.
//!
//! Verification is sans-IO: the caller passes the current time in, so tests can expire a
//! token by moving a number.

use std::collections::HashSet;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::Identity;

/// The issuer every confab token carries.
pub const ISSUER: &str = "confab";

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Place, receive and join calls as a person.
    Voip,
    /// Join calls as a bot (raw media, unmixed audio slots).
    Bot,
    /// Administer the service: mint tokens, organizer rights in every call.
    Admin,
}

/// The claims inside a confab token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The identity the token speaks for.
    pub sub: Identity,
    /// Granted scopes.
    pub scope: Vec<Scope>,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: u64,
    /// Always [`ISSUER`].
    pub iss: String,
}

impl Claims {
    /// Whether the token grants `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scope.contains(&scope)
    }
}

/// Why a token was refused. Each case has its own wire error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a JWT, or its claims are not confab's.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The signature does not match this service's key (or the algorithm is not HS256).
    #[error("token signature is invalid")]
    BadSignature,
    /// Past its expiry time.
    #[error("token expired at {expired_at} (now {now})")]
    Expired {
        /// The token's `exp`.
        expired_at: u64,
        /// The time it was checked at.
        now: u64,
    },
    /// Issued by someone else.
    #[error("token issuer is not {ISSUER}")]
    WrongIssuer,
    /// Valid, but does not grant the scope needed.
    #[error("token lacks the {0:?} scope")]
    MissingScope(Scope),
    /// Valid, but for another identity than the one claimed.
    #[error("token is for {token}, not {claimed}")]
    IdentityMismatch {
        /// The identity in the token.
        token: Identity,
        /// The identity the client said it was.
        claimed: Identity,
    },
}

/// Signs and verifies tokens with one shared secret.
#[derive(Clone)]
pub struct TokenKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// A key from a secret of at least 32 bytes (HS256 wants 256 bits).
    pub fn from_secret(secret: &[u8]) -> Result<TokenKey, TokenError> {
        if secret.len() < 32 {
            return Err(TokenError::Malformed(
                "signing secret shorter than 32 bytes".into(),
            ));
        }
        Ok(TokenKey {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        })
    }

    /// Mints a token for `identity` with `scopes`, valid from `now` for `ttl_secs`.
    pub fn mint(
        &self,
        identity: &Identity,
        scopes: &[Scope],
        now: u64,
        ttl_secs: u64,
    ) -> Result<String, TokenError> {
        let claims = Claims {
            sub: identity.clone(),
            scope: scopes.to_vec(),
            iat: now,
            exp: now.saturating_add(ttl_secs),
            iss: ISSUER.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Malformed(e.to_string()))
    }

    /// Checks signature, issuer and expiry at `now` (seconds since the Unix epoch).
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked below against the time passed in, not the system clock.
        validation.validate_exp = false;
        validation.required_spec_claims = HashSet::from(["exp".to_string(), "sub".to_string()]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(
            |e| match e.kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                    TokenError::BadSignature
                }
                _ => TokenError::Malformed(e.to_string()),
            },
        )?;
        let claims = data.claims;
        if claims.iss != ISSUER {
            return Err(TokenError::WrongIssuer);
        }
        if now >= claims.exp {
            return Err(TokenError::Expired {
                expired_at: claims.exp,
                now,
            });
        }
        Ok(claims)
    }

    /// [`verify`](TokenKey::verify), then checks the token is for `claimed` and grants
    /// at least one of `scopes`.
    pub fn authenticate(
        &self,
        token: &str,
        claimed: &Identity,
        scopes: &[Scope],
        now: u64,
    ) -> Result<Claims, TokenError> {
        let claims = self.verify(token, now)?;
        if &claims.sub != claimed {
            return Err(TokenError::IdentityMismatch {
                token: claims.sub,
                claimed: claimed.clone(),
            });
        }
        if !scopes.iter().any(|s| claims.has(*s)) {
            return Err(TokenError::MissingScope(
                scopes.first().copied().unwrap_or(Scope::Voip),
            ));
        }
        Ok(claims)
    }
}

/// The identity a token names, read without checking its signature or expiry: for a
/// client to know whom its token speaks for (the service checks everything when it is
/// used). `None` if it is not a confab token.
pub fn token_identity(token: &str) -> Option<Identity> {
    jsonwebtoken::dangerous::insecure_decode_claims::<Claims>(token)
        .ok()
        .map(|claims| claims.sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_reads_whom_its_token_names() {
        let key = TokenKey::from_secret(&[7; 32]).unwrap();
        let bot: Identity = "28:recorder".parse().unwrap();
        let token = key.mint(&bot, &[Scope::Bot], 1_000, 60).unwrap();
        assert_eq!(token_identity(&token), Some(bot));
        assert_eq!(token_identity("not.a.token"), None);
        assert_eq!(token_identity(""), None);
    }

    fn key() -> TokenKey {
        TokenKey::from_secret(&[7u8; 32]).unwrap()
    }

    #[test]
    fn minted_tokens_verify_until_they_expire() {
        let alice = Identity::new_user();
        let token = key().mint(&alice, &[Scope::Voip], 1_000, 60).unwrap();
        let claims = key().verify(&token, 1_059).unwrap();
        assert_eq!(claims.sub, alice);
        assert!(claims.has(Scope::Voip) && !claims.has(Scope::Admin));
        assert!(matches!(
            key().verify(&token, 1_060),
            Err(TokenError::Expired { .. })
        ));
    }

    #[test]
    fn short_secrets_and_garbage_are_refused() {
        assert!(TokenKey::from_secret(b"short").is_err());
        assert!(matches!(
            key().verify("not.a.jwt", 0),
            Err(TokenError::Malformed(_))
        ));
        assert!(matches!(key().verify("", 0), Err(TokenError::Malformed(_))));
    }
}
