//! Live previews of paintings in progress: small JPEGs the backends send while they
//! paint. Kept in memory only, each under a fresh unguessable URL that is announced to
//! the visit's own room alone, replaced by the next, and dropped when the painter
//! finishes or the visit ends. At most one per painter every [`MIN_GAP`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use articket_style::Painter;

/// The least time between two previews of one painter: 4 a second at most.
pub const MIN_GAP: Duration = Duration::from_millis(250);

/// Previews larger than this are dropped (a backend sending full-size pictures).
const MAX_BYTES: usize = 512 * 1024;

struct Entry {
    token: String,
    jpeg: Arc<[u8]>,
    at: Instant,
}

#[derive(Default)]
struct State {
    by_painter: HashMap<(String, Painter), Entry>,
    by_token: HashMap<String, (String, Painter)>,
}

#[derive(Default)]
pub struct Previews(Mutex<State>);

impl Previews {
    /// Keeps `jpeg` as the painter's latest preview and returns its URL, or `None`
    /// when the last one is younger than [`MIN_GAP`] (or this one is too large).
    pub fn offer(&self, visit_id: &str, painter: Painter, jpeg: Arc<[u8]>) -> Option<String> {
        if jpeg.len() > MAX_BYTES {
            return None;
        }
        let mut s = self.0.lock().unwrap();
        let key = (visit_id.to_owned(), painter);
        if let Some(old) = s.by_painter.get(&key) {
            if old.at.elapsed() < MIN_GAP {
                return None;
            }
            let token = old.token.clone();
            s.by_token.remove(&token);
        }
        let token = articket_rooms::new_id();
        s.by_token.insert(token.clone(), key.clone());
        s.by_painter.insert(
            key,
            Entry {
                token: token.clone(),
                jpeg,
                at: Instant::now(),
            },
        );
        Some(url(&token))
    }

    /// The preview under `token`, while it is the painter's latest.
    pub fn get(&self, token: &str) -> Option<Arc<[u8]>> {
        let s = self.0.lock().unwrap();
        let key = s.by_token.get(token)?;
        s.by_painter.get(key).map(|e| e.jpeg.clone())
    }

    /// Forgets one painter's preview (it finished, or failed).
    pub fn clear(&self, visit_id: &str, painter: Painter) {
        let mut s = self.0.lock().unwrap();
        if let Some(e) = s.by_painter.remove(&(visit_id.to_owned(), painter)) {
            s.by_token.remove(&e.token);
        }
    }

    /// Forgets every preview of a visit.
    pub fn clear_visit(&self, visit_id: &str) {
        for p in Painter::ALL {
            self.clear(visit_id, p);
        }
    }

    /// Previews held now (for tests and the operator's status).
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().by_painter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where the browser fetches a preview.
pub fn url(token: &str) -> String {
    format!("/previews/{token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_is_replaced_rate_limited_and_forgotten() {
        let p = Previews::default();
        let a: Arc<[u8]> = Arc::from(&b"first"[..]);
        let url1 = p.offer("v", Painter::Renoir, a.clone()).unwrap();
        let token1 = url1.rsplit('/').next().unwrap().to_owned();
        assert_eq!(p.get(&token1).as_deref(), Some(&b"first"[..]));
        assert!(
            p.offer("v", Painter::Renoir, a.clone()).is_none(),
            "a second within 250 ms is dropped"
        );
        assert!(
            p.offer("v", Painter::Picasso, a.clone()).is_some(),
            "another painter has its own pace"
        );
        std::thread::sleep(MIN_GAP);
        let url2 = p
            .offer("v", Painter::Renoir, Arc::from(&b"second"[..]))
            .unwrap();
        assert_ne!(url1, url2);
        assert!(p.get(&token1).is_none(), "the old URL is gone");
        let token2 = url2.rsplit('/').next().unwrap();
        assert_eq!(p.get(token2).as_deref(), Some(&b"second"[..]));
        p.clear("v", Painter::Renoir);
        assert!(p.get(token2).is_none());
        p.clear_visit("v");
        assert!(p.is_empty());
    }
}
