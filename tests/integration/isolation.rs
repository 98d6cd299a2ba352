//! Two visits at once: neither sees the other's events or state.

use std::time::Duration;

use serde_json::Value;

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_visits_never_see_each_other() {
    let server = TestServer::start().await;
    let (kiosk_a, kiosk_b) = (Kiosk::open(&server).await, Kiosk::open(&server).await);
    let (mut sock_a, mut sock_b) = (kiosk_a.socket(&server).await, kiosk_b.socket(&server).await);
    let (phone_a, phone_b) = (
        Phone::join(&server, &kiosk_a).await,
        Phone::join(&server, &kiosk_b).await,
    );
    let mut phone_sock_a = phone_a.socket(&server, &kiosk_a.room_id).await;

    let (ra, rb) = tokio::join!(
        phone_a.upload(&server, "Alice", camera_photo(), "a.jpg"),
        phone_b.upload(&server, "Bob", camera_photo(), "b.jpg"),
    );
    assert_eq!((ra.status().as_u16(), rb.status().as_u16()), (202, 202));

    let limit = Duration::from_secs(90);
    let (events_a, events_b) = tokio::join!(
        events_until(&mut sock_a, limit, |e| is_type(e, "visit_done")),
        events_until(&mut sock_b, limit, |e| is_type(e, "visit_done")),
    );
    let phone_events_a = events_until(&mut phone_sock_a, limit, |e| is_type(e, "visit_done")).await;
    for (events, own, other_name) in [
        (&events_a, &phone_a.visit_id, "Bob"),
        (&phone_events_a, &phone_a.visit_id, "Bob"),
        (&events_b, &phone_b.visit_id, "Alice"),
    ] {
        assert!(events.len() >= 6, "{events:#?}");
        for e in events {
            assert_eq!(&e["visit_id"], own.as_str(), "a foreign event: {e}");
            assert!(!e.to_string().contains(other_name), "{e}");
        }
    }

    // Each phone can read only its own visit; each kiosk only its own room.
    let res = phone_a
        .http
        .get(server.url(&format!("/api/visits/{}", phone_b.visit_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(
        kiosk_a.visit(&server, &phone_b.visit_id).await.status(),
        404
    );
    let res = reqwest::Client::new()
        .get(server.url(&format!("/api/rooms/{}", kiosk_b.room_id)))
        .bearer_auth(&kiosk_a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let state_b: Value = phone_b.visit(&server).await;
    assert_eq!(state_b["name"], "Bob");

    // Phone A's cookie does not open room B's socket, and neither does no credential.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        server.ws_url(&format!("/api/rooms/{}/events", kiosk_b.room_id)),
    )
    .unwrap();
    req.headers_mut()
        .insert("cookie", phone_a.cookie_header(&server).parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_err());
    let bare = server.ws_url(&format!("/api/rooms/{}/events", kiosk_b.room_id));
    assert!(tokio_tungstenite::connect_async(bare).await.is_err());
}

/// Path traversal on every route that maps a path to a file, and guessing of ids: the
/// answer is always a plain 404 (or 400), and never a byte of a file outside the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_and_guessed_ids_find_nothing() {
    let server = TestServer::start().await;
    let kiosk = Kiosk::open(&server).await;
    let phone = Phone::join(&server, &kiosk).await;
    assert_eq!(
        phone
            .upload(&server, "Ada", camera_photo(), "p.jpg")
            .await
            .status(),
        202
    );
    let guess = "0123456789abcdef0123456789abcdef";
    let paths = [
        "/files/../articket.sqlite3".to_owned(),
        "/files/..%2Farticket.sqlite3".to_owned(),
        "/files/%2e%2e%2f%2e%2e%2fCargo.toml".to_owned(),
        "/files/articket.sqlite3".to_owned(),
        format!("/files/{guess}.jpg"),
        "/assets/../../Cargo.toml".to_owned(),
        "/assets/..%2F..%2FCargo.toml".to_owned(),
        "/assets/%2e%2e/%2e%2e/crates/web/src/lib.rs".to_owned(),
        "/assets/fonts/..%2F..%2F..%2FCargo.toml".to_owned(),
        format!("/api/visits/{guess}"),
        format!("/api/visits/{guess}/tickets/picasso"),
        format!("/api/visits/..%2F{}", phone.visit_id),
        format!("/api/rooms/{guess}"),
        format!("/api/rooms/{}/qr.svg?kiosk_token={guess}", kiosk.room_id),
        format!("/api/visits/{}?kiosk_token={guess}", phone.visit_id),
    ];
    let client = reqwest::Client::new();
    for path in &paths {
        let res = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = res.bytes().await.unwrap();
        assert!(status == 404 || status == 400, "{path}: {status}");
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("SQLite format")
                && !text.contains("[package]")
                && !text.contains("pub fn"),
            "{path} leaked a file"
        );
    }
}

/// Kiosk, phone and operator are three capabilities: each opens only its own doors, and
/// a refusal looks exactly like "not found".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiosk_phone_and_operator_capabilities_are_separate() {
    let server = TestServer::start().await;
    let (kiosk, phone, _socket) = finished_visit(&server).await;
    let op = operator(&server).await;
    let visit = format!("/api/visits/{}", phone.visit_id);
    let room = format!("/api/rooms/{}", kiosk.room_id);
    let painter = format!("{visit}/painters/picasso/retry");

    // The phone's cookie cannot act as the kiosk.
    for (method, path) in [
        ("POST", format!("{visit}/print")),
        ("GET", room.clone()),
        ("GET", format!("{room}/qr.svg")),
    ] {
        let res = phone
            .http
            .request(method.parse().unwrap(), server.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "phone {method} {path}");
    }
    // The kiosk's token cannot act as the phone.
    let http = reqwest::Client::new();
    for path in [
        format!("{visit}/delete"),
        format!("{visit}/finish"),
        format!("{visit}/saved"),
        painter.clone(),
    ] {
        let res = http
            .post(server.url(&path))
            .bearer_auth(&kiosk.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "kiosk POST {path}");
    }
    let part = reqwest::multipart::Part::bytes(camera_photo()).file_name("k.jpg");
    let res = http
        .post(server.url(&format!("{visit}/photo")))
        .bearer_auth(&kiosk.token)
        .multipart(
            reqwest::multipart::Form::new()
                .text("name", "K")
                .part("photo", part),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "kiosk upload");
    // The operator runs the booth but is no participant of a visit.
    for (method, path) in [
        ("GET", visit.clone()),
        ("POST", format!("{visit}/print")),
        ("POST", format!("{visit}/delete")),
        ("GET", room.clone()),
    ] {
        let res = op
            .request(method.parse().unwrap(), server.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "operator {method} {path}");
    }
    // And every refusal above left the visit as it was.
    let v = phone.visit(&server).await;
    assert_eq!(v["status"], "done");
    assert_eq!(v["finished"], false);
    assert_eq!(kiosk.visit(&server, &phone.visit_id).await.status(), 200);
}

/// A page on another site cannot open a room's socket with the visitor's cookie
/// (cross-site WebSocket hijacking): the upgrade is refused with 403. The booth's own
/// origin, and clients that send no Origin, are let in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_from_another_site_is_refused_even_with_the_phones_cookie() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = TestServer::start().await;
    let kiosk = Kiosk::open(&server).await;
    let phone = Phone::join(&server, &kiosk).await;
    let path = format!("/api/rooms/{}/events", kiosk.room_id);
    let connect = |origin: Option<String>| {
        let mut req = server.ws_url(&path).into_client_request().unwrap();
        req.headers_mut()
            .insert("cookie", phone.cookie_header(&server).parse().unwrap());
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        tokio_tungstenite::connect_async(req)
    };
    match connect(Some("https://evil.example".into())).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 403);
        }
        other => panic!("a foreign origin got through: {:?}", other.map(|_| ())),
    }
    let own = server.url("").trim_end_matches('/').to_owned();
    assert!(connect(Some(own)).await.is_ok(), "the booth's own origin");
    assert!(connect(None).await.is_ok(), "no Origin (not a browser)");
}
