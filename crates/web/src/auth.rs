//! Who is asking: the kiosk (bearer token from `POST /api/rooms`) or the visit's phone
//! (an HttpOnly first-party cookie named after the visit). Tokens are compared by hash.

use axum::http::{header, HeaderMap};

use articket_rooms::{same_secret, token_hash};
use articket_store::{Room, Visit};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Kiosk,
    Phone,
    /// Anyone with the visit's results link (its ticket's QR code): may read the
    /// visit's results, nothing more.
    Results,
}

/// The header the phone page sends a results link's key in (read from the link's
/// `#k=` fragment, which never reaches a server log).
pub const RESULTS_KEY_HEADER: &str = "x-results-key";

/// Whether the request carries the visit's results key.
pub fn has_results_key(visit: &Visit, headers: &HeaderMap) -> bool {
    let given = headers
        .get(RESULTS_KEY_HEADER)
        .and_then(|v| v.to_str().ok());
    match (given, visit.results_key.as_deref()) {
        (Some(given), Some(key)) => same_secret(&token_hash(given), &token_hash(key)),
        _ => false,
    }
}

/// The participant cookie's name. One per visit, so a phone that visits twice keeps
/// both visits.
pub fn cookie_name(visit_id: &str) -> String {
    format!("av_{visit_id}")
}

pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The kiosk token, from `Authorization: Bearer …` or, for browser WebSockets and
/// `<img>` tags that cannot set headers, the `kiosk_token` query parameter.
pub fn kiosk_token<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or(query)
}

pub fn is_kiosk(room: &Room, headers: &HeaderMap, query: Option<&str>) -> bool {
    kiosk_token(headers, query).is_some_and(|t| same_secret(&token_hash(t), &room.kiosk_token_hash))
}

pub fn is_phone(visit: &Visit, headers: &HeaderMap) -> bool {
    cookie_value(headers, &cookie_name(&visit.id))
        .is_some_and(|t| same_secret(&token_hash(t), &visit.participant_token_hash))
}

/// The kiosk of the visit's room, the visit's phone, or a holder of its results link;
/// anyone else gets `None`.
pub fn viewer(
    room: &Room,
    visit: Option<&Visit>,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Option<Viewer> {
    if is_kiosk(room, headers, query) {
        Some(Viewer::Kiosk)
    } else if visit.is_some_and(|v| is_phone(v, headers)) {
        Some(Viewer::Phone)
    } else if visit.is_some_and(|v| has_results_key(v, headers)) {
        Some(Viewer::Results)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1; av_x=tok; b=2".parse().unwrap());
        assert_eq!(cookie_value(&h, "av_x"), Some("tok"));
        assert_eq!(cookie_value(&h, "av_y"), None);
    }

    #[test]
    fn bearer_header_wins_over_query() {
        let mut h = HeaderMap::new();
        assert_eq!(kiosk_token(&h, Some("q")), Some("q"));
        h.insert(header::AUTHORIZATION, "Bearer hdr".parse().unwrap());
        assert_eq!(kiosk_token(&h, Some("q")), Some("hdr"));
    }
}
