//! Starting the real binary the way an operator does: every start-up failure comes
//! before the banner and says what to do, and the banner says what paints.

use std::process::{Command, Stdio};

use crate::util::*;

/// `articket serve` on loopback with `args`; waits for it to exit (a failure) and
/// returns (exit code, stdout, stderr).
fn failed_start(args: &[&str], data_dir: &std::path::Path) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_articket"))
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{}", free_port()),
            "--data-dir",
        ])
        .arg(data_dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A data folder that cannot be made stops the booth before its banner, naming the
/// folder and the fix.
#[test]
fn a_data_folder_that_cannot_be_made_stops_the_start_before_the_banner() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let (code, stdout, stderr) = failed_start(&[], &file.join("data"));
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("booth is running"), "no banner: {stdout}");
    assert!(
        stderr.contains("a-file/data cannot be used") && stderr.contains("--data-dir"),
        "{stderr}"
    );
}

/// A second booth on a folder another booth is using refuses to start, naming the
/// running one; the first keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_booth_on_the_same_folder_refuses_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_articket"))
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = Booth(child);
    let server = TestServer::external(format!("http://127.0.0.1:{port}"), dir.path()).await;
    let (code, stdout, stderr) = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || failed_start(&[], &dir)
    })
    .await
    .unwrap();
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("booth is running"), "no banner: {stdout}");
    assert!(
        stderr.contains("another booth is using the data folder")
            && stderr.contains(&format!("process {}", first.0.id()))
            && stderr.contains("stop it first"),
        "{stderr}"
    );
    let health = get_json(&reqwest::Client::new(), &server, "/healthz").await;
    assert_eq!(health["status"], "ok", "the first booth is untouched");
    first.kill();
}

/// The banner comes once the booth can serve, names what paints, and warns that a
/// loopback address keeps phones out; "store migrated" lines come before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banner_names_the_painters_and_warns_about_a_loopback_address() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut booth = Command::new(env!("CARGO_BIN_EXE_articket"))
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    TestServer::external(format!("http://127.0.0.1:{port}"), dir.path()).await;
    booth.kill().unwrap();
    let out = booth.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let banner = stdout.find("ARTICKET booth is running").expect("a banner");
    let migrated = stdout
        .rfind("store migrated")
        .expect("migrations are logged");
    assert!(migrated < banner, "migrations before the banner:\n{stdout}");
    assert!(
        stdout.contains("Painters:     the built-in painters"),
        "{stdout}"
    );
    assert!(
        stdout.contains("phones cannot reach the booth") && stdout.contains("--bind 0.0.0.0"),
        "{stdout}"
    );
}
