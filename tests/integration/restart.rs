//! Restarts keep every finished visit, and resume visits a restart interrupted.

use std::time::Duration;

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
            .start_painting(&visit_id, "Crash", &file, &["picasso", "renoir"], 0)
            .unwrap();
        store.result_started(&visit_id, "picasso", 0).unwrap();
    }
    let _server = TestServer::start_in(dir.path(), |_| {}).await;
    let store = articket_store::Store::open(dir.path()).unwrap();
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
