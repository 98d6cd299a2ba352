//! Fifty visits at once over loopback, each checked by the load tool: every event on
//! every socket belongs to that socket's room, and every painting and ticket is there.

use std::time::Duration;

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_visits_keep_to_their_rooms_and_lose_nothing() {
    let server = TestServer::start().await;
    let report = articket_loadtest::run(&articket_loadtest::Options {
        url: server.base.clone(),
        visits: 50,
        concurrency: 50,
        visit_timeout: Duration::from_secs(240),
        painters: 4,
    })
    .await;
    println!("{report}");
    assert_eq!(report.errors, Vec::<String>::new());
    assert_eq!(report.completed, 50);
    assert_eq!(report.cross_room, 0);
    assert_eq!(report.lost_results, 0);
    // Each visit's two sockets heard at least its 4 paintings and its end.
    assert!(report.events >= 50 * 2 * 5, "{} events", report.events);

    // The store agrees: fifty finished visits, two hundred paintings.
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("articket_visits{status=\"done\"} 50"),
        "{metrics}"
    );
    for painter in ["picasso", "renoir", "vangogh", "lichtenstein"] {
        let line = format!("articket_results{{painter=\"{painter}\",status=\"done\"}} 50");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
}
