//! Abuse limits that need memory: uploads per client address per minute.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A fixed-window counter per address. Old windows are dropped as they are met, and
/// the map is cleared whenever it grows past `MAX_TRACKED`, so memory stays bounded.
pub struct RateLimit {
    per_window: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

const MAX_TRACKED: usize = 10_000;

impl RateLimit {
    pub fn new(per_window: u32, window: Duration) -> Self {
        Self {
            per_window,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request from `ip`. `Err(seconds)` when over the limit: how long until
    /// the window ends.
    pub fn hit(&self, ip: IpAddr) -> Result<(), u32> {
        if self.per_window == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > MAX_TRACKED {
            seen.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = seen.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.per_window {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1) as u32);
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_allows_its_count_per_address_then_resets() {
        let limit = RateLimit::new(2, Duration::from_millis(200));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(limit.hit(a).is_ok() && limit.hit(a).is_ok());
        assert!(limit.hit(a).is_err());
        assert!(limit.hit(b).is_ok(), "another address has its own count");
        std::thread::sleep(Duration::from_millis(220));
        assert!(limit.hit(a).is_ok(), "a new window");
        assert!(
            RateLimit::new(0, Duration::from_secs(1)).hit(a).is_ok(),
            "0 turns it off"
        );
    }
}
