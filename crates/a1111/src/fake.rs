//! A protocol-faithful fake AUTOMATIC1111 server for tests, with fault injection.
//!
//! It serves img2img, interrogate, progress, interrupt and the models list with the real
//! request and response shapes (base64 or data-URI input, `images` as a list of base64
//! PNGs, `info` as a JSON string), and a BLIP-style caption endpoint at `/blip`. Like
//! A1111 it holds one queue lock, so generations run one at a time. It reads requests
//! as plain JSON rather than through our own types, so a field we misname is caught:
//! any img2img field A1111 does not know is refused with 422.
//!
//! Faults are scripted per request: `push_fault` queues one for the next generation;
//! `fault_when_prompt_contains` applies to every matching request.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::api::{ProgressResponse, A1111_IMG2IMG_FIELDS};
use crate::client::{decode_image, encode_base64};

/// A fault for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this HTTP status and a FastAPI-style error body.
    Status(u16),
    /// Never answer (until the client gives up).
    Hang,
    /// Answer 200 with a body that is not JSON.
    Garbage,
    /// Answer 200 with an empty `images` list.
    EmptyImages,
    /// Send the headers, then drop the connection mid-body.
    Drop,
    /// Take this much longer than usual, then answer normally.
    Slow(Duration),
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub endpoint: &'static str,
    pub body: Value,
    /// When the request got through the queue lock and work began.
    pub started: Instant,
    pub finished: Option<Instant>,
    pub outcome: String,
}

#[derive(Default)]
struct Progress {
    step: u32,
    steps: u32,
    job_count: i64,
    /// The live preview (base64 PNG), as A1111 with "Live previews" on: the photo
    /// turning into the painting, a new one each step.
    current_image: Option<String>,
}

struct FakeState {
    /// false: started without `--api`: every `/sdapi` path is 404, as the web UI alone.
    api: AtomicBool,
    /// false: no checkpoint in models/Stable-diffusion (`sd-models` lists none).
    checkpoints: AtomicBool,
    /// false: a server before 1.8, without soft inpainting among its scripts.
    soft_inpainting: AtomicBool,
    calls: Mutex<Vec<Call>>,
    faults: Mutex<VecDeque<Fault>>,
    prompt_faults: Mutex<Vec<(String, Fault)>>,
    online: AtomicBool,
    work: Mutex<Duration>,
    queue_lock: tokio::sync::Mutex<()>,
    progress: Mutex<Progress>,
    interrupted: AtomicBool,
    auth: Option<String>,
}

/// A running fake server on 127.0.0.1.
pub struct FakeA1111 {
    pub addr: SocketAddr,
    pub url: String,
    state: Arc<FakeState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeA1111 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeA1111 {
    /// Starts a fake whose generations take `work` each.
    pub async fn start(work: Duration) -> FakeA1111 {
        Self::start_with(work, None).await
    }

    /// Starts a fake that requires HTTP basic auth (A1111's `--api-auth user:password`).
    pub async fn start_with_auth(work: Duration, user: &str, password: &str) -> FakeA1111 {
        Self::start_with(work, Some(format!("{user}:{password}"))).await
    }

    /// Starts a fake on a fixed port of 127.0.0.1 (0 picks a free one).
    pub async fn start_on(port: u16, work: Duration) -> FakeA1111 {
        Self::start_at(port, work, None).await
    }

    async fn start_with(work: Duration, auth: Option<String>) -> FakeA1111 {
        Self::start_at(0, work, auth).await
    }

    async fn start_at(port: u16, work: Duration, auth: Option<String>) -> FakeA1111 {
        let state = Arc::new(FakeState {
            calls: Mutex::new(Vec::new()),
            faults: Mutex::new(VecDeque::new()),
            prompt_faults: Mutex::new(Vec::new()),
            online: AtomicBool::new(true),
            api: AtomicBool::new(true),
            checkpoints: AtomicBool::new(true),
            soft_inpainting: AtomicBool::new(true),
            work: Mutex::new(work),
            queue_lock: tokio::sync::Mutex::new(()),
            progress: Mutex::new(Progress::default()),
            interrupted: AtomicBool::new(false),
            auth: auth.map(|a| {
                use base64::Engine;
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(a)
                )
            }),
        });
        let app = Router::new()
            .route("/sdapi/v1/img2img", post(img2img))
            .route("/sdapi/v1/interrogate", post(interrogate))
            .route("/sdapi/v1/progress", get(progress))
            .route("/sdapi/v1/interrupt", post(interrupt))
            .route("/sdapi/v1/sd-models", get(sd_models))
            .route("/sdapi/v1/scripts", get(scripts))
            .route("/blip", post(blip))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeA1111 {
            addr,
            url: format!("http://{addr}"),
            state,
            task,
        }
    }

    /// Queues a fault for the next img2img or interrogate request.
    pub fn push_fault(&self, fault: Fault) {
        self.state.faults.lock().unwrap().push_back(fault);
    }

    /// Applies `fault` to every img2img request whose prompt contains `needle`.
    pub fn fault_when_prompt_contains(&self, needle: &str, fault: Fault) {
        self.state
            .prompt_faults
            .lock()
            .unwrap()
            .push((needle.to_owned(), fault));
    }

    pub fn clear_faults(&self) {
        self.state.faults.lock().unwrap().clear();
        self.state.prompt_faults.lock().unwrap().clear();
    }

    /// Offline, every request's connection is dropped, as when the server crashed.
    pub fn set_online(&self, online: bool) {
        self.state.online.store(online, Ordering::SeqCst);
    }

    pub fn set_work(&self, work: Duration) {
        *self.state.work.lock().unwrap() = work;
    }

    /// Every generation and caption request so far, in the order work began.
    /// As if started without `--api` (false): every API path answers 404.
    pub fn set_api(&self, on: bool) {
        self.state.api.store(on, Ordering::SeqCst);
    }

    /// As if its models folder had no checkpoint (false).
    pub fn set_checkpoints(&self, any: bool) {
        self.state.checkpoints.store(any, Ordering::SeqCst);
    }

    /// Whether a generation is under way (a request holds the queue lock).
    /// Off: the server is older than 1.8 and lists no soft inpainting.
    pub fn set_soft_inpainting(&self, on: bool) {
        self.state.soft_inpainting.store(on, Ordering::SeqCst);
    }

    pub fn busy(&self) -> bool {
        self.state.queue_lock.try_lock().is_err()
    }

    pub fn calls(&self) -> Vec<Call> {
        let mut calls = self.state.calls.lock().unwrap().clone();
        calls.sort_by_key(|c| c.started);
        calls
    }

    /// The img2img requests that finished with an image.
    pub fn images_served(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.endpoint == "img2img" && c.outcome == "ok")
            .count()
    }
}

fn dropped_connection() -> Response {
    // A body that fails before its first byte: hyper aborts the connection.
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("connection dropped"))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("content-length", "1000")
        .body(Body::from_stream(stream))
        .expect("response")
}

fn error(status: StatusCode, detail: impl Into<Value>) -> Response {
    (status, Json(json!({ "detail": detail.into() }))).into_response()
}

/// Checks the online flag and credentials, as A1111's middleware would.
fn gate(state: &FakeState, headers: &HeaderMap) -> Option<Response> {
    if !state.online.load(Ordering::SeqCst) {
        return Some(dropped_connection());
    }
    if !state.api.load(Ordering::SeqCst) {
        return Some(error(StatusCode::NOT_FOUND, "Not Found"));
    }
    if let Some(expected) = &state.auth {
        let given = headers.get("authorization").and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            return Some(error(
                StatusCode::UNAUTHORIZED,
                "Incorrect username or password",
            ));
        }
    }
    None
}

/// FastAPI answers a body it cannot parse or validate with 422 and a list of problems.
fn unprocessable(loc: &str, msg: &str) -> Response {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!([{ "loc": ["body", loc], "msg": msg, "type": "value_error" }]),
    )
}

/// A field name and FastAPI's message for it.
type Invalid = (&'static str, String);

fn validate_img2img(body: &Value) -> Result<(), Invalid> {
    let Value::Object(map) = body else {
        return Err(("body", "value is not a valid dict".into()));
    };
    for key in map.keys() {
        if !A1111_IMG2IMG_FIELDS.contains(&key.as_str()) {
            return Err((
                "body",
                format!("extra field {key:?} not permitted (A1111 would ignore it)"),
            ));
        }
    }
    let ints = [
        "steps",
        "width",
        "height",
        "seed",
        "batch_size",
        "n_iter",
        "resize_mode",
    ];
    for key in ints {
        if let Some(v) = map.get(key) {
            if !(v.is_i64() || v.is_u64()) {
                return Err((key, "value is not a valid integer".into()));
            }
        }
    }
    for key in ["cfg_scale", "denoising_strength"] {
        if let Some(v) = map.get(key) {
            if !v.is_number() {
                return Err((key, "value is not a valid float".into()));
            }
        }
    }
    for key in ["prompt", "negative_prompt", "sampler_name", "scheduler"] {
        if let Some(v) = map.get(key) {
            if !v.is_string() {
                return Err((key, "str type expected".into()));
            }
        }
    }
    for key in ["override_settings", "alwayson_scripts"] {
        if let Some(v) = map.get(key) {
            if !v.is_object() {
                return Err((key, "value is not a valid dict".into()));
            }
        }
    }
    if let Some(controlnet) = map
        .get("alwayson_scripts")
        .and_then(|s| s.get("controlnet"))
    {
        validate_controlnet(controlnet).map_err(|m| ("alwayson_scripts", m))?;
    }
    match map.get("init_images") {
        Some(Value::Array(list)) if !list.is_empty() && list.iter().all(Value::is_string) => {}
        _ => return Err(("init_images", "a list of base64 images is required".into())),
    }
    validate_mask(map)
}

/// An inpainting mask as A1111 reads it: a base64 image; `mask_blur`,
/// `inpainting_fill` (0–3) and `inpainting_mask_invert` (0–1) integers;
/// `inpaint_full_res` a boolean. Soft inpainting's `args` are its seven values, the
/// first a boolean. A mask sent to a server without soft inpainting is refused here
/// (A1111 would binarise it and paste the photo back wherever it is dark).
fn validate_mask(map: &serde_json::Map<String, Value>) -> Result<(), Invalid> {
    for key in ["mask_blur", "inpainting_fill", "inpainting_mask_invert"] {
        if let Some(v) = map.get(key) {
            if !v.is_u64() {
                return Err((key, "value is not a valid integer".into()));
            }
        }
    }
    if map.get("inpainting_fill").and_then(Value::as_u64) > Some(3) {
        return Err(("inpainting_fill", "must be 0 to 3".into()));
    }
    if map.get("inpainting_mask_invert").and_then(Value::as_u64) > Some(1) {
        return Err(("inpainting_mask_invert", "must be 0 or 1".into()));
    }
    if map.get("inpaint_full_res").is_some_and(|v| !v.is_boolean()) {
        return Err((
            "inpaint_full_res",
            "value could not be parsed to a boolean".into(),
        ));
    }
    let soft = map
        .get("alwayson_scripts")
        .and_then(|s| s.get("soft inpainting"));
    if let Some(soft) = soft {
        let args = soft["args"].as_array();
        let ok = args.is_some_and(|a| {
            a.len() == 7 && a[0].is_boolean() && a[1..].iter().all(Value::is_number)
        });
        if !ok {
            return Err((
                "alwayson_scripts",
                "soft inpainting takes {\"args\": [enabled, 6 numbers]}".into(),
            ));
        }
    }
    if let Some(mask) = map.get("mask") {
        let Some(mask) = mask.as_str() else {
            return Err(("mask", "str type expected".into()));
        };
        let mask = decode_image(mask).map_err(|e| ("mask", e))?;
        let init = decode_image(map["init_images"][0].as_str().unwrap_or(""))
            .map_err(|e| ("init_images", e))?;
        let ratio = |(w, h): (u32, u32)| w as f64 / h as f64;
        if (ratio(mask.dimensions()) / ratio(init.dimensions()) - 1.0).abs() > 0.02 {
            return Err(("mask", "the mask's shape is not the init image's".into()));
        }
        if !soft.is_some_and(|s| s["args"][0] == true) {
            return Err(("mask", "a soft mask needs soft inpainting enabled".into()));
        }
    }
    Ok(())
}

/// The shape the sd-webui-controlnet extension's API documents for
/// `alwayson_scripts.controlnet`: `{"args": [unit, …]}`, each unit an object of its
/// known fields with their types, the control mode and resize mode by name or index.
fn validate_controlnet(value: &Value) -> Result<(), String> {
    const KNOWN: [&str; 14] = [
        "enabled",
        "module",
        "model",
        "weight",
        "image",
        "resize_mode",
        "low_vram",
        "processor_res",
        "threshold_a",
        "threshold_b",
        "guidance_start",
        "guidance_end",
        "control_mode",
        "pixel_perfect",
    ];
    let args = value
        .get("args")
        .and_then(Value::as_array)
        .ok_or("controlnet: expected {\"args\": [units]}")?;
    for (i, unit) in args.iter().enumerate() {
        let unit = unit
            .as_object()
            .ok_or(format!("controlnet unit {i}: not an object"))?;
        if let Some(k) = unit.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(format!("controlnet unit {i}: unknown field {k:?}"));
        }
        let is = |k: &str, ok: fn(&Value) -> bool| unit.get(k).is_none_or(ok);
        let fraction = |v: &Value| v.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x));
        let checks: [(&str, bool); 8] = [
            ("enabled", is("enabled", Value::is_boolean)),
            ("pixel_perfect", is("pixel_perfect", Value::is_boolean)),
            ("module", is("module", Value::is_string)),
            ("model", unit.get("model").is_some_and(Value::is_string)),
            ("weight", is("weight", Value::is_number)),
            ("guidance_start", is("guidance_start", fraction)),
            ("guidance_end", is("guidance_end", fraction)),
            (
                "control_mode",
                is("control_mode", |v| {
                    v.as_u64().is_some_and(|n| n <= 2)
                        || v.as_str().is_some_and(|s| {
                            [
                                "Balanced",
                                "My prompt is more important",
                                "ControlNet is more important",
                            ]
                            .contains(&s)
                        })
                }),
            ),
        ];
        if let Some((field, _)) = checks.iter().find(|(_, ok)| !ok) {
            return Err(format!("controlnet unit {i}: invalid {field}"));
        }
        let resize_ok = is("resize_mode", |v| {
            v.as_u64().is_some_and(|n| n <= 2)
                || v.as_str().is_some_and(|s| {
                    ["Just Resize", "Crop and Resize", "Resize and Fill"].contains(&s)
                })
        });
        if !resize_ok {
            return Err(format!("controlnet unit {i}: invalid resize_mode"));
        }
    }
    Ok(())
}

fn take_fault(state: &FakeState, prompt: Option<&str>) -> Option<Fault> {
    if let Some(prompt) = prompt {
        let faults = state.prompt_faults.lock().unwrap();
        if let Some((_, f)) = faults
            .iter()
            .find(|(needle, _)| prompt.contains(needle.as_str()))
        {
            return Some(f.clone());
        }
    }
    state.faults.lock().unwrap().pop_front()
}

fn record(
    state: &FakeState,
    endpoint: &'static str,
    body: &Value,
    started: Instant,
    outcome: &str,
) {
    state.calls.lock().unwrap().push(Call {
        endpoint,
        body: body.clone(),
        started,
        finished: Some(Instant::now()),
        outcome: outcome.to_owned(),
    });
}

/// Applies a fault. `None`: no fault or only a delay, so answer normally.
async fn apply(state: &FakeState, fault: Option<&Fault>) -> Option<Response> {
    match fault? {
        Fault::Status(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some((status, Json(json!({"error": "RuntimeError", "detail": "injected fault", "errors": "CUDA out of memory"}))).into_response())
        }
        Fault::Hang => {
            let start = Instant::now();
            while !state.interrupted.swap(false, Ordering::SeqCst)
                && start.elapsed() < Duration::from_secs(3600)
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Some(error(StatusCode::INTERNAL_SERVER_ERROR, "interrupted"))
        }
        Fault::Garbage => {
            Some((StatusCode::OK, "<html><body>502 Bad Gateway</body></html>").into_response())
        }
        Fault::EmptyImages => {
            Some(Json(json!({"images": [], "parameters": {}, "info": "{}"})).into_response())
        }
        Fault::Drop => Some(dropped_connection()),
        Fault::Slow(d) => {
            tokio::time::sleep(*d).await;
            None
        }
    }
}

async fn img2img(State(state): State<Arc<FakeState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = gate(&state, &headers) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return unprocessable("body", "JSON decode error");
    };
    if let Err((field, msg)) = validate_img2img(&body) {
        record(&state, "img2img", &body, Instant::now(), "invalid");
        return unprocessable(field, &msg);
    }
    let init = decode_image(body["init_images"][0].as_str().unwrap_or(""));
    let Ok(init) = init else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "Invalid encoded image");
    };
    let sampler = body
        .get("sampler_name")
        .and_then(Value::as_str)
        .unwrap_or("Euler");
    if !["Euler a", "Euler", "DPM++ 2M", "DPM++ 2M Karras", "DDIM"].contains(&sampler) {
        return error(
            StatusCode::NOT_FOUND,
            format!("Sampler not found: {sampler}"),
        );
    }
    // One generation at a time, like A1111's queue_lock.
    let _lock = state.queue_lock.lock().await;
    // An interrupt only stops the job running when it arrives.
    state.interrupted.store(false, Ordering::SeqCst);
    let started = Instant::now();
    let prompt = body
        .get("prompt")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let fault = take_fault(&state, prompt.as_deref());
    if let Some(r) = apply(&state, fault.as_ref()).await {
        record(&state, "img2img", &body, started, &format!("{fault:?}"));
        return r;
    }
    let steps = body.get("steps").and_then(Value::as_u64).unwrap_or(20) as u32;
    let strength = body
        .get("denoising_strength")
        .and_then(Value::as_f64)
        .unwrap_or(0.75);
    // img2img runs only the last steps × strength steps.
    let run = ((steps as f64 * strength).ceil() as u32).max(1);
    let work = *state.work.lock().unwrap();
    {
        let mut p = state.progress.lock().unwrap();
        *p = Progress {
            step: 0,
            steps: run,
            job_count: 1,
            current_image: None,
        };
    }
    let small = image::imageops::resize(&init, 64, 64, image::imageops::FilterType::Triangle);
    for step in 1..=run {
        tokio::time::sleep(work / run).await;
        let preview = live_preview(&small, step, run);
        let mut p = state.progress.lock().unwrap();
        p.step = step;
        p.current_image = preview;
    }
    *state.progress.lock().unwrap() = Progress::default();
    let width = body.get("width").and_then(Value::as_u64).unwrap_or(512) as u32;
    let height = body.get("height").and_then(Value::as_u64).unwrap_or(512) as u32;
    let seed = body.get("seed").and_then(Value::as_i64).unwrap_or(-1);
    // "Painting": the photo resized to the requested size, posterised and tinted by the
    // seed, so a test can tell it apart from the input and from other seeds.
    let resized =
        image::imageops::resize(&init, width, height, image::imageops::FilterType::Triangle);
    let tint = [
        (seed & 0x3f) as u8,
        ((seed >> 6) & 0x3f) as u8,
        ((seed >> 12) & 0x3f) as u8,
    ];
    // With a mask, each pixel is painted as much as the mask is white: the rest is the
    // photo, as soft inpainting keeps it.
    let mask = body
        .get("mask")
        .and_then(Value::as_str)
        .and_then(|m| decode_image(m).ok())
        .map(|m| image::imageops::resize(&m, width, height, image::imageops::FilterType::Triangle));
    let painted = image::RgbImage::from_fn(width, height, |x, y| {
        let p = resized.get_pixel(x, y).0;
        let change = mask
            .as_ref()
            .map_or(1.0, |m| m.get_pixel(x, y)[0] as f32 / 255.0);
        image::Rgb([0, 1, 2].map(|c| {
            let full = (p[c] & 0xC0).saturating_add(tint[c]) as f32;
            (p[c] as f32 + (full - p[c] as f32) * change).round() as u8
        }))
    });
    let mut png = Vec::new();
    painted
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    let info = json!({
        "prompt": prompt,
        "seed": if seed < 0 { 1234 } else { seed },
        "width": width,
        "height": height,
        "sampler_name": sampler,
        "steps": steps,
        "denoising_strength": strength,
        "infotexts": [format!("{}\nSteps: {steps}, Sampler: {sampler}, Seed: {seed}", prompt.clone().unwrap_or_default())],
    });
    record(&state, "img2img", &body, started, "ok");
    Json(json!({
        "images": [encode_base64(&png)],
        "parameters": body,
        "info": info.to_string(),
    }))
    .into_response()
}

async fn interrogate(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = gate(&state, &headers) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return unprocessable("body", "JSON decode error");
    };
    let image = body.get("image").and_then(Value::as_str).unwrap_or("");
    if decode_image(image).is_err() {
        return error(StatusCode::NOT_FOUND, "Image not found");
    }
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("clip")
        .to_owned();
    let _lock = state.queue_lock.lock().await;
    let started = Instant::now();
    let fault = take_fault(&state, None);
    if let Some(r) = apply(&state, fault.as_ref()).await {
        record(&state, "interrogate", &body, started, &format!("{fault:?}"));
        return r;
    }
    let caption = match model.as_str() {
        // CLIP interrogation: a BLIP caption, then artists and flavours.
        "clip" => "a person with short hair smiling at the camera, by greg rutkowski, trending on artstation, sharp focus",
        "deepdanbooru" => "1girl, solo, short_hair, smile",
        _ => return error(StatusCode::NOT_FOUND, "Model not found"),
    };
    record(&state, "interrogate", &body, started, "ok");
    Json(json!({ "caption": caption })).into_response()
}

/// The photo darkened towards the painting's step: a distinct PNG each step.
fn live_preview(small: &image::RgbImage, step: u32, steps: u32) -> Option<String> {
    let t = step as f32 / steps.max(1) as f32;
    let img = image::RgbImage::from_fn(small.width(), small.height(), |x, y| {
        let p = small.get_pixel(x, y).0;
        image::Rgb(p.map(|c| (c as f32 * (1.0 - 0.5 * t)) as u8))
    });
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .ok()?;
    Some(encode_base64(&png))
}

async fn progress(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    if let Some(r) = gate(&state, &headers) {
        return r;
    }
    let p = state.progress.lock().unwrap();
    let mut answer = ProgressResponse::at(
        p.step as usize,
        p.steps as usize,
        p.job_count as usize,
        "20261125120000",
    );
    // A1111 sends the preview unless asked not to.
    let skip = query.is_some_and(|q| q.contains("skip_current_image=true"));
    if !skip {
        answer.current_image = p.current_image.clone();
    }
    Json(answer).into_response()
}

async fn interrupt(State(state): State<Arc<FakeState>>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&state, &headers) {
        return r;
    }
    state.interrupted.store(true, Ordering::SeqCst);
    Json(json!({})).into_response()
}

async fn sd_models(State(state): State<Arc<FakeState>>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&state, &headers) {
        return r;
    }
    if !state.checkpoints.load(Ordering::SeqCst) {
        return Json(json!([])).into_response();
    }
    Json(json!([{
        "title": "v1-5-pruned-emaonly.safetensors [6ce0161689]",
        "model_name": "v1-5-pruned-emaonly",
        "hash": "6ce0161689",
        "sha256": "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa",
        "filename": "/models/Stable-diffusion/v1-5-pruned-emaonly.safetensors",
        "config": null,
    }]))
    .into_response()
}

/// `GET /sdapi/v1/scripts`: A1111 1.8's built-in scripts by lower-case title, with
/// soft inpainting among the always-on ones unless turned off.
async fn scripts(State(state): State<Arc<FakeState>>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&state, &headers) {
        return r;
    }
    let mut img2img = vec![
        "prompt matrix",
        "prompts from file or textbox",
        "x/y/z plot",
        "extra options",
    ];
    if state.soft_inpainting.load(Ordering::SeqCst) {
        img2img.push("soft inpainting");
    }
    Json(json!({
        "txt2img": ["prompt matrix", "prompts from file or textbox", "x/y/z plot"],
        "img2img": img2img,
    }))
    .into_response()
}

/// A BLIP captioning server: multipart field `image` in, `{"caption"}` out.
async fn blip(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    if let Some(r) = gate(&state, &headers) {
        return r;
    }
    let started = Instant::now();
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("image") {
            let Ok(bytes) = field.bytes().await else {
                break;
            };
            if image::load_from_memory(&bytes).is_err() {
                return error(StatusCode::BAD_REQUEST, "not an image");
            }
            let fault = take_fault(&state, None);
            if let Some(r) = apply(&state, fault.as_ref()).await {
                record(&state, "blip", &Value::Null, started, &format!("{fault:?}"));
                return r;
            }
            record(&state, "blip", &Value::Null, started, "ok");
            return Json(json!({ "caption": "a woman wearing a blue shirt" })).into_response();
        }
    }
    error(
        StatusCode::BAD_REQUEST,
        "send the photo as multipart field \"image\"",
    )
}
