//! `articket backup` while visits are being painted, and `articket restore` into a new
//! booth: the binary itself, beside a running booth, on its real SQLite file.

use std::time::Duration;

use articket_a1111::fake::FakeA1111;

use crate::stable_diffusion::use_servers;
use crate::util::*;

fn articket(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_articket"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "articket {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_ten_visits_are_painted_restores_into_a_booth_that_shows_every_ticket()
{
    // Two servers, 150 ms a painting: ten visits take about 3 s.
    let fakes = [
        FakeA1111::start(Duration::from_millis(150)).await,
        FakeA1111::start(Duration::from_millis(150)).await,
    ];
    let server = TestServer::start_with(|c| use_servers(c, &[&fakes[0], &fakes[1]])).await;
    let mut phones = Vec::new();
    for i in 0..10 {
        let (_, phone, _) = started_visit(&server, &format!("Visitor {i}")).await;
        phones.push(phone);
    }
    // Some visits are done, some still painting.
    wait_until("a first ticket", Duration::from_secs(60), || async {
        let mut done = 0;
        for phone in &phones {
            if phone.visit(&server).await["ticket_url"].is_string() {
                done += 1;
            }
        }
        done >= 1
    })
    .await;

    let backups = tempfile::tempdir().unwrap();
    let copy = backups.path().join("backup-1");
    let out = articket(&[
        "backup".as_ref(),
        copy.as_os_str(),
        "--data-dir".as_ref(),
        server.data_dir.as_os_str(),
    ]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.starts_with("Backed up 10 visits"), "{said}");

    // The backup was taken mid-painting: it holds finished tickets and unfinished visits.
    let snapshot = articket_store::Store::open_read_only(&copy).unwrap();
    let unfinished = snapshot.unfinished_visits().unwrap();
    assert!(
        !unfinished.is_empty(),
        "every visit was done before the backup"
    );
    let mut ticket_files = Vec::new();
    for phone in &phones {
        let visit = snapshot.visit(&phone.visit_id).unwrap().unwrap();
        if let Some(ticket) = visit.ticket_file {
            assert!(copy.join("files").join(&ticket).exists(), "{ticket}");
            ticket_files.push(ticket);
        }
    }
    assert!(!ticket_files.is_empty());
    drop(snapshot);
    // The booth kept going meanwhile.
    wait_painters_idle(&server, Duration::from_secs(60)).await;
    server.stop().await;

    // Restore into a new data folder, and start a booth there.
    let restored = tempfile::tempdir().unwrap();
    let data = restored.path().join("data");
    let out = articket(&[
        "restore".as_ref(),
        copy.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.starts_with("Restored 10 visits"), "{said}");
    let again = TestServer::start_in(&data, |c| use_servers(c, &[&fakes[0], &fakes[1]])).await;
    // Every visit shows its ticket: those finished at the backup as they were, the
    // others painted to the end after the restore.
    for phone in &phones {
        let mut visit = phone.visit(&again).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !visit["ticket_url"].is_string() {
            assert!(tokio::time::Instant::now() < deadline, "{visit}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            visit = phone.visit(&again).await;
        }
        let (status, _, png) = get_bytes(&again, visit["ticket_url"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        image::load_from_memory(&png).unwrap();
    }
    for ticket in &ticket_files {
        assert!(data.join("files").join(ticket).exists());
    }

    again.stop().await;

    // A restore never overwrites a booth's data.
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_articket"))
        .args([
            "restore".as_ref(),
            copy.as_os_str(),
            "--data-dir".as_ref(),
            data.as_os_str(),
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("already holds a booth's data"), "{err}");
}
