//! Which requests come from the booth's own pages. Every state-changing request and
//! every WebSocket upgrade is checked here: a request that names another origin is
//! refused with 403 `other-site`.

use axum::http::HeaderMap;

/// Whether a request comes from the booth's own pages: no `Origin` (not a browser, or
/// a browser's own navigation), or an `Origin` naming the host and port the request was
/// sent to, or `server.public_url`. A cookie alone is not enough: a page on another
/// site could send the visitor's or the operator's cookie along (cross-site request
/// forgery, cross-site WebSocket hijacking). Another port of the same host is another
/// origin here, though browsers count it as the same *site* and send even SameSite=Strict
/// cookies to it.
pub fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    let Some(origin) = headers.get("origin") else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let authority = |url: &str| -> Option<String> {
        let rest = url.split_once("://")?.1;
        let host = rest.split('/').next()?;
        (!host.is_empty()).then(|| host.to_ascii_lowercase())
    };
    let Some(origin_host) = authority(&origin) else {
        return false; // "null" and anything unparsable
    };
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(|h| h.trim().to_ascii_lowercase());
    if host.as_deref() == Some(origin_host.as_str()) {
        return true;
    }
    let public = public_url.trim().trim_end_matches('/').to_ascii_lowercase();
    !public.is_empty()
        && authority(&public).is_some_and(|p| p == origin_host)
        && public.split("://").next() == origin.split("://").next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", host.parse().unwrap());
        if let Some(o) = origin {
            h.insert("origin", o.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_the_booths_own_origin_counts_as_its_own_pages() {
        let none = "";
        assert!(same_origin(&headers(None, "192.168.1.5:8080"), none));
        assert!(same_origin(
            &headers(Some("http://192.168.1.5:8080"), "192.168.1.5:8080"),
            none
        ));
        assert!(same_origin(
            &headers(Some("http://LOCALHOST:8080"), "localhost:8080"),
            none
        ));
        assert!(!same_origin(
            &headers(Some("https://evil.example"), "192.168.1.5:8080"),
            none
        ));
        assert!(!same_origin(
            &headers(Some("http://192.168.1.5:9999"), "192.168.1.5:8080"),
            none
        ));
        assert!(!same_origin(
            &headers(Some("null"), "192.168.1.5:8080"),
            none
        ));
        // Behind a proxy the Host header is the proxy's upstream; public_url names the
        // origin visitors use.
        let public = "https://booth.example.org/";
        assert!(same_origin(
            &headers(Some("https://booth.example.org"), "127.0.0.1:8080"),
            public
        ));
        assert!(!same_origin(
            &headers(Some("http://booth.example.org"), "127.0.0.1:8080"),
            public
        ));
        assert!(!same_origin(
            &headers(Some("https://evil.example"), "127.0.0.1:8080"),
            public
        ));
    }
}
