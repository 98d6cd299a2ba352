//! No missing-glyph boxes on screen: asks Chromium which font drew each non-ASCII
//! character a page shows right now, and checks that font really has the character.
//!
//! A screenshot alone cannot tell a box from a glyph reliably; the browser's own account
//! (`CSS.getPlatformFontsForNode`) can. When no font has a character, Chromium draws the
//! box with the first font of the stack, which then does not have it: the check below
//! catches exactly that. The operator's painter table once showed "□□ · Painter" this way.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::browser::{Browser, Tab};

/// Wraps each non-ASCII character the page shows (in rendered elements only) in its own
/// `<span data-glyph>`; `restore()` puts the text back as it was.
const WRAP: &str = r#"(() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const nodes = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest("script, style, svg") || el.getClientRects().length === 0) continue;
    if (getComputedStyle(el).visibility !== "visible" || !/[^\x00-\x7f]/.test(n.data)) continue;
    nodes.push(n);
  }
  const undo = [];
  for (const n of nodes) {
    const parts = [];
    for (const ch of n.data) {
      if (ch.charCodeAt(0) < 128 || /\s/.test(ch)) {
        if (typeof parts[parts.length - 1] === "string") parts[parts.length - 1] += ch; else parts.push(ch);
      } else {
        const span = document.createElement("span");
        span.dataset.glyph = "";
        span.textContent = ch;
        parts.push(span);
      }
    }
    const made = parts.map((p) => typeof p === "string" ? document.createTextNode(p) : p);
    n.replaceWith(...made);
    undo.push([n, made]);
  }
  window.__glyphUndo = () => {
    for (const [n, made] of undo) { made[0].replaceWith(n); made.slice(1).forEach((m) => m.remove()); }
  };
  return nodes.length;
})()"#;

/// The families the bundled web fonts report, and their files.
const BUNDLED: [(&str, &str); 2] = [
    ("ArticketHangul-Regular", "ArticketHangul-Regular.ttf"),
    ("ArticketHangul-Bold", "ArticketHangul-Bold.ttf"),
];

/// Asserts every non-ASCII character `tab` shows now was drawn by a font that has it,
/// and that at least `min_hangul` Hangul characters were checked (so a page that did
/// not render cannot pass). Returns the fonts that drew them.
pub async fn assert_glyphs_drawn(
    browser: &mut Browser,
    tab: &Tab,
    page: &str,
    min_hangul: usize,
) -> BTreeSet<String> {
    // Web fonts load on first use: wait until every face the page asked for is in.
    browser
        .eval(tab, "document.fonts.ready.then(() => true)")
        .await;
    let wrapped = browser.eval(tab, WRAP).await;
    assert!(wrapped.as_u64().is_some(), "{page}: {wrapped}");
    let s = Some(tab.session());
    browser.call(s, "DOM.enable", json!({})).await;
    browser.call(s, "CSS.enable", json!({})).await;
    let doc = browser
        .call(s, "DOM.getDocument", json!({ "depth": 0 }))
        .await;
    let spans = browser
        .call(
            s,
            "DOM.querySelectorAll",
            json!({ "nodeId": doc["root"]["nodeId"], "selector": "span[data-glyph]" }),
        )
        .await;
    let ids: Vec<i64> = spans["nodeIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    // The same spans in the same (document) order, as text.
    let chars = browser
        .eval(
            tab,
            "[...document.querySelectorAll('span[data-glyph]')].map((s) => s.textContent)",
        )
        .await;
    let chars: Vec<char> = chars
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().chars().next().unwrap())
        .collect();
    assert_eq!(chars.len(), ids.len(), "{page}");
    // Each character once per font that drew it.
    let mut drawn = BTreeSet::new();
    for (id, c) in ids.into_iter().zip(chars) {
        let fonts = browser
            .call(s, "CSS.getPlatformFontsForNode", json!({ "nodeId": id }))
            .await;
        for f in fonts["fonts"].as_array().unwrap() {
            let name = f["postScriptName"]
                .as_str()
                .filter(|n| !n.is_empty())
                .or(f["familyName"].as_str())
                .unwrap()
                .to_owned();
            drawn.insert((c, name, f["isCustomFont"] == json!(true)));
        }
    }
    browser.eval(tab, "window.__glyphUndo()").await;
    browser.call(s, "CSS.disable", json!({})).await;

    let hangul = drawn.iter().filter(|(c, _, _)| is_hangul(*c)).count();
    assert!(
        hangul >= min_hangul,
        "{page}: only {hangul} Hangul characters on screen"
    );
    let mut missing = Vec::new();
    let mut used = BTreeSet::new();
    // Each bundled font file read once per check, not once per character.
    let mut bundled: HashMap<String, Vec<u8>> = HashMap::new();
    for (c, font, custom) in &drawn {
        used.insert(font.clone());
        let has = if *custom {
            let data = bundled
                .entry(font.clone())
                .or_insert_with(|| bundled_font(font));
            ttf_parser::Face::parse(data, 0)
                .unwrap()
                .glyph_index(*c)
                .is_some()
        } else {
            system_has(font, *c)
        };
        if !has {
            missing.push(format!("{c} (U+{:04X}) in {font}", *c as u32));
        }
    }
    assert!(
        missing.is_empty(),
        "{page}: drawn as missing-glyph boxes: {}",
        missing.join(", ")
    );
    used
}

fn is_hangul(c: char) -> bool {
    matches!(c, '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}' | '\u{AC00}'..='\u{D7A3}')
}

/// The file of the bundled web font `name` (its PostScript name).
fn bundled_font(name: &str) -> Vec<u8> {
    let Some((_, file)) = BUNDLED.iter().find(|(n, _)| *n == name) else {
        panic!("a web font that is not ours: {name}");
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/fonts")
        .join(file);
    std::fs::read(path).unwrap()
}

/// Whether the installed font `name` (PostScript or family name) has `c`, as
/// fontconfig, which Chromium asks on Linux, says.
fn system_has(name: &str, c: char) -> bool {
    let out = Command::new("fc-list")
        .arg(format!(":charset={:x}", c as u32))
        .args(["postscriptname", "family"])
        .output()
        .expect("fc-list (fontconfig) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // Lines read "Family,Other Family:postscriptname=Name".
    text.lines().any(|l| {
        l.split([':', ','])
            .map(|p| p.trim_start_matches("postscriptname=").trim())
            .any(|p| p == name)
    })
}
