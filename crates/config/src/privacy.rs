//! `[privacy]`: how long a visit's photos and paintings are kept.

use serde::Deserialize;

/// `[privacy]`: how long a visit's photos and paintings are kept.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Photos, paintings, tickets and their records are deleted this long after the
    /// visit began. The phone's upload screen says so.
    pub retention_secs: u64,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            retention_secs: 24 * 3600,
        }
    }
}
