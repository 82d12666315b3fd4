//! Password hashing with argon2id at the OWASP-recommended parameters (m = 19 MiB, t = 2, p = 1;
//! argon2's defaults), stored as PHC strings so parameters can be raised later without breaking
//! existing hashes. Hashing is CPU-heavy (~50 ms in release): call it from `spawn_blocking`.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

use crate::secret::SecretString;
use crate::{Error, Result};

/// Shortest accepted password.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted password (bounds the hashing cost).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Checks the length rules, then hashes; returns the PHC string.
pub fn hash_password(password: &SecretString) -> Result<String> {
    let len = password.expose().chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(Error::validation(
            "password",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if password.expose().len() > MAX_PASSWORD_LEN {
        return Err(Error::validation(
            "password",
            format!("must be at most {MAX_PASSWORD_LEN} bytes"),
        ));
    }
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
    Ok(hash.to_string())
}

/// True when `password` matches the stored PHC string. A malformed stored hash never matches.
pub fn verify_password(password: &SecretString, stored: &str) -> bool {
    Argon2::default()
        .verify_password(password.expose().as_bytes(), stored)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let password = SecretString::new("correct horse battery");
        let first = hash_password(&password).expect("hash");
        let second = hash_password(&password).expect("hash");
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second, "each hash has its own salt");
        assert!(verify_password(&password, &first));
        assert!(!verify_password(
            &SecretString::new("wrong password"),
            &first
        ));
        assert!(!verify_password(&password, "not a hash"));
    }

    #[test]
    fn too_short_passwords_are_rejected() {
        let err = hash_password(&SecretString::new("short")).expect_err("too short");
        assert!(err.to_string().contains("at least 8"), "{err}");
    }
}
