//! Watching the painters: when the configured backend stops taking work, the operator
//! is told once (with the reason and what visitors get meanwhile), and again once when
//! it is back. With no fallback, kiosks waiting for a visitor are told to show the
//! painters resting.

use std::time::Duration;

use crate::events::RoomEvent;
use crate::studio::Studio;

/// Runs until the studio closes.
pub async fn watch(studio: Studio) {
    let every = Duration::from_secs_f64(studio.config.ai.sd.health_interval_secs.clamp(0.1, 5.0));
    let mut down = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = studio.closed() => return,
        }
        match (down, studio.backends.outage()) {
            (false, Some(reason)) => {
                down = true;
                let meanwhile = match studio.backends.fallback_name() {
                    Some(f) => format!("visitors are painted by the {f} painters meanwhile"),
                    None => {
                        studio.hub.publish_all(&RoomEvent::PaintersResting);
                        "kiosks show that the painters are resting, and no visitor can start"
                            .to_owned()
                    }
                };
                tracing::warn!("{reason}; {meanwhile}");
                studio.log.error(format!("{reason}; {meanwhile}"));
            }
            (true, None) => {
                down = false;
                tracing::info!("the painting servers answer again");
                studio.log.info(format!(
                    "The {} painters answer again",
                    studio.backends.active_name()
                ));
            }
            _ => {}
        }
    }
}
