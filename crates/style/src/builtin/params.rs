//! Each painter's knobs, with the defaults the contact sheet shows. The config file can
//! override any of them per painter under `[painting.builtin.<painter>]`. Lengths are in
//! pixels at a 512 px long side and scale with the picture.

use serde::{Deserialize, Serialize};

/// A colour written as `"#RRGGBB"` in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Hex(pub u32);

impl TryFrom<String> for Hex {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let digits = s.strip_prefix('#').unwrap_or(&s);
        if digits.len() != 6 {
            return Err(format!("{s:?} is not a colour like \"#1F5FAD\""));
        }
        u32::from_str_radix(digits, 16)
            .map(Hex)
            .map_err(|_| format!("{s:?} is not a colour like \"#1F5FAD\""))
    }
}

impl From<Hex> for String {
    fn from(h: Hex) -> String {
        format!("#{:06X}", h.0)
    }
}

/// All four painters' parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BuiltinParams {
    pub picasso: PicassoParams,
    pub renoir: RenoirParams,
    pub vangogh: VanGoghParams,
    pub lichtenstein: LichtensteinParams,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PicassoParams {
    /// Typical facet width.
    pub facet_size: f32,
    /// How many straight cuts split the picture into separately displaced planes.
    pub planes: u32,
    /// How far a plane's view of the photo is shifted, as a share of the short side.
    pub displacement: f32,
    /// 0 keeps the photo's colours, 1 snaps every facet to the palette.
    pub palette_pull: f32,
    /// Facet borders are drawn where neighbouring facets differ by at least this much
    /// lightness (0–1); similar neighbours merge into one plane of colour.
    pub contour_contrast: f32,
    pub contour_width: f32,
    pub palette: Vec<Hex>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RenoirParams {
    /// Distance between neighbouring dabs of the fine layer.
    pub dab_spacing: f32,
    /// Dab length relative to the spacing.
    pub dab_length: f32,
    /// How strongly lights turn peach and rose, shadows pastel (0–1).
    pub warmth: f32,
    /// Blur of the underpainting: higher is dreamier, lower keeps more detail.
    pub softness: f32,
    /// Strength of the dappled light (0–1).
    pub dapple: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VanGoghParams {
    /// Length of a brush stroke along the flow.
    pub stroke_length: f32,
    /// Width of one bristle band across the stroke.
    pub stroke_width: f32,
    /// Size of the swirls in flat areas such as the sky.
    pub swirl_size: f32,
    /// How strongly colours are pulled to cobalt blue and chrome yellow (0–1).
    pub palette_pull: f32,
    /// Relief of the paint ridges (0–1).
    pub impasto: f32,
    /// Edge strength above which broken dark outlines appear.
    pub outline_threshold: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LichtensteinParams {
    /// Distance between Ben-Day dots.
    pub dot_pitch: f32,
    /// Width of the black outlines.
    pub outline_width: f32,
    /// Edge sensitivity of the outlines (lower draws more lines).
    pub outline_threshold: f32,
    /// Saturation boost before colours are committed to the palette.
    pub saturation: f32,
    /// red, yellow, blue, black, paper, skin.
    pub palette: [Hex; 6],
}

impl BuiltinParams {
    /// Checks every knob for a usable value. On failure, returns the offending key (as
    /// written under `[painting.builtin]`) and what is wrong with it.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let (pi, re, vg, li) = (
            &self.picasso,
            &self.renoir,
            &self.vangogh,
            &self.lichtenstein,
        );
        // (key, value, smallest allowed, largest allowed)
        let checks: [(&str, f32, f32, f32); 20] = [
            ("picasso.facet_size", pi.facet_size, 4.0, 512.0),
            ("picasso.planes", pi.planes as f32, 0.0, 16.0),
            ("picasso.displacement", pi.displacement, 0.0, 0.5),
            ("picasso.palette_pull", pi.palette_pull, 0.0, 1.0),
            ("picasso.contour_contrast", pi.contour_contrast, 0.0, 1.0),
            ("picasso.contour_width", pi.contour_width, 0.0, 32.0),
            ("renoir.dab_spacing", re.dab_spacing, 1.0, 64.0),
            ("renoir.dab_length", re.dab_length, 0.5, 16.0),
            ("renoir.warmth", re.warmth, 0.0, 1.0),
            ("renoir.softness", re.softness, 0.0, 16.0),
            ("renoir.dapple", re.dapple, 0.0, 1.0),
            ("vangogh.stroke_length", vg.stroke_length, 1.0, 64.0),
            ("vangogh.stroke_width", vg.stroke_width, 0.5, 32.0),
            ("vangogh.swirl_size", vg.swirl_size, 4.0, 512.0),
            ("vangogh.palette_pull", vg.palette_pull, 0.0, 1.0),
            ("vangogh.impasto", vg.impasto, 0.0, 1.0),
            ("vangogh.outline_threshold", vg.outline_threshold, 0.0, 1.0),
            ("lichtenstein.dot_pitch", li.dot_pitch, 3.0, 64.0),
            ("lichtenstein.outline_width", li.outline_width, 0.0, 32.0),
            ("lichtenstein.saturation", li.saturation, 0.0, 4.0),
        ];
        for (key, value, lo, hi) in checks {
            if !(lo..=hi).contains(&value) {
                return Err((
                    key.to_owned(),
                    format!("must be between {lo} and {hi}, not {value}"),
                ));
            }
        }
        if !(0.0..=1.0).contains(&li.outline_threshold) {
            return Err((
                "lichtenstein.outline_threshold".into(),
                "must be between 0 and 1".into(),
            ));
        }
        if pi.palette.is_empty() {
            return Err(("picasso.palette".into(), "name at least one colour".into()));
        }
        Ok(())
    }
}

impl Default for PicassoParams {
    fn default() -> Self {
        Self {
            facet_size: 46.0,
            planes: 4,
            displacement: 0.05,
            palette_pull: 0.6,
            contour_contrast: 0.13,
            contour_width: 2.0,
            palette: [
                0xC49A45, 0xE1C27A, 0x7A4B2A, 0x3E2A1E, 0x8C8C84, 0xC9C0A8, 0x4E6A87, 0x2F3E56,
                0xA8553A, 0x8FA3AD,
            ]
            .map(Hex)
            .to_vec(),
        }
    }
}

impl Default for RenoirParams {
    fn default() -> Self {
        Self {
            dab_spacing: 4.5,
            dab_length: 2.6,
            warmth: 0.35,
            softness: 1.5,
            dapple: 0.5,
        }
    }
}

impl Default for VanGoghParams {
    fn default() -> Self {
        Self {
            stroke_length: 10.0,
            stroke_width: 2.5,
            swirl_size: 70.0,
            palette_pull: 0.45,
            impasto: 0.6,
            outline_threshold: 0.2,
        }
    }
}

impl Default for LichtensteinParams {
    fn default() -> Self {
        Self {
            dot_pitch: 7.0,
            outline_width: 1.6,
            outline_threshold: 0.03,
            saturation: 1.8,
            palette: [0xD7262B, 0xF5D31F, 0x1F5FAD, 0x111111, 0xF7F3E8, 0xF4C3A0].map(Hex),
        }
    }
}
