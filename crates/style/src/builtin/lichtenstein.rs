//! Lichtenstein: pop art. Flat areas in a small primary palette, thick black outlines
//! from a difference of Gaussians, and Ben-Day dots on a 45° grid in skin and mid-tones.

use image::RgbImage;

use super::canvas::{luma, mix, nearest, rgb, scaled, Canvas, Plane};

pub fn paint(photo: &RgbImage, _seed: u64) -> RgbImage {
    let src = Canvas::from_image(photo).blur(scaled(
        photo.width() as usize,
        photo.height() as usize,
        1.0,
    ));
    let (w, h) = (src.w, src.h);
    let red = rgb(0xD7262B);
    let yellow = rgb(0xF5D31F);
    let blue = rgb(0x1F5FAD);
    let black = rgb(0x111111);
    let paper = rgb(0xF7F3E8);
    let skin = rgb(0xF4C3A0);
    let palette = [red, yellow, blue, black, paper, skin];

    // Outlines: where the narrow blur is clearly darker than the wide one.
    let lum = Plane::luma(photo);
    let narrow = lum.blur(scaled(w, h, 1.0));
    let wide = lum.blur(scaled(w, h, 3.0));

    let pitch = (7.0 * w.max(h) as f32 / 512.0).max(3.0);
    let mut out = Canvas {
        w,
        h,
        px: vec![[0.0; 3]; w * h],
    };
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let c = src.px[i];
            // Exaggerate saturation before quantising so colours commit to a primary.
            let l = luma(c);
            let vivid = [
                (l + (c[0] - l) * 1.8).clamp(0.0, 1.0),
                (l + (c[1] - l) * 1.8).clamp(0.0, 1.0),
                (l + (c[2] - l) * 1.8).clamp(0.0, 1.0),
            ];
            let q = if l < 0.16 {
                black
            } else {
                nearest(vivid, &palette)
            };
            // Ben-Day dots: a regular grid rotated 45°, dot size following the tone.
            let (u, v) = (
                (x as f32 + y as f32) * std::f32::consts::FRAC_1_SQRT_2,
                (x as f32 - y as f32) * std::f32::consts::FRAC_1_SQRT_2,
            );
            let (fu, fv) = ((u / pitch).fract() - 0.5, (v / pitch).fract() - 0.5);
            let in_dot = |radius: f32| fu * fu + fv * fv < radius * radius;
            let p = if q == skin {
                if in_dot(0.3) {
                    mix(red, skin, 0.35)
                } else {
                    paper
                }
            } else if q == paper && l < 0.9 {
                if in_dot(0.12 + 0.3 * (0.9 - l)) {
                    blue
                } else {
                    paper
                }
            } else {
                q
            };
            let dog = narrow.v[i] - wide.v[i];
            out.px[i] = if dog < -0.035 { black } else { p };
        }
    }
    out.to_image()
}
