//! `mode = "acme"`: a certificate from an ACME authority (RFC 8555), obtained through
//! a TLS-ALPN-01 challenge answered on the HTTPS port itself (or HTTP-01 on port 80),
//! kept in the cache folder between runs, and renewed before it ends.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context as _};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use rustls::sign::CertifiedKey;

use articket_config::Challenge;

use crate::cert::{self, CertInfo};
use crate::{renewal_time, Certificates};

const ACCOUNT_FILE: &str = "account.json";
const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";
/// The longest an order may take, challenges included.
const ORDER_TIMEOUT: Duration = Duration::from_secs(180);

/// The cached certificate, if it is for the configured domains and not yet due for
/// renewal.
pub fn cached(certs: &Certificates) -> anyhow::Result<Option<(Arc<CertifiedKey>, CertInfo)>> {
    let dir = &certs.0.cache_dir;
    let (Ok(chain), Ok(key)) = (
        std::fs::read(dir.join(CERT_FILE)),
        std::fs::read(dir.join(KEY_FILE)),
    ) else {
        return Ok(None);
    };
    let loaded = match cert::parse(&certs.0.provider, &chain, &key) {
        Ok(loaded) => loaded,
        Err(e) => {
            tracing::warn!(
                "HTTPS: the cached certificate in {} is unusable ({e:#}); getting a new one",
                dir.display()
            );
            return Ok(None);
        }
    };
    let covers = certs
        .0
        .config
        .domains
        .iter()
        .all(|d| loaded.1.names.contains(&d.to_ascii_lowercase()));
    Ok((covers && renewal_time(&loaded.1) > SystemTime::now()).then_some(loaded))
}

/// Renews the served certificate when it is due, for as long as the booth runs. A
/// failed renewal is logged and tried again, sooner as the end comes nearer.
pub async fn renew_forever(certs: &Certificates) {
    loop {
        let Some(info) = certs.served() else {
            tokio::time::sleep(Duration::from_secs(60)).await;
            continue;
        };
        let due = renewal_time(&info);
        if let Ok(wait) = due.duration_since(SystemTime::now()) {
            tokio::time::sleep(wait).await;
        }
        match order(certs).await {
            Ok(fresh) => {
                tracing::info!("HTTPS: renewed the certificate for {}", fresh.1);
                certs.install(fresh);
            }
            Err(e) => {
                let left = info
                    .not_after
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                let retry = (left / 8).clamp(Duration::from_secs(5), Duration::from_secs(3600));
                tracing::error!(
                    "HTTPS: renewing the certificate failed, trying again in {} s \
                     (it ends {}): {e:#}",
                    retry.as_secs(),
                    cert::date(info.not_after)
                );
                tokio::time::sleep(retry).await;
            }
        }
    }
}

/// Orders a certificate for the configured domains and stores it in the cache.
pub async fn order(certs: &Certificates) -> anyhow::Result<(Arc<CertifiedKey>, CertInfo)> {
    let config = &certs.0.config;
    let result = tokio::time::timeout(ORDER_TIMEOUT, order_inner(certs)).await;
    // A challenge left open would answer for a finished order.
    certs
        .0
        .alpn_challenges
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    certs
        .0
        .http_challenges
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    let result = result.unwrap_or_else(|_| {
        Err(anyhow!(
            "no certificate after {} s (server.tls.directory {})",
            ORDER_TIMEOUT.as_secs(),
            config.directory
        ))
    });
    match result {
        Ok(done) => Ok(done),
        Err(e) => Err(explain(certs, e).await),
    }
}

async fn order_inner(certs: &Certificates) -> anyhow::Result<(Arc<CertifiedKey>, CertInfo)> {
    let config = &certs.0.config;
    let account = account(certs).await?;
    let identifiers: Vec<Identifier> = config
        .domains
        .iter()
        .map(|d| Identifier::Dns(d.to_ascii_lowercase()))
        .collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(Problem::from)?;
    let kind = match config.challenge {
        Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
        Challenge::Http01 => ChallengeType::Http01,
    };
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz.map_err(Problem::from)?;
        if authz.status != AuthorizationStatus::Pending {
            continue;
        }
        let domain = authz.identifier().to_string();
        let mut challenge = authz.challenge(kind.clone()).ok_or_else(|| {
            anyhow!(
                "the ACME server offers no {kind:?} challenge for {domain} (server.tls.challenge)"
            )
        })?;
        let key_auth = challenge.key_authorization();
        match kind {
            ChallengeType::TlsAlpn01 => {
                let answer = alpn_certificate(certs, &domain, key_auth.digest().as_ref())?;
                let mut open = certs
                    .0
                    .alpn_challenges
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                open.insert(domain.to_ascii_lowercase(), answer);
            }
            _ => {
                let token = challenge.token.clone();
                let mut open = certs
                    .0
                    .http_challenges
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                open.insert(token, key_auth.as_str().to_owned());
            }
        }
        challenge.set_ready().await.map_err(Problem::from)?;
    }
    let retries = RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .backoff(1.5)
        .timeout(Duration::from_secs(120));
    let status = order.poll_ready(&retries).await.map_err(Problem::from)?;
    if status != OrderStatus::Ready {
        // Why: the first challenge error the authority recorded.
        let mut why = format!("the order ended {status:?}");
        let mut authorizations = order.authorizations();
        while let Some(Ok(authz)) = authorizations.next().await {
            if let Some(e) = authz.challenges.iter().find_map(|c| c.error.as_ref()) {
                why = format!("{} could not be checked: {e}", authz.identifier());
                break;
            }
        }
        return Err(anyhow!(Problem::Challenge(why)));
    }
    let key_pem = order.finalize().await.map_err(Problem::from)?;
    let chain_pem = order
        .poll_certificate(&retries)
        .await
        .map_err(Problem::from)?;
    let fresh = cert::parse(&certs.0.provider, chain_pem.as_bytes(), key_pem.as_bytes())
        .context("the certificate the ACME server issued")?;
    let dir = &certs.0.cache_dir;
    write_private(&dir.join(KEY_FILE), key_pem.as_bytes())?;
    std::fs::write(dir.join(CERT_FILE), chain_pem)
        .with_context(|| format!("cannot write {}", dir.join(CERT_FILE).display()))?;
    Ok(fresh)
}

/// The ACME account: the one in the cache for this directory, or a new one.
async fn account(certs: &Certificates) -> anyhow::Result<Account> {
    let config = &certs.0.config;
    let builder = || -> anyhow::Result<_> {
        if config.directory_root.as_os_str().is_empty() {
            Account::builder().map_err(|e| anyhow!("the ACME client cannot start: {e}"))
        } else {
            Account::builder_with_root(&config.directory_root).map_err(|e| {
                anyhow!(
                    "cannot use {} as the ACME server's root (server.tls.directory_root): {e}",
                    config.directory_root.display()
                )
            })
        }
    };
    let path = certs.0.cache_dir.join(ACCOUNT_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let saved: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if saved["directory"] == config.directory.as_str() {
            if let Ok(credentials) =
                serde_json::from_value::<AccountCredentials>(saved["credentials"].clone())
            {
                return builder()?
                    .from_credentials(credentials)
                    .await
                    .map_err(|e| Problem::from(e).into());
            }
        }
    }
    let contact = config.contact.trim();
    let mail = (!contact.is_empty()).then(|| {
        if contact.starts_with("mailto:") {
            contact.to_owned()
        } else {
            format!("mailto:{contact}")
        }
    });
    let contacts: Vec<&str> = mail.iter().map(String::as_str).collect();
    let (account, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            config.directory.clone(),
            None,
        )
        .await
        .map_err(Problem::from)?;
    let saved = serde_json::json!({ "directory": config.directory, "credentials": credentials });
    write_private(&path, saved.to_string().as_bytes())?;
    tracing::info!("HTTPS: registered an ACME account at {}", config.directory);
    Ok(account)
}

/// The self-signed certificate that answers a TLS-ALPN-01 challenge for `domain`.
fn alpn_certificate(
    certs: &Certificates,
    domain: &str,
    digest: &[u8],
) -> anyhow::Result<Arc<CertifiedKey>> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(vec![domain.to_owned()])?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let cert = params.self_signed(&key)?;
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| anyhow!("challenge key: {e}"))?;
    let signing = certs
        .0
        .provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| anyhow!("challenge key: {e}"))?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signing,
    )))
}

/// Writes a secret readable by the booth's user only.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// What went wrong talking to the authority, kept apart so that [`explain`] can add
/// what to do about it.
#[derive(Debug)]
enum Problem {
    Acme(instant_acme::Error),
    Challenge(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Acme(e) => write!(f, "{e}"),
            Problem::Challenge(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Problem {}

impl From<instant_acme::Error> for Problem {
    fn from(e: instant_acme::Error) -> Problem {
        Problem::Acme(e)
    }
}

/// Adds the usual causes and their cures to an ordering error: rate limits, a domain
/// that does not resolve, a port the authority cannot reach, an unreachable server.
async fn explain(certs: &Certificates, error: anyhow::Error) -> anyhow::Error {
    let config = &certs.0.config;
    let Some(problem) = error.downcast_ref::<Problem>() else {
        return error.context(format!(
            "cannot get a certificate for {}",
            config.domains.join(", ")
        ));
    };
    let text = problem.to_string();
    let hint = match problem {
        Problem::Acme(instant_acme::Error::Api(p))
            if p.r#type
                .as_deref()
                .is_some_and(|t| t.ends_with(":rateLimited")) =>
        {
            format!(
                "the ACME server's rate limit was reached. Let's Encrypt issues at most 5 \
                 certificates a week for the same names: keep {} between runs (the booth \
                 reuses its certificate from there), and test with the staging directory \
                 (server.tls.directory = \"{}\")",
                certs.0.cache_dir.display(),
                articket_config::LETS_ENCRYPT_STAGING
            )
        }
        Problem::Acme(instant_acme::Error::Api(_)) | Problem::Challenge(_) => {
            let mut notes = Vec::new();
            for domain in &config.domains {
                match tokio::net::lookup_host((domain.as_str(), 443)).await {
                    Err(_) => notes.push(format!(
                        "{domain} does not resolve from this machine: add a DNS A (or AAAA) \
                         record for it that points at this machine's public address"
                    )),
                    Ok(addrs) => {
                        let addrs: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
                        notes.push(format!("{domain} resolves to {}", addrs.join(", ")));
                    }
                }
            }
            let port = match config.challenge {
                Challenge::TlsAlpn01 => "port 443 (server.bind; challenge = \"tls-alpn-01\")",
                Challenge::Http01 => "port 80 (server.tls.redirect_from; challenge = \"http-01\")",
            };
            format!(
                "{}. The authority must reach this booth at each domain on {port}: check \
                 the DNS record and that the firewall lets that port in",
                notes.join("; ")
            )
        }
        Problem::Acme(e) => format!(
            "cannot talk to the ACME server at {} (server.tls.directory): {e}",
            config.directory
        ),
    };
    anyhow!(
        "cannot get a certificate for {}: {text}\n  {hint}",
        config.domains.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Let's Encrypt's answer when a name had too many certificates this week.
    #[tokio::test]
    async fn a_rate_limit_says_to_keep_the_cache_and_to_test_on_staging() {
        let dir = tempfile::tempdir().unwrap();
        let config = articket_config::TlsConfig {
            mode: articket_config::TlsMode::Acme,
            domains: vec!["booth.example.org".into()],
            ..Default::default()
        };
        let certs = Certificates::open(&config, dir.path()).unwrap().unwrap();
        let problem: instant_acme::Problem = serde_json::from_value(serde_json::json!({
            "type": "urn:ietf:params:acme:error:rateLimited",
            "detail": "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s",
            "status": 429
        }))
        .unwrap();
        let error = anyhow!(Problem::from(instant_acme::Error::Api(problem)));
        let text = explain(&certs, error).await.to_string();
        assert!(
            text.starts_with("cannot get a certificate for booth.example.org"),
            "{text}"
        );
        assert!(text.contains("too many certificates (5)"), "{text}");
        assert!(
            text.contains(&dir.path().join("tls").display().to_string()),
            "{text}"
        );
        assert!(
            text.contains(articket_config::LETS_ENCRYPT_STAGING),
            "{text}"
        );
    }
}
