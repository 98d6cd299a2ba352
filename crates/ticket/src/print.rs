//! Printable tickets: the phone ticket at 300 dpi on A6 card or 80 mm receipt paper, as
//! PNG or as a one-page PDF (the raster embedded as JPEG, which every CUPS filter
//! chain prints).

use std::fmt::Write as _;
use std::io::Write as _;

use image::RgbImage;

use crate::TicketError;

/// Paper the booth prints on (`[print] paper = "a6"` or `"receipt80"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Paper {
    /// 105 × 148 mm postcard.
    A6,
    /// 80 mm thermal receipt roll; the length follows the ticket.
    Receipt80,
}

const DPI: f64 = 300.0;
const MM_PER_INCH: f64 = 25.4;

fn px(mm: f64) -> u32 {
    (mm / MM_PER_INCH * DPI).round() as u32
}

impl Paper {
    /// The page in pixels at 300 dpi, for a ticket of `ticket` (w, h).
    pub fn pixels(self, ticket: (u32, u32)) -> (u32, u32) {
        match self {
            Paper::A6 => (px(105.0), px(148.0)),
            Paper::Receipt80 => {
                let w = px(80.0);
                (
                    w,
                    (w as f64 * ticket.1 as f64 / ticket.0 as f64).round() as u32 + px(10.0),
                )
            }
        }
    }

    /// The ticket placed on the page: white margins, the ticket as large as fits.
    pub fn layout(self, ticket: &RgbImage) -> RgbImage {
        let (pw, ph) = self.pixels(ticket.dimensions());
        let margin = px(if self == Paper::A6 { 5.0 } else { 3.0 });
        let (aw, ah) = (pw - 2 * margin, ph - 2 * margin);
        let scale = f64::min(
            aw as f64 / ticket.width() as f64,
            ah as f64 / ticket.height() as f64,
        );
        let (w, h) = (
            (ticket.width() as f64 * scale).round() as u32,
            (ticket.height() as f64 * scale).round() as u32,
        );
        let fitted = image::imageops::resize(ticket, w, h, image::imageops::FilterType::CatmullRom);
        let mut page = RgbImage::from_pixel(pw, ph, image::Rgb([255, 255, 255]));
        image::imageops::overlay(
            &mut page,
            &fitted,
            ((pw - w) / 2) as i64,
            ((ph - h) / 2) as i64,
        );
        page
    }
}

/// A one-page PDF showing `page` (300 dpi) at its true size.
pub fn pdf(page: &RgbImage) -> Result<Vec<u8>, TicketError> {
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 92)
        .encode_image(page)
        .map_err(|e| TicketError::Encode(e.to_string()))?;
    let (wpt, hpt) = (
        page.width() as f64 * 72.0 / DPI,
        page.height() as f64 * 72.0 / DPI,
    );
    let content = format!("q {wpt:.2} 0 0 {hpt:.2} 0 0 cm /Im0 Do Q");
    let mut out: Vec<u8> = Vec::new();
    let mut offsets = Vec::new();
    out.extend_from_slice(b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n");
    let mut object = |out: &mut Vec<u8>, body: &[u8]| {
        offsets.push(out.len());
        let n = offsets.len();
        let _ = writeln!(out, "{n} 0 obj");
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    };
    object(&mut out, b"<< /Type /Catalog /Pages 2 0 R >>");
    object(&mut out, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
    object(
        &mut out,
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {wpt:.2} {hpt:.2}] /Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>"
        )
        .as_bytes(),
    );
    let mut image = format!(
        "<< /Type /XObject /Subtype /Image /Width {} /Height {} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode /Length {} >>\nstream\n",
        page.width(),
        page.height(),
        jpeg.len()
    )
    .into_bytes();
    image.extend_from_slice(&jpeg);
    image.extend_from_slice(b"\nendstream");
    object(&mut out, &image);
    object(
        &mut out,
        format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        )
        .as_bytes(),
    );
    let xref = out.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1);
    for o in &offsets {
        let _ = writeln!(table, "{o:010} 00000 n ");
    }
    let _ = write!(
        table,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        offsets.len() + 1
    );
    out.extend_from_slice(table.as_bytes());
    Ok(out)
}
