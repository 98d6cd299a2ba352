//! The painting backends a booth is configured with: the one that paints (built-in
//! renderer, a Stable Diffusion server pool, or the local engine), the fallback used
//! when it cannot take work, and what the status pages may say about them.

use std::sync::Arc;

use articket_a1111::{A1111Pool, PoolStatus};
use articket_comfyui::ComfyPool;
use articket_style::{BuiltinRenderer, Stylizer};
use tokio::sync::Semaphore;

use articket_config::{AiBackend, Config, Fallback};

use crate::error::{StudioError, StudioResult};

pub struct Backends {
    /// The configured backend.
    active: Arc<dyn Stylizer>,
    /// What paints when the configured backend is unavailable (`ai.fallback`).
    fallback: Option<Arc<dyn Stylizer>>,
    /// The Stable Diffusion server pool, when that is the backend (for status pages).
    pool: Option<ServerPool>,
}

/// A pool of remote servers, of either API.
pub enum ServerPool {
    A1111(A1111Pool),
    ComfyUi(ComfyPool),
}

impl ServerPool {
    pub fn status(&self) -> PoolStatus {
        match self {
            ServerPool::A1111(p) => p.status(),
            ServerPool::ComfyUi(p) => p.status(),
        }
    }

    fn log_health(&self) {
        for s in &self.status().servers {
            match &s.last_error {
                None => tracing::info!(server = %s.label, "painting server is answering"),
                Some(e) => {
                    tracing::warn!(server = %s.label, "painting server is not answering yet: {e}")
                }
            }
        }
    }
}

impl Backends {
    /// Starts the configured backend: probes the servers or loads the model.
    pub async fn start(config: &Config, cpu: Arc<Semaphore>) -> anyhow::Result<Backends> {
        let builtin: Arc<dyn Stylizer> = Arc::new(
            BuiltinRenderer::new(cpu, config.painting.builtin.clone())
                .with_backdrops(crate::matting::backdrops(config)?),
        );
        let fallback = (config.ai.fallback == Fallback::Builtin).then(|| builtin.clone());
        Ok(match config.ai.active_backend() {
            AiBackend::Builtin => Backends {
                active: builtin,
                fallback: None,
                pool: None,
            },
            AiBackend::A1111 => {
                let pool = A1111Pool::start(config.ai.sd.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot start the painting servers' pool: {e}"))?;
                let active: Arc<dyn Stylizer> = Arc::new(pool.clone());
                let pool = ServerPool::A1111(pool);
                pool.log_health();
                Backends {
                    active,
                    fallback,
                    pool: Some(pool),
                }
            }
            AiBackend::ComfyUi => {
                let pool = ComfyPool::start(config.ai.sd.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot start the ComfyUI servers' pool: {e}"))?;
                let active: Arc<dyn Stylizer> = Arc::new(pool.clone());
                let pool = ServerPool::ComfyUi(pool);
                pool.log_health();
                Backends {
                    active,
                    fallback,
                    pool: Some(pool),
                }
            }
            AiBackend::Local => Backends {
                active: local_backend(config).await?,
                fallback,
                pool: None,
            },
        })
    }

    /// The backend a new visit paints with: the configured one when it can take work,
    /// else the fallback, else [`StudioError::PaintersOffline`]. (The operator hears of
    /// an outage once, from the outage watcher, not once per visitor.)
    pub fn for_new_visit(&self) -> StudioResult<Arc<dyn Stylizer>> {
        if self.active.available() {
            return Ok(self.active.clone());
        }
        if let Some(fallback) = &self.fallback {
            tracing::info!(
                "no painting server is answering; this visit is painted by the {} renderer",
                fallback.backend()
            );
            return Ok(fallback.clone());
        }
        tracing::warn!("no painting server is answering; a visitor was turned away");
        Err(StudioError::PaintersOffline)
    }

    /// Why the configured backend cannot take work now, if it cannot: each server's
    /// last error.
    pub fn outage(&self) -> Option<String> {
        if self.active.available() {
            return None;
        }
        let servers: Vec<String> = self
            .pool
            .as_ref()
            .map(|p| p.status().servers)
            .unwrap_or_default()
            .into_iter()
            .map(|s| match s.last_error {
                Some(e) => format!("{}: {e}", s.label),
                None => format!("{}: busy", s.label),
            })
            .collect();
        Some(if servers.is_empty() {
            format!("the {} painters cannot take work", self.active.backend())
        } else {
            format!("no painting server answers ({})", servers.join("; "))
        })
    }

    /// Whether new visitors are turned away now: nothing answers and nothing falls back.
    pub fn turning_away(&self) -> bool {
        !self.active.available() && self.fallback.is_none()
    }

    /// The configured backend itself.
    pub fn active(&self) -> &Arc<dyn Stylizer> {
        &self.active
    }

    /// The backend that paints while it can ("builtin", "a1111", "comfyui", "local").
    pub fn active_name(&self) -> &'static str {
        self.active.backend()
    }

    /// What paints, in words for the start-up banner: the backend, what falls back,
    /// and each server's state now.
    pub fn describe(&self) -> Vec<String> {
        let active = match self.active.backend() {
            "builtin" => "the built-in painters".to_owned(),
            "local" => "our own engine, in this process".to_owned(),
            name => format!("{name} servers"),
        };
        let fallback = match self.fallback_name() {
            Some(f) => format!("; when no server answers, the {f} painters"),
            None if self.pool.is_some() => {
                "; when no server answers, kiosks show the painters resting".to_owned()
            }
            None => String::new(),
        };
        let mut lines = vec![format!("{active}{fallback}")];
        if let Some(pool) = &self.pool {
            for s in pool.status().servers {
                lines.push(match s.last_error {
                    None => format!("  {} ({}): answering", s.label, s.url),
                    Some(e) => format!("  {} ({}): NOT ANSWERING: {e}", s.label, s.url),
                });
            }
        }
        lines
    }

    /// The fallback's name, if there is one.
    pub fn fallback_name(&self) -> Option<&'static str> {
        self.fallback.as_ref().map(|f| f.backend())
    }

    /// The backend for painters tried again (after a restart or a "try again").
    pub fn for_retry(&self) -> Arc<dyn Stylizer> {
        self.for_try(&self.active)
    }

    /// The backend one try of a painter goes to: `primary` while it can take work, the
    /// fallback (if any) when every server is down.
    pub fn for_try(&self, primary: &Arc<dyn Stylizer>) -> Arc<dyn Stylizer> {
        match &self.fallback {
            Some(f) if !primary.available() => f.clone(),
            _ => primary.clone(),
        }
    }

    /// The server pool, when the booth paints with one.
    pub fn pool(&self) -> Option<&ServerPool> {
        self.pool.as_ref()
    }

    /// The backend as the status pages show it: labels and counts only, so server URLs
    /// and errors stay in the operator's log.
    pub fn status_json(&self) -> serde_json::Value {
        match &self.pool {
            Some(pool) => {
                let status = pool.status();
                serde_json::json!({
                    "backend": self.active.backend(),
                    "servers": status.servers.iter().map(|s| serde_json::json!({
                        "label": s.label,
                        "healthy": s.healthy,
                        "in_flight": s.in_flight,
                    })).collect::<Vec<_>>(),
                    "queued": status.queued,
                    "visits_waiting": status.visits_waiting,
                    "available": self.active.available(),
                })
            }
            None => serde_json::json!({
                "backend": self.active.backend(),
                "available": self.active.available(),
            }),
        }
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
        if device.is_cpu() {
            let bf16 = articket_engine::bf16::enable(l.cpu_bf16);
            let kernel = articket_engine::bf16::Kernel::current().describe();
            tracing::info!(
                "CPU matrix products in {}",
                match (bf16, l.cpu_bf16) {
                    (true, _) => format!("bf16 ({kernel}; [ai.local] cpu_bf16 = false for f32)"),
                    (false, true) => {
                        "f32 (bf16 pays only on AMX or on an AMD processor with AVX-512 BF16)"
                            .to_owned()
                    }
                    (false, false) => "f32 ([ai.local] cpu_bf16 = false)".to_owned(),
                }
            );
        }
        let started = std::time::Instant::now();
        let mut engine = Engine::load(&l.model_dir, &device, dtype, articket_engine::FLASH_ATTN)?;
        let dir = |p: &std::path::Path| (!p.as_os_str().is_empty()).then(|| p.to_owned());
        if let Some(tiny) = dir(&l.tiny_vae) {
            engine.use_tiny_vae(&tiny)?;
        }
        // Each painter's LoRAs fused now, so a file that does not fit stops the start
        // (naming the file and the first layer that matches nothing), and no visitor
        // waits for a fusion.
        let mut sets: Vec<_> = Vec::new();
        for p in articket_style::Painter::ALL {
            let set = loras_of(&l, p);
            if !set.is_empty() && !sets.contains(&set) {
                sets.push(set);
            }
        }
        engine.keep_fused(sets.len().max(1));
        for set in &sets {
            engine.with_loras(set)?;
        }
        tracing::info!(
            model = %engine.files.name(),
            device = %l.device,
            tiny_vae = %l.tiny_vae.display(),
            "Stable Diffusion model loaded in {:.1} s",
            started.elapsed().as_secs_f64()
        );
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
    let mut backend = LocalBackend::new(service, config.ai.sd.clone(), captioner);
    for p in articket_style::Painter::ALL {
        backend.set_loras(p, loras_of(l, p));
    }
    let backend = Arc::new(backend);
    let warm = backend.clone();
    tokio::spawn(async move { warm.warm_up().await });
    Ok(backend)
}

/// `[[ai.local.lora]]` and `[[ai.local.<painter>.lora]]` as the engine takes them.
#[cfg(feature = "engine")]
fn loras_of(
    l: &articket_config::LocalSettings,
    painter: articket_style::Painter,
) -> Vec<articket_engine::LoraRef> {
    l.loras_for(painter)
        .into_iter()
        .map(|e| articket_engine::LoraRef {
            path: e.file,
            weight: e.weight,
        })
        .collect()
}

#[cfg(not(feature = "engine"))]
async fn local_backend(_: &Config) -> anyhow::Result<Arc<dyn Stylizer>> {
    anyhow::bail!("this build has no local engine; build with --features engine")
}
