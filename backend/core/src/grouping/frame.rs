//! Stack frames as grouping sees them: whether a frame is the application's, and the stable
//! identity of a frame (module or file basename, normalized function, short context line).
//!
//! Invariant: a frame's identity never contains a line or column number, an absolute path or a
//! generated name (lambda numbers, closure markers, build hashes), so redeploys, edits above the
//! crash and different install directories keep the same identity.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value, json};

/// Platforms whose frames carry source lines worth hashing (Sentry's list).
const SCRIPT_PLATFORMS: [&str; 5] = ["javascript", "node", "python", "php", "ruby"];

/// Longest context line (after collapsing whitespace) that still counts; longer lines are
/// usually minified code and change with every build.
const MAX_CONTEXT_LINE: usize = 120;

/// Function names that carry no identity.
const JUNK_FUNCTIONS: [&str; 12] = [
    "?",
    "<anonymous>",
    "<anonymous function>",
    "anonymous",
    "<unknown>",
    "<redacted>",
    "<lambda>",
    "lambda",
    "{closure}",
    "{main}",
    "class@anonymous",
    "[native code]",
];

/// File names that carry no identity.
const JUNK_FILES: [&str; 6] = [
    "<anonymous>",
    "[native code]",
    "native",
    "<unknown>",
    "<eval>",
    "<string>",
];

/// Java packages of the runtime.
const JAVA_RUNTIME: [&str; 5] = ["java.", "javax.", "sun.", "jdk.", "com.sun."];

/// Rust crates of the toolchain, of error, panic and async plumbing, and of logging: never the
/// application, whatever the SDK says (the error tracker's own `sentry*` crates are SDK frames).
const RUST_LIBRARY_CRATES: [&str; 20] = [
    "std",
    "core",
    "alloc",
    "proc_macro",
    "panic_unwind",
    "panic_abort",
    "__rustc",
    "backtrace",
    "anyhow",
    "eyre",
    "color_eyre",
    "tokio",
    "futures",
    "futures_core",
    "futures_util",
    "futures_executor",
    "async_std",
    "tracing",
    "tracing_core",
    "log",
];

/// Symbols of the Rust runtime and the C runtime around it that belong to no crate.
const RUST_RUNTIME_SYMBOLS: [&str; 3] = ["rust_begin_unwind", "rust_panic", "_start"];

/// Prefixes of such symbols: `__rust_begin_short_backtrace`, `__rust_try`, `__libc_start_main`.
const RUST_RUNTIME_PREFIXES: [&str; 3] = ["__rust_", "___rust_", "__libc_start"];

/// Regex-based name cleanups, compiled once. `None` only if a pattern failed to compile, which a
/// unit test rules out; the cleanups are then skipped.
struct Cleanups {
    rust_hash: Regex,
    rust_closure: Regex,
    hex_run: Regex,
    file_hash: Regex,
    java_generated: Regex,
    clojure_fn: Regex,
    erb_suffix: Regex,
    python_lib: Regex,
}

static CLEANUPS: LazyLock<Option<Cleanups>> = LazyLock::new(|| {
    Some(Cleanups {
        // Legacy Rust symbol hashes: `foo::bar::h0123456789abcdef`.
        rust_hash: Regex::new(r"::h[0-9a-f]{16}$").ok()?,
        // Rust closures and shims: `::{{closure}}`, `::{closure#0}`, `::{shim:vtable#0}`.
        rust_closure: Regex::new(r"(::)?\{\{?(closure|shim|vtable\.shim)[^}]*\}\}?").ok()?,
        // Generated hex runs in names (bundler chunks, proxies): 8+ hex digits after a separator.
        hex_run: Regex::new(r"([._$-])([0-9a-fA-F]{8,})\b").ok()?,
        // Build hashes in file names: `main.3f2a1b9c.js`, `chunk-2f3a9c1d.js`.
        file_hash: Regex::new(r"([.-])[0-9a-f]{8,}(\.[a-z0-9]+)$").ok()?,
        // Java proxies and accessors: CGLIB, javassist, reflection accessors, lambda classes.
        java_generated: Regex::new(
            r"(\$\$(EnhancerBy|FastClassBy|SpringCGLIB|Lambda)[A-Za-z]*\$\$)[0-9A-Za-z_/]*|(_\$\$_jvst)[0-9a-z_]*|(GeneratedMethodAccessor|GeneratedConstructorAccessor|GeneratedSerializationConstructorAccessor)[0-9]+|(\$\$Lambda)[$/0-9a-fA-Fx]*",
        )
        .ok()?,
        // Clojure: `foo$fn__1234`.
        clojure_fn: Regex::new(r"\$fn__[0-9]+").ok()?,
        // Ruby ERB templates: `_app_views_x_erb__1234_5678`.
        erb_suffix: Regex::new(r"__[0-9]{4,}_[0-9]{4,}$").ok()?,
        // CPython's standard library: `/lib/python3.11/`.
        python_lib: Regex::new(r"/lib/python[0-9]+(\.[0-9]+)?/").ok()?,
    })
});

/// Where a frame is: a module (preferred) or a file basename.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// The frame's module or package name.
    Module(String),
    /// The lowercased basename of the file.
    Filename(String),
}

/// The identity of one frame for grouping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FrameKey {
    pub(crate) location: Option<Location>,
    pub(crate) function: Option<String>,
    pub(crate) context_line: Option<String>,
}

impl FrameKey {
    /// Hash tokens, in a fixed order.
    pub(crate) fn tokens(&self) -> [String; 3] {
        let location = match &self.location {
            Some(Location::Module(m)) => format!("module:{m}"),
            Some(Location::Filename(f)) => format!("filename:{f}"),
            None => "location:".to_owned(),
        };
        [
            location,
            format!("function:{}", self.function.as_deref().unwrap_or_default()),
            format!(
                "context_line:{}",
                self.context_line.as_deref().unwrap_or_default()
            ),
        ]
    }

    /// The explanation shown in the UI.
    pub(crate) fn component(&self) -> Value {
        let mut out = Map::new();
        match &self.location {
            Some(Location::Module(m)) => {
                out.insert("module".to_owned(), json!(m));
            }
            Some(Location::Filename(f)) => {
                out.insert("filename".to_owned(), json!(f));
            }
            None => {}
        }
        if let Some(function) = &self.function {
            out.insert("function".to_owned(), json!(function));
        }
        if let Some(line) = &self.context_line {
            out.insert("context_line".to_owned(), json!(line));
        }
        Value::Object(out)
    }
}

/// What grouping does with one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FrameClass {
    /// The error tracker SDK's own frame: never contributes.
    Sdk,
    /// Nothing stable to identify it (`?` in `<anonymous>`, eval, native code).
    Junk,
    /// A frame with an identity.
    Usable { key: FrameKey, in_app: bool },
}

fn text<'a>(frame: &'a Value, key: &str) -> Option<&'a str> {
    frame
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The platform a frame was produced on: its own, else the event's.
pub(crate) fn frame_platform<'a>(frame: &'a Value, event_platform: &'a str) -> &'a str {
    text(frame, "platform").unwrap_or(event_platform)
}

fn paths(frame: &Value) -> impl Iterator<Item = String> + '_ {
    ["abs_path", "filename"]
        .into_iter()
        .filter_map(|key| text(frame, key))
        .map(|p| p.replace('\\', "/"))
}

fn applies(platform: &str, family: &[&str]) -> bool {
    platform.is_empty() || platform == "other" || family.contains(&platform)
}

/// The index just past the `>` closing an angle bracket opened before `text` (`->` in
/// `fn() -> T` closes nothing).
fn closing_angle(text: &str) -> Option<usize> {
    let mut depth = 1usize;
    let mut previous = ' ';
    for (index, ch) in text.char_indices() {
        match ch {
            '<' => depth += 1,
            '>' if previous != '-' => {
                depth -= 1;
                if depth == 0 {
                    return Some(index);
                }
            }
            _ => {}
        }
        previous = ch;
    }
    None
}

/// Splits `Type as Trait` at its top-level ` as `.
fn split_qualified(qualified: &str) -> (&str, Option<&str>) {
    let mut depth = 0usize;
    let mut previous = ' ';
    for (index, ch) in qualified.char_indices() {
        match ch {
            '<' => depth += 1,
            '>' if previous != '-' => depth = depth.saturating_sub(1),
            ' ' if depth == 0 && qualified[index..].starts_with(" as ") => {
                return (&qualified[..index], Some(&qualified[index + 4..]));
            }
            _ => {}
        }
        previous = ch;
    }
    (qualified, None)
}

/// The crate a Rust path names: `alloc` for `&dyn alloc::boxed::Box<T>`. A generic parameter
/// or a primitive (`T`, `u32`, no `::`) names none.
fn path_crate(path: &str) -> Option<&str> {
    let mut path = path.trim();
    loop {
        let stripped = [
            "&", "*const ", "*mut ", "mut ", "dyn ", "impl ", "(", "[", " ",
        ]
        .iter()
        .find_map(|prefix| path.strip_prefix(prefix));
        match stripped {
            Some(rest) => path = rest,
            None => break,
        }
    }
    // A qualified path as the type (`<<F as Future>::Output as Debug>`): its first type.
    if let Some(inner) = path.strip_prefix('<') {
        return path_crate(inner);
    }
    let (head, _) = path.split_once("::")?;
    let identifier = !head.is_empty()
        && head
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
    identifier.then_some(head)
}

/// The crates a Rust symbol belongs to: its first path segment (`anyhow` for
/// `anyhow::error::<impl From<E> for anyhow::Error>::from`), or for a trait method
/// `<Type as Trait>::f` the crates of the type and of the trait (the impl lives in one of them).
/// Empty when the symbol names no crate (`line_total`, `{closure#0}<T>`, `main`).
fn rust_symbol_crates(symbol: &str) -> Vec<&str> {
    let symbol = symbol.trim();
    if let Some(inner) = symbol.strip_prefix('<')
        && let Some(end) = closing_angle(inner)
    {
        let (ty, tr) = split_qualified(&inner[..end]);
        return [Some(ty), tr]
            .into_iter()
            .flatten()
            .filter_map(path_crate)
            .collect();
    }
    path_crate(symbol).into_iter().collect()
}

fn is_sentry_crate(name: &str) -> bool {
    name == "sentry" || name.starts_with("sentry_")
}

fn is_rust_library_crate(name: &str) -> bool {
    RUST_LIBRARY_CRATES.contains(&name) || is_sentry_crate(name)
}

/// Whether every crate the symbol names passes `test` (false when it names none).
fn symbol_crates_all(symbol: &str, test: impl Fn(&str) -> bool) -> bool {
    let crates = rust_symbol_crates(symbol);
    !crates.is_empty() && crates.iter().all(|name| test(name))
}

/// The crate of a file in cargo's registry: `sentry_core` for
/// `~/.cargo/registry/src/index.crates.io-…/sentry-core-0.49.5/src/hub.rs`.
fn registry_crate(path: &str) -> Option<String> {
    let (_, rest) = path.split_once("/.cargo/registry/src/")?;
    let folder = rest.split('/').nth(1)?;
    // `<name>-<version>`: the version starts at the last `-` followed by a digit.
    let split = folder
        .char_indices()
        .rev()
        .find(|(index, ch)| {
            *ch == '-'
                && folder[index + 1..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit())
        })
        .map(|(index, _)| index)?;
    Some(folder[..split].replace('-', "_"))
}

/// Sources of the Rust toolchain: `/rustc/<commit>/library/…` in release builds of std, or a
/// rustup toolchain's `lib/rustlib/src`.
fn is_rust_toolchain_path(path: &str) -> bool {
    path.starts_with("/rustc/")
        || path.contains("/.rustup/toolchains/")
        || path.contains("/lib/rustlib/src/rust/")
}

/// The location in a frame whose function is a misread backtrace line: the Rust SDK parses an
/// inlined frame of `std::backtrace::Backtrace`'s text (anyhow's backtraces) into
/// `function: "at /rustc/…/panicking.rs:544:19"`.
fn misread_location(function: &str) -> Option<&str> {
    function
        .strip_prefix("at ")
        .filter(|rest| rest.contains('/') || rest.contains('\\'))
}

/// Whether a Rust frame is the toolchain's, the C runtime's, a well-known library's or the
/// error tracker's, by its symbol or its source path. Sentry's server-side stack trace rules
/// mark such frames not in-app whatever the SDK sent, and so does [`frame_in_app`]: the `sentry`
/// crate flags every frame it does not recognise as in-app, which covers std's inlined frames
/// (`catch_unwind<…>`), `main`'s runtime and the `sentry_panic` hook.
fn is_rust_library_frame(frame: &Value) -> bool {
    let function = text(frame, "function").or_else(|| text(frame, "raw_function"));
    if let Some(function) = function {
        if RUST_RUNTIME_SYMBOLS.contains(&function)
            || RUST_RUNTIME_PREFIXES
                .iter()
                .any(|prefix| function.starts_with(prefix))
            || symbol_crates_all(function, is_rust_library_crate)
        {
            return true;
        }
        if let Some(location) = misread_location(function)
            && is_rust_toolchain_path(location)
        {
            return true;
        }
    }
    paths(frame).any(|path| {
        is_rust_toolchain_path(&path)
            || registry_crate(&path).is_some_and(|name| is_rust_library_crate(&name))
    })
}

/// Whether the frame is the error tracker SDK's own code (Sentry's `-app -group` rule).
pub(crate) fn is_sdk_frame(frame: &Value, platform: &str) -> bool {
    let native = applies(platform, &["rust", "native"]);
    if let Some(module) = text(frame, "module") {
        let first = module.split(['.', ':', '/']).next().unwrap_or_default();
        if module.starts_with("@sentry/")
            || module.starts_with("@sentry.")
            || module.starts_with("io.sentry.")
            || first == "sentry_sdk"
            || (native && symbol_crates_all(module, is_sentry_crate))
        {
            return true;
        }
    }
    if paths(frame).any(|p| {
        p.contains("node_modules/@sentry/")
            || p.contains("/sentry_sdk/")
            || (native && registry_crate(&p).is_some_and(|name| is_sentry_crate(&name)))
    }) {
        return true;
    }
    native && text(frame, "function").is_some_and(|f| symbol_crates_all(f, is_sentry_crate))
}

/// Whether a frame is third-party or runtime code, by platform heuristics.
fn is_library_frame(frame: &Value, platform: &str) -> bool {
    let python_lib = |p: &str| CLEANUPS.as_ref().is_some_and(|c| c.python_lib.is_match(p));
    let library_path = paths(frame).any(|p| {
        p.contains("/site-packages/")
            || p.contains("/dist-packages/")
            || p.starts_with("site-packages/")
            || p.starts_with("dist-packages/")
            || python_lib(&p)
            || p.starts_with("<frozen ")
            || p.contains("node_modules/")
            || p.starts_with("node:")
            || p.starts_with("internal/")
            || p.contains("/rustc/")
            || p.contains("/.cargo/registry/")
            || p.contains("/.cargo/git/")
            || p.contains("/.rustup/toolchains/")
    });
    if library_path {
        return true;
    }
    if applies(platform, &["java"])
        && let Some(module) = text(frame, "module")
        && JAVA_RUNTIME.iter().any(|prefix| module.starts_with(prefix))
    {
        return true;
    }
    if applies(platform, &["rust", "native"])
        && (is_rust_library_frame(frame)
            || text(frame, "module").is_some_and(|m| symbol_crates_all(m, is_rust_library_crate)))
    {
        return true;
    }
    is_sdk_frame(frame, platform)
}

/// Whether a frame is the application's: the SDK's `in_app` when given, else the heuristics.
/// Precedence: a Rust or native frame of the toolchain, a well-known library or the SDK is
/// never the application's, even when the SDK says so (see [`is_rust_library_frame`]); the
/// SDK's flag decides every other frame.
pub(crate) fn frame_in_app(frame: &Value, platform: &str) -> bool {
    if applies(platform, &["rust", "native"])
        && (is_rust_library_frame(frame) || is_sdk_frame(frame, platform))
    {
        return false;
    }
    if let Some(flag) = frame.get("in_app").and_then(Value::as_bool) {
        return flag;
    }
    !is_library_frame(frame, platform)
}

fn is_junk_location(raw: &str) -> bool {
    JUNK_FILES.contains(&raw)
        || raw.starts_with("eval at ")
        || raw.contains("(eval at ")
        || raw.starts_with("evalmachine.")
}

/// Sentry-style function normalization; `None` when nothing stable is left.
pub(crate) fn normalize_function(raw: &str, platform: &str) -> Option<String> {
    let mut name = raw.trim().to_owned();
    if let Some(rest) = name.strip_prefix("Object.") {
        name = rest.to_owned();
    }
    // Ruby: "block in foo", "block (2 levels) in foo" → "block".
    if name.starts_with("block ") || name == "block" {
        return Some("block".to_owned());
    }
    // Java lambdas (`lambda$main$0`) are numbered per compilation.
    if name.starts_with("lambda$") || name.contains(".lambda$") {
        return None;
    }
    // A misread backtrace line (`at /rustc/…/panic.rs:359:14`) is a place, not a function.
    if applies(platform, &["rust", "native"]) && misread_location(&name).is_some() {
        return None;
    }
    if let Some(c) = CLEANUPS.as_ref() {
        name = c.rust_hash.replace(&name, "").into_owned();
        name = c.rust_closure.replace_all(&name, "").into_owned();
        name = c.clojure_fn.replace_all(&name, "$$fn__<auto>").into_owned();
        name = c.erb_suffix.replace(&name, "").into_owned();
        name = normalize_java_generated(c, &name);
        if !applies(platform, &["rust", "native"]) {
            name = c
                .hex_run
                .replace_all(&name, |caps: &regex::Captures<'_>| {
                    let (separator, run) = (&caps[1], &caps[2]);
                    // A run without digits is more likely a word ("deadbeef") than a hash.
                    if run.chars().any(|ch| ch.is_ascii_digit()) {
                        format!("{separator}<hash>")
                    } else {
                        format!("{separator}{run}")
                    }
                })
                .into_owned();
        }
    }
    // JS anonymous methods: `JobQueue.?` / `JobQueue.<anonymous>` keep their owner.
    for suffix in [".?", ".<anonymous>"] {
        if let Some(owner) = name.strip_suffix(suffix) {
            name = owner.to_owned();
        }
    }
    let name = name.trim().to_owned();
    if name.is_empty() || JUNK_FUNCTIONS.contains(&name.as_str()) || name.starts_with("{closure:") {
        None
    } else {
        Some(name)
    }
}

fn normalize_java_generated(cleanups: &Cleanups, name: &str) -> String {
    cleanups
        .java_generated
        .replace_all(name, |caps: &regex::Captures<'_>| {
            let head = caps
                .get(1)
                .or_else(|| caps.get(3))
                .or_else(|| caps.get(4))
                .or_else(|| caps.get(5))
                .map(|m| m.as_str())
                .unwrap_or_default();
            format!("{head}<auto>")
        })
        .into_owned()
}

fn normalize_module(raw: &str, platform: &str) -> Option<String> {
    let module = raw.trim();
    if module.is_empty() || module == "<unknown module>" || module == "?" {
        return None;
    }
    // JS modules with a '/' are paths in disguise (and differ between deploys).
    if module.contains('/') && (platform == "javascript" || platform == "node") {
        return None;
    }
    let module = match CLEANUPS.as_ref() {
        Some(c) => normalize_java_generated(c, module),
        None => module.to_owned(),
    };
    Some(module)
}

/// The file name of a path or URL, lower-cased, with build hashes replaced by `<hash>`. For
/// JavaScript (bundles), also the shorter and base32/base64 hashes bundlers put in names
/// (`app-3f9a1c.js`, `index-B2x9_fQz.js`, see
/// [`errorwatch_symbolicate::hashes::strip_content_hash`]): such a name changes at every build,
/// so an issue keyed by it split at every deploy before.
fn basename(raw: &str, platform: &str) -> Option<String> {
    // URLs: drop the query and fragment; an origin alone has no file.
    let path = raw.split(['?', '#']).next().unwrap_or_default();
    let path = match path.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map(|(_, p)| p).unwrap_or_default(),
        None => path,
    };
    let base = path.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if base.is_empty() {
        return None;
    }
    let base = if platform == "javascript" || platform == "node" {
        errorwatch_symbolicate::hashes::strip_content_hash(base).to_lowercase()
    } else {
        base.to_lowercase()
    };
    Some(match CLEANUPS.as_ref() {
        Some(c) => c.file_hash.replace(&base, "${1}<hash>$2").into_owned(),
        None => base,
    })
}

fn context_line(frame: &Value, platform: &str) -> Option<String> {
    if !SCRIPT_PLATFORMS.contains(&platform) {
        return None;
    }
    let collapsed = text(frame, "context_line")?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    (collapsed.chars().count() <= MAX_CONTEXT_LINE).then_some(collapsed)
}

/// Classifies one frame. `event_platform` is used when the frame has no `platform`.
pub(crate) fn classify_frame(frame: &Value, event_platform: &str) -> FrameClass {
    let platform = frame_platform(frame, event_platform);
    if is_sdk_frame(frame, platform) {
        return FrameClass::Sdk;
    }
    let raw_file = text(frame, "filename").or_else(|| text(frame, "abs_path"));
    if raw_file.is_some_and(|f| f == "[native code]" || f.starts_with("eval at "))
        || text(frame, "function") == Some("eval")
    {
        return FrameClass::Junk;
    }
    let function = text(frame, "function")
        .or_else(|| text(frame, "raw_function"))
        .and_then(|f| normalize_function(f, platform));
    let location = text(frame, "module")
        .and_then(|m| normalize_module(m, platform))
        .map(Location::Module)
        .or_else(|| {
            raw_file
                .filter(|f| !is_junk_location(f))
                .and_then(|f| basename(f, platform))
                .map(Location::Filename)
        });
    if function.is_none() && location.is_none() {
        return FrameClass::Junk;
    }
    // A context line only means something next to a real file.
    let context_line = location
        .as_ref()
        .and_then(|_| context_line(frame, platform));
    FrameClass::Usable {
        key: FrameKey {
            location,
            function,
            context_line,
        },
        in_app: frame_in_app(frame, platform),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(frame: Value, platform: &str) -> Option<FrameKey> {
        match classify_frame(&frame, platform) {
            FrameClass::Usable { key, .. } => Some(key),
            _ => None,
        }
    }

    fn check_function(platform: &str, raw: &str, expected: Option<&str>) {
        assert_eq!(
            normalize_function(raw, platform).as_deref(),
            expected,
            "{platform}: {raw}"
        );
    }

    #[test]
    fn cleanup_patterns_compile() {
        assert!(CLEANUPS.is_some());
    }

    #[test]
    fn function_names_are_normalized() {
        check_function("node", "Object.processJob", Some("processJob"));
        check_function("node", "?", None);
        check_function("node", "<anonymous>", None);
        check_function("node", "JobQueue.?", Some("JobQueue"));
        check_function("python", "<lambda>", None);
        check_function("python", "<listcomp>", Some("<listcomp>"));
        check_function("ruby", "block in process", Some("block"));
        check_function("ruby", "block (2 levels) in process", Some("block"));
        check_function(
            "ruby",
            "_app_views_cart_erb__1234_5678",
            Some("_app_views_cart_erb"),
        );
        check_function("java", "lambda$main$0", None);
        check_function("java", "invoke", Some("invoke"));
        check_function(
            "java",
            "Service$$EnhancerBySpringCGLIB$$a1b2c3d4.charge",
            Some("Service$$EnhancerBySpringCGLIB$$<auto>.charge"),
        );
        check_function(
            "java",
            "GeneratedMethodAccessor123.invoke",
            Some("GeneratedMethodAccessor<auto>.invoke"),
        );
        check_function(
            "clojure",
            "shop.core$fn__1234",
            Some("shop.core$fn__<auto>"),
        );
        check_function(
            "native",
            "shop::cart::apply::{{closure}}",
            Some("shop::cart::apply"),
        );
        check_function(
            "native",
            "shop::cart::apply::{{closure}}::{{closure}}",
            Some("shop::cart::apply"),
        );
        check_function(
            "native",
            "shop::cart::apply::{closure#0}",
            Some("shop::cart::apply"),
        );
        check_function(
            "native",
            "shop::cart::apply::h0123456789abcdef",
            Some("shop::cart::apply"),
        );
        check_function("php", "{closure}", None);
        check_function(
            "javascript",
            "chunk.3f2a1b9c.render",
            Some("chunk.<hash>.render"),
        );
    }

    #[test]
    fn module_wins_over_file_and_files_lose_their_directories() {
        let python = json!({"module": "shop.cart", "filename": "shop/cart.py", "abs_path": "/srv/shop/cart.py", "function": "apply"});
        assert_eq!(
            key(python, "python").and_then(|k| k.location),
            Some(Location::Module("shop.cart".to_owned()))
        );
        let node = json!({"module": "app/routes/cart", "filename": "/srv/App/Routes/Cart.js", "function": "get"});
        assert_eq!(
            key(node, "node").and_then(|k| k.location),
            Some(Location::Filename("cart.js".to_owned()))
        );
        let url = json!({"filename": "https://cdn.shop.io/static/main.3f2a1b9c.js?v=2", "function": "boot"});
        assert_eq!(
            key(url, "javascript").and_then(|k| k.location),
            Some(Location::Filename("main.<hash>.js".to_owned()))
        );
        for (name, expected) in [
            ("https://shop.io/assets/app-3f9a1c.js", "app-<hash>.js"),
            (
                "https://shop.io/static/js/main.8c2e1f.chunk.js",
                "main.<hash>.chunk.js",
            ),
            (
                "https://shop.io/assets/index-B2x9_fQz.js",
                "index-<hash>.js",
            ),
            (
                "https://shop.io/assets/chunk-5JZQY2XK.js",
                "chunk-<hash>.js",
            ),
            (
                "https://shop.io/vendor/jquery-3.7.1.min.js",
                "jquery-3.7.1.min.js",
            ),
        ] {
            let frame = json!({"abs_path": name, "filename": name, "function": "boot"});
            assert_eq!(
                key(frame, "javascript").and_then(|k| k.location),
                Some(Location::Filename(expected.to_owned())),
                "{name}"
            );
        }
        let python = json!({"filename": "migrations/0001_abc123.py", "function": "up"});
        assert_eq!(
            key(python, "python").and_then(|k| k.location),
            Some(Location::Filename("0001_abc123.py".to_owned())),
            "only bundles' names carry content hashes"
        );
    }

    #[test]
    fn context_lines_only_for_script_platforms_and_short_lines() {
        let frame = json!({"module": "m", "function": "f", "context_line": "   return   a +  b"});
        assert_eq!(
            key(frame.clone(), "python")
                .and_then(|k| k.context_line)
                .as_deref(),
            Some("return a + b")
        );
        assert_eq!(key(frame, "java").and_then(|k| k.context_line), None);
        let long = json!({"module": "m", "function": "f", "context_line": "x".repeat(121)});
        assert_eq!(key(long, "node").and_then(|k| k.context_line), None);
    }

    #[test]
    fn junk_and_sdk_frames_are_recognized() {
        assert_eq!(
            classify_frame(&json!({"function": "?"}), "node"),
            FrameClass::Junk
        );
        assert_eq!(
            classify_frame(&json!({"filename": "<anonymous>", "function": "?"}), "node"),
            FrameClass::Junk
        );
        assert_eq!(
            classify_frame(
                &json!({"filename": "[native code]", "function": "map"}),
                "javascript"
            ),
            FrameClass::Junk
        );
        assert_eq!(
            classify_frame(
                &json!({"filename": "eval at run (app.js:1:2)", "function": "x"}),
                "node"
            ),
            FrameClass::Junk
        );
        assert_eq!(
            classify_frame(&json!({"lineno": 3}), "python"),
            FrameClass::Junk
        );
        assert_eq!(
            classify_frame(
                &json!({"module": "sentry_sdk.integrations.logging", "function": "emit"}),
                "python"
            ),
            FrameClass::Sdk
        );
        assert_eq!(
            classify_frame(
                &json!({"abs_path": "/app/node_modules/@sentry/core/build/cjs/scope.js", "function": "x"}),
                "node"
            ),
            FrameClass::Sdk
        );
        assert_eq!(
            classify_frame(
                &json!({"function": "sentry_core::hub::Hub::capture_error"}),
                "native"
            ),
            FrameClass::Sdk
        );
    }

    fn check_in_app(platform: &str, frame: Value, expected: bool) {
        assert_eq!(
            frame_in_app(&frame, platform),
            expected,
            "{platform}: {frame}"
        );
    }

    #[test]
    fn symbols_name_their_crates() {
        let check = |symbol: &str, expected: &[&str]| {
            assert_eq!(rust_symbol_crates(symbol), expected, "{symbol}");
        };
        check("shop::cart::apply", &["shop"]);
        check(
            "anyhow::error::<impl core::convert::From<E> for anyhow::Error>::from",
            &["anyhow"],
        );
        check("<T as core::convert::Into<U>>::into", &["core"]);
        check(
            "<E as anyhow::context::ext::StdError>::ext_context",
            &["anyhow"],
        );
        check(
            "<shop::cart::Cart as core::fmt::Display>::fmt",
            &["shop", "core"],
        );
        check(
            "<&dyn core::ops::function::Fn<(), Output = i32> + core::marker::Sync as core::ops::function::FnOnce<()>>::call_once",
            &["core", "core"],
        );
        check(
            "<fn() -> core::result::Result<(), alloc::string::String> as core::ops::function::FnOnce<()>>::call_once",
            &["core"],
        );
        check(
            "<alloc::boxed::Box<dyn for<'a, 'b> core::ops::function::Fn<(&'a u8,), Output = ()>> as core::ops::function::Fn<(&u8,)>>::call",
            &["alloc", "core"],
        );
        check("<std::backtrace::Backtrace>::capture", &["std"]);
        check(
            "<<F as core::future::Future>::Output as core::fmt::Debug>::fmt",
            &["core"],
        );
        check("line_total", &[]);
        check("catch_unwind<shop::main::{closure#0}, u64>", &[]);
        check("{closure#0}<core::num::error::ParseIntError>", &[]);
        check("main", &[]);
        check("<unknown>", &[]);
        assert_eq!(
            registry_crate(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/sentry-core-0.49.5/src/hub.rs"
            )
            .as_deref(),
            Some("sentry_core")
        );
        assert_eq!(
            registry_crate(
                "/h/.cargo/registry/src/github.com-1ecc6299db9ec823/tokio-1.54.0-rc.1/src/lib.rs"
            )
            .as_deref(),
            Some("tokio")
        );
        assert_eq!(registry_crate("/srv/shop/src/main.rs"), None);
    }

    #[test]
    fn rust_library_frames_are_not_in_app_even_when_the_sdk_says_so() {
        let library = [
            json!({"function": "std::rt::lang_start_internal"}),
            json!({"function": "core::panicking::panic_bounds_check"}),
            json!({"function": "<std::backtrace::Backtrace>::capture"}),
            json!({"function": "anyhow::error::<impl core::convert::From<E> for anyhow::Error>::from"}),
            json!({"function": "<E as anyhow::context::ext::StdError>::ext_context"}),
            json!({"function": "<T as core::convert::Into<U>>::into"}),
            json!({"function": "<core::result::Result<T,F> as core::ops::try_trait::FromResidual<core::result::Result<core::convert::Infallible,E>>>::from_residual"}),
            json!({"function": "<alloc::boxed::Box<dyn core::ops::function::Fn<(&u8,)>> as core::ops::function::Fn<(&u8,)>>::call"}),
            json!({"function": "<fn() -> core::result::Result<(), alloc::string::String> as core::ops::function::FnOnce<()>>::call_once"}),
            json!({"function": "tokio::runtime::scheduler::multi_thread::worker::run"}),
            json!({"function": "<futures_util::future::Map<Fut,F> as core::future::Future>::poll"}),
            json!({"function": "backtrace::backtrace::trace"}),
            json!({"function": "sentry_panic::panic_handler"}),
            json!({"function": "<sentry_panic::PanicIntegration as sentry_core::integration::Integration>::setup::{{closure}}"}),
            json!({"function": "sentry_backtrace::current_stacktrace"}),
            json!({"function": "__rustc::rust_begin_unwind"}),
            json!({"function": "rust_begin_unwind"}),
            json!({"function": "__rust_try"}),
            json!({"function": "__rust_begin_short_backtrace<fn() -> std::process::ExitCode, std::process::ExitCode>"}),
            json!({"function": "_start"}),
            json!({"function": "__libc_start_main_impl", "abs_path": "./csu/../csu/libc-start.c"}),
            json!({"function": "__libc_start_call_main"}),
            // Inlined std frames carry a short name: the toolchain path tells.
            json!({"function": "catch_unwind<shop::main::{closure#0}, u64>", "abs_path": "/rustc/5980761/library/std/src/panic.rs"}),
            json!({"function": "{closure#0}<std::process::ExitCode>", "abs_path": "/rustc/5980761/library/std/src/rt.rs"}),
            json!({"function": "poll<T>", "abs_path": "/home/u/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/lib/rustlib/src/rust/library/core/src/future/mod.rs"}),
            // An inlined frame of the SDK, in cargo's registry.
            json!({"function": "{closure#0}<core::num::error::ParseIntError>", "abs_path": "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/sentry-core-0.49.5/src/error.rs"}),
            json!({"function": "poll<T>", "abs_path": "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.0/src/runtime/task/core.rs"}),
            // A backtrace line the SDK misread as a function.
            json!({"function": "at /rustc/5980761/library/std/src/panicking.rs:544:19"}),
        ];
        for frame in library {
            let flagged = edit_frame(&frame, |f| f["in_app"] = json!(true));
            check_in_app("native", flagged.clone(), false);
            check_in_app("rust", flagged, false);
            check_in_app("native", frame, false);
        }
        let application = [
            json!({"function": "shop::cart::apply", "abs_path": "/build/src/cart.rs"}),
            json!({"function": "line_total", "abs_path": "/build/src/app.rs"}),
            json!({"function": "shop::main::{{closure}}"}),
            // The application's own trait impls, on its own types or std's.
            json!({"function": "<shop::cart::Cart as core::fmt::Display>::fmt"}),
            json!({"function": "<core::result::Result<T,E> as shop::Ext>::or_log"}),
            json!({"function": "<shop::Audit as sentry_core::integration::Integration>::process_event"}),
            // Other registry crates keep the SDK's word (in_app_include may name them).
            json!({"function": "serde_json::de::from_str", "abs_path": "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/serde_json-1.0.1/src/de.rs"}),
        ];
        for frame in application {
            check_in_app(
                "native",
                edit_frame(&frame, |f| f["in_app"] = json!(true)),
                true,
            );
        }
        // The SDK's `false` stands, and other platforms keep their own rules.
        check_in_app(
            "native",
            json!({"function": "shop::cart::apply", "in_app": false}),
            false,
        );
        check_in_app(
            "python",
            json!({"function": "_start", "in_app": true}),
            true,
        );
        check_in_app(
            "node",
            json!({"function": "core::x", "filename": "/srv/app/core.js", "in_app": true}),
            true,
        );
    }

    #[test]
    fn rust_sdk_and_misread_frames_do_not_count() {
        for frame in [
            json!({"function": "<sentry_panic::PanicIntegration as sentry_core::integration::Integration>::setup::{{closure}}"}),
            json!({"function": "{closure#0}<core::num::error::ParseIntError>", "abs_path": "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/sentry-core-0.49.5/src/error.rs"}),
            json!({"function": "sentry_anyhow::capture_anyhow"}),
        ] {
            assert_eq!(classify_frame(&frame, "native"), FrameClass::Sdk, "{frame}");
        }
        assert_eq!(
            classify_frame(
                &json!({"function": "at /rustc/5980761/library/std/src/panic.rs:359:14", "in_app": true}),
                "native"
            ),
            FrameClass::Junk
        );
        assert!(matches!(
            classify_frame(
                &json!({"function": "<shop::Audit as sentry_core::integration::Integration>::process_event"}),
                "native"
            ),
            FrameClass::Usable { in_app: true, .. }
        ));
    }

    fn edit_frame(frame: &Value, change: impl FnOnce(&mut Value)) -> Value {
        let mut copy = frame.clone();
        change(&mut copy);
        copy
    }

    #[test]
    fn in_app_heuristics_per_platform() {
        check_in_app("python", json!({"abs_path": "/srv/shop/app/x.py"}), true);
        check_in_app(
            "python",
            json!({"abs_path": "/usr/lib/python3/dist-packages/requests/api.py"}),
            false,
        );
        check_in_app(
            "python",
            json!({"abs_path": "/venv/lib/python3.11/site-packages/django/core.py"}),
            false,
        );
        check_in_app(
            "python",
            json!({"abs_path": "/root/.pyenv/versions/3.11.7/lib/python3.11/json/decoder.py"}),
            false,
        );
        check_in_app(
            "python",
            json!({"filename": "<frozen importlib._bootstrap>"}),
            false,
        );
        check_in_app(
            "node",
            json!({"filename": "node:internal/process/task_queues"}),
            false,
        );
        check_in_app("node", json!({"filename": "internal/timers.js"}), false);
        check_in_app(
            "node",
            json!({"abs_path": "/srv/app/node_modules/express/lib/router.js"}),
            false,
        );
        check_in_app(
            "node",
            json!({"abs_path": "C:\\app\\node_modules\\x\\index.js"}),
            false,
        );
        check_in_app(
            "native",
            json!({"function": "std::panicking::begin_panic"}),
            false,
        );
        check_in_app(
            "native",
            json!({"function": "<core::result::Result<T,E>>::unwrap"}),
            false,
        );
        check_in_app(
            "native",
            json!({"function": "alloc::boxed::Box::new"}),
            false,
        );
        check_in_app(
            "native",
            json!({"function": "anyhow::error::Error::msg"}),
            false,
        );
        check_in_app(
            "native",
            json!({"function": "backtrace::capture::Backtrace::new"}),
            false,
        );
        check_in_app(
            "native",
            json!({"abs_path": "/rustc/abc/library/std/src/rt.rs", "function": "lang_start"}),
            false,
        );
        check_in_app(
            "native",
            json!({"abs_path": "/home/u/.cargo/registry/src/tokio-1/src/rt.rs", "function": "block_on"}),
            false,
        );
        check_in_app("native", json!({"function": "shop::cart::apply"}), true);
        check_in_app(
            "native",
            json!({"function": "tokio::runtime::task::harness::poll"}),
            false,
        );
        check_in_app(
            "java",
            json!({"module": "java.util.HashMap", "function": "get"}),
            false,
        );
        check_in_app(
            "java",
            json!({"module": "jdk.internal.reflect.Method", "function": "invoke"}),
            false,
        );
        check_in_app(
            "java",
            json!({"module": "com.shop.Cart", "function": "apply"}),
            true,
        );
        // The SDK's flag wins over the heuristics.
        check_in_app(
            "python",
            json!({"abs_path": "/venv/lib/python3.11/site-packages/x.py", "in_app": true}),
            true,
        );
        check_in_app(
            "python",
            json!({"abs_path": "/srv/shop/app/x.py", "in_app": false}),
            false,
        );
    }
}
