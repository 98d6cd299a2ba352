//! `[ticket]`: what the operator can change on every ticket.

use std::path::PathBuf;

use serde::Deserialize;

/// `[ticket]`: what the operator can change on every ticket.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TicketConfig {
    /// Shown under the title, e.g. "Campus Festival 2026". Empty: none.
    pub event_name: String,
    /// A line at the foot, e.g. an Instagram handle. Empty: none.
    pub footer: String,
    /// The first visit's ticket number; later visits count up from it ("No. 0042").
    pub serial_start: i64,
    pub background: String,
    pub paper: String,
    pub ink: String,
    /// The event's logo (PNG with transparency, or JPEG), top-left on every ticket.
    pub logo: PathBuf,
    /// A folder with the operator's own `phone.svg` template (docs/templates/).
    pub template_dir: PathBuf,
    /// The promo image offered after the ticket: a picture file (PNG or JPEG) ...
    pub promo_image: PathBuf,
    /// ... or one made from these: a line or two of text and a handle.
    pub promo_text: String,
    pub promo_handle: String,
    /// Frame colours per painter: the keys `picasso`, `renoir`, `vangogh` and
    /// `lichtenstein`.
    #[serde(flatten)]
    pub colors: articket_ticket::PainterColors,
}

impl Default for TicketConfig {
    fn default() -> Self {
        let d = articket_ticket::TicketDesign::default();
        Self {
            event_name: d.event_name.clone(),
            footer: d.footer.clone(),
            serial_start: 1,
            background: d.background.clone(),
            paper: d.paper.clone(),
            ink: d.ink.clone(),
            logo: PathBuf::new(),
            template_dir: PathBuf::new(),
            promo_image: PathBuf::new(),
            promo_text: String::new(),
            promo_handle: String::new(),
            colors: d.painter_colors,
        }
    }
}

impl TicketConfig {
    pub fn design(&self) -> articket_ticket::TicketDesign {
        articket_ticket::TicketDesign {
            event_name: articket_ticket::clean_name(&self.event_name, 60),
            footer: articket_ticket::clean_name(&self.footer, 80),
            background: self.background.clone(),
            paper: self.paper.clone(),
            ink: self.ink.clone(),
            painter_colors: self.colors.clone(),
            logo: None,
            template: None,
            quiz_template: None,
        }
    }
}
