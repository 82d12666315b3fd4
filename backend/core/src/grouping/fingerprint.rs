//! Custom fingerprints: the variables an SDK or a rule may use (`{{ error.type }}`, …) and the
//! project's server-side fingerprint rules, in Sentry's syntax:
//!
//! ```text
//! # comments start with '#'
//! error.type:DatabaseError -> database-error
//! error.type:"ConnectionError" stack.module:"shop.billing*" -> gateway, {{ default }} title="Gateway down"
//! !level:info tags.region:eu-* -> eu-failure
//! ```
//!
//! Matchers on one line must all hold; matchers on exceptions (`error.type`, `error.value`) must
//! hold for the same exception and matchers on frames (`stack.*`, `app`) for the same frame, as
//! in Sentry. The first matching rule wins. Globs: `*` any run, `?` one character, `[abc]` a
//! class; on paths, packages and releases `*` stops at `/` and `**` crosses it. Values, messages,
//! levels, paths, packages and releases match case-insensitively; types, modules, functions,
//! loggers and tags exactly.
//!
//! Deliberate differences from Sentry, each so a rule does what it reads like: a `#` that starts
//! a fingerprint token begins a trailing comment, `sdk:` flags are globs, and caller/callee
//! matchers (`[ … ] |`) are not supported (they are a parse error, never silently ignored).

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use super::frame::{classify_frame, frame_in_app, frame_platform};
use super::parameterize::normalize_message;
use super::{main_exception, text_of};

/// The canonical spelling of the "default grouping" variable.
pub(crate) const DEFAULT_VARIABLE: &str = "{{ default }}";

/// A fingerprint rules text that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("fingerprint rules, line {line}: {message}")]
pub struct RuleError {
    /// 1-based line number in the rules text.
    pub line: usize,
    /// What is wrong, for the settings page.
    pub message: String,
}

/// A project's server-side fingerprint rules, parsed and compiled once.
///
/// `Default` is the empty rule set, which never matches.
#[derive(Clone, Debug, Default)]
pub struct FingerprintRules {
    rules: Vec<Rule>,
}

#[derive(Clone, Debug)]
pub(crate) struct Rule {
    /// The rule's line, trimmed, for the grouping explanation.
    pub(crate) text: String,
    matchers: Vec<Matcher>,
    /// Fingerprint values; `{{ default }}` spellings are canonical.
    pub(crate) fingerprint: Vec<String>,
    /// The `title="…"` attribute, unexpanded.
    pub(crate) title: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Field {
    ErrorType,
    ErrorValue,
    Message,
    Logger,
    Level,
    Tag(String),
    StackModule,
    StackFunction,
    StackAbsPath,
    StackPackage,
    App,
    Sdk,
    Family,
    Release,
}

/// Which event values a matcher looks at; matchers of one group must hold on the same value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    Exception,
    Message,
    LogInfo,
    Tags,
    Frame,
    Sdk,
    Family,
    Release,
}

impl Field {
    fn parse(key: &str) -> Option<Self> {
        if let Some(tag) = key.strip_prefix("tags.") {
            return (!tag.is_empty()).then(|| Self::Tag(tag.to_owned()));
        }
        Some(match key {
            "error.type" | "type" => Self::ErrorType,
            "error.value" | "value" => Self::ErrorValue,
            "message" => Self::Message,
            "logger" => Self::Logger,
            "level" => Self::Level,
            "stack.module" | "module" => Self::StackModule,
            "stack.function" | "function" => Self::StackFunction,
            "stack.abs_path" | "path" => Self::StackAbsPath,
            "stack.package" | "package" => Self::StackPackage,
            "app" => Self::App,
            "sdk" => Self::Sdk,
            "family" => Self::Family,
            "release" => Self::Release,
            _ => return None,
        })
    }

    fn group(&self) -> Group {
        match self {
            Self::ErrorType | Self::ErrorValue => Group::Exception,
            Self::Message => Group::Message,
            Self::Logger | Self::Level => Group::LogInfo,
            Self::Tag(_) => Group::Tags,
            Self::StackModule
            | Self::StackFunction
            | Self::StackAbsPath
            | Self::StackPackage
            | Self::App => Group::Frame,
            Self::Sdk => Group::Sdk,
            Self::Family => Group::Family,
            Self::Release => Group::Release,
        }
    }

    /// Path-like fields: `*` stops at `/`, `**` crosses it, backslashes count as `/`.
    fn is_path(&self) -> bool {
        matches!(
            self,
            Self::StackAbsPath | Self::StackPackage | Self::Release
        )
    }

    fn case_insensitive(&self) -> bool {
        matches!(
            self,
            Self::ErrorValue
                | Self::Message
                | Self::Level
                | Self::StackAbsPath
                | Self::StackPackage
                | Self::Release
                | Self::Sdk
        )
    }
}

#[derive(Clone, Debug)]
enum Pattern {
    Glob(Regex),
    /// `sdk:` and `family:` take a comma-separated list; `all` matches anything.
    Flags {
        all: bool,
        globs: Vec<Regex>,
    },
    App(bool),
}

#[derive(Clone, Debug)]
struct Matcher {
    field: Field,
    negated: bool,
    pattern: Pattern,
}

/// The values of one event that rules look at.
#[derive(Default)]
struct EventFacts {
    exceptions: Vec<(Option<String>, Option<String>)>,
    messages: Vec<String>,
    logger: Option<String>,
    level: Option<String>,
    tags: Vec<(String, String)>,
    frames: Vec<FrameFacts>,
    sdk: Option<String>,
    family: &'static str,
    release: Option<String>,
}

struct FrameFacts {
    module: Option<String>,
    function: Option<String>,
    paths: Vec<String>,
    package: Option<String>,
    in_app: bool,
}

impl FingerprintRules {
    /// Parses a rules text (one rule per line, `#` comments, blank lines ignored).
    ///
    /// Fails on the first malformed line: an unknown matcher or attribute, a bad glob, a missing
    /// `->` or an empty fingerprint. Nothing is partially applied.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let mut rules = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let rule = parse_rule(trimmed).map_err(|message| RuleError {
                line: index + 1,
                message,
            })?;
            rules.push(rule);
        }
        Ok(Self { rules })
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// The first rule matching the event.
    pub(crate) fn first_match(&self, event: &Value) -> Option<&Rule> {
        if self.rules.is_empty() {
            return None;
        }
        let facts = EventFacts::of(event);
        self.rules.iter().find(|rule| rule.matches(&facts))
    }
}

impl Rule {
    fn matches(&self, facts: &EventFacts) -> bool {
        let mut groups: Vec<Group> = self.matchers.iter().map(|m| m.field.group()).collect();
        groups.sort_by_key(|g| *g as u8);
        groups.dedup();
        groups.into_iter().all(|group| {
            let matchers: Vec<&Matcher> = self
                .matchers
                .iter()
                .filter(|m| m.field.group() == group)
                .collect();
            let holds = |target: Target<'_>| matchers.iter().all(|m| m.holds(&target));
            match group {
                Group::Exception => facts
                    .exceptions
                    .iter()
                    .any(|(ty, value)| holds(Target::Exception(ty.as_deref(), value.as_deref()))),
                Group::Message => facts
                    .messages
                    .iter()
                    .any(|message| holds(Target::Message(message))),
                Group::LogInfo => {
                    (facts.logger.is_some() || facts.level.is_some())
                        && holds(Target::LogInfo(
                            facts.logger.as_deref(),
                            facts.level.as_deref(),
                        ))
                }
                Group::Tags => holds(Target::Tags(&facts.tags)),
                Group::Frame => facts.frames.iter().any(|frame| holds(Target::Frame(frame))),
                Group::Sdk => holds(Target::One(facts.sdk.as_deref())),
                Group::Family => holds(Target::One(Some(facts.family))),
                Group::Release => holds(Target::One(facts.release.as_deref())),
            }
        })
    }
}

/// One candidate value set a matcher group is tested on.
enum Target<'a> {
    Exception(Option<&'a str>, Option<&'a str>),
    Message(&'a str),
    LogInfo(Option<&'a str>, Option<&'a str>),
    Tags(&'a [(String, String)]),
    Frame(&'a FrameFacts),
    One(Option<&'a str>),
}

impl Matcher {
    fn holds(&self, target: &Target<'_>) -> bool {
        self.positive(target) != self.negated
    }

    fn glob(&self, value: Option<&str>) -> bool {
        let Some(value) = value else {
            return false;
        };
        match &self.pattern {
            Pattern::Glob(regex) if self.field.is_path() => {
                let value = value.replace('\\', "/");
                regex.is_match(&value)
                    || (!value.starts_with('/') && regex.is_match(&format!("/{value}")))
            }
            Pattern::Glob(regex) => regex.is_match(value),
            Pattern::Flags { all, globs } => *all || globs.iter().any(|g| g.is_match(value)),
            Pattern::App(_) => false,
        }
    }

    fn positive(&self, target: &Target<'_>) -> bool {
        match (target, &self.field) {
            (Target::Exception(ty, _), Field::ErrorType) => self.glob(*ty),
            (Target::Exception(_, value), Field::ErrorValue) => self.glob(*value),
            (Target::Message(message), Field::Message) => self.glob(Some(message)),
            (Target::LogInfo(logger, _), Field::Logger) => self.glob(*logger),
            (Target::LogInfo(_, level), Field::Level) => self.glob(*level),
            (Target::Tags(tags), Field::Tag(name)) => tags
                .iter()
                .filter(|(key, _)| key == name)
                .any(|(_, value)| self.glob(Some(value))),
            (Target::Frame(frame), Field::StackModule) => self.glob(frame.module.as_deref()),
            (Target::Frame(frame), Field::StackFunction) => self.glob(frame.function.as_deref()),
            (Target::Frame(frame), Field::StackAbsPath) => {
                frame.paths.iter().any(|p| self.glob(Some(p)))
            }
            (Target::Frame(frame), Field::StackPackage) => self.glob(frame.package.as_deref()),
            (Target::Frame(frame), Field::App) => {
                matches!(self.pattern, Pattern::App(flag) if flag == frame.in_app)
            }
            (Target::One(value), Field::Sdk | Field::Family | Field::Release) => self.glob(*value),
            _ => false,
        }
    }
}

impl EventFacts {
    fn of(event: &Value) -> Self {
        let platform = text_of(event, "platform").unwrap_or_default();
        let mut facts = Self {
            family: match platform {
                "javascript" | "node" => "javascript",
                "objc" | "cocoa" | "swift" | "native" | "c" => "native",
                _ => "other",
            },
            logger: text_of(event, "logger").map(str::to_owned),
            level: text_of(event, "level").map(str::to_owned),
            release: text_of(event, "release").map(str::to_owned),
            sdk: event
                .pointer("/sdk/name")
                .and_then(Value::as_str)
                .map(str::to_owned),
            tags: tag_pairs(event),
            ..Self::default()
        };
        if let Some(message) = formatted_message(event) {
            facts.messages.push(message.trim().to_owned());
        }
        let exceptions = event
            .pointer("/exception/values")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut stacks: Vec<&Value> = Vec::new();
        for exception in exceptions {
            facts.exceptions.push((
                text_of(exception, "type").map(str::to_owned),
                text_of(exception, "value").map(str::to_owned),
            ));
            // Messages match exception values too, as users expect.
            if let Some(value) = text_of(exception, "value") {
                facts.messages.push(value.to_owned());
            }
            stacks.extend(exception.get("stacktrace"));
        }
        if let Some(threads) = event.pointer("/threads/values").and_then(Value::as_array) {
            stacks.extend(threads.iter().filter_map(|t| t.get("stacktrace")));
        }
        stacks.extend(event.get("stacktrace"));
        for frame in stacks
            .into_iter()
            .filter_map(|s| s.get("frames").and_then(Value::as_array))
            .flatten()
        {
            let frame_platform = frame_platform(frame, platform);
            facts.frames.push(FrameFacts {
                module: text_of(frame, "module").map(str::to_owned),
                function: text_of(frame, "function").map(str::to_owned),
                paths: ["abs_path", "filename"]
                    .iter()
                    .filter_map(|k| text_of(frame, k).map(str::to_owned))
                    .collect(),
                package: text_of(frame, "package").map(str::to_owned),
                in_app: frame_in_app(frame, frame_platform),
            });
        }
        facts
    }
}

/// Tags as `(key, value)` pairs, from the normalized list or a raw object.
pub(crate) fn tag_pairs(event: &Value) -> Vec<(String, String)> {
    let as_text = |v: &Value| match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    match event.get("tags") {
        Some(Value::Array(pairs)) => pairs
            .iter()
            .filter_map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([key, value]) => Some((key.as_str()?.to_owned(), as_text(value)?)),
                _ => None,
            })
            .collect(),
        Some(Value::Object(map)) => map
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), as_text(v)?)))
            .collect(),
        _ => Vec::new(),
    }
}

/// The formatted log message (what a human reads), for `message:` matchers.
fn formatted_message(event: &Value) -> Option<String> {
    let logentry = event.get("logentry").or_else(|| event.get("message"));
    match logentry {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o
            .get("formatted")
            .or_else(|| o.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
    .filter(|m| !m.trim().is_empty())
}

// ---- Parsing --------------------------------------------------------------------------------

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, prefix: &str) -> bool {
        match self.rest.strip_prefix(prefix) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    /// Takes the longest prefix whose characters satisfy `keep`.
    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let end = self
            .rest
            .char_indices()
            .find(|(_, ch)| !keep(*ch))
            .map_or(self.rest.len(), |(i, _)| i);
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        taken
    }

    /// A `"…"` string with backslash escapes; the cursor is on the opening quote.
    fn quoted(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = self.rest.char_indices().skip(1);
        while let Some((i, ch)) = chars.next() {
            match ch {
                '"' => {
                    self.rest = &self.rest[i + 1..];
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, other)) => out.push(other),
                    None => break,
                },
                other => out.push(other),
            }
        }
        Err("unterminated quoted string".to_owned())
    }
}

fn is_key_char(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-')
}

fn parse_rule(line: &str) -> Result<Rule, String> {
    let mut cursor = Cursor { rest: line };
    let mut matchers = Vec::new();
    loop {
        cursor.skip_spaces();
        if cursor.rest.is_empty() {
            return Err("expected '->' followed by the fingerprint".to_owned());
        }
        if cursor.eat("->") {
            break;
        }
        if cursor.rest.starts_with('[') || cursor.rest.starts_with('|') {
            return Err("caller/callee matchers ('[ … ] |') are not supported".to_owned());
        }
        let negated = cursor.eat("!");
        let key = if cursor.rest.starts_with('"') {
            cursor.quoted()?
        } else {
            cursor.take_while(is_key_char).to_owned()
        };
        if key.is_empty() {
            return Err(format!("expected a matcher at '{}'", cursor.rest));
        }
        let field = Field::parse(&key).ok_or_else(|| format!("unknown matcher '{key}'"))?;
        if !cursor.eat(":") {
            return Err(format!("expected ':' after '{key}'"));
        }
        let argument = if cursor.rest.starts_with('"') {
            cursor.quoted()?
        } else {
            cursor.take_while(|ch| !ch.is_whitespace()).to_owned()
        };
        if argument.is_empty() {
            return Err(format!("'{key}' needs a value"));
        }
        let pattern = compile_pattern(&field, &argument)?;
        matchers.push(Matcher {
            field,
            negated,
            pattern,
        });
    }
    if matchers.is_empty() {
        return Err("a rule needs at least one matcher before '->'".to_owned());
    }
    let mut fingerprint = Vec::new();
    let mut title = None;
    loop {
        cursor.skip_spaces();
        if cursor.rest.is_empty() || cursor.rest.starts_with('#') {
            break;
        }
        if cursor.rest.starts_with('"') {
            fingerprint.push(cursor.quoted()?);
        } else if cursor.rest.starts_with("{{") {
            let end = cursor
                .rest
                .find("}}")
                .ok_or_else(|| "unterminated '{{' variable".to_owned())?;
            let variable = &cursor.rest[..end + 2];
            cursor.rest = &cursor.rest[end + 2..];
            let name = variable_name(variable)
                .ok_or_else(|| format!("malformed variable '{variable}'"))?;
            fingerprint.push(if name == "default" {
                DEFAULT_VARIABLE.to_owned()
            } else {
                variable.to_owned()
            });
        } else if let Some((key, _)) = cursor
            .rest
            .split_once("=\"")
            .filter(|(key, _)| !key.is_empty() && key.chars().all(is_key_char))
        {
            if key != "title" {
                return Err(format!("unknown attribute '{key}'"));
            }
            cursor.rest = &cursor.rest[key.len() + 1..];
            title = Some(cursor.quoted()?);
        } else {
            let token = cursor.take_while(|ch| !ch.is_whitespace() && ch != ',' && ch != '{');
            if token.is_empty() {
                return Err(format!("unexpected '{}'", cursor.rest));
            }
            fingerprint.push(token.to_owned());
        }
        cursor.skip_spaces();
        cursor.eat(",");
    }
    if fingerprint.is_empty() {
        return Err("a rule needs at least one fingerprint value after '->'".to_owned());
    }
    Ok(Rule {
        text: line.to_owned(),
        matchers,
        fingerprint,
        title,
    })
}

fn compile_pattern(field: &Field, argument: &str) -> Result<Pattern, String> {
    match field {
        Field::App => match argument.to_ascii_lowercase().as_str() {
            "yes" | "true" | "1" | "on" => Ok(Pattern::App(true)),
            "no" | "false" | "0" | "off" => Ok(Pattern::App(false)),
            _ => Err(format!("app: takes yes or no, not '{argument}'")),
        },
        Field::Sdk | Field::Family => {
            let flags: Vec<&str> = argument.split(',').map(str::trim).collect();
            let all = flags.contains(&"all");
            let globs = flags
                .iter()
                .filter(|f| !f.is_empty() && **f != "all")
                .map(|f| glob_regex(f, false, true))
                .collect::<Result<_, _>>()?;
            Ok(Pattern::Flags { all, globs })
        }
        _ => Ok(Pattern::Glob(glob_regex(
            argument,
            field.is_path(),
            field.case_insensitive(),
        )?)),
    }
}

/// Translates a glob into an anchored regex. With `path`, `*` and `?` stop at `/`, `**` crosses
/// it and `**/` may match nothing (so `**/cart.py` matches `cart.py`).
pub(crate) fn glob_regex(glob: &str, path: bool, case_insensitive: bool) -> Result<Regex, String> {
    let glob = if path {
        glob.replace('\\', "/")
    } else {
        glob.to_owned()
    };
    let mut out = String::from("^");
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                if path && chars.get(i + 2) == Some(&'/') {
                    out.push_str("(?:.*/)?");
                    i += 3;
                } else {
                    out.push_str(".*");
                    i += 2;
                }
                continue;
            }
            '*' => out.push_str(if path { "[^/]*" } else { ".*" }),
            '?' => out.push_str(if path { "[^/]" } else { "." }),
            '[' => match chars[i + 1..].iter().position(|c| *c == ']') {
                Some(len) if len > 0 => {
                    let class: String = chars[i + 1..i + 1 + len].iter().collect();
                    let (negate, body) = match class.strip_prefix('!') {
                        Some(body) => (true, body.to_owned()),
                        None => (false, class),
                    };
                    out.push('[');
                    if negate {
                        out.push('^');
                    }
                    for ch in body.chars() {
                        if matches!(ch, '\\' | '[' | ']' | '^' | '&' | '~') {
                            out.push('\\');
                        }
                        out.push(ch);
                    }
                    out.push(']');
                    i += len + 2;
                    continue;
                }
                _ => out.push_str(&regex::escape("[")),
            },
            '\\' if !path && i + 1 < chars.len() => {
                out.push_str(&regex::escape(&chars[i + 1].to_string()));
                i += 2;
                continue;
            }
            other => out.push_str(&regex::escape(&other.to_string())),
        }
        i += 1;
    }
    out.push('$');
    RegexBuilder::new(&out)
        .case_insensitive(case_insensitive)
        .dot_matches_new_line(true)
        .build()
        .map_err(|e| format!("bad glob '{glob}': {e}"))
}

// ---- Variables ------------------------------------------------------------------------------

/// The name inside `{{ name }}` (any spacing), or `None` when `entry` is not one variable.
pub(crate) fn variable_name(entry: &str) -> Option<&str> {
    let inner = entry.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    (!inner.is_empty() && !inner.contains(char::is_whitespace) && !inner.contains(['{', '}']))
        .then_some(inner)
}

/// Whether an entry is some spelling of `{{ default }}`.
pub(crate) fn is_default_variable(entry: &str) -> bool {
    variable_name(entry) == Some("default")
}

/// The crash frame: the main exception's most recent in-app frame, else its most recent frame.
fn crash_frame(event: &Value) -> Option<&Value> {
    let platform = text_of(event, "platform").unwrap_or_default();
    let frames = main_exception(event)?
        .pointer("/stacktrace/frames")?
        .as_array()?;
    frames
        .iter()
        .rev()
        .find(|f| {
            matches!(
                classify_frame(f, platform),
                super::frame::FrameClass::Usable { in_app: true, .. }
            )
        })
        .or_else(|| frames.last())
}

/// Whether a variable is resolved for a fingerprint (parameterized values) or for a title (raw).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Fingerprint,
    Title,
}

/// Resolves one variable (not `default`) the way Sentry does, with Sentry's `<no-…>`
/// placeholders when the event lacks the value. For fingerprints, exception values and messages
/// are parameterized so ids in them do not split the issue.
pub(crate) fn resolve_variable(name: &str, event: &Value, purpose: Purpose) -> String {
    let crash = || crash_frame(event);
    let frame_text = |key: &str| crash().and_then(|f| text_of(f, key)).map(str::to_owned);
    let resolved = match name {
        "transaction" => text_of(event, "transaction").map(str::to_owned),
        "message" => {
            let message = super::message_template(event);
            message.map(|m| match purpose {
                Purpose::Fingerprint => normalize_message(&m),
                Purpose::Title => m,
            })
        }
        "error.type" | "type" => main_exception(event)
            .and_then(|e| text_of(e, "type"))
            .map(str::to_owned),
        "error.value" | "value" => {
            main_exception(event)
                .and_then(|e| text_of(e, "value"))
                .map(|v| match purpose {
                    Purpose::Fingerprint => normalize_message(v),
                    Purpose::Title => v.lines().next().unwrap_or_default().trim().to_owned(),
                })
        }
        "function" | "stack.function" => frame_text("function"),
        "module" | "stack.module" => frame_text("module"),
        "path" | "stack.abs_path" => frame_text("abs_path").or_else(|| frame_text("filename")),
        "stack.filename" => frame_text("filename").or_else(|| frame_text("abs_path")),
        "package" | "stack.package" => frame_text("package")
            .map(|p| p.rsplit(['/', '\\']).next().unwrap_or_default().to_owned()),
        "level" => text_of(event, "level").map(str::to_owned),
        "logger" => text_of(event, "logger").map(str::to_owned),
        _ => {
            if let Some(tag) = name.strip_prefix("tags.") {
                return tag_pairs(event)
                    .into_iter()
                    .find(|(key, _)| key == tag)
                    .map(|(_, value)| value)
                    .unwrap_or_else(|| format!("<no-value-for-tag-{tag}>"));
            }
            return format!("<unrecognized-variable-{name}>");
        }
    };
    resolved.unwrap_or_else(|| {
        let placeholder = match name {
            "error.type" | "type" => "type",
            "error.value" | "value" => "value",
            "function" | "stack.function" => "function",
            "module" | "stack.module" => "module",
            "path" | "stack.abs_path" => "abs-path",
            "stack.filename" => "filename",
            "package" | "stack.package" => "package",
            other => other,
        };
        format!("<no-{placeholder}>")
    })
}

/// Expands `{{ … }}` variables inside a rule's title (raw values, as a human reads them).
pub(crate) fn expand_title(template: &str, event: &Value) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let candidate = &rest[start..start + len + 2];
        out.push_str(&rest[..start]);
        match variable_name(candidate) {
            Some(name) if name != "default" => {
                out.push_str(&resolve_variable(name, event, Purpose::Title));
            }
            _ => out.push_str(candidate),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event() -> Value {
        json!({
            "platform": "python",
            "level": "error",
            "logger": "shop.worker",
            "release": "shop-backend@2.14.7",
            "transaction": "POST /checkout",
            "sdk": {"name": "sentry.python", "version": "2.75.0"},
            "tags": [["region", "eu-west-1"], ["tenant", "tenant-19"]],
            "logentry": {"message": "payment %s failed", "formatted": "payment 42 failed"},
            "exception": {"values": [
                {"type": "ConnectionError", "value": "gateway timeout after 30000ms",
                 "stacktrace": {"frames": [
                    {"module": "shopapp.billing", "function": "_talk_to_gateway",
                     "abs_path": "/srv/shop/py/shopapp/billing.py", "filename": "shopapp/billing.py"}]}},
                {"type": "PaymentError", "value": "charge failed for order 743664",
                 "stacktrace": {"frames": [
                    {"module": "__main__", "function": "_wsgi_app", "abs_path": "/srv/shop/py/main.py"},
                    {"module": "requests.api", "function": "post", "package": "/venv/lib/python3.11/site-packages/requests",
                     "abs_path": "/venv/lib/python3.11/site-packages/requests/api.py"},
                    {"module": "shopapp.billing", "function": "charge_card",
                     "abs_path": "/srv/shop/py/shopapp/billing.py"}]}}
            ]}
        })
    }

    /// Parses `rules` and returns the fingerprint of the rule that matches `event`.
    fn check(rules: &str, event: &Value, expected: Option<&[&str]>) {
        let parsed = FingerprintRules::parse(rules).expect("rules parse");
        let got = parsed.first_match(event).map(|r| r.fingerprint.clone());
        let expected = expected.map(|e| e.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(got, expected, "rules: {rules}");
    }

    #[test]
    fn each_matcher_matches_and_misses() {
        let e = event();
        let cases: &[(&str, bool)] = &[
            ("error.type:ConnectionError", true),
            ("error.type:connectionerror", false),
            ("type:PaymentError", true),
            ("error.value:\"gateway timeout*\"", true),
            ("error.value:\"GATEWAY TIMEOUT*\"", true),
            ("error.value:\"nope*\"", false),
            ("message:\"payment * failed\"", true),
            ("message:\"charge failed*\"", true),
            ("message:\"refund*\"", false),
            ("logger:shop.*", true),
            ("logger:Shop.*", false),
            ("level:ERROR", true),
            ("level:warning", false),
            ("tags.region:eu-*", true),
            ("tags.region:us-*", false),
            ("tags.missing:*", false),
            ("stack.module:shopapp.*", true),
            ("stack.module:payments.*", false),
            ("stack.function:charge_*", true),
            ("stack.function:refund", false),
            ("stack.abs_path:**/shopapp/billing.py", true),
            ("stack.abs_path:/srv/*/billing.py", false),
            ("stack.abs_path:/srv/**/billing.py", true),
            ("stack.abs_path:shopapp/billing.py", true),
            ("stack.abs_path:**/SHOPAPP/*.py", true),
            ("stack.package:**/site-packages/*", true),
            ("stack.package:requests", false),
            ("app:yes", true),
            ("sdk:sentry.python", true),
            ("sdk:sentry.javascript.*", false),
            ("sdk:all", true),
            ("family:other", true),
            ("family:javascript,native", false),
            ("release:shop-backend@2.*", true),
            ("release:shop-frontend*", false),
        ];
        for (matcher, expected) in cases {
            check(
                &format!("{matcher} -> hit"),
                &e,
                expected.then_some(&["hit"][..]),
            );
        }
    }

    #[test]
    fn matchers_of_one_group_must_hold_on_the_same_value() {
        let e = event();
        // Type and value of different exceptions: no match.
        check(
            "error.type:PaymentError error.value:\"gateway*\" -> x",
            &e,
            None,
        );
        check(
            "error.type:ConnectionError error.value:\"gateway*\" -> x",
            &e,
            Some(&["x"]),
        );
        // Module and function of different frames: no match.
        check(
            "stack.module:requests.api stack.function:charge_card -> x",
            &e,
            None,
        );
        check("stack.module:requests.api app:no -> x", &e, Some(&["x"]));
        // Different groups combine with AND.
        check("error.type:PaymentError level:error -> x", &e, Some(&["x"]));
        check("error.type:PaymentError level:info -> x", &e, None);
    }

    #[test]
    fn negation_and_first_match_wins() {
        let e = event();
        check("!level:info -> not-info", &e, Some(&["not-info"]));
        check("!error.type:PaymentError -> other", &e, Some(&["other"]));
        check(
            "error.type:KeyError -> first\nerror.type:PaymentError -> second\nlevel:error -> third",
            &e,
            Some(&["second"]),
        );
    }

    #[test]
    fn glob_semantics() {
        let check_glob = |glob: &str, path: bool, value: &str, expected: bool| {
            let regex = glob_regex(glob, path, false).expect("glob compiles");
            assert_eq!(
                regex.is_match(value),
                expected,
                "{glob} vs {value} (path: {path})"
            );
        };
        check_glob("*", false, "a/b\nc", true);
        check_glob("a?c", false, "abc", true);
        check_glob("a?c", false, "ac", false);
        check_glob("[!x]yz", false, "ayz", true);
        check_glob("[!x]yz", false, "xyz", false);
        check_glob("v[0-9].*", false, "v2.1", true);
        check_glob("*.py", true, "cart.py", true);
        check_glob("*.py", true, "shop/cart.py", false);
        check_glob("**/*.py", true, "shop/cart.py", true);
        check_glob("**/*.py", true, "cart.py", true);
        check_glob("/srv/**", true, "/srv/a/b.py", true);
        check_glob("a.b", false, "axb", false);
        check_glob(r"\*", false, "*", true);
        check_glob(r"\*", false, "x", false);
    }

    #[test]
    fn parse_syntax() {
        let rules = FingerprintRules::parse(
            "# a comment\n\n  error.type:\"Foo Bar\" -> \"quoted value\", plain {{default}} title=\"T {{ error.type }}\"  # trailing\n\"stack.module\":m -> a,b",
        )
        .expect("parses");
        assert_eq!(rules.len(), 2);
        let first = &rules.rules[0];
        assert_eq!(
            first.fingerprint,
            ["quoted value", "plain", DEFAULT_VARIABLE]
        );
        assert_eq!(first.title.as_deref(), Some("T {{ error.type }}"));
        assert_eq!(rules.rules[1].fingerprint, ["a", "b"]);
        let glued = FingerprintRules::parse("type:A -> k=v,x{{ default }}").expect("parses");
        assert_eq!(glued.rules[0].fingerprint, ["k=v", "x", DEFAULT_VARIABLE]);
        assert!(FingerprintRules::parse("").expect("empty").is_empty());
    }

    #[test]
    fn parse_errors_name_the_line() {
        let check_error = |text: &str, line: usize, fragment: &str| {
            let error = FingerprintRules::parse(text).expect_err("must fail");
            assert_eq!(error.line, line, "{text}");
            assert!(error.message.contains(fragment), "{error}");
        };
        check_error(
            "error.type:A -> a\nerror.kind:X -> x",
            2,
            "unknown matcher 'error.kind'",
        );
        check_error("error.type:A level", 1, "expected ':' after 'level'");
        check_error("error.type:A", 1, "'->'");
        check_error("-> a", 1, "at least one matcher");
        check_error("error.type:A ->", 1, "at least one fingerprint value");
        check_error(
            "error.type:A -> a color=\"red\"",
            1,
            "unknown attribute 'color'",
        );
        check_error("error.type:A -> a { b", 1, "unexpected '{ b'");
        check_error("error.type:\"A -> a", 1, "unterminated");
        check_error("app:maybe -> a", 1, "yes or no");
        check_error("[ function:a ] | function:b -> x", 1, "not supported");
        check_error("error.type:A -> {{ oops", 1, "unterminated");
    }

    #[test]
    fn variables_resolve_like_sentry() {
        let e = event();
        let check_variable = |name: &str, expected: &str| {
            assert_eq!(
                resolve_variable(name, &e, Purpose::Fingerprint),
                expected,
                "{name}"
            );
        };
        check_variable("error.type", "PaymentError");
        check_variable("error.value", "charge failed for order <int>");
        check_variable("transaction", "POST /checkout");
        check_variable("function", "charge_card");
        check_variable("module", "shopapp.billing");
        check_variable("level", "error");
        check_variable("logger", "shop.worker");
        check_variable("tags.region", "eu-west-1");
        check_variable("tags.nope", "<no-value-for-tag-nope>");
        check_variable("message", "payment %s failed");
        check_variable("bogus", "<unrecognized-variable-bogus>");
        let empty = json!({});
        assert_eq!(
            resolve_variable("error.type", &empty, Purpose::Fingerprint),
            "<no-type>"
        );
        assert_eq!(
            resolve_variable("transaction", &empty, Purpose::Fingerprint),
            "<no-transaction>"
        );
        assert_eq!(
            expand_title("{{ error.type }} in {{function}} ({{ error.value }})", &e),
            "PaymentError in charge_card (charge failed for order 743664)"
        );
    }

    #[test]
    fn variable_spelling_is_tolerant() {
        assert!(is_default_variable("{{ default }}"));
        assert!(is_default_variable("{{default}}"));
        assert!(is_default_variable("  {{   default   }} "));
        assert!(!is_default_variable("{{ default value }}"));
        assert!(!is_default_variable("default"));
        assert_eq!(variable_name("{{tags.region}}"), Some("tags.region"));
    }
}
