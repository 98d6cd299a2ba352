//! Quiz mode, from Articket 1.0: eight two-choice questions about a museum visit, two
//! for each of the axes E/I, N/S, T/F and J/P, give a four-letter type; the type picks
//! the visitor's painter, and each painter has a good and a bad match.
//!
//! The words (questions, answers, what each painter says about you) are data:
//! `quiz.toml` is built in, and an operator may load their own file. The scoring, the
//! type → painter table and the matches are the booth's rules and live here.

use std::collections::BTreeMap;

use articket_style::Painter;
use serde::{Deserialize, Serialize};

/// The built-in questions and texts.
pub const BUILTIN: &str = include_str!("../quiz.toml");

/// How many questions a quiz has: two per axis.
pub const QUESTIONS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Axis {
    EI,
    NS,
    TF,
    JP,
}

impl Axis {
    pub const ALL: [Axis; 4] = [Axis::EI, Axis::NS, Axis::TF, Axis::JP];

    /// The letter an "a" answer counts toward, and the one "b" counts toward.
    pub fn letters(self) -> (char, char) {
        match self {
            Axis::EI => ('E', 'I'),
            Axis::NS => ('N', 'S'),
            Axis::TF => ('T', 'F'),
            Axis::JP => ('J', 'P'),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    A,
    B,
}

impl Answer {
    /// Parses "a"/"b" (either case).
    pub fn parse(c: char) -> Option<Answer> {
        match c {
            'a' | 'A' => Some(Answer::A),
            'b' | 'B' => Some(Answer::B),
            _ => None,
        }
    }
}

/// A text in Korean and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub ko: String,
    pub en: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub axis: Axis,
    pub ko: String,
    pub en: String,
    pub a: Text,
    pub b: Text,
}

/// What the ticket says about a painter: who you are when you match them, and a line
/// about each of their matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PainterText {
    pub ko: String,
    pub en: String,
    pub good_ko: String,
    pub good_en: String,
    pub bad_ko: String,
    pub bad_en: String,
}

/// A quiz: its questions in order, and each painter's texts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quiz {
    pub questions: Vec<Question>,
    pub painters: BTreeMap<Painter, PainterText>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuizError {
    #[error("the quiz file is not valid TOML for a quiz: {0}")]
    Parse(String),
    #[error("the quiz needs exactly {QUESTIONS} questions, two per axis (EI, NS, TF, JP); {0}")]
    Shape(String),
    #[error("an empty text: {0}")]
    EmptyText(String),
    #[error("the quiz has no texts for the painter {0}")]
    MissingPainter(&'static str),
    #[error("answers must be up to {QUESTIONS} letters, each a or b")]
    BadAnswers,
}

/// A finished quiz's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The four letters, e.g. "ENFP".
    pub code: TypeCode,
    pub painter: Painter,
    pub good: Painter,
    pub bad: Painter,
}

/// A four-letter type such as ENFP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TypeCode(pub [char; 4]);

impl std::fmt::Display for TypeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|c| write!(f, "{c}"))
    }
}

impl TypeCode {
    /// Reads a stored type such as "ENFP"; `None` unless each letter is one of its
    /// axis's two.
    pub fn parse(s: &str) -> Option<TypeCode> {
        let chars: Vec<char> = s.chars().collect();
        let [a, b, c, d] = chars[..] else {
            return None;
        };
        let code = [a, b, c, d];
        Axis::ALL
            .iter()
            .zip(code)
            .all(|(axis, ch)| {
                let (x, y) = axis.letters();
                ch == x || ch == y
            })
            .then_some(TypeCode(code))
    }

    /// The painter and matches this type gets.
    pub fn outcome(self) -> Outcome {
        let painter = painter_of(self);
        Outcome {
            code: self,
            painter,
            good: good_match(painter),
            bad: bad_match(painter),
        }
    }
}

impl Serialize for TypeCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Quiz {
    /// The built-in quiz.
    pub fn builtin() -> Quiz {
        Quiz::from_toml(BUILTIN).expect("the built-in quiz is valid")
    }

    /// The operator's quiz file at `path`, or the built-in quiz when `path` is empty.
    /// The error is a sentence naming the file.
    pub fn load(path: &std::path::Path) -> Result<Quiz, String> {
        if path.as_os_str().is_empty() {
            return Ok(Quiz::builtin());
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Quiz::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads and checks a quiz file's text.
    pub fn from_toml(text: &str) -> Result<Quiz, QuizError> {
        let quiz: Quiz = toml::from_str(text).map_err(|e| QuizError::Parse(e.to_string()))?;
        quiz.check()?;
        Ok(quiz)
    }

    fn check(&self) -> Result<(), QuizError> {
        if self.questions.len() != QUESTIONS {
            return Err(QuizError::Shape(format!(
                "this file has {}",
                self.questions.len()
            )));
        }
        for axis in Axis::ALL {
            let n = self.questions.iter().filter(|q| q.axis == axis).count();
            if n != 2 {
                return Err(QuizError::Shape(format!("the axis {axis:?} has {n}")));
            }
        }
        for (i, q) in self.questions.iter().enumerate() {
            for (what, text) in [
                ("ko", &q.ko),
                ("en", &q.en),
                ("a.ko", &q.a.ko),
                ("a.en", &q.a.en),
                ("b.ko", &q.b.ko),
                ("b.en", &q.b.en),
            ] {
                if text.trim().is_empty() {
                    return Err(QuizError::EmptyText(format!("question {} {what}", i + 1)));
                }
            }
        }
        for painter in Painter::ALL {
            let t = self
                .painters
                .get(&painter)
                .ok_or(QuizError::MissingPainter(painter.id()))?;
            for (what, text) in [
                ("ko", &t.ko),
                ("en", &t.en),
                ("good_ko", &t.good_ko),
                ("good_en", &t.good_en),
                ("bad_ko", &t.bad_ko),
                ("bad_en", &t.bad_en),
            ] {
                if text.trim().is_empty() {
                    return Err(QuizError::EmptyText(format!("{} {what}", painter.id())));
                }
            }
        }
        Ok(())
    }

    /// Parses answers such as "abba": up to eight letters, each a or b.
    pub fn parse_answers(text: &str) -> Result<Vec<Answer>, QuizError> {
        if text.chars().count() > QUESTIONS {
            return Err(QuizError::BadAnswers);
        }
        text.chars()
            .map(|c| Answer::parse(c).ok_or(QuizError::BadAnswers))
            .collect()
    }

    /// The type for a full set of answers, question by question. Each axis takes the
    /// first letter unless both its answers are "b" (a 1–1 tie goes to the first).
    pub fn score(&self, answers: &[Answer]) -> Result<Outcome, QuizError> {
        if answers.len() != self.questions.len() {
            return Err(QuizError::BadAnswers);
        }
        let mut code = ['?'; 4];
        for (slot, axis) in code.iter_mut().zip(Axis::ALL) {
            let toward_first = self
                .questions
                .iter()
                .zip(answers)
                .filter(|(q, a)| q.axis == axis && **a == Answer::A)
                .count();
            let (first, second) = axis.letters();
            *slot = if toward_first >= 1 { first } else { second };
        }
        Ok(TypeCode(code).outcome())
    }

    pub fn painter_text(&self, painter: Painter) -> &PainterText {
        // `check` made sure every painter has texts.
        &self.painters[&painter]
    }
}

/// Which painter a type matches (Articket 1.0's table).
pub fn painter_of(code: TypeCode) -> Painter {
    let s = code.to_string();
    match s.as_str() {
        "ENFP" | "ESFP" | "ESTP" | "ENTP" => Painter::Lichtenstein,
        "INFJ" | "INFP" | "INTJ" | "INTP" => Painter::VanGogh,
        "ENTJ" | "ISTJ" | "ESTJ" | "ISTP" => Painter::Picasso,
        // ISFJ, ESFJ, ISFP, ENFJ: the four types left.
        _ => Painter::Renoir,
    }
}

/// The painter who brings out the best in `p`.
pub fn good_match(p: Painter) -> Painter {
    match p {
        Painter::Picasso => Painter::Renoir,
        Painter::VanGogh => Painter::Lichtenstein,
        Painter::Renoir => Painter::Picasso,
        Painter::Lichtenstein => Painter::VanGogh,
    }
}

/// The painter who clashes with `p`.
pub fn bad_match(p: Painter) -> Painter {
    match p {
        Painter::Picasso => Painter::Lichtenstein,
        Painter::VanGogh => Painter::Picasso,
        Painter::Renoir => Painter::VanGogh,
        Painter::Lichtenstein => Painter::Renoir,
    }
}

#[cfg(test)]
mod tests;
