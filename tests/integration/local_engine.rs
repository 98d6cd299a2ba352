//! `backend = "local"`: a visit painted in-process by the candle engine, here with a
//! tiny random-weight model (built with `--features engine`).
#![cfg(feature = "engine")]

use std::time::Duration;

use articket_web::config::AiBackend;

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_is_painted_by_the_local_engine() {
    let models = tempfile::tempdir().unwrap();
    articket_engine::tiny::write_tiny_sd(&models.path().join("sd")).unwrap();
    articket_engine::tiny::write_tiny_clip(&models.path().join("clip")).unwrap();
    let server = TestServer::start_with(|c| {
        c.ai.enabled = true;
        c.ai.backend = AiBackend::Local;
        c.ai.local.model_dir = models.path().join("sd");
        c.ai.local.clip_dir = models.path().join("clip");
        c.ai.local.device = "cpu".into();
        let a = &mut c.ai.sd;
        for g in [
            &mut a.picasso,
            &mut a.renoir,
            &mut a.vangogh,
            &mut a.lichtenstein,
        ] {
            g.sampler = "DDIM".into();
            g.steps = 6;
            g.long_side = 64;
        }
    })
    .await;
    let kiosk = Kiosk::open(&server).await;
    let mut socket = kiosk.socket(&server).await;
    let phone = Phone::join(&server, &kiosk).await;
    let res = phone.upload(&server, "Eun", camera_photo(), "p.jpg").await;
    assert_eq!(res.status(), 202);
    let events = events_until(&mut socket, Duration::from_secs(120), |e| {
        is_type(e, "visit_done")
    })
    .await;
    assert_eq!(events.last().unwrap()["status"], "done");
    let state = phone.visit(&server).await;
    for r in state["results"].as_array().unwrap() {
        assert_eq!(r["status"], "done", "{r}");
        let (_, _, bytes) = get_bytes(&server, r["image_url"].as_str().unwrap()).await;
        let img = image::load_from_memory(&bytes).unwrap();
        // The 3:4 photo at long side 64, rounded to multiples of 64: 64×64.
        assert_eq!((img.width(), img.height()), (64, 64));
    }
    let health: serde_json::Value = reqwest::get(server.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["painters"]["backend"], "local");
}
