//! End to end in real headless Chromium: a kiosk at desktop size and phones emulated
//! as iPhones (viewport, touch, Safari's user agent), each in its own browser context,
//! with third-party cookies blocked as Safari blocks them. Screenshots of every step go
//! to target/e2e/.

use std::time::Duration;

use serde_json::json;

use crate::browser::{read_qr, screenshot_dir, Browser, Tab};
use crate::glyphs::assert_glyphs_drawn;
use crate::util::*;

const KIOSK: (u32, u32) = (1280, 800);
const IPHONE: (u32, u32) = (390, 844);

/// A kiosk tab on `server`'s kiosk page, with its room's QR code on screen.
pub(crate) async fn open_kiosk(browser: &mut Browser, server: &TestServer) -> Tab {
    let kiosk = browser.tab(KIOSK.0, KIOSK.1, false).await;
    strict_cookies(browser, &kiosk).await;
    browser.goto(&kiosk, &server.url("/")).await;
    wait_for_qr(browser, &kiosk, None).await;
    kiosk
}

/// Blocks third-party cookies in the tab, as Safari does.
pub(crate) async fn strict_cookies(browser: &mut Browser, tab: &Tab) {
    browser
        .call(
            Some(tab.session()),
            "Network.setCookieControls",
            json!({ "enableThirdPartyCookieRestriction": true, "disableThirdPartyCookieMetadata": true, "disableThirdPartyCookieHeuristics": true }),
        )
        .await;
}

/// Waits until the kiosk shows a QR code for a room other than `not_room`, and reads
/// the join URL from the picture on screen.
pub(crate) async fn wait_for_qr(
    browser: &mut Browser,
    kiosk: &Tab,
    not_room: Option<&str>,
) -> String {
    let other = serde_json::to_string(&not_room).unwrap();
    browser
        .wait_for(
            kiosk,
            &format!(
                "kiosk.room && kiosk.room.room_id !== {other} && !document.getElementById('welcome').hidden
                 && document.getElementById('qr').complete && document.getElementById('qr').naturalWidth > 0
                 && document.getElementById('qr').dataset.roomId === kiosk.room.room_id"
            ),
            Duration::from_secs(20),
            "the kiosk's QR code",
        )
        .await;
    read_qr(&browser.element_png(kiosk, "#qr").await)
}

/// A phone tab that opened `join_url` and shows the upload form.
pub(crate) async fn open_phone(browser: &mut Browser, join_url: &str) -> Tab {
    let phone = browser.tab(IPHONE.0, IPHONE.1, true).await;
    strict_cookies(browser, &phone).await;
    browser.goto(&phone, join_url).await;
    browser
        .wait_for(
            &phone,
            "!document.getElementById('upload').hidden",
            Duration::from_secs(10),
            "the upload form",
        )
        .await;
    phone
}

/// Types the name, picks the photo through the file input and taps "Paint me".
pub(crate) async fn send_photo(
    browser: &mut Browser,
    phone: &Tab,
    name: &str,
    photo: &std::path::Path,
) {
    browser.type_into(phone, "#name", name).await;
    browser.set_file(phone, "#photo-input", photo).await;
    browser
        .wait_for(
            phone,
            "!document.getElementById('preview').hidden && document.getElementById('preview').complete",
            Duration::from_secs(5),
            "the photo preview",
        )
        .await;
}

/// A camera photo in a temp folder (kept while the folder lives).
pub(crate) fn photo_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let files = tempfile::tempdir().unwrap();
    let photo = files.path().join("me.jpg");
    std::fs::write(&photo, camera_photo()).unwrap();
    (files, photo)
}

/// A kiosk showing its QR code, and a phone that scanned it.
pub(crate) async fn kiosk_and_phone(browser: &mut Browser, server: &TestServer) -> (Tab, Tab) {
    let kiosk = open_kiosk(browser, server).await;
    let join_url = wait_for_qr(browser, &kiosk, None).await;
    let phone = open_phone(browser, &join_url).await;
    (kiosk, phone)
}

/// The phone shows its ticket, loaded.
pub(crate) const TICKET_SHOWN: &str =
    "!document.getElementById('ticket-box').hidden && document.getElementById('ticket').complete";

/// The image URLs of a page's finished cards, sorted.
pub(crate) async fn shown_paintings(browser: &mut Browser, tab: &Tab) -> Vec<String> {
    let v = browser
        .eval(
            tab,
            "[...document.querySelectorAll('#cards .card[data-status=done] img:not([hidden])')].map((i) => i.getAttribute('src')).sort()",
        )
        .await;
    serde_json::from_value(v).unwrap()
}

pub(crate) const FOUR_DONE: &str =
    "document.querySelectorAll('#cards .card[data-status=done] img:not([hidden])').length === 4";

pub(crate) fn save(name: &str, png: &[u8]) {
    std::fs::write(screenshot_dir().join(name), png).unwrap();
}

/// Every request a page made went to the booth's own origin (or stayed in the page).
pub(crate) fn assert_first_party(browser: &Browser, tab: &Tab, server: &TestServer, page: &str) {
    let origin = server.base.clone();
    let ws_origin = server.ws_url("");
    let requests = browser.requests(tab);
    assert!(!requests.is_empty(), "{page}: no requests seen");
    for url in requests {
        assert!(
            url.starts_with(&origin)
                || url.starts_with(&ws_origin)
                || url.starts_with("data:")
                || url.starts_with("blob:"),
            "{page} requested {url}, which is not the booth's origin"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_visit_from_qr_code_to_saved_ticket_and_a_fresh_qr_code() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let server = TestServer::start_with(|c| c.kiosk.finished_hold_secs = 1).await;
    let files = tempfile::tempdir().unwrap();
    let photo = files.path().join("me.jpg");
    std::fs::write(&photo, camera_photo()).unwrap();

    let kiosk = open_kiosk(&mut browser, &server).await;
    let first_room = browser.eval(&kiosk, "kiosk.room.room_id").await;
    // The phone opens what the QR code on screen says, not what the page knows.
    let join_url = wait_for_qr(&mut browser, &kiosk, None).await;
    assert!(
        join_url.starts_with(&server.url("/j/")) && join_url.contains('#'),
        "{join_url}"
    );
    save("01-kiosk-qr.png", &browser.screenshot(&kiosk).await);
    assert_glyphs_drawn(&mut browser, &kiosk, "kiosk waiting", 15).await;

    let phone = open_phone(&mut browser, &join_url).await;
    assert_eq!(
        browser
            .eval(
                &phone,
                "navigator.userAgent.includes('iPhone') && navigator.maxTouchPoints > 0"
            )
            .await,
        json!(true)
    );
    // The kiosk greets the visitor large, over the four frames waiting for them.
    browser
        .wait_for(
            &kiosk,
            "document.body.dataset.stage === 'joined'
             && document.querySelectorAll('#cards .card[data-status=ready]').length === 4",
            Duration::from_secs(10),
            "the kiosk's greeting",
        )
        .await;
    let greeting = browser
        .eval(&kiosk, "document.getElementById('visit-status').innerText")
        .await;
    let greeting = greeting.as_str().unwrap();
    assert!(
        greeting.contains("take or choose a photo") && greeting.contains("사진을 찍거나"),
        "{greeting}"
    );
    save("01b-kiosk-joined.png", &browser.screenshot(&kiosk).await);
    assert_glyphs_drawn(&mut browser, &kiosk, "kiosk joined", 15).await;
    assert_glyphs_drawn(&mut browser, &phone, "phone joined", 15).await;
    send_photo(&mut browser, &phone, "김민지", &photo).await;
    // The kiosk greets the visitor by the name as typed, before the photo is sent.
    browser
        .wait_for(
            &kiosk,
            "document.getElementById('visitor-name').textContent === '김민지'",
            Duration::from_secs(10),
            "the typed name on the kiosk",
        )
        .await;
    // The name field draws Hangul with the page's fonts (a bare <input> falls back to
    // the system font, which on a machine without Korean fonts shows empty boxes).
    assert_eq!(
        browser
            .eval(&phone, "getComputedStyle(document.getElementById('name')).fontFamily.includes('Articket Hangul')")
            .await,
        json!(true)
    );
    save("02-phone-upload.png", &browser.screenshot(&phone).await);
    browser.tap(&phone, "#send").await;
    browser
        .wait_for(
            &phone,
            FOUR_DONE,
            Duration::from_secs(90),
            "four paintings on the phone",
        )
        .await;
    browser
        .wait_for(
            &phone,
            "!document.getElementById('ticket-box').hidden && document.getElementById('ticket').complete",
            Duration::from_secs(10),
            "the ticket on the phone",
        )
        .await;
    save("03-phone-results.png", &browser.screenshot(&phone).await);
    assert_glyphs_drawn(&mut browser, &phone, "phone results", 15).await;

    // The kiosk shows the same four paintings and the name.
    browser
        .wait_for(
            &kiosk,
            FOUR_DONE,
            Duration::from_secs(10),
            "four paintings on the kiosk",
        )
        .await;
    let on_phone = shown_paintings(&mut browser, &phone).await;
    assert_eq!(on_phone.len(), 4);
    assert_eq!(shown_paintings(&mut browser, &kiosk).await, on_phone);
    assert_eq!(
        browser
            .eval(
                &kiosk,
                "document.getElementById('visitor-name').textContent"
            )
            .await,
        json!("김민지")
    );
    save("04-kiosk-results.png", &browser.screenshot(&kiosk).await);
    assert_glyphs_drawn(&mut browser, &kiosk, "kiosk results", 15).await;

    // "Save ticket" saves a 1080×1920 PNG (headless Chromium has no share sheet, so the
    // link downloads, as on a desktop browser).
    let downloads = tempfile::tempdir().unwrap();
    browser.downloads_to(&phone, downloads.path()).await;
    browser.tap(&phone, "#save-ticket").await;
    let saved = downloads.path().join("articket-ticket.png");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !saved.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no ticket was downloaded"
        );
        browser.eval(&phone, "1").await; // keeps protocol events flowing
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let png = std::fs::read(&saved).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let ticket = image::load_from_memory(&png).unwrap();
    assert_eq!((ticket.width(), ticket.height()), (1080, 1920));
    save("05-ticket.png", &png);
    // An iPhone is told how to keep it.
    browser
        .wait_for(
            &phone,
            "!document.getElementById('save-hint').hidden",
            Duration::from_secs(5),
            "the save hint",
        )
        .await;

    // "Finish": the kiosk thanks the visitor, then shows a fresh QR code.
    browser.tap(&phone, "#finish").await;
    let next_url = wait_for_qr(&mut browser, &kiosk, first_room.as_str()).await;
    assert_ne!(next_url, join_url);
    assert!(next_url.starts_with(&server.url("/j/")), "{next_url}");
    assert_eq!(
        browser
            .eval(&kiosk, "document.querySelectorAll('#cards .card').length")
            .await,
        json!(0),
        "the next visitor sees nothing of this one"
    );
    save("06-kiosk-next-qr.png", &browser.screenshot(&kiosk).await);

    for (tab, page) in [(&kiosk, "kiosk"), (&phone, "phone")] {
        assert_first_party(&browser, tab, &server, page);
        browser.assert_clean(tab, page).await;
    }
}

/// Waits until the element `#id` is shown.
pub(crate) async fn wait_shown(browser: &mut Browser, tab: &Tab, id: &str, what: &str) {
    browser
        .wait_for(
            tab,
            &format!("!document.getElementById('{id}').hidden"),
            Duration::from_secs(10),
            what,
        )
        .await;
}

/// The operator page, logged in by typing the password.
pub(crate) async fn open_admin(browser: &mut Browser, server: &TestServer) -> Tab {
    let admin = browser.tab(KIOSK.0, KIOSK.1, false).await;
    browser.goto(&admin, &server.url("/admin")).await;
    wait_shown(browser, &admin, "login", "the login form").await;
    browser
        .type_into(&admin, "#password", OPERATOR_PASSWORD)
        .await;
    browser.tap(&admin, "#login button").await;
    browser
        .wait_for(
            &admin,
            "!document.getElementById('dashboard').hidden && document.getElementById('today').textContent.includes('Visits')",
            Duration::from_secs(10),
            "the dashboard",
        )
        .await;
    admin
}

/// Records every image and name a page ever shows, so a test can ask afterwards whether
/// something appeared even for a moment.
const RECORD_SHOWN: &str = r#"
window.__shown = new Set();
const note = () => {
  for (const i of document.querySelectorAll("img")) if (i.getAttribute("src")) window.__shown.add(i.getAttribute("src"));
  const n = document.getElementById("visitor-name");
  if (n && n.textContent) window.__shown.add("name:" + n.textContent);
};
new MutationObserver(note).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
note();
"#;

/// The photo and painting URLs of the phone's own visit, from the API as the phone
/// reads it.
pub(crate) async fn visit_urls(browser: &mut Browser, phone: &Tab) -> Vec<String> {
    let v = browser
        .eval(
            phone,
            "fetch(`/api/visits/${visitId}`).then((r) => r.json()).then((v) => [v.photo_url, ...v.results.map((r) => r.image_url)])",
        )
        .await;
    serde_json::from_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_kiosks_and_two_phones_at_once_never_show_each_others_visit() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let server = TestServer::start().await;
    let files = tempfile::tempdir().unwrap();
    let photo = files.path().join("me.jpg");
    std::fs::write(&photo, camera_photo()).unwrap();

    let kiosk_a = open_kiosk(&mut browser, &server).await;
    let kiosk_b = open_kiosk(&mut browser, &server).await;
    for k in [&kiosk_a, &kiosk_b] {
        browser.eval(k, RECORD_SHOWN).await;
    }
    let url_a = wait_for_qr(&mut browser, &kiosk_a, None).await;
    let url_b = wait_for_qr(&mut browser, &kiosk_b, None).await;
    assert_ne!(url_a, url_b);
    let phone_a = open_phone(&mut browser, &url_a).await;
    let phone_b = open_phone(&mut browser, &url_b).await;
    send_photo(&mut browser, &phone_a, "Alice", &photo).await;
    send_photo(&mut browser, &phone_b, "Bora 보라", &photo).await;
    // Both press "Paint me" together: the pages' uploads overlap.
    browser
        .eval(&phone_a, "document.getElementById('send').click()")
        .await;
    browser
        .eval(&phone_b, "document.getElementById('send').click()")
        .await;
    for tab in [&phone_a, &phone_b, &kiosk_a, &kiosk_b] {
        browser
            .wait_for(tab, FOUR_DONE, Duration::from_secs(90), "four paintings")
            .await;
    }
    save("07-two-kiosks-a.png", &browser.screenshot(&kiosk_a).await);
    save("08-two-kiosks-b.png", &browser.screenshot(&kiosk_b).await);

    let own_a = visit_urls(&mut browser, &phone_a).await;
    let own_b = visit_urls(&mut browser, &phone_b).await;
    assert_eq!(own_a.len(), 5);
    for (kiosk, own, other, own_name, other_name) in [
        (&kiosk_a, &own_a, &own_b, "Alice", "Bora 보라"),
        (&kiosk_b, &own_b, &own_a, "Bora 보라", "Alice"),
    ] {
        let shown: Vec<String> =
            serde_json::from_value(browser.eval(kiosk, "[...window.__shown]").await).unwrap();
        for url in own {
            assert!(shown.contains(url), "the kiosk never showed its own {url}");
        }
        for url in other {
            assert!(
                !shown.contains(url),
                "a kiosk showed the other visit's {url}"
            );
        }
        assert!(shown.contains(&format!("name:{own_name}")));
        assert!(!shown.iter().any(|s| s.contains(other_name)), "{shown:?}");
    }
    // Each phone shows its own four, and the two sets share nothing.
    let (a, b) = (
        shown_paintings(&mut browser, &phone_a).await,
        shown_paintings(&mut browser, &phone_b).await,
    );
    assert!(a.iter().all(|u| !b.contains(u)));
    for (tab, page) in [
        (&kiosk_a, "kiosk A"),
        (&kiosk_b, "kiosk B"),
        (&phone_a, "phone A"),
        (&phone_b, "phone B"),
    ] {
        assert_first_party(&browser, tab, &server, page);
        browser.assert_clean(tab, page).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_whose_socket_drops_mid_visit_shows_every_result_after_reconnecting() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    // One Stable Diffusion server painting one at a time, 400 ms each: the visit takes
    // long enough to drop the phone's socket in the middle of it.
    let sd = articket_a1111::fake::FakeA1111::start(Duration::from_millis(400)).await;
    let server = TestServer::start_with(|c| crate::stable_diffusion::use_servers(c, &[&sd])).await;
    let files = tempfile::tempdir().unwrap();
    let photo = files.path().join("me.jpg");
    std::fs::write(&photo, camera_photo()).unwrap();

    let kiosk = open_kiosk(&mut browser, &server).await;
    let join_url = wait_for_qr(&mut browser, &kiosk, None).await;
    let phone = open_phone(&mut browser, &join_url).await;
    send_photo(&mut browser, &phone, "Dropped", &photo).await;
    browser.tap(&phone, "#send").await;
    browser
        .wait_for(
            &phone,
            "document.body.dataset.visitStatus === 'painting'",
            Duration::from_secs(20),
            "painting to begin",
        )
        .await;

    // The network goes, and the socket with it. Chromium's offline emulation stops the
    // page's requests but not always a WebSocket handshake, so while "offline" the
    // page's reconnects are also sent to a dead end, where they fail as they would.
    browser
        .eval(
            &phone,
            "window.__offline = true; const RealSocket = WebSocket;
             window.WebSocket = function (url) {
               return new RealSocket(window.__offline ? url.replace('/api/rooms/', '/api/offline/') : url);
             };
             window.articketSocket.drop()",
        )
        .await;
    browser.set_offline(&phone, true).await;
    browser
        .wait_for(
            &kiosk,
            FOUR_DONE,
            Duration::from_secs(60),
            "the visit to finish",
        )
        .await;
    browser
        .wait_for(
            &phone,
            "document.getElementById('connection').textContent.includes('Reconnecting')",
            Duration::from_secs(5),
            "the offline notice",
        )
        .await;
    let missed = browser
        .eval(
            &phone,
            "document.querySelectorAll('#cards .card[data-status=done]').length",
        )
        .await;
    assert!(
        missed.as_u64().unwrap() < 4,
        "the phone should have missed results while offline"
    );
    save("09-phone-offline.png", &browser.screenshot(&phone).await);

    browser.set_offline(&phone, false).await;
    browser.eval(&phone, "window.__offline = false").await;
    browser
        .wait_for(
            &phone,
            FOUR_DONE,
            Duration::from_secs(20),
            "all four after reconnecting",
        )
        .await;
    browser
        .wait_for(
            &phone,
            "!document.getElementById('ticket-box').hidden && document.getElementById('connection').textContent === ''",
            Duration::from_secs(10),
            "the ticket and a quiet connection line",
        )
        .await;
    assert_eq!(
        shown_paintings(&mut browser, &phone).await,
        shown_paintings(&mut browser, &kiosk).await
    );
    save(
        "10-phone-reconnected.png",
        &browser.screenshot(&phone).await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_photos_resets_the_kiosk_and_the_operator_can_pause_the_booth() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let server = TestServer::start().await;
    let files = tempfile::tempdir().unwrap();
    let photo = files.path().join("me.jpg");
    std::fs::write(&photo, camera_photo()).unwrap();

    let kiosk = open_kiosk(&mut browser, &server).await;
    let first_room = browser.eval(&kiosk, "kiosk.room.room_id").await;
    let join_url = wait_for_qr(&mut browser, &kiosk, None).await;
    let phone = open_phone(&mut browser, &join_url).await;
    send_photo(&mut browser, &phone, "Del", &photo).await;
    browser.tap(&phone, "#send").await;
    browser
        .wait_for(&phone, FOUR_DONE, Duration::from_secs(90), "four paintings")
        .await;
    browser
        .wait_for(
            &phone,
            "!document.getElementById('ticket-box').hidden",
            Duration::from_secs(10),
            "the ticket",
        )
        .await;
    let urls = visit_urls(&mut browser, &phone).await;

    // "Delete my photos now" asks first (a native dialog, answered yes here), then the
    // phone says they are gone, the kiosk moves on, and the files are gone.
    browser
        .eval(
            &phone,
            "window.__asked = []; window.confirm = (m) => { window.__asked.push(m); return true; }",
        )
        .await;
    browser.tap(&phone, "#delete").await;
    browser
        .wait_for(
            &phone,
            "!document.getElementById('message').hidden",
            Duration::from_secs(10),
            "the deleted message",
        )
        .await;
    let asked = browser.eval(&phone, "window.__asked").await;
    let asked = asked[0].as_str().unwrap();
    assert!(
        asked.contains("삭제") && asked.contains("Delete"),
        "{asked}"
    );
    save("11-phone-deleted.png", &browser.screenshot(&phone).await);
    wait_for_qr(&mut browser, &kiosk, first_room.as_str()).await;
    for url in &urls {
        let (status, _, _) = get_bytes(&server, url).await;
        assert_eq!(status, 404, "{url} survived the deletion");
    }

    // The operator pauses the booth: the kiosk shows a break instead of a QR code,
    // and a fresh one when the booth opens again.
    let admin = open_admin(&mut browser, &server).await;
    let paused_room = browser.eval(&kiosk, "kiosk.room.room_id").await;
    browser.tap(&admin, "#pause").await;
    browser
        .wait_for(
            &kiosk,
            "!document.getElementById('paused').hidden && document.getElementById('welcome').hidden",
            Duration::from_secs(10),
            "the break screen",
        )
        .await;
    save("12-kiosk-paused.png", &browser.screenshot(&kiosk).await);
    assert_glyphs_drawn(&mut browser, &kiosk, "kiosk paused", 10).await;
    browser
        .wait_for(
            &admin,
            "document.body.dataset.paused === 'true'",
            Duration::from_secs(10),
            "the operator page to say paused",
        )
        .await;
    save("13-operator.png", &browser.screenshot(&admin).await);
    // The painter table's header once showed "□□ · Painter" here.
    let fonts = assert_glyphs_drawn(&mut browser, &admin, "operator", 10).await;
    assert!(
        fonts.iter().any(|f| f.starts_with("ArticketHangul")),
        "{fonts:?}"
    );
    browser.tap(&admin, "#pause").await;
    wait_for_qr(&mut browser, &kiosk, paused_room.as_str()).await;
    assert_eq!(
        browser
            .eval(&kiosk, "document.getElementById('paused').hidden")
            .await,
        json!(true)
    );
    for (tab, page) in [(&kiosk, "kiosk"), (&phone, "phone"), (&admin, "operator")] {
        assert_first_party(&browser, tab, &server, page);
        browser.assert_clean(tab, page).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiz_visit_shows_the_questions_on_both_screens_and_ends_with_a_quiz_ticket() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let server =
        TestServer::start_with(|c| c.quiz.mode = articket_web::config::VisitMode::Both).await;
    let files = tempfile::tempdir().unwrap();
    let photo = files.path().join("me.jpg");
    std::fs::write(&photo, camera_photo()).unwrap();

    let kiosk = open_kiosk(&mut browser, &server).await;
    let join_url = wait_for_qr(&mut browser, &kiosk, None).await;
    let phone = open_phone(&mut browser, &join_url).await;
    browser
        .wait_for(
            &phone,
            "!document.getElementById('mode-choice').hidden",
            Duration::from_secs(5),
            "the choice of mode",
        )
        .await;
    send_photo(&mut browser, &phone, "퀴즈", &photo).await;
    browser.tap(&phone, "#mode-choice input[value=quiz]").await;
    browser.tap(&phone, "#send").await;

    // Answer b, a, b, b, a, b, b, b: E (b, a), N (a, b), F (b, b), P (b, b): ENFP,
    // which is Lichtenstein's; Van Gogh is the good match and Renoir the bad one.
    for (i, key) in "babbabbb".chars().enumerate() {
        let progress = format!("Question {} of 8", i + 1);
        for tab in [&phone, &kiosk] {
            browser
                .wait_for(
                    tab,
                    &format!(
                        "!document.getElementById('quiz').hidden && document.querySelector('#quiz .quiz-progress').textContent.includes('{progress}')"
                    ),
                    Duration::from_secs(10),
                    &progress,
                )
                .await;
        }
        // Both answers in reach on an iPhone-sized screen, at every question.
        for answer in ["a", "b"] {
            let button = format!("#quiz button[data-answer={answer}]");
            assert!(
                in_reach(&mut browser, &phone, &button).await,
                "{progress}: answer {answer}"
            );
        }
        if i == 2 {
            save("14-phone-quiz.png", &browser.screenshot(&phone).await);
            save("15-kiosk-quiz.png", &browser.screenshot(&kiosk).await);
            crate::show::assert_no_scroll(&mut browser, &kiosk, "kiosk quiz").await;
            assert_glyphs_drawn(&mut browser, &phone, "phone quiz", 15).await;
            assert_glyphs_drawn(&mut browser, &kiosk, "kiosk quiz", 15).await;
        }
        browser
            .tap(&phone, &format!("#quiz button[data-answer={key}]"))
            .await;
    }
    for tab in [&phone, &kiosk] {
        browser
            .wait_for(
                tab,
                "!document.getElementById('quiz-result').hidden && document.getElementById('quiz-result').dataset.painter === 'lichtenstein'",
                Duration::from_secs(10),
                "the quiz result",
            )
            .await;
        let text = browser
            .eval(tab, "document.getElementById('quiz-result').textContent")
            .await;
        let text = text.as_str().unwrap();
        assert!(
            text.contains("ENFP") && text.contains("Lichtenstein"),
            "{text}"
        );
        assert!(
            text.contains("Good match: Van Gogh") && text.contains("Bad match: Renoir"),
            "{text}"
        );
        // Each card says whose it is.
        let roles = browser
            .eval(
                tab,
                "[...document.querySelectorAll('#cards .card')].map((c) => `${c.dataset.painter}:${c.dataset.role || ''}`).join(' ')",
            )
            .await;
        assert_eq!(
            roles,
            json!("picasso: renoir:bad vangogh:good lichtenstein:mine")
        );
    }
    browser
        .wait_for(
            &phone,
            "!document.getElementById('ticket-box').hidden && document.getElementById('ticket').complete && document.getElementById('ticket').naturalWidth === 1080",
            Duration::from_secs(60),
            "the quiz ticket",
        )
        .await;
    save(
        "16-phone-quiz-result.png",
        &browser.screenshot(&phone).await,
    );
    crate::show::assert_no_scroll(&mut browser, &kiosk, "kiosk quiz result").await;
    save(
        "17-kiosk-quiz-result.png",
        &browser.screenshot(&kiosk).await,
    );
    assert_glyphs_drawn(&mut browser, &phone, "phone quiz result", 15).await;
    assert_glyphs_drawn(&mut browser, &kiosk, "kiosk quiz result", 15).await;
    // In quiz mode too, the phone's next step is on screen: "Save ticket", then "Finish".
    save_then_finish_in_reach(&mut browser, &phone, "quiz").await;
    let ticket_url = browser
        .eval(
            &phone,
            "document.getElementById('ticket').getAttribute('src')",
        )
        .await;
    let ticket_path = ticket_url.as_str().unwrap().replacen(&server.base, "", 1);
    let (_, _, png) = get_bytes(&server, &ticket_path).await;
    save("18-quiz-ticket.png", &png);
    for (tab, page) in [(&kiosk, "kiosk"), (&phone, "phone")] {
        assert_first_party(&browser, tab, &server, page);
        browser.assert_clean(tab, page).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kiosks_print_button_prints_once_and_says_so() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("calls.log");
    let lp = crate::print::stub(
        bin.path(),
        &format!(
            r#"echo "$@" >> "{}"
echo "request id is booth-1 (1 file(s))""#,
            log.display()
        ),
    );
    let server = TestServer::start_with(|c| {
        c.print.enabled = true;
        c.print.command = lp;
    })
    .await;
    let kiosk = open_kiosk(&mut browser, &server).await;
    // The phone here is a plain HTTP client that joins with what the QR code says.
    let join_url = wait_for_qr(&mut browser, &kiosk, None).await;
    let (path, secret) = join_url.split_once('#').unwrap();
    let (http, _) = Phone::browser();
    let res = http
        .post(server.url("/api/join"))
        .json(&serde_json::json!({ "room_id": path.rsplit('/').next().unwrap(), "secret": secret }))
        .send()
        .await
        .unwrap();
    let visit_id = res.json::<serde_json::Value>().await.unwrap()["visit_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let phone = Phone {
        http,
        jar: std::sync::Arc::new(Default::default()),
        visit_id,
    };
    assert_eq!(
        phone
            .upload(&server, "Print", camera_photo(), "p.jpg")
            .await
            .status(),
        202
    );

    wait_shown(&mut browser, &kiosk, "print-box", "the print button").await;
    browser.tap(&kiosk, "#print").await;
    browser.tap(&kiosk, "#print").await; // an impatient second press
    browser
        .wait_for(
            &kiosk,
            "document.getElementById('print-status').textContent.includes('Sent to the printer')",
            Duration::from_secs(20),
            "the printed message",
        )
        .await;
    save("19-kiosk-printed.png", &browser.screenshot(&kiosk).await);
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(calls.lines().count(), 1, "two presses, one print: {calls}");
    assert_first_party(&browser, &kiosk, &server, "kiosk");
    browser.assert_clean(&kiosk, "kiosk").await;
}

/// With no fallback, the kiosk in a real browser swaps its QR code for "the painters
/// are resting" when the only server stops answering, and shows a fresh QR code by
/// itself when it answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kiosk_rests_while_the_only_server_is_down_and_comes_back_by_itself() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let fake = articket_a1111::fake::FakeA1111::start(Duration::from_millis(20)).await;
    let server = TestServer::start_with(|c| {
        crate::stable_diffusion::use_servers(c, &[&fake]);
        c.ai.fallback = articket_web::config::Fallback::None;
    })
    .await;
    let kiosk = open_kiosk(&mut browser, &server).await;
    let first: String = browser
        .eval(&kiosk, "kiosk.room.room_id")
        .await
        .as_str()
        .unwrap()
        .to_owned();

    fake.set_online(false);
    browser
        .wait_for(
            &kiosk,
            "document.body.dataset.stage === 'resting' && !document.getElementById('resting').hidden
             && document.getElementById('welcome').hidden",
            Duration::from_secs(20),
            "the painters resting instead of the QR code",
        )
        .await;
    let text = browser
        .eval(&kiosk, "document.getElementById('resting').innerText")
        .await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("The painters are resting") && text.contains("화가들이"),
        "{text}"
    );
    std::fs::write(
        screenshot_dir().join("kiosk-resting.png"),
        browser.screenshot(&kiosk).await,
    )
    .unwrap();

    fake.set_online(true);
    wait_for_qr(&mut browser, &kiosk, Some(&first)).await;
    assert_eq!(
        browser
            .eval(&kiosk, "document.getElementById('resting').hidden")
            .await,
        true
    );
    browser.assert_clean(&kiosk, "kiosk").await;
}

/// The kiosk gives the next person their turn by itself: `results_secs` after the
/// ticket is ready, a fresh QR code, though the visitor never tapped "finish".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kiosk_returns_to_a_fresh_qr_code_results_secs_after_the_ticket() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let server = TestServer::start_with(|c| c.kiosk.results_secs = 2).await;
    let (_files, photo) = photo_file();
    let (kiosk, phone) = kiosk_and_phone(&mut browser, &server).await;
    let first: String = browser
        .eval(&kiosk, "kiosk.room.room_id")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    send_photo(&mut browser, &phone, "Ada", &photo).await;
    browser.tap(&phone, "#send").await;
    browser
        .wait_for(
            &kiosk,
            "document.body.dataset.stage === 'results'",
            Duration::from_secs(90),
            "the results on the kiosk",
        )
        .await;
    let shown = std::time::Instant::now();
    wait_for_qr(&mut browser, &kiosk, Some(&first)).await;
    let after = shown.elapsed();
    assert!(
        after >= Duration::from_millis(1500) && after < Duration::from_secs(15),
        "the results stayed {after:?}"
    );
    // The visitor's phone keeps its results.
    browser
        .wait_for(
            &phone,
            FOUR_DONE,
            Duration::from_secs(10),
            "the paintings still on the phone",
        )
        .await;
}

/// The ticket's "My results" QR code opens the visit's results in another browser (no
/// cookie of the visit's), read-only, until the visitor deletes their photos.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tickets_results_link_works_from_another_phone_until_the_photos_are_deleted() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let server = TestServer::start().await;
    let (_files, photo) = photo_file();
    let (_kiosk, phone) = kiosk_and_phone(&mut browser, &server).await;
    send_photo(&mut browser, &phone, "Link", &photo).await;
    browser.tap(&phone, "#send").await;
    browser
        .wait_for(&phone, TICKET_SHOWN, Duration::from_secs(90), "the ticket")
        .await;
    let note = browser
        .eval(&phone, "document.getElementById('link-note').innerText")
        .await;
    assert!(note.as_str().unwrap().contains("private to you"), "{note}");
    // What the ticket's QR code says, read from the ticket picture itself.
    let ticket_url = browser
        .eval(&phone, "document.getElementById('ticket').src")
        .await;
    let ticket_path = ticket_url.as_str().unwrap().replacen(&server.base, "", 1);
    let (_, _, png) = get_bytes(&server, &ticket_path).await;
    let link = read_qr(&png);
    let visit_id: String = browser
        .eval(&phone, "location.pathname.split('/')[2]")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        link.starts_with(&server.url(&format!("/v/{visit_id}#k="))),
        "{link}"
    );

    // Another phone, another browser context: the results and the ticket, no actions.
    let other = browser.tab(IPHONE.0, IPHONE.1, true).await;
    browser.goto(&other, &link).await;
    browser
        .wait_for(
            &other,
            FOUR_DONE,
            Duration::from_secs(20),
            "the paintings on another phone",
        )
        .await;
    browser
        .wait_for(
            &other,
            "!document.getElementById('ticket-box').hidden",
            Duration::from_secs(10),
            "the ticket on another phone",
        )
        .await;
    for hidden in ["#delete", "#finish"] {
        let shown = browser
            .eval(
                &other,
                &format!("getComputedStyle(document.querySelector('{hidden}')).display !== 'none'"),
            )
            .await;
        assert_eq!(shown, json!(false), "{hidden} on a results link");
    }
    save("10-results-link.png", &browser.screenshot(&other).await);
    browser.assert_clean(&other, "results link").await;
    // Without the key, the same address is no way in.
    let res = reqwest::get(server.url(&format!("/api/visits/{visit_id}")))
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // "Delete my photos" ends the link too.
    browser.eval(&phone, "window.confirm = () => true").await;
    browser.tap(&phone, "#delete").await;
    server.wait_no_files(Duration::from_secs(10)).await;
    browser.eval(&other, "location.reload()").await;
    browser
        .wait_for(
            &other,
            "document.getElementById('visit').hidden && document.body.innerText.includes('Not found')",
            Duration::from_secs(10),
            "the link gone with the photos",
        )
        .await;
}

/// "Save ticket" is on screen without scrolling; once tapped, "Finish" is.
async fn save_then_finish_in_reach(browser: &mut Browser, phone: &Tab, mode: &str) {
    assert!(
        in_reach(browser, phone, "#save-ticket").await,
        "Save ticket ({mode})"
    );
    browser
        .eval(phone, "document.getElementById('save-ticket').click()")
        .await;
    browser
        .wait_for(
            phone,
            "document.body.dataset.saved === 'true'",
            Duration::from_secs(5),
            "saved",
        )
        .await;
    assert!(in_reach(browser, phone, "#finish").await, "Finish ({mode})");
}

/// Whether `selector` is wholly on screen without scrolling (at the top of the page).
async fn in_reach(browser: &mut Browser, tab: &Tab, selector: &str) -> bool {
    browser.eval(tab, "window.scrollTo(0, 0)").await;
    let js = format!(
        "(() => {{ const r = document.querySelector('{selector}').getBoundingClientRect();
           return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }})()"
    );
    browser.eval(tab, &js).await == json!(true)
}

/// On an iPhone-sized screen (390×844) the phone's next step is always in reach
/// without scrolling: "Paint me" once the photo preview shows (with the mode choice
/// too), then "Save ticket", then "Finish".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phones_next_step_is_always_on_screen() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let server =
        TestServer::start_with(|c| c.quiz.mode = articket_web::config::VisitMode::Both).await;
    let (_files, photo) = photo_file();
    let (_kiosk, phone) = kiosk_and_phone(&mut browser, &server).await;
    assert_eq!(
        browser
            .eval(&phone, "document.getElementById('mode-choice').hidden")
            .await,
        json!(false),
        "the mode choice takes its room"
    );
    send_photo(&mut browser, &phone, "Reach", &photo).await;
    save("11-phone-paint-me.png", &browser.screenshot(&phone).await);
    assert!(in_reach(&mut browser, &phone, "#send").await, "Paint me");
    browser.tap(&phone, "#send").await;
    browser
        .wait_for(&phone, TICKET_SHOWN, Duration::from_secs(90), "the ticket")
        .await;
    save(
        "12-phone-save-ticket.png",
        &browser.screenshot(&phone).await,
    );
    save_then_finish_in_reach(&mut browser, &phone, "convert").await;
    browser.assert_clean(&phone, "phone").await;
}
