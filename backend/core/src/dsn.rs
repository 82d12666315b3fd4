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

/// A ready-to-paste SDK setup for one platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupSnippet {
    /// Platform id (`python`, `node`, `javascript`, `rust`, `go`, `java`, `ruby`, `php`, `dotnet`).
    pub platform: &'static str,
    /// Display name.
    pub label: &'static str,
    /// The install command.
    pub install: &'static str,
    /// The code, with the DSN filled in.
    pub code: String,
}

/// The platforms with a setup snippet, in display order.
pub const PLATFORMS: [&str; 9] = [
    "python",
    "node",
    "javascript",
    "rust",
    "go",
    "java",
    "ruby",
    "php",
    "dotnet",
];

/// The comment above each snippet's test error (languages with `#` comments).
const TEST_NOTE_HASH: &str =
    "# A test error, to see the first event arrive (remove it afterwards):";
/// The same for languages with `//` comments.
const TEST_NOTE_SLASH: &str =
    "// A test error, to see the first event arrive (remove it afterwards):";

/// Setup snippets for every supported SDK, with `dsn` filled in. Each works with the SDK that
/// its install command installs today (a test runs the Python one with sentry-sdk 3.x exactly
/// as the dashboard shows it), ends with a line that sends a test error, and enables no option
/// that sends personal data.
pub fn setup_snippets(dsn: &str) -> Vec<SetupSnippet> {
    PLATFORMS
        .iter()
        .filter_map(|p| setup_snippet(p, dsn))
        .collect()
}

/// The setup snippet of one platform.
pub fn setup_snippet(platform: &str, dsn: &str) -> Option<SetupSnippet> {
    let (platform, label, install, code) = match platform {
        "python" => (
            "python",
            "Python",
            "pip install --upgrade sentry-sdk",
            format!(
                "import sentry_sdk\n\nsentry_sdk.init(\n    dsn=\"{dsn}\",\n)\n\n{TEST_NOTE_HASH}\ndivision_by_zero = 1 / 0\n"
            ),
        ),
        "node" => (
            "node",
            "Node.js",
            "npm install --save @sentry/node",
            format!(
                "// instrument.mjs, loaded first: node --import ./instrument.mjs app.mjs\nimport * as Sentry from \"@sentry/node\";\n\nSentry.init({{\n  dsn: \"{dsn}\",\n}});\n\n{TEST_NOTE_SLASH}\nsetTimeout(() => {{\n  throw new Error(\"ErrorWatch test error\");\n}});\n"
            ),
        ),
        "javascript" => (
            "javascript",
            "Browser JavaScript",
            "npm install --save @sentry/browser",
            format!(
                "import * as Sentry from \"@sentry/browser\";\n\nSentry.init({{\n  dsn: \"{dsn}\",\n}});\n\n{TEST_NOTE_SLASH}\nsetTimeout(() => {{\n  throw new Error(\"ErrorWatch test error\");\n}});\n"
            ),
        ),
        "rust" => (
            "rust",
            "Rust",
            "cargo add sentry",
            format!(
                "fn main() {{\n    let _guard = sentry::init((\n        \"{dsn}\",\n        sentry::ClientOptions {{\n            release: sentry::release_name!(),\n            ..Default::default()\n        }},\n    ));\n\n    {TEST_NOTE_SLASH}\n    panic!(\"ErrorWatch test error\");\n}}\n"
            ),
        ),
        "go" => (
            "go",
            "Go",
            "go get github.com/getsentry/sentry-go",
            format!(
                "err := sentry.Init(sentry.ClientOptions{{\n    Dsn: \"{dsn}\",\n}})\nif err != nil {{\n    log.Fatalf(\"sentry.Init: %s\", err)\n}}\ndefer sentry.Flush(2 * time.Second)\n\n{TEST_NOTE_SLASH}\nsentry.CaptureException(errors.New(\"ErrorWatch test error\"))\n"
            ),
        ),
        "java" => (
            "java",
            "Java",
            "implementation 'io.sentry:sentry:8.+'",
            format!(
                "import io.sentry.Sentry;\n\nSentry.init(options -> {{\n    options.setDsn(\"{dsn}\");\n}});\n\n{TEST_NOTE_SLASH}\nSentry.captureException(new Exception(\"ErrorWatch test error\"));\n"
            ),
        ),
        "ruby" => (
            "ruby",
            "Ruby",
            "bundle add sentry-ruby",
            format!(
                "Sentry.init do |config|\n  config.dsn = '{dsn}'\nend\n\n{TEST_NOTE_HASH}\nSentry.capture_exception(RuntimeError.new(\"ErrorWatch test error\"))\n"
            ),
        ),
        "php" => (
            "php",
            "PHP",
            "composer require sentry/sentry",
            format!(
                "\\Sentry\\init([\n    'dsn' => '{dsn}',\n]);\n\n{TEST_NOTE_SLASH}\n\\Sentry\\captureException(new \\Exception(\"ErrorWatch test error\"));\n"
            ),
        ),
        "dotnet" => (
            "dotnet",
            ".NET",
            "dotnet add package Sentry",
            format!(
                "using var sentry = SentrySdk.Init(options =>\n{{\n    options.Dsn = \"{dsn}\";\n}});\n\n{TEST_NOTE_SLASH}\nSentrySdk.CaptureException(new Exception(\"ErrorWatch test error\"));\n"
            ),
        ),
        _ => return None,
    };
    Some(SetupSnippet {
        platform,
        label,
        install,
        code,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_platform_has_a_snippet_with_the_dsn() {
        let dsn = "http://0123456789abcdef0123456789abcdef@127.0.0.1:8000/7";
        let snippets = super::setup_snippets(dsn);
        assert_eq!(snippets.len(), super::PLATFORMS.len());
        for s in snippets {
            assert!(s.code.contains(dsn), "{}: {}", s.platform, s.code);
            assert!(
                s.code.contains("A test error") && s.code.contains("ErrorWatch test error")
                    || s.platform == "python" && s.code.contains("1 / 0"),
                "{}: a line that sends a test error: {}",
                s.platform,
                s.code
            );
            assert!(!s.code.contains("send_default_pii"), "{}", s.code);
        }
        assert!(super::setup_snippet("cobol", dsn).is_none());
    }

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
