//! `articket loadtest`: the load tool (crates/loadtest) against a booth given by `--url`,
//! or against a booth it starts itself from this binary on loopback, whose peak memory
//! it then reports.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

#[derive(clap::Args)]
pub struct LoadArgs {
    /// The booth to load, e.g. http://127.0.0.1:8080. Without it, a booth is started
    /// on loopback with a fresh data folder and no per-address limits.
    #[arg(long)]
    url: Option<String>,
    /// Visits to play in all.
    #[arg(long, default_value_t = 100)]
    visits: usize,
    /// Visits under way at once.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Seconds one visit may take before it counts as an error.
    #[arg(long, default_value_t = 300)]
    visit_timeout_secs: u64,
    /// Paintings each visit should get (the booth's painters).
    #[arg(long, default_value_t = 4)]
    painters: usize,
    /// With --url: the booth's process id, to report its peak memory (Linux).
    #[arg(long)]
    server_pid: Option<u32>,
}

pub fn run(args: LoadArgs) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let (url, mut booth, pid) = match &args.url {
        Some(url) => (url.clone(), None, args.server_pid),
        None => {
            let (url, child) = start_booth(data.path())?;
            let pid = child.id();
            (url, Some(Booth(child)), Some(pid))
        }
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(async {
        wait_healthy(&url).await?;
        let opts = articket_loadtest::Options {
            url: url.clone(),
            visits: args.visits,
            concurrency: args.concurrency,
            visit_timeout: Duration::from_secs(args.visit_timeout_secs),
            painters: args.painters,
        };
        println!(
            "loading {url}: {} visits, {} at a time",
            args.visits, args.concurrency
        );
        anyhow::Ok(articket_loadtest::run(&opts).await)
    })?;
    print!("{report}");
    match pid.and_then(peak_rss_kib) {
        Some(kib) => println!("server peak RSS: {:.1} MiB", kib as f64 / 1024.0),
        None => println!("server peak RSS: unknown (pass --server-pid on Linux)"),
    }
    booth.take();
    anyhow::ensure!(
        report.errors.is_empty() && report.cross_room == 0 && report.lost_results == 0,
        "the booth did not hold up under load"
    );
    Ok(())
}

/// Kills the booth we started when the run ends, however it ends.
struct Booth(Child);

impl Drop for Booth {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_booth(data_dir: &Path) -> anyhow::Result<(String, Child)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(std::env::current_exe()?)
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data_dir)
        .env("ARTICKET__LIMITS__UPLOADS_PER_MINUTE", "0")
        .env("ARTICKET__LIMITS__MAX_OPEN_ROOMS", "1000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("cannot start the booth")?;
    Ok((format!("http://127.0.0.1:{port}"), child))
}

async fn wait_healthy(url: &str) -> anyhow::Result<()> {
    articket_loadtest::install_tls_provider();
    let client = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = client.get(format!("{url}/healthz")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{url}/healthz did not answer within 30 s")
}

/// The process's peak resident memory (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
