//! An independent face detector for the tests: OpenCV's LBP frontal-face cascade
//! (`lbpcascade_frontalface_opencv.xml`, OpenCV's 3-clause BSD licence, as shipped in
//! scikit-image 0.26's data), evaluated here as OpenCV's `CascadeClassifier` does. It is
//! a different method from the renderer's detector (SeetaFace's funnel cascade), so a
//! face it finds in a painting was not put there for it.

use image::{GrayImage, RgbImage};

const XML: &str = include_str!("../fixtures/lbpcascade_frontalface_opencv.xml");

struct Weak {
    feature: usize,
    subset: [u32; 8],
    leaves: [f32; 2],
}

struct Stage {
    threshold: f32,
    weak: Vec<Weak>,
}

pub struct Cascade {
    size: u32,
    stages: Vec<Stage>,
    /// Each feature's block: x, y, w, h in the 24×24 window (a 3×3 grid of such blocks).
    features: Vec<[u32; 4]>,
}

/// A face box in pixels: x, y, w, h.
pub type Rect = (f32, f32, f32, f32);

fn between<'a>(text: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    text.split(open)
        .skip(1)
        .map(|s| s.split(close).next().unwrap().trim())
        .collect()
}

impl Cascade {
    pub fn load() -> Cascade {
        let (head, features) = XML.split_once("<features>").unwrap();
        let stages_text = head.split_once("<stages>").unwrap().1;
        let mut stages = Vec::new();
        for chunk in stages_text.split("<maxWeakCount>").skip(1) {
            let threshold: f32 = between(chunk, "<stageThreshold>", "</stageThreshold>")[0]
                .parse()
                .unwrap();
            let nodes = between(chunk, "<internalNodes>", "</internalNodes>");
            let leaves = between(chunk, "<leafValues>", "</leafValues>");
            let weak = nodes
                .iter()
                .zip(&leaves)
                .map(|(n, l)| {
                    let v: Vec<i64> = n.split_whitespace().map(|t| t.parse().unwrap()).collect();
                    let l: Vec<f32> = l.split_whitespace().map(|t| t.parse().unwrap()).collect();
                    let mut subset = [0u32; 8];
                    for (k, s) in subset.iter_mut().enumerate() {
                        *s = v[3 + k] as i32 as u32;
                    }
                    Weak {
                        feature: v[2] as usize,
                        subset,
                        leaves: [l[0], l[1]],
                    }
                })
                .collect();
            stages.push(Stage { threshold, weak });
        }
        let features = between(features, "<rect>", "</rect>")
            .iter()
            .map(|r| {
                let v: Vec<u32> = r.split_whitespace().map(|t| t.parse().unwrap()).collect();
                [v[0], v[1], v[2], v[3]]
            })
            .collect();
        Cascade {
            size: 24,
            stages,
            features,
        }
    }

    pub fn stage_count(&self) -> usize {
        self.stages.len()
    }

    /// Faces in `photo`, as OpenCV's `detectMultiScale(scaleFactor 1.1, minNeighbors 3)`.
    pub fn detect(&self, photo: &RgbImage) -> Vec<Rect> {
        self.detect_with(photo, 1.1, 3)
    }

    pub fn detect_with(
        &self,
        photo: &RgbImage,
        scale_factor: f32,
        min_neighbors: usize,
    ) -> Vec<Rect> {
        let gray: GrayImage = image::imageops::grayscale(photo);
        let (w, h) = gray.dimensions();
        let mut hits: Vec<Rect> = Vec::new();
        let mut factor = 1.0f32;
        loop {
            let (sw, sh) = ((w as f32 / factor) as u32, (h as f32 / factor) as u32);
            if sw < self.size || sh < self.size {
                break;
            }
            let small = if factor == 1.0 {
                gray.clone()
            } else {
                image::imageops::resize(&gray, sw, sh, image::imageops::FilterType::Triangle)
            };
            let integral = Integral::new(&small);
            let step = if factor > 2.0 { 1 } else { 2 };
            for y in (0..=sh - self.size).step_by(step) {
                for x in (0..=sw - self.size).step_by(step) {
                    if self.accepts(&integral, x, y) {
                        hits.push((
                            x as f32 * factor,
                            y as f32 * factor,
                            self.size as f32 * factor,
                            self.size as f32 * factor,
                        ));
                    }
                }
            }
            factor *= scale_factor;
        }
        group(hits, min_neighbors)
    }

    fn accepts(&self, ii: &Integral, x: u32, y: u32) -> bool {
        for stage in &self.stages {
            let mut sum = 0.0;
            for weak in &stage.weak {
                let code = self.lbp(ii, weak.feature, x, y);
                let bit = weak.subset[(code >> 5) as usize] & (1 << (code & 31));
                sum += if bit != 0 {
                    weak.leaves[0]
                } else {
                    weak.leaves[1]
                };
            }
            if sum < stage.threshold {
                return false;
            }
        }
        true
    }

    /// The feature's 8-bit local binary pattern: each of the 8 outer blocks of its 3×3
    /// grid against the centre block, clockwise from the top left.
    fn lbp(&self, ii: &Integral, feature: usize, x: u32, y: u32) -> u32 {
        let [fx, fy, fw, fh] = self.features[feature];
        let block = |col: u32, row: u32| ii.sum(x + fx + col * fw, y + fy + row * fh, fw, fh);
        let c = block(1, 1);
        let order = [
            (0, 0, 128),
            (1, 0, 64),
            (2, 0, 32),
            (2, 1, 16),
            (2, 2, 8),
            (1, 2, 4),
            (0, 2, 2),
            (0, 1, 1),
        ];
        order
            .iter()
            .map(|&(col, row, bit)| if block(col, row) >= c { bit } else { 0 })
            .sum()
    }
}

struct Integral {
    w: usize,
    v: Vec<i64>,
}

impl Integral {
    fn new(img: &GrayImage) -> Integral {
        let (w, h) = (img.width() as usize + 1, img.height() as usize + 1);
        let mut v = vec![0i64; w * h];
        for y in 1..h {
            let mut row = 0i64;
            for x in 1..w {
                row += img.get_pixel(x as u32 - 1, y as u32 - 1).0[0] as i64;
                v[y * w + x] = v[(y - 1) * w + x] + row;
            }
        }
        Integral { w, v }
    }

    fn sum(&self, x: u32, y: u32, w: u32, h: u32) -> i64 {
        let (x0, y0, x1, y1) = (x as usize, y as usize, (x + w) as usize, (y + h) as usize);
        self.v[y1 * self.w + x1] - self.v[y0 * self.w + x1] - self.v[y1 * self.w + x0]
            + self.v[y0 * self.w + x0]
    }
}

/// OpenCV's `groupRectangles`: rectangles alike within 20 % cluster together; clusters
/// with more than `min_neighbors` members become their average.
fn group(rects: Vec<Rect>, min_neighbors: usize) -> Vec<Rect> {
    let alike = |a: &Rect, b: &Rect| {
        let delta = 0.2 * 0.5 * (a.2.min(b.2) + a.3.min(b.3));
        (a.0 - b.0).abs() <= delta
            && (a.1 - b.1).abs() <= delta
            && (a.0 + a.2 - b.0 - b.2).abs() <= delta
            && (a.1 + a.3 - b.1 - b.3).abs() <= delta
    };
    let mut label: Vec<usize> = (0..rects.len()).collect();
    fn root(label: &mut [usize], i: usize) -> usize {
        let mut r = i;
        while label[r] != r {
            r = label[r];
        }
        label[i] = r;
        r
    }
    for i in 0..rects.len() {
        for j in 0..i {
            if alike(&rects[i], &rects[j]) {
                let (a, b) = (root(&mut label, i), root(&mut label, j));
                label[a] = b;
            }
        }
    }
    let mut clusters: std::collections::HashMap<usize, Vec<Rect>> = Default::default();
    for (i, rect) in rects.iter().enumerate() {
        let r = root(&mut label, i);
        clusters.entry(r).or_default().push(*rect);
    }
    let mut out: Vec<Rect> = clusters
        .values()
        .filter(|c| c.len() > min_neighbors)
        .map(|c| {
            let n = c.len() as f32;
            let s = c.iter().fold((0.0, 0.0, 0.0, 0.0), |a, r| {
                (a.0 + r.0, a.1 + r.1, a.2 + r.2, a.3 + r.3)
            });
            (s.0 / n, s.1 / n, s.2 / n, s.3 / n)
        })
        .collect();
    out.sort_by(|a, b| (b.2 * b.3).total_cmp(&(a.2 * a.3)));
    out
}

pub fn iou(a: &Rect, b: &Rect) -> f32 {
    let x0 = a.0.max(b.0);
    let y0 = a.1.max(b.1);
    let x1 = (a.0 + a.2).min(b.0 + b.2);
    let y1 = (a.1 + a.3).min(b.1 + b.3);
    let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
    inter / (a.2 * a.3 + b.2 * b.3 - inter)
}
