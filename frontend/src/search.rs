//! Suggestions for the issue search bar: pure functions over what is typed and the tag values
//! the project has seen (`tagFacets`), so they are unit-tested on the host.
//!
//! The last word of the search is completed: a key (`level:`, `release:`, any tag key) while
//! it has no colon, else a value of that key (`level:error`, `browser:Firefox`); a leading `!`
//! (negation) is kept. Values with spaces are quoted, as the API's syntax wants.

/// Keys the API understands besides the tags, with the values they take when fixed.
const BUILT_IN_KEYS: [(&str, &[&str]); 6] = [
    ("is", &["unresolved", "resolved", "ignored"]),
    ("level", &["fatal", "error", "warning", "info", "debug"]),
    ("release", &[]),
    ("environment", &[]),
    ("user.email", &[]),
    ("user.id", &[]),
];

/// Aliases the API accepts for a key, as (alias, key).
const ALIASES: [(&str, &str); 1] = [("env", "environment")];

/// At most this many suggestions are shown.
pub const MAX_SUGGESTIONS: usize = 8;

/// A tag key with values seen for it (most frequent first).
#[derive(Clone, Debug, PartialEq)]
pub struct KnownTag {
    /// Tag key.
    pub key: String,
    /// Its values.
    pub values: Vec<String>,
}

/// One entry of the suggestion list.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    /// What the list shows (`level:error`).
    pub label: String,
    /// The whole search after picking it.
    pub search: String,
}

/// Splits `search` into what precedes its last word and the last word (empty after a space).
/// A space inside quotes does not end a word.
fn last_word(search: &str) -> (&str, &str) {
    let mut quoted = false;
    let mut start = 0;
    for (at, c) in search.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => start = at + 1,
            _ => {}
        }
    }
    search.split_at(start)
}

/// A value as the search syntax writes it: quoted when it holds a space or a quote.
fn quote(value: &str) -> String {
    if value.contains([' ', '"']) {
        format!("\"{}\"", value.replace('"', "'"))
    } else {
        value.to_owned()
    }
}

/// The suggestions for `search` as typed so far, given the tags seen.
pub fn suggest(search: &str, tags: &[KnownTag]) -> Vec<Suggestion> {
    let (head, word) = last_word(search);
    let (bang, word) = match word.strip_prefix('!') {
        Some(rest) => ("!", rest),
        None => ("", word),
    };
    let complete = |text: String, label: String| Suggestion {
        search: format!("{head}{bang}{text}"),
        label: format!("{bang}{label}"),
    };
    match word.split_once(':') {
        None => {
            let typed = word.to_lowercase();
            let mut keys: Vec<&str> = BUILT_IN_KEYS.iter().map(|(key, _)| *key).collect();
            for tag in tags {
                if !keys.contains(&tag.key.as_str()) {
                    keys.push(&tag.key);
                }
            }
            keys.into_iter()
                .filter(|key| key.to_lowercase().starts_with(&typed))
                .take(MAX_SUGGESTIONS)
                .map(|key| complete(format!("{key}:"), format!("{key}:")))
                .collect()
        }
        Some((key, typed)) => {
            let key = ALIASES
                .iter()
                .find(|(alias, _)| *alias == key)
                .map_or(key, |(_, key)| *key);
            let fixed = BUILT_IN_KEYS
                .iter()
                .find(|(known, _)| *known == key)
                .map(|(_, values)| values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>())
                .unwrap_or_default();
            let seen = tags
                .iter()
                .find(|tag| tag.key == key)
                .map(|tag| tag.values.clone())
                .unwrap_or_default();
            let typed = typed.trim_start_matches('"').to_lowercase();
            let (head_key, _) = word.split_once(':').unwrap_or_default();
            fixed
                .into_iter()
                .chain(seen)
                .filter(|value| value.to_lowercase().starts_with(&typed))
                .filter(|value| *value != typed)
                .fold(Vec::<String>::new(), |mut unique, value| {
                    if !unique.contains(&value) {
                        unique.push(value);
                    }
                    unique
                })
                .into_iter()
                .take(MAX_SUGGESTIONS)
                .map(|value| {
                    let written = format!("{head_key}:{}", quote(&value));
                    complete(format!("{written} "), written)
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags() -> Vec<KnownTag> {
        vec![
            KnownTag {
                key: "browser".into(),
                values: vec!["Firefox".into(), "Chrome Mobile".into()],
            },
            KnownTag {
                key: "environment".into(),
                values: vec!["production".into(), "staging".into()],
            },
            KnownTag {
                key: "level".into(),
                values: vec!["error".into()],
            },
        ]
    }

    fn labels(search: &str) -> Vec<String> {
        suggest(search, &tags())
            .into_iter()
            .map(|s| s.label)
            .collect()
    }

    #[test]
    fn a_word_without_a_colon_completes_to_keys_built_in_and_seen() {
        assert_eq!(
            labels("is:unresolved "),
            [
                "is:",
                "level:",
                "release:",
                "environment:",
                "user.email:",
                "user.id:",
                "browser:"
            ]
        );
        assert_eq!(labels("is:unresolved br"), ["browser:"]);
        assert_eq!(labels("Le"), ["level:"]);
        assert_eq!(labels("!e"), ["!environment:"]);
    }

    #[test]
    fn after_a_key_its_values_are_suggested() {
        assert_eq!(
            labels("level:"),
            [
                "level:fatal",
                "level:error",
                "level:warning",
                "level:info",
                "level:debug"
            ]
        );
        assert_eq!(labels("is:unresolved level:w"), ["level:warning"]);
        assert_eq!(
            labels("is:"),
            ["is:unresolved", "is:resolved", "is:ignored"]
        );
        assert_eq!(
            labels("browser:"),
            ["browser:Firefox", "browser:\"Chrome Mobile\""]
        );
        assert_eq!(
            labels("env:st"),
            ["env:staging"],
            "an alias finds its key's values"
        );
        assert_eq!(labels("!browser:f"), ["!browser:Firefox"]);
        assert!(labels("nosuchkey:").is_empty());
        assert!(labels("level:error").is_empty(), "nothing left to complete");
    }

    #[test]
    fn picking_replaces_the_last_word_only() {
        let picked = suggest("is:unresolved br", &tags());
        assert_eq!(picked[0].search, "is:unresolved browser:");
        let picked = suggest("is:unresolved browser:ch", &tags());
        assert_eq!(picked[0].search, "is:unresolved browser:\"Chrome Mobile\" ");
        let picked = suggest("\"two words\" !level:f", &tags());
        assert_eq!(picked[0].search, "\"two words\" !level:fatal ");
    }

    #[test]
    fn quoted_spaces_stay_in_one_word() {
        assert_eq!(last_word("a b"), ("a ", "b"));
        assert_eq!(
            last_word("browser:\"Chrome Mo"),
            ("", "browser:\"Chrome Mo")
        );
        assert_eq!(last_word("x "), ("x ", ""));
    }
}
