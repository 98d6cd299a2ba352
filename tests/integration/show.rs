//! The kiosk as the booth's show, in real headless Chromium at the three screen shapes
//! booths use (a 1080p TV, a 4K monitor, a portrait totem): no scrolling at any stage,
//! paintings large, the attract loop showing only visitors who agreed, and the
//! operator's charts. Screenshots go to target/e2e/show-*.

use std::time::Duration;

use articket_a1111::fake::{FakeA1111, Fault};
use serde_json::{json, Value};

use crate::browser::{Browser, Tab};
use crate::e2e::{open_admin, open_phone, save, send_photo, visit_urls, wait_for_qr, FOUR_DONE};
use crate::util::*;

const SCREENS: [(&str, u32, u32); 3] = [
    ("1080p", 1920, 1080),
    ("4k", 3840, 2160),
    ("portrait", 1080, 1920),
];

fn portrait_photo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/samples/photos/grace_hopper.jpg")
}

/// The page fits the screen: nothing scrolls either way.
pub(crate) async fn assert_no_scroll(browser: &mut Browser, tab: &Tab, what: &str) {
    let v = browser
        .eval(
            tab,
            "(() => { const e = document.scrollingElement; return [e.scrollWidth, e.scrollHeight, innerWidth, innerHeight]; })()",
        )
        .await;
    let [sw, sh, w, h] = [0, 1, 2, 3].map(|i| v[i].as_f64().unwrap());
    assert!(
        sw <= w && sh <= h,
        "{what}: the page scrolls ({sw}×{sh} in {w}×{h})"
    );
}

/// The on-screen boxes (x, y, w, h) of the elements matching `selector`, clipped to the
/// viewport.
async fn boxes(browser: &mut Browser, tab: &Tab, selector: &str) -> Vec<[f64; 4]> {
    let v = browser
        .eval(
            tab,
            &format!(
                "[...document.querySelectorAll({})].filter((e) => e.offsetParent !== null).map((e) => {{ const r = e.getBoundingClientRect();
                  const x0 = Math.max(0, r.left), y0 = Math.max(0, r.top), x1 = Math.min(innerWidth, r.right), y1 = Math.min(innerHeight, r.bottom);
                  return [x0, y0, Math.max(0, x1 - x0), Math.max(0, y1 - y0)]; }})",
                serde_json::to_string(selector).unwrap()
            ),
        )
        .await;
    serde_json::from_value(v).unwrap()
}

/// Waits until no animation runs (the reveals are over), so a screenshot is final.
async fn settle(browser: &mut Browser, tab: &Tab) {
    browser
        .wait_for(
            tab,
            "document.getAnimations().filter((a) => a.playState === 'running' && a.effect && a.effect.getTiming().iterations !== Infinity).length === 0",
            Duration::from_secs(10),
            "the animations to end",
        )
        .await;
}

/// A screenshot as a JPEG for docs/screenshots (target/e2e keeps them).
fn save_jpeg(name: &str, png: &[u8]) {
    let img = image::load_from_memory(png).unwrap().into_rgb8();
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80);
    img.write_with_encoder(enc).unwrap();
    save(name, &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kiosk_fills_a_tv_a_4k_monitor_and_a_portrait_totem_at_every_stage() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    // A Stable Diffusion server that reports its steps, slowly enough to see them; one
    // painter much slower, so the painting stage lasts while the test looks at it (a
    // 4K screenshot on a loaded machine took longer than the whole visit once).
    let fake = FakeA1111::start(Duration::from_millis(900)).await;
    fake.fault_when_prompt_contains("Lichtenstein", Fault::Slow(Duration::from_secs(8)));
    let server = TestServer::start_with(|c| {
        crate::stable_diffusion::use_servers(c, &[&fake]);
        c.print.enabled = true;
    })
    .await;
    for (label, w, h) in SCREENS {
        let landscape = w > h;
        let kiosk = browser.tab(w, h, false).await;
        browser.goto(&kiosk, &server.url("/")).await;
        let join_url = wait_for_qr(&mut browser, &kiosk, None).await;
        browser
            .wait_for(
                &kiosk,
                "document.querySelectorAll('#attract .tile.shown').length === 4",
                Duration::from_secs(20),
                "the attract loop's samples",
            )
            .await;
        settle(&mut browser, &kiosk).await;
        assert_no_scroll(&mut browser, &kiosk, &format!("{label} waiting")).await;
        // Each painter once, every tile in full view and none behind the QR card.
        let painters = browser
            .eval(
                &kiosk,
                "[...document.querySelectorAll('#attract .tile')].map((t) => t.dataset.painter + ' ' + t.querySelector('img').getAttribute('src'))",
            )
            .await;
        assert_eq!(
            painters,
            json!([
                "picasso /api/samples/picasso",
                "renoir /api/samples/renoir",
                "vangogh /api/samples/vangogh",
                "lichtenstein /api/samples/lichtenstein"
            ]),
            "{label}"
        );
        let card = boxes(&mut browser, &kiosk, "#welcome .invite").await[0];
        let tiles = boxes(&mut browser, &kiosk, "#attract .tile").await;
        assert_eq!(tiles.len(), 4, "{label}: four tiles on screen");
        for t in &tiles {
            let overlap_x = (t[0] + t[2]).min(card[0] + card[2]) - t[0].max(card[0]);
            let overlap_y = (t[1] + t[3]).min(card[1] + card[3]) - t[1].max(card[1]);
            assert!(
                overlap_x <= 0.0 || overlap_y <= 0.0,
                "{label}: tile {t:?} under the QR card {card:?}"
            );
            // Large enough to see a face from across the booth.
            assert!(
                t[2] >= w.min(h) as f64 * 0.2 && t[3] >= w.min(h) as f64 * 0.2,
                "{label}: tile {t:?}"
            );
        }
        // The QR code is large: at least a third of the screen's short side.
        let qr = boxes(&mut browser, &kiosk, "#qr").await[0];
        assert!(qr[2] >= w.min(h) as f64 / 3.0, "{label}: QR {}px", qr[2]);
        save_jpeg(
            &format!("show-{label}-1-waiting.jpg"),
            &browser.screenshot(&kiosk).await,
        );

        let phone = open_phone(&mut browser, &join_url).await;
        send_photo(&mut browser, &phone, "Grace", &portrait_photo()).await;
        browser.tap(&phone, "#send").await;
        // While painting: the photo and the four frames, one of them showing its steps.
        browser
            .wait_for(
                &kiosk,
                "document.querySelector('#cards .card[data-progress]') !== null && document.getElementById('photo').complete",
                Duration::from_secs(30),
                "a painter's steps on the kiosk",
            )
            .await;
        assert_no_scroll(&mut browser, &kiosk, &format!("{label} painting")).await;
        let frames = boxes(&mut browser, &kiosk, "#photo-card .frame, #cards .frame").await;
        assert_eq!(frames.len(), 5, "{label}: the photo and four frames");
        for f in &frames {
            assert!(
                f[3] >= h as f64 * 0.15,
                "{label} painting: a frame {}px high",
                f[3]
            );
        }
        save_jpeg(
            &format!("show-{label}-2-painting.jpg"),
            &browser.screenshot(&kiosk).await,
        );
        // A painting arriving moves nothing: the frames keep their places and sizes
        // until the results stage lays out the four alone.
        browser
            .wait_for(
                &kiosk,
                "[...document.querySelectorAll('#cards .card[data-status=done] img')].some((i) => i.complete && i.naturalWidth > 0) && document.body.dataset.stage === 'painting'",
                Duration::from_secs(30),
                "the first painting while the others paint",
            )
            .await;
        let after = boxes(&mut browser, &kiosk, "#photo-card .frame, #cards .frame").await;
        assert_eq!(
            after, frames,
            "{label}: the frames moved when a painting arrived"
        );

        // The results: the four paintings as large as the screen allows.
        browser
            .wait_for(
                &kiosk,
                &format!("{FOUR_DONE} && document.body.dataset.stage === 'results'"),
                Duration::from_secs(60),
                "four paintings on the kiosk",
            )
            .await;
        settle(&mut browser, &kiosk).await;
        assert_no_scroll(&mut browser, &kiosk, &format!("{label} results")).await;
        let paintings = boxes(&mut browser, &kiosk, "#cards .card img").await;
        assert_eq!(paintings.len(), 4, "{label}");
        let area: f64 = paintings.iter().map(|b| b[2] * b[3]).sum();
        let share = area / (w as f64 * h as f64);
        assert!(
            share >= 0.40,
            "{label}: the paintings cover {:.0} %",
            share * 100.0
        );
        if landscape {
            for b in &paintings {
                assert!(
                    b[3] >= h as f64 * 0.20,
                    "{label}: a painting {}px high",
                    b[3]
                );
            }
        }
        // The call to action, and the print button the booth offers.
        let finale = browser
            .eval(&kiosk, "document.getElementById('finale').hidden ? '' : document.getElementById('finale-text').textContent")
            .await;
        assert!(
            finale
                .as_str()
                .unwrap()
                .contains("Save your ticket on your phone"),
            "{label}: {finale}"
        );
        assert_eq!(
            boxes(&mut browser, &kiosk, "#print").await.len(),
            1,
            "{label}"
        );
        let lowest = paintings.iter().map(|b| b[3]).fold(f64::MAX, f64::min);
        println!(
            "{label}: paintings cover {:.1} % of the screen, each at least {:.1} % of its height",
            share * 100.0,
            lowest / h as f64 * 100.0
        );
        save_jpeg(
            &format!("show-{label}-3-results.jpg"),
            &browser.screenshot(&kiosk).await,
        );
        browser.assert_clean(&kiosk, "kiosk").await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_who_reduces_motion_gets_no_animation() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let server = TestServer::start().await;
    let kiosk = browser.tab(1920, 1080, false).await;
    browser
        .call(
            Some(kiosk.session()),
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-reduced-motion", "value": "reduce" }] }),
        )
        .await;
    browser.goto(&kiosk, &server.url("/")).await;
    let join_url = wait_for_qr(&mut browser, &kiosk, None).await;
    browser
        .wait_for(
            &kiosk,
            "document.querySelectorAll('#attract .tile.shown').length >= 4",
            Duration::from_secs(20),
            "the attract loop",
        )
        .await;
    let running = "document.getAnimations().filter((a) => a.playState === 'running').length";
    assert_eq!(browser.eval(&kiosk, running).await, json!(0), "waiting");
    let phone = open_phone(&mut browser, &join_url).await;
    send_photo(&mut browser, &phone, "Ada", &portrait_photo()).await;
    browser.tap(&phone, "#send").await;
    browser
        .wait_for(&kiosk, FOUR_DONE, Duration::from_secs(30), "four paintings")
        .await;
    assert_eq!(browser.eval(&kiosk, running).await, json!(0), "results");
    // The built-in painters' results (the README's picture; no animation to wait for).
    browser
        .wait_for(
            &kiosk,
            "document.body.dataset.stage === 'results' && [...document.querySelectorAll('#cards img')].every((i) => i.complete)",
            Duration::from_secs(10),
            "the results stage",
        )
        .await;
    save_jpeg(
        "show-1080p-builtin-results.jpg",
        &browser.screenshot(&kiosk).await,
    );
    // Without reduced motion, the same screen animates (the check above can fail).
    browser
        .call(
            Some(kiosk.session()),
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-reduced-motion", "value": "no-preference" }] }),
        )
        .await;
    ticket_shown(&mut browser, &phone).await;
    browser.tap(&phone, "#finish").await;
    wait_for_qr(&mut browser, &kiosk, None).await;
    browser
        .wait_for(
            &kiosk,
            &format!("{running} > 0"),
            Duration::from_secs(10),
            "the attract loop's drift",
        )
        .await;
    server.stop().await;
}

/// The image URLs the kiosk's attract loop lists and shows right now.
async fn attract(browser: &mut Browser, kiosk: &Tab) -> (Vec<String>, Vec<String>, bool) {
    let v: Value = browser
        .eval(
            kiosk,
            "[kiosk.showcase.map((p) => p.image_url), [...document.querySelectorAll('#attract img')].map((i) => i.getAttribute('src')).filter(Boolean), kiosk.showcaseSamples]",
        )
        .await;
    (
        serde_json::from_value(v[0].clone()).unwrap(),
        serde_json::from_value(v[1].clone()).unwrap(),
        v[2].as_bool().unwrap(),
    )
}

/// Waits until the phone shows its ticket, loaded: the buttons below it stop moving, so
/// a tap lands where it is aimed.
async fn ticket_shown(browser: &mut Browser, phone: &Tab) {
    browser
        .wait_for(
            phone,
            "!document.getElementById('ticket-box').hidden && document.getElementById('ticket').complete && document.getElementById('ticket').naturalWidth > 0",
            Duration::from_secs(30),
            "the ticket",
        )
        .await;
}

/// Waits until `condition` holds on the kiosk, where it may name `URLS` (`urls`) and
/// `shown` (the attract loop's image URLs now).
async fn wait_attract(
    browser: &mut Browser,
    kiosk: &Tab,
    condition: &str,
    urls: &[String],
    what: &str,
) {
    let expr = format!(
        "(() => {{ const URLS = {}; const shown = [...document.querySelectorAll('#attract img')].map((i) => i.getAttribute('src')); return {condition}; }})()",
        serde_json::to_string(urls).unwrap()
    );
    browser
        .wait_for(kiosk, &expr, Duration::from_secs(20), what)
        .await;
}

/// One visit in the browser, from the kiosk's QR code to the visitor tapping "finish"
/// (after which the kiosk shows a new code); the phone's painting URLs.
async fn visit(
    browser: &mut Browser,
    kiosk: &Tab,
    name: &str,
    agree: bool,
    last_room: Option<&str>,
) -> (Tab, Vec<String>) {
    let join_url = wait_for_qr(browser, kiosk, last_room).await;
    let phone = open_phone(browser, &join_url).await;
    send_photo(browser, &phone, name, &portrait_photo()).await;
    // Off by default.
    assert_eq!(
        browser
            .eval(&phone, "document.getElementById('on-screen').checked")
            .await,
        json!(false)
    );
    if agree {
        browser.tap(&phone, "#on-screen").await;
    }
    browser.tap(&phone, "#send").await;
    browser
        .wait_for(&phone, FOUR_DONE, Duration::from_secs(30), "four paintings")
        .await;
    let urls = visit_urls(browser, &phone).await[1..].to_vec();
    ticket_shown(browser, &phone).await;
    browser.tap(&phone, "#finish").await;
    (phone, urls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_visitors_who_agreed_join_the_attract_loop_and_leave_it_when_they_delete() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let server = TestServer::start_with(|c| {
        c.kiosk.attract_refresh_secs = 1;
        c.kiosk.finished_hold_secs = 1;
    })
    .await;
    let kiosk = browser.tab(1920, 1080, false).await;
    browser.goto(&kiosk, &server.url("/")).await;
    let first = wait_for_qr(&mut browser, &kiosk, None).await;
    // Nobody agreed yet: the painters' samples.
    browser
        .wait_for(
            &kiosk,
            "kiosk.showcaseSamples === true && document.querySelectorAll('#attract .tile.shown').length === 4",
            Duration::from_secs(20),
            "the samples",
        )
        .await;
    let (listed, shown, _) = attract(&mut browser, &kiosk).await;
    assert_eq!(listed.len(), 4);
    assert!(
        shown.iter().all(|u| u.starts_with("/api/samples/")),
        "{shown:?}"
    );
    let room_of = |url: &str| {
        url.rsplit('/')
            .next()
            .unwrap()
            .split('#')
            .next()
            .unwrap()
            .to_owned()
    };

    // Ada agrees; Ben does not.
    let (ada_phone, ada) = visit(&mut browser, &kiosk, "Ada", true, None).await;
    let first_room = room_of(&first);
    let (_, ben) = visit(&mut browser, &kiosk, "Ben", false, Some(&first_room)).await;
    wait_attract(
        &mut browser,
        &kiosk,
        "kiosk.showcaseSamples === false && !document.getElementById('welcome').hidden && URLS.every((u) => shown.includes(u))",
        &ada,
        "Ada's paintings in the attract loop",
    )
    .await;
    // Watch the loop for a few refreshes: Ben never appears.
    for _ in 0..6 {
        let (listed, shown, samples) = attract(&mut browser, &kiosk).await;
        assert!(!samples);
        let mut sorted = listed.clone();
        sorted.sort();
        let mut expected = ada.clone();
        expected.sort();
        assert_eq!(sorted, expected, "only Ada's four paintings are listed");
        assert!(shown.iter().all(|u| ada.contains(u)), "{shown:?}");
        assert!(!shown.iter().any(|u| ben.contains(u)));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    save_jpeg(
        "show-attract-opted-in.jpg",
        &browser.screenshot(&kiosk).await,
    );

    // Ada deletes her photos: her paintings leave the loop (the samples come back,
    // since Ben did not agree).
    browser
        .eval(&ada_phone, "window.confirm = () => true")
        .await;
    browser.tap(&ada_phone, "#delete").await;
    wait_attract(
        &mut browser,
        &kiosk,
        "kiosk.showcaseSamples === true && !URLS.some((u) => shown.includes(u))",
        &ada,
        "Ada's paintings to leave the loop",
    )
    .await;
    let (_, shown, _) = attract(&mut browser, &kiosk).await;
    assert!(!shown.iter().any(|u| ada.contains(u) || ben.contains(u)));
    server.stop().await;
}

/// A whole visit over HTTP whose visitor ticked "show my painting on the booth screen".
async fn agreeing_visit(server: &TestServer, name: &str) -> Phone {
    let kiosk = Kiosk::open(server).await;
    let mut socket = kiosk.socket(server).await;
    let phone = Phone::join(server, &kiosk).await;
    let res = phone
        .upload_with(server, name, camera_photo(), "p.jpg", &[("on_screen", "1")])
        .await;
    assert_eq!(res.status(), 202);
    events_until(&mut socket, Duration::from_secs(60), |e| {
        is_type(e, "visit_done")
    })
    .await;
    phone
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_showcase_needs_the_kiosks_token_and_samples_are_jpegs() {
    let server = TestServer::start().await;
    let kiosk = Kiosk::open(&server).await;
    let http = reqwest::Client::new();
    let path = format!("/api/rooms/{}/showcase", kiosk.room_id);
    // As for the room itself: without the kiosk's token, there is no such room.
    let res = http.get(server.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = http
        .get(server.url(&path))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let v: Value = http
        .get(server.url(&path))
        .bearer_auth(&kiosk.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["samples"], json!(true));
    // Painted from the real photographs: Grace Hopper (512×600) for Picasso and
    // Lichtenstein, Eileen Collins and the cameraman (512×512) for the other two.
    let mut sizes = Vec::new();
    for p in v["paintings"].as_array().unwrap() {
        let (status, _, bytes) = get_bytes(&server, p["image_url"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap();
        sizes.push((img.width(), img.height()));
    }
    assert_eq!(sizes, [(512, 600), (512, 512), (512, 512), (512, 600)]);
    let res = http
        .get(server.url("/api/samples/monet"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // A visit that agreed through the form is listed; the view says so.
    let phone = agreeing_visit(&server, "Ada").await;
    assert_eq!(phone.visit(&server).await["on_screen"], json!(true));
    let other = Kiosk::open(&server).await;
    let v: Value = http
        .get(server.url(&format!("/api/rooms/{}/showcase", other.room_id)))
        .bearer_auth(&other.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["samples"], json!(false));
    assert_eq!(v["paintings"].as_array().unwrap().len(), 4);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_sees_todays_visits_and_times_as_charts() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    // Only the operator.
    let res = http
        .get(server.url("/api/admin/charts/visits.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let hour_now = || -> u32 {
        chrono::Local::now()
            .format("%H")
            .to_string()
            .parse()
            .unwrap()
    };
    let before = hour_now();
    paint_visit(&server, "Ada", Duration::from_secs(60)).await;
    paint_visit(&server, "Ben", Duration::from_secs(60)).await;
    let operator = operator(&server).await;
    let hour = hour_now();
    let res = operator
        .get(server.url("/api/admin/charts/visits.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    let svg = res.text().await.unwrap();
    // Two visits in this hour (or split across it and the last, at the turn of an hour).
    let bars: Vec<(u32, u64)> = svg
        .split(r#"class="bar" data-hour=""#)
        .skip(1)
        .map(|rest| {
            let (h, rest) = rest.split_once('"').unwrap();
            let v = rest.split('"').nth(1).unwrap();
            (h.parse().unwrap(), v.parse().unwrap())
        })
        .collect();
    assert_eq!(bars.iter().map(|b| b.1).sum::<u64>(), 2, "{svg}");
    assert!(
        bars.iter().all(|b| b.0 == hour || b.0 == before),
        "{bars:?}"
    );
    let svg = operator
        .get(server.url("/api/admin/charts/time.svg"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        svg.contains(&format!(r#"class="median" data-hour="{hour}""#))
            || svg.contains(&format!(r#"class="median" data-hour="{before}""#)),
        "{svg}"
    );
    assert!(
        svg.contains(&format!(r#"class="p95" data-hour="{hour}""#))
            || svg.contains(&format!(r#"class="p95" data-hour="{before}""#)),
        "{svg}"
    );
    let res = operator
        .get(server.url("/api/admin/charts/nope.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_sees_the_booth_screens_paintings_and_can_delete_a_visit() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let res = http
        .post(server.url("/api/admin/visits/1/delete"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let ada = agreeing_visit(&server, "Ada").await;
    paint_visit(&server, "Ben", Duration::from_secs(60)).await;
    let operator = operator(&server).await;
    let shown = get_json(&operator, &server, "/api/admin/showcase").await;
    let paintings = shown["paintings"].as_array().unwrap();
    assert_eq!(paintings.len(), 4, "only Ada's: {shown}");
    let number = paintings[0]["visit_number"].clone();
    assert!(paintings.iter().all(|p| p["visit_number"] == number));
    for bad in ["999", "abc", "-1"] {
        let res = operator
            .post(server.url(&format!("/api/admin/visits/{bad}/delete")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{bad}");
    }
    let res = operator
        .post(server.url(&format!("/api/admin/visits/{number}/delete")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(ada.get_visit(&server).await.status(), 404);
    let shown = get_json(&operator, &server, "/api/admin/showcase").await;
    assert_eq!(shown["paintings"], json!([]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_page_shows_the_charts_beside_the_numbers() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let server = TestServer::start().await;
    let ada = agreeing_visit(&server, "Ada").await;
    paint_visit(&server, "Ben", Duration::from_secs(60)).await;
    let admin = open_admin(&mut browser, &server).await;
    browser
        .wait_for(
            &admin,
            "[...document.querySelectorAll('.chart svg')].filter((s) => s.querySelector('.bar, .median')).length === 2",
            Duration::from_secs(10),
            "the two charts",
        )
        .await;
    assert!(browser
        .eval(&admin, "document.getElementById('today').textContent")
        .await
        .as_str()
        .unwrap()
        .contains("Visits"));
    // What the booth screen shows: Ada's visit (she agreed), not Ben's.
    browser
        .wait_for(
            &admin,
            "document.querySelectorAll('.showcase-visit').length === 1 && document.querySelectorAll('.showcase-visit img').length === 4",
            Duration::from_secs(10),
            "Ada's paintings under 'on the booth screen'",
        )
        .await;
    save(
        "show-operator-charts.png",
        &browser.screenshot(&admin).await,
    );
    // The operator takes her off: the visit is deleted.
    browser.eval(&admin, "window.confirm = () => true").await;
    browser.tap(&admin, ".showcase-visit button").await;
    browser
        .wait_for(
            &admin,
            "document.querySelectorAll('.showcase-visit').length === 0",
            Duration::from_secs(10),
            "the visit to leave the list",
        )
        .await;
    assert_eq!(ada.get_visit(&server).await.status(), 404);
    browser.assert_clean(&admin, "operator").await;
    server.stop().await;
}
