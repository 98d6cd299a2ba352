//! Closing a visit: once its painters have all ended (and a quiz visit's quiz too), the
//! ticket is rendered from whatever succeeded, stored, announced, and printed if the
//! booth prints every ticket.

use articket_store::{Visit, VisitMode, VisitStatus};

use crate::clock::now;
use crate::error::StudioResult;
use crate::events::file_url;
use crate::events::RoomEvent;
use crate::log::visit_label;
use crate::studio::Studio;
use crate::tickets::ticket_content;

/// Renders the ticket from every finished painting and closes the painting phase.
///
/// A quiz visit is closed only once its quiz is complete too: whichever of the painters
/// and the quiz finishes last closes it (see [`finish_quiz_if_painted`]).
pub async fn finish_visit(
    studio: &Studio,
    room_id: &str,
    visit_id: &str,
    label: &str,
) -> StudioResult<()> {
    let lock = studio.running.closing.of(visit_id);
    let _closing = lock.lock().await;
    // The paintings just made: this ticket is their last use in memory.
    let fresh = studio.running.paintings.take(visit_id);
    let id = visit_id.to_owned();
    let Some(visit) = studio.db(move |s| s.visit(&id)).await? else {
        return Ok(());
    };
    if visit.status.is_terminal() {
        return Ok(()); // closed already
    }
    if visit.mode == VisitMode::Quiz && visit.personality.is_none() {
        tracing::debug!(visit_id, "painted; the ticket waits for the quiz");
        for (painter, painting) in fresh {
            studio.running.paintings.keep(visit_id, painter, painting);
        }
        return Ok(());
    }
    let has_results = visit.results.iter().any(|r| r.image_file.is_some());
    let png = if !has_results {
        None
    } else {
        let st = studio.clone();
        let v = visit.clone();
        let rendered = studio
            .cpu(move || -> Result<Vec<u8>, String> {
                st.tickets
                    .renderer
                    .phone_ticket_png(&ticket_content(&st, &v, &fresh)?)
                    .map_err(|e| e.to_string())
            })
            .await?;
        match rendered {
            Ok(png) => Some(png),
            Err(e) => {
                tracing::error!(visit_id, "the ticket could not be rendered: {e}");
                None
            }
        }
    };
    // Stored and recorded in one blocking step, which runs to its end even if this task
    // is stopped meanwhile, so a ticket file never outlives its record.
    let v = visit_id.to_owned();
    let (status, ticket_file) = studio
        .db(move |s| s.close_painting(&v, png.as_deref(), now()))
        .await?;
    let painted = visit
        .results
        .iter()
        .filter(|r| r.image_file.is_some())
        .count();
    if ticket_file.is_some() {
        studio.log.info(format!(
            "{label}: ticket ready ({painted} of {} paintings)",
            visit.results.len()
        ));
    } else {
        studio
            .log
            .error(format!("{label}: no ticket, no painting succeeded"));
    }
    studio.previews.clear_visit(visit_id);
    studio.hub.publish(
        room_id,
        &RoomEvent::VisitDone {
            visit_id: visit_id.to_owned(),
            status,
            ticket_url: ticket_file.as_deref().map(file_url),
        },
    );
    if ticket_file.is_some() && studio.config.print.enabled && studio.config.print.auto {
        let (st, v) = (studio.clone(), visit_id.to_owned());
        tokio::spawn(async move {
            match crate::print::print_visit(&st, &v).await {
                Ok(outcome) => tracing::info!(visit_id = %v, "automatic print: {outcome:?}"),
                Err(e) => tracing::error!(visit_id = %v, "automatic print failed: {e}"),
            }
        });
    }
    Ok(())
}

/// Closes a quiz visit whose quiz just finished, if its painters are all done. (If
/// they are still at work, the last of them closes it.)
pub async fn finish_quiz_if_painted(studio: &Studio, visit: &Visit) -> StudioResult<()> {
    let painted = visit.results.iter().all(|r| r.status.is_terminal());
    if visit.status == VisitStatus::Painting && painted {
        let label = visit_label(visit.number, visit.name.as_deref());
        finish_visit(studio, &visit.room_id, &visit.id, &label).await?;
    }
    Ok(())
}
