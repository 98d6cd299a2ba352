//! `AppState`: everything a request needs, built once at launch and passed to the
//! router. No globals: two servers in one process (as in the tests) share nothing.
//!
//! Its parts: the config; the store and the rooms' event hub; the painting backends
//! ([`Backends`]) and what is under way per visit ([`Running`]); the ticket renderer
//! with the operator's files ([`Tickets`]); how visitors reach the booth ([`Reach`])
//! and the upload limit; the operator ([`Operator`]); the quiz; the CPU workers
//! ([`Workers`]).

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use articket_intake::IntakePool;
use articket_rooms::EventHub;
use articket_store::{Store, StoreError};
use articket_ticket::{Promo, TicketRenderer};
use tokio::sync::{watch, Semaphore};

use crate::admin::Operator;
use crate::backends::Backends;
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::limits::RateLimit;
use crate::net::Reach;
use crate::running::Running;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub(crate) config: Config,
    pub(crate) store: Arc<Store>,
    pub(crate) hub: EventHub,
    pub(crate) backends: Backends,
    pub(crate) running: Running,
    pub(crate) tickets: Tickets,
    pub(crate) reach: Reach,
    /// Photo uploads per client address (`[limits] uploads_per_minute`).
    pub(crate) uploads: RateLimit,
    /// The operator's password, sessions, pause switch and log.
    pub(crate) operator: Operator,
    /// The quiz's questions and texts (`[quiz] questions`, or the built-in ones).
    pub(crate) quiz: Arc<articket_quiz::Quiz>,
    pub(crate) workers: Workers,
    /// The attract loop's sample paintings, rendered on first use.
    pub(crate) samples: crate::showcase::Samples,
    /// Flips to true when the server shuts down, so sockets close promptly.
    closing: watch::Sender<bool>,
}

/// The ticket renderer with the operator's design, and the promo image if any.
pub struct Tickets {
    pub renderer: TicketRenderer,
    pub promo: Option<Promo>,
}

/// The CPU-bound work's limits.
pub struct Workers {
    /// Bounds CPU-heavy work (built-in painters, tickets) across all visits.
    pub cpu: Arc<Semaphore>,
    /// Decodes uploads: a fixed number of workers behind a bounded queue.
    pub intake: IntakePool,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub async fn build(config: Config, local_addr: SocketAddr) -> anyhow::Result<AppState> {
        let store = Store::open(&config.server.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot open the store in {}: {e}",
                config.server.data_dir.display()
            )
        })?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let or_cores = |n: usize| if n == 0 { cores } else { n };
        let workers = Workers {
            cpu: Arc::new(Semaphore::new(or_cores(config.server.cpu_workers))),
            intake: IntakePool::new(or_cores(config.upload.workers), config.upload.queue),
        };
        let backends = Backends::start(&config, workers.cpu.clone()).await?;
        let tickets = load_tickets(&config)?;
        let quiz = articket_quiz::Quiz::load(&config.quiz.questions)
            .map_err(|e| anyhow::anyhow!("quiz.questions: {e}"))?;
        Ok(AppState(Arc::new(Inner {
            reach: Reach::new(&config, local_addr),
            uploads: RateLimit::new(
                config.limits.uploads_per_minute,
                std::time::Duration::from_secs(60),
            ),
            operator: Operator::new(&config.admin),
            quiz: Arc::new(quiz),
            running: Running::default(),
            config,
            store: Arc::new(store),
            hub: EventHub::new(),
            backends,
            tickets,
            workers,
            samples: Default::default(),
            closing: watch::channel(false).0,
        })))
    }

    /// The backend a new visit paints with (see [`Backends::for_new_visit`]).
    pub fn stylizer_for_new_visit(&self) -> AppResult<Arc<dyn articket_style::Stylizer>> {
        self.backends.for_new_visit(&self.operator.log)
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
            .workers
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

/// The ticket renderer with `[ticket]`'s design and files, checked by rendering once,
/// so a broken template stops the booth at start-up rather than failing every ticket.
fn load_tickets(config: &Config) -> anyhow::Result<Tickets> {
    let t = &config.ticket;
    let key_error = |(key, message): (&str, String)| anyhow::anyhow!("ticket.{key}: {message}");
    let mut design = t.design();
    articket_ticket::load_design_files(&mut design, &t.logo, &t.template_dir).map_err(key_error)?;
    let renderer = TicketRenderer::new().with_design(design);
    articket_ticket::check_templates(&renderer)
        .map_err(|e| anyhow::anyhow!("ticket.template_dir: {e}"))?;
    let promo = Promo::load(&renderer, &t.promo_image, &t.promo_text, &t.promo_handle)
        .map_err(key_error)?;
    Ok(Tickets { renderer, promo })
}
