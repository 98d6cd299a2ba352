//! `AppState`: everything a request needs, built once at launch and passed to the
//! router. No globals: two servers in one process (as in the tests) share nothing.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use articket_intake::IntakePool;
use articket_rooms::EventHub;
use articket_store::{Store, StoreError};
use articket_style::{BuiltinRenderer, Stylizer};
use articket_ticket::TicketRenderer;
use tokio::sync::{watch, Semaphore};

use crate::config::Config;
use crate::error::{AppError, AppResult};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: Arc<Store>,
    pub hub: EventHub,
    pub stylizer: Arc<dyn Stylizer>,
    pub tickets: TicketRenderer,
    /// Bounds CPU-heavy work (built-in painters, tickets) across all visits.
    pub cpu: Arc<Semaphore>,
    /// Decodes uploads: a fixed number of workers behind a bounded queue.
    pub intake: IntakePool,
    /// The origin phones reach us at, e.g. `http://192.168.0.12:8080`.
    pub base_url: String,
    /// Flips to true when the server shuts down, so sockets close promptly.
    closing: watch::Sender<bool>,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn build(config: Config, local_addr: SocketAddr) -> anyhow::Result<AppState> {
        let store = Store::open(&config.server.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot open the store in {}: {e}",
                config.server.data_dir.display()
            )
        })?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let or_cores = |n: usize| if n == 0 { cores } else { n };
        let cpu = Arc::new(Semaphore::new(or_cores(config.server.cpu_workers)));
        let intake = IntakePool::new(or_cores(config.upload.workers), config.upload.queue);
        let stylizer: Arc<dyn Stylizer> = Arc::new(BuiltinRenderer::new(
            cpu.clone(),
            config.painting.builtin.clone(),
        ));
        let base_url = crate::net::advertised_base_url(&config, local_addr);
        Ok(AppState(Arc::new(Inner {
            config,
            store: Arc::new(store),
            hub: EventHub::new(),
            stylizer,
            tickets: TicketRenderer::new(),
            cpu,
            intake,
            base_url,
            closing: watch::channel(false).0,
        })))
    }

    /// Runs a store call on a blocking thread.
    pub async fn db<T, F>(&self, f: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| AppError::internal("store task", e))?
            .map_err(AppError::from)
    }

    /// Runs CPU-heavy work on a blocking thread once a CPU permit is free.
    pub async fn cpu<T, F>(&self, f: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _permit = self
            .cpu
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| AppError::internal("cpu semaphore", e))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| AppError::internal("cpu task", e))
    }

    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once the server starts shutting down.
    pub async fn closed(&self) {
        let mut rx = self.closing.subscribe();
        let _ = rx.wait_for(|closing| *closing).await;
    }
}
