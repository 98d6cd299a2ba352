//! The booth's log as an operator keeps it: `articket > booth.log`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Log lines written to a file or a pipe carry no ANSI colour codes.
#[test]
fn log_lines_in_a_file_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_articket"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let started = Instant::now();
    let mut log_lines = Vec::new();
    for line in BufReader::new(out).lines() {
        let line = line.unwrap();
        if line.contains("INFO") {
            log_lines.push(line);
        }
        if log_lines.len() >= 3 || started.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    child.kill().ok();
    child.wait().ok();
    assert!(
        !log_lines.is_empty(),
        "the booth logged nothing at start-up"
    );
    for line in &log_lines {
        assert!(!line.contains('\x1b'), "colour codes in {line:?}");
    }
}
