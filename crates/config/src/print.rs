//! `[print]`: printing tickets at the kiosk.

use serde::Deserialize;

/// `[print]`: printing tickets at the kiosk through CUPS.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PrintConfig {
    /// Shows the kiosk's print button.
    pub enabled: bool,
    /// The CUPS queue (`lp -d`); empty: the system's default printer.
    pub printer: String,
    /// Print every ticket as soon as it is ready.
    pub auto: bool,
    pub copies: u32,
    /// Prints one visit may have (failed ones do not count).
    pub max_per_visit: u32,
    pub paper: articket_ticket::Paper,
    /// The print command; CUPS's `lp` unless the system names it otherwise.
    pub command: String,
    pub timeout_secs: u64,
}

impl Default for PrintConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            printer: String::new(),
            auto: false,
            copies: 1,
            max_per_visit: 2,
            paper: articket_ticket::Paper::A6,
            command: "lp".into(),
            timeout_secs: 30,
        }
    }
}
