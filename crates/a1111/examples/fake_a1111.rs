//! Runs the fake AUTOMATIC1111 server, to try the booth's Stable Diffusion path without
//! a GPU:
//!
//! ```sh
//! cargo run -p articket-a1111 --features fake --example fake_a1111 -- 7860 1500 lichtenstein
//! ```
//!
//! Arguments: port (default 7860), milliseconds per generation (default 1500), and an
//! optional word: every img2img request whose prompt contains it answers HTTP 500.

use std::time::Duration;

use articket_a1111::fake::{FakeA1111, Fault};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port: u16 = args.first().and_then(|a| a.parse().ok()).unwrap_or(7860);
    let work = Duration::from_millis(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1500));
    let fake = FakeA1111::start_on(port, work).await;
    if let Some(word) = args.get(2) {
        fake.fault_when_prompt_contains(word, Fault::Status(500));
        println!("requests mentioning {word:?} will fail with HTTP 500");
    }
    println!(
        "fake A1111 at {} ({} ms per image); Ctrl-C stops it",
        fake.url,
        work.as_millis()
    );
    let _ = tokio::signal::ctrl_c().await;
}
