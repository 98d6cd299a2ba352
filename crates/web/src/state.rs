//! `AppState`: everything a request needs, built once at launch and passed to the
//! router. No globals: two servers in one process (as in the tests) share nothing.
//!
//! Its parts: the [`Studio`], which owns the visits' life (store, room events,
//! painting backends, tickets, the operator log); how visitors reach the booth
//! ([`Reach`]) and the upload limit; the operator's password, sessions and pause switch
//! ([`Operator`]); the intake pool that decodes uploads; the attract loop's samples.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use articket_intake::IntakePool;
use articket_studio::Studio;

use crate::admin::Operator;
use crate::error::{AppError, AppResult};
use crate::limits::RateLimit;
use crate::net::Reach;
use articket_config::Config;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    /// The visits' life: every state change of a visit goes through it.
    pub(crate) studio: Studio,
    pub(crate) reach: Reach,
    /// Photo uploads per client address (`[limits] uploads_per_minute`).
    pub(crate) uploads: RateLimit,
    /// The operator's password, sessions and pause switch.
    pub(crate) operator: Operator,
    /// Decodes uploads: a fixed number of workers behind a bounded queue.
    pub(crate) intake: IntakePool,
    /// The attract loop's sample paintings, rendered on first use.
    pub(crate) samples: crate::showcase::Samples,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub async fn build(config: Config, local_addr: SocketAddr) -> anyhow::Result<AppState> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let intake_workers = match config.upload.workers {
            0 => cores,
            n => n,
        };
        let matting = articket_studio::load_matter(&config)?.map(|m| -> articket_intake::Matting {
            Arc::new(move |photo| articket_studio::person_in(&m, photo))
        });
        let intake = IntakePool::new(intake_workers, config.upload.queue).with_matting(matting);
        let reach = Reach::new(&config, local_addr);
        let uploads = RateLimit::new(
            config.limits.uploads_per_minute,
            std::time::Duration::from_secs(60),
        );
        let operator = Operator::new(&config.admin);
        let studio = Studio::open(config, reach.base_url.clone()).await?;
        Ok(AppState(Arc::new(Inner {
            studio,
            reach,
            uploads,
            operator,
            intake,
            samples: Default::default(),
        })))
    }

    /// What paints, in words for the start-up banner (see `Backends::describe`).
    pub fn painters(&self) -> Vec<String> {
        self.studio.backends.describe()
    }

    /// The address phones are sent to (the QR code's), e.g. `https://booth.example.org`.
    pub fn base_url(&self) -> &str {
        &self.reach.base_url
    }

    /// The booth's configuration.
    pub fn config(&self) -> &Config {
        &self.studio.config
    }

    /// Runs a store call on a blocking thread.
    pub async fn db<T, F>(&self, f: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&articket_store::Store) -> Result<T, articket_store::StoreError> + Send + 'static,
    {
        Ok(self.studio.db(f).await?)
    }

    /// Runs CPU-heavy work on a blocking thread once a CPU permit is free.
    pub async fn cpu<T, F>(&self, f: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.studio.cpu(f).await.map_err(AppError::from)
    }

    pub fn close(&self) {
        self.studio.close();
    }

    /// Resolves once the server starts shutting down.
    pub async fn closed(&self) {
        self.studio.closed().await
    }
}
