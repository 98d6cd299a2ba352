//! Restarts keep every finished visit, and resume visits a restart interrupted.

use std::time::Duration;

use articket_style::Painter;
use serde_json::Value;

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_visits_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let kiosk = Kiosk::open(&server).await;
    let phone = Phone::join(&server, &kiosk).await;
    let mut socket = phone.socket(&server, &kiosk.room_id).await;
    assert_eq!(
        phone
            .upload(&server, "Restart", camera_photo(), "r.jpg")
            .await
            .status(),
        202
    );
    events_until(&mut socket, Duration::from_secs(60), |e| {
        is_type(e, "visit_done")
    })
    .await;
    let before = phone.visit(&server).await;
    let cookie = phone.cookie_header(&server);
    drop(socket);
    server.stop().await;

    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let res = reqwest::Client::new()
        .get(server.url(&format!("/api/visits/{}", phone.visit_id)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let after: Value = res.json().await.unwrap();
    assert_eq!(after, before);
    for r in after["results"].as_array().unwrap() {
        let (status, _, bytes) = get_bytes(&server, r["image_url"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        image::load_from_memory(&bytes).unwrap();
    }
    let (status, _, ticket) = get_bytes(&server, after["ticket_url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    image::load_from_memory(&ticket).unwrap();
}

/// A visit the previous run left in "painting" (as a crash would) is painted to the
/// end when the server starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_interrupted_mid_painting_is_resumed_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let visit_id = articket_rooms::new_id();
    {
        let store = articket_store::Store::open(dir.path()).unwrap();
        let room_id = articket_rooms::new_id();
        store
            .create_room(&articket_store::Room {
                id: room_id.clone(),
                kiosk_token_hash: "x".into(),
                join_secret: None,
                visit_id: None,
                created_at: 0,
            })
            .unwrap();
        store.join_room(&room_id, &visit_id, "y", 0).unwrap();
        let photo = articket_intake::process(&camera_photo(), &Default::default()).unwrap();
        let file = store
            .files()
            .put(&photo.jpeg, articket_store::FileKind::Jpeg)
            .unwrap();
        store
            .start_painting(
                &visit_id,
                "Crash",
                &file,
                &[Painter::Picasso, Painter::Renoir],
                0,
            )
            .unwrap();
        store
            .result_started(&visit_id, Painter::Picasso, 1, 0)
            .unwrap();
    }
    let _server = TestServer::start_in(dir.path(), |_| {}).await;
    let store = articket_store::Store::open_read_only(dir.path()).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let visit = store.visit(&visit_id).unwrap().unwrap();
        if visit.status == articket_store::VisitStatus::Done {
            assert!(visit.ticket_file.is_some());
            assert!(visit
                .results
                .iter()
                .all(|r| r.status == articket_store::ResultStatus::Done));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not resumed: {visit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The real binary on `port`, painting through the fake Stable Diffusion server at
/// `sd_url`, with its data in `dir`.
fn spawn_booth(dir: &std::path::Path, port: u16, sd_url: &str) -> Booth {
    spawn_booth_on(dir, port, &[sd_url])
}

/// The real binary on `port`, painting through the fake servers at `sd_urls`.
fn spawn_booth_on(dir: &std::path::Path, port: u16, sd_urls: &[&str]) -> Booth {
    let servers: String = sd_urls
        .iter()
        .map(|url| format!("[[ai.servers]]\nurl = \"{url}\"\n"))
        .collect();
    let config = dir.join("booth.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[limits]
uploads_per_minute = 0
[ai]
enabled = true
backend = "a1111"
captioner = "none"
health_interval_secs = 0.1
progress_interval_secs = 0.05
[ai.picasso]
long_side = 256
prompt = "a portrait of {{caption}} by Picasso"
[ai.renoir]
long_side = 256
prompt = "a portrait of {{caption}} by Renoir"
[ai.vangogh]
long_side = 256
prompt = "a portrait of {{caption}} by Gogh"
[ai.lichtenstein]
long_side = 256
prompt = "a portrait of {{caption}} by Lichtenstein"
{servers}"#
        ),
    )
    .unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_articket"))
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .map(Booth)
        .unwrap()
}

/// kill -9 in the middle of a visit: after a restart, the painting finished before the
/// crash is served unchanged, the others are painted, and the visit ends with a ticket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booth_killed_mid_visit_keeps_finished_work_and_completes_the_rest() {
    // One server, one painting at a time, 700 ms each: a visit takes about 3 s.
    let sd = articket_a1111::fake::FakeA1111::start(Duration::from_millis(700)).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut booth = spawn_booth(dir.path(), port, &sd.url);
    let server = TestServer::external(base.clone(), &dir.path().join("data")).await;

    let (_, phone, mut socket) = started_visit(&server, "Crash").await;
    let events = events_until(&mut socket, Duration::from_secs(30), |e| {
        is_type(e, "painter") && e["status"] == "done"
    })
    .await;
    let first = events.last().unwrap().clone();
    let first_url = first["image_url"].as_str().unwrap().to_owned();
    let (_, _, first_bytes) = get_bytes(&server, &first_url).await;

    booth.kill(); // SIGKILL: no shutdown code runs
    drop(socket);
    assert!(
        reqwest::get(server.url("/healthz")).await.is_err(),
        "the booth is down"
    );

    let mut booth = spawn_booth(dir.path(), port, &sd.url);
    let server = TestServer::external(base, &dir.path().join("data")).await;
    let visit = ended_visit(&phone, &server).await;
    assert_eq!(visit["status"], "done", "{visit}");
    let results = visit["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for r in results {
        assert_eq!(r["status"], "done", "{r}");
        let (status, _, bytes) = get_bytes(&server, r["image_url"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        image::load_from_memory(&bytes).unwrap();
        if r["painter"] == first["painter"] {
            assert_eq!(r["image_url"].as_str(), Some(first_url.as_str()));
            assert_eq!(
                bytes, first_bytes,
                "the finished painting is kept as it was"
            );
        }
    }
    let (status, _, ticket) = get_bytes(&server, visit["ticket_url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    image::load_from_memory(&ticket).unwrap();
    // No half-written file survives: every stored file is one the store knows.
    for name in server.stored_files() {
        assert!(!name.starts_with('.') && !name.contains("tmp"), "{name}");
    }
    booth.kill();
}

/// Which painter an img2img request was for, by its prompt (the booth's test config
/// names each painter in its prompt).
fn painter_of(call: &articket_a1111::fake::Call) -> &'static str {
    let prompt = call.body["prompt"].as_str().unwrap_or_default();
    [
        ("Picasso", "picasso"),
        ("Renoir", "renoir"),
        ("Gogh", "vangogh"),
        ("Lichtenstein", "lichtenstein"),
    ]
    .into_iter()
    .find(|(name, _)| prompt.contains(name))
    .map_or("?", |(_, id)| id)
}

/// The painters of the img2img requests that `fakes` took up after `since`, sorted.
/// (A fake records a request when it answers.)
fn painted_after(
    fakes: &[articket_a1111::fake::FakeA1111],
    since: std::time::Instant,
) -> Vec<&'static str> {
    let mut painters: Vec<&str> = fakes
        .iter()
        .flat_map(|f| f.calls())
        .filter(|c| c.endpoint == "img2img" && c.started >= since)
        .map(|c| painter_of(&c))
        .collect();
    painters.sort();
    painters
}

/// The visit's painters in `status`, sorted.
fn painters_in(visit: &serde_json::Value, status: &str) -> Vec<String> {
    let mut painters: Vec<String> = visit["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == status)
        .filter_map(|r| r["painter"].as_str().map(str::to_owned))
        .collect();
    painters.sort();
    painters
}

/// The painter jobs are durable: kill -9 while two painters of a visit are done and two
/// are at work on slow servers, and the restarted booth paints exactly those two again,
/// never the two that were done, and the visit ends with four paintings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_exactly_the_unfinished_painters_run_again() {
    use articket_a1111::fake::{FakeA1111, Fault};
    // A server per painter: Picasso and Renoir are quick, Van Gogh and Lichtenstein
    // slow (until the restart), so a moment comes when the quick two are done and the
    // slow two at work.
    let mut fakes = Vec::new();
    for _ in 0..4 {
        fakes.push(FakeA1111::start(Duration::from_millis(100)).await);
    }
    for f in &fakes {
        f.fault_when_prompt_contains("Gogh", Fault::Slow(Duration::from_secs(3)));
        f.fault_when_prompt_contains("Lichtenstein", Fault::Slow(Duration::from_secs(3)));
    }
    let urls: Vec<&str> = fakes.iter().map(|f| f.url.as_str()).collect();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut booth = spawn_booth_on(dir.path(), port, &urls);
    let server = TestServer::external(base.clone(), &dir.path().join("data")).await;
    let (_, phone, _socket) = started_visit(&server, "Durable").await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let before = loop {
        let v = phone.visit(&server).await;
        if painters_in(&v, "done") == ["picasso", "renoir"]
            && painters_in(&v, "painting") == ["lichtenstein", "vangogh"]
        {
            break v;
        }
        assert!(tokio::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    booth.kill(); // SIGKILL: no shutdown code runs
    for f in &fakes {
        f.clear_faults();
    }

    let restarted = std::time::Instant::now();
    let mut booth = spawn_booth_on(dir.path(), port, &urls);
    let server = TestServer::external(base, &dir.path().join("data")).await;
    let visit = ended_visit(&phone, &server).await;
    assert_eq!(visit["status"], "done", "{visit}");
    assert_eq!(
        painted_after(&fakes, restarted),
        ["lichtenstein", "vangogh"],
        "exactly the painters that had not finished are painted again, once each"
    );
    let results = visit["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for (r, was) in results.iter().zip(before["results"].as_array().unwrap()) {
        assert_eq!(r["status"], "done", "{r}");
        assert_eq!(r["attempts"], 1, "the interrupted try is made again: {r}");
        if was["status"] == "done" {
            assert_eq!(
                r["image_url"], was["image_url"],
                "a finished painting is kept"
            );
        }
    }
    assert!(visit["ticket_url"].is_string(), "{visit}");
    booth.kill();
}

/// The phone's visit once it has ended (done or failed), within a minute.
async fn ended_visit(phone: &Phone, server: &TestServer) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let v = phone.visit(server).await;
        if v["status"] == "done" || v["status"] == "failed" {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "not finished: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
