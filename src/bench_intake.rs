//! `articket bench intake`: the whole intake (bytes in, JPEG bytes out) on generated
//! 12-megapixel camera photos, side by side with the Python anchors in bench/anchors.py
//! (Pillow as the old service used it, and libvips), in one invocation.
//!
//! Timing: rounds alternate between the tools so that machine noise hits all of them
//! alike; each tool reports the median of all its runs. Memory: each tool runs one photo
//! in a fresh process that resets its peak RSS (`/proc/self/clear_refs`) right before
//! the job, so the figure is the job's own extra peak, C allocations included.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context as _};
use articket_intake::{fixtures, process, IntakeOptions};

use crate::bench::{anchor_times, median, run_json, verdict, BenchArgs, ANCHORS};

struct Figures {
    median_ms: f64,
    peak_bytes: u64,
}

fn check_python(python: &str) -> anyhow::Result<()> {
    let ok = Command::new(python)
        .args(["-c", "import PIL, pyvips"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        bail!(
            "the anchors need Pillow and pyvips for {python}: \
             run `pip install -r bench/requirements.txt`"
        );
    }
    Ok(())
}

const WIDTH: u32 = 4032;
const HEIGHT: u32 = 3024;

pub fn intake(args: &BenchArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    println!(
        "Generating {} camera photos ({WIDTH}x{HEIGHT}, noise-textured, EXIF orientation 6, quality 92)...",
        args.photos
    );
    let mut files = Vec::new();
    let mut sizes = Vec::new();
    for i in 0..args.photos {
        let jpeg = fixtures::camera_jpeg(WIDTH, HEIGHT, 92, 6, 1000 + i as u64);
        let path = dir.path().join(format!("photo{i}.jpg"));
        std::fs::write(&path, &jpeg)?;
        sizes.push(jpeg.len());
        files.push(path);
    }
    let mean_mb = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64 / 1e6;
    println!("Mean file size: {mean_mb:.2} MB");
    let anchors = dir.path().join("anchors.py");
    std::fs::write(&anchors, ANCHORS)?;
    check_python(&args.python)?;

    let opts = IntakeOptions::default();
    let inputs: Vec<Vec<u8>> = files.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    // Warm up: first-touch page faults and lazy initialisation are not intake's cost.
    process(&inputs[0], &opts)?;

    let mut ours = Vec::new();
    let mut pillow = Vec::new();
    let mut vips = Vec::new();
    for round in 0..args.rounds {
        for bytes in &inputs {
            let t = Instant::now();
            let photo = process(bytes, &opts)?;
            ours.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(photo.image.dimensions(), (384, 512));
        }
        pillow.extend(anchor_times(
            &args.python,
            &anchors,
            "time",
            "pillow",
            &files,
        )?);
        vips.extend(anchor_times(
            &args.python,
            &anchors,
            "time",
            "vips",
            &files,
        )?);
        eprintln!("round {}/{} done", round + 1, args.rounds);
    }

    let exe = std::env::current_exe()?;
    let ours = Figures {
        median_ms: median(&mut ours),
        peak_bytes: peak_of(
            Command::new(&exe)
                .args(["bench", "intake-memory"])
                .arg(&files[0]),
        )?,
    };
    let pillow = Figures {
        median_ms: median(&mut pillow),
        peak_bytes: anchor_memory(&args.python, &anchors, "pillow", &files[0])?,
    };
    let vips = Figures {
        median_ms: median(&mut vips),
        peak_bytes: anchor_memory(&args.python, &anchors, "vips", &files[0])?,
    };

    let full_rgb = u64::from(WIDTH) * u64::from(HEIGHT) * 3;
    println!();
    println!(
        "{:<34} {:>12} {:>16}",
        "intake of one 12 MP photo", "median ms", "peak extra MB"
    );
    for (name, f) in [
        ("articket (libjpeg-turbo scaled)", &ours),
        ("Pillow (old service recipe)", &pillow),
        ("libvips thumbnail", &vips),
    ] {
        println!(
            "{name:<34} {:>12.1} {:>16.2}",
            f.median_ms,
            f.peak_bytes as f64 / 1e6
        );
    }
    let vs_pillow = pillow.median_ms / ours.median_ms;
    let vs_vips = vips.median_ms / ours.median_ms;
    let mem_share = ours.peak_bytes as f64 / full_rgb as f64;
    println!();
    println!(
        "speed-up over Pillow:  {vs_pillow:.2}x  (target >= 2.00x)  {}",
        verdict(vs_pillow >= 2.0)
    );
    println!(
        "speed-up over libvips: {vs_vips:.2}x  (target >= 1.00x)  {}",
        verdict(vs_vips >= 1.0)
    );
    println!(
        "peak memory: {:.2} MB = {:.1}% of a full RGB decode ({:.1} MB; target < 25%)  {}",
        ours.peak_bytes as f64 / 1e6,
        mem_share * 100.0,
        full_rgb as f64 / 1e6,
        verdict(mem_share < 0.25)
    );
    println!(
        "({} photos x {} rounds per tool; single-threaded articket, libvips at its default \
         thread count)",
        args.photos, args.rounds
    );
    Ok(())
}

/// The hidden child of the memory measurement: one intake, peak RSS growth on stdout.
pub fn intake_memory(file: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(file)?;
    let opts = IntakeOptions::default();
    // Initialise libjpeg and the allocator on a tiny photo first.
    process(
        &articket_intake::encode_jpeg(&fixtures::portrait(64, 64), 90)?,
        &opts,
    )?;
    std::fs::write("/proc/self/clear_refs", "5").context("resetting peak RSS")?;
    let base = status_kb("VmRSS")?;
    let photo = process(&bytes, &opts)?;
    let peak = status_kb("VmHWM")?;
    drop(photo);
    println!("{{\"peak_bytes\": {}}}", (peak.saturating_sub(base)) * 1024);
    Ok(())
}

fn status_kb(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("{field} missing from /proc/self/status"))
}

fn anchor_memory(python: &str, script: &Path, tool: &str, file: &Path) -> anyhow::Result<u64> {
    peak_of(
        Command::new(python)
            .arg(script)
            .args(["memory", tool])
            .arg(file),
    )
}

fn peak_of(cmd: &mut Command) -> anyhow::Result<u64> {
    run_json(cmd)?["peak_bytes"]
        .as_u64()
        .context("peak_bytes missing")
}
