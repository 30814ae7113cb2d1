//! The client address: the TCP peer, or, behind a trusted proxy, the right-most
//! `X-Forwarded-For` entry that is not itself a trusted proxy.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

/// The client address of a request, as text (`unknown` when the peer is not known).
pub fn client_address(parts: &Parts, trusted: &[IpNet]) -> String {
    let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
        return "unknown".to_owned();
    };
    resolve(peer.ip(), &parts.headers, trusted).to_string()
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = canonical(ip);
    trusted.iter().any(|net| net.contains(&ip))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client address given the TCP peer and the request headers.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let mut chain = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        for entry in text.split(',') {
            match entry.trim().parse::<IpAddr>() {
                Ok(ip) => chain.push(canonical(ip)),
                // A malformed entry makes the whole header untrustworthy.
                Err(_) => return peer,
            }
        }
    }
    chain
        .iter()
        .rev()
        .find(|ip| !is_trusted(**ip, trusted))
        .or_else(|| chain.first())
        .copied()
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn untrusted_peer_is_the_client() {
        let peer: IpAddr = "10.0.0.9".parse().unwrap();
        assert_eq!(resolve(peer, &headers(&["1.2.3.4"]), &[]), peer);
    }

    #[test]
    fn rightmost_untrusted_entry_behind_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let h = headers(&["6.6.6.6, 1.2.3.4", "10.0.0.2"]);
        assert_eq!(
            resolve(peer, &h, &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        let all_trusted = headers(&["10.1.1.1, 10.2.2.2"]);
        assert_eq!(
            resolve(peer, &all_trusted, &trusted),
            "10.1.1.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            resolve(peer, &headers(&["1.2.3.4, garbage"]), &trusted),
            peer
        );
        assert_eq!(resolve(peer, &HeaderMap::new(), &trusted), peer);
    }
}
