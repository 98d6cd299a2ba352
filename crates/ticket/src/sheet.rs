//! The contact sheet: a grid of sample inputs (rows) and what each painter made of them
//! (columns), labelled, so anyone can see the styles at a glance.

use std::fmt::Write as _;

use base64::Engine as _;

use crate::{xml_escape, TicketError, TicketRenderer, FONT_FAMILY};

/// One row of a contact sheet: the input and its paintings, as PNG or JPEG bytes, all
/// of one size.
pub struct SheetRow {
    pub label: String,
    pub images: Vec<Vec<u8>>,
}

impl TicketRenderer {
    /// Renders a contact sheet: a header row of `columns` labels over rows of equal-size
    /// cells `cell` = (width, height) pixels.
    pub fn contact_sheet_png(
        &self,
        columns: &[String],
        rows: &[SheetRow],
        cell: (u32, u32),
    ) -> Result<Vec<u8>, TicketError> {
        let (cw, ch) = (f64::from(cell.0), f64::from(cell.1));
        let (gap, head, side) = (16.0, 76.0, 16.0);
        let n = columns.len() as f64;
        let w = side * 2.0 + n * cw + (n - 1.0).max(0.0) * gap;
        let h = head + rows.len() as f64 * (ch + gap + 36.0) + gap;
        let mut s = String::with_capacity(1 << 20);
        let _ = write!(
            s,
            r##"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT_FAMILY}">
<rect width="{w}" height="{h}" fill="#fbf8f1"/>
"##
        );
        // A label may hold two lines separated by '\n' (English over Korean).
        for (c, label) in columns.iter().enumerate() {
            let x = side + c as f64 * (cw + gap) + cw / 2.0;
            for (k, line) in label.lines().take(2).enumerate() {
                let _ = writeln!(
                    s,
                    r##"<text x="{x}" y="{y}" text-anchor="middle" font-size="22" font-weight="bold" fill="#2b2f5c">{t}</text>"##,
                    y = head - 34.0 + k as f64 * 26.0,
                    t = xml_escape(line),
                );
            }
        }
        for (r, row) in rows.iter().enumerate() {
            let y = head + r as f64 * (ch + gap + 36.0);
            for (c, image) in row.images.iter().enumerate() {
                let x = side + c as f64 * (cw + gap);
                let mime = if image.starts_with(b"\x89PNG") {
                    "image/png"
                } else {
                    "image/jpeg"
                };
                let data = base64::engine::general_purpose::STANDARD.encode(image);
                let _ = writeln!(
                    s,
                    r##"<image x="{x}" y="{y}" width="{cw}" height="{ch}" preserveAspectRatio="xMidYMid meet" xlink:href="data:{mime};base64,{data}"/>"##
                );
            }
            let _ = writeln!(
                s,
                r##"<text x="{side}" y="{ty}" font-size="20" fill="#6a6f9a">{t}</text>"##,
                ty = y + ch + 26.0,
                t = xml_escape(&row.label),
            );
        }
        s.push_str("</svg>");
        self.render_png(&s)
    }
}
