//! Values that must never reach a log line or a `Debug` dump: passwords, keys, and database URLs
//! (whose password part is redacted when shown).

use std::fmt;

/// A string that prints as `[redacted]` in `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is actually used (hashing, connecting).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A database URL whose password (and query string, which may carry one) is hidden when shown.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a URL; validation happens in [`crate::config`].
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The full URL, password included; pass it only to the driver.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with the password replaced by `***`, fit for logs and error messages.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut parsed) if parsed.password().is_some() => {
                // set_password only fails for URLs that cannot have one; keep it hidden anyway.
                if parsed.set_password(Some("***")).is_err() {
                    return "[unparseable url]".to_owned();
                }
                parsed.to_string()
            }
            Ok(parsed) => parsed.to_string(),
            Err(_) => "[unparseable url]".to_owned(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_string_never_prints_its_value() {
        let secret = SecretString::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn database_url_hides_the_password() {
        let url = DatabaseUrl::new("postgres://ew:s3cret@db.example:5432/ew");
        assert_eq!(url.redacted(), "postgres://ew:***@db.example:5432/ew");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(!format!("{url}").contains("s3cret"));
    }

    #[test]
    fn database_url_without_password_is_shown_as_is() {
        let url = DatabaseUrl::new("sqlite://data/errorwatch.db?mode=rwc");
        assert_eq!(url.redacted(), "sqlite://data/errorwatch.db?mode=rwc");
    }
}
