//! Printing at the kiosk: the visit's ticket as a PDF, handed to CUPS with `lp`.
//! Pressing print twice prints once; a visit has a limit; every print is logged; a
//! broken printer is reported to the operator and never holds up the visit.

use std::time::Duration;

use articket_store::PrintStart;
use serde::Serialize;

use crate::clock::now;
use crate::error::{StudioError, StudioResult};
use crate::studio::Studio;
use crate::tickets::ticket_content;

/// A second press within this many seconds of a print is the same print.
const DEDUPE_SECS: i64 = 15;

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum PrintOutcome {
    /// `lp` took the job; `message` is its answer ("request id is …").
    Printed { message: String },
    /// This visit is printing or just printed; nothing new was sent.
    AlreadyPrinting,
}

/// Prints the visit's ticket once (see the module notes).
pub async fn print_visit(studio: &Studio, visit_id: &str) -> StudioResult<PrintOutcome> {
    let cfg = &studio.config.print;
    if !cfg.enabled {
        return Err(StudioError::PrintOff);
    }
    let id = visit_id.to_owned();
    let visit = studio
        .db(move |s| s.visit(&id))
        .await?
        .ok_or(StudioError::VisitGone)?;
    if visit.ticket_file.is_none() {
        return Err(StudioError::NoTicket);
    }
    let (id, max) = (visit_id.to_owned(), cfg.max_per_visit);
    let print_id = match studio
        .db(move |s| s.begin_print(&id, max, DEDUPE_SECS, now()))
        .await?
    {
        PrintStart::Started(id) => id,
        PrintStart::AlreadyPrinting(_) => return Ok(PrintOutcome::AlreadyPrinting),
        PrintStart::LimitReached(n) => return Err(StudioError::PrintLimit(n)),
    };
    let result = run_lp(studio, &visit).await;
    let failure = result.as_ref().err().cloned();
    studio
        .db(move |s| s.finish_print(print_id, failure.as_deref().map_or(Ok(()), Err)))
        .await?;
    match result {
        Ok(message) => {
            studio
                .log
                .info(format!("Visit #{}: ticket printed", visit.number));
            Ok(PrintOutcome::Printed { message })
        }
        Err(e) => {
            tracing::error!(visit_id, "print failed: {e}");
            studio
                .log
                .error(format!("Visit #{}: print failed: {e}", visit.number));
            Err(StudioError::PrintFailed(e))
        }
    }
}

/// Renders the PDF and runs `lp`; the error is a sentence for the operator.
async fn run_lp(studio: &Studio, visit: &articket_store::Visit) -> Result<String, String> {
    let cfg = studio.config.print.clone();
    let paper = cfg.paper;
    let (st, v) = (studio.clone(), visit.clone());
    let pdf = studio
        .cpu(move || -> Result<Vec<u8>, String> {
            let content = ticket_content(&st, &v, &[])?;
            st.tickets
                .renderer
                .print_pdf(&content, paper)
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??;
    // A temporary file in the data folder, removed when this function returns.
    let file = tempfile::Builder::new()
        .prefix("print-")
        .suffix(".pdf")
        .tempfile_in(&studio.config.server.data_dir)
        .map_err(|e| format!("cannot write the PDF: {e}"))?;
    std::fs::write(file.path(), &pdf).map_err(|e| format!("cannot write the PDF: {e}"))?;
    let mut cmd = tokio::process::Command::new(&cfg.command);
    if !cfg.printer.is_empty() {
        cmd.arg("-d").arg(&cfg.printer);
    }
    cmd.arg("-n")
        .arg(cfg.copies.to_string())
        .arg("-t")
        .arg(format!(
            "Articket No. {:04}",
            visit.number - 1 + studio.config.ticket.serial_start
        ))
        .arg(file.path())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(cfg.timeout_secs), cmd.output())
        .await
        .map_err(|_| {
            format!(
                "`{}` did not answer within {} s",
                cfg.command, cfg.timeout_secs
            )
        })?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "`{}` is not installed (CUPS: apt install cups-client)",
                cfg.command
            ),
            _ => format!("cannot run `{}`: {e}", cfg.command),
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if output.status.success() {
        Ok(stdout)
    } else if stderr.is_empty() {
        Err(format!("`{}` failed ({})", cfg.command, output.status))
    } else {
        Err(stderr)
    }
}
