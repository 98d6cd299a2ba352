//! `GET /healthz` and `GET /metrics`: liveness and aggregate counts for monitors. No
//! names, ids, files or server URLs.

use axum::http::header;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// Health and metrics for monitoring.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

/// `GET /healthz`: liveness, how full the intake pool is, and `"degraded"` (with the
/// reason, in general words: server errors stay in the operator's log) while the
/// configured painters cannot take work.
pub async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::Json<serde_json::Value> {
    let intake = state.intake.stats();
    let prints = match state.db(|s| s.print_log(0)).await {
        Ok((_, printed, failed)) => serde_json::json!({ "printed": printed, "failed": failed }),
        Err(_) => serde_json::Value::Null,
    };
    let backends = &state.studio.backends;
    let (status, reason) = match backends.outage() {
        None => ("ok", None),
        Some(_) => (
            "degraded",
            Some(match backends.fallback_name() {
                Some(f) => format!("no painting server answers; the {f} painters paint meanwhile"),
                None => "no painting server answers; new visitors are turned away".to_owned(),
            }),
        ),
    };
    axum::Json(serde_json::json!({
        "status": status,
        "reason": reason,
        "prints": prints,
        "intake": {
            "workers": intake.workers,
            "queue": intake.queue,
            "admitted": intake.admitted,
        },
        "painters": state.studio.backends.status_json(),
    }))
}

/// `GET /metrics`: counts and gauges in Prometheus' text format. Aggregates only: no
/// names, ids or files.
pub async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> crate::error::AppResult<impl axum::response::IntoResponse> {
    use std::fmt::Write as _;
    let counts = state.db(|s| s.counts()).await?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP articket_visits Visits in the store, by status.\n# TYPE articket_visits gauge"
    );
    for (status, n) in &counts.visits {
        let _ = writeln!(out, "articket_visits{{status=\"{status}\"}} {n}");
    }
    let _ = writeln!(out, "# HELP articket_results Painter results in the store, by painter and status.\n# TYPE articket_results gauge");
    for (painter, status, n) in &counts.results {
        let _ = writeln!(
            out,
            "articket_results{{painter=\"{painter}\",status=\"{status}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP articket_prints Print jobs, by status.\n# TYPE articket_prints gauge"
    );
    for (status, n) in &counts.prints {
        let _ = writeln!(out, "articket_prints{{status=\"{status}\"}} {n}");
    }
    let intake = state.intake.stats();
    let _ = writeln!(out, "# HELP articket_intake_admitted Uploads being decoded or waiting for a decoder.\n# TYPE articket_intake_admitted gauge\narticket_intake_admitted {}", intake.admitted);
    if let Some(pool) = state.studio.backends.pool() {
        let status = pool.status();
        let healthy = status.servers.iter().filter(|s| s.healthy).count();
        let _ = writeln!(out, "# HELP articket_painting_servers_healthy Stable Diffusion servers in rotation.\n# TYPE articket_painting_servers_healthy gauge\narticket_painting_servers_healthy {healthy}");
        let _ = writeln!(out, "# HELP articket_painting_queue Painter jobs waiting for a server.\n# TYPE articket_painting_queue gauge\narticket_painting_queue {}", status.queued);
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out))
}
