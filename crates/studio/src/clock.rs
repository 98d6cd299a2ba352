//! The wall clock, in the seconds the store keeps, and the date a ticket prints.

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A stored time as a ticket shows it, in the booth's time zone: "2026.11.28".
pub fn ticket_date(at: i64) -> String {
    use chrono::TimeZone;
    chrono::Local
        .timestamp_opt(at, 0)
        .single()
        .map_or_else(String::new, |d| d.format("%Y.%m.%d").to_string())
}
