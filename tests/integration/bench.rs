//! Measurements, not assertions: run with
//! `cargo test --release --test integration -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use crate::util::*;

/// Upload-to-fourth-result latency over 20 sequential visits on the built-in renderer,
/// measured as a kiosk sees it: from sending the upload to the fourth `done` event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run explicitly in release mode"]
async fn measure_upload_to_fourth_result() {
    measure(&TestServer::start().await, "").await;
}

/// The same with MODNet matting each photo at intake and the painters' worlds behind
/// the visitor (needs target/test-models/modnet.onnx: bench/matting/fetch_modnet.sh).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run explicitly in release mode"]
async fn measure_upload_to_fourth_result_with_matting() {
    let model = std::fs::canonicalize("target/test-models/modnet.onnx")
        .expect("bench/matting/fetch_modnet.sh puts MODNet there");
    let server = TestServer::start_with(|c| c.matting.model = Some(model)).await;
    measure(&server, ", matting at 320 px").await;
}

async fn measure(server: &TestServer, what: &str) {
    let photo = camera_photo();
    let mut times = Vec::new();
    for _ in 0..20 {
        let kiosk = Kiosk::open(server).await;
        let mut socket = kiosk.socket(server).await;
        let phone = Phone::join(server, &kiosk).await;
        let started = Instant::now();
        assert_eq!(
            phone
                .upload(server, "Bench", photo.clone(), "b.jpg")
                .await
                .status(),
            202
        );
        let done = std::cell::Cell::new(0);
        events_until(&mut socket, Duration::from_secs(60), |e| {
            done.set(done.get() + usize::from(is_type(e, "painter") && e["status"] == "done"));
            done.get() == 4
        })
        .await;
        times.push(started.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "upload -> 4th result over {} visits (1600x1200 JPEG, EXIF 6{what}): median {:.1} ms, min {:.1} ms, max {:.1} ms",
        times.len(),
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
}
