//! Release ordering for release-aware resolution ("resolved in 1.2": an event from 1.1 is not a
//! regression). Releases are free text (`shop@1.2.3+build`, `2026.11.23`, a git sha); versions
//! after the last `@` are compared numerically component by component when both parse, and
//! otherwise releases are only equal or not (unknown order counts as newer). [`ReleaseOrder`]
//! adds the order of the project's release rows (by creation) for releases that are not
//! numeric versions (git shas, dates in other shapes).

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

/// The order of a project's releases: numeric versions by [`compare_releases`], others by
/// when their release row was created (the row id breaking ties); a release without a row and
/// not comparable as a version has no known order.
#[derive(Clone, Debug, Default)]
pub struct ReleaseOrder {
    created: HashMap<String, (DateTime<Utc>, i64)>,
}

impl ReleaseOrder {
    /// The order of the given release rows: `(version, date_created, id)`.
    pub fn new(rows: impl IntoIterator<Item = (String, DateTime<Utc>, i64)>) -> Self {
        Self {
            created: rows
                .into_iter()
                .map(|(version, at, id)| (version, (at, id)))
                .collect(),
        }
    }

    /// True when `a` is known to come before `b`.
    pub fn is_older(&self, a: &str, b: &str) -> bool {
        if let Some(order) = compare_releases(a, b) {
            return order == Ordering::Less;
        }
        match (self.created.get(a), self.created.get(b)) {
            (Some(x), Some(y)) => x < y,
            _ => false,
        }
    }
}

fn version_part(release: &str) -> &str {
    release.rsplit('@').next().unwrap_or(release)
}

fn numeric_components(version: &str) -> Option<Vec<u64>> {
    let core = version
        .trim_start_matches(['v', 'V'])
        .split(['+', '-', ' '])
        .next()?;
    let parts: Option<Vec<u64>> = core.split('.').map(|p| p.parse::<u64>().ok()).collect();
    parts.filter(|p| !p.is_empty())
}

/// Checks a version string; the validation error names the field `version`.
pub fn validate_version(version: &str) -> crate::Result<()> {
    let bad = |why: &str| Err(crate::Error::validation("version", why.to_owned()));
    if version.trim().is_empty() {
        return bad("must not be empty");
    }
    if version.chars().count() > 250 {
        return bad("must be at most 250 characters");
    }
    if matches!(version, "." | ".." | "latest" | "undefined") {
        return bad("is reserved (`.`, `..`, `latest` and `undefined` are not release names)");
    }
    if version.contains(['/', '\n', '\r', '\t']) {
        return bad("must not contain `/`, newlines or tabs");
    }
    if version.trim() != version {
        return bad("must not start or end with whitespace");
    }
    Ok(())
}

/// Compares two releases of the same project; `None` when the order cannot be known.
pub fn compare_releases(a: &str, b: &str) -> Option<Ordering> {
    if a == b {
        return Some(Ordering::Equal);
    }
    let prefix = |r: &str| r.rsplit_once('@').map(|(p, _)| p.to_owned());
    if prefix(a) != prefix(b) {
        return None;
    }
    let (x, y) = (
        numeric_components(version_part(a))?,
        numeric_components(version_part(b))?,
    );
    let len = x.len().max(y.len());
    let pad = |v: &[u64]| {
        (0..len)
            .map(|i| v.get(i).copied().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    Some(pad(&x).cmp(&pad(&y)))
}

/// True when `event_release` is older than `resolved_in` (so an event from it is no regression).
pub fn is_older(event_release: &str, resolved_in: &str) -> bool {
    compare_releases(event_release, resolved_in) == Some(Ordering::Less)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_rows_order_what_versions_cannot() {
        let at = |h| {
            DateTime::parse_from_rfc3339(&format!("2026-12-08T{h:02}:00:00Z"))
                .expect("time")
                .with_timezone(&Utc)
        };
        let order = ReleaseOrder::new([
            ("a1b2c3".to_owned(), at(9), 1),
            ("d4e5f6".to_owned(), at(10), 2),
            ("same-time".to_owned(), at(10), 3),
            ("2.0".to_owned(), at(11), 4),
            ("1.5".to_owned(), at(12), 5),
        ]);
        assert!(order.is_older("a1b2c3", "d4e5f6"));
        assert!(!order.is_older("d4e5f6", "a1b2c3"));
        assert!(
            order.is_older("d4e5f6", "same-time"),
            "the row id breaks a tie"
        );
        assert!(
            !order.is_older("a1b2c3", "unknown"),
            "no row: unknown order"
        );
        assert!(
            order.is_older("1.5", "2.0"),
            "versions compare as versions, whatever their rows' order"
        );
    }

    #[test]
    fn orders() {
        assert!(is_older("shop@1.1.0", "shop@1.2"));
        assert!(is_older("1.9", "1.10"));
        assert!(!is_older("shop@1.2", "shop@1.2"));
        assert!(!is_older("shop@1.3", "shop@1.2"));
        assert!(
            !is_older("api@1.0", "shop@1.2"),
            "different packages: unknown order"
        );
        assert!(!is_older("abc123", "def456"), "shas: unknown order");
        assert_eq!(
            compare_releases("v2.0.0+build5", "2.0"),
            Some(Ordering::Equal)
        );
    }
}
