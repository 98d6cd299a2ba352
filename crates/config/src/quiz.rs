//! `[quiz]`: every painter for every visitor, or the personality quiz that picks one.

use std::path::PathBuf;

use serde::Deserialize;

/// `[quiz]`: whether visitors get every painter, or take the personality quiz that
/// picks theirs.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QuizConfig {
    pub mode: VisitMode,
    /// An operator's quiz file (questions and texts, see the built-in
    /// crates/quiz/quiz.toml); empty for the built-in one.
    pub questions: PathBuf,
}

/// What a visit is.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VisitMode {
    /// Every painter paints the visitor; the ticket shows them all.
    #[default]
    Convert,
    /// Eight questions pick the visitor's painter; the ticket shows that painter large
    /// and the good and bad matches small.
    Quiz,
    /// The visitor chooses on the phone.
    Both,
}
