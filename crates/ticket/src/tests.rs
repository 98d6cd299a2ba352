use super::*;
use image::{Rgb, RgbImage};

fn painting(color: [u8; 3]) -> TicketPainting {
    let img = RgbImage::from_pixel(40, 50, Rgb(color));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&img)
        .unwrap();
    TicketPainting {
        label_en: "Picasso".into(),
        label_ko: "피카소".into(),
        image: jpeg,
    }
}

fn render(name: &str, paintings: Vec<TicketPainting>) -> image::RgbaImage {
    let png = TicketRenderer::new()
        .phone_ticket_png(&TicketContent {
            name: name.into(),
            date: "2026-11-25".into(),
            paintings,
        })
        .unwrap();
    image::load_from_memory(&png).unwrap().to_rgba8()
}

/// Counts dark "ink" pixels in the name band at the foot of the ticket.
fn ink_in_name_band(img: &image::RgbaImage) -> usize {
    (1640..1730)
        .flat_map(|y| (100..980).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y)[0] < 120)
        .count()
}

#[test]
fn phone_ticket_has_the_documented_size_and_shows_the_paintings() {
    let img = render(
        "Ada",
        vec![painting([200, 30, 30]), painting([30, 30, 200])],
    );
    assert_eq!(img.dimensions(), PHONE_TICKET_SIZE);
    // The centre of the first cell is the first painting's red.
    let p = img.get_pixel(100 + 220, 320 + 280);
    assert!(p[0] > 150 && p[2] < 90, "{p:?}");
    let q = img.get_pixel(580 + 220, 320 + 280);
    assert!(q[2] > 150 && q[0] < 90, "{q:?}");
}

#[test]
fn hangul_names_are_drawn_with_the_bundled_font() {
    let hangul = ink_in_name_band(&render("김민지", vec![]));
    assert!(hangul > 500, "Hangul name drew only {hangul} dark pixels");
    assert_eq!(ink_in_name_band(&render("", vec![])), 0);
}

#[test]
fn markup_in_a_name_is_text_not_svg() {
    let img = render("<script>alert(1)</script>&\"'", vec![]);
    assert!(ink_in_name_band(&img) > 500);
    assert_eq!(
        xml_escape("<a href='x'>&</a>"),
        "&lt;a href=&apos;x&apos;&gt;&amp;&lt;/a&gt;"
    );
}
