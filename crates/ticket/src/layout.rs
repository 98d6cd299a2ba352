//! Ticket layouts, as SVG. Sizes are in pixels of the 1080×1920 phone ticket.
//!
//! The paintings' area adapts to how many painters succeeded, so a failed painter
//! never leaves a hole: one painting large, two side by side, three as two over one,
//! four as a 2×2 grid.

use std::fmt::Write as _;

use base64::Engine as _;

use articket_style::Painter;

use crate::{
    xml_escape, Picture, TicketContent, TicketDesign, FONT_FAMILY, PHONE_TICKET_SIZE, SERIF_FAMILY,
};

/// A painting's place: its top-left corner and size (3:4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// Cells for `n` paintings inside the area (x, y, w, h), centred, 3:4 each.
pub fn cells(n: usize, area: (f64, f64, f64, f64)) -> Vec<Cell> {
    let (ax, ay, aw, ah) = area;
    let gap = 40.0;
    let label = 70.0; // room under each painting for its painter's name
    let (cols, rows) = match n {
        0 => return Vec::new(),
        1 => (1, 1),
        2 => (2, 1),
        _ => (2, 2),
    };
    // The largest 3:4 cell that fits the grid.
    let w_by_width = (aw - gap * (cols as f64 - 1.0)) / cols as f64;
    let h_by_height = (ah - (gap + label) * rows as f64 + gap) / rows as f64;
    let w = w_by_width.min(h_by_height * 0.75);
    let h = w / 0.75;
    let grid_h = rows as f64 * (h + label) + (rows as f64 - 1.0) * gap;
    let top = ay + (ah - grid_h) / 2.0;
    (0..n)
        .map(|i| {
            let (r, c) = (i / cols, i % cols);
            // A lone painting on the last row sits in the middle.
            let in_row = if r == rows - 1 { n - r * cols } else { cols };
            let row_w = in_row as f64 * w + (in_row as f64 - 1.0) * gap;
            let left = ax + (aw - row_w) / 2.0;
            Cell {
                x: left + c as f64 * (w + gap),
                y: top + r as f64 * (h + label + gap),
                w,
                h,
            }
        })
        .collect()
}

/// A rough width of `text` at 1 px font size: Hangul and CJK are square, Latin about
/// half as wide. Enough to shrink a long name so it fits.
fn em_width(text: &str) -> f64 {
    text.chars()
        .map(|c| match c as u32 {
            0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7A3 | 0x4E00..=0x9FFF => 1.0,
            0x1F000..=0x1FAFF => 1.1,
            _ if c.is_uppercase() => 0.68,
            _ => 0.56,
        })
        .sum()
}

/// The font size at which `text` fits `width`, at most `max`.
pub fn fit_font(text: &str, width: f64, max: f64) -> f64 {
    let em = em_width(text).max(1.0);
    (width / em).min(max).max(18.0)
}

pub(crate) fn qr_svg(link: &str, x: f64, y: f64, size: f64, ink: &str) -> String {
    let Ok(code) = qrcode::QrCode::with_error_correction_level(link, qrcode::EcLevel::M) else {
        return String::new();
    };
    let n = code.width();
    let quiet = 2;
    let module = size / (n + 2 * quiet) as f64;
    let mut path = String::new();
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (cx, cy) = ((i % n + quiet) as f64, (i / n + quiet) as f64);
            let _ = write!(
                path,
                "M{:.2} {:.2}h{m:.2}v{m:.2}h-{m:.2}z",
                x + cx * module,
                y + cy * module,
                m = module
            );
        }
    }
    format!(
        r##"<rect x="{x}" y="{y}" width="{size}" height="{size}" rx="10" fill="#ffffff"/><path d="{path}" fill="{ink}"/>"##
    )
}

/// A transparent pixel, for an image placeholder whose painting is missing.
pub(crate) const BLANK_PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

/// A painting as a data URL. Pixels are encoded as JPEG here: only the SVG tickets
/// inline their paintings (the PNG ticket pastes pixels). An image that cannot be
/// encoded (none the painters make) leaves its frame blank.
pub(crate) fn data_url(picture: &Picture) -> String {
    let encoded;
    let bytes = match picture {
        Picture::Encoded(bytes) => bytes.as_slice(),
        Picture::Pixels(pixels) => {
            let mut jpeg = Vec::new();
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 92);
            if pixels.write_with_encoder(encoder).is_err() {
                return BLANK_PNG.to_owned();
            }
            encoded = jpeg;
            encoded.as_slice()
        }
    };
    let mime = if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else {
        "image/jpeg"
    };
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!("data:{mime};base64,{data}")
}

/// The portrait phone ticket (1080×1920), paintings inlined as data URLs.
pub fn phone_ticket_svg(content: &TicketContent, design: &TicketDesign) -> String {
    phone_ticket(content, design, true).0
}

/// The phone ticket's SVG and where each painting goes. With `inline_images` false the
/// paintings are left out, for the renderer to composite them itself (resvg's bicubic
/// image scaling is most of a ticket's render time).
pub fn phone_ticket(
    content: &TicketContent,
    design: &TicketDesign,
    inline_images: bool,
) -> (String, Vec<Cell>) {
    let ink = &design.ink;
    let mut s = card_top(design);
    // A single painting with a tagline leaves room for the tagline's two lines.
    let single_tagline = content.paintings.len() == 1 && content.paintings[0].tagline.is_some();
    let area_h = if single_tagline { 1140.0 } else { 1240.0 };
    let placed = cells(content.paintings.len(), (80.0, 320.0, 920.0, area_h));
    for (p, cell) in content.paintings.iter().zip(placed.iter().copied()) {
        let color = design.color_of(p.painter);
        let image = if inline_images {
            let url = data_url(&p.image);
            format!(
                r##"<image x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" preserveAspectRatio="xMidYMid slice" xlink:href="{url}"/>"##,
                cell.x, cell.y, cell.w, cell.h
            )
        } else {
            String::new()
        };
        let label = format!("{} · {}", p.label_ko, p.label_en);
        let size = fit_font(&label, cell.w, if cell.w > 500.0 { 48.0 } else { 38.0 });
        let _ = write!(
            s,
            r##"<rect x="{bx:.1}" y="{by:.1}" width="{bw:.1}" height="{bh:.1}" rx="6" fill="{color}"/>
{image_tag}
<text x="{cx:.1}" y="{ty:.1}" text-anchor="middle" font-size="{size:.1}" font-weight="bold" fill="{color}">{label}</text>
"##,
            bx = cell.x - 8.0,
            by = cell.y - 8.0,
            bw = cell.w + 16.0,
            bh = cell.h + 16.0,
            image_tag = image,
            cx = cell.x + cell.w / 2.0,
            ty = cell.y + cell.h + 56.0,
            label = xml_escape(&label),
        );
        if let (Some((ko, en)), 1) = (&p.tagline, content.paintings.len()) {
            let _ = write!(
                s,
                r##"<text x="540" y="{y1:.1}" text-anchor="middle" font-size="{k:.1}" fill="{ink}">{ko}</text>
<text x="540" y="{y2:.1}" text-anchor="middle" font-size="{e:.1}" fill="{ink}" fill-opacity="0.7">{en}</text>
"##,
                y1 = cell.y + cell.h + 110.0,
                y2 = cell.y + cell.h + 152.0,
                k = fit_font(ko, 880.0, 36.0),
                e = fit_font(en, 880.0, 30.0),
                ko = xml_escape(ko),
                en = xml_escape(en),
            );
        }
    }
    card_foot(&mut s, content, design);
    s.push_str("</svg>");
    (s, placed)
}

/// The card, the title and the event name: the top of every phone ticket.
fn card_top(design: &TicketDesign) -> String {
    let (w, h) = PHONE_TICKET_SIZE;
    let (bg, paper, ink) = (&design.background, &design.paper, &design.ink);
    let mut s = String::with_capacity(64 * 1024);
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT_FAMILY}">
<rect width="{w}" height="{h}" fill="{bg}"/>
<rect x="40" y="40" width="{iw}" height="{ih}" rx="36" fill="{paper}"/>
<text x="540" y="182" text-anchor="middle" font-family="{SERIF_FAMILY}, serif" font-size="104" letter-spacing="16" fill="{ink}">ARTICKET</text>
<text x="540" y="240" text-anchor="middle" font-size="34" fill="{ink}" fill-opacity="0.7">화가의 눈으로 본 나 · Me, as the painters saw me</text>
"##,
        iw = w - 80,
        ih = h - 80,
    );
    if !design.event_name.is_empty() {
        let size = fit_font(&design.event_name, 860.0, 36.0);
        let _ = writeln!(
            s,
            r##"<text x="540" y="292" text-anchor="middle" font-size="{size:.1}" font-weight="bold" fill="{bg}">{}</text>"##,
            xml_escape(&design.event_name)
        );
    }
    s
}

/// The foot of every phone ticket: name, date and number, the QR code, the footer.
fn card_foot(s: &mut String, content: &TicketContent, design: &TicketDesign) {
    let ink = &design.ink;
    // The foot: name and date on the left, the QR code to the visitor's page on the right.
    let has_qr = content.link.is_some();
    let text_center = if has_qr { 430.0 } else { 540.0 };
    let name_width = if has_qr { 640.0 } else { 900.0 };
    let name_size = fit_font(&content.name, name_width, 72.0);
    let mut line = content.date.clone();
    if let Some(n) = content.serial {
        line = format!("{line}   No. {n:04}");
    }
    let _ = write!(
        *s,
        r##"<text x="{text_center}" y="1700" text-anchor="middle" font-size="{name_size:.1}" font-weight="bold" fill="{ink}">{name}</text>
<text x="{text_center}" y="1770" text-anchor="middle" font-size="36" fill="{ink}" fill-opacity="0.7">{line}</text>
"##,
        name = xml_escape(&content.name),
        line = xml_escape(&line),
    );
    if let Some(link) = &content.link {
        s.push_str(&qr_svg(link, 790.0, 1600.0, 200.0, ink));
        s.push_str(r##"<text x="890" y="1830" text-anchor="middle" font-size="22" fill="#2b2f5c" fill-opacity="0.7">내 결과 · My results</text>"##);
    }
    if !design.footer.is_empty() {
        let size = fit_font(&design.footer, 900.0, 30.0);
        let _ = write!(
            *s,
            r##"<text x="540" y="1860" text-anchor="middle" font-size="{size:.1}" fill="{ink}" fill-opacity="0.6">{}</text>"##,
            xml_escape(&design.footer)
        );
    }
}

/// `text` as one line, or two split at the space nearest its middle when one line
/// would need a font smaller than `min` to fit `width`. With the font size to use.
fn wrap(text: &str, width: f64, max: f64, min: f64) -> (Vec<String>, f64) {
    let one = fit_font(text, width, max);
    if one >= min || !text.contains(' ') {
        return (vec![text.to_owned()], one);
    }
    let middle = text.len() / 2;
    let split = text
        .match_indices(' ')
        .map(|(i, _)| i)
        .min_by_key(|i| i.abs_diff(middle))
        .unwrap_or(middle);
    let (a, b) = (
        text[..split].trim().to_owned(),
        text[split..].trim().to_owned(),
    );
    let size = fit_font(&a, width, max).min(fit_font(&b, width, max));
    (vec![a, b], size)
}

/// The quiz ticket (1080×1920): the visitor's type and painter with that painter's
/// painting large, then their good and bad matches' paintings small, each with its
/// line. Returns the SVG and, for each painting drawn, its index in
/// `content.paintings` and its cell. A painter whose painting failed gets an empty
/// frame.
/// Where the quiz ticket's texts must end: above the foot (name, date, QR code at 1600).
pub const QUIZ_TEXT_END: f64 = 1585.0;

pub fn quiz_ticket(
    content: &TicketContent,
    quiz: &crate::QuizPart,
    design: &TicketDesign,
) -> (String, Vec<(usize, Cell)>) {
    let ink = &design.ink;
    let mut s = card_top(design);
    let mut placed = Vec::new();
    let main = &quiz.painter;
    let color = design.color_of(main.painter);
    let title_ko = format!("{} · 나의 화가는 {}", quiz.code, main.label_ko);
    let title_en = format!("{} · My painter is {}", quiz.code, main.label_en);
    let _ = write!(
        s,
        r##"<text x="540" y="350" text-anchor="middle" font-size="{k:.1}" font-weight="bold" fill="{color}">{ko}</text>
<text x="540" y="394" text-anchor="middle" font-size="{e:.1}" fill="{ink}" fill-opacity="0.7">{en}</text>
"##,
        k = fit_font(&title_ko, 900.0, 48.0),
        e = fit_font(&title_en, 900.0, 32.0),
        ko = xml_escape(&title_ko),
        en = xml_escape(&title_en),
    );
    let big = Cell {
        x: 330.0,
        y: 430.0,
        w: 420.0,
        h: 560.0,
    };
    frame(&mut s, big, color, design);
    if let Some(i) = index_of(content, main.painter) {
        placed.push((i, big));
    }
    let mut y = 1044.0;
    for (text, max, opacity) in [(&main.line_ko, 34.0, 1.0), (&main.line_en, 28.0, 0.7)] {
        let (lines, size) = wrap(text, 900.0, max, 26.0);
        for line in lines {
            let _ = writeln!(
                s,
                r##"<text x="540" y="{y:.1}" text-anchor="middle" font-size="{size:.1}" fill="{ink}" fill-opacity="{opacity}">{}</text>"##,
                xml_escape(&line)
            );
            y += size * 1.25;
        }
    }
    let top = (y + 10.0).max(1130.0);
    // The matches' texts, wrapped first: the frames above them shrink so the texts
    // end above the foot, whose QR code sits under the right-hand match.
    let slots = [
        (&quiz.good, 290.0, "잘 맞는 화가", "Good match"),
        (&quiz.bad, 790.0, "안 맞는 화가", "Bad match"),
    ]
    .map(|(slot, centre, role_ko, role_en)| {
        let label = format!("{role_ko} · {} ({role_en})", slot.label_ko);
        let lines: Vec<(Vec<String>, f64, f64)> =
            [(&slot.line_ko, 24.0, 1.0), (&slot.line_en, 21.0, 0.7)]
                .into_iter()
                .map(|(text, max, opacity)| {
                    let (lines, size) = wrap(text, 460.0, max, 19.0);
                    (lines, size, opacity)
                })
                .collect();
        (slot, centre, label, lines)
    });
    let text_height = slots
        .iter()
        .map(|(_, _, _, lines)| {
            44.0 + 38.0
                + lines
                    .iter()
                    .map(|(l, size, _)| l.len() as f64 * size * 1.25)
                    .sum::<f64>()
        })
        .fold(0.0, f64::max);
    let frame_h = (QUIZ_TEXT_END - top - text_height).clamp(120.0, 240.0);
    for (slot, centre, label, lines) in &slots {
        let color = design.color_of(slot.painter);
        let cell = Cell {
            x: centre - frame_h * 0.375,
            y: top,
            w: frame_h * 0.75,
            h: frame_h,
        };
        frame(&mut s, cell, color, design);
        if let Some(i) = index_of(content, slot.painter) {
            placed.push((i, cell));
        }
        let mut y = cell.y + cell.h + 44.0;
        let _ = writeln!(
            s,
            r##"<text x="{centre}" y="{y:.1}" text-anchor="middle" font-size="{:.1}" font-weight="bold" fill="{color}">{}</text>"##,
            fit_font(label, 460.0, 28.0),
            xml_escape(label)
        );
        y += 38.0;
        for (lines, size, opacity) in lines {
            for line in lines {
                let _ = writeln!(
                    s,
                    r##"<text x="{centre}" y="{y:.1}" text-anchor="middle" font-size="{size:.1}" fill="{ink}" fill-opacity="{opacity}">{}</text>"##,
                    xml_escape(line)
                );
                y += size * 1.25;
            }
        }
    }
    card_foot(&mut s, content, design);
    s.push_str("</svg>");
    (s, placed)
}

/// A painting's coloured frame, with the paper showing where no painting lands.
fn frame(s: &mut String, cell: Cell, color: &str, design: &TicketDesign) {
    let _ = writeln!(
        s,
        r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="6" fill="{color}"/><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"##,
        cell.x - 8.0,
        cell.y - 8.0,
        cell.w + 16.0,
        cell.h + 16.0,
        cell.x,
        cell.y,
        cell.w,
        cell.h,
        design.paper
    );
}

pub(crate) fn index_of(content: &TicketContent, painter: Painter) -> Option<usize> {
    content.paintings.iter().position(|p| p.painter == painter)
}

/// The promo image: a square card with the title, the operator's line and handle.
pub fn promo_svg(text: &str, handle: &str, design: &TicketDesign) -> String {
    let (bg, paper, ink) = (&design.background, &design.paper, &design.ink);
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="1080" height="1080" viewBox="0 0 1080 1080" font-family="{FONT_FAMILY}">
<rect width="1080" height="1080" fill="{bg}"/>
<rect x="60" y="60" width="960" height="960" rx="40" fill="{paper}"/>
<text x="540" y="330" text-anchor="middle" font-family="{SERIF_FAMILY}, serif" font-size="120" letter-spacing="16" fill="{ink}">ARTICKET</text>
<text x="540" y="410" text-anchor="middle" font-size="38" fill="{ink}" fill-opacity="0.7">화가의 눈으로 본 나 · Me, as the painters saw me</text>
"##
    );
    let mut y = 600.0;
    for line in text.lines().filter(|l| !l.trim().is_empty()).take(3) {
        let size = fit_font(line, 860.0, 60.0);
        let _ = writeln!(
            s,
            r##"<text x="540" y="{y:.1}" text-anchor="middle" font-size="{size:.1}" font-weight="bold" fill="{ink}">{}</text>"##,
            xml_escape(line)
        );
        y += size * 1.4;
    }
    if !handle.is_empty() {
        let size = fit_font(handle, 860.0, 72.0);
        let _ = writeln!(
            s,
            r##"<text x="540" y="{:.1}" text-anchor="middle" font-size="{size:.1}" font-weight="bold" fill="{bg}">{}</text>"##,
            y.max(760.0) + 40.0,
            xml_escape(handle)
        );
    }
    if !design.event_name.is_empty() {
        let _ = writeln!(
            s,
            r##"<text x="540" y="960" text-anchor="middle" font-size="34" fill="{ink}" fill-opacity="0.6">{}</text>"##,
            xml_escape(&design.event_name)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_never_overlap_and_stay_inside_the_area() {
        let area = (80.0, 320.0, 920.0, 1240.0);
        for n in 1..=4 {
            let cs = cells(n, area);
            assert_eq!(cs.len(), n);
            for c in &cs {
                assert!((c.w / c.h - 0.75).abs() < 1e-9);
                assert!(
                    c.x >= area.0 - 1e-9 && c.x + c.w <= area.0 + area.2 + 1e-9,
                    "{n}: {c:?}"
                );
                assert!(
                    c.y >= area.1 - 1e-9 && c.y + c.h + 70.0 <= area.1 + area.3 + 1e-9,
                    "{n}: {c:?}"
                );
            }
            for (i, a) in cs.iter().enumerate() {
                for b in &cs[i + 1..] {
                    let apart = a.x + a.w <= b.x
                        || b.x + b.w <= a.x
                        || a.y + a.h <= b.y
                        || b.y + b.h <= a.y;
                    assert!(apart, "{n}: {a:?} overlaps {b:?}");
                }
            }
        }
        // Fewer paintings are drawn larger.
        assert!(cells(1, area)[0].w > cells(2, area)[0].w);
        assert!(cells(2, area)[0].w >= cells(4, area)[0].w);
        // Three: the third sits centred under the first two.
        let three = cells(3, area);
        assert!((three[2].x + three[2].w / 2.0 - (area.0 + area.2 / 2.0)).abs() < 1e-6);
    }

    #[test]
    fn long_names_get_smaller_type() {
        assert_eq!(fit_font("Ada", 900.0, 72.0), 72.0);
        let long = fit_font(&"가".repeat(40), 900.0, 72.0);
        assert!(long < 30.0 && long * 40.0 <= 900.0 + 1e-6, "{long}");
    }
}
