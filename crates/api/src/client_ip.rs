//! The address a request comes from: the connection's peer, or, when that
//! peer is one of the `trusted_proxies`, the first address in
//! `X-Forwarded-For` (read from the right) that is not a trusted proxy.
//! Hops left of the first untrusted one were written by the client itself
//! and are never believed.

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// Most `X-Forwarded-For` hops read.
pub const FORWARDED_HOPS_MAX: usize = 32;

/// Parses a `trusted_proxies` entry: a CIDR block (`10.0.0.0/8`) or one
/// address (`127.0.0.1`, `::1`).
pub fn parse_trusted_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("trusted_proxies: {text:?} is neither an address nor a CIDR block"))
}

/// Where the request of `parts` comes from, when the server knows its
/// connections.
pub fn client_ip(parts: &Parts, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| canonical(addr.ip()))?;
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let mut nearest_proxy = peer;
    let hops: Vec<IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .take(FORWARDED_HOPS_MAX)
        .map_while(|hop| hop.parse::<IpAddr>().ok().map(canonical))
        .collect();
    for hop in hops {
        if !trusted(&hop) {
            return Some(hop);
        }
        nearest_proxy = hop;
    }
    // Every hop is a trusted proxy: the farthest one is all we know.
    Some(nearest_proxy)
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(peer: &str, forwarded: &[&str]) -> Parts {
        let mut request = Request::builder();
        for value in forwarded {
            request = request.header("x-forwarded-for", *value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(ConnectInfo(SocketAddr::new(peer.parse().unwrap(), 4000)));
        parts
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|t| parse_trusted_proxy(t).unwrap())
            .collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let p = parts("203.0.113.9", &["1.2.3.4"]);
        assert_eq!(
            client_ip(&p, &nets(&["10.0.0.0/8"])),
            "203.0.113.9".parse().ok()
        );
        assert_eq!(client_ip(&p, &[]), "203.0.113.9".parse().ok());
    }

    #[test]
    fn behind_trusted_proxies_the_first_untrusted_hop_from_the_right_wins() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1"]);
        let p = parts("127.0.0.1", &["6.6.6.6, 198.51.100.7, 10.1.1.1"]);
        assert_eq!(client_ip(&p, &trusted), "198.51.100.7".parse().ok());
        let p = parts("127.0.0.1", &["6.6.6.6", "198.51.100.7"]);
        assert_eq!(client_ip(&p, &trusted), "198.51.100.7".parse().ok());
        let p = parts("127.0.0.1", &["10.2.2.2"]);
        assert_eq!(client_ip(&p, &trusted), "10.2.2.2".parse().ok());
        let p = parts("127.0.0.1", &["garbage, 10.2.2.2"]);
        assert_eq!(client_ip(&p, &trusted), "10.2.2.2".parse().ok());
    }

    #[test]
    fn trusted_proxy_entries_parse() {
        assert!(parse_trusted_proxy("::1").is_ok());
        assert!(parse_trusted_proxy("fd00::/8").is_ok());
        assert!(parse_trusted_proxy("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxy("proxy.local").is_err());
    }
}
