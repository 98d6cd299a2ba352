//! `articket bench ticket`: the phone and quiz tickets' render time with four real
//! paintings from the built-in painters, and sample tickets of every layout.

use std::path::Path;
use std::time::Instant;

use crate::bench::{median, verdict};

/// The four sample paintings as stored (JPEG q90), for ticket benchmarks and samples.
pub fn sample_ticket_paintings(look: usize) -> Vec<articket_ticket::TicketPainting> {
    use articket_style::{builtin, samples, Painter};
    let photo = samples::portrait(384, 512, samples::LOOKS[look % samples::LOOKS.len()]);
    Painter::ALL
        .iter()
        .map(|&p| {
            let img = builtin::render(p, &photo, 7, &builtin::BuiltinParams::default());
            articket_ticket::TicketPainting {
                painter: p,
                label_en: p.name_en().into(),
                label_ko: p.name_ko().into(),
                tagline: None,
                image: articket_intake::encode_jpeg(&img, 90).expect("jpeg").into(),
            }
        })
        .collect()
}

/// `articket bench ticket`: the phone ticket's render time with four real paintings
/// (the median of `rounds`); the target is 50 ms.
pub fn ticket(rounds: usize, samples: Option<&Path>) -> anyhow::Result<()> {
    let renderer = articket_ticket::TicketRenderer::new();
    if let Some(dir) = samples {
        // Each layout with real paintings from the built-in renderer.
        std::fs::create_dir_all(dir)?;
        for (n, look, name) in [
            (4, 0, "김민지"),
            (3, 1, "Ada Lovelace"),
            (2, 2, "이서윤"),
            (1, 0, "김민지 Minji"),
        ] {
            let mut paintings = sample_ticket_paintings(look);
            paintings.truncate(n);
            let png = renderer.phone_ticket_png(&articket_ticket::TicketContent {
                name: name.into(),
                date: "2026.11.25".into(),
                serial: Some(42),
                link: Some("http://192.168.0.12:8080/v/0123456789abcdef0123456789abcdef".into()),
                paintings,
                quiz: None,
            })?;
            let path = dir.join(format!("ticket-{n}.png"));
            std::fs::write(&path, png)?;
            println!("wrote {}", path.display());
        }
    }
    let content = articket_ticket::TicketContent {
        name: "김민지 Minji".into(),
        date: "2026.11.25".into(),
        serial: Some(42),
        link: Some("http://192.168.0.12:8080/v/0123456789abcdef0123456789abcdef".into()),
        paintings: sample_ticket_paintings(0),
        quiz: None,
    };
    // The quiz ticket from the same paintings: Lichtenstein large, Van Gogh and Renoir
    // small, with the built-in quiz's lines.
    let quiz = articket_quiz::Quiz::builtin();
    let outcome = articket_quiz::TypeCode(['E', 'N', 'F', 'P']).outcome();
    let texts = quiz.painter_text(outcome.painter);
    let slot = |p: articket_style::Painter, ko: &str, en: &str| articket_ticket::QuizSlot {
        painter: p,
        label_ko: p.name_ko().into(),
        label_en: p.name_en().into(),
        line_ko: ko.into(),
        line_en: en.into(),
    };
    let quiz_content = articket_ticket::TicketContent {
        paintings: sample_ticket_paintings(0),
        quiz: Some(articket_ticket::QuizPart {
            code: outcome.code.to_string(),
            painter: slot(outcome.painter, &texts.ko, &texts.en),
            good: slot(outcome.good, &texts.good_ko, &texts.good_en),
            bad: slot(outcome.bad, &texts.bad_ko, &texts.bad_en),
        }),
        name: content.name.clone(),
        date: content.date.clone(),
        serial: content.serial,
        link: content.link.clone(),
    };
    if let Some(dir) = samples {
        let path = dir.join("ticket-quiz.png");
        std::fs::write(&path, renderer.phone_ticket_png(&quiz_content)?)?;
        println!("wrote {}", path.display());
    }
    // Interleaved rounds, so both layouts see the same machine.
    let (mut plain, mut quizzed) = (Vec::new(), Vec::new());
    renderer.phone_ticket_png(&content)?;
    renderer.phone_ticket_png(&quiz_content)?;
    for _ in 0..rounds.max(1) {
        for (c, times) in [(&content, &mut plain), (&quiz_content, &mut quizzed)] {
            let t = Instant::now();
            let png = renderer.phone_ticket_png(c)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(png);
        }
    }
    let (m, q) = (median(&mut plain), median(&mut quizzed));
    println!(
        "phone ticket 1080x1920, 4 paintings, {} rounds: median {m:.1} ms",
        plain.len()
    );
    println!(
        "quiz ticket 1080x1920, 1 large + 2 small: median {q:.1} ms ({:.2}x the phone ticket)",
        q / m
    );
    println!("target <= 50 ms: {}", verdict(m <= 50.0 && q <= 50.0));
    Ok(())
}
