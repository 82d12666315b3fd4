//! Release ordering for release-aware resolution ("resolved in 1.2": an event from 1.1 is not a
//! regression). Releases are free text (`shop@1.2.3+build`, `2026.11.23`, a git sha); versions
//! after the last `@` are compared numerically component by component when both parse, and
//! otherwise releases are only equal or not (unknown order counts as newer).

use std::cmp::Ordering;

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
