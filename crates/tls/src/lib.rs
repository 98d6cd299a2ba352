//! HTTPS for the booth (`[server.tls]`): the certificate it serves, either obtained and
//! renewed from an ACME authority such as Let's Encrypt ([`acme`]), or read from PEM
//! files and read again when they change ([`files`]).
//!
//! [`Certificates`] is the rustls side: its [`server_config`](Certificates::server_config)
//! picks the certificate for each handshake, including the one-off certificates that
//! answer TLS-ALPN-01 challenges. The web server owns the sockets.

mod acme;
mod cert;
mod files;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use articket_config::{TlsConfig, TlsMode};

pub use cert::CertInfo;

/// The ALPN protocol of TLS-ALPN-01 challenges (RFC 8737). A connection that
/// negotiates it is the authority checking us, not a visitor: close it after the
/// handshake.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The booth's certificates. Cheap to clone.
#[derive(Clone)]
pub struct Certificates(Arc<Inner>);

struct Inner {
    config: TlsConfig,
    /// ACME: the account and certificate kept between runs.
    cache_dir: PathBuf,
    provider: Arc<CryptoProvider>,
    served: RwLock<Option<Served>>,
    /// TLS-ALPN-01: domain → the challenge certificate for it.
    alpn_challenges: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    /// HTTP-01: token → key authorization.
    http_challenges: Mutex<HashMap<String, String>>,
}

struct Served {
    key: Arc<CertifiedKey>,
    info: CertInfo,
}

impl Certificates {
    /// Prepares HTTPS as configured; `None` when `[server.tls] mode = "off"`.
    /// Files are read now, so a wrong path or a key that does not match its
    /// certificate stops the start naming the key. ACME takes a certificate from its
    /// cache when one there still covers the domains; otherwise [`obtain`] gets one.
    ///
    /// [`obtain`]: Certificates::obtain
    pub fn open(config: &TlsConfig, data_dir: &Path) -> anyhow::Result<Option<Certificates>> {
        if !config.enabled() {
            return Ok(None);
        }
        let cache_dir = if config.cache_dir.as_os_str().is_empty() {
            data_dir.join("tls")
        } else {
            config.cache_dir.clone()
        };
        let certs = Certificates(Arc::new(Inner {
            config: config.clone(),
            cache_dir,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            served: RwLock::new(None),
            alpn_challenges: Mutex::default(),
            http_challenges: Mutex::default(),
        }));
        match config.mode {
            TlsMode::Off => unreachable!(),
            TlsMode::Files => {
                let loaded = files::load(&certs.0.provider, &config.cert, &config.key)?;
                certs.install(loaded);
            }
            TlsMode::Acme => {
                std::fs::create_dir_all(&certs.0.cache_dir).with_context(|| {
                    format!(
                        "cannot make the certificate cache {} (server.tls.cache_dir)",
                        certs.0.cache_dir.display()
                    )
                })?;
                if let Some(cached) = acme::cached(&certs)? {
                    tracing::info!(
                        "HTTPS: the certificate in {} still serves: {}",
                        certs.0.cache_dir.display(),
                        cached.1
                    );
                    certs.install(cached);
                }
            }
        }
        Ok(Some(certs))
    }

    /// The rustls configuration for the HTTPS listener (HTTP/1.1, which the rooms'
    /// WebSockets need, and the ACME challenge protocol).
    pub fn server_config(&self) -> anyhow::Result<Arc<ServerConfig>> {
        let mut config = ServerConfig::builder_with_provider(self.0.provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.0.clone())));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        if self.0.config.mode == TlsMode::Acme {
            config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
        }
        Ok(Arc::new(config))
    }

    /// The certificate served now.
    pub fn served(&self) -> Option<CertInfo> {
        let served = self.0.served.read().unwrap_or_else(|e| e.into_inner());
        served.as_ref().map(|s| s.info.clone())
    }

    /// The name phones use: the first of `domains`, else the certificate's first name.
    pub fn primary_name(&self) -> Option<String> {
        self.0
            .config
            .domains
            .first()
            .cloned()
            .or_else(|| self.served()?.names.into_iter().next())
    }

    /// ACME: gets a certificate now, unless one is served already. The HTTPS listener
    /// (and, for HTTP-01, the plain one) must be answering. Files: nothing to do.
    pub async fn obtain(&self) -> anyhow::Result<()> {
        if self.0.config.mode != TlsMode::Acme || self.served().is_some() {
            return Ok(());
        }
        let fresh = acme::order(self).await?;
        self.install(fresh);
        Ok(())
    }

    /// Runs for the life of the booth: ACME renews the certificate when a third of its
    /// life (at most 30 days) is left; files are read again when they change.
    pub async fn keep_fresh(self) {
        match self.0.config.mode {
            TlsMode::Off => {}
            TlsMode::Files => files::watch(&self).await,
            TlsMode::Acme => acme::renew_forever(&self).await,
        }
    }

    /// HTTP-01: the answer for `token`, while a challenge is open.
    pub fn http01_answer(&self, token: &str) -> Option<String> {
        let open = self
            .0
            .http_challenges
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        open.get(token).cloned()
    }

    fn install(&self, (key, info): (Arc<CertifiedKey>, CertInfo)) {
        let mut served = self.0.served.write().unwrap_or_else(|e| e.into_inner());
        *served = Some(Served { key, info });
    }
}

/// When a certificate is renewed: once a third of its life is left, but no earlier
/// than 30 days before it ends (Let's Encrypt's 90-day certificates renew after 60).
pub fn renewal_time(info: &CertInfo) -> SystemTime {
    let life = info
        .not_after
        .duration_since(info.not_before)
        .unwrap_or_default();
    let ahead = (life / 3).min(Duration::from_secs(30 * 24 * 3600));
    info.not_after - ahead
}

#[derive(Debug)]
struct Resolver(Arc<Inner>);

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("mode", &self.config.mode)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let challenge = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if challenge {
            let name = hello.server_name()?.to_ascii_lowercase();
            let open = self
                .0
                .alpn_challenges
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            return open.get(&name).cloned();
        }
        let served = self.0.served.read().unwrap_or_else(|e| e.into_inner());
        served.as_ref().map(|s| s.key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_renew_with_a_third_of_their_life_left_but_at_most_30_days_early() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let info = |days: u64| CertInfo {
            names: vec![],
            serial: String::new(),
            issuer: String::new(),
            not_before: start,
            not_after: start + Duration::from_secs(days * 86_400),
        };
        let day = Duration::from_secs(86_400);
        assert_eq!(renewal_time(&info(90)), start + 60 * day);
        assert_eq!(renewal_time(&info(6)), start + 4 * day);
        assert_eq!(renewal_time(&info(365)), start + 335 * day);
    }
}
