//! A job's inputs made ready: the photo cropped to the output's shape, the change map
//! brought to the latents' grid, and the Gaussian noise the sampler starts from.

use image::RgbImage;
use rand::Rng;

/// The centre of an iw×ih picture at the aspect ratio of w:h: (x, y, width, height).
fn fill_rect(iw: u32, ih: u32, w: u32, h: u32) -> (u32, u32, u32, u32) {
    let scale = f64::max(w as f64 / iw as f64, h as f64 / ih as f64);
    let (cw, ch) = (
        ((w as f64 / scale).round() as u32).clamp(1, iw),
        ((h as f64 / scale).round() as u32).clamp(1, ih),
    );
    ((iw - cw) / 2, (ih - ch) / 2, cw, ch)
}

/// The centre of `img` at the aspect ratio of w:h, resized to w×h (Lanczos).
pub fn crop_to_fill(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    let (iw, ih) = img.dimensions();
    let (x, y, cw, ch) = fill_rect(iw, ih, w, h);
    let crop = image::imageops::crop_imm(img, x, y, cw, ch).to_image();
    if (cw, ch) == (w, h) {
        crop
    } else {
        image::imageops::resize(&crop, w, h, image::imageops::FilterType::Lanczos3)
    }
}

/// The next `count` standard normal numbers from `rng` (Box–Muller).
pub fn gaussian_from(rng: &mut rand::rngs::StdRng, count: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(count + 1);
    while out.len() < count {
        let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt();
        let a = std::f64::consts::TAU * u2;
        out.push((r * a.cos()) as f32);
        out.push((r * a.sin()) as f32);
    }
    out.truncate(count);
    out
}

/// How much of a job's strength each pixel of the photo gets: differential diffusion.
/// 1 is the job's whole strength; below that, a pixel follows the noised photo for the
/// first steps and the model only from a later one, so it changes less. With N steps
/// run, a pixel of change c follows the model for the last ⌈c·N⌉ of them or so (the
/// first step always runs on every pixel).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeMap {
    width: u32,
    height: u32,
    /// Row by row, each 0 to 1.
    values: Vec<f32>,
}

impl ChangeMap {
    /// A map at the photo's size (or any size of the same aspect ratio). Values are
    /// clamped to 0..=1; a wrong length or a value that is not a number is refused.
    pub fn new(width: u32, height: u32, values: Vec<f32>) -> Result<ChangeMap, String> {
        if width == 0 || height == 0 || values.len() != width as usize * height as usize {
            return Err(format!(
                "a change map of {width}x{height} needs {} values, not {}",
                width as usize * height as usize,
                values.len()
            ));
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err("a change map's values must be numbers from 0 to 1".into());
        }
        let values = values.into_iter().map(|v| v.clamp(0.0, 1.0)).collect();
        Ok(ChangeMap {
            width,
            height,
            values,
        })
    }

    /// A grey image's map: white is the whole strength, black none.
    pub fn from_gray(grey: &image::GrayImage) -> ChangeMap {
        ChangeMap {
            width: grey.width(),
            height: grey.height(),
            values: grey.pixels().map(|p| p[0] as f32 / 255.0).collect(),
        }
    }

    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The map cropped as [`crop_to_fill`] crops the photo for a w×h painting, then
    /// averaged over each latent cell: `cells` wide and high ((w / factor) × (h /
    /// factor)), row by row. Each cell is the exact area mean of the pixels it covers,
    /// fractions of pixels included.
    pub fn on_latent_grid(&self, w: u32, h: u32, lw: usize, lh: usize) -> Vec<f32> {
        let (x0, y0, cw, ch) = fill_rect(self.width, self.height, w, h);
        let xs = box_weights(x0, cw, lw);
        let ys = box_weights(y0, ch, lh);
        let mut out = Vec::with_capacity(lw * lh);
        for row in &ys {
            for col in &xs {
                let mut sum = 0f64;
                let mut weight = 0f64;
                for &(y, wy) in row {
                    let line = &self.values[y as usize * self.width as usize..];
                    for &(x, wx) in col {
                        sum += line[x as usize] as f64 * wy * wx;
                        weight += wy * wx;
                    }
                }
                out.push((sum / weight) as f32);
            }
        }
        out
    }
}

/// For each of `cells` equal spans over pixels start..start+len: the pixels it covers
/// and how much of each (1 for whole pixels, less at its ends).
fn box_weights(start: u32, len: u32, cells: usize) -> Vec<Vec<(u32, f64)>> {
    let per = len as f64 / cells as f64;
    (0..cells)
        .map(|c| {
            let (a, b) = (c as f64 * per, (c + 1) as f64 * per);
            let mut span = Vec::new();
            let mut p = a.floor();
            while p < b {
                let cover = (b.min(p + 1.0) - a.max(p)).max(0.0);
                if cover > 1e-9 {
                    span.push((start + (p as u32).min(len - 1), cover));
                }
                p += 1.0;
            }
            span
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_map_averages_each_latent_cell_over_the_pixels_it_covers() {
        // 16×8, left half 0, right half 1, one odd pixel: 8×8 pixels per cell at 2×1.
        let mut values: Vec<f32> = (0..128)
            .map(|i| if i % 16 < 8 { 0.0 } else { 1.0 })
            .collect();
        values[0] = 0.64;
        let map = ChangeMap::new(16, 8, values).unwrap();
        let grid = map.on_latent_grid(16, 8, 2, 1);
        assert!((grid[0] - 0.01).abs() < 1e-6, "{grid:?}");
        assert!((grid[1] - 1.0).abs() < 1e-6, "{grid:?}");
        // Three cells over 16 pixels: the middle one takes a third of pixels 5 and 10.
        let grid = map.on_latent_grid(16, 8, 3, 1);
        assert!(
            (grid[1] - (2.0 + 2.0 / 3.0) / (16.0 / 3.0)).abs() < 1e-5,
            "{grid:?}"
        );
    }

    #[test]
    fn a_change_map_is_cropped_like_the_photo() {
        // A 4:3 map for a square painting: the 9×9 from column 1, as crop_to_fill takes it.
        let values: Vec<f32> = (0..12 * 9)
            .map(|i| {
                if i % 12 < 1 || i % 12 >= 10 {
                    1.0
                } else {
                    0.25
                }
            })
            .collect();
        let map = ChangeMap::new(12, 9, values.clone()).unwrap();
        let grid = map.on_latent_grid(64, 64, 3, 3);
        assert!(
            grid.iter().all(|&v| (v - 0.25).abs() < 1e-6),
            "the side bands are cropped away: {grid:?}"
        );
        let img = RgbImage::from_fn(12, 9, |x, y| {
            let v = (values[(y * 12 + x) as usize] * 255.0) as u8;
            image::Rgb([v, v, v])
        });
        assert!(
            crop_to_fill(&img, 9, 9).pixels().all(|p| p[0] == 63),
            "the photo loses the same bands"
        );
    }

    #[test]
    fn a_change_map_of_the_wrong_size_or_with_no_number_is_refused() {
        assert!(ChangeMap::new(4, 4, vec![0.5; 15])
            .unwrap_err()
            .contains("16 values"));
        assert!(ChangeMap::new(2, 1, vec![0.5, f32::NAN]).is_err());
        assert_eq!(
            ChangeMap::new(2, 1, vec![-1.0, 2.0]).unwrap().values(),
            &[0.0, 1.0]
        );
    }
}
