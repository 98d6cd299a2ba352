//! The [`Studio`] and what it owns. Its methods that change a visit are in
//! `visits.rs`; this file holds only the parts and the two ways work leaves the async
//! threads (the store, the CPU).

use std::ops::Deref;
use std::sync::Arc;

use articket_config::Config;
use articket_rooms::EventHub;
use articket_store::{Store, StoreError};
use articket_ticket::{Promo, TicketRenderer};
use tokio::sync::{watch, Semaphore};

use crate::backends::Backends;
use crate::error::{StudioError, StudioResult};
use crate::log::OpsLog;
use crate::running::Running;

/// The studio, shared by every request and task (cloning is cheap).
#[derive(Clone)]
pub struct Studio(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    /// Where phones reach the booth: the base of the ticket's link back.
    pub base_url: String,
    pub store: Arc<Store>,
    pub hub: EventHub,
    pub backends: Backends,
    /// The operator's log of what happened at the booth.
    pub log: OpsLog,
    /// The quiz's questions and texts (`[quiz] questions`, or the built-in ones).
    pub quiz: Arc<articket_quiz::Quiz>,
    pub tickets: Tickets,
    /// Bounds CPU-heavy work (built-in painters, tickets) across all visits.
    pub cpu: Arc<Semaphore>,
    pub(crate) running: Running,
    /// Paintings in progress as they emerge, in memory only.
    pub previews: crate::previews::Previews,
    /// Flips to true when the booth shuts down.
    closing: watch::Sender<bool>,
}

/// The ticket renderer with the operator's design, and the promo image if any.
pub struct Tickets {
    pub renderer: TicketRenderer,
    pub promo: Option<Promo>,
}

impl Deref for Studio {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Studio {
    /// Opens the store, starts the painting backends and checks the ticket design, so
    /// a broken setting stops the booth at start-up rather than failing every visit.
    pub async fn open(config: Config, base_url: String) -> anyhow::Result<Studio> {
        let store = Store::open(&config.server.data_dir).map_err(|e| match e {
            StoreError::DataDir { .. } | StoreError::InUse { .. } => anyhow::anyhow!("{e}"),
            e => anyhow::anyhow!(
                "cannot open the store in {}: {e}",
                config.server.data_dir.display()
            ),
        })?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let cpu_workers = match config.server.cpu_workers {
            0 => cores,
            n => n,
        };
        let cpu = Arc::new(Semaphore::new(cpu_workers));
        let backends = Backends::start(&config, cpu.clone()).await?;
        let tickets = load_tickets(&config)?;
        let quiz = articket_quiz::Quiz::load(&config.quiz.questions)
            .map_err(|e| anyhow::anyhow!("quiz.questions: {e}"))?;
        Ok(Studio(Arc::new(Inner {
            config,
            base_url,
            store: Arc::new(store),
            hub: EventHub::new(),
            backends,
            log: OpsLog::default(),
            quiz: Arc::new(quiz),
            tickets,
            cpu,
            running: Default::default(),
            previews: Default::default(),
            closing: watch::channel(false).0,
        })))
    }

    /// Runs a store call on a blocking thread.
    pub async fn db<T, F>(&self, f: F) -> StudioResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StudioError::internal("store task", e))?
            .map_err(StudioError::from)
    }

    /// Runs CPU-heavy work on a blocking thread once a CPU permit is free.
    pub async fn cpu<T, F>(&self, f: F) -> StudioResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _permit = self
            .cpu
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| StudioError::internal("cpu semaphore", e))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| StudioError::internal("cpu task", e))
    }

    /// How many visits have painters at work.
    pub fn visits_painting(&self) -> usize {
        self.running.tasks.visits()
    }

    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once the booth starts shutting down.
    pub async fn closed(&self) {
        let mut rx = self.closing.subscribe();
        let _ = rx.wait_for(|closing| *closing).await;
    }
}

/// The ticket renderer with `[ticket]`'s design and files, checked by rendering once.
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
