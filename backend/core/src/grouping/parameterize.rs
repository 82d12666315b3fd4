//! Message parameterization: variable parts of a message (ids, numbers, addresses, dates…)
//! become placeholders such as `<int>`, so the same bug with different data groups together.
//!
//! This reproduces Sentry's `grouping/parameterization.py` (the regex set that Bugsink also
//! vendors): one alternation of named patterns, tried in Sentry's order at each position,
//! leftmost match first. Python's `(?<==)` lookbehind (quoted strings and booleans count only
//! after `=`) is written as a consumed `=` that the replacement puts back, which matches the same
//! texts because no earlier pattern can start a match at that `=` and stop before it.
//!
//! One deliberate difference: Sentry's duration pattern only takes a single digit before `s`
//! ("7956s" became "795<duration>", one issue per duration); here any whole or decimal number does.
//!
//! Invariant: the regex is compiled once per process (`LazyLock`) and the crate's linear-time
//! engine bounds the cost by the text length.

use std::sync::LazyLock;

use regex::{Captures, Regex, RegexBuilder};

const MONTHS: &str = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec";
const DAYS: &str = "Sun|Mon|Tue|Wed|Thu|Fri|Sat";
const ZONE: &str = r"(?:UT|GMT|(?:E|C|M|P)(?:ST|DT)|[A-IK-Z])";
const TLDS: &str = "COM|NET|ORG|JP|DE|UK|FR|BR|IT|RU|ES|ME|GOV|PL|CA|AU|CN|CO|IN|NL|EDU|INFO|EU|CH|\
ID|AT|KR|CZ|MX|BE|TV|SE|TR|TW|AL|UA|IR|VN|CL|SK|LY|CC|TO|NO|FI|US|PT|DK|AR|HU|TK|GR|IL|NEWS|RO|MY|\
BIZ|IE|ZA|NZ|SG|EE|TH|IO|XYZ|PE|BG|HK|RS|LT|LINK|PH|CLUB|SI|SITE|MOBI|BY|CAT|WIKI|LA|GA|XXX|CF|HR|\
NG|JOBS|ONLINE|KZ|UG|GQ|AE|IS|LV|PRO|FM|TIPS|MS|SA|APP";

/// The placeholder names in Sentry's order. `quoted_str` and `bool` only count after `=`.
pub(crate) const PATTERN_NAMES: [&str; 14] = [
    "email",
    "url",
    "hostname",
    "ip",
    "uuid",
    "sha1",
    "md5",
    "date",
    "duration",
    "hex",
    "float",
    "int",
    "quoted_str",
    "bool",
];

/// Names whose match starts with a consumed `=` (Sentry's lookbehind).
const AFTER_EQUALS: [&str; 2] = ["quoted_str", "bool"];

fn ip_pattern() -> String {
    let h = "[0-9a-fA-F]";
    let octet = r"(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])";
    let v4 = format!(r"({octet}\.){{3,3}}{octet}");
    let v6 = [
        format!("({h}{{1,4}}:){{7,7}}{h}{{1,4}}"),
        format!("({h}{{1,4}}:){{1,7}}:"),
        format!("({h}{{1,4}}:){{1,6}}:{h}{{1,4}}"),
        format!("({h}{{1,4}}:){{1,5}}(:{h}{{1,4}}){{1,2}}"),
        format!("({h}{{1,4}}:){{1,4}}(:{h}{{1,4}}){{1,3}}"),
        format!("({h}{{1,4}}:){{1,3}}(:{h}{{1,4}}){{1,4}}"),
        format!("({h}{{1,4}}:){{1,2}}(:{h}{{1,4}}){{1,5}}"),
        format!("{h}{{1,4}}:((:{h}{{1,4}}){{1,6}})"),
        format!(":((:{h}{{1,4}}){{1,7}}|:)"),
        format!("fe80:(:{h}{{0,4}}){{0,4}}%[0-9a-zA-Z]{{1,}}"),
        format!("::(ffff(:0{{1,4}}){{0,1}}:){{0,1}}{v4}"),
        format!(r"({h}{{1,4}}:){{1,4}}:{v4}\b"),
    ]
    .join("|");
    format!(r"({v6})|(\b{v4}\b)")
}

fn date_pattern() -> String {
    [
        // RFC 822, RFC 1123, RFC 1123Z.
        format!(
            r"((?:{DAYS}),\s\d{{1,2}}\s(?:{MONTHS})\s\d{{2,4}}\s\d{{1,2}}:\d{{1,2}}(:\d{{1,2}})?\s([-\+][\d]{{2}}[0-5][\d]|{ZONE}))"
        ),
        // "Mon Jan 02, 1999", "Jan 02, 1999".
        format!(r"(((?:{DAYS})\s)?(?:{MONTHS})\s[0-3]\d,\s\d{{2,4}})"),
        // RFC 850.
        format!(
            r"((?:Sunday|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday),\s\d{{2}}-(?:{MONTHS})-\d{{2}}\s\d{{2}}:\d{{2}}:\d{{2}}\s{ZONE})"
        ),
        // RFC 3339, RFC 3339 with nanoseconds.
        r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?([+-]?\d{2}:\d{2})?)".to_owned(),
        // Date and time.
        r"(\d{4}-?[01]\d-?[0-3]\d\s[0-2]\d:[0-5]\d:[0-5]\d)(\.\d+)?".to_owned(),
        // Kitchen time. Sentry compiles its patterns in verbose mode, which drops the space it
        // wrote before AM/PM, so "3:04PM" matches whole and "3:04 PM" leaves " PM".
        r"(\d{1,2}:\d{2}(:\d{2})?(?:[aApP][Mm])?)".to_owned(),
        // Date.
        r"(\d{4}-[01]\d-[0-3]\d)".to_owned(),
        // Time.
        r"([0-2]\d:[0-5]\d:[0-5]\d)".to_owned(),
        // Older ISO forms.
        r"((\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\d\.\d+([+-][0-2]\d:[0-5]\d|Z))|(\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\d([+-][0-2]\d:[0-5]\d|Z))|(\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d([+-][0-2]\d:[0-5]\d|Z)))".to_owned(),
        // ANSI C / Unix date.
        format!(
            r"(\b(?:({DAYS})\s+)?({MONTHS})\s+([\d]{{1,2}})\s+([\d]{{2}}:[\d]{{2}}:[\d]{{2}})\s+[\d]{{4}})"
        ),
        // RFC 2822.
        format!(
            r"(\b(?:({DAYS}),\s+)?(0[1-9]|[1-2]?[\d]|3[01])\s+({MONTHS})\s+(19[\d]{{2}}|[2-9][\d]{{3}})\s+(2[0-3]|[0-1][\d]):([0-5][\d])(?::(60|[0-5][\d]))?\s+([-\+][\d]{{2}}[0-5][\d]|{ZONE}))"
        ),
        // Python's repr of a datetime.
        r"(datetime.datetime\(.*?\))".to_owned(),
    ]
    .join("|")
}

fn pattern_body(name: &str) -> String {
    match name {
        "email" => r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*".to_owned(),
        "url" => r"\b(wss?|https?|ftp)://[^\s/$.?#].[^\s]*".to_owned(),
        "hostname" => format!(
            r"\b([a-zA-Z0-9\-]{{1,63}}\.)+?(({TLDS})|({}))\b",
            TLDS.to_lowercase()
        ),
        "ip" => ip_pattern(),
        "uuid" => {
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
                .to_owned()
        }
        "sha1" => r"\b[0-9a-fA-F]{40}\b".to_owned(),
        "md5" => r"\b[0-9a-fA-F]{32}\b".to_owned(),
        "date" => date_pattern(),
        // Sentry writes `(\d(\.\d+)?s)\b` (one digit, no leading boundary), which turns "7956s"
        // into "795<duration>" and splits every distinct duration; whole numbers are meant.
        "duration" => r"\b(\d+ms)|\b(\d+(\.\d+)?s)\b".to_owned(),
        "hex" => r"\b0[xX][0-9a-fA-F]+\b".to_owned(),
        "float" => r"-\d+\.\d+\b|\b\d+\.\d+\b".to_owned(),
        "int" => r"-\d+\b|\b\d+\b".to_owned(),
        "quoted_str" => r#"'([^']+)'|"([^"]+)""#.to_owned(),
        "bool" => "True|true|False|false".to_owned(),
        _ => String::new(),
    }
}

fn combined_pattern() -> String {
    PATTERN_NAMES
        .iter()
        .map(|name| {
            let prefix = if AFTER_EQUALS.contains(name) { "=" } else { "" };
            format!("{prefix}(?P<{name}>{})", pattern_body(name))
        })
        .collect::<Vec<_>>()
        .join("|")
}

static PARAMETERIZER: LazyLock<Option<Regex>> = LazyLock::new(|| {
    RegexBuilder::new(&combined_pattern())
        .size_limit(64 << 20)
        .build()
        .ok()
});

/// Replaces every variable part of `text` with its placeholder (`<email>`, `<int>`, …).
///
/// Never fails: if the pattern could not be compiled (a unit test proves it can) the text is
/// returned unchanged.
pub(crate) fn parameterize(text: &str) -> String {
    let Some(regex) = PARAMETERIZER.as_ref() else {
        return text.to_owned();
    };
    regex
        .replace_all(text, |caps: &Captures<'_>| {
            PATTERN_NAMES
                .iter()
                .find(|name| caps.name(name).is_some())
                .map(|name| {
                    let prefix = if AFTER_EQUALS.contains(name) { "=" } else { "" };
                    format!("{prefix}<{name}>")
                })
                .unwrap_or_default()
        })
        .into_owned()
}

/// Python's `str.splitlines` separators.
const LINE_BREAKS: [char; 10] = [
    '\n', '\r', '\u{0b}', '\u{0c}', '\u{1c}', '\u{1d}', '\u{1e}', '\u{85}', '\u{2028}', '\u{2029}',
];

/// Sentry's `normalize_message_for_grouping`: the first two non-empty lines (with `...` appended
/// when anything was cut, trailing newlines included), then [`parameterize`].
pub(crate) fn normalize_message(message: &str) -> String {
    let kept: Vec<&str> = message
        .split(LINE_BREAKS)
        .filter(|line| !line.trim().is_empty())
        .take(2)
        .collect();
    let mut trimmed = kept.join("\n");
    if trimmed != message {
        trimmed.push_str("...");
    }
    parameterize(&trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(parameterize(input), expected, "input: {input:?}");
    }

    #[test]
    fn the_pattern_compiles() {
        assert!(PARAMETERIZER.is_some());
    }

    #[test]
    fn email() {
        check(
            "mail to jane.doe+x@shop.example.org failed",
            "mail to <email> failed",
        );
    }

    #[test]
    fn url() {
        check(
            "GET https://api.shop.io/v1/orders/17?x=1 failed",
            "GET <url> failed",
        );
        check("ws://10.0.0.1:80/socket closed", "<url> closed");
    }

    #[test]
    fn hostname() {
        check(
            "cannot resolve payments.internal.example.com",
            "cannot resolve <hostname>",
        );
        check("cannot resolve SHOP.DE", "cannot resolve <hostname>");
        // Not a common TLD: kept.
        check(
            "talking to payments-5.internal",
            "talking to payments<int>.internal",
        );
    }

    #[test]
    fn ip() {
        check(
            "connect ECONNREFUSED 127.0.0.1:9",
            "connect ECONNREFUSED <ip>:<int>",
        );
        check(
            "from 2001:0db8:85a3:0000:0000:8a2e:0370:7334 denied",
            "from <ip> denied",
        );
        // Alternatives are tried in Sentry's order, not longest first: "2001:db8::" wins.
        check(
            "from 2001:db8::8a2e:370:7334 denied",
            "from <ip>8a2e:<int>:<int> denied",
        );
        check("bound to ::1", "bound to <ip>");
    }

    #[test]
    fn sentry_quirk_double_colons_look_like_ipv6() {
        // Sentry's IPv6 alternative matches a bare "::" (and following hex digits) anywhere.
        check("Error::Io", "Error<ip>Io");
    }

    #[test]
    fn uuid() {
        check(
            "order 3f2b8c1e-9d4a-4c7b-8e21-5a6f7b8c9d0e not found",
            "order <uuid> not found",
        );
    }

    #[test]
    fn sha1_and_md5() {
        check(
            "commit 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12 missing",
            "commit <sha1> missing",
        );
        check(
            "etag 9e107d9d372bb6826bd81d3542a419d6 stale",
            "etag <md5> stale",
        );
    }

    #[test]
    fn dates() {
        check("expired at 2026-11-23T17:31:09.685Z", "expired at <date>");
        check("expired at 2026-11-23 17:31:09", "expired at <date>");
        check("due 2026-11-23", "due <date>");
        check("at 17:31:09", "at <date>");
        check("at 3:04PM", "at <date>");
        check("at 3:04 PM", "at <date> PM");
        check("sent Mon, 02 Jan 2006 15:04 MST", "sent <date>");
        check("since Jan 02, 2006", "since <date>");
        check("since Monday, 02-Jan-06 15:04:05 MST", "since <date>");
        check("at datetime.datetime(2026, 11, 23, 17, 31)", "at <date>");
    }

    #[test]
    fn duration() {
        check(
            "gateway timeout after 30000ms",
            "gateway timeout after <duration>",
        );
        check("took 5s", "took <duration>");
        check("took 1.25s", "took <duration>");
        // Deliberately unlike Sentry, which yields "795<duration>" here.
        check("expired 7956s ago", "expired <duration> ago");
        check("3 sockets", "<int> sockets");
    }

    #[test]
    fn hex() {
        check(
            "can't decode byte 0xe9 in position 3",
            "can't decode byte <hex> in position <int>",
        );
    }

    #[test]
    fn float_and_int() {
        check("ratio 0.25 over -1.5", "ratio <float> over <float>");
        check(
            "user 66947 failed (attempt 9)",
            "user <int> failed (attempt <int>)",
        );
        check("negative balance -196", "negative balance <int>");
        // Digits inside words are not numbers.
        check("sku abc123 and h2o", "sku abc123 and h2o");
    }

    #[test]
    fn quoted_strings_only_after_equals() {
        check("user 42 (role='viewer')", "user <int> (role=<quoted_str>)");
        check(r#"key="discount" missing"#, "key=<quoted_str> missing");
        check("KeyError: 'SPRING32'", "KeyError: 'SPRING32'");
    }

    #[test]
    fn bools_only_after_equals() {
        check("flag=true rejected", "flag=<bool> rejected");
        check("flag is true", "flag is true");
    }

    #[test]
    fn order_decides_overlaps() {
        // An email wins over the hostname inside it; a uuid over the ints inside it.
        check("ops@shop.com", "<email>");
        check("cafebabe-0000-1111-2222-333344445555", "<uuid>");
    }

    #[test]
    fn two_non_empty_lines_are_kept() {
        assert_eq!(normalize_message("one 1"), "one <int>");
        assert_eq!(normalize_message("a\n\nb\nc"), "a\nb...");
        assert_eq!(normalize_message("a\n"), "a...");
        assert_eq!(normalize_message("a\r\nb"), "a\nb...");
    }

    /// Outputs of Sentry's own Python parameterizer for inputs that exercise pattern overlaps.
    const SENTRY_REFERENCE: [(&str, &str); 25] = [
        ("Mon Jan 2 15:04:05 2006", "<date>"),
        ("Mon, 02 Jan 2006 15:04:05 -0700", "<date>"),
        ("2006-01-02T15:04:05+07:00", "<date>"),
        ("at 23:59 on 2024-02-29", "at <date> on <date>"),
        ("fe80::1%eth0", "<ip><int>%eth0"),
        ("::ffff:192.168.1.1", "<ip>.<float>.<int>"),
        (
            "x=True y=False z='q' w=\"r\"",
            "x=<bool> y=<bool> z=<quoted_str> w=<quoted_str>",
        ),
        ("a=1.5e3 -0.5 .5 5.", "a=<int>.5e3 <float> .<int> <int>."),
        ("ftp://files.example.com/a b", "<url> b"),
        ("see www.example.co.uk now", "see <hostname>.uk now"),
        ("deadbeefdeadbeefdeadbeefdeadbeefdeadbeef", "<sha1>"),
        ("DEADBEEF-dead-beef-dead-beefdeadbeef", "<uuid>"),
        ("took 100ms and 2.5s", "took <duration> and <duration>"),
        ("byte 0XFF at -12", "byte <hex> at <int>"),
        ("line1\nline2", "line1\nline2"),
        ("user@localhost", "<email>"),
        ("10.0.0.256", "<float>.<float>"),
        ("1.2.3.4.5", "<ip>.<int>"),
        ("std::vector<int>::at", "st<ip>vector<int><ip>t"),
        ("k=\"\"", "k=\"\""),
        ("k='it''s'", "k=<quoted_str>'s'"),
        (
            "Errno 13 Permission denied: '/tmp/x'",
            "Errno <int> Permission denied: '/tmp/x'",
        ),
        ("id=42&name='bob'", "id=<int>&name=<quoted_str>"),
        (
            "café 42 naïve ٣٤ résumé=true",
            "café <int> naïve <int> résumé=<bool>",
        ),
        ("７７ full-width", "<int> full-width"),
    ];

    #[test]
    fn matches_sentry_reference_outputs() {
        for (input, expected) in SENTRY_REFERENCE {
            check(input, expected);
        }
    }
}
