//! The pool against fake A1111 servers on loopback: real HTTP, real JSON, real timing.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use articket_a1111::fake::{FakeA1111, Fault};
use articket_a1111::A1111Pool;
use articket_pool::{AiSettings, Captioner, Dispatch, ServerSettings};
use articket_style::{PaintJob, Painter, Progress, StyleError, Stylizer, Update};
use image::{Rgb, RgbImage};

fn settings(servers: &[&FakeA1111], dispatch: Dispatch) -> AiSettings {
    AiSettings {
        servers: servers
            .iter()
            .map(|s| ServerSettings::at(s.url.clone()))
            .collect(),
        dispatch,
        captioner: Captioner::None,
        request_timeout_secs: 5,
        health_interval_secs: 0.1,
        progress_interval_secs: 0.05,
        ..AiSettings::default()
    }
}

fn photo() -> Arc<RgbImage> {
    Arc::new(RgbImage::from_fn(384, 512, |x, y| {
        Rgb([(x / 2) as u8, (y / 2) as u8, 128])
    }))
}

fn job(visit: &str, painter: Painter, seed: u64) -> PaintJob {
    PaintJob {
        painter,
        visit_id: visit.into(),
        photo: photo(),
        photo_jpeg: Arc::from(Vec::new()),
        seed,
        matte: None,
        faces: None,
    }
}

fn ignore() -> Progress {
    Arc::new(|_| {})
}

fn recorder() -> (Progress, Arc<Mutex<Vec<Update>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (Arc::new(move |u| s.lock().unwrap().push(u)), seen)
}

/// Paints all four painters of one visit at once; returns how long it took.
async fn paint_visit(pool: &A1111Pool, visit: &str, seed: u64) -> Duration {
    let start = Instant::now();
    let jobs = Painter::ALL.map(|p| {
        let pool = pool.clone();
        let job = job(visit, p, seed);
        tokio::spawn(async move { pool.paint(job, ignore()).await })
    });
    for j in jobs {
        j.await.unwrap().expect("painted");
    }
    start.elapsed()
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_painter_goes_through_caption_and_img2img_with_the_real_shapes() {
    let server = FakeA1111::start(Duration::from_millis(20)).await;
    let mut s = settings(&[&server], Dispatch::Parallel);
    s.captioner = Captioner::Clip;
    s.vangogh
        .override_settings
        .insert("sd_model_checkpoint".into(), "vangogh-v2".into());
    let pool = A1111Pool::start(s).await.unwrap();
    assert!(pool.available());

    let img = pool
        .paint(job("visit-a", Painter::VanGogh, 7), ignore())
        .await
        .unwrap();
    // 384×512 at long side 768, multiples of 64: the aspect ratio is kept.
    assert_eq!(img.dimensions(), (576, 768));
    let calls = server.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].endpoint, "interrogate");
    assert_eq!(calls[0].body["model"], "clip");
    let body = &calls[1].body;
    assert_eq!(calls[1].endpoint, "img2img");
    let prompt = body["prompt"].as_str().unwrap();
    // The caption's subject is in; CLIP's appended artist and flavours are not.
    assert!(
        prompt.contains("a person with short hair smiling at the camera"),
        "{prompt}"
    );
    assert!(
        prompt.contains("van Gogh") && !prompt.contains("rutkowski"),
        "{prompt}"
    );
    assert_eq!(
        body["override_settings"]["sd_model_checkpoint"],
        "vangogh-v2"
    );
    assert_eq!(body["resize_mode"], 1);
    assert_eq!(body["sampler_name"], "DPM++ 2M");
    assert_eq!(body["scheduler"], "Karras");

    // The same visit and painter give the same seed; the caption is asked once per visit.
    pool.paint(job("visit-a", Painter::VanGogh, 7), ignore())
        .await
        .unwrap();
    let calls = server.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[2].body["seed"], calls[1].body["seed"]);
    pool.paint(job("visit-a", Painter::Renoir, 7), ignore())
        .await
        .unwrap();
    let calls = server.calls();
    assert_ne!(
        calls[3].body["seed"], calls[1].body["seed"],
        "painters share a seed"
    );
}

/// Whether two of the fake's calls were at work at the same moment.
fn overlap(a: &articket_a1111::fake::Call, b: &articket_a1111::fake::Call) -> bool {
    let end = |c: &articket_a1111::fake::Call| c.finished.expect("answered");
    a.started < end(b) && b.started < end(a)
}

/// Parallel dispatch paints a visit on both servers at once, two images each;
/// sequential keeps a visit on one server, one image at a time. (How much time that
/// saves is the dispatch benchmark's question: `cargo run --release -p articket-a1111
/// --features fake --example dispatch_bench`.)
#[tokio::test]
async fn parallel_dispatch_paints_on_both_servers_at_once_and_sequential_on_one() {
    let work = Duration::from_millis(150);
    let (a, b) = (FakeA1111::start(work).await, FakeA1111::start(work).await);
    // Small images, so the fake's and our own CPU work stays small next to `work`.
    let small = |dispatch| {
        let mut s = settings(&[&a, &b], dispatch);
        for p in Painter::ALL {
            let g = s.generation_mut(p);
            g.long_side = 128;
        }
        s
    };
    let parallel = A1111Pool::start(small(Dispatch::Parallel)).await.unwrap();
    let sequential = A1111Pool::start(small(Dispatch::Sequential)).await.unwrap();

    paint_visit(&parallel, "par", 1).await;
    let (on_a, on_b) = (a.calls(), b.calls());
    assert_eq!((on_a.len(), on_b.len()), (2, 2), "parallel spreads 2 + 2");
    assert!(
        on_a.iter().any(|x| on_b.iter().any(|y| overlap(x, y))),
        "both servers at work at once: {on_a:?} {on_b:?}"
    );
    paint_visit(&sequential, "seq", 2).await;
    let (a_seq, b_seq) = (&a.calls()[2..], &b.calls()[2..]);
    assert!(
        (a_seq.len(), b_seq.len()) == (4, 0) || (a_seq.len(), b_seq.len()) == (0, 4),
        "sequential keeps a visit on one server: {} + {}",
        a_seq.len(),
        b_seq.len()
    );
    let one = if a_seq.is_empty() { b_seq } else { a_seq };
    for (i, x) in one.iter().enumerate() {
        for y in &one[i + 1..] {
            assert!(!overlap(x, y), "one image at a time: {x:?} {y:?}");
        }
    }
}

#[tokio::test]
async fn visits_take_turns_on_a_busy_server_and_learn_their_place() {
    let server = FakeA1111::start(Duration::from_millis(60)).await;
    // Probes with time to spare: this test is about turns, and one probe slower than
    // 0.5 s on a loaded machine took the only server out (and failed every waiting job).
    let mut s = settings(&[&server], Dispatch::Parallel);
    s.health_interval_secs = 2.0;
    let pool = A1111Pool::start(s).await.unwrap();
    let mut handles = Vec::new();
    let mut updates = Vec::new();
    for (i, visit) in ["A", "B", "C"].into_iter().enumerate() {
        let (progress, seen) = recorder();
        updates.push(seen);
        for p in Painter::ALL {
            let (pool, job, progress) =
                (pool.clone(), job(visit, p, i as u64 + 1), progress.clone());
            handles.push(tokio::spawn(async move { pool.paint(job, progress).await }));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    // Which visit each generation served, in the order the server worked on them.
    let seeds: Vec<i64> = server
        .calls()
        .iter()
        .map(|c| c.body["seed"].as_i64().unwrap())
        .collect();
    let visit_of = |seed: i64| -> usize {
        (0..3)
            .find(|&v| {
                Painter::ALL.iter().any(|&p| {
                    let req = articket_a1111::pool::build_request(
                        &AiSettings::default(),
                        &job("x", p, v as u64 + 1),
                        b"jpeg",
                        "",
                        false,
                    );
                    req.seed == seed
                })
            })
            .expect("a known seed")
    };
    let order: Vec<usize> = seeds.into_iter().map(visit_of).collect();
    eprintln!("service order: {order:?}");
    assert_eq!(order.len(), 12);
    // A started alone; once B and C arrived, visits alternate: no visit waits for all of
    // an earlier visit's painters, and at any point the served counts stay within 2.
    let first = |v: usize| order.iter().position(|&o| o == v).unwrap();
    let third_of_a = order
        .iter()
        .enumerate()
        .filter(|(_, &o)| o == 0)
        .nth(2)
        .unwrap()
        .0;
    assert!(first(1) < third_of_a && first(2) < third_of_a, "{order:?}");
    let mut served = [0i32; 3];
    for &o in &order {
        served[o] += 1;
        let (max, min) = (*served.iter().max().unwrap(), *served.iter().min().unwrap());
        assert!(max - min <= 2 || served.contains(&4), "{order:?}");
    }
    // C arrived third: it was told two visits were ahead, then fewer.
    let c: Vec<usize> = updates[2]
        .lock()
        .unwrap()
        .iter()
        .filter_map(|u| match u {
            Update::Queued { visits_ahead } => Some(*visits_ahead),
            _ => None,
        })
        .collect();
    assert_eq!(c.first(), Some(&2), "{c:?}");
    assert!(c.contains(&0), "{c:?}");
}

#[tokio::test]
async fn a_server_that_goes_down_leaves_the_rotation_and_rejoins() {
    let work = Duration::from_millis(30);
    let (a, b) = (FakeA1111::start(work).await, FakeA1111::start(work).await);
    let pool = A1111Pool::start(settings(&[&a, &b], Dispatch::Parallel))
        .await
        .unwrap();
    b.set_online(false);
    wait_until("b is out", || !pool.status().servers[1].healthy).await;
    assert!(pool.status().servers[1].last_error.is_some());
    paint_visit(&pool, "while-down", 1).await;
    assert_eq!((a.images_served(), b.images_served()), (4, 0));

    b.set_online(true);
    wait_until("b is back", || pool.status().servers[1].healthy).await;
    paint_visit(&pool, "after", 2).await;
    assert!(b.images_served() >= 1, "b rejoined but got no work");
    assert_eq!(a.images_served() + b.images_served(), 8);
}

#[tokio::test]
async fn failures_are_sorted_into_retryable_and_not() {
    let server = FakeA1111::start(Duration::from_millis(10)).await;
    let mut s = settings(&[&server], Dispatch::Parallel);
    s.request_timeout_secs = 1;
    let pool = A1111Pool::start(s).await.unwrap();
    let paint = || pool.paint(job("v", Painter::Picasso, 1), ignore());

    for (fault, expect) in [
        (Fault::Status(500), "failed"),
        (Fault::Garbage, "failed"),
        (Fault::EmptyImages, "failed"),
        (Fault::Drop, "unavailable"),
        (Fault::Hang, "unavailable"),
    ] {
        server.push_fault(fault.clone());
        let start = Instant::now();
        let err = paint().await.unwrap_err();
        let kind = match &err {
            StyleError::Failed(_) => "failed",
            StyleError::Unavailable(_) => "unavailable",
            StyleError::Rejected(_) => "rejected",
        };
        assert_eq!(kind, expect, "{fault:?}: {err}");
        assert!(err.is_retryable(), "{fault:?}");
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{fault:?} took {:?}",
            start.elapsed()
        );
        // The next request goes through: nothing is left stuck (the hang was interrupted).
        wait_until("server healthy", || pool.available()).await;
        paint()
            .await
            .unwrap_or_else(|e| panic!("after {fault:?}: {e}"));
    }
    assert!(
        server.calls().iter().any(|c| c.outcome == "ok"),
        "no successful generation recorded"
    );

    // A sampler the server does not know is the request's fault: 4xx, not retryable.
    let mut s = settings(&[&server], Dispatch::Parallel);
    s.picasso.sampler = "Nonexistent Sampler".into();
    let strict = A1111Pool::start(s).await.unwrap();
    let err = strict
        .paint(job("v", Painter::Picasso, 1), ignore())
        .await
        .unwrap_err();
    assert!(matches!(err, StyleError::Rejected(_)), "{err}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("Sampler not found"), "{err}");
}

#[tokio::test]
async fn with_every_server_down_jobs_fail_at_once_with_a_clear_message() {
    let server = FakeA1111::start(Duration::from_millis(10)).await;
    server.set_online(false);
    let pool = A1111Pool::start(settings(&[&server], Dispatch::Parallel))
        .await
        .unwrap();
    assert!(!pool.available());
    let start = Instant::now();
    let err = pool
        .paint(job("v", Painter::Renoir, 1), ignore())
        .await
        .unwrap_err();
    assert!(matches!(err, StyleError::Unavailable(_)), "{err}");
    assert!(
        err.to_string().contains("no painting server is answering"),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_millis(500));

    // Jobs already waiting when the last server dies are released too.
    server.set_online(true);
    wait_until("up", || pool.available()).await;
    server.set_work(Duration::from_millis(400));
    let waiting: Vec<_> = Painter::ALL
        .map(|p| {
            let (pool, job) = (pool.clone(), job("w", p, 2));
            tokio::spawn(async move { pool.paint(job, ignore()).await })
        })
        .into();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.set_online(false);
    for w in waiting {
        let _ = tokio::time::timeout(Duration::from_secs(5), w)
            .await
            .expect("a waiting job hung after every server went down");
    }
}

#[tokio::test]
async fn captions_come_from_blip_or_fall_back_to_the_neutral_phrase() {
    let server = FakeA1111::start(Duration::from_millis(10)).await;
    let mut s = settings(&[&server], Dispatch::Parallel);
    s.captioner = Captioner::Blip;
    s.blip_url = format!("{}/blip", server.url);
    let pool = A1111Pool::start(s.clone()).await.unwrap();
    pool.paint(job("blip-ok", Painter::Renoir, 1), ignore())
        .await
        .unwrap();
    let prompt = server.calls().last().unwrap().body["prompt"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(prompt.contains("a woman wearing a blue shirt"), "{prompt}");

    // A failing captioner never fails the visit.
    server.push_fault(Fault::Status(500));
    pool.paint(job("blip-down", Painter::Renoir, 1), ignore())
        .await
        .unwrap();
    let prompt = server.calls().last().unwrap().body["prompt"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(prompt.contains(&s.neutral_caption), "{prompt}");
}

#[tokio::test]
async fn a_lone_job_reports_step_progress_and_start() {
    let server = FakeA1111::start(Duration::from_millis(600)).await;
    let pool = A1111Pool::start(settings(&[&server], Dispatch::Parallel))
        .await
        .unwrap();
    let (progress, seen) = recorder();
    pool.paint(job("p", Painter::Lichtenstein, 1), progress)
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(seen.contains(&Update::Started), "{seen:?}");
    let fractions: Vec<f32> = seen
        .iter()
        .filter_map(|u| {
            if let Update::Progress(f) = u {
                Some(*f)
            } else {
                None
            }
        })
        .collect();
    assert!(
        fractions.iter().any(|&f| f > 0.0 && f < 1.0),
        "{fractions:?}"
    );
    assert_eq!(fractions.last(), Some(&1.0));
    assert!(
        fractions.windows(2).all(|w| w[0] <= w[1]),
        "progress went backwards: {fractions:?}"
    );
    // The live preview (`current_image`) comes along, as small JPEGs, each new one once.
    let previews: Vec<Vec<u8>> = seen
        .iter()
        .filter_map(|u| match u {
            Update::Preview(j) => Some(j.to_vec()),
            _ => None,
        })
        .collect();
    assert!(previews.len() >= 2, "{} previews", previews.len());
    assert!(
        previews.windows(2).all(|w| w[0] != w[1]),
        "each preview is new"
    );
    for jpeg in &previews {
        let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg).unwrap();
        assert!(img.width().max(img.height()) <= articket_style::PREVIEW_LONG_SIDE);
    }
}

#[tokio::test]
async fn servers_behind_api_auth_need_the_credentials() {
    let server = FakeA1111::start_with_auth(Duration::from_millis(10), "booth", "s3cret").await;
    let mut s = settings(&[&server], Dispatch::Parallel);
    let wrong = A1111Pool::start(s.clone()).await.unwrap();
    assert!(!wrong.available());
    let error = wrong.status().servers[0].last_error.clone().unwrap();
    assert!(
        error.contains("refused our credentials") && error.contains("--api-auth"),
        "{error}"
    );

    s.servers[0].user = Some("booth".into());
    s.servers[0].password = Some("s3cret".into());
    let right = A1111Pool::start(s).await.unwrap();
    right
        .paint(job("auth", Painter::Picasso, 1), ignore())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_fake_refuses_fields_a1111_does_not_know_and_wrong_types() {
    articket_pool::http::install_tls_provider();
    let server = FakeA1111::start(Duration::from_millis(1)).await;
    let http = reqwest::Client::new();
    let url = format!("{}/sdapi/v1/img2img", server.url);
    let post = |body: serde_json::Value| http.post(&url).json(&body).send();
    let png = {
        let mut out = Vec::new();
        RgbImage::new(8, 8)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        articket_a1111::client::encode_base64(&out)
    };
    let ok = post(serde_json::json!({"init_images": [format!("data:image/png;base64,{png}")], "width": 64, "height": 64}))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let answer: articket_a1111::api::ImagesResponse = ok.json().await.unwrap();
    assert_eq!(answer.images.len(), 1);
    let info: serde_json::Value =
        serde_json::from_str(&answer.info).expect("info is a JSON string");
    assert_eq!(info["width"], 64);

    for (body, field) in [
        (
            serde_json::json!({"init_images": [png.clone()], "denoise": 0.5}),
            "denoise",
        ),
        (
            serde_json::json!({"init_images": [png.clone()], "steps": "30"}),
            "steps",
        ),
        (serde_json::json!({"init_images": []}), "init_images"),
    ] {
        let res = post(body).await.unwrap();
        assert_eq!(res.status(), 422, "{field}");
        let text = res.text().await.unwrap();
        assert!(text.contains(field), "{text}");
    }
}

/// The fake refuses a ControlNet block the extension would not read, as A1111
/// refuses an unknown field: so a wrong shape in our requests cannot pass unseen.
#[tokio::test]
async fn the_fake_checks_the_controlnet_extensions_shape() {
    articket_pool::http::install_tls_provider();
    let fake = FakeA1111::start(Duration::from_millis(5)).await;
    let http = reqwest::Client::new();
    let image = articket_a1111::client::encode_base64(&{
        let mut png = Vec::new();
        image::RgbImage::new(8, 8)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png
    });
    let send = |unit: serde_json::Value| {
        let body = serde_json::json!({
            "init_images": [image.clone()], "prompt": "x", "steps": 2, "denoising_strength": 0.5,
            "alwayson_scripts": {"controlnet": {"args": [unit]}}
        });
        http.post(format!("{}/sdapi/v1/img2img", fake.url))
            .json(&body)
            .send()
    };
    let good = serde_json::json!({"enabled": true, "module": "canny", "model": "control_canny",
        "weight": 1.0, "guidance_start": 0.0, "guidance_end": 1.0, "control_mode": "Balanced"});
    assert_eq!(send(good.clone()).await.unwrap().status(), 200);
    for (field, value) in [
        ("modul", serde_json::json!("canny")),
        ("control_mode", serde_json::json!("Prompt first")),
        ("guidance_end", serde_json::json!(1.5)),
        ("model", serde_json::json!(3)),
    ] {
        let mut bad = good.clone();
        bad[field] = value;
        let res = send(bad).await.unwrap();
        assert_eq!(res.status(), 422, "{field}");
    }
}

/// A matte the size of [`photo`]: the person a centred band (255), the rest 0.
fn matte() -> Arc<image::GrayImage> {
    Arc::new(image::GrayImage::from_fn(384, 512, |x, _| {
        image::Luma([if (128..256).contains(&x) { 255 } else { 0 }])
    }))
}

/// With a matte and a server that has soft inpainting, the painting goes as a masked
/// one: the person's share of the strength in the mask's greys, soft inpainting on,
/// the whole picture, the run at the background's strength; the person comes back
/// nearer the photo. A server without soft inpainting gets the plain request.
#[tokio::test]
async fn a_matte_goes_to_a1111_as_a_soft_inpainting_mask() {
    let server = FakeA1111::start(Duration::from_millis(5)).await;
    let mut s = settings(&[&server], Dispatch::Parallel);
    s.renoir.denoising_strength = 0.6;
    s.renoir.strength_person = Some(0.3);
    let pool = A1111Pool::start(s.clone()).await.unwrap();
    let masked = PaintJob {
        matte: Some(matte()),
        faces: None,
        ..job("visit-m", Painter::Renoir, 3)
    };
    let img = pool.paint(masked.clone(), ignore()).await.unwrap();
    let body = server.calls().last().unwrap().body.clone();
    assert_eq!(body["denoising_strength"], 0.6);
    assert_eq!(body["inpaint_full_res"], false);
    assert_eq!(body["inpainting_fill"], 1);
    assert_eq!(body["inpainting_mask_invert"], 0);
    assert_eq!(body["alwayson_scripts"]["soft inpainting"]["args"][0], true);
    let mask = articket_a1111::client::decode_image(body["mask"].as_str().unwrap()).unwrap();
    assert_eq!(mask.dimensions(), (384, 512));
    assert_eq!(
        mask.get_pixel(10, 10)[0],
        255,
        "the background changes fully"
    );
    assert_eq!(
        mask.get_pixel(192, 10)[0],
        128,
        "the person by half (0.3 of 0.6)"
    );
    // The fake keeps the photo where the mask is dark, as soft inpainting does.
    let plain = pool
        .paint(job("visit-m", Painter::Renoir, 3), ignore())
        .await
        .unwrap();
    assert!(server.calls().last().unwrap().body.get("mask").is_none());
    let resized = image::imageops::resize(
        &*photo(),
        img.width(),
        img.height(),
        image::imageops::FilterType::Triangle,
    );
    let off = |a: &RgbImage, x: u32| -> i32 {
        let (p, q) = (a.get_pixel(x, 300), resized.get_pixel(x, 300));
        (0..3).map(|c| (p[c] as i32 - q[c] as i32).abs()).sum()
    };
    let person_x = img.width() / 2;
    assert!(
        off(&img, person_x) < off(&plain, person_x),
        "the person is nearer the photo"
    );
    assert_eq!(
        off(&img, 5),
        off(&plain, 5),
        "the background is painted as before"
    );

    // A server before A1111 1.8: no soft inpainting, so no mask (it would binarise it).
    let old = FakeA1111::start(Duration::from_millis(5)).await;
    old.set_soft_inpainting(false);
    let pool = A1111Pool::start(settings(&[&old], Dispatch::Parallel))
        .await
        .unwrap();
    pool.paint(masked, ignore()).await.unwrap();
    let body = old.calls().last().unwrap().body.clone();
    assert!(body.get("mask").is_none() && body.get("alwayson_scripts").is_none());
    let renoir = AiSettings::default().renoir.denoising_strength;
    assert_eq!(body["denoising_strength"].as_f64().unwrap() as f32, renoir);
}

/// The fake refuses a mask it would misread: without soft inpainting, or not the
/// init image's shape.
#[tokio::test]
async fn the_fake_checks_the_masks_shape() {
    articket_pool::http::install_tls_provider();
    let fake = FakeA1111::start(Duration::from_millis(1)).await;
    let http = reqwest::Client::new();
    let png = |w: u32, h: u32| {
        let mut out = Vec::new();
        RgbImage::new(w, h)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        articket_a1111::client::encode_base64(&out)
    };
    let soft =
        serde_json::json!({"soft inpainting": {"args": [true, 1.0, 0.5, 4.0, 0.0, 0.5, 2.0]}});
    let send = |body: serde_json::Value| {
        http.post(format!("{}/sdapi/v1/img2img", fake.url))
            .json(&body)
            .send()
    };
    let good = serde_json::json!({"init_images": [png(16, 8)], "width": 64, "height": 32,
        "mask": png(32, 16), "mask_blur": 4, "inpainting_fill": 1, "inpaint_full_res": false,
        "inpainting_mask_invert": 0, "alwayson_scripts": soft});
    assert_eq!(send(good.clone()).await.unwrap().status(), 200);
    for (field, value) in [
        ("mask", serde_json::json!(png(16, 16))),
        ("alwayson_scripts", serde_json::json!({})),
        ("inpaint_full_res", serde_json::json!("no")),
        ("inpainting_fill", serde_json::json!(7)),
    ] {
        let mut bad = good.clone();
        bad[field] = value;
        let res = send(bad).await.unwrap();
        assert_eq!(res.status(), 422, "{field}");
    }
}
