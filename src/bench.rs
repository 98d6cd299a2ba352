//! `articket bench intake`: the whole intake (bytes in, JPEG bytes out) on generated
//! 12-megapixel camera photos, side by side with the Python anchors in bench/anchors.py
//! (Pillow as the old service used it, and libvips), in one invocation.
//!
//! Timing: rounds alternate between the tools so that machine noise hits all of them
//! alike; each tool reports the median of all its runs. Memory: each tool runs one photo
//! in a fresh process that resets its peak RSS (`/proc/self/clear_refs`) right before
//! the job, so the figure is the job's own extra peak, C allocations included.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context as _};
use articket_intake::{fixtures, process, IntakeOptions};

const ANCHORS: &str = include_str!("../bench/anchors.py");
const WIDTH: u32 = 4032;
const HEIGHT: u32 = 3024;

pub struct BenchArgs {
    pub photos: usize,
    pub rounds: usize,
    pub python: String,
    /// Real photographs to paint instead of the drawn samples (shrunk to 512 px, as
    /// intake does).
    pub real: Vec<std::path::PathBuf>,
}

struct Figures {
    median_ms: f64,
    peak_bytes: u64,
}

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

/// Times from the Python anchor script: `mode` is "time" (intake) or "paint".
fn anchor_times(
    python: &str,
    script: &Path,
    mode: &str,
    tool: &str,
    files: &[PathBuf],
) -> anyhow::Result<Vec<f64>> {
    let out = run_json(
        Command::new(python)
            .arg(script)
            .args([mode, tool, "1"])
            .args(files),
    )?;
    out["ms"]
        .as_array()
        .context("anchor output lacks ms")?
        .iter()
        .map(|v| v.as_f64().context("ms must be numbers"))
        .collect()
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

fn run_json(cmd: &mut Command) -> anyhow::Result<serde_json::Value> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("output of {cmd:?}"))
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

/// `articket bench painters`: each built-in painter at 384×512 and all four at once,
/// against OpenCV's oil painting and stylization filters on the same pictures.
pub fn painters(args: &BenchArgs) -> anyhow::Result<()> {
    use articket_style::{builtin, samples, Painter};

    let dir = tempfile::tempdir()?;
    let anchors = dir.path().join("anchors.py");
    std::fs::write(&anchors, ANCHORS)?;
    let photos: Vec<image::RgbImage> = if args.real.is_empty() {
        samples::LOOKS
            .iter()
            .cycle()
            .take(args.photos)
            .map(|&look| samples::portrait(384, 512, look))
            .collect()
    } else {
        let mut out = Vec::new();
        for path in &args.real {
            let img = image::open(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                .into_rgb8();
            let (w, h) = img.dimensions();
            let s = (512.0 / w.max(h) as f32).min(1.0);
            out.push(image::imageops::resize(
                &img,
                (w as f32 * s).round() as u32,
                (h as f32 * s).round() as u32,
                image::imageops::FilterType::Lanczos3,
            ));
        }
        out
    };
    let mut files = Vec::new();
    for (i, p) in photos.iter().enumerate() {
        let path = dir.path().join(format!("sample{i}.png"));
        p.save(&path)?;
        files.push(path);
    }
    let params = builtin::BuiltinParams::default();
    let threads = rayon::current_num_threads();
    // Warm up the thread pool and the caches.
    for &painter in &Painter::ALL {
        builtin::render(painter, &photos[0], 1, &params);
    }
    let mut each: Vec<Vec<f64>> = vec![Vec::new(); Painter::ALL.len()];
    let mut detect = Vec::new();
    let mut faces_found = Vec::new();
    let mut all = Vec::new();
    let mut all_plain = Vec::new();
    let mut oil = Vec::new();
    let mut stylization = Vec::new();
    for round in 0..args.rounds {
        for (k, photo) in photos.iter().enumerate() {
            let seed = (round * 100 + k) as u64;
            // A visit finds the faces once; each painter then paints with them.
            let t = Instant::now();
            let faces = articket_style::faces::detect(photo);
            detect.push(t.elapsed().as_secs_f64() * 1000.0);
            if round == 0 {
                faces_found.push(faces.len());
            }
            for (i, &painter) in Painter::ALL.iter().enumerate() {
                let t = Instant::now();
                let out = builtin::render_with_faces(painter, photo, &faces, seed, &params);
                each[i].push(t.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(out.dimensions(), photo.dimensions());
            }
            // A whole visit: the four painters at once, sharing the cores.
            // As the server does it: the first painter done with the whole picture
            // finds the faces while the others still paint; all then use them.
            let t = Instant::now();
            let faces = std::sync::OnceLock::new();
            rayon::scope(|s| {
                for &painter in &Painter::ALL {
                    let (params, faces) = (&params, &faces);
                    s.spawn(move |_| {
                        builtin::render_finding_faces(painter, photo, seed, params, || {
                            faces
                                .get_or_init(|| articket_style::faces::detect(photo))
                                .clone()
                        });
                    });
                }
            });
            all.push(t.elapsed().as_secs_f64() * 1000.0);
            // The same visit ignoring faces, for the cost of keeping them.
            let t = Instant::now();
            rayon::scope(|s| {
                for &painter in &Painter::ALL {
                    let params = &params;
                    s.spawn(move |_| {
                        builtin::render_with_faces(painter, photo, &[], seed, params);
                    });
                }
            });
            all_plain.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        oil.extend(anchor_times(
            &args.python,
            &anchors,
            "paint",
            "oil",
            &files,
        )?);
        stylization.extend(anchor_times(
            &args.python,
            &anchors,
            "paint",
            "stylization",
            &files,
        )?);
        eprintln!("round {}/{} done", round + 1, args.rounds);
    }
    let oil = median(&mut oil);
    let stylization = median(&mut stylization);
    println!();
    let what = if args.real.is_empty() {
        "384x512 sample portraits (drawn)".to_owned()
    } else {
        let sizes: Vec<String> = photos
            .iter()
            .map(|p| format!("{}x{}", p.width(), p.height()))
            .collect();
        format!("real photographs ({})", sizes.join(", "))
    };
    println!(
        "{what}, {} photos x {} rounds, {threads} threads; faces found per photo: {faces_found:?}",
        photos.len(),
        args.rounds
    );
    let d = median(&mut detect);
    println!(
        "{:<34} {d:>10.1} {:>13.2}x",
        "face detection (once per visit)",
        oil / d
    );
    println!("{:<34} {:>10} {:>14}", "", "median ms", "oil / this");
    let mut pass = true;
    for (i, painter) in Painter::ALL.iter().enumerate() {
        let m = median(&mut each[i]);
        pass &= m <= oil;
        println!(
            "{:<34} {m:>10.1} {:>13.2}x",
            format!("articket {}", painter.id()),
            oil / m
        );
    }
    let m_all = median(&mut all);
    println!(
        "{:<34} {m_all:>10.1} {:>13.2}x",
        "articket all four at once (+ faces)",
        2.0 * oil / m_all
    );
    let m_plain = median(&mut all_plain);
    println!(
        "{:<34} {m_plain:>10.1} {:>13.2}x",
        "articket all four, faces ignored",
        2.0 * oil / m_plain
    );
    println!(
        "{:<34} {oil:>10.1} {:>13.2}x",
        "OpenCV xphoto.oilPainting(7, 1)", 1.0
    );
    println!(
        "{:<34} {stylization:>10.1} {:>13.2}x",
        "OpenCV stylization",
        oil / stylization
    );
    println!();
    println!("each painter <= one oilPainting call: {}", verdict(pass));
    println!(
        "all four <= two oilPainting calls ({:.1} ms <= {:.1} ms): {}",
        m_all,
        2.0 * oil,
        verdict(m_all <= 2.0 * oil)
    );
    Ok(())
}
