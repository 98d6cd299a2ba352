//! Quiz visits: the mode, and the answers so far.

use rusqlite::params;

use crate::{touched, Result, Store};

impl Store {
    /// Puts a visit in quiz mode (before its first answer).
    pub fn set_quiz_mode(&self, visit_id: &str) -> Result<()> {
        touched(self.conn().execute(
            "UPDATE visits SET mode = 'quiz', answers = COALESCE(answers, '') WHERE id = ?1",
            [visit_id],
        )?)
    }

    /// Stores a quiz visit's answers so far, and its type once they are complete. False
    /// (nothing changed) when the visit is not a quiz or its quiz is already complete.
    pub fn record_answers(
        &self,
        visit_id: &str,
        answers: &str,
        personality: Option<&str>,
    ) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE visits SET answers = ?2, personality = ?3
             WHERE id = ?1 AND mode = 'quiz' AND personality IS NULL",
            params![visit_id, answers, personality],
        )?;
        Ok(n == 1)
    }
}
