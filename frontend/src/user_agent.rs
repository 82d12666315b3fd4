//! A `User-Agent` header in words for the sessions list: "Chrome 156 on Linux", "Firefox 133
//! on Windows", "Safari 17 on iPhone", "curl 8.5". Browsers are told apart by the tokens that
//! only they send (Edge and Opera also claim Chrome and Safari; Chrome also claims Safari);
//! anything else is named by its first product token. Pure, unit-tested on the host.

/// The version after `name/` in `ua`, up to `parts` dot-separated numbers.
fn version_of(ua: &str, name: &str, parts: usize) -> Option<String> {
    let start = ua.find(&format!("{name}/"))? + name.len() + 1;
    let version: String = ua[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    let kept: Vec<&str> = version
        .split('.')
        .filter(|p| !p.is_empty())
        .take(parts)
        .collect();
    (!kept.is_empty()).then(|| kept.join("."))
}

/// The operating system a browser names in its comment, if any.
fn platform(ua: &str) -> Option<&'static str> {
    let systems = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("CrOS", "ChromeOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
        ("X11", "Linux"),
    ];
    systems
        .iter()
        .find(|(token, _)| ua.contains(token))
        .map(|(_, name)| *name)
}

/// A user agent for people; the empty one is "Unknown browser".
pub fn describe(ua: &str) -> String {
    let ua = ua.trim();
    if ua.is_empty() {
        return "Unknown browser".to_owned();
    }
    // (token it sends, name to show); the first match wins, so the pretenders come first.
    let browsers = [
        ("Edg", "Edge"),
        ("OPR", "Opera"),
        ("SamsungBrowser", "Samsung Internet"),
        ("Firefox", "Firefox"),
        ("FxiOS", "Firefox"),
        ("CriOS", "Chrome"),
        ("HeadlessChrome", "Headless Chrome"),
        ("Chromium", "Chromium"),
        ("Chrome", "Chrome"),
    ];
    let found = browsers
        .iter()
        .find_map(|(token, name)| version_of(ua, token, 1).map(|v| format!("{name} {v}")))
        .or_else(|| {
            // Safari says its own version in `Version/`.
            ua.contains("Safari/")
                .then(|| match version_of(ua, "Version", 1) {
                    Some(version) => format!("Safari {version}"),
                    None => "Safari".to_owned(),
                })
        });
    match (found, platform(ua)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser,
        // A tool: its first product token, `name/1.2.3` → `name 1.2`.
        (None, _) => {
            let first = ua.split_whitespace().next().unwrap_or(ua);
            match first.split_once('/') {
                Some((name, _)) if !name.is_empty() => match version_of(first, name, 2) {
                    Some(version) => format!("{name} {version}"),
                    None => name.to_owned(),
                },
                _ => first.chars().take(40).collect(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ua: &str, expect: &str) {
        assert_eq!(describe(ua), expect, "{ua}");
    }

    #[test]
    fn browsers_are_named_with_their_major_version_and_system() {
        check(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.7390.54 Safari/537.36",
            "Chrome 156 on Linux",
        );
        check(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox 133 on Windows",
        );
        check(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            "Safari 17 on macOS",
        );
        check(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari 17 on iPhone",
        );
        check(
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome 131 on Android",
        );
    }

    #[test]
    fn pretenders_are_told_apart_from_chrome() {
        check(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
            "Edge 131 on Windows",
        );
        check(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0",
            "Opera 115 on Linux",
        );
        check(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
            "Headless Chrome 156 on Linux",
        );
        check(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
            "Chrome 131 on iPhone",
        );
    }

    #[test]
    fn tools_are_named_by_their_first_product() {
        check("curl/8.5.0", "curl 8.5");
        check("python-requests/2.32.3", "python-requests 2.32");
        check("Go-http-client/1.1", "Go-http-client 1.1");
        check("sentry-cli", "sentry-cli");
        check("", "Unknown browser");
        check("   ", "Unknown browser");
    }
}
