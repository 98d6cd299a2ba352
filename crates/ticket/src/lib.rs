//! Tickets: the image a visitor takes home, rendered on the server from an SVG layout
//! with `resvg`, using fonts bundled in the binary (a Hangul-capable subset of Nanum
//! Gothic, renamed "Articket Hangul" as its licence asks). Nothing depends on fonts
//! installed on the booth machine, so every booth renders the same ticket.

use std::fmt::Write as _;
use std::sync::Arc;

use base64::Engine as _;
use resvg::{tiny_skia, usvg};

mod sheet;
pub use sheet::SheetRow;

/// Width and height of the phone ticket, in pixels.
pub const PHONE_TICKET_SIZE: (u32, u32) = (1080, 1920);

const FONT_REGULAR: &[u8] = include_bytes!("../../../assets/fonts/ArticketHangul-Regular.ttf");
const FONT_BOLD: &[u8] = include_bytes!("../../../assets/fonts/ArticketHangul-Bold.ttf");
const FONT_FAMILY: &str = "Articket Hangul";

/// One painter's result as it appears on a ticket.
pub struct TicketPainting {
    pub label_en: String,
    pub label_ko: String,
    /// The painting, JPEG or PNG bytes as stored.
    pub image: Vec<u8>,
}

/// Everything a ticket shows.
pub struct TicketContent {
    pub name: String,
    /// Already formatted, e.g. "2026-11-25".
    pub date: String,
    pub paintings: Vec<TicketPainting>,
}

#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("the ticket layout is invalid: {0}")]
    Layout(String),
    #[error("the ticket could not be encoded: {0}")]
    Encode(String),
}

/// Renders tickets. Holds the parsed fonts; build it once and share it.
#[derive(Clone)]
pub struct TicketRenderer {
    fonts: Arc<usvg::fontdb::Database>,
}

impl Default for TicketRenderer {
    fn default() -> Self {
        Self::new()
    }
}

impl TicketRenderer {
    pub fn new() -> Self {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(FONT_REGULAR.to_vec());
        db.load_font_data(FONT_BOLD.to_vec());
        db.set_sans_serif_family(FONT_FAMILY);
        Self {
            fonts: Arc::new(db),
        }
    }

    /// Renders the portrait phone ticket as PNG bytes. CPU-bound.
    pub fn phone_ticket_png(&self, content: &TicketContent) -> Result<Vec<u8>, TicketError> {
        let svg = phone_ticket_svg(content);
        self.render_png(&svg)
    }

    fn render_png(&self, svg: &str) -> Result<Vec<u8>, TicketError> {
        let options = usvg::Options {
            fontdb: self.fonts.clone(),
            ..usvg::Options::default()
        };
        let tree =
            usvg::Tree::from_str(svg, &options).map_err(|e| TicketError::Layout(e.to_string()))?;
        let size = tree.size().to_int_size();
        let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
            .ok_or_else(|| TicketError::Layout("the ticket has no area".into()))?;
        resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
        pixmap
            .encode_png()
            .map_err(|e| TicketError::Encode(e.to_string()))
    }
}

/// The phone ticket layout: title band, a 2×2 grid of paintings with their painters'
/// names, and the visitor's name and date at the foot.
fn phone_ticket_svg(content: &TicketContent) -> String {
    let (w, h) = PHONE_TICKET_SIZE;
    let mut s = String::with_capacity(64 * 1024);
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT_FAMILY}">
<rect width="{w}" height="{h}" fill="#5e6cba"/>
<rect x="40" y="40" width="{iw}" height="{ih}" rx="36" fill="#fbf8f1"/>
<text x="540" y="190" text-anchor="middle" font-size="96" font-weight="bold" letter-spacing="18" fill="#2b2f5c">ARTICKET</text>
<text x="540" y="250" text-anchor="middle" font-size="34" fill="#6a6f9a">화가의 눈으로 본 나 · Me, as the painters saw me</text>
"##,
        iw = w - 80,
        ih = h - 80,
    );
    // Four equal cells; fewer paintings leave the remaining cells as quiet placeholders.
    let (cell_w, cell_h, gap, top) = (440.0, 560.0, 40.0, 320.0);
    let left = (f64::from(w) - 2.0 * cell_w - gap) / 2.0;
    for slot in 0..4 {
        let x = left + (slot % 2) as f64 * (cell_w + gap);
        let y = top + (slot / 2) as f64 * (cell_h + 110.0);
        match content.paintings.get(slot) {
            Some(p) => {
                let mime = if p.image.starts_with(b"\x89PNG") {
                    "image/png"
                } else {
                    "image/jpeg"
                };
                let data = base64::engine::general_purpose::STANDARD.encode(&p.image);
                let _ = write!(
                    s,
                    r##"<rect x="{bx}" y="{by}" width="{bw}" height="{bh}" fill="#2b2f5c"/>
<image x="{x}" y="{y}" width="{cell_w}" height="{cell_h}" preserveAspectRatio="xMidYMid slice" xlink:href="data:{mime};base64,{data}"/>
<text x="{cx}" y="{ty}" text-anchor="middle" font-size="38" font-weight="bold" fill="#2b2f5c">{ko} · {en}</text>
"##,
                    bx = x - 6.0,
                    by = y - 6.0,
                    bw = cell_w + 12.0,
                    bh = cell_h + 12.0,
                    cx = x + cell_w / 2.0,
                    ty = y + cell_h + 58.0,
                    ko = xml_escape(&p.label_ko),
                    en = xml_escape(&p.label_en),
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    r##"<rect x="{x}" y="{y}" width="{cell_w}" height="{cell_h}" fill="#ebe6da"/>"##
                );
            }
        }
    }
    let _ = write!(
        s,
        r##"<text x="540" y="1715" text-anchor="middle" font-size="72" font-weight="bold" fill="#2b2f5c">{name}</text>
<text x="540" y="1790" text-anchor="middle" font-size="36" fill="#6a6f9a">{date}</text>
</svg>"##,
        name = xml_escape(&content.name),
        date = xml_escape(&content.date),
    );
    s
}

/// Escapes text for SVG character data and attribute values.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even when escaped.
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
