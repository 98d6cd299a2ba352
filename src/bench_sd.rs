//! `articket bench sd`: the candle engine at full size with random weights (timing needs
//! no trained weights), or a model directory given with `--model`: 4 painters at 512²,
//! 20 steps at strength 0.6, batched through the UNet against one by one, with images/s
//! and peak GPU memory. With `--anchor PYTHON` (a Python with diffusers and PyTorch) and
//! `--model`, the same jobs run through diffusers on the same device in the same run,
//! and the ratio is printed. Record the figures in docs/benchmarks.md.

#[derive(clap::Args)]
pub struct SdArgs {
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cuda:0")]
    pub device: String,
    /// f32, f16 or bf16 (default: f32 on the CPU, bf16 on a GPU).
    #[arg(long)]
    pub dtype: Option<String>,
    /// sd15, sdxl-turbo or all.
    #[arg(long, default_value = "all")]
    pub arch: String,
    /// The painting's width and height, in pixels.
    #[arg(long, default_value_t = 512)]
    pub size: usize,
    /// Sampler steps (img2img runs about steps × strength of them).
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// img2img denoising strength, 0 to 1.
    #[arg(long, default_value_t = 0.6)]
    pub strength: f64,
    /// Classifier-free guidance; 1 or less runs no unconditional pass (few-step models
    /// such as SD-Turbo run at 0 or 1).
    #[arg(long, default_value_t = 7.0)]
    pub cfg: f64,
    /// A tiny autoencoder (TAESD, TAESDXL) to encode and decode with, in both engines.
    #[arg(long)]
    pub tiny_vae: Option<std::path::PathBuf>,
    /// A LoRA file to fuse into `--model` (weight 1): the fusion is timed, and the four
    /// painters one by one again with it, to show it costs nothing per step.
    #[arg(long, requires = "model")]
    pub lora: Option<std::path::PathBuf>,
    /// Timed rounds; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// On the CPU, run the convolutions (the UNet's and the tiny autoencoder's) in
    /// bf16 where the processor has AVX-512 BF16.
    #[arg(long)]
    pub cpu_bf16: bool,
    /// With `--cpu-bf16`, keep to the AVX-512 kernel on a processor with AMX tiles (to
    /// compare the two).
    #[arg(long, requires = "cpu_bf16")]
    pub no_amx: bool,
    /// Use the tiny test model instead, at most 64 px (checks the command on a machine
    /// without a GPU; its times mean nothing).
    #[arg(long)]
    pub tiny: bool,
    /// A diffusers model directory to time instead of the random full-size models.
    #[arg(long)]
    pub model: Option<std::path::PathBuf>,
    /// DDIM, Euler a or DPM++ 2M Karras.
    #[arg(long, default_value = "DPM++ 2M Karras")]
    pub sampler: String,
    /// A Python with diffusers and PyTorch: time the same jobs through diffusers
    /// (bench/sd_anchor.py) on the same device, as the anchor. Needs `--model`.
    #[arg(long)]
    pub anchor: Option<String>,
    /// A Python with openvino, diffusers and PyTorch: time the four paintings one by
    /// one through OpenVINO on the CPU as FastSD CPU runs them (bench/openvino_anchor.py;
    /// needs `--model` and `--tiny-vae`), at OpenVINO's default precision and in f32.
    #[arg(long, requires_all = ["model", "tiny_vae"])]
    pub openvino: Option<String>,
}

#[cfg(feature = "engine")]
pub fn run(a: &SdArgs) -> anyhow::Result<()> {
    use std::time::Instant;

    use articket_engine::{Arch, Engine, Img2Img, Sampler};

    let device = articket_engine::device(&a.device)?;
    let dtype = articket_engine::dtype(&device, a.dtype.as_deref())?;
    let archs: Vec<Arch> = match a.arch.as_str() {
        "sd15" => vec![Arch::Sd15],
        "sdxl-turbo" => vec![Arch::SdxlTurbo],
        "all" => vec![Arch::Sd15, Arch::SdxlTurbo],
        other => anyhow::bail!("unknown --arch {other}; use sd15, sdxl-turbo or all"),
    };
    let gpu = gpu_name();
    println!(
        "device {} ({}), {:?}, {} steps at strength {}, cfg {}, {}, {} rounds",
        a.device,
        gpu,
        dtype,
        a.steps,
        a.strength,
        a.cfg,
        match &a.tiny_vae {
            Some(t) => format!("tiny autoencoder {}", t.display()),
            None => "full VAE".to_owned(),
        },
        a.rounds
    );
    let memory = MemoryWatch::start(!device.is_cpu());
    if a.cpu_bf16 {
        articket_engine::bf16::allow_amx(!a.no_amx);
        let on = articket_engine::bf16::enable(true);
        println!(
            "products in bf16: {}",
            if on {
                format!("yes, on {:?}", articket_engine::bf16::Kernel::current())
            } else {
                "no (bf16 pays only on AMX or on an AMD processor with AVX-512 BF16)".to_owned()
            }
        );
    }
    let sampler = Sampler::from_a1111(&a.sampler)
        .ok_or_else(|| anyhow::anyhow!("unknown --sampler {:?}", a.sampler))?;
    if a.anchor.is_some() && a.model.is_none() {
        anyhow::bail!("--anchor needs --model: diffusers cannot build the random models");
    }
    let tiny_dir = tempfile::tempdir()?;
    let one = a.tiny || a.model.is_some();
    for arch in if one { vec![Arch::Sd15] } else { archs } {
        let started = Instant::now();
        let mut engine = if let Some(dir) = &a.model {
            Engine::load(dir, &device, dtype, articket_engine::FLASH_ATTN)?
        } else if a.tiny {
            articket_engine::tiny::write_tiny_sd(tiny_dir.path())?;
            Engine::load(tiny_dir.path(), &device, dtype, articket_engine::FLASH_ATTN)?
        } else {
            Engine::random(arch, &device, dtype, articket_engine::FLASH_ATTN)?
        };
        if let Some(tiny) = &a.tiny_vae {
            engine.use_tiny_vae(tiny)?;
        }
        let m = engine.size_multiple();
        // The tiny VAE only halves the picture, so its attention runs over 16 times as
        // many positions as a real model's: keep it small.
        let wanted = if a.tiny { a.size.min(64) } else { a.size };
        let size = (wanted / m).max(1) * m;
        let name = if let Some(dir) = &a.model {
            dir.display().to_string()
        } else if a.tiny {
            "tiny".to_owned()
        } else {
            format!("{arch:?}")
        };
        println!(
            "\n{name}: built in {:.1} s, {size}x{size}",
            started.elapsed().as_secs_f64()
        );
        let photo = articket_style::samples::portrait(
            size as u32,
            size as u32,
            articket_style::samples::LOOKS[0],
        );
        let jobs: Vec<Img2Img> = ["cubist", "impressionist", "post-impressionist", "pop art"]
            .iter()
            .enumerate()
            .map(|(i, style)| Img2Img {
                image: photo.clone(),
                prompt: format!("a {style} portrait of a person"),
                negative_prompt: "photo, blurry".into(),
                steps: a.steps,
                strength: a.strength,
                cfg_scale: a.cfg,
                seed: i as u64,
                sampler,
                width: size,
                height: size,
                loras: Vec::new(),
                change: None,
            })
            .collect();
        // Warm-up: kernels, allocator, caches.
        engine.img2img(&jobs[..1], &mut |_, _| {})?;
        let (mut batched, mut sequential) = (Vec::new(), Vec::new());
        for _ in 0..a.rounds.max(1) {
            let t = Instant::now();
            engine.img2img(&jobs, &mut |_, _| {})?;
            batched.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            for j in &jobs {
                engine.img2img(std::slice::from_ref(j), &mut |_, _| {})?;
            }
            sequential.push(t.elapsed().as_secs_f64());
        }
        let (b, s) = (median(&mut batched), median(&mut sequential));
        println!(
            "  4 painters batched:     {:8.3} s  {:6.2} images/s",
            b,
            4.0 / b
        );
        println!(
            "  4 painters one by one:  {:8.3} s  {:6.2} images/s",
            s,
            4.0 / s
        );
        println!("  batched is {:.2}x faster", s / b);
        let (stages, best) = stage_times(&engine, &jobs[0], size, a.rounds.max(5))?;
        println!(
            "  one painting's stages:  text {:.3} s, encode {:.3} s, one UNet step {:.3} s, decode {:.3} s",
            stages[0], stages[1], stages[2], stages[3]
        );
        println!(
            "  the fastest of {} rounds: text {:.3} s, encode {:.3} s, one UNet step {:.3} s, decode {:.3} s",
            a.rounds.max(5),
            best[0],
            best[1],
            best[2],
            best[3]
        );
        if let Some(file) = &a.lora {
            let lora = vec![articket_engine::LoraRef {
                path: file.clone(),
                weight: 1.0,
            }];
            let t = Instant::now();
            engine.with_loras(&lora)?;
            let fuse = t.elapsed().as_secs_f64();
            let with: Vec<Img2Img> = jobs
                .iter()
                .map(|j| Img2Img {
                    loras: lora.clone(),
                    ..j.clone()
                })
                .collect();
            let mut timed = Vec::new();
            for _ in 0..a.rounds.max(1) {
                let t = Instant::now();
                for j in &with {
                    engine.img2img(std::slice::from_ref(j), &mut |_, _| {})?;
                }
                timed.push(t.elapsed().as_secs_f64());
            }
            let l = median(&mut timed);
            println!("  LoRA {} fused in {fuse:.2} s", file.display());
            println!(
                "  4 painters with it:     {l:8.3} s  ({:.2}x without)",
                l / s
            );
        }
        if let (Some(python), Some(dir)) = (&a.anchor, &a.model) {
            let (one_d, four_d) = diffusers_anchor(python, dir, a, size, &device, dtype)?;
            let one_ours = s / 4.0;
            println!("  diffusers, 1 painting:  {one_d:8.3} s   ours {one_ours:8.3} s   ours/diffusers {:.2}x", one_ours / one_d);
            println!(
                "  diffusers, 4 batched:   {four_d:8.3} s   ours {b:8.3} s   ours/diffusers {:.2}x",
                b / four_d
            );
        }
        if let (Some(python), Some(dir), Some(tiny)) = (&a.openvino, &a.model, &a.tiny_vae) {
            for precision in ["", "f32"] {
                let (four, label, theirs) = openvino_anchor(python, dir, tiny, a, size, precision)?;
                println!(
                    "  OpenVINO ({label}), 4 one by one: {four:8.3} s   ours {s:8.3} s   ours/OpenVINO {:.2}x",
                    s / four
                );
                for (i, stage) in ["text", "encode", "one UNet step", "decode"]
                    .iter()
                    .enumerate()
                {
                    println!(
                        "    {stage:14} OpenVINO {:.3} s   ours {:.3} s   {:.2}x",
                        theirs[i],
                        stages[i],
                        stages[i] / theirs[i]
                    );
                }
            }
        }
        if arch == Arch::Sd15 && !a.tiny && !device.is_cpu() {
            println!(
                "  target: 4 painters < 1.0 s on one H100: {}",
                if b < 1.0 { "PASS" } else { "FAIL" }
            );
        }
    }
    if let Some((base, peak)) = memory.stop() {
        println!(
            "\npeak GPU memory: {peak} MiB (before the benchmark: {base} MiB; from nvidia-smi)"
        );
    }
    Ok(())
}

/// `articket bench gemm`: the UNet's products at SD size on one core, f32 against bf16.
#[cfg(feature = "engine")]
pub fn gemm(rounds: usize, tiny_vae_only: bool) -> anyhow::Result<()> {
    use articket_engine::bf16::{available, Bf16Weights, Kernel};
    use articket_engine::conv::matmul_f32;
    use std::time::Instant;
    if !available() {
        anyhow::bail!("this processor has no AVX-512 BF16: nothing to compare");
    }
    if tiny_vae_only {
        return tiny_vae(rounds);
    }
    // (what, m, k, n): C (m×n) = A (m×k, the weights) · B (k×n).
    let shapes = [
        (
            "3x3 conv, 320 channels, a tile of 1024 pixels",
            320,
            320 * 9,
            1024,
        ),
        (
            "attention projection 320x320 over 4096 tokens",
            320,
            320,
            4096,
        ),
        ("feed-forward 320 -> 2560 over 4096 tokens", 2560, 320, 4096),
        ("3x3 conv, 1280 channels at 8x8", 1280, 1280 * 9, 64),
    ];
    println!("one core, median of {rounds} rounds");
    for (what, m, k, n) in shapes {
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i % 97) as f32 - 48.0) / 97.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i % 89) as f32 - 44.0) / 89.0)
            .collect();
        let mut c = vec![0f32; m * n];
        let packed = Bf16Weights::pack_for(Kernel::Avx512, &a, m, k, 1.0);
        let time = |f: &mut dyn FnMut()| {
            f();
            let mut t: Vec<f64> = (0..rounds.max(1))
                .map(|_| {
                    let s = Instant::now();
                    f();
                    s.elapsed().as_secs_f64()
                })
                .collect();
            median(&mut t)
        };
        let f32_s = time(&mut || matmul_f32(&a, m, k, &b, n, &mut c));
        let bf_s = time(&mut || packed.matmul(&b, n, n, &mut c, n));
        let gflop = 2.0 * (m * k * n) as f64 / 1e9;
        print!(
            "  {what}: f32 {:.1} GFLOP/s, bf16 {:.1} GFLOP/s ({:.2}x the time)",
            gflop / f32_s,
            gflop / bf_s,
            bf_s / f32_s
        );
        if articket_engine::amx::available() {
            let tiles = Bf16Weights::pack_for(Kernel::Amx, &a, m, k, 1.0);
            let amx_s = time(&mut || tiles.matmul(&b, n, n, &mut c, n));
            print!(
                ", AMX {:.1} GFLOP/s ({:.2}x the time)",
                gflop / amx_s,
                amx_s / f32_s
            );
        }
        println!();
    }
    convolutions(rounds)
}

/// bf16 on, and freed blocks reused rather than mapped afresh, as the pipeline sets them.
#[cfg(feature = "engine")]
fn as_the_pipeline() {
    articket_engine::bf16::enable(true);
    articket_engine::cpu::keep_freed_memory();
}

/// The convolutions as the models run them (all threads, gather and packing included):
/// each UNet level's 3×3 convolution and TAESD's at full resolution.
#[cfg(feature = "engine")]
fn convolutions(rounds: usize) -> anyhow::Result<()> {
    use articket_engine::candle_core::{DType, Device, Module, Tensor};
    use articket_engine::conv::Conv2d;
    let dev = Device::Cpu;
    as_the_pipeline();
    println!(
        "\nconvolutions in the models, {} threads, bf16 ({:?}), median of {rounds} rounds",
        rayon::current_num_threads(),
        articket_engine::bf16::Kernel::current()
    );
    let shapes = [
        ("UNet 320 -> 320 at 64x64", 320, 320, 64),
        ("UNet 640 -> 640 at 32x32", 640, 640, 32),
        ("UNet 1280 -> 1280 at 16x16", 1280, 1280, 16),
        ("UNet 1280 -> 1280 at 8x8", 1280, 1280, 8),
        ("UNet 2560 -> 1280 at 8x8", 2560, 1280, 8),
        ("TAESD 64 -> 64 at 512x512", 64, 64, 512),
        ("TAESD 64 -> 64 at 128x128", 64, 64, 128),
    ];
    for (what, c, o, size) in shapes {
        let vb = articket_engine::candle_nn::VarBuilder::zeros(DType::F32, &dev);
        let conv = Conv2d::new(vb, c, o, 3, 1, 1)?;
        let x = Tensor::randn(0f32, 1.0, (1, c, size, size), &dev)?;
        let (secs, _) = timed(rounds, &|| conv.forward(&x))?;
        let gflop = 2.0 * (c * 9 * o * size * size) as f64 / 1e9;
        println!(
            "  {what}: {:.1} ms, {:.1} GFLOP/s",
            secs * 1e3,
            gflop / secs
        );
    }
    // The UNet's linear layers (SD 2.1 shapes at levels 0, 1 and 2) and its
    // self-attention at 64×64 and 32×32, as the transformer blocks run them. The best
    // round too: on a shared machine it shows what the code can do.
    println!(
        "\nthe UNet's linear layers and attention, {} threads, bf16, median (best) of {rounds} rounds",
        rayon::current_num_threads()
    );
    let report = |what: &str,
                  gflop: f64,
                  run: &dyn Fn() -> articket_engine::candle_core::Result<Tensor>|
     -> anyhow::Result<()> {
        let (secs, best) = timed(rounds, run)?;
        println!(
            "  {what}: {:.2} ms, {:.1} GFLOP/s ({:.1})",
            secs * 1e3,
            gflop / secs,
            gflop / best
        );
        Ok(())
    };
    let layers = [
        ("projection 320 -> 320, 4096 tokens", 4096, 320, 320),
        ("feed-forward 320 -> 2560, 4096 tokens", 4096, 320, 2560),
        ("feed-forward 1280 -> 320, 4096 tokens", 4096, 1280, 320),
        ("feed-forward 640 -> 5120, 1024 tokens", 1024, 640, 5120),
        ("feed-forward 2560 -> 640, 1024 tokens", 1024, 2560, 640),
        ("feed-forward 1280 -> 10240, 256 tokens", 256, 1280, 10240),
        ("feed-forward 5120 -> 1280, 256 tokens", 256, 5120, 1280),
    ];
    for (what, tokens, k, n) in layers {
        let w = Tensor::randn(0f32, 0.05, (n, k), &dev)?;
        let b = Tensor::randn(0f32, 0.05, n, &dev)?;
        let layer = articket_engine::linear::Linear::from(articket_engine::candle_nn::Linear::new(
            w,
            Some(b),
        ));
        let x = Tensor::randn(0f32, 1.0, (1, tokens, k), &dev)?;
        report(what, 2.0 * (tokens * k * n) as f64 / 1e9, &|| {
            layer.forward(&x)
        })?;
    }
    // The feed-forward's first layer with its gate (GEGLU), as the blocks run it.
    let gated = [
        ("GEGLU 320 -> 2 x 1280, 4096 tokens", 4096, 320),
        ("GEGLU 640 -> 2 x 2560, 1024 tokens", 1024, 640),
        ("GEGLU 1280 -> 2 x 5120, 256 tokens", 256, 1280),
    ];
    for (what, tokens, c) in gated {
        let w = Tensor::randn(0f32, 0.05, (8 * c, c), &dev)?;
        let b = Tensor::randn(0f32, 0.05, 8 * c, &dev)?;
        let layer = articket_engine::linear::Geglu::from(articket_engine::candle_nn::Linear::new(
            w,
            Some(b),
        ));
        let x = Tensor::randn(0f32, 1.0, (1, tokens, c), &dev)?;
        report(what, 2.0 * (tokens * c * 8 * c) as f64 / 1e9, &|| {
            layer.forward(&x)
        })?;
    }
    let attention = [
        ("self-attention, 5 heads of 64, 4096 tokens", 5, 4096),
        ("self-attention, 10 heads of 64, 1024 tokens", 10, 1024),
    ];
    for (what, heads, tokens) in attention {
        let qkv = Tensor::randn(0f32, 1.0, (3, heads, tokens, 64), &dev)?;
        let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        let gflop = 4.0 * (heads * tokens * tokens * 64) as f64 / 1e9;
        report(what, gflop, &|| {
            articket_engine::attention::attention(&q, &k, &v, 0.125)
        })?;
    }
    // SD 2.1's whole text encoder (OpenCLIP ViT-H, 23 layers of 1024) over one prompt,
    // with zero weights: the same work as trained ones.
    let vb = articket_engine::candle_nn::VarBuilder::zeros(DType::F32, &dev);
    let shape = articket_engine::config::TextShape {
        vocab_size: 49408,
        hidden_size: 1024,
        intermediate_size: 4096,
        layers: 23,
        heads: 16,
        max_positions: 77,
        activation: "gelu".into(),
        projection_dim: 1024,
        layer_norm_eps: 1e-5,
    };
    let text = articket_engine::clip::ClipText::new(
        vb.clone(),
        &shape,
        articket_engine::clip::Activation::Gelu,
        49407,
    )?;
    let ids = Tensor::new(&[[49406u32; 77]], &dev)?;
    // On the pool's workers, as the engine runs it.
    let (secs, best) = timed(rounds, &|| {
        articket_engine::cpu::on_workers(|| text.forward(&ids, false).map(|o| o.hidden))
    })?;
    let gflop = 2.0 * 77.0 * 23.0 * (4.0 * 1024.0 * 1024.0 + 2.0 * 1024.0 * 4096.0) / 1e9;
    println!(
        "  text encoder (SD 2.1), 77 tokens: {:.1} ms, {:.1} GFLOP/s ({:.1} ms best)",
        secs * 1e3,
        gflop / secs,
        best * 1e3
    );
    tiny_vae(rounds)
}

/// TAESD's whole encoder and decoder at 512×512 (its published shape), with zero
/// weights: the same work as trained ones.
#[cfg(feature = "engine")]
fn tiny_vae(rounds: usize) -> anyhow::Result<()> {
    use articket_engine::candle_core::{DType, Device, Tensor};
    let dev = Device::Cpu;
    as_the_pipeline();
    println!(
        "\nTAESD, {} threads, bf16, median (best) of {rounds} rounds",
        rayon::current_num_threads()
    );
    let vb = articket_engine::candle_nn::VarBuilder::zeros(DType::F32, &dev);
    let tiny = articket_engine::taesd::TinyVae::new(vb, &Default::default())?;
    let image = Tensor::rand(-1f32, 1.0, (1, 3, 512, 512), &dev)?;
    let latents = Tensor::randn(0f32, 1.0, (1, 4, 64, 64), &dev)?;
    type Stage<'a> = Box<dyn Fn() -> articket_engine::candle_core::Result<Tensor> + 'a>;
    let stages: [(&str, Stage); 2] = [
        ("TAESD encode at 512x512", Box::new(|| tiny.encode(&image))),
        (
            "TAESD decode at 512x512",
            Box::new(|| tiny.decode(&latents)),
        ),
    ];
    for (what, run) in stages {
        let (secs, best) = timed(rounds, &run)?;
        println!("  {what}: {:.1} ms ({:.1} ms best)", secs * 1e3, best * 1e3);
    }
    Ok(())
}

/// `run` once to warm up, then timed `rounds` times: (the median, the fastest) seconds.
#[cfg(feature = "engine")]
fn timed<T>(
    rounds: usize,
    run: &dyn Fn() -> articket_engine::candle_core::Result<T>,
) -> anyhow::Result<(f64, f64)> {
    use std::time::Instant;
    run()?;
    let mut t: Vec<f64> = (0..rounds.max(1))
        .map(|_| {
            let s = Instant::now();
            run().map(|_| s.elapsed().as_secs_f64())
        })
        .collect::<Result<_, _>>()?;
    let best = t.iter().copied().fold(f64::INFINITY, f64::min);
    Ok((median(&mut t), best))
}

#[cfg(not(feature = "engine"))]
pub fn gemm(_: usize, _: bool) -> anyhow::Result<()> {
    anyhow::bail!("this build has no engine; build with `--features engine`")
}

#[cfg(not(feature = "engine"))]
pub fn run(_: &SdArgs) -> anyhow::Result<()> {
    anyhow::bail!("this build has no engine; build with `--features engine` (or `cuda` for a GPU)")
}

/// Runs bench/sd_anchor.py with `python`: (seconds for one painting, for four batched).
#[cfg(feature = "engine")]
fn diffusers_anchor(
    python: &str,
    model: &std::path::Path,
    a: &SdArgs,
    size: usize,
    device: &articket_engine::candle_core::Device,
    dtype: articket_engine::candle_core::DType,
) -> anyhow::Result<(f64, f64)> {
    let dev = if device.is_cpu() { "cpu" } else { "cuda" };
    let dt = match dtype {
        articket_engine::candle_core::DType::F16 => "f16",
        articket_engine::candle_core::DType::BF16 => "bf16",
        _ => "f32",
    };
    let mut args = vec![
        model.display().to_string(),
        size.to_string(),
        a.steps.to_string(),
        a.strength.to_string(),
        a.sampler.clone(),
        a.rounds.to_string(),
        dev.into(),
        dt.into(),
        a.cfg.to_string(),
    ];
    args.extend(a.tiny_vae.iter().map(|t| t.display().to_string()));
    let v = python_json(python, "sd_anchor.py", &args, "the diffusers anchor")?;
    println!(
        "  diffusers anchor: torch {}, {} threads",
        v["torch"].as_str().unwrap_or("?"),
        v["threads"]
    );
    Ok((
        v["one"].as_f64().unwrap_or(f64::NAN),
        v["four"].as_f64().unwrap_or(f64::NAN),
    ))
}

/// The median and the fastest seconds of one painting's stages, each run `rounds` times
/// in a row before the next (as bench/openvino_anchor.py times OpenVINO's): the prompt's
/// encoding, the photo's encoding, one UNet step (at the middle timestep) and the
/// decode. On a shared machine the fastest shows what the code can do when no neighbour
/// is busy.
#[cfg(feature = "engine")]
fn stage_times(
    engine: &articket_engine::Engine,
    job: &articket_engine::Img2Img,
    size: usize,
    rounds: usize,
) -> anyhow::Result<([f64; 4], [f64; 4])> {
    use std::time::Instant;
    fn repeat<T>(
        rounds: usize,
        times: &mut Vec<f64>,
        mut run: impl FnMut() -> articket_engine::candle_core::Result<T>,
    ) -> anyhow::Result<T> {
        let mut out = None;
        for _ in 0..rounds.max(1) {
            let t = Instant::now();
            out = Some(run()?);
            times.push(t.elapsed().as_secs_f64());
        }
        Ok(out.expect("at least one round"))
    }
    let mut times = [(); 4].map(|_| Vec::new());
    let text = repeat(rounds, &mut times[0], || {
        engine.text_conditioning(&[job.prompt.as_str()])
    })?;
    let latents = repeat(rounds, &mut times[1], || {
        engine.image_latents(&[&job.image], size, size)
    })?;
    let eps = repeat(rounds, &mut times[2], || {
        engine.predict(&latents, 499.0, &text)
    })?;
    repeat(rounds, &mut times[3], || engine.decode_unit(&eps))?;
    let best = times
        .each_ref()
        .map(|v| v.iter().copied().fold(f64::INFINITY, f64::min));
    Ok((times.map(|mut v| median(&mut v)), best))
}

/// Runs bench/openvino_anchor.py with `python`: (seconds for four paintings one by one,
/// the precision OpenVINO ran at, the median seconds of its stages as [`stage_times`]).
#[cfg(feature = "engine")]
fn openvino_anchor(
    python: &str,
    model: &std::path::Path,
    tiny: &std::path::Path,
    a: &SdArgs,
    size: usize,
    precision: &str,
) -> anyhow::Result<(f64, String, [f64; 4])> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let args = [
        model.display().to_string(),
        tiny.display().to_string(),
        size.to_string(),
        a.steps.to_string(),
        a.strength.to_string(),
        a.rounds.to_string(),
        threads.to_string(),
        precision.to_owned(),
    ];
    let v = python_json(python, "openvino_anchor.py", &args, "the OpenVINO anchor")?;
    Ok((
        v["four_one_by_one"].as_f64().unwrap_or(f64::NAN),
        format!(
            "{}, {}",
            v["openvino"]
                .as_str()
                .unwrap_or("?")
                .split('-')
                .next()
                .unwrap_or("?"),
            v["precision"].as_str().unwrap_or("?")
        ),
        ["text", "encode", "unet_step", "decode"]
            .map(|k| v["stages"][k].as_f64().unwrap_or(f64::NAN)),
    ))
}

/// Runs `bench/{script}` with `python` and `args`; its last line of output, as JSON.
#[cfg(feature = "engine")]
fn python_json(
    python: &str,
    script: &str,
    args: &[String],
    what: &str,
) -> anyhow::Result<serde_json::Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bench")
        .join(script);
    let out = std::process::Command::new(python)
        .arg(&path)
        .args(args)
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(serde_json::from_str(text.lines().last().unwrap_or(""))?)
}

#[cfg(feature = "engine")]
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(feature = "engine")]
fn gpu_name() -> String {
    std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name", "--format=csv,noheader"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|| "no NVIDIA GPU".into())
}

/// Polls `nvidia-smi` for the memory in use, keeping the peak.
#[cfg(feature = "engine")]
struct MemoryWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u64, u64)>>,
}

#[cfg(feature = "engine")]
impl MemoryWatch {
    fn start(enabled: bool) -> MemoryWatch {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let used = || -> Option<u64> {
            let o = std::process::Command::new("nvidia-smi")
                .args(["--query-gpu=memory.used", "--format=csv,noheader,nounits"])
                .output()
                .ok()?;
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()?
                .trim()
                .parse()
                .ok()
        };
        let thread = (enabled && used().is_some()).then(|| {
            std::thread::spawn(move || {
                let base = used().unwrap_or(0);
                let mut peak = base;
                while !flag.load(Ordering::Relaxed) {
                    peak = peak.max(used().unwrap_or(0));
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                (base, peak)
            })
        });
        MemoryWatch { stop, thread }
    }

    fn stop(mut self) -> Option<(u64, u64)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take()?.join().ok()
    }
}
