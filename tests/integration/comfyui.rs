//! The booth painting through a fake ComfyUI: a whole visit with the server's own
//! pictures and progress, nothing left on the server, and the status pages.

use std::time::Duration;

use articket_a1111::{Captioner, ServerSettings};
use articket_comfyui::fake::FakeComfy;
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

pub(crate) fn use_comfyui(c: &mut Config, url: &str, workflow: &std::path::Path) {
    c.ai.enabled = true;
    c.ai.backend = AiBackend::ComfyUi;
    let a = &mut c.ai.a1111;
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

    let kiosk = Kiosk::open(&server).await;
    let mut socket = kiosk.socket(&server).await;
    let phone = Phone::join(&server, &kiosk).await;
    let res = phone
        .upload(&server, "Grace", camera_photo(), "p.jpg")
        .await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let events = events_until(&mut socket, Duration::from_secs(30), |e| {
        is_type(e, "visit_done")
    })
    .await;
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
    let (_, _, photo) = get_bytes(&server, state["photo_url"].as_str().unwrap()).await;
    let photo = image::load_from_memory(&photo).unwrap().into_rgb8();
    for r in state["results"].as_array().unwrap() {
        assert_eq!(r["status"], "done", "{r}");
        let (_, _, bytes) = get_bytes(&server, r["image_url"].as_str().unwrap()).await;
        let painted = image::load_from_memory(&bytes).unwrap().into_rgb8();
        assert_eq!(painted.dimensions(), photo.dimensions());
        // The server's output: the photo inverted (both sides are JPEGs, so nearly).
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
            "{} is the inverted photo (mean difference {diff})",
            r["painter"]
        );
    }
    assert_eq!(fake.prompts().len(), 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.history_len(), 0, "every job's history was deleted");

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
