//! `AppState`: everything a request needs, built once at launch and passed to the
//! router. No globals: two servers in one process (as in the tests) share nothing.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use articket_a1111::A1111Pool;
use articket_intake::IntakePool;
use articket_rooms::EventHub;
use articket_store::{Store, StoreError};
use articket_style::{BuiltinRenderer, Stylizer};
use articket_ticket::TicketRenderer;
use tokio::sync::{watch, Semaphore};

use crate::config::{AiBackend, Config, Fallback};
use crate::error::{AppError, AppResult};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: Arc<Store>,
    pub hub: EventHub,
    /// The configured backend.
    pub stylizer: Arc<dyn Stylizer>,
    /// What paints when the configured backend is unavailable (`ai.fallback`).
    pub fallback: Option<Arc<dyn Stylizer>>,
    /// The Stable Diffusion server pool, when that is the backend (for status pages).
    pub pool: Option<A1111Pool>,
    pub tickets: TicketRenderer,
    /// Photo uploads per client address (`[limits] uploads_per_minute`).
    pub upload_limit: crate::limits::RateLimit,
    /// `[server] trusted_proxies`: whose forwarded client addresses are believed.
    pub trusted_proxies: Vec<crate::config::Network>,
    /// The operator's password, sessions, pause switch and log.
    pub operator: crate::admin::Operator,
    /// The quiz's questions and texts (`[quiz] questions`, or the built-in ones).
    pub quiz: Arc<articket_quiz::Quiz>,
    /// Held per visit while it is closed (ticket rendered, status set), so the painters
    /// finishing and the quiz finishing cannot both close the same visit.
    pub finishing: VisitLocks,
    /// The painting tasks under way, by visit, so a deleted visit's painters stop.
    pub painting_tasks: PaintingTasks,
    /// The promo image and its content type, when `[ticket]` sets one.
    pub promo: Option<(Vec<u8>, &'static str)>,
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
    pub async fn build(config: Config, local_addr: SocketAddr) -> anyhow::Result<AppState> {
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
        let builtin: Arc<dyn Stylizer> = Arc::new(BuiltinRenderer::new(
            cpu.clone(),
            config.painting.builtin.clone(),
        ));
        let (stylizer, fallback, pool) = match config.ai.active_backend() {
            AiBackend::Builtin => (builtin, None, None),
            AiBackend::A1111 => {
                let pool = A1111Pool::start(config.ai.a1111.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot start the painting servers' pool: {e}"))?;
                let status = pool.status();
                for s in &status.servers {
                    match &s.last_error {
                        None => tracing::info!(server = %s.label, "painting server is answering"),
                        Some(e) => {
                            tracing::warn!(server = %s.label, "painting server is not answering yet: {e}")
                        }
                    }
                }
                let fallback = (config.ai.fallback == Fallback::Builtin).then_some(builtin);
                (
                    Arc::new(pool.clone()) as Arc<dyn Stylizer>,
                    fallback,
                    Some(pool),
                )
            }
            AiBackend::Local => {
                let local = local_backend(&config).await?;
                let fallback = (config.ai.fallback == Fallback::Builtin).then_some(builtin);
                (local, fallback, None)
            }
        };
        let base_url = crate::net::advertised_base_url(&config, local_addr);
        let mut design = config.ticket.design();
        if !config.ticket.logo.as_os_str().is_empty() {
            let logo = image::open(&config.ticket.logo).map_err(|e| {
                anyhow::anyhow!(
                    "ticket.logo: cannot read {}: {e}",
                    config.ticket.logo.display()
                )
            })?;
            design.logo = Some(Arc::new(logo.into_rgba8()));
        }
        if !config.ticket.template_dir.as_os_str().is_empty() {
            let path = config.ticket.template_dir.join("phone.svg");
            let svg = std::fs::read_to_string(&path).map_err(|e| {
                anyhow::anyhow!("ticket.template_dir: cannot read {}: {e}", path.display())
            })?;
            design.template = Some(Arc::new(svg));
            // The quiz ticket's template is optional.
            let quiz_path = config.ticket.template_dir.join("quiz.svg");
            if quiz_path.exists() {
                let svg = std::fs::read_to_string(&quiz_path).map_err(|e| {
                    anyhow::anyhow!(
                        "ticket.template_dir: cannot read {}: {e}",
                        quiz_path.display()
                    )
                })?;
                design.quiz_template = Some(Arc::new(svg));
            }
        }
        let tickets = TicketRenderer::new().with_design(design);
        if !config.ticket.template_dir.as_os_str().is_empty() {
            // Render the template once now, so a broken one stops the booth at start-up
            // rather than failing every visit's ticket.
            let sample = articket_ticket::TicketContent {
                name: "Articket".into(),
                date: "2026.01.01".into(),
                serial: Some(1),
                link: Some("http://booth.local/v/0".into()),
                paintings: Vec::new(),
                quiz: None,
            };
            tickets.phone_ticket_png(&sample).map_err(|e| {
                anyhow::anyhow!("ticket.template_dir: phone.svg does not render: {e}")
            })?;
            let slot = |p: articket_style::Painter| articket_ticket::QuizSlot {
                painter: p.id().into(),
                label_ko: p.name_ko().into(),
                label_en: p.name_en().into(),
                line_ko: "예시".into(),
                line_en: "Sample".into(),
            };
            let quiz_sample = articket_ticket::TicketContent {
                quiz: Some(articket_ticket::QuizPart {
                    code: "ENFP".into(),
                    painter: slot(articket_style::Painter::Lichtenstein),
                    good: slot(articket_style::Painter::VanGogh),
                    bad: slot(articket_style::Painter::Renoir),
                }),
                ..sample
            };
            tickets.phone_ticket_png(&quiz_sample).map_err(|e| {
                anyhow::anyhow!("ticket.template_dir: quiz.svg does not render: {e}")
            })?;
        }
        let promo = promo_image(&config, &tickets)?;
        let quiz = if config.quiz.questions.as_os_str().is_empty() {
            articket_quiz::Quiz::builtin()
        } else {
            let path = &config.quiz.questions;
            let text = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("quiz.questions: cannot read {}: {e}", path.display())
            })?;
            articket_quiz::Quiz::from_toml(&text)
                .map_err(|e| anyhow::anyhow!("quiz.questions: {}: {e}", path.display()))?
        };
        let upload_limit = crate::limits::RateLimit::new(
            config.limits.uploads_per_minute,
            std::time::Duration::from_secs(60),
        );
        Ok(AppState(Arc::new(Inner {
            trusted_proxies: config.server.trusted_networks(),
            operator: crate::admin::Operator::new(&config.admin),
            quiz: Arc::new(quiz),
            finishing: VisitLocks::default(),
            painting_tasks: PaintingTasks::default(),
            config,
            store: Arc::new(store),
            hub: EventHub::new(),
            stylizer,
            fallback,
            pool,
            tickets,
            promo,
            upload_limit,
            cpu,
            intake,
            base_url,
            closing: watch::channel(false).0,
        })))
    }

    /// The backend a new visit paints with: the configured one when it can take work,
    /// else the fallback (and the operator is told), else a 503 the visitor understands.
    pub fn stylizer_for_new_visit(&self) -> AppResult<Arc<dyn Stylizer>> {
        if self.stylizer.available() {
            return Ok(self.stylizer.clone());
        }
        if let Some(fallback) = &self.fallback {
            tracing::warn!(
                "no painting server is answering; this visit is painted by the {} renderer",
                fallback.backend()
            );
            self.operator.log.warn(format!(
                "No painting server is answering; a visit is painted by the {} renderer",
                fallback.backend()
            ));
            return Ok(fallback.clone());
        }
        self.operator
            .log
            .error("No painting server is answering; a visitor was turned away");
        Err(AppError::unavailable(
            "painters-offline",
            "The painting servers are offline right now. Please try again in a few minutes.",
            30,
        ))
    }

    /// The backend for painters tried again (after a restart or a "try again").
    pub fn stylizer_for_retry(&self) -> Arc<dyn Stylizer> {
        match &self.fallback {
            Some(f) if !self.stylizer.available() => f.clone(),
            _ => self.stylizer.clone(),
        }
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

/// Each visit's running painting tasks (a visit has one, or two when a "try again"
/// overlaps the end of the first).
#[derive(Default)]
pub struct PaintingTasks(
    std::sync::Mutex<std::collections::HashMap<String, Vec<tokio::task::AbortHandle>>>,
);

impl PaintingTasks {
    pub fn started(&self, visit_id: &str, task: tokio::task::AbortHandle) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(visit_id.to_owned()).or_default().push(task);
    }

    /// Called by the task as it ends: forgets the visit's finished tasks.
    pub fn finished(&self, visit_id: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tasks) = map.get_mut(visit_id) {
            // The caller is still running, so keep exactly the others that are.
            let current = tokio::task::try_id();
            tasks.retain(|t| !t.is_finished() && Some(t.id()) != current);
            if tasks.is_empty() {
                map.remove(visit_id);
            }
        }
    }

    /// Aborts the visit's tasks; true if any were running.
    pub fn abort(&self, visit_id: &str) -> bool {
        let tasks = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(visit_id)
            .unwrap_or_default();
        tasks.iter().for_each(|t| t.abort());
        !tasks.is_empty()
    }

    /// How many visits have painters at work.
    pub fn visits(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// One async lock per visit, made on demand and forgotten when nobody holds it.
#[derive(Default)]
pub struct VisitLocks(
    std::sync::Mutex<std::collections::HashMap<String, std::sync::Weak<tokio::sync::Mutex<()>>>>,
);

impl VisitLocks {
    /// The visit's lock (the same one for everyone who asks while it is in use).
    pub fn of(&self, visit_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = map.get(visit_id).and_then(std::sync::Weak::upgrade) {
            return lock;
        }
        map.retain(|_, weak| weak.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(visit_id.to_owned(), Arc::downgrade(&lock));
        lock
    }
}

/// Loads the model onto its device and starts the engine (`backend = "local"`).
#[cfg(feature = "engine")]
async fn local_backend(config: &Config) -> anyhow::Result<Arc<dyn Stylizer>> {
    use articket_engine::blip::BlipCaptioner;
    use articket_engine::caption::{Captioners, ClipCaptioner};
    use articket_engine::{backend::LocalBackend, worker::Captioner, Engine, EngineService};
    let l = config.ai.local.clone();
    let (engine, captioner) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let device = articket_engine::device(&l.device)?;
        let dtype = articket_engine::dtype(&device, Some(&l.dtype))?;
        let started = std::time::Instant::now();
        let engine = Engine::load(&l.model_dir, &device, dtype, articket_engine::FLASH_ATTN)?;
        tracing::info!(
            model = %engine.files.name(),
            device = %l.device,
            "Stable Diffusion model loaded in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let dir = |p: &std::path::Path| (!p.as_os_str().is_empty()).then(|| p.to_owned());
        let captioners = Captioners {
            clip: dir(&l.clip_dir)
                .map(|d| ClipCaptioner::load(&d, &device))
                .transpose()?,
            blip: dir(&l.blip_dir)
                .map(|d| BlipCaptioner::load(&d, &device))
                .transpose()?,
        };
        let captioner: Option<Arc<dyn Captioner>> =
            (!captioners.is_empty()).then(|| Arc::new(captioners) as Arc<dyn Captioner>);
        Ok((engine, captioner))
    })
    .await??;
    let l = &config.ai.local;
    let service = EngineService::start(
        engine,
        l.queue,
        l.max_batch,
        std::time::Duration::from_millis(l.batch_window_ms),
    );
    Ok(Arc::new(LocalBackend::new(
        service,
        config.ai.a1111.clone(),
        captioner,
    )))
}

#[cfg(not(feature = "engine"))]
async fn local_backend(_: &Config) -> anyhow::Result<Arc<dyn Stylizer>> {
    anyhow::bail!("this build has no local engine; build with --features engine")
}

/// Loads or renders the promo image named by `[ticket]`.
fn promo_image(
    config: &Config,
    tickets: &TicketRenderer,
) -> anyhow::Result<Option<(Vec<u8>, &'static str)>> {
    let t = &config.ticket;
    if !t.promo_image.as_os_str().is_empty() {
        let bytes = std::fs::read(&t.promo_image).map_err(|e| {
            anyhow::anyhow!(
                "ticket.promo_image: cannot read {}: {e}",
                t.promo_image.display()
            )
        })?;
        let kind = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png"
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            "image/jpeg"
        } else {
            anyhow::bail!(
                "ticket.promo_image: {} is not a PNG or JPEG file",
                t.promo_image.display()
            );
        };
        return Ok(Some((bytes, kind)));
    }
    if t.promo_text.trim().is_empty() && t.promo_handle.trim().is_empty() {
        return Ok(None);
    }
    // Lines may be real newlines or a written "\n" (handy in environment variables).
    let text: Vec<String> = t
        .promo_text
        .replace("\\n", "\n")
        .lines()
        .map(|l| articket_ticket::clean_name(l, 80))
        .collect();
    let text = text.join("\n");
    let png = tickets.promo_png(&text, &articket_ticket::clean_name(&t.promo_handle, 60))?;
    Ok(Some((png, "image/png")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_deleted_visits_painting_tasks_are_stopped_and_finished_ones_forgotten() {
        let tasks = PaintingTasks::default();
        let long = tokio::spawn(std::future::pending::<()>());
        tasks.started("a", long.abort_handle());
        let short = tokio::spawn(async {});
        tasks.started("b", short.abort_handle());
        assert_eq!(tasks.visits(), 2);
        short.await.unwrap();
        tasks.finished("b");
        assert_eq!(tasks.visits(), 1, "a finished task is forgotten");
        assert!(tasks.abort("a"));
        assert!(long.await.unwrap_err().is_cancelled());
        assert!(!tasks.abort("a"), "nothing left to stop");
        assert_eq!(tasks.visits(), 0);
    }

    #[tokio::test]
    async fn a_visit_has_one_lock_while_in_use_and_none_after() {
        let locks = VisitLocks::default();
        let a = locks.of("a");
        assert!(Arc::ptr_eq(&a, &locks.of("a")));
        assert!(!Arc::ptr_eq(&a, &locks.of("b")));
        let held = a.lock().await;
        assert!(locks.of("a").try_lock().is_err(), "the same lock, held");
        assert!(locks.of("b").try_lock().is_ok(), "another visit is free");
        drop(held);
        drop(a);
        locks.of("c");
        assert_eq!(
            locks.0.lock().unwrap().len(),
            1,
            "unused locks are forgotten"
        );
    }
}
