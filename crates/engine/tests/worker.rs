//! `articket worker` on loopback with a tiny model: our own pool, raw HTTP, the local
//! backend, and a real third-party client (PyPI `webuiapi`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use articket_a1111::A1111Pool;
use articket_engine::backend::LocalBackend;
use articket_engine::blip::BlipCaptioner;
use articket_engine::caption::{Captioners, ClipCaptioner, DETAILS, MOODS, SUBJECTS};
use articket_engine::{tiny, worker, Engine, EngineService};
use articket_pool::{AiSettings, Captioner as CaptionSource, ServerSettings};
use articket_style::{PaintJob, Painter, Stylizer};
use candle_core::{DType, Device};
use image::{Rgb, RgbImage};
use serde_json::{json, Value};

struct Running {
    addr: SocketAddr,
    service: EngineService,
    _dir: tempfile::TempDir,
}

async fn start_worker() -> Running {
    let dir = tempfile::tempdir().unwrap();
    tiny::write_tiny_sd(&dir.path().join("sd")).unwrap();
    tiny::write_tiny_clip(&dir.path().join("clip")).unwrap();
    tiny::write_tiny_blip(&dir.path().join("blip")).unwrap();
    let engine = Engine::load(&dir.path().join("sd"), &Device::Cpu, DType::F32, false).unwrap();
    let service = EngineService::start(engine, 16, 8, Duration::from_millis(30));
    let captioners = Captioners {
        clip: Some(ClipCaptioner::load(&dir.path().join("clip"), &Device::Cpu).unwrap()),
        blip: Some(BlipCaptioner::load(&dir.path().join("blip"), &Device::Cpu).unwrap()),
    };
    let app = worker::router(service.clone(), Some(Arc::new(captioners)), None, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Running {
        addr,
        service,
        _dir: dir,
    }
}

fn photo() -> Arc<RgbImage> {
    Arc::new(RgbImage::from_fn(96, 128, |x, y| {
        Rgb([(x * 2) as u8, (y * 2) as u8, 90])
    }))
}

fn settings_for(addr: SocketAddr) -> AiSettings {
    let mut s = AiSettings {
        servers: vec![ServerSettings {
            url: format!("http://{addr}"),
            user: None,
            password: None,
            label: None,
            headers: Default::default(),
        }],
        captioner: CaptionSource::Clip,
        health_interval_secs: 0.2,
        ..Default::default()
    };
    for p in Painter::ALL {
        let g = s.generation_mut(p);
        g.sampler = "DDIM".into();
        g.scheduler = String::new();
        g.steps = 6;
        g.long_side = 64;
    }
    s
}

fn job(painter: Painter) -> PaintJob {
    PaintJob {
        painter,
        visit_id: "v1".into(),
        photo: photo(),
        photo_jpeg: Arc::from(Vec::new()),
        seed: 11,
        matte: None,
        faces: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_booths_server_pool_paints_and_captions_through_the_worker() {
    let w = start_worker().await;
    let pool = A1111Pool::start(settings_for(w.addr)).await.unwrap();
    assert!(pool.available(), "{:?}", pool.status());
    let paintings =
        futures_util::future::join_all(Painter::ALL.map(|p| pool.paint(job(p), Arc::new(|_| {}))))
            .await;
    for p in paintings {
        // 96×128 at long side 64, multiples of 64: 64×64.
        assert_eq!(p.unwrap().dimensions(), (64, 64));
    }
    // captioner = "blip" without a BLIP server asks the worker's interrogate for BLIP.
    let mut s = settings_for(w.addr);
    s.captioner = CaptionSource::Blip;
    let pool = A1111Pool::start(s).await.unwrap();
    pool.paint(job(Painter::Renoir), Arc::new(|_| {}))
        .await
        .unwrap();
}

async fn post(addr: SocketAddr, path: &str, body: Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(addr: SocketAddr, path: &str) -> Value {
    reqwest::get(format!("http://{addr}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn png_b64() -> String {
    let mut png = Vec::new();
    photo()
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    format!(
        "data:image/png;base64,{}",
        articket_a1111::client::encode_base64(&png)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_speaks_a1111s_shapes_and_errors() {
    articket_pool::http::install_tls_provider();
    let w = start_worker().await;
    let ok = json!({
        "init_images": [png_b64()], "prompt": "a portrait", "steps": 4, "denoising_strength": 0.5,
        "sampler_name": "DDIM", "width": 64, "height": 48, "seed": 5, "batch_size": 2,
        // Fields this worker does not use are ignored, and nulls mean "default".
        "restore_faces": false, "mask_blur": 4, "scheduler": null, "styles": []
    });
    let (status, body) = post(w.addr, "/sdapi/v1/img2img", ok).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["images"].as_array().unwrap().len(), 2);
    let first = articket_a1111::client::decode_image(body["images"][0].as_str().unwrap()).unwrap();
    assert_eq!(first.dimensions(), (64, 48));
    let info: Value =
        serde_json::from_str(body["info"].as_str().unwrap()).expect("info is a JSON string");
    assert_eq!(info["all_seeds"], json!([5, 6]));
    assert_eq!(body["parameters"]["prompt"], "a portrait");

    for (req, status) in [
        (
            json!({"init_images": [png_b64()], "sampler_name": "DPM++ 9M"}),
            404,
        ),
        (json!({"prompt": "no image"}), 404),
        (json!({"init_images": [png_b64()], "steps": "many"}), 422),
        (
            json!({"init_images": ["not base64!"], "sampler_name": "DDIM"}),
            400,
        ),
    ] {
        let (got, body) = post(w.addr, "/sdapi/v1/img2img", req.clone()).await;
        assert_eq!(got, status, "{req}: {body}");
        assert!(body.get("detail").is_some(), "A1111's error shape: {body}");
    }
    let garbage = reqwest::Client::new()
        .post(format!("http://{}/sdapi/v1/img2img", w.addr))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 422);

    let (status, caption) = post(
        w.addr,
        "/sdapi/v1/interrogate",
        json!({"image": png_b64(), "model": "clip"}),
    )
    .await;
    assert_eq!(status, 200, "{caption}");
    let caption = caption["caption"].as_str().unwrap().to_owned();
    assert!(SUBJECTS.iter().any(|s| caption.starts_with(s)), "{caption}");
    assert!(
        DETAILS.iter().any(|d| caption.contains(d)) && MOODS.iter().any(|m| caption.ends_with(m)),
        "{caption}"
    );
    let (again, _) = post(
        w.addr,
        "/sdapi/v1/interrogate",
        json!({"image": png_b64(), "model": "deepdanbooru"}),
    )
    .await;
    assert_eq!(again, 404);

    let progress = get(w.addr, "/sdapi/v1/progress").await;
    assert!(
        progress["progress"].is_number() && progress["state"]["job_count"].is_number(),
        "{progress}"
    );
    let models = get(w.addr, "/sdapi/v1/sd-models").await;
    assert_eq!(models[0]["model_name"], "sd");
    // The list is what the engine implements, and every name and alias on it paints.
    let samplers = get(w.addr, "/sdapi/v1/samplers").await;
    let listed: Vec<&str> = samplers
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["DPM++ 2M Karras", "Euler a", "DDIM", "LCM"]);
    for s in samplers.as_array().unwrap() {
        let aliases = s["aliases"].as_array().unwrap().iter();
        for name in std::iter::once(&s["name"]).chain(aliases) {
            let req = json!({"init_images": [png_b64()], "sampler_name": name, "steps": 2,
                             "denoising_strength": 1.0, "width": 32, "height": 32});
            let (status, body) = post(w.addr, "/sdapi/v1/img2img", req).await;
            assert_eq!(status, 200, "{name}: {body}");
        }
    }
    assert_eq!(get(w.addr, "/internal/ping").await, json!({}));
    drop(w.service);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_backend_paints_a_visits_four_painters() {
    let w = start_worker().await;
    let backend = LocalBackend::new(w.service.clone(), settings_for(w.addr), None);
    let out = futures_util::future::join_all(
        Painter::ALL.map(|p| backend.paint(job(p), Arc::new(|_| {}))),
    )
    .await;
    let images: Vec<RgbImage> = out.into_iter().map(|r| r.unwrap()).collect();
    assert!(images.iter().all(|i| i.dimensions() == (64, 64)));
    assert!(images[0] != images[1], "painters share one picture");
}

/// A real third-party client: PyPI's `webuiapi`. CI installs it; elsewhere the test
/// skips loudly when Python or the package is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webuiapi_client_gets_images_and_a_caption() {
    let w = start_worker().await;
    let script = format!(
        r#"
import webuiapi
from PIL import Image
api = webuiapi.WebUIApi(host="127.0.0.1", port={port})
photo = Image.new("RGB", (96, 128), (200, 120, 90))
r = api.img2img(images=[photo], prompt="a cubist portrait", negative_prompt="blurry",
                seed=3, steps=4, cfg_scale=7, denoising_strength=0.6,
                sampler_name="DDIM", width=64, height=64)
assert len(r.images) == 1 and r.image.size == (64, 64), r.images
assert r.info["seed"] == 3, r.info
c = api.interrogate(image=photo, model="clip")
caption = c.info if isinstance(c.info, str) else c.info.get("caption")
assert caption, c.info
print("OK", caption)
"#,
        port = w.addr.port()
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = std::process::Command::new(&python)
        .args(["-c", "import webuiapi, PIL"])
        .output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have Python with webuiapi (pip install webuiapi): {probe:?}"
        );
        eprintln!("SKIPPED: the webuiapi compatibility test needs `pip install webuiapi`");
        return;
    }
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args(["-c", &script])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "webuiapi failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("OK "), "{stdout}");
}

/// `<lora:name:weight>` in the prompt fuses `name.safetensors` from the worker's LoRA
/// folder (the parity fixtures' SD 1.5 model and LoRAs, written by diffusers), as
/// A1111 clients write it; `/sdapi/v1/loras` lists what is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lora_tags_in_the_prompt_fuse_files_from_the_lora_folder() {
    articket_pool::http::install_tls_provider();
    let parity = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity");
    let loras = tempfile::tempdir().unwrap();
    std::fs::create_dir(loras.path().join("styles")).unwrap();
    std::fs::copy(
        parity.join("lora/peft.safetensors"),
        loras.path().join("ink.safetensors"),
    )
    .unwrap();
    std::fs::copy(
        parity.join("lora/kohya.safetensors"),
        loras.path().join("styles/oil.safetensors"),
    )
    .unwrap();
    let engine = Engine::load(&parity.join("sd15"), &Device::Cpu, DType::F32, false).unwrap();
    let service = EngineService::start(engine, 16, 8, Duration::from_millis(30));
    let app = worker::router(service, None, None, Some(loras.path().to_owned()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let listed = get(addr, "/sdapi/v1/loras").await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ink", "styles/oil"]);

    let paint = |prompt: &str| {
        let body = json!({
            "init_images": [png_b64()], "prompt": prompt, "steps": 4, "denoising_strength": 0.6,
            "sampler_name": "Euler a", "width": 64, "height": 64, "seed": 9, "cfg_scale": 1
        });
        async move {
            let (status, body) = post(addr, "/sdapi/v1/img2img", body).await;
            (status, body)
        }
    };
    let image = |body: &Value| {
        articket_a1111::client::decode_image(body["images"][0].as_str().unwrap())
            .unwrap()
            .into_raw()
    };
    let (s, plain) = paint("a portrait").await;
    assert_eq!(s, 200, "{plain}");
    let (s, ink) = paint("a portrait <lora:ink:0.8>").await;
    assert_eq!(s, 200, "{ink}");
    let (s, zero) = paint("a <lora:ink:0> portrait").await;
    assert_eq!(s, 200, "{zero}");
    let (s, both) = paint("a portrait <lora:ink:0.8> <lora:styles/oil:0.5>").await;
    assert_eq!(s, 200, "{both}");
    assert_ne!(image(&ink), image(&plain), "the LoRA changes the painting");
    assert_eq!(
        image(&zero),
        image(&plain),
        "weight 0 is the model itself; the tag is not prompt text"
    );
    assert_ne!(image(&both), image(&ink), "a second LoRA adds to the first");

    let (s, body) = paint("a portrait <lora:missing:1>").await;
    assert_eq!(s, 404, "{body}");
    let msg = body["detail"].as_str().unwrap();
    assert!(
        msg.contains("LoRA not found: missing") && msg.contains("ink, styles/oil"),
        "{msg}"
    );
    for bad in [
        "<lora:ink:0.5:0.7>",
        "<lora:ink:strong>",
        "<lora:ink",
        "<lora:../sd15:1>",
    ] {
        let (s, body) = paint(&format!("a portrait {bad}")).await;
        assert!(s == 422 || s == 404, "{bad}: {s} {body}");
    }
}

/// With a tiny autoencoder, `/sdapi/v1/progress` carries the painting as it emerges in
/// `current_image`, as A1111 with live previews on; not with `skip_current_image`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_carries_the_live_preview() {
    articket_pool::http::install_tls_provider();
    let parity = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity");
    let mut engine =
        Engine::load(&parity.join("sd-turbo"), &Device::Cpu, DType::F32, false).unwrap();
    engine.use_tiny_vae(&parity.join("taesd")).unwrap();
    let service = EngineService::start(engine, 16, 8, Duration::from_millis(30));
    let app = worker::router(service, None, None, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let body = json!({
        "init_images": [png_b64()], "prompt": "a portrait", "steps": 40, "denoising_strength": 1.0,
        "sampler_name": "Euler a", "width": 128, "height": 128, "seed": 1, "cfg_scale": 1
    });
    let painting = tokio::spawn(async move { post(addr, "/sdapi/v1/img2img", body).await });
    let mut previews = Vec::new();
    let mut skipped_had_image = false;
    while !painting.is_finished() {
        let p = get(addr, "/sdapi/v1/progress").await;
        if let Some(img) = p["current_image"].as_str() {
            if previews.last().map(String::as_str) != Some(img) {
                previews.push(img.to_owned());
            }
        }
        let s = get(addr, "/sdapi/v1/progress?skip_current_image=true").await;
        skipped_had_image |= !s["current_image"].is_null();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _) = painting.await.unwrap();
    assert_eq!(status, 200);
    assert!(previews.len() >= 2, "{} distinct previews", previews.len());
    for p in &previews {
        let img = articket_a1111::client::decode_image(p).unwrap();
        assert_eq!(img.dimensions(), (64, 64), "half the painting's size");
    }
    assert!(!skipped_had_image);
    assert!(
        get(addr, "/sdapi/v1/progress").await["current_image"].is_null(),
        "none once idle"
    );
}

/// The person on the left half of [`photo`].
fn matte() -> Arc<image::GrayImage> {
    Arc::new(image::GrayImage::from_fn(96, 128, |x, _| {
        image::Luma([if x < 48 { 255 } else { 0 }])
    }))
}

/// Mean |a − b| over the columns `xs`.
fn mean_off(a: &RgbImage, b: &RgbImage, xs: std::ops::Range<u32>) -> f64 {
    let mut sum = 0u64;
    let mut n = 0u64;
    for y in 0..a.height() {
        for x in xs.clone() {
            for c in 0..3 {
                sum += (a.get_pixel(x, y)[c] as i64 - b.get_pixel(x, y)[c] as i64).unsigned_abs();
                n += 1;
            }
        }
    }
    sum as f64 / n as f64
}

/// A matte reaches the engine from both ways in: the local backend, and our server
/// pool through the worker, which lists soft inpainting and paints the mask it is
/// sent. Each masked painting differs from the plain one, most where the person is
/// (the engine's algorithm itself is proven against diffusers in tests/parity.rs). A
/// mask without soft inpainting is refused with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matte_paints_the_person_more_gently_through_the_backend_and_the_worker() {
    let w = start_worker().await;
    let mut s = settings_for(w.addr);
    s.captioner = CaptionSource::None;
    s.renoir.strength_person = Some(0.1);
    s.renoir.denoising_strength = 0.9;
    let masked = PaintJob {
        matte: Some(matte()),
        faces: None,
        ..job(Painter::Renoir)
    };
    let backend = LocalBackend::new(w.service.clone(), s.clone(), None);
    let pool = A1111Pool::start(s).await.unwrap();
    for (way, with, without) in [
        (
            "local backend",
            backend
                .paint(masked.clone(), Arc::new(|_| {}))
                .await
                .unwrap(),
            backend
                .paint(job(Painter::Renoir), Arc::new(|_| {}))
                .await
                .unwrap(),
        ),
        (
            "worker",
            pool.paint(masked.clone(), Arc::new(|_| {})).await.unwrap(),
            pool.paint(job(Painter::Renoir), Arc::new(|_| {}))
                .await
                .unwrap(),
        ),
    ] {
        let (person, background) = (
            mean_off(&with, &without, 0..32),
            mean_off(&with, &without, 32..64),
        );
        eprintln!("{way}: masked against plain, person {person:.1}, background {background:.1}");
        assert!(
            person > 1.0 && person > background,
            "{way}: person {person}, background {background}"
        );
    }
    assert_eq!(
        get(w.addr, "/sdapi/v1/scripts").await["img2img"][0],
        "soft inpainting"
    );
    let (status, body) = post(
        w.addr,
        "/sdapi/v1/img2img",
        json!({"init_images": [png_b64()], "mask": png_b64(), "steps": 4, "width": 64, "height": 64}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("soft inpainting"), "{body}");
}
