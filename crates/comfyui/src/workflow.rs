//! The operator's workflows: ComfyUI's API format ("Save (API format)"), a JSON object
//! of node id → `{ "class_type", "inputs" }`, with placeholders we fill for each job.
//!
//! Placeholders are written as string values:
//! - `"{{input_image}}"` (required): the visitor's photo, uploaded for the job, as a
//!   `LoadImage` node's `image`;
//! - `"{{seed}}"`, `"{{steps}}"`, `"{{cfg}}"`, `"{{denoise}}"`: the whole value, filled
//!   with a number from the painter's settings;
//! - `{{prompt}}`, `{{negative_prompt}}` and `{{caption}}`: anywhere inside a string,
//!   filled with the painter's prompts (the caption already in them) or the caption;
//! - `"{{mask_image}}"` (optional): how much each pixel of the photo may change, as a
//!   grey PNG at the photo's size (white: all of `{{denoise}}`), uploaded for the job,
//!   as a `LoadImageMask` node's `image`. From the matte: the person gentler than the
//!   background (`strength_person`, `strength_background`); all white without one.
//!
//! Every `filename_prefix` input (SaveImage and the like) is replaced with one unique
//! to the job, so ComfyUI never answers from its cache with an old picture.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The placeholders that stand for a whole value.
const NUMBERS: [&str; 4] = ["seed", "steps", "cfg", "denoise"];
/// The placeholders that may sit inside text.
const TEXTS: [&str; 3] = ["prompt", "negative_prompt", "caption"];
const INPUT_IMAGE: &str = "input_image";
const MASK_IMAGE: &str = "mask_image";

/// Why a workflow cannot be used; the message names the file and the node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct WorkflowError {
    pub file: PathBuf,
    pub message: String,
}

/// A checked workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub file: PathBuf,
    nodes: Map<String, Value>,
    /// Takes `{{mask_image}}`.
    masked: bool,
}

/// What one job fills in.
#[derive(Debug, Clone, PartialEq)]
pub struct Fill<'a> {
    pub input_image: &'a str,
    /// The uploaded mask, for a workflow that takes one.
    pub mask_image: Option<&'a str>,
    pub prompt: &'a str,
    pub negative_prompt: &'a str,
    pub caption: &'a str,
    pub seed: u64,
    pub steps: u32,
    pub cfg: f32,
    pub denoise: f32,
    pub filename_prefix: &'a str,
}

impl Workflow {
    /// Reads and checks a workflow file (see [`Workflow::parse`]).
    pub fn load(file: &Path) -> Result<Workflow, WorkflowError> {
        let text = std::fs::read_to_string(file).map_err(|e| WorkflowError {
            file: file.to_owned(),
            message: format!("cannot read it: {e}"),
        })?;
        Workflow::parse(file, &text)
    }

    /// Checks a workflow's text: valid JSON in the API format, every placeholder one we
    /// know, the input image used once or more, and every node's inputs an object.
    pub fn parse(file: &Path, text: &str) -> Result<Workflow, WorkflowError> {
        let fail = |message: String| WorkflowError {
            file: file.to_owned(),
            message,
        };
        let value: Value =
            serde_json::from_str(text).map_err(|e| fail(format!("not valid JSON ({e})")))?;
        let Value::Object(nodes) = value else {
            return Err(fail("not a workflow: the file is not a JSON object".into()));
        };
        if nodes.contains_key("nodes") && nodes.contains_key("links") {
            return Err(fail(
                "this is ComfyUI's UI format; save the workflow with \"Save (API format)\" \
                 (turn on the developer options in ComfyUI's settings to see it)"
                    .into(),
            ));
        }
        if nodes.is_empty() {
            return Err(fail("the workflow has no nodes".into()));
        }
        let mut found = BTreeSet::new();
        for (id, node) in &nodes {
            let class = node.get("class_type").and_then(Value::as_str);
            let inputs = node.get("inputs").and_then(Value::as_object);
            let (Some(class), Some(inputs)) = (class, inputs) else {
                return Err(fail(format!(
                    "node {id} has no class_type or inputs; is this the API format?"
                )));
            };
            for (name, value) in inputs {
                let Some(text) = value.as_str() else { continue };
                for placeholder in placeholders(text) {
                    let whole = text.trim() == format!("{{{{{placeholder}}}}}");
                    let known = if NUMBERS.contains(&placeholder.as_str())
                        || placeholder == INPUT_IMAGE
                        || placeholder == MASK_IMAGE
                    {
                        if !whole {
                            return Err(fail(format!(
                                "node {id} ({class}), input {name}: {{{{{placeholder}}}}} must be the whole value"
                            )));
                        }
                        true
                    } else {
                        TEXTS.contains(&placeholder.as_str())
                    };
                    if !known {
                        return Err(fail(format!(
                            "node {id} ({class}), input {name}: unknown placeholder {{{{{placeholder}}}}}; \
                             known: input_image, mask_image, prompt, negative_prompt, caption, seed, steps, cfg, denoise"
                        )));
                    }
                    found.insert(placeholder);
                }
            }
        }
        if !found.contains(INPUT_IMAGE) {
            return Err(fail(
                "no node takes the visitor's photo: set a LoadImage node's image to \"{{input_image}}\""
                    .into(),
            ));
        }
        Ok(Workflow {
            file: file.to_owned(),
            nodes,
            masked: found.contains(MASK_IMAGE),
        })
    }

    /// Whether the workflow takes a mask (`{{mask_image}}`).
    pub fn masked(&self) -> bool {
        self.masked
    }

    /// The workflow for one job, ready for `POST /prompt`.
    pub fn fill(&self, fill: &Fill) -> Value {
        let mut nodes = self.nodes.clone();
        for node in nodes.values_mut() {
            let Some(inputs) = node.get_mut("inputs").and_then(Value::as_object_mut) else {
                continue;
            };
            for (name, value) in inputs.iter_mut() {
                if name == "filename_prefix" && value.is_string() {
                    *value = Value::from(fill.filename_prefix);
                    continue;
                }
                let Some(text) = value.as_str() else { continue };
                let number = |n: &str| text.trim() == format!("{{{{{n}}}}}");
                *value = if number("seed") {
                    Value::from(fill.seed)
                } else if number("steps") {
                    Value::from(fill.steps)
                } else if number("cfg") {
                    Value::from(round(fill.cfg))
                } else if number("denoise") {
                    Value::from(round(fill.denoise))
                } else if number(INPUT_IMAGE) {
                    Value::from(fill.input_image)
                } else if number(MASK_IMAGE) {
                    Value::from(fill.mask_image.unwrap_or_default())
                } else if text.contains("{{") {
                    Value::from(
                        text.replace("{{prompt}}", fill.prompt)
                            .replace("{{negative_prompt}}", fill.negative_prompt)
                            .replace("{{caption}}", fill.caption),
                    )
                } else {
                    continue;
                };
            }
        }
        Value::Object(nodes)
    }

    /// Checks the workflow against a server's `/object_info`: every node class is
    /// installed, and every literal choice (a checkpoint, a ControlNet model, a
    /// sampler) is one the server lists. Values we fill and links are not checked.
    pub fn check_against(&self, object_info: &Value, server: &str) -> Result<(), WorkflowError> {
        let fail = |message: String| WorkflowError {
            file: self.file.clone(),
            message,
        };
        for (id, node) in &self.nodes {
            let class = node["class_type"].as_str().unwrap_or_default();
            let Some(info) = object_info.get(class) else {
                return Err(fail(format!(
                    "node {id}: {server} has no node class {class} (a custom node not installed there?)"
                )));
            };
            let Some(inputs) = node["inputs"].as_object() else {
                continue;
            };
            for (name, value) in inputs {
                if value.as_str().is_some_and(|t| t.contains("{{")) || name == "filename_prefix" {
                    continue;
                }
                let spec = ["required", "optional"]
                    .iter()
                    .find_map(|k| info["input"].get(k).and_then(|m| m.get(name)));
                // A choice is written as [[option, …], {…}].
                let Some(choices) = spec.and_then(|s| s.get(0)).and_then(Value::as_array) else {
                    continue;
                };
                if let Some(v) = value.as_str() {
                    if !choices.iter().any(|c| c.as_str() == Some(v)) {
                        return Err(fail(format!(
                            "node {id} ({class}), input {name}: {server} has no {v:?} \
                             (a model file not installed there?)"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Floats as a person wrote them (0.65, not 0.6499999761581421).
fn round(x: f32) -> f64 {
    (x as f64 * 1e4).round() / 1e4
}

/// The `{{name}}`s in a string.
fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim().to_owned());
        rest = &after[end + 2..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVERT: &str = r#"{
        "1": {"class_type": "LoadImage", "inputs": {"image": "{{input_image}}"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "ComfyUI"}}
    }"#;

    fn parse(text: &str) -> Result<Workflow, WorkflowError> {
        Workflow::parse(Path::new("w.json"), text)
    }

    #[test]
    fn placeholders_are_filled_with_numbers_and_text() {
        let w = parse(
            r#"{
            "1": {"class_type": "LoadImage", "inputs": {"image": "{{input_image}}"}},
            "2": {"class_type": "KSampler", "inputs": {"seed": "{{seed}}", "steps": "{{steps}}",
                  "cfg": "{{cfg}}", "denoise": "{{denoise}}", "sampler_name": "dpmpp_2m"}},
            "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}, masterpiece"}},
            "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{negative_prompt}}"}},
            "5": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["2", 0]}},
            "6": {"class_type": "LoadImageMask", "inputs": {"image": "{{mask_image}}", "channel": "red"}}
        }"#,
        )
        .unwrap();
        assert!(w.masked());
        let filled = w.fill(&Fill {
            input_image: "articket/a.jpg",
            mask_image: Some("articket/a-mask.png"),
            prompt: "a cubist portrait of a woman",
            negative_prompt: "photo",
            caption: "a woman",
            seed: 123,
            steps: 30,
            cfg: 7.0,
            denoise: 0.65,
            filename_prefix: "articket/job-1",
        });
        assert_eq!(filled["1"]["inputs"]["image"], "articket/a.jpg");
        assert_eq!(filled["6"]["inputs"]["image"], "articket/a-mask.png");
        let k = &filled["2"]["inputs"];
        assert_eq!(
            (
                &k["seed"],
                &k["steps"],
                &k["cfg"],
                &k["denoise"],
                &k["sampler_name"]
            ),
            (
                &Value::from(123),
                &Value::from(30),
                &Value::from(7.0),
                &Value::from(0.65),
                &Value::from("dpmpp_2m")
            )
        );
        assert_eq!(
            filled["3"]["inputs"]["text"],
            "a cubist portrait of a woman, masterpiece"
        );
        assert_eq!(filled["4"]["inputs"]["text"], "photo");
        assert_eq!(filled["5"]["inputs"]["filename_prefix"], "articket/job-1");
    }

    #[test]
    fn bad_workflows_are_refused_naming_the_node() {
        let cases = [
            ("{", "not valid JSON"),
            (r#"{"nodes": [], "links": []}"#, "Save (API format)"),
            (
                r#"{"1": {"class_type": "LoadImage"}}"#,
                "node 1 has no class_type or inputs",
            ),
            (
                r#"{"1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}}}"#,
                "no node takes the visitor's photo",
            ),
            (
                r#"{"1": {"class_type": "LoadImage", "inputs": {"image": "{{input_image}}"}},
                    "2": {"class_type": "KSampler", "inputs": {"seed": "{{sed}}"}}}"#,
                "node 2 (KSampler), input seed: unknown placeholder {{sed}}",
            ),
            (
                r#"{"1": {"class_type": "LoadImage", "inputs": {"image": "{{input_image}}"}},
                    "2": {"class_type": "KSampler", "inputs": {"seed": "1{{seed}}"}}}"#,
                "must be the whole value",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.starts_with("w.json: ") && err.contains(expected),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn the_servers_node_classes_and_model_files_are_checked() {
        let info: Value = serde_json::json!({
            "LoadImage": {"input": {"required": {"image": [["a.png"], {"image_upload": true}]}}},
            "ImageInvert": {"input": {"required": {"image": ["IMAGE"]}}},
            "SaveImage": {"input": {"required": {"images": ["IMAGE"], "filename_prefix": ["STRING", {}]}}},
            "CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [["sd15.safetensors"]]}}}
        });
        parse(INVERT).unwrap().check_against(&info, "gpu1").unwrap();
        let missing_node = INVERT.replace("ImageInvert", "ImageSharpenPlus");
        let err = parse(&missing_node)
            .unwrap()
            .check_against(&info, "gpu1")
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("node 2: gpu1 has no node class ImageSharpenPlus"),
            "{err}"
        );
        let with_ckpt = INVERT.replace(
            r#""3":"#,
            r#""4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}}, "3":"#,
        );
        let err = parse(&with_ckpt)
            .unwrap()
            .check_against(&info, "gpu1")
            .unwrap_err();
        assert!(err.to_string().contains("node 4 (CheckpointLoaderSimple), input ckpt_name: gpu1 has no \"sdxl.safetensors\""), "{err}");
    }
}
