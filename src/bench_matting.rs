//! `articket bench matting`: MODNet run by our matting crate (its own ONNX interpreter,
//! one thread) against onnxruntime on the same model file and photos, at each model size,
//! in the same run (onnxruntime just before ours, for each photo and size); and what a
//! smaller size loses against 512 px.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::Context as _;
use articket_matting::{input_size, Matter};

use crate::bench::{median, run_json, verdict};

const ANCHOR: &str = include_str!("../bench/matting/anchor.py");

#[derive(clap::Args)]
pub struct MattingArgs {
    /// MODNet's ONNX file (bench/matting/fetch_modnet.sh puts one at
    /// target/test-models/modnet.onnx).
    #[arg(long, default_value = "target/test-models/modnet.onnx")]
    model: PathBuf,
    /// Photographs (repeatable); shrunk to 512 px as intake does.
    #[arg(long = "photo", required = true)]
    photos: Vec<PathBuf>,
    /// Model sizes (long side) to time, comma-separated.
    #[arg(long, default_value = "256,320,512", value_delimiter = ',')]
    sides: Vec<u32>,
    /// Timed rounds per photo and size; the median is reported.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// The Python interpreter with onnxruntime, Pillow and numpy
    /// (`pip install -r bench/matting/requirements.txt`).
    #[arg(long, default_value = "python3")]
    python: String,
}

pub fn run(args: &MattingArgs) -> anyhow::Result<()> {
    let rounds = args.rounds.max(1);
    let dir = tempfile::tempdir()?;
    let anchor = dir.path().join("anchor.py");
    std::fs::write(&anchor, ANCHOR)?;
    let mut photos = Vec::new();
    for p in &args.photos {
        let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        let photo = articket_intake::process(&bytes, &Default::default())?.image;
        // The anchor reads exactly the pixels we use.
        let file = dir.path().join(format!("{}.png", photos.len()));
        photo.save(&file)?;
        photos.push((p.display().to_string(), file, photo));
    }
    // The anchor runs for each photo and size just before ours: this shared machine's
    // speed drifts over a minute, and a ratio of runs far apart measured the drift.
    let anchor_at = |file: &PathBuf, side: u32| -> anyhow::Result<(f64, f64)> {
        let ort = run_json(
            Command::new(&args.python)
                .arg(&anchor)
                .arg(&args.model)
                .arg(rounds.to_string())
                .arg(side.to_string())
                .arg(file),
        )?;
        let o = &ort[file.display().to_string()][side.to_string()];
        Ok((
            o["1"].as_f64().unwrap_or(f64::NAN),
            o["2"].as_f64().unwrap_or(f64::NAN),
        ))
    };
    println!(
        "MODNet ({}), ours on one thread against onnxruntime, median of {rounds}",
        args.model.display()
    );
    println!(
        "{:<40} {:>5} {:>9} {:>11} {:>9} {:>9} {:>7} {:>10} {:>9}",
        "photo",
        "side",
        "input",
        "ours model",
        "ours all",
        "ort 1 th",
        "ratio",
        "ort 2 th",
        "vs 512"
    );
    for (label, file, photo) in &photos {
        let mut reference = None;
        let mut rows = Vec::new();
        // 512 first: the others are compared with it.
        let mut order = args.sides.clone();
        order.sort_unstable_by(|a, b| b.cmp(a));
        for &side in &order {
            let (o1, o2) = anchor_at(file, side)?;
            let matter = Matter::load(&args.model, side)?;
            let (w, h) = input_size(photo.width(), photo.height(), side);
            let small =
                image::imageops::resize(photo, w, h, image::imageops::FilterType::CatmullRom);
            matter.alpha_at(&small)?; // prepares the plan for this shape
            let mut model = Vec::new();
            let mut whole = Vec::new();
            let mut matte = None;
            for _ in 0..rounds {
                let t = Instant::now();
                matter.alpha_at(&small)?;
                model.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                matte = Some(matter.matte(photo)?);
                whole.push(t.elapsed().as_secs_f64() * 1e3);
            }
            let matte = matte.expect("at least one round");
            let loss = match &reference {
                None => {
                    reference = Some(matte.clone());
                    None
                }
                Some(r) => Some(difference(r, &matte)),
            };
            let ours = median(&mut model);
            rows.push((side, (w, h), ours, median(&mut whole), o1, o2, loss));
        }
        rows.sort_by_key(|r| r.0);
        for (side, (w, h), ours, whole, o1, o2, loss) in rows {
            let loss = loss.map_or("-".to_owned(), |(mean, off)| format!("{mean:.2}/{off:.1}%"));
            println!(
                "{:<40} {side:>5} {:>9} {ours:>8.1} ms {whole:>6.1} ms {o1:>6.1} ms {:>6.2}× {o2:>7.1} ms {loss:>9}  {}",
                label,
                format!("{w}×{h}"),
                ours / o1,
                verdict(ours <= o1)
            );
        }
    }
    println!("ratio: ours (model only) ÷ onnxruntime on one thread; target ≤ 1.0×.");
    println!("vs 512: mean |matte − matte at 512| in 1/255 steps / share of pixels off by more than 25 %.");
    Ok(())
}

/// Mean absolute difference in 1/255 steps, and the percentage of pixels that differ by
/// more than a quarter.
fn difference(a: &image::GrayImage, b: &image::GrayImage) -> (f64, f64) {
    let n = a.as_raw().len().max(1) as f64;
    let (mut sum, mut off) = (0f64, 0usize);
    for (x, y) in a.as_raw().iter().zip(b.as_raw()) {
        let d = x.abs_diff(*y);
        sum += f64::from(d);
        off += usize::from(d > 64);
    }
    (sum / n, 100.0 * off as f64 / n)
}
