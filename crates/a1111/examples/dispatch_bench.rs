//! How much parallel dispatch saves over sequential: one visit's four paintings on two
//! fake A1111 servers (a fixed time per image), painted both ways, side by side.
//!
//! ```sh
//! cargo run --release -p articket-a1111 --features fake --example dispatch_bench -- 500 5
//! ```
//!
//! Arguments: milliseconds per image (default 500) and rounds (default 5). The ideal
//! ratio is 2.0 (two servers); what is lost to HTTP, JSON and image work shows below it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use articket_a1111::fake::FakeA1111;
use articket_a1111::A1111Pool;
use articket_pool::{AiSettings, Captioner, Dispatch, ServerSettings};
use articket_style::{PaintJob, Painter, Stylizer};
use image::{Rgb, RgbImage};

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let work = Duration::from_millis(args.first().copied().unwrap_or(500));
    let rounds = args.get(1).copied().unwrap_or(5).max(1);
    let (a, b) = (FakeA1111::start(work).await, FakeA1111::start(work).await);
    let pool = |dispatch| {
        let mut s = AiSettings {
            servers: [&a, &b]
                .iter()
                .map(|f| ServerSettings::at(f.url.clone()))
                .collect(),
            dispatch,
            captioner: Captioner::None,
            ..AiSettings::default()
        };
        for p in Painter::ALL {
            s.generation_mut(p).long_side = 512;
        }
        A1111Pool::start(s)
    };
    let parallel = pool(Dispatch::Parallel).await.expect("pool");
    let sequential = pool(Dispatch::Sequential).await.expect("pool");
    let photo = Arc::new(RgbImage::from_fn(384, 512, |x, y| {
        Rgb([(x / 2) as u8, (y / 2) as u8, 128])
    }));
    let (mut par, mut seq) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        par.push(visit(&parallel, &photo, round).await);
        seq.push(visit(&sequential, &photo, round).await);
    }
    let (p, s) = (median(&mut par), median(&mut seq));
    println!(
        "one visit, 4 paintings, 2 servers, {} ms per image, median of {rounds}:",
        work.as_millis()
    );
    println!("  parallel   {p:.3} s");
    println!("  sequential {s:.3} s");
    println!("  sequential / parallel = {:.2} (ideal 2.00)", s / p);
}

/// Paints one visit's four painters at once; seconds taken.
async fn visit(pool: &A1111Pool, photo: &Arc<RgbImage>, round: u64) -> f64 {
    let start = Instant::now();
    let visit_id: Arc<str> = format!("visit-{round}").into();
    let jobs = Painter::ALL.map(|painter| {
        let (pool, photo, visit_id) = (pool.clone(), photo.clone(), visit_id.clone());
        tokio::spawn(async move {
            let job = PaintJob {
                painter,
                visit_id,
                photo,
                photo_jpeg: Arc::from(Vec::new()),
                seed: round,
                matte: None,
                faces: None,
            };
            pool.paint(job, Arc::new(|_| {})).await
        })
    });
    for j in jobs {
        j.await.expect("joined").expect("painted");
    }
    start.elapsed().as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
