//! The slice of the AUTOMATIC1111 web API that Articket speaks, as request and response
//! types. The pool sends these; `articket worker` (Step 5) serves them. Field names and
//! types follow A1111's `modules/api/models.py`, whose img2img request model is
//! generated from `StableDiffusionProcessingImg2Img` in `modules/processing.py`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /sdapi/v1/img2img`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Img2ImgRequest {
    /// Base64 images (a `data:image/...;base64,` prefix is accepted too).
    pub init_images: Vec<String>,
    pub prompt: String,
    pub negative_prompt: String,
    pub steps: u32,
    pub cfg_scale: f32,
    pub denoising_strength: f32,
    pub sampler_name: String,
    /// A1111 ≥ 1.9. Older servers would ignore it, so it is left out when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
    /// -1 picks a random seed.
    pub seed: i64,
    pub width: u32,
    pub height: u32,
    /// 0 just resize (stretches), 1 crop and resize, 2 resize and fill, 3 latent upscale.
    pub resize_mode: u8,
    pub batch_size: u32,
    pub n_iter: u32,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub override_settings: Map<String, Value>,
    pub override_settings_restore_afterwards: bool,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub alwayson_scripts: Map<String, Value>,
    /// Masked img2img: a base64 grey image at the init image's size, white where the
    /// picture changes. Sent only with soft inpainting, which reads its greys as how
    /// much each pixel changes; without it the mask is binary and the unmasked part
    /// would be pasted back from the photo.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub mask: Option<InpaintMask>,
    pub send_images: bool,
    pub save_images: bool,
}

impl Default for Img2ImgRequest {
    fn default() -> Self {
        Self {
            init_images: Vec::new(),
            prompt: String::new(),
            negative_prompt: String::new(),
            steps: 20,
            cfg_scale: 7.0,
            denoising_strength: 0.75,
            sampler_name: "Euler a".into(),
            scheduler: None,
            seed: -1,
            width: 512,
            height: 512,
            resize_mode: 0,
            batch_size: 1,
            n_iter: 1,
            override_settings: Map::new(),
            override_settings_restore_afterwards: true,
            alwayson_scripts: Map::new(),
            mask: None,
            send_images: true,
            save_images: false,
        }
    }
}

/// The inpainting fields of an img2img request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InpaintMask {
    pub mask: String,
    /// Gaussian blur of the mask's edge, in pixels.
    #[serde(default = "default_mask_blur")]
    pub mask_blur: u32,
    /// 1: the masked area starts from the photo ("original"), as img2img does.
    #[serde(default = "default_inpainting_fill")]
    pub inpainting_fill: u8,
    /// false: the whole picture at the requested size ("Whole picture"), not a crop
    /// around the mask.
    #[serde(default)]
    pub inpaint_full_res: bool,
    /// 0: white is what changes.
    #[serde(default)]
    pub inpainting_mask_invert: u8,
}

fn default_mask_blur() -> u32 {
    4
}

fn default_inpainting_fill() -> u8 {
    1
}

/// A1111's soft inpainting (built in since 1.8, `alwayson_scripts` key "soft
/// inpainting"): its arguments in the order of its UI, at its defaults, enabled:
/// enabled, schedule bias, preservation strength, transition contrast boost, mask
/// influence, difference threshold, difference contrast.
pub const SOFT_INPAINTING: &str = "soft inpainting";

pub fn soft_inpainting_args() -> Value {
    serde_json::json!({ "args": [true, 1.0, 0.5, 4.0, 0.0, 0.5, 2.0] })
}

/// The answer to img2img (and txt2img).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImagesResponse {
    /// Base64 PNGs, one per generated image.
    #[serde(default)]
    pub images: Vec<String>,
    /// The request as the server understood it.
    #[serde(default)]
    pub parameters: Value,
    /// A JSON document, serialised to a string: seed, infotexts and more.
    #[serde(default)]
    pub info: String,
}

/// `POST /sdapi/v1/interrogate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterrogateRequest {
    pub image: String,
    /// "clip" or "deepdanbooru" on A1111; our worker also knows "blip".
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterrogateResponse {
    pub caption: String,
}

/// `GET /sdapi/v1/progress`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressResponse {
    /// 0.0 to 1.0 over the current job.
    pub progress: f32,
    pub eta_relative: f32,
    #[serde(default)]
    pub state: ProgressState,
    #[serde(default)]
    pub current_image: Option<String>,
    #[serde(default)]
    pub textinfo: Option<String>,
}

impl ProgressResponse {
    /// The answer of a server at `step` of `steps` with `job_count` jobs under way (the
    /// fake server and `articket worker` both answer with it).
    pub fn at(step: usize, steps: usize, job_count: usize, job_timestamp: &str) -> Self {
        let progress = if steps == 0 {
            0.0
        } else {
            step as f32 / steps as f32
        };
        ProgressResponse {
            progress,
            eta_relative: if progress > 0.0 { 1.0 - progress } else { 0.0 },
            state: ProgressState {
                skipped: false,
                interrupted: false,
                job: if job_count > 0 { "img2img" } else { "" }.to_owned(),
                job_count: job_count as i64,
                job_timestamp: job_timestamp.to_owned(),
                job_no: 0,
                sampling_step: step as i64,
                sampling_steps: steps as i64,
            },
            current_image: None,
            textinfo: None,
        }
    }
}

/// The `state` object inside [`ProgressResponse`] (A1111's `shared.state.dict()`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProgressState {
    pub skipped: bool,
    pub interrupted: bool,
    pub job: String,
    pub job_count: i64,
    pub job_timestamp: String,
    pub job_no: i64,
    pub sampling_step: i64,
    pub sampling_steps: i64,
}

/// One entry of `GET /sdapi/v1/sd-models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SdModel {
    pub title: String,
    pub model_name: String,
    pub hash: Option<String>,
    pub sha256: Option<String>,
    pub filename: String,
    pub config: Option<String>,
}

/// Every field A1111 (1.10) accepts in an img2img request: the init parameters of
/// `StableDiffusionProcessing` and `StableDiffusionProcessingImg2Img` that the API does
/// not exclude, plus the fields `modules/api/models.py` adds. A request field outside
/// this list would be silently ignored by the server, so the fake server rejects it.
pub const A1111_IMG2IMG_FIELDS: &[&str] = &[
    // StableDiffusionProcessing
    "prompt",
    "negative_prompt",
    "styles",
    "seed",
    "subseed",
    "subseed_strength",
    "seed_resize_from_h",
    "seed_resize_from_w",
    "sampler_name",
    "scheduler",
    "batch_size",
    "n_iter",
    "steps",
    "cfg_scale",
    "width",
    "height",
    "restore_faces",
    "tiling",
    "do_not_save_samples",
    "do_not_save_grid",
    "eta",
    "denoising_strength",
    "s_min_uncond",
    "s_churn",
    "s_tmax",
    "s_tmin",
    "s_noise",
    "override_settings",
    "override_settings_restore_afterwards",
    "refiner_checkpoint",
    "refiner_switch_at",
    "disable_extra_networks",
    "firstpass_image",
    "comments",
    // StableDiffusionProcessingImg2Img
    "init_images",
    "resize_mode",
    "image_cfg_scale",
    "mask",
    "mask_blur_x",
    "mask_blur_y",
    "mask_blur",
    "mask_round",
    "inpainting_fill",
    "inpaint_full_res",
    "inpaint_full_res_padding",
    "inpainting_mask_invert",
    "initial_noise_multiplier",
    "latent_mask",
    "force_task_id",
    // Added by the API model
    "sampler_index",
    "include_init_images",
    "script_name",
    "script_args",
    "send_images",
    "save_images",
    "alwayson_scripts",
    "infotext",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_we_send_exists_in_a1111s_img2img_model() {
        let mut req = Img2ImgRequest {
            scheduler: Some("Karras".into()),
            ..Default::default()
        };
        req.override_settings
            .insert("sd_model_checkpoint".into(), "x".into());
        req.alwayson_scripts
            .insert("controlnet".into(), serde_json::json!({"args": []}));
        req.mask = Some(InpaintMask {
            mask: "iVBORw0KGgo=".into(),
            mask_blur: 4,
            inpainting_fill: 1,
            inpaint_full_res: false,
            inpainting_mask_invert: 0,
        });
        let Value::Object(sent) = serde_json::to_value(&req).unwrap() else {
            panic!("not an object")
        };
        assert!(sent.len() >= 24, "{sent:?}");
        assert!(sent["mask"].is_string() && sent["mask_blur"].is_u64());
        assert!(sent["inpaint_full_res"].is_boolean() && sent["inpainting_fill"].is_u64());
        for key in sent.keys() {
            assert!(
                A1111_IMG2IMG_FIELDS.contains(&key.as_str()),
                "A1111 has no field {key:?}"
            );
        }
        // Types A1111 validates: lists of strings, numbers, integers, objects.
        assert!(sent["init_images"].is_array());
        assert!(sent["steps"].is_u64() && sent["width"].is_u64() && sent["seed"].is_i64());
        assert!(sent["cfg_scale"].is_f64() && sent["denoising_strength"].is_f64());
        assert!(sent["override_settings"].is_object() && sent["alwayson_scripts"].is_object());
        assert!(sent["send_images"].is_boolean());
    }

    #[test]
    fn empty_optional_fields_are_left_out() {
        let sent = serde_json::to_value(Img2ImgRequest::default()).unwrap();
        for key in [
            "scheduler",
            "override_settings",
            "alwayson_scripts",
            "mask",
            "mask_blur",
        ] {
            assert!(sent.get(key).is_none(), "{key} was sent");
        }
    }
}
