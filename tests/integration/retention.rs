//! Retention: photos, paintings, tickets and records go after `privacy.retention_secs`,
//! or at once when the visitor asks.

use std::time::Duration;

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_two_second_retention_everything_is_gone_and_the_files_deleted() {
    let server = TestServer::start_with(|c| c.privacy.retention_secs = 2).await;
    let (kiosk, phone, mut socket) = finished_visit(&server).await;
    let state = phone.visit(&server).await;
    assert_eq!(state["retention_secs"], 2);
    let ticket = state["ticket_url"].as_str().unwrap().to_owned();
    // photo + 4 paintings + ticket
    assert_eq!(
        server.stored_files().len(),
        6,
        "{:?}",
        server.stored_files()
    );

    let deleted = events_until(&mut socket, Duration::from_secs(10), |e| {
        is_type(e, "visit_deleted")
    })
    .await;
    assert_eq!(deleted.last().unwrap()["visit_id"], phone.visit_id.as_str());
    server.wait_no_files(Duration::from_secs(5)).await;
    assert_eq!(get_bytes(&server, &ticket).await.0, 404);
    assert_eq!(kiosk.visit(&server, &phone.visit_id).await.status(), 404);
    assert_eq!(phone.get_visit(&server).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_my_photos_now_removes_them_at_once_and_only_for_that_phone() {
    let server = TestServer::start().await;
    let (_, phone, mut socket) = finished_visit(&server).await;
    let (_, other, _) = finished_visit(&server).await;
    assert_eq!(server.stored_files().len(), 12);

    // Another phone cannot delete this visit; a stranger neither.
    let url = server.url(&format!("/api/visits/{}/delete", phone.visit_id));
    assert_eq!(other.http.post(&url).send().await.unwrap().status(), 404);
    assert_eq!(
        reqwest::Client::new()
            .post(&url)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    assert_eq!(phone.http.post(&url).send().await.unwrap().status(), 204);
    events_until(&mut socket, Duration::from_secs(5), |e| {
        is_type(e, "visit_deleted")
    })
    .await;
    assert_eq!(
        server.stored_files().len(),
        6,
        "only the other visit's files remain"
    );
    assert_eq!(other.visit(&server).await["status"], "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_per_address_and_waiting_rooms_are_limited_with_429() {
    let server = TestServer::start_with(|c| {
        c.limits.uploads_per_minute = 2;
        c.limits.max_open_rooms = 3;
    })
    .await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        let kiosk = Kiosk::open(&server).await;
        let phone = Phone::join(&server, &kiosk).await;
        let res = phone.upload(&server, "Ada", camera_photo(), "p.jpg").await;
        codes.push(res.status().as_u16());
        if res.status() == 429 {
            assert!(res.headers().contains_key("retry-after"));
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["code"], "too-many-uploads");
            // The refused photo took nothing: the visit still waits for one. (The server
            // answered before reading the upload, so the client's connection may be
            // closed under it; a browser retries on a new one, and so do we.)
            let url = server.url(&format!("/api/visits/{}", phone.visit_id));
            let mut state = None;
            for _ in 0..3 {
                if let Ok(res) = phone.http.get(&url).send().await {
                    state = Some(res.json::<serde_json::Value>().await.unwrap());
                    break;
                }
            }
            assert_eq!(state.expect("the visit")["status"], "waiting");
        }
    }
    assert_eq!(codes, [202, 202, 429]);

    // Rooms waiting for a phone: three allowed, the fourth refused.
    let create = || reqwest::Client::new().post(server.url("/api/rooms")).send();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(create().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [201, 201, 201, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_visits_and_results_in_prometheus_text() {
    let server = TestServer::start().await;
    finished_visit(&server).await;
    let (status, ct, body) = get_bytes(&server, "/metrics").await;
    assert_eq!(status, 200);
    assert!(ct.unwrap().starts_with("text/plain"));
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("articket_visits{status=\"done\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("articket_results{painter=\"vangogh\",status=\"done\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE articket_intake_admitted gauge"),
        "{text}"
    );
    assert!(
        !text.contains("김민지"),
        "no personal data: the visitor's name is absent"
    );
}

/// The next frame that is not a ping, or `None` when the socket ended.
async fn next_frame(socket: &mut Socket) -> Option<tokio_tungstenite::tungstenite::Message> {
    use futures_util::StreamExt;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("the server neither answered nor closed")
        {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Ping(_))) => continue,
            Some(Ok(m)) => return Some(m),
            _ => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chattering_or_oversized_socket_is_closed_and_others_carry_on() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::Message;
    let server = TestServer::start().await;
    let noisy = Kiosk::open(&server).await;
    let calm = Kiosk::open(&server).await;
    let mut calm_socket = calm.socket(&server).await;

    // A few messages are tolerated (and ignored)...
    let mut socket = noisy.socket(&server).await;
    for _ in 0..5 {
        socket.send(Message::Text("hi".into())).await.unwrap();
    }
    // ...a flood is not: 1008, policy violation.
    for _ in 0..30 {
        if socket.send(Message::Text("spam".into())).await.is_err() {
            break;
        }
    }
    match next_frame(&mut socket).await {
        Some(Message::Close(Some(frame))) => {
            assert_eq!(frame.code, CloseCode::Policy);
            assert_eq!(frame.reason.as_str(), "too many messages");
        }
        other => panic!("expected a 1008 close, got {other:?}"),
    }

    // A message over 4 KiB ends the socket too (1009, message too big).
    let mut socket = noisy.socket(&server).await;
    let _ = socket.send(Message::Text("x".repeat(5000).into())).await;
    match next_frame(&mut socket).await {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Size),
        None => {}
        other => panic!("expected the socket to close, got {other:?}"),
    }

    // The other room's socket still gets its events.
    let phone = Phone::join(&server, &calm).await;
    let events = events_until(&mut calm_socket, Duration::from_secs(5), |e| {
        is_type(e, "phone_joined")
    })
    .await;
    assert_eq!(events.last().unwrap()["visit_id"], phone.visit_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_on_every_json_route() {
    let server = TestServer::start().await;
    // One client throughout: the 413 comes before the body is read, and says
    // `Connection: close`, so the next request goes on a fresh connection.
    let http = reqwest::Client::new();
    let big = serde_json::json!({ "room_id": "x".repeat(40_000), "secret": "s", "password": "p", "paused": true });
    for path in [
        "/api/join",
        "/api/admin/login",
        "/api/admin/pause",
        "/api/rooms",
    ] {
        let res = http.post(server.url(path)).json(&big).send().await.unwrap();
        assert_eq!(res.status(), 413, "{path}");
        assert_eq!(res.headers()["connection"], "close");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "body-too-large", "{path}");
    }
    // The server is still there for everyone else.
    Kiosk::open(&server).await;
}

/// With a 1-second retention the visit expires while its painters are still at work:
/// it is deleted at once, its painters stop, and nothing of it is left on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_one_second_retention_a_visit_deleted_mid_painting_leaves_no_file() {
    let sd = articket_a1111::fake::FakeA1111::start(Duration::from_millis(700)).await;
    let server = TestServer::start_with(|c| {
        crate::stable_diffusion::use_servers(c, &[&sd]);
        c.privacy.retention_secs = 1;
    })
    .await;
    let (_, phone, mut socket) = started_visit(&server, "Brief").await;
    let events = events_until(&mut socket, Duration::from_secs(10), |e| {
        is_type(e, "visit_deleted")
    })
    .await;
    let painted_before = events
        .iter()
        .filter(|e| is_type(e, "painter") && e["status"] == "done")
        .count();
    assert!(painted_before < 4, "the visit should expire mid-painting");

    // Its painters stop: the server is given nothing more for it. Without that, all
    // four paintings would have been requested within about 2.1 s of the upload.
    wait_painters_idle(&server, Duration::from_secs(5)).await;
    wait_until("the server is idle", Duration::from_secs(5), || async {
        !sd.busy()
    })
    .await;
    let requested = sd
        .calls()
        .iter()
        .filter(|c| c.endpoint == "img2img")
        .count();
    assert!(requested < 4, "{requested} paintings were requested");
    // And whatever was under way when it was deleted left no file behind.
    server.wait_no_files(Duration::from_secs(5)).await;
    assert_eq!(server.stored_files(), Vec::<String>::new());
    assert_eq!(phone.get_visit(&server).await.status(), 404);
}

/// Behind a trusted proxy, each visitor's forwarded address has its own upload count,
/// so one busy visitor does not stop the booth; from anyone else the header is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_counted_per_forwarded_address_only_behind_a_trusted_proxy() {
    async fn upload_as(server: &TestServer, forwarded_for: &str) -> u16 {
        let kiosk = Kiosk::open(server).await;
        let phone = Phone::join(server, &kiosk).await;
        let part = reqwest::multipart::Part::bytes(camera_photo())
            .file_name("p.jpg")
            .mime_str("image/jpeg")
            .unwrap();
        let form = reqwest::multipart::Form::new()
            .text("name", "Ada")
            .part("photo", part);
        phone
            .http
            .post(server.url(&format!("/api/visits/{}/photo", phone.visit_id)))
            .header("x-forwarded-for", forwarded_for)
            .multipart(form)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
    let behind_proxy = TestServer::start_with(|c| {
        c.limits.uploads_per_minute = 1;
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let mut codes = Vec::new();
    for addr in ["203.0.113.1", "203.0.113.2", "203.0.113.1"] {
        codes.push(upload_as(&behind_proxy, addr).await);
    }
    assert_eq!(codes, [202, 202, 429]);

    // Not a trusted proxy: the claimed addresses count for nothing.
    let direct = TestServer::start_with(|c| c.limits.uploads_per_minute = 1).await;
    let mut codes = Vec::new();
    for addr in ["203.0.113.1", "203.0.113.2"] {
        codes.push(upload_as(&direct, addr).await);
    }
    assert_eq!(codes, [202, 429]);
}
