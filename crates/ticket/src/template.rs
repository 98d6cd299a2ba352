//! The operator's own ticket designs (`phone.svg`, `quiz.svg` in the ticket folder):
//! their `{{placeholders}}` filled with the visit's content.

use crate::layout::{data_url, index_of, qr_svg, BLANK_PNG};
use crate::{xml_escape, TicketContent, TicketDesign};

/// Fills an operator's SVG template. Placeholders, replaced as text:
///
/// | placeholder | becomes |
/// |---|---|
/// | `{{name}}`, `{{date}}`, `{{event}}`, `{{footer}}` | the text, XML-escaped |
/// | `{{serial}}` | "No. 0042", or nothing |
/// | `{{count}}` | how many paintings there are (1–4) |
/// | `{{painting1}}` … `{{painting4}}` | a data URL for `<image href="…">`; a transparent pixel when that painting is missing |
/// | `{{painter1}}` … `{{painter4}}` | "피카소 · Picasso", or nothing |
/// | `{{color1}}` … `{{color4}}` | that painter's theme colour |
/// | `{{qr}}` | the QR code to the visitor's page, drawn in a 100×100 box from the origin: place it with `<g transform="translate(x,y) scale(s)">{{qr}}</g>` |
pub fn fill_template(template: &str, content: &TicketContent, design: &TicketDesign) -> String {
    let mut out = template
        .replace("{{name}}", &xml_escape(&content.name))
        .replace("{{date}}", &xml_escape(&content.date))
        .replace("{{event}}", &xml_escape(&design.event_name))
        .replace("{{footer}}", &xml_escape(&design.footer))
        .replace(
            "{{serial}}",
            &content
                .serial
                .map(|n| format!("No. {n:04}"))
                .unwrap_or_default(),
        )
        .replace("{{count}}", &content.paintings.len().to_string());
    for i in 0..4 {
        let p = content.paintings.get(i);
        let url = p.map(|p| data_url(&p.image));
        out = out
            .replace(
                &format!("{{{{painting{}}}}}", i + 1),
                url.as_deref().unwrap_or(BLANK_PNG),
            )
            .replace(
                &format!("{{{{painter{}}}}}", i + 1),
                &p.map(|p| xml_escape(&format!("{} · {}", p.label_ko, p.label_en)))
                    .unwrap_or_default(),
            )
            .replace(
                &format!("{{{{color{}}}}}", i + 1),
                p.map_or(design.ink.as_str(), |p| design.color_of(p.painter)),
            );
    }
    let qr = content
        .link
        .as_deref()
        .map(|l| qr_svg(l, 0.0, 0.0, 100.0, &design.ink))
        .unwrap_or_default();
    out.replace("{{qr}}", &qr)
}

/// Fills an operator's quiz-ticket template (`quiz.svg`). Every placeholder of
/// [`fill_template`] works, and these more:
///
/// | placeholder | becomes |
/// |---|---|
/// | `{{type}}` | the four-letter type, e.g. "ENFP" |
/// | `{{quiz_painting}}`, `{{good_painting}}`, `{{bad_painting}}` | data URLs of the visitor's painter's painting and the good and bad matches' (a transparent pixel when one failed) |
/// | `{{quiz_painter}}`, `{{good_painter}}`, `{{bad_painter}}` | "리히텐슈타인 · Lichtenstein" |
/// | `{{quiz_color}}`, `{{good_color}}`, `{{bad_color}}` | their theme colours |
/// | `{{quiz_line_ko}}`, `{{quiz_line_en}}` | who the visitor is, as their painter |
/// | `{{good_line_ko}}`, `{{good_line_en}}`, `{{bad_line_ko}}`, `{{bad_line_en}}` | the line about each match |
pub fn fill_quiz_template(
    template: &str,
    content: &TicketContent,
    quiz: &crate::QuizPart,
    design: &TicketDesign,
) -> String {
    let mut out = template.replace("{{type}}", &xml_escape(&quiz.code));
    for (key, slot) in [
        ("quiz", &quiz.painter),
        ("good", &quiz.good),
        ("bad", &quiz.bad),
    ] {
        let url = index_of(content, slot.painter).map(|i| data_url(&content.paintings[i].image));
        out = out
            .replace(
                &format!("{{{{{key}_painting}}}}"),
                url.as_deref().unwrap_or(BLANK_PNG),
            )
            .replace(
                &format!("{{{{{key}_painter}}}}"),
                &xml_escape(&format!("{} · {}", slot.label_ko, slot.label_en)),
            )
            .replace(
                &format!("{{{{{key}_color}}}}"),
                design.color_of(slot.painter),
            )
            .replace(
                &format!("{{{{{key}_line_ko}}}}"),
                &xml_escape(&slot.line_ko),
            )
            .replace(
                &format!("{{{{{key}_line_en}}}}"),
                &xml_escape(&slot.line_en),
            );
    }
    fill_template(&out, content, design)
}
