//! The operator log: what happened at the booth, in sentences for the operator page.
//! The studio writes it as visits go; the web edge adds logins and switches.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// Lines the operator log keeps; older ones are dropped.
const LOG_LINES: usize = 500;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// One line of the operator log. `text` may hold a visitor's name: pages must show it
/// as text, never as HTML.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub seq: u64,
    /// Unix seconds.
    pub at: i64,
    pub level: Level,
    pub text: String,
}

/// What happened at the booth, for the operator page: a bounded ring of lines, each
/// with a sequence number so the page can ask for what is new.
#[derive(Default)]
pub struct OpsLog {
    lines: Mutex<(u64, VecDeque<LogLine>)>,
}

impl OpsLog {
    pub fn push(&self, level: Level, text: impl Into<String>) {
        let mut guard = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let (next, lines) = &mut *guard;
        *next += 1;
        if lines.len() == LOG_LINES {
            lines.pop_front();
        }
        lines.push_back(LogLine {
            seq: *next,
            at: crate::clock::now(),
            level,
            text: text.into(),
        });
    }

    pub fn info(&self, text: impl Into<String>) {
        self.push(Level::Info, text)
    }

    pub fn warn(&self, text: impl Into<String>) {
        self.push(Level::Warn, text)
    }

    pub fn error(&self, text: impl Into<String>) {
        self.push(Level::Error, text)
    }

    /// Lines after `seq`, oldest first, at most `limit` (the newest ones).
    pub fn after(&self, seq: u64, limit: usize) -> Vec<LogLine> {
        let guard = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let newer: Vec<&LogLine> = guard.1.iter().filter(|l| l.seq > seq).collect();
        newer[newer.len().saturating_sub(limit)..]
            .iter()
            .map(|l| (*l).clone())
            .collect()
    }
}

/// A visit as the operator log names it: its number and, once known, the visitor's name.
pub fn visit_label(number: i64, name: Option<&str>) -> String {
    match name {
        Some(n) if !n.is_empty() => format!("Visit #{number} ({n})"),
        _ => format!("Visit #{number}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_the_newest_lines_and_answers_what_is_new() {
        let log = OpsLog::default();
        for i in 0..(LOG_LINES + 20) {
            log.info(format!("line {i}"));
        }
        let all = log.after(0, usize::MAX);
        assert_eq!(all.len(), LOG_LINES);
        assert_eq!(all[0].text, "line 20");
        let last = all.last().unwrap().seq;
        assert!(log.after(last, 100).is_empty());
        log.warn("new");
        let new = log.after(last, 100);
        assert_eq!(new.len(), 1);
        assert_eq!((new[0].level, new[0].text.as_str()), (Level::Warn, "new"));
        assert_eq!(log.after(0, 3).len(), 3, "the limit keeps the newest");
        assert_eq!(log.after(0, 3)[2].text, "new");
    }
}
