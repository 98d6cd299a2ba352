//! A visitor's name is data, never markup: a name carrying HTML and script goes through
//! the real pages in headless Chromium (phone, kiosk, operator log) and shows as the
//! same text everywhere, with no element injected, no dialog and no CSP violation.

use std::time::Duration;

use serde_json::json;

use crate::browser::Browser;
use crate::util::*;

/// 23 characters: within the default name limit (24), so it arrives whole.
const NAME: &str = r#""><svg onload=alert(1)>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_with_markup_is_shown_as_text_on_every_page() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let server = TestServer::start().await;
    let photo_dir = tempfile::tempdir().unwrap();
    let photo = photo_dir.path().join("me.jpg");
    std::fs::write(&photo, camera_photo()).unwrap();
    let name_js = serde_json::to_string(NAME).unwrap();
    let injected =
        "document.querySelectorAll('svg, [onload], [onerror], script:not([src])').length";

    let kiosk = browser.tab(1280, 800, false).await;
    browser.goto(&kiosk, &server.url("/")).await;
    browser
        .wait_for(
            &kiosk,
            "kiosk.room && kiosk.room.join_url",
            Duration::from_secs(10),
            "the kiosk's room",
        )
        .await;
    let join_url = browser.eval(&kiosk, "kiosk.room.join_url").await;

    let phone = browser.tab(390, 844, true).await;
    browser.goto(&phone, join_url.as_str().unwrap()).await;
    browser
        .wait_for(
            &phone,
            "!document.getElementById('upload').hidden",
            Duration::from_secs(10),
            "the upload form",
        )
        .await;
    browser
        .eval(
            &phone,
            &format!("document.getElementById('name').value = {name_js}"),
        )
        .await;
    browser.set_file(&phone, "#photo-input", &photo).await;
    browser
        .eval(&phone, "document.getElementById('upload').requestSubmit()")
        .await;
    browser
        .wait_for(
            &phone,
            "!document.getElementById('ticket-box').hidden",
            Duration::from_secs(90),
            "the ticket",
        )
        .await;

    // The kiosk shows the name as its text.
    browser
        .wait_for(
            &kiosk,
            &format!("document.getElementById('visitor-name').textContent === {name_js}"),
            Duration::from_secs(10),
            "the name on the kiosk",
        )
        .await;
    assert_eq!(browser.eval(&kiosk, injected).await, json!(0));
    assert_eq!(browser.eval(&phone, injected).await, json!(0));

    // The operator log holds the same line, as text.
    let admin = browser.tab(1280, 800, false).await;
    browser.goto(&admin, &server.url("/admin")).await;
    browser
        .wait_for(
            &admin,
            "!document.getElementById('login').hidden",
            Duration::from_secs(10),
            "the login form",
        )
        .await;
    browser
        .eval(
            &admin,
            &format!(
                "document.getElementById('password').value = {}; document.getElementById('login').requestSubmit()",
                serde_json::to_string(OPERATOR_PASSWORD).unwrap()
            ),
        )
        .await;
    browser
        .wait_for(
            &admin,
            &format!("[...document.querySelectorAll('#log li')].some((li) => li.textContent.includes({name_js}))"),
            Duration::from_secs(10),
            "the name in the operator log",
        )
        .await;
    assert_eq!(browser.eval(&admin, injected).await, json!(0));
    // The counters filled in from the same visit.
    browser
        .wait_for(
            &admin,
            "document.getElementById('today').textContent.includes('Visits1')",
            Duration::from_secs(10),
            "today's counters",
        )
        .await;

    for (tab, page) in [(&kiosk, "kiosk"), (&phone, "phone"), (&admin, "operator")] {
        browser.assert_clean(tab, page).await;
    }
    assert_eq!(
        browser.dialogs(),
        Vec::<String>::new(),
        "a script ran a dialog"
    );
}
