//! `articket bench painters`: the built-in painters against OpenCV's filters, and what
//! every bench command shares (the Python anchors, medians, verdicts).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context as _};

pub const ANCHORS: &str = include_str!("../bench/anchors.py");

pub struct BenchArgs {
    pub photos: usize,
    pub rounds: usize,
    pub python: String,
    /// Real photographs to paint instead of the drawn samples (shrunk to 512 px, as
    /// intake does).
    pub real: Vec<std::path::PathBuf>,
    /// MODNet's ONNX file: also time a visit with the painters' worlds behind the
    /// visitor (the mattes are made once, untimed: `bench matting` times them).
    pub matting: Option<PathBuf>,
}

pub fn run_json(cmd: &mut Command) -> anyhow::Result<serde_json::Value> {
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
    // As intake makes them in the booth: each photo's matte, and the faces found with
    // it, which the painters then take instead of looking again.
    let people: Vec<(image::GrayImage, Vec<articket_style::faces::Face>)> = match &args.matting {
        None => Vec::new(),
        Some(model) => {
            let matter = articket_matting::Matter::load(model, articket_matting::DEFAULT_SIDE)?;
            photos
                .iter()
                .map(|p| {
                    let person =
                        articket_studio::person_in(&matter, p).map_err(anyhow::Error::msg)?;
                    // A matte the booth would drop is kept here: the world is what is timed.
                    let matte = match person.matte {
                        Some(m) => m,
                        None => matter.matte(p)?,
                    };
                    Ok((matte, articket_studio::faces_of(&person.faces)))
                })
                .collect::<anyhow::Result<_>>()?
        }
    };
    let backdrops = builtin::backdrop::Backdrops::default();
    let mut all_world = Vec::new();
    let mut each: Vec<Vec<f64>> = vec![Vec::new(); Painter::ALL.len()];
    let mut detect = Vec::new();
    let mut detect_every = Vec::new();
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
            if !people.is_empty() {
                // What intake adds to matting: both looks, small faces included.
                let t = Instant::now();
                std::hint::black_box(articket_style::faces::detect_every(photo));
                detect_every.push(t.elapsed().as_secs_f64() * 1000.0);
            }
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
            // The same visit with the painter's world behind the visitor, as the booth
            // paints it with matting on: intake found the faces with the matte (untimed,
            // as the matte: `bench matting` times it), and each painter composes its
            // scene through the matte, then paints.
            if let Some((matte, found)) = people.get(k) {
                let t = Instant::now();
                rayon::scope(|s| {
                    for &painter in &Painter::ALL {
                        let (params, backdrops) = (&params, &backdrops);
                        s.spawn(move |_| {
                            let composed = backdrops.compose(painter, photo, Some(matte), seed);
                            let picture = composed.as_ref().unwrap_or(photo);
                            builtin::render_visit(
                                painter,
                                picture,
                                Some(matte),
                                seed,
                                params,
                                || found.clone(),
                            );
                        });
                    }
                });
                all_world.push(t.elapsed().as_secs_f64() * 1000.0);
            }
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
    if !detect_every.is_empty() {
        let d = median(&mut detect_every);
        println!(
            "{:<34} {d:>10.1} {:>13.2}x",
            "faces at intake, with the matte",
            oil / d
        );
    }
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
    let m_world = (!all_world.is_empty()).then(|| median(&mut all_world));
    if let Some(m) = m_world {
        println!(
            "{:<34} {m:>10.1} {:>13.2}x",
            "articket all four, painter's world",
            2.0 * oil / m
        );
    }
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
    if let Some(m) = m_world {
        println!(
            "all four with the painter's world <= two oilPainting calls ({m:.1} ms <= {:.1} ms): {}",
            2.0 * oil,
            verdict(m <= 2.0 * oil)
        );
    }
    Ok(())
}

/// Times from the Python anchor script: `mode` is "time" (intake) or "paint".
pub fn anchor_times(
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
