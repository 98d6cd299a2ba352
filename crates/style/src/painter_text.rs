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
