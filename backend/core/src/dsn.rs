//! DSN construction and public-key generation. A DSN is
//! `{scheme}://{public_key}@{host}[:{port}]{base_path}/{project_id}`, the form every Sentry SDK
//! parses; the base path comes from `ERRORWATCH_PUBLIC_URL`.

use rand::RngCore;

use crate::ids::ProjectId;

/// A new random public key: 32 lowercase hex characters (128 bits), like Sentry's.
pub fn generate_public_key() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Builds the DSN for `public_key` and `project_id` under `public_url`.
pub fn build_dsn(public_url: &url::Url, public_key: &str, project_id: ProjectId) -> String {
    let host = public_url.host_str().unwrap_or("localhost");
    let port = public_url
        .port()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let base = public_url.path().trim_end_matches('/');
    format!(
        "{}://{public_key}@{host}{port}{base}/{project_id}",
        public_url.scheme()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(public_url: &str, expected: &str) {
        let url = url::Url::parse(public_url).expect("valid url");
        assert_eq!(
            build_dsn(&url, "0123456789abcdef0123456789abcdef", ProjectId(42)),
            expected
        );
    }

    #[test]
    fn dsn_forms() {
        check(
            "http://127.0.0.1:8000",
            "http://0123456789abcdef0123456789abcdef@127.0.0.1:8000/42",
        );
        check(
            "https://errors.example.com/",
            "https://0123456789abcdef0123456789abcdef@errors.example.com/42",
        );
        check(
            "https://example.com/errors",
            "https://0123456789abcdef0123456789abcdef@example.com/errors/42",
        );
        check(
            "http://[::1]:9000",
            "http://0123456789abcdef0123456789abcdef@[::1]:9000/42",
        );
    }

    #[test]
    fn public_keys_are_32_lowercase_hex_and_unique() {
        let a = generate_public_key();
        let b = generate_public_key();
        assert_eq!(a.len(), 32);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }
}
