//! The shape of `errorwatch-core`, measured from its sources: the ratchets of the repositories
//! work (issue 24). Each figure may only go down: a change that raises one fails here, and a
//! change that lowers one fails until the budget below is lowered with it, so the next change
//! cannot spend what this one saved. The end state is zero SQL text naming a tenant table
//! outside `core/src/repo/`, zero public functions of core taking a bare `i64` id, and no import
//! circle of more than two files.
//!
//! - **Tenant SQL outside `repo/`**: string literals in `backend/core/src` (outside `repo/`)
//!   that are a tenant table's name (`.from("events")`) or SQL text naming one
//!   (`"… FROM events …"`). Tenant tables are read from the migrated schema: every table with
//!   an `account_id` column.
//! - **Hand-written account filters outside `repo/`**: occurrences of `Column::AccountId.eq(`,
//!   `Column::AccountId.is_in(` and `col("account_id")` in core's non-test code outside `repo/`:
//!   a tenant filter written by hand in a service instead of `repo::select`'s.
//! - **Bare ids**: parameters `…id: i64` of `pub fn` / `pub async fn` (not `pub(crate)`).
//! - **Import circles**: files of core that reach each other through `crate::…` paths; the
//!   largest strongly connected set of files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::harness::{Backend, TestApp};

/// String literals naming a tenant table outside `repo/` (175 on 2026-12-07; 166 once the
/// entities moved under `repo/entity/`; 0 once every family's queries moved to `repo/`).
const TENANT_SQL_OUTSIDE_REPO: usize = 0;
/// Hand-written `account_id` filters outside `repo/` (23 on 2026-12-07; 16 once projects, keys,
/// API tokens and the audit log moved to `repo/`).
const HAND_WRITTEN_ACCOUNT_FILTERS_OUTSIDE_REPO: usize = 0;
/// Public functions' bare `i64` id parameters (22 on 2026-12-07, 0 since the typed ids).
const BARE_ID_PARAMETERS: usize = 0;
/// Files in the largest import circle (12 on 2026-12-07; 2 since the job registry moved to the
/// server, jobs name their own context, and the database handle stopped knowing the config
/// file and the notifier: what is left is `service/auth.rs` ↔ `service/member.rs`).
const LARGEST_IMPORT_CIRCLE: usize = 2;

#[tokio::test]
async fn core_shape_ratchets_only_go_down() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tables = tenant_tables(&app).await;
    assert!(
        tables.contains("events") && tables.contains("issues") && !tables.contains("users"),
        "tenant tables read from the schema: {tables:?}"
    );
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src");
    let files = rust_files(&core);
    let sources: BTreeMap<String, String> = files
        .iter()
        .map(|path| {
            let relative = path
                .strip_prefix(&core)
                .expect("under core/src")
                .to_string_lossy()
                .replace('\\', "/");
            (
                relative,
                std::fs::read_to_string(path).expect("read source"),
            )
        })
        .collect();

    let mut report = Vec::new();
    let tenant_sql: BTreeMap<&str, usize> = sources
        .iter()
        .filter(|(path, _)| !path.starts_with("repo/"))
        .map(|(path, text)| (path.as_str(), tenant_sql_literals(text, &tables)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let account_filters: BTreeMap<&str, usize> = sources
        .iter()
        .filter(|(path, _)| !path.starts_with("repo/"))
        .map(|(path, text)| (path.as_str(), hand_written_account_filters(text)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let bare_ids: BTreeMap<&str, usize> = sources
        .iter()
        .map(|(path, text)| (path.as_str(), bare_id_parameters(text)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let circles = import_circles(&sources);
    let largest = circles.iter().map(BTreeSet::len).max().unwrap_or(0);

    let check = |what: &str, measured: usize, budget: usize, detail: String| {
        if measured != budget {
            Some(format!(
                "{what}: measured {measured}, budget {budget} ({}); {detail}",
                if measured > budget {
                    "it may only go down"
                } else {
                    "lower the budget in tests/it/architecture.rs to the new figure"
                }
            ))
        } else {
            None
        }
    };
    report.extend(check(
        "tenant SQL outside repo/",
        tenant_sql.values().sum(),
        TENANT_SQL_OUTSIDE_REPO,
        format!("per file: {tenant_sql:?}"),
    ));
    report.extend(check(
        "hand-written account filters outside repo/",
        account_filters.values().sum(),
        HAND_WRITTEN_ACCOUNT_FILTERS_OUTSIDE_REPO,
        format!("per file: {account_filters:?}"),
    ));
    report.extend(check(
        "bare i64 id parameters of public core functions",
        bare_ids.values().sum(),
        BARE_ID_PARAMETERS,
        format!("per file: {bare_ids:?}"),
    ));
    report.extend(check(
        "files in the largest import circle",
        largest,
        LARGEST_IMPORT_CIRCLE,
        format!("circles of more than one file: {circles:?}"),
    ));
    assert!(report.is_empty(), "{}", report.join("\n"));
}

/// Tables of the migrated schema with an `account_id` column.
async fn tenant_tables(app: &TestApp) -> BTreeSet<String> {
    let errorwatch_core::db::Pool::Sqlite(pool) = app.db.pool() else {
        panic!("the schema is read from SQLite");
    };
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(pool)
            .await
            .expect("tables");
    let mut tenant = BTreeSet::new();
    for name in names {
        let columns: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = 'account_id'",
        )
        .bind(&name)
        .fetch_one(pool)
        .await
        .expect("columns");
        if columns > 0 {
            tenant.insert(name);
        }
    }
    tenant
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The code of a file up to its `#[cfg(test)] mod …` (tests may name tables freely).
fn without_tests(text: &str) -> &str {
    text.match_indices("#[cfg(test)]")
        .find(|(at, attribute)| {
            text[at + attribute.len()..]
                .trim_start()
                .starts_with("mod ")
        })
        .map_or(text, |(at, _)| &text[..at])
}

/// The contents of the string literals of `text` (plain and raw), comments skipped.
fn string_literals(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut literals = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'\'' => {
                // A char literal ('"', '\'') or a lifetime: skip the quoted char if it is one.
                let end = text[i + 1..].find('\'').map(|n| i + 1 + n);
                match end {
                    Some(end) if end - i <= 3 || (bytes[i + 1] == b'\\' && end - i <= 4) => {
                        i = end + 1;
                    }
                    _ => i += 1,
                }
            }
            b'r' if matches!(bytes.get(i + 1), Some(b'"' | b'#'))
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')) =>
            {
                let hashes = bytes[i + 1..].iter().take_while(|b| **b == b'#').count();
                let open = i + 1 + hashes;
                if bytes.get(open) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let end = text[open + 1..]
                    .find(&close)
                    .map_or(bytes.len(), |n| open + 1 + n);
                literals.push(text[open + 1..end].to_owned());
                i = end + close.len();
            }
            b'"' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                literals.push(text[i + 1..j.min(bytes.len())].to_owned());
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    literals
}

/// Literals that are a tenant table's name, or SQL text naming one after FROM, JOIN, INTO,
/// UPDATE or TABLE (or as `table.column`).
fn tenant_sql_literals(text: &str, tables: &BTreeSet<String>) -> usize {
    // A validation error's field name (`Error::validation("issues", …)`) is no SQL.
    let text = field_names_marked(without_tests(text));
    string_literals(&text)
        .iter()
        .filter(|literal| {
            if tables.contains(literal.as_str()) {
                return true;
            }
            let words: Vec<&str> = literal
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .filter(|w| !w.is_empty())
                .collect();
            words.windows(2).any(|pair| {
                matches!(
                    pair[0].to_ascii_uppercase().as_str(),
                    "FROM" | "JOIN" | "INTO" | "UPDATE" | "TABLE"
                ) && tables.contains(pair[1])
            }) || words.iter().any(|w| {
                w.split_once('.')
                    .is_some_and(|(table, column)| tables.contains(table) && !column.is_empty())
            })
        })
        .count()
}

/// `text` with the field name of each `validation(` call prefixed by `field:`, so a field
/// called like a table (`Error::validation("issues", …)`) is not counted as SQL.
fn field_names_marked(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("validation(") {
        let (head, tail) = rest.split_at(at + "validation(".len());
        out.push_str(head);
        let blank = tail.len() - tail.trim_start().len();
        out.push_str(&tail[..blank]);
        rest = &tail[blank..];
        if let Some(after) = rest.strip_prefix('"') {
            out.push_str("\"field:");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Tenant filters written by hand: `Column::AccountId.eq(`, `Column::AccountId.is_in(` and
/// `col("account_id")` outside the file's tests.
fn hand_written_account_filters(text: &str) -> usize {
    let code = without_tests(text);
    [
        "Column::AccountId.eq(",
        "Column::AccountId.is_in(",
        r#"col("account_id")"#,
    ]
    .iter()
    .map(|pattern| code.matches(pattern).count())
    .sum()
}

/// Rows a parameter may name without `_id`: `project: i64` is as bare as `project_id: i64`.
const ID_NOUNS: &[&str] = &[
    "account",
    "user",
    "project",
    "key",
    "issue",
    "event",
    "attachment",
    "rule",
    "target",
    "notification",
    "invite",
    "membership",
    "token",
    "session",
];

/// Parameters naming a row (`id`, `…_id`, `…_ids`, or a row's noun such as `project`) typed as
/// a bare `i64` (or a slice, list or option of them) in `pub fn` / `pub async fn` signatures.
fn bare_id_parameters(text: &str) -> usize {
    let code = without_tests(text);
    let mut count = 0;
    for (at, _) in code.match_indices("pub ") {
        let rest = &code[at + 4..];
        let rest = rest.strip_prefix("async ").unwrap_or(rest);
        if !rest.starts_with("fn ") {
            continue;
        }
        let Some(open) = rest.find('(') else { continue };
        let mut depth = 0;
        let mut close = open;
        for (n, c) in rest[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + n;
                        break;
                    }
                }
                _ => {}
            }
        }
        count += rest[open + 1..close]
            .split(',')
            .filter_map(|param| param.split_once(':'))
            .filter(|(name, ty)| {
                let name = name.trim().trim_start_matches("mut ");
                let noun = name.trim_end_matches('s');
                let names_a_row = noun == "id"
                    || noun.ends_with("_id")
                    || ID_NOUNS.contains(&noun)
                    || ID_NOUNS.iter().any(|n| noun.ends_with(&format!("_{n}")));
                let ty = ty.trim();
                names_a_row
                    && [
                        "i64",
                        "&[i64]",
                        "Vec<i64>",
                        "Option<i64>",
                        "impl IntoIterator<Item = i64>",
                    ]
                    .contains(&ty)
            })
            .count();
    }
    count
}

/// The module file a `crate::a::b::…` path lands in (the longest prefix that is a file).
fn module_file(path: &[&str], files: &BTreeSet<String>) -> Option<String> {
    (1..=path.len()).rev().find_map(|n| {
        let joined = path[..n].join("/");
        [format!("{joined}.rs"), format!("{joined}/mod.rs")]
            .into_iter()
            .find(|candidate| files.contains(candidate))
    })
}

/// Strongly connected sets of more than one file, through `crate::…` paths (tests excluded).
fn import_circles(sources: &BTreeMap<String, String>) -> Vec<BTreeSet<String>> {
    let files: BTreeSet<String> = sources.keys().cloned().collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in sources {
        // Paths in comments (doc links) are no dependency.
        let code: String = without_tests(text)
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut targets = BTreeSet::new();
        for (at, _) in code.match_indices("crate::") {
            let tail = &code[at + "crate::".len()..];
            let path: Vec<&str> = tail
                .split("::")
                .map(|segment| {
                    segment
                        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or("")
                })
                .take_while(|segment| {
                    !segment.is_empty()
                        && segment
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                })
                .collect();
            if let Some(target) = module_file(&path, &files)
                && target != *file
            {
                targets.insert(target);
            }
        }
        edges.insert(file.clone(), targets);
    }
    // Tarjan's strongly connected components.
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a str) {
        state.index.insert(node, state.next);
        state.low.insert(node, state.next);
        state.next += 1;
        state.stack.push(node);
        state.on_stack.insert(node);
        let edges = state.edges;
        for target in edges.get(node).into_iter().flatten() {
            let target = target.as_str();
            if !state.index.contains_key(target) {
                visit(state, target);
                let low = state.low[node].min(state.low[target]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(target) {
                let low = state.low[node].min(state.index[target]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = BTreeSet::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack.remove(top);
                component.insert(top.to_owned());
                if top == node {
                    break;
                }
            }
            if component.len() > 1 {
                state.found.push(component);
            }
        }
    }
    let mut state = State {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for node in edges.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.found
}

#[test]
fn the_measures_see_what_they_count() {
    let tables: BTreeSet<String> = ["events", "issues"].map(str::to_owned).into();
    let code = r##"
        fn a() { q.from("events"); raw("SELECT 1 FROM issues WHERE x"); r#"UPDATE events SET"#; }
        fn b() { Error::validation("name", "a name"); "users"; "issues.id"; c = '"'; }
        fn v() { Error::validation("issues", "pick fewer"); Error::validation(
            "issues", "x"); }
        // "FROM events" in a comment
        pub async fn get(scope: &AccountScope, issue_id: i64, n: i64) {}
        pub fn one(id: i64, other: IssueId) {}
        pub fn two(project: i64, issue_ids: &[i64], count: i64, keys: u32) {}
        pub(crate) fn hidden(issue_id: i64) {}
        fn f() { q.filter(issue::Column::AccountId.eq(a)).filter(x::Column::AccountId.is_in(b));
            Expr::col("account_id"); Expr::col("project_id"); }
        #[cfg(test)]
        mod tests { fn t() { x.from("events"); x.filter(Column::AccountId.eq(1)); }
            pub fn t2(id: i64) {} }
    "##;
    assert_eq!(tenant_sql_literals(code, &tables), 4);
    assert_eq!(bare_id_parameters(code), 4);
    assert_eq!(hand_written_account_filters(code), 3);
    let sources: BTreeMap<String, String> = [
        ("a.rs", "use crate::b::X;"),
        ("b.rs", "fn f() { crate::c::g() }"),
        ("c/mod.rs", "use crate::a;"),
        ("d.rs", "use crate::a::Y;"),
    ]
    .map(|(path, text)| (path.to_owned(), text.to_owned()))
    .into();
    let circles = import_circles(&sources);
    assert_eq!(
        circles,
        vec![["a.rs", "b.rs", "c/mod.rs"].map(str::to_owned).into()]
    );
}
