//! `[server]`: where the booth listens, its public address, and which proxies it trusts.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub bind: SocketAddr,
    /// The URL phones use to reach the booth, when it sits behind a proxy or tunnel.
    /// Empty means: the machine's LAN address and the bound port.
    pub public_url: String,
    /// Where the database and image files live.
    pub data_dir: PathBuf,
    /// How many CPU-heavy jobs (intake, painting, tickets) run at once. 0 = all cores.
    pub cpu_workers: usize,
    /// Reverse proxies or tunnels in front of the booth, as addresses or networks
    /// ("127.0.0.1", "10.0.0.0/8"). Only requests from these are believed when their
    /// `X-Forwarded-For` or `Forwarded` header names the visitor's address.
    pub trusted_proxies: Vec<String>,
}

impl ServerConfig {
    /// `trusted_proxies`, parsed (validated at start-up, so none is dropped here).
    pub fn trusted_networks(&self) -> Vec<Network> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| Network::parse(p))
            .collect()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([0, 0, 0, 0], 8080)),
            public_url: String::new(),
            data_dir: PathBuf::from("data"),
            cpu_workers: 0,
            trusted_proxies: Vec::new(),
        }
    }
}

/// An address, or a network in CIDR form (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Option<Network> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.parse().ok()?, None),
        };
        let bits = match addr {
            std::net::IpAddr::V4(_) => 32,
            std::net::IpAddr::V6(_) => 128,
        };
        let prefix = prefix.unwrap_or(bits);
        (prefix <= bits).then_some(Network { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::{V4, V6};
        let (a, b, bits) = match (self.addr, ip.to_canonical()) {
            (V4(a), V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
            (V6(a), V6(b)) => (u128::from(a), u128::from(b), 128),
            _ => return false,
        };
        let shift = bits - self.prefix as u32;
        shift >= bits || (a >> shift) == (b >> shift)
    }
}
