//! Which URL to print and put in QR codes: the configured public URL, or else this
//! machine's LAN address, so that a phone on the same Wi-Fi can reach the booth.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::config::Config;

pub fn advertised_base_url(config: &Config, local_addr: SocketAddr) -> String {
    let public = config.server.public_url.trim().trim_end_matches('/');
    if !public.is_empty() {
        return public.to_owned();
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
    fn a_specific_bind_address_is_used_as_is() {
        let c = Config::default();
        assert_eq!(
            advertised_base_url(&c, "127.0.0.1:4321".parse().unwrap()),
            "http://127.0.0.1:4321"
        );
    }
}
