//! Passwords and bearer tokens.
//!
//! Passwords are hashed with argon2id (PHC strings). Tokens are 256 random bits; the server
//! stores only their SHA-256, which is enough for values that cannot be guessed. A prefix
//! tells user tokens (`mgu_`) from device tokens (`mgd_`), so a token used on the wrong
//! kind of route gets a precise error.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The prefix of a user session token.
pub const USER_TOKEN_PREFIX: &str = "mgu_";
/// The prefix of a device token.
pub const DEVICE_TOKEN_PREFIX: &str = "mgd_";

/// Which kind of principal a token claims to belong to, by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A user's session token.
    User,
    /// A device's token.
    Device,
    /// Neither prefix: not a MaskGate token.
    Unknown,
}

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Makes a new random token with the given prefix.
pub fn new_token(prefix: &str) -> Secret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The stored form of a token: its SHA-256 in lowercase hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Which kind of principal a token's prefix names.
pub fn token_kind(token: &str) -> TokenKind {
    if token.starts_with(USER_TOKEN_PREFIX) {
        TokenKind::User
    } else if token.starts_with(DEVICE_TOKEN_PREFIX) {
        TokenKind::Device
    } else {
        TokenKind::Unknown
    }
}

/// The longest user name accepted.
pub const MAX_USERNAME_LEN: usize = 64;

/// Checks a user name: 1 to 64 characters, no control characters or surrounding spaces.
pub fn validate_username(name: &str) -> Result<(), String> {
    let len = name.chars().count();
    if len == 0
        || len > MAX_USERNAME_LEN
        || name.chars().any(char::is_control)
        || name.trim() != name
    {
        return Err(format!(
            "a user name must be 1 to {MAX_USERNAME_LEN} characters without control characters \
             or surrounding spaces"
        ));
    }
    Ok(())
}

/// Errors of password hashing.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError(e.to_string()))
}

/// Checks a password against a stored argon2 hash. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A valid hash of a password nobody has, verified against when a user does not exist so
/// that a login takes as long for unknown names as for wrong passwords.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        hash_password(&new_token("decoy").0).unwrap_or_else(|_| String::from("invalid"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse").expect("hashes");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horse!", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn tokens_are_unique_prefixed_and_hidden_from_debug() {
        let a = new_token(USER_TOKEN_PREFIX);
        let b = new_token(USER_TOKEN_PREFIX);
        assert_ne!(a, b);
        assert_eq!(token_kind(a.expose()), TokenKind::User);
        assert_eq!(
            token_kind(new_token(DEVICE_TOKEN_PREFIX).expose()),
            TokenKind::Device
        );
        assert_eq!(token_kind("Bearer x"), TokenKind::Unknown);
        assert!(!format!("{a:?}").contains(a.expose()));
        assert_eq!(token_hash(a.expose()).len(), 64);
    }
}
