//! Live previews in real Chromium: while a painting is made, the painter's frame on the
//! kiosk and on the phone shows it emerging, from every backend (the engine on the CPU
//! with a tiny model and tiny autoencoder, a fake A1111's `current_image`, a fake
//! ComfyUI's binary frames). Another room's kiosk sees none, and none outlive the visit.

use std::time::Duration;

use articket_a1111::fake::FakeA1111;
use articket_comfyui::fake::FakeComfy;

use crate::browser::{Browser, Tab};
use crate::comfyui::{use_comfyui, INVERT};
use crate::e2e::{kiosk_and_phone, open_kiosk, photo_file, send_photo, FOUR_DONE};
use crate::stable_diffusion::use_servers;
use crate::util::*;

/// Records, per painter, each preview the page loaded into a frame whose painting was
/// not done yet (a load listener on the document, capturing).
const RECORD: &str = r#"
window.__previews = {};
window.__previewHits = 0;
document.addEventListener("load", (e) => {
  const img = e.target;
  if (!(img instanceof HTMLImageElement) || !img.src.includes("/previews/")) return;
  window.__previewHits += 1;
  const card = img.closest("[data-painter]");
  if (!card || card.dataset.status === "done" || img.naturalWidth === 0) return;
  (window.__previews[card.dataset.painter] ||= []).push(img.src);
}, true);
true
"#;

async fn previews_seen(browser: &mut Browser, tab: &Tab) -> (serde_json::Value, u64) {
    let seen = browser.eval(tab, "window.__previews").await;
    let hits = browser.eval(tab, "window.__previewHits").await;
    (seen, hits.as_u64().unwrap_or(0))
}

/// A whole visit in the browser on `server`; at least one painter's frame showed two
/// or more distinct previews on both screens, and a kiosk of another room none.
async fn a_visit_shows_previews(server: &TestServer, backend: &str) {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let (kiosk, phone) = kiosk_and_phone(&mut browser, server).await;
    let other = open_kiosk(&mut browser, server).await;
    for tab in [&kiosk, &phone, &other] {
        browser.eval(tab, RECORD).await;
    }
    let (_files, photo) = photo_file();
    send_photo(&mut browser, &phone, "Preview", &photo).await;
    browser
        .eval(&phone, "document.getElementById('send').click()")
        .await;
    for tab in [&kiosk, &phone] {
        browser
            .wait_for(tab, FOUR_DONE, Duration::from_secs(180), "four paintings")
            .await;
    }
    let mut urls = Vec::new();
    for (tab, page) in [(&kiosk, "kiosk"), (&phone, "phone")] {
        let (seen, _) = previews_seen(&mut browser, tab).await;
        let best = seen
            .as_object()
            .unwrap()
            .values()
            .map(|v| {
                let mut list: Vec<&str> = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u.as_str().unwrap())
                    .collect();
                list.dedup();
                urls.extend(list.iter().map(|u| u.to_string()));
                list.len()
            })
            .max()
            .unwrap_or(0);
        eprintln!("{backend}, {page}: at most {best} previews in one painter's frame");
        assert!(
            best >= 2,
            "{backend}: the {page} showed at least two previews in a painter's frame: {seen}"
        );
    }
    let (seen, hits) = previews_seen(&mut browser, &other).await;
    assert_eq!(
        (hits, seen.as_object().map_or(0, |m| m.len())),
        (0, 0),
        "{backend}: another room's kiosk loaded no preview: {seen}"
    );
    // Previews live in memory only while painting: none is left after the visit.
    for url in urls {
        let path = url.split_once("/previews/").map(|(_, t)| t).unwrap();
        let (status, _, _) = get_bytes(server, &format!("/previews/{path}")).await;
        assert_eq!(status.as_u16(), 404, "{backend}: {url} after the visit");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_from_a1111s_current_image() {
    let fake = FakeA1111::start(Duration::from_millis(1500)).await;
    let server = TestServer::start_with(|c| use_servers(c, &[&fake])).await;
    a_visit_shows_previews(&server, "a1111").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_from_comfyuis_binary_frames() {
    let fake = FakeComfy::start(Duration::from_millis(1500)).await;
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("invert.json");
    std::fs::write(&workflow, INVERT).unwrap();
    let server = TestServer::start_with(|c| use_comfyui(c, &fake.url, &workflow)).await;
    a_visit_shows_previews(&server, "comfyui").await;
}

/// The engine on the CPU with the parity fixtures' tiny SD-Turbo-shaped model and tiny
/// autoencoder (written by diffusers).
#[cfg(feature = "engine")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_from_the_local_engine() {
    use articket_web::config::AiBackend;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/engine/tests/fixtures/parity");
    let server = TestServer::start_with(|c| {
        c.ai.enabled = true;
        c.ai.backend = AiBackend::Local;
        c.ai.local.model_dir = fixtures.join("sd-turbo");
        c.ai.local.tiny_vae = fixtures.join("taesd");
        c.ai.local.device = "cpu".into();
        for p in articket_style::Painter::ALL {
            let g = c.ai.sd.generation_mut(p);
            g.sampler = "Euler a".into();
            g.steps = 12;
            g.denoising_strength = 1.0;
            g.cfg_scale = 1.0;
            g.long_side = 128;
        }
    })
    .await;
    a_visit_shows_previews(&server, "local engine").await;
}
