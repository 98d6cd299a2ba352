//! The `[ai]` settings every Stable Diffusion backend reads (the server pools and our
//! engine): the servers, how painters are spread over them, captions, time limits, and
//! each painter's generation settings. Defaults suit an SD 1.5-class checkpoint;
//! docs/ai.md explains each choice.

use std::collections::BTreeMap;

use articket_style::Painter;
use serde::{Deserialize, Serialize};

/// One Stable Diffusion server: AUTOMATIC1111, Forge, SD.Next, or `articket worker`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Base URL, e.g. `http://10.0.0.5:7860` or `https://abc-7860.proxy.runpod.net`.
    pub url: String,
    /// For servers started with `--api-auth user:password`.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// A short name for logs and the operator page; the URL's host when absent.
    #[serde(default)]
    pub label: Option<String>,
    /// Headers sent with every request, for servers behind an authenticating proxy:
    /// `headers = { Authorization = "Bearer …" }`. Never logged.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl ServerSettings {
    /// A server at `url`, without credentials, headers or label.
    pub fn at(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            user: None,
            password: None,
            label: None,
            headers: BTreeMap::new(),
        }
    }

    pub fn label(&self) -> String {
        self.label.clone().unwrap_or_else(|| {
            let rest = self.url.split("://").nth(1).unwrap_or(&self.url);
            rest.split('/').next().unwrap_or(rest).to_owned()
        })
    }
}

/// How one visit's painters use the servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dispatch {
    /// A visit's painters run at once, spread over every healthy server.
    Parallel,
    /// A visit's painters run one after another on one server.
    Sequential,
}

/// Where the `{caption}` in the prompts comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Captioner {
    /// The server's `POST /sdapi/v1/interrogate` with model "clip".
    Clip,
    /// A separate BLIP server at `blip_url` (multipart upload in, JSON `{"caption"}`
    /// out), or, with no `blip_url`, the servers' interrogate with model "blip"
    /// (`articket worker` has it; A1111 does not).
    Blip,
    /// No caption: the neutral subject phrase.
    None,
}

/// How each painting's seed is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeedPolicy {
    /// From the visit id and painter: a retry paints the same picture.
    Visit,
    /// A fresh random seed for every request.
    Random,
}

/// One painter's generation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerationSettings {
    /// The prompt; `{caption}` is replaced by the photo's caption. Left out (or empty)
    /// in a painter's section: that painter's own default.
    #[serde(default = "unset_prompt")]
    pub prompt: String,
    pub negative_prompt: String,
    /// Sampler steps. img2img runs only about steps × denoising_strength of them.
    pub steps: u32,
    pub cfg_scale: f32,
    /// Left out of a painter's section: that painter's own default.
    #[serde(default = "unset_strength")]
    pub denoising_strength: f32,
    /// With a matting model: how strongly the person is repainted (masked img2img);
    /// unset: 0.4 × `denoising_strength`, which the few steps a painting runs round up
    /// to about half. Equal to the background's: no mask at all.
    pub strength_person: Option<f32>,
    /// With a matting model: how strongly the background is repainted; unset:
    /// `denoising_strength`.
    pub strength_background: Option<f32>,
    /// A1111 ≥ 1.9 names the sampler and the schedule separately ("DPM++ 2M" and
    /// "Karras"). For older servers write `sampler = "DPM++ 2M Karras"`, `scheduler = ""`.
    pub sampler: String,
    /// Left out of the request when empty.
    pub scheduler: String,
    pub seed: SeedPolicy,
    /// Output long side; the short side follows the photo's aspect ratio. Both are
    /// rounded to multiples of 64, and the server crops the few pixels of difference
    /// (`resize_mode` 1), so nothing is ever stretched.
    pub long_side: u32,
    /// A fixed output size instead (both or neither); the photo is then cropped
    /// (`resize_mode = 1`) or padded (`resize_mode = 2`) to fit, never stretched.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub resize_mode: u8,
    /// Passed through as A1111's `override_settings`, e.g. a checkpoint per painter:
    /// `{ sd_model_checkpoint = "vangogh-v2" }`.
    pub override_settings: BTreeMap<String, serde_json::Value>,
    /// Passed through as A1111's `alwayson_scripts` (scripts other than ControlNet).
    pub alwayson_scripts: BTreeMap<String, serde_json::Value>,
    /// A1111: ControlNet units that hold the face and pose (the sd-webui-controlnet
    /// extension), sent as `alwayson_scripts.controlnet.args`.
    pub controlnet: Vec<ControlNetUnit>,
    /// ComfyUI: this painter's API-format workflow file; empty: `[ai] workflow`.
    pub workflow: String,
}

/// One ControlNet unit, in the fields the sd-webui-controlnet API documents. Its
/// control image is the visitor's photo (the img2img input).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlNetUnit {
    /// The preprocessor, e.g. "lineart_realistic", "canny", "openpose_face".
    pub module: String,
    /// The ControlNet model as the server lists it, e.g.
    /// "control_v11p_sd15_lineart [43d4be0d]".
    pub model: String,
    pub weight: f32,
    /// When in the denoising the unit starts and stops acting, 0 to 1.
    pub guidance_start: f32,
    pub guidance_end: f32,
    /// "Balanced", "My prompt is more important" or "ControlNet is more important".
    pub control_mode: String,
    /// Lets the extension pick the preprocessor's resolution from the output size.
    pub pixel_perfect: bool,
}

impl Default for ControlNetUnit {
    fn default() -> Self {
        Self {
            module: String::new(),
            model: String::new(),
            weight: 1.0,
            guidance_start: 0.0,
            guidance_end: 1.0,
            control_mode: "Balanced".into(),
            pixel_perfect: true,
        }
    }
}

/// The control modes the extension accepts, by name.
pub const CONTROL_MODES: [&str; 3] = [
    "Balanced",
    "My prompt is more important",
    "ControlNet is more important",
];

/// Everything the pool needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AiSettings {
    pub servers: Vec<ServerSettings>,
    pub dispatch: Dispatch,
    pub captioner: Captioner,
    /// The BLIP server's captioning endpoint, for `captioner = "blip"`; empty: ask the
    /// painting servers' interrogate for "blip".
    pub blip_url: String,
    /// The phrase used when there is no caption or captioning fails.
    pub neutral_caption: String,
    /// Requests in flight per server. A1111 runs one generation at a time, so more
    /// only queues on the server, where we cannot see or reorder it.
    pub max_in_flight: usize,
    /// Limit for one img2img request, from the moment it is sent.
    pub request_timeout_secs: u64,
    /// Limit for one caption request.
    pub caption_timeout_secs: u64,
    /// How often each server is probed (`GET /sdapi/v1/progress`).
    pub health_interval_secs: f64,
    /// How often progress is polled while a job runs alone on a server.
    pub progress_interval_secs: f64,
    /// ComfyUI: the API-format workflow ("Save (API format)") every painter runs,
    /// unless the painter names its own.
    pub workflow: String,
    /// ComfyUI: after this long without a message on a job's socket, its progress is
    /// read over HTTP instead.
    pub socket_stall_secs: f64,
    pub picasso: GenerationSettings,
    pub renoir: GenerationSettings,
    pub vangogh: GenerationSettings,
    pub lichtenstein: GenerationSettings,
}

impl AiSettings {
    pub fn generation(&self, painter: Painter) -> &GenerationSettings {
        match painter {
            Painter::Picasso => &self.picasso,
            Painter::Renoir => &self.renoir,
            Painter::VanGogh => &self.vangogh,
            Painter::Lichtenstein => &self.lichtenstein,
        }
    }

    pub fn generation_mut(&mut self, painter: Painter) -> &mut GenerationSettings {
        match painter {
            Painter::Picasso => &mut self.picasso,
            Painter::Renoir => &mut self.renoir,
            Painter::VanGogh => &mut self.vangogh,
            Painter::Lichtenstein => &mut self.lichtenstein,
        }
    }

    /// Checks what the types cannot. On failure: the key under `[ai]` and the problem.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (i, s) in self.servers.iter().enumerate() {
            if !(s.url.starts_with("http://") || s.url.starts_with("https://")) {
                return Err((
                    format!("servers[{i}].url"),
                    format!("{:?} must start with http:// or https://", s.url),
                ));
            }
            for name in s.headers.keys() {
                if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    return Err((
                        format!("servers[{i}].headers"),
                        format!("{name:?} is not a header name"),
                    ));
                }
            }
            if s.password.is_some() && s.user.is_none() {
                return Err((
                    format!("servers[{i}].user"),
                    "a password needs a user".into(),
                ));
            }
        }
        let url = &self.blip_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err((
                "blip_url".into(),
                "must start with http:// or https://".into(),
            ));
        }
        if self.max_in_flight == 0 {
            return Err(("max_in_flight".into(), "must be at least 1".into()));
        }
        if self.request_timeout_secs == 0 || self.caption_timeout_secs == 0 {
            return Err((
                "request_timeout_secs".into(),
                "time limits must be at least 1 s".into(),
            ));
        }
        if !(self.health_interval_secs >= 0.05
            && self.progress_interval_secs >= 0.05
            && self.socket_stall_secs >= 0.05)
        {
            return Err((
                "health_interval_secs".into(),
                "intervals must be at least 0.05 s".into(),
            ));
        }
        for p in Painter::ALL {
            let g = self.generation(p);
            let key = |k: &str| format!("{}.{k}", p.id());
            if !(1..=500).contains(&g.steps) {
                return Err((key("steps"), "must be between 1 and 500".into()));
            }
            if !(0.0..=1.0).contains(&g.denoising_strength) || g.denoising_strength == 0.0 {
                return Err((
                    key("denoising_strength"),
                    "must be above 0 and at most 1".into(),
                ));
            }
            for (name, v) in [
                ("strength_person", g.strength_person),
                ("strength_background", g.strength_background),
            ] {
                if v.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
                    return Err((key(name), "must be from 0 to 1".into()));
                }
            }
            if g.person_and_background() == (0.0, 0.0) {
                return Err((
                    key("strength_background"),
                    "the person or the background must be repainted (above 0)".into(),
                ));
            }
            if (g.steps as f32 * g.denoising_strength) < 1.0 {
                return Err((
                    key("steps"),
                    "steps × denoising_strength is below 1, so no denoising step would run".into(),
                ));
            }
            if !(64..=2048).contains(&g.long_side) {
                return Err((key("long_side"), "must be between 64 and 2048".into()));
            }
            match (g.width, g.height) {
                (None, None) => {}
                (Some(w), Some(h)) if (64..=2048).contains(&w) && (64..=2048).contains(&h) => {}
                _ => {
                    return Err((
                        key("width"),
                        "set both width and height, each 64 to 2048".into(),
                    ))
                }
            }
            if !(g.resize_mode == 1 || g.resize_mode == 2) {
                return Err((
                    key("resize_mode"),
                    "must be 1 (crop and resize) or 2 (resize and fill); 0 and 3 stretch the photo"
                        .into(),
                ));
            }
            for (u, unit) in g.controlnet.iter().enumerate() {
                let key = |k: &str| format!("{}.controlnet[{u}].{k}", p.id());
                if unit.model.is_empty() {
                    return Err((key("model"), "name the ControlNet model".into()));
                }
                if !(0.0..=2.0).contains(&unit.weight) {
                    return Err((key("weight"), "must be between 0 and 2".into()));
                }
                if !(0.0 <= unit.guidance_start
                    && unit.guidance_start < unit.guidance_end
                    && unit.guidance_end <= 1.0)
                {
                    return Err((
                        key("guidance_start"),
                        "need 0 ≤ guidance_start < guidance_end ≤ 1".into(),
                    ));
                }
                if !CONTROL_MODES.contains(&unit.control_mode.as_str()) {
                    return Err((
                        key("control_mode"),
                        format!("must be one of {CONTROL_MODES:?}"),
                    ));
                }
            }
            if !g.controlnet.is_empty() && g.alwayson_scripts.contains_key("controlnet") {
                return Err((
                    format!("{}.controlnet", p.id()),
                    "set ControlNet either as [[ai.<painter>.controlnet]] units or in alwayson_scripts, not both".into(),
                ));
            }
            if !g.prompt.contains("{caption}") {
                tracing::debug!(painter = %p, "prompt has no {{caption}} slot");
            }
        }
        Ok(())
    }
}

const NEGATIVE: &str = "photo, photorealistic, 3d render, blurry, lowres, jpeg artifacts, \
    deformed face, disfigured, extra limbs, bad anatomy, text, watermark, signature, nsfw";

impl GenerationSettings {
    /// The person's and the background's strengths where a matte tells them apart, or
    /// None when they are the same (the painting then needs no mask).
    pub fn masked_strengths(&self) -> Option<(f32, f32)> {
        let (person, background) = self.person_and_background();
        (person != background).then_some((person, background))
    }

    /// `strength_person` and `strength_background`, defaults filled in.
    fn person_and_background(&self) -> (f32, f32) {
        let background = self.strength_background.unwrap_or(self.denoising_strength);
        let person = self
            .strength_person
            .unwrap_or((0.4 * self.denoising_strength * 100.0).round() / 100.0);
        (person, background)
    }

    fn painter(prompt: &str, denoising_strength: f32) -> Self {
        Self {
            prompt: prompt.to_owned(),
            denoising_strength,
            ..Self::default()
        }
    }
}

/// What a painter's section that leaves out its prompt reads as, until
/// [`AiSettings::fill_painter_defaults`] puts the painter's own there.
fn unset_prompt() -> String {
    String::new()
}

/// The same for the denoising strength.
fn unset_strength() -> f32 {
    -1.0
}

impl Default for GenerationSettings {
    fn default() -> Self {
        Self {
            prompt: "a painting of {caption}".into(),
            negative_prompt: NEGATIVE.into(),
            // DPM++ 2M converges in about 20 denoising steps; at strength 0.65, 30
            // steps run 19 to 20 of them. The old service's 100 to 150 steps ran 65+.
            steps: 30,
            cfg_scale: 7.0,
            denoising_strength: 0.65,
            strength_person: None,
            strength_background: None,
            sampler: "DPM++ 2M".into(),
            scheduler: "Karras".into(),
            seed: SeedPolicy::Visit,
            // SD 1.5 was trained at 512; img2img keeps the photo's composition, so 768
            // stays coherent and looks better on a ticket. Use 1024 for SDXL.
            long_side: 768,
            width: None,
            height: None,
            resize_mode: 1,
            override_settings: BTreeMap::new(),
            alwayson_scripts: BTreeMap::new(),
            controlnet: Vec::new(),
            workflow: String::new(),
        }
    }
}

impl AiSettings {
    /// A painter's section read from a file keeps its painter's own prompt and
    /// strength where it leaves them out (`[ai.picasso] long_side = 512` changes the
    /// size only). Call after deserializing.
    pub fn fill_painter_defaults(&mut self) {
        let defaults = AiSettings::default();
        for painter in Painter::ALL {
            let own = defaults.generation(painter).clone();
            let g = self.generation_mut(painter);
            if g.prompt.trim().is_empty() {
                g.prompt = own.prompt;
            }
            if g.denoising_strength < 0.0 {
                g.denoising_strength = own.denoising_strength;
            }
        }
    }
}

impl Default for AiSettings {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            dispatch: Dispatch::Parallel,
            captioner: Captioner::Clip,
            blip_url: String::new(),
            neutral_caption: "a person, head and shoulders portrait".into(),
            max_in_flight: 1,
            request_timeout_secs: 120,
            caption_timeout_secs: 20,
            health_interval_secs: 5.0,
            progress_interval_secs: 1.0,
            workflow: String::new(),
            socket_stall_secs: 10.0,
            picasso: GenerationSettings::painter(
                "a cubist portrait of {caption}, by Pablo Picasso, analytic cubism, \
                 fragmented angular planes, ochre brown grey and muted blue, bold dark \
                 contours, oil on canvas",
                // Cubism rebuilds the face from planes: it needs the most freedom.
                0.7,
            ),
            renoir: GenerationSettings::painter(
                "an impressionist portrait of {caption}, by Pierre-Auguste Renoir, soft \
                 feathery brushstrokes, warm luminous skin, dappled sunlight, pastel \
                 blues and greens, oil on canvas",
                // Impressionism keeps the likeness close; less noise keeps the face.
                0.6,
            ),
            vangogh: GenerationSettings::painter(
                "a portrait of {caption}, by Vincent van Gogh, post-impressionism, thick \
                 impasto, swirling curved brushstrokes, cobalt blue and chrome yellow, \
                 oil on canvas",
                0.65,
            ),
            lichtenstein: GenerationSettings::painter(
                "a pop art portrait of {caption}, by Roy Lichtenstein, comic book panel, \
                 Ben-Day dots, thick black outlines, flat red yellow and blue",
                0.65,
            ),
        }
    }
}
