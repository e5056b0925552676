//! Where webhooks and log streams may be sent: public addresses only,
//! unless `TRAIL_WEBHOOK_ALLOW_PRIVATE`. Checked when a destination is
//! created (so a mistyped or internal address is refused at once) and again
//! at every connection, on the address a name resolves to then.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// How long a destination's name may take to resolve when it is created.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Names are checked when resolved ([`Guard`]); an address written in the
/// URL is checked here.
pub(super) fn refuse_private_literal(url: &str, allow_private: bool) -> Result<(), String> {
    let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(ip) if !allow_private && !is_public(ip) => Err(refusal(ip)),
        _ => Ok(()),
    }
}

fn refusal(ip: IpAddr) -> String {
    format!("refused: {ip} is not a public address (loopback, private, link-local, reserved, or one that leads to such an address); TRAIL_WEBHOOK_ALLOW_PRIVATE=1 allows it")
}

/// Whether `ip` is an address on the public internet: not loopback,
/// private, link-local, shared, reserved, unspecified, multicast or
/// broadcast. An IPv6 address that carries an IPv4 one (mapped, compatible,
/// NAT64, 6to4) is judged by the IPv4 address it reaches.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared (carrier-grade NAT)
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || a >= 240) // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = carried_v4(v6) {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x2001 && s[1] == 0) // Teredo: a tunnel to an IPv4 address
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local NAT64: to any IPv4 address
                || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
                || (s[0] == 0x100 && s[1..4] == [0, 0, 0])) // discard
        }
    }
}

/// The IPv4 address an IPv6 one carries: mapped (`::ffff:a.b.c.d`),
/// translated (`::ffff:0:a.b.c.d`), compatible (`::a.b.c.d`), NAT64's
/// well-known prefix (`64:ff9b::/96`) or 6to4 (`2002::/16`).
fn carried_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let v4 = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    match v6.segments() {
        [0, 0, 0, 0, 0, 0xffff, high, low]
        | [0, 0, 0, 0, 0xffff, 0, high, low]
        | [0x64, 0xff9b, 0, 0, 0, 0, high, low] => Some(v4(high, low)),
        // Not `::` or `::1`, which are themselves.
        [0, 0, 0, 0, 0, 0, high, low] if (high, low) > (0, 1) => Some(v4(high, low)),
        [0x2002, high, low, ..] => Some(v4(high, low)),
        _ => None,
    }
}

/// Resolves names for the sender and refuses addresses that are not public
/// (unless allowed): the check is on the address connected to, so a name
/// that resolves to 127.0.0.1 is refused too.
pub(super) struct Guard {
    pub allow_private: bool,
}

impl Resolve for Guard {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let allowed = allowed(found, allow_private)?;
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The addresses a name resolved to that may be connected to; refused when
/// it resolved to some and none of them may be.
fn allowed(found: Vec<SocketAddr>, allow_private: bool) -> Result<Vec<SocketAddr>, String> {
    let first = found.first().copied();
    let allowed: Vec<SocketAddr> = found.into_iter().filter(|addr| allow_private || is_public(addr.ip())).collect();
    match (allowed.is_empty(), first) {
        (true, Some(addr)) => Err(refusal(addr.ip())),
        _ => Ok(allowed),
    }
}

/// The rule applied when an endpoint or log stream is created: the same as
/// at every connection. A name that does not resolve (yet) is accepted; the
/// sender checks it again whenever it connects.
pub struct AddressRule {
    pub allow_private: bool,
}

#[async_trait]
impl app::context::Destinations for AddressRule {
    async fn check(&self, url: &str) -> Result<(), String> {
        refuse_private_literal(url, self.allow_private)?;
        let Ok(url) = url::Url::parse(url) else { return Ok(()) };
        let Some(url::Host::Domain(name)) = url.host().filter(|_| !self.allow_private) else { return Ok(()) };
        let lookup = tokio::net::lookup_host((name.to_owned(), 0));
        let found: Vec<SocketAddr> = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
            Ok(Ok(found)) => found.collect(),
            _ => return Ok(()),
        };
        allowed(found, false).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in
            ["127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.5.4", "169.254.169.254", "0.0.0.0", "100.64.0.1"]
        {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for private in ["::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "::"] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        // IPv6 that reaches a private IPv4 address, and ranges no server is at.
        for private in [
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::10.0.0.1",
            "64:ff9b:1:a00:1:0:5db8:d822",
            "::ffff:0:10.0.0.1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "240.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "2606:2800:220:1::1", "64:ff9b::5db8:d822", "2002:5db8:d822::1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn an_address_in_the_url_is_checked_before_sending() {
        assert!(refuse_private_literal("http://127.0.0.1:9/x", false).unwrap_err().contains("127.0.0.1"));
        assert!(refuse_private_literal("http://[::1]:9/x", false).is_err());
        assert!(refuse_private_literal("http://127.0.0.1:9/x", true).is_ok());
        assert!(refuse_private_literal("https://hooks.example.com/x", false).is_ok(), "names: at resolution");
    }
}
