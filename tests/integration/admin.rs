//! The operator page: its password, its counters and log, pause and reset, the gallery
//! switch, and that no other capability opens it.

use std::time::Duration;

use serde_json::Value;

use crate::util::*;

async fn status(http: &reqwest::Client, server: &TestServer) -> reqwest::Response {
    http.get(server.url("/api/admin/status"))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_operator_password_opens_the_operator_api() {
    let server = TestServer::start().await;
    let (kiosk, phone, _socket) = finished_visit(&server).await;
    let anonymous = reqwest::Client::new();

    // The page itself is public (it is the login form); its API is not.
    let page = anonymous.get(server.url("/admin")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/assets/admin.js"));
    for path in ["status", "log", "gallery"] {
        let res = anonymous
            .get(server.url(&format!("/api/admin/{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "admin-login");
    }
    for path in ["pause", "reset-kiosk"] {
        let res = anonymous
            .post(server.url(&format!("/api/admin/{path}")))
            .json(&serde_json::json!({ "paused": true }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{path}");
    }

    // The kiosk's token and the phone's cookie are other capabilities.
    let res = anonymous
        .get(server.url("/api/admin/status"))
        .bearer_auth(&kiosk.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(status(&phone.http, &server).await.status(), 401);
    let forged = anonymous
        .get(server.url("/api/admin/status"))
        .header("cookie", format!("articket_admin={}", kiosk.token))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    // A wrong password is refused, and said so.
    let res = login(&anonymous, &server, "guess").await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "admin-password");
    let res = anonymous
        .post(server.url("/api/admin/login"))
        .body("password=guess")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "not JSON: a form post from another site");

    // The right one gives an HttpOnly, SameSite=Strict session.
    let res = login(&anonymous, &server, OPERATOR_PASSWORD).await;
    assert_eq!(res.status(), 204);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    let op = operator(&server).await;
    let res = status(&op, &server).await;
    assert_eq!(res.status(), 200);
    let s: Value = res.json().await.unwrap();
    let today = &s["today"];
    assert_eq!(today["visits"], 1);
    assert_eq!(today["tickets"], 1);
    assert_eq!(today["painters"].as_array().unwrap().len(), 4);
    for p in today["painters"].as_array().unwrap() {
        assert_eq!((p[1].as_u64(), p[2].as_u64()), (Some(1), Some(0)), "{p}");
    }
    assert!(today["latency_median_ms"].as_i64().unwrap() > 0);
    assert_eq!(s["backend"]["backend"], "builtin");
    assert_eq!(s["backend"]["available"], true);
    assert_eq!(s["paused"], false);
    assert_eq!(s["gallery"], false);

    // The phone's "save" is counted.
    let res = phone
        .http
        .post(server.url(&format!("/api/visits/{}/saved", phone.visit_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let s: Value = status(&op, &server).await.json().await.unwrap();
    assert_eq!(s["today"]["tickets_saved"], 1);

    // The log tells the visit's story, with the visitor's name as plain data.
    let log: Value = get_json(&op, &server, "/api/admin/log?after=0").await;
    let lines: Vec<&str> = log["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("김민지") && l.contains("photo received")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.contains("Van Gogh finished")));
    assert!(lines.iter().any(|l| l.contains("ticket ready (4 of 4")));
    assert!(lines.iter().any(|l| l.contains("Wrong operator password")));
    let last = log["lines"].as_array().unwrap().last().unwrap()["seq"]
        .as_u64()
        .unwrap();
    let newer = get_json(&op, &server, &format!("/api/admin/log?after={last}")).await;
    assert_eq!(newer["lines"].as_array().unwrap().len(), 0);

    // Logging out ends the session.
    assert_eq!(
        op.post(server.url("/api/admin/logout"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(status(&op, &server).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_is_rate_limited() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let mut codes = Vec::new();
    for _ in 0..12 {
        let res = login(&http, &server, "nope").await;
        codes.push(res.status().as_u16());
        if res.status() == 429 {
            assert!(res.headers().contains_key("retry-after"));
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["code"], "too-many-logins");
        }
    }
    assert_eq!(&codes[..10], &[401; 10]);
    assert_eq!(&codes[10..], &[429, 429]);
    // Even the right password waits out the window: guessing cannot race it.
    let res = login(&http, &server, OPERATOR_PASSWORD).await;
    assert_eq!(res.status(), 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_new_visitors_and_reset_reaches_the_kiosk() {
    let server = TestServer::start().await;
    let op = operator(&server).await;
    let kiosk = Kiosk::open(&server).await;
    let mut socket = kiosk.socket(&server).await;

    let res = op
        .post(server.url("/api/admin/reset-kiosk"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    events_until(&mut socket, Duration::from_secs(5), |e| {
        is_type(e, "kiosk_reset")
    })
    .await;

    let res = op
        .post(server.url("/api/admin/pause"))
        .json(&serde_json::json!({ "paused": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let events = events_until(&mut socket, Duration::from_secs(5), |e| {
        is_type(e, "booth_paused")
    })
    .await;
    assert_eq!(events.last().unwrap()["paused"], true);
    let res = reqwest::Client::new()
        .post(server.url("/api/rooms"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "booth-paused");
    // The QR code already on screen does not let a phone in either.
    let (http, _) = Phone::browser();
    let res = join_request(&http, &server, &kiosk).await;
    assert_eq!(res.status(), 503);
    let s: Value = status(&op, &server).await.json().await.unwrap();
    assert_eq!(s["paused"], true);

    let res = op
        .post(server.url("/api/admin/pause"))
        .json(&serde_json::json!({ "paused": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    Phone::join(&server, &kiosk).await;
    Kiosk::open(&server).await;
    let res = op
        .post(server.url("/api/admin/pause"))
        .json(&serde_json::json!({ "paused": "yes" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gallery_is_off_unless_the_config_turns_it_on() {
    let server = TestServer::start().await;
    finished_visit(&server).await;
    let op = operator(&server).await;
    let res = op
        .get(server.url("/api/admin/gallery"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "gallery-off");
    drop(server);

    let server = TestServer::start_with(|c| c.admin.gallery = true).await;
    finished_visit(&server).await;
    let op = operator(&server).await;
    let g: Value = get_json(&op, &server, "/api/admin/gallery").await;
    let paintings = g["paintings"].as_array().unwrap();
    assert_eq!(paintings.len(), 4);
    for p in paintings {
        let (status, _, bytes) = get_bytes(&server, p["image_url"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        image::load_from_memory(&bytes).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_argon2_hash_is_the_password() {
    let hash = articket_web::admin::hash_password("booth-2026-pass").unwrap();
    let server = TestServer::start_with(move |c| {
        c.admin.password = None;
        c.admin.password_hash = hash;
    })
    .await;
    let http = reqwest::Client::new();
    assert_eq!(login(&http, &server, OPERATOR_PASSWORD).await.status(), 401);
    assert_eq!(login(&http, &server, "booth-2026-pass").await.status(), 204);
}
