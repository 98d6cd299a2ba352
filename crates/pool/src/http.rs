//! What every painting server's client shares: the errors a call ends in, sorted into
//! "try again" or "the request is wrong", one server's address and credentials, the
//! HTTP client, and the BLIP captioning server.

use std::time::Duration;

use serde::Deserialize;

use crate::settings::ServerSettings;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No answer: refused, reset, dropped mid-answer, or timed out. The server may be down.
    #[error("{0}")]
    Network(String),
    /// The server answered 5xx: it failed while working. Worth another try.
    #[error("HTTP {status}: {detail}")]
    Server { status: u16, detail: String },
    /// The server answered 4xx: the request itself is wrong (a bad sampler name, a
    /// missing checkpoint, wrong credentials). Another try gets the same answer.
    #[error("HTTP {status}: {detail}")]
    Rejected { status: u16, detail: String },
    /// An answer that is not what the API promises: not JSON, or no image in it.
    #[error("{0}")]
    Malformed(String),
}

/// Installs the TLS crypto provider (ring) that every HTTP client in the process uses.
/// reqwest is built without a default one; call this before building any client.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// One server's address, credentials and HTTP client (connection pool, timeouts):
/// what every server API's client builds its requests from.
#[derive(Clone)]
pub struct Endpoint {
    pub settings: ServerSettings,
    pub label: String,
    base: String,
    http: reqwest::Client,
}

impl Endpoint {
    pub fn new(settings: ServerSettings, http: reqwest::Client) -> Self {
        Self {
            label: settings.label(),
            base: settings.url.trim_end_matches('/').to_owned(),
            settings,
            http,
        }
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A request to `path` with the server's credentials and headers.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        timeout: Duration,
    ) -> reqwest::RequestBuilder {
        let rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(timeout);
        authorized(rb, &self.settings)
    }

    /// Sends a request: the answer's body, or the failure sorted.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Result<Vec<u8>, CallError> {
        let response = rb.send().await.map_err(network)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(network)?;
        if !status.is_success() {
            return Err(status_error(status, &bytes));
        }
        Ok(bytes.to_vec())
    }

    /// Sends a request and reads the JSON the API promises.
    pub async fn json<T: serde::de::DeserializeOwned>(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> Result<T, CallError> {
        let bytes = self.send(rb).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            CallError::Malformed(format!(
                "the answer is not the JSON the API promises ({e}): {}",
                snippet(&bytes)
            ))
        })
    }
}

/// The HTTP client every pool's servers share: TLS set up, a 5 s connect timeout.
pub fn http_client() -> Result<reqwest::Client, String> {
    install_tls_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Captions with a BLIP server: the image as multipart field `image`, `{"caption"}` back.
pub async fn blip_caption(
    http: &reqwest::Client,
    url: &str,
    jpeg: Vec<u8>,
    timeout: Duration,
) -> Result<String, CallError> {
    let part = reqwest::multipart::Part::bytes(jpeg)
        .file_name("photo.jpg")
        .mime_str("image/jpeg")
        .map_err(|e| CallError::Malformed(e.to_string()))?;
    let form = reqwest::multipart::Form::new().part("image", part);
    let response = http
        .post(url)
        .multipart(form)
        .timeout(timeout)
        .send()
        .await
        .map_err(network)?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(network)?;
    if !status.is_success() {
        return Err(CallError::Server {
            status: status.as_u16(),
            detail: detail_of(&bytes),
        });
    }
    let answer: Caption = serde_json::from_slice(&bytes)
        .map_err(|e| CallError::Malformed(format!("BLIP answered without a caption ({e})")))?;
    Ok(answer.caption)
}

/// A request with the server's credentials (`user`, `password`) and configured
/// headers (`headers = { … }`).
pub fn authorized(
    mut rb: reqwest::RequestBuilder,
    settings: &ServerSettings,
) -> reqwest::RequestBuilder {
    if let Some(user) = &settings.user {
        rb = rb.basic_auth(user, settings.password.as_deref());
    }
    for (name, value) in &settings.headers {
        rb = rb.header(name.as_str(), value.as_str());
    }
    rb
}

/// A failed answer, sorted: 4xx is the request's fault, anything else the server's.
pub fn status_error(status: reqwest::StatusCode, bytes: &[u8]) -> CallError {
    let detail = detail_of(bytes);
    if status.is_client_error() {
        CallError::Rejected {
            status: status.as_u16(),
            detail,
        }
    } else {
        CallError::Server {
            status: status.as_u16(),
            detail,
        }
    }
}

/// A request that got no answer, with the underlying reason.
pub fn network(e: reqwest::Error) -> CallError {
    let what = if e.is_timeout() {
        "no answer in time"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the connection failed"
    };
    // The source chain says why (refused, reset, DNS); the top error only says "error".
    let mut cause = String::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    CallError::Network(if cause.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {cause}")
    })
}

/// The useful part of an error body: FastAPI's `detail` or `error`, else the start.
fn detail_of(bytes: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
        for key in ["detail", "error", "errors", "message"] {
            if let Some(d) = v.get(key) {
                return match d {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
            }
        }
    }
    snippet(bytes)
}

pub fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    text.trim().to_owned()
}

/// A BLIP server's answer.
#[derive(Deserialize)]
struct Caption {
    caption: String,
}
