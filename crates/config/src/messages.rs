//! Config errors in an operator's words: an unknown key gets the closest valid key and
//! the section's whole list, and a wrong type is named in words ("a whole number",
//! "true or false") instead of Rust's.

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// `message` (serde's, about the key or section `path`) rewritten for an operator.
pub(crate) fn explain(path: &str, message: &str) -> String {
    if let Some(unknown) = unknown_field(message) {
        // The path names the section, or (for some) the unknown key itself.
        let path = path.trim_matches('.');
        let section = match path.rsplit_once('.') {
            _ if path == unknown => "",
            Some((parent, last)) if last == unknown => parent,
            _ => path,
        };
        let keys = section_keys(section);
        let (what, list_of) = if section.is_empty() {
            (
                format!("unknown section [{unknown}]"),
                "The sections are".to_owned(),
            )
        } else {
            (
                format!("unknown key `{unknown}`"),
                format!("The keys of [{section}] are"),
            )
        };
        if keys.is_empty() {
            return what;
        }
        let hint = match closest(unknown, &keys) {
            Some(k) if section.is_empty() => format!("; did you mean [{k}]?"),
            Some(k) => format!("; did you mean `{k}`?"),
            None => ".".to_owned(),
        };
        return format!("{what}{hint} {list_of}: {}.", keys.join(", "));
    }
    in_words(message)
}

/// The unknown key's name in serde's "unknown field `x`, expected …".
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// Every key a section accepts, from the types themselves (sections whose types take
/// flattened keys add those by hand; a test checks each of them is accepted).
fn section_keys(section: &str) -> Vec<&'static str> {
    use articket_pool as pool;
    let normal: String = section
        .split('.')
        .map(|part| part.split('[').next().unwrap_or(part))
        .collect::<Vec<_>>()
        .join(".");
    let painter = |s: &str| ["picasso", "renoir", "vangogh", "lichtenstein"].contains(&s);
    let parts: Vec<&str> = normal.split('.').collect();
    let mut keys: Vec<&'static str> = match parts.as_slice() {
        [""] => [fields_of::<crate::Config>(), &["ai"]].concat(),
        ["server"] => fields_of::<crate::ServerConfig>().to_vec(),
        ["upload"] => [UPLOAD_OWN, fields_of::<articket_intake::IntakeOptions>()].concat(),
        ["kiosk"] => fields_of::<crate::KioskConfig>().to_vec(),
        ["privacy"] => fields_of::<crate::PrivacyConfig>().to_vec(),
        ["limits"] => fields_of::<crate::LimitsConfig>().to_vec(),
        ["admin"] => fields_of::<crate::AdminConfig>().to_vec(),
        ["quiz"] => fields_of::<crate::QuizConfig>().to_vec(),
        ["painting"] => fields_of::<crate::PaintingConfig>().to_vec(),
        ["painting", "builtin"] => fields_of::<articket_style::builtin::BuiltinParams>().to_vec(),
        ["ticket"] => [TICKET_OWN, fields_of::<articket_ticket::PainterColors>()].concat(),
        ["print"] => fields_of::<crate::PrintConfig>().to_vec(),
        ["ai"] => [AI_OWN, fields_of::<pool::AiSettings>()].concat(),
        ["ai", "local"] => fields_of::<crate::LocalSettings>().to_vec(),
        ["ai", "servers"] => fields_of::<pool::ServerSettings>().to_vec(),
        ["ai", p] if painter(p) => fields_of::<pool::GenerationSettings>().to_vec(),
        ["ai", p, "controlnet"] if painter(p) => fields_of::<pool::ControlNetUnit>().to_vec(),
        _ => Vec::new(),
    };
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// `[upload]`'s own keys beside the intake's flattened ones.
const UPLOAD_OWN: &[&str] = &["max_name_chars", "workers", "queue"];
/// `[ticket]`'s own keys beside the painters' colours.
const TICKET_OWN: &[&str] = &[
    "event_name",
    "footer",
    "serial_start",
    "background",
    "paper",
    "ink",
    "logo",
    "template_dir",
    "promo_image",
    "promo_text",
    "promo_handle",
];
/// `[ai]`'s own keys beside the painting servers' settings.
const AI_OWN: &[&str] = &["enabled", "backend", "fallback", "local"];

/// The closest key by edit distance, if close enough to be a typo.
fn closest<'a>(unknown: &str, keys: &[&'a str]) -> Option<&'a str> {
    let limit = (unknown.chars().count() / 3).clamp(1, 3);
    keys.iter()
        .map(|k| (distance(unknown, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance, with a swap of two neighbours counting as one edit.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// serde's type words as an operator says them.
fn in_words(message: &str) -> String {
    const WORDS: &[(&str, &str)] = &[
        ("expected u8", "expected a whole number (0 to 255)"),
        ("expected u16", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected usize", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected f32", "expected a number"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
        ("expected a string", "expected text in quotes"),
        (
            "expected a sequence",
            "expected a list, like [\"a\", \"b\"]",
        ),
        ("invalid type: string", "got the text"),
        ("invalid type: integer", "got the number"),
        ("invalid type: floating point", "got the number"),
        ("invalid type: boolean", "got"),
        ("invalid type: sequence", "got a list"),
        ("invalid type: map", "got a table"),
        ("invalid value: integer", "got the number"),
    ];
    let mut out = message.to_owned();
    for (from, to) in WORDS {
        out = out.replace(from, to);
    }
    out
}

/// The field names serde's derive gives a struct, read by offering it a deserializer
/// that only listens (empty for a struct with flattened fields, which asks for a map).
fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Listen<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Listen<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("listening"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("listening"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Listen(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_closest_key_and_the_whole_list() {
        let m = explain("upload", "unknown field `long_sid`");
        assert!(
            m.starts_with("unknown key `long_sid`; did you mean `long_side`?"),
            "{m}"
        );
        assert!(
            m.contains("max_bytes") && m.contains("queue") && m.contains("jpeg_quality"),
            "{m}"
        );
        let m = explain(
            ".",
            "unknown field `ia`, expected one of `server`, `upload`",
        );
        assert!(
            m.starts_with("unknown section [ia]; did you mean [ai]?"),
            "{m}"
        );
        let m = explain("ai", "unknown field `enabeld`, expected one of `servers`");
        assert!(
            m.starts_with("unknown key `enabeld`; did you mean `enabled`?"),
            "{m}"
        );
        for key in [
            "enabled",
            "backend",
            "fallback",
            "servers",
            "captioner",
            "local",
        ] {
            assert!(
                m.contains(&format!("{key},")) || m.contains(&format!("{key}.")),
                "{key}: {m}"
            );
        }
        let m = explain("ai.servers[0]", "unknown field `pasword`");
        assert!(m.contains("did you mean `password`?"), "{m}");
        let m = explain("kiosk", "unknown field `zzzzzz`");
        assert!(
            m.starts_with("unknown key `zzzzzz`. The keys of [kiosk] are:"),
            "{m}"
        );
    }

    #[test]
    fn types_are_named_in_words() {
        assert_eq!(
            explain(
                "upload.long_side",
                "invalid type: string \"big\", expected u32"
            ),
            "got the text \"big\", expected a whole number"
        );
        assert_eq!(
            explain(
                "ai.enabled",
                "invalid type: integer `1`, expected a boolean"
            ),
            "got the number `1`, expected true or false"
        );
    }

    /// The hand-kept lists name only keys their sections accept.
    #[test]
    fn every_listed_key_is_accepted_by_its_section() {
        for (section, keys) in [
            ("upload", UPLOAD_OWN),
            ("ticket", TICKET_OWN),
            ("ai", AI_OWN),
        ] {
            for key in keys {
                let toml = format!("[{section}]\n{key} = {{ }}\n");
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("articket.toml");
                std::fs::write(&path, &toml).unwrap();
                let err = crate::Config::load(Some(&path), Vec::new())
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                assert!(!err.contains("unknown"), "[{section}] {key}: {err}");
            }
        }
        for section in [
            "", "server", "upload", "kiosk", "privacy", "limits", "admin", "quiz",
        ] {
            assert!(!section_keys(section).is_empty(), "{section:?}");
        }
        for section in [
            "painting",
            "painting.builtin",
            "ticket",
            "print",
            "ai.local",
            "ai.picasso",
        ] {
            assert!(!section_keys(section).is_empty(), "{section:?}");
        }
    }
}
