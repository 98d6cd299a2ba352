//! Which URL to print and put in QR codes: the configured public URL, or else this
//! machine's LAN address, so that a phone on the same Wi-Fi can reach the booth.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::http::HeaderMap;

use articket_config::{Config, Network};

/// How visitors reach the booth: the address phones are sent to, and the proxies in
/// front of it whose forwarded client addresses are believed.
pub struct Reach {
    /// The origin phones reach us at, e.g. `http://192.168.0.12:8080`.
    pub base_url: String,
    /// `[server] trusted_proxies`.
    pub trusted_proxies: Vec<Network>,
}

impl Reach {
    pub fn new(config: &Config, local_addr: SocketAddr) -> Reach {
        Reach {
            base_url: advertised_base_url(config, local_addr),
            trusted_proxies: config.server.trusted_networks(),
        }
    }

    /// Whether the visitor's browser talks to us over HTTPS (ours, or a proxy's that
    /// says so), so cookies are marked `Secure`.
    pub fn https(&self, headers: &HeaderMap) -> bool {
        self.base_url.starts_with("https://")
            || headers
                .get("x-forwarded-proto")
                .is_some_and(|p| p.as_bytes() == b"https")
    }

    /// The visitor's address for a request from `peer` (see [`client_ip`]).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_ip(peer, headers, &self.trusted_proxies)
    }
}

/// The visitor's address for per-address limits. A request from a trusted proxy is
/// believed about the address it forwards for: the right-most address in
/// `X-Forwarded-For` (or `Forwarded: for=`) that is not itself a trusted proxy, since
/// everything left of it was written by the client and can be forged. Anything else
/// is the connection's own address.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Network]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut chain: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        chain.extend(text.split(',').filter_map(parse_forwarded_addr));
    }
    if chain.is_empty() {
        for value in headers.get_all("forwarded") {
            let Ok(text) = value.to_str() else {
                return peer;
            };
            for element in text.split(',') {
                for pair in element.split(';') {
                    if let Some((k, v)) = pair.split_once('=') {
                        if k.trim().eq_ignore_ascii_case("for") {
                            chain.extend(parse_forwarded_addr(v));
                        }
                    }
                }
            }
        }
    }
    chain
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(*ip))
        .unwrap_or(peer)
}

/// One address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `"[2001:db8::1]:80"`.
fn parse_forwarded_addr(text: &str) -> Option<IpAddr> {
    let t = text.trim().trim_matches('"');
    if let Ok(ip) = t.parse() {
        return Some(ip);
    }
    if let Some(rest) = t.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    t.parse::<SocketAddr>().ok().map(|s| s.ip())
}

pub fn advertised_base_url(config: &Config, local_addr: SocketAddr) -> String {
    let public = config.server.public_url.trim().trim_end_matches('/');
    if !public.is_empty() {
        return public.to_owned();
    }
    let tls = &config.server.tls;
    if let (true, Some(domain)) = (tls.enabled(), tls.domains.first()) {
        return https_url(domain, local_addr.port());
    }
    let ip = if local_addr.ip().is_unspecified() {
        lan_ipv4().map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V4)
    } else {
        local_addr.ip()
    };
    match ip {
        IpAddr::V6(v6) => format!("http://[{v6}]:{}", local_addr.port()),
        IpAddr::V4(v4) => format!("http://{v4}:{}", local_addr.port()),
    }
}

/// `https://name`, with the port unless it is 443.
pub fn https_url(name: &str, port: u16) -> String {
    match port {
        443 => format!("https://{name}"),
        port => format!("https://{name}:{port}"),
    }
}

/// The first private IPv4 address of an up interface, preferring 192.168/10/172.16.
fn lan_ipv4() -> Option<Ipv4Addr> {
    let addrs: Vec<Ipv4Addr> = if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .filter(|i| !i.is_loopback())
        .filter_map(|i| match i.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .collect();
    addrs
        .iter()
        .copied()
        .find(|a| a.is_private())
        .or_else(|| addrs.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        h
    }

    #[test]
    fn only_a_trusted_proxy_is_believed_about_the_visitors_address() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let trusted = [
            Network::parse("127.0.0.1").unwrap(),
            Network::parse("10.0.0.0/8").unwrap(),
        ];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let h = forwarded("x-forwarded-for", "203.0.113.7");
        assert_eq!(client_ip(proxy, &h, &trusted), ip("203.0.113.7"));
        // Not from a proxy: the header is the client's own claim.
        assert_eq!(
            client_ip(ip("192.168.1.9"), &h, &trusted),
            ip("192.168.1.9")
        );
        assert_eq!(client_ip(proxy, &h, &[]), proxy);
        // A forged left part is ignored: the right-most untrusted address counts.
        let h = forwarded("x-forwarded-for", "1.1.1.1, 203.0.113.7, 10.1.2.3");
        assert_eq!(client_ip(proxy, &h, &trusted), ip("203.0.113.7"));
        let h = forwarded("forwarded", "for=\"[2001:db8::7]:4711\";proto=https");
        assert_eq!(client_ip(proxy, &h, &trusted), ip("2001:db8::7"));
        let h = forwarded("x-forwarded-for", "garbage");
        assert_eq!(client_ip(proxy, &h, &trusted), proxy);
    }

    #[test]
    fn networks_match_by_prefix() {
        let n = Network::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.200.3.4".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(Network::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Network::parse("::1")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(Network::parse("10.0.0.0/33").is_none());
        assert!(Network::parse("booth.local").is_none());
    }

    #[test]
    fn public_url_wins_and_loses_its_trailing_slash() {
        let mut c = Config::default();
        c.server.public_url = "https://booth.example.org/".into();
        assert_eq!(
            advertised_base_url(&c, "0.0.0.0:8080".parse().unwrap()),
            "https://booth.example.org"
        );
    }

    #[test]
    fn with_tls_the_first_domain_is_the_public_url() {
        let mut c = Config::default();
        c.server.tls.mode = articket_config::TlsMode::Acme;
        c.server.tls.domains = vec!["booth.example.org".into(), "www.booth.example.org".into()];
        assert_eq!(
            advertised_base_url(&c, "0.0.0.0:443".parse().unwrap()),
            "https://booth.example.org"
        );
        assert_eq!(
            advertised_base_url(&c, "0.0.0.0:8443".parse().unwrap()),
            "https://booth.example.org:8443"
        );
    }

    #[test]
    fn a_specific_bind_address_is_used_as_is() {
        let c = Config::default();
        assert_eq!(
            advertised_base_url(&c, "127.0.0.1:4321".parse().unwrap()),
            "http://127.0.0.1:4321"
        );
    }
}
