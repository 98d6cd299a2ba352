//! `[limits]`: what one client may do.

use serde::Deserialize;

/// `[limits]`: what one client may do, so a stranger on the booth's network cannot
/// swamp it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Photo uploads per client address per minute; 0 turns the limit off.
    pub uploads_per_minute: u32,
    /// Rooms (QR codes) waiting for a phone at once; more are refused with 429.
    pub max_open_rooms: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            uploads_per_minute: 10,
            max_open_rooms: 50,
        }
    }
}
