//! Finished paintings for the operator's gallery and, with the visitor's consent, the
//! kiosk's attract loop.

use articket_style::Painter;
use rusqlite::params;
use serde::Serialize;

use crate::{painter_at, touched, Result, Store};

/// A finished painting, for the operator's gallery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecentPainting {
    pub visit_number: i64,
    pub painter: Painter,
    pub image_file: String,
}

impl Store {
    /// The latest finished paintings, newest first (the operator's gallery).
    pub fn recent_paintings(&self, limit: usize) -> Result<Vec<RecentPainting>> {
        self.finished_paintings(false, limit)
    }

    /// The latest finished paintings, newest first; with `on_screen`, only those of
    /// visits that agreed to be shown on the booth's screen.
    fn finished_paintings(&self, on_screen: bool, limit: usize) -> Result<Vec<RecentPainting>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT v.number, r.painter, r.image_file
             FROM results r JOIN visits v ON v.id = r.visit_id
             WHERE r.status = 'done' AND r.image_file IS NOT NULL AND (v.on_screen = 1 OR NOT ?2)
             ORDER BY r.done_ms DESC, v.number DESC, r.position LIMIT ?1",
        )?;
        let rows = stmt
            .query_map(params![limit as i64, on_screen], |r| {
                Ok(RecentPainting {
                    visit_number: r.get(0)?,
                    painter: painter_at(r, 1)?,
                    image_file: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Records whether the visitor agreed to have their paintings shown in the kiosk's
    /// attract loop.
    pub fn set_on_screen(&self, visit_id: &str, on_screen: bool) -> Result<()> {
        touched(self.conn().execute(
            "UPDATE visits SET on_screen = ?2 WHERE id = ?1",
            params![visit_id, on_screen],
        )?)
    }

    /// The latest finished paintings of visits that agreed to be shown on the booth's
    /// screen, newest first. A deleted visit's are gone with its row.
    pub fn showcase(&self, limit: usize) -> Result<Vec<RecentPainting>> {
        self.finished_paintings(true, limit)
    }
}
