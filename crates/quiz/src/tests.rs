use super::*;

/// Articket 1.0's table, as documented.
const TYPES: [(&str, [&str; 4]); 4] = [
    ("lichtenstein", ["ENFP", "ESFP", "ESTP", "ENTP"]),
    ("vangogh", ["INFJ", "INFP", "INTJ", "INTP"]),
    ("picasso", ["ENTJ", "ISTJ", "ESTJ", "ISTP"]),
    ("renoir", ["ISFJ", "ESFJ", "ISFP", "ENFJ"]),
];

fn documented_painter(code: &str) -> &'static str {
    TYPES
        .iter()
        .find(|(_, codes)| codes.contains(&code))
        .map(|(p, _)| *p)
        .unwrap_or_else(|| panic!("{code} is not in the table"))
}

#[test]
fn every_one_of_the_256_answer_patterns_gives_the_documented_type_and_painter() {
    let quiz = Quiz::builtin();
    let mut seen = std::collections::BTreeSet::new();
    for pattern in 0u32..256 {
        let answers: Vec<Answer> = (0..8)
            .map(|i| {
                if pattern >> i & 1 == 1 {
                    Answer::B
                } else {
                    Answer::A
                }
            })
            .collect();
        // Worked out independently of `score`: per axis, the letters of its two
        // questions' answers; the second letter only when both are "b".
        let mut expected = String::new();
        for (axis, (first, second)) in [('E', 'I'), ('N', 'S'), ('T', 'F'), ('J', 'P')]
            .into_iter()
            .enumerate()
        {
            let own: Vec<Answer> = quiz
                .questions
                .iter()
                .zip(&answers)
                .filter(|(q, _)| q.axis == Axis::ALL[axis])
                .map(|(_, a)| *a)
                .collect();
            assert_eq!(own.len(), 2);
            expected.push(if own == [Answer::B, Answer::B] {
                second
            } else {
                first
            });
        }
        let outcome = quiz.score(&answers).unwrap();
        assert_eq!(outcome.code.to_string(), expected, "pattern {pattern:08b}");
        assert_eq!(TypeCode::parse(&expected), Some(outcome.code));
        assert_eq!(
            outcome.painter.id(),
            documented_painter(&expected),
            "{expected}"
        );
        assert_eq!(outcome.good, good_match(outcome.painter));
        assert_eq!(outcome.bad, bad_match(outcome.painter));
        seen.insert(expected);
    }
    assert_eq!(seen.len(), 16, "every type is reachable");
}

#[test]
fn the_sixteen_types_map_as_documented() {
    let mut count = 0;
    for (painter, codes) in TYPES {
        for code in codes {
            let chars: Vec<char> = code.chars().collect();
            let code = TypeCode([chars[0], chars[1], chars[2], chars[3]]);
            assert_eq!(painter_of(code).id(), painter, "{code}");
            count += 1;
        }
    }
    assert_eq!(count, 16);
}

#[test]
fn only_real_types_parse() {
    assert!(TypeCode::parse("ENFP").is_some());
    for bad in ["", "ENF", "ENFPX", "EEFP", "enfp", "XNFP"] {
        assert_eq!(TypeCode::parse(bad), None, "{bad}");
    }
}

#[test]
fn good_and_bad_matches_hold() {
    use Painter::*;
    for (p, good, bad) in [
        (Picasso, Renoir, Lichtenstein),
        (VanGogh, Lichtenstein, Picasso),
        (Renoir, Picasso, VanGogh),
        (Lichtenstein, VanGogh, Renoir),
    ] {
        assert_eq!(good_match(p), good, "{p:?}");
        assert_eq!(bad_match(p), bad, "{p:?}");
        assert_ne!(good, bad);
        assert_ne!(good, p);
    }
}

#[test]
fn a_tie_goes_to_e_n_t_and_j() {
    let quiz = Quiz::builtin();
    // Each axis gets one a and one b.
    let answers = Quiz::parse_answers("aaaabbbb").unwrap();
    assert_eq!(quiz.score(&answers).unwrap().code.to_string(), "ENTJ");
    let answers = Quiz::parse_answers("bbbbaaaa").unwrap();
    assert_eq!(quiz.score(&answers).unwrap().code.to_string(), "ENTJ");
    let answers = Quiz::parse_answers("bbbbbbbb").unwrap();
    let outcome = quiz.score(&answers).unwrap();
    assert_eq!(outcome.code.to_string(), "ISFP");
    assert_eq!(outcome.painter, Painter::Renoir);
}

#[test]
fn answers_are_up_to_eight_letters_a_or_b() {
    assert_eq!(Quiz::parse_answers("").unwrap(), Vec::<Answer>::new());
    assert_eq!(
        Quiz::parse_answers("aB").unwrap(),
        vec![Answer::A, Answer::B]
    );
    assert_eq!(Quiz::parse_answers("abc"), Err(QuizError::BadAnswers));
    assert_eq!(Quiz::parse_answers("aaaaaaaaa"), Err(QuizError::BadAnswers));
    let quiz = Quiz::builtin();
    assert_eq!(
        quiz.score(&Quiz::parse_answers("aaa").unwrap()),
        Err(QuizError::BadAnswers),
        "scoring needs all eight"
    );
}

#[test]
fn the_builtin_quiz_is_complete_and_bad_files_are_refused_with_reasons() {
    let quiz = Quiz::builtin();
    assert_eq!(quiz.questions.len(), 8);
    for p in Painter::ALL {
        assert!(!quiz.painter_text(p).good_en.is_empty());
    }
    // Seven questions.
    let seven = BUILTIN.replacen("[[questions]]", "[[ignored]]", 1);
    assert!(matches!(Quiz::from_toml(&seven), Err(QuizError::Parse(_))));
    let mut q = quiz.clone();
    q.questions.pop();
    assert!(matches!(q.check(), Err(QuizError::Shape(_))));
    // Three questions on one axis.
    let mut q = quiz.clone();
    q.questions[1].axis = Axis::EI;
    assert!(matches!(q.check(), Err(QuizError::Shape(m)) if m.contains("EI")));
    // An empty answer text, and a painter without texts.
    let mut q = quiz.clone();
    q.questions[3].b.en = " ".into();
    assert_eq!(
        q.check(),
        Err(QuizError::EmptyText("question 4 b.en".into()))
    );
    let mut q = quiz.clone();
    q.painters.remove(&Painter::VanGogh);
    assert_eq!(q.check(), Err(QuizError::MissingPainter("vangogh")));
    assert!(matches!(
        Quiz::from_toml("questions = 3"),
        Err(QuizError::Parse(_))
    ));
}
