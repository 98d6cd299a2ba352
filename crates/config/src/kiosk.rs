//! `[kiosk]`: the kiosk's screen.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KioskConfig {
    /// The kiosk shows a fresh QR code after this many seconds without activity
    /// in a visit.
    pub idle_reset_secs: u64,
    /// After the visitor taps "finish", the kiosk shows a thank-you for this long.
    pub finished_hold_secs: u64,
    /// Once the ticket is ready, the kiosk shows the results this long and then a
    /// fresh QR code for the next person (sooner when the visitor taps "finish").
    pub results_secs: u64,
    /// While waiting for a visitor, the kiosk re-reads the paintings of its attract
    /// loop this often (a visitor who deletes their photos leaves it within this time).
    pub attract_refresh_secs: u64,
    /// How many recent paintings (of visitors who agreed) the attract loop cycles
    /// through.
    pub attract_paintings: usize,
}

impl Default for KioskConfig {
    fn default() -> Self {
        Self {
            idle_reset_secs: 180,
            finished_hold_secs: 8,
            results_secs: 45,
            attract_refresh_secs: 15,
            attract_paintings: 24,
        }
    }
}
