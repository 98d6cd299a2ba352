//! `articket check-ai` on the real binary: a working A1111 and ComfyUI, a dead address,
//! and an A1111 started without `--api`.

use std::path::Path;
use std::time::Duration;

use articket_a1111::fake::FakeA1111;
use articket_comfyui::fake::FakeComfy;

use crate::util::free_port;

/// Runs `articket check-ai --config CONFIG`: (success, stdout and stderr together).
async fn check_ai(config: &Path) -> (bool, String) {
    let config = config.to_owned();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_articket"))
            .arg("check-ai")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    })
    .await
    .unwrap()
}

/// A config painting through `backend` at `url` (plus `extra` lines under `[ai]`).
fn config_for(dir: &Path, backend: &str, url: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("booth.toml");
    std::fs::write(
        &path,
        format!(
            "[ai]\nenabled = true\nbackend = \"{backend}\"\ncaptioner = \"none\"\n\
             health_interval_secs = 0.2\n{extra}\n[[ai.servers]]\nurl = \"{url}\"\nlabel = \"gpu-1\"\n"
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_working_a1111_is_ready_with_its_time_per_visitor() {
    let fake = FakeA1111::start(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = check_ai(&config_for(dir.path(), "a1111", &fake.url, "")).await;
    assert!(ok, "{out}");
    assert!(out.contains("Painters: a1111 servers"), "{out}");
    assert!(out.contains("gpu-1") && out.contains("answering"), "{out}");
    assert!(out.contains("Test painting: Picasso at"), "{out}");
    assert!(
        out.contains("A visitor waits about") && out.contains("4 paintings"),
        "{out}"
    );
    assert!(out.contains("Ready for visitors."), "{out}");
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.endpoint == "img2img")
            .count(),
        1,
        "one test painting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_working_comfyui_is_ready() {
    let fake = FakeComfy::start(Duration::from_millis(20)).await;
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("invert.json");
    std::fs::write(&workflow, crate::comfyui::INVERT).unwrap();
    let extra = format!("workflow = \"{}\"", workflow.display());
    let (ok, out) = check_ai(&config_for(dir.path(), "comfyui", &fake.url, &extra)).await;
    assert!(ok, "{out}");
    assert!(out.contains("Painters: comfyui servers"), "{out}");
    assert!(out.contains("Ready for visitors."), "{out}");
    assert_eq!(fake.prompts().len(), 1, "one test painting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_address_is_not_ready_and_says_so() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let (ok, out) = check_ai(&config_for(dir.path(), "a1111", &url, "")).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("gpu-1") && out.contains("NOT ANSWERING"),
        "{out}"
    );
    assert!(out.contains("Test painting: FAILED"), "{out}");
    assert!(
        out.contains("To fix:") && out.contains("cannot connect"),
        "{out}"
    );
    assert!(!out.contains("Ready for visitors"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_a1111_without_api_is_told_to_add_it() {
    let fake = FakeA1111::start(Duration::from_millis(20)).await;
    fake.set_api(false);
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = check_ai(&config_for(dir.path(), "a1111", &fake.url, "")).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("To fix:") && out.contains("start AUTOMATIC1111 (or Forge) with --api"),
        "{out}"
    );
    assert!(!out.contains("Not Found"), "no raw 404 page: {out}");
}

/// `articket models list` runs the booth's own load check on each model folder: a whole
/// model (written by diffusers) loads, one missing its UNet weights says which file.
#[cfg(feature = "engine")]
#[test]
fn models_list_says_which_folders_load_and_what_is_missing() {
    let models = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/engine/tests/fixtures/parity/sd-turbo");
    let copy = |to: &Path| {
        for entry in walk(&fixture) {
            let rel = entry.strip_prefix(&fixture).unwrap();
            std::fs::create_dir_all(to.join(rel).parent().unwrap()).unwrap();
            std::fs::copy(&entry, to.join(rel)).unwrap();
        }
    };
    copy(&models.path().join("turbo"));
    copy(&models.path().join("broken"));
    std::fs::remove_file(
        models
            .path()
            .join("broken/unet/diffusion_pytorch_model.safetensors"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_articket"))
        .args(["models", "list", "--dir"])
        .arg(models.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let after = |name: &str| {
        let at = text
            .find(&format!("  {name} "))
            .unwrap_or_else(|| panic!("{text}"));
        text[at..].lines().nth(1).unwrap().trim().to_owned()
    };
    assert_eq!(after("turbo"), "loads: yes", "{text}");
    let broken = after("broken");
    assert!(
        broken.starts_with("loads: no")
            && broken.contains("unet/diffusion_pytorch_model.safetensors"),
        "{broken}"
    );
    assert!(text.contains("sd-turbo") && text.contains("Stability AI Community License"));
}

#[cfg(feature = "engine")]
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
