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
use articket_pool::http::{CallError, Endpoint};

/// One A1111-style server: its endpoint, and the calls below.
pub type Server = Endpoint;

/// A call to `path`: JSON `body` (if any) in, JSON out.
async fn call<T: DeserializeOwned>(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<&impl Serialize>,
    timeout: Duration,
) -> Result<T, CallError> {
    let mut rb = server.request(method, path, timeout);
    if let Some(body) = body {
        rb = rb.json(body);
    }
    server.json(rb).await
}

/// Paints one image. Returns the first image of the answer, decoded.
pub async fn img2img(
    server: &Server,
    req: &Img2ImgRequest,
    timeout: Duration,
) -> Result<RgbImage, CallError> {
    let answer: ImagesResponse = call(
        server,
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
    server: &Server,
    image_b64: &str,
    model: &str,
    timeout: Duration,
) -> Result<String, CallError> {
    let req = InterrogateRequest {
        image: image_b64.to_owned(),
        model: model.to_owned(),
    };
    let answer: InterrogateResponse = call(
        server,
        reqwest::Method::POST,
        "/sdapi/v1/interrogate",
        Some(&req),
        timeout,
    )
    .await?;
    Ok(answer.caption)
}

/// The server's progress on its current job; also the health probe.
pub async fn progress(server: &Server, timeout: Duration) -> Result<ProgressResponse, CallError> {
    progress_call(server, timeout, true).await
}

/// The progress with the live preview, `current_image` (base64), where the server
/// makes previews (A1111's "Live previews" setting, on by default; our worker with a
/// tiny autoencoder).
pub async fn progress_with_image(
    server: &Server,
    timeout: Duration,
) -> Result<ProgressResponse, CallError> {
    progress_call(server, timeout, false).await
}

async fn progress_call(
    server: &Server,
    timeout: Duration,
    skip_image: bool,
) -> Result<ProgressResponse, CallError> {
    let path = format!("/sdapi/v1/progress?skip_current_image={skip_image}");
    call(server, reqwest::Method::GET, &path, None::<&()>, timeout).await
}

/// The checkpoints the server can load (`GET /sdapi/v1/sd-models`): their titles.
pub async fn checkpoints(server: &Server, timeout: Duration) -> Result<Vec<String>, CallError> {
    let models: Vec<serde_json::Value> = call(
        server,
        reqwest::Method::GET,
        "/sdapi/v1/sd-models",
        None::<&()>,
        timeout,
    )
    .await?;
    Ok(models
        .iter()
        .map(|m| m["title"].as_str().unwrap_or_default().to_owned())
        .collect())
}

/// `GET /sdapi/v1/scripts`: the img2img scripts the server has, by lower-case title
/// ("soft inpainting" on A1111 1.8 and later).
pub async fn img2img_scripts(server: &Server, timeout: Duration) -> Result<Vec<String>, CallError> {
    let scripts: serde_json::Value = call(
        server,
        reqwest::Method::GET,
        "/sdapi/v1/scripts",
        None::<&()>,
        timeout,
    )
    .await?;
    Ok(scripts["img2img"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|s| s.as_str().map(str::to_lowercase))
                .collect()
        })
        .unwrap_or_default())
}

/// Asks the server to stop its current job (after we gave up waiting for it).
pub async fn interrupt(server: &Server) {
    let _ = server
        .request(
            reqwest::Method::POST,
            "/sdapi/v1/interrupt",
            Duration::from_secs(5),
        )
        .send()
        .await;
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
