//! Printing at the kiosk, with a stub `lp` that records its arguments and the file it
//! was given, and a stub that fails like a printer with no paper.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

use crate::util::*;

pub(crate) fn stub(dir: &Path, body: &str) -> String {
    let path = dir.join("lp");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

async fn press_print(server: &TestServer, kiosk: &Kiosk, visit_id: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(server.url(&format!("/api/visits/{visit_id}/print")))
        .bearer_auth(&kiosk.token)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printing_runs_a_stub_lp_that_records_its_arguments_once_per_press() {
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("calls.log");
    let lp = stub(
        bin.path(),
        &format!(
            r#"for a; do last="$a"; done
echo "$@" >> "{log}"
cp "$last" "{dir}/printed.pdf"
echo "request id is booth-7 (1 file(s))""#,
            log = log.display(),
            dir = bin.path().display()
        ),
    );
    let server = TestServer::start_with(|c| {
        c.print.enabled = true;
        c.print.command = lp;
        c.print.printer = "booth".into();
        c.print.copies = 2;
        c.ticket.serial_start = 100;
    })
    .await;
    let (kiosk, phone, _) = finished_visit(&server).await;

    let (status, body) = press_print(&server, &kiosk, &phone.visit_id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "printed");
    assert_eq!(body["message"], "request id is booth-7 (1 file(s))");
    let calls = std::fs::read_to_string(&log).unwrap();
    let args: Vec<&str> = calls.trim().split(' ').collect();
    assert_eq!(&args[..4], ["-d", "booth", "-n", "2"], "{calls}");
    assert!(
        calls.contains("-t Articket No. 0100 "),
        "the first visit counts from serial_start: {calls}"
    );
    let pdf = std::fs::read(bin.path().join("printed.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"), "lp was given a PDF");
    // The PDF was a temporary file: nothing is left in the data folder.
    assert!(!std::fs::read_dir(&server.data_dir).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("print-")));

    // A second press right away prints nothing new.
    let (status, body) = press_print(&server, &kiosk, &phone.visit_id).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("already-printing"))
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1);

    // Only the kiosk may print.
    let res = phone
        .http
        .post(server.url(&format!("/api/visits/{}/print", phone.visit_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let health: Value = reqwest::get(server.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["prints"]["printed"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_printer_is_reported_and_the_visit_goes_on() {
    let bin = tempfile::tempdir().unwrap();
    let lp = stub(
        bin.path(),
        r#"echo "lp: Error - The printer is out of paper." >&2; exit 1"#,
    );
    let server = TestServer::start_with(|c| {
        c.print.enabled = true;
        c.print.command = lp;
    })
    .await;
    let (kiosk, phone, _) = finished_visit(&server).await;
    let (status, body) = press_print(&server, &kiosk, &phone.visit_id).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "print-failed");
    assert!(
        body["msg"].as_str().unwrap().contains("out of paper"),
        "{body}"
    );
    // The visit is untouched and the failure is counted.
    assert_eq!(phone.visit(&server).await["status"], "done");
    let health: Value = reqwest::get(server.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["prints"]["failed"], 1);

    // No printing system at all: a clear message, not a crash.
    let server = TestServer::start_with(|c| {
        c.print.enabled = true;
        c.print.command = "/nonexistent/lp".into();
    })
    .await;
    let (kiosk, phone, _) = finished_visit(&server).await;
    let (status, body) = press_print(&server, &kiosk, &phone.visit_id).await;
    assert_eq!(status, 502);
    assert!(
        body["msg"].as_str().unwrap().contains("not installed"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printing_when_it_is_off_says_so() {
    let server = TestServer::start().await;
    let (kiosk, phone, _) = finished_visit(&server).await;
    let (status, body) = press_print(&server, &kiosk, &phone.visit_id).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("print-off")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_painter_ticket_is_rendered_for_its_visitor_only() {
    let server = TestServer::start().await;
    let (_, phone, _) = finished_visit(&server).await;
    let url = server.url(&format!("/api/visits/{}/tickets/vangogh", phone.visit_id));
    let res = phone.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    let img = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        articket_ticket::PHONE_TICKET_SIZE
    );
    assert_eq!(
        reqwest::get(&url).await.unwrap().status(),
        404,
        "a stranger gets nothing"
    );
    let other = phone
        .http
        .get(server.url(&format!("/api/visits/{}/tickets/monet", phone.visit_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_promo_image_is_offered_when_the_booth_has_one() {
    let server = TestServer::start_with(|c| {
        c.ticket.promo_text = "인스타그램에 태그해 주세요\\nTag us on Instagram".into();
        c.ticket.promo_handle = "@articket.booth".into();
    })
    .await;
    let (_, phone, _) = finished_visit(&server).await;
    let state = phone.visit(&server).await;
    assert_eq!(state["promo_url"], "/api/promo");
    let (status, ct, bytes) = get_bytes(&server, "/api/promo").await;
    assert_eq!((status.as_u16(), ct.as_deref()), (200, Some("image/png")));
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (1080, 1080));

    let plain = TestServer::start().await;
    assert_eq!(get_bytes(&plain, "/api/promo").await.0, 404);
    let (_, phone, _) = finished_visit(&plain).await;
    assert!(phone.visit(&plain).await["promo_url"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_template_makes_the_visits_ticket() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/templates");
    let server = TestServer::start_with(|c| c.ticket.template_dir = dir).await;
    let (_, phone, _) = finished_visit(&server).await;
    let state = phone.visit(&server).await;
    let (_, _, png) = get_bytes(&server, state["ticket_url"].as_str().unwrap()).await;
    let img = image::load_from_memory(&png).unwrap().to_rgba8();
    // The example template's dark background, not the built-in ticket's blue.
    let corner = img.get_pixel(5, 5);
    assert!(corner[0] < 30 && corner[2] < 30, "{corner:?}");

    // A broken template stops the booth at start-up, naming the key.
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(bad.path().join("phone.svg"), "<svg>not closed").unwrap();
    let mut config = articket_web::Config::default();
    config.server.bind = "127.0.0.1:0".parse().unwrap();
    let data = tempfile::tempdir().unwrap();
    config.server.data_dir = data.path().to_owned();
    config.ticket.template_dir = bad.path().to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = articket_web::launch_with_listener(config, listener, async {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ticket.template_dir"), "{err}");
}
