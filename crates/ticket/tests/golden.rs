//! Golden images: fixed inputs rendered and compared with the committed PNGs in
//! `tests/golden/`, within a small per-pixel tolerance (font rasterisation may differ by
//! a shade between platforms). A failing case writes `<name>.actual.png` and
//! `<name>.diff.png` next to the golden, so the change can be seen.
//!
//! Regenerate after an intended change:
//!     ARTICKET_BLESS=1 cargo test -p articket-ticket --test golden

use std::path::PathBuf;

use articket_ticket::{TicketContent, TicketDesign, TicketPainting, TicketRenderer};
use image::{Rgb, RgbImage, RgbaImage};

/// A painting-like test card: a diagonal gradient with a bright disc, in one hue.
fn card(painter: &str, hue: [u8; 3]) -> TicketPainting {
    let img = RgbImage::from_fn(96, 128, |x, y| {
        let t = (x + y) as f32 / 224.0;
        let disc = ((x as i32 - 48).pow(2) + (y as i32 - 52).pow(2)) < 600;
        let k = if disc { 1.0 } else { 0.45 + 0.4 * t };
        Rgb(hue.map(|c| (c as f32 * k).min(255.0) as u8))
    });
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let (en, ko) = match painter {
        "picasso" => ("Picasso", "피카소"),
        "renoir" => ("Renoir", "르누아르"),
        "vangogh" => ("Van Gogh", "반 고흐"),
        _ => ("Lichtenstein", "리히텐슈타인"),
    };
    TicketPainting {
        painter: painter.parse().unwrap(),
        label_en: en.into(),
        label_ko: ko.into(),
        tagline: None,
        image: png.into(),
    }
}

fn paintings(n: usize) -> Vec<TicketPainting> {
    [
        ("picasso", [230, 90, 70]),
        ("renoir", [70, 150, 200]),
        ("vangogh", [240, 190, 60]),
        ("lichtenstein", [90, 190, 110]),
    ]
    .iter()
    .take(n)
    .map(|(p, c)| card(p, *c))
    .collect()
}

fn content(name: &str, n: usize) -> TicketContent {
    TicketContent {
        name: name.into(),
        date: "2026.11.25".into(),
        serial: Some(42),
        link: Some("http://booth.local/v/0123456789abcdef0123456789abcdef".into()),
        paintings: paintings(n),
        quiz: None,
    }
}

fn check(name: &str, renderer: &TicketRenderer, c: &TicketContent) {
    let png = renderer.phone_ticket_png(c).unwrap();
    let actual = image::load_from_memory(&png).unwrap().to_rgba8();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let golden_path = dir.join(format!("{name}.png"));
    if std::env::var_os("ARTICKET_BLESS").is_some() {
        actual.save(&golden_path).unwrap();
        return;
    }
    let golden = image::open(&golden_path)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; bless with ARTICKET_BLESS=1",
                golden_path.display()
            )
        })
        .to_rgba8();
    assert_eq!(actual.dimensions(), golden.dimensions(), "{name}: size");
    let mut diff = RgbaImage::new(actual.width(), actual.height());
    let mut off = 0usize;
    for (x, y, a) in actual.enumerate_pixels() {
        let g = golden.get_pixel(x, y);
        let d = (0..4).map(|i| a[i].abs_diff(g[i])).max().unwrap();
        if d > 24 {
            off += 1;
            diff.put_pixel(x, y, image::Rgba([255, 0, 255, 255]));
        } else {
            let l = (a[0] as u16 + a[1] as u16 + a[2] as u16) / 6;
            diff.put_pixel(x, y, image::Rgba([l as u8, l as u8, l as u8, 255]));
        }
    }
    // A few anti-aliased edge pixels may differ; a changed layout moves thousands.
    if off > 200 {
        actual.save(dir.join(format!("{name}.actual.png"))).unwrap();
        diff.save(dir.join(format!("{name}.diff.png"))).unwrap();
        panic!("{name}: {off} pixels differ; see tests/golden/{name}.diff.png (magenta)");
    }
}

#[test]
fn golden_phone_tickets_for_one_to_four_paintings() {
    let r = TicketRenderer::new();
    check("phone-1", &r, &content("김민지", 1));
    check("phone-2", &r, &content("Ada Lovelace", 2));
    check("phone-3", &r, &content("이서윤 Seoyun", 3));
    check("phone-4", &r, &content("김민지", 4));
}

#[test]
fn golden_phone_ticket_with_an_event_design() {
    let r = TicketRenderer::new().with_design(TicketDesign {
        event_name: "Campus Festival 2026 · 대학 축제".into(),
        footer: "@articket.booth".into(),
        background: "#1a2a3a".into(),
        ..TicketDesign::default()
    });
    check(
        "phone-event",
        &r,
        &content("가나다라마바사아자차가나다라마바사아자차가나다라", 4),
    );
}

#[test]
fn golden_single_painter_ticket_with_its_tagline() {
    let mut c = content("Ada Lovelace", 1);
    c.paintings[0].tagline = Some((
        "모든 각도의 나를 한 번에".into(),
        "Every side of you, all at once".into(),
    ));
    check("single-picasso", &TicketRenderer::new(), &c);
}
