//! `articket check-ai`: is the configured painting backend ready for visitors? Starts
//! it as the booth would, says each server's state, paints one test picture with it
//! (never with the fallback), and says how long a visitor will wait and what to fix.

use anyhow::bail;
use articket_studio::Offline;
use articket_style::{samples, Painter};
use articket_web::config::{AiBackend, Config, Dispatch};

pub fn run(config: anyhow::Result<Config>) -> anyhow::Result<()> {
    let config = config?;
    let runtime = tokio::runtime::Runtime::new()?;
    let backend = config.ai.active_backend();
    if !config.ai.enabled {
        println!("AI is off ([ai] enabled = false): the built-in painters paint. Checking them.");
    } else if backend == AiBackend::Builtin {
        println!(
            "[ai] enabled = true, but no AI backend is set: the built-in painters paint.\n\
             Set [ai] backend = \"a1111\", \"comfyui\" or \"local\" (docs/ai.md). Checking the built-in painters."
        );
    }
    let studio = runtime.block_on(Offline::start(config.clone()))?;
    let describe = studio.describe();
    println!("Painters: {}", describe.first().map_or("", String::as_str));
    for line in &describe[1..] {
        println!("  {}", line.trim_start());
    }
    let servers = studio.servers();
    let answering = servers.iter().filter(|(_, e)| e.is_none()).count();
    let painter = config
        .painting
        .painters
        .first()
        .copied()
        .unwrap_or(Painter::Picasso);
    let photo = samples::portrait(384, 512, samples::LOOKS[0]);
    let mut fixes: Vec<String> = servers
        .iter()
        .filter_map(|(label, e)| e.as_ref().map(|e| format!("{label}: {e}")))
        .collect();
    match runtime.block_on(studio.test_painting(photo, painter)) {
        Ok((img, took)) => {
            let secs = took.as_secs_f64();
            println!(
                "Test painting: {} at {}×{} in {secs:.1} s",
                painter.name_en(),
                img.width(),
                img.height()
            );
            let paintings = config.painting.painters.len().max(1);
            let lanes = match (backend, config.ai.sd.dispatch) {
                (AiBackend::A1111 | AiBackend::ComfyUi, Dispatch::Parallel) => answering.max(1),
                _ => 1,
            };
            let rounds = paintings.div_ceil(lanes);
            println!(
                "A visitor waits about {:.0} s for {paintings} paintings ({rounds} after another{}).",
                (secs * rounds as f64).ceil(),
                if lanes > 1 { format!(", {lanes} servers at once") } else { String::new() }
            );
        }
        Err(e) => {
            println!("Test painting: FAILED: {e}");
            fixes.push(format!("the test painting failed: {e}"));
        }
    }
    if fixes.is_empty() {
        println!("Ready for visitors.");
        return Ok(());
    }
    println!("To fix:");
    for f in &fixes {
        println!("  - {f}");
    }
    bail!("the painters are not ready ({} to fix)", fixes.len())
}
