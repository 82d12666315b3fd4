//! SSRF protection for outgoing alert requests. A target URL is checked when it is used, not
//! only when it is saved: the client's DNS resolver drops every private address it resolves
//! (so a name that changes its answer between checks still cannot reach one), IP-literal hosts
//! are checked before the request, and redirects and proxies are off, so every connection the
//! client makes goes to an address this module allowed.
//!
//! Refused: unspecified, loopback, private (RFC 1918), shared/CGNAT (100.64/10), link-local
//! (incl. the 169.254.169.254 metadata address), benchmarking, documentation, multicast,
//! broadcast and reserved IPv4; IPv6 loopback, unspecified, unique-local (fc00::/7),
//! link-local (fe80::/10), site-local, multicast, documentation, and IPv4-mapped, -compatible,
//! NAT64 and 6to4 addresses whose embedded IPv4 address is refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is a public address an alert may be sent to.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) embed an IPv4 address.
    if segments[..6] == [0, 0, 0, 0, 0, 0] || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [_, _, _, _, _, _, hi, lo] = segments;
        let v4 = Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
        return !ip.is_unspecified() && !ip.is_loopback() && is_public_v4(v4);
    }
    // 6to4 (2002::/16) embeds one too.
    if segments[0] == 0x2002 {
        let v4 = Ipv4Addr::new(
            (segments[1] >> 8) as u8,
            segments[1] as u8,
            (segments[2] >> 8) as u8,
            segments[2] as u8,
        );
        return is_public_v4(v4);
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00
        || (segments[0] & 0xffc0) == 0xfe80
        || (segments[0] & 0xffc0) == 0xfec0
        || (segments[0] == 0x2001 && segments[1] == 0x0db8)
        || (segments[0] == 0x0100 && segments[1..4] == [0, 0, 0]))
}

/// Checks a target URL before a request: scheme http(s), a host, and, when the host is an IP
/// literal (which bypasses the resolver), a public one unless `allow_private`.
pub fn check_url(raw: &str, allow_private: bool) -> anyhow::Result<url::Url> {
    let url = url::Url::parse(raw).context("not a URL")?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "only http and https URLs are allowed"
    );
    let host = url.host().context("the URL has no host")?;
    let literal = match host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    };
    if let Some(ip) = literal
        && !allow_private
        && !is_public(ip)
    {
        return Err(Refused(format!(
            "{ip} is a private, loopback or reserved address; {ALLOW_HINT}"
        ))
        .into());
    }
    Ok(url)
}

/// How an administrator lets targets reach private addresses.
pub const ALLOW_HINT: &str = "alerts reach such addresses only when the server sets \
    ERRORWATCH_ALERTS_ALLOW_PRIVATE_TARGETS=true (self-hosted mode only)";

/// A target refused for where it leads: no retry can change that, only the target or the
/// server's setting ([`ALLOW_HINT`]).
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused: {}", self.0)
    }
}

impl std::error::Error for Refused {}

/// Checks a target URL when it is saved: the form ([`check_url`]), and that its host does not
/// resolve only to private addresses unless `allow_private`. A name that does not resolve
/// now is accepted (it may tomorrow); delivery checks every address again.
pub async fn check_target(raw: &str, allow_private: bool) -> anyhow::Result<url::Url> {
    let url = check_url(raw, allow_private)?;
    if allow_private {
        return Ok(url);
    }
    // A slow resolver does not hold the form up for long: delivery checks again anyway.
    let lookup = |host: &str| {
        tokio::time::timeout(
            Duration::from_secs(3),
            tokio::net::lookup_host((host.to_owned(), 0)),
        )
    };
    if let Some(url::Host::Domain(host)) = url.host()
        && let Ok(Ok(resolved)) = lookup(host).await
    {
        let resolved: Vec<SocketAddr> = resolved.collect();
        if !resolved.is_empty() && !resolved.iter().any(|addr| is_public(addr.ip())) {
            return Err(Refused(format!(
                "{host} resolves only to private, loopback or reserved addresses; {ALLOW_HINT}"
            ))
            .into());
        }
    }
    Ok(url)
}

/// A resolver that answers only public addresses (all of them, when private ones are allowed).
#[derive(Debug)]
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|addr| allow_private || is_public(addr.ip()))
                .collect();
            if allowed.is_empty() {
                let error: Box<dyn std::error::Error + Send + Sync> = Box::new(Refused(format!(
                    "{host} resolves only to private, loopback or reserved addresses; {ALLOW_HINT}"
                )));
                return Err(error);
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The client alert deliveries use: guarded resolver, no redirects, no proxy, `timeout` for the
/// whole request.
pub fn guarded_client(allow_private: bool, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent("ErrorWatch-Alerts/1")
        .build()
        .context("building the alert HTTP client")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ip: &str, public: bool) {
        let parsed: IpAddr = ip.parse().expect("test address");
        assert_eq!(is_public(parsed), public, "{ip}");
    }

    #[test]
    fn private_and_reserved_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2001:db8::1",
        ] {
            check(ip, false);
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            check(ip, true);
        }
    }

    #[test]
    fn literal_hosts_are_checked_before_the_request() {
        assert!(check_url("http://127.0.0.1:8080/hook", false).is_err());
        assert!(check_url("http://[::1]/hook", false).is_err());
        assert!(check_url("http://127.0.0.1:8080/hook", true).is_ok());
        assert!(check_url("ftp://example.com/", true).is_err());
        assert!(check_url("https://hooks.example.com/x", false).is_ok());
    }

    #[tokio::test]
    async fn targets_leading_to_private_addresses_are_refused_when_saved() {
        for url in [
            "http://127.0.0.1:9/hook",
            "http://localhost:9/hook",
            "http://[::1]/x",
        ] {
            let error = check_target(url, false).await.expect_err(url);
            assert!(error.is::<Refused>(), "{url}: {error:#}");
            assert!(
                format!("{error:#}").contains("ERRORWATCH_ALERTS_ALLOW_PRIVATE_TARGETS"),
                "{error:#}"
            );
            check_target(url, true).await.expect("allowed");
        }
        assert!(check_target("ftp://example.com/x", true).await.is_err());
        // A name that does not resolve (today) is not refused for it.
        check_target("https://errorwatch-unresolvable.invalid/hook", false)
            .await
            .expect("accepted");
    }
}
