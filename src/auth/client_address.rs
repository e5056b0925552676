//! Who is on the other end: the peer's address, or behind a trusted reverse
//! proxy the client's address from `X-Forwarded-For`. A header from anyone
//! else is ignored: any client can write one, so trusting it would let a
//! guesser pick a fresh address for every attempt.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use app::audit::Origin;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::state::AppState;

/// The client's address as far as this server can trust it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        // Without connection info (a router served some other way) the
        // address is unknown; all such requests then share one.
        let peer =
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
        Ok(ClientAddress(client_address(peer, &parts.headers, &state.config.trusted_proxies.0)))
    }
}

/// A user agent longer than this is cut: it is written into audit records.
const MAX_USER_AGENT_CHARS: usize = 512;

/// Puts the request's [`Origin`] (trusted address, user agent, request id)
/// into its extensions, where audit records take it from.
pub async fn attach_origin(ClientAddress(ip): ClientAddress, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let origin = Origin {
        ip: Some(ip.to_string()),
        user_agent: header_text(headers, header::USER_AGENT),
        request_id: header_text(headers, "x-request-id"),
    };
    request.extensions_mut().insert(origin);
    next.run(request).await
}

/// A header's value as text fit for a record: lossy UTF-8, no NUL, bounded.
fn header_text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    let text = String::from_utf8_lossy(headers.get(name)?.as_bytes()).replace('\0', "");
    Some(text.chars().take(MAX_USER_AGENT_CHARS).collect())
}

/// Walks `X-Forwarded-For` from the nearest hop back while each hop is a
/// trusted proxy; the first hop that is not is the client.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// `TRAIL_TRUSTED_PROXIES`: addresses and networks, comma-separated
/// (`127.0.0.1, 10.0.0.0/8, ::1`).
pub fn parse_trusted_proxies(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{item:?} is not an IP address or network"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in forwarded {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let trusted = parse_trusted_proxies("127.0.0.1, 10.0.0.0/8").unwrap();
        let forwarded = headers(&["203.0.113.9"]);
        assert_eq!(client_address(ip("127.0.0.1"), &forwarded, &trusted), ip("203.0.113.9"));
        assert_eq!(client_address(ip("198.51.100.1"), &forwarded, &trusted), ip("198.51.100.1"), "not a proxy");
        assert_eq!(client_address(ip("127.0.0.1"), &forwarded, &[]), ip("127.0.0.1"), "no proxy configured");
    }

    #[test]
    fn hops_are_walked_back_past_trusted_proxies_only() {
        let trusted = parse_trusted_proxies("127.0.0.1,10.0.0.0/8").unwrap();
        // The client wrote a fake first hop; the proxies appended the rest.
        let forwarded = headers(&["1.2.3.4, 203.0.113.9", "10.1.1.1"]);
        assert_eq!(client_address(ip("127.0.0.1"), &forwarded, &trusted), ip("203.0.113.9"));
        let garbage = headers(&["nonsense"]);
        assert_eq!(client_address(ip("127.0.0.1"), &garbage, &trusted), ip("127.0.0.1"));
        assert_eq!(client_address(ip("127.0.0.1"), &headers(&[]), &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(parse_trusted_proxies("").unwrap(), vec![]);
        assert_eq!(parse_trusted_proxies("::1, 192.168.0.0/16").unwrap().len(), 2);
        assert!(parse_trusted_proxies("localhost").is_err());
    }
}
