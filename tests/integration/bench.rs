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

/// The same with MODNet matting each photo at intake (and checking it against every
/// face) and the painters' worlds behind the visitor, on a real portrait (Grace Hopper,
/// 512×600: a drawn photo holds no one, so its matte would be dropped). Needs
/// target/test-models/modnet.onnx: bench/matting/fetch_modnet.sh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run explicitly in release mode"]
async fn measure_upload_to_fourth_result_with_matting() {
    let server = TestServer::start_with(|c| c.matting.model = Some(modnet())).await;
    let photo = std::fs::read("docs/samples/photos/grace_hopper.jpg").unwrap();
    measure_with(
        &server,
        photo,
        "Grace Hopper's 512x600 JPEG, matting at 320 px",
    )
    .await;
}

fn modnet() -> std::path::PathBuf {
    std::fs::canonicalize("target/test-models/modnet.onnx")
        .expect("bench/matting/fetch_modnet.sh puts MODNet there")
}

/// A real visit in headless Chromium with matting on: from the phone's tap on "send" to
/// the kiosk showing its fourth painting, over 10 visits of Grace Hopper's portrait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run explicitly in release mode"]
async fn measure_browser_tap_to_fourth_painting_with_matting() {
    use crate::e2e::{kiosk_and_phone, send_photo, FOUR_DONE};
    let Some(mut browser) = crate::browser::Browser::launch().await else {
        panic!("no Chromium");
    };
    let server = TestServer::start_with(|c| {
        c.matting.model = Some(modnet());
        c.kiosk.finished_hold_secs = 1;
    })
    .await;
    let photo = std::fs::canonicalize("docs/samples/photos/grace_hopper.jpg").unwrap();
    let mut times = Vec::new();
    for _ in 0..10 {
        let (kiosk, phone) = kiosk_and_phone(&mut browser, &server).await;
        send_photo(&mut browser, &phone, "Grace", &photo).await;
        let started = Instant::now();
        browser.tap(&phone, "#send").await;
        browser
            .wait_for(
                &kiosk,
                FOUR_DONE,
                Duration::from_secs(60),
                "four paintings on the kiosk",
            )
            .await;
        times.push(started.elapsed());
        browser.close(&kiosk).await;
        browser.close(&phone).await;
    }
    report(
        &mut times,
        "tap -> 4th painting on the kiosk, headless Chromium, Grace Hopper, matting at 320 px",
    );
}

fn report(times: &mut [Duration], what: &str) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what} over {} visits: median {:.1} ms, min {:.1} ms, max {:.1} ms",
        times.len(),
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
}

async fn measure(server: &TestServer, what: &str) {
    measure_with(
        server,
        camera_photo(),
        &format!("1600x1200 JPEG, EXIF 6{what}"),
    )
    .await;
}

async fn measure_with(server: &TestServer, photo: Vec<u8>, what: &str) {
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
    report(&mut times, &format!("upload -> 4th result ({what})"));
}
