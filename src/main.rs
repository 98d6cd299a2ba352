//! `articket`: the booth server (`serve`, the default) and the offline painter
//! (`stylize`). A thin shell over the stage crates; see README.md for the layout.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod bench;
#[cfg(feature = "bench")]
mod bench_intake;
mod bench_matting;
mod bench_parity;
#[cfg(feature = "bench")]
mod bench_sd;
mod bench_ticket;
mod check_ai;
#[cfg(feature = "bench")]
mod loadtest;
mod models;
mod stylize;
mod worker;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use articket_style::Painter;

use articket_web::Config;

#[derive(Parser)]
#[command(
    name = "articket",
    version,
    about = "A photo booth that paints visitors as four painters would"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the booth server (the default).
    Serve(ServeArgs),
    /// Paint photos offline: with --out, one JPEG per painter plus ticket.png for one
    /// photo; with --contact-sheet, a grid of photos x painters (the built-in sample
    /// portraits when no photo is named).
    Stylize {
        /// JPEG, PNG, WebP or GIF photos.
        inputs: Vec<PathBuf>,
        /// The folder to write into (created if missing).
        #[arg(long, required_unless_present = "contact_sheet")]
        out: Option<PathBuf>,
        /// Write a labelled grid of inputs x painters to this PNG file.
        #[arg(long)]
        contact_sheet: Option<PathBuf>,
        /// On the contact sheet, paint each photo twice: with its own background and
        /// with the configured `[painting] background` (needs a matting model).
        #[arg(long, requires = "contact_sheet")]
        backdrops: bool,
        /// Only these painters (repeatable); all four by default.
        #[arg(long = "painter")]
        painters: Vec<Painter>,
        /// The name on the ticket.
        #[arg(long, default_value = "Articket")]
        name: String,
        /// The config file (its painters and [ai] settings); `articket.toml` in the
        /// working directory if present.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Serve our Stable Diffusion engine over the AUTOMATIC1111 API, for a booth's
    /// server pool (needs a build with `--features engine`, or `cuda`).
    Worker(worker::WorkerArgs),
    /// Play many kiosk-and-phone visits against a booth and report throughput,
    /// latency, errors, cross-room events and the server's peak memory.
    #[cfg(feature = "bench")]
    Loadtest(loadtest::LoadArgs),
    /// Check the configured painting backend: each server's state, one test painting,
    /// the time a visitor will wait, and what to fix.
    CheckAi {
        /// The config file; `articket.toml` in the working directory if present.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Fetch Stable Diffusion models, tiny autoencoders and captioners from the Hugging
    /// Face Hub into models/, and list what is there.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Copy the booth's data (database, image files, HTTPS certificate) into a new
    /// folder, consistently, while the booth keeps running.
    Backup {
        /// The folder to make; it must be new or empty.
        out: PathBuf,
        /// The booth's data folder (default: [server] data_dir from the config).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Put a backup into a data folder that holds no booth yet (stop the booth, move
    /// the old folder aside, restore, start).
    Restore {
        /// A folder made by `articket backup`.
        from: PathBuf,
        /// The data folder to fill (default: [server] data_dir from the config).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Print an argon2 hash of the operator password (read from standard input) for
    /// `[admin] password_hash`.
    HashPassword,
    /// Measure a stage against the tools a Python booth would use (see README).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Intake of generated 12 MP camera JPEGs vs Pillow and libvips (a build with
    /// `--features bench`; needs `pip install -r bench/requirements.txt`).
    #[cfg(feature = "bench")]
    Intake {
        /// How many different photos to generate.
        #[arg(long, default_value_t = 4)]
        photos: usize,
        /// Rounds over all photos, per tool.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// The Python interpreter that has Pillow and pyvips.
        #[arg(long, default_value = "python3")]
        python: String,
    },
    /// The four built-in painters vs OpenCV's oilPainting and stylization (needs
    /// `pip install -r bench/requirements.txt`).
    Painters {
        /// How many sample portraits to paint per round.
        #[arg(long, default_value_t = 3)]
        photos: usize,
        /// Rounds over all photos, per painter and per anchor.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// The Python interpreter that has OpenCV (opencv-contrib-python).
        #[arg(long, default_value = "python3")]
        python: String,
        /// Real photographs to paint instead of the drawn samples (repeatable).
        #[arg(long = "photo")]
        real: Vec<std::path::PathBuf>,
        /// MODNet's ONNX file: also time a visit with the painters' worlds behind the
        /// visitor (needs --photo).
        #[arg(long, requires = "real")]
        matting: Option<PathBuf>,
    },
    /// The candle engine at full size with random weights: 4 painters batched vs one
    /// by one, images/s and peak GPU memory (a build with `--features bench` and
    /// `engine` or `cuda`).
    #[cfg(feature = "bench")]
    Sd(bench_sd::SdArgs),
    /// The UNet's matrix products at full SD size on one core: our f32 kernel (gemm)
    /// against the bf16 kernel for processors with AVX-512 BF16, in the same run.
    #[cfg(feature = "bench")]
    Gemm {
        /// Timed rounds per shape; the median is reported.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Only TAESD's whole encoder and decoder at 512×512 (a few seconds: for
        /// comparing builds side by side).
        #[arg(long)]
        tiny_vae: bool,
    },
    /// Our engine against diffusers' outputs on a parity fixture, on any device and
    /// number type (the GPU box's check; `cargo test` runs it in f32 on the CPU).
    Parity(bench_parity::ParityArgs),
    /// MODNet matting (our interpreter) against onnxruntime on the same photos and threads, at
    /// each model size, with what each size loses (needs
    /// `pip install -r bench/matting/requirements.txt`).
    Matting(bench_matting::MattingArgs),
    /// The phone ticket's render time with four real paintings (target: 50 ms).
    Ticket {
        /// Renders to time; the median is reported.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// Also write docs-style samples of every layout (ticket-1..4.png) here.
        #[arg(long)]
        samples: Option<PathBuf>,
    },
    /// (internal) One intake in a fresh process, printing its peak memory.
    #[cfg(feature = "bench")]
    #[command(hide = true)]
    IntakeMemory { file: PathBuf },
}

#[derive(clap::Args, Clone, Default)]
struct ServeArgs {
    /// The config file; `articket.toml` in the working directory if present.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Listen address and port, e.g. 0.0.0.0:8080 (overrides the config).
    #[arg(long)]
    bind: Option<std::net::SocketAddr>,
    /// Data folder for the database and images (overrides the config).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    tune_malloc();
    // Colour only on a terminal: `articket > booth.log` gets plain lines.
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Stylize {
            inputs,
            out,
            contact_sheet,
            backdrops,
            painters,
            name,
            config,
        }) => stylize::run(&stylize::StylizeArgs {
            inputs,
            out,
            contact_sheet,
            painters,
            name,
            config: load_config(config.as_deref()),
            backdrops,
        }),
        #[cfg(feature = "bench")]
        Some(Command::Bench(BenchCommand::Intake {
            photos,
            rounds,
            python,
        })) => bench_intake::intake(&bench::BenchArgs {
            photos: photos.max(1),
            rounds: rounds.max(1),
            python,
            real: Vec::new(),
            matting: None,
        }),
        Some(Command::Bench(BenchCommand::Painters {
            photos,
            rounds,
            python,
            real,
            matting,
        })) => bench::painters(&bench::BenchArgs {
            real,
            matting,
            photos: photos.max(1),
            rounds: rounds.max(1),
            python,
        }),
        #[cfg(feature = "bench")]
        Some(Command::Bench(BenchCommand::IntakeMemory { file })) => {
            bench_intake::intake_memory(&file)
        }
        #[cfg(feature = "bench")]
        Some(Command::Bench(BenchCommand::Sd(args))) => bench_sd::run(&args),
        #[cfg(feature = "bench")]
        Some(Command::Bench(BenchCommand::Gemm { rounds, tiny_vae })) => {
            bench_sd::gemm(rounds, tiny_vae)
        }
        Some(Command::Bench(BenchCommand::Parity(args))) => bench_parity::run(&args),
        Some(Command::Bench(BenchCommand::Matting(args))) => bench_matting::run(&args),
        Some(Command::Bench(BenchCommand::Ticket { rounds, samples })) => {
            bench_ticket::ticket(rounds, samples.as_deref())
        }
        Some(Command::Serve(args)) => serve(args),
        Some(Command::HashPassword) => hash_password(),
        Some(Command::Backup { out, data_dir }) => {
            data_folder(cli.serve.config.as_deref(), data_dir).and_then(|dir| backup(&dir, &out))
        }
        Some(Command::Restore { from, data_dir }) => {
            data_folder(cli.serve.config.as_deref(), data_dir).and_then(|dir| restore(&from, &dir))
        }
        Some(Command::Models(cmd)) => models::run(cmd),
        Some(Command::CheckAi { config }) => check_ai::run(load_config(config.as_deref())),
        #[cfg(feature = "bench")]
        Some(Command::Loadtest(args)) => loadtest::run(args),
        Some(Command::Worker(args)) => worker::run(args),
        None => serve(cli.serve),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("articket: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--data-dir`, else the config's `[server] data_dir`.
fn data_folder(config: Option<&Path>, flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match flag {
        Some(dir) => Ok(dir),
        None => Ok(load_config(config)?.server.data_dir),
    }
}

fn backup(data_dir: &Path, out: &Path) -> anyhow::Result<()> {
    let copied = articket_store::backup(data_dir, out)
        .with_context(|| format!("cannot back up {}", data_dir.display()))?;
    println!(
        "Backed up {} visits ({} with tickets), {} image files, {:.1} MB into {}",
        copied.visits,
        copied.tickets,
        copied.files,
        copied.bytes as f64 / 1e6,
        out.display()
    );
    if copied.missing > 0 {
        println!(
            "({} files were deleted while the backup ran, with their visits)",
            copied.missing
        );
    }
    Ok(())
}

fn restore(from: &Path, data_dir: &Path) -> anyhow::Result<()> {
    let copied = articket_store::restore(from, data_dir)
        .with_context(|| format!("cannot restore {}", from.display()))?;
    println!(
        "Restored {} visits ({} with tickets), {} image files into {}. Start the booth \
         on it; it finishes the visits that were being painted.",
        copied.visits,
        copied.tickets,
        copied.files,
        data_dir.display()
    );
    Ok(())
}

fn hash_password() -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    if std::io::stdin().is_terminal() {
        eprintln!("Type the operator password and press Enter:");
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password")?;
    let password = line.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(
        password.chars().count() >= 8,
        "choose a password of at least 8 characters"
    );
    println!("{}", articket_web::admin::hash_password(password)?);
    Ok(())
}

/// Tunes glibc's allocator for a booth (`MALLOC_*` settings in the environment win):
///
/// - Every thread that allocates gets its own arena (up to 8 per core), and memory
///   freed into one is not reused by the others. A booth's blocking threads (store
///   calls, painters, tickets) then hold twice the memory they need at peak: under the
///   load tool's 50 concurrent visits, peak RSS went from 431 to about 220 MiB with 2
///   arenas, at the same throughput.
/// - A painter's working canvases (3 MB each at 512 px) are above glibc's default
///   mmap threshold, so each was mapped, page-faulted in and unmapped again, and the
///   kernel's page clearing took a sixth of a painting's time. With the threshold and
///   the trim threshold at 32 MiB they are reused from the arena: a visit's four
///   paintings take 18 % less time (`articket bench painters`), and peak RSS at 50
///   concurrent visits is 5 % higher (docs/benchmarks.md).
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let unset = |name: &str| std::env::var_os(name).is_none();
        let tunables = std::env::var_os("GLIBC_TUNABLES").is_some();
        // SAFETY: mallopt only sets allocator parameters; it runs before any thread is
        // started.
        unsafe {
            if unset("MALLOC_ARENA_MAX") {
                libc::mallopt(libc::M_ARENA_MAX, 2);
            }
            if unset("MALLOC_MMAP_THRESHOLD_") && !tunables {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            }
            if unset("MALLOC_TRIM_THRESHOLD_") && !tunables {
                libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
            }
        }
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    Ok(Config::load(path, std::env::vars())?)
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = load_config(args.config.as_deref())?;
    if let Some(bind) = args.bind {
        config.server.bind = bind;
    }
    if let Some(dir) = args.data_dir {
        config.server.data_dir = dir;
    }
    let operator_password = articket_web::admin::startup_password(&mut config);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listeners = articket_web::Listeners::bind(&config).await?;
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        };
        // Everything that can fail at start-up (HTTPS's certificate included) fails
        // before the banner.
        let ready = |booth: &articket_web::AppState| {
            print_banner(
                booth.base_url(),
                booth.config(),
                operator_password.as_deref(),
                &booth.painters(),
            )
        };
        articket_web::launch(config, listeners, ready, shutdown).await
    })
}

fn print_banner(base: &str, config: &Config, operator_password: Option<&str>, painters: &[String]) {
    println!();
    println!("  ARTICKET booth is running.");
    if config.server.bind.ip().is_loopback() {
        println!(
            "  NOTE: listening on {} only: phones cannot reach the booth. To let phones in,\n        \
             start it with --bind 0.0.0.0:{} (or set [server] bind).",
            config.server.bind.ip(),
            config.server.bind.port()
        );
    }
    println!("  Kiosk screen: open {base}/ on the booth PC (full screen: F11)");
    match operator_password {
        Some(p) => println!(
            "  Operator:     {base}/admin  password for this run: {p}\n                (set [admin] password_hash to keep one; see `articket hash-password`)"
        ),
        None => println!("  Operator:     {base}/admin"),
    }
    println!("  Data folder:  {}", config.server.data_dir.display());
    let (first, servers) = painters
        .split_first()
        .map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
    println!("  Painters:     {first}");
    for line in servers {
        println!("              {line}");
    }
    if config.ai.enabled && config.ai.backend == articket_web::config::AiBackend::Builtin {
        println!(
            "  NOTE: [ai] enabled = true, but no AI backend is set: the built-in painters paint.\n        \
             Set [ai] backend = \"a1111\", \"comfyui\" or \"local\" (docs/ai.md)."
        );
    }
    if let Some(qr) = articket_web::qr::terminal(&format!("{base}/")) {
        println!("\n{qr}");
    }
    println!("  Press Ctrl+C to stop.\n");
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand and flag says what it is for in `--help`.
    #[test]
    fn every_command_and_flag_has_a_description() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") || arg.is_hide_set() {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.is_hide_set() || sub.get_name() == "help" {
                    continue;
                }
                let name = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(name.clone());
                }
                walk(sub, &name, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "articket", &mut missing);
        assert!(missing.is_empty(), "no description: {missing:#?}");
    }
}
