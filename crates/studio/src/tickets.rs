//! What goes on a visit's ticket: its finished paintings, the visitor's name, the date,
//! the ticket number, the link back, and a quiz visit's outcome.

use std::sync::Arc;

use articket_store::Visit;
use articket_style::Painter;
use articket_ticket::{Picture, TicketContent, TicketPainting};
use image::RgbImage;

use crate::clock::ticket_date;
use crate::studio::Studio;

/// The quiz part of a quiz visit's ticket: its type, its painter with their
/// description, and the good and bad matches with that painter's line about each.
fn quiz_part(studio: &Studio, visit: &Visit) -> Option<articket_ticket::QuizPart> {
    let code = articket_quiz::TypeCode::parse(visit.personality.as_deref()?)?;
    Some(quiz_part_of(&studio.quiz, code))
}

/// The quiz part of a ticket for type `code`, with `quiz`'s texts.
fn quiz_part_of(
    quiz: &articket_quiz::Quiz,
    code: articket_quiz::TypeCode,
) -> articket_ticket::QuizPart {
    let outcome = code.outcome();
    let texts = quiz.painter_text(outcome.painter);
    let slot = |p: Painter, ko: &str, en: &str| articket_ticket::QuizSlot {
        painter: p,
        label_ko: p.name_ko().to_owned(),
        label_en: p.name_en().to_owned(),
        line_ko: ko.to_owned(),
        line_en: en.to_owned(),
    };
    articket_ticket::QuizPart {
        code: outcome.code.to_string(),
        painter: slot(outcome.painter, &texts.ko, &texts.en),
        good: slot(outcome.good, &texts.good_ko, &texts.good_en),
        bad: slot(outcome.bad, &texts.bad_ko, &texts.bad_en),
    }
}

/// The visit's own results link, for its ticket's QR code: opens its paintings and
/// ticket on any phone until the visit is deleted. The key rides in the fragment, which
/// browsers never send to a server. Reads the store: call it off the async threads.
pub fn results_link(studio: &Studio, visit: &Visit) -> Result<String, String> {
    let key = match &visit.results_key {
        Some(key) => key.clone(),
        None => studio
            .store
            .results_key(&visit.id, &articket_rooms::new_id())
            .map_err(|e| e.to_string())?,
    };
    Ok(format!("{}/v/{}#k={key}", studio.base_url, visit.id))
}

/// What a visit's ticket shows: its finished paintings, name, date, number and link.
/// Paintings come from `fresh` (as the painters left them) where there, else from their
/// files: call it off the async threads.
pub fn ticket_content(
    studio: &Studio,
    visit: &Visit,
    fresh: &[(Painter, Arc<RgbImage>)],
) -> Result<TicketContent, String> {
    let mut paintings = Vec::new();
    for r in &visit.results {
        let (painter, Some(file)) = (r.painter, &r.image_file) else {
            continue;
        };
        let image = match fresh.iter().find(|(p, _)| *p == painter) {
            Some((_, pixels)) => Picture::Pixels(pixels.clone()),
            None => studio
                .store
                .files()
                .read(file)
                .map_err(|e| e.to_string())?
                .into(),
        };
        paintings.push(TicketPainting {
            painter,
            label_en: painter.name_en().to_owned(),
            label_ko: painter.name_ko().to_owned(),
            tagline: None,
            image,
        });
    }
    Ok(TicketContent {
        name: visit.name.clone().unwrap_or_default(),
        date: ticket_date(visit.created_at),
        serial: Some(visit.number - 1 + studio.config.ticket.serial_start),
        link: Some(results_link(studio, visit)?),
        paintings,
        quiz: quiz_part(studio, visit),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use articket_ticket::layout::QUIZ_TEXT_END;
    use articket_ticket::{TicketContent, TicketDesign};

    /// Every type's quiz ticket, with the longest name a visitor may type, keeps its
    /// texts above the foot: none runs under the QR code or the name.
    #[test]
    fn no_quiz_tickets_text_runs_into_its_foot() {
        let quiz = articket_quiz::Quiz::builtin();
        let letters = [('E', 'I'), ('N', 'S'), ('F', 'T'), ('P', 'J')];
        for bits in 0..16u32 {
            let code: Vec<char> = letters
                .iter()
                .enumerate()
                .map(|(i, (a, b))| if bits >> i & 1 == 0 { *a } else { *b })
                .collect();
            let code = articket_quiz::TypeCode([code[0], code[1], code[2], code[3]]);
            let part = quiz_part_of(&quiz, code);
            let content = TicketContent {
                name: "가나다라마바사아자차카타파하가나다라마바사아자".into(),
                date: "2026.12.02".into(),
                serial: Some(9999),
                link: Some(format!(
                    "http://192.168.100.200:8080/v/{}#k={}",
                    "a".repeat(32),
                    "b".repeat(32)
                )),
                paintings: Vec::new(),
                quiz: Some(part.clone()),
            };
            let (svg, _) =
                articket_ticket::layout::quiz_ticket(&content, &part, &TicketDesign::default());
            for text in svg.split("<text ").skip(1) {
                let attr = |name: &str| -> Option<f64> {
                    text.split(&format!("{name}=\""))
                        .nth(1)?
                        .split('"')
                        .next()?
                        .parse()
                        .ok()
                };
                let (Some(x), Some(y), Some(size)) = (attr("x"), attr("y"), attr("font-size"))
                else {
                    continue;
                };
                // The matches' texts (centred at 290 and 790) end above the foot.
                if x == 290.0 || x == 790.0 {
                    assert!(
                        y + size * 0.3 <= QUIZ_TEXT_END + 10.0,
                        "{code}: text at y {y} (size {size}) runs into the foot: {}",
                        text.split('>').nth(1).unwrap_or("")
                    );
                }
            }
        }
    }
}
