//! A visitor's name is data, never markup: a name carrying HTML and script goes through
//! the real pages in headless Chromium (phone, kiosk, operator log) and shows as the
//! same text everywhere, with no element injected, no dialog and no CSP violation.

use std::time::Duration;

use serde_json::json;

use crate::browser::Browser;
use crate::e2e::{open_admin, open_kiosk, open_phone, send_photo, wait_for_qr};
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
        // The operator's two charts are the only SVG the pages draw themselves.
        "document.querySelectorAll('svg:not(.chart > svg), [onload], [onerror], script:not([src])').length";

    let kiosk = open_kiosk(&mut browser, &server).await;
    let join_url = wait_for_qr(&mut browser, &kiosk, None).await;
    let phone = open_phone(&mut browser, &join_url).await;
    send_photo(&mut browser, &phone, NAME, &photo).await;
    browser.tap(&phone, "#send").await;
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
    let admin = open_admin(&mut browser, &server).await;
    browser
        .wait_for(
            &admin,
            &format!("[...document.querySelectorAll('#log li')].some((li) => li.textContent.includes({name_js}))"),
            Duration::from_secs(10),
            "the name in the operator log",
        )
        .await;
    assert_eq!(browser.eval(&admin, injected).await, json!(0));

    for (tab, page) in [(&kiosk, "kiosk"), (&phone, "phone"), (&admin, "operator")] {
        browser.assert_clean(tab, page).await;
    }
    assert_eq!(
        browser.dialogs(),
        Vec::<String>::new(),
        "a script ran a dialog"
    );
}
