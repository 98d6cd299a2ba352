//! The router: each concern's module exports its own routes (pages, files, health at
//! the top; rooms, events, showcase, join, visits, admin under /api); this file merges
//! them and adds the guards and headers every response gets.

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::Code;
use crate::state::AppState;

mod admin;
mod events;
mod files;
mod health;
mod ids;
mod join;
mod pages;
mod rooms;
mod showcase;
mod visits;

/// Scripts and styles come only from our own origin; no inline code, no frames.
const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Small JSON bodies everywhere except the photo upload, which sets its own limit.
const JSON_BODY_LIMIT: usize = 16 * 1024;

/// The largest body a request to `path` may declare: the photo upload's limit on the
/// upload route, [`JSON_BODY_LIMIT`] everywhere else.
fn body_limit(state: &AppState, path: &str) -> u64 {
    if is_upload(path) {
        state
            .config()
            .upload
            .intake
            .max_bytes
            .saturating_add(64 * 1024)
    } else {
        JSON_BODY_LIMIT as u64
    }
}

fn is_upload(path: &str) -> bool {
    path.starts_with("/api/visits/") && path.ends_with("/photo")
}

/// Refuses a declared body over the route's limit with 413 before any handler reads it,
/// on every route, including those that never read a body. (Bodies without a length
/// are cut off by `DefaultBodyLimit` where they are read.)
///
/// An error answer to a request with a body may come before the body was read (a busy
/// booth answers an upload at once). The server then drops the connection, so the
/// answer says `Connection: close`: otherwise the phone's next request could be sent on
/// that dying connection and fail.
async fn body_guard(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let has_body =
        declared.is_some_and(|n| n > 0) || req.headers().contains_key(header::TRANSFER_ENCODING);
    let limit = body_limit(&state, req.uri().path());
    if declared.is_some_and(|n| n > limit) {
        let (code, msg) = if is_upload(req.uri().path()) {
            (
                Code::PhotoTooLarge,
                "The photo is too large. Please send a smaller one.",
            )
        } else {
            (Code::BodyTooLarge, "This request is too large.")
        };
        let too_large =
            crate::error::AppError::new(axum::http::StatusCode::PAYLOAD_TOO_LARGE, code, msg);
        // A photo a few times too large is read and dropped first: a connection closed
        // on a body still arriving is reset, and a browser, or a reverse proxy in front
        // of the booth (which answers 502 then), loses the answer. Anything larger is
        // refused at once.
        if declared.is_some_and(|n| n <= limit.saturating_mul(DRAIN_FACTOR)) {
            drain(req.into_body()).await;
        }
        return closing(too_large.into_response());
    }
    let response = next.run(req).await;
    if has_body && (response.status().is_client_error() || response.status().is_server_error()) {
        return closing(response);
    }
    response
}

/// How many times its limit a refused body may be and still be read to its end.
const DRAIN_FACTOR: u64 = 4;
/// How long a refused body may take to arrive before the connection is closed anyway.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads a body to its end and drops it, for at most [`DRAIN_TIME`].
async fn drain(body: axum::body::Body) {
    use futures_util::StreamExt as _;
    let mut chunks = body.into_data_stream();
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(_)) = chunks.next().await {}
    })
    .await;
}

/// Refuses a state-changing request (anything but GET, HEAD and OPTIONS) whose
/// `Origin` names another origin, with 403 `other-site`, before any handler runs: a page
/// on another site, or on another port of the booth's own host, cannot act with the
/// operator's or the visitor's cookie (see [`crate::origin`]).
async fn origin_guard(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    use axum::response::IntoResponse as _;
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !crate::origin::same_origin(req.headers(), &state.config().server.public_url) {
        tracing::warn!(
            origin = ?req.headers().get(header::ORIGIN),
            path = req.uri().path(),
            "a request from another site was refused"
        );
        let refused = crate::error::AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            Code::OtherSite,
            "This booth only takes requests from its own pages.",
        );
        return closing(refused.into_response());
    }
    next.run(req).await
}

fn closing(mut response: axum::response::Response) -> axum::response::Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

pub fn router(state: AppState) -> Router {
    let upload_limit =
        usize::try_from(body_limit(&state, "/api/visits/x/photo")).unwrap_or(usize::MAX);
    let api = Router::new()
        .merge(rooms::routes())
        .merge(events::routes())
        .merge(showcase::routes())
        .merge(join::routes())
        .merge(visits::routes(upload_limit))
        .merge(admin::routes())
        .fallback(|| async { crate::error::AppError::not_found() })
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));

    let hsts = {
        let tls = &state.config().server.tls;
        (tls.enabled() && tls.hsts_max_age_secs > 0)
            .then(|| HeaderValue::from_str(&format!("max-age={}", tls.hsts_max_age_secs)).ok())
            .flatten()
    };
    let router = Router::new()
        .merge(pages::routes())
        .merge(files::routes())
        .merge(health::routes())
        .nest("/api", api)
        .fallback(|| async { crate::error::AppError::not_found() })
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body_guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            origin_guard,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .with_state(state);
    // Served over our own HTTPS: browsers keep to it (never for plain HTTP, where the
    // header means nothing, nor behind a proxy, whose own header counts).
    match hsts {
        Some(value) => router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            value,
        )),
        None => router,
    }
}
