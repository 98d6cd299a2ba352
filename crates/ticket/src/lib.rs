//! Tickets: the image a visitor takes home, rendered on the server from an SVG layout
//! with `resvg`, using fonts bundled in the binary (a Hangul-capable subset of Nanum
//! Gothic, renamed "Articket Hangul" as its licence asks). Nothing depends on fonts
//! installed on the booth machine, so every booth renders the same ticket.

use std::sync::Arc;

use articket_style::Painter;
use resvg::{tiny_skia, usvg};

pub mod layout;
mod names;
mod paste;
mod print;
pub use print::Paper;
mod resources;
pub use resources::{check_templates, load_design_files, Promo};
mod sheet;
pub mod template;
pub use names::clean_name;
pub use sheet::SheetRow;

/// Width and height of the phone ticket, in pixels.
pub const PHONE_TICKET_SIZE: (u32, u32) = (1080, 1920);

const FONT_REGULAR: &[u8] = include_bytes!("../../../assets/fonts/ArticketHangul-Regular.ttf");
const FONT_BOLD: &[u8] = include_bytes!("../../../assets/fonts/ArticketHangul-Bold.ttf");
const FONT_FAMILY: &str = "Articket Hangul";
// Fallbacks, tried by the text shaper when a glyph is missing from the Hangul font:
// Arabic, Hebrew, Greek and Cyrillic names (DejaVu Sans subset), and common emoji in
// colour (Noto Color Emoji subset). The title uses a display serif (EB Garamond).
const FONT_WORLD: &[u8] = include_bytes!("../../../assets/fonts/ArticketWorld-Regular.ttf");
const FONT_EMOJI: &[u8] = include_bytes!("../../../assets/fonts/ArticketEmoji.ttf");
const FONT_SERIF: &[u8] = include_bytes!("../../../assets/fonts/ArticketSerif-Regular.otf");
pub(crate) const SERIF_FAMILY: &str = "EB Garamond";

/// One painter's result as it appears on a ticket.
pub struct TicketPainting {
    /// Picks the painting's frame colour.
    pub painter: Painter,
    pub label_en: String,
    pub label_ko: String,
    /// A one-line tagline (Korean, English), shown when the ticket holds this painting
    /// alone: the single-painter ticket.
    pub tagline: Option<(String, String)>,
    pub image: Picture,
}

/// A painting for a ticket: as the painter left it (no decoding), or as stored.
#[derive(Debug, Clone)]
pub enum Picture {
    Pixels(std::sync::Arc<image::RgbImage>),
    /// JPEG or PNG bytes.
    Encoded(Vec<u8>),
}

impl From<Vec<u8>> for Picture {
    fn from(bytes: Vec<u8>) -> Picture {
        Picture::Encoded(bytes)
    }
}

impl From<image::RgbImage> for Picture {
    fn from(pixels: image::RgbImage) -> Picture {
        Picture::Pixels(std::sync::Arc::new(pixels))
    }
}

/// Everything a ticket shows.
pub struct TicketContent {
    pub name: String,
    /// Already formatted, e.g. "2026.11.25".
    pub date: String,
    /// The visit's running number, shown as "No. 0042".
    pub serial: Option<i64>,
    /// The visitor's own results page, drawn as a small QR code.
    pub link: Option<String>,
    pub paintings: Vec<TicketPainting>,
    /// Set for a quiz visit: the ticket shows the visitor's painter large and their
    /// matches small, instead of every painting alike.
    pub quiz: Option<QuizPart>,
}

/// What the booth's operator can change: the event, the colours, the footer.
/// One painter on a quiz ticket, with the line the ticket says about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuizSlot {
    pub painter: Painter,
    pub label_ko: String,
    pub label_en: String,
    pub line_ko: String,
    pub line_en: String,
}

/// What makes a ticket a quiz ticket: the visitor's type, their painter (shown large,
/// with their description) and their good and bad matches (small, with one line each).
/// The paintings themselves come from [`TicketContent::paintings`], by painter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuizPart {
    /// The four-letter type, e.g. "ENFP".
    pub code: String,
    pub painter: QuizSlot,
    pub good: QuizSlot,
    pub bad: QuizSlot,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TicketDesign {
    /// Shown under the title, e.g. "Campus Festival 2026".
    pub event_name: String,
    /// A line at the foot, e.g. "@articket.booth".
    pub footer: String,
    /// The ticket's background colour.
    pub background: String,
    /// The card the ticket is printed on.
    pub paper: String,
    pub ink: String,
    /// Frame colours per painter.
    pub painter_colors: PainterColors,
    /// The event's logo, drawn in the card's top-left corner (fitted, alpha kept).
    pub logo: Option<Arc<image::RgbaImage>>,
    /// An operator's own SVG template for the phone ticket (see [`template::fill_template`]),
    /// used instead of the built-in layout.
    pub template: Option<Arc<String>>,
    /// An operator's own SVG template for the quiz ticket (see
    /// [`template::fill_quiz_template`]); without it quiz tickets use the built-in layout.
    pub quiz_template: Option<Arc<String>>,
}

impl Default for TicketDesign {
    fn default() -> Self {
        Self {
            event_name: String::new(),
            footer: String::new(),
            background: "#5e6cba".into(),
            paper: "#fbf8f1".into(),
            ink: "#2b2f5c".into(),
            painter_colors: PainterColors::default(),
            logo: None,
            template: None,
            quiz_template: None,
        }
    }
}

impl TicketDesign {
    fn color_of(&self, painter: Painter) -> &str {
        self.painter_colors
            .of(painter.id())
            .unwrap_or(self.ink.as_str())
    }
}

/// Each painter's frame colour on the ticket, as `#rrggbb`. The config's `[ticket]`
/// keys `picasso`, `renoir`, `vangogh` and `lichtenstein` deserialize into it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct PainterColors {
    pub picasso: String,
    pub renoir: String,
    pub vangogh: String,
    pub lichtenstein: String,
}

impl Default for PainterColors {
    /// The old service's painter colours.
    fn default() -> Self {
        Self {
            picasso: "#CA0000".into(),
            renoir: "#036B82".into(),
            vangogh: "#E37900".into(),
            lichtenstein: "#1A5934".into(),
        }
    }
}

impl PainterColors {
    /// Every painter id with its colour.
    pub fn iter(&self) -> [(&'static str, &str); 4] {
        [
            ("picasso", &self.picasso),
            ("renoir", &self.renoir),
            ("vangogh", &self.vangogh),
            ("lichtenstein", &self.lichtenstein),
        ]
    }

    /// The colour of the painter with this id.
    pub fn of(&self, painter: &str) -> Option<&str> {
        self.iter()
            .into_iter()
            .find(|(p, _)| *p == painter)
            .map(|(_, c)| c)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("the ticket layout is invalid: {0}")]
    Layout(String),
    #[error("the ticket could not be encoded: {0}")]
    Encode(String),
    #[error("a painting could not be read: {0}")]
    Painting(String),
}

/// Renders tickets. Holds the parsed fonts; build it once and share it.
#[derive(Clone)]
pub struct TicketRenderer {
    fonts: Arc<usvg::fontdb::Database>,
    design: Arc<TicketDesign>,
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
        db.load_font_data(FONT_WORLD.to_vec());
        db.load_font_data(FONT_EMOJI.to_vec());
        db.load_font_data(FONT_SERIF.to_vec());
        db.set_sans_serif_family(FONT_FAMILY);
        db.set_serif_family(SERIF_FAMILY);
        Self {
            fonts: Arc::new(db),
            design: Arc::new(TicketDesign::default()),
        }
    }

    /// The same renderer with the operator's design.
    pub fn with_design(mut self, design: TicketDesign) -> Self {
        self.design = Arc::new(design);
        self
    }

    /// Renders the portrait phone ticket as PNG bytes. CPU-bound.
    pub fn phone_ticket_png(&self, content: &TicketContent) -> Result<Vec<u8>, TicketError> {
        self.phone_ticket_pixmap(content)?
            .encode_png()
            .map_err(|e| TicketError::Encode(e.to_string()))
    }

    /// The card from the SVG layout, then the paintings and the logo composited in.
    fn phone_ticket_pixmap(
        &self,
        content: &TicketContent,
    ) -> Result<tiny_skia::Pixmap, TicketError> {
        if let (Some(quiz), Some(template)) = (&content.quiz, &self.design.quiz_template) {
            return self.render_pixmap(&template::fill_quiz_template(
                template,
                content,
                quiz,
                &self.design,
            ));
        }
        if let Some(quiz) = &content.quiz {
            let (svg, placed) = layout::quiz_ticket(content, quiz, &self.design);
            let mut pixmap = self.render_pixmap(&svg)?;
            for (i, cell) in placed {
                paste::painting(&mut pixmap, &content.paintings[i].image, cell)?;
            }
            if let Some(logo) = &self.design.logo {
                paste::logo(&mut pixmap, logo, (70, 70, 150, 150));
            }
            return Ok(pixmap);
        }
        if let Some(template) = &self.design.template {
            return self.render_pixmap(&template::fill_template(template, content, &self.design));
        }
        let (svg, cells) = layout::phone_ticket(content, &self.design, false);
        let mut pixmap = self.render_pixmap(&svg)?;
        for (p, cell) in content.paintings.iter().zip(cells) {
            paste::painting(&mut pixmap, &p.image, cell)?;
        }
        if let Some(logo) = &self.design.logo {
            paste::logo(&mut pixmap, logo, (70, 70, 150, 150));
        }
        Ok(pixmap)
    }

    /// The promo image (1080×1080 PNG): the title, the operator's line and handle,
    /// e.g. "Tag us on Instagram" and "@articket.booth".
    pub fn promo_png(&self, text: &str, handle: &str) -> Result<Vec<u8>, TicketError> {
        self.render_png(&layout::promo_svg(text, handle, &self.design))
    }

    /// The phone ticket on `paper` at 300 dpi, as PNG bytes.
    pub fn print_png(&self, content: &TicketContent, paper: Paper) -> Result<Vec<u8>, TicketError> {
        let page = paper.layout(&self.phone_ticket_rgb(content)?);
        let mut png = Vec::new();
        page.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| TicketError::Encode(e.to_string()))?;
        Ok(png)
    }

    /// The phone ticket on `paper` at 300 dpi, as a one-page PDF for `lp`.
    pub fn print_pdf(&self, content: &TicketContent, paper: Paper) -> Result<Vec<u8>, TicketError> {
        print::pdf(&paper.layout(&self.phone_ticket_rgb(content)?))
    }

    fn phone_ticket_rgb(&self, content: &TicketContent) -> Result<image::RgbImage, TicketError> {
        let pixmap = self.phone_ticket_pixmap(content)?;
        // The card is opaque, so dropping alpha loses nothing.
        let rgb: Vec<u8> = pixmap
            .data()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        image::RgbImage::from_raw(pixmap.width(), pixmap.height(), rgb)
            .ok_or_else(|| TicketError::Encode("pixmap size".into()))
    }

    /// The phone ticket's SVG, for golden tests and custom templates.
    pub fn phone_ticket_svg(&self, content: &TicketContent) -> String {
        layout::phone_ticket_svg(content, &self.design)
    }

    fn render_png(&self, svg: &str) -> Result<Vec<u8>, TicketError> {
        self.render_pixmap(svg)?
            .encode_png()
            .map_err(|e| TicketError::Encode(e.to_string()))
    }

    fn render_pixmap(&self, svg: &str) -> Result<tiny_skia::Pixmap, TicketError> {
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
        Ok(pixmap)
    }
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
