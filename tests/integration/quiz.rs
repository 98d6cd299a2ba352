//! Quiz mode over HTTP: the phone uploads, answers eight questions while the painters
//! work, and gets a quiz ticket for the painter its answers pick.

use std::time::Duration;

use articket_web::config::VisitMode;
use serde_json::Value;

use crate::util::*;

async fn upload_with_mode(phone: &Phone, server: &TestServer, mode: &str) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(camera_photo())
        .file_name("q.jpg")
        .mime_str("image/jpeg")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("name", "퀴즈")
        .text("mode", mode.to_owned())
        .part("photo", part);
    phone
        .http
        .post(server.url(&format!("/api/visits/{}/photo", phone.visit_id)))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn answer(phone: &Phone, server: &TestServer, answers: &str) -> reqwest::Response {
    phone
        .http
        .post(server.url(&format!("/api/visits/{}/answers", phone.visit_id)))
        .json(&serde_json::json!({ "answers": answers }))
        .send()
        .await
        .unwrap()
}

async fn code_of(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

/// The answers "abbababb": E (a, b: a tie), N (b, a: a tie), F (b, b), J (a, b): ENFJ,
/// which is Renoir's; Picasso is the good match and Van Gogh the bad one.
const ANSWERS: &str = "abbababb";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_quiz_visit_ends_with_a_ticket_for_the_painter_it_picked() {
    let server = TestServer::start_with(|c| c.quiz.mode = VisitMode::Both).await;
    let quiz = get_json(&reqwest::Client::new(), &server, "/api/quiz").await;
    assert_eq!(quiz["mode"], "both");
    assert_eq!(quiz["quiz"]["questions"].as_array().unwrap().len(), 8);
    assert!(quiz["quiz"]["painters"]["renoir"]["good_ko"].is_string());

    let kiosk = Kiosk::open(&server).await;
    let mut socket = kiosk.socket(&server).await;
    let phone = Phone::join(&server, &kiosk).await;
    assert_eq!(
        code_of(answer(&phone, &server, "a").await).await,
        (409, "not-a-quiz".into()),
        "no quiz before the photo chose one"
    );
    assert_eq!(
        code_of(upload_with_mode(&phone, &server, "riddle").await).await,
        (400, "mode-unavailable".into())
    );
    assert_eq!(
        upload_with_mode(&phone, &server, "quiz").await.status(),
        202
    );

    // Every painter paints while the visitor answers (the quiz hides the wait): here
    // the painters finish first, and the ticket waits for the last answer.
    events_until(&mut socket, Duration::from_secs(60), |e| {
        is_type(e, "painter") && e["status"] == "done" && e["painter"] == "lichtenstein"
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let v = phone.visit(&server).await;
        if v["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "done")
        {
            assert_eq!(v["status"], "painting", "{v}");
            assert!(v["ticket_url"].is_null());
            assert_eq!(v["mode"], "quiz");
            assert_eq!(v["quiz"]["answers"], "");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for n in 1..ANSWERS.len() {
        let res = answer(&phone, &server, &ANSWERS[..n]).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["answered"], n);
        assert!(body["personality"].is_null());
    }
    assert_eq!(
        code_of(answer(&phone, &server, "bb").await).await,
        (409, "answers-changed".into())
    );
    assert_eq!(
        code_of(answer(&phone, &server, "abbabac").await).await,
        (400, "answers-malformed".into())
    );
    assert_eq!(
        code_of(
            reqwest::Client::new()
                .post(server.url(&format!("/api/visits/{}/answers", phone.visit_id)))
                .bearer_auth(&kiosk.token)
                .json(&serde_json::json!({ "answers": ANSWERS }))
                .send()
                .await
                .unwrap()
        )
        .await
        .0,
        404,
        "the kiosk cannot answer for the visitor"
    );
    let res = answer(&phone, &server, ANSWERS).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["personality"].as_str(), body["painter"].as_str()),
        (Some("ENFJ"), Some("renoir"))
    );
    assert_eq!(
        code_of(answer(&phone, &server, ANSWERS).await).await,
        (409, "quiz-done".into())
    );

    // The kiosk followed along, question by question, then got the ticket.
    let events = events_until(&mut socket, Duration::from_secs(30), |e| {
        is_type(e, "visit_done")
    })
    .await;
    let answered: Vec<u64> = events
        .iter()
        .filter(|e| is_type(e, "quiz"))
        .map(|e| e["answered"].as_u64().unwrap())
        .collect();
    assert_eq!(answered, (1..=8).collect::<Vec<_>>());
    let last_quiz = events.iter().rfind(|e| is_type(e, "quiz")).unwrap();
    assert_eq!(last_quiz["personality"], "ENFJ");
    assert_eq!(last_quiz["painter"], "renoir");

    let v = phone.visit(&server).await;
    assert_eq!(v["status"], "done");
    let q = &v["quiz"];
    assert_eq!(
        (
            q["personality"].as_str(),
            q["painter"].as_str(),
            q["good"].as_str(),
            q["bad"].as_str()
        ),
        (
            Some("ENFJ"),
            Some("renoir"),
            Some("picasso"),
            Some("vangogh")
        )
    );
    let (status, ct, png) = get_bytes(&server, v["ticket_url"].as_str().unwrap()).await;
    assert_eq!((status.as_u16(), ct.as_deref()), (200, Some("image/png")));
    let ticket = image::load_from_memory(&png).unwrap().to_rgb8();
    assert_eq!(ticket.dimensions(), (1080, 1920));
    // The large painting in the middle is Renoir's: compare the ticket's centre of it
    // with the centre of Renoir's stored painting, averaged over a small patch.
    let renoir = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["painter"] == "renoir")
        .unwrap();
    let (_, _, bytes) = get_bytes(&server, renoir["image_url"].as_str().unwrap()).await;
    let painting = image::load_from_memory(&bytes).unwrap().to_rgb8();
    let mean = |img: &image::RgbImage, cx: u32, cy: u32, r: u32| -> [f64; 3] {
        let mut sum = [0.0; 3];
        let mut n = 0.0;
        for y in cy - r..=cy + r {
            for x in cx - r..=cx + r {
                let p = img.get_pixel(x, y);
                for c in 0..3 {
                    sum[c] += p[c] as f64;
                }
                n += 1.0;
            }
        }
        sum.map(|s| s / n)
    };
    let on_ticket = mean(&ticket, 540, 430 + 280, 30);
    let original = mean(
        &painting,
        painting.width() / 2,
        painting.height() / 2,
        30 * painting.width() / 420,
    );
    for c in 0..3 {
        assert!(
            (on_ticket[c] - original[c]).abs() < 30.0,
            "ticket {on_ticket:?} vs Renoir {original:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiz_finished_before_the_painters_gets_its_ticket_when_they_finish() {
    // One Stable Diffusion server, 300 ms a painting: the quiz is done long before.
    let sd = articket_a1111::fake::FakeA1111::start(Duration::from_millis(300)).await;
    let server = TestServer::start_with(|c| {
        crate::stable_diffusion::use_servers(c, &[&sd]);
        c.quiz.mode = VisitMode::Quiz;
    })
    .await;
    // In "quiz" mode the upload needs no choice.
    let (_, phone, mut socket) = started_visit(&server, "Q").await;
    let res = answer(&phone, &server, "bbbbbbbb").await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["personality"], "ISFP");
    assert_eq!(phone.visit(&server).await["status"], "painting");
    let events = events_until(&mut socket, Duration::from_secs(60), |e| {
        is_type(e, "visit_done")
    })
    .await;
    assert_eq!(events.last().unwrap()["status"], "done");
    assert_eq!(
        events.iter().filter(|e| is_type(e, "visit_done")).count(),
        1,
        "closed once"
    );
    let v = phone.visit(&server).await;
    assert_eq!(v["quiz"]["painter"], "renoir");
    assert!(v["ticket_url"].is_string());

    // A booth that only converts refuses a quiz.
    let plain = TestServer::start().await;
    let kiosk = Kiosk::open(&plain).await;
    let phone = Phone::join(&plain, &kiosk).await;
    assert_eq!(
        code_of(upload_with_mode(&phone, &plain, "quiz").await).await,
        (400, "mode-unavailable".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_quiz_file_is_used_and_a_broken_one_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("my-quiz.toml");
    let own = articket_quiz::BUILTIN.replace("전시회에 간다면?", "축제에 간다면?");
    std::fs::write(&file, &own).unwrap();
    let path = file.clone();
    let server = TestServer::start_with(move |c| {
        c.quiz.mode = VisitMode::Quiz;
        c.quiz.questions = path;
    })
    .await;
    let quiz = get_json(&reqwest::Client::new(), &server, "/api/quiz").await;
    assert_eq!(quiz["quiz"]["questions"][0]["ko"], "축제에 간다면?");

    // Two questions moved to one axis: the booth refuses to start, and says why.
    std::fs::write(&file, own.replacen("axis = \"NS\"", "axis = \"EI\"", 1)).unwrap();
    let mut config = articket_web::Config::default();
    config.server.data_dir = dir.path().join("data");
    config.quiz.questions = file.clone();
    let err = articket_web::AppState::build(config, "127.0.0.1:0".parse().unwrap())
        .await
        .err()
        .expect("a broken quiz file stops the start");
    let msg = err.to_string();
    assert!(
        msg.contains("quiz.questions") && msg.contains("two per axis"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_quiz_template_makes_the_quiz_ticket_and_a_broken_one_stops_the_start() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/templates");
    let server = TestServer::start_with(|c| {
        c.ticket.template_dir = dir.clone();
        c.quiz.mode = VisitMode::Quiz;
    })
    .await;
    let (_, phone, mut socket) = started_visit(&server, "T").await;
    // ISFP: Renoir, whose theme colour frames the large painting.
    assert_eq!(answer(&phone, &server, "bbbbbbbb").await.status(), 200);
    events_until(&mut socket, Duration::from_secs(60), |e| {
        is_type(e, "visit_done")
    })
    .await;
    let v = phone.visit(&server).await;
    let (_, _, png) = get_bytes(&server, v["ticket_url"].as_str().unwrap()).await;
    std::fs::write(
        crate::browser::screenshot_dir().join("custom-quiz-ticket.png"),
        &png,
    )
    .unwrap();
    let img = image::load_from_memory(&png).unwrap().to_rgb8();
    let corner = img.get_pixel(5, 5);
    assert!(
        corner[0] < 30 && corner[2] < 30,
        "the example's dark card: {corner:?}"
    );
    let frame = img.get_pixel(265, 600);
    assert!(
        frame[0].abs_diff(0x03) < 20
            && frame[1].abs_diff(0x6B) < 20
            && frame[2].abs_diff(0x82) < 20,
        "Renoir's colour around the large painting: {frame:?}"
    );

    // A broken quiz.svg beside a good phone.svg stops the start, naming the file.
    let bad = tempfile::tempdir().unwrap();
    std::fs::copy(dir.join("phone.svg"), bad.path().join("phone.svg")).unwrap();
    std::fs::write(bad.path().join("quiz.svg"), "<svg>not closed").unwrap();
    let mut config = articket_web::Config::default();
    config.server.data_dir = bad.path().join("data");
    config.ticket.template_dir = bad.path().to_owned();
    let err = articket_web::AppState::build(config, "127.0.0.1:0".parse().unwrap())
        .await
        .err()
        .expect("a broken quiz template stops the start");
    assert!(err.to_string().contains("quiz.svg"), "{err}");
}
