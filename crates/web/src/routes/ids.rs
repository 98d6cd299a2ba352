//! Ids in paths are checked before anything else sees them.

use crate::error::{AppError, AppResult};

/// Rejects anything that is not exactly a 128-bit hex id before it reaches the store.
pub fn check_id(id: &str) -> AppResult<()> {
    if articket_rooms::is_id(id) {
        Ok(())
    } else {
        Err(AppError::not_found())
    }
}
