//! The issue search language, Sentry's syntax: space-separated terms, each `key:value` (value
//! quoted when it has spaces: `release:"shop 1.2"`), `!key:value` to negate, or free text (a
//! word or a "quoted phrase", `!word` to exclude) matched against title and culprit.
//!
//! Keys: `is:unresolved|resolved|ignored` (several `is:` terms are alternatives), `level:`,
//! `release:`, `environment:` (`env:`), `user.email:`, `user.id:`, `user.username:`,
//! `user.ip:`, and any other key is a tag (`browser:Firefox`). Parsing is pure; `service::issue`
//! turns the result into SQL.

use crate::service::issue_state::IssueStatus;
use crate::{Error, Result};

/// What a `key:value` term filters on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// `is:` — the issue's status.
    Is,
    /// `level:` — the issue's level.
    Level,
    /// Any tag of the issue's events (`release`, `environment`, `user` and SDK tags).
    Tag(String),
    /// `user.id:`, `user.email:`, `user.username:`, `user.ip:` — one field of the events'
    /// user, whichever identity the `user` tag kept.
    User(UserField),
}

/// A field of an event's user that search can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserField {
    /// `user.id`.
    Id,
    /// `user.email` (compared in lower case).
    Email,
    /// `user.username`.
    Username,
    /// `user.ip` (the payload's `ip_address`).
    Ip,
}

impl UserField {
    /// The tag each event with this field counts under ([`crate::digest`] writes it).
    pub fn tag_key(self) -> &'static str {
        match self {
            Self::Id => "user.id",
            Self::Email => "user.email",
            Self::Username => "user.username",
            Self::Ip => "user.ip",
        }
    }

    /// The prefix of the `user` tag's value when the user was identified by this field
    /// (`email:ada@example.com`); events stored before the `user.*` tags have only that.
    pub fn identity_prefix(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Email => "email",
            Self::Username => "username",
            Self::Ip => "ip_address",
        }
    }

    /// The payload's member of the `user` object.
    pub fn payload_key(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Email => "email",
            Self::Username => "username",
            Self::Ip => "ip_address",
        }
    }

    /// Every field, in the order the `user` tag prefers them as the identity.
    pub const ALL: [Self; 4] = [Self::Id, Self::Email, Self::Username, Self::Ip];
}

/// One term of a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    /// `key:value`.
    Filter {
        /// The field.
        field: Field,
        /// The value, unquoted.
        value: String,
        /// `!key:value`.
        negated: bool,
    },
    /// Free text on title and culprit.
    Text {
        /// The word or phrase.
        text: String,
        /// `!word`.
        negated: bool,
    },
}

/// A parsed search.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Search {
    /// Terms, all of which must hold (except `is:` terms, which are alternatives).
    pub terms: Vec<Term>,
}

/// Longest accepted search.
pub const MAX_QUERY_LEN: usize = 1024;
/// Most terms in one search.
pub const MAX_TERMS: usize = 20;

/// The statuses `is:` accepts.
pub const STATUSES: [&str; 3] = [
    IssueStatus::Unresolved.as_str(),
    IssueStatus::Resolved.as_str(),
    IssueStatus::Ignored.as_str(),
];

fn invalid(message: impl Into<String>) -> Error {
    Error::validation("query", message)
}

/// Splits on whitespace outside double quotes; a token keeps its quotes.
fn tokens(query: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in query.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err(invalid("a quote is not closed"));
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

fn unquote(raw: &str) -> Result<String> {
    if let Some(inner) = raw.strip_prefix('"') {
        let inner = inner
            .strip_suffix('"')
            .ok_or_else(|| invalid(format!("{raw}: text after a closing quote")))?;
        if inner.contains('"') {
            return Err(invalid(format!("{raw}: stray quote")));
        }
        return Ok(inner.to_owned());
    }
    if raw.contains('"') {
        return Err(invalid(format!(
            "{raw}: quotes must surround the whole value"
        )));
    }
    Ok(raw.to_owned())
}

/// Parses a search string.
pub fn parse(query: &str) -> Result<Search> {
    if query.len() > MAX_QUERY_LEN {
        return Err(invalid(format!("at most {MAX_QUERY_LEN} characters")));
    }
    let mut terms = Vec::new();
    for token in tokens(query)? {
        let (negated, body) = match token.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, token.as_str()),
        };
        // `key:value` unless the colon is inside a quoted phrase or the key is not a name.
        let split = body.split_once(':').filter(|(key, _)| {
            !key.is_empty()
                && !key.starts_with('"')
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        });
        let term = match split {
            Some((key, raw_value)) => {
                let value = unquote(raw_value)?;
                if value.is_empty() {
                    return Err(invalid(format!("{key}: needs a value")));
                }
                let field = match key.to_ascii_lowercase().as_str() {
                    "is" => {
                        let status = value.to_ascii_lowercase();
                        if !STATUSES.contains(&status.as_str()) {
                            return Err(invalid(format!(
                                "is:{value}: expected one of {}",
                                STATUSES.join(", ")
                            )));
                        }
                        terms.push(Term::Filter {
                            field: Field::Is,
                            value: status,
                            negated,
                        });
                        continue;
                    }
                    "level" => {
                        terms.push(Term::Filter {
                            field: Field::Level,
                            value: value.to_ascii_lowercase(),
                            negated,
                        });
                        continue;
                    }
                    "release" => Field::Tag("release".to_owned()),
                    "environment" | "env" => Field::Tag("environment".to_owned()),
                    "user.email" => {
                        terms.push(Term::Filter {
                            field: Field::User(UserField::Email),
                            value: value.to_lowercase(),
                            negated,
                        });
                        continue;
                    }
                    "user.id" | "user.username" | "user.ip" => {
                        let field = match key {
                            "user.id" => UserField::Id,
                            "user.username" => UserField::Username,
                            _ => UserField::Ip,
                        };
                        terms.push(Term::Filter {
                            field: Field::User(field),
                            value,
                            negated,
                        });
                        continue;
                    }
                    _ => Field::Tag(key.to_owned()),
                };
                Term::Filter {
                    field,
                    value,
                    negated,
                }
            }
            None => {
                let text = unquote(body)?;
                if text.is_empty() {
                    continue;
                }
                Term::Text { text, negated }
            }
        };
        terms.push(term);
    }
    if terms.len() > MAX_TERMS {
        return Err(invalid(format!("at most {MAX_TERMS} terms")));
    }
    Ok(Search { terms })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(field: Field, value: &str, negated: bool) -> Term {
        Term::Filter {
            field,
            value: value.to_owned(),
            negated,
        }
    }

    fn tag(key: &str) -> Field {
        Field::Tag(key.to_owned())
    }

    #[test]
    fn parses_sentrys_syntax() {
        let search = parse(
            r#"is:unresolved level:Error release:"shop 1.2" !env:staging user.email:Ada@Example.com browser:Firefox "connection refused" !timeout"#,
        )
        .expect("valid");
        assert_eq!(
            search.terms,
            vec![
                filter(Field::Is, "unresolved", false),
                filter(Field::Level, "error", false),
                filter(tag("release"), "shop 1.2", false),
                filter(tag("environment"), "staging", true),
                filter(Field::User(UserField::Email), "ada@example.com", false),
                filter(tag("browser"), "Firefox", false),
                Term::Text {
                    text: "connection refused".to_owned(),
                    negated: false
                },
                Term::Text {
                    text: "timeout".to_owned(),
                    negated: true
                },
            ]
        );
        assert_eq!(
            parse("user.id:42").expect("valid").terms,
            vec![filter(Field::User(UserField::Id), "42", false)]
        );
        assert_eq!(parse("   ").expect("empty").terms, vec![]);
        // A colon inside a quoted phrase is text.
        assert_eq!(
            parse(r#""KeyError: 'sku'""#).expect("valid").terms,
            vec![Term::Text {
                text: "KeyError: 'sku'".to_owned(),
                negated: false
            }]
        );
    }

    #[test]
    fn refuses_what_it_cannot_mean() {
        for bad in [
            "is:sleeping",
            "release:",
            r#"release:"open"#,
            r#"release:a"b"#,
            r#""phrase"tail"#,
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(
                matches!(err, Error::Validation { field: "query", .. }),
                "{bad}: {err}"
            );
        }
        assert!(parse(&"x ".repeat(30)).is_err(), "too many terms");
        assert!(parse(&"x".repeat(2000)).is_err(), "too long");
    }
}
