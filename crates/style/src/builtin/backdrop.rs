//! The painter's own world behind the visitor.
//!
//! With a matte (which pixels are the person), the photo's background (a crowd, a
//! stand, an exit sign) is replaced before the painter starts by a scene of the painter's
//! world ([`scene`]) or the operator's picture, and the painter then paints the whole
//! picture as usual. The person and the new background are painted in one pass, by the
//! same strokes, so the edge between them is a painted edge: no cut-out line and no halo
//! of the old background.
//!
//! The scenes are drawn, not photographs: a few shapes in the painter's colours that
//! his strokes turn into his backgrounds.
//! - Van Gogh: a night sky of swirls and haloed stars above dark hills.
//! - Lichtenstein: comic rays from behind the visitor's head, in primary yellow and white
//!   (his dots and outlines come from the painter itself).
//! - Picasso: a few large interlocking planes of ochre, slate, grey and cream.
//! - Renoir: a garden in dappled light, foliage with warm sun spots and flowers.

use image::{GrayImage, Rgb, RgbImage};
use serde::{Deserialize, Serialize};

use super::canvas::{hash01, mix, rgb, smoothstep, value_noise};
use crate::Painter;

/// What is behind the visitor in a painting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Background {
    /// The photo's own background, painted as it is.
    Photo,
    /// The painter's world ([`scene`]). Needs a matte; without one, the photo's.
    #[default]
    Painter,
    /// The operator's picture (an event's branding), painted by the same painter.
    /// Needs a matte; without one, the photo's.
    Image,
}

/// The booth's choice of background, per painter, with the operator's picture.
#[derive(Debug, Clone, Default)]
pub struct Backdrops {
    pub default: Background,
    /// Painters that differ from `default`.
    pub per_painter: Vec<(Painter, Background)>,
    /// The picture for [`Background::Image`].
    pub image: Option<std::sync::Arc<RgbImage>>,
}

impl Backdrops {
    /// What `painter` puts behind the visitor.
    pub fn of(&self, painter: Painter) -> Background {
        self.per_painter
            .iter()
            .find(|(p, _)| *p == painter)
            .map_or(self.default, |(_, b)| *b)
    }

    /// The picture the painter paints: the photo with its background replaced as
    /// configured, or `None` to paint the photo as it is (photo background, no matte,
    /// or an image background with no image).
    pub fn compose(
        &self,
        painter: Painter,
        photo: &RgbImage,
        matte: Option<&GrayImage>,
        seed: u64,
    ) -> Option<RgbImage> {
        let matte = matte.filter(|m| m.dimensions() == photo.dimensions())?;
        let behind = match self.of(painter) {
            Background::Photo => return None,
            Background::Painter => {
                // Drawn at a quarter of the size and enlarged: the scene is smooth,
                // the painter repaints it anyway with strokes wider than its detail,
                // and it costs a sixteenth (docs/benchmarks.md).
                let (w, h) = photo.dimensions();
                let small = scene(
                    painter,
                    w.div_ceil(SCENE_SCALE),
                    h.div_ceil(SCENE_SCALE),
                    person_anchor(matte),
                    seed,
                );
                crate::resize::resize(&small, w, h, crate::resize::FilterType::Bilinear)
            }
            Background::Image => cover(self.image.as_deref()?, photo.width(), photo.height()),
        };
        Some(composite(photo, &behind, matte))
    }
}

/// Why a matte is not to be trusted, or `None` when it is: it holds no one (under 1 %
/// of the picture is person: a landscape, an empty booth); the person does not reach
/// the bottom quarter of the frame, as a visitor standing or sitting before the camera
/// does (the model found a head and lost the body); or a face the detector found
/// (`faces`: [`crate::faces::detect_every`]) lies mostly outside it (a second visitor
/// it missed). Either way the photo's own background is the sensible one.
pub fn doubt(matte: &GrayImage, faces: &[crate::faces::Face]) -> Option<&'static str> {
    let (w, h) = matte.dimensions();
    let person = matte.pixels().filter(|p| p[0] >= 128).count();
    if (person as f64) < 0.01 * (w as f64 * h as f64) {
        return Some("no one in it");
    }
    if person_box(matte).is_some_and(|(_, y, _, bh)| (y + bh) * 4 < h * 3) {
        return Some("the person does not reach the bottom of the frame");
    }
    for f in faces {
        // The face's middle: its box shrunk by a quarter on each side.
        let x0 = (f.x + f.w * 0.25).max(0.0) as u32;
        let y0 = (f.y + f.h * 0.25).max(0.0) as u32;
        let x1 = ((f.x + f.w * 0.75) as u32).min(w);
        let y1 = ((f.y + f.h * 0.75) as u32).min(h);
        let (mut sum, mut n) = (0u64, 0u64);
        for y in y0..y1 {
            for x in x0..x1 {
                sum += matte.get_pixel(x, y)[0] as u64;
                n += 1;
            }
        }
        if n > 0 && sum < n * 128 {
            return Some("a face is outside it");
        }
    }
    None
}

/// How much smaller than the photo a painter's scene is drawn.
const SCENE_SCALE: u32 = 4;

/// The person's box in a matte (pixels at least half person): x, y, w, h; `None` when
/// the matte holds no one.
pub fn person_box(matte: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    let w = matte.width() as usize;
    if w == 0 {
        return None;
    }
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for (y, row) in matte.as_raw().chunks_exact(w).enumerate() {
        // Row by row: the first and the last person pixel, if any.
        let Some(first) = row.iter().position(|&v| v >= 128) else {
            continue;
        };
        let last = row.iter().rposition(|&v| v >= 128).unwrap_or(first);
        x0 = x0.min(first);
        x1 = x1.max(last);
        y0 = y0.min(y);
        y1 = y;
    }
    (x0 <= x1).then(|| {
        (
            x0 as u32,
            y0 as u32,
            (x1 - x0 + 1) as u32,
            (y1 - y0 + 1) as u32,
        )
    })
}

/// Where the visitor's head is, as a fraction of the frame: the top middle of the
/// person's box, a little down; the frame's upper middle when the matte holds no one.
fn person_anchor(matte: &GrayImage) -> (f32, f32) {
    let (w, h) = matte.dimensions();
    match person_box(matte) {
        None => (0.5, 0.35),
        Some((x, y, bw, bh)) => (
            (x as f32 + bw as f32 * 0.5) / w as f32,
            (y as f32 + bh as f32 * 0.15) / h as f32,
        ),
    }
}

/// `picture` scaled to cover `w`×`h` and cropped to it around its centre.
pub fn cover(picture: &RgbImage, w: u32, h: u32) -> RgbImage {
    let (pw, ph) = picture.dimensions();
    if pw == 0 || ph == 0 {
        return RgbImage::from_pixel(w, h, Rgb([128, 128, 128]));
    }
    let s = (w as f32 / pw as f32).max(h as f32 / ph as f32);
    let (sw, sh) = (
        ((pw as f32 * s).ceil() as u32).max(w),
        ((ph as f32 * s).ceil() as u32).max(h),
    );
    let scaled = crate::resize::resize(picture, sw, sh, crate::resize::FilterType::CatmullRom);
    image::imageops::crop_imm(&scaled, (sw - w) / 2, (sh - h) / 2, w, h).to_image()
}

/// The photo over `behind` through the matte. The matte's half-transparent rim is
/// tightened first (alpha below 0.25 is background, above 0.85 person), because there
/// the photo's pixels are still partly the old background: taken as they are they
/// would draw a pale or dark outline around the visitor.
pub fn composite(photo: &RgbImage, behind: &RgbImage, matte: &GrayImage) -> RgbImage {
    // The photo's weight in 1/256ths, per matte value: whole rows of person or of
    // background copy one side, and only the rim blends.
    let weight: [u16; 256] =
        std::array::from_fn(|a| (smoothstep(0.25, 0.85, a as f32 / 255.0) * 256.0).round() as u16);
    let mut out = RgbImage::new(photo.width(), photo.height());
    let pixels = out
        .as_mut()
        .chunks_exact_mut(3)
        .zip(photo.as_raw().chunks_exact(3))
        .zip(behind.as_raw().chunks_exact(3))
        .zip(matte.as_raw());
    for (((o, p), b), &m) in pixels {
        let a = weight[usize::from(m)];
        match a {
            256 => o.copy_from_slice(p),
            0 => o.copy_from_slice(b),
            _ => {
                for c in 0..3 {
                    let v = u16::from(p[c]) * a + u16::from(b[c]) * (256 - a) + 128;
                    o[c] = (v >> 8) as u8;
                }
            }
        }
    }
    out
}

/// The painter's world at `w`×`h`, with the visitor's head at `head` (fractions of the
/// frame). Deterministic for a seed; a few milliseconds at 512 px.
pub fn scene(painter: Painter, w: u32, h: u32, head: (f32, f32), seed: u64) -> RgbImage {
    let s = w.max(h) as f32 / 512.0;
    let px = |p: [f32; 3]| Rgb(p.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8));
    match painter {
        Painter::VanGogh => starry_night(w, h, s, seed, px),
        Painter::Lichtenstein => {
            let (cx, cy) = (head.0 * w as f32, head.1 * h as f32);
            let (yellow, pale, red) = (rgb(0xF7D21E), rgb(0xFFF3C4), rgb(0xD7262E));
            let rays = 18.0;
            let phase = hash01(seed, 7, 0) * std::f32::consts::TAU;
            RgbImage::from_fn(w, h, |x, y| {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                let r = (dx * dx + dy * dy).sqrt() / s;
                let t = (dy.atan2(dx) + phase) * rays / std::f32::consts::TAU;
                let ray = if t.rem_euclid(1.0) < 0.5 {
                    yellow
                } else {
                    pale
                };
                // A red rim far from the head frames the burst like a comic panel.
                px(if r > 330.0 { red } else { ray })
            })
        }
        Painter::Picasso => {
            let palette = [
                rgb(0xC4964F),
                rgb(0x465F82),
                rgb(0x8C8C82),
                rgb(0x7A5032),
                rgb(0x3C6E6E),
                rgb(0xDCCDAA),
            ];
            let cells: Vec<(f32, f32, [f32; 3], f32)> = (0..9u64)
                .map(|i| {
                    (
                        hash01(seed, i, 1) * w as f32,
                        hash01(seed, i, 2) * h as f32,
                        palette
                            [(hash01(seed, i, 3) * palette.len() as f32) as usize % palette.len()],
                        hash01(seed, i, 4) * std::f32::consts::TAU,
                    )
                })
                .collect();
            RgbImage::from_fn(w, h, |x, y| {
                let (fx, fy) = (x as f32, y as f32);
                let (cx, cy, colour, angle) = *cells
                    .iter()
                    .min_by(|a, b| {
                        let da = (a.0 - fx).powi(2) + (a.1 - fy).powi(2);
                        let db = (b.0 - fx).powi(2) + (b.1 - fy).powi(2);
                        da.total_cmp(&db)
                    })
                    .expect("nine cells");
                // Each plane is lit from its own side: a shade across it.
                let along = ((fx - cx) * angle.cos() + (fy - cy) * angle.sin()) / (160.0 * s);
                px(colour.map(|v| v * (1.0 + 0.22 * along.clamp(-1.0, 1.0))))
            })
        }
        Painter::Renoir => {
            let (leaf, light_leaf, sky, sun) =
                (rgb(0x3F6B3A), rgb(0x9DB05A), rgb(0xCBD9E6), rgb(0xFAEBB4));
            let flowers = [rgb(0xE896AA), rgb(0x8CA0DC), rgb(0xF5F0EB), rgb(0xE8B04A)];
            RgbImage::from_fn(w, h, |x, y| {
                let (fx, fy) = (x as f32 / s, y as f32 / s);
                let height = y as f32 / h as f32;
                let foliage = value_noise(seed, fx, fy, 48.0);
                let mut c = mix(
                    light_leaf,
                    leaf,
                    smoothstep(0.0, 1.0, height * 0.7 + foliage * 0.5),
                );
                // Sky seen through the leaves at the top.
                let gap = value_noise(seed ^ 1, fx, fy, 70.0);
                c = mix(
                    c,
                    sky,
                    smoothstep(0.62, 0.8, gap) * (1.0 - smoothstep(0.2, 0.55, height)),
                );
                // Dappled sunlight: soft warm patches.
                let dapple = value_noise(seed ^ 2, fx, fy, 26.0);
                c = mix(c, sun, smoothstep(0.6, 0.85, dapple) * 0.75);
                // Flowers: small dabs of colour in the lower half.
                let cell = 14.0;
                let (gx, gy) = ((fx / cell).floor(), (fy / cell).floor());
                let pick = hash01(seed ^ 3, gx as u64, gy as u64);
                if pick < 0.22 * smoothstep(0.35, 0.8, height) {
                    let (ox, oy) = (
                        (gx + 0.5) * cell + (hash01(seed ^ 4, gx as u64, gy as u64) - 0.5) * 6.0,
                        (gy + 0.5) * cell + (hash01(seed ^ 5, gx as u64, gy as u64) - 0.5) * 6.0,
                    );
                    let d = ((fx - ox).powi(2) + (fy - oy).powi(2)).sqrt();
                    let f = flowers[(pick * 97.0) as usize % flowers.len()];
                    c = mix(c, f, 1.0 - smoothstep(2.5, 4.5, d));
                }
                px(c)
            })
        }
    }
}

/// Van Gogh's night: a deep blue sky streaked by swirls, haloed yellow stars and a
/// moon, above a dark line of hills.
fn starry_night(w: u32, h: u32, s: f32, seed: u64, px: impl Fn([f32; 3]) -> Rgb<u8>) -> RgbImage {
    let (deep, blue, pale, star, hill, moon) = (
        rgb(0x142A66),
        rgb(0x3C64AA),
        rgb(0xA9C4E6),
        rgb(0xF6D55A),
        rgb(0x1C2A26),
        rgb(0xF9E27A),
    );
    let (wf, hf) = (w as f32, h as f32);
    let swirls: Vec<(f32, f32, f32)> = (0..3u64)
        .map(|i| {
            (
                (0.15 + 0.7 * hash01(seed, i, 11)) * wf,
                (0.12 + 0.35 * hash01(seed, i, 12)) * hf,
                (60.0 + 50.0 * hash01(seed, i, 13)) * s,
            )
        })
        .collect();
    let stars: Vec<(f32, f32, f32)> = (0..9u64)
        .map(|i| {
            (
                hash01(seed, i, 21) * wf,
                hash01(seed, i, 22) * hf * 0.6,
                (5.0 + 5.0 * hash01(seed, i, 23)) * s,
            )
        })
        .collect();
    let moon_at = (wf * 0.86, hf * 0.12, 22.0 * s);
    RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
        let t = fy / hf;
        // Wind: long wavy streaks across the sky.
        let wave = (fy / (9.0 * s) + (fx / (70.0 * s)).sin() * 2.0).sin();
        let mut c = mix(deep, blue, smoothstep(0.0, 0.75, t) * 0.8 + 0.12 * wave);
        for &(sx, sy, r) in &swirls {
            let (dx, dy) = (fx - sx, fy - sy);
            let d = (dx * dx + dy * dy).sqrt();
            if d < r * 1.6 {
                let band = (d / (7.0 * s) - dy.atan2(dx) * 2.0).cos();
                let fade = 1.0 - smoothstep(r * 0.6, r * 1.6, d);
                c = mix(c, pale, smoothstep(0.3, 1.0, band) * fade * 0.7);
            }
        }
        for &(sx, sy, r) in stars.iter().chain(std::iter::once(&moon_at)) {
            let d = ((fx - sx).powi(2) + (fy - sy).powi(2)).sqrt();
            if d < r * 3.0 {
                let colour = if r == moon_at.2 { moon } else { star };
                c = mix(c, pale, (1.0 - smoothstep(r, r * 3.0, d)) * 0.6);
                c = mix(c, colour, 1.0 - smoothstep(r * 0.7, r, d));
            }
        }
        // Hills: a dark rolling line across the bottom fifth.
        let ridge = 0.8 + 0.05 * (fx / (90.0 * s) + hash01(seed, 31, 0) * 6.0).sin();
        c = mix(c, hill, smoothstep(ridge, ridge + 0.01, t));
        px(c)
    })
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn the_person_box_spans_every_half_opaque_pixel() {
        let mut m = GrayImage::new(40, 30);
        m.put_pixel(5, 7, image::Luma([128]));
        m.put_pixel(31, 20, image::Luma([255]));
        m.put_pixel(12, 25, image::Luma([127]));
        m.put_pixel(20, 12, image::Luma([200]));
        assert_eq!(person_box(&m), Some((5, 7, 27, 14)));
        assert_eq!(person_box(&GrayImage::new(40, 30)), None);
    }

    #[test]
    fn a_matte_is_doubted_when_empty_headless_or_missing_a_face() {
        use crate::faces::Face;
        // A person from the middle down to the bottom edge, 40 % wide.
        let person = GrayImage::from_fn(100, 100, |x, y| {
            image::Luma([if (30..70).contains(&x) && y >= 20 {
                255
            } else {
                0
            }])
        });
        let face = Face {
            x: 40.0,
            y: 22.0,
            w: 20.0,
            h: 20.0,
        };
        assert_eq!(doubt(&person, &[face]), None);
        assert_eq!(doubt(&GrayImage::new(100, 100), &[]), Some("no one in it"));
        let head_only = GrayImage::from_fn(100, 100, |x, y| {
            image::Luma([if (40..60).contains(&x) && (10..40).contains(&y) {
                255
            } else {
                0
            }])
        });
        assert_eq!(
            doubt(&head_only, &[]),
            Some("the person does not reach the bottom of the frame")
        );
        let second = Face {
            x: 75.0,
            y: 30.0,
            w: 20.0,
            h: 20.0,
        };
        assert_eq!(
            doubt(&person, &[face, second]),
            Some("a face is outside it")
        );
    }

    fn matte_with_person(w: u32, h: u32) -> GrayImage {
        // A person: a disc for the head over a rectangle for the body.
        GrayImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32 - w as f32 / 2.0, y as f32 - h as f32 * 0.3);
            let head = fx * fx + fy * fy < (w as f32 * 0.12).powi(2);
            let body = fx.abs() < w as f32 * 0.25 && y as f32 > h as f32 * 0.45;
            image::Luma([if head || body { 255 } else { 0 }])
        })
    }

    #[test]
    fn the_person_box_is_where_the_matte_passes_half() {
        let mut m = GrayImage::new(40, 30);
        assert_eq!(person_box(&m), None);
        for y in 5..20 {
            for x in 10..14 {
                m.put_pixel(x, y, image::Luma([200]));
            }
        }
        m.put_pixel(30, 25, image::Luma([100])); // below half: not the person
        assert_eq!(person_box(&m), Some((10, 5, 4, 15)));
        assert_eq!(person_anchor(&m), (12.0 / 40.0, (5.0 + 15.0 * 0.15) / 30.0));
    }

    #[test]
    fn the_background_is_replaced_and_the_person_kept() {
        let photo = RgbImage::from_pixel(64, 80, Rgb([200, 10, 10]));
        let matte = matte_with_person(64, 80);
        let backdrops = Backdrops::default();
        for painter in Painter::ALL {
            let composed = backdrops.compose(painter, &photo, Some(&matte), 1).unwrap();
            assert_eq!(
                composed.get_pixel(32, 70),
                &Rgb([200, 10, 10]),
                "{painter}: the body"
            );
            assert_eq!(
                composed.get_pixel(32, 24),
                &Rgb([200, 10, 10]),
                "{painter}: the head"
            );
            let changed = composed
                .enumerate_pixels()
                .filter(|(x, y, p)| matte.get_pixel(*x, *y)[0] == 0 && **p != Rgb([200, 10, 10]))
                .count();
            let background = matte.pixels().filter(|p| p[0] == 0).count();
            assert!(
                changed * 10 > background * 9,
                "{painter}: {changed} of {background}"
            );
        }
    }

    #[test]
    fn without_a_matte_or_with_photo_backgrounds_the_photo_is_painted_as_it_is() {
        let photo = RgbImage::from_pixel(32, 32, Rgb([1, 2, 3]));
        let matte = matte_with_person(32, 32);
        let photo_bg = Backdrops {
            default: Background::Photo,
            ..Backdrops::default()
        };
        assert!(photo_bg
            .compose(Painter::Renoir, &photo, Some(&matte), 1)
            .is_none());
        assert!(Backdrops::default()
            .compose(Painter::Renoir, &photo, None, 1)
            .is_none());
        // A matte of another size (a stale file) is not used.
        let other = matte_with_person(16, 16);
        assert!(Backdrops::default()
            .compose(Painter::Renoir, &photo, Some(&other), 1)
            .is_none());
        // An image background with no image configured paints the photo.
        let image_bg = Backdrops {
            default: Background::Image,
            ..Backdrops::default()
        };
        assert!(image_bg
            .compose(Painter::Renoir, &photo, Some(&matte), 1)
            .is_none());
    }

    #[test]
    fn per_painter_choices_override_the_default_and_an_image_covers_the_frame() {
        let logo = RgbImage::from_fn(20, 10, |x, _| Rgb([if x < 10 { 0 } else { 255 }, 0, 0]));
        let b = Backdrops {
            default: Background::Image,
            per_painter: vec![(Painter::VanGogh, Background::Photo)],
            image: Some(logo.into()),
        };
        assert_eq!(b.of(Painter::VanGogh), Background::Photo);
        assert_eq!(b.of(Painter::Picasso), Background::Image);
        let photo = RgbImage::from_pixel(40, 40, Rgb([0, 255, 0]));
        let matte = GrayImage::new(40, 40); // all background
        let c = b
            .compose(Painter::Picasso, &photo, Some(&matte), 1)
            .unwrap();
        // Scaled to cover 40×40 (80×40), cropped around the centre: dark left, red right.
        assert!(c.get_pixel(5, 20)[0] < 30 && c.get_pixel(34, 20)[0] > 225);
        assert!(c.pixels().all(|p| p[1] == 0));
    }

    #[test]
    fn scenes_are_the_painters_colours_and_the_same_for_a_seed() {
        let at = |p| scene(p, 128, 160, (0.5, 0.3), 9);
        for p in Painter::ALL {
            assert_eq!(at(p), at(p), "{p}: deterministic");
            assert_ne!(
                scene(p, 128, 160, (0.5, 0.3), 10),
                at(p),
                "{p}: the seed matters"
            );
        }
        let mean = |img: &RgbImage| {
            let n = img.pixels().len() as f32;
            let s = img.pixels().fold([0f32; 3], |a, p| {
                [
                    a[0] + f32::from(p[0]),
                    a[1] + f32::from(p[1]),
                    a[2] + f32::from(p[2]),
                ]
            });
            s.map(|v| v / n)
        };
        let night = mean(&at(Painter::VanGogh));
        assert!(
            night[2] > night[0] + 40.0,
            "Van Gogh's sky is blue: {night:?}"
        );
        let rays = mean(&at(Painter::Lichtenstein));
        assert!(
            rays[0] > 200.0 && rays[2] < rays[0] - 60.0,
            "Lichtenstein's burst is yellow: {rays:?}"
        );
        let garden = mean(&at(Painter::Renoir));
        assert!(
            garden[1] > garden[0] && garden[1] > garden[2],
            "Renoir's garden is green: {garden:?}"
        );
        // Picasso's planes: few distinct flat regions, not noise.
        let planes = at(Painter::Picasso);
        let edges = planes
            .enumerate_pixels()
            .filter(|(x, y, p)| {
                *x > 0
                    && planes
                        .get_pixel(x - 1, *y)
                        .0
                        .iter()
                        .zip(p.0)
                        .any(|(a, b)| a.abs_diff(b) > 20)
            })
            .count();
        assert!(edges < 128 * 160 / 20, "{edges} hard edges");
    }
}

#[cfg(test)]
mod timing {
    use super::*;

    #[test]
    #[ignore = "a measurement: cargo test --release -p articket-style --lib timing -- --ignored --nocapture"]
    fn time_each_scene_and_the_composite() {
        let photo = RgbImage::from_pixel(437, 512, Rgb([120, 100, 90]));
        let matte = GrayImage::from_fn(437, 512, |x, _| {
            image::Luma([if x > 150 && x < 300 { 255 } else { 0 }])
        });
        for painter in Painter::ALL {
            let t = std::time::Instant::now();
            for seed in 0..10 {
                std::hint::black_box(scene(painter, 437, 512, (0.5, 0.3), seed));
            }
            let scene_ms = t.elapsed().as_secs_f64() * 100.0;
            let t = std::time::Instant::now();
            for seed in 0..10 {
                std::hint::black_box(Backdrops::default().compose(
                    painter,
                    &photo,
                    Some(&matte),
                    seed,
                ));
            }
            println!(
                "{painter}: scene {scene_ms:.2} ms, compose {:.2} ms",
                t.elapsed().as_secs_f64() * 100.0
            );
        }
    }
}
