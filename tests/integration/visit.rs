//! A whole visit, kiosk and phone, over real HTTP and WebSocket.

use std::time::Duration;

use serde_json::Value;

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_visit_from_qr_code_to_ticket() {
    let server = TestServer::start().await;
    let kiosk = Kiosk::open(&server).await;
    assert!(kiosk
        .join_url
        .starts_with(&format!("{}/j/{}#", server.base, kiosk.room_id)));

    // The kiosk's QR code is an SVG on our own origin.
    let (status, ct, svg) = get_bytes(&server, &kiosk.qr_svg_url).await;
    assert_eq!(status, 200);
    assert_eq!(ct.as_deref(), Some("image/svg+xml"));
    assert!(String::from_utf8(svg).unwrap().contains("<svg"));

    let mut kiosk_socket = kiosk.socket(&server).await;
    let phone = Phone::join(&server, &kiosk).await;
    let cookie = phone.cookie_header(&server);
    assert!(
        cookie.starts_with(&format!("av_{}=", phone.visit_id)),
        "{cookie}"
    );

    let joined = events_until(&mut kiosk_socket, Duration::from_secs(5), |e| {
        is_type(e, "phone_joined")
    })
    .await;
    assert_eq!(joined.last().unwrap()["visit_id"], phone.visit_id.as_str());
    // Once joined, the QR code no longer shows the used secret.
    assert_eq!(get_bytes(&server, &kiosk.qr_svg_url).await.0, 410);

    let mut phone_socket = phone.socket(&server, &kiosk.room_id).await;
    let res = phone
        .upload(&server, "김민지", camera_photo(), "IMG_0001.JPG")
        .await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);

    let events = events_until(&mut kiosk_socket, Duration::from_secs(60), |e| {
        is_type(e, "visit_done")
    })
    .await;
    let done: Vec<&Value> = events
        .iter()
        .filter(|e| is_type(e, "painter") && e["status"] == "done")
        .collect();
    let mut painters: Vec<&str> = done
        .iter()
        .map(|e| e["painter"].as_str().unwrap())
        .collect();
    painters.sort();
    assert_eq!(painters, ["lichtenstein", "picasso", "renoir", "vangogh"]);
    let photo_event = events
        .iter()
        .find(|e| is_type(e, "photo_received"))
        .expect("photo_received");
    assert_eq!(photo_event["name"], "김민지");
    let visit_done = events.last().unwrap();
    assert_eq!(visit_done["status"], "done");
    let phone_events = events_until(&mut phone_socket, Duration::from_secs(10), |e| {
        is_type(e, "visit_done")
    })
    .await;
    assert_eq!(
        phone_events.last().unwrap()["ticket_url"],
        visit_done["ticket_url"]
    );

    // The state over HTTP agrees with the events, for the phone and the kiosk alike.
    let state = phone.visit(&server).await;
    assert_eq!(state["status"], "done");
    assert_eq!(state["name"], "김민지");
    let kiosk_state: Value = kiosk
        .visit(&server, &phone.visit_id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kiosk_state, state);
    let results = state["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);

    // The photo was turned upright (EXIF 6) and shrunk to 512 on its long side.
    let (status, ct, photo) = get_bytes(&server, state["photo_url"].as_str().unwrap()).await;
    assert_eq!((status.as_u16(), ct.as_deref()), (200, Some("image/jpeg")));
    let photo = image::load_from_memory(&photo).unwrap();
    assert_eq!((photo.width(), photo.height()), (384, 512));
    for r in results {
        assert_eq!(r["status"], "done", "{r}");
        let url = r["image_url"].as_str().unwrap();
        assert!(url.starts_with("/files/") && !url.contains("김민지"));
        let (status, _, bytes) = get_bytes(&server, url).await;
        assert_eq!(status, 200);
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (384, 512));
    }
    let (status, ct, ticket) = get_bytes(&server, state["ticket_url"].as_str().unwrap()).await;
    assert_eq!((status.as_u16(), ct.as_deref()), (200, Some("image/png")));
    let ticket = image::load_from_memory(&ticket).unwrap();
    assert_eq!(
        (ticket.width(), ticket.height()),
        articket_ticket::PHONE_TICKET_SIZE
    );

    // Finishing tells the kiosk it may show a fresh code.
    let res = phone
        .http
        .post(server.url(&format!("/api/visits/{}/finish", phone.visit_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    events_until(&mut kiosk_socket, Duration::from_secs(5), |e| {
        is_type(e, "visitor_finished")
    })
    .await;
    assert_eq!(phone.visit(&server).await["finished"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_cookie_is_first_party_and_http_only() {
    let server = TestServer::start().await;
    let kiosk = Kiosk::open(&server).await;
    let res = join_request(&reqwest::Client::new(), &server, &kiosk).await;
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain-HTTP booths cannot use Secure cookies: {cookie}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_qr_code_is_refused_with_a_clear_message_but_the_same_phone_may_reopen_it() {
    let server = TestServer::start().await;
    let kiosk = Kiosk::open(&server).await;
    let phone = Phone::join(&server, &kiosk).await;

    let (stranger, _) = Phone::browser();
    let res = join_request(&stranger, &server, &kiosk).await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "room-taken");
    assert!(body["msg"].as_str().unwrap().contains("already used"));

    // Reloading the join link on the first phone returns its own visit.
    let again: Value = join_request(&phone.http, &server, &kiosk)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["visit_id"], phone.visit_id.as_str());

    // A wrong secret looks like an invalid code.
    let res = reqwest::Client::new()
        .post(server.url("/api/join"))
        .json(&serde_json::json!({"room_id": Kiosk::open(&server).await.room_id, "secret": "0".repeat(32)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_served_with_a_strict_csp_and_no_inline_script() {
    let server = TestServer::start().await;
    let kiosk = Kiosk::open(&server).await;
    for path in ["/".to_owned(), format!("/j/{}", kiosk.room_id)] {
        let res = reqwest::get(server.url(&path)).await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        let html = res.text().await.unwrap();
        assert!(html.contains("ARTICKET"));
        // Every <script> has a src: no inline code for the CSP to have to allow.
        assert_eq!(
            html.matches("<script").count(),
            html.matches("<script src=").count(),
            "{path}"
        );
    }
    for asset in [
        "/assets/common.js",
        "/assets/kiosk.js",
        "/assets/phone.js",
        "/assets/style.css",
        "/assets/favicon.svg",
    ] {
        assert_eq!(
            reqwest::get(server.url(asset)).await.unwrap().status(),
            200,
            "{asset}"
        );
    }
    // The icon browsers ask for on every load is there.
    let icon = reqwest::get(server.url("/favicon.ico")).await.unwrap();
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    assert_eq!(
        reqwest::get(server.url("/j/not-an-id"))
            .await
            .unwrap()
            .status(),
        404
    );
    let health: Value = reqwest::get(server.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
}

/// The name as the visitor types it reaches the kiosk (cleaned, cut to the booth's
/// length) before the photo, only from the visit's own phone, and never after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typed_name_reaches_the_kiosk_before_the_photo_only() {
    let server = TestServer::start_with(|c| c.upload.max_name_chars = 5).await;
    let kiosk = Kiosk::open(&server).await;
    let mut socket = kiosk.socket(&server).await;
    let phone = Phone::join(&server, &kiosk).await;
    let typing = |http: &reqwest::Client, body: &str| {
        http.post(server.url(&format!("/api/visits/{}/typing", phone.visit_id)))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let res = typing(&phone.http, r#"{"name": "  김민지입니다 "}"#)
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let events = events_until(&mut socket, Duration::from_secs(5), |e| {
        is_type(e, "visitor_typing")
    })
    .await;
    assert_eq!(
        events.last().unwrap()["name"],
        "김민지입니",
        "cleaned and cut to 5"
    );
    let res = typing(&phone.http, "not json").await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "typing-malformed");
    let stranger = typing(&reqwest::Client::new(), r#"{"name": "x"}"#)
        .await
        .unwrap();
    assert_eq!(stranger.status(), 404, "only the visit's phone");
    assert_eq!(
        phone
            .upload(&server, "Ada", camera_photo(), "p.jpg")
            .await
            .status(),
        202
    );
    typing(&phone.http, r#"{"name": "Later"}"#).await.unwrap();
    let after = events_until(&mut socket, Duration::from_secs(10), |e| {
        is_type(e, "visit_done")
    })
    .await;
    assert!(
        !after.iter().any(|e| is_type(e, "visitor_typing")),
        "no name after the photo: {after:?}"
    );
}
