//! Bad uploads get a 4xx with a message; the visit and the server carry on.

use std::time::Duration;

use serde_json::Value;

use crate::util::*;

async fn refused(res: reqwest::Response, status: u16, code: &str) {
    assert_eq!(res.status(), status);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert!(body["msg"].as_str().is_some_and(|m| m.len() > 10), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_and_nothing_else_is_lost() {
    let server = TestServer::start_with(|c| c.upload.intake.max_bytes = 300_000).await;
    let kiosk = Kiosk::open(&server).await;
    let phone = Phone::join(&server, &kiosk).await;
    let url = server.url(&format!("/api/visits/{}/photo", phone.visit_id));

    // An empty body, with no multipart at all.
    refused(
        phone.http.post(&url).send().await.unwrap(),
        400,
        "upload-malformed",
    )
    .await;
    // An empty photo field.
    refused(
        phone.upload(&server, "A", Vec::new(), "empty.jpg").await,
        400,
        "photo-empty",
    )
    .await;
    // A text file named .jpg.
    refused(
        phone
            .upload(
                &server,
                "A",
                b"just some text, honest".to_vec(),
                "photo.jpg",
            )
            .await,
        415,
        "photo-unsupported-format",
    )
    .await;
    // A file over the byte limit is cut off while streaming.
    refused(
        phone
            .upload(&server, "A", vec![0xFF; 400_000], "big.jpg")
            .await,
        413,
        "photo-too-large",
    )
    .await;
    // A JPEG cut off two thirds of the way.
    let full =
        articket_intake::encode_jpeg(&articket_intake::fixtures::portrait(800, 600), 90).unwrap();
    let truncated = full[..full.len() * 2 / 3].to_vec();
    refused(
        phone.upload(&server, "A", truncated, "cut.jpg").await,
        400,
        "photo-corrupt",
    )
    .await;
    // A photo with no name.
    refused(
        phone.upload(&server, "   ", full.clone(), "ok.jpg").await,
        400,
        "name-required",
    )
    .await;
    // An unknown painter.
    let form = reqwest::multipart::Form::new()
        .text("name", "A")
        .text("painter", "monet")
        .part(
            "photo",
            reqwest::multipart::Part::bytes(full.clone()).file_name("ok.jpg"),
        );
    refused(
        phone.http.post(&url).multipart(form).send().await.unwrap(),
        400,
        "unknown-painter",
    )
    .await;

    // Nothing was stored by any refused upload, and the visit still waits for a photo.
    assert!(
        server.stored_files().is_empty(),
        "{:?}",
        server.stored_files()
    );
    assert_eq!(phone.visit(&server).await["status"], "waiting");

    // The same visit then succeeds with a good photo and a chosen painter subset.
    let form = reqwest::multipart::Form::new()
        .text("name", "A")
        .text("painter", "vangogh")
        .text("painter", "picasso")
        .part(
            "photo",
            reqwest::multipart::Part::bytes(full.clone()).file_name("ok.jpg"),
        );
    assert_eq!(
        phone
            .http
            .post(&url)
            .multipart(form)
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    let mut socket = phone.socket(&server, &kiosk.room_id).await;
    let state = phone.visit(&server).await;
    if state["status"] == "painting" {
        events_until(&mut socket, Duration::from_secs(60), |e| {
            is_type(e, "visit_done")
        })
        .await;
    }
    let state = phone.visit(&server).await;
    let painters: Vec<&str> = state["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["painter"].as_str().unwrap())
        .collect();
    assert_eq!(painters, ["vangogh", "picasso"]);
    // A second photo for the same visit is refused.
    refused(
        phone.upload(&server, "A", full, "again.jpg").await,
        409,
        "photo-already-received",
    )
    .await;
    // No temp files leaked: the photo, two paintings and the ticket.
    let files = server.stored_files();
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(files.iter().all(|f| !f.starts_with('.')), "{files:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_visits_phone_may_upload() {
    let server = TestServer::start().await;
    let kiosk = Kiosk::open(&server).await;
    let phone = Phone::join(&server, &kiosk).await;
    let photo = camera_photo();
    let (stranger, _) = Phone::browser();
    let stranger = Phone {
        http: stranger,
        jar: phone.jar.clone(),
        visit_id: phone.visit_id.clone(),
    };
    // The stranger's client has no cookie (the jar above is only used for headers).
    let res = stranger.upload(&server, "Mallory", photo, "x.jpg").await;
    assert_eq!(res.status(), 404);
    assert_eq!(phone.visit(&server).await["status"], "waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_and_file_names_are_not_found() {
    let server = TestServer::start().await;
    for path in [
        "/api/visits/0123456789abcdef0123456789abcdef".to_owned(),
        "/api/visits/..%2F..%2Fetc%2Fpasswd".to_owned(),
        "/files/..%2Farticket.sqlite3".to_owned(),
        "/files/articket.sqlite3".to_owned(),
        "/files/0123456789abcdef0123456789abcdef.jpg".to_owned(),
        "/api/rooms/0123456789abcdef0123456789abcdef".to_owned(),
    ] {
        let res = reqwest::get(server.url(&path)).await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
}

/// With one intake place, an upload whose body is still arriving holds it; a second
/// phone gets 503 with Retry-After at once, and gets in once the place is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_intake_queue_answers_503_with_retry_after() {
    use tokio::io::AsyncWriteExt;

    let server = TestServer::start_with(|c| {
        c.upload.workers = 1;
        c.upload.queue = 0;
    })
    .await;
    let kiosk_a = Kiosk::open(&server).await;
    let slow = Phone::join(&server, &kiosk_a).await;
    let kiosk_b = Kiosk::open(&server).await;
    let quick = Phone::join(&server, &kiosk_b).await;

    // The slow phone sends its headers and the start of a large body, then stalls.
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/visits/{}/photo HTTP/1.1\r\nHost: {addr}\r\nCookie: {}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 900000\r\n\r\n\
         --XYZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\n\r\n",
        slow.visit_id,
        slow.cookie_header(&server),
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[0xFF, 0xD8, 0xFF]).await.unwrap();
    stream.flush().await.unwrap();

    // Wait until the server has admitted the stalled upload.
    let health = reqwest::Client::new();
    let mut admitted = 0;
    for _ in 0..200 {
        let h: Value = health
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        admitted = h["intake"]["admitted"].as_u64().unwrap();
        if admitted == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(admitted, 1);
    let res = quick.upload(&server, "B", camera_photo(), "b.jpg").await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "2");
    refused(res, 503, "intake-busy").await;

    // The stalled phone gives up; its place comes back and the quick phone gets in.
    drop(stream);
    let mut status = 0;
    for _ in 0..100 {
        status = quick
            .upload(&server, "B", camera_photo(), "b.jpg")
            .await
            .status()
            .as_u16();
        if status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 202);
    assert_eq!(slow.visit(&server).await["status"], "waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heic_photo_gets_415_with_iphone_advice() {
    let server = TestServer::start().await;
    let kiosk = Kiosk::open(&server).await;
    let phone = Phone::join(&server, &kiosk).await;
    let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic\0\0\0\x08free".to_vec();
    let res = phone.upload(&server, "A", heic, "IMG_0001.HEIC").await;
    assert_eq!(res.status(), 415);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "photo-heic");
    assert!(
        body["msg"].as_str().unwrap().contains("Most Compatible"),
        "{body}"
    );
    assert!(server.stored_files().is_empty());
}
