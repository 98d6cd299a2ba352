//! One server's HTTP calls, with every failure sorted into "try again" or "the request
//! is wrong". Nothing here retries or queues; the pool and the studio do.

use std::time::Duration;

use base64::Engine;
use image::RgbImage;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::{
    ImagesResponse, Img2ImgRequest, InterrogateRequest, InterrogateResponse, ProgressResponse,
};
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
}

/// The HTTP client every pool's servers share: TLS set up, a 5 s connect timeout.
pub fn http_client() -> Result<reqwest::Client, String> {
    install_tls_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// One A1111-style server.
#[derive(Clone)]
pub struct Server {
    endpoint: Endpoint,
}

impl std::ops::Deref for Server {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl Server {
    pub fn new(settings: ServerSettings, http: reqwest::Client) -> Self {
        Self {
            endpoint: Endpoint::new(settings, http),
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&impl Serialize>,
        timeout: Duration,
    ) -> Result<T, CallError> {
        let mut rb = self.request(method, path, timeout);
        if let Some(body) = body {
            rb = rb.json(body);
        }
        let response = rb.send().await.map_err(network)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(network)?;
        if !status.is_success() {
            return Err(status_error(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            CallError::Malformed(format!(
                "the answer is not the JSON the API promises ({e}): {}",
                snippet(&bytes)
            ))
        })
    }

    /// Paints one image. Returns the first image of the answer, decoded.
    pub async fn img2img(
        &self,
        req: &Img2ImgRequest,
        timeout: Duration,
    ) -> Result<RgbImage, CallError> {
        let answer: ImagesResponse = self
            .call(
                reqwest::Method::POST,
                "/sdapi/v1/img2img",
                Some(req),
                timeout,
            )
            .await?;
        let first = answer
            .images
            .first()
            .ok_or_else(|| CallError::Malformed("the answer holds no image".into()))?;
        decode_image(first).map_err(CallError::Malformed)
    }

    /// Asks the server to caption an image (`model`: "clip", "deepdanbooru" or "blip").
    pub async fn interrogate(
        &self,
        image_b64: &str,
        model: &str,
        timeout: Duration,
    ) -> Result<String, CallError> {
        let req = InterrogateRequest {
            image: image_b64.to_owned(),
            model: model.to_owned(),
        };
        let answer: InterrogateResponse = self
            .call(
                reqwest::Method::POST,
                "/sdapi/v1/interrogate",
                Some(&req),
                timeout,
            )
            .await?;
        Ok(answer.caption)
    }

    /// The server's progress on its current job; also the health probe.
    pub async fn progress(&self, timeout: Duration) -> Result<ProgressResponse, CallError> {
        self.call(
            reqwest::Method::GET,
            "/sdapi/v1/progress?skip_current_image=true",
            None::<&()>,
            timeout,
        )
        .await
    }

    /// Asks the server to stop its current job (after we gave up waiting for it).
    pub async fn interrupt(&self) {
        let _ = self
            .request(
                reqwest::Method::POST,
                "/sdapi/v1/interrupt",
                Duration::from_secs(5),
            )
            .send()
            .await;
    }
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
    let answer: InterrogateResponse = serde_json::from_slice(&bytes)
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

/// Decodes a base64 image, with or without a `data:image/...;base64,` prefix.
pub fn decode_image(b64: &str) -> Result<RgbImage, String> {
    let data = match b64.strip_prefix("data:") {
        Some(rest) => rest.split_once(',').map(|(_, d)| d).unwrap_or(""),
        None => b64,
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| format!("the image is not valid base64 ({e})"))?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| format!("the image cannot be decoded ({e})"))?;
    Ok(img.into_rgb8())
}

pub fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
