//! `mode = "files"`: a certificate and key made elsewhere (certbot, a company's CA),
//! read at start and read again whenever either file changes.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;

use crate::cert::{self, CertInfo};
use crate::Certificates;

/// How often the files' modification times are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(2);

pub fn load(
    provider: &CryptoProvider,
    cert_path: &Path,
    key_path: &Path,
) -> anyhow::Result<(Arc<CertifiedKey>, CertInfo)> {
    let read = |path: &Path, key: &str| {
        std::fs::read(path).with_context(|| format!("cannot read {} ({key})", path.display()))
    };
    let chain = read(cert_path, "server.tls.cert")?;
    let key = read(key_path, "server.tls.key")?;
    cert::parse(provider, &chain, &key).with_context(|| {
        format!(
            "{} and {} (server.tls.cert, server.tls.key)",
            cert_path.display(),
            key_path.display()
        )
    })
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reads the files again after either changes. A half-written or broken pair is
/// logged and the served certificate kept; the next change is tried again.
pub async fn watch(certs: &Certificates) {
    let config = &certs.0.config;
    let stamp = || (modified(&config.cert), modified(&config.key));
    let mut seen = stamp();
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        let now = stamp();
        if now == seen {
            continue;
        }
        seen = now;
        match load(&certs.0.provider, &config.cert, &config.key) {
            Ok(loaded) => {
                tracing::info!("HTTPS: read the certificate again: {}", loaded.1);
                certs.install(loaded);
            }
            Err(e) => tracing::warn!("HTTPS: keeping the served certificate: {e:#}"),
        }
    }
}
