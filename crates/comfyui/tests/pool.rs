//! The ComfyUI pool against the fake ComfyUI: whole jobs, both message styles, a
//! stalled socket, failures, hangs, node errors, a server going away and back, and
//! visits taking turns.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use articket_comfyui::fake::{FakeComfy, Fault};
use articket_comfyui::ComfyPool;
use articket_pool::{AiSettings, ServerSettings};
use articket_style::{PaintJob, Painter, Progress, StyleError, Stylizer, Update};
use image::RgbImage;

const INVERT: &str = r#"{
  "1": {"class_type": "LoadImage", "inputs": {"image": "{{input_image}}"}},
  "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
  "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "ComfyUI"}}
}"#;

struct Booth {
    _dir: tempfile::TempDir,
    settings: AiSettings,
}

/// Settings for `servers`, every painter running `workflow`.
fn booth(servers: &[&FakeComfy], workflow: &str) -> Booth {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("workflow.json");
    std::fs::write(&path, workflow).unwrap();
    let settings = AiSettings {
        servers: servers
            .iter()
            .map(|s| ServerSettings::at(s.url.clone()))
            .collect(),
        workflow: path.display().to_string(),
        health_interval_secs: 0.1,
        progress_interval_secs: 0.05,
        socket_stall_secs: 0.3,
        request_timeout_secs: 5,
        captioner: articket_pool::Captioner::None,
        ..AiSettings::default()
    };
    Booth {
        _dir: dir,
        settings,
    }
}

fn photo() -> (Arc<RgbImage>, Arc<[u8]>) {
    let img = RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&img)
        .unwrap();
    (Arc::new(img), jpeg.into())
}

fn job(visit: &str, painter: Painter) -> PaintJob {
    let (photo, photo_jpeg) = photo();
    PaintJob {
        painter,
        visit_id: visit.into(),
        photo,
        photo_jpeg,
        seed: 7,
        matte: None,
        faces: None,
    }
}

fn recorder() -> (Progress, Arc<Mutex<Vec<Update>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (Arc::new(move |u| s.lock().unwrap().push(u)), seen)
}

/// The photo as the server decodes it, inverted.
fn inverted() -> RgbImage {
    let (_, jpeg) = photo();
    let mut img = image::load_from_memory(&jpeg).unwrap().into_rgb8();
    img.pixels_mut()
        .for_each(|p| p.0.iter_mut().for_each(|c| *c = 255 - *c));
    img
}

async fn paint_visit(pool: &ComfyPool) -> Vec<(RgbImage, Vec<Update>)> {
    let jobs = Painter::ALL.map(|p| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let (progress, seen) = recorder();
            let image = pool.paint(job("visit-a", p), progress).await.unwrap();
            let updates = seen.lock().unwrap().clone();
            (image, updates)
        })
    });
    let mut out = Vec::new();
    for j in jobs {
        out.push(j.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_visit_is_painted_by_the_servers_workflow_and_leaves_no_history() {
    for new_style in [false, true] {
        let fake = FakeComfy::start(Duration::from_millis(40)).await;
        fake.set_new_style(new_style);
        let b = booth(&[&fake], INVERT);
        let pool = ComfyPool::start(b.settings.clone()).await.unwrap();
        let results = paint_visit(&pool).await;
        for (image, updates) in &results {
            assert_eq!(
                image,
                &inverted(),
                "the server's own output (new style: {new_style})"
            );
            assert!(updates.contains(&Update::Started));
            let steps: Vec<f32> = updates
                .iter()
                .filter_map(|u| match u {
                    Update::Progress(f) => Some(*f),
                    _ => None,
                })
                .collect();
            assert!(
                steps.iter().any(|f| *f > 0.0 && *f < 1.0),
                "progress seen: {steps:?}"
            );
            assert_eq!(steps.last(), Some(&1.0));
            // The binary preview frames, one per step, as JPEGs of their own.
            let previews: Vec<&[u8]> = updates
                .iter()
                .filter_map(|u| match u {
                    Update::Preview(j) => Some(&j[..]),
                    _ => None,
                })
                .collect();
            assert_eq!(previews.len(), 4, "one per step");
            assert!(previews.windows(2).all(|w| w[0] != w[1]));
            for jpeg in previews {
                image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg).unwrap();
            }
        }
        let prompts = fake.prompts();
        assert_eq!(prompts.len(), 4);
        let mut prefixes: Vec<&str> = prompts
            .iter()
            .map(|p| p["3"]["inputs"]["filename_prefix"].as_str().unwrap())
            .collect();
        assert!(
            prefixes.iter().all(|p| p.starts_with("articket/visit-a-")),
            "{prefixes:?}"
        );
        prefixes.sort_unstable();
        prefixes.dedup();
        assert_eq!(prefixes.len(), 4, "a unique prefix per job");
        assert!(prompts.iter().all(|p| p["1"]["inputs"]["image"]
            .as_str()
            .unwrap()
            .starts_with("articket/")));
        assert_eq!(
            fake.history_len(),
            0,
            "every job's history entry is deleted"
        );
        assert_eq!(fake.queue_len(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_painters_prompts_seed_and_settings_fill_the_workflow() {
    let fake = FakeComfy::start(Duration::from_millis(10)).await;
    let workflow = r#"{
      "1": {"class_type": "LoadImage", "inputs": {"image": "{{input_image}}"}},
      "2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "fake-sd15.safetensors"}},
      "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["2", 1]}},
      "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{negative_prompt}}", "clip": ["2", 1]}},
      "5": {"class_type": "VAEEncode", "inputs": {"pixels": ["1", 0], "vae": ["2", 2]}},
      "6": {"class_type": "KSampler", "inputs": {"model": ["2", 0], "seed": "{{seed}}", "steps": "{{steps}}",
            "cfg": "{{cfg}}", "sampler_name": "dpmpp_2m", "scheduler": "karras", "positive": ["3", 0],
            "negative": ["4", 0], "latent_image": ["5", 0], "denoise": "{{denoise}}"}},
      "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["2", 2]}},
      "8": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "x"}}
    }"#;
    let b = booth(&[&fake], workflow);
    let pool = ComfyPool::start(b.settings.clone()).await.unwrap();
    let (progress, _) = recorder();
    pool.paint(job("visit-b", Painter::Renoir), progress)
        .await
        .unwrap();
    let p = &fake.prompts()[0];
    let g = b.settings.generation(Painter::Renoir);
    let neutral = &b.settings.neutral_caption;
    assert_eq!(
        p["3"]["inputs"]["text"],
        g.prompt.replace("{caption}", neutral)
    );
    assert_eq!(p["4"]["inputs"]["text"], g.negative_prompt.as_str());
    assert_eq!(p["6"]["inputs"]["steps"], g.steps);
    assert_eq!(p["6"]["inputs"]["denoise"], 0.6);
    assert_eq!(p["6"]["inputs"]["cfg"], 7.0);
    assert_eq!(
        p["6"]["inputs"]["seed"],
        articket_pool::seed::seed_of(articket_pool::SeedPolicy::Visit, 7, Painter::Renoir)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_socket_is_replaced_by_reading_the_history() {
    let fake = FakeComfy::start(Duration::from_millis(20)).await;
    let b = booth(&[&fake], INVERT);
    let pool = ComfyPool::start(b.settings.clone()).await.unwrap();
    fake.push_fault(Fault::StallSocket);
    let (progress, _) = recorder();
    let image = pool
        .paint(job("visit-c", Painter::Picasso), progress)
        .await
        .unwrap();
    assert_eq!(image, inverted());
    assert_eq!(fake.history_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_is_retryable_and_its_history_is_deleted() {
    let fake = FakeComfy::start(Duration::from_millis(20)).await;
    let b = booth(&[&fake], INVERT);
    let pool = ComfyPool::start(b.settings.clone()).await.unwrap();
    fake.push_fault(Fault::ExecutionError);
    let (progress, _) = recorder();
    let err = pool
        .paint(job("visit-d", Painter::VanGogh), progress.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StyleError::Failed(_)) && err.is_retryable(),
        "{err}"
    );
    assert!(
        err.to_string().contains("CUDA out of memory") && err.to_string().contains("node 2"),
        "{err}"
    );
    // The next try succeeds, and nothing of the failed one is left on the server.
    pool.paint(job("visit-d", Painter::VanGogh), progress)
        .await
        .unwrap();
    wait_until("nothing of the failed job is left", || {
        fake.history_len() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_job_is_interrupted_at_its_deadline_and_the_server_is_free_again() {
    let fake = FakeComfy::start(Duration::from_millis(20)).await;
    let mut b = booth(&[&fake], INVERT);
    b.settings.request_timeout_secs = 1;
    let pool = ComfyPool::start(b.settings.clone()).await.unwrap();
    fake.push_fault(Fault::Hang);
    let (progress, _) = recorder();
    let err = pool
        .paint(job("visit-e", Painter::Lichtenstein), progress.clone())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(fake.interrupts() >= 1, "the hung job was interrupted");
    pool.paint(job("visit-e", Painter::Lichtenstein), progress)
        .await
        .unwrap();
    wait_until("the server is free and clean again", || {
        (fake.history_len(), fake.queue_len()) == (0, 0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_errors_are_a_settings_error_naming_the_node_and_are_not_retried() {
    let fake = FakeComfy::start(Duration::from_millis(20)).await;
    // Passes the start-up check (no choice is wrong), but the seed is not a number.
    let workflow = INVERT.replace(
        r#""3":"#,
        r#""4": {"class_type": "KSampler", "inputs": {"seed": "abc", "image": ["2", 0]}}, "3":"#,
    );
    let b = booth(&[&fake], &workflow);
    let pool = ComfyPool::start(b.settings.clone()).await.unwrap();
    let (progress, _) = recorder();
    let err = pool
        .paint(job("visit-f", Painter::Picasso), progress)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StyleError::Rejected(_)) && !err.is_retryable(),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("settings") && text.contains("node 4 (KSampler)") && text.contains("seed"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_refuses_a_workflow_the_server_cannot_run_naming_file_and_node() {
    let fake = FakeComfy::start(Duration::from_millis(20)).await;
    let missing_node = INVERT.replace("ImageInvert", "ImageSharpen");
    let b = booth(&[&fake], &missing_node);
    let err = ComfyPool::start(b.settings.clone()).await.err().unwrap();
    assert!(
        err.contains("workflow.json") && err.contains("node 2") && err.contains("ImageSharpen"),
        "{err}"
    );
    let missing_model = INVERT.replace(
        r#""3":"#,
        r#""5": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}}, "3":"#,
    );
    let b = booth(&[&fake], &missing_model);
    let err = ComfyPool::start(b.settings.clone()).await.err().unwrap();
    assert!(
        err.contains("node 5") && err.contains("sdxl.safetensors"),
        "{err}"
    );
    let b = booth(
        &[&fake],
        r#"{"1": {"class_type": "SaveImage", "inputs": {}}}"#,
    );
    let err = ComfyPool::start(b.settings.clone()).await.err().unwrap();
    assert!(
        err.starts_with("ai.workflow: ") && err.contains("{{input_image}}"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_going_away_is_taken_out_and_comes_back() {
    let fake = FakeComfy::start(Duration::from_millis(20)).await;
    let b = booth(&[&fake], INVERT);
    let pool = ComfyPool::start(b.settings.clone()).await.unwrap();
    assert!(pool.available());
    fake.set_online(false);
    wait_until("the health probe took it out", || !pool.available()).await;
    let (progress, _) = recorder();
    let err = pool
        .paint(job("visit-g", Painter::Renoir), progress.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, StyleError::Unavailable(_)), "{err}");
    fake.set_online(true);
    wait_until("back in rotation", || pool.available()).await;
    pool.paint(job("visit-g", Painter::Renoir), progress)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visits_take_turns_on_a_server_and_learn_their_place() {
    let fake = FakeComfy::start(Duration::from_millis(40)).await;
    let b = booth(&[&fake], INVERT);
    let pool = ComfyPool::start(b.settings.clone()).await.unwrap();
    let mut tasks = Vec::new();
    let (b_progress, b_seen) = recorder();
    for (visit, progress) in [("visit-h", recorder().0), ("visit-i", b_progress)] {
        for p in Painter::ALL {
            let (pool, progress) = (pool.clone(), progress.clone());
            tasks.push(tokio::spawn(async move {
                pool.paint(job(visit, p), progress).await
            }));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let order: Vec<String> = fake
        .prompts()
        .iter()
        .map(|p| p["3"]["inputs"]["filename_prefix"].as_str().unwrap()[9..16].to_owned())
        .collect();
    // One server, one job at a time: once the first visit's first painting runs, the
    // visits alternate, so the second visit waits behind one job, not four.
    let expected = [
        "visit-h", "visit-h", "visit-i", "visit-h", "visit-i", "visit-h", "visit-i", "visit-i",
    ];
    assert_eq!(order, expected);
    assert!(b_seen
        .lock()
        .unwrap()
        .contains(&Update::Queued { visits_ahead: 1 }));
}

/// Waits until `check` holds, asking every 10 ms; fails after 10 s.
async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// docs/comfyui/img2img-masked.json with the fake's checkpoint.
fn masked_workflow() -> String {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/comfyui/img2img-masked.json");
    std::fs::read_to_string(path)
        .unwrap()
        .replace("v1-5-pruned-emaonly.safetensors", "fake-sd15.safetensors")
}

/// The shipped masked workflow: with a matte, `{{mask_image}}` is an uploaded grey
/// PNG (the person at their share of the strength, the background white) and
/// `{{denoise}}` the larger strength; the fake's sampler changes the person less.
/// Without one the mask is all white, and the painting is what plain img2img gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matte_goes_to_comfyui_as_a_differential_diffusion_mask() {
    let fake = FakeComfy::start(Duration::from_millis(10)).await;
    let b = booth(&[&fake], &masked_workflow());
    let pool = ComfyPool::start(b.settings.clone()).await.unwrap();
    // The person on the left half of the 64×48 photo.
    let matte =
        image::GrayImage::from_fn(64, 48, |x, _| image::Luma([if x < 32 { 255 } else { 0 }]));
    let with = PaintJob {
        matte: Some(Arc::new(matte)),
        faces: None,
        ..job("visit-m", Painter::Renoir)
    };
    let painted = pool.paint(with, Arc::new(|_| {})).await.unwrap();
    let plain = pool
        .paint(job("visit-m", Painter::Renoir), Arc::new(|_| {}))
        .await
        .unwrap();
    let prompts = fake.prompts();
    let (m, p) = (&prompts[0], &prompts[1]);
    assert_eq!(
        m["10"]["inputs"]["denoise"], 0.6,
        "the background's strength"
    );
    assert_eq!(m["2"]["class_type"], "LoadImageMask");
    let mask_file = m["2"]["inputs"]["image"].as_str().unwrap();
    assert!(
        mask_file.starts_with("articket/") && mask_file.ends_with("-mask.png"),
        "{mask_file}"
    );
    assert!(
        fake.inputs().iter().any(|f| f == mask_file),
        "the mask was uploaded"
    );
    assert_ne!(
        p["2"]["inputs"]["image"], m["2"]["inputs"]["image"],
        "a mask per job"
    );

    let (_, jpeg) = photo();
    let original = image::load_from_memory(&jpeg).unwrap().into_rgb8();
    let off = |img: &RgbImage, x: u32| -> i32 {
        let (a, o) = (img.get_pixel(x, 20), original.get_pixel(x, 20));
        (0..3).map(|c| (a[c] as i32 - o[c] as i32).abs()).sum()
    };
    assert!(
        off(&painted, 10) < off(&plain, 10),
        "the person changes less"
    );
    assert_eq!(
        off(&painted, 50),
        off(&plain, 50),
        "the background as before"
    );
}
