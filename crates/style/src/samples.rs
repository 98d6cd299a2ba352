//! Sample portraits drawn in code: the inputs of the contact sheet, the painter benchmark
//! and the style tests. Made here so no photo of a real person, and no licence, is
//! involved. Each has what the painters need to show their character: a face with eyes,
//! brows, nose and mouth, hair, shoulders, and a background with sky, clouds and land.

use image::{Rgb, RgbImage};

use crate::builtin::canvas::{hash01, mix, rgb, value_noise};

/// One sample's colours.
#[derive(Clone, Copy)]
pub struct Look {
    pub skin: u32,
    pub hair: u32,
    pub shirt: u32,
    pub sky: u32,
    pub land: u32,
    pub seed: u64,
}

/// Three looks: fair skin under a blue sky, darker skin at sunset, and an indoor portrait.
pub const LOOKS: [Look; 3] = [
    Look {
        skin: 0xF1C6A6,
        hair: 0x4A2E1E,
        shirt: 0x2F6F9F,
        sky: 0x7DB4E6,
        land: 0x4E8A3C,
        seed: 1,
    },
    Look {
        skin: 0x8D5B3F,
        hair: 0x1B1512,
        shirt: 0xC8553D,
        sky: 0xF2A65A,
        land: 0x5B4A6E,
        seed: 2,
    },
    Look {
        skin: 0xE0B08C,
        hair: 0xB8863B,
        shirt: 0x3B3B3B,
        sky: 0xD9D2C3,
        land: 0x8A6D52,
        seed: 3,
    },
];

/// A `width`×`height` portrait in the given look.
pub fn portrait(width: u32, height: u32, look: Look) -> RgbImage {
    let (w, h) = (width as f32, height as f32);
    let s = w.min(h);
    let skin = rgb(look.skin);
    let hair = rgb(look.hair);
    let shirt = rgb(look.shirt);
    let sky = rgb(look.sky);
    let land = rgb(look.land);
    let (cx, cy) = (w * 0.5, h * 0.42);
    let (fx, fy) = (s * 0.2, s * 0.27); // face radii
    RgbImage::from_fn(width, height, |x, y| {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        // Background: sky with soft clouds, a hill line, land.
        let horizon = h * 0.62 + (px / w * 6.0 + look.seed as f32).sin() * h * 0.03;
        let mut c = if py < horizon {
            let cloud = value_noise(look.seed, px, py, s * 0.18);
            mix(
                mix(sky, [1.0; 3], py / h * 0.5),
                [1.0; 3],
                ((cloud - 0.55) * 2.5).clamp(0.0, 0.8),
            )
        } else {
            let grass = value_noise(look.seed ^ 9, px, py, s * 0.03);
            mix(land, [0.0; 3], 0.25 * grass)
        };
        // Shoulders and neck.
        let shoulder =
            (px - cx).abs() < s * 0.42 - (py - h * 0.8).min(0.0).abs() * 1.4 && py > h * 0.7;
        if shoulder {
            let fold = value_noise(look.seed ^ 3, px, py, s * 0.06);
            c = mix(
                shirt,
                [0.0; 3],
                0.3 * fold + 0.2 * (px - cx).abs() / (s * 0.42),
            );
        }
        if (px - cx).abs() < s * 0.08 && py > cy + fy * 0.6 && py < h * 0.76 {
            c = mix(skin, [0.0; 3], 0.25);
        }
        // Hair behind the face.
        let (hx, hy) = (
            (px - cx) / (fx * 1.25),
            (py - (cy - fy * 0.12)) / (fy * 1.15),
        );
        if hx * hx + hy * hy < 1.0 && py < cy + fy * 0.35 {
            let strand = value_noise(look.seed ^ 5, px * 4.0, py * 0.5, s * 0.05);
            c = mix(hair, [1.0; 3], 0.18 * strand);
        }
        // Face, lit from the upper left.
        let (ux, uy) = ((px - cx) / fx, (py - cy) / fy);
        let d = ux * ux + uy * uy;
        if d < 1.0 && !(uy < -0.55 && d > 0.35) {
            let light = 0.82 + 0.22 * (-ux * 0.6 - uy * 0.4) - 0.15 * d * d;
            c = [skin[0] * light, skin[1] * light, skin[2] * light];
            c = mix(
                c,
                rgb(0xD9726B),
                0.18 * (-((ux.abs() - 0.5).powi(2) + (uy - 0.25).powi(2)) * 30.0).exp(),
            );
            // Eyes, with brows above.
            for side in [-1.0f32, 1.0] {
                let (ex, ey) = ((ux - side * 0.38) / 0.17, (uy + 0.12) / 0.08);
                let e = ex * ex + ey * ey;
                if e < 1.0 {
                    let iris = ex * ex * 0.09 / 0.0081 + ey * ey;
                    c = if (ex * ex + ey * ey) < 0.3 && iris < 2.0 {
                        rgb(0x2B1D14)
                    } else {
                        rgb(0xF4F1EA)
                    };
                }
                let (bx, by) = (
                    (ux - side * 0.38) / 0.22,
                    (uy + 0.3 + 0.04 * ((ux - side * 0.38) * 5.0).powi(2)) / 0.035,
                );
                if bx * bx + by * by < 1.0 {
                    c = mix(hair, [0.0; 3], 0.2);
                }
            }
            // Nose shadow and mouth.
            if (ux - 0.06).abs() < 0.05 && uy > -0.05 && uy < 0.28 {
                c = mix(c, [0.0; 3], 0.18);
            }
            let (mx, my) = (ux / 0.3, (uy - 0.5 - 0.05 * ux * ux * 8.0) / 0.06);
            if mx * mx + my * my < 1.0 {
                c = rgb(0xB2454A);
            }
        }
        // Camera grain.
        let g = (hash01(look.seed ^ 0x6A, u64::from(x), u64::from(y)) - 0.5) * 0.04;
        let to8 = |v: f32| ((v + g).clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
        Rgb([to8(c[0]), to8(c[1]), to8(c[2])])
    })
}
