//! `[admin]`: the operator page.

use serde::Deserialize;

/// `[admin]`: the operator page at `/admin`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// An argon2 hash of the operator password, made with `articket hash-password`.
    /// Empty: a random password is made at each start and printed in the terminal.
    pub password_hash: String,
    /// Show the latest paintings on the operator page. Off by default: visitors'
    /// faces stay on their own phones unless the booth's operator decides otherwise.
    pub gallery: bool,
    /// The start-up password, when there is no hash (set by `serve`, never read from a
    /// file).
    #[serde(skip)]
    pub password: Option<String>,
}
