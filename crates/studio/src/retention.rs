//! Deleting visits: on request ("delete my photos", the operator) and, after
//! `privacy.retention_secs`, by the sweeper.

use std::time::Duration;

use crate::clock::now;
use crate::error::StudioResult;
use crate::events::RoomEvent;
use crate::studio::Studio;

/// Deletes a visit's records and files, and tells its room (the kiosk resets).
pub async fn delete_visit(studio: &Studio, room_id: &str, visit_id: &str) -> StudioResult<()> {
    let id = visit_id.to_owned();
    let files = studio.db(move |s| s.delete_visit(&id)).await?;
    // Painters still at work on it stop: nothing more is painted for a deleted visit.
    if studio.running.tasks.abort(visit_id) {
        tracing::info!(visit_id, "stopped its painters");
    }
    drop(studio.running.paintings.take(visit_id));
    studio.previews.clear_visit(visit_id);
    for name in files {
        if let Err(e) = studio.store.files().remove(&name) {
            tracing::warn!(visit_id, "cannot delete {name}: {e}");
        }
    }
    studio.hub.publish(
        room_id,
        &RoomEvent::VisitDeleted {
            visit_id: visit_id.to_owned(),
        },
    );
    Ok(())
}

/// The retention sweeper: every so often, deletes visits older than
/// `privacy.retention_secs`, with their files. Runs until the server closes.
pub async fn sweep_forever(studio: Studio) {
    let retention = studio.config.privacy.retention_secs;
    let every = Duration::from_secs((retention / 4).clamp(1, 60));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = studio.closed() => return,
        }
        let cutoff = now() - retention as i64;
        let expired = match studio.db(move |s| s.expired_visits(cutoff)).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!("retention sweep failed: {e}");
                continue;
            }
        };
        for visit_id in expired {
            let id = visit_id.clone();
            let room_id = match studio.db(move |s| s.visit(&id)).await {
                Ok(Some(v)) => v.room_id,
                _ => continue,
            };
            match delete_visit(&studio, &room_id, &visit_id).await {
                Ok(()) => {
                    tracing::info!(visit_id, "deleted after the retention period");
                    studio
                        .log
                        .info("A visit's photos were deleted after the retention period");
                }
                Err(e) => tracing::error!(visit_id, "cannot delete an expired visit: {e}"),
            }
        }
    }
}
