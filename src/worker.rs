//! `articket worker`: our candle engine behind the AUTOMATIC1111 API subset, for a GPU
//! box that a booth's `[ai] backend = "a1111"` pool drives over the network.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct WorkerArgs {
    /// A Stable Diffusion model in the diffusers layout (docs/models.md).
    #[arg(long)]
    pub model_dir: PathBuf,
    /// Optional CLIP model (transformers layout) answering interrogate with "clip".
    #[arg(long)]
    pub clip_dir: Option<PathBuf>,
    /// Optional BLIP captioning model (transformers layout) answering "blip".
    #[arg(long)]
    pub blip_dir: Option<PathBuf>,
    /// Optional tiny autoencoder (TAESD, TAESDXL) instead of the full VAE: faster, a
    /// little less detail.
    #[arg(long)]
    pub tiny_vae: Option<PathBuf>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cuda:0")]
    pub device: String,
    /// f32, f16 or bf16 (default: f32 on the CPU, bf16 on a GPU).
    #[arg(long)]
    pub dtype: Option<String>,
    /// Where to listen. A1111's own port is 7860.
    #[arg(long, default_value = "0.0.0.0:7861")]
    pub bind: std::net::SocketAddr,
    /// Require HTTP basic auth, as A1111's --api-auth: user:password.
    #[arg(long)]
    pub api_auth: Option<String>,
    /// Paintings that may wait for the device; more get HTTP 503.
    #[arg(long, default_value_t = 16)]
    pub queue: usize,
    /// Paintings per UNet batch.
    #[arg(long, default_value_t = 8)]
    pub max_batch: usize,
    /// The folder `<lora:name:weight>` in a prompt finds `name.safetensors` in
    /// (diffusers or kohya LoRAs).
    #[arg(long, default_value = "loras")]
    pub loras: PathBuf,
    /// LoRA combinations kept fused in memory (each copies the weights it changes).
    #[arg(long, default_value_t = 2)]
    pub keep_fused: usize,
    /// On a CPU where bf16 is faster (AMX, or AMD's AVX-512 BF16), run the matrix
    /// products in bf16 with f32 sums (`--cpu-bf16 false` for f32).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub cpu_bf16: bool,
}

#[cfg(feature = "engine")]
pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    use std::sync::Arc;

    use anyhow::Context as _;
    use articket_engine::blip::BlipCaptioner;
    use articket_engine::caption::{Captioners, ClipCaptioner};
    use articket_engine::{worker, Engine, EngineService};

    let device = articket_engine::device(&args.device)?;
    if device.is_cpu() && articket_engine::bf16::enable(args.cpu_bf16) {
        println!(
            "  CPU matrix products in bf16 ({}; --cpu-bf16 false for f32)",
            articket_engine::bf16::Kernel::current().describe()
        );
    }
    let dtype = articket_engine::dtype(&device, args.dtype.as_deref())?;
    let started = std::time::Instant::now();
    let mut engine = Engine::load(&args.model_dir, &device, dtype, articket_engine::FLASH_ATTN)?;
    if let Some(tiny) = &args.tiny_vae {
        engine.use_tiny_vae(tiny)?;
    }
    engine.keep_fused(args.keep_fused);
    println!(
        "  model {} ({:?}) loaded on {} as {:?} in {:.1} s{}",
        engine.files.name(),
        engine.files.family,
        args.device,
        dtype,
        started.elapsed().as_secs_f64(),
        match &args.tiny_vae {
            Some(t) => format!(", tiny autoencoder {}", t.display()),
            None => String::new(),
        }
    );
    let captioners = Captioners {
        clip: args
            .clip_dir
            .as_deref()
            .map(|d| ClipCaptioner::load(d, &device))
            .transpose()?,
        blip: args
            .blip_dir
            .as_deref()
            .map(|d| BlipCaptioner::load(d, &device))
            .transpose()?,
    };
    let captioner: Option<Arc<dyn worker::Captioner>> =
        (!captioners.is_empty()).then(|| Arc::new(captioners) as Arc<dyn worker::Captioner>);
    let service = EngineService::start(
        engine,
        args.queue,
        args.max_batch,
        std::time::Duration::from_millis(50),
    );
    let loras = args.loras.is_dir().then(|| args.loras.clone());
    match &loras {
        Some(dir) => println!(
            "  LoRAs from {} (<lora:name:weight> in prompts)",
            dir.display()
        ),
        None => println!(
            "  no LoRA folder at {} (--loras DIR for <lora:name:weight>)",
            args.loras.display()
        ),
    }
    let app = worker::router(service, captioner, args.api_auth, loras);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("cannot listen on {}", args.bind))?;
        println!(
            "  worker listening on http://{} (A1111 API: /sdapi/v1/...)",
            listener.local_addr()?
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    })
}

#[cfg(not(feature = "engine"))]
pub fn run(_: WorkerArgs) -> anyhow::Result<()> {
    anyhow::bail!(
        "this build has no engine; build with `cargo build --release --features engine` \
         (or `--features cuda` for an NVIDIA GPU)"
    )
}
