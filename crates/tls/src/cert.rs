//! A PEM certificate chain and key, as rustls serves them and as people read them.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context as _};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// What a certificate says, for logs, renewal and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Its DNS names (subject alternative names).
    pub names: Vec<String>,
    /// Its serial number, in hex.
    pub serial: String,
    /// Who signed it.
    pub issuer: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

/// `booth.example.org (serial 1a2b…, valid until 2027-03-01 12:00 UTC)`, for logs.
impl std::fmt::Display for CertInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (serial {}, valid until {})",
            self.names.join(", "),
            self.serial,
            date(self.not_after)
        )
    }
}

/// Parses a chain (leaf first) and its private key, and checks that they belong
/// together. The errors say which part is wrong; callers add the file or key name.
pub fn parse(
    provider: &CryptoProvider,
    chain_pem: &[u8],
    key_pem: &[u8],
) -> anyhow::Result<(Arc<CertifiedKey>, CertInfo)> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("the certificate is not valid PEM: {e}"))?;
    let leaf = chain
        .first()
        .ok_or_else(|| anyhow!("no certificate in it (expected -----BEGIN CERTIFICATE-----)"))?;
    let info = describe(leaf)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| anyhow!("no private key in it (expected -----BEGIN PRIVATE KEY-----): {e}"))?;
    let key = CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| anyhow!("the key does not belong to the certificate ({e})"))?;
    Ok((Arc::new(key), info))
}

/// The names, serial, issuer and validity of one DER certificate.
pub fn describe(der: &[u8]) -> anyhow::Result<CertInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| anyhow!("the certificate cannot be read: {e}"))?;
    let names = cert
        .subject_alternative_name()
        .context("the certificate's names cannot be read")?
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => {
                        Some(d.to_ascii_lowercase())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let time = |t: x509_parser::time::ASN1Time| {
        let secs = t.timestamp();
        if secs >= 0 {
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
        } else {
            SystemTime::UNIX_EPOCH
        }
    };
    Ok(CertInfo {
        names,
        serial: cert.tbs_certificate.raw_serial_as_string().replace(':', ""),
        issuer: cert.issuer().to_string(),
        not_before: time(cert.validity().not_before),
        not_after: time(cert.validity().not_after),
    })
}

/// A date for logs: `2027-03-01 12:00 UTC`.
pub fn date(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    // Civil from days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let rest = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest / 60 % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_calendar_days() {
        let at = |s: u64| date(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01 00:00 UTC");
        assert_eq!(at(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(at(1_796_256_000 + 3_661), "2026-12-03 01:01 UTC");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let provider = rustls::crypto::ring::default_provider();
        let make = |name: &str| {
            let key = rcgen::KeyPair::generate().unwrap();
            let params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
            let cert = params.self_signed(&key).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (cert_a, key_a) = make("a.example.org");
        let (_, key_b) = make("b.example.org");
        let (_, info) = parse(&provider, cert_a.as_bytes(), key_a.as_bytes()).unwrap();
        assert_eq!(info.names, ["a.example.org"]);
        assert!(info.not_after > info.not_before);
        let wrong = parse(&provider, cert_a.as_bytes(), key_b.as_bytes()).unwrap_err();
        assert!(
            format!("{wrong:#}").contains("does not belong"),
            "{wrong:#}"
        );
        let none = parse(&provider, b"<html>404</html>", key_a.as_bytes()).unwrap_err();
        assert!(format!("{none:#}").contains("no certificate"), "{none:#}");
    }
}
