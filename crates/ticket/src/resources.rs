//! The operator's files a ticket is made with: the event logo, SVG templates and the
//! promo image. Loaded and checked once at start-up, so a missing or broken file stops
//! the booth with its name instead of failing every visitor's ticket.
//!
//! Errors are sentences naming the file; the caller adds the config key.

use articket_style::Painter;
use std::path::Path;
use std::sync::Arc;

use crate::{clean_name, QuizPart, QuizSlot, TicketContent, TicketDesign, TicketRenderer};

/// Reads the logo (`logo`, a PNG or JPEG) and the templates in `template_dir`
/// (`phone.svg`, required there, and `quiz.svg`, optional) into `design`. An empty
/// path means "none". Errors say which of the two failed: `("logo", …)` or
/// `("template_dir", …)`.
pub fn load_design_files(
    design: &mut TicketDesign,
    logo: &Path,
    template_dir: &Path,
) -> Result<(), (&'static str, String)> {
    if !logo.as_os_str().is_empty() {
        let image = image::open(logo)
            .map_err(|e| ("logo", format!("cannot read {}: {e}", logo.display())))?;
        design.logo = Some(Arc::new(image.into_rgba8()));
    }
    if !template_dir.as_os_str().is_empty() {
        let read = |name: &str| {
            let path = template_dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| {
                (
                    "template_dir",
                    format!("cannot read {}: {e}", path.display()),
                )
            })
        };
        design.template = Some(Arc::new(read("phone.svg")?));
        if template_dir.join("quiz.svg").exists() {
            design.quiz_template = Some(Arc::new(read("quiz.svg")?));
        }
    }
    Ok(())
}

/// Renders the design's templates once with sample content, so a broken template is
/// found at start-up. Without templates there is nothing to check.
pub fn check_templates(renderer: &TicketRenderer) -> Result<(), String> {
    let design = &renderer.design;
    if design.template.is_none() && design.quiz_template.is_none() {
        return Ok(());
    }
    let sample = TicketContent {
        name: "Articket".into(),
        date: "2026.01.01".into(),
        serial: Some(1),
        link: Some("http://booth.local/v/0".into()),
        paintings: Vec::new(),
        quiz: None,
    };
    renderer
        .phone_ticket_png(&sample)
        .map_err(|e| format!("phone.svg does not render: {e}"))?;
    let slot = |painter: Painter, ko: &str, en: &str| QuizSlot {
        painter,
        label_ko: ko.into(),
        label_en: en.into(),
        line_ko: "예시".into(),
        line_en: "Sample".into(),
    };
    let quiz_sample = TicketContent {
        quiz: Some(QuizPart {
            code: "ENFP".into(),
            painter: slot(Painter::Lichtenstein, "리히텐슈타인", "Lichtenstein"),
            good: slot(Painter::VanGogh, "반 고흐", "Van Gogh"),
            bad: slot(Painter::Renoir, "르누아르", "Renoir"),
        }),
        ..sample
    };
    renderer
        .phone_ticket_png(&quiz_sample)
        .map_err(|e| format!("quiz.svg does not render: {e}"))?;
    Ok(())
}

/// The promo image offered after the ticket: the operator's picture file, or one made
/// from a line or two of text and a handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promo {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

impl Promo {
    /// The operator's picture (`image`, PNG or JPEG) if one is named, else one rendered
    /// from `text` and `handle`, else none. Lines of `text` may be real newlines or a
    /// written "\n" (handy in environment variables). Errors: `("promo_image", …)` for a
    /// picture that cannot be used, `("promo_text", …)` for one that does not render.
    pub fn load(
        renderer: &TicketRenderer,
        image: &Path,
        text: &str,
        handle: &str,
    ) -> Result<Option<Promo>, (&'static str, String)> {
        if !image.as_os_str().is_empty() {
            let bytes = std::fs::read(image).map_err(|e| {
                (
                    "promo_image",
                    format!("cannot read {}: {e}", image.display()),
                )
            })?;
            let content_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
                "image/png"
            } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
                "image/jpeg"
            } else {
                return Err((
                    "promo_image",
                    format!("{} is not a PNG or JPEG file", image.display()),
                ));
            };
            return Ok(Some(Promo {
                bytes,
                content_type,
            }));
        }
        if text.trim().is_empty() && handle.trim().is_empty() {
            return Ok(None);
        }
        let lines: Vec<String> = text
            .replace("\\n", "\n")
            .lines()
            .map(|l| clean_name(l, 80))
            .collect();
        let png = renderer
            .promo_png(&lines.join("\n"), &clean_name(handle, 60))
            .map_err(|e| ("promo_text", e.to_string()))?;
        Ok(Some(Promo {
            bytes: png,
            content_type: "image/png",
        }))
    }
}
