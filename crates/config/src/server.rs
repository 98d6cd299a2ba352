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
    /// `[server.tls]`: HTTPS served by the booth itself.
    pub tls: TlsConfig,
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
            tls: TlsConfig::default(),
        }
    }
}

/// Let's Encrypt's production directory, the default ACME server.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory: untrusted certificates, generous rate limits.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// `[server.tls]`: whether the booth serves HTTPS itself, and where its certificate
/// comes from. With TLS on, `server.bind` is the HTTPS address (usually port 443).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    pub mode: TlsMode,
    /// The names the certificate is for. The first is the default public URL.
    pub domains: Vec<String>,
    /// ACME: an e-mail address for expiry notices ("ops@example.org"), or empty.
    pub contact: String,
    /// ACME: the directory URL of the certificate authority.
    pub directory: String,
    /// ACME: a PEM file with the root certificate of a private ACME server (step-ca,
    /// Pebble) that the system does not trust. Empty: the usual web roots.
    pub directory_root: PathBuf,
    /// ACME: how the authority checks that the booth owns the domains.
    pub challenge: Challenge,
    /// ACME: where the account key and certificate are kept between runs. Empty:
    /// `tls` in the data folder.
    pub cache_dir: PathBuf,
    /// Files: the certificate chain (PEM), re-read when it changes.
    pub cert: PathBuf,
    /// Files: the private key (PEM), re-read when it changes.
    pub key: PathBuf,
    /// A plain-HTTP address whose requests are redirected to HTTPS (and which answers
    /// HTTP-01 challenges). Empty: none.
    pub redirect_from: String,
    /// Sent as `Strict-Transport-Security: max-age=...`; 0 sends none.
    pub hsts_max_age_secs: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            mode: TlsMode::Off,
            domains: Vec::new(),
            contact: String::new(),
            directory: LETS_ENCRYPT.to_owned(),
            directory_root: PathBuf::new(),
            challenge: Challenge::TlsAlpn01,
            cache_dir: PathBuf::new(),
            cert: PathBuf::new(),
            key: PathBuf::new(),
            redirect_from: "0.0.0.0:80".to_owned(),
            hsts_max_age_secs: 31_536_000,
        }
    }
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.mode != TlsMode::Off
    }

    /// `redirect_from`, parsed (validated at start-up).
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        let text = self.redirect_from.trim();
        (self.enabled() && !text.is_empty())
            .then(|| text.parse().ok())
            .flatten()
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain HTTP (a LAN booth, or a reverse proxy in front).
    Off,
    /// A certificate from an ACME authority (Let's Encrypt), obtained and renewed by
    /// the booth.
    Acme,
    /// A certificate and key from files (certbot, a company's CA).
    Files,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum Challenge {
    /// Answered on the HTTPS port itself: only port 443 needs to be open.
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
    /// Answered on `redirect_from` (port 80).
    #[serde(rename = "http-01")]
    Http01,
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
