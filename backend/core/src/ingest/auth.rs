//! Sentry client authentication: the `X-Sentry-Auth` / `Authorization: Sentry …` header, the
//! `?sentry_key=` query form, and the envelope header's `dsn`.
//!
//! Only the public key matters: `sentry_secret` is deprecated and `sentry_timestamp` is ignored
//! (clock drift is corrected from the envelope's `sent_at`). When a request carries the key in
//! several places they must agree ([`resolve_key`]); none at all is [`AuthError::Missing`].
//! Keys are checked for shape only (1 to 64 ASCII letters or digits, so that keys issued by other
//! Sentry-compatible servers still fit); whether a key exists is the caller's business. Error
//! messages never repeat a key, because they end up in responses and debug logs.

use std::fmt;

use thiserror::Error;

/// Longest public key accepted (Sentry issues 32 hex characters; others issue different lengths).
pub const MAX_PUBLIC_KEY_LEN: usize = 64;

/// What a client sent to identify itself, from a header or the query string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentryAuth {
    /// The DSN's public key (`sentry_key`), already checked with [`validate_public_key`] when it
    /// came from a header; [`parse_auth_query`] leaves the check to [`resolve_key`].
    pub public_key: String,
    /// `sentry_version`, the protocol version (7 for all current SDKs).
    pub version: Option<String>,
    /// `sentry_client`, the SDK's `name/version`.
    pub client: Option<String>,
}

/// Where a key came from; named in error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthSource {
    /// The `X-Sentry-Auth` header.
    Header,
    /// An `Authorization: Sentry …` header.
    Authorization,
    /// `sentry_key` in the query string.
    Query,
    /// The envelope header's `dsn`; its value in [`resolve_key`] is the whole DSN.
    EnvelopeDsn,
}

impl fmt::Display for AuthSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthSource::Header => "the X-Sentry-Auth header",
            AuthSource::Authorization => "the Authorization header",
            AuthSource::Query => "the sentry_key query parameter",
            AuthSource::EnvelopeDsn => "the envelope header's dsn",
        })
    }
}

/// Why a request's credentials were rejected. [`AuthError::Missing`] is a 401; the others are
/// 403 in Relay (400 would also be defensible for the malformed ones; SDKs treat both alike).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No credentials anywhere.
    #[error(
        "missing authentication: send an X-Sentry-Auth header, a sentry_key query parameter, \
         or a dsn in the envelope header"
    )]
    Missing,
    /// A header was present but had no `sentry_key`.
    #[error(
        "{0} has no sentry_key; it should look like `Sentry sentry_key=<public key>, sentry_version=7`"
    )]
    NoKey(AuthSource),
    /// A key does not have the shape of a DSN public key.
    #[error(
        "invalid DSN public key in {origin}: {problem}; copy the DSN from the project settings"
    )]
    InvalidKey {
        /// Where the key came from (not named `source`: thiserror reserves that name).
        origin: AuthSource,
        /// What is wrong with it (never the key itself).
        problem: String,
    },
    /// The envelope header's `dsn` is not a DSN.
    #[error("invalid dsn in the envelope header: {0}")]
    InvalidDsn(String),
    /// Two places name different keys.
    #[error("conflicting DSN keys: {first} and {second} name different keys; send one DSN only")]
    Conflicting {
        /// The first source, in the order given to [`resolve_key`].
        first: AuthSource,
        /// The first source that disagrees with it.
        second: AuthSource,
    },
}

/// Checks the shape of a public key: 1 to [`MAX_PUBLIC_KEY_LEN`] ASCII letters or digits.
/// `source` only feeds the error message.
pub fn validate_public_key(key: &str, source: AuthSource) -> Result<(), AuthError> {
    let problem = if key.is_empty() {
        "it is empty".to_owned()
    } else if key.len() > MAX_PUBLIC_KEY_LEN {
        format!(
            "it is {} characters long, more than {MAX_PUBLIC_KEY_LEN}",
            key.len()
        )
    } else if !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        "it may contain only letters and digits".to_owned()
    } else {
        return Ok(());
    };
    Err(AuthError::InvalidKey {
        origin: source,
        problem,
    })
}

/// Parses an `X-Sentry-Auth` (or `Authorization`) value such as
/// `Sentry sentry_key=abc, sentry_version=7, sentry_client=sentry.python/2.75.0`.
///
/// The `Sentry` prefix is optional and case-insensitive; pairs are separated by commas with any
/// spacing, values may be double-quoted, and unknown pairs (`sentry_secret`,
/// `sentry_timestamp`, …) are ignored. The key is validated, so a success always carries a
/// well-formed key. Errors name [`AuthSource::Header`]; callers reading `Authorization` get the
/// same messages.
pub fn parse_auth_header(value: &str) -> Result<SentryAuth, AuthError> {
    let source = AuthSource::Header;
    let mut rest = value.trim();
    if let Some(prefix) = rest.get(..6)
        && prefix.eq_ignore_ascii_case("sentry")
        && rest[6..].starts_with(|c: char| c.is_ascii_whitespace())
    {
        rest = &rest[6..];
    }
    let mut public_key = None;
    let mut version = None;
    let mut client = None;
    for pair in rest.split(',') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value)
            .to_owned();
        match name.trim() {
            "sentry_key" => public_key = public_key.or(Some(value)),
            "sentry_version" => version = version.or(Some(value)),
            "sentry_client" => client = client.or(Some(value)),
            _ => {}
        }
    }
    let public_key = public_key.ok_or(AuthError::NoKey(source))?;
    validate_public_key(&public_key, source)?;
    Ok(SentryAuth {
        public_key,
        version,
        client,
    })
}

/// Reads `sentry_key`, `sentry_version` and `sentry_client` from a URL query string (without
/// the `?`), percent-decoded. `None` when there is no `sentry_key`; an empty or malformed key is
/// returned as is, for [`resolve_key`] to reject with a message.
pub fn parse_auth_query(query: &str) -> Option<SentryAuth> {
    let mut public_key = None;
    let mut version = None;
    let mut client = None;
    for (name, value) in url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
        let slot = match name.as_ref() {
            "sentry_key" => &mut public_key,
            "sentry_version" => &mut version,
            "sentry_client" => &mut client,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value.into_owned());
        }
    }
    Some(SentryAuth {
        public_key: public_key?,
        version,
        client,
    })
}

/// Splits a DSN (`https://<public_key>[:<secret>]@host[/path]/<project_id>`) into its public
/// key and project id. The secret is ignored; the project id is the last path segment, returned
/// as text (the caller compares it with the URL's).
pub fn key_from_dsn(dsn: &str) -> Result<(String, String), AuthError> {
    let url = url::Url::parse(dsn.trim())
        .map_err(|error| AuthError::InvalidDsn(format!("not a URL ({error})")))?;
    if url.username().is_empty() {
        return Err(AuthError::InvalidDsn(
            "it has no public key before the @".to_owned(),
        ));
    }
    let public_key = url.username().to_owned();
    validate_public_key(&public_key, AuthSource::EnvelopeDsn)?;
    let project_id = url
        .path_segments()
        .and_then(|mut segments| segments.rfind(|segment| !segment.is_empty()))
        .ok_or_else(|| AuthError::InvalidDsn("it has no project id at the end".to_owned()))?
        .to_owned();
    Ok((public_key, project_id))
}

/// Picks the one public key a request authenticates with.
///
/// Each source's value is a public key, except for [`AuthSource::EnvelopeDsn`], whose value is
/// the whole DSN. Every key is validated; all must be equal ([`AuthError::Conflicting`]
/// otherwise), and at least one must be present ([`AuthError::Missing`]).
pub fn resolve_key(sources: &[(AuthSource, String)]) -> Result<String, AuthError> {
    let mut chosen: Option<(AuthSource, String)> = None;
    for (source, value) in sources {
        let key = match source {
            AuthSource::EnvelopeDsn => key_from_dsn(value)?.0,
            _ => value.clone(),
        };
        validate_public_key(&key, *source)?;
        match &chosen {
            None => chosen = Some((*source, key)),
            Some((first, first_key)) if *first_key != key => {
                return Err(AuthError::Conflicting {
                    first: *first,
                    second: *source,
                });
            }
            Some(_) => {}
        }
    }
    chosen.map(|(_, key)| key).ok_or(AuthError::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn check_header(value: &str, expect: Result<(&str, Option<&str>, Option<&str>), &str>) {
        let actual = parse_auth_header(value);
        match (actual, expect) {
            (Ok(auth), Ok((key, version, client))) => {
                assert_eq!(auth.public_key, key, "{value}");
                assert_eq!(auth.version.as_deref(), version, "{value}");
                assert_eq!(auth.client.as_deref(), client, "{value}");
            }
            (Err(error), Err(fragment)) => {
                let message = error.to_string();
                assert!(message.contains(fragment), "{value}: {message}");
            }
            (actual, expect) => panic!("{value}: got {actual:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn header_as_sent_by_the_python_sdk() {
        check_header(
            &format!(
                "Sentry sentry_key={KEY}, sentry_version=7, sentry_client=sentry.python/2.75.0"
            ),
            Ok((KEY, Some("7"), Some("sentry.python/2.75.0"))),
        );
    }

    #[test]
    fn header_variants() {
        let ok = Ok(("abc", Some("7"), None));
        check_header("Sentry sentry_key=abc, sentry_version=7", ok);
        check_header("sentry_key=abc,sentry_version=7", ok);
        check_header("  sentry   sentry_version = 7 ,  sentry_key = abc  ", ok);
        check_header("SENTRY sentry_key=\"abc\", sentry_version=\"7\"", ok);
        check_header(
            "Sentry sentry_key=abc, sentry_secret=xyz, sentry_timestamp=1700000000.5, sentry_version=7",
            ok,
        );
        check_header("Sentry sentry_key=abc", Ok(("abc", None, None)));
    }

    #[test]
    fn header_errors() {
        check_header("Sentry sentry_version=7", Err("has no sentry_key"));
        check_header("", Err("has no sentry_key"));
        check_header("Bearer abc", Err("has no sentry_key"));
        check_header("Sentry sentry_key=, sentry_version=7", Err("it is empty"));
        check_header("Sentry sentry_key=ab-c", Err("only letters and digits"));
        check_header(
            &format!("sentry_key={}", "a".repeat(65)),
            Err("more than 64"),
        );
        let message = parse_auth_header("sentry_key=ab-c")
            .expect_err("bad")
            .to_string();
        assert!(!message.contains("ab-c"), "keys are not echoed: {message}");
    }

    #[test]
    fn sixty_four_characters_is_the_longest_key() {
        let key = "Z".repeat(64);
        check_header(&format!("sentry_key={key}"), Ok((&key, None, None)));
    }

    #[test]
    fn query_string() {
        let auth = parse_auth_query(
            "sentry_version=7&sentry_key=publickey&sentry_client=sentry.javascript.node%2F11.12.0",
        )
        .expect("has a key");
        assert_eq!(auth.public_key, "publickey");
        assert_eq!(auth.version.as_deref(), Some("7"));
        assert_eq!(
            auth.client.as_deref(),
            Some("sentry.javascript.node/11.12.0")
        );

        assert_eq!(parse_auth_query("sentry_version=7"), None);
        assert_eq!(parse_auth_query(""), None);
        let leading = parse_auth_query("?sentry_key=k1&sentry_key=k2").expect("key");
        assert_eq!(leading.public_key, "k1");
        let empty = parse_auth_query("sentry_key=").expect("present but empty");
        assert_eq!(empty.public_key, "");
    }

    #[test]
    fn dsn() {
        let check =
            |dsn: &str, expect: Result<(&str, &str), &str>| match (key_from_dsn(dsn), expect) {
                (Ok((key, project)), Ok((want_key, want_project))) => {
                    assert_eq!(
                        (key.as_str(), project.as_str()),
                        (want_key, want_project),
                        "{dsn}"
                    );
                }
                (Err(error), Err(fragment)) => {
                    assert!(error.to_string().contains(fragment), "{dsn}: {error}");
                }
                (actual, expect) => panic!("{dsn}: got {actual:?}, expected {expect:?}"),
            };
        check("https://abc@o1.ingest.example.com/42", Ok(("abc", "42")));
        check("http://abc:secret@localhost:8000/7", Ok(("abc", "7")));
        check("https://abc@example.com/errors/sub/42", Ok(("abc", "42")));
        check("https://abc@example.com/42/", Ok(("abc", "42")));
        check("https://example.com/42", Err("no public key"));
        check("https://abc@example.com", Err("no project id"));
        check("https://abc@example.com/", Err("no project id"));
        check("not a dsn", Err("not a URL"));
        check("https://a-b@example.com/1", Err("only letters and digits"));
    }

    #[test]
    fn resolving_keys() {
        let dsn = format!("https://{KEY}@example.com/1");
        let source = |s: AuthSource, v: &str| (s, v.to_owned());

        assert_eq!(resolve_key(&[]), Err(AuthError::Missing));
        assert_eq!(
            resolve_key(&[source(AuthSource::Query, KEY)]).as_deref(),
            Ok(KEY)
        );
        assert_eq!(
            resolve_key(&[source(AuthSource::EnvelopeDsn, &dsn)]).as_deref(),
            Ok(KEY)
        );
        assert_eq!(
            resolve_key(&[
                source(AuthSource::Header, KEY),
                source(AuthSource::Query, KEY),
                source(AuthSource::EnvelopeDsn, &dsn),
            ])
            .as_deref(),
            Ok(KEY)
        );
        assert_eq!(
            resolve_key(&[
                source(AuthSource::Header, KEY),
                source(AuthSource::Query, "other")
            ]),
            Err(AuthError::Conflicting {
                first: AuthSource::Header,
                second: AuthSource::Query
            })
        );
        assert_eq!(
            resolve_key(&[
                source(AuthSource::Query, "other"),
                source(AuthSource::EnvelopeDsn, &dsn)
            ]),
            Err(AuthError::Conflicting {
                first: AuthSource::Query,
                second: AuthSource::EnvelopeDsn
            })
        );
        assert!(matches!(
            resolve_key(&[source(AuthSource::Query, "")]),
            Err(AuthError::InvalidKey {
                origin: AuthSource::Query,
                ..
            })
        ));
        assert!(matches!(
            resolve_key(&[source(AuthSource::EnvelopeDsn, "nonsense")]),
            Err(AuthError::InvalidDsn(_))
        ));
    }

    #[test]
    fn messages_are_actionable() {
        let conflict = AuthError::Conflicting {
            first: AuthSource::Header,
            second: AuthSource::EnvelopeDsn,
        };
        assert_eq!(
            conflict.to_string(),
            "conflicting DSN keys: the X-Sentry-Auth header and the envelope header's dsn \
             name different keys; send one DSN only"
        );
        assert!(AuthError::Missing.to_string().contains("X-Sentry-Auth"));
    }
}
