//! Cross-site request forgery: a page served from another origin (here another port of
//! the booth's own host, which browsers count as the same *site*, so even SameSite=Strict
//! cookies go along) cannot act as the operator. The booth's own pages still can.

use std::time::Duration;

use serde_json::{json, Value};

use crate::browser::Browser;
use crate::e2e::open_admin;
use crate::util::*;

/// Serves `page` at `/` on another port of 127.0.0.1, as a hostile page would be.
async fn other_port_page(page: String) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::response::Html(page) }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

/// The statuses the browser saw for requests to `url` (DevTools sees them even where
/// the page, sending `no-cors`, may not).
fn statuses(browser: &Browser, url: &str) -> Vec<u64> {
    browser
        .events
        .iter()
        .filter(|(_, m, p)| m == "Network.responseReceived" && p["response"]["url"] == url)
        .map(|(_, _, p)| p["response"]["status"].as_u64().unwrap_or(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_port_cannot_pause_or_reset_the_booth_with_the_operators_cookie() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let server = TestServer::start().await;
    let pause = server.url("/api/admin/pause");
    let reset = server.url("/api/admin/reset-kiosk");
    // Forms post with the cookie and need no script on the booth's side: one pauses
    // with a body shaped as JSON (the classic text/plain trick), one resets the kiosk,
    // which needs no body at all.
    let page = format!(
        r#"<!doctype html><title>Prize draw</title>
<form id="pause" method="post" action="{pause}" enctype="text/plain">
  <input name='{{"paused":true,"x":"' value='"}}'>
</form>
<form id="reset" method="post" action="{reset}"></form>"#
    );
    let (page_url, _page_server) = other_port_page(page).await;

    // The operator logs in on the booth's own page, in this browser.
    let admin = open_admin(&mut browser, &server).await;

    // Then, in the same browser (same cookies), opens the other page.
    let other = admin.clone();
    browser.goto(&other, &page_url).await;
    browser
        .wait_for(
            &other,
            "document.getElementById('reset')",
            Duration::from_secs(10),
            "the other page",
        )
        .await;
    let sent = browser
        .eval(
            &other,
            &format!(
                r#"Promise.all([
  fetch("{pause}", {{ method: "POST", credentials: "include" }}),
  fetch("{pause}", {{ method: "POST", credentials: "include", mode: "no-cors",
    headers: {{ "content-type": "text/plain" }}, body: '{{"paused":true}}' }}),
  fetch("{reset}", {{ method: "POST", credentials: "include", mode: "no-cors" }}),
].map(p => p.then(r => r.type, e => "blocked: " + e)))"#
            ),
        )
        .await;
    assert_eq!(sent.as_array().map(Vec::len), Some(3), "{sent}");

    browser
        // Submitted after the evaluation returns: a submit inside it navigates away
        // before DevTools answers ("Inspected target navigated or closed", seen once).
        .eval(
            &other,
            "setTimeout(() => document.getElementById('reset').submit(), 0)",
        )
        .await;
    browser
        .wait_for(
            &other,
            "location.href.includes('/api/admin/reset-kiosk') && document.body.innerText.includes('other-site')",
            Duration::from_secs(10),
            "the booth's answer to the reset form",
        )
        .await;
    browser.goto(&other, &page_url).await;
    browser
        .wait_for(
            &other,
            "document.getElementById('pause')",
            Duration::from_secs(10),
            "the other page again",
        )
        .await;
    browser
        // Submitted after the evaluation returns: a submit inside it navigates away
        // before DevTools answers ("Inspected target navigated or closed", seen once).
        .eval(
            &other,
            "setTimeout(() => document.getElementById('pause').submit(), 0)",
        )
        .await;
    browser
        .wait_for(
            &other,
            "location.href.includes('/api/admin/pause') && document.body.innerText.includes('other-site')",
            Duration::from_secs(10),
            "the booth's answer to the pause form",
        )
        .await;

    // Every request that reached the booth was refused as from another site: the plain
    // fetch's CORS preflight may stop it before it is sent, the rest arrive with the
    // operator's cookie and are refused.
    let pauses = statuses(&browser, &pause);
    let resets = statuses(&browser, &reset);
    assert!(
        !pauses.is_empty() && !resets.is_empty(),
        "{pauses:?} {resets:?}"
    );
    assert!(
        pauses.iter().chain(&resets).all(|&s| s == 403),
        "pause answers {pauses:?}, reset answers {resets:?}"
    );

    // Nothing happened: the booth is not paused and the kiosk was not reset.
    let operator = operator(&server).await;
    let status = get_json(&operator, &server, "/api/admin/status").await;
    assert_eq!(status["paused"], false, "{status}");
    let log = get_json(&operator, &server, "/api/admin/log").await;
    let lines = log["lines"].to_string();
    assert!(!lines.contains("reset the kiosk"), "{lines}");
    assert!(!lines.contains("paused the booth"), "{lines}");

    // The booth's own page still acts, with its own origin.
    browser.goto(&admin, &server.url("/admin")).await;
    browser
        .wait_for(
            &admin,
            "!document.getElementById('dashboard').hidden",
            Duration::from_secs(10),
            "the dashboard again",
        )
        .await;
    let own = browser
        .eval(
            &admin,
            r#"fetch("/api/admin/pause", { method: "POST", credentials: "include",
  headers: { "content-type": "application/json" }, body: '{"paused":true}' }).then(r => r.status)"#,
        )
        .await;
    assert_eq!(own, json!(204));
    let status: Value = get_json(&operator, &server, "/api/admin/status").await;
    assert_eq!(status["paused"], true, "{status}");
}

/// Clients that send no `Origin` (the load tool, scripts, older browsers' navigations)
/// keep working, and a foreign `Origin` is refused on the phone's routes as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_an_origin_pass_and_a_foreign_origin_is_refused_everywhere() {
    let server = TestServer::start().await;
    let operator = operator(&server).await;
    let res = operator
        .post(server.url("/api/admin/pause"))
        .json(&json!({ "paused": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    for (path, origin) in [
        ("/api/admin/pause", "http://127.0.0.1:1"),
        ("/api/join", "https://evil.example"),
        ("/api/rooms", "null"),
    ] {
        let res = operator
            .post(server.url(path))
            .header("origin", origin)
            .json(&json!({ "paused": true }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{path} from {origin}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "other-site", "{path}");
    }
    // The booth's own origin passes (a kiosk creating its room).
    let res = reqwest::Client::new()
        .post(server.url("/api/rooms"))
        .header("origin", server.base.clone())
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
}
