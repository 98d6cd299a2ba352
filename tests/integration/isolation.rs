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
