//! The web server: the HTTP API, the rooms' WebSockets, the embedded kiosk and phone
//! pages, and the booth configuration. [`launch_with_listener`] is what `main` and the
//! integration tests both call.

pub mod admin;
pub mod config;
pub mod qr;

mod auth;
mod error;
mod events;
mod limits;
mod net;
mod print;
mod routes;
mod state;
mod studio;
mod views;

use std::future::Future;

pub use config::{Config, ConfigError};
pub use net::advertised_base_url;
pub use state::AppState;

/// The router over a built state. Tests may drive it with `oneshot`.
pub fn app(state: AppState) -> axum::Router {
    routes::router(state)
}

/// Serves the booth on `listener` until `shutdown` resolves. Opens the store, resumes
/// visits that a previous run left unfinished, then answers requests.
pub async fn launch_with_listener(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = AppState::build(config, listener.local_addr()?).await?;
    match studio::resume_unfinished(&state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!("resumed {n} unfinished visits"),
        Err(e) => tracing::error!("could not resume unfinished visits: {}", e.msg),
    }
    tokio::spawn(studio::sweep_forever(state.clone()));
    let closing = state.clone();
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        closing.close();
    })
    .await?;
    Ok(())
}
