//! Closing a visit: once its painters have all ended (and a quiz visit's quiz too), the
//! ticket is rendered from whatever succeeded, stored, announced, and printed if the
//! booth prints every ticket.

use articket_store::{Visit, VisitMode, VisitStatus};

use crate::clock::now;
use crate::error::AppResult;
use crate::events::RoomEvent;
use crate::state::AppState;
use crate::tickets::ticket_content;
use crate::views::{file_url, visit_label};

/// Renders the ticket from every finished painting and closes the painting phase.
///
/// A quiz visit is closed only once its quiz is complete too: whichever of the painters
/// and the quiz finishes last closes it (see [`finish_quiz_if_painted`]).
pub async fn finish_visit(
    state: &AppState,
    room_id: &str,
    visit_id: &str,
    label: &str,
) -> AppResult<()> {
    let lock = state.running.closing.of(visit_id);
    let _closing = lock.lock().await;
    let id = visit_id.to_owned();
    let Some(visit) = state.db(move |s| s.visit(&id)).await? else {
        return Ok(());
    };
    if visit.status.is_terminal() {
        return Ok(()); // closed already
    }
    if visit.mode == VisitMode::Quiz && visit.personality.is_none() {
        tracing::debug!(visit_id, "painted; the ticket waits for the quiz");
        return Ok(());
    }
    let has_results = visit.results.iter().any(|r| r.image_file.is_some());
    let png = if !has_results {
        None
    } else {
        let st = state.clone();
        let v = visit.clone();
        let rendered = state
            .cpu(move || -> Result<Vec<u8>, String> {
                st.tickets
                    .renderer
                    .phone_ticket_png(&ticket_content(&st, &v)?)
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
    let (status, ticket_file) = state
        .db(move |s| s.close_painting(&v, png.as_deref(), now()))
        .await?;
    let painted = visit
        .results
        .iter()
        .filter(|r| r.image_file.is_some())
        .count();
    if ticket_file.is_some() {
        state.operator.log.info(format!(
            "{label}: ticket ready ({painted} of {} paintings)",
            visit.results.len()
        ));
    } else {
        state
            .operator
            .log
            .error(format!("{label}: no ticket, no painting succeeded"));
    }
    state.hub.publish(
        room_id,
        &RoomEvent::VisitDone {
            visit_id: visit_id.to_owned(),
            status,
            ticket_url: ticket_file.as_deref().map(file_url),
        },
    );
    if ticket_file.is_some() && state.config.print.enabled && state.config.print.auto {
        let (st, v) = (state.clone(), visit_id.to_owned());
        tokio::spawn(async move {
            match crate::print::print_visit(&st, &v).await {
                Ok(outcome) => tracing::info!(visit_id = %v, "automatic print: {outcome:?}"),
                Err(e) => tracing::error!(visit_id = %v, "automatic print failed: {}", e.msg),
            }
        });
    }
    Ok(())
}

/// Closes a quiz visit whose quiz just finished, if its painters are all done. (If
/// they are still at work, the last of them closes it.)
pub async fn finish_quiz_if_painted(state: &AppState, visit: &Visit) -> AppResult<()> {
    let painted = visit.results.iter().all(|r| r.status.is_terminal());
    if visit.status == VisitStatus::Painting && painted {
        let label = visit_label(visit.number, visit.name.as_deref());
        finish_visit(state, &visit.room_id, &visit.id, &label).await?;
    }
    Ok(())
}
