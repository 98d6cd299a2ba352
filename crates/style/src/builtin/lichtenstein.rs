//! Lichtenstein: pop art. Colours committed to a small primary palette, thick clean
//! black outlines from a difference of Gaussians, and Ben-Day dots on a regular 45° grid
//! in skin, mid-tones and the background, as in printed comics.

use image::RgbImage;

use super::canvas::{luma, mix, nearest, rgb, scaled, scaled_f, smoothstep, Canvas, Plane};
use super::params::LichtensteinParams;

pub fn paint(photo: &RgbImage, _seed: u64, p: &LichtensteinParams) -> RgbImage {
    let src = Canvas::from_image(photo);
    let (w, h) = (src.w, src.h);
    let [red, yellow, blue, black, paper, skin] = p.palette.map(|c| rgb(c.0));
    let palette = [red, yellow, blue, black, paper, skin];

    // Colour decisions come from a smoothed photo, so regions are flat, not speckled.
    // Smoothing at half size costs a quarter and looks the same once interpolated.
    let flat_half = src.halve().blur(scaled(w, h, 1.0));
    let lum = Plane::luma(photo);
    // The wide blur stays wider than the narrow one on small pictures (a face painted on
    // its own), where both would round to one pixel and no line would be drawn.
    let narrow_r = scaled(w, h, 1.0);
    let wide_r = scaled(w, h, 3.0).max(narrow_r + 1);
    let (narrow, wide) = rayon::join(|| lum.blur(narrow_r), || lum.blur(wide_r));
    // Ink where the narrow blur is darker than the wide one, then thickened by a blur and
    // a soft threshold, which also anti-aliases the line.
    let ink = Plane::from_fn(w, h, |x, y| {
        let i = y * w + x;
        smoothstep(
            p.outline_threshold,
            p.outline_threshold * 1.8,
            wide.v[i] - narrow.v[i],
        )
    });
    let width = scaled_f(w, h, p.outline_width).max(1.0);
    let outline = ink.blur(width.round().max(1.0) as usize);

    let pitch = scaled_f(w, h, p.dot_pitch).max(3.0);
    let sat = p.saturation;
    let out = Canvas::from_fn(w, h, |x, y| {
        let i = y * w + x;
        let c = flat_half.sample(x as f32 * 0.5, y as f32 * 0.5);
        let l = luma(c);
        let vivid = [
            (l + (c[0] - l) * sat).clamp(0.0, 1.0),
            (l + (c[1] - l) * sat).clamp(0.0, 1.0),
            (l + (c[2] - l) * sat).clamp(0.0, 1.0),
        ];
        // Skin by hue (red over green over blue, not too grey), whatever its lightness:
        // printers drew every face as red dots on white.
        let (gr, br) = (c[1] / c[0].max(1e-3), c[2] / c[0].max(1e-3));
        let skin_like = c[0] > c[1]
            && c[1] > c[2]
            && (0.55..0.9).contains(&gr)
            && (0.42..0.85).contains(&br)
            && (0.25..0.88).contains(&l);
        let q = if l < 0.2 {
            black
        } else if skin_like {
            skin
        } else {
            nearest(vivid, &palette)
        };
        // Ben-Day dots: a regular grid rotated 45°, anti-aliased at the rim.
        let (u, v) = (
            (x as f32 + y as f32) * std::f32::consts::FRAC_1_SQRT_2 / pitch,
            (x as f32 - y as f32) * std::f32::consts::FRAC_1_SQRT_2 / pitch,
        );
        let (fu, fv) = (u - u.round(), v - v.round());
        let dist = (fu * fu + fv * fv).sqrt();
        let dot = |radius: f32| ((radius - dist) * pitch + 0.5).clamp(0.0, 1.0);
        let fill = if q == skin {
            // Flesh as the printers made it: red dots on white.
            // Darker skin takes bigger dots.
            mix(
                paper,
                mix(red, skin, 0.25),
                dot(0.28 + 0.25 * (0.8 - l).max(0.0)),
            )
        } else if q == paper {
            // The background gets blue dots sized by its tone; true whites stay white.
            let tone = (0.95 - l).max(0.0);
            if tone > 0.0 {
                mix(paper, blue, dot(0.1 + 0.45 * tone))
            } else {
                paper
            }
        } else if q != black && l > luma(q) + 0.12 {
            // A light version of a primary: its dots on white rather than a new colour.
            mix(paper, q, dot(0.28 + 0.2 * (1.0 - l)))
        } else {
            q
        };
        let a = smoothstep(0.12, 0.3, outline.v[i]);
        mix(fill, black, a)
    });
    out.to_image()
}
