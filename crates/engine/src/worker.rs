//! `articket worker`: the engine behind the subset of the AUTOMATIC1111 API that the
//! booth's server pool uses, so one booth can drive several GPU boxes.
//!
//! Endpoints: `POST /sdapi/v1/img2img`, `POST /sdapi/v1/interrogate`,
//! `GET /sdapi/v1/progress`, `GET /sdapi/v1/sd-models`, `GET /sdapi/v1/samplers`,
//! `GET /sdapi/v1/loras`, `GET /internal/ping`. LoRAs come as A1111's prompt syntax,
//! `<lora:name:weight>`, from the worker's LoRA folder. Field names, defaults and answers follow A1111. Fields we do
//! not use are ignored and logged once each. Bad requests get a 4xx with A1111's
//! error shape (`{"detail": ...}`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use articket_a1111::api::{Img2ImgRequest, InterrogateRequest, ProgressResponse, SOFT_INPAINTING};
use articket_a1111::client::{decode_image, encode_base64};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use image::RgbImage;
use serde_json::{json, Value};

use crate::prep::crop_to_fill;
use crate::{ChangeMap, EngineError, EngineService, Img2Img, LoraRef, Sampler};

/// Most images one request may ask for (batch_size × n_iter).
const MAX_IMAGES: u32 = 8;

/// The captioning models, by the names A1111's `interrogate` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptionModel {
    Clip,
    Blip,
}

impl std::fmt::Display for CaptionModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl CaptionModel {
    /// The model an `interrogate` request names ("clip", "blip"), if we have it.
    pub fn from_name(name: &str) -> Option<CaptionModel> {
        match name {
            "clip" => Some(CaptionModel::Clip),
            "blip" => Some(CaptionModel::Blip),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CaptionModel::Clip => "clip",
            CaptionModel::Blip => "blip",
        }
    }

    /// The model `[ai] captioner` picks, if it picks one.
    pub fn configured(captioner: articket_pool::Captioner) -> Option<CaptionModel> {
        match captioner {
            articket_pool::Captioner::Clip => Some(CaptionModel::Clip),
            articket_pool::Captioner::Blip => Some(CaptionModel::Blip),
            articket_pool::Captioner::None => None,
        }
    }
}

/// Captions an image for `interrogate`; `None` when the model is not loaded.
pub trait Captioner: Send + Sync {
    fn caption(&self, image: &RgbImage, model: CaptionModel)
        -> Option<Result<String, EngineError>>;
}

struct Worker {
    service: EngineService,
    captioner: Option<Arc<dyn Captioner>>,
    /// `user:password` for HTTP basic auth, as A1111's `--api-auth`.
    auth: Option<String>,
    /// Where `<lora:name:w>` finds `name.safetensors`.
    loras: Option<PathBuf>,
    unknown_logged: Mutex<HashSet<String>>,
}

/// The worker's router.
pub fn router(
    service: EngineService,
    captioner: Option<Arc<dyn Captioner>>,
    api_auth: Option<String>,
    loras: Option<PathBuf>,
) -> Router {
    let worker = Arc::new(Worker {
        service,
        captioner,
        auth: api_auth.map(|a| {
            use base64::Engine;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(a)
            )
        }),
        loras,
        unknown_logged: Mutex::new(HashSet::new()),
    });
    Router::new()
        .route("/sdapi/v1/img2img", post(img2img))
        .route("/sdapi/v1/interrogate", post(interrogate))
        .route("/sdapi/v1/progress", get(progress))
        .route("/sdapi/v1/sd-models", get(sd_models))
        .route("/sdapi/v1/samplers", get(samplers))
        .route("/sdapi/v1/loras", get(list_loras))
        .route("/sdapi/v1/scripts", get(scripts))
        .route("/internal/ping", get(|| async { Json(json!({})) }))
        .with_state(worker)
}

fn detail(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "detail": message.into() }))).into_response()
}

/// FastAPI's validation error: 422 with a list of problems.
fn invalid(loc: &str, msg: impl Into<String>) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "detail": [{ "loc": ["body", loc], "msg": msg.into(), "type": "value_error" }] })),
    )
        .into_response()
}

fn engine_error(e: EngineError) -> Response {
    match e {
        EngineError::Input(m) => detail(StatusCode::BAD_REQUEST, m),
        EngineError::Busy => detail(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        other => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": "RuntimeError", "detail": "", "body": "", "errors": other.to_string() })),
        )
            .into_response(),
    }
}

impl Worker {
    fn check_auth(&self, headers: &HeaderMap) -> Option<Response> {
        let expected = self.auth.as_ref()?;
        let given = headers.get("authorization").and_then(|v| v.to_str().ok());
        (given != Some(expected.as_str()))
            .then(|| detail(StatusCode::UNAUTHORIZED, "Incorrect username or password"))
    }

    /// Logs each field we do not use, once per process.
    fn note_unknown(&self, body: &Value, known: &Value) {
        let (Value::Object(sent), Value::Object(known)) = (body, known) else {
            return;
        };
        let mut logged = self.unknown_logged.lock().unwrap();
        for key in sent.keys().filter(|k| !known.contains_key(*k)) {
            if logged.insert(key.clone()) {
                tracing::info!(field = %key, "img2img field ignored (not used by this worker)");
            }
        }
    }
}

/// The photo shaped to w×h the way A1111's `resize_mode` says.
fn fit(image: &RgbImage, w: u32, h: u32, resize_mode: u8) -> RgbImage {
    use image::imageops::{overlay, resize, FilterType};
    match resize_mode {
        // Just resize: stretches, as A1111 does.
        0 => resize(image, w, h, FilterType::Lanczos3),
        // Resize and fill: fit inside, pad with the stretched edges' colours.
        2 => {
            let (iw, ih) = image.dimensions();
            let scale = f64::min(w as f64 / iw as f64, h as f64 / ih as f64);
            let (fw, fh) = (
                ((iw as f64 * scale).round() as u32).max(1),
                ((ih as f64 * scale).round() as u32).max(1),
            );
            let mut canvas = resize(image, w, h, FilterType::Triangle);
            let inner = resize(image, fw, fh, FilterType::Lanczos3);
            overlay(
                &mut canvas,
                &inner,
                ((w - fw) / 2) as i64,
                ((h - fh) / 2) as i64,
            );
            canvas
        }
        // Crop and resize (1), and latent upscale (3) done as crop and resize.
        _ => crop_to_fill(image, w, h),
    }
}

/// The request's mask as a change map over the fitted w×h picture, when soft
/// inpainting is on: its greys are how much each pixel changes (Differential
/// Diffusion, which A1111's soft inpainting builds on), blurred by `mask_blur`. A mask
/// without soft inpainting asks for hard inpainting, which this worker does not do.
fn change_map(req: &Img2ImgRequest, w: u32, h: u32) -> Result<Option<ChangeMap>, Box<Response>> {
    let Some(mask) = &req.mask else {
        return Ok(None);
    };
    let soft = req
        .alwayson_scripts
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(SOFT_INPAINTING))
        .is_some_and(|(_, v)| v["args"][0] == true);
    if !soft {
        return Err(Box::new(invalid(
            "mask",
            "this worker paints a mask only with soft inpainting on \
             (alwayson_scripts {\"soft inpainting\": {\"args\": [true, …]}})",
        )));
    }
    let image = decode_image(&mask.mask).map_err(|e| {
        detail(
            StatusCode::BAD_REQUEST,
            format!("Invalid encoded mask: {e}"),
        )
    })?;
    let mut grey = image::imageops::grayscale(&fit(&image, w, h, req.resize_mode));
    if mask.mask_blur > 0 {
        grey = image::imageops::blur(&grey, mask.mask_blur as f32);
    }
    if mask.inpainting_mask_invert == 1 {
        image::imageops::invert(&mut grey);
    }
    Ok(Some(ChangeMap::from_gray(&grey)))
}

/// `GET /sdapi/v1/scripts`: soft inpainting, which this worker paints masks with.
async fn scripts(State(worker): State<Arc<Worker>>, headers: HeaderMap) -> Response {
    if let Some(r) = worker.check_auth(&headers) {
        return r;
    }
    Json(json!({ "txt2img": [], "img2img": [SOFT_INPAINTING] })).into_response()
}

async fn img2img(State(worker): State<Arc<Worker>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = worker.check_auth(&headers) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return invalid("body", "JSON decode error");
    };
    let req: Img2ImgRequest = match serde_json::from_value(body.clone()) {
        Ok(r) => r,
        Err(e) => return invalid("body", e.to_string()),
    };
    let known = Img2ImgRequest {
        mask: Some(articket_a1111::api::InpaintMask {
            mask: String::new(),
            mask_blur: 4,
            inpainting_fill: 1,
            inpaint_full_res: false,
            inpainting_mask_invert: 0,
        }),
        ..Default::default()
    };
    worker.note_unknown(&body, &serde_json::to_value(known).unwrap_or_default());
    let Some(first) = req.init_images.first() else {
        return detail(StatusCode::NOT_FOUND, "Init image not found");
    };
    let Some(sampler) = Sampler::from_a1111(&req.sampler_name) else {
        return detail(
            StatusCode::NOT_FOUND,
            format!(
                "Sampler not found: {} (this worker has {})",
                req.sampler_name,
                Sampler::ALL.map(Sampler::a1111_name).join(", ")
            ),
        );
    };
    let init = match decode_image(first) {
        Ok(i) => i,
        Err(e) => {
            return detail(
                StatusCode::BAD_REQUEST,
                format!("Invalid encoded image: {e}"),
            )
        }
    };
    let m = worker.service.size_multiple as u32;
    let (w, h) = ((req.width / m).max(1) * m, (req.height / m).max(1) * m);
    let count = req.batch_size.max(1) * req.n_iter.max(1);
    if count > MAX_IMAGES {
        return invalid(
            "batch_size",
            format!("at most {MAX_IMAGES} images per request"),
        );
    }
    let base_seed = if req.seed < 0 {
        rand::random::<u32>() as i64
    } else {
        req.seed
    };
    let (prompt, loras) = match lora_tags(&req.prompt) {
        Ok(found) => found,
        Err(e) => return invalid("prompt", e),
    };
    let loras = match worker.lora_files(&loras) {
        Ok(l) => l,
        Err(e) => return detail(StatusCode::NOT_FOUND, e),
    };
    let fitted = fit(&init, w, h, req.resize_mode);
    let change = match change_map(&req, w, h) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let jobs: Vec<Img2Img> = (0..count)
        .map(|i| Img2Img {
            image: fitted.clone(),
            prompt: prompt.clone(),
            negative_prompt: req.negative_prompt.clone(),
            steps: req.steps.max(1) as usize,
            strength: req.denoising_strength as f64,
            cfg_scale: req.cfg_scale as f64,
            seed: (base_seed + i as i64) as u64,
            sampler,
            width: w as usize,
            height: h as usize,
            loras: loras.clone(),
            change: change.clone(),
        })
        .collect();
    // Previews are made (with a tiny autoencoder) for `current_image` in progress.
    let keep: crate::service::PreviewSink = Arc::new(|_| {});
    let results = futures_util::future::join_all(
        jobs.into_iter()
            .map(|j| worker.service.paint_previewed(j, Some(keep.clone()))),
    )
    .await;
    let mut images = Vec::new();
    for r in results {
        match r {
            Ok(img) => {
                let mut png = Vec::new();
                if let Err(e) =
                    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                {
                    return engine_error(EngineError::Run(e.to_string()));
                }
                images.push(encode_base64(&png));
            }
            Err(e) => return engine_error(e),
        }
    }
    let seeds: Vec<i64> = (0..count as i64).map(|i| base_seed + i).collect();
    let infotexts: Vec<String> = seeds
        .iter()
        .map(|s| {
            format!(
                "{}\nNegative prompt: {}\nSteps: {}, Sampler: {}, CFG scale: {}, Seed: {s}, Size: {w}x{h}, Model: {}, Denoising strength: {}",
                req.prompt, req.negative_prompt, req.steps, sampler.a1111_name(), req.cfg_scale, worker.service.model_name, req.denoising_strength
            )
        })
        .collect();
    let info = json!({
        "prompt": req.prompt,
        "all_prompts": vec![req.prompt.clone(); count as usize],
        "negative_prompt": req.negative_prompt,
        "seed": base_seed,
        "all_seeds": seeds,
        "width": w,
        "height": h,
        "sampler_name": sampler.a1111_name(),
        "cfg_scale": req.cfg_scale,
        "steps": req.steps,
        "denoising_strength": req.denoising_strength,
        "batch_size": req.batch_size,
        "sd_model_name": worker.service.model_name,
        "infotexts": infotexts,
    });
    Json(json!({
        "images": images,
        "parameters": serde_json::to_value(&req).unwrap_or_default(),
        "info": info.to_string(),
    }))
    .into_response()
}

async fn interrogate(
    State(worker): State<Arc<Worker>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = worker.check_auth(&headers) {
        return r;
    }
    let req: InterrogateRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return invalid("body", e.to_string()),
    };
    let image = match decode_image(&req.image) {
        Ok(i) => i,
        Err(_) => return detail(StatusCode::NOT_FOUND, "Image not found"),
    };
    let Some(captioner) = worker.captioner.clone() else {
        return detail(
            StatusCode::NOT_FOUND,
            "Model not found (this worker has no captioning model loaded)",
        );
    };
    let Some(model) = CaptionModel::from_name(&req.model) else {
        return detail(StatusCode::NOT_FOUND, "Model not found");
    };
    let answer = tokio::task::spawn_blocking(move || captioner.caption(&image, model)).await;
    match answer {
        Ok(Some(Ok(caption))) => Json(json!({ "caption": caption })).into_response(),
        Ok(Some(Err(e))) => engine_error(e),
        Ok(None) => detail(StatusCode::NOT_FOUND, "Model not found"),
        Err(e) => engine_error(EngineError::Run(e.to_string())),
    }
}

/// A1111's progress, with `current_image` (base64 JPEG) while a painting emerges,
/// unless `skip_current_image=true`.
async fn progress(
    State(worker): State<Arc<Worker>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let p = worker.service.progress();
    let mut answer = ProgressResponse::at(p.step, p.steps, p.job_count, "0");
    let skip = query.is_some_and(|q| {
        q.split('&')
            .any(|kv| kv.eq_ignore_ascii_case("skip_current_image=true"))
    });
    if !skip {
        answer.current_image = worker.service.current_preview().map(|j| encode_base64(&j));
    }
    Json(answer).into_response()
}

async fn sd_models(State(worker): State<Arc<Worker>>) -> Response {
    let name = &worker.service.model_name;
    Json(json!([{
        "title": name,
        "model_name": name,
        "hash": null,
        "sha256": null,
        "filename": name,
        "config": null,
    }]))
    .into_response()
}

/// The LoRA files `<lora:name:w>` can name, as A1111's `/sdapi/v1/loras` lists them.
async fn list_loras(State(worker): State<Arc<Worker>>) -> Response {
    let mut list = Vec::new();
    if let Some(dir) = &worker.loras {
        let mut names = Vec::new();
        lora_names(dir, dir, &mut names);
        names.sort();
        for (name, path) in names {
            list.push(json!({
                "name": name, "alias": name, "path": path.display().to_string(), "metadata": {},
            }));
        }
    }
    Json(list).into_response()
}

/// Every `*.safetensors` under `dir`, named by its path below `root` without the
/// extension (A1111 names LoRAs in subfolders the same way).
fn lora_names(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            lora_names(root, &path, out);
        } else if path.extension().is_some_and(|x| x == "safetensors") {
            if let Ok(rel) = path.with_extension("").strip_prefix(root) {
                out.push((rel.to_string_lossy().replace('\\', "/"), path.clone()));
            }
        }
    }
}

/// Takes A1111's `<lora:name>` and `<lora:name:weight>` tags out of a prompt (a third
/// number, A1111's separate UNet weight, is refused rather than half-obeyed).
pub fn lora_tags(prompt: &str) -> Result<(String, Vec<(String, f64)>), String> {
    let mut rest = prompt;
    let mut text = String::with_capacity(prompt.len());
    let mut tags = Vec::new();
    while let Some(start) = rest.find("<lora:") {
        text.push_str(&rest[..start]);
        let after = &rest[start + "<lora:".len()..];
        let Some(end) = after.find('>') else {
            return Err(format!("unclosed LoRA tag: {}", &rest[start..]));
        };
        let parts: Vec<&str> = after[..end].split(':').map(str::trim).collect();
        let weight = match parts.as_slice() {
            [_] => 1.0,
            [_, w] => w
                .parse::<f64>()
                .ok()
                .filter(|w| w.is_finite())
                .ok_or_else(|| format!("<lora:{}>: {w:?} is not a weight", &after[..end]))?,
            _ => {
                return Err(format!(
                    "<lora:{}>: give one weight (<lora:name:0.8>); separate text-encoder and UNet weights are not supported",
                    &after[..end]
                ))
            }
        };
        if parts[0].is_empty() {
            return Err("a LoRA tag without a name".into());
        }
        tags.push((parts[0].to_owned(), weight));
        rest = &after[end + 1..];
    }
    text.push_str(rest);
    Ok((text.split_whitespace().collect::<Vec<_>>().join(" "), tags))
}

impl Worker {
    /// The files `<lora:…>` tags name, from the LoRA folder.
    fn lora_files(&self, tags: &[(String, f64)]) -> Result<Vec<LoraRef>, String> {
        if tags.is_empty() {
            return Ok(Vec::new());
        }
        let Some(dir) = &self.loras else {
            return Err("this worker has no LoRA folder (start it with --loras DIR)".into());
        };
        let mut out = Vec::new();
        for (name, weight) in tags {
            let safe =
                !name.split(['/', '\\']).any(|c| c == ".." || c.is_empty()) && !name.contains(':');
            let path = dir.join(format!("{name}.safetensors"));
            if !safe || !path.is_file() {
                let mut names = Vec::new();
                lora_names(dir, dir, &mut names);
                let mut names: Vec<String> = names.into_iter().map(|(n, _)| n).collect();
                names.sort();
                return Err(format!(
                    "LoRA not found: {name} (in {}: {})",
                    dir.display(),
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ));
            }
            out.push(LoraRef {
                path,
                weight: *weight,
            });
        }
        Ok(out)
    }
}

/// Exactly the samplers the engine implements, with every alias its parser accepts.
async fn samplers() -> Response {
    let list: Vec<Value> = Sampler::ALL
        .iter()
        .map(|s| json!({ "name": s.a1111_name(), "aliases": s.aliases(), "options": {} }))
        .collect();
    Json(list).into_response()
}
