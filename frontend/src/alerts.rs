//! Alert rules, targets and deliveries in words, and the parsing of the rule and target forms:
//! what the alerts page shows and sends, without the page (host unit tests below). The API
//! decides what is valid; these only turn its values into sentences and form text into lists.
//!
//! The API's answers are read field by field from JSON (`from_json`) rather than through
//! serde's derived visitors: it is the same for the page and costs a fraction of the bundle.

use serde_json::{Value, json};

fn text(value: &Value, key: &str) -> String {
    opt_text(value, key).unwrap_or_default()
}

fn opt_text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn texts(value: &Value, key: &str) -> Vec<String> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn int(value: &Value, key: &str) -> Option<i32> {
    value
        .get(key)
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
}

/// A tag a rule's events must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    /// Tag key.
    pub key: String,
    /// Exact value.
    pub value: String,
}

/// An alert rule as the page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// `alr_…`.
    pub id: String,
    /// Name.
    pub name: String,
    /// `NEW_ISSUE`, `REGRESSION`, `FREQUENCY` or `IGNORED_EXPIRED`.
    pub trigger: String,
    /// `FREQUENCY`: the count to exceed.
    pub frequency_count: Option<i32>,
    /// `FREQUENCY`: the window in minutes.
    pub frequency_minutes: Option<i32>,
    /// Level filter (empty: any).
    pub levels: Vec<String>,
    /// Environment filter.
    pub environments: Vec<String>,
    /// Release filter.
    pub releases: Vec<String>,
    /// Tag filter.
    pub tags: Vec<Tag>,
    /// Minutes between two notifications about one issue.
    pub action_interval_minutes: i32,
    /// Disabled rules never fire.
    pub enabled: bool,
    /// Targets it notifies.
    pub target_ids: Vec<String>,
}

impl Rule {
    /// A rule of the API's answer; what is missing takes the defaults of a new rule
    /// (`NEW_ISSUE`, every hour, enabled), so `null` reads as the new rule's form.
    pub fn from_json(value: &Value) -> Self {
        Self {
            id: text(value, "id"),
            name: text(value, "name"),
            trigger: opt_text(value, "trigger").unwrap_or_else(|| "NEW_ISSUE".to_owned()),
            frequency_count: int(value, "frequencyCount"),
            frequency_minutes: int(value, "frequencyMinutes"),
            levels: texts(value, "levels"),
            environments: texts(value, "environments"),
            releases: texts(value, "releases"),
            tags: value
                .get("tags")
                .and_then(Value::as_array)
                .map(|tags| {
                    tags.iter()
                        .map(|tag| Tag {
                            key: text(tag, "key"),
                            value: text(tag, "value"),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            action_interval_minutes: int(value, "actionIntervalMinutes").unwrap_or(60),
            enabled: value
                .get("enabled")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            target_ids: texts(value, "targetIds"),
        }
    }
}

/// An alert target as the page shows it (admins only).
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// `alt_…`.
    pub id: String,
    /// The project it is pinned to, if any.
    pub project_id: Option<String>,
    /// Name.
    pub name: String,
    /// `EMAIL`, `SLACK`, `DISCORD` or `WEBHOOK`.
    pub kind: String,
    /// Slack, Discord, webhook: where it posts.
    pub url: Option<String>,
    /// Email: recipients.
    pub emails: Vec<String>,
    /// Webhook: the signing secret.
    pub secret: Option<String>,
}

impl Target {
    /// A target of the API's answer; `null` reads as a new webhook target.
    pub fn from_json(value: &Value) -> Self {
        Self {
            id: text(value, "id"),
            project_id: opt_text(value, "projectId"),
            name: text(value, "name"),
            kind: opt_text(value, "kind").unwrap_or_else(|| "WEBHOOK".to_owned()),
            url: opt_text(value, "url"),
            emails: texts(value, "emails"),
            secret: opt_text(value, "secret"),
        }
    }
}

/// One delivery of the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// `ntf_…`.
    pub id: String,
    /// The rule that fired (none for test notifications).
    pub rule_id: Option<String>,
    /// Where it went.
    pub target_id: String,
    /// About which issue.
    pub issue_id: Option<String>,
    /// `new_issue`, `regression`, `frequency`, `ignored_expired` or `test`.
    pub trigger: String,
    /// `PENDING`, `SENDING`, `SENT` or `DEAD`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When the next attempt is due.
    pub next_attempt_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Delivered.
    pub sent_at: Option<String>,
}

impl Delivery {
    /// A delivery of the API's answer.
    pub fn from_json(value: &Value) -> Self {
        Self {
            id: text(value, "id"),
            rule_id: opt_text(value, "ruleId"),
            target_id: text(value, "targetId"),
            issue_id: opt_text(value, "issueId"),
            trigger: text(value, "trigger"),
            status: text(value, "status"),
            attempts: int(value, "attempts").unwrap_or(0),
            last_error: opt_text(value, "lastError"),
            next_attempt_at: opt_text(value, "nextAttemptAt"),
            created_at: text(value, "createdAt"),
            sent_at: opt_text(value, "sentAt"),
        }
    }
}

/// The triggers a rule can have, with their form labels.
pub const TRIGGERS: [(&str, &str); 4] = [
    ("NEW_ISSUE", "A new issue is created"),
    ("REGRESSION", "A resolved issue regresses"),
    (
        "FREQUENCY",
        "An issue is seen more than N times in M minutes",
    ),
    ("IGNORED_EXPIRED", "An ignored issue's condition ran out"),
];

/// Event levels a rule can filter on.
pub const LEVELS: [&str; 5] = ["fatal", "error", "warning", "info", "debug"];

/// Kinds of targets, with their labels.
pub const KINDS: [(&str, &str); 4] = [
    ("EMAIL", "Email"),
    ("SLACK", "Slack"),
    ("DISCORD", "Discord"),
    ("WEBHOOK", "Webhook"),
];

/// A kind's label (`WEBHOOK` → `Webhook`).
pub fn kind_label(kind: &str) -> &str {
    KINDS
        .iter()
        .find(|(value, _)| *value == kind)
        .map_or(kind, |(_, label)| label)
}

/// When a rule fires, as the end of "Notify when …".
pub fn trigger_words(rule: &Rule) -> String {
    match rule.trigger.as_str() {
        "NEW_ISSUE" => "a new issue is created".to_owned(),
        "REGRESSION" => "a resolved issue regresses".to_owned(),
        "FREQUENCY" => {
            let count = rule.frequency_count.unwrap_or(0);
            format!(
                "an issue is seen more than {} in {}",
                plural(i64::from(count), "time", "times"),
                minutes_words(rule.frequency_minutes.unwrap_or(1)),
            )
        }
        "IGNORED_EXPIRED" => "an ignored issue's condition runs out".to_owned(),
        other => other.to_lowercase(),
    }
}

/// A rule's filters in words: `any event`, or each filter with its values.
pub fn filter_words(rule: &Rule) -> String {
    let mut parts = Vec::new();
    let either = |values: &[String]| values.join(" or ");
    if !rule.levels.is_empty() {
        parts.push(format!("level {}", either(&rule.levels)));
    }
    if !rule.environments.is_empty() {
        parts.push(format!("environment {}", either(&rule.environments)));
    }
    if !rule.releases.is_empty() {
        parts.push(format!("release {}", either(&rule.releases)));
    }
    for tag in &rule.tags {
        parts.push(format!("tag {} = {}", tag.key, tag.value));
    }
    if parts.is_empty() {
        "any event".to_owned()
    } else {
        parts.join(" · ")
    }
}

/// The action interval in words: `at most once per issue every hour`.
pub fn interval_words(minutes: i32) -> String {
    format!("at most once per issue every {}", every(minutes))
}

/// `N minutes` in the largest whole unit: `1 minute`, `90 minutes`, `2 hours`, `1 day`.
pub fn minutes_words(minutes: i32) -> String {
    let minutes = i64::from(minutes.max(0));
    if minutes >= 1440 && minutes % 1440 == 0 {
        plural(minutes / 1440, "day", "days")
    } else if minutes >= 60 && minutes % 60 == 0 {
        plural(minutes / 60, "hour", "hours")
    } else {
        plural(minutes, "minute", "minutes")
    }
}

/// `every hour`'s tail: the unit alone for one of it (`hour`), else [`minutes_words`].
fn every(minutes: i32) -> String {
    match minutes {
        1 => "minute".to_owned(),
        60 => "hour".to_owned(),
        1440 => "day".to_owned(),
        10_080 => "week".to_owned(),
        _ => minutes_words(minutes),
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The `AlertRuleInput` of a rule's settings (its id is not part of it).
pub fn rule_input(rule: &Rule) -> Value {
    let frequency = rule.trigger == "FREQUENCY";
    json!({
        "name": rule.name,
        "trigger": rule.trigger,
        "frequencyCount": rule.frequency_count.filter(|_| frequency),
        "frequencyMinutes": rule.frequency_minutes.filter(|_| frequency),
        "levels": rule.levels,
        "environments": rule.environments,
        "releases": rule.releases,
        "tags": rule.tags.iter().map(|t| json!({"key": t.key, "value": t.value})).collect::<Vec<_>>(),
        "actionIntervalMinutes": rule.action_interval_minutes,
        "enabled": rule.enabled,
        "targetIds": rule.target_ids,
    })
}

/// A time `seconds` ahead in words: `in 3 min`; `due now` once it has passed.
pub fn until_words(seconds: f64) -> String {
    let s = seconds as i64;
    match s {
        i64::MIN..=0 => "due now".to_owned(),
        1..=59 => "in under a minute".to_owned(),
        60..=3_599 => format!("in {} min", s / 60),
        3_600..=86_399 => format!("in {} h", s / 3_600),
        _ => format!("in {} d", s / 86_400),
    }
}

/// The items of a list typed in one field: split at commas and line breaks, trimmed, empty
/// ones and repeats dropped, in the order typed.
pub fn split_list(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in text.split([',', '\n']).map(str::trim) {
        if !item.is_empty() && !out.iter().any(|seen| seen == item) {
            out.push(item.to_owned());
        }
    }
    out
}

/// Tags typed as `key=value, key=value`; the first item without `=` (or with an empty key or
/// value) is the error.
pub fn parse_tags(text: &str) -> Result<Vec<Tag>, String> {
    split_list(text)
        .into_iter()
        .map(|item| match item.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() && !value.trim().is_empty() => Ok(Tag {
                key: key.trim().to_owned(),
                value: value.trim().to_owned(),
            }),
            _ => Err(format!("“{item}” is not key=value")),
        })
        .collect()
}

/// Tags as the form shows them (the inverse of [`parse_tags`]).
pub fn tags_text(tags: &[Tag]) -> String {
    tags.iter()
        .map(|t| format!("{}={}", t.key, t.value))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How far a delivery got, in words, and the class of its badge: `pending`, `sending`,
/// `failed` (an attempt failed, another is due), `sent`, `dead` (every attempt failed).
pub fn delivery_state(status: &str, attempts: i32) -> (&'static str, &'static str) {
    match status {
        "SENT" => ("sent", "sent"),
        "DEAD" => ("dead letter", "dead"),
        "SENDING" => ("sending", "pending"),
        "PENDING" if attempts > 0 => ("failed, will retry", "failed"),
        _ => ("pending", "pending"),
    }
}

/// Whether a delivery will not change any more by itself (sent or a dead letter).
pub fn is_settled(status: &str) -> bool {
    matches!(status, "SENT" | "DEAD")
}

/// A delivery's trigger in words (`new_issue` → `New issue`).
pub fn delivery_trigger(trigger: &str) -> &str {
    match trigger {
        "new_issue" => "New issue",
        "regression" => "Regression",
        "frequency" => "Frequency",
        "ignored_expired" => "Ignored issue woke up",
        "test" => "Test notification",
        other => other,
    }
}

/// A test notification's progress for the line under its target.
pub fn test_progress(delivery: &Delivery) -> String {
    let (state, _) = delivery_state(&delivery.status, delivery.attempts);
    let mut text = format!("Test notification: {state}");
    if delivery.attempts > 0 && delivery.status != "SENT" {
        text.push_str(&format!(
            " after {}",
            plural(i64::from(delivery.attempts), "attempt", "attempts")
        ));
    }
    if let Some(error) = delivery
        .last_error
        .as_deref()
        .filter(|_| delivery.status != "SENT")
    {
        text.push_str(&format!(" ({error})"));
    }
    text
}

/// The steps to verify a webhook's signature, mirroring the README.
pub const SIGNATURE_HELP: [&str; 3] = [
    "Every POST carries X-ErrorWatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>.",
    "Compute HMAC-SHA256 with the secret over \"<t>.\" followed by the raw request body, in hex, \
     and compare it with v1 in constant time.",
    "Refuse old timestamps (more than 5 minutes away from now) so a captured request cannot be \
     replayed.",
];

/// The README's verification example.
pub const SIGNATURE_EXAMPLE: &str = "import hashlib, hmac, time

def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    parts = dict(p.split(\"=\", 1) for p in header.split(\",\"))
    t, given = parts[\"t\"], parts[\"v1\"]
    expected = hmac.new(secret.encode(), f\"{t}.\".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given) and abs(time.time() - int(t)) <= tolerance";

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(trigger: &str) -> Rule {
        Rule {
            id: "alr_1".into(),
            name: "r".into(),
            trigger: trigger.into(),
            frequency_count: None,
            frequency_minutes: None,
            levels: vec![],
            environments: vec![],
            releases: vec![],
            tags: vec![],
            action_interval_minutes: 60,
            enabled: true,
            target_ids: vec![],
        }
    }

    #[test]
    fn answers_are_read_with_defaults_for_new_items() {
        let rule = Rule::from_json(&json!({
            "id": "alr_1", "name": "New errors", "trigger": "FREQUENCY", "frequencyCount": 10,
            "frequencyMinutes": 5, "levels": ["error"], "environments": [], "releases": ["1.0"],
            "tags": [{"key": "os", "value": "Linux"}], "actionIntervalMinutes": 30,
            "enabled": false, "targetIds": ["alt_2"],
        }));
        assert_eq!(rule.trigger, "FREQUENCY");
        assert_eq!(
            (rule.frequency_count, rule.frequency_minutes),
            (Some(10), Some(5))
        );
        assert_eq!(rule.tags[0].value, "Linux");
        assert_eq!((rule.action_interval_minutes, rule.enabled), (30, false));
        assert_eq!(rule.target_ids, vec!["alt_2"]);
        let new = Rule::from_json(&Value::Null);
        assert_eq!(
            (
                new.trigger.as_str(),
                new.action_interval_minutes,
                new.enabled
            ),
            ("NEW_ISSUE", 60, true)
        );
        assert!(new.id.is_empty());

        let target = Target::from_json(&json!({"id": "alt_1", "projectId": null, "name": "Hook",
            "kind": "WEBHOOK", "url": "https://x.example/", "emails": [], "secret": "whsec_1"}));
        assert_eq!(target.secret.as_deref(), Some("whsec_1"));
        assert_eq!(target.project_id, None);
        assert_eq!(Target::from_json(&Value::Null).kind, "WEBHOOK");

        let delivery = Delivery::from_json(
            &json!({"id": "ntf_1", "ruleId": null, "targetId": "alt_1",
            "issueId": "iss_3", "trigger": "new_issue", "status": "DEAD", "attempts": 5,
            "lastError": "HTTP 500", "nextAttemptAt": null, "createdAt": "2026-01-01T00:00:00Z", "sentAt": null}),
        );
        assert_eq!((delivery.status.as_str(), delivery.attempts), ("DEAD", 5));
        assert_eq!(delivery.issue_id.as_deref(), Some("iss_3"));
    }

    #[test]
    fn triggers_read_as_sentences() {
        assert_eq!(trigger_words(&rule("NEW_ISSUE")), "a new issue is created");
        assert_eq!(
            trigger_words(&rule("REGRESSION")),
            "a resolved issue regresses"
        );
        assert_eq!(
            trigger_words(&rule("IGNORED_EXPIRED")),
            "an ignored issue's condition runs out"
        );
        let mut frequency = rule("FREQUENCY");
        frequency.frequency_count = Some(10);
        frequency.frequency_minutes = Some(5);
        assert_eq!(
            trigger_words(&frequency),
            "an issue is seen more than 10 times in 5 minutes"
        );
        frequency.frequency_count = Some(1);
        frequency.frequency_minutes = Some(60);
        assert_eq!(
            trigger_words(&frequency),
            "an issue is seen more than 1 time in 1 hour"
        );
    }

    #[test]
    fn filters_list_each_condition() {
        assert_eq!(filter_words(&rule("NEW_ISSUE")), "any event");
        let mut filtered = rule("NEW_ISSUE");
        filtered.levels = vec!["error".into(), "fatal".into()];
        filtered.environments = vec!["production".into()];
        filtered.releases = vec!["shop@1.2".into()];
        filtered.tags = vec![Tag {
            key: "browser".into(),
            value: "Firefox".into(),
        }];
        assert_eq!(
            filter_words(&filtered),
            "level error or fatal · environment production · release shop@1.2 · tag browser = Firefox"
        );
    }

    #[test]
    fn intervals_use_the_largest_whole_unit() {
        assert_eq!(interval_words(60), "at most once per issue every hour");
        assert_eq!(interval_words(1), "at most once per issue every minute");
        assert_eq!(
            interval_words(30),
            "at most once per issue every 30 minutes"
        );
        assert_eq!(interval_words(120), "at most once per issue every 2 hours");
        assert_eq!(
            interval_words(90),
            "at most once per issue every 90 minutes"
        );
        assert_eq!(interval_words(1440), "at most once per issue every day");
        assert_eq!(interval_words(2880), "at most once per issue every 2 days");
        assert_eq!(interval_words(10_080), "at most once per issue every week");
    }

    #[test]
    fn a_rule_becomes_its_api_input() {
        let mut frequency = rule("FREQUENCY");
        frequency.frequency_count = Some(10);
        frequency.frequency_minutes = Some(5);
        frequency.tags = vec![Tag {
            key: "os".into(),
            value: "Linux".into(),
        }];
        frequency.target_ids = vec!["alt_1".into()];
        assert_eq!(
            rule_input(&frequency),
            json!({"name": "r", "trigger": "FREQUENCY", "frequencyCount": 10, "frequencyMinutes": 5,
                   "levels": [], "environments": [], "releases": [], "tags": [{"key": "os", "value": "Linux"}],
                   "actionIntervalMinutes": 60, "enabled": true, "targetIds": ["alt_1"]})
        );
        // Counts typed before switching to another trigger are not sent.
        frequency.trigger = "NEW_ISSUE".into();
        assert_eq!(rule_input(&frequency)["frequencyCount"], Value::Null);
    }

    #[test]
    fn due_times_read_naturally() {
        assert_eq!(until_words(-5.0), "due now");
        assert_eq!(until_words(20.0), "in under a minute");
        assert_eq!(until_words(600.0), "in 10 min");
        assert_eq!(until_words(7_300.0), "in 2 h");
        assert_eq!(until_words(200_000.0), "in 2 d");
    }

    #[test]
    fn lists_split_at_commas_and_lines() {
        assert_eq!(
            split_list(" a@x.example, b@x.example\nc@x.example,,a@x.example \n"),
            vec!["a@x.example", "b@x.example", "c@x.example"]
        );
        assert!(split_list("  ").is_empty());
    }

    #[test]
    fn tags_are_key_value_pairs() {
        let tags = parse_tags("browser=Firefox, os = Linux").expect("tags");
        assert_eq!(tags_text(&tags), "browser=Firefox, os=Linux");
        assert_eq!(parse_tags("").expect("none"), vec![]);
        assert_eq!(
            parse_tags("browser").expect_err("no value"),
            "“browser” is not key=value"
        );
        assert!(parse_tags("=x").is_err());
        assert!(parse_tags("k=").is_err());
        // A value may hold `=` itself.
        assert_eq!(parse_tags("q=a=b").expect("tag")[0].value, "a=b");
    }

    #[test]
    fn deliveries_say_how_far_they_got() {
        assert_eq!(delivery_state("PENDING", 0), ("pending", "pending"));
        assert_eq!(
            delivery_state("PENDING", 2),
            ("failed, will retry", "failed")
        );
        assert_eq!(delivery_state("SENDING", 1), ("sending", "pending"));
        assert_eq!(delivery_state("SENT", 3), ("sent", "sent"));
        assert_eq!(delivery_state("DEAD", 5), ("dead letter", "dead"));
        assert!(is_settled("SENT") && is_settled("DEAD") && !is_settled("PENDING"));
    }

    #[test]
    fn a_test_notification_reports_its_outcome() {
        let mut delivery = Delivery {
            id: "ntf_1".into(),
            rule_id: None,
            target_id: "alt_1".into(),
            issue_id: None,
            trigger: "test".into(),
            status: "PENDING".into(),
            attempts: 0,
            last_error: None,
            next_attempt_at: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            sent_at: None,
        };
        assert_eq!(test_progress(&delivery), "Test notification: pending");
        delivery.attempts = 1;
        delivery.last_error = Some("HTTP 500".into());
        assert_eq!(
            test_progress(&delivery),
            "Test notification: failed, will retry after 1 attempt (HTTP 500)"
        );
        delivery.status = "SENT".into();
        delivery.attempts = 2;
        assert_eq!(test_progress(&delivery), "Test notification: sent");
        delivery.status = "DEAD".into();
        delivery.attempts = 5;
        assert_eq!(
            test_progress(&delivery),
            "Test notification: dead letter after 5 attempts (HTTP 500)"
        );
        assert_eq!(delivery_trigger("test"), "Test notification");
        assert_eq!(kind_label("WEBHOOK"), "Webhook");
    }
}
