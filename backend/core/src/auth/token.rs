//! Opaque secrets handed to people (API tokens, refresh tokens, emailed links): 256 random bits,
//! base64url, with a short readable prefix that says what the secret is (so a leaked one is
//! recognisable in a scanner). Only the SHA-256 of a secret is stored: the secrets are random,
//! so a fast hash is enough, and a lookup by hash is one indexed query.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// What a secret is for; its text is the secret's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// `Authorization: Bearer ewt_…` for integrations.
    Api,
    /// The browser session's refresh token (cookie).
    Refresh,
    /// An emailed one-time link (verification, reset, email change).
    Email,
    /// An emailed invitation.
    Invite,
}

impl TokenKind {
    /// The prefix, including the underscore.
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::Api => "ewt_",
            TokenKind::Refresh => "ewr_",
            TokenKind::Email => "ewe_",
            TokenKind::Invite => "ewi_",
        }
    }
}

/// A new secret: the plaintext (shown once) and the hash to store.
pub fn generate(kind: TokenKind) -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let plain = format!(
        "{}{}",
        kind.prefix(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hash(&plain);
    (plain, hash)
}

/// The stored form of a secret (hex SHA-256).
pub fn hash(plain: &str) -> String {
    hex::encode(Sha256::digest(plain.trim().as_bytes()))
}

/// True when `plain` looks like a secret of `kind` (cheap check before a database lookup).
pub fn looks_like(kind: TokenKind, plain: &str) -> bool {
    let plain = plain.trim();
    plain.len() == kind.prefix().len() + 43
        && plain.starts_with(kind.prefix())
        && plain[kind.prefix().len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let (a, hash_a) = generate(TokenKind::Api);
        let (b, _) = generate(TokenKind::Api);
        assert_ne!(a, b);
        assert!(a.starts_with("ewt_"), "{a}");
        assert!(looks_like(TokenKind::Api, &a));
        assert!(!looks_like(TokenKind::Refresh, &a));
        assert!(!looks_like(TokenKind::Api, "ewt_short"));
        assert_eq!(hash(&a), hash_a);
        assert_eq!(hash_a.len(), 64);
        assert_ne!(hash(&b), hash_a);
    }
}
