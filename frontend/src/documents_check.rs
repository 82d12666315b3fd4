//! Every GraphQL document the dashboard sends is valid against `graphql/schema.graphql`, the
//! exported SDL that a test of the graphql crate keeps in sync with the server. Documents are
//! found in the sources (string literals that start with `query`, `mutation` or
//! `subscription`) and taken from the functions that build the few that are templates, so a
//! schema change that would break a page fails here, before any browser runs.

use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema};

/// The dashboard's sources, by file name.
const SOURCES: [(&str, &str); 14] = [
    ("api.rs", include_str!("api.rs")),
    ("app.rs", include_str!("app.rs")),
    ("components.rs", include_str!("components.rs")),
    ("live.rs", include_str!("live.rs")),
    ("pages/alerts.rs", include_str!("pages/alerts.rs")),
    ("pages/auth.rs", include_str!("pages/auth.rs")),
    ("pages/billing.rs", include_str!("pages/billing.rs")),
    ("pages/issue.rs", include_str!("pages/issue.rs")),
    ("pages/issues.rs", include_str!("pages/issues.rs")),
    ("pages/onboarding.rs", include_str!("pages/onboarding.rs")),
    ("pages/profile.rs", include_str!("pages/profile.rs")),
    ("pages/releases.rs", include_str!("pages/releases.rs")),
    ("pages/settings.rs", include_str!("pages/settings.rs")),
    ("triage.rs", include_str!("triage.rs")),
];

/// The values of the plain (not raw) string literals of Rust source, escapes and `\`-newline
/// continuations undone.
fn string_literals(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = source.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            // Line comments may hold quotes of their own.
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            // Raw strings (`r"…"`, `r#"…"#`) are test data here, never documents: skip them.
            'r' if matches!(chars.get(i + 1), Some('"') | Some('#'))
                && (i == 0 || !chars[i - 1].is_alphanumeric() && chars[i - 1] != '_') =>
            {
                let mut hashes = 0;
                let mut j = i + 1;
                while chars.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if chars.get(j) != Some(&'"') {
                    i += 1;
                    continue;
                }
                j += 1;
                let closing: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let rest: String = chars[j..].iter().collect();
                let end = rest
                    .find(&closing)
                    .map_or(rest.len(), |at| at + closing.len());
                i = j + rest[..end].chars().count();
            }
            // A char literal such as '"' is not the start of a string.
            '\'' if chars.get(i + 2) == Some(&'\'') || chars.get(i + 1) == Some(&'\\') => {
                let close = chars[i + 1..]
                    .iter()
                    .skip(1)
                    .position(|c| *c == '\'')
                    .map_or(chars.len(), |at| i + 2 + at);
                i = close + 1;
            }
            '"' => {
                let mut value = String::new();
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                        match chars.get(i) {
                            Some('\n') => {
                                while chars.get(i + 1).is_some_and(|c| c.is_whitespace()) {
                                    i += 1;
                                }
                            }
                            Some('n') => value.push('\n'),
                            Some('t') => value.push('\t'),
                            Some(other) => value.push(*other),
                            None => {}
                        }
                    } else {
                        value.push(chars[i]);
                    }
                    i += 1;
                }
                out.push(value);
                i += 1;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Whether a literal is a GraphQL document (an anonymous operation, as the dashboard writes
/// them: the keyword, then its variables or its selection) and not a format template.
fn is_document(literal: &str) -> bool {
    let text = literal.trim_start();
    ["query", "mutation", "subscription"].iter().any(|keyword| {
        text.strip_prefix(keyword)
            .is_some_and(|rest| rest.trim_start().starts_with(['(', '{']))
    }) && !text.contains("{{")
}

/// Every document: the literals of the sources and the built ones.
fn documents() -> Vec<(String, String)> {
    let mut documents: Vec<(String, String)> = SOURCES
        .iter()
        .flat_map(|(file, source)| {
            string_literals(source)
                .into_iter()
                .filter(|l| is_document(l))
                .map(move |l| ((*file).to_owned(), l))
        })
        .collect();
    documents.extend([
        (
            "list_query(account)".to_owned(),
            crate::pages::issues::list_query(false),
        ),
        (
            "list_query(project)".to_owned(),
            crate::pages::issues::list_query(true),
        ),
        (
            "setup_query".to_owned(),
            crate::pages::onboarding::setup_query(),
        ),
        (
            "first_issue_subscription".to_owned(),
            crate::pages::onboarding::first_issue_subscription(),
        ),
        ("event_query".to_owned(), crate::pages::issue::event_query()),
        (
            "facets_query(account)".to_owned(),
            crate::pages::issues::facets_query(false),
        ),
        (
            "facets_query(project)".to_owned(),
            crate::pages::issues::facets_query(true),
        ),
    ]);
    // The undo of a bulk action, with every kind of state to restore.
    let state = |status: &str| crate::triage::PriorState {
        id: "iss_1".into(),
        status: status.into(),
        ..Default::default()
    };
    let mut in_release = state("RESOLVED");
    in_release.resolution = Some("in_release".into());
    in_release.resolved_in_release = Some("shop@2".into());
    let mut next_release = state("RESOLVED");
    next_release.resolution = Some("in_next_release".into());
    let (mut until, mut events, mut users) = (state("IGNORED"), state("IGNORED"), state("IGNORED"));
    until.ignored_until = Some("2030-01-01T00:00:00Z".into());
    events.ignored_until_more_events = Some(10);
    users.ignored_until_more_users = Some(2);
    let prior = [
        state("UNRESOLVED"),
        state("RESOLVED"),
        in_release,
        next_release,
        state("IGNORED"),
        until,
        events,
        users,
    ];
    for action in ["RESOLVE", "BOOKMARK"] {
        let (document, _) = crate::triage::undo_request(action, &prior).expect("undoable");
        documents.push((format!("undo_request({action})"), document));
    }
    documents
}

#[test]
fn only_operations_count_as_documents() {
    assert!(is_document("query($id: ID!) { a }"));
    assert!(is_document("mutation { logout }"));
    assert!(!is_document("query"));
    assert!(!is_document("query={}"));
    assert!(!is_document("subscription refused: {text}"));
    assert!(!is_document("query {{ {root} }}"));
}

#[test]
fn string_literals_are_read_like_rustc_reads_them() {
    let source = "let a = \"query { a }\"; // \"not this\"\nlet b = r#\"raw \"x\"\"#; let c = '\"'; let d = \"x\\\n      y\\\"z\";";
    assert_eq!(string_literals(source), vec!["query { a }", "xy\"z"]);
}

#[test]
fn every_dashboard_document_is_valid_against_the_schema() {
    let sdl = include_str!("../../graphql/schema.graphql");
    // The exported SDL declares `@specifiedBy`, which the validator also knows built in: the
    // schema is taken as the server's own truth rather than re-validated.
    let schema = Valid::assume_valid(
        Schema::parse(sdl, "schema.graphql").unwrap_or_else(|e| panic!("the SDL parses: {e}")),
    );
    let documents = documents();
    assert!(
        documents.len() >= 50,
        "found only {} documents: is the scan still finding them?",
        documents.len()
    );
    let failures: Vec<String> = documents
        .iter()
        .filter_map(|(origin, document)| {
            ExecutableDocument::parse_and_validate(&schema, document, "document.graphql")
                .err()
                .map(|errors| format!("{origin}: {document}\n{}", errors.errors))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} invalid documents:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
