//! Visitor-facing painter names, kept apart from the logic so translators find them.

use crate::Painter;

pub fn name_en(p: Painter) -> &'static str {
    match p {
        Painter::Picasso => "Picasso",
        Painter::Renoir => "Renoir",
        Painter::VanGogh => "Van Gogh",
        Painter::Lichtenstein => "Lichtenstein",
    }
}

pub fn name_ko(p: Painter) -> &'static str {
    match p {
        Painter::Picasso => "피카소",
        Painter::Renoir => "르누아르",
        Painter::VanGogh => "반 고흐",
        Painter::Lichtenstein => "리히텐슈타인",
    }
}

/// A one-line tagline for a single-painter ticket, Korean then English.
pub fn tagline(p: Painter) -> (&'static str, &'static str) {
    match p {
        Painter::Picasso => ("모든 각도의 나를 한 번에", "Every side of you, all at once"),
        Painter::Renoir => (
            "햇살 속에 피어난 따뜻한 나",
            "You, in warm and dappled light",
        ),
        Painter::VanGogh => (
            "별빛처럼 소용돌이치는 나",
            "You, swirling like the starry night",
        ),
        Painter::Lichtenstein => ("만화 속 주인공이 된 나", "You, the hero of the comic strip"),
    }
}
