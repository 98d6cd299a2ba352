//! `articket stylize`: a real photograph painted offline through the booth's own
//! painting code, by the built-in painters and by a Stable Diffusion server.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use articket_a1111::fake::{FakeA1111, Fault};

const PHOTO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/docs/samples/photos/grace_hopper.jpg"
);

/// Runs `articket stylize PHOTO --out OUT --config CONFIG`; its stdout.
fn stylize(config: &Path, out: &Path) -> String {
    let run = Command::new(env!("CARGO_BIN_EXE_articket"))
        .args(["stylize", PHOTO, "--out"])
        .arg(out)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    stdout
}

fn decoded(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_rgb8()
}

#[test]
fn the_built_in_painters_paint_a_real_photo_and_make_its_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("booth.toml");
    std::fs::write(&config, "").unwrap();
    let out = dir.path().join("out");
    let stdout = stylize(&config, &out);
    assert!(
        stdout.contains("painting with the builtin painters"),
        "{stdout}"
    );
    let photo = image::open(PHOTO).unwrap();
    let paintings: Vec<image::RgbImage> = ["picasso", "renoir", "vangogh", "lichtenstein"]
        .iter()
        .map(|p| decoded(&out.join(format!("{p}.jpg"))))
        .collect();
    for p in &paintings {
        // Intake shrinks the photo to its long side; the painters keep its shape.
        let (w, h) = p.dimensions();
        let aspect = |w: u32, h: u32| w as f64 / h as f64;
        assert!((aspect(w, h) - aspect(photo.width(), photo.height())).abs() < 0.02);
        assert!(w.max(h) <= 1024);
    }
    assert_ne!(
        paintings[0], paintings[1],
        "each painter paints its own way"
    );
    assert_eq!(decoded(&out.join("ticket.png")).dimensions(), (1080, 1920));
}

/// Through a Stable Diffusion server, with a visit's tries: a painter the server keeps
/// failing is tried three times and left out; the others and the ticket are written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_paints_offline_with_a_visits_tries() {
    let fake = FakeA1111::start(Duration::from_millis(20)).await;
    fake.fault_when_prompt_contains("Renoir", Fault::Status(500));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("booth.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[painting]
backoff_ms = 10
[ai]
enabled = true
backend = "a1111"
captioner = "none"
[ai.renoir]
prompt = "{{caption}} by Renoir"
[[ai.servers]]
url = "{}"
"#,
            fake.url
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let (config2, out2) = (config.clone(), out.clone());
    let stdout = tokio::task::spawn_blocking(move || stylize(&config2, &out2))
        .await
        .unwrap();
    assert!(
        stdout.contains("painting with the a1111 painters"),
        "{stdout}"
    );
    assert!(
        stdout.contains("renoir") && stdout.contains("failed"),
        "{stdout}"
    );
    let img2img: Vec<String> = fake
        .calls()
        .iter()
        .filter(|c| c.endpoint == "img2img")
        .map(|c| c.body["prompt"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        img2img.len(),
        6,
        "three painters once, Renoir three times: {img2img:?}"
    );
    assert_eq!(img2img.iter().filter(|p| p.contains("Renoir")).count(), 3);
    for p in ["picasso", "vangogh", "lichtenstein"] {
        decoded(&out.join(format!("{p}.jpg")));
    }
    assert!(!out.join("renoir.jpg").exists());
    assert_eq!(decoded(&out.join("ticket.png")).dimensions(), (1080, 1920));
}
