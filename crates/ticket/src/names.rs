//! Visitor names as they may appear on a ticket.

/// Characters that reorder text (bidi embeddings, overrides and isolates) or hide in it
/// (zero-width joiners aside). A name cannot use them to flip "Amy" into a misleading
/// string or to smuggle invisible text onto a ticket.
fn is_forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
        || matches!(c, '\u{200B}' | '\u{2060}' | '\u{FEFF}')
}

/// The name cleaned for a ticket: forbidden characters removed, runs of whitespace
/// collapsed, trimmed, and cut to `max_chars` characters (never inside a character).
pub fn clean_name(raw: &str, max_chars: usize) -> String {
    let kept: String = raw
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|&c| !is_forbidden(c))
        .collect();
    let collapsed = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed
        .chars()
        .take(max_chars)
        .collect::<String>()
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_cut_and_cleaned() {
        assert_eq!(clean_name("  김  민지 \n", 24), "김 민지");
        let forty: String = "가나다라마바사아자차".repeat(4);
        assert_eq!(clean_name(&forty, 24).chars().count(), 24);
        // Right-to-left text stays; the override that would flip "exe.txt" goes.
        assert_eq!(clean_name("\u{202E}txt.exe", 24), "txt.exe");
        assert_eq!(clean_name("مريم", 24), "مريم");
        assert_eq!(clean_name("a\u{200B}b\u{0007}c", 24), "abc");
        assert_eq!(clean_name("🎨 Ada", 24), "🎨 Ada");
        assert_eq!(
            clean_name("<script>", 24),
            "<script>",
            "markup is escaped at render time"
        );
    }
}
