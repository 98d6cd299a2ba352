use super::*;
use image::{Rgb, RgbImage};

fn painting(painter: &str, color: [u8; 3]) -> TicketPainting {
    let img = RgbImage::from_pixel(60, 80, Rgb(color));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&img)
        .unwrap();
    TicketPainting {
        painter: painter.parse().unwrap(),
        label_en: "Picasso".into(),
        label_ko: "피카소".into(),
        tagline: None,
        image: jpeg.into(),
    }
}

const COLORS: [[u8; 3]; 4] = [[200, 30, 30], [30, 30, 200], [30, 160, 30], [220, 200, 20]];

fn content(name: &str, n: usize) -> TicketContent {
    TicketContent {
        name: name.into(),
        date: "2026.11.25".into(),
        serial: Some(42),
        link: Some("http://192.168.0.12:8080/v/0123456789abcdef0123456789abcdef".into()),
        paintings: (0..n).map(|i| painting("picasso", COLORS[i])).collect(),
        quiz: None,
    }
}

fn render(c: &TicketContent) -> image::RgbaImage {
    let png = TicketRenderer::new().phone_ticket_png(c).unwrap();
    image::load_from_memory(&png).unwrap().to_rgba8()
}

/// Counts dark "ink" pixels in the name band at the foot of the ticket.
fn ink_in_name_band(img: &image::RgbaImage) -> usize {
    (1620..1720)
        .flat_map(|y| (90..770).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y)[0] < 120)
        .count()
}

fn close(p: &image::Rgba<u8>, c: [u8; 3]) -> bool {
    (0..3).all(|i| p[i].abs_diff(c[i]) < 40)
}

#[test]
fn every_count_of_paintings_fills_its_cells_with_no_holes() {
    for n in 1..=4 {
        let img = render(&content("Ada", n));
        assert_eq!(img.dimensions(), PHONE_TICKET_SIZE);
        for (i, cell) in layout::cells(n, (80.0, 320.0, 920.0, 1240.0))
            .iter()
            .enumerate()
        {
            let p = img.get_pixel(
                (cell.x + cell.w / 2.0) as u32,
                (cell.y + cell.h / 2.0) as u32,
            );
            assert!(close(p, COLORS[i]), "{n} paintings, cell {i}: {p:?}");
        }
        // No empty placeholder cell anywhere: the paper colour never shows a grey box.
        let placeholder = [0xeb, 0xe6, 0xda];
        let greys = img
            .pixels()
            .filter(|p| p[0] == placeholder[0] && p[1] == placeholder[1] && p[2] == placeholder[2])
            .count();
        assert_eq!(greys, 0, "{n} paintings left a placeholder");
    }
}

#[test]
fn the_qr_code_leads_to_the_visitors_page() {
    let c = content("Ada", 4);
    let img = image::DynamicImage::ImageRgba8(render(&c)).to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the ticket");
    let (_, text) = grids[0].decode().unwrap();
    assert_eq!(Some(text), c.link);
}

#[test]
fn hangul_names_are_drawn_with_the_bundled_font() {
    let hangul = ink_in_name_band(&render(&content("김민지", 1)));
    assert!(hangul > 500, "Hangul name drew only {hangul} dark pixels");
    assert_eq!(ink_in_name_band(&render(&content("", 1))), 0);
}

#[test]
fn a_forty_character_name_stays_inside_the_ticket() {
    let long = "가나다라마바사아자차".repeat(4);
    let img = render(&content(&long, 2));
    assert!(ink_in_name_band(&img) > 500);
    // Nothing is drawn over the QR code's column or past the card's edge.
    let spill = (1620..1720)
        .flat_map(|y| (40..60).chain(775..785).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y)[0] < 120)
        .count();
    assert_eq!(spill, 0);
}

#[test]
fn markup_in_a_name_is_text_not_svg() {
    let img = render(&content("<script>alert(1)</script>&\"'", 1));
    assert!(ink_in_name_band(&img) > 500);
    assert_eq!(
        xml_escape("<a href='x'>&</a>"),
        "&lt;a href=&apos;x&apos;&gt;&amp;&lt;/a&gt;"
    );
}

#[test]
fn the_design_sets_event_colours_and_painter_frames() {
    let design = TicketDesign {
        event_name: "Campus Festival 2026".into(),
        footer: "@articket.booth".into(),
        background: "#102030".into(),
        ..TicketDesign::default()
    };
    let renderer = TicketRenderer::new().with_design(design);
    let svg = renderer.phone_ticket_svg(&content("Ada", 1));
    assert!(svg.contains("Campus Festival 2026") && svg.contains("@articket.booth"));
    let png = renderer.phone_ticket_png(&content("Ada", 1)).unwrap();
    let img = image::load_from_memory(&png).unwrap().to_rgba8();
    assert!(close(img.get_pixel(10, 10), [0x10, 0x20, 0x30]));
    // Picasso's frame is the old service's red, just outside the painting.
    let cell = layout::cells(1, (80.0, 320.0, 920.0, 1240.0))[0];
    let frame = img.get_pixel((cell.x - 4.0) as u32, (cell.y + cell.h / 2.0) as u32);
    assert!(close(frame, [0xCA, 0, 0]), "{frame:?}");
    assert!(svg.contains("No. 0042"));
}

#[test]
fn printable_tickets_have_their_papers_size_at_300_dpi() {
    let r = TicketRenderer::new();
    let c = content("Ada", 4);
    let a6 = image::load_from_memory(&r.print_png(&c, Paper::A6).unwrap()).unwrap();
    assert_eq!(
        (a6.width(), a6.height()),
        (1240, 1748),
        "105 x 148 mm at 300 dpi"
    );
    let receipt = image::load_from_memory(&r.print_png(&c, Paper::Receipt80).unwrap()).unwrap();
    assert_eq!(receipt.width(), 945, "80 mm at 300 dpi");
    // The first painting is on the page, scaled down with the ticket.
    let pdf = r.print_pdf(&c, Paper::A6).unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4") && pdf.ends_with(b"%%EOF\n"));
    let find = |needle: &[u8]| {
        pdf.windows(needle.len())
            .rposition(|w| w == needle)
            .unwrap()
    };
    assert!(find(b"/MediaBox [0 0 297.60 419.52]") > 0, "A6 in points");
    // The cross-reference table points at every object's first byte.
    let tail = String::from_utf8(pdf[find(b"startxref\n")..].to_vec()).unwrap();
    let xref_at: usize = tail.lines().nth(1).unwrap().parse().unwrap();
    assert!(pdf[xref_at..].starts_with(b"xref"));
    let table = String::from_utf8_lossy(&pdf[xref_at..]).into_owned();
    for (i, line) in table.lines().skip(3).take(5).enumerate() {
        let offset: usize = line[..10].parse().unwrap();
        assert!(
            pdf[offset..].starts_with(format!("{} 0 obj", i + 1).as_bytes()),
            "object {}",
            i + 1
        );
    }
}

#[test]
fn emoji_and_right_to_left_names_render_from_the_fallback_fonts() {
    // A colourful emoji: saturated pixels appear in the name band, which plain ink
    // (dark blue-grey) never makes.
    let saturated = |img: &image::RgbaImage| {
        (1620..1720)
            .flat_map(|y| (90..770).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let p = img.get_pixel(x, y);
                let (mx, mn) = (p[0].max(p[1]).max(p[2]), p[0].min(p[1]).min(p[2]));
                mx - mn > 120
            })
            .count()
    };
    let plain = render(&content("Ada", 1));
    let emoji = render(&content("🎨 Ada 😀", 1));
    assert_eq!(saturated(&plain), 0);
    assert!(
        saturated(&emoji) > 300,
        "emoji drew {} colour pixels",
        saturated(&emoji)
    );
    // Arabic and Hebrew come from the world font, not as empty boxes.
    for name in ["مريم", "שָׁלוֹם"] {
        let ink = ink_in_name_band(&render(&content(name, 1)));
        assert!(ink > 300, "{name} drew {ink} pixels");
    }
}

#[test]
fn the_title_is_drawn_in_the_display_serif() {
    let img = render(&content("Ada", 1));
    let ink = (110..200)
        .flat_map(|y| (200..880).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y)[0] < 120)
        .count();
    assert!(ink > 3000, "the title drew {ink} pixels");
    let svg = TicketRenderer::new().phone_ticket_svg(&content("Ada", 1));
    assert!(svg.contains("font-family=\"EB Garamond, serif\""));
}

#[test]
fn the_promo_image_is_a_square_with_the_handle() {
    let r = TicketRenderer::new();
    let png = r
        .promo_png(
            "인스타그램에 태그해 주세요\nTag us on Instagram",
            "@articket.booth",
        )
        .unwrap();
    let img = image::load_from_memory(&png).unwrap().to_rgba8();
    assert_eq!(img.dimensions(), (1080, 1080));
    // The handle is drawn in the accent colour below the text.
    let accent = (780..840)
        .flat_map(|y| (150..930).map(move |x| (x, y)))
        .filter(|&(x, y)| close(img.get_pixel(x, y), [0x5e, 0x6c, 0xba]))
        .count();
    assert!(accent > 500, "{accent}");
}

#[test]
fn a_logo_is_drawn_in_the_corner_with_its_transparency() {
    // A red disc on a transparent square.
    let logo = image::RgbaImage::from_fn(64, 64, |x, y| {
        let inside = (x as i32 - 32).pow(2) + (y as i32 - 32).pow(2) < 28 * 28;
        image::Rgba(if inside {
            [220, 20, 20, 255]
        } else {
            [0, 0, 0, 0]
        })
    });
    let design = TicketDesign {
        logo: Some(std::sync::Arc::new(logo)),
        ..TicketDesign::default()
    };
    let png = TicketRenderer::new()
        .with_design(design)
        .phone_ticket_png(&content("Ada", 1))
        .unwrap();
    let img = image::load_from_memory(&png).unwrap().to_rgba8();
    let centre = img.get_pixel(70 + 75, 70 + 75);
    assert!(
        close(centre, [220, 20, 20]),
        "the disc's centre: {centre:?}"
    );
    assert!(
        close(img.get_pixel(72, 72), [0xfb, 0xf8, 0xf1]),
        "the transparent corner shows the card"
    );
}

#[test]
fn an_operators_template_is_filled_and_rendered() {
    let template = r##"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="600" height="900">
<rect width="600" height="900" fill="#ffffff"/>
<image x="50" y="50" width="240" height="320" preserveAspectRatio="xMidYMid slice" xlink:href="{{painting1}}"/>
<image x="310" y="50" width="240" height="320" xlink:href="{{painting4}}"/>
<text x="300" y="500" text-anchor="middle" font-size="40" fill="{{color1}}">{{name}} {{serial}}</text>
<g transform="translate(450,700)">{{qr}}</g>
</svg>"##;
    let design = TicketDesign {
        template: Some(std::sync::Arc::new(template.to_owned())),
        ..TicketDesign::default()
    };
    let r = TicketRenderer::new().with_design(design.clone());
    let c = content("<Ada>", 2);
    let svg = template::fill_template(template, &c, &design);
    assert!(svg.contains("&lt;Ada&gt; No. 0042") && svg.contains("#CA0000"));
    let img = image::load_from_memory(&r.phone_ticket_png(&c).unwrap())
        .unwrap()
        .to_rgba8();
    assert_eq!(img.dimensions(), (600, 900));
    assert!(
        close(img.get_pixel(170, 210), COLORS[0]),
        "the first painting"
    );
    // The fourth painting is missing: its box stays white, no broken image.
    assert!(close(img.get_pixel(430, 210), [255, 255, 255]));
}

fn slot(painter: &str, ko: &str, en: &str) -> QuizSlot {
    QuizSlot {
        painter: painter.parse().unwrap(),
        label_ko: ko.into(),
        label_en: en.into(),
        line_ko: "잘 어울리는 화가와 함께라면 당신의 그림은 더 빛나요.".into(),
        line_en: "With the right painter beside you, your colours shine brighter.".into(),
    }
}

#[test]
fn a_quiz_ticket_shows_the_visitors_painter_large_and_the_matches_small() {
    let mut c = content("김민지", 0);
    let ids = ["picasso", "renoir", "vangogh", "lichtenstein"];
    // Lichtenstein (yellow) is the visitor's painter, Van Gogh (green) the good match,
    // Renoir (blue) the bad one; Picasso's painting is not on the ticket.
    c.paintings = ids
        .iter()
        .zip(COLORS)
        .map(|(p, color)| painting(p, color))
        .collect();
    let quiz = QuizPart {
        code: "ENFP".into(),
        painter: slot("lichtenstein", "리히텐슈타인", "Lichtenstein"),
        good: slot("vangogh", "반 고흐", "Van Gogh"),
        bad: slot("renoir", "르누아르", "Renoir"),
    };
    c.quiz = Some(quiz.clone());
    let (svg, placed) = layout::quiz_ticket(&c, &quiz, &TicketDesign::default());
    assert!(svg.contains("ENFP · 나의 화가는 리히텐슈타인"), "{svg}");
    assert_eq!(
        placed.iter().map(|(i, _)| ids[*i]).collect::<Vec<_>>(),
        ["lichtenstein", "vangogh", "renoir"]
    );
    let (big, small) = (placed[0].1, placed[1].1);
    assert!(
        big.w > 2.0 * small.w,
        "the visitor's painter is the large one"
    );

    let img = render(&c);
    assert_eq!(img.dimensions(), PHONE_TICKET_SIZE);
    let centre = |cell: layout::Cell| {
        *img.get_pixel(
            (cell.x + cell.w / 2.0) as u32,
            (cell.y + cell.h / 2.0) as u32,
        )
    };
    assert!(
        close(&centre(placed[0].1), COLORS[3]),
        "Lichtenstein, large"
    );
    assert!(
        close(&centre(placed[1].1), COLORS[2]),
        "Van Gogh, good match"
    );
    assert!(close(&centre(placed[2].1), COLORS[1]), "Renoir, bad match");
    assert!(ink_in_name_band(&img) > 200, "the name is drawn");
    // Picasso's red appears nowhere in the picture areas.
    let red = placed
        .iter()
        .filter(|(_, cell)| close(&centre(*cell), COLORS[0]))
        .count();
    assert_eq!(red, 0);

    // A match whose painting failed leaves an empty frame, not a hole in the layout.
    c.paintings.retain(|p| p.painter != Painter::Renoir);
    let (_, placed) = layout::quiz_ticket(&c, &quiz, &TicketDesign::default());
    assert_eq!(placed.len(), 2);
    let img = render(&c);
    let bad_cell = layout::Cell {
        x: 790.0 - 90.0,
        ..placed[1].1
    };
    let p = img.get_pixel(
        (bad_cell.x + bad_cell.w / 2.0) as u32,
        (bad_cell.y + bad_cell.h / 2.0) as u32,
    );
    assert!(
        close(p, [0xfb, 0xf8, 0xf1]),
        "paper where the painting would be: {p:?}"
    );
}

#[test]
fn an_operators_quiz_template_gets_the_quiz_placeholders() {
    let template = r##"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="1080" height="1920" viewBox="0 0 1080 1920">
<rect width="1080" height="1920" fill="{{bad_color}}"/>
<image x="100" y="100" width="600" height="800" preserveAspectRatio="none" xlink:href="{{quiz_painting}}"/>
<image x="100" y="1000" width="300" height="400" preserveAspectRatio="none" xlink:href="{{good_painting}}"/>
<text x="100" y="1600" font-size="60">{{type}} {{quiz_painter}} {{quiz_line_en}} {{good_line_ko}} {{name}}</text>
</svg>"##;
    let mut c = content("<Ada>", 0);
    c.paintings = vec![
        painting("lichtenstein", COLORS[3]),
        painting("vangogh", COLORS[2]),
    ];
    let quiz = QuizPart {
        code: "ENFP".into(),
        painter: slot("lichtenstein", "리히텐슈타인", "Lichtenstein"),
        good: slot("vangogh", "반 고흐", "Van Gogh"),
        bad: slot("renoir", "르누아르", "Renoir"),
    };
    let svg = template::fill_quiz_template(template, &c, &quiz, &TicketDesign::default());
    assert!(!svg.contains("{{"), "every placeholder is filled: {svg}");
    assert!(svg.contains("ENFP 리히텐슈타인 · Lichtenstein With the right painter"));
    assert!(svg.contains("&lt;Ada&gt;"), "text is escaped");
    assert!(
        svg.contains(r##"fill="#036B82""##),
        "Renoir's colour for the bad match"
    );

    c.quiz = Some(quiz);
    let design = TicketDesign {
        quiz_template: Some(Arc::new(template.to_owned())),
        ..TicketDesign::default()
    };
    let png = TicketRenderer::new()
        .with_design(design)
        .phone_ticket_png(&c)
        .unwrap();
    let img = image::load_from_memory(&png).unwrap().to_rgba8();
    assert!(
        close(img.get_pixel(400, 500), COLORS[3]),
        "the visitor's painter"
    );
    assert!(close(img.get_pixel(250, 1200), COLORS[2]), "the good match");
    assert!(
        close(img.get_pixel(900, 50), [0x03, 0x6B, 0x82]),
        "the background"
    );
}

/// A painting handed over as pixels (straight from the painter) makes the same ticket
/// as the same pixels stored losslessly and decoded again.
#[test]
fn pixels_from_the_painter_make_the_same_ticket_as_stored_bytes() {
    let img = RgbImage::from_fn(90, 120, |x, y| Rgb([(x * 2) as u8, (y * 2) as u8, 90]));
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let with = |image: Picture| {
        let mut c = content("Pixels", 1);
        c.paintings[0].image = image;
        render(&c)
    };
    let from_pixels = with(img.clone().into());
    let from_png = with(png.into());
    assert!(from_pixels == from_png, "pixels and their PNG render alike");
    assert!(
        from_pixels != with(RgbImage::from_pixel(90, 120, Rgb([0, 0, 0])).into()),
        "the painting is on the ticket"
    );
    let mut c = content("Svg", 1);
    c.paintings[0].image = img.into();
    let svg = layout::phone_ticket_svg(&c, &TicketDesign::default());
    assert!(
        svg.contains("data:image/jpeg;base64,/9j/"),
        "pixels inlined as JPEG"
    );
}
