//! Releases in words and markup for the release pages: the address of a release's page, the
//! environments a release was deployed to, the list's rows, the release's facts, deploys,
//! environments and issue lists, and its event series as labelled bars. They read the API's
//! answers as JSON (typed copies cost the WASM bundle more than the pages themselves). Pure
//! (times are written by the caller's `when`), so everything here is unit-tested on the host.
//!
//! Invariant: every value from the API goes through `escape` (text and quoted attributes);
//! only literals of this module are pushed unescaped.

use serde_json::Value;

use crate::components::escape;
use crate::event::plural;

/// A text field of an API answer.
fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// A number field of an API answer (0 when absent).
fn number(value: &Value, key: &str) -> i64 {
    value.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// A list field of an API answer (empty when absent).
fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `text` as a URI component (RFC 3986 unreserved characters kept, every other byte as
/// `%XX`), so a version such as `shop@1.2+b5` survives a query string.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The list of a project's releases.
pub fn list_path(account: &str, project: &str) -> String {
    format!("/{account}/releases?project={}", encode_component(project))
}

/// The page of release `version` of `project`.
pub fn release_path(account: &str, project: &str, version: &str) -> String {
    format!(
        "/{account}/releases/view?project={}&version={}",
        encode_component(project),
        encode_component(version)
    )
}

/// The environments a release was deployed to, each once, in the order of its deploys
/// (newest first).
pub fn deployed_environments(deploys: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for environment in deploys.iter().filter_map(|d| text(d, "environment")) {
        if !out.iter().any(|e| e == environment) {
            out.push(environment.to_owned());
        }
    }
    out
}

/// `<a href="href">text</a>`, both escaped.
fn link(out: &mut String, href: &str, text: &str) {
    out.push_str("<a href=\"");
    escape(out, href);
    out.push_str("\">");
    escape(out, text);
    out.push_str("</a>");
}

/// A cell with a time as `when` writes it (its exact value in the title), or a dash.
fn time_cell(out: &mut String, time: Option<&str>, when: &dyn Fn(&str) -> String) {
    match time {
        Some(time) => {
            out.push_str("<td><time title=\"");
            escape(out, time);
            out.push_str("\">");
            escape(out, &when(time));
            out.push_str("</time></td>");
        }
        None => out.push_str("<td class=\"muted\">—</td>"),
    }
}

/// The rows of the release list: version (a link to its page), created, released, latest
/// event, events, new issues and the environments deployed to.
pub fn list_rows_html(
    rows: &[Value],
    account: &str,
    project: &str,
    when: &dyn Fn(&str) -> String,
) -> String {
    let mut out = String::new();
    for row in rows {
        let version = text(row, "version").unwrap_or_default();
        out.push_str("<tr class=\"release-row\"><td class=\"version\">");
        link(&mut out, &release_path(account, project, version), version);
        out.push_str("</td>");
        for key in ["dateCreated", "dateReleased", "lastEvent"] {
            time_cell(&mut out, text(row, key), when);
        }
        out.push_str(&format!(
            "<td class=\"num\">{}</td><td class=\"num\">{}</td><td>",
            number(row, "eventCount"),
            number(row, "newIssueCount")
        ));
        for environment in deployed_environments(list(row, "deploys")) {
            out.push_str("<span class=\"badge\">");
            escape(&mut out, &environment);
            out.push_str("</span>");
        }
        out.push_str("</td></tr>");
    }
    out
}

/// The body of the release list for a page of `releaseList` (`page`): the table with links to
/// the older page (and back to the newest when `after` is set), or what to do when empty.
pub fn list_html(
    page: &Value,
    account: &str,
    project: &str,
    search: &str,
    after: bool,
    when: &dyn Fn(&str) -> String,
) -> String {
    let nodes = list(page, "nodes");
    if nodes.is_empty() {
        return "<p class=\"empty\" id=\"no-releases\">No release here yet. A release appears with the \
            first event naming it (the SDK&#39;s <code>release</code> option) or with \
            <code>sentry-cli releases new</code>.</p>"
            .to_owned();
    }
    let mut out = String::from(
        "<table class=\"issue-table\" id=\"release-list\"><thead><tr><th>Version</th><th>Created</th>\
         <th>Released</th><th>Latest event</th><th class=\"num\">Events</th>\
         <th class=\"num\">New issues</th><th>Deployed to</th></tr></thead><tbody>",
    );
    out.push_str(&list_rows_html(nodes, account, project, when));
    out.push_str("</tbody></table><p class=\"pager\">");
    let mut base = list_path(account, project);
    if !search.is_empty() {
        base.push_str(&format!("&query={}", encode_component(search)));
    }
    if after {
        link(&mut out, &base, "Newest");
        out.push(' ');
    }
    let info = page.get("pageInfo").unwrap_or(&Value::Null);
    if let Some(cursor) = text(info, "endCursor").filter(|_| info["hasNextPage"] == true) {
        link(
            &mut out,
            &format!("{base}&after={}", encode_component(cursor)),
            "Older releases",
        );
    }
    out.push_str("</p>");
    out
}

/// The `<option>`s of the project picker, `selected` chosen.
pub fn options_html(projects: &[crate::api::ProjectSummary], selected: &str) -> String {
    let mut out = String::new();
    for project in projects {
        out.push_str("<option value=\"");
        escape(&mut out, &project.id);
        out.push_str(if project.id == selected {
            "\" selected>"
        } else {
            "\">"
        });
        escape(&mut out, &project.name);
        out.push_str("</option>");
    }
    out
}

/// A release's whole page from `project { name release { … } }` (`found`): the way back to the
/// list, the version as the heading, then [`release_html`].
pub fn release_page_html(
    found: &Value,
    account: &str,
    project: &str,
    when: &dyn Fn(&str) -> String,
) -> String {
    let release = found.get("release").unwrap_or(&Value::Null);
    let mut out = String::from("<p class=\"crumbs\">");
    link(&mut out, &list_path(account, project), "Releases");
    out.push_str(" / ");
    escape(&mut out, text(found, "name").unwrap_or_default());
    out.push_str("</p><h1 id=\"release-version\">");
    escape(&mut out, text(release, "version").unwrap_or_default());
    out.push_str("</h1>");
    out.push_str(&release_html(release, account, when));
    out
}

/// The release's facts as a definition list (times as `when` writes them).
pub fn facts_html(release: &Value, when: &dyn Fn(&str) -> String) -> String {
    let mut out = String::from("<dl class=\"kv release-facts\" id=\"release-facts\">");
    let mut row = |key: &str, value: &str| {
        out.push_str("<div class=\"kv-row\"><dt>");
        escape(&mut out, key);
        out.push_str("</dt><dd>");
        escape(&mut out, value);
        out.push_str("</dd></div>");
    };
    let time = |key: &str| text(release, key).map_or_else(|| "—".to_owned(), when);
    row("Created", &time("dateCreated"));
    if text(release, "dateStarted").is_some() {
        row("Started", &time("dateStarted"));
    }
    row("Released", &time("dateReleased"));
    row("First event", &time("firstEvent"));
    row("Latest event", &time("lastEvent"));
    for (label, key) in [
        ("Events", "eventCount"),
        ("New issues", "newIssueCount"),
        ("Regressions", "regressionCount"),
    ] {
        row(label, &number(release, key).to_string());
    }
    if let Some(url) = text(release, "url") {
        row("Link", url);
    }
    out.push_str("</dl>");
    out
}

/// The deploys, newest first (a sentence when there are none).
pub fn deploys_html(deploys: &[Value], when: &dyn Fn(&str) -> String) -> String {
    if deploys.is_empty() {
        return "<p class=\"muted\" id=\"no-deploys\">Not deployed yet (<code>sentry-cli deploys new</code> records a deploy).</p>"
            .to_owned();
    }
    let mut out = String::from("<ul class=\"deploys\" id=\"deploys\">");
    for deploy in deploys {
        let finished = text(deploy, "dateFinished").unwrap_or_default();
        out.push_str("<li><strong>");
        escape(&mut out, text(deploy, "environment").unwrap_or_default());
        out.push_str("</strong> <time title=\"");
        escape(&mut out, finished);
        out.push_str("\">");
        escape(&mut out, &when(finished));
        out.push_str("</time>");
        if let Some(name) = text(deploy, "name") {
            out.push_str(" · ");
            escape(&mut out, name);
        }
        if let Some(url) = text(deploy, "url").filter(|u| u.starts_with("http")) {
            out.push_str(" · ");
            link(&mut out, url, "link");
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
    out
}

/// The per-environment table (a sentence when no event named an environment).
pub fn environments_html(environments: &[Value], when: &dyn Fn(&str) -> String) -> String {
    if environments.is_empty() {
        return "<p class=\"muted\">No event of this release named an environment.</p>".to_owned();
    }
    let mut out = String::from(
        "<table class=\"issue-table\" id=\"release-environments\"><thead><tr><th>Environment</th>\
         <th>First event</th><th>Latest event</th><th class=\"num\">Events</th>\
         <th class=\"num\">New issues</th></tr></thead><tbody>",
    );
    for environment in environments {
        out.push_str("<tr><td>");
        escape(
            &mut out,
            text(environment, "environment").unwrap_or_default(),
        );
        out.push_str("</td>");
        time_cell(&mut out, text(environment, "firstEvent"), when);
        time_cell(&mut out, text(environment, "lastEvent"), when);
        out.push_str(&format!(
            "<td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            number(environment, "eventCount"),
            number(environment, "newIssueCount")
        ));
    }
    out.push_str("</tbody></table>");
    out
}

/// A list of issues linking to their pages (`empty` when there are none; `shown` of `total`
/// when the list is cut).
pub fn issues_html(issues: &[Value], total: i64, account: &str, empty: &str) -> String {
    if issues.is_empty() {
        let mut out = String::from("<p class=\"muted\">");
        escape(&mut out, empty);
        out.push_str("</p>");
        return out;
    }
    let mut out = String::from("<ul class=\"release-issues\">");
    for issue in issues {
        let level = text(issue, "level").unwrap_or("error");
        out.push_str("<li><span class=\"level level-");
        escape(&mut out, level);
        out.push_str("\">");
        escape(&mut out, level);
        out.push_str("</span>");
        link(
            &mut out,
            &format!(
                "/{account}/issues/{}",
                text(issue, "id").unwrap_or_default()
            ),
            text(issue, "title").unwrap_or_default(),
        );
        out.push_str(" <span class=\"muted small\">");
        escape(
            &mut out,
            &format!(
                "{} · {}",
                plural(number(issue, "count"), "event"),
                text(issue, "status").unwrap_or_default().to_lowercase()
            ),
        );
        out.push_str("</span></li>");
    }
    out.push_str("</ul>");
    let shown = issues.len() as i64;
    if total > shown {
        out.push_str("<p class=\"muted small\">");
        escape(&mut out, &format!("{shown} of {total} shown."));
        out.push_str("</p>");
    }
    out
}

/// The series as bars: `(title, count)` per bucket, titled with the bucket's UTC hour
/// (`2026-12-08 14:00 UTC`) or day (`2026-12-08`).
pub fn series_bars(series: &Value) -> Vec<(String, i64)> {
    let daily = text(series, "interval") == Some("DAY");
    list(series, "buckets")
        .iter()
        .map(|bucket| {
            let time = text(bucket, "time").unwrap_or_default().replace('T', " ");
            let label = if daily {
                time.get(..10).unwrap_or(&time).to_owned()
            } else {
                format!("{} UTC", time.get(..16).unwrap_or(&time))
            };
            let count = number(bucket, "count");
            (format!("{label}: {}", plural(count, "event")), count)
        })
        .collect()
}

/// The heading of the chart: what it covers, by hour or by day.
pub fn series_caption(series: &Value) -> String {
    let buckets = list(series, "buckets");
    let total: i64 = buckets.iter().map(|b| number(b, "count")).sum();
    let (unit, by) = if text(series, "interval") == Some("DAY") {
        ("day", "by day")
    } else {
        ("hour", "by hour")
    };
    format!(
        "{} over {}, {by}",
        plural(total, "event"),
        plural(buckets.len() as i64, unit)
    )
}

/// The bars of the chart as markup (the `bars` of the issue page's chart).
fn bars_html(out: &mut String, bars: &[(String, i64)], label: &str) {
    let max = bars.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1);
    out.push_str("<div class=\"bars\" role=\"img\" id=\"release-chart\" aria-label=\"");
    escape(out, label);
    out.push_str("\">");
    for (title, count) in bars {
        let height = (*count as f64 / max as f64 * 100.0).max(2.0);
        out.push_str(&format!(
            "<span class=\"bar\" style=\"height:{height:.0}%\" title=\""
        ));
        escape(out, title);
        out.push_str("\"></span>");
    }
    out.push_str("</div>");
}

/// A titled section of the release page around `inner`.
fn section(out: &mut String, id: &str, title: &str, note: &str, inner: &str) {
    out.push_str(&format!("<section id=\"{id}\"><h2>"));
    escape(out, title);
    if !note.is_empty() {
        out.push_str(" <span class=\"muted small\">");
        escape(out, note);
        out.push_str("</span>");
    }
    out.push_str("</h2>");
    out.push_str(inner);
    out.push_str("</section>");
}

/// The body of a release's page below its heading: facts, events over time, deploys,
/// environments, new issues and regressions.
pub fn release_html(release: &Value, account: &str, when: &dyn Fn(&str) -> String) -> String {
    let mut out = facts_html(release, when);
    let series = release.get("eventSeries").unwrap_or(&Value::Null);
    let caption = series_caption(series);
    let mut chart = String::new();
    bars_html(&mut chart, &series_bars(series), &caption);
    section(&mut out, "release-events", "Events", &caption, &chart);
    let deploys = deploys_html(list(release, "deploys"), when);
    section(&mut out, "release-deploys", "Deploys", "", &deploys);
    let environments = environments_html(list(release, "environments"), when);
    section(&mut out, "release-envs", "Environments", "", &environments);
    for (id, title, key, count, empty) in [
        (
            "new-issues",
            "New issues",
            "newIssues",
            "newIssueCount",
            "No issue was first seen in this release.",
        ),
        (
            "regressions",
            "Regressions",
            "regressedIssues",
            "regressionCount",
            "No resolved issue came back in this release.",
        ),
    ] {
        let total = number(release, count);
        let issues = issues_html(list(release, key), total, account, empty);
        section(&mut out, id, title, &total.to_string(), &issues);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn when(time: &str) -> String {
        format!("at {time}")
    }

    #[test]
    fn versions_survive_the_address() {
        assert_eq!(encode_component("shop@1.2+b5"), "shop%401.2%2Bb5");
        assert_eq!(encode_component("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(encode_component("v-1_2.3~x"), "v-1_2.3~x");
        assert_eq!(encode_component("é"), "%C3%A9");
        assert_eq!(
            release_path("acc_1", "prj_2", "shop@1.2"),
            "/acc_1/releases/view?project=prj_2&version=shop%401.2"
        );
        assert_eq!(list_path("acc_1", "prj_2"), "/acc_1/releases?project=prj_2");
    }

    #[test]
    fn deployed_environments_are_named_once() {
        let deploys = json!([{"environment": "production"}, {"environment": "staging"}, {"environment": "production"}]);
        assert_eq!(
            deployed_environments(deploys.as_array().expect("a list")),
            ["production", "staging"]
        );
        assert!(deployed_environments(&[]).is_empty());
    }

    #[test]
    fn list_rows_link_versions_and_escape_everything() {
        let row = json!({
            "version": "<b>1\"2", "dateCreated": "2026-12-08T10:00:00Z", "dateReleased": null,
            "lastEvent": "2026-12-08T11:00:00Z", "eventCount": 7, "newIssueCount": 2,
            "deploys": [{"environment": "prod<uction>"}, {"environment": "prod<uction>"}]
        });
        let html = list_rows_html(&[row], "acc_1", "prj_2", &when);
        assert!(
            html.contains("href=\"/acc_1/releases/view?project=prj_2&amp;version=%3Cb%3E1%222\">&lt;b&gt;1&quot;2</a>"),
            "{html}"
        );
        assert!(html.contains(">at 2026-12-08T10:00:00Z</time>"), "{html}");
        assert!(
            html.contains("<td class=\"muted\">—</td>"),
            "not released: {html}"
        );
        assert!(html.contains("<td class=\"num\">7</td><td class=\"num\">2</td>"));
        assert_eq!(html.matches("prod&lt;uction&gt;").count(), 1, "{html}");
        assert!(!html.contains("<b>") && !html.contains("<uction>"));
    }

    #[test]
    fn a_release_page_names_its_facts_deploys_environments_and_issues() {
        let release = json!({
            "version": "shop@1.1", "url": null, "dateCreated": "c", "dateStarted": null,
            "dateReleased": "r", "firstEvent": "f", "lastEvent": null, "eventCount": 3,
            "newIssueCount": 5, "regressionCount": 0,
            "environments": [{"environment": "production", "firstEvent": "f", "lastEvent": "l", "eventCount": 3, "newIssueCount": 1}],
            "deploys": [{"environment": "production", "name": "deploy <7>", "url": "javascript:alert(1)", "dateFinished": "d"}],
            "newIssues": [{"id": "iss_4", "title": "<script>", "level": "error", "status": "UNRESOLVED", "count": 2}],
            "regressedIssues": [],
            "eventSeries": {"interval": "HOUR", "buckets": [{"time": "2026-12-08T13:00:00Z", "count": 0}, {"time": "2026-12-08T14:00:00Z", "count": 2}]}
        });
        let facts = facts_html(&release, &when);
        assert!(facts.contains("<dt>Released</dt><dd>at r</dd>"), "{facts}");
        assert!(facts.contains("<dt>Latest event</dt><dd>—</dd>"), "{facts}");
        assert!(!facts.contains("Started"), "only when given: {facts}");
        let html = release_page_html(
            &json!({"name": "Shop", "release": release}),
            "acc_1",
            "prj_2",
            &when,
        );
        assert!(html.starts_with("<p class=\"crumbs\"><a href=\"/acc_1/releases?project=prj_2\">Releases</a> / Shop</p><h1 id=\"release-version\">shop@1.1</h1>"), "{html}");
        assert!(html.contains("<strong>production</strong>") && html.contains("deploy &lt;7&gt;"));
        assert!(!html.contains("javascript:"), "only web links: {html}");
        assert!(html.contains("<td>production</td>") && html.contains("<td class=\"num\">3</td>"));
        assert!(
            html.contains("<a href=\"/acc_1/issues/iss_4\">&lt;script&gt;</a>"),
            "{html}"
        );
        assert!(
            html.contains("2 events · unresolved") && html.contains("1 of 5 shown."),
            "{html}"
        );
        assert!(
            html.contains("<p class=\"muted\">No resolved issue came back in this release.</p>")
        );
        assert!(
            html.contains("aria-label=\"2 events over 2 hours, by hour\""),
            "{html}"
        );
        assert!(
            html.contains("style=\"height:2%\" title=\"2026-12-08 13:00 UTC: 0 events\""),
            "{html}"
        );
        assert!(
            html.contains("style=\"height:100%\" title=\"2026-12-08 14:00 UTC: 2 events\""),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        assert!(deploys_html(&[], &when).contains("id=\"no-deploys\""));
    }

    #[test]
    fn the_project_picker_marks_the_shown_project() {
        let projects: Vec<crate::api::ProjectSummary> = serde_json::from_value(json!([
            {"id": "prj_1", "name": "Shop", "platform": null},
            {"id": "prj_2", "name": "<Blog>", "platform": null}
        ]))
        .expect("projects");
        assert_eq!(
            options_html(&projects, "prj_2"),
            "<option value=\"prj_1\">Shop</option><option value=\"prj_2\" selected>&lt;Blog&gt;</option>"
        );
    }

    #[test]
    fn the_list_pages_by_links() {
        let page = json!({"pageInfo": {"hasNextPage": true, "endCursor": "12"},
            "nodes": [{"version": "1.0", "dateCreated": "c", "eventCount": 1, "newIssueCount": 0, "deploys": []}]});
        let html = list_html(&page, "acc_1", "prj_2", "1.", true, &when);
        assert!(
            html.contains("<a href=\"/acc_1/releases?project=prj_2&amp;query=1.\">Newest</a>"),
            "{html}"
        );
        assert!(html.contains("<a href=\"/acc_1/releases?project=prj_2&amp;query=1.&amp;after=12\">Older releases</a>"), "{html}");
        let last =
            json!({"pageInfo": {"hasNextPage": false, "endCursor": "12"}, "nodes": page["nodes"]});
        let html = list_html(&last, "acc_1", "prj_2", "", false, &when);
        assert!(
            !html.contains("Older") && !html.contains("Newest"),
            "{html}"
        );
        assert!(
            list_html(&json!({"nodes": []}), "a", "p", "", false, &when)
                .contains("id=\"no-releases\"")
        );
    }

    #[test]
    fn series_read_by_hour_or_by_day() {
        let daily =
            json!({"interval": "DAY", "buckets": [{"time": "2026-12-08T00:00:00Z", "count": 4}]});
        assert_eq!(
            series_bars(&daily),
            [("2026-12-08: 4 events".to_owned(), 4)]
        );
        assert_eq!(series_caption(&daily), "4 events over 1 day, by day");
        assert_eq!(
            series_caption(&Value::Null),
            "0 events over 0 hours, by hour"
        );
    }
}
