//! The operator's counters, without personal data: per day, per hour, and in total.

use articket_style::Painter;
use serde::Serialize;

use crate::{painter_at, Result, Store};

/// Aggregate counts (no personal data), for monitoring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub visits: Vec<(String, u64)>,
    pub results: Vec<(String, String, u64)>,
    pub prints: Vec<(String, u64)>,
}

/// The operator page's counters for one day (visits created since a given time).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayStats {
    pub visits: u64,
    /// Per painter: (painter, done, failed).
    pub painters: Vec<(Painter, u64, u64)>,
    /// From the photo's arrival to a painting being stored, over finished paintings.
    pub latency_median_ms: Option<i64>,
    pub latency_p95_ms: Option<i64>,
    /// Visits that got a ticket.
    pub tickets: u64,
    /// Times a phone saved its ticket.
    pub tickets_saved: u64,
    pub printed: u64,
    pub print_failed: u64,
}

/// One hour of a day, for the operator's charts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourStats {
    /// Hours since the day's start (0–23).
    pub hour: u32,
    pub visits: u64,
    /// From the photo's arrival to a painting being stored, over that hour's visits.
    pub latency_median_ms: Option<i64>,
    pub latency_p95_ms: Option<i64>,
}

/// The nearest-rank quantile `q` of sorted values.
pub(crate) fn quantile(sorted: &[i64], q: f64) -> Option<i64> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get(((last as f64) * q).round() as usize).copied()
}

impl Store {
    /// Counts for `/metrics`: visits by status, results by (painter, status), prints by
    /// status.
    pub fn counts(&self) -> Result<Counts> {
        let conn = self.conn();
        let pairs = |sql: &str| -> rusqlite::Result<Vec<(String, u64)>> {
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        };
        let visits = pairs("SELECT status, COUNT(*) FROM visits GROUP BY status ORDER BY status")?;
        let prints = pairs("SELECT status, COUNT(*) FROM prints GROUP BY status ORDER BY status")?;
        let mut stmt = conn.prepare(
            "SELECT painter, status, COUNT(*) FROM results GROUP BY painter, status ORDER BY painter, status",
        )?;
        let results = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Counts {
            visits,
            results,
            prints,
        })
    }

    /// Counters for visits created at or after `since` (the operator's "today").
    pub fn day_stats(&self, since: i64) -> Result<DayStats> {
        // Over live and deleted visits alike: deleting a visit's photos does not
        // take it out of the day's counts.
        let conn = self.conn();
        let visits = conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(has_ticket), 0), COALESCE(SUM(tickets_saved), 0),
                    COALESCE(SUM(printed), 0), COALESCE(SUM(print_failed), 0)
             FROM visit_stats WHERE created_at >= ?1",
            [since],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let mut stmt = conn.prepare(
            "SELECT painter, SUM(status = 'done'), SUM(status = 'failed')
             FROM result_stats WHERE created_at >= ?1
             GROUP BY painter ORDER BY MIN(position), painter",
        )?;
        let painters = stmt
            .query_map([since], |r| Ok((painter_at(r, 0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut stmt = conn.prepare(
            "SELECT latency_ms FROM result_stats
             WHERE created_at >= ?1 AND latency_ms IS NOT NULL ORDER BY 1",
        )?;
        let latencies = stmt
            .query_map([since], |r| r.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(DayStats {
            visits: visits.0,
            painters,
            latency_median_ms: quantile(&latencies, 0.5),
            latency_p95_ms: quantile(&latencies, 0.95),
            tickets: visits.1,
            tickets_saved: visits.2,
            printed: visits.3,
            print_failed: visits.4,
        })
    }

    /// Per hour from `since` (a day's start, seconds) for `hours` hours: the visits
    /// begun in that hour, and the median and 95th percentile of the time from the
    /// photo to a painting over the paintings of those visits. Deleted visits count.
    pub fn hourly_stats(&self, since: i64, hours: usize) -> Result<Vec<HourStats>> {
        let conn = self.conn();
        let mut out: Vec<HourStats> = (0..hours)
            .map(|h| HourStats {
                hour: h as u32,
                visits: 0,
                latency_median_ms: None,
                latency_p95_ms: None,
            })
            .collect();
        let until = since + hours as i64 * 3600;
        let mut stmt = conn.prepare(
            "SELECT (created_at - ?1) / 3600, COUNT(*) FROM visit_stats
             WHERE created_at >= ?1 AND created_at < ?2 GROUP BY 1",
        )?;
        for row in stmt.query_map([since, until], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?)))? {
            let (h, n) = row?;
            if let Some(slot) = out.get_mut(h as usize) {
                slot.visits = n;
            }
        }
        let mut stmt = conn.prepare(
            "SELECT (created_at - ?1) / 3600, latency_ms FROM result_stats
             WHERE created_at >= ?1 AND created_at < ?2 AND latency_ms IS NOT NULL
             ORDER BY 1, 2",
        )?;
        let mut latencies: Vec<Vec<i64>> = vec![Vec::new(); hours];
        for row in stmt.query_map([since, until], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?)))? {
            let (h, ms) = row?;
            if let Some(list) = latencies.get_mut(h as usize) {
                list.push(ms);
            }
        }
        for (slot, list) in out.iter_mut().zip(&latencies) {
            slot.latency_median_ms = quantile(list, 0.5);
            slot.latency_p95_ms = quantile(list, 0.95);
        }
        Ok(out)
    }
}
