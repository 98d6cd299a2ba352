//! Prompts to token ids: the CLIP tokenizer, from either of the folder layouts in use.
//!
//! transformers 5 writes `tokenizer.json` (and `tokenizer_config.json`); the published
//! checkpoints (SD 1.5, SDXL) ship transformers 4's `vocab.json` and `merges.txt` with
//! no `tokenizer.json`. Both give the same ids (the parity test checks that). The pad
//! token comes from the folder's config: SDXL's second tokenizer pads with "!", not the
//! end token, and the padding positions feed the UNet's cross-attention.

use std::path::Path;

use serde_json::{json, Value};

use crate::EngineError;

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    bos: u32,
    eos: u32,
    pad: u32,
    max_len: usize,
}

impl Tokenizer {
    pub fn load(path: &Path, max_len: usize) -> Result<Tokenizer, EngineError> {
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| EngineError::Load(format!("{}: {e}", path.display())))?;
        Self::from_inner(inner, path, max_len)
    }

    /// From `tokenizer.json` content already in memory.
    pub fn from_json(json: &serde_json::Value, max_len: usize) -> Result<Tokenizer, EngineError> {
        let inner: tokenizers::Tokenizer = serde_json::from_value(json.clone())
            .map_err(|e| EngineError::Load(format!("tokenizer: {e}")))?;
        Self::from_inner(inner, Path::new("tokenizer.json"), max_len)
    }

    /// A tokenizer folder in either layout, with its pad token.
    pub fn load_dir(dir: &Path, max_len: usize) -> Result<Tokenizer, EngineError> {
        let err = |p: &Path, e: String| EngineError::Load(format!("{}: {e}", p.display()));
        let json_path = dir.join("tokenizer.json");
        let mut tok = if json_path.is_file() {
            Self::load(&json_path, max_len)?
        } else {
            let vocab_path = dir.join("vocab.json");
            let vocab: Value = serde_json::from_str(
                &std::fs::read_to_string(&vocab_path)
                    .map_err(|e| err(&vocab_path, e.to_string()))?,
            )
            .map_err(|e| err(&vocab_path, format!("not valid JSON: {e}")))?;
            let merges_path = dir.join("merges.txt");
            let merges: Vec<String> = std::fs::read_to_string(&merges_path)
                .map_err(|e| err(&merges_path, e.to_string()))?
                .lines()
                .filter(|l| !l.starts_with("#version") && !l.trim().is_empty())
                .map(str::to_owned)
                .collect();
            Self::from_json(&clip_tokenizer_json(vocab, merges), max_len)
                .map_err(|e| err(&vocab_path, e.to_string()))?
        };
        if let Some(pad) = pad_token(dir) {
            tok.pad = tok.inner.token_to_id(&pad).ok_or_else(|| {
                err(
                    dir,
                    format!("the pad token {pad:?} is not in the vocabulary"),
                )
            })?;
        }
        Ok(tok)
    }

    fn from_inner(
        inner: tokenizers::Tokenizer,
        path: &Path,
        max_len: usize,
    ) -> Result<Tokenizer, EngineError> {
        let id = |t: &str| {
            inner
                .token_to_id(t)
                .ok_or_else(|| EngineError::Load(format!("{}: no {t} token", path.display())))
        };
        let eos = id("<|endoftext|>")?;
        Ok(Tokenizer {
            bos: id("<|startoftext|>")?,
            eos,
            pad: eos,
            inner,
            max_len,
        })
    }

    /// The end token's id: CLIP pools at its first occurrence.
    pub fn eos(&self) -> u32 {
        self.eos
    }

    /// Token ids framed by start and end tokens, cut or padded (with the folder's pad
    /// token, by default the end token, as CLIP was trained) to exactly `max_len`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| EngineError::Input(format!("cannot tokenize the prompt: {e}")))?;
        let mut ids: Vec<u32> = enc.get_ids().to_vec();
        if ids.first() != Some(&self.bos) {
            ids.insert(0, self.bos);
        }
        if ids.last() != Some(&self.eos) {
            ids.push(self.eos);
        }
        if ids.len() > self.max_len {
            ids.truncate(self.max_len - 1);
            ids.push(self.eos);
        }
        ids.resize(self.max_len, self.pad);
        Ok(ids)
    }
}

/// The pad token named in `tokenizer_config.json` or `special_tokens_map.json`.
fn pad_token(dir: &Path) -> Option<String> {
    ["tokenizer_config.json", "special_tokens_map.json"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .filter_map(|t| serde_json::from_str::<Value>(&t).ok())
        .find_map(|v| match v.get("pad_token")? {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("content")?.as_str().map(str::to_owned),
            _ => None,
        })
}

/// CLIP's fast tokenizer around a BPE vocabulary and merges: the same pipeline that
/// transformers builds (and writes as `tokenizer.json`) for `CLIPTokenizer`.
fn clip_tokenizer_json(vocab: Value, merges: Vec<String>) -> Value {
    let special = |id: &Value, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    let bos = vocab.get("<|startoftext|>").cloned().unwrap_or(Value::Null);
    let eos = vocab.get("<|endoftext|>").cloned().unwrap_or(Value::Null);
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(&bos, "<|startoftext|>"), special(&eos, "<|endoftext|>")],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFC"},
            {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
            {"type": "Lowercase"}
        ]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex":
                "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+"},
             "behavior": "Removed", "invert": true},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
        ]},
        "post_processor": {"type": "RobertaProcessing", "sep": ["<|endoftext|>", eos],
                           "cls": ["<|startoftext|>", bos], "trim_offsets": false,
                           "add_prefix_space": false},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true,
                    "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": "<|endoftext|>",
                  "continuing_subword_prefix": "", "end_of_word_suffix": "</w>",
                  "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges}
    })
}
