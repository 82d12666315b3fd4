//! CSP violation reports (the legacy `report-uri` body and the Reporting API's `csp-violation`
//! reports) turned into events, titled like Sentry's: `Blocked 'script' from 'evil.example'`.
//! Pure.

use serde_json::{Map, Value, json};

/// Largest accepted report body (Bugsink's limit).
pub const MAX_CSP_REPORT_BYTES: usize = 64 * 1024;

/// Why a report was refused.
#[derive(Debug, thiserror::Error)]
pub enum SecurityReportError {
    /// Not JSON, or no report inside.
    #[error("not a CSP report: {0}")]
    Invalid(String),
}

fn text(report: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| report.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(1024).collect())
}

/// The host of a blocked URI, or the CSP keyword (`inline`, `eval`, `self`).
fn blocked_target(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(parsed) if parsed.host_str().is_some() => parsed.host_str().unwrap_or(uri).to_owned(),
        _ => uri.trim_matches('\'').to_owned(),
    }
}

/// Converts one report body into events (the Reporting API may batch several).
pub fn csp_reports_to_events(
    body: &[u8],
    user_agent: Option<&str>,
) -> Result<Vec<Value>, SecurityReportError> {
    let parsed: Value =
        serde_json::from_slice(body).map_err(|e| SecurityReportError::Invalid(e.to_string()))?;
    let reports: Vec<Map<String, Value>> = match parsed {
        Value::Object(mut outer) => match outer.remove("csp-report") {
            Some(Value::Object(report)) => vec![report],
            _ => {
                return Err(SecurityReportError::Invalid(
                    "no csp-report object".to_owned(),
                ));
            }
        },
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::Object(mut o)
                    if o.get("type").and_then(Value::as_str) == Some("csp-violation") =>
                {
                    match o.remove("body") {
                        Some(Value::Object(body)) => Some(body),
                        _ => None,
                    }
                }
                _ => None,
            })
            .collect(),
        _ => {
            return Err(SecurityReportError::Invalid(
                "expected an object or a list of reports".to_owned(),
            ));
        }
    };
    if reports.is_empty() {
        return Err(SecurityReportError::Invalid(
            "no csp-violation report in the list".to_owned(),
        ));
    }
    Ok(reports
        .iter()
        .map(|report| {
            let directive = text(
                report,
                &[
                    "effective-directive",
                    "effectiveDirective",
                    "violated-directive",
                    "violatedDirective",
                ],
            )
            .map(|d| d.split_whitespace().next().unwrap_or_default().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
            let blocked = text(report, &["blocked-uri", "blockedURL", "blockedUri"])
                .unwrap_or_else(|| "self".to_owned());
            let document = text(report, &["document-uri", "documentURL", "documentUri"]);
            let short_directive = directive
                .trim_end_matches("-src-elem")
                .trim_end_matches("-src-attr")
                .trim_end_matches("-src");
            let title = format!(
                "Blocked '{short_directive}' from '{}'",
                blocked_target(&blocked)
            );
            let mut headers = Map::new();
            if let Some(agent) = user_agent {
                headers.insert("User-Agent".to_owned(), json!(agent));
            }
            json!({
                "platform": "javascript",
                "level": "error",
                "logentry": { "formatted": title },
                "culprit": directive,
                "csp": Value::Object(report.clone()),
                "request": { "url": document, "headers": headers },
                "tags": { "effective-directive": directive, "blocked-uri": blocked },
                "fingerprint": ["csp", directive, blocked_target(&blocked)],
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_report_uri_body() {
        let body = br#"{"csp-report":{"document-uri":"https://shop.example/cart","violated-directive":"script-src-elem","effective-directive":"script-src-elem","blocked-uri":"https://evil.example/x.js","original-policy":"script-src 'self'"}}"#;
        let events = csp_reports_to_events(body, Some("Firefox")).expect("parses");
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0]["logentry"]["formatted"],
            "Blocked 'script' from 'evil.example'"
        );
        assert_eq!(events[0]["request"]["url"], "https://shop.example/cart");
    }

    #[test]
    fn reporting_api_batches_and_inline_keywords() {
        let body = br#"[{"type":"csp-violation","body":{"documentURL":"https://a.example/","effectiveDirective":"style-src","blockedURL":"inline"}},{"type":"deprecation","body":{}}]"#;
        let events = csp_reports_to_events(body, None).expect("parses");
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0]["logentry"]["formatted"],
            "Blocked 'style' from 'inline'"
        );
    }

    #[test]
    fn garbage_is_refused() {
        for body in [&b"nope"[..], b"{}", b"[]", b"42"] {
            assert!(
                csp_reports_to_events(body, None).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
